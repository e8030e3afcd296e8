/*
 * Size-bounded SenML: one pack's records spread over as many packs as a
 * message size limit needs (an MQTT broker's Maximum Packet Size minus the
 * PUBLISH overhead, a CoAP block, a radio frame).
 *
 * Every pack made is self-contained: its first record repeats the base
 * fields in effect at that point of the original pack (base name, time,
 * unit, value, sum, version; RFC 8428 §4.1), so each resolves (§4.6) on its
 * own to exactly the records it carries. Records keep their order, none is
 * dropped, none is cut. Packing is greedy: records are added to the current
 * pack while it stays within the limit. A record that cannot fit even alone
 * (with the repeated base fields) throws SenmlSplitError; nothing is sent
 * half-way.
 */
import { encodeUtf8New, utf8Length } from "../bytes/utf8";
import { VARINT_MAX, varintSize } from "../bytes/varint";
import {
  BASE_LABELS,
  assertValidSenml,
  encodeSenmlCbor,
  encodeSenmlJson,
  encodeSenmlRecordCbor,
  senmlRecordJson,
  type SenmlPack,
  type SenmlRecord,
} from "./senml";

export type SenmlFormat = "json" | "cbor";

export class SenmlSplitError extends Error {
  /** Index in the original pack of the record that does not fit. */
  readonly record: number;
  /** Bytes the smallest pack holding that record takes. */
  readonly needed: number;
  readonly limit: number;
  constructor(record: number, needed: number, limit: number) {
    super("senml: record " + record + " needs " + needed + " bytes as a pack of its own, more than the limit of " + limit);
    this.record = record;
    this.needed = needed;
    this.limit = limit;
  }
}
// On the prototype: `this.name = ...` throws where the intrinsics are frozen, as on a device (host-tests/xs/lockdown.ts).
Object.defineProperty(SenmlSplitError.prototype, "name", { value: "SenmlSplitError", writable: true, configurable: true });

/** Bytes of a CBOR array head for `n` items (RFC 8949 §3, major type 4). */
function cborArrayHead(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

function writeCborArrayHead(n: number, out: Uint8Array): number {
  if (n < 24) {
    out[0] = 0x80 | n;
    return 1;
  }
  if (n < 0x100) {
    out[0] = 0x98;
    out[1] = n;
    return 2;
  }
  if (n < 0x10000) {
    out[0] = 0x99;
    out[1] = n >> 8;
    out[2] = n & 0xff;
    return 3;
  }
  out[0] = 0x9a;
  out[1] = (n >>> 24) & 0xff;
  out[2] = (n >> 16) & 0xff;
  out[3] = (n >> 8) & 0xff;
  out[4] = n & 0xff;
  return 5;
}

/** Bytes of a pack holding records of these encoded sizes. */
function packSize(format: SenmlFormat, count: number, sum: number): number {
  return format === "json" ? 2 + sum + (count - 1) : cborArrayHead(count) + sum;
}

interface Piece {
  /** The record encoded alone. */
  body: Uint8Array | string;
  bodySize: number;
  /** The record with the base fields in effect repeated, encoded alone. */
  head: Uint8Array | string;
  headSize: number;
}

function encodeRecord(r: SenmlRecord, format: SenmlFormat): Uint8Array | string {
  return format === "json" ? senmlRecordJson(r) : encodeSenmlRecordCbor(r);
}

function sizeOf(x: Uint8Array | string): number {
  return typeof x === "string" ? utf8Length(x) : x.length;
}

function assemble(format: SenmlFormat, parts: (Uint8Array | string)[]): Uint8Array {
  if (format === "json") return encodeUtf8New("[" + (parts as string[]).join(",") + "]");
  let total = cborArrayHead(parts.length);
  for (const p of parts) total += (p as Uint8Array).length;
  const out = new Uint8Array(total);
  let o = writeCborArrayHead(parts.length, out);
  for (const p of parts) {
    out.set(p as Uint8Array, o);
    o += (p as Uint8Array).length;
  }
  return out;
}

/** The whole pack in one message, JSON or CBOR. Throws RangeError for a pack that is not valid SenML. */
export function encodeSenml(pack: SenmlPack, format: SenmlFormat): Uint8Array {
  if (format === "json") return encodeSenmlJson(pack);
  if (format === "cbor") return encodeSenmlCbor(pack);
  throw new RangeError('senml: format must be "json" or "cbor"');
}

/**
 * Encodes `pack` as one or more packs of at most `maxBytes` bytes each.
 * Throws SenmlSplitError when a record cannot fit alone, RangeError for a
 * bad limit or a pack that is not valid SenML.
 */
export function splitSenml(pack: SenmlPack, maxBytes: number, format: SenmlFormat): Uint8Array[] {
  if (format !== "json" && format !== "cbor") throw new RangeError('senml: format must be "json" or "cbor"');
  if (!(maxBytes > 0)) throw new RangeError("senml: maxBytes must be a positive number, got " + maxBytes);
  // The common case: it all fits.
  const whole = encodeSenml(pack, format);
  if (whole.length <= maxBytes) return [whole];
  assertValidSenml(pack);
  const bases: { [label: string]: unknown } = {};
  const pieces: Piece[] = [];
  for (const r of pack) {
    for (const l of BASE_LABELS) if (r[l] !== undefined) bases[l] = r[l];
    const body = encodeRecord(r, format);
    let head = body;
    let repeated = false;
    for (const l of BASE_LABELS) if (bases[l] !== undefined && r[l] === undefined) repeated = true;
    if (repeated) {
      const h: SenmlRecord = {};
      for (const l of BASE_LABELS) if (bases[l] !== undefined) h[l] = bases[l];
      for (const k in r) if (BASE_LABELS.indexOf(k) < 0 && r[k] !== undefined) h[k] = r[k];
      head = encodeRecord(h, format);
    }
    pieces.push({ body, bodySize: sizeOf(body), head, headSize: repeated ? sizeOf(head) : sizeOf(body) });
  }
  const out: Uint8Array[] = [];
  let parts: (Uint8Array | string)[] = [];
  let sum = 0;
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i];
    if (parts.length > 0 && packSize(format, parts.length + 1, sum + p.bodySize) <= maxBytes) {
      parts.push(p.body);
      sum += p.bodySize;
      continue;
    }
    if (parts.length > 0) out.push(assemble(format, parts));
    const alone = packSize(format, 1, p.headSize);
    if (alone > maxBytes) throw new SenmlSplitError(i, alone, maxBytes);
    parts = [p.head];
    sum = p.headSize;
  }
  if (parts.length > 0) out.push(assemble(format, parts));
  return out;
}

export interface PublishOverheadOptions {
  /** 4 = MQTT 3.1.1, 5 = MQTT 5.0. */
  version: 4 | 5;
  qos: 0 | 1 | 2;
  /** MQTT 5: bytes of the PUBLISH properties (without their length prefix); 0 when none. */
  propertiesLength?: number;
}

/**
 * The largest PUBLISH payload that keeps the whole packet within
 * `maximumPacketSize` (MQTT 5.0 §3.2.2.3.6: the packet size counts every
 * byte, fixed header included; [MQTT-3.2.2-15] the client MUST NOT exceed
 * it). PUBLISH = fixed header (1 byte + Remaining Length, §2.1.4) + topic
 * (2-byte length + UTF-8) + Packet Identifier when QoS > 0 ([MQTT-2.2.1-2])
 * + MQTT 5 properties (Variable Byte Integer length + bytes, §3.3.2.3) +
 * payload. Returns -1 when not even an empty payload fits.
 */
export function mqttPublishPayloadLimit(maximumPacketSize: number, topic: string, options: PublishOverheadOptions): number {
  const props = options.propertiesLength ?? 0;
  const fixed = 2 + utf8Length(topic) + (options.qos > 0 ? 2 : 0) + (options.version === 5 ? varintSize(props) + props : 0);
  const caps = [127, 16383, 2097151, VARINT_MAX];
  let best = -1;
  for (let vl = 1; vl <= 4; vl++) {
    const remaining = Math.min(maximumPacketSize - 1 - vl, caps[vl - 1]);
    if (remaining < fixed) continue;
    // A Remaining Length that fits a shorter Variable Byte Integer is counted with that one.
    if (vl > 1 && remaining <= caps[vl - 2]) continue;
    if (remaining - fixed > best) best = remaining - fixed;
  }
  return best;
}
