/*
 * CoRE Link Format (RFC 6690): serializing resource descriptions for
 * /.well-known/core (§2, §4) and query filtering (§4.1), what a server needs. Parsing a
 * link-format document (for clients doing resource discovery) is in link-parse.ts, for hosts
 * and tests: the firmware leaves it out (issue 17).
 *
 * Pure functions, no IO. Attribute values are kept as strings; the
 * relation-type attributes rt, if and rel may hold several space-separated
 * values (§3.1-§3.2), each matched separately by a filter (§4.1).
 */

export interface LinkAttributes {
  [name: string]: string | number | boolean | readonly (string | number)[] | undefined;
}

export interface Link {
  /** The URI-reference between "<" and ">", e.g. "/sensors/temp". */
  href: string;
  /**
   * Target attributes. Strings are written quoted (`rt="temperature"`), numbers
   * as ptokens (`ct=0`, `sz=1280`), `true` as a bare name (`obs`), arrays as
   * space-separated quoted values (`rt="a b"`) or, for ct, as `ct="0 41"`.
   */
  attributes?: LinkAttributes;
}

/** Attributes whose value is a space-separated list, each value matched on its own (RFC 6690 §4.1, RFC 7252 §7.2.1 for ct). */
const MULTI_VALUED: Record<string, true> = { rt: true, if: true, rel: true, rev: true, ct: true };

function quote(s: string): string {
  // quoted-string (RFC 2616 §2.2): escape backslash and double quote
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    out += c === '"' || c === "\\" ? "\\" + c : c;
  }
  return out + '"';
}

/** Writes one link-value (RFC 6690 §2). */
export function formatLink(link: Link): string {
  let s = "<" + link.href + ">";
  const attrs = link.attributes;
  if (!attrs) return s;
  Object.keys(attrs).forEach((name) => {
    const v = attrs[name];
    if (v === undefined || v === false || (Array.isArray(v) && !v.length)) return;
    if (v === true) s += ";" + name;
    else if (typeof v === "number") s += ";" + name + "=" + v;
    else if (Array.isArray(v)) s += ";" + name + "=" + (v.length === 1 && typeof v[0] === "number" ? v[0] : quote(v.join(" ")));
    else s += ";" + name + "=" + quote(String(v));
  });
  return s;
}

/** Writes a link-format document: link-values separated by commas (RFC 6690 §2). */
export function formatLinks(links: readonly Link[]): string {
  let s = "";
  for (let i = 0; i < links.length; i++) s += (i ? "," : "") + formatLink(links[i]);
  return s;
}

/**
 * Percent-decodes a query value (RFC 6690 §4.1: Value Strings are percent-decoded before
 * matching; the octets are UTF-8, RFC 3986 §2.5). A malformed escape leaves the value as sent.
 */
function percentDecodeString(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export interface LinkFilter {
  name: string;
  value: string;
  /** The value ended in "*": a prefix match (RFC 6690 §4.1). */
  prefix: boolean;
}

/**
 * The filter of a /.well-known/core query (RFC 6690 §4.1): one name=value
 * pair; a trailing "*" makes the value a prefix. Returns undefined for no
 * query. With several Uri-Query options only the first is used (the URI
 * Template allows one pair); a query without "=" filters on the attribute's presence.
 */
export function parseLinkFilter(queries: readonly string[]): LinkFilter | undefined {
  if (!queries.length) return undefined;
  const q = queries[0];
  const eq = q.indexOf("=");
  const name = eq < 0 ? q : q.slice(0, eq);
  let value = eq < 0 ? "*" : q.slice(eq + 1);
  let prefix = false;
  if (value.endsWith("*")) {
    prefix = true;
    value = value.slice(0, -1);
  }
  return { name: percentDecodeString(name), value: percentDecodeString(value), prefix };
}

function valueMatches(target: string, filter: LinkFilter): boolean {
  return filter.prefix ? target.startsWith(filter.value) : target === filter.value;
}

/** Does the link match the filter (RFC 6690 §4.1)? A Value String matches only an attribute that exists. */
export function linkMatches(link: Link, filter: LinkFilter | undefined): boolean {
  if (!filter) return true;
  if (filter.name === "href") return valueMatches(link.href, filter);
  const v = link.attributes?.[filter.name];
  if (v === undefined || v === false) return false;
  if (v === true) return filter.prefix && filter.value === "";
  const values: string[] = Array.isArray(v) ? v.map(String) : MULTI_VALUED[filter.name] ? String(v).split(" ") : [String(v)];
  // each value, and a multi-valued attribute as a whole (e.g. rt="a b" against rt=a b)
  return values.some((one) => one !== "" && valueMatches(one, filter)) || (values.length > 1 && valueMatches(values.join(" "), filter));
}

/** The links that match a query (all of them for no query). */
export function filterLinks(links: readonly Link[], queries: readonly string[]): Link[] {
  const f = parseLinkFilter(queries);
  return f ? links.filter((l) => linkMatches(l, f)) : links.slice();
}
