/*
 * MQTT packet encoders for 3.1.1 (version 4) and 5.0 (version 5), table-driven: one sizing
 * pass (`measure`, which validates: an encoder never writes a packet the peer would have to
 * reject) and one writing pass (`put`), each a switch over packet families that share a
 * layout (the PUBACK family with DISCONNECT and AUTH; SUBSCRIBE, UNSUBSCRIBE, SUBACK and
 * UNSUBACK). The rules are those the decoder applies (./rules.ts).
 * - `encodeXxx(packet, version)` returns a new Uint8Array of exactly the packet's size;
 * - `encodePacketInto(packet, version, out, offset)` writes into a caller's buffer (no
 *   allocation at all) and returns the offset after the packet.
 * Invalid packets throw MqttCodecError (reasonCode 0x81 / 0x82 / 0x94, statement named);
 * a buffer too small throws RangeError. Nothing is written in either case.
 */
import { MqttCodecError, malformed } from "./errors";
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  MqttPacket,
  MqttVersion,
  PubAckPacket,
  PublishPacket,
  SubackPacket,
  SubscribePacket,
  UnsubackPacket,
  UnsubscribePacket,
} from "./packets";
import { packetName } from "./packets";
import { propsLength, propsWrite } from "./props-hook";
import { checkClientId, checkConnack, checkConnectFlags, checkHeader, checkId, checkListCode, checkNotEmpty, checkOptions, checkReason, firstByte } from "./rules";
import { checkTopicFilter, checkTopicName } from "./topic";
import { mqttStringLength, varintLength, writeBinary, writeMqttString, writeVarint } from "./wire";

// Sizes computed by the sizing pass and used by the writing pass of the same call.
let sP = 0; // Property Length
let sW = 0; // Will Property Length
let s1 = 0; // topic / client id
let s2 = 0; // will topic
let s3 = 0; // user name
let s4 = 0; // password given as a string (-1: binary)
let sF = 0; // CONNECT flags

// Last PUBLISH topic that passed validation, and its UTF-8 length (hot-path cache).
let cT = "";
let cL = -1;
let cV = 0;

function checkVersion(v: number): void {
  if (v !== 4 && v !== 5) throw new MqttCodecError(0x84, "protocol version " + v, "§3.1.2.2");
}

function bytes(b: unknown, what: string): number {
  if (!(b instanceof Uint8Array)) throw malformed(what + " must be a Uint8Array", "§1.5.6");
  if (b.length > 0xffff) throw malformed(what + " over 65,535 bytes", "§1.5.6");
  return b.length;
}

/** Property Length of `p` for `type` in 5.0 (validating the properties), with its varint. */
function props(p: { properties?: unknown }, type: number, v: number): number {
  if (v !== 5) return 0;
  sP = propsLength(p.properties as undefined, type);
  return varintLength(sP) + sP;
}

function filter(f: string, v: number): number {
  const bad = checkTopicFilter(f, v as MqttVersion);
  if (bad !== undefined) throw bad;
  return 2 + mqttStringLength(f, "Topic Filter");
}

// Any packet, seen through the fields of all types (each read only where its type has it).
type Any = Omit<ConnectPacket, "type"> & Omit<ConnackPacket, "type"> & Omit<SubscribePacket, "type"> & Omit<UnsubscribePacket, "type"> & Omit<SubackPacket, "type">;

/** Remaining Length of `q` (validating it); also primes the sizes `put` uses. */
function measure(q: MqttPacket, v: number): number {
  const p = q as unknown as Any;
  const t = q.type;
  let n = 0;
  if (t === 1) {
    v = p.protocolVersion;
    checkVersion(v);
    const k = p.keepAlive;
    if (!(k >= 0 && k <= 0xffff && (k | 0) === k)) throw malformed("Keep Alive " + k, "§1.5.2");
    const w = p.will;
    const pw = p.password;
    let f = p.clean ? 2 : 0;
    if (w !== undefined) {
      const wq = w.qos === 0 || w.qos === 1 || w.qos === 2 ? w.qos : 3;
      f |= 4 | (wq << 3) | (w.retain ? 0x20 : 0);
    }
    if (pw !== undefined) f |= 0x40;
    if (p.username !== undefined) f |= 0x80;
    checkConnectFlags(f, v);
    sF = f;
    n = 10 + props(p, 1, v); // "MQTT" (6) + level + flags + Keep Alive (2)
    s1 = mqttStringLength(p.clientId, "Client Identifier");
    checkClientId(p.clientId, p.clean, v, "[MQTT-3.1.3-7]");
    n += 2 + s1;
    if (w !== undefined) {
      const bad = checkTopicName(w.topic, v as MqttVersion);
      if (bad !== undefined) throw bad;
      if (v === 5) {
        sW = propsLength(w.properties, 0);
        n += varintLength(sW) + sW;
      }
      s2 = mqttStringLength(w.topic, "Will Topic");
      n += 4 + s2 + bytes(w.payload, "Will Payload");
    }
    if (p.username !== undefined) {
      s3 = mqttStringLength(p.username, "User Name");
      n += 2 + s3;
    }
    if (pw !== undefined) {
      s4 = typeof pw === "string" ? mqttStringLength(pw, "Password") : -1;
      n += 2 + (s4 < 0 ? bytes(pw, "Password") : s4);
    }
  } else if (t === 2) {
    checkConnack(p.sessionPresent, p.reasonCode, v, "§2.4");
    n = 2 + props(p, 2, v);
  } else if (t === 3) {
    return publishRemaining(q as PublishPacket, v);
  } else if (t === 12 || t === 13) {
    return 0;
  } else if (t >= 8 && t <= 11) {
    // SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK: Packet Identifier, properties, a list.
    checkId(p.packetId, t, v);
    const list: unknown[] = t === 8 ? p.subscriptions : t === 10 ? p.topicFilters : p.reasonCodes;
    if (t === 11 && v === 4) {
      if (list !== undefined && list.length !== 0) throw malformed("3.1.1 UNSUBACK payload", "§3.11.3");
      return 2;
    }
    const len = Array.isArray(list) ? list.length : 0;
    checkNotEmpty(len, t, v);
    n = 2 + props(p, t, v);
    for (let i = 0; i < len; i++) {
      if (t === 8) {
        const s = p.subscriptions[i];
        n += 1 + filter(s.topicFilter, v);
        checkOptions(options(s, v), s.topicFilter, v);
      } else if (t === 10) {
        n += filter(p.topicFilters[i], v);
      } else {
        checkListCode(t, p.reasonCodes[i], v);
        n++;
      }
    }
  } else if (t >= 4 && t <= 15) {
    // PUBACK, PUBREC, PUBREL, PUBCOMP (Packet Identifier first), DISCONNECT, AUTH.
    const id = t < 8 ? 2 : 0;
    if (id) checkId(p.packetId, t, v);
    const rc = p.reasonCode === undefined ? 0 : p.reasonCode;
    if (v === 4) {
      if (t === 15) throw malformed("AUTH in 3.1.1", "§2.2.1 (3.1.1 Table 2.1)");
      if (rc !== 0 || p.properties !== undefined) throw malformed("3.1.1 " + packetName(t) + " Reason Code", id ? "§3.4" : "§3.14");
      return id;
    }
    checkReason(t, rc, "§2.4");
    sP = propsLength(p.properties, t);
    // §3.4.2.1, §3.14.2.1: Reason Code 0x00 and no properties may be left out, and with no
    // properties the Property Length may be. §3.15.2.1 allows the same for AUTH, but AUTH is
    // always written in full: some peers (mqtt-packet 9) refuse the short form.
    if (sP === 0 && t !== 15) return id + (rc ? 1 : 0);
    return id + 1 + varintLength(sP) + sP;
  } else {
    throw malformed("unknown packet type " + t, "§2.1.2");
  }
  if (n > 268435455) throw new MqttCodecError(0x95, packetName(t) + " of " + n + " B too large", "§2.1.4");
  return n;
}

/** Subscription Options byte of `s` (5.0 §3.8.3.1; 3.1.1: the QoS); fields out of range make a 3 the rules refuse. */
function options(s: SubscribePacket["subscriptions"][number], v: number): number {
  const q = s.qos === 0 || s.qos === 1 || s.qos === 2 ? s.qos : 3;
  if (v === 4) return q;
  const r = s.retainHandling === undefined ? 0 : s.retainHandling;
  const rh = r === 0 || r === 1 || r === 2 ? r : 3;
  return q | (s.noLocal ? 4 : 0) | (s.retainAsPublished ? 8 : 0) | (rh << 4);
}

function publishRemaining(p: PublishPacket, v: number): number {
  const qos = p.qos;
  checkHeader(0x30 | (p.dup ? 8 : 0) | ((qos === 0 || qos === 1 || qos === 2 ? qos : 3) << 1), v);
  const topic = p.topic;
  let tl: number;
  if (topic === cT && cV === v) {
    tl = cL;
  } else {
    const aliased = v === 5 && topic === "" && p.properties !== undefined && p.properties.topicAlias !== undefined;
    if (!aliased) {
      const bad = checkTopicName(topic, v as MqttVersion); // [MQTT-3.3.2-2]
      if (bad !== undefined) throw bad;
    }
    tl = mqttStringLength(topic, "Topic Name");
    if (!aliased) {
      cT = topic;
      cL = tl;
      cV = v;
    }
  }
  let n = 2 + tl;
  if (qos !== 0) {
    checkId(p.packetId, 3, v);
    n += 2;
  }
  if (v === 5) {
    sP = p.properties === undefined ? 0 : propsLength(p.properties, 3);
    n += sP < 0x80 ? 1 + sP : varintLength(sP) + sP;
  }
  const payload = p.payload;
  if (!(payload instanceof Uint8Array)) throw malformed("PUBLISH payload not a Uint8Array", "§3.3.3");
  s1 = tl;
  n += payload.length;
  if (n > 268435455) throw new MqttCodecError(0x95, "PUBLISH of " + n + " B too large", "§2.1.4");
  return n;
}

function writePublish(out: Uint8Array, o: number, p: PublishPacket, v: number, rl: number): number {
  out[o++] = 0x30 | (p.dup ? 0x08 : 0) | (p.qos << 1) | (p.retain ? 0x01 : 0);
  if (rl < 0x80) out[o++] = rl;
  else o = writeVarint(out, o, rl);
  o = writeMqttString(out, o, p.topic, s1);
  if (p.qos !== 0) {
    const id = p.packetId as number;
    out[o++] = id >> 8;
    out[o++] = id & 0xff;
  }
  if (v === 5) {
    if (sP === 0) out[o++] = 0; // [MQTT-2.2.2-1]
    else o = propsWrite(out, o, p.properties, sP);
  }
  const payload = p.payload;
  const n = payload.length;
  if (n <= 32) {
    for (let i = 0; i < n; i++) out[o + i] = payload[i];
  } else {
    out.set(payload, o);
  }
  return o + n;
}

/** Writes `q` (measured by `measure` with Remaining Length `rl`) at `o`; returns the end. */
function put(out: Uint8Array, o: number, q: MqttPacket, v: number, rl: number): number {
  const p = q as unknown as Any;
  const t = q.type;
  if (t === 3) return writePublish(out, o, q as PublishPacket, v, rl);
  out[o++] = firstByte(t); // [MQTT-2.1.3-1], [MQTT-3.6.1-1], [MQTT-3.8.1-1], [MQTT-3.10.1-1]
  o = writeVarint(out, o, rl);
  if (t === 1) {
    v = p.protocolVersion;
    out[o++] = 0;
    out[o++] = 4;
    out[o++] = 0x4d; // M
    out[o++] = 0x51; // Q
    out[o++] = 0x54; // T
    out[o++] = 0x54; // T
    out[o++] = v;
    out[o++] = sF;
    out[o++] = p.keepAlive >> 8;
    out[o++] = p.keepAlive & 0xff;
    if (v === 5) o = propsWrite(out, o, p.properties, sP);
    o = writeMqttString(out, o, p.clientId, s1); // [MQTT-3.1.3-3]
    const w = p.will;
    if (w !== undefined) {
      if (v === 5) o = propsWrite(out, o, w.properties, sW);
      o = writeMqttString(out, o, w.topic, s2);
      o = writeBinary(out, o, w.payload);
    }
    if (p.username !== undefined) o = writeMqttString(out, o, p.username, s3);
    const pw = p.password;
    if (pw !== undefined) o = typeof pw === "string" ? writeMqttString(out, o, pw, s4) : writeBinary(out, o, pw);
    return o;
  }
  if (t === 2) {
    out[o++] = p.sessionPresent ? 1 : 0; // bits 7-1 reserved [MQTT-3.2.2-1]
    out[o++] = p.reasonCode;
    return v === 5 ? propsWrite(out, o, p.properties, sP) : o;
  }
  if (t === 12 || t === 13) return o;
  let h = 0;
  if (t <= 11) {
    out[o++] = p.packetId >> 8;
    out[o++] = p.packetId & 0xff;
    h = 2;
  }
  if (t >= 8 && t <= 11) {
    if (v === 5) o = propsWrite(out, o, p.properties, sP);
    else if (t === 11) return o;
    const list: unknown[] = t === 8 ? p.subscriptions : t === 10 ? p.topicFilters : p.reasonCodes;
    for (let i = 0; i < list.length; i++) {
      if (t === 9 || t === 11) {
        out[o++] = p.reasonCodes[i];
        continue;
      }
      const f = t === 8 ? p.subscriptions[i].topicFilter : p.topicFilters[i];
      o = writeMqttString(out, o, f, mqttStringLength(f, "Topic Filter"));
      if (t === 8) out[o++] = options(p.subscriptions[i], v); // bits 7-6 reserved [MQTT-3.8.3-5]
    }
    return o;
  }
  // PUBACK family, DISCONNECT, AUTH: [Packet Identifier] [Reason Code [properties]].
  if (rl > h) out[o++] = p.reasonCode === undefined ? 0 : p.reasonCode;
  if (rl > h + 1) o = propsWrite(out, o, p.properties, sP);
  return o;
}

function versionOf(p: MqttPacket, version: MqttVersion): MqttVersion {
  const v = p.type === 1 ? p.protocolVersion : version;
  checkVersion(v);
  return v;
}

/** Total encoded size of `p` in bytes (fixed header included). Validates `p`. */
export function encodedLength(p: MqttPacket, version: MqttVersion): number {
  const rl = measure(p, versionOf(p, version));
  return 1 + varintLength(rl) + rl;
}

/**
 * Writes `p` into `out` at `offset` and returns the offset after it. Allocates nothing.
 * Throws MqttCodecError for an invalid packet, RangeError when it does not fit; in both
 * cases `out` is unchanged.
 */
export function encodePacketInto(p: MqttPacket, version: MqttVersion, out: Uint8Array, offset: number): number {
  const v = versionOf(p, version);
  const rl = measure(p, v);
  const size = 1 + varintLength(rl) + rl;
  if (!(offset >= 0) || offset + size > out.length) {
    throw new RangeError(packetName(p.type) + " of " + size + " bytes does not fit at offset " + offset + " of " + out.length);
  }
  return put(out, offset, p, v, rl);
}

/** Encodes `p` into a new Uint8Array of exactly its size. */
export function encodePacket(p: MqttPacket, version: MqttVersion): Uint8Array {
  const v = versionOf(p, version);
  const rl = measure(p, v);
  const out = new Uint8Array(1 + varintLength(rl) + rl);
  put(out, 0, p, v, rl);
  return out;
}

/** PUBLISH (§3.3): the hot path. */
export function encodePublish(p: PublishPacket, version: MqttVersion): Uint8Array {
  if (version !== 4 && version !== 5) checkVersion(version);
  const rl = publishRemaining(p, version);
  const out = new Uint8Array(1 + (rl < 0x80 ? 1 : varintLength(rl)) + rl);
  writePublish(out, 0, p, version, rl);
  return out;
}

function typed(type: number): (p: PubAckPacket, version: MqttVersion) => Uint8Array {
  return (p, version) => {
    if (p.type !== type) throw malformed("expected a " + packetName(type) + ", got type " + p.type, "§2.1.2");
    return encodePacket(p, version);
  };
}

/** CONNECT (§3.1), in the version `p.protocolVersion` names. */
export function encodeConnect(p: ConnectPacket): Uint8Array {
  return encodePacket(p, p.protocolVersion);
}
export const encodeConnack: (p: ConnackPacket, version: MqttVersion) => Uint8Array = encodePacket;
export const encodePuback = typed(4);
export const encodePubrec = typed(5);
export const encodePubrel = typed(6);
export const encodePubcomp = typed(7);
export const encodeSubscribe: (p: SubscribePacket, version: MqttVersion) => Uint8Array = encodePacket;
export const encodeSuback: (p: SubackPacket, version: MqttVersion) => Uint8Array = encodePacket;
export const encodeUnsubscribe: (p: UnsubscribePacket, version: MqttVersion) => Uint8Array = encodePacket;
export const encodeUnsuback: (p: UnsubackPacket, version: MqttVersion) => Uint8Array = encodePacket;
export const encodeDisconnect: (p: DisconnectPacket, version: MqttVersion) => Uint8Array = encodePacket;
export function encodePingreq(): Uint8Array {
  return Uint8Array.of(0xc0, 0);
}
export function encodePingresp(): Uint8Array {
  return Uint8Array.of(0xd0, 0);
}
/** AUTH (§3.15), 5.0 only. */
export function encodeAuth(p: AuthPacket): Uint8Array {
  return encodePacket(p, 5);
}

export interface MqttEncoderOptions {
  /** Protocol version of the connection: 4 (3.1.1) or 5 (5.0). Default 5. */
  version?: MqttVersion;
  /** Packets up to this size are written into the shared scratch buffer (default 256); a larger one gets an array of its own. */
  bufferSize?: number;
}

// The scratch buffer of every encoder of the process. Encoding is synchronous and nothing
// in measure / put calls out, so one buffer serves them all: made with the first packet,
// replaced by a larger one when an encoder asks for more (bufferSize), never by a packet.
// What leaves is a view valid until the next encode() of any encoder; a session hands it
// to its transport's write() at once, which copies (ECMA-419 write, the client's queue).
let scratch: Uint8Array | undefined;
let scratchSize = 256;

/**
 * Encodes `p` into the shared scratch buffer and returns a view of it, valid until the
 * next call (of any encoder): send it or copy it before encoding again. A packet larger
 * than the scratch buffer gets a new array of exactly its size, which is not kept.
 */
export function encodeScratch(p: MqttPacket, version: MqttVersion): Uint8Array {
  const v = versionOf(p, version);
  const rl = measure(p, v);
  const size = 1 + varintLength(rl) + rl;
  if (size > scratchSize) {
    const out = new Uint8Array(size);
    put(out, 0, p, v, rl);
    return out;
  }
  let b = scratch;
  if (b === undefined || b.length < scratchSize) b = scratch = new Uint8Array(scratchSize);
  return b.subarray(0, put(b, 0, p, v, rl));
}

/**
 * An encoder of one protocol version over the shared scratch buffer (encodeScratch): the
 * buffer is one per process, not one per connection (a fleet of 1,000 simulated devices
 * kept 440 B each for its own), and it never grows with the packets: a packet that does
 * not fit gets an array of its own.
 */
export class MqttEncoder {
  declare version: MqttVersion;

  constructor(options?: MqttEncoderOptions) {
    const v = options?.version ?? 5;
    checkVersion(v);
    this.version = v;
    const size = options?.bufferSize ?? 256;
    if (size > scratchSize) scratchSize = size;
  }

  /** Encodes `p` (see encodeScratch); throws MqttCodecError for an invalid packet, and nothing is written. */
  encode(p: MqttPacket): Uint8Array {
    return encodeScratch(p, this.version);
  }
}
