/*
 * Command authentication: HMAC-SHA256 (RFC 2104) with the device's key over a
 * canonical byte string that names the device, the command, a counter and the
 * body, so that a MAC made for another device, another command, another body
 * or an older counter never verifies.
 *
 * Canonical bytes (docs/security.md gives the same definition):
 *
 *   UTF-8( canonicalJson({ "body": <body or null>, "cmd": <command name>,
 *                          "ctr": <counter>, "dev": <device id> }) )
 *
 * canonicalJson is the JSON Canonicalization Scheme's serialization (RFC 8785):
 * no whitespace, object members sorted by their names' UTF-16 code units, strings
 * escaped as JSON.stringify escapes them, numbers as ECMAScript Number::toString
 * (what JSON.stringify writes). It works on the decoded value, so the same MAC
 * holds whether the body travelled as JSON or as CBOR. Values JSON cannot carry
 * (byte strings, undefined, non-finite numbers, bigints, tags) make the command
 * unsignable: it is rejected before any MAC is computed.
 *
 * The counter is an integer from 1 to 2^53 - 1, strictly above the last counter
 * the device accepted (persisted with the acceptance, see store.ts). The MAC is
 * sent as 64 lower- or upper-case hex digits.
 */
import { encodeUtf8New } from "../bytes/utf8";
import { isPlainObject } from "./schema";

export const MAC_HEX_LENGTH = 64;
export const MAX_COUNTER = 9007199254740991;

export class CanonicalError extends Error {}

function canon(v: unknown, depth: number, out: string[]): void {
  if (depth > 32) throw new CanonicalError("nesting deeper than 32");
  if (v === null) {
    out.push("null");
    return;
  }
  switch (typeof v) {
    case "boolean":
      out.push(v ? "true" : "false");
      return;
    case "number":
      if (!isFinite(v)) throw new CanonicalError("a number that is not finite cannot be signed");
      out.push(JSON.stringify(v));
      return;
    case "string":
      out.push(JSON.stringify(v));
      return;
    case "object":
      break;
    default:
      throw new CanonicalError(`a ${typeof v} value cannot be signed`);
  }
  if (Array.isArray(v)) {
    out.push("[");
    for (let i = 0; i < v.length; i++) {
      if (i) out.push(",");
      canon(v[i], depth + 1, out);
    }
    out.push("]");
    return;
  }
  if (!isPlainObject(v)) throw new CanonicalError("only JSON values can be signed (got a byte string, tag or map with non-text keys)");
  // RFC 8785 §3.2.3: sort by UTF-16 code units; the default sort compares them.
  const keys = Object.keys(v).sort();
  out.push("{");
  for (let i = 0; i < keys.length; i++) {
    if (i) out.push(",");
    out.push(JSON.stringify(keys[i]), ":");
    canon(v[keys[i]], depth + 1, out);
  }
  out.push("}");
}

/** RFC 8785 serialization of a JSON value. Throws CanonicalError for values JSON cannot carry. */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  canon(value, 0, out);
  return out.join("");
}

/** The exact bytes a command's MAC covers. Throws CanonicalError for an unsignable body. */
export function commandSigningBytes(deviceId: string, command: string, counter: number, body: unknown): Uint8Array {
  return encodeUtf8New(canonicalJson({ body: body === undefined ? null : body, cmd: command, ctr: counter, dev: deviceId }));
}

export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
  return s;
}

/** Hex to bytes, or undefined when `hex` is not an even count of hex digits. */
export function fromHex(hex: string): Uint8Array | undefined {
  if (typeof hex !== "string" || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

/** Compares in time independent of where the first difference is. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

export function isValidCounter(c: unknown): c is number {
  return typeof c === "number" && Number.isInteger(c) && c >= 1 && c <= MAX_COUNTER;
}

/** Signs a command (host side and tests): the hex MAC. */
export function signCommand(hmac: (key: Uint8Array, data: Uint8Array) => Uint8Array, key: Uint8Array, deviceId: string, command: string, counter: number, body: unknown): string {
  return toHex(hmac(key, commandSigningBytes(deviceId, command, counter, body)));
}
