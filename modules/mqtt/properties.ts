/*
 * MQTT 5.0 properties (§2.2.2): the Table 2-4 catalogue (identifier, data type, which
 * packets may carry it), decoding with the Malformed / Protocol Error rules, and encoding.
 *
 * Data over code (XS bytecode): Table 2-4 is one string, read once when the module loads;
 * one reader (readProperties) and one writer (walk: it sizes and validates without an output
 * array, writes with one) serve every property by its data type, and the value rules that the
 * type alone does not express are the table's last column.
 */
import { MqttCodecError, malformed, protocolError } from "./errors";
import { PacketType, packetName } from "./packets";
import type { PropertiesCodec } from "./packets";
import { mqttStringLength, varintLength, writeBinary, writeMqttString, writeVarint } from "./wire";
import type { Reader } from "./wire";

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
  /**
   * The statement of its value rule, when it has one: a Byte property must be 0 or 1; an
   * integer one must not be 0 (Topic Alias 0 is 0x94, the others 0x82).
   */
  rule: string | undefined;
}

/*
 * MQTT 5.0 §2.2.2.2 Table 2-4, in identifier order, one row per property:
 *   identifier (hex), data type (PropertyType), key, the packets that may carry it (one hex
 *   digit per packet type: 1 CONNECT ... f AUTH; 0 the Will Properties), [the value rule's statement]
 * User Property may repeat wherever it may appear, Subscription Identifier only in PUBLISH
 * (§3.3.2.3.8, §3.8.2.1.2).
 */
const TABLE =
  "01 1 payloadFormatIndicator 03 §3.3.2.3.2," +
  "02 3 messageExpiryInterval 03," +
  "03 5 contentType 03," +
  "08 5 responseTopic 03," +
  "09 6 correlationData 03," +
  "0b 4 subscriptionIdentifiers 38 §3.3.2.3.8," +
  "11 3 sessionExpiryInterval 12e," +
  "12 5 assignedClientIdentifier 2," +
  "13 2 serverKeepAlive 2," +
  "15 5 authenticationMethod 12f," +
  "16 6 authenticationData 12f," +
  "17 1 requestProblemInformation 1 §3.1.2.11.7," +
  "18 3 willDelayInterval 0," +
  "19 1 requestResponseInformation 1 §3.1.2.11.6," +
  "1a 5 responseInformation 2," +
  "1c 5 serverReference 2e," +
  "1f 5 reasonString 245679bef," +
  "21 2 receiveMaximum 12 §3.1.2.11.3," +
  "22 2 topicAliasMaximum 12," +
  "23 2 topicAlias 3 [MQTT-3.3.2-8]," + // §3.3.4: Topic Alias 0 is DISCONNECT 0x94
  "24 1 maximumQoS 2 §3.2.2.3.4," +
  "25 1 retainAvailable 2 §3.2.2.3.5," +
  "26 7 userProperties 0123456789abef," +
  "27 3 maximumPacketSize 12 §3.1.2.11.4," +
  "28 1 wildcardSubscriptionAvailable 2 §3.2.2.3.11," +
  "29 1 subscriptionIdentifiersAvailable 2 §3.2.2.3.12," +
  "2a 1 sharedSubscriptionAvailable 2 §3.2.2.3.13";

export const PROPERTIES: readonly PropertyDefinition[] = TABLE.split(",").map((row) => {
  const f = row.split(" ");
  const type = Number(f[1]);
  let packets = 0;
  for (let i = 0; i < f[3].length; i++) packets |= 1 << parseInt(f[3][i], 16);
  const id = parseInt(f[0], 16);
  return { id, key: f[2] as keyof MqttProperties, type, packets, repeatable: type === 7 ? packets : id === 0x0b ? 1 << PacketType.PUBLISH : 0, rule: f[4] };
});

/** Identifier -> definition (undefined for identifiers Table 2-4 does not define). */
export const PROPERTY_BY_ID: (PropertyDefinition | undefined)[] = [];
for (let i = 0; i < 0x2b; i++) PROPERTY_BY_ID[i] = undefined;
for (let i = 0; i < PROPERTIES.length; i++) PROPERTY_BY_ID[PROPERTIES[i].id] = PROPERTIES[i];

/** The error of a value that breaks its property's rule (PropertyDefinition.rule), if it does. */
function ruleBroken(d: PropertyDefinition, v: number): MqttCodecError | undefined {
  if (d.rule !== undefined && (d.type === PropertyType.Byte ? v > 1 : v === 0)) {
    // "may not be": the value itself breaks the rule (a Byte over 1, anything else 0); d.rule names it
    return new MqttCodecError(d.id === 0x23 ? 0x94 : 0x82, "property " + d.key + " may not be " + v, d.rule);
  }
  return undefined;
}

/** The rules across properties: Authentication Data needs its Method; a Response Topic is a Topic Name. */
function crossRules(p: MqttProperties): MqttCodecError | undefined {
  if (p.authenticationData !== undefined && p.authenticationMethod === undefined) {
    return protocolError("Authentication Data without Authentication Method", "§3.1.2.11.10");
  }
  const rt = p.responseTopic;
  if (rt === "") return protocolError("empty Response Topic", "[MQTT-4.7.3-1]");
  if (rt !== undefined && (rt.indexOf("+") >= 0 || rt.indexOf("#") >= 0)) {
    return protocolError("Response Topic contains a wildcard", "[MQTT-3.3.2-14]");
  }
  return undefined;
}

function notAllowed(d: PropertyDefinition, type: number): MqttCodecError {
  return malformed("property " + d.key + " is not allowed in " + packetName(type), "§2.2.2.2");
}

/**
 * Reads a Property Length and the properties after it (§2.2.2) from `r`, for packet type
 * `type` (0 = Will Properties). Returns undefined when the Property Length is 0.
 * Throws MqttCodecError: 0x81 for an unknown identifier, one not allowed in this packet,
 * or a length past the packet; 0x82 for a repeated property or a forbidden value.
 */
function readProperties(r: Reader, type: number): MqttProperties | undefined {
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
    if ((d.packets & bit) === 0) throw notAllowed(d, type);
    const t = d.type;
    // By data type: Byte, Two and Four Byte Integer, Variable Byte Integer, UTF-8 string,
    // Binary Data, UTF-8 String Pair [MQTT-1.5.7-1].
    const value = t === 1 ? r.u8() : t === 2 ? r.u16() : t === 3 ? r.u32() : t === 4 ? r.varint() : t === 5 ? r.string() : t === 6 ? r.binary() : [r.string(), r.string()];
    if (t < 5) {
      const bad = ruleBroken(d, value as number);
      if (bad !== undefined) throw bad;
    }
    const key = d.key;
    const list = bag[key] as unknown[] | undefined;
    if (list === undefined) {
      // userProperties and subscriptionIdentifiers are arrays.
      bag[key] = t === 7 || t === 4 ? [value] : value;
    } else if ((d.repeatable & bit) === 0) {
      throw protocolError(key + " included more than once in " + packetName(type), "§2.2.2.2");
    } else list.push(value);
  }
  r.end = outerEnd;
  const bad = crossRules(p);
  if (bad !== undefined) throw bad;
  return p;
}

/**
 * The one writer. Without `out`: validates the properties `p` gives for packet type `type`
 * (0 = Will Properties) and returns `o` plus the bytes they take (Property Length excluded):
 * a property not allowed in this packet, a wrong value type, a repeated non-repeatable one or
 * a forbidden value throws MqttCodecError, so the encoders never write a packet the peer must
 * reject. With `out`: writes them, in identifier order, from `o` (validated before) and
 * returns the offset after them. Keys of `p` that are not Table 2-4 names are ignored.
 */
function walk(p: MqttProperties, type: number, out: Uint8Array | undefined, o: number): number {
  const bag = p as { [k: string]: unknown };
  const bit = 1 << type;
  for (let i = 0; i < PROPERTIES.length; i++) {
    const d = PROPERTIES[i];
    const all = bag[d.key];
    if (all === undefined) continue;
    const t = d.type;
    const many = t === 4 || t === 7; // subscriptionIdentifiers, userProperties: arrays
    const n = many ? (all as unknown[]).length : 1;
    if (out === undefined) {
      if ((d.packets & bit) === 0) throw notAllowed(d, type);
      if (many && !Array.isArray(all)) throw badValue(d, all);
      if (n > 1 && (d.repeatable & bit) === 0) throw protocolError(d.key + " more than once in " + packetName(type), "§2.2.2.2");
    }
    for (let k = 0; k < n; k++) {
      const v = many ? (all as unknown[])[k] : all;
      if (out === undefined) {
        if (t < 5) {
          // Byte, Two Byte, Four Byte Integer (1, 2, 4 bytes), Variable Byte Integer.
          const x = v as number;
          if (!(typeof x === "number" && Number.isInteger(x) && x >= 0 && x <= (t === 4 ? 268435455 : 2 ** (8 << (t - 1)) - 1))) throw badValue(d, v);
          const bad = ruleBroken(d, x);
          if (bad !== undefined) throw bad;
          o += 1 + (t === 4 ? varintLength(x) : 1 << (t - 1));
        } else if (t === 6) {
          if (!(v instanceof Uint8Array) || v.length > 0xffff) throw badValue(d, v);
          o += 3 + v.length;
        } else if (t === 5) o += 3 + mqttStringLength(v as string, d.key);
        else {
          const pair = v as [string, string];
          if (!Array.isArray(pair) || pair.length !== 2) throw badValue(d, v);
          o += 5 + mqttStringLength(pair[0], d.key) + mqttStringLength(pair[1], d.key);
        }
        continue;
      }
      out[o++] = d.id;
      if (t < 4) for (let s = (8 << (t - 1)) - 8; s >= 0; s -= 8) out[o++] = ((v as number) >>> s) & 0xff;
      else if (t === 4) o = writeVarint(out, o, v as number);
      else if (t === 6) o = writeBinary(out, o, v as Uint8Array);
      else {
        const first = t === 7 ? (v as [string, string])[0] : (v as string);
        o = writeMqttString(out, o, first, mqttStringLength(first, d.key));
        if (t === 7) o = writeMqttString(out, o, (v as [string, string])[1], mqttStringLength((v as [string, string])[1], d.key));
      }
    }
  }
  if (out === undefined) {
    const bad = crossRules(p);
    if (bad !== undefined) throw bad;
  }
  return o;
}

function badValue(d: PropertyDefinition, v: unknown): MqttCodecError {
  return malformed("property " + d.key + " has a value not of its type: " + String(v), "§2.2.2.2");
}

// MQTT Reason Codes (MQTT 5.0 §2.4, Table 2-6): which packets may carry which code. Here, not
// in a module of their own (a module costs its imports, exports and symbol table): the 5.0
// codec is their only user. Their names are in ./reason-names, a module only diagnostics and
// apps import, so the firmware does not carry them.

/*
 * Table 2-6 as data (a string costs XS bytecode ~1 B per character, a numeric array ~11 B per
 * element): one row per reason code, its value in hex and its "Packets" column as one hex
 * digit per packet type (2 CONNACK, 4 PUBACK, 5 PUBREC, 6 PUBREL, 7 PUBCOMP, 9 SUBACK,
 * b UNSUBACK, e DISCONNECT, f AUTH).
 */
const REASON_TABLE =
  "00 245679bef," + // Success / Normal disconnection / Granted QoS 0
  "01 9,02 9,04 e,10 45,11 b,18 f,19 f," +
  "80 2459be,81 2e,82 2e,83 2459be,84 2,85 2,86 2,87 2459be,88 2,89 2e,8a 2,8b e,8c 2e,8d e,8e e,8f 9be," +
  "90 245e,91 459b,92 67,93 e,94 e,95 2e,96 e,97 2459e,98 e,99 245e,9a 2e,9b 2e,9c 2e,9d 2e,9e 9e,9f 2e," +
  "a0 e,a1 9e,a2 9e";

/** Reason code -> bit mask of the packet types (1 << type) that may carry it; no entry: not a reason code. */
const REASON_CODE_PACKETS: number[] = [];
const REASON_ROWS = REASON_TABLE.split(",");
for (let r = 0; r < REASON_ROWS.length; r++) {
  const row = REASON_ROWS[r];
  let packets = 0;
  for (let i = 3; i < row.length; i++) packets |= 1 << parseInt(row[i], 16);
  REASON_CODE_PACKETS[parseInt(row, 16)] = packets;
}

/**
 * True when `code` is one of the MQTT 5.0 reason codes that packet type `type` may carry
 * (Table 2-6; [MQTT-3.2.2-8], [MQTT-3.4.2-1], [MQTT-3.5.2-1], [MQTT-3.6.2-1], [MQTT-3.7.2-1],
 * [MQTT-3.9.3-2], [MQTT-3.11.3-2], [MQTT-3.14.2-1], [MQTT-3.15.2-1]).
 */
export function isReasonCodeAllowed(type: number, code: number): boolean {
  return (REASON_CODE_PACKETS[code] & (1 << type)) !== 0;
}

/**
 * The 5.0 properties codec, handed explicitly to the encoders, the decoder and the session
 * by whoever speaks 5.0 (a 3.1.1-only build never imports this module).
 *   length(p, type): the bytes of the properties, validated (Property Length excluded);
 *   write(out, o, p, length): the Property Length `length` and the properties, in identifier order.
 */
export const properties5: PropertiesCodec = Object.freeze({
  length: (p: MqttProperties | undefined, type: number): number => (p === undefined ? 0 : walk(p, type, undefined, 0)),
  write: (out: Uint8Array, o: number, p: MqttProperties | undefined, length: number): number => {
    o = writeVarint(out, o, length);
    return p === undefined || length === 0 ? o : walk(p, 0, out, o);
  },
  read: readProperties,
  reasonAllowed: isReasonCodeAllowed,
});
