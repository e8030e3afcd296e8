/*
 * MQTT control packets as plain objects (MQTT 5.0 §3, MQTT 3.1.1 §3).
 *
 * Every packet has a numeric `type` (the fixed header's packet type, MQTT 5.0 §2.1.2
 * Table 2-1), so `switch (packet.type)` narrows the union. The decoder always fills every
 * field of a packet in the same order (stable object shapes); optional fields are
 * `undefined` when absent. The same objects go into the encoders.
 */
import type { MqttProperties } from "./properties";
import type { Reader } from "./wire";

/**
 * MQTT 5.0 §2.1.2 Table 2-1; 0 is reserved, and 15 (AUTH) is reserved in 3.1.1. A const
 * enum: the device build (mcconfig's tsc, whole program) writes the number in place of each
 * `PacketType.X`, so the names cost no bytecode; the XS test and bench bundles do the same
 * (tools/xs.js); ts-jest, transpiling file by file, keeps the enum object.
 */
export const enum PacketType {
  CONNECT = 1,
  CONNACK = 2,
  PUBLISH = 3,
  PUBACK = 4,
  PUBREC = 5,
  PUBREL = 6,
  PUBCOMP = 7,
  SUBSCRIBE = 8,
  SUBACK = 9,
  UNSUBSCRIBE = 10,
  UNSUBACK = 11,
  PINGREQ = 12,
  PINGRESP = 13,
  DISCONNECT = 14,
  AUTH = 15,
}

// One string split once (XS bytecode: an array literal of 16 strings costs ~160 B more).
const PACKET_NAMES = "Will Properties,CONNECT,CONNACK,PUBLISH,PUBACK,PUBREC,PUBREL,PUBCOMP,SUBSCRIBE,SUBACK,UNSUBSCRIBE,UNSUBACK,PINGREQ,PINGRESP,DISCONNECT,AUTH".split(",");

/** Name of a packet type (or "Will Properties" for 0), for messages. */
export function packetName(type: number): string {
  return PACKET_NAMES[type] !== undefined ? PACKET_NAMES[type] : "packet type " + type;
}

/**
 * The MQTT 5.0 properties codec (§2.2.2, ./properties.ts `properties5`), handed to the
 * encoders and the decoder by whoever speaks 5.0. Without it (a 3.1.1-only build) packets
 * with no properties still encode and decode; a property or a 5.0 reason code is refused
 * with 0x84 (Unsupported Protocol Version).
 */
export interface PropertiesCodec {
  /** Byte length of `p`'s properties for packet type `type` (0: Will Properties), validating them. */
  length(p: MqttProperties | undefined, type: number): number;
  /** Writes the Property Length `length` and the properties; returns the offset after them. */
  write(out: Uint8Array, o: number, p: MqttProperties | undefined, length: number): number;
  /** Reads a Property Length and the properties after it. */
  read(r: Reader, type: number): MqttProperties | undefined;
  /** Table 2-6: may packet type `type` carry reason code `code`? */
  reasonAllowed(type: number, code: number): boolean;
}

/** The Protocol Level byte: 4 = MQTT 3.1.1 (§3.1.2.2), 5 = MQTT 5.0 (§3.1.2.2). */
export type MqttVersion = 4 | 5;
export type QoS = 0 | 1 | 2;

/** Will Message of a CONNECT (MQTT 5.0 §3.1.2.5, §3.1.3.2–3.1.3.4). */
export interface WillMessage {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  /** Will Properties (5.0 only). */
  properties?: MqttProperties;
}

export interface ConnectPacket {
  type: PacketType.CONNECT;
  /** 4 or 5. The encoder writes the packet in this version, whatever version it is given. */
  protocolVersion: MqttVersion;
  /** Clean Start (5.0) / CleanSession (3.1.1). */
  clean: boolean;
  /** Seconds, 0..65535. */
  keepAlive: number;
  clientId: string;
  will?: WillMessage;
  username?: string;
  /** Binary Data (5.0 §3.1.3.6, 3.1.1 §3.1.3.5). The encoder also accepts a string (UTF-8). */
  password?: Uint8Array | string;
  properties?: MqttProperties;
}

export interface ConnackPacket {
  type: PacketType.CONNACK;
  sessionPresent: boolean;
  /** 5.0: Connect Reason Code (Table 3-1). 3.1.1: Connect Return code (Table 3.1). */
  reasonCode: number;
  properties?: MqttProperties;
}

export interface PublishPacket {
  type: PacketType.PUBLISH;
  /** May be "" in 5.0 when properties.topicAlias is set (§3.3.2.3.4). */
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** Required (1..65535) when qos > 0; the decoder sets 0 for QoS 0 ([MQTT-2.2.1-2]). */
  packetId?: number;
  properties?: MqttProperties;
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP (MQTT 5.0 §3.4–§3.7). */
export type AckType = PacketType.PUBACK | PacketType.PUBREC | PacketType.PUBREL | PacketType.PUBCOMP;

export interface PubAckPacket<T extends AckType = AckType> {
  type: T;
  packetId: number;
  /** 5.0 only; 0 (Success) when absent or in 3.1.1. */
  reasonCode?: number;
  properties?: MqttProperties;
}
export type PubackPacket = PubAckPacket<PacketType.PUBACK>;
export type PubrecPacket = PubAckPacket<PacketType.PUBREC>;
export type PubrelPacket = PubAckPacket<PacketType.PUBREL>;
export type PubcompPacket = PubAckPacket<PacketType.PUBCOMP>;

/** A Topic Filter and its Subscription Options (MQTT 5.0 §3.8.3.1, 3.1.1 §3.8.3). */
export interface Subscription {
  topicFilter: string;
  /** Maximum QoS. */
  qos: QoS;
  /** 5.0 only. */
  noLocal?: boolean;
  /** 5.0 only. */
  retainAsPublished?: boolean;
  /** 5.0 only: 0 send retained at subscribe, 1 only if new, 2 never. */
  retainHandling?: 0 | 1 | 2;
}

export interface SubscribePacket {
  type: PacketType.SUBSCRIBE;
  packetId: number;
  subscriptions: Subscription[];
  properties?: MqttProperties;
}

export interface SubackPacket {
  type: PacketType.SUBACK;
  packetId: number;
  /** One per Topic Filter: granted QoS or a failure code (5.0 Table 3-8; 3.1.1 §3.9.3). */
  reasonCodes: number[];
  properties?: MqttProperties;
}

export interface UnsubscribePacket {
  type: PacketType.UNSUBSCRIBE;
  packetId: number;
  topicFilters: string[];
  properties?: MqttProperties;
}

export interface UnsubackPacket {
  type: PacketType.UNSUBACK;
  packetId: number;
  /** 5.0: one per Topic Filter (Table 3-9). 3.1.1: the packet has no payload; empty. */
  reasonCodes: number[];
  properties?: MqttProperties;
}

export interface PingreqPacket {
  type: PacketType.PINGREQ;
}

export interface PingrespPacket {
  type: PacketType.PINGRESP;
}

export interface DisconnectPacket {
  type: PacketType.DISCONNECT;
  /** 5.0 only (Table 3-10); 0 when absent. */
  reasonCode?: number;
  properties?: MqttProperties;
}

/** MQTT 5.0 §3.15; does not exist in 3.1.1. */
export interface AuthPacket {
  type: PacketType.AUTH;
  reasonCode?: number;
  properties?: MqttProperties;
}

export type MqttPacket =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | PubAckPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;
