/*
 * CBOR (RFC 8949) encoder and decoder for small devices: configuration bodies
 * over CoAP (Content-Format 60) now, SenML CBOR later.
 *
 * Data model (RFC 8949 §2, §3):
 * - major 0/1 integers -> number when |n| <= 2^53 - 1, else bigint (§3.1);
 * - major 2 byte string -> Uint8Array (a copy), major 3 text string -> string
 *   (strict UTF-8, §5.3.1: ill-formed text is an error, never U+FFFD);
 * - major 4 array -> Array; major 5 map -> a plain object when every key is a
 *   text string, otherwise a Map (SenML CBOR uses integer labels);
 *   a duplicate key is an error (§5.6: we are a strict decoder);
 * - major 6 tag -> CborTag {tag, value} (no tag is interpreted);
 * - major 7: false, true, null, undefined (§3.3), half/single/double floats
 *   -> number, other simple values -> CborSimple.
 * Indefinite-length strings, arrays and maps are accepted (§3.2) within the
 * same limits; the encoder only writes definite lengths.
 *
 * decode() never throws: it returns {ok: true, value} or {ok: false, error}
 * with an offset and a reason. It checks every length against the bytes left
 * before allocating (a 5-byte item cannot claim a 4 GB string), bounds nesting
 * depth and the total number of items, and rejects trailing bytes (§5.3: a
 * CBOR item is exactly one data item).
 *
 * encode() uses preferred serialization (§4.1): shortest argument, and the
 * shortest float (half, single, double) that keeps the value exactly; NaN is
 * f9 7e00. With `deterministic: true` map keys are also sorted in bytewise
 * lexicographic order of their encodings (§4.2.1, core deterministic encoding).
 */
import { decodeUtf8, encodeUtf8New, utf8Invalid } from "../bytes/utf8";

export class CborTag {
  constructor(
    readonly tag: number,
    readonly value: unknown,
  ) {}
}

export class CborSimple {
  constructor(readonly value: number) {}
}

export interface CborDecodeOptions {
  /** Deepest nesting of arrays, maps and tags (default 16). */
  maxDepth?: number;
  /** Most data items in all (default 4096). */
  maxItems?: number;
}

export interface CborError {
  /** Byte offset where the problem was found. */
  offset: number;
  reason: string;
}

export type CborDecodeResult = { ok: true; value: unknown } | { ok: false; error: CborError };

class Fail {
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {}
}

const MAX_SAFE = 9007199254740991;

class Reader {
  pos = 0;
  items = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly view: DataView,
    readonly maxDepth: number,
    readonly maxItems: number,
  ) {}

  need(n: number): void {
    if (this.bytes.length - this.pos < n) throw new Fail(this.pos, `truncated: ${n} more byte(s) needed, ${this.bytes.length - this.pos} left`);
  }

  /** The argument of a head (§3): returns a number, a bigint, or -1 for indefinite. */
  argument(ai: number, start: number): number | bigint {
    if (ai < 24) return ai;
    switch (ai) {
      case 24:
        this.need(1);
        return this.bytes[this.pos++];
      case 25: {
        this.need(2);
        const v = this.view.getUint16(this.pos);
        this.pos += 2;
        return v;
      }
      case 26: {
        this.need(4);
        const v = this.view.getUint32(this.pos);
        this.pos += 4;
        return v;
      }
      case 27: {
        this.need(8);
        const hi = this.view.getUint32(this.pos);
        const lo = this.view.getUint32(this.pos + 4);
        this.pos += 8;
        if (hi < 0x200000) return hi * 0x100000000 + lo;
        return (BigInt(hi) << BigInt(32)) | BigInt(lo);
      }
      case 31:
        return -1;
      default:
        // §3: additional information 28, 29, 30 are reserved: not well-formed.
        throw new Fail(start, `reserved additional information ${ai}`);
    }
  }

  length(ai: number, start: number, what: string): number {
    const n = this.argument(ai, start);
    if (typeof n === "bigint" || n > this.bytes.length) throw new Fail(start, `${what} length ${String(n)} exceeds the ${this.bytes.length - this.pos} bytes left`);
    return n;
  }

  item(depth: number): unknown {
    if (++this.items > this.maxItems) throw new Fail(this.pos, `more than ${this.maxItems} data items`);
    this.need(1);
    const start = this.pos;
    const ib = this.bytes[this.pos++];
    const major = ib >> 5;
    const ai = ib & 0x1f;
    switch (major) {
      case 0:
      case 1: {
        if (ai === 31) throw new Fail(start, `indefinite length is not allowed for major type ${major}`);
        const n = this.argument(ai, start);
        if (major === 0) return n;
        // §3.1 major type 1: the value is -1 - argument.
        if (typeof n === "number" && n < MAX_SAFE) return -1 - n;
        return BigInt(-1) - BigInt(n);
      }
      case 2:
      case 3:
        return this.string(major, ai, start);
      case 4: {
        if (depth >= this.maxDepth) throw new Fail(start, `nesting deeper than ${this.maxDepth}`);
        const out: unknown[] = [];
        if (ai === 31) {
          for (;;) {
            this.need(1);
            if (this.bytes[this.pos] === 0xff) {
              this.pos++;
              return out;
            }
            out.push(this.item(depth + 1));
          }
        }
        // Each element takes at least one byte: a count above the bytes left cannot be real.
        const n = this.length(ai, start, "array");
        if (n > this.bytes.length - this.pos) throw new Fail(start, `array of ${n} items cannot fit in the ${this.bytes.length - this.pos} bytes left`);
        for (let i = 0; i < n; i++) out.push(this.item(depth + 1));
        return out;
      }
      case 5:
        return this.map(ai, start, depth);
      case 6: {
        if (ai === 31) throw new Fail(start, "indefinite length is not allowed for a tag");
        if (depth >= this.maxDepth) throw new Fail(start, `nesting deeper than ${this.maxDepth}`);
        const tag = this.argument(ai, start);
        return new CborTag(typeof tag === "bigint" ? Number(tag) : tag, this.item(depth + 1));
      }
      default:
        return this.simple(ai, start);
    }
  }

  string(major: number, ai: number, start: number): unknown {
    let bytes: Uint8Array;
    if (ai === 31) {
      // §3.2.3: chunks of the same major type, definite length each.
      const parts: Uint8Array[] = [];
      let total = 0;
      for (;;) {
        this.need(1);
        const b = this.bytes[this.pos];
        if (b === 0xff) {
          this.pos++;
          break;
        }
        const cs = this.pos++;
        if (b >> 5 !== major || (b & 0x1f) === 31) throw new Fail(cs, "indefinite-length string chunk of the wrong type");
        const n = this.length(b & 0x1f, cs, "string chunk");
        this.need(n);
        const chunk = this.bytes.subarray(this.pos, this.pos + n);
        if (major === 3 && utf8Invalid(chunk) >= 0) throw new Fail(cs, "text string chunk is not valid UTF-8");
        parts.push(chunk);
        total += n;
        this.pos += n;
      }
      bytes = new Uint8Array(total);
      let o = 0;
      for (const p of parts) {
        bytes.set(p, o);
        o += p.length;
      }
    } else {
      const n = this.length(ai, start, major === 2 ? "byte string" : "text string");
      this.need(n);
      bytes = this.bytes.subarray(this.pos, this.pos + n);
      this.pos += n;
    }
    if (major === 2) return bytes.slice();
    // §5.3.1: a text string must be valid UTF-8.
    if (utf8Invalid(bytes) >= 0) throw new Fail(start, "text string is not valid UTF-8");
    return decodeUtf8(bytes);
  }

  map(ai: number, start: number, depth: number): unknown {
    if (depth >= this.maxDepth) throw new Fail(start, `nesting deeper than ${this.maxDepth}`);
    const keys: unknown[] = [];
    const values: unknown[] = [];
    let allText = true;
    const seen = new Set<unknown>();
    const one = (): void => {
      const ks = this.pos;
      const k = this.item(depth + 1);
      const id = typeof k === "string" ? "s:" + k : typeof k === "number" || typeof k === "bigint" ? "n:" + String(k) : undefined;
      if (id !== undefined) {
        if (seen.has(id)) throw new Fail(ks, `duplicate map key ${typeof k === "string" ? JSON.stringify(k) : String(k)}`);
        seen.add(id);
      }
      if (typeof k !== "string") allText = false;
      keys.push(k);
      values.push(this.item(depth + 1));
    };
    if (ai === 31) {
      for (;;) {
        this.need(1);
        if (this.bytes[this.pos] === 0xff) {
          this.pos++;
          break;
        }
        one();
      }
    } else {
      const n = this.length(ai, start, "map");
      if (n * 2 > this.bytes.length - this.pos) throw new Fail(start, `map of ${n} pairs cannot fit in the ${this.bytes.length - this.pos} bytes left`);
      for (let i = 0; i < n; i++) one();
    }
    if (allText) {
      const o: { [k: string]: unknown } = {};
      // defineProperty: a "__proto__" key is data, not the prototype.
      for (let i = 0; i < keys.length; i++) Object.defineProperty(o, keys[i] as string, { value: values[i], enumerable: true, writable: true, configurable: true });
      return o;
    }
    const m = new Map<unknown, unknown>();
    for (let i = 0; i < keys.length; i++) m.set(keys[i], values[i]);
    return m;
  }

  simple(ai: number, start: number): unknown {
    switch (ai) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 23:
        return undefined;
      case 24: {
        this.need(1);
        const v = this.bytes[this.pos++];
        // §3.3: simple values 0..31 in the two-byte form are not well-formed.
        if (v < 32) throw new Fail(start, `simple value ${v} in the two-byte form`);
        return new CborSimple(v);
      }
      case 25: {
        this.need(2);
        const v = halfToNumber(this.view.getUint16(this.pos));
        this.pos += 2;
        return v;
      }
      case 26: {
        this.need(4);
        const v = this.view.getFloat32(this.pos);
        this.pos += 4;
        return v;
      }
      case 27: {
        this.need(8);
        const v = this.view.getFloat64(this.pos);
        this.pos += 8;
        return v;
      }
      case 28:
      case 29:
      case 30:
        throw new Fail(start, `reserved additional information ${ai}`);
      case 31:
        throw new Fail(start, 'unexpected "break" (0xff)');
      default:
        return new CborSimple(ai);
    }
  }
}

/** IEEE 754 binary16 to a number (RFC 8949 Appendix D). */
export function halfToNumber(h: number): number {
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  let v: number;
  if (exp === 0) v = mant * Math.pow(2, -24);
  else if (exp !== 31) v = (mant + 1024) * Math.pow(2, exp - 25);
  else v = mant === 0 ? Infinity : NaN;
  return h & 0x8000 ? -v : v;
}

/** The binary16 bits of `x` when it converts exactly, else -1. */
function numberToHalf(x: number): number {
  if (x !== x) return 0x7e00;
  if (x === Infinity) return 0x7c00;
  if (x === -Infinity) return 0xfc00;
  const sign = x < 0 || (x === 0 && 1 / x < 0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === 0) return sign;
  if (a < Math.pow(2, -24) || a > 65504) return -1;
  if (a < Math.pow(2, -14)) {
    const m = a / Math.pow(2, -24);
    return Number.isInteger(m) ? sign | m : -1;
  }
  const e = Math.floor(Math.log2(a));
  // Math.log2 may be off by one at the edges: adjust so 2^e <= a < 2^(e+1).
  let exp = e;
  if (Math.pow(2, exp) > a) exp--;
  else if (Math.pow(2, exp + 1) <= a) exp++;
  const m = (a / Math.pow(2, exp) - 1) * 1024;
  if (!Number.isInteger(m) || exp + 15 < 1 || exp + 15 > 30) return -1;
  return sign | ((exp + 15) << 10) | m;
}

/** Decodes exactly one CBOR data item from `bytes`. Never throws. */
export function decodeCbor(bytes: Uint8Array, options: CborDecodeOptions = {}): CborDecodeResult {
  if (!(bytes instanceof Uint8Array)) return { ok: false, error: { offset: 0, reason: "input must be a Uint8Array" } };
  const r = new Reader(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), options.maxDepth ?? 16, options.maxItems ?? 4096);
  try {
    if (bytes.length === 0) throw new Fail(0, "empty input: no data item");
    const value = r.item(0);
    if (r.pos !== bytes.length) throw new Fail(r.pos, `${bytes.length - r.pos} byte(s) after the data item`);
    return { ok: true, value };
  } catch (e) {
    if (e instanceof Fail) return { ok: false, error: { offset: e.offset, reason: e.reason } };
    return { ok: false, error: { offset: r.pos, reason: "decoder failure: " + String((e as Error)?.message ?? e) } };
  }
}

// ---------------------------------------------------------------------------

export interface CborEncodeOptions {
  /** Sort map keys by their encoded bytes (RFC 8949 §4.2.1). */
  deterministic?: boolean;
  /** Deepest nesting (default 32); deeper or cyclic input throws. */
  maxDepth?: number;
}

/**
 * Writes CBOR items into a growing buffer: heads (major type + argument),
 * numbers in preferred serialization (RFC 8949 §4.1: an integer when exact,
 * else the shortest float that keeps the value) and raw bytes. encodeCbor()
 * uses it; so do direct writers such as the SenML one (modules/telemetry).
 */
export class CborWriter {
  buf: Uint8Array;
  view: DataView;
  pos = 0;

  constructor(initialSize = 64) {
    this.buf = new Uint8Array(initialSize);
    this.view = new DataView(this.buf.buffer);
  }

  room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
    this.view = new DataView(b.buffer);
  }

  head(major: number, n: number): void {
    const m = major << 5;
    this.room(9);
    if (n < 24) this.buf[this.pos++] = m | n;
    else if (n < 0x100) {
      this.buf[this.pos++] = m | 24;
      this.buf[this.pos++] = n;
    } else if (n < 0x10000) {
      this.buf[this.pos++] = m | 25;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else if (n < 0x100000000) {
      this.buf[this.pos++] = m | 26;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    } else {
      this.buf[this.pos++] = m | 27;
      this.view.setUint32(this.pos, Math.floor(n / 0x100000000));
      this.view.setUint32(this.pos + 4, n >>> 0);
      this.pos += 8;
    }
  }

  bigHead(major: number, n: bigint): void {
    this.room(9);
    this.buf[this.pos++] = (major << 5) | 27;
    this.view.setUint32(this.pos, Number(n >> BigInt(32)));
    this.view.setUint32(this.pos + 4, Number(n & BigInt(0xffffffff)));
    this.pos += 8;
  }

  /** An integer: major type 0 or 1. */
  int(n: number): void {
    if (n >= 0) this.head(0, n);
    else this.head(1, -1 - n);
  }

  /** A number in preferred serialization: an integer when exact, else half, single or double. */
  number(x: number): void {
    if (Number.isInteger(x) && Math.abs(x) <= MAX_SAFE && !(x === 0 && 1 / x < 0)) {
      this.int(x);
      return;
    }
    const h = numberToHalf(x);
    this.room(9);
    if (h >= 0) {
      this.buf[this.pos++] = 0xf9;
      this.view.setUint16(this.pos, h);
      this.pos += 2;
    } else if (Math.fround(x) === x) {
      this.buf[this.pos++] = 0xfa;
      this.view.setFloat32(this.pos, x);
      this.pos += 4;
    } else {
      this.buf[this.pos++] = 0xfb;
      this.view.setFloat64(this.pos, x);
      this.pos += 8;
    }
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function encodeValue(w: CborWriter, v: unknown, o: CborEncodeOptions, depth: number): void {
  if (depth > (o.maxDepth ?? 32)) throw new RangeError(`cbor: nesting deeper than ${o.maxDepth ?? 32} (or a cycle)`);
  switch (typeof v) {
    case "number":
      w.number(v);
      return;
    case "bigint": {
      const limit = BigInt(1) << BigInt(64);
      if (v >= BigInt(0)) {
        if (v >= limit) throw new RangeError("cbor: bigint beyond 64 bits (bignum tags are not written)");
        w.bigHead(0, v);
      } else {
        const n = BigInt(-1) - v;
        if (n >= limit) throw new RangeError("cbor: bigint beyond 64 bits (bignum tags are not written)");
        w.bigHead(1, n);
      }
      return;
    }
    case "string": {
      const b = encodeUtf8New(v);
      w.head(3, b.length);
      w.bytes(b);
      return;
    }
    case "boolean":
      w.room(1);
      w.buf[w.pos++] = v ? 0xf5 : 0xf4;
      return;
    case "undefined":
      w.room(1);
      w.buf[w.pos++] = 0xf7;
      return;
    case "object":
      break;
    default:
      throw new TypeError(`cbor: cannot encode a ${typeof v}`);
  }
  if (v === null) {
    w.room(1);
    w.buf[w.pos++] = 0xf6;
    return;
  }
  if (v instanceof Uint8Array) {
    w.head(2, v.length);
    w.bytes(v);
    return;
  }
  if (v instanceof ArrayBuffer) {
    w.head(2, v.byteLength);
    w.bytes(new Uint8Array(v));
    return;
  }
  if (Array.isArray(v)) {
    w.head(4, v.length);
    for (const x of v) encodeValue(w, x, o, depth + 1);
    return;
  }
  if (v instanceof CborTag) {
    w.head(6, v.tag);
    encodeValue(w, v.value, o, depth + 1);
    return;
  }
  if (v instanceof CborSimple) {
    if (v.value < 24) w.head(7, v.value);
    else {
      w.room(2);
      w.buf[w.pos++] = 0xf8;
      w.buf[w.pos++] = v.value;
    }
    return;
  }
  const entries: [unknown, unknown][] = v instanceof Map ? Array.from(v.entries()) : Object.keys(v).map((k) => [k, (v as { [k: string]: unknown })[k]]);
  w.head(5, entries.length);
  if (!o.deterministic) {
    for (const [k, x] of entries) {
      encodeValue(w, k, o, depth + 1);
      encodeValue(w, x, o, depth + 1);
    }
    return;
  }
  const encoded = entries.map(([k, x]) => {
    const kw = new CborWriter();
    encodeValue(kw, k, o, depth + 1);
    return { key: kw.buf.slice(0, kw.pos), value: x };
  });
  encoded.sort((a, b) => compareBytes(a.key, b.key));
  for (const e of encoded) {
    w.bytes(e.key);
    encodeValue(w, e.value, o, depth + 1);
  }
}

/**
 * Encodes `value` (number, bigint, string, boolean, null, undefined,
 * Uint8Array/ArrayBuffer, array, Map, plain object, CborTag, CborSimple).
 * Throws TypeError/RangeError for what CBOR cannot carry here (functions,
 * symbols, bigints beyond 64 bits, cycles).
 */
export function encodeCbor(value: unknown, options: CborEncodeOptions = {}): Uint8Array {
  const w = new CborWriter();
  encodeValue(w, value, options, 0);
  return w.buf.slice(0, w.pos);
}
