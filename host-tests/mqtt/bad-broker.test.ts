// @xs
/*
 * A broker that breaks the protocol (MQTT 5.0 §4.13, 3.1.1 §4.8): every case must end in
 * a DISCONNECT with the right reason code (5.0) or a plain close (3.1.1), one "protocol"
 * error event, no exception out of receive(), and an outbox exactly as it was.
 */
import { encodePacket } from "../support/mqtt-codec";
import type { DisconnectPacket, MqttPacket } from "../support/mqtt-codec";
import { makeRig } from "./session-harness";
import type { Rig } from "./session-harness";

interface Case {
  name: string;
  bytes: number[] | ((rig: Rig) => number[]);
  reasonCode: number;
  /** Runs before the bytes are served (to create a pending SUBSCRIBE, ...). */
  before?: (rig: Rig) => void;
}

function enc(p: MqttPacket, v: 4 | 5 = 5): number[] {
  return Array.from(encodePacket(p, v));
}

function publishWithPayload(n: number): number[] {
  return enc({ type: 3, topic: "big", payload: new Uint8Array(n), qos: 0, retain: false, dup: false });
}

const V5: Case[] = [
  { name: "reserved packet type 0 §2.1.2", bytes: [0x00, 0x00], reasonCode: 0x81 },
  { name: "a second CONNACK [MQTT-3.2.0-2]", bytes: [0x20, 0x03, 0x00, 0x00, 0x00], reasonCode: 0x82 },
  { name: "PUBACK for an unknown packet identifier", bytes: [0x40, 0x02, 0x00, 0x63], reasonCode: 0x82 },
  { name: "PUBREC for an unknown packet identifier", bytes: [0x50, 0x02, 0x00, 0x63], reasonCode: 0x82 },
  { name: "PUBCOMP for an unknown packet identifier", bytes: [0x70, 0x02, 0x00, 0x63], reasonCode: 0x82 },
  { name: "SUBACK for an unknown packet identifier", bytes: [0x90, 0x04, 0x00, 0x63, 0x00, 0x00], reasonCode: 0x82 },
  { name: "UNSUBACK for an unknown packet identifier", bytes: [0xb0, 0x04, 0x00, 0x63, 0x00, 0x00], reasonCode: 0x82 },
  { name: "PUBACK for a QoS 2 message", bytes: [0x40, 0x02, 0x00, 0x03], reasonCode: 0x82 },
  { name: "PUBCOMP before PUBREC", bytes: [0x70, 0x02, 0x00, 0x03], reasonCode: 0x82 },
  { name: "PUBREC for a QoS 1 message", bytes: [0x50, 0x02, 0x00, 0x01], reasonCode: 0x82 },
  { name: "PINGREQ from the server", bytes: [0xc0, 0x00], reasonCode: 0x82 },
  { name: "SUBSCRIBE from the server", bytes: [0x82, 0x07, 0x00, 0x05, 0x00, 0x00, 0x01, 0x61, 0x00], reasonCode: 0x82 },
  { name: "UNSUBSCRIBE from the server", bytes: [0xa2, 0x06, 0x00, 0x05, 0x00, 0x00, 0x01, 0x61], reasonCode: 0x82 },
  { name: "CONNECT from the server", bytes: enc({ type: 1, protocolVersion: 5, clean: true, keepAlive: 0, clientId: "x" }), reasonCode: 0x82 },
  { name: "Remaining Length over four bytes [MQTT-1.5.5-1]", bytes: [0x30, 0xff, 0xff, 0xff, 0xff, 0x7f], reasonCode: 0x81 },
  { name: "Remaining Length not in its shortest form", bytes: [0xd0, 0x80, 0x00], reasonCode: 0x81 },
  { name: "PINGRESP with a body §3.13", bytes: [0xd0, 0x01, 0x00], reasonCode: 0x81 },
  { name: "PUBLISH with QoS 3 [MQTT-3.3.1-4]", bytes: [0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01], reasonCode: 0x81 },
  { name: "PUBLISH QoS 0 with DUP [MQTT-3.3.1-2]", bytes: [0x38, 0x04, 0x00, 0x01, 0x61, 0x00], reasonCode: 0x82 },
  { name: "PUBACK with reserved flags [MQTT-2.1.3-1]", bytes: [0x42, 0x02, 0x00, 0x01], reasonCode: 0x81 },
  { name: "PUBREL with flags 0 [MQTT-3.6.1-1]", bytes: [0x60, 0x02, 0x00, 0x01], reasonCode: 0x81 },
  { name: "SUBACK with reserved flags", bytes: [0x91, 0x04, 0x00, 0x01, 0x00, 0x00], reasonCode: 0x81 },
  { name: "PINGRESP with reserved flags", bytes: [0xd1, 0x00], reasonCode: 0x81 },
  { name: "DISCONNECT with reserved flags", bytes: [0xe1, 0x00], reasonCode: 0x81 },
  { name: "'+' in a PUBLISH Topic Name [MQTT-3.3.2-2]", bytes: [0x30, 0x06, 0x00, 0x03, 0x61, 0x2f, 0x2b, 0x00], reasonCode: 0x81 },
  { name: "'#' in a PUBLISH Topic Name [MQTT-3.3.2-2]", bytes: [0x30, 0x06, 0x00, 0x03, 0x61, 0x2f, 0x23, 0x00], reasonCode: 0x81 },
  { name: "invalid UTF-8 in the Topic Name [MQTT-1.5.4-1]", bytes: [0x30, 0x05, 0x00, 0x02, 0xc3, 0x28, 0x00], reasonCode: 0x81 },
  { name: "U+0000 in the Topic Name [MQTT-1.5.4-2]", bytes: [0x30, 0x05, 0x00, 0x02, 0x61, 0x00, 0x00], reasonCode: 0x81 },
  { name: "a UTF-16 surrogate in the Topic Name [MQTT-1.5.4-1]", bytes: [0x30, 0x06, 0x00, 0x03, 0xed, 0xa0, 0x80, 0x00], reasonCode: 0x81 },
  { name: "overlong UTF-8 in the Topic Name", bytes: [0x30, 0x05, 0x00, 0x02, 0xc0, 0xaf, 0x00], reasonCode: 0x81 },
  { name: "QoS 1 PUBLISH with Packet Identifier 0 [MQTT-2.2.1-3]", bytes: [0x32, 0x06, 0x00, 0x01, 0x61, 0x00, 0x00, 0x00], reasonCode: 0x82 },
  { name: "unknown property identifier 0x7F §2.2.2.2", bytes: [0x30, 0x06, 0x00, 0x01, 0x61, 0x02, 0x7f, 0x00], reasonCode: 0x81 },
  { name: "duplicate Payload Format Indicator §3.3.2.3.2", bytes: [0x30, 0x08, 0x00, 0x01, 0x61, 0x04, 0x01, 0x00, 0x01, 0x00], reasonCode: 0x82 },
  { name: "Session Expiry Interval in a PUBLISH (identifier not valid for the packet: malformed, §2.2.2.2)", bytes: [0x30, 0x09, 0x00, 0x01, 0x61, 0x05, 0x11, 0x00, 0x00, 0x00, 0x01], reasonCode: 0x81 },
  { name: "Topic Alias 0 [MQTT-3.3.2-8]", bytes: [0x30, 0x07, 0x00, 0x01, 0x61, 0x03, 0x23, 0x00, 0x00], reasonCode: 0x94 },
  { name: "Topic Alias above our maximum [MQTT-3.1.2-26]", bytes: [0x30, 0x07, 0x00, 0x01, 0x61, 0x03, 0x23, 0x00, 0x03], reasonCode: 0x94 },
  { name: "empty Topic Name with an unmapped Topic Alias §3.3.4", bytes: [0x30, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01], reasonCode: 0x82 },
  { name: "empty Topic Name without a Topic Alias §3.3.2.1", bytes: [0x30, 0x03, 0x00, 0x00, 0x00], reasonCode: 0x82 },
  { name: "PUBLISH over our Maximum Packet Size [MQTT-3.1.2-24]", bytes: publishWithPayload(300), reasonCode: 0x95 },
  { name: "Remaining Length over Maximum Packet Size, before any body byte", bytes: [0x30, 0xac, 0x02], reasonCode: 0x95 },
  {
    name: "more QoS 2 PUBLISH than our Receive Maximum [MQTT-3.3.4-9]",
    bytes: [10, 11, 12].flatMap((id) => enc({ type: 3, topic: "q", payload: new Uint8Array(1), qos: 2, retain: false, dup: false, packetId: id })),
    reasonCode: 0x93,
  },
  {
    name: "SUBACK with fewer reason codes than filters [MQTT-3.8.4-6]",
    before: (rig) => rig.session.subscribe([{ topicFilter: "a", qos: 0 }, { topicFilter: "b", qos: 0 }]),
    bytes: [0x90, 0x04, 0x00, 0x04, 0x00, 0x00],
    reasonCode: 0x82,
  },
  {
    name: "UNSUBACK with more reason codes than filters",
    before: (rig) => rig.session.unsubscribe(["a"]),
    bytes: [0xb0, 0x05, 0x00, 0x04, 0x00, 0x00, 0x00],
    reasonCode: 0x82,
  },
  { name: "AUTH without enhanced authentication [MQTT-4.12.0-6]", bytes: [0xf0, 0x00], reasonCode: 0x82 },
  { name: "DISCONNECT carrying a Session Expiry Interval [MQTT-3.14.2-2]", bytes: [0xe0, 0x07, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x01], reasonCode: 0x82 },
  { name: "PUBACK with reason code 0x01 [MQTT-3.4.2-1]", bytes: [0x40, 0x03, 0x00, 0x01, 0x01], reasonCode: 0x82 },
  { name: "DISCONNECT with reason code 0x01 [MQTT-3.14.2-1]", bytes: [0xe0, 0x01, 0x01], reasonCode: 0x82 },
  { name: "invalid UTF-8 in Content Type", bytes: [0x30, 0x09, 0x00, 0x01, 0x61, 0x05, 0x03, 0x00, 0x02, 0xc3, 0x28], reasonCode: 0x81 },
  { name: "truncated PUBACK", bytes: [0x40, 0x01, 0x00], reasonCode: 0x81 },
  { name: "Property Length past the end of the packet", bytes: [0x30, 0x04, 0x00, 0x01, 0x61, 0x05], reasonCode: 0x81 },
  { name: "Subscription Identifier 0 §3.3.2.3.8", bytes: [0x30, 0x06, 0x00, 0x01, 0x61, 0x02, 0x0b, 0x00], reasonCode: 0x82 },
  { name: "Variable Byte Integer property over four bytes", bytes: [0x30, 0x0a, 0x00, 0x01, 0x61, 0x06, 0x0b, 0xff, 0xff, 0xff, 0xff, 0x7f], reasonCode: 0x81 },
  { name: "Topic Name length past the end", bytes: [0x30, 0x03, 0x00, 0x09, 0x61], reasonCode: 0x81 },
];

/** A connected 5.0 session with three messages in flight (ids 1, 2 QoS 1; id 3 QoS 2). */
function loaded(): Rig {
  const rig = makeRig({ maximumPacketSize: 256, topicAliasMaximum: 2, receiveMaximum: 2 });
  rig.connect();
  rig.session.publish("out/1", "one", { qos: 1 });
  rig.session.publish("out/2", "two", { qos: 1 });
  rig.session.publish("out/3", "three", { qos: 2 });
  rig.sent();
  return rig;
}

function outboxSnapshot(rig: Rig): string {
  return rig.outbox
    .list()
    .map((e) => e.packetId + ":" + (e.bytes ? 1 : 2) + ":" + e.topic + ":" + (e.bytes ? e.bytes.length : 0))
    .join(",") + "|" + rig.store
    .keys("mqtt")
    .filter((k) => k[0] === "m" || k[0] === "r" || k[0] === "x")
    .sort()
    .join(",");
}

describe("bad broker, MQTT 5.0: DISCONNECT with the reason code, error event, outbox intact", () => {
  test("there are at least 40 distinct cases", () => {
    expect(V5.length).toBeGreaterThanOrEqual(40);
    expect(new Set(V5.map((c) => c.name)).size).toBe(V5.length);
  });

  test.each(V5.map((c) => [c.name, c] as [string, Case]))("%s", (_name, c) => {
    const rig = loaded();
    if (c.before) {
      c.before(rig);
      rig.sent();
    }
    const before = outboxSnapshot(rig);
    const bytes = typeof c.bytes === "function" ? c.bytes(rig) : c.bytes;
    let thrown: unknown;
    try {
      rig.serveBytes(bytes);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeUndefined();
    const out = rig.sent();
    const last = out[out.length - 1] as DisconnectPacket;
    expect(last.type).toBe(14);
    expect(last.reasonCode).toBe(c.reasonCode);
    expect(rig.link.closed).toBe(true);
    expect(rig.session.connected).toBe(false);
    const protocol = rig.events.errors.filter((e) => e.code === "protocol");
    expect(protocol).toHaveLength(1);
    expect(protocol[0].reasonCode).toBe(c.reasonCode);
    expect(rig.events.closes).toHaveLength(1);
    expect(outboxSnapshot(rig)).toBe(before);
    // and the messages come back on the next connection [MQTT-4.4.0-1]
    rig.connect({ sessionPresent: true });
    const again = rig.sent().filter((p) => p.type === 3);
    expect(again.map((p) => (p as { packetId?: number }).packetId)).toEqual([1, 2, 3]);
  });
});

describe("bad broker before CONNACK (5.0)", () => {
  const cases: [string, number[], number, boolean][] = [
    ["PUBLISH before CONNACK [MQTT-3.2.0-1]", [0x30, 0x04, 0x00, 0x01, 0x61, 0x00], 0x82, false],
    ["SUBACK before CONNACK", [0x90, 0x04, 0x00, 0x01, 0x00, 0x00], 0x82, false],
    ["Session Present after a clean start [MQTT-3.2.2-4]", [0x20, 0x03, 0x01, 0x00, 0x00], 0x82, true],
    ["CONNACK with reserved flag bits [MQTT-3.2.2-1]", [0x20, 0x03, 0x02, 0x00, 0x00], 0x81, false],
    ["CONNACK with reason code 0x05 [MQTT-3.2.2-8]", [0x20, 0x03, 0x00, 0x05, 0x00], 0x82, false],
  ];
  test.each(cases)("%s", (_n, bytes, rc, clean) => {
    const rig = makeRig({ clean });
    rig.session.publish("keep/me", "x", { qos: 1 });
    rig.open();
    rig.serveBytes(bytes);
    const out = rig.sent();
    expect((out[out.length - 1] as DisconnectPacket).reasonCode).toBe(rc);
    expect(rig.link.closed).toBe(true);
    expect(rig.events.errors[0].code).toBe("protocol");
    expect(rig.outbox.count).toBe(1);
  });
});

const V311: [string, number[]][] = [
  ["reserved packet type 0", [0x00, 0x00]],
  ["a second CONNACK", [0x20, 0x02, 0x00, 0x00]],
  ["PUBACK for an unknown packet identifier", [0x40, 0x02, 0x00, 0x63]],
  ["PINGREQ from the server", [0xc0, 0x00]],
  ["DISCONNECT from the server", [0xe0, 0x00]],
  ["packet type 15 (AUTH is reserved in 3.1.1)", [0xf0, 0x00]],
  ["Remaining Length over four bytes", [0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]],
  ["PUBLISH with QoS 3", [0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01]],
  ["'+' in a PUBLISH Topic Name", [0x30, 0x05, 0x00, 0x03, 0x61, 0x2f, 0x2b]],
  ["invalid UTF-8 in the Topic Name", [0x30, 0x04, 0x00, 0x02, 0xc3, 0x28]],
  ["empty Topic Name [MQTT-4.7.3-1]", [0x30, 0x02, 0x00, 0x00]],
  ["PUBACK with reserved flags", [0x42, 0x02, 0x00, 0x01]],
  ["SUBACK for an unknown packet identifier", [0x90, 0x03, 0x00, 0x63, 0x00]],
  ["PUBLISH over our maximum packet size", [0x30, 0xac, 0x02]],
];

describe("bad broker, MQTT 3.1.1: the connection is closed (no DISCONNECT), error event, outbox intact", () => {
  test.each(V311)("%s", (_n, bytes) => {
    const rig = makeRig({ version: 4, maximumPacketSize: 256 });
    rig.connect();
    rig.session.publish("out/1", "one", { qos: 1 });
    rig.session.publish("out/2", "two", { qos: 2 });
    rig.sent();
    const before = outboxSnapshot(rig);
    rig.serveBytes(bytes);
    expect(rig.sent()).toEqual([]);
    expect(rig.link.closed).toBe(true);
    expect(rig.events.errors.filter((e) => e.code === "protocol")).toHaveLength(1);
    expect(outboxSnapshot(rig)).toBe(before);
  });
});
