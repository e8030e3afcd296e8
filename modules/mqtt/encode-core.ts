/*
 * MQTT packet encoders, one per packet type (Paho MQTTPacket style), for 3.1.1 (version 4)
 * and 5.0 (version 5).
 *
 * Each encoder first computes the exact size (validating the packet: an encoder never
 * writes a packet the peer would have to reject), then writes it in one pass:
 * - `encodeXxx(packet, version)` returns a new Uint8Array of exactly the packet's size;
 * - `encodePacketInto(packet, version, out, offset)` writes into a caller's buffer (no
 *   allocation at all) and returns the offset after the packet.
 * Invalid packets throw MqttCodecError (reasonCode 0x81 / 0x82 / 0x94, statement named);
 * a buffer too small throws RangeError. Nothing is written in either case.
 */
import { MqttCodecError, malformed, protocolError } from "./errors";
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
import { propsLength as propertiesLength, propsWrite as writeProperties, reasonAllowed as isReasonCodeAllowed } from "./props-hook";
import { checkTopicFilter, checkTopicName } from "./topic";
import { mqttStringLength, varintLength, writeBinary, writeMqttString, writeVarint } from "./wire";

const MAX_REMAINING_LENGTH = 268435455;

// Sizes computed by the sizing pass and used by the writing pass of the same call.
let sPropsLen = 0;
let sWillPropsLen = 0;
let sStr1 = 0; // topic / client id
let sStr2 = 0; // will topic
let sStr3 = 0; // user name
let sStr4 = 0; // password given as a string (-1: binary)

// Last PUBLISH topic that passed validation, and its UTF-8 length (hot-path cache).
let cachedTopic = "";
let cachedTopicLen = -1;
let cachedTopicVersion = 0;

function checkVersion(version: MqttVersion): void {
  if (version !== 4 && version !== 5) {
    throw new MqttCodecError(0x84, "protocol version must be 4 (3.1.1) or 5 (5.0), got " + String(version), "§3.1.2.2");
  }
}

function checkPacketId(id: number | undefined, type: number, version: MqttVersion): number {
  if (typeof id !== "number" || !(id >= 1 && id <= 0xffff) || (id | 0) !== id) {
    throw protocolError(
      packetName(type) + " needs a Packet Identifier in 1..65535, got " + String(id),
      version === 5 ? "[MQTT-2.2.1-3]" : "[MQTT-2.3.1-1]",
    );
  }
  return id;
}

function checkUint16(v: number, what: string): void {
  if (typeof v !== "number" || !(v >= 0 && v <= 0xffff) || (v | 0) !== v) {
    throw malformed(what + " must be an integer in 0..65535, got " + String(v), "§1.5.2");
  }
}

function checkReasonCode(type: number, code: number): void {
  if (!isReasonCodeAllowed(type, code)) {
    throw protocolError("reason code " + String(code) + " is not a " + packetName(type) + " reason code", "§2.4");
  }
}

function checkBytes(v: unknown, what: string, max: number): Uint8Array {
  if (!(v instanceof Uint8Array)) throw malformed(what + " must be a Uint8Array", "§1.5.6");
  if (v.length > max) throw malformed(what + " longer than " + max + " bytes", "§1.5.6");
  return v;
}

function checkRemaining(n: number, type: number): number {
  if (n > MAX_REMAINING_LENGTH) {
    throw new MqttCodecError(0x95, packetName(type) + " of " + n + " bytes exceeds the largest Remaining Length", "§2.1.4");
  }
  return n;
}

function propsSize(len: number): number {
  return varintLength(len) + len;
}

// ---------------------------------------------------------------------------- CONNECT

function connectRemaining(p: ConnectPacket): number {
  const v = p.protocolVersion;
  checkVersion(v);
  checkUint16(p.keepAlive, "Keep Alive");
  let n = 10; // "MQTT" (6) + level (1) + flags (1) + keep alive (2)
  if (v === 5) {
    sPropsLen = propertiesLength(p.properties, 1 /* CONNECT */);
    n += propsSize(sPropsLen);
  }
  sStr1 = mqttStringLength(p.clientId, "Client Identifier");
  if (v === 4 && sStr1 === 0 && !p.clean) {
    throw new MqttCodecError(0x85, "a zero-byte ClientId needs CleanSession = 1", "[MQTT-3.1.3-7]");
  }
  n += 2 + sStr1;
  const w = p.will;
  if (w !== undefined) {
    if (w.qos !== 0 && w.qos !== 1 && w.qos !== 2) {
      throw malformed("Will QoS must be 0, 1 or 2", v === 5 ? "[MQTT-3.1.2-12]" : "[MQTT-3.1.2-14]");
    }
    const bad = checkTopicName(w.topic, v);
    if (bad !== undefined) throw bad;
    if (v === 5) {
      sWillPropsLen = propertiesLength(w.properties, 0);
      n += propsSize(sWillPropsLen);
    }
    sStr2 = mqttStringLength(w.topic, "Will Topic");
    n += 2 + sStr2 + 2 + checkBytes(w.payload, "Will Payload", 0xffff).length;
  }
  if (p.username !== undefined) {
    sStr3 = mqttStringLength(p.username, "User Name");
    n += 2 + sStr3;
  }
  const pw = p.password;
  if (pw !== undefined) {
    if (v === 4 && p.username === undefined) {
      throw malformed("3.1.1 forbids a Password without a User Name", "[MQTT-3.1.2-22]");
    }
    if (typeof pw === "string") {
      sStr4 = mqttStringLength(pw, "Password");
      n += 2 + sStr4;
    } else {
      sStr4 = -1;
      n += 2 + checkBytes(pw, "Password", 0xffff).length;
    }
  }
  return checkRemaining(n, 1 /* CONNECT */);
}

function writeConnect(out: Uint8Array, o: number, p: ConnectPacket, rl: number): number {
  const v = p.protocolVersion;
  out[o++] = 0x10; // [MQTT-2.1.3-1] reserved bits 0
  o = writeVarint(out, o, rl);
  out[o++] = 0;
  out[o++] = 4;
  out[o++] = 0x4d; // M
  out[o++] = 0x51; // Q
  out[o++] = 0x54; // T
  out[o++] = 0x54; // T
  out[o++] = v;
  const w = p.will;
  let flags = p.clean ? 0x02 : 0; // bit 0 reserved = 0 [MQTT-3.1.2-3]
  if (w !== undefined) flags |= 0x04 | (w.qos << 3) | (w.retain ? 0x20 : 0);
  if (p.password !== undefined) flags |= 0x40;
  if (p.username !== undefined) flags |= 0x80;
  out[o++] = flags;
  out[o++] = p.keepAlive >> 8;
  out[o++] = p.keepAlive & 0xff;
  if (v === 5) o = writeProperties(out, o, p.properties, sPropsLen);
  o = writeMqttString(out, o, p.clientId, sStr1); // [MQTT-3.1.3-3]
  if (w !== undefined) {
    if (v === 5) o = writeProperties(out, o, w.properties, sWillPropsLen);
    o = writeMqttString(out, o, w.topic, sStr2);
    o = writeBinary(out, o, w.payload);
  }
  if (p.username !== undefined) o = writeMqttString(out, o, p.username, sStr3);
  const pw = p.password;
  if (pw !== undefined) {
    o = typeof pw === "string" ? writeMqttString(out, o, pw, sStr4) : writeBinary(out, o, pw);
  }
  return o;
}

// ---------------------------------------------------------------------------- CONNACK

function connackRemaining(p: ConnackPacket, v: MqttVersion): number {
  const rc = p.reasonCode;
  if (v === 4) {
    if (!(rc >= 0 && rc <= 5) || (rc | 0) !== rc) {
      throw protocolError("3.1.1 Connect Return code must be 0..5, got " + String(rc), "§3.2.2.3");
    }
    if (rc !== 0 && p.sessionPresent) {
      throw protocolError("Session Present with a non-zero return code", "[MQTT-3.2.2-4]");
    }
    return 2;
  }
  checkReasonCode(2 /* CONNACK */, rc);
  if (rc !== 0 && p.sessionPresent) {
    throw protocolError("Session Present with a non-zero Reason Code", "[MQTT-3.2.2-6]");
  }
  sPropsLen = propertiesLength(p.properties, 2 /* CONNACK */);
  return 2 + propsSize(sPropsLen);
}

function writeConnack(out: Uint8Array, o: number, p: ConnackPacket, v: MqttVersion, rl: number): number {
  out[o++] = 0x20;
  o = writeVarint(out, o, rl);
  out[o++] = p.sessionPresent ? 1 : 0; // bits 7-1 reserved [MQTT-3.2.2-1]
  out[o++] = p.reasonCode;
  if (v === 5) o = writeProperties(out, o, p.properties, sPropsLen);
  return o;
}

// ---------------------------------------------------------------------------- PUBLISH

function publishRemaining(p: PublishPacket, v: MqttVersion): number {
  const qos = p.qos;
  if (qos !== 0 && qos !== 1 && qos !== 2) throw malformed("PUBLISH QoS must be 0, 1 or 2", "[MQTT-3.3.1-4]");
  if (qos === 0 && p.dup) throw protocolError("DUP must be 0 for QoS 0", "[MQTT-3.3.1-2]");
  const topic = p.topic;
  let tl: number;
  if (topic === cachedTopic && cachedTopicVersion === v) {
    tl = cachedTopicLen;
  } else {
    const aliased = v === 5 && topic === "" && p.properties !== undefined && p.properties.topicAlias !== undefined;
    if (!aliased) {
      const bad = checkTopicName(topic, v); // [MQTT-3.3.2-2]
      if (bad !== undefined) throw bad;
    }
    tl = mqttStringLength(topic, "Topic Name");
    if (!aliased) {
      cachedTopic = topic;
      cachedTopicLen = tl;
      cachedTopicVersion = v;
    }
  }
  let n = 2 + tl;
  if (qos !== 0) {
    checkPacketId(p.packetId, 3 /* PUBLISH */, v);
    n += 2;
  }
  if (v === 5) {
    const props = p.properties;
    sPropsLen = props === undefined ? 0 : propertiesLength(props, 3 /* PUBLISH */);
    n += sPropsLen < 0x80 ? 1 + sPropsLen : propsSize(sPropsLen);
  }
  const payload = p.payload;
  if (!(payload instanceof Uint8Array)) throw malformed("PUBLISH payload must be a Uint8Array", "§3.3.3");
  sStr1 = tl;
  return checkRemaining(n + payload.length, 3 /* PUBLISH */);
}

function writePublish(out: Uint8Array, o: number, p: PublishPacket, v: MqttVersion, rl: number): number {
  out[o++] = 0x30 | (p.dup ? 0x08 : 0) | (p.qos << 1) | (p.retain ? 0x01 : 0);
  if (rl < 0x80) out[o++] = rl;
  else o = writeVarint(out, o, rl);
  o = writeMqttString(out, o, p.topic, sStr1);
  if (p.qos !== 0) {
    const id = p.packetId as number;
    out[o++] = id >> 8;
    out[o++] = id & 0xff;
  }
  if (v === 5) {
    if (sPropsLen === 0) out[o++] = 0; // [MQTT-2.2.2-1]
    else o = writeProperties(out, o, p.properties, sPropsLen);
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

// ---------------------------------------------- PUBACK, PUBREC, PUBREL, PUBCOMP

function ackRemaining(p: PubAckPacket, v: MqttVersion): number {
  checkPacketId(p.packetId, p.type, v);
  const rc = p.reasonCode === undefined ? 0 : p.reasonCode;
  if (v === 4) {
    if (rc !== 0 || p.properties !== undefined) {
      throw malformed("3.1.1 " + packetName(p.type) + " has no Reason Code or properties", "§3.4");
    }
    return 2;
  }
  checkReasonCode(p.type, rc);
  sPropsLen = propertiesLength(p.properties, p.type);
  // §3.4.2.1: Reason Code and Property Length may be omitted for 0x00 with no properties.
  if (sPropsLen === 0) return rc === 0 ? 2 : 3;
  return 3 + propsSize(sPropsLen);
}

function writeAck(out: Uint8Array, o: number, p: PubAckPacket, rl: number): number {
  out[o++] = (p.type << 4) | (p.type === 6 /* PUBREL */ ? 0x02 : 0); // [MQTT-3.6.1-1]
  o = writeVarint(out, o, rl);
  out[o++] = p.packetId >> 8;
  out[o++] = p.packetId & 0xff;
  if (rl >= 3) out[o++] = p.reasonCode === undefined ? 0 : p.reasonCode;
  if (rl >= 4) o = writeProperties(out, o, p.properties, sPropsLen);
  return o;
}

// -------------------------------------------------------------------------- SUBSCRIBE

function subscribeRemaining(p: SubscribePacket, v: MqttVersion): number {
  checkPacketId(p.packetId, 8 /* SUBSCRIBE */, v);
  const subs = p.subscriptions;
  if (!Array.isArray(subs) || subs.length === 0) {
    throw protocolError("SUBSCRIBE needs at least one Topic Filter", v === 5 ? "[MQTT-3.8.3-2]" : "[MQTT-3.8.3-3]");
  }
  let n = 2;
  if (v === 5) {
    sPropsLen = propertiesLength(p.properties, 8 /* SUBSCRIBE */);
    n += propsSize(sPropsLen);
  }
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i];
    const bad = checkTopicFilter(s.topicFilter, v);
    if (bad !== undefined) throw bad;
    if (s.qos !== 0 && s.qos !== 1 && s.qos !== 2) {
      throw protocolError("subscription QoS must be 0, 1 or 2", "§3.8.3.1");
    }
    if (v === 5) {
      const rh = s.retainHandling === undefined ? 0 : s.retainHandling;
      if (rh !== 0 && rh !== 1 && rh !== 2) throw protocolError("Retain Handling must be 0, 1 or 2", "§3.8.3.1");
      if (s.noLocal && s.topicFilter.startsWith("$share/")) {
        throw protocolError("No Local on a Shared Subscription", "[MQTT-3.8.3-4]");
      }
    }
    n += 3 + mqttStringLength(s.topicFilter, "Topic Filter");
  }
  return checkRemaining(n, 8 /* SUBSCRIBE */);
}

function writeSubscribe(out: Uint8Array, o: number, p: SubscribePacket, v: MqttVersion, rl: number): number {
  out[o++] = 0x82; // [MQTT-3.8.1-1]
  o = writeVarint(out, o, rl);
  out[o++] = p.packetId >> 8;
  out[o++] = p.packetId & 0xff;
  if (v === 5) o = writeProperties(out, o, p.properties, sPropsLen);
  const subs = p.subscriptions;
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i];
    o = writeMqttString(out, o, s.topicFilter, mqttStringLength(s.topicFilter, "Topic Filter"));
    let opts: number = s.qos;
    if (v === 5) {
      if (s.noLocal) opts |= 0x04;
      if (s.retainAsPublished) opts |= 0x08;
      opts |= (s.retainHandling === undefined ? 0 : s.retainHandling) << 4;
    }
    out[o++] = opts; // bits 7-6 reserved [MQTT-3.8.3-5]
  }
  return o;
}

// ------------------------------------------------------------------------------ SUBACK

function subackRemaining(p: SubackPacket, v: MqttVersion): number {
  checkPacketId(p.packetId, 9 /* SUBACK */, v);
  const codes = p.reasonCodes;
  if (!Array.isArray(codes) || codes.length === 0) {
    throw protocolError("SUBACK needs one Reason Code per Topic Filter", v === 5 ? "[MQTT-3.8.4-6]" : "[MQTT-3.8.4-4]");
  }
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    const ok = v === 5 ? isReasonCodeAllowed(9 /* SUBACK */, c) : c === 0 || c === 1 || c === 2 || c === 0x80;
    if (!ok) throw protocolError(String(c) + " is not a SUBACK code", v === 5 ? "[MQTT-3.9.3-2]" : "[MQTT-3.9.3-2]");
  }
  let n = 2 + codes.length;
  if (v === 5) {
    sPropsLen = propertiesLength(p.properties, 9 /* SUBACK */);
    n += propsSize(sPropsLen);
  }
  return checkRemaining(n, 9 /* SUBACK */);
}

function writeCodes(out: Uint8Array, o: number, type: number, packetId: number, rl: number, v: MqttVersion, p: SubackPacket | UnsubackPacket): number {
  out[o++] = type << 4;
  o = writeVarint(out, o, rl);
  out[o++] = packetId >> 8;
  out[o++] = packetId & 0xff;
  if (v === 5) o = writeProperties(out, o, p.properties, sPropsLen);
  if (type === 11 /* UNSUBACK */ && v === 4) return o;
  const codes = p.reasonCodes;
  for (let i = 0; i < codes.length; i++) out[o++] = codes[i];
  return o;
}

// ------------------------------------------------------------------------- UNSUBSCRIBE

function unsubscribeRemaining(p: UnsubscribePacket, v: MqttVersion): number {
  checkPacketId(p.packetId, 10 /* UNSUBSCRIBE */, v);
  const filters = p.topicFilters;
  if (!Array.isArray(filters) || filters.length === 0) {
    throw protocolError("UNSUBSCRIBE needs at least one Topic Filter", v === 5 ? "[MQTT-3.10.3-2]" : "[MQTT-3.10.3-2]");
  }
  let n = 2;
  if (v === 5) {
    sPropsLen = propertiesLength(p.properties, 10 /* UNSUBSCRIBE */);
    n += propsSize(sPropsLen);
  }
  for (let i = 0; i < filters.length; i++) {
    const bad = checkTopicFilter(filters[i], v);
    if (bad !== undefined) throw bad;
    n += 2 + mqttStringLength(filters[i], "Topic Filter");
  }
  return checkRemaining(n, 10 /* UNSUBSCRIBE */);
}

function writeUnsubscribe(out: Uint8Array, o: number, p: UnsubscribePacket, v: MqttVersion, rl: number): number {
  out[o++] = 0xa2; // [MQTT-3.10.1-1]
  o = writeVarint(out, o, rl);
  out[o++] = p.packetId >> 8;
  out[o++] = p.packetId & 0xff;
  if (v === 5) o = writeProperties(out, o, p.properties, sPropsLen);
  const filters = p.topicFilters;
  for (let i = 0; i < filters.length; i++) {
    o = writeMqttString(out, o, filters[i], mqttStringLength(filters[i], "Topic Filter"));
  }
  return o;
}

// ---------------------------------------------------------------------------- UNSUBACK

function unsubackRemaining(p: UnsubackPacket, v: MqttVersion): number {
  checkPacketId(p.packetId, 11 /* UNSUBACK */, v);
  if (v === 4) {
    if (p.reasonCodes !== undefined && p.reasonCodes.length !== 0) {
      throw malformed("a 3.1.1 UNSUBACK has no payload", "§3.11.3");
    }
    return 2;
  }
  const codes = p.reasonCodes;
  if (!Array.isArray(codes) || codes.length === 0) {
    throw protocolError("UNSUBACK needs one Reason Code per Topic Filter", "[MQTT-3.11.3-1]");
  }
  for (let i = 0; i < codes.length; i++) checkReasonCode(11 /* UNSUBACK */, codes[i]); // [MQTT-3.11.3-2]
  sPropsLen = propertiesLength(p.properties, 11 /* UNSUBACK */);
  return checkRemaining(2 + propsSize(sPropsLen) + codes.length, 11 /* UNSUBACK */);
}

// --------------------------------------------------------------------- DISCONNECT, AUTH

function reasonOnlyRemaining(p: DisconnectPacket | AuthPacket, v: MqttVersion): number {
  if (v === 4) {
    if (p.type === 15 /* AUTH */) throw malformed("AUTH does not exist in 3.1.1", "§2.2.1 (3.1.1 Table 2.1)");
    if ((p.reasonCode !== undefined && p.reasonCode !== 0) || p.properties !== undefined) {
      throw malformed("a 3.1.1 DISCONNECT has no Reason Code or properties", "§3.14");
    }
    return 0;
  }
  const rc = p.reasonCode === undefined ? 0 : p.reasonCode;
  checkReasonCode(p.type, rc);
  sPropsLen = propertiesLength(p.properties, p.type);
  // §3.14.2.1: a DISCONNECT with Success and no properties may have Remaining Length 0, and
  // one with no properties may omit the Property Length. §3.15.2.1 allows the same short form
  // for AUTH, but we always write AUTH in full: some peers (mqtt-packet 9) refuse the short one.
  if (sPropsLen === 0 && p.type === 14 /* DISCONNECT */) return rc === 0 ? 0 : 1;
  if (sPropsLen === 0) return 2;
  return 1 + propsSize(sPropsLen);
}

function writeReasonOnly(out: Uint8Array, o: number, p: DisconnectPacket | AuthPacket, rl: number): number {
  out[o++] = p.type << 4;
  o = writeVarint(out, o, rl);
  if (rl === 0) return o;
  out[o++] = p.reasonCode === undefined ? 0 : p.reasonCode;
  if (rl >= 2) o = writeProperties(out, o, p.properties, sPropsLen);
  return o;
}

// ---------------------------------------------------------------------------- generic

/** Remaining Length of `p` (validating it); also primes the sizes its writer uses. */
function remainingLength(p: MqttPacket, v: MqttVersion): number {
  switch (p.type) {
    case 1 /* CONNECT */:
      return connectRemaining(p);
    case 2 /* CONNACK */:
      return connackRemaining(p, v);
    case 3 /* PUBLISH */:
      return publishRemaining(p, v);
    case 4 /* PUBACK */:
    case 5 /* PUBREC */:
    case 6 /* PUBREL */:
    case 7 /* PUBCOMP */:
      return ackRemaining(p, v);
    case 8 /* SUBSCRIBE */:
      return subscribeRemaining(p, v);
    case 9 /* SUBACK */:
      return subackRemaining(p, v);
    case 10 /* UNSUBSCRIBE */:
      return unsubscribeRemaining(p, v);
    case 11 /* UNSUBACK */:
      return unsubackRemaining(p, v);
    case 12 /* PINGREQ */:
    case 13 /* PINGRESP */:
      return 0;
    case 14 /* DISCONNECT */:
    case 15 /* AUTH */:
      return reasonOnlyRemaining(p, v);
    default:
      throw malformed("unknown packet type " + String((p as { type: unknown }).type), "§2.1.2");
  }
}

function write(out: Uint8Array, o: number, p: MqttPacket, v: MqttVersion, rl: number): number {
  switch (p.type) {
    case 1 /* CONNECT */:
      return writeConnect(out, o, p, rl);
    case 2 /* CONNACK */:
      return writeConnack(out, o, p, v, rl);
    case 3 /* PUBLISH */:
      return writePublish(out, o, p, v, rl);
    case 4 /* PUBACK */:
    case 5 /* PUBREC */:
    case 6 /* PUBREL */:
    case 7 /* PUBCOMP */:
      return writeAck(out, o, p, rl);
    case 8 /* SUBSCRIBE */:
      return writeSubscribe(out, o, p, v, rl);
    case 9 /* SUBACK */:
      return writeCodes(out, o, 9 /* SUBACK */, p.packetId, rl, v, p);
    case 10 /* UNSUBSCRIBE */:
      return writeUnsubscribe(out, o, p, v, rl);
    case 11 /* UNSUBACK */:
      return writeCodes(out, o, 11 /* UNSUBACK */, p.packetId, rl, v, p);
    case 12 /* PINGREQ */:
    case 13 /* PINGRESP */:
      out[o] = p.type << 4;
      out[o + 1] = 0;
      return o + 2;
    default:
      return writeReasonOnly(out, o, p as DisconnectPacket | AuthPacket, rl);
  }
}

function versionOf(p: MqttPacket, version: MqttVersion): MqttVersion {
  const v = p.type === 1 /* CONNECT */ ? p.protocolVersion : version;
  checkVersion(v);
  return v;
}

/** Total encoded size of `p` in bytes (fixed header included). Validates `p`. */
export function encodedLength(p: MqttPacket, version: MqttVersion): number {
  const v = versionOf(p, version);
  const rl = remainingLength(p, v);
  return 1 + varintLength(rl) + rl;
}

/**
 * Writes `p` into `out` at `offset` and returns the offset after it. Allocates nothing.
 * Throws MqttCodecError for an invalid packet, RangeError when it does not fit; in both
 * cases `out` is unchanged.
 */
export function encodePacketInto(p: MqttPacket, version: MqttVersion, out: Uint8Array, offset: number): number {
  const v = versionOf(p, version);
  const rl = remainingLength(p, v);
  const size = 1 + varintLength(rl) + rl;
  if (!(offset >= 0) || offset + size > out.length) {
    throw new RangeError(packetName(p.type) + " of " + size + " bytes does not fit at offset " + offset + " of " + out.length);
  }
  return write(out, offset, p, v, rl);
}

/** Encodes `p` into a new Uint8Array of exactly its size. */
export function encodePacket(p: MqttPacket, version: MqttVersion): Uint8Array {
  const v = versionOf(p, version);
  const rl = remainingLength(p, v);
  const out = new Uint8Array(1 + varintLength(rl) + rl);
  write(out, 0, p, v, rl);
  return out;
}

function expectType(p: MqttPacket, type: number): void {
  if (p.type !== type) throw malformed("expected a " + packetName(type) + " packet, got type " + String(p.type), "§2.1.2");
}

/** CONNECT (§3.1), in the version `p.protocolVersion` names. */
export function encodeConnect(p: ConnectPacket): Uint8Array {
  return encodePacket(p, p.protocolVersion);
}
export function encodeConnack(p: ConnackPacket, version: MqttVersion): Uint8Array {
  return encodePacket(p, version);
}
/** PUBLISH (§3.3): the hot path. */
export function encodePublish(p: PublishPacket, version: MqttVersion): Uint8Array {
  if (version !== 4 && version !== 5) checkVersion(version);
  const rl = publishRemaining(p, version);
  const out = new Uint8Array(1 + (rl < 0x80 ? 1 : varintLength(rl)) + rl);
  writePublish(out, 0, p, version, rl);
  return out;
}
export function encodePuback(p: PubAckPacket, version: MqttVersion): Uint8Array {
  expectType(p, 4 /* PUBACK */);
  return encodePacket(p, version);
}
export function encodePubrec(p: PubAckPacket, version: MqttVersion): Uint8Array {
  expectType(p, 5 /* PUBREC */);
  return encodePacket(p, version);
}
export function encodePubrel(p: PubAckPacket, version: MqttVersion): Uint8Array {
  expectType(p, 6 /* PUBREL */);
  return encodePacket(p, version);
}
export function encodePubcomp(p: PubAckPacket, version: MqttVersion): Uint8Array {
  expectType(p, 7 /* PUBCOMP */);
  return encodePacket(p, version);
}
export function encodeSubscribe(p: SubscribePacket, version: MqttVersion): Uint8Array {
  return encodePacket(p, version);
}
export function encodeSuback(p: SubackPacket, version: MqttVersion): Uint8Array {
  return encodePacket(p, version);
}
export function encodeUnsubscribe(p: UnsubscribePacket, version: MqttVersion): Uint8Array {
  return encodePacket(p, version);
}
export function encodeUnsuback(p: UnsubackPacket, version: MqttVersion): Uint8Array {
  return encodePacket(p, version);
}
export function encodePingreq(): Uint8Array {
  return new Uint8Array([0xc0, 0x00]);
}
export function encodePingresp(): Uint8Array {
  return new Uint8Array([0xd0, 0x00]);
}
export function encodeDisconnect(p: DisconnectPacket, version: MqttVersion): Uint8Array {
  return encodePacket(p, version);
}
/** AUTH (§3.15), 5.0 only. */
export function encodeAuth(p: AuthPacket): Uint8Array {
  return encodePacket(p, 5);
}

export interface MqttEncoderOptions {
  /** Protocol version of the connection: 4 (3.1.1) or 5 (5.0). Default 5. */
  version?: MqttVersion;
  /** Initial size of the reusable output buffer. Default 256; it grows as needed. */
  bufferSize?: number;
}

/**
 * Encodes into one reusable buffer: `encode(p)` returns a view of that buffer holding the
 * packet, valid until the next call. A session that writes each packet to its socket
 * right away (ECMA-419 write() copies) then sends without any per-packet allocation but
 * that small view. The buffer grows (once) when a packet does not fit.
 */
export class MqttEncoder {
  version: MqttVersion;
  private buffer: Uint8Array;

  constructor(options?: MqttEncoderOptions) {
    const v = options !== undefined && options.version !== undefined ? options.version : 5;
    checkVersion(v);
    this.version = v;
    const size = options !== undefined && options.bufferSize !== undefined ? options.bufferSize : 256;
    this.buffer = new Uint8Array(size > 16 ? size : 16);
  }

  /** Encodes `p`; throws MqttCodecError for an invalid packet (the buffer is then unchanged). */
  encode(p: MqttPacket): Uint8Array {
    const v = versionOf(p, this.version);
    const rl = remainingLength(p, v);
    const size = 1 + varintLength(rl) + rl;
    if (size > this.buffer.length) {
      let n = this.buffer.length * 2;
      while (n < size) n *= 2;
      this.buffer = new Uint8Array(n);
    }
    const end = write(this.buffer, 0, p, v, rl);
    return this.buffer.subarray(0, end);
  }
}
