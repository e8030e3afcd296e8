/*
 * CoAP options: the registry of known options with their formats and length
 * ranges (RFC 7252 §5.10 Table 4, RFC 7641 §2, RFC 7959 §2.1 and §4), the
 * properties carried by the option number itself (§5.4.6), value formats
 * (§3.2), and helpers for Block (RFC 7959 §2.2) and Observe (RFC 7641 §3.4, §4.4).
 */
import {
  COAP_OPTION,
} from "./constants";
import { Utf8Error, decodeUtf8, encodeUtf8New, utf8Invalid } from "../bytes/utf8";

// --- UTF-8 for "string" values (RFC 7252 §3.2: UTF-8, RFC 3629) -------------------------
// CoAP keeps its lenient policy on top of the shared strict helper (modules/bytes/utf8, which
// throws): encoding never throws (a lone surrogate goes out as U+FFFD), decoding never throws
// (each ill-formed sequence reads as one U+FFFD: the lead byte plus the continuation bytes it
// announced that are present). Well-formed input takes the shared helper's path unchanged.

/** UTF-8 bytes of `s` in a new array; a lone surrogate becomes U+FFFD (EF BF BD). Never throws. */
export function utf8Encode(s: string): Uint8Array {
  try {
    return encodeUtf8New(s);
  } catch (e) {
    if (!(e instanceof Utf8Error)) throw e;
  }
  let t = "";
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    t += ch.length === 1 && c >= 0xd800 && c <= 0xdfff ? "\ufffd" : ch;
  }
  return encodeUtf8New(t);
}

/** Decodes `bytes[start..end)`; each ill-formed or truncated sequence becomes one U+FFFD. Never throws on content. */
export function utf8Decode(bytes: Uint8Array, start = 0, end = bytes.length): string {
  try {
    return decodeUtf8(bytes, start, end);
  } catch (e) {
    if (!(e instanceof Utf8Error)) throw e;
  }
  let s = "";
  let i = start;
  for (let bad = utf8Invalid(bytes, i, end); bad >= 0; bad = utf8Invalid(bytes, i, end)) {
    s += decodeUtf8(bytes, i, bad) + "\ufffd";
    const b = bytes[bad];
    const need = b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : 0;
    i = bad + 1;
    for (let k = 0; k < need && i < end && (bytes[i] & 0xc0) === 0x80; k++) i++;
  }
  return s + decodeUtf8(bytes, i, end);
}

/** One option instance: its number and its raw value bytes. */
export interface CoapOption {
  number: number;
  value: Uint8Array;
}

/** RFC 7252 §3.2 option value formats. */
export type OptionFormat = "empty" | "opaque" | "uint" | "string";

export interface OptionDefinition {
  number: number;
  /** Host-side information (option-helpers.ts names the standard options); decoding needs none. */
  name?: string;
  format?: OptionFormat;
  /** Permitted value length in bytes (RFC 7252 §5.4.3). */
  minLength: number;
  maxLength: number;
  repeatable: boolean;
}

/**
 * The options this implementation recognizes by default (RFC 7252 §5.10 Table 4, RFC 7641 §2,
 * RFC 7959 §2.1 and §4), four numbers each: the option number, its least and greatest value
 * length in bytes (§5.4.3), and 1 when it is repeatable (§5.4.5). Names and formats, which
 * decoding does not need, are in option-helpers.ts (STANDARD_OPTION_DEFINITIONS).
 */
export const STANDARD_LIMITS: readonly number[] = [
  1, 0, 8, 1, // If-Match
  3, 1, 255, 0, // Uri-Host
  4, 1, 8, 1, // ETag
  5, 0, 0, 0, // If-None-Match
  6, 0, 3, 0, // Observe (RFC 7641 §2)
  7, 0, 2, 0, // Uri-Port
  8, 0, 255, 1, // Location-Path
  11, 0, 255, 1, // Uri-Path
  12, 0, 2, 0, // Content-Format
  14, 0, 4, 0, // Max-Age
  15, 0, 255, 1, // Uri-Query
  17, 0, 2, 0, // Accept
  20, 0, 255, 1, // Location-Query
  23, 0, 3, 0, // Block2 (RFC 7959 §2.1)
  27, 0, 3, 0, // Block1 (RFC 7959 §2.1)
  28, 0, 4, 0, // Size2 (RFC 7959 §4)
  35, 1, 1034, 0, // Proxy-Uri
  39, 1, 255, 0, // Proxy-Scheme
  60, 0, 4, 0, // Size1
];

/**
 * The set of options an endpoint recognizes (RFC 7252 §5.4.1: what is not
 * here is "unrecognized"). Layers that implement more options (OSCORE, Echo,
 * No-Response ...) make their own registry with `define`.
 */
export class OptionRegistry {
  #byNumber: (OptionDefinition | undefined)[] = [];
  #sparse = new Map<number, OptionDefinition>();

  /** The standard options (STANDARD_LIMITS), or the given definitions. */
  constructor(definitions?: readonly OptionDefinition[]) {
    if (definitions) for (const d of definitions) this.define(d);
    else for (let i = 0; i < STANDARD_LIMITS.length; i += 4) this.define({ number: STANDARD_LIMITS[i], minLength: STANDARD_LIMITS[i + 1], maxLength: STANDARD_LIMITS[i + 2], repeatable: STANDARD_LIMITS[i + 3] === 1 });
  }

  define(d: OptionDefinition): this {
    if (!d || !Number.isInteger(d.number) || d.number < 0 || d.number > 65535) throw new RangeError(`coap: option number must be 0..65535`);
    if (!(d.minLength >= 0 && d.maxLength >= d.minLength && d.maxLength <= 65535 + 269)) throw new RangeError(`coap: bad length range for option ${d.number}`);
    if (d.number < 64) this.#byNumber[d.number] = d;
    else this.#sparse.set(d.number, d);
    return this;
  }

  get(number: number): OptionDefinition | undefined {
    return number < 64 ? this.#byNumber[number] : this.#sparse.get(number);
  }
}

export const STANDARD_OPTIONS = new OptionRegistry();

// --- Value formats (RFC 7252 §3.2) --------------------------------------------

/** Minimal-length big-endian encoding of a uint (0 is the empty value), RFC 7252 §3.2. */
export function encodeUint(value: number): Uint8Array {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`coap: uint option value must be an integer 0..2^32-1, got ${value}`);
  if (value === 0) return new Uint8Array(0);
  if (value < 0x100) return Uint8Array.of(value);
  if (value < 0x10000) return Uint8Array.of(value >>> 8, value & 0xff);
  if (value < 0x1000000) return Uint8Array.of(value >>> 16, (value >>> 8) & 0xff, value & 0xff);
  return Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

/** Reads a uint of up to 4 bytes, accepting leading zero bytes as §3.2 requires. Longer values give NaN. */
export function decodeUint(value: Uint8Array): number {
  const n = value.length;
  if (n > 4) {
    // leading zeros are allowed; only the significant bytes matter
    let i = 0;
    while (i < n - 4 && value[i] === 0) i++;
    if (n - i > 4) return NaN;
    return decodeUint(value.subarray(i));
  }
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 256 + value[i];
  return v;
}

export function uintOption(number: number, value: number): CoapOption {
  return { number, value: encodeUint(value) };
}
export function stringOption(number: number, value: string): CoapOption {
  return { number, value: utf8Encode(value) };
}
export function opaqueOption(number: number, value: Uint8Array): CoapOption {
  return { number, value };
}
export function emptyOption(number: number): CoapOption {
  return { number, value: new Uint8Array(0) };
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
  const out: CoapOption[] = [];
  const opts = msg.options;
  for (let i = 0; i < opts.length; i++) if (opts[i].number === number) out.push(opts[i]);
  return out;
}
export function getUint(msg: HasOptions, number: number): number | undefined {
  const o = getOption(msg, number);
  return o ? decodeUint(o.value) : undefined;
}
export function getStrings(msg: HasOptions, number: number): string[] {
  return getOptions(msg, number).map((o) => utf8Decode(o.value));
}
// --- Block1/Block2 (RFC 7959 §2.2) ---------------------------------------------

export interface BlockValue {
  /** Block number, 0..2^20-1. */
  num: number;
  /** The M (more) flag. */
  more: boolean;
  /** Size exponent 0..6; the block size is 2 ** (szx + 4). */
  szx: number;
}

export const BLOCK_MAX_NUM = 0xfffff;

export function blockSize(szx: number): number {
  return 1 << (szx + 4);
}

/** The uint value of a Block option. Throws RangeError for NUM > 2^20-1 or SZX outside 0..6 (7 is reserved). */
export function encodeBlockValue(block: BlockValue): number {
  const { num, more, szx } = block;
  if (!Number.isInteger(num) || num < 0 || num > BLOCK_MAX_NUM) throw new RangeError(`coap: block NUM must be 0..${BLOCK_MAX_NUM}, got ${num}`);
  if (!Number.isInteger(szx) || szx < 0 || szx > 6) throw new RangeError(`coap: block SZX must be 0..6 (7 is reserved, RFC 7959 §2.2), got ${szx}`);
  return num * 16 + (more ? 8 : 0) + szx;
}

/**
 * Parses a Block option value (a uint of 0-3 bytes). Returns undefined when
 * SZX is 7 (reserved, RFC 7959 §2.2: 4.00 in a request) or the value is out of range.
 */
export function decodeBlockValue(value: number): BlockValue | undefined {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffff) return undefined;
  const szx = value & 7;
  if (szx === 7) return undefined;
  return { num: value >>> 4, more: (value & 8) !== 0, szx };
}

export function blockOption(number: COAP_OPTION.BLOCK1 | COAP_OPTION.BLOCK2, block: BlockValue): CoapOption {
  return uintOption(number, encodeBlockValue(block));
}

/** The Block1 or Block2 option of a message, parsed; undefined when absent; null when malformed (SZX 7 or too long). */
export function getBlock(msg: HasOptions, number: number): BlockValue | undefined | null {
  const o = getOption(msg, number);
  if (!o) return undefined;
  if (o.value.length > 3) return null;
  return decodeBlockValue(decodeUint(o.value)) ?? null;
}

// --- Observe (RFC 7641) ----------------------------------------------------------

/** Observe sequence numbers are 24-bit (RFC 7641 §4.4). */
export const OBSERVE_MAX = 0xffffff;

export function observeOption(sequence: number): CoapOption {
  return uintOption(COAP_OPTION.OBSERVE, sequence & OBSERVE_MAX);
}

/**
 * RFC 7641 §3.4: is the notification (v2, received at t2 ms) newer than the
 * one (v1, t1)? 24-bit serial number arithmetic, or more than 128 s later.
 */
export function observeIsNewer(v1: number, t1: number, v2: number, t2: number): boolean {
  const half = 1 << 23;
  return (v1 < v2 && v2 - v1 < half) || (v1 > v2 && v1 - v2 > half) || t2 > t1 + 128000;
}
