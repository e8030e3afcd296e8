/**
 * UTF-8 (RFC 3629; Unicode §3.9 Table 3-7 well-formed byte sequences) without TextEncoder,
 * TextDecoder or Buffer, plus the MQTT UTF-8 Encoded String rules (MQTT 5.0 §1.5.4,
 * MQTT 3.1.1 §1.5.3).
 *
 * Error policy (chosen once, used everywhere here):
 * - Encoding a JS string that holds a lone surrogate (not a valid code point sequence)
 *   throws Utf8Error. We do not substitute U+FFFD as TextEncoder does: a protocol string
 *   must reach the peer as the application wrote it, or not at all.
 * - decodeUtf8 THROWS Utf8Error (with the byte offset) on ill-formed input: overlong forms,
 *   encoded surrogates (U+D800..U+DFFF), code points above U+10FFFF, stray continuation
 *   bytes, truncated sequences. No U+FFFD substitution either.
 * - The non-throwing checks (utf8Invalid, checkMqttUtf8, checkMqttString) return a status,
 *   so a codec can refuse a Malformed Packet without try/catch, then decode knowing the
 *   decode cannot throw.
 * - A BOM (0xEF 0xBB 0xBF) is an ordinary U+FEFF: never skipped or stripped ([MQTT-1.5.4-3]).
 *
 * Native fast paths: where the engine has TextEncoder/TextDecoder (Node; xsnap; Moddable when
 * the manifest includes them), encodeUtf8 and decodeUtf8 hand the bulk of the work to them,
 * keeping the policy above: a string with a lone surrogate takes the JS path, which throws
 * (engines differ there: V8 writes U+FFFD, XS an ill-formed ED A0 80), and a native decode
 * failure is re-run in JS for the exact Utf8Error. On XS the native codecs are ~50-100x
 * faster than interpreted JS. encodeUtf8Js/decodeUtf8Js are the pure-JS paths (tests run both).
 */

interface NativeEncoder {
  encodeInto(s: string, into: Uint8Array): { read?: number; written?: number };
}
interface NativeDecoder {
  decode(bytes: Uint8Array): string;
}

/**
 * A lone surrogate: a high one not followed by a low one, or a low one not preceded by a
 * high one (a non-unicode regex sees UTF-16 code units, on XS too). The lookahead is slow on
 * XS, so callers try the plain SURROGATE class first.
 */
// Each made when called: a preloaded RegExp crashes XS (tools/check-preload.js, rule 4).
const SURROGATE = (): RegExp => /[\uD800-\uDFFF]/;
const LONE_SURROGATE = (): RegExp =>
  /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/;

type Globals = {
  TextEncoder?: new () => NativeEncoder;
  TextDecoder?: new (label: string, options: { fatal: boolean; ignoreBOM: boolean }) => NativeDecoder;
};

/** The engine's TextEncoder, when it has one whose encodeInto writes UTF-8; else null. */
function probeEncoder(g: Globals): NativeEncoder | null {
  try {
    if (typeof g.TextEncoder !== "function") return null;
    const te = new g.TextEncoder();
    const probe = new Uint8Array(4);
    const r = te.encodeInto("\u00e9A", probe);
    return typeof te.encodeInto === "function" && r.written === 3 && probe[0] === 0xc3 && probe[2] === 0x41 ? te : null;
  } catch {
    return null;
  }
}

/** The engine's TextDecoder, when it has one that honours `fatal` and `ignoreBOM`; else null. */
function probeDecoder(g: Globals): NativeDecoder | null {
  try {
    if (typeof g.TextDecoder !== "function") return null;
    const td = new g.TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    try {
      td.decode(new Uint8Array([0xc0, 0x80]));
      return null; // not strict
    } catch {
      return td.decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])) === "\ufeffA" ? td : null;
    }
  } catch {
    return null;
  }
}

/*
 * Chosen once, when the module loads (at build time when it is preloaded: a Moddable manifest
 * without TextEncoder/TextDecoder gets the JS paths), and never changed: no module-level
 * switch. encodeUtf8Js/decodeUtf8Js are the pure-JS paths themselves (tests run both).
 */
const NATIVE_ENCODER = probeEncoder(globalThis as unknown as Globals);
const NATIVE_DECODER = probeDecoder(globalThis as unknown as Globals);
/** Whether encodeUtf8/decodeUtf8 hand the bulk of the work to the engine's TextEncoder/TextDecoder. */
export const NATIVE_UTF8 = NATIVE_ENCODER !== null || NATIVE_DECODER !== null;

/** Ill-formed UTF-8 input, or a string that cannot be encoded (lone surrogate). */
export class Utf8Error extends Error {
  /** Byte offset (decoding) or UTF-16 index (encoding) of the first offending unit. */
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.offset = offset;
  }
}
// On the prototype: `this.name = ...` throws where the intrinsics are frozen, as on a device (host-tests/xs/lockdown.ts).
Object.defineProperty(Utf8Error.prototype, "name", { value: "Utf8Error", writable: true, configurable: true });

// Iteration note: on XS, strings are stored as UTF-8 and `s.charCodeAt(i)` walks from the
// start of the string, so an index loop is quadratic (16,000 characters: ~760 ms on xsnap,
// against ~3 ms for `for...of`). `for...of` steps by code point in O(1) on XS and V8 alike,
// so the encoders below iterate with it and read each (one- or two-unit) piece with
// charCodeAt(0) / charCodeAt(1), which is O(1) on a string that short.

/**
 * Number of bytes the UTF-8 encoding of `s` takes. Throws Utf8Error on a lone surrogate.
 */
export function utf8Length(s: string): number {
  // ASCII only (the common case for topics): a plain loop. (A module-level RegExp here crashed
  // the preloaded mcsim build: the Moddable SDK 8.2.3's XS runs a preloaded RegExp with match
  // data from malloc that its collector takes for a chunk; tools/check-preload.js, rule 4.)
  let k = 0;
  while (k < s.length && s.charCodeAt(k) < 0x80) k++;
  if (k === s.length) return k;
  let length = 0;
  let i = 0;
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (c < 0x80) length += 1;
    else if (c < 0x800) length += 2;
    else if (c < 0xd800 || c > 0xdfff) length += 3;
    else if (ch.length === 2) length += 4; // a surrogate pair: one code point >= U+10000
    else throw new Utf8Error("utf8: lone surrogate at index " + i, i);
    i += ch.length;
  }
  return length;
}

/**
 * Writes the UTF-8 encoding of `s` into `out` at `offset` and returns the offset after it.
 * Allocates nothing of its own. RangeError if it does not fit (checked before writing);
 * Utf8Error on a lone surrogate (bytes after `offset` may then have been overwritten; the
 * caller's offset is not advanced).
 */
export function encodeUtf8(s: string, out: Uint8Array, offset: number): number {
  if (NATIVE_ENCODER !== null && (!SURROGATE().test(s) || !LONE_SURROGATE().test(s))) {
    checkFit(s, out, offset);
    const r = NATIVE_ENCODER.encodeInto(s, offset === 0 ? out : out.subarray(offset));
    return offset + (r.written as number);
  }
  return encodeUtf8Js(s, out, offset);
}

function checkFit(s: string, out: Uint8Array, offset: number): void {
  if (!(offset >= 0) || offset > out.length) {
    throw new RangeError("utf8: offset " + offset + " outside buffer of " + out.length);
  }
  // Worst case 3 bytes per UTF-16 unit; only when that may not fit do we measure first.
  if (out.length - offset < s.length * 3) {
    const need = utf8Length(s);
    if (out.length - offset < need) {
      throw new RangeError("utf8: " + need + " bytes do not fit at offset " + offset + " of " + out.length);
    }
  }
}

/** encodeUtf8 without the engine's TextEncoder: what a device without one runs. */
export function encodeUtf8Js(s: string, out: Uint8Array, offset: number): number {
  checkFit(s, out, offset);
  let o = offset;
  let i = 0;
  for (const ch of s) {
    let c = ch.charCodeAt(0);
    if (c < 0x80) {
      out[o++] = c;
    } else if (c < 0x800) {
      out[o++] = 0xc0 | (c >> 6);
      out[o++] = 0x80 | (c & 0x3f);
    } else if (c < 0xd800 || c > 0xdfff) {
      out[o++] = 0xe0 | (c >> 12);
      out[o++] = 0x80 | ((c >> 6) & 0x3f);
      out[o++] = 0x80 | (c & 0x3f);
    } else if (ch.length === 2) {
      c = 0x10000 + ((c - 0xd800) << 10) + (ch.charCodeAt(1) - 0xdc00);
      out[o++] = 0xf0 | (c >> 18);
      out[o++] = 0x80 | ((c >> 12) & 0x3f);
      out[o++] = 0x80 | ((c >> 6) & 0x3f);
      out[o++] = 0x80 | (c & 0x3f);
    } else {
      throw new Utf8Error("utf8: lone surrogate at index " + i, i);
    }
    i += ch.length;
  }
  return o;
}

/** The UTF-8 encoding of `s` in a new Uint8Array of exactly the right length. */
export function encodeUtf8New(s: string): Uint8Array {
  const out = new Uint8Array(utf8Length(s));
  encodeUtf8(s, out, 0);
  return out;
}

/**
 * Scans one well-formed sequence starting at `bytes[i]` (a lead byte >= 0x80) and returns
 * its code point, or a negative value: -1 truncated at `end`, -2 ill-formed.
 * Unicode Table 3-7: C2..DF 80..BF | E0 A0..BF 80..BF | E1..EC,EE..EF 80..BF 80..BF |
 * ED 80..9F 80..BF | F0 90..BF 80..BF 80..BF | F1..F3 80..BF x3 | F4 80..8F 80..BF 80..BF.
 */
function scanSequence(bytes: Uint8Array, i: number, end: number): number {
  const b0 = bytes[i];
  let need: number;
  let lo = 0x80;
  let hi = 0xbf;
  let cp: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    need = 1;
    cp = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    need = 2;
    cp = b0 & 0x0f;
    if (b0 === 0xe0) lo = 0xa0; // overlong below U+0800
    else if (b0 === 0xed) hi = 0x9f; // U+D800..U+DFFF [MQTT-1.5.4-1]
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    need = 3;
    cp = b0 & 0x07;
    if (b0 === 0xf0) lo = 0x90; // overlong below U+10000
    else if (b0 === 0xf4) hi = 0x8f; // above U+10FFFF
  } else {
    return -2; // 80..BF stray continuation, C0/C1 overlong, F5..FF never valid
  }
  for (let k = 1; k <= need; k++) {
    if (i + k >= end) return -1;
    const b = bytes[i + k];
    if (b < lo || b > hi) return -2;
    lo = 0x80;
    hi = 0xbf;
    cp = (cp << 6) | (b & 0x3f);
  }
  return cp;
}

function sequenceLength(cp: number): number {
  return cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

function checkRange(bytes: Uint8Array, start: number, end: number): void {
  if (!(start >= 0) || !(end <= bytes.length) || !(start <= end)) {
    throw new RangeError("utf8: range " + start + ".." + end + " outside 0.." + bytes.length);
  }
}

// fromCharCode.apply takes its arguments on the stack: keep chunks small for devices.
const CHUNK = 512;

/**
 * Decodes `bytes[start..end)` (defaults: the whole array) as strict UTF-8.
 * Throws Utf8Error (with `.offset`) on ill-formed input; RangeError on a bad range.
 */
export function decodeUtf8(bytes: Uint8Array, start: number = 0, end: number = bytes.length): string {
  checkRange(bytes, start, end);
  if (NATIVE_DECODER !== null) {
    try {
      return NATIVE_DECODER.decode(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end));
    } catch {
      // Ill-formed: the JS decoder finds the offset and throws the Utf8Error.
    }
  }
  return decodeUtf8Js(bytes, start, end);
}

/** decodeUtf8 without the engine's TextDecoder: what a device without one runs. */
export function decodeUtf8Js(bytes: Uint8Array, start: number = 0, end: number = bytes.length): string {
  checkRange(bytes, start, end);
  let i = start;
  while (i < end && bytes[i] < 0x80) i++;
  // ASCII only (topics, JSON): the bytes are the code units, no copy.
  if (i === end && end - start <= CHUNK) return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  const units: number[] = []; // this call's code units (a module-level scratch array would be frozen when preloaded)
  let result = "";
  let parts: string[] | null = null; // more than one chunk: join once (XS concatenation copies)
  let n = 0;
  i = start;
  while (i < end) {
    const c = bytes[i];
    if (c < 0x80) {
      units[n++] = c;
      i++;
    } else {
      const cp = scanSequence(bytes, i, end);
      if (cp < 0) {
        throw new Utf8Error(
          (cp === -1 ? "utf8: truncated sequence at byte " : "utf8: ill-formed sequence at byte ") + i,
          i,
        );
      }
      if (cp >= 0x10000) {
        units[n++] = 0xd800 + ((cp - 0x10000) >> 10);
        units[n++] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
      } else {
        units[n++] = cp;
      }
      i += sequenceLength(cp);
    }
    if (n >= CHUNK) {
      units.length = n;
      if (parts === null) parts = [];
      parts.push(String.fromCharCode.apply(null, units));
      n = 0;
    }
  }
  if (n > 0) {
    units.length = n;
    result = String.fromCharCode.apply(null, units);
  }
  if (parts !== null) {
    parts.push(result);
    result = parts.join("");
  }
  return result;
}

/**
 * Returns -1 when `bytes[start..end)` is well-formed UTF-8, else the offset of the first
 * byte of the first ill-formed (or truncated) sequence. Never throws on content.
 */
export function utf8Invalid(bytes: Uint8Array, start: number = 0, end: number = bytes.length): number {
  checkRange(bytes, start, end);
  let i = start;
  while (i < end) {
    if (bytes[i] < 0x80) {
      i++;
      continue;
    }
    const cp = scanSequence(bytes, i, end);
    if (cp < 0) return i;
    i += sequenceLength(cp);
  }
  return -1;
}

// MQTT UTF-8 Encoded String checks (MQTT 5.0 §1.5.4, MQTT 3.1.1 §1.5.3).

/** The string satisfies every rule checked. */
export const MQTT_STRING_OK = 0;
/** Ill-formed UTF-8, encoded surrogates, or (JS strings) a lone surrogate [MQTT-1.5.4-1] [MQTT-1.5.3-1]. */
export const MQTT_STRING_ILL_FORMED = 1;
/** Contains U+0000 [MQTT-1.5.4-2] [MQTT-1.5.3-2]. */
export const MQTT_STRING_NULL = 2;
/** Contains U+0001..U+001F or U+007F..U+009F (SHOULD NOT; flagged only on request). */
export const MQTT_STRING_CONTROL = 3;
/** Contains a Unicode non-character, U+FDD0..U+FDEF or U+xxFFFE/U+xxFFFF (SHOULD NOT; on request). */
export const MQTT_STRING_NONCHARACTER = 4;
/** Longer than 65,535 bytes, the most a Two Byte Integer length prefix can give (§1.5.4). */
export const MQTT_STRING_TOO_LONG = 5;

/** Options for the SHOULD-level rules: both off by default (they are MAY-reject for a receiver). */
export interface MqttStringRules {
  /** Flag U+0001..U+001F and U+007F..U+009F. */
  controls?: boolean;
  /** Flag non-characters. */
  noncharacters?: boolean;
}

// Each made when called: a preloaded RegExp crashes XS (tools/check-preload.js, rule 4).
const CONTROLS = (): RegExp => /[\u0001-\u001F\u007F-\u009F]/;
const BMP_NONCHARACTERS = (): RegExp => /[\uFDD0-\uFDEF\uFFFE\uFFFF]/;
/** U+1FFFE/F ... U+10FFFE/F as surrogate pairs: high D83F + 0x40 * (plane - 1), low DFFE/DFFF. */
const SUPPLEMENTARY_NONCHARACTERS = (): RegExp =>
  /[\uD83F\uD87F\uD8BF\uD8FF\uD93F\uD97F\uD9BF\uD9FF\uDA3F\uDA7F\uDABF\uDAFF\uDB3F\uDB7F\uDBBF\uDBFF][\uDFFE\uDFFF]/;

function classify(cp: number, controls: boolean, noncharacters: boolean): number {
  if (cp === 0) return MQTT_STRING_NULL; // [MQTT-1.5.4-2]
  if (controls && (cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f))) return MQTT_STRING_CONTROL;
  if (noncharacters && ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe)) {
    return MQTT_STRING_NONCHARACTER;
  }
  return MQTT_STRING_OK;
}

/**
 * Checks the encoded bytes of an MQTT UTF-8 Encoded String (without its length prefix), as a
 * receiver does before decoding. Returns an MQTT_STRING_* status; allocates nothing.
 */
export function checkMqttUtf8(
  bytes: Uint8Array,
  start: number = 0,
  end: number = bytes.length,
  rules?: MqttStringRules,
): number {
  checkRange(bytes, start, end);
  if (end - start > 0xffff) return MQTT_STRING_TOO_LONG;
  const controls = rules !== undefined && rules.controls === true;
  const nonchars = rules !== undefined && rules.noncharacters === true;
  let i = start;
  while (i < end) {
    const c = bytes[i];
    let cp: number;
    if (c < 0x80) {
      cp = c;
      i++;
    } else {
      cp = scanSequence(bytes, i, end);
      if (cp < 0) return MQTT_STRING_ILL_FORMED; // [MQTT-1.5.4-1]
      i += sequenceLength(cp);
    }
    if (cp <= 0x9f || cp >= 0xfdd0) {
      const status = classify(cp, controls, nonchars);
      if (status !== MQTT_STRING_OK) return status;
    }
  }
  return MQTT_STRING_OK;
}

/**
 * Checks a JS string that is to be sent as an MQTT UTF-8 Encoded String: no lone surrogate,
 * no U+0000, at most 65,535 bytes encoded, plus the optional SHOULD-level rules.
 * Returns an MQTT_STRING_* status; allocates nothing.
 */
export function checkMqttString(s: string, rules?: MqttStringRules): number {
  const controls = rules !== undefined && rules.controls === true;
  const nonchars = rules !== undefined && rules.noncharacters === true;
  // Native regex scans instead of an interpreted loop (XS runs loops ~50x slower than C).
  if (SURROGATE().test(s) && LONE_SURROGATE().test(s)) return MQTT_STRING_ILL_FORMED; // [MQTT-1.5.4-1]
  if (s.indexOf("\u0000") >= 0) return MQTT_STRING_NULL; // [MQTT-1.5.4-2]
  if (controls && CONTROLS().test(s)) return MQTT_STRING_CONTROL;
  if (nonchars && (BMP_NONCHARACTERS().test(s) || SUPPLEMENTARY_NONCHARACTERS().test(s))) return MQTT_STRING_NONCHARACTER;
  // At most 3 bytes per UTF-16 unit: only long strings can exceed 65,535 bytes.
  return s.length > 0x5555 && utf8Length(s) > 0xffff ? MQTT_STRING_TOO_LONG : MQTT_STRING_OK;
}
