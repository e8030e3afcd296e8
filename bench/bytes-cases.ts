/**
 * Byte-helper bench cases shared by Node (bytes.bench.ts) and XS (xs/bytes.bench.ts): our
 * varint and UTF-8 code against the engine's own TextEncoder/TextDecoder where it has them.
 * Portable: no Node API.
 */
import type { BenchCase } from "./harness";
import { sameBytes } from "./harness";
import { encodeVarint, decodeVarint, varintSize } from "../modules/bytes/varint";
import { encodeUtf8, encodeUtf8New, decodeUtf8, utf8Invalid, utf8Length } from "../modules/bytes/utf8";

/** Inputs, chosen to look like MQTT traffic. */
export const TOPIC = "sensors/esp32-4f2a9c/kitchen/temperature";
export const PAYLOAD_ASCII = (() => {
  let s = "";
  while (s.length < 256) s += '{"t":21.5,"rh":48.2,"co2":612,"bat":3.91,"ts":1732350000},';
  return s.slice(0, 256);
})();
export const PAYLOAD_MIXED = (() => {
  let s = "";
  while (s.length < 256) s += "Température 21,5 °C — humidité 48 % · ☀ 😀 ";
  return s.slice(0, 255); // keep whole surrogate pairs
})();

/** 64 values spread over the 1-4 byte sizes (MQTT 5.0 §1.5.5 Table 1-1). */
export const VARINTS = (() => {
  const v: number[] = [];
  for (let i = 0; i < 64; i++) {
    const size = i % 4;
    v.push(size === 0 ? (i * 37) % 128 : size === 1 ? 128 + i * 211 : size === 2 ? 16384 + i * 30011 : 2097152 + i * 3001);
  }
  return v;
})();

const out = new Uint8Array(4096);
const varintBytes = (() => {
  const buf = new Uint8Array(VARINTS.length * 4);
  let o = 0;
  for (const v of VARINTS) o = encodeVarint(v, buf, o);
  return buf.subarray(0, o);
})();

export function varintCases(): BenchCase[] {
  return [
    {
      name: "varint encode (64 values, 1-4 bytes)",
      unit: "values/s",
      perOp: VARINTS.length,
      run: () => {
        let o = 0;
        for (let i = 0; i < VARINTS.length; i++) o = encodeVarint(VARINTS[i], out, o);
        return o;
      },
    },
    {
      name: "varint decode (64 values, 1-4 bytes)",
      unit: "values/s",
      perOp: VARINTS.length,
      run: () => {
        let o = 0;
        let sum = 0;
        const end = varintBytes.length;
        while (o < end) {
          const v = decodeVarint(varintBytes, o, end);
          sum += v;
          o += varintSize(v); // the bytes it took: decodeVarint accepts only the minimal form
        }
        return sum;
      },
    },
  ];
}

export interface TextCodecs {
  TextEncoder: { new (): { encode(s: string): Uint8Array; encodeInto(s: string, into: Uint8Array): { read?: number; written?: number } } };
  TextDecoder: { new (label?: string, options?: { fatal?: boolean }): { decode(b: Uint8Array): string } };
}

export function utf8Cases(codecs: TextCodecs | null): BenchCase[] {
  const te = codecs ? new codecs.TextEncoder() : null;
  const td = codecs ? new codecs.TextDecoder("utf-8", { fatal: true }) : null;
  const cases: BenchCase[] = [];
  const inputs: [string, string][] = [
    ["topic, ASCII, 41 B", TOPIC],
    ["payload, ASCII, 256 B", PAYLOAD_ASCII],
    ["payload, mixed, " + utf8Length(PAYLOAD_MIXED) + " B", PAYLOAD_MIXED],
  ];
  for (const [label, s] of inputs) {
    const bytes = encodeUtf8New(s);
    const mb = bytes.length / 1e6;
    cases.push({
      name: "utf8 encode " + label,
      unit: "MB/s",
      perOp: mb,
      run: () => encodeUtf8(s, out, 0),
      peer: te ? "TextEncoder.encodeInto" : undefined,
      peerRun: te ? () => te.encodeInto(s, out).written : undefined,
      check: te
        ? () => {
            const n = encodeUtf8(s, out, 0);
            sameBytes(out.subarray(0, n), te.encode(s), "encode " + label);
          }
        : undefined,
    });
    cases.push({
      name: "utf8 decode (strict) " + label,
      unit: "MB/s",
      perOp: mb,
      run: () => decodeUtf8(bytes, 0, bytes.length),
      peer: td ? "TextDecoder fatal" : undefined,
      peerRun: td ? () => td.decode(bytes) : undefined,
      check: td
        ? () => {
            if (decodeUtf8(bytes) !== td.decode(bytes) || decodeUtf8(bytes) !== s) throw new Error("decode " + label + " differs");
          }
        : undefined,
    });
  }
  const mixed = encodeUtf8New(PAYLOAD_MIXED);
  cases.push({
    name: "utf8Length mixed " + mixed.length + " B",
    unit: "MB/s",
    perOp: mixed.length / 1e6,
    run: () => utf8Length(PAYLOAD_MIXED),
    peer: te ? "TextEncoder.encode().length" : undefined,
    peerRun: te ? () => te.encode(PAYLOAD_MIXED).length : undefined,
  });
  cases.push({
    name: "utf8Invalid mixed " + mixed.length + " B",
    unit: "MB/s",
    perOp: mixed.length / 1e6,
    run: () => utf8Invalid(mixed, 0, mixed.length),
    notes: "validation without decoding; no peer",
  });
  return cases;
}
