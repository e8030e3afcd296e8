// @xs
/*
 * MQTT 5.0 properties (§2.2.2, Table 2-4), reason codes (§2.4, Table 2-6) and the encoders'
 * refusal of packets the spec forbids.
 */
import {
  ConnackReturnCode,
  MqttCodecError,
  PROPERTIES,
  PROPERTY_BY_ID,
  PropertyType,
  ReasonCode,
  WILL_PROPERTIES,
  encodeConnect,
  encodePacket,
  encodePacketInto,
  encodePublish,
  isReasonCodeAllowed,
  reasonCodeName,
} from "../support/mqtt-codec";
import type { MqttPacket, MqttProperties, MqttVersion } from "../support/mqtt-codec";
import { decodeAll } from "./helpers";

describe("Table 2-4 property catalogue", () => {
  it("has the 27 properties with their identifiers and types", () => {
    const rows = PROPERTIES.map((p) => [p.id, p.type]);
    expect(rows).toEqual([
      [0x01, PropertyType.Byte], [0x02, PropertyType.FourByteInteger], [0x03, PropertyType.Utf8String],
      [0x08, PropertyType.Utf8String], [0x09, PropertyType.BinaryData], [0x0b, PropertyType.VariableByteInteger],
      [0x11, PropertyType.FourByteInteger], [0x12, PropertyType.Utf8String], [0x13, PropertyType.TwoByteInteger],
      [0x15, PropertyType.Utf8String], [0x16, PropertyType.BinaryData], [0x17, PropertyType.Byte],
      [0x18, PropertyType.FourByteInteger], [0x19, PropertyType.Byte], [0x1a, PropertyType.Utf8String],
      [0x1c, PropertyType.Utf8String], [0x1f, PropertyType.Utf8String], [0x21, PropertyType.TwoByteInteger],
      [0x22, PropertyType.TwoByteInteger], [0x23, PropertyType.TwoByteInteger], [0x24, PropertyType.Byte],
      [0x25, PropertyType.Byte], [0x26, PropertyType.Utf8StringPair], [0x27, PropertyType.FourByteInteger],
      [0x28, PropertyType.Byte], [0x29, PropertyType.Byte], [0x2a, PropertyType.Byte],
    ]);
    for (const p of PROPERTIES) expect(PROPERTY_BY_ID[p.id]).toBe(p);
    expect(PROPERTY_BY_ID[0x04]).toBeUndefined();
  });

  it("packet sets follow Table 2-4 (samples)", () => {
    const bit = (t: number) => 1 << t;
    expect(PROPERTY_BY_ID[0x18]!.packets).toBe(WILL_PROPERTIES); // Will Delay Interval: Will only
    expect(PROPERTY_BY_ID[0x23]!.packets).toBe(bit(3)); // Topic Alias: PUBLISH
    expect(PROPERTY_BY_ID[0x11]!.packets).toBe(bit(1) | bit(2) | bit(14)); // Session Expiry
    expect(PROPERTY_BY_ID[0x0b]!.packets).toBe(bit(3) | bit(8)); // Subscription Identifier
    expect(PROPERTY_BY_ID[0x0b]!.repeatable).toBe(bit(3)); // repeats only in PUBLISH
    expect(PROPERTY_BY_ID[0x26]!.packets & bit(12)).toBe(0); // no User Property in PINGREQ
  });

  it("only User Property and (in PUBLISH) Subscription Identifier may repeat", () => {
    const repeatable = PROPERTIES.filter((p) => p.repeatable !== 0).map((p) => p.id);
    expect(repeatable).toEqual([0x0b, 0x26]);
  });
});

describe("every property round-trips in a packet that may carry it", () => {
  const values: { [k: string]: unknown } = {
    payloadFormatIndicator: 1, messageExpiryInterval: 0xfffffffe, contentType: "c/t", responseTopic: "r",
    correlationData: new Uint8Array([1]), subscriptionIdentifiers: [268435455], sessionExpiryInterval: 7,
    assignedClientIdentifier: "id", serverKeepAlive: 65535, authenticationMethod: "m", authenticationData: new Uint8Array([2]),
    requestProblemInformation: 0, willDelayInterval: 9, requestResponseInformation: 1, responseInformation: "ri",
    serverReference: "s", reasonString: "why", receiveMaximum: 65535, topicAliasMaximum: 0, topicAlias: 1, maximumQoS: 0,
    retainAvailable: 1, userProperties: [["n", "v"]], maximumPacketSize: 0xffffffff, wildcardSubscriptionAvailable: 0,
    subscriptionIdentifiersAvailable: 0, sharedSubscriptionAvailable: 1,
  };
  const carrier = (key: string, value: unknown): MqttPacket => {
    const props = { [key]: value } as MqttProperties;
    if (key === "authenticationData") props.authenticationMethod = "m";
    const d = PROPERTIES.find((p) => p.key === key)!;
    if (d.packets & (1 << 3)) return { type: 3, topic: "t", payload: new Uint8Array(0), qos: 0, retain: false, dup: false, packetId: 0, properties: props };
    if (d.packets & (1 << 2)) return { type: 2, sessionPresent: false, reasonCode: 0, properties: props };
    if (d.packets & (1 << 1)) return { type: 1, protocolVersion: 5, clean: true, keepAlive: 0, clientId: "c", properties: props };
    return { type: 1, protocolVersion: 5, clean: true, keepAlive: 0, clientId: "c", will: { topic: "w", payload: new Uint8Array(0), qos: 0, retain: false, properties: props } };
  };
  it.each(PROPERTIES.map((p) => [`0x${p.id.toString(16)} ${p.key}`, p.key] as const))("%s", (_name, key) => {
    const p = carrier(key, values[key]);
    const { packets, error } = decodeAll(encodePacket(p, 5), 5);
    expect(error).toBeUndefined();
    expect(packets[0]).toEqual(p);
  });
});

describe("reason codes (§2.4 Table 2-6)", () => {
  it("named constants carry the table's values", () => {
    expect(ReasonCode.MalformedPacket).toBe(0x81);
    expect(ReasonCode.ProtocolError).toBe(0x82);
    expect(ReasonCode.PacketTooLarge).toBe(0x95);
    expect(ReasonCode.TopicAliasInvalid).toBe(0x94);
    expect(ReasonCode.WildcardSubscriptionsNotSupported).toBe(0xa2);
    expect(ConnackReturnCode.NotAuthorized).toBe(5);
    expect(reasonCodeName(0x8e)).toBe("SessionTakenOver");
    expect(reasonCodeName(0x05)).toBe("0x05");
  });

  it("knows which packets may carry which code", () => {
    expect(isReasonCodeAllowed(4, 0x10)).toBe(true); // PUBACK No matching subscribers
    expect(isReasonCodeAllowed(6, 0x10)).toBe(false); // not in PUBREL
    expect(isReasonCodeAllowed(6, 0x92)).toBe(true);
    expect(isReasonCodeAllowed(14, 0x04)).toBe(true);
    expect(isReasonCodeAllowed(2, 0x04)).toBe(false);
    expect(isReasonCodeAllowed(15, 0x18)).toBe(true);
    expect(isReasonCodeAllowed(9, 0x02)).toBe(true);
    expect(isReasonCodeAllowed(11, 0x02)).toBe(false);
    expect(isReasonCodeAllowed(4, 256)).toBe(false);
  });
});

describe("encoders refuse forbidden packets and write nothing", () => {
  const pub = (over: object): MqttPacket => ({ type: 3, topic: "t", payload: new Uint8Array(1), qos: 1, retain: false, dup: false, packetId: 1, ...over }) as MqttPacket;
  const cases: [string, MqttVersion, MqttPacket, number, string][] = [
    ["PUBLISH QoS 3", 5, pub({ qos: 3 }), 0x81, "[MQTT-3.3.1-4]"],
    ["PUBLISH DUP with QoS 0", 5, pub({ qos: 0, dup: true }), 0x82, "[MQTT-3.3.1-2]"],
    ["PUBLISH without Packet Identifier at QoS 1", 5, pub({ packetId: undefined }), 0x82, "[MQTT-2.2.1-3]"],
    ["PUBLISH Packet Identifier 0 (3.1.1)", 4, pub({ packetId: 0 }), 0x82, "[MQTT-2.3.1-1]"],
    ["PUBLISH Packet Identifier 65536", 5, pub({ packetId: 65536 }), 0x82, "[MQTT-2.2.1-3]"],
    ["PUBLISH wildcard topic", 5, pub({ topic: "a/+" }), 0x81, "[MQTT-4.7.0-1]"],
    ["PUBLISH empty topic without alias", 5, pub({ topic: "" }), 0x81, "[MQTT-4.7.3-1]"],
    ["PUBLISH topic with U+0000", 4, pub({ topic: "a\u0000" }), 0x81, "[MQTT-4.7.3-2]"],
    ["PUBLISH topic with a lone surrogate", 5, pub({ topic: "a\ud800" }), 0x81, "[MQTT-1.5.4-1]"],
    ["PUBLISH Topic Alias 0", 5, pub({ properties: { topicAlias: 0 } }), 0x94, "[MQTT-3.3.2-8]"],
    ["PUBLISH property not allowed (Receive Maximum)", 5, pub({ properties: { receiveMaximum: 1 } }), 0x81, "§2.2.2.2"],
    ["PUBLISH Payload Format Indicator 2", 5, pub({ properties: { payloadFormatIndicator: 2 } }), 0x82, "§3.3.2.3.2"],
    ["PUBLISH Message Expiry not an integer", 5, pub({ properties: { messageExpiryInterval: 1.5 } }), 0x81, "§2.2.2.2"],
    ["PUBLISH string payload", 5, pub({ payload: "text" }), 0x81, "§3.3.3"],
    ["SUBSCRIBE with no filter", 5, { type: 8, packetId: 1, subscriptions: [] }, 0x82, "[MQTT-3.8.3-2]"],
    ["SUBSCRIBE with no filter (3.1.1)", 4, { type: 8, packetId: 1, subscriptions: [] }, 0x82, "[MQTT-3.8.3-3]"],
    ["SUBSCRIBE bad filter", 5, { type: 8, packetId: 1, subscriptions: [{ topicFilter: "a#", qos: 0 }] }, 0x81, "[MQTT-4.7.1-1]"],
    ["SUBSCRIBE No Local on shared", 5, { type: 8, packetId: 1, subscriptions: [{ topicFilter: "$share/g/a", qos: 0, noLocal: true }] }, 0x82, "[MQTT-3.8.3-4]"],
    ["SUBSCRIBE two Subscription Identifiers", 5, { type: 8, packetId: 1, subscriptions: [{ topicFilter: "a", qos: 0 }], properties: { subscriptionIdentifiers: [1, 2] } }, 0x82, "§2.2.2.2"],
    ["UNSUBSCRIBE with no filter", 4, { type: 10, packetId: 1, topicFilters: [] }, 0x82, "[MQTT-3.10.3-2]"],
    ["CONNACK Session Present with failure", 5, { type: 2, sessionPresent: true, reasonCode: 0x80 }, 0x82, "[MQTT-3.2.2-6]"],
    ["CONNACK 3.1.1 return code 6", 4, { type: 2, sessionPresent: false, reasonCode: 6 }, 0x82, "§3.2.2.3"],
    ["PUBACK reason code 0x92", 5, { type: 4, packetId: 1, reasonCode: 0x92 }, 0x82, "§2.4"],
    ["PUBACK 3.1.1 with a reason code", 4, { type: 4, packetId: 1, reasonCode: 0x80 }, 0x81, "§3.4"],
    ["AUTH in 3.1.1", 4, { type: 15, reasonCode: 0 }, 0x81, "§2.2.1 (3.1.1 Table 2.1)"],
    ["AUTH Authentication Data without Method", 5, { type: 15, reasonCode: 0x18, properties: { authenticationData: new Uint8Array(1) } }, 0x82, "§3.1.2.11.10"],
    ["CONNECT 3.1.1 password without user name", 4, { type: 1, protocolVersion: 4, clean: true, keepAlive: 0, clientId: "c", password: "p" }, 0x81, "[MQTT-3.1.2-22]"],
    ["CONNECT 3.1.1 empty ClientId without CleanSession", 4, { type: 1, protocolVersion: 4, clean: false, keepAlive: 0, clientId: "" }, 0x85, "[MQTT-3.1.3-7]"],
    ["CONNECT Will QoS 3", 5, { type: 1, protocolVersion: 5, clean: true, keepAlive: 0, clientId: "c", will: { topic: "w", payload: new Uint8Array(0), qos: 3 as 0, retain: false } }, 0x81, "[MQTT-3.1.2-12]"],
    ["CONNECT wildcard Will Topic", 5, { type: 1, protocolVersion: 5, clean: true, keepAlive: 0, clientId: "c", will: { topic: "w/#", payload: new Uint8Array(0), qos: 0, retain: false } }, 0x81, "[MQTT-4.7.0-1]"],
    ["CONNECT Keep Alive 65536", 5, { type: 1, protocolVersion: 5, clean: true, keepAlive: 65536, clientId: "c" }, 0x81, "§1.5.2"],
    ["CONNECT Will Delay Interval outside the Will", 5, { type: 1, protocolVersion: 5, clean: true, keepAlive: 0, clientId: "c", properties: { willDelayInterval: 1 } }, 0x81, "§2.2.2.2"],
  ];

  it.each(cases)("%s", (_name, version, packet, code, statement) => {
    const out = new Uint8Array(64).fill(0xaa);
    let thrown: unknown;
    try {
      encodePacketInto(packet, version, out, 0);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(MqttCodecError);
    expect((thrown as MqttCodecError).reasonCode).toBe(code);
    expect((thrown as MqttCodecError).statement).toBe(statement);
    expect(out.every((b) => b === 0xaa)).toBe(true);
    expect(() => encodePacket(packet, version)).toThrow(MqttCodecError);
  });

  it("a value against its property's rule is named with the rule in the message", () => {
    const message = (packet: MqttPacket) => {
      try {
        encodePacket(packet, 5);
      } catch (e) {
        return (e as Error).message;
      }
      return "encoded";
    };
    expect(message(pub({ properties: { topicAlias: 0 } }))).toBe("property topicAlias may not be 0 [MQTT-3.3.2-8]");
    expect(message(pub({ properties: { payloadFormatIndicator: 2 } }))).toBe("property payloadFormatIndicator may not be 2 §3.3.2.3.2");
    expect(message({ type: 8, packetId: 1, subscriptions: [{ topicFilter: "a", qos: 0 }], properties: { subscriptionIdentifiers: [0] } } as MqttPacket)).toBe("property subscriptionIdentifiers may not be 0 §3.3.2.3.8");
  });

  it("a buffer too small gives RangeError and is left unchanged", () => {
    const out = new Uint8Array(5).fill(1);
    expect(() => encodePacketInto(pub({}), 5, out, 0)).toThrow(RangeError);
    expect(() => encodePacketInto(pub({}), 5, new Uint8Array(100), -1)).toThrow(RangeError);
    expect(Array.from(out)).toEqual([1, 1, 1, 1, 1]);
  });

  it("version other than 4 or 5 is refused with 0x84", () => {
    expect(() => encodePublish(pub({}) as never, 3 as MqttVersion)).toThrow(MqttCodecError);
    expect(() => encodeConnect({ type: 1, protocolVersion: 3 as MqttVersion, clean: true, keepAlive: 0, clientId: "c" })).toThrow(/protocol version/);
  });

  it("an invalid topic after a valid one is refused (nothing is cached between calls)", () => {
    encodePublish(pub({ topic: "ok/topic" }) as never, 5);
    expect(() => encodePublish(pub({ topic: "ok/topic/#" }) as never, 5)).toThrow(MqttCodecError);
    expect(encodePublish(pub({ topic: "ok/topic" }) as never, 5).length).toBe(16);
  });
});
