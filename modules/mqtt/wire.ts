/*
 * Byte-level reading and writing of the MQTT data representations (MQTT 5.0 §1.5,
 * MQTT 3.1.1 §1.5): bits, Two/Four Byte Integers, Variable Byte Integers, UTF-8 Encoded
 * Strings, Binary Data. Strict UTF-8 comes from modules/bytes (the engine's TextEncoder /
 * TextDecoder where there is one: on XS a native scan is ~50x faster than a JS loop); this
 * file adds the MQTT error mapping.
 */
import { decodeUtf8, encodeUtf8, utf8Length } from "../bytes/utf8";
import { MqttCodecError, malformed } from "./errors";
import type { MqttVersion } from "./packets";

/** [MQTT-1.5.4-1] (5.0) / [MQTT-1.5.3-1] (3.1.1): well-formed UTF-8, no surrogates. */
function stmtUtf8(version: MqttVersion): string {
  return version === 5 ? "[MQTT-1.5.4-1]" : "[MQTT-1.5.3-1]";
}
/** [MQTT-1.5.4-2] (5.0) / [MQTT-1.5.3-2] (3.1.1): no U+0000. */
function stmtNull(version: MqttVersion): string {
  return version === 5 ? "[MQTT-1.5.4-2]" : "[MQTT-1.5.3-2]";
}

/**
 * A cursor over one packet's bytes [pos, end): the MqttDecoder is one (it extends this
 * class), so parsing allocates only the values it returns. Every read checks the bound:
 * running past `end` is a Malformed Packet (a field longer than the Remaining Length, §2.1.4).
 */
export class Reader {
  // Set by reset() before every use (no class field initializers: they cost XS bytecode).
  declare buf: Uint8Array;
  declare pos: number;
  declare end: number;
  declare version: MqttVersion;

  /** Starts over (the decoder: a new Network Connection). */
  reset(version?: MqttVersion): void {
    if (version === 4 || version === 5) this.version = version;
  }

  remaining(): number {
    return this.end - this.pos;
  }

  truncated(): MqttCodecError {
    return malformed("field past end", "§2.1.4");
  }

  u8(): number {
    if (this.pos >= this.end) throw this.truncated();
    return this.buf[this.pos++];
  }

  u16(): number {
    const p = this.pos;
    if (p + 2 > this.end) throw this.truncated();
    this.pos = p + 2;
    return (this.buf[p] << 8) | this.buf[p + 1];
  }

  u32(): number {
    const p = this.pos;
    if (p + 4 > this.end) throw this.truncated();
    this.pos = p + 4;
    const b = this.buf;
    return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
  }

  /** Variable Byte Integer (§1.5.5): at most four bytes, minimal form [MQTT-1.5.5-1]. */
  varint(): number {
    let v = 0;
    for (let n = 0; n < 4; n++) {
      const b = this.u8();
      v += (b & 0x7f) * (1 << (7 * n));
      if ((b & 0x80) === 0) {
        if (b === 0 && n > 0) throw malformed("varint not minimal", "[MQTT-1.5.5-1]");
        return v;
      }
    }
    throw malformed("varint over 4 bytes", "[MQTT-1.5.5-1]");
  }

  /** UTF-8 Encoded String (§1.5.4): two-byte length, well-formed, no U+0000. */
  string(): string {
    const len = this.u16();
    const start = this.pos;
    const stop = start + len;
    if (stop > this.end) throw this.truncated();
    this.pos = stop;
    return decodeMqttString(this.buf, start, stop, this.version);
  }

  /** Binary Data (§1.5.6): two-byte length. Returns a view (no copy) of the packet bytes. */
  binary(): Uint8Array {
    const len = this.u16();
    const start = this.pos;
    if (start + len > this.end) throw this.truncated();
    this.pos = start + len;
    return this.buf.subarray(start, start + len);
  }
}

/**
 * Decodes bytes [start, stop) as an MQTT UTF-8 Encoded String: well-formed UTF-8 with no
 * encoded surrogate [MQTT-1.5.4-1] and no U+0000 [MQTT-1.5.4-2], else a Malformed Packet.
 */
export function decodeMqttString(buf: Uint8Array, start: number, stop: number, version: MqttVersion): string {
  let s: string;
  try {
    s = decodeUtf8(buf, start, stop);
  } catch {
    throw malformed("bad UTF-8", stmtUtf8(version));
  }
  if (s.indexOf("\u0000") >= 0) throw malformed("U+0000 in string", stmtNull(version));
  return s;
}

/**
 * Byte length of `s` as an MQTT UTF-8 Encoded String (without its 2-byte prefix), for
 * encoders. Throws MqttCodecError (0x81) on a lone surrogate, U+0000 or more than 65,535 bytes.
 */
export function mqttStringLength(s: string, what: string): number {
  if (typeof s !== "string") throw malformed(what + " must be a string", "§1.5.4");
  if (s.indexOf("\u0000") >= 0) throw malformed(what + " contains U+0000", "[MQTT-1.5.4-2]");
  let len: number;
  try {
    len = utf8Length(s);
  } catch {
    throw malformed(what + " holds a lone surrogate", "[MQTT-1.5.4-1]");
  }
  if (len > 0xffff) throw malformed(what + " over 65,535 bytes", "§1.5.4");
  return len;
}

/** Writes a Two Byte Integer length then the UTF-8 bytes of `s` (`len` from mqttStringLength). */
export function writeMqttString(out: Uint8Array, o: number, s: string, len: number): number {
  out[o] = len >> 8;
  out[o + 1] = len & 0xff;
  // A short string of as many bytes as UTF-16 units is ASCII: copied here (cheaper than the
  // encoder's checks and, on V8, its subarray; short, as XS's charCodeAt(i) walks the string
  // from its start). Otherwise the strict encoder of modules/bytes (mqttStringLength has
  // already refused lone surrogates and measured `len`, so it fits).
  if (len <= 32 && len === s.length) {
    o += 2;
    for (let i = 0; i < len; i++) out[o + i] = s.charCodeAt(i);
    return o + len;
  }
  return encodeUtf8(s, out, o + 2);
}

/** Writes a Binary Data field (§1.5.6). */
export function writeBinary(out: Uint8Array, o: number, data: Uint8Array): number {
  const n = data.length;
  out[o] = n >> 8;
  out[o + 1] = n & 0xff;
  out.set(data, o + 2);
  return o + 2 + n;
}

/**
 * The Variable Byte Integer at `b[o]` of bytes already framed (a stored or encoded packet):
 * [value, offset after it]; [-1, o] when it runs past four bytes or the end.
 */
export function varintAt(b: Uint8Array, o: number): [number, number] {
  let v = 0;
  for (let n = 0, m = 1; n < 4 && o < b.length; n++, m *= 128) {
    const c = b[o++];
    v += (c & 0x7f) * m;
    if (!(c & 0x80)) return [v, o];
  }
  return [-1, o];
}

/** Size of a Variable Byte Integer (values already range-checked by the caller). */
export function varintLength(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : 4;
}

/** Writes a Variable Byte Integer (§1.5.5) of a value in 0..268,435,455. */
export function writeVarint(out: Uint8Array, o: number, v: number): number {
  while (v >= 0x80) {
    out[o++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[o++] = v;
  return o;
}
