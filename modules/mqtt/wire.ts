/*
 * Byte-level reading and writing of the MQTT data representations (MQTT 5.0 §1.5,
 * MQTT 3.1.1 §1.5): bits, Two/Four Byte Integers, Variable Byte Integers, UTF-8 Encoded
 * Strings, Binary Data. Variable Byte Integer and strict UTF-8 come from modules/bytes;
 * this file adds ASCII fast paths and the MQTT error mapping.
 */
import {
  MQTT_STRING_NULL,
  MQTT_STRING_OK,
  checkMqttUtf8,
  decodeUtf8,
  decodeVarint,
  encodeUtf8,
  utf8Length,
  varintSize,
  VARINT_INCOMPLETE,
  VARINT_MALFORMED,
} from "../bytes/index";
import { MqttCodecError, malformed } from "./errors";
import type { MqttVersion } from "./packets";

/** [MQTT-1.5.4-1] (5.0) / [MQTT-1.5.3-1] (3.1.1): well-formed UTF-8, no surrogates. */
export function stmtUtf8(version: MqttVersion): string {
  return version === 5 ? "[MQTT-1.5.4-1]" : "[MQTT-1.5.3-1]";
}
/** [MQTT-1.5.4-2] (5.0) / [MQTT-1.5.3-2] (3.1.1): no U+0000. */
export function stmtNull(version: MqttVersion): string {
  return version === 5 ? "[MQTT-1.5.4-2]" : "[MQTT-1.5.3-2]";
}

/**
 * A cursor over one packet's bytes [pos, end). Each decoder owns one and reuses it, so
 * parsing allocates only the values it returns. Every read checks the bound: running
 * past `end` is a Malformed Packet (a field longer than the Remaining Length, §2.1.4).
 */
export class Reader {
  // Set by reset() before every use (no class field initializers: they cost XS bytecode).
  declare buf: Uint8Array;
  declare pos: number;
  declare end: number;
  declare version: MqttVersion;

  reset(buf: Uint8Array, pos: number, end: number, version: MqttVersion): void {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.version = version;
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
    const v = decodeVarint(this.buf, this.pos, this.end);
    if (v < 0) {
      if (v === VARINT_INCOMPLETE) throw this.truncated();
      throw malformed(
        v === VARINT_MALFORMED ? "varint over 4 bytes" : "varint not minimal",
        "[MQTT-1.5.5-1]",
      );
    }
    this.pos += varintSize(v); // only the minimal form is accepted
    return v;
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
 * Decodes bytes [start, stop) as an MQTT UTF-8 Encoded String. Short ASCII strings (the
 * usual topics and identifiers) take a fast path; anything else is checked and decoded
 * by modules/bytes/utf8. Throws a Malformed Packet error on ill-formed UTF-8 or U+0000.
 */
export function decodeMqttString(buf: Uint8Array, start: number, stop: number, version: MqttVersion): string {
  if (stop - start <= 64) {
    let s = "";
    let i = start;
    for (; i < stop; i++) {
      const c = buf[i];
      if (c >= 0x80 || c === 0) break;
      s += String.fromCharCode(c);
    }
    if (i === stop) return s;
  }
  const status = checkMqttUtf8(buf, start, stop);
  if (status !== MQTT_STRING_OK) {
    if (status === MQTT_STRING_NULL) throw malformed("U+0000 in string", stmtNull(version));
    throw malformed("bad UTF-8", stmtUtf8(version));
  }
  return decodeUtf8(buf, start, stop);
}

/**
 * Byte length of `s` as an MQTT UTF-8 Encoded String (without its 2-byte prefix), for
 * encoders. Throws MqttCodecError (0x81) on a lone surrogate, U+0000 or more than 65,535 bytes.
 */
export function mqttStringLength(s: string, what: string): number {
  if (typeof s !== "string") throw malformed(what + " must be a string", "§1.5.4");
  const n = s.length;
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80 || c === 0) break;
  }
  let len = n;
  if (i < n) {
    if (s.indexOf("\u0000") >= 0) throw malformed(what + " contains U+0000", "[MQTT-1.5.4-2]");
    try {
      len = utf8Length(s);
    } catch {
      throw malformed(what + " holds a lone surrogate", "[MQTT-1.5.4-1]");
    }
  }
  if (len > 0xffff) throw malformed(what + " over 65,535 bytes", "§1.5.4");
  return len;
}

/** Writes a Two Byte Integer length then the UTF-8 bytes of `s` (`len` from mqttStringLength). */
export function writeMqttString(out: Uint8Array, o: number, s: string, len: number): number {
  out[o] = len >> 8;
  out[o + 1] = len & 0xff;
  o += 2;
  const n = s.length;
  if (len === n) {
    for (let i = 0; i < n; i++) out[o + i] = s.charCodeAt(i);
    return o + n;
  }
  // Not ASCII: the strict encoder of modules/bytes (mqttStringLength has already refused
  // lone surrogates and measured `len`, so it fits).
  return encodeUtf8(s, out, o);
}

/** Writes a Binary Data field (§1.5.6). */
export function writeBinary(out: Uint8Array, o: number, data: Uint8Array): number {
  const n = data.length;
  out[o] = n >> 8;
  out[o + 1] = n & 0xff;
  o += 2;
  if (n <= 16) {
    for (let i = 0; i < n; i++) out[o + i] = data[i];
  } else {
    out.set(data, o);
  }
  return o + n;
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
