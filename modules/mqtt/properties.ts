/*
 * MQTT 5.0 properties (§2.2.2): the Table 2-4 catalogue (identifier, data type, which
 * packets may carry it), decoding with the Malformed / Protocol Error rules, and encoding.
 */
import { MqttCodecError, malformed, protocolError } from "./errors";
import { PacketType, packetName } from "./packets";
import type { PropertiesCodec } from "./packets";
import { isReasonCodeAllowed } from "./reason-codes";
import { mqttStringLength, Reader, varintLength, writeBinary, writeMqttString, writeVarint } from "./wire";

/** Every MQTT 5.0 property, by its camel-cased Table 2-4 name. */
export interface MqttProperties {
  /** 0x01 Byte: 0 unspecified bytes, 1 UTF-8 (PUBLISH, Will). */
  payloadFormatIndicator?: number;
  /** 0x02 Four Byte Integer, seconds (PUBLISH, Will). */
  messageExpiryInterval?: number;
  /** 0x03 UTF-8 (PUBLISH, Will). */
  contentType?: string;
  /** 0x08 UTF-8 topic name (PUBLISH, Will). */
  responseTopic?: string;
  /** 0x09 Binary (PUBLISH, Will). */
  correlationData?: Uint8Array;
  /** 0x0B Variable Byte Integer 1..268,435,455. PUBLISH: any number; SUBSCRIBE: at most one. */
  subscriptionIdentifiers?: number[];
  /** 0x11 Four Byte Integer, seconds (CONNECT, CONNACK, DISCONNECT). */
  sessionExpiryInterval?: number;
  /** 0x12 UTF-8 (CONNACK). */
  assignedClientIdentifier?: string;
  /** 0x13 Two Byte Integer, seconds (CONNACK). */
  serverKeepAlive?: number;
  /** 0x15 UTF-8 (CONNECT, CONNACK, AUTH). */
  authenticationMethod?: string;
  /** 0x16 Binary (CONNECT, CONNACK, AUTH). */
  authenticationData?: Uint8Array;
  /** 0x17 Byte 0/1 (CONNECT). */
  requestProblemInformation?: number;
  /** 0x18 Four Byte Integer, seconds (Will). */
  willDelayInterval?: number;
  /** 0x19 Byte 0/1 (CONNECT). */
  requestResponseInformation?: number;
  /** 0x1A UTF-8 (CONNACK). */
  responseInformation?: string;
  /** 0x1C UTF-8 (CONNACK, DISCONNECT). */
  serverReference?: string;
  /** 0x1F UTF-8 (CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH). */
  reasonString?: string;
  /** 0x21 Two Byte Integer, not 0 (CONNECT, CONNACK). */
  receiveMaximum?: number;
  /** 0x22 Two Byte Integer (CONNECT, CONNACK). */
  topicAliasMaximum?: number;
  /** 0x23 Two Byte Integer, not 0 (PUBLISH). */
  topicAlias?: number;
  /** 0x24 Byte 0/1 (CONNACK). */
  maximumQoS?: number;
  /** 0x25 Byte 0/1 (CONNACK). */
  retainAvailable?: number;
  /** 0x26 UTF-8 String Pairs, in order, names may repeat (every packet but PINGREQ/PINGRESP). */
  userProperties?: [string, string][];
  /** 0x27 Four Byte Integer, not 0 (CONNECT, CONNACK). */
  maximumPacketSize?: number;
  /** 0x28 Byte 0/1 (CONNACK). */
  wildcardSubscriptionAvailable?: number;
  /** 0x29 Byte 0/1 (CONNACK). */
  subscriptionIdentifiersAvailable?: number;
  /** 0x2A Byte 0/1 (CONNACK). */
  sharedSubscriptionAvailable?: number;
}

/** Data types of Table 2-4 (§1.5). */
export const PropertyType = {
  Byte: 1,
  TwoByteInteger: 2,
  FourByteInteger: 3,
  VariableByteInteger: 4,
  Utf8String: 5,
  BinaryData: 6,
  Utf8StringPair: 7,
} as const;

/** Bit for "Will Properties" in the packet masks (packet type 0 is reserved, so bit 0 is free). */
export const WILL_PROPERTIES = 1;

export interface PropertyDefinition {
  id: number;
  key: keyof MqttProperties;
  type: number;
  /** Bit (1 << packet type) per packet that may carry it; WILL_PROPERTIES for the Will. */
  packets: number;
  /** Packets in which it may appear more than once (User Property; Subscription Identifier in PUBLISH). */
  repeatable: number;
}

const CONNECT = 1 << PacketType.CONNECT;
const CONNACK = 1 << PacketType.CONNACK;
const PUBLISH = 1 << PacketType.PUBLISH;
const PUBACK = 1 << PacketType.PUBACK;
const PUBREC = 1 << PacketType.PUBREC;
const PUBREL = 1 << PacketType.PUBREL;
const PUBCOMP = 1 << PacketType.PUBCOMP;
const SUBSCRIBE = 1 << PacketType.SUBSCRIBE;
const SUBACK = 1 << PacketType.SUBACK;
const UNSUBSCRIBE = 1 << PacketType.UNSUBSCRIBE;
const UNSUBACK = 1 << PacketType.UNSUBACK;
const DISCONNECT = 1 << PacketType.DISCONNECT;
const AUTH = 1 << PacketType.AUTH;
const WILL = WILL_PROPERTIES;
const ALL_WITH_PROPERTIES =
  CONNECT | CONNACK | PUBLISH | WILL | PUBACK | PUBREC | PUBREL | PUBCOMP | SUBSCRIBE | SUBACK | UNSUBSCRIBE | UNSUBACK | DISCONNECT | AUTH;

const T = PropertyType;

/** MQTT 5.0 §2.2.2.2 Table 2-4, in identifier order: id, data type, packets, repeatable in. */
const TABLE = [
  0x01, 1, PUBLISH | WILL, 0,
  0x02, 3, PUBLISH | WILL, 0,
  0x03, 5, PUBLISH | WILL, 0,
  0x08, 5, PUBLISH | WILL, 0,
  0x09, 6, PUBLISH | WILL, 0,
  0x0b, 4, PUBLISH | SUBSCRIBE, PUBLISH,
  0x11, 3, CONNECT | CONNACK | DISCONNECT, 0,
  0x12, 5, CONNACK, 0,
  0x13, 2, CONNACK, 0,
  0x15, 5, CONNECT | CONNACK | AUTH, 0,
  0x16, 6, CONNECT | CONNACK | AUTH, 0,
  0x17, 1, CONNECT, 0,
  0x18, 3, WILL, 0,
  0x19, 1, CONNECT, 0,
  0x1a, 5, CONNACK, 0,
  0x1c, 5, CONNACK | DISCONNECT, 0,
  0x1f, 5, CONNACK | PUBACK | PUBREC | PUBREL | PUBCOMP | SUBACK | UNSUBACK | DISCONNECT | AUTH, 0,
  0x21, 2, CONNECT | CONNACK, 0,
  0x22, 2, CONNECT | CONNACK, 0,
  0x23, 2, PUBLISH, 0,
  0x24, 1, CONNACK, 0,
  0x25, 1, CONNACK, 0,
  0x26, 7, ALL_WITH_PROPERTIES, ALL_WITH_PROPERTIES,
  0x27, 3, CONNECT | CONNACK, 0,
  0x28, 1, CONNACK, 0,
  0x29, 1, CONNACK, 0,
  0x2a, 1, CONNACK, 0,
];
const KEYS = "payloadFormatIndicator messageExpiryInterval contentType responseTopic correlationData subscriptionIdentifiers sessionExpiryInterval assignedClientIdentifier serverKeepAlive authenticationMethod authenticationData requestProblemInformation willDelayInterval requestResponseInformation responseInformation serverReference reasonString receiveMaximum topicAliasMaximum topicAlias maximumQoS retainAvailable userProperties maximumPacketSize wildcardSubscriptionAvailable subscriptionIdentifiersAvailable sharedSubscriptionAvailable".split(" ");

export const PROPERTIES: readonly PropertyDefinition[] = [];
for (let i = 0; i < KEYS.length; i++) {
  const t = i * 4;
  (PROPERTIES as PropertyDefinition[]).push({ id: TABLE[t], key: KEYS[i] as keyof MqttProperties, type: TABLE[t + 1], packets: TABLE[t + 2], repeatable: TABLE[t + 3] });
}

/** Identifier -> definition (undefined for identifiers Table 2-4 does not define). */
export const PROPERTY_BY_ID: (PropertyDefinition | undefined)[] = [];
for (let i = 0; i < 0x2b; i++) PROPERTY_BY_ID[i] = undefined;
for (let i = 0; i < PROPERTIES.length; i++) PROPERTY_BY_ID[PROPERTIES[i].id] = PROPERTIES[i];

/** Values that must be 0 or 1, with the section that says so. */
const BOOLEAN_BYTES: { [key: string]: string } = {
  payloadFormatIndicator: "§3.3.2.3.2",
  requestProblemInformation: "§3.1.2.11.7",
  requestResponseInformation: "§3.1.2.11.6",
  maximumQoS: "§3.2.2.3.4",
  retainAvailable: "§3.2.2.3.5",
  wildcardSubscriptionAvailable: "§3.2.2.3.11",
  subscriptionIdentifiersAvailable: "§3.2.2.3.12",
  sharedSubscriptionAvailable: "§3.2.2.3.13",
};

/**
 * Checks the rules on values that Table 2-4's types alone do not express. `error` builds
 * the error (a Protocol Error when decoding; the encoders use the same codes).
 */
function checkValues(p: MqttProperties, type: number): MqttCodecError | undefined {
  for (const key in BOOLEAN_BYTES) {
    const v = (p as { [k: string]: unknown })[key];
    if (v !== undefined && v !== 0 && v !== 1) {
      return protocolError("property " + key + " must be 0 or 1, got " + String(v), BOOLEAN_BYTES[key]);
    }
  }
  if (p.receiveMaximum === 0) return protocolError("Receive Maximum of 0", "§3.1.2.11.3");
  if (p.maximumPacketSize === 0) return protocolError("Maximum Packet Size of 0", "§3.1.2.11.4");
  if (p.topicAlias === 0) {
    // §3.3.4: "A Topic Alias value of 0 ... is a Protocol Error", DISCONNECT 0x94.
    return new MqttCodecError(0x94, "Topic Alias of 0", "[MQTT-3.3.2-8]");
  }
  const ids = p.subscriptionIdentifiers;
  if (ids !== undefined) {
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] === 0) return protocolError("Subscription Identifier of 0", "§3.3.2.3.8");
    }
  }
  if (p.authenticationData !== undefined && p.authenticationMethod === undefined) {
    return protocolError("Authentication Data without Authentication Method", "§3.1.2.11.10");
  }
  const rt = p.responseTopic;
  if (rt !== undefined) {
    if (rt.length === 0) return protocolError("empty Response Topic", "[MQTT-4.7.3-1]");
    if (rt.indexOf("+") >= 0 || rt.indexOf("#") >= 0) {
      return protocolError("Response Topic contains a wildcard", "[MQTT-3.3.2-14]");
    }
  }
  if (type === PacketType.SUBSCRIBE && ids !== undefined && ids.length > 1) {
    return protocolError("more than one Subscription Identifier in SUBSCRIBE", "§3.8.2.1.2");
  }
  return undefined;
}

/**
 * Reads a Property Length and the properties after it (§2.2.2) from `r`, for packet type
 * `type` (0 = Will Properties). Returns undefined when the Property Length is 0.
 * Throws MqttCodecError: 0x81 for an unknown identifier, one not allowed in this packet,
 * or a length past the packet; 0x82 for a repeated property or a forbidden value.
 */
export function readProperties(r: Reader, type: number): MqttProperties | undefined {
  const length = r.varint();
  if (length === 0) return undefined;
  const end = r.pos + length;
  if (end > r.end) {
    throw malformed("Property Length " + length + " runs past the Remaining Length", "§2.2.2.1");
  }
  const outerEnd = r.end;
  r.end = end;
  const bit = 1 << type;
  const p: MqttProperties = {};
  const bag = p as { [k: string]: unknown };
  while (r.pos < end) {
    const id = r.varint();
    const d = id < PROPERTY_BY_ID.length ? PROPERTY_BY_ID[id] : undefined;
    if (d === undefined) {
      throw malformed("unknown property identifier 0x" + id.toString(16) + " in " + packetName(type), "§2.2.2.2");
    }
    if ((d.packets & bit) === 0) {
      throw malformed("property " + d.key + " is not allowed in " + packetName(type), "§2.2.2.2");
    }
    let value: unknown;
    switch (d.type) {
      case T.Byte:
        value = r.u8();
        break;
      case T.TwoByteInteger:
        value = r.u16();
        break;
      case T.FourByteInteger:
        value = r.u32();
        break;
      case T.VariableByteInteger:
        value = r.varint();
        break;
      case T.Utf8String:
        value = r.string();
        break;
      case T.BinaryData:
        value = r.binary();
        break;
      default: {
        // UTF-8 String Pair [MQTT-1.5.7-1]
        const name = r.string();
        value = [name, r.string()];
      }
    }
    const key = d.key;
    if (d.type === T.Utf8StringPair || d.type === T.VariableByteInteger) {
      // Stored as arrays (userProperties, subscriptionIdentifiers).
      const list = bag[key] as unknown[] | undefined;
      if (list === undefined) {
        bag[key] = [value];
      } else if ((d.repeatable & bit) !== 0) {
        list.push(value);
      } else {
        throw protocolError(d.key + " included more than once in " + packetName(type), "§2.2.2.2");
      }
    } else if (bag[key] !== undefined) {
      throw protocolError(d.key + " included more than once in " + packetName(type), "§2.2.2.2");
    } else {
      bag[key] = value;
    }
  }
  r.end = outerEnd;
  const bad = checkValues(p, type);
  if (bad !== undefined) throw bad;
  return p;
}

function badValue(d: PropertyDefinition, v: unknown): MqttCodecError {
  return malformed("property " + d.key + " has a value not of type " + d.key + ": " + String(v), "§2.2.2.2");
}

function isUint(v: unknown, max: number): boolean {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;
}

function valueLength(d: PropertyDefinition, v: unknown): number {
  switch (d.type) {
    case T.Byte:
      if (!isUint(v, 0xff)) throw badValue(d, v);
      return 2;
    case T.TwoByteInteger:
      if (!isUint(v, 0xffff)) throw badValue(d, v);
      return 3;
    case T.FourByteInteger:
      if (!isUint(v, 0xffffffff)) throw badValue(d, v);
      return 5;
    case T.VariableByteInteger:
      if (!isUint(v, 268435455)) throw badValue(d, v);
      return 1 + varintLength(v as number);
    case T.Utf8String:
      return 3 + mqttStringLength(v as string, d.key);
    case T.BinaryData:
      if (!(v instanceof Uint8Array) || v.length > 0xffff) throw badValue(d, v);
      return 3 + v.length;
    default: {
      const pair = v as [string, string];
      if (!Array.isArray(pair) || pair.length !== 2) throw badValue(d, v);
      return 5 + mqttStringLength(pair[0], d.key) + mqttStringLength(pair[1], d.key);
    }
  }
}

/**
 * Byte length of the properties (without the Property Length prefix) that `p` gives for
 * packet type `type` (0 = Will Properties). Validates: a property not allowed in this
 * packet, a wrong value type, a repeated non-repeatable one, or a forbidden value throws
 * MqttCodecError, so the encoders never write a packet the peer must reject.
 * Keys of `p` that are not Table 2-4 names are ignored.
 */
export function propertiesLength(p: MqttProperties | undefined, type: number): number {
  if (p === undefined) return 0;
  const bag = p as { [k: string]: unknown };
  const bit = 1 << type;
  let n = 0;
  for (let i = 0; i < PROPERTIES.length; i++) {
    const d = PROPERTIES[i];
    const v = bag[d.key];
    if (v === undefined) continue;
    if ((d.packets & bit) === 0) {
      throw malformed("property " + d.key + " is not allowed in " + packetName(type), "§2.2.2.2");
    }
    if (d.type === T.Utf8StringPair || d.type === T.VariableByteInteger) {
      if (!Array.isArray(v)) throw badValue(d, v);
      if (v.length > 1 && (d.repeatable & bit) === 0) {
        throw protocolError(d.key + " more than once in " + packetName(type), "§2.2.2.2");
      }
      for (let k = 0; k < v.length; k++) n += valueLength(d, v[k]);
    } else {
      n += valueLength(d, v);
    }
  }
  const bad = checkValues(p, type);
  if (bad !== undefined) throw bad;
  return n;
}

function writeValue(out: Uint8Array, o: number, d: PropertyDefinition, v: unknown): number {
  out[o++] = d.id;
  switch (d.type) {
    case T.Byte:
      out[o] = v as number;
      return o + 1;
    case T.TwoByteInteger:
      out[o] = (v as number) >> 8;
      out[o + 1] = (v as number) & 0xff;
      return o + 2;
    case T.FourByteInteger: {
      const x = v as number;
      out[o] = x >>> 24;
      out[o + 1] = (x >>> 16) & 0xff;
      out[o + 2] = (x >>> 8) & 0xff;
      out[o + 3] = x & 0xff;
      return o + 4;
    }
    case T.VariableByteInteger:
      return writeVarint(out, o, v as number);
    case T.Utf8String:
      return writeMqttString(out, o, v as string, mqttStringLength(v as string, d.key));
    case T.BinaryData:
      return writeBinary(out, o, v as Uint8Array);
    default: {
      const pair = v as [string, string];
      o = writeMqttString(out, o, pair[0], mqttStringLength(pair[0], d.key));
      return writeMqttString(out, o, pair[1], mqttStringLength(pair[1], d.key));
    }
  }
}

/**
 * Writes the Property Length `length` (from propertiesLength) and the properties of `p`,
 * in identifier order, at `out[o]`; returns the offset after them.
 */
export function writeProperties(out: Uint8Array, o: number, p: MqttProperties | undefined, length: number): number {
  o = writeVarint(out, o, length);
  if (p === undefined || length === 0) return o;
  const bag = p as { [k: string]: unknown };
  for (let i = 0; i < PROPERTIES.length; i++) {
    const d = PROPERTIES[i];
    const v = bag[d.key];
    if (v === undefined) continue;
    if (d.type === T.Utf8StringPair || d.type === T.VariableByteInteger) {
      const list = v as unknown[];
      for (let k = 0; k < list.length; k++) o = writeValue(out, o, d, list[k]);
    } else {
      o = writeValue(out, o, d, v);
    }
  }
  return o;
}

export { packetName };

/**
 * The 5.0 properties codec, handed explicitly to the encoders, the decoder and the session
 * by whoever speaks 5.0 (a 3.1.1-only build never imports this module).
 */
export const properties5: PropertiesCodec = Object.freeze({
  length: propertiesLength,
  write: writeProperties,
  read: readProperties,
  reasonAllowed: isReasonCodeAllowed,
});
