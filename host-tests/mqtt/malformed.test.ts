// @xs
/*
 * Malformed packets and protocol violations (MQTT 5.0 §4.13, §1.2; MQTT 3.1.1 §4.8).
 * Each case asserts the exact reason code and statement of the decoder's error, and
 * that nothing is emitted for the bad packet: a good packet before it is returned, the bad
 * one and everything after it are not.
 */
import { MqttDecoder, PacketType } from "../support/mqtt-codec";
import type { MqttVersion } from "../support/mqtt-codec";
import { byteByByte, bytes, concat, decodeChunks, str } from "./helpers";

/** A packet with its Remaining Length computed (one or two bytes). */
function pkt(header: number, ...body: (number | number[])[]): Uint8Array {
  const flat: number[] = [];
  for (const b of body) {
    if (typeof b === "number") flat.push(b);
    else flat.push(...b);
  }
  const rl = flat.length < 128 ? [flat.length] : [(flat.length & 0x7f) | 0x80, flat.length >> 7];
  return new Uint8Array([header, ...rl, ...flat]);
}

const raw = (...b: number[]): number[] => b;
/** Property Length + properties. */
const props = (...b: number[]): number[] => [b.length, ...b];
const connectHead = (level: number, flags: number): number[] => [...str("MQTT"), level, flags, 0, 60];

type Case = [string, MqttVersion, Uint8Array, number, string];

const MALFORMED = 0x81;
const PROTOCOL = 0x82;

const cases: Case[] = [
  // ---- fixed header and Remaining Length
  ["Remaining Length of five bytes", 5, bytes(0x30, 0xff, 0xff, 0xff, 0xff, 0x01), MALFORMED, "[MQTT-1.5.5-1]"],
  ["Remaining Length of five bytes (3.1.1)", 4, bytes(0x30, 0x80, 0x80, 0x80, 0x80, 0x01), MALFORMED, "§2.2.3"],
  ["Remaining Length not minimal (0x80 0x00)", 5, bytes(0xc0, 0x80, 0x00), MALFORMED, "[MQTT-1.5.5-1]"],
  ["reserved packet type 0", 5, bytes(0x00, 0x00), MALFORMED, "§2.1.2"],
  ["AUTH in 3.1.1 (type 15 reserved)", 4, bytes(0xf0, 0x00), MALFORMED, "§2.2.1 (3.1.1 Table 2.1)"],
  ["CONNECT with fixed header flags 0001", 5, pkt(0x11, connectHead(5, 2), props(), str("c")), MALFORMED, "[MQTT-2.1.3-1]"],
  ["CONNACK with fixed header flags 1000 (3.1.1)", 4, pkt(0x28, 0, 0), MALFORMED, "[MQTT-2.2.2-1]"],
  ["PINGREQ with flags 0001", 5, bytes(0xc1, 0), MALFORMED, "[MQTT-2.1.3-1]"],
  ["PUBREL with flags 0000", 5, pkt(0x60, 0, 1), MALFORMED, "[MQTT-3.6.1-1]"],
  ["SUBSCRIBE with flags 0000", 4, pkt(0x80, 0, 1, str("a"), 0), MALFORMED, "[MQTT-3.8.1-1]"],
  ["UNSUBSCRIBE with flags 0011", 5, pkt(0xa3, 0, 1, props(), str("a")), MALFORMED, "[MQTT-3.10.1-1]"],
  ["PUBLISH with QoS 3", 5, pkt(0x36, str("a"), 0, 1, props()), MALFORMED, "[MQTT-3.3.1-4]"],
  ["PUBLISH with DUP and QoS 0", 4, pkt(0x38, str("a")), PROTOCOL, "[MQTT-3.3.1-2]"],
  ["PINGREQ with a Remaining Length of 1", 4, bytes(0xc0, 1, 0), MALFORMED, "§3.12"],
  ["DISCONNECT 3.1.1 with a body byte", 4, bytes(0xe0, 1, 0), MALFORMED, "§2.1.4"],
  ["CONNACK 3.1.1 with a trailing byte", 4, pkt(0x20, 0, 0, 0), MALFORMED, "§2.1.4"],
  ["Topic Name length past the Remaining Length", 4, pkt(0x30, 0, 10, raw(0x61, 0x62)), MALFORMED, "§2.1.4"],
  // ---- Packet Identifier
  ["PUBLISH QoS 1 with Packet Identifier 0", 5, pkt(0x32, str("a"), 0, 0, props()), PROTOCOL, "[MQTT-2.2.1-3]"],
  ["PUBLISH QoS 2 with Packet Identifier 0 (3.1.1)", 4, pkt(0x34, str("a"), 0, 0), PROTOCOL, "[MQTT-2.3.1-1]"],
  ["PUBACK with Packet Identifier 0", 4, pkt(0x40, 0, 0), PROTOCOL, "[MQTT-2.3.1-1]"],
  ["SUBSCRIBE with Packet Identifier 0", 5, pkt(0x82, 0, 0, props(), str("a"), 0), PROTOCOL, "[MQTT-2.2.1-3]"],
  // ---- Topic Names and UTF-8
  ["PUBLISH Topic Name with '+'", 5, pkt(0x30, str("a/+"), props()), MALFORMED, "[MQTT-3.3.2-2]"],
  ["PUBLISH Topic Name with '#'", 4, pkt(0x30, str("#")), MALFORMED, "[MQTT-3.3.2-2]"],
  ["PUBLISH Topic Name with U+0000", 5, pkt(0x30, raw(0, 3, 0x61, 0, 0x62), props()), MALFORMED, "[MQTT-1.5.4-2]"],
  ["PUBLISH Topic Name with U+0000 (3.1.1)", 4, pkt(0x30, raw(0, 1, 0)), MALFORMED, "[MQTT-1.5.3-2]"],
  ["PUBLISH Topic Name overlong UTF-8 (C0 AF)", 5, pkt(0x30, raw(0, 2, 0xc0, 0xaf), props()), MALFORMED, "[MQTT-1.5.4-1]"],
  ["PUBLISH Topic Name with an encoded surrogate (ED A0 80)", 5, pkt(0x30, raw(0, 3, 0xed, 0xa0, 0x80), props()), MALFORMED, "[MQTT-1.5.4-1]"],
  ["PUBLISH Topic Name with a truncated sequence (3.1.1)", 4, pkt(0x30, raw(0, 2, 0x61, 0xe2)), MALFORMED, "[MQTT-1.5.3-1]"],
  ["PUBLISH empty Topic Name (3.1.1)", 4, pkt(0x30, raw(0, 0), 1), MALFORMED, "[MQTT-4.7.3-1]"],
  ["PUBLISH empty Topic Name without Topic Alias", 5, pkt(0x30, raw(0, 0), props(), 1), PROTOCOL, "§3.3.2.1"],
  ["PUBLISH Topic Alias 0", 5, pkt(0x30, str("a"), props(0x23, 0, 0)), 0x94, "[MQTT-3.3.2-8]"],
  ["Response Topic with a wildcard", 5, pkt(0x30, str("a"), props(0x08, ...str("r/#"))), PROTOCOL, "[MQTT-3.3.2-14]"],
  ["User Property value not UTF-8", 5, pkt(0x30, str("a"), props(0x26, ...str("k"), 0, 1, 0xff)), MALFORMED, "[MQTT-1.5.4-1]"],
  // ---- properties
  ["unknown property identifier 0x05", 5, pkt(0x30, str("a"), props(0x05, 1)), MALFORMED, "§2.2.2.2"],
  ["Topic Alias (PUBLISH only) in PUBACK", 5, pkt(0x40, 0, 1, 0, props(0x23, 0, 1)), MALFORMED, "§2.2.2.2"],
  ["Will Delay Interval in CONNECT properties", 5, pkt(0x10, connectHead(5, 2), props(0x18, 0, 0, 0, 1), str("c")), MALFORMED, "§2.2.2.2"],
  ["Message Expiry Interval twice", 5, pkt(0x30, str("a"), props(0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2)), PROTOCOL, "§2.2.2.2"],
  ["Reason String twice in PUBACK", 5, pkt(0x40, 0, 1, 0x10, props(0x1f, ...str("a"), 0x1f, ...str("b"))), PROTOCOL, "§2.2.2.2"],
  ["Subscription Identifier twice in SUBSCRIBE", 5, pkt(0x82, 0, 1, props(0x0b, 1, 0x0b, 2), str("a"), 0), PROTOCOL, "§2.2.2.2"],
  ["Four Byte Integer property truncated by the Property Length", 5, pkt(0x30, str("a"), props(0x02, 0, 0)), MALFORMED, "§2.1.4"],
  ["Property Length past the Remaining Length", 5, pkt(0x30, str("a"), raw(20, 0x01, 1)), MALFORMED, "§2.2.2.1"],
  ["Property Length of five bytes", 5, pkt(0x30, str("a"), raw(0x80, 0x80, 0x80, 0x80, 0x01)), MALFORMED, "[MQTT-1.5.5-1]"],
  ["Receive Maximum 0 in CONNACK", 5, pkt(0x20, 0, 0, props(0x21, 0, 0)), PROTOCOL, "§3.1.2.11.3"],
  ["Maximum Packet Size 0 in CONNECT", 5, pkt(0x10, connectHead(5, 2), props(0x27, 0, 0, 0, 0), str("c")), PROTOCOL, "§3.1.2.11.4"],
  ["Payload Format Indicator 2", 5, pkt(0x30, str("a"), props(0x01, 2)), PROTOCOL, "§3.3.2.3.2"],
  ["Maximum QoS 2 in CONNACK", 5, pkt(0x20, 0, 0, props(0x24, 2)), PROTOCOL, "§3.2.2.3.4"],
  ["Subscription Identifier 0", 5, pkt(0x30, str("a"), props(0x0b, 0)), PROTOCOL, "§3.3.2.3.8"],
  ["Authentication Data without Authentication Method", 5, pkt(0xf0, 0x18, props(0x16, 0, 1, 7)), PROTOCOL, "§3.1.2.11.10"],
  // ---- CONNECT
  ["CONNECT reserved flag set", 5, pkt(0x10, connectHead(5, 0x03), props(), str("c")), MALFORMED, "[MQTT-3.1.2-3]"],
  ["CONNECT Will QoS without Will Flag", 5, pkt(0x10, connectHead(5, 0x0a), props(), str("c")), MALFORMED, "[MQTT-3.1.2-11]"],
  ["CONNECT Will Retain without Will Flag", 5, pkt(0x10, connectHead(5, 0x22), props(), str("c")), MALFORMED, "[MQTT-3.1.2-13]"],
  ["CONNECT Will QoS without Will Flag (3.1.1)", 4, pkt(0x10, connectHead(4, 0x12), str("c")), MALFORMED, "[MQTT-3.1.2-13]"],
  ["CONNECT Will QoS 3", 5, pkt(0x10, connectHead(5, 0x1e), props(), str("c"), props(), str("w"), 0, 0), MALFORMED, "[MQTT-3.1.2-12]"],
  ["CONNECT Will Flag but no Will Topic", 4, pkt(0x10, connectHead(4, 0x06), str("c")), MALFORMED, "§2.1.4"],
  ["CONNECT Will Topic with a wildcard", 5, pkt(0x10, connectHead(5, 0x06), props(), str("c"), props(), str("w/+"), 0, 0), MALFORMED, "[MQTT-4.7.0-1]"],
  ["CONNECT 3.1.1 Password without User Name", 4, pkt(0x10, connectHead(4, 0x42), str("c"), str("pw")), MALFORMED, "[MQTT-3.1.2-22]"],
  ["CONNECT User Name Flag but no User Name", 5, pkt(0x10, connectHead(5, 0x82), props(), str("c")), MALFORMED, "§2.1.4"],
  ["CONNECT protocol name MQIsdp", 4, pkt(0x10, str("MQIsdp"), 3, 2, 0, 60, str("c")), 0x84, "[MQTT-3.1.2-1]"],
  ["CONNECT Protocol Level 6", 5, pkt(0x10, connectHead(6, 2), props(), str("c")), 0x84, "[MQTT-3.1.2-2]"],
  ["CONNECT 3.1.1 zero-byte ClientId with CleanSession 0", 4, pkt(0x10, connectHead(4, 0), raw(0, 0)), 0x85, "[MQTT-3.1.3-8]"],
  // ---- CONNACK
  ["CONNACK reserved flag bits set", 5, pkt(0x20, 0x02, 0, props()), MALFORMED, "[MQTT-3.2.2-1]"],
  ["CONNACK Session Present with a failure Reason Code", 5, pkt(0x20, 1, 0x87, props()), PROTOCOL, "[MQTT-3.2.2-6]"],
  ["CONNACK 3.1.1 Session Present with a non-zero return code", 4, pkt(0x20, 1, 5), PROTOCOL, "[MQTT-3.2.2-4]"],
  ["CONNACK 3.1.1 reserved return code 6", 4, pkt(0x20, 0, 6), PROTOCOL, "§3.2.2.3"],
  ["CONNACK 5.0 Reason Code 0x01 (not a Connect Reason Code)", 5, pkt(0x20, 0, 1, props()), PROTOCOL, "[MQTT-3.2.2-8]"],
  // ---- acks
  ["PUBACK Reason Code 0x05", 5, pkt(0x40, 0, 1, 0x05), PROTOCOL, "[MQTT-3.4.2-1]"],
  ["PUBREL Reason Code 0x10 (PUBACK/PUBREC only)", 5, pkt(0x62, 0, 1, 0x10), PROTOCOL, "[MQTT-3.6.2-1]"],
  ["PUBACK 3.1.1 with a Reason Code byte", 4, pkt(0x40, 0, 1, 0), MALFORMED, "§2.1.4"],
  // ---- SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK
  ["SUBSCRIBE without a Topic Filter", 5, pkt(0x82, 0, 1, props()), PROTOCOL, "[MQTT-3.8.3-2]"],
  ["SUBSCRIBE without a Topic Filter (3.1.1)", 4, pkt(0x82, 0, 1), PROTOCOL, "[MQTT-3.8.3-3]"],
  ["SUBSCRIBE reserved option bits 7-6", 5, pkt(0x82, 0, 1, props(), str("a"), 0x41), MALFORMED, "[MQTT-3.8.3-5]"],
  ["SUBSCRIBE Maximum QoS 3", 5, pkt(0x82, 0, 1, props(), str("a"), 0x03), PROTOCOL, "§3.8.3.1"],
  ["SUBSCRIBE Retain Handling 3", 5, pkt(0x82, 0, 1, props(), str("a"), 0x30), PROTOCOL, "§3.8.3.1"],
  ["SUBSCRIBE 3.1.1 reserved bits in Requested QoS", 4, pkt(0x82, 0, 1, str("a"), 0x04), MALFORMED, "[MQTT-3-8.3-4]"],
  ["SUBSCRIBE 3.1.1 Requested QoS 3", 4, pkt(0x82, 0, 1, str("a"), 0x03), MALFORMED, "[MQTT-3-8.3-4]"],
  ["SUBSCRIBE No Local on a Shared Subscription", 5, pkt(0x82, 0, 1, props(), str("$share/g/a"), 0x04), PROTOCOL, "[MQTT-3.8.3-4]"],
  ["SUBSCRIBE filter with '#' not last", 5, pkt(0x82, 0, 1, props(), str("a/#/b"), 0), MALFORMED, "[MQTT-4.7.1-1]"],
  ["SUBSCRIBE filter with '+' inside a level", 5, pkt(0x82, 0, 1, props(), str("a+/b"), 0), MALFORMED, "[MQTT-4.7.1-2]"],
  ["SUBSCRIBE 3.1.1 filter 'sport/tennis#'", 4, pkt(0x82, 0, 1, str("sport/tennis#"), 0), MALFORMED, "[MQTT-4.7.1-2]"],
  ["SUBSCRIBE empty Topic Filter", 4, pkt(0x82, 0, 1, raw(0, 0), 0), MALFORMED, "[MQTT-4.7.3-1]"],
  ["SUBSCRIBE Shared Subscription without ShareName", 5, pkt(0x82, 0, 1, props(), str("$share//a"), 0), MALFORMED, "[MQTT-4.8.2-1]"],
  ["SUBSCRIBE Shared Subscription without filter", 5, pkt(0x82, 0, 1, props(), str("$share/g"), 0), MALFORMED, "[MQTT-4.8.2-2]"],
  ["SUBACK 3.1.1 return code 3", 4, pkt(0x90, 0, 1, 3), PROTOCOL, "[MQTT-3.9.3-2]"],
  ["SUBACK without Reason Codes", 5, pkt(0x90, 0, 1, props()), PROTOCOL, "[MQTT-3.8.4-6]"],
  ["UNSUBSCRIBE without a Topic Filter", 5, pkt(0xa2, 0, 1, props()), PROTOCOL, "[MQTT-3.10.3-2]"],
  ["UNSUBACK without Reason Codes", 5, pkt(0xb0, 0, 1, props()), PROTOCOL, "[MQTT-3.11.3-1]"],
  ["UNSUBACK Reason Code 0x10", 5, pkt(0xb0, 0, 1, props(), 0x10), PROTOCOL, "[MQTT-3.11.3-2]"],
  // ---- DISCONNECT / AUTH
  ["DISCONNECT Reason Code 0x01", 5, pkt(0xe0, 0x01), PROTOCOL, "[MQTT-3.14.2-1]"],
  ["DISCONNECT with Topic Alias property", 5, pkt(0xe0, 0x00, props(0x23, 0, 1)), MALFORMED, "§2.2.2.2"],
  ["AUTH Reason Code 0x01", 5, pkt(0xf0, 0x01, props()), PROTOCOL, "[MQTT-3.15.2-1]"],
];

const GOOD = bytes(0xd0, 0); // PINGRESP

describe("malformed and protocol-violating input", () => {
  it("has at least 40 distinct cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
    const names = new Set(cases.map((c) => c[0]));
    expect(names.size).toBe(cases.length);
  });

  it.each(cases)("%s (v%s) -> reason code and statement", (_name, version, input, code, statement) => {
    const { packets, error } = decodeChunks([concat([GOOD, input, GOOD])], version);
    expect(error).toBeDefined();
    expect(error!.reasonCode).toBe(code);
    expect(error!.statement).toBe(statement);
    // Only the good packet before the bad one was emitted.
    expect(packets).toEqual([{ type: PacketType.PINGRESP }]);
  });

  it.each(cases)("%s (v%s) -> same error when fed one byte at a time", (_name, version, input, code, statement) => {
    const { packets, error } = decodeChunks(byteByByte(concat([GOOD, input, GOOD])), version);
    expect(error!.reasonCode).toBe(code);
    expect(error!.statement).toBe(statement);
    expect(packets).toHaveLength(1);
  });

  it("after an error the decoder ignores further input and never throws", () => {
    const d = new MqttDecoder({ version: 5 });
    d.feed(bytes(0x36, 0));
    expect(d.next()).toBeUndefined();
    const first = d.error;
    d.feed(GOOD);
    expect(d.next()).toBeUndefined();
    expect(d.error).toBe(first);
    expect(d.buffered).toBe(0);
  });

  it("a packet over the Maximum Packet Size is refused from its fixed header, before any body byte is buffered [MQTT-3.1.2-24]", () => {
    const d = new MqttDecoder({ version: 5, maximumPacketSize: 100 });
    // PUBLISH announcing a Remaining Length of 268,435,455; only the fixed header is fed.
    d.feed(bytes(0x30, 0xff, 0xff, 0xff, 0x7f));
    expect(d.next()).toBeUndefined();
    expect(d.error!.reasonCode).toBe(0x95);
    expect(d.error!.statement).toBe("[MQTT-3.1.2-24]");
    expect(d.error!.message).toContain("268435460 B"); // 1 + 4 + 268,435,455: four length bytes summed right
    expect(d.buffered).toBe(0);
    // A body that follows is not taken in.
    d.feed(new Uint8Array(1000));
    expect(d.next()).toBeUndefined();
    expect(d.buffered).toBe(0);
  });

  it("the Maximum Packet Size counts the whole packet: 100 fits, 101 does not", () => {
    const fits = new Uint8Array(100);
    fits[0] = 0x30;
    fits[1] = 98;
    fits[3] = 1;
    fits[4] = 0x61; // topic "a"
    const ok = decodeChunks([fits], 4, { maximumPacketSize: 100 });
    expect(ok.error).toBeUndefined();
    expect(ok.packets).toHaveLength(1);
    const over = new Uint8Array(101);
    over.set(fits);
    over[1] = 99;
    const bad = decodeChunks([over], 4, { maximumPacketSize: 100 });
    expect(bad.error!.reasonCode).toBe(0x95);
    expect(bad.packets).toHaveLength(0);
  });

  it("a packet cut short just waits for more bytes: no packet, no error (§2.1.4)", () => {
    const { packets, error, decoder } = decodeChunks([bytes(0x40, 2, 0)], 4);
    expect(packets).toHaveLength(0);
    expect(error).toBeUndefined();
    expect(decoder.buffered).toBe(3);
  });
});
