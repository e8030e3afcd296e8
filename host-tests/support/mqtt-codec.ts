/*
 * The whole MQTT codec, for tests, test brokers and host tools (portable: also runs on XS).
 *
 * The device carries only a Client's half (modules/mqtt/encode.ts encodes what a Client
 * sends, modules/mqtt/decoder.ts decodes what a Server sends). This module adds the Server's
 * half, built on the same rules: decoding CONNECT, SUBSCRIBE and UNSUBSCRIBE (given to the
 * decoder as its `clientPackets`), encoding CONNACK, SUBACK, UNSUBACK and PINGRESP; and
 * generic helpers over every packet type (encodePacket, encodedLength, encodePacketInto, a
 * decoder of both directions). The 5.0 properties codec is used unless a caller passes
 * `null` for it (a 3.1.1-only build's view: no properties codec at all).
 */
import { MqttDecoder as ClientDecoder } from "../../modules/mqtt/decoder";
import type { MqttDecoderOptions } from "../../modules/mqtt/decoder";
import { encodeAck, encodeAuth as encodeAuthWith, encodeDisconnect as encodeDisconnectWith } from "../../modules/mqtt/encode-packets";
import { encodePublish as encodePublishWith } from "../../modules/mqtt/encode-publish";
import {
  encodeConnect as encodeConnectWith,
  encodePingreq,
  encodeSubscribe as encodeSubscribeWith,
  encodeUnsubscribe as encodeUnsubscribeWith,
  frame,
  propsLength,
  propsWrite,
} from "../../modules/mqtt/encode";
import { MqttCodecError, malformed } from "../../modules/mqtt/errors";
import { PacketType } from "../../modules/mqtt/packets";
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  MqttPacket,
  MqttVersion,
  PropertiesCodec,
  PubAckPacket,
  PublishPacket,
  QoS,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  WillMessage,
} from "../../modules/mqtt/packets";
import { properties5 } from "../../modules/mqtt/properties";
import { checkClientId, checkConnack, checkConnectFlags, checkId, checkListCode, checkNotEmpty, checkOptions } from "../../modules/mqtt/rules";
import { checkTopicFilter, checkTopicName } from "../../modules/mqtt/topic";
import { varintLength } from "../../modules/mqtt/wire";

export { PacketType, packetName } from "../../modules/mqtt/packets";
export type {
  AckType,
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  MqttPacket,
  MqttVersion,
  PingreqPacket,
  PingrespPacket,
  PropertiesCodec,
  PubAckPacket,
  PubackPacket,
  PubcompPacket,
  PublishPacket,
  PubrecPacket,
  PubrelPacket,
  QoS,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  WillMessage,
} from "../../modules/mqtt/packets";
export type { MqttProperties, PropertyDefinition } from "../../modules/mqtt/properties";
export { PROPERTIES, PROPERTY_BY_ID, PropertyType, WILL_PROPERTIES, properties5 } from "../../modules/mqtt/properties";
export { isReasonCodeAllowed } from "../../modules/mqtt/properties";
export { ReasonCode, ConnackReturnCode, SubackReturnCode, reasonCodeName } from "../../modules/mqtt/reason-names";
export { MqttCodecError } from "../../modules/mqtt/errors";
export type { SharedSubscription, PreparedTopic } from "../../modules/mqtt/topic";
export {
  checkTopicFilter,
  checkTopicName,
  parseSharedSubscription,
  prepareTopic,
  topicMatches,
  MAX_TOPIC_BYTES,
} from "../../modules/mqtt/topic";
import { checkTopicFilter as checkTopicFilterOf, checkTopicName as checkTopicNameOf } from "../../modules/mqtt/topic";
export { MAX_PACKET_SIZE } from "../../modules/mqtt/decoder";
export type { MqttDecoderOptions, ClientPacketDecoder } from "../../modules/mqtt/decoder";
export { encodePingreq } from "../../modules/mqtt/encode";
export { encodeAck } from "../../modules/mqtt/encode-packets";

/** The properties codec to use: `null` stands for none (a default parameter cannot be given `undefined`). */
type Props = PropertiesCodec | null;

function use(props: Props): PropertiesCodec | undefined {
  return props === null ? undefined : props;
}

// ---------------------------------------------------------------------------
// Decoding what a Client sends (a Server's job)

/** Binary Data (§1.5.6): a view of the fed chunk, or a copy with the decoder's copyPayload. */
function binaryOf(d: ClientDecoder): Uint8Array {
  const b = d.binary();
  return d.copyPayload ? b.slice() : b;
}

/** CONNECT (§3.1). Sets `d.version` to the packet's Protocol Level. */
function decodeConnect(d: ClientDecoder): ConnectPacket {
  const name = d.string();
  const v = d.u8() as MqttVersion;
  if (name !== "MQTT") throw new MqttCodecError(0x84, "Protocol Name " + name, "[MQTT-3.1.2-1]");
  if (v !== 4 && v !== 5) throw new MqttCodecError(0x84, "Protocol Level " + v, "[MQTT-3.1.2-2]");
  d.version = v;
  const f = d.u8();
  checkConnectFlags(f, v);
  const clean = (f & 2) !== 0;
  const keepAlive = d.u16();
  const properties = v === 5 ? d.props(PacketType.CONNECT) : undefined;
  const clientId = d.string(); // [MQTT-3.1.3-3]
  checkClientId(clientId, clean, v, "[MQTT-3.1.3-8]");
  let will: WillMessage | undefined;
  if (f & 4) {
    // [MQTT-3.1.2-9]: Will Properties, Will Topic and Will Payload present.
    const wp = v === 5 ? d.props(0) : undefined;
    const topic = d.string();
    const bad = checkTopicName(topic, v);
    if (bad !== undefined) throw bad;
    will = { topic, payload: binaryOf(d), qos: ((f >> 3) & 3) as QoS, retain: (f & 0x20) !== 0, properties: wp };
  }
  const username = f & 0x80 ? d.string() : undefined; // [MQTT-3.1.2-17]
  const password = f & 0x40 ? binaryOf(d) : undefined; // [MQTT-3.1.2-19]
  return { type: PacketType.CONNECT, protocolVersion: v, clean, keepAlive, clientId, will, username, password, properties };
}

/** SUBSCRIBE or UNSUBSCRIBE: Packet Identifier, properties, a list of filters. */
function decodeFilters(d: ClientDecoder, t: number): MqttPacket {
  const v = d.version;
  const packetId = checkId(d.u16(), t, v);
  const properties = v === 5 ? d.props(t) : undefined;
  const list: (Subscription | string)[] = [];
  while (d.remaining() > 0) {
    const topicFilter = d.string(); // [MQTT-3.10.3-1]
    const o = t === PacketType.SUBSCRIBE ? d.u8() : 0;
    if (t === PacketType.SUBSCRIBE) checkOptions(o, topicFilter, v);
    const bad = checkTopicFilter(topicFilter, v);
    if (bad !== undefined) throw bad;
    list.push(
      t === PacketType.UNSUBSCRIBE
        ? topicFilter
        : v === 5
          ? { topicFilter, qos: (o & 3) as QoS, noLocal: (o & 4) !== 0, retainAsPublished: (o & 8) !== 0, retainHandling: ((o >> 4) & 3) as 0 }
          : { topicFilter, qos: o as QoS },
    );
  }
  checkNotEmpty(list.length, t, v);
  if (t === PacketType.SUBSCRIBE) return { type: PacketType.SUBSCRIBE, packetId, subscriptions: list as Subscription[], properties };
  return { type: PacketType.UNSUBSCRIBE, packetId, topicFilters: list as string[], properties };
}

/** The decoder's `clientPackets`: CONNECT, SUBSCRIBE, UNSUBSCRIBE. */
export function decodeClientPacket(d: ClientDecoder, type: number): MqttPacket {
  return type === PacketType.CONNECT ? decodeConnect(d) : decodeFilters(d, type);
}

/** A decoder of every packet type, both directions, with the 5.0 properties codec unless `properties: undefined` is given. */
export class MqttDecoder extends ClientDecoder {
  constructor(options?: MqttDecoderOptions) {
    super({ properties: properties5, clientPackets: decodeClientPacket, ...options });
  }
}

// ---------------------------------------------------------------------------
// Encoding what a Server sends

/** CONNACK (§3.2). */
export function encodeConnack(p: ConnackPacket, v: MqttVersion, codec: Props = properties5): Uint8Array {
  const props = use(codec);
  checkConnack(p.sessionPresent, p.reasonCode, v, props, "§2.4");
  const pl = v === 5 ? propsLength(props, p.properties, PacketType.CONNACK) : -1;
  const rl = 2 + (pl < 0 ? 0 : varintLength(pl) + pl);
  const out = frame(0x20, rl, PacketType.CONNACK);
  let o = out.length - rl;
  out[o++] = p.sessionPresent ? 1 : 0; // bits 7-1 reserved [MQTT-3.2.2-1]
  out[o++] = p.reasonCode;
  if (pl >= 0) propsWrite(props, out, o, p.properties, pl);
  return out;
}

/** SUBACK (§3.9) or UNSUBACK (§3.11): Packet Identifier, properties (5.0), the reason codes (none in a 3.1.1 UNSUBACK). */
function encodeCodes(type: number, p: SubackPacket | UnsubackPacket, v: MqttVersion, props: PropertiesCodec | undefined): Uint8Array {
  checkId(p.packetId, type, v);
  const codes = Array.isArray(p.reasonCodes) ? p.reasonCodes : [];
  let rl = 2;
  let pl = -1;
  if (type === PacketType.UNSUBACK && v === 4) {
    if (codes.length !== 0) throw malformed("3.1.1 UNSUBACK payload", "§3.11.3");
  } else {
    checkNotEmpty(codes.length, type, v);
    for (let i = 0; i < codes.length; i++) checkListCode(type, codes[i], v, props);
    if (v === 5) {
      pl = propsLength(props, p.properties, type);
      rl += varintLength(pl) + pl;
    }
    rl += codes.length;
  }
  const out = frame(type << 4, rl, type);
  let o = out.length - rl;
  out[o++] = p.packetId >> 8;
  out[o++] = p.packetId & 0xff;
  if (pl >= 0) o = propsWrite(props, out, o, p.properties, pl);
  if (rl > 2) out.set(codes, o);
  return out;
}

export function encodeSuback(p: SubackPacket, v: MqttVersion, props: Props = properties5): Uint8Array {
  return encodeCodes(PacketType.SUBACK, p, v, use(props));
}

export function encodeUnsuback(p: UnsubackPacket, v: MqttVersion, props: Props = properties5): Uint8Array {
  return encodeCodes(PacketType.UNSUBACK, p, v, use(props));
}

/** PINGRESP (§3.13). */
export function encodePingresp(): Uint8Array {
  return Uint8Array.of(0xd0, 0);
}

// ---------------------------------------------------------------------------
// Every packet, with the 5.0 properties codec by default

export function encodeConnect(p: ConnectPacket, props: Props = properties5): Uint8Array {
  return encodeConnectWith(p, use(props));
}

export function encodePublish(p: PublishPacket, v: MqttVersion, props: Props = properties5): Uint8Array {
  return encodePublishWith(p, v, use(props));
}

function typedAck(type: number): (p: PubAckPacket, v: MqttVersion) => Uint8Array {
  return (p, v) => {
    if (p.type !== type) throw malformed("expected type " + type + ", got " + p.type, "§2.1.2");
    return encodeAck(p, v, properties5);
  };
}
export const encodePuback = typedAck(PacketType.PUBACK);
export const encodePubrec = typedAck(PacketType.PUBREC);
export const encodePubrel = typedAck(PacketType.PUBREL);
export const encodePubcomp = typedAck(PacketType.PUBCOMP);

export function encodeSubscribe(p: SubscribePacket, v: MqttVersion, props: Props = properties5): Uint8Array {
  return encodeSubscribeWith(p, v, use(props));
}

export function encodeUnsubscribe(p: UnsubscribePacket, v: MqttVersion, props: Props = properties5): Uint8Array {
  return encodeUnsubscribeWith(p, v, use(props));
}

export function encodeDisconnect(p: DisconnectPacket, v: MqttVersion, props: Props = properties5): Uint8Array {
  return encodeDisconnectWith(p, v, use(props));
}

export function encodeAuth(p: AuthPacket, props: Props = properties5): Uint8Array {
  return encodeAuthWith(p, use(props));
}

/** Any packet in a new array of exactly its size (a CONNECT in its own protocolVersion). */
export function encodePacket(p: MqttPacket, version: MqttVersion, codec: Props = properties5): Uint8Array {
  const props = use(codec);
  const v = p.type === PacketType.CONNECT ? p.protocolVersion : version;
  if (v !== 4 && v !== 5) throw new MqttCodecError(0x84, "protocol version " + v, "§3.1.2.2");
  switch (p.type) {
    case PacketType.CONNECT:
      return encodeConnectWith(p, props);
    case PacketType.CONNACK:
      return encodeConnack(p, v, codec);
    case PacketType.PUBLISH:
      return encodePublishWith(p, v, props);
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return encodeAck(p, v, props);
    case PacketType.SUBSCRIBE:
      return encodeSubscribeWith(p, v, props);
    case PacketType.SUBACK:
      return encodeCodes(PacketType.SUBACK, p, v, props);
    case PacketType.UNSUBSCRIBE:
      return encodeUnsubscribeWith(p, v, props);
    case PacketType.UNSUBACK:
      return encodeCodes(PacketType.UNSUBACK, p, v, props);
    case PacketType.PINGREQ:
      return encodePingreq();
    case PacketType.PINGRESP:
      return encodePingresp();
    case PacketType.DISCONNECT:
      return encodeDisconnectWith(p, v, props);
    case PacketType.AUTH:
      if (v === 4) throw malformed("AUTH in 3.1.1", "§2.2.1 (3.1.1 Table 2.1)");
      return encodeAuthWith(p, props);
  }
  throw malformed("unknown packet type " + (p as { type: unknown }).type, "§2.1.2");
}

/** Total encoded size of `p` (fixed header included); validates `p`. */
export function encodedLength(p: MqttPacket, version: MqttVersion, props: Props = properties5): number {
  return encodePacket(p, version, props).length;
}

/**
 * Writes `p` into `out` at `offset` and returns the offset after it. MqttCodecError for an
 * invalid packet, RangeError when it does not fit; `out` is unchanged in both cases.
 */
export function encodePacketInto(p: MqttPacket, version: MqttVersion, out: Uint8Array, offset: number): number {
  const enc = encodePacket(p, version);
  if (!(offset >= 0) || offset + enc.length > out.length) {
    throw new RangeError("packet of " + enc.length + " bytes does not fit at offset " + offset + " of " + out.length);
  }
  out.set(enc, offset);
  return offset + enc.length;
}

/** Boolean forms of checkTopicName / checkTopicFilter (host side: the firmware calls the checks). */
export function isValidTopicName(topic: string): boolean {
  return checkTopicNameOf(topic) === undefined;
}

export function isValidTopicFilter(filter: string, version: 4 | 5 = 5): boolean {
  return checkTopicFilterOf(filter, version) === undefined;
}
