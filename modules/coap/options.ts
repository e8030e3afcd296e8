/*
 * CoAP options on the device: which options are recognized and their length ranges
 * (RFC 7252 §5.10 Table 4, RFC 7641 §2, RFC 7959 §2.1 and §4), uint and string values
 * (§3.2), reading options from a message, and Block values (RFC 7959 §2.2) as numbers.
 * Names, formats, Block values as objects and the other helpers hosts and tests use are in
 * option-helpers.ts, which the firmware leaves out (issue 17).
 */
import { decodeUtf8, encodeUtf8New, utf8Invalid } from "../bytes/utf8";
import { setting } from "./constants";

const EMPTY: Uint8Array = new Uint8Array(0);

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
  if (!o) return;
  const v = decodeUint(o.value);
  return o.value.length > 3 || (v & 7) === 7 ? null : { num: v >>> 4, more: (v & 8) !== 0, szx: v & 7 };
}

// --- Block-wise transfers (RFC 7959), shared by CoapServer and CoapClient ----------------------
// Slicing a representation into Block2 blocks (§2.4), and the server's bounded store of Block1
// request bodies being reassembled (§2.5, atomic fashion). Here, not a module of their own: the
// firmware always ships them with the options, and a module costs its import/export records and
// its own symbol table (issue 17).

/** SZX for a block size limit: the largest power of two 16..1024 not above `bytes`. */
export function szxForSize(bytes: number): number {
  let szx = 6;
  while (szx > 0 && blockSize(szx) > bytes) szx--;
  return szx;
}

export interface Block2Slice {
  /** The block's bytes (a view into the representation). */
  payload: Uint8Array;
  block: BlockValue;
}

/**
 * Block `num` of size 2^(szx+4) of `body` (RFC 7959 §2.4). Returns undefined
 * when the block starts beyond the end (a NUM out of range: 4.02 Bad Option,
 * RFC 7959 §2.2 lets the server treat a Block2 it cannot honour like an unrecognized option).
 */
export function sliceBlock2(body: Uint8Array, num: number, szx: number): Block2Slice | undefined {
  const size = blockSize(szx);
  const start = num * size;
  if (start > body.length || (start === body.length && num > 0)) return;
  const end = Math.min(body.length, start + size);
  return { payload: start === end ? EMPTY : body.subarray(start, end), block: { num, more: end < body.length, szx } };
}

/** A Block1 body being reassembled (RFC 7959 §2.5). */
export interface Block1Transfer {
  /** Bytes received so far, in order. */
  chunks: Uint8Array[];
  received: number;
  /** Content-Format of block 0 (later blocks must agree). */
  contentFormat: number | undefined;
  /** Absolute time after which the partial body is discarded. */
  expires: number;
}

/**
 * What a Block1 block comes to: the whole body once the final block arrived, or the code to
 * answer: 2.31 Continue (more blocks expected, §2.9.1), 4.08 Request Entity Incomplete (a block
 * out of sequence, without its predecessors or with another Content-Format, §2.9.2), 4.13
 * Request Entity Too Large (over the size limit or no room for another transfer, §2.9.3) or
 * 4.00 Bad Request (a non-final block that is not exactly the block size, §2.3, §2.5).
 */
export type Block1Outcome = number | { body: Uint8Array; contentFormat: number | undefined };

/**
 * The server's partial Block1 bodies, keyed by client endpoint and target
 * (RFC 7959 §2.4 / §2.5 identify a transfer by endpoint and URI). Bounded twice:
 * at most `maxTransfers` at once, each at most `maxBodySize` bytes; a partial
 * body is dropped `lifetime` ms after its last block (EXCHANGE_LIFETIME, §2.5).
 */
export class Block1Store {
  declare readonly maxTransfers: number;
  declare readonly maxBodySize: number;
  declare readonly lifetime: number;
  declare private _map: Map<string, Block1Transfer>;

  constructor(maxTransfers: number, maxBodySize: number, lifetime: number) {
    this._map = new Map();
    this.maxTransfers = setting(maxTransfers, 0, 1, Infinity, "maxBlock1Transfers");
    this.maxBodySize = setting(maxBodySize, 0, 1, Infinity, "maxBodySize");
    this.lifetime = lifetime;
  }

  get size(): number {
    return this._map.size;
  }

  clear(): void {
    this._map.clear();
  }

  /**
   * Takes one Block1 block. `limit` overrides maxBodySize for this resource;
   * `declaredSize` is the request's Size1 (§4), checked up front.
   */
  receive(key: string, block: BlockValue, payload: Uint8Array, contentFormat: number | undefined, now: number, declaredSize?: number, limit = this.maxBodySize): Block1Outcome {
    const map = this._map;
    map.forEach((t, k) => t.expires <= now && map.delete(k));
    const size = blockSize(block.szx);
    const offset = block.num * size;
    let t = map.get(key);
    map.delete(key);
    if ((block.more && payload.length !== size) || payload.length > size) return 0x80; // 4.00
    if ((declaredSize != null && declaredSize > limit) || offset + payload.length > limit) return 0x8d; // 4.13
    if (!block.num) {
      if (!block.more) return { body: payload, contentFormat };
      if (map.size >= this.maxTransfers) return 0x8d; // 4.13
      t = { chunks: [], received: 0, contentFormat, expires: 0 };
    } else if (!t || offset !== t.received || contentFormat !== t.contentFormat) return 0x88; // 4.08
    t.chunks.push(payload.slice());
    t.received += payload.length;
    t.expires = now + this.lifetime;
    if (block.more) {
      map.set(key, t);
      return 0x5f; // 2.31
    }
    return { body: concat(t.chunks, t.received), contentFormat: t.contentFormat };
  }
}

/** The `chunks` one after the other in one array of `total` bytes (their lengths' sum). */
export function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  for (let i = 0, o = 0; i < chunks.length; o += chunks[i++].length) out.set(chunks[i], o);
  return out;
}

/** A 4-byte ETag from the representation's bytes (FNV-1a 32), for block-wise consistency (RFC 7959 §2.4). */
export function etagOf(body: Uint8Array, contentFormat?: number): Uint8Array {
  let h = 0x811c9dc5;
  for (let i = 0; i < body.length; i++) {
    h ^= body[i];
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  if (contentFormat != null) {
    h ^= contentFormat & 0xffff;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return Uint8Array.of(h >>> 24, (h >>> 16) & 0xff, (h >>> 8) & 0xff, h & 0xff);
}
