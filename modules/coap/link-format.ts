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

/** Writes a link-format document: link-values (RFC 6690 §2) separated by commas. */
export function formatLinks(links: readonly Link[]): string {
  return links
    .map((link) => {
      let s = "<" + link.href + ">";
      const attrs = link.attributes || {};
      Object.keys(attrs).forEach((name) => {
        let v = attrs[name];
        // a list: its values space-separated in one quoted string (`rt="a b"`, `ct="0 41"`), a
        // single number as a ptoken (`ct=0`); an empty list is left out, as undefined and false are
        if (Array.isArray(v)) v = v.length > 1 || typeof v[0] === "string" ? v.join(" ") : v[0];
        if (v === true) s += ";" + name;
        // quoted-string (RFC 2616 §2.2, RFC 6690 §2): JSON's string syntax escapes the double
        // quote and the backslash with a backslash as quoted-pair does (it also escapes control
        // characters, which qdtext does not allow)
        else if (v !== undefined && v !== false) s += ";" + name + "=" + (typeof v === "number" ? v : JSON.stringify(String(v)));
      });
      return s;
    })
    .join(",");
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

/**
 * The links that match a /.well-known/core query (RFC 6690 §4.1; all of them for no query): one
 * name=value pair, a trailing "*" making the value a prefix; with several Uri-Query options only
 * the first is used (the URI Template allows one pair); a query without "=" filters on the
 * attribute's presence. A Value String matches only an attribute that exists.
 */
export function filterLinks(links: readonly Link[], queries: readonly string[]): Link[] {
  const q = queries[0];
  if (q === undefined) return links.slice();
  const eq = q.indexOf("=");
  const name = percentDecodeString(eq < 0 ? q : q.slice(0, eq));
  let value = eq < 0 ? "*" : q.slice(eq + 1);
  const prefix = value.endsWith("*");
  value = percentDecodeString(prefix ? value.slice(0, -1) : value);
  return links.filter((link) => {
    const v = name === "href" ? link.href : link.attributes?.[name];
    if (v === undefined || v === false) return false;
    if (v === true) return prefix && !value;
    const whole = Array.isArray(v) ? v.join(" ") : String(v);
    // each value of a list or of an attribute whose value is a space-separated list (rt, if,
    // rel, rev; ct, RFC 7252 §7.2.1), and the attribute as a whole (rt="a b" against rt=a b)
    const values = Array.isArray(v) || " rt if rel rev ct ".includes(" " + name + " ") ? whole.split(" ") : [];
    values.push(whole);
    return values.some((one) => one !== "" && (prefix ? one.startsWith(value) : one === value));
  });
}
