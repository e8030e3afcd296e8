/*
 * CoAP URIs to options and back: RFC 7252 §6.4 (decomposing) and §6.5 (composing).
 */
import { COAP_OPTION } from "./constants";

/** RFC 7252 §6.1, §6.2: the default ports of coap:// and coaps://. */
export const COAP_DEFAULT_PORT = 5683;
export const COAPS_DEFAULT_PORT = 5684;
import { decodeUint, getOption, getOptions, uintOption, utf8Decode, utf8Encode, type CoapOption } from "./options";

export class CoapUriError extends Error {
  constructor(message: string) {
    super(message);
  }
}
// On the prototype: `this.name = ...` throws where the intrinsics are frozen, as on a device (host-tests/xs/lockdown.ts).
Object.defineProperty(CoapUriError.prototype, "name", { value: "CoapUriError", writable: true, configurable: true });

export interface ParsedCoapUri {
  scheme: "coap" | "coaps";
  /** The host as written (lower-cased, brackets removed for IPv6 literals). */
  host: string;
  /** True when host is an IPv4 address or IP-literal (then no Uri-Host option, §6.4 step 5). */
  hostIsIp: boolean;
  port: number;
  /** Uri-Host, Uri-Port, Uri-Path and Uri-Query options in order (§6.4). */
  options: CoapOption[];
}

// Made when called: a preloaded RegExp crashes XS (tools/check-preload.js, rule 4).
const IPV4 = (): RegExp => /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** Converts "%HH" sequences to bytes, other characters to UTF-8 (§6.4 steps 5, 8, 9). Throws on a bad "%". */
export function percentDecode(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 3); // at most 3 UTF-8 bytes per UTF-16 unit
  let o = 0;
  for (let i = 0; i < s.length; ) {
    const c = s.charCodeAt(i);
    if (c === 37) {
      const h = i + 2 < s.length ? hexValue(s.charCodeAt(i + 1)) : -1;
      const l = h >= 0 ? hexValue(s.charCodeAt(i + 2)) : -1;
      if (l < 0) throw new CoapUriError(`bad percent-encoding at "${s.slice(i, i + 3)}"`);
      out[o++] = (h << 4) | l;
      i += 3;
      continue;
    }
    // copy the run of characters up to the next "%"
    let j = i + 1;
    while (j < s.length && s.charCodeAt(j) !== 37) j++;
    const piece = utf8Encode(s.slice(i, j));
    out.set(piece, o);
    o += piece.length;
    i = j;
  }
  return out.slice(0, o);
}

/**
 * RFC 7252 §6.4: splits `coap://host:port/path?query` into options.
 * `destinationPort` is the UDP port the request will go to (default: the
 * URI's port); a Uri-Port option is included only when they differ (step 7).
 * Throws CoapUriError when the algorithm fails.
 */
export function parseCoapUri(uri: string, destinationPort?: number): ParsedCoapUri {
  if (typeof uri !== "string") throw new CoapUriError("URI must be a string");
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/.exec(uri);
  if (!m) throw new CoapUriError(`not an absolute URI: "${uri}" (RFC 7252 §6.4 step 1)`);
  const scheme = m[1].toLowerCase();
  if (scheme !== "coap" && scheme !== "coaps") throw new CoapUriError(`scheme must be coap or coaps, got "${m[1]}" (§6.4 step 3)`);
  if (m[5] !== undefined) throw new CoapUriError(`a CoAP URI has no fragment (§6.4 step 4)`);
  let authority = m[2];
  const at = authority.lastIndexOf("@");
  if (at >= 0) throw new CoapUriError("a CoAP URI has no userinfo");
  let host: string;
  let portText: string | undefined;
  let hostIsIp = false;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close < 0) throw new CoapUriError(`unterminated IP-literal in "${uri}"`);
    host = authority.slice(1, close).toLowerCase();
    hostIsIp = true;
    const rest = authority.slice(close + 1);
    if (rest) {
      if (rest[0] !== ":") throw new CoapUriError(`bad authority "${authority}"`);
      portText = rest.slice(1);
    }
  } else {
    const colon = authority.lastIndexOf(":");
    if (colon >= 0) {
      portText = authority.slice(colon + 1);
      authority = authority.slice(0, colon);
    }
    host = authority.toLowerCase();
    hostIsIp = IPV4().test(host);
  }
  if (!host) throw new CoapUriError(`URI has no host: "${uri}"`);
  const defaultPort = scheme === "coaps" ? COAPS_DEFAULT_PORT : COAP_DEFAULT_PORT;
  let port = defaultPort;
  if (portText !== undefined && portText !== "") {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw new CoapUriError(`bad port "${portText}"`);
    port = Number(portText);
  }
  const options: CoapOption[] = [];
  // step 5: Uri-Host for a reg-name, lower-cased and percent-decoded
  if (!hostIsIp) {
    const value = percentDecode(host);
    if (value.length < 1 || value.length > 255) throw new CoapUriError("Uri-Host must be 1..255 bytes");
    options.push({ number: COAP_OPTION.URI_HOST, value });
  }
  // step 7
  const dest = destinationPort ?? port;
  if (port !== dest) options.push(uintOption(COAP_OPTION.URI_PORT, port));
  // step 8
  const path = m[3];
  if (path !== "" && path !== "/") {
    const segments = path.slice(1).split("/");
    for (const seg of segments) {
      const value = percentDecode(seg);
      if (value.length > 255) throw new CoapUriError("a Uri-Path segment is longer than 255 bytes");
      options.push({ number: COAP_OPTION.URI_PATH, value });
    }
  }
  // step 9
  if (m[4] !== undefined) {
    for (const arg of m[4].slice(1).split("&")) {
      const value = percentDecode(arg);
      if (value.length > 255) throw new CoapUriError("a Uri-Query argument is longer than 255 bytes");
      options.push({ number: COAP_OPTION.URI_QUERY, value });
    }
  }
  return { scheme, host, hostIsIp, port, options };
}

const HEX = "0123456789ABCDEF";

/** unreserved (RFC 3986 §2.3) */
function isUnreserved(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e;
}
/** sub-delims (RFC 3986 §2.2): ! $ & ' ( ) * + , ; = */
function isSubDelim(c: number): boolean {
  return c === 0x21 || c === 0x24 || c === 0x26 || c === 0x27 || c === 0x28 || c === 0x29 || c === 0x2a || c === 0x2b || c === 0x2c || c === 0x3b || c === 0x3d;
}

function percentEncode(bytes: Uint8Array, keep: (c: number) => boolean): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    s += b < 0x80 && keep(b) ? String.fromCharCode(b) : "%" + HEX[b >> 4] + HEX[b & 15];
  }
  return s;
}

const keepPath = (c: number) => isUnreserved(c) || isSubDelim(c) || c === 0x3a || c === 0x40;
const keepQuery = (c: number) => isUnreserved(c) || (isSubDelim(c) && c !== 0x26) || c === 0x3a || c === 0x40 || c === 0x2f || c === 0x3f;
const keepHost = (c: number) => isUnreserved(c) || isSubDelim(c);

/**
 * RFC 7252 §6.5: composes a URI from a request's options and its destination.
 * Percent-encoding uses upper-case hex digits (§6.5).
 */
export function buildCoapUri(msg: { options: readonly CoapOption[] }, destination: { host: string; port: number; secure?: boolean }): string {
  const secure = !!destination.secure;
  let url = secure ? "coaps://" : "coap://";
  const hostOpt = getOption(msg, COAP_OPTION.URI_HOST);
  let host: string;
  if (hostOpt) host = percentEncode(hostOpt.value, keepHost);
  else host = destination.host.indexOf(":") >= 0 ? `[${destination.host}]` : destination.host;
  if (!host) throw new CoapUriError("no host (§6.5 step 2)");
  url += host;
  const portOpt = getOption(msg, COAP_OPTION.URI_PORT);
  const port = portOpt ? decodeUint(portOpt.value) : destination.port;
  if (port !== (secure ? COAPS_DEFAULT_PORT : COAP_DEFAULT_PORT)) url += ":" + port;
  let resource = "";
  for (const o of getOptions(msg, COAP_OPTION.URI_PATH)) resource += "/" + percentEncode(o.value, keepPath);
  if (resource === "") resource = "/";
  const query = getOptions(msg, COAP_OPTION.URI_QUERY);
  for (let i = 0; i < query.length; i++) resource += (i ? "&" : "?") + percentEncode(query[i].value, keepQuery);
  return url + resource;
}

export { utf8Decode, utf8Encode };
