/*
 * The MQTT-SN 1.2 message codec (§5): pure functions, no IO, no time, no module state.
 *
 * One datagram carries one message (§5.1). decode() never throws: a malformed datagram
 * becomes an MqttSnCodecError (returned, not thrown) naming the section it breaks, with the
 * message type when the header could be read, so a receiver can answer or drop it as the
 * spec says. Lengths are checked before anything is read or allocated; byte fields (Data,
 * WillMsg, GwAdd, Wireless Node Id) are views into the datagram, not copies.
 *
 * encode() writes an exactly-sized Uint8Array (encodeInto: the caller's buffer) and throws
 * MqttSnCodecError for a message the spec does not allow, before writing anything.
 *
 * Every message type is described by one layout string (§5.4, Tables 6-27): a letter per
 * field in wire order, read by one decoder loop and one encoder loop, so the rules of a
 * field live in one place. Letters:
 *   g GwId (1)  d Duration (2)  r Radius (1)  f Flags (1)  p ProtocolId (1)
 *   c ReturnCode (1)  t TopicId (2)  m MsgId (2)
 *   A GwAdd (rest, bytes)  D Data (rest, bytes)  M WillMsg (rest, bytes)
 *   C ClientId (rest, string)  N TopicName (rest, string)  W WillTopic (rest, string)
 *   T TopicName (rest) or TopicId (2), as the Flags' TopicIdType says (§5.4.15)
 *   ? the fields after it are absent together when the message ends there
 */
import { decodeUtf8, encodeUtf8, utf8Length } from "../bytes/utf8";
import { ENCAPSULATED, PROTOCOL_ID, type SnQoS, type TopicIdType } from "./constants";

/** A malformed datagram (decode) or a message the spec does not allow (encode). */
export class MqttSnCodecError extends Error {
  /** The MsgType when the header could be read, else -1. */
  readonly msgType: number;
  /** The section of MQTT-SN 1.2 that the message breaks, e.g. "§5.2.1". */
  readonly statement: string;
  constructor(msgType: number, message: string, statement: string) {
    super(message + " (MQTT-SN 1.2 " + statement + ")");
    this.msgType = msgType;
    this.statement = statement;
  }
}
// On the prototype: `this.name = ...` throws where the intrinsics are frozen, as on a device.
Object.defineProperty(MqttSnCodecError.prototype, "name", { value: "MqttSnCodecError", writable: true, configurable: true });

/** The Flags octet (§5.3.4, Table 4), on every message that has one. */
export interface SnFlags {
  dup: boolean;
  /** −1 is "0b11" (§6.8), only in a client's PUBLISH. */
  qos: SnQoS;
  retain: boolean;
  will: boolean;
  cleanSession: boolean;
  topicIdType: TopicIdType;
}

export interface Advertise { type: 0x00; gwId: number; duration: number }
export interface SearchGw { type: 0x01; radius: number }
/** GwAdd is present only when a client sends GWINFO (§5.4.3). */
export interface GwInfo { type: 0x02; gwId: number; gwAdd: Uint8Array | undefined }
export interface Connect extends SnFlags { type: 0x04; protocolId: number; duration: number; clientId: string }
export interface ReturnCodeMessage { type: 0x05 | 0x1b | 0x1d; returnCode: number }
export interface EmptyMessage { type: 0x06 | 0x08 | 0x17 }
/** WILLTOPIC / WILLTOPICUPD; willTopic "" is the empty form (2 octets) that deletes the will (§5.4.7, §6.4). */
export interface WillTopic extends SnFlags { type: 0x07 | 0x1a; willTopic: string }
export interface WillMsg { type: 0x09 | 0x1c; willMsg: Uint8Array }
export interface Register { type: 0x0a; topicId: number; msgId: number; topicName: string }
export interface TopicAck { type: 0x0b | 0x0d; topicId: number; msgId: number; returnCode: number }
export interface Publish extends SnFlags { type: 0x0c; topicId: number; msgId: number; data: Uint8Array }
export interface MsgIdMessage { type: 0x0e | 0x0f | 0x10 | 0x15; msgId: number }
/** SUBSCRIBE / UNSUBSCRIBE: topicName for TopicIdType normal (topicId 0), else topicId (topicName undefined). */
export interface Subscribe extends SnFlags { type: 0x12 | 0x14; msgId: number; topicName: string | undefined; topicId: number }
export interface Suback extends SnFlags { type: 0x13; topicId: number; msgId: number; returnCode: number }
/** clientId only from a sleeping client going awake (§5.4.19, §6.14). */
export interface PingReq { type: 0x16; clientId: string | undefined }
/** duration only from a client going to sleep (§5.4.21). */
export interface Disconnect { type: 0x18; duration: number | undefined }
/** §5.5: a message relayed by a forwarder. */
export interface Encapsulated { type: 0xfe; radius: number; nodeId: Uint8Array; message: MqttSnMessage }

export type MqttSnMessage =
  | Advertise
  | SearchGw
  | GwInfo
  | Connect
  | ReturnCodeMessage
  | EmptyMessage
  | WillTopic
  | WillMsg
  | Register
  | TopicAck
  | Publish
  | MsgIdMessage
  | Subscribe
  | Suback
  | PingReq
  | Disconnect
  | Encapsulated;

/** §5.4: the layout of each MsgType (index); undefined = reserved. Frozen: preload-safe. */
const LAYOUT: readonly (string | undefined)[] = Object.freeze([
  "gd", // 0x00 ADVERTISE (Table 6)
  "r", // 0x01 SEARCHGW (Table 7)
  "gA", // 0x02 GWINFO (Table 8)
  undefined,
  "fpdC", // 0x04 CONNECT (Table 9)
  "c", // 0x05 CONNACK (Table 10)
  "", // 0x06 WILLTOPICREQ (Table 11)
  "?fW", // 0x07 WILLTOPIC (Table 12)
  "", // 0x08 WILLMSGREQ
  "M", // 0x09 WILLMSG (Table 13)
  "tmN", // 0x0A REGISTER (Table 14)
  "tmc", // 0x0B REGACK (Table 15)
  "ftmD", // 0x0C PUBLISH (Table 16)
  "tmc", // 0x0D PUBACK (Table 17)
  "m", // 0x0E PUBCOMP (Table 18)
  "m", // 0x0F PUBREC
  "m", // 0x10 PUBREL
  undefined,
  "fmT", // 0x12 SUBSCRIBE (Table 19)
  "ftmc", // 0x13 SUBACK (Table 20)
  "fmT", // 0x14 UNSUBSCRIBE (Table 19)
  "m", // 0x15 UNSUBACK (Table 21)
  "?C", // 0x16 PINGREQ (Table 22)
  "", // 0x17 PINGRESP (Table 23)
  "?d", // 0x18 DISCONNECT (Table 24)
  undefined,
  "?fW", // 0x1A WILLTOPICUPD (Table 25)
  "c", // 0x1B WILLTOPICRESP (Table 27)
  "M", // 0x1C WILLMSGUPD (Table 26)
  "c", // 0x1D WILLMSGRESP (Table 27)
]);

function fail(type: number, message: string, statement: string): MqttSnCodecError {
  return new MqttSnCodecError(type, message, statement);
}

/**
 * Decodes one datagram. Returns the message, or an MqttSnCodecError for a malformed one;
 * never throws. Byte fields are views into `bytes`.
 */
export function decode(bytes: Uint8Array): MqttSnMessage | MqttSnCodecError {
  const n = bytes.length;
  if (n < 2) return fail(-1, "under 2 octets", "§5.2");
  if (bytes[1] === ENCAPSULATED && bytes[0] !== 1) {
    // §5.5 Table 28: Length covers up to the end of the Wireless Node Id; the message follows.
    const h = bytes[0];
    if (h < 3 || h >= n) return fail(ENCAPSULATED, "bad encapsulation Length " + h, "§5.5");
    const inner = decode(bytes.subarray(h));
    if (inner instanceof MqttSnCodecError) return inner;
    if (inner.type === ENCAPSULATED) return fail(ENCAPSULATED, "nested encapsulation", "§5.5");
    return { type: ENCAPSULATED, radius: bytes[2] & 3, nodeId: bytes.subarray(3, h), message: inner };
  }
  let i = 1;
  let length = bytes[0];
  if (length === 1) {
    // §5.2.1: 0x01 announces the 3-octet form.
    if (n < 4) return fail(-1, "truncated 3-octet Length", "§5.2.1");
    length = (bytes[1] << 8) | bytes[2];
    i = 3;
  }
  if (length !== n) return fail(n > i ? bytes[i] : -1, "Length " + length + " in a datagram of " + n, "§5.2.1");
  const type = bytes[i++];
  const layout = type < LAYOUT.length ? LAYOUT[type] : undefined;
  if (layout === undefined) return fail(type, "reserved MsgType", "§5.2.2");
  const m: any = { type };
  for (let k = 0; k < layout.length; k++) {
    const f = layout.charCodeAt(k);
    const left = n - i;
    if (f === 0x3f /* ? */) {
      if (left === 0) {
        defaults(m, layout, k + 1);
        break;
      }
      continue;
    }
    if (f >= 0x41 && f <= 0x5a /* A-Z: the rest of the datagram */) {
      if (f === 0x54 /* T */ && m.topicIdType !== 0) {
        if (left !== 2) return fail(type, "TopicId of " + left + " octets", "§5.4.15");
        m.topicName = undefined;
        m.topicId = (bytes[i] << 8) | bytes[i + 1];
      } else if (f === 0x43 || f === 0x4e || f === 0x54 || f === 0x57 /* C N T W: strings, never empty when present */) {
        if (!left) return fail(type, FIELD[f - 0x41] + " empty", "§5.3");
        try {
          m[FIELD[f - 0x41]] = decodeUtf8(bytes, i, n);
        } catch {
          return fail(type, "ill-formed UTF-8", "§5.3.12");
        }
        if (f === 0x54) m.topicId = 0;
      } else m[FIELD[f - 0x41]] = f === 0x41 && !left ? undefined : bytes.subarray(i, n);
      i = n;
      break;
    }
    const size = f === 0x64 || f === 0x74 || f === 0x6d /* d t m */ ? 2 : 1;
    if (left < size) return fail(type, "truncated", "§5.4");
    const v = size === 2 ? (bytes[i] << 8) | bytes[i + 1] : bytes[i];
    i += size;
    if (f === 0x66 /* f */) readFlags(m, v);
    else m[FIELD[f - 0x41]] = v;
  }
  if (i !== n) return fail(type, (n - i) + " trailing octets", "§5.4");
  const e = check(m);
  return e === undefined ? m : e;
}

/** Property names of the field letters, indexed by letter code − 0x41 ('A'). */
const FIELD: readonly string[] = Object.freeze(
  "gwAdd,,clientId,data,,,,,,,,,willMsg,topicName,,,,,,topicName,,,willTopic,,,,,,,,,,,,returnCode,duration,,,gwId,,,,,,msgId,,,protocolId,,radius,,topicId".split(","),
);

/** The fields after a '?' that a short message left out (§5.4.7, §5.4.19, §5.4.21). */
function defaults(m: any, layout: string, from: number): void {
  for (let k = from; k < layout.length; k++) {
    const f = layout.charCodeAt(k);
    if (f === 0x66) readFlags(m, 0);
    else m[FIELD[f - 0x41]] = f === 0x57 ? "" : undefined;
  }
}

/** §5.3.4 Table 4. */
function readFlags(m: any, v: number): void {
  m.dup = (v & 0x80) !== 0;
  const q = (v >> 5) & 3;
  m.qos = q === 3 ? -1 : q;
  m.retain = (v & 0x10) !== 0;
  m.will = (v & 0x08) !== 0;
  m.cleanSession = (v & 0x04) !== 0;
  m.topicIdType = v & 3;
}

function flagsByte(m: any): number {
  const q = m.qos ?? 0;
  return (m.dup ? 0x80 : 0) | ((q < 0 ? 3 : q) << 5) | (m.retain ? 0x10 : 0) | (m.will ? 0x08 : 0) | (m.cleanSession ? 0x04 : 0) | (m.topicIdType ?? 0);
}

/**
 * The rules beyond the layout, shared by decode (returned) and encode (thrown): field
 * ranges, reserved values, and what §5-§6 forbid in each message.
 */
function check(m: any): MqttSnCodecError | undefined {
  const type: number = m.type;
  const layout = LAYOUT[type]!;
  for (let k = 0; k < layout.length; k++) {
    const f = layout.charCodeAt(k);
    if (f === 0x3f) continue;
    if (f === 0x66) {
      const q = m.qos ?? 0;
      const t = m.topicIdType ?? 0;
      if (!(q === -1 || q === 0 || q === 1 || q === 2)) return fail(type, "QoS " + q, "§5.3.4");
      if (!(t === 0 || t === 1 || t === 2)) return fail(type, "reserved TopicIdType " + t, "§5.3.4");
      // §5.3.4: QoS −1 only in a client's PUBLISH; in a SUBACK only with a rejection.
      if (q === -1 && type !== 0x0c && !(type === 0x13 && m.returnCode !== 0)) return fail(type, "QoS -1 outside PUBLISH", "§5.3.4");
      continue;
    }
    const name = FIELD[f - 0x41];
    const v = m[name];
    if (f === 0x54 && (m.topicIdType ?? 0) !== 0) {
      if (!u16(m.topicId)) return fail(type, "TopicId " + m.topicId, "§5.3.11");
    } else if (f >= 0x41 && f <= 0x5a) {
      if (f === 0x43 || f === 0x4e || f === 0x54 || f === 0x57) {
        // Strings: C, N, T and a present W are non-empty; an absent C (PINGREQ) is allowed.
        if (v === undefined && f === 0x43 && layout.charCodeAt(0) === 0x3f) continue;
        if (typeof v !== "string" || (v === "" && !(f === 0x57 && layout.charCodeAt(0) === 0x3f))) return fail(type, name + " empty or missing", "§5.3");
        if (v.indexOf("\u0000") >= 0) return fail(type, name + " holds U+0000", "§5.3.12");
        // §6.10: REGISTER never carries a wildcard; a will topic is a topic name.
        if ((f === 0x4e || f === 0x57) && (v.indexOf("+") >= 0 || v.indexOf("#") >= 0)) return fail(type, "wildcard in " + name, "§6.10");
      } else if (!(v instanceof Uint8Array) && !(f === 0x41 && v === undefined)) return fail(type, name + " must be a Uint8Array", "§5.3");
    } else if (!(size1(f) ? v >= 0 && v <= 255 && (v | 0) === v : u16(v) || v === 0) && !(f === 0x64 && v === undefined && layout.charCodeAt(0) === 0x3f))
      return fail(type, name + " " + v, "§5.3");
    else if (f === 0x63 && v > 3) return fail(type, "reserved ReturnCode " + v, "§5.3.10");
    else if (f === 0x70 && v !== PROTOCOL_ID) return fail(type, "ProtocolId " + v, "§5.3.8");
  }
  if (type === 0x0c) {
    // §6.8: QoS −1 only with a pre-defined topic id or a short topic name.
    if (m.qos === -1 && !m.topicIdType) return fail(type, "QoS -1 with a normal topic id", "§6.8");
    // §5.3.7 (as MQTT): QoS 1 and 2 need a MsgId to match the acknowledgement.
    if (m.qos > 0 && !m.msgId) return fail(type, "MsgId 0 at QoS " + m.qos, "§5.3.7");
  }
  return undefined;
}

function size1(f: number): boolean {
  return f === 0x67 || f === 0x72 || f === 0x70 || f === 0x63; // g r p c
}

function u16(v: unknown): boolean {
  return typeof v === "number" && v > 0 && v <= 0xffff && (v | 0) === v;
}

/** Whether the optional tail after '?' is present in `m`. */
function hasTail(m: any, layout: string): boolean {
  const f = layout.charCodeAt(1);
  const v = m[f === 0x66 ? "willTopic" : FIELD[f - 0x41]];
  return v !== undefined && v !== "";
}

/** Octets of the variable part (the A-Z field), 0 when there is none. */
function tailSize(m: any, f: number): number {
  if (f === 0x54 && (m.topicIdType ?? 0) !== 0) return 2;
  const v = m[FIELD[f - 0x41]];
  if (v === undefined) return 0;
  if (typeof v === "string") {
    try {
      return utf8Length(v);
    } catch {
      throw fail(m.type, "lone surrogate in " + FIELD[f - 0x41], "§5.3.12");
    }
  }
  return v.length;
}

/** Total octets of the encoded message, header included. Throws MqttSnCodecError for a message the spec forbids. */
export function encodedLength(message: MqttSnMessage): number {
  const m: any = message;
  if (m.type === ENCAPSULATED) {
    const inner = m.message;
    if (!inner || inner.type === ENCAPSULATED || !(m.nodeId instanceof Uint8Array) || m.nodeId.length > 252) throw fail(ENCAPSULATED, "bad encapsulation", "§5.5");
    return 3 + m.nodeId.length + encodedLength(inner);
  }
  const layout = typeof m.type === "number" ? LAYOUT[m.type] : undefined;
  if (layout === undefined) throw fail(typeof m.type === "number" ? m.type : -1, "reserved MsgType", "§5.2.2");
  const e = check(m);
  if (e) throw e;
  let body = 0;
  for (let k = 0; k < layout.length; k++) {
    const f = layout.charCodeAt(k);
    if (f === 0x3f) {
      if (!hasTail(m, layout)) break;
    } else if (f >= 0x41 && f <= 0x5a) body += tailSize(m, f);
    else body += f === 0x64 || f === 0x74 || f === 0x6d ? 2 : 1;
  }
  // §5.2.1: the 1-octet Length up to 255 octets, else 0x01 and two octets (at most 65535).
  const total = body + 2 <= 255 ? body + 2 : body + 4;
  if (total > 0xffff) throw fail(m.type, "longer than 65535 octets", "§5.2.1");
  return total;
}

/**
 * Writes `message` into `out` at `offset` and returns the offset after it. Throws
 * MqttSnCodecError (forbidden message) or RangeError (does not fit) before writing.
 */
export function encodeInto(message: MqttSnMessage, out: Uint8Array, offset: number): number {
  const total = encodedLength(message);
  if (offset < 0 || offset + total > out.length) throw new RangeError("mqttsn: " + total + " octets do not fit");
  const m: any = message;
  let i = offset;
  if (m.type === ENCAPSULATED) {
    const h = 3 + m.nodeId.length;
    out[i] = h;
    out[i + 1] = ENCAPSULATED;
    out[i + 2] = m.radius & 3;
    out.set(m.nodeId, i + 3);
    return encodeInto(m.message, out, i + h);
  }
  if (total > 255) {
    out[i++] = 1;
    out[i++] = total >> 8;
  }
  out[i++] = total & 0xff;
  out[i++] = m.type;
  const layout = LAYOUT[m.type]!;
  for (let k = 0; k < layout.length; k++) {
    const f = layout.charCodeAt(k);
    if (f === 0x3f) {
      if (!hasTail(m, layout)) break;
      continue;
    }
    if (f === 0x66) {
      out[i++] = flagsByte(m);
      continue;
    }
    if (f === 0x54 && (m.topicIdType ?? 0) !== 0) {
      out[i++] = m.topicId >> 8;
      out[i++] = m.topicId & 0xff;
      continue;
    }
    const v = m[FIELD[f - 0x41]];
    if (f >= 0x41 && f <= 0x5a) {
      if (typeof v === "string") i = encodeUtf8(v, out, i);
      else if (v !== undefined) {
        out.set(v, i);
        i += v.length;
      }
    } else if (f === 0x64 || f === 0x74 || f === 0x6d) {
      out[i++] = v >> 8;
      out[i++] = v & 0xff;
    } else out[i++] = v;
  }
  return i;
}

/** Encodes `message` into a new Uint8Array of exactly its size. */
export function encode(message: MqttSnMessage): Uint8Array {
  const out = new Uint8Array(encodedLength(message));
  encodeInto(message, out, 0);
  return out;
}

/** Short topic names (§6.7) live with the session's topics part; the codec's users find them here too. */
export { shortTopicId, shortTopicName } from "./short-topics";
