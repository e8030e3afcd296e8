// @xs
/*
 * The MQTT-SN 1.2 codec (modules/mqttsn/codec.ts): every message of §5.4 in its table's
 * layout, both Length forms (§5.2.1), the Flags (§5.3.4), the return codes (§5.3.10), and
 * malformed datagrams turned into typed errors, never exceptions.
 */
import {
  ACCEPTED,
  ADVERTISE,
  CONNACK,
  CONNECT,
  DISCONNECT,
  ENCAPSULATED,
  GWINFO,
  PINGREQ,
  PINGRESP,
  PUBACK,
  PUBCOMP,
  PUBLISH,
  PUBREC,
  PUBREL,
  REGACK,
  REGISTER,
  REJECTED_CONGESTION,
  REJECTED_INVALID_TOPIC_ID,
  REJECTED_NOT_SUPPORTED,
  SEARCHGW,
  SUBACK,
  SUBSCRIBE,
  TOPIC_NORMAL,
  TOPIC_PREDEFINED,
  TOPIC_SHORT,
  UNSUBACK,
  UNSUBSCRIBE,
  WILLMSG,
  WILLMSGREQ,
  WILLMSGRESP,
  WILLMSGUPD,
  WILLTOPIC,
  WILLTOPICREQ,
  WILLTOPICRESP,
  WILLTOPICUPD,
  msgTypeName,
} from "../../modules/mqttsn/constants";
import { MqttSnCodecError, decode, encode, encodeInto, encodedLength, shortTopicId, shortTopicName, type MqttSnMessage, type SnFlags } from "../../modules/mqttsn/codec";

const F: SnFlags = { dup: false, qos: 0, retain: false, will: false, cleanSession: false, topicIdType: 0 };

function hex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
  return s;
}
function bytes(h: string): Uint8Array {
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.substr(i * 2, 2), 16);
  return out;
}
function ok(d: MqttSnMessage | MqttSnCodecError): MqttSnMessage {
  if (d instanceof MqttSnCodecError) throw new Error("unexpected codec error: " + d.message);
  return d;
}
function err(d: MqttSnMessage | MqttSnCodecError): MqttSnCodecError {
  if (!(d instanceof MqttSnCodecError)) throw new Error("expected a codec error, decoded type " + d.type);
  return d;
}

describe("MQTT-SN 1.2 §5.4: each message in its table's layout", () => {
  const cases: [string, MqttSnMessage, string][] = [
    ["ADVERTISE (Table 6)", { type: ADVERTISE, gwId: 7, duration: 900 }, "0500070384"],
    ["SEARCHGW (Table 7)", { type: SEARCHGW, radius: 1 }, "030101"],
    ["GWINFO from a gateway (Table 8)", { type: GWINFO, gwId: 7, gwAdd: undefined }, "030207"],
    ["GWINFO from a client, with GwAdd (Table 8)", { type: GWINFO, gwId: 7, gwAdd: bytes("7f0000015b35") }, "0902077f0000015b35"],
    ["CONNECT (Table 9)", { type: CONNECT, ...F, will: true, cleanSession: true, protocolId: 1, duration: 60, clientId: "dev" }, "09040c01003c646576"],
    ["CONNACK (Table 10)", { type: CONNACK, returnCode: ACCEPTED }, "030500"],
    ["WILLTOPICREQ (Table 11)", { type: WILLTOPICREQ }, "0206"],
    ["WILLTOPIC (Table 12)", { type: WILLTOPIC, ...F, qos: 1, retain: true, willTopic: "w/t" }, "060730772f74"],
    ["empty WILLTOPIC, 2 octets (§5.4.7)", { type: WILLTOPIC, ...F, willTopic: "" }, "0207"],
    ["WILLMSGREQ (Table 11)", { type: WILLMSGREQ }, "0208"],
    ["WILLMSG (Table 13)", { type: WILLMSG, willMsg: bytes("6f6666") }, "05096f6666"],
    ["REGISTER (Table 14)", { type: REGISTER, topicId: 0, msgId: 0x102, topicName: "a/b" }, "090a00000102612f62"],
    ["REGACK (Table 15)", { type: REGACK, topicId: 0x21, msgId: 0x102, returnCode: ACCEPTED }, "070b0021010200"],
    ["PUBLISH (Table 16)", { type: PUBLISH, ...F, qos: 1, topicId: 0x21, msgId: 5, data: bytes("3231") }, "090c20002100053231"],
    ["PUBACK (Table 17)", { type: PUBACK, topicId: 0x21, msgId: 5, returnCode: REJECTED_INVALID_TOPIC_ID }, "070d0021000502"],
    ["PUBCOMP (Table 18)", { type: PUBCOMP, msgId: 5 }, "040e0005"],
    ["PUBREC (Table 18)", { type: PUBREC, msgId: 5 }, "040f0005"],
    ["PUBREL (Table 18)", { type: PUBREL, msgId: 5 }, "04100005"],
    ["SUBSCRIBE by name (Table 19)", { type: SUBSCRIBE, ...F, qos: 2, msgId: 9, topicName: "s/#", topicId: 0 }, "0812400009732f23"],
    ["SUBSCRIBE by pre-defined id (Table 19)", { type: SUBSCRIBE, ...F, qos: 1, topicIdType: TOPIC_PREDEFINED, msgId: 9, topicName: undefined, topicId: 0x0102 }, "07122100090102"],
    ["SUBSCRIBE by short name (Table 19)", { type: SUBSCRIBE, ...F, topicIdType: TOPIC_SHORT, msgId: 9, topicName: undefined, topicId: 0x6162 }, "07120200096162"],
    ["SUBACK (Table 20)", { type: SUBACK, ...F, qos: 1, topicId: 0x33, msgId: 9, returnCode: ACCEPTED }, "0813200033000900"],
    ["UNSUBSCRIBE (Table 19)", { type: UNSUBSCRIBE, ...F, msgId: 10, topicName: "s/#", topicId: 0 }, "081400000a732f23"],
    ["UNSUBACK (Table 21)", { type: UNSUBACK, msgId: 10 }, "0415000a"],
    ["PINGREQ (Table 22)", { type: PINGREQ, clientId: undefined }, "0216"],
    ["PINGREQ with ClientId, awake (§6.14)", { type: PINGREQ, clientId: "dev" }, "0516646576"],
    ["PINGRESP (Table 23)", { type: PINGRESP }, "0217"],
    ["DISCONNECT (Table 24)", { type: DISCONNECT, duration: undefined }, "0218"],
    ["DISCONNECT with a sleep Duration (§6.14)", { type: DISCONNECT, duration: 600 }, "04180258"],
    ["WILLTOPICUPD (Table 25)", { type: WILLTOPICUPD, ...F, qos: 2, willTopic: "w" }, "041a4077"],
    ["empty WILLTOPICUPD (§5.4.22)", { type: WILLTOPICUPD, ...F, willTopic: "" }, "021a"],
    ["WILLTOPICRESP (Table 27)", { type: WILLTOPICRESP, returnCode: REJECTED_NOT_SUPPORTED }, "031b03"],
    ["WILLMSGUPD (Table 26)", { type: WILLMSGUPD, willMsg: bytes("00ff") }, "041c00ff"],
    ["WILLMSGRESP (Table 27)", { type: WILLMSGRESP, returnCode: REJECTED_CONGESTION }, "031d01"],
  ];
  for (const [name, message, wire] of cases) {
    it(name, () => {
      const b = encode(message);
      expect(hex(b)).toBe(wire);
      expect(encodedLength(message)).toBe(b.length);
      expect(ok(decode(b))).toEqual(message);
    });
  }

  it("§5.5 Table 28: a forwarder's encapsulated message (Length up to the Wireless Node Id, then the message)", () => {
    const m: MqttSnMessage = { type: ENCAPSULATED, radius: 2, nodeId: bytes("a1b2"), message: { type: PUBCOMP, msgId: 5 } };
    const b = encode(m);
    expect(hex(b)).toBe("05fe02a1b2" + "040e0005");
    expect(ok(decode(b))).toEqual(m);
    expect(err(decode(bytes("05fe02a1b2" + "05fe00a1b2")))).toBeInstanceOf(MqttSnCodecError); // nested
    expect(err(decode(bytes("05fe02a1b2")))).toBeInstanceOf(MqttSnCodecError); // no message after the header
  });

  it("msgTypeName names Table 3's types and shows reserved ones in hex", () => {
    expect(msgTypeName(PUBLISH)).toBe("PUBLISH");
    expect(msgTypeName(WILLMSGRESP)).toBe("WILLMSGRESP");
    expect(msgTypeName(ENCAPSULATED)).toBe("ENCAPSULATED");
    expect(msgTypeName(0x03)).toBe("0x3");
    expect(msgTypeName(0x42)).toBe("0x42");
  });
});

describe("MQTT-SN 1.2 §5.2.1: the Length field", () => {
  it("up to 255 octets: the 1-octet form; from 256: 0x01 and two octets, most significant first", () => {
    for (const size of [248, 249, 250, 251, 252, 253, 300, 1000, 65000]) {
      const m: MqttSnMessage = { type: PUBLISH, ...F, topicId: 1, msgId: 0, data: new Uint8Array(size) };
      const b = encode(m);
      const total = size + 7 <= 255 ? size + 7 : size + 9;
      expect(b.length).toBe(total);
      if (total <= 255) expect(b[0]).toBe(total);
      else expect([b[0], (b[1] << 8) | b[2], b[3]]).toEqual([1, total, PUBLISH]);
      const d = ok(decode(b)) as { data: Uint8Array };
      expect(d.data.length).toBe(size);
    }
  });

  it("the 3-octet form is accepted for a short message too (§5.2.1: the 1-octet form 'may' be used)", () => {
    expect(ok(decode(bytes("0100050500")))).toEqual({ type: CONNACK, returnCode: 0 });
  });

  it("a message over 65535 octets is refused by the encoder", () => {
    expect(() => encode({ type: PUBLISH, ...F, topicId: 1, msgId: 0, data: new Uint8Array(65535) })).toThrow(MqttSnCodecError);
  });

  it("encodeInto writes at an offset and refuses a buffer too small before writing", () => {
    const out = new Uint8Array(10).fill(0xee);
    expect(encodeInto({ type: PUBREC, msgId: 0x0102 }, out, 3)).toBe(7);
    expect(hex(out)).toBe("eeeeee040f0102eeeeee");
    const small = new Uint8Array(3).fill(0xee);
    expect(() => encodeInto({ type: PUBREC, msgId: 1 }, small, 0)).toThrow(RangeError);
    expect(hex(small)).toBe("eeeeee");
  });
});

describe("MQTT-SN 1.2 §5.3.4: Flags", () => {
  it("bit 7 DUP, bits 6-5 QoS, bit 4 Retain, bit 3 Will, bit 2 CleanSession, bits 1-0 TopicIdType", () => {
    const flags = (m: Partial<typeof F>) => encode({ type: PUBLISH, ...F, topicIdType: 1, topicId: 1, msgId: 1, data: new Uint8Array(0), ...m } as MqttSnMessage)[2];
    expect(flags({ qos: 1, dup: true })).toBe(0x80 | 0x20 | 1);
    expect(flags({ qos: 2 })).toBe(0x40 | 1);
    expect(flags({ qos: -1 })).toBe(0x60 | 1);
    expect(flags({ retain: true })).toBe(0x10 | 1);
    expect(flags({ topicIdType: TOPIC_SHORT })).toBe(2);
    const c = encode({ type: CONNECT, ...F, will: true, cleanSession: true, protocolId: 1, duration: 1, clientId: "x" });
    expect(c[2]).toBe(0x08 | 0x04);
  });

  it("every flag decodes back to what was encoded", () => {
    for (const dup of [false, true])
      for (const qos of [0, 1, 2] as const)
        for (const retain of [false, true])
          for (const topicIdType of [TOPIC_NORMAL, TOPIC_PREDEFINED, TOPIC_SHORT] as const) {
            const m = { type: PUBLISH, ...F, dup, qos, retain, topicIdType, topicId: 0x4142, msgId: qos ? 3 : 0, data: bytes("01") } as MqttSnMessage;
            expect(ok(decode(encode(m)))).toEqual(m);
          }
  });

  it("QoS −1 (§6.8) is '0b11', in a PUBLISH with a pre-defined topic id or a short topic name", () => {
    const m = { type: PUBLISH, ...F, qos: -1, topicIdType: TOPIC_SHORT, topicId: shortTopicId("t1"), msgId: 0, data: bytes("6869") } as MqttSnMessage;
    const b = encode(m);
    expect(b[2] & 0x60).toBe(0x60);
    expect(ok(decode(b))).toEqual(m);
  });

  it("flags the message type does not use are ignored on decode (§5.4: 'not used')", () => {
    // PUBLISH with Will and CleanSession set: still a PUBLISH, the bits are read but mean nothing.
    const d = ok(decode(bytes("080c2d0001000161"))) as { qos: number; topicIdType: number };
    expect(d.qos).toBe(1);
    expect(d.topicIdType).toBe(1);
  });
});

describe("MQTT-SN 1.2 §5.3.10 return codes, §6.7 short topic names", () => {
  it("Table 5: 0x00-0x03 decode; 0x04-0xFF are reserved", () => {
    for (const rc of [0, 1, 2, 3]) expect((ok(decode(new Uint8Array([3, CONNACK, rc]))) as { returnCode: number }).returnCode).toBe(rc);
    for (const rc of [4, 0x80, 0xff]) expect(err(decode(new Uint8Array([3, CONNACK, rc]))).statement).toBe("§5.3.10");
  });

  it("a short topic name is its two octets; other lengths have none", () => {
    expect(shortTopicId("ab")).toBe(0x6162);
    expect(shortTopicName(0x6162)).toBe("ab");
    expect(shortTopicId("é")).toBe(0xc3a9); // one character, two octets
    expect(shortTopicName(0xc3a9)).toBe("é");
    expect(shortTopicId("abc")).toBe(-1);
    expect(shortTopicId("a")).toBe(-1);
    expect(shortTopicName(0xc3c3)).toBeUndefined(); // not UTF-8
    expect(shortTopicName(0x0061)).toBeUndefined(); // U+0000
  });
});

describe("MQTT-SN 1.2: malformed datagrams are typed errors, never exceptions", () => {
  // [name, datagram (hex), expected MsgType in the error, section]
  const bad: [string, string, number, string][] = [
    ["empty datagram", "", -1, "§5.2"],
    ["one octet", "02", -1, "§5.2"],
    ["Length 0", "0016", 0x16, "§5.2.1"],
    ["Length larger than the datagram", "0516", 0x16, "§5.2.1"],
    ["Length smaller than the datagram (trailing octets)", "021600", 0x16, "§5.2.1"],
    ["3-octet Length, truncated", "0100", -1, "§5.2.1"],
    ["3-octet Length, value past the datagram", "0100ff17", 0x17, "§5.2.1"],
    ["3-octet Length 2 (below its own size)", "01000217", 0x17, "§5.2.1"],
    ["reserved MsgType 0x03", "0203", 0x03, "§5.2.2"],
    ["reserved MsgType 0x11", "0211", 0x11, "§5.2.2"],
    ["reserved MsgType 0x19", "0219", 0x19, "§5.2.2"],
    ["reserved MsgType 0x1E", "021e", 0x1e, "§5.2.2"],
    ["reserved MsgType 0xFF", "02ff", 0xff, "§5.2.2"],
    ["ADVERTISE without Duration", "030007", 0x00, "§5.4"],
    ["ADVERTISE with a trailing octet", "060007038400", 0x00, "§5.4"],
    ["SEARCHGW without Radius", "0201", 0x01, "§5.4"],
    ["CONNECT without ClientId", "06040401003c", 0x04, "§5.3"],
    ["CONNECT with ProtocolId 2", "07040402003c61", 0x04, "§5.3.8"],
    ["CONNECT with ill-formed UTF-8 ClientId", "07040401003cc0", 0x04, "§5.3.12"],
    ["CONNECT with U+0000 in the ClientId", "07040401003c00", 0x04, "§5.3.12"],
    ["CONNACK without ReturnCode", "0205", 0x05, "§5.4"],
    ["CONNACK with a reserved ReturnCode", "030504", 0x05, "§5.3.10"],
    ["WILLTOPIC with Flags and no topic", "030720", 0x07, "§5.3"],
    ["WILLTOPIC with a wildcard", "0507206123", 0x07, "§6.10"],
    ["WILLTOPIC with QoS -1", "04076061", 0x07, "§5.3.4"],
    ["REGISTER with no TopicName", "060a00000001", 0x0a, "§5.3"],
    ["REGISTER with a wildcard TopicName", "070a000000012b", 0x0a, "§6.10"],
    ["REGISTER truncated in MsgId", "050a000000", 0x0a, "§5.4"],
    ["REGACK one octet short", "060b00010001", 0x0b, "§5.4"],
    ["PUBLISH shorter than its header fields", "060c00000100", 0x0c, "§5.4"],
    ["PUBLISH with TopicIdType 0b11", "080c030001000161", 0x0c, "§5.3.4"],
    ["PUBLISH QoS -1 with a normal topic id", "080c600001000061", 0x0c, "§6.8"],
    ["PUBLISH QoS 1 with MsgId 0", "080c200001000061", 0x0c, "§5.3.7"],
    ["PUBACK with a reserved ReturnCode", "070d0001000109", 0x0d, "§5.3.10"],
    ["PUBREL without MsgId", "0210", 0x10, "§5.4"],
    ["PUBCOMP with an extra octet", "050e000100", 0x0e, "§5.4"],
    ["SUBSCRIBE by name with no name", "0512200001", 0x12, "§5.3"],
    ["SUBSCRIBE by pre-defined id of 3 octets", "0812210001000102", 0x12, "§5.4.15"],
    ["SUBSCRIBE by short name of 1 octet", "061222000161", 0x12, "§5.4.15"],
    ["SUBSCRIBE with QoS -1", "07126100010001", 0x12, "§5.3.4"],
    ["SUBSCRIBE with TopicIdType 0b11", "07122300010001", 0x12, "§5.3.4"],
    ["SUBACK granting QoS -1 with 'accepted'", "0813600001000100", 0x13, "§5.3.4"],
    ["UNSUBSCRIBE with ill-formed UTF-8", "0614000001ff", 0x14, "§5.3.12"],
    ["UNSUBACK truncated", "031500", 0x15, "§5.4"],
    ["PINGREQ with ill-formed UTF-8 ClientId", "0416e282", 0x16, "§5.3.12"],
    ["DISCONNECT with a 1-octet Duration", "031805", 0x18, "§5.4"],
    ["DISCONNECT with a 3-octet Duration", "0518000500", 0x18, "§5.4"],
    ["WILLTOPICRESP without ReturnCode", "021b", 0x1b, "§5.4"],
    ["encapsulation Length past the datagram", "09fe000102", 0xfe, "§5.5"],
    ["encapsulation Length below its header", "02fe0217", 0xfe, "§5.5"],
  ];
  for (const [name, wire, type, statement] of bad) {
    it(name + " (" + statement + ")", () => {
      const e = err(decode(bytes(wire)));
      expect(e.msgType).toBe(type);
      expect(e.statement).toBe(statement);
      expect(e.message).toContain("MQTT-SN 1.2 " + statement);
    });
  }
  it("has at least 30 cases", () => expect(bad.length).toBeGreaterThanOrEqual(30));
});

describe("MQTT-SN 1.2: the encoder refuses what a receiver would reject", () => {
  const refused: [string, unknown][] = [
    ["reserved MsgType", { type: 0x03 }],
    ["CONNECT with an empty ClientId", { type: CONNECT, ...F, protocolId: 1, duration: 1, clientId: "" }],
    ["CONNECT with ProtocolId 0", { type: CONNECT, ...F, protocolId: 0, duration: 1, clientId: "x" }],
    ["CONNECT with a Duration over 65535", { type: CONNECT, ...F, protocolId: 1, duration: 70000, clientId: "x" }],
    ["PUBLISH QoS 3", { type: PUBLISH, ...F, qos: 3, topicId: 1, msgId: 1, data: new Uint8Array(0) }],
    ["PUBLISH QoS -1 on a normal topic id (§6.8)", { type: PUBLISH, ...F, qos: -1, topicId: 1, msgId: 0, data: new Uint8Array(0) }],
    ["PUBLISH QoS 1 without MsgId", { type: PUBLISH, ...F, qos: 1, topicId: 1, msgId: 0, data: new Uint8Array(0) }],
    ["PUBLISH with a string payload", { type: PUBLISH, ...F, topicId: 1, msgId: 0, data: "x" }],
    ["REGISTER with a wildcard", { type: REGISTER, topicId: 0, msgId: 1, topicName: "a/+" }],
    ["REGISTER with a lone surrogate", { type: REGISTER, topicId: 0, msgId: 1, topicName: "a\ud800" }],
    ["REGACK with a reserved ReturnCode", { type: REGACK, topicId: 1, msgId: 1, returnCode: 4 }],
    ["SUBSCRIBE by pre-defined id 0", { type: SUBSCRIBE, ...F, topicIdType: 1, msgId: 1, topicName: undefined, topicId: 0 }],
    ["SUBSCRIBE with TopicIdType 3", { type: SUBSCRIBE, ...F, topicIdType: 3, msgId: 1, topicName: undefined, topicId: 1 }],
    ["GwId 256", { type: ADVERTISE, gwId: 256, duration: 1 }],
    ["nested encapsulation", { type: ENCAPSULATED, radius: 0, nodeId: new Uint8Array(1), message: { type: ENCAPSULATED, radius: 0, nodeId: new Uint8Array(1), message: { type: PINGRESP } } }],
  ];
  for (const [name, m] of refused) it(name, () => expect(() => encode(m as MqttSnMessage)).toThrow(MqttSnCodecError));
});

describe("MQTT-SN 1.2: random datagrams", () => {
  it("decode never throws, and what it accepts re-encodes to an equal message", () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
    let accepted = 0;
    for (let n = 0; n < 4000; n++) {
      const len = 2 + Math.floor(rnd() * 12);
      const b = new Uint8Array(len);
      for (let i = 0; i < len; i++) b[i] = Math.floor(rnd() * 256);
      // Half the time make the header plausible so the body rules are exercised.
      if (rnd() < 0.5) {
        b[0] = len;
        b[1] = Math.floor(rnd() * 0x1e);
      }
      const d = decode(b);
      if (d instanceof MqttSnCodecError) continue;
      accepted++;
      expect(decode(encode(d))).toEqual(d);
    }
    expect(accepted).toBeGreaterThan(100);
  });
});
