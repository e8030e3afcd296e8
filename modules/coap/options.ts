/*
 * CoAP options on the device: which options are recognized and their length ranges
 * (RFC 7252 §5.10 Table 4, RFC 7641 §2, RFC 7959 §2.1 and §4), uint and string values
 * (§3.2), reading options from a message, and Block values (RFC 7959 §2.2) as numbers.
 * Names, formats, Block values as objects and the other helpers hosts and tests use are in
 * option-helpers.ts, which the firmware leaves out (issue 17).
 */
import { decodeUtf8, encodeUtf8New, utf8Invalid } from "../bytes/utf8";

// --- UTF-8 for "string" values (RFC 7252 §3.2: UTF-8, RFC 3629) -------------------------
// CoAP keeps a lenient policy on top of the shared strict helper (modules/bytes/utf8, which
// throws): encoding never throws (a lone surrogate goes out as U+FFFD), decoding never throws
// (each ill-formed sequence reads as one U+FFFD: the lead byte plus the continuation bytes it
// announced that are present). Well-formed input takes the shared helper's path unchanged.

/** UTF-8 bytes of `s` in a new array; a lone surrogate becomes U+FFFD (EF BF BD). Never throws. */
export function utf8Encode(s: string): Uint8Array {
  try {
    return encodeUtf8New(s);
  } catch {
    // a lone surrogate: the string iterator gives it alone (a pair comes as one code point).
    // A loop, not a RegExp: the preloaded lin build crashed in RegExp exec (commit 64c1a5f).
    return encodeUtf8New(Array.from(s, (ch) => ((ch.charCodeAt(0) & 0xf800) === 0xd800 && ch.length === 1 ? "\ufffd" : ch)).join(""));
  }
}

/** Decodes `bytes[start..end)`; each ill-formed or truncated sequence becomes one U+FFFD. Never throws on content. */
export function utf8Decode(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let s = "";
  let i = start;
  for (let bad = utf8Invalid(bytes, i, end); bad >= 0; bad = utf8Invalid(bytes, i, end)) {
    s += decodeUtf8(bytes, i, bad) + "\ufffd";
    const b = bytes[bad];
    // the continuation bytes the lead byte announced (a stray continuation byte announces none)
    let need = b >= 0xc2 && b < 0xe0 ? 1 : b >= 0xe0 && b < 0xf0 ? 2 : b >= 0xf0 && b < 0xf5 ? 3 : 0;
    for (i = bad + 1; need-- > 0 && i < end && (bytes[i] & 0xc0) === 0x80; ) i++;
  }
  return s + decodeUtf8(bytes, i, end);
}

/** One option instance: its number and its raw value bytes. */
export interface CoapOption {
  number: number;
  value: Uint8Array;
}

/**
 * What an endpoint recognizes (RFC 7252 §5.4.1: anything else is "unrecognized"): for an
 * option number, its value length range (§5.4.3) and whether it may repeat (§5.4.5), packed
 * as `maxLength << 2 | minLength << 1 | repeatable`, or -1 when the option is not recognized.
 * option-helpers.ts `OptionRegistry` makes one for more options (OSCORE, Echo, No-Response ...).
 */
export type OptionLimits = (number: number) => number;

/*
 * The standard options by number 0..60, each as the character whose code is its packed
 * limits + 1 ("\x00": not an option, -1): If-Match 1 (0-8, repeatable), Uri-Host 3 (1-255),
 * ETag 4 (1-8, rep.), If-None-Match 5 (0), Observe 6 (0-3, RFC 7641 §2), Uri-Port 7 (0-2),
 * Location-Path 8 (0-255, rep.), Uri-Path 11 (0-255, rep.), Content-Format 12 (0-2), Max-Age
 * 14 (0-4), Uri-Query 15 (0-255, rep.), Accept 17 (0-2), Location-Query 20 (0-255, rep.),
 * Block2 23 and Block1 27 (0-3, RFC 7959 §2.1), Size2 28 (0-4, §4), Proxy-Uri 35 (1-1034),
 * Proxy-Scheme 39 (1-255), Size1 60 (0-4). option-helpers.ts STANDARD_OPTION_DEFINITIONS has
 * the same list with names and formats (host-tests/coap/codec.test.ts checks they agree).
 */
const STANDARD =
  "\x00\x22\x00\u03ff\x24\x01\x0d\x09\u03fe\x00\x00\u03fe\x09\x00\x11\u03fe\x00\x09\x00\x00\u03fe\x00\x00\x0d\x00\x00\x00\x0d\x11" +
  "\x00\x00\x00\x00\x00\x00\u102b\x00\x00\x00\u03ff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x11";

/** The standard options' limits (OptionLimits): RFC 7252 Table 4, Observe, Block1/Block2, Size2. */
export function standardLimits(number: number): number {
  return number < 61 ? STANDARD.charCodeAt(number) - 1 : -1;
}

// --- Value formats (RFC 7252 §3.2) --------------------------------------------

/** Minimal-length big-endian encoding of a uint 0..2^32-1 (0 is the empty value), RFC 7252 §3.2. Throws RangeError for others. */
export function encodeUint(value: number): Uint8Array {
  if (!(value >= 0 && value <= 0xffffffff) || value % 1) throw new RangeError("coap: uint");
  // the four bytes (a Uint8Array keeps the low 8 bits), without the leading zeros
  const out = Uint8Array.of(value / 0x1000000, value >> 16, value >> 8, value);
  let i = 0;
  while (i < 4 && !out[i]) i++;
  return out.subarray(i);
}

/** Reads a uint, accepting leading zero bytes as §3.2 requires; more than 4 significant bytes give NaN. */
export function decodeUint(value: Uint8Array): number {
  let v = 0;
  for (let i = 0; i < value.length; i++) v = v * 256 + value[i];
  return v > 0xffffffff ? NaN : v;
}

export function uintOption(number: number, value: number): CoapOption {
  return { number, value: encodeUint(value) };
}
export function stringOption(number: number, value: string): CoapOption {
  return { number, value: utf8Encode(value) };
}
/** Appends one string option per non-empty part (Uri-Path segments, Location-Query arguments ...). */
export function pushStrings(options: CoapOption[], number: number, parts: readonly string[]): void {
  parts.forEach((part) => part && options.push(stringOption(number, part)));
}
export function opaqueOption(number: number, value: Uint8Array): CoapOption {
  return { number, value };
}

/** Lower-case hex of bytes: tokens in the keys of exchanges and observers. */
export function hex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
  return s;
}

/** Equal bytes (ETags, tokens). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// --- Reading options from a message -------------------------------------------

export interface HasOptions {
  options: readonly CoapOption[];
}

export function getOption(msg: HasOptions, number: number): CoapOption | undefined {
  const opts = msg.options;
  for (let i = 0; i < opts.length; i++) if (opts[i].number === number) return opts[i];
  return undefined;
}
export function getOptions(msg: HasOptions, number: number): CoapOption[] {
  return msg.options.filter((o) => o.number === number);
}
export function getUint(msg: HasOptions, number: number): number | undefined {
  const o = getOption(msg, number);
  return o && decodeUint(o.value);
}
export function getStrings(msg: HasOptions, number: number): string[] {
  return getOptions(msg, number).map((o) => utf8Decode(o.value));
}

// --- Block1/Block2 (RFC 7959 §2.2): NUM << 4 | M << 3 | SZX ----------------
// The codec refuses SZX 7 (bad-request) and a Block value over 3 bytes (bad-option), so a
// decoded message's Block option read with getUint is well formed. option-helpers.ts has
// encodeBlockValue and decodeBlockValue for hosts and tests.

// --- Observe (RFC 7641) ----------------------------------------------------------

/** Observe sequence numbers are 24-bit (RFC 7641 §4.4). */
export const OBSERVE_MAX = 0xffffff;

export function observeOption(sequence: number): CoapOption {
  return uintOption(6, sequence & OBSERVE_MAX); // Observe (RFC 7641 §2)
}

// --- Block values as objects: used by server.ts and client.ts until they use numbers ---------

export interface BlockValue {
  /** Block number, 0..2^20-1. */
  num: number;
  /** The M (more) flag. */
  more: boolean;
  /** Size exponent 0..6; the block size is 16 << szx. */
  szx: number;
}

export function blockSize(szx: number): number {
  return 16 << szx;
}

/** The Block option for `block`. Throws RangeError for NUM > 2^20-1 or SZX outside 0..6 (7 is reserved, RFC 7959 §2.2). */
export function blockOption(number: number, b: BlockValue): CoapOption {
  if (!(b.num >= 0 && b.num <= 0xfffff && b.szx >= 0 && b.szx <= 6) || b.num % 1 || b.szx % 1) throw new RangeError("coap: block");
  return uintOption(number, b.num * 16 + (b.more ? 8 : 0) + b.szx);
}

/** The Block1 or Block2 option of a message, parsed; undefined when absent; null when malformed (SZX 7 or over 3 bytes). */
export function getBlock(msg: HasOptions, number: number): BlockValue | undefined | null {
  const o = getOption(msg, number);
  if (!o) return undefined;
  const v = decodeUint(o.value);
  return o.value.length > 3 || (v & 7) === 7 ? null : { num: v >>> 4, more: (v & 8) !== 0, szx: v & 7 };
}
