/* Portable helpers for the MQTT codec tests (run on Node and on XS). */
import { MqttDecoder } from "../support/mqtt-codec";
import type { MqttCodecError, MqttDecoderOptions, MqttPacket, MqttVersion } from "../support/mqtt-codec";

export interface DecodeResult {
  packets: MqttPacket[];
  error: MqttCodecError | undefined;
  decoder: MqttDecoder;
}

/** Feeds `chunks` one after the other, draining after each; returns every packet and the error. */
export function decodeChunks(chunks: Uint8Array[], version: MqttVersion, options?: MqttDecoderOptions): DecodeResult {
  const decoder = new MqttDecoder({ ...options, version });
  const packets: MqttPacket[] = [];
  for (const c of chunks) {
    decoder.feed(c);
    for (;;) {
      const p = decoder.next();
      if (p === undefined) break;
      packets.push(p);
    }
  }
  return { packets, error: decoder.error, decoder };
}

export function decodeAll(bytes: Uint8Array | number[], version: MqttVersion, options?: MqttDecoderOptions): DecodeResult {
  return decodeChunks([bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)], version, options);
}

/** Splits into chunks of one byte. */
export function byteByByte(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(bytes.slice(i, i + 1));
  return out;
}

/** Deterministic pseudo-random splits (a small LCG, so Node and XS agree). */
export function randomSplits(bytes: Uint8Array, seed: number): Uint8Array[] {
  let s = seed >>> 0 || 1;
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < bytes.length) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const n = 1 + (s % 17);
    out.push(bytes.slice(i, i + n));
    i += n;
  }
  return out;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function bytes(...values: (number | string | number[])[]): Uint8Array {
  const out: number[] = [];
  for (const v of values) {
    if (typeof v === "number") out.push(v);
    else if (typeof v === "string") for (let i = 0; i < v.length; i++) out.push(v.charCodeAt(i));
    else out.push(...v);
  }
  return new Uint8Array(out);
}

/** A length-prefixed ASCII string field. */
export function str(s: string): number[] {
  const out = [s.length >> 8, s.length & 0xff];
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
  return out;
}

export function utf8(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  return new Uint8Array(out);
}
