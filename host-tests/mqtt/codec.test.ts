// @xs
/*
 * MQTT codec round trips (MQTT 5.0 §3, MQTT 3.1.1 §3): every packet type in both versions,
 * byte-exact vectors from the spec's figures, and decoding in every chunking.
 */
import {
  MqttDecoder,
  encodePacket,
  encodePacketInto,
  encodedLength,
  encodePublish,
  encodeConnect,
  encodePuback,
  encodePingreq,
  encodePingresp,
  encodeAuth,
  PacketType,
} from "../support/mqtt-codec";
import type { MqttPacket, MqttVersion, PublishPacket } from "../support/mqtt-codec";
import { byteByByte, bytes, concat, decodeAll, decodeChunks, randomSplits, str } from "./helpers";
import { PAYLOAD_40, TELE_TOPIC, samples311, samples5 } from "./samples";

const versions: [string, MqttVersion, [string, MqttPacket][]][] = [
  ["3.1.1", 4, samples311],
  ["5.0", 5, samples5],
];

for (const [label, version, samples] of versions) {
  describe("MQTT " + label + " round trips", () => {
    it.each(samples)("%s: decode(encode(p)) equals p", (_name, packet) => {
      const encoded = encodePacket(packet, version);
      expect(encoded.length).toBe(encodedLength(packet, version));
      const { packets, error } = decodeAll(encoded, version);
      expect(error).toBeUndefined();
      expect(packets).toHaveLength(1);
      expect(packets[0]).toEqual(packet);
    });

    it.each(samples)("%s: encode(decode(bytes)) gives the same bytes", (_name, packet) => {
      const encoded = encodePacket(packet, version);
      const { packets } = decodeAll(encoded, version);
      expect(encodePacket(packets[0], version)).toEqual(encoded);
    });

    it("decodes the whole stream one byte at a time", () => {
      const stream = concat(samples.map(([, p]) => encodePacket(p, version)));
      const { packets, error } = decodeChunks(byteByByte(stream), version);
      expect(error).toBeUndefined();
      expect(packets).toEqual(samples.map(([, p]) => p));
    });

    it.each([1, 2, 3, 17, 99, 12345])("decodes the whole stream in random splits (seed %d)", (seed) => {
      const stream = concat(samples.map(([, p]) => encodePacket(p, version)));
      const { packets, error } = decodeChunks(randomSplits(stream, seed), version);
      expect(error).toBeUndefined();
      expect(packets).toEqual(samples.map(([, p]) => p));
    });

    it("decodes every split point of every packet (two chunks)", () => {
      for (const [name, p] of samples) {
        const enc = encodePacket(p, version);
        for (let cut = 0; cut <= enc.length; cut++) {
          const { packets, error } = decodeChunks([enc.slice(0, cut), enc.slice(cut)], version);
          if (error !== undefined || packets.length !== 1) throw new Error(name + " failed at cut " + cut);
          expect(packets[0]).toEqual(p);
        }
      }
    });

    it("encodePacketInto writes the same bytes at an offset and returns the end", () => {
      for (const [, p] of samples) {
        const enc = encodePacket(p, version);
        const out = new Uint8Array(enc.length + 10).fill(0xee);
        const end = encodePacketInto(p, version, out, 5);
        expect(end).toBe(5 + enc.length);
        expect(out.subarray(5, end)).toEqual(enc);
        expect(out[4]).toBe(0xee);
        expect(out[end]).toBe(0xee);
      }
    });
  });
}

describe("decoders of one process", () => {
  it("two decoders fed in turn, a byte each, return each its own packets", () => {
    const a = new MqttDecoder({ version: 4 });
    const b = new MqttDecoder({ version: 5 });
    const sa = concat(samples311.map(([, p]) => encodePacket(p, 4)));
    const sb = concat(samples5.map(([, p]) => encodePacket(p, 5)));
    const got: MqttPacket[][] = [[], []];
    for (let i = 0; i < sa.length || i < sb.length; i++) {
      if (i < sa.length) {
        a.feed(sa.subarray(i, i + 1));
        for (let p = a.next(); p !== undefined; p = a.next()) got[0].push(p);
      }
      if (i < sb.length) {
        b.feed(sb.subarray(i, i + 1));
        for (let p = b.next(); p !== undefined; p = b.next()) got[1].push(p);
      }
    }
    expect(a.error).toBeUndefined();
    expect(b.error).toBeUndefined();
    expect(got[0]).toEqual(samples311.map(([, p]) => p));
    expect(got[1]).toEqual(samples5.map(([, p]) => p));
  });
});

describe("byte-exact vectors", () => {
  it("PUBLISH QoS 1 in 3.1.1 (3.1.1 §3.3, Figure 3.11 layout)", () => {
    const p: PublishPacket = { type: 3, topic: "a/b", payload: bytes(1, 2), qos: 1, retain: false, dup: false, packetId: 10 };
    expect(encodePublish(p, 4)).toEqual(bytes(0x32, 9, str("a/b"), 0, 10, 1, 2));
  });

  it("PUBLISH QoS 1 in 5.0 has a zero Property Length [MQTT-2.2.2-1]", () => {
    const p: PublishPacket = { type: 3, topic: "a/b", payload: bytes(1, 2), qos: 1, retain: false, dup: false, packetId: 10 };
    expect(encodePublish(p, 5)).toEqual(bytes(0x32, 10, str("a/b"), 0, 10, 0, 1, 2));
  });

  it("PUBLISH flags: DUP bit 3, QoS bits 2-1, RETAIN bit 0 (§3.3.1)", () => {
    const p: PublishPacket = { type: 3, topic: "t", payload: bytes(), qos: 2, retain: true, dup: true, packetId: 1 };
    expect(encodePublish(p, 4)[0]).toBe(0x3d);
  });

  it("CONNECT 3.1.1: protocol name MQTT, level 4, flags, keep alive (3.1.1 Figure 3.6)", () => {
    const enc = encodeConnect({ type: 1, protocolVersion: 4, clean: true, keepAlive: 10, clientId: "c", username: "u", password: "p" });
    expect(enc).toEqual(bytes(0x10, 19, str("MQTT"), 4, 0xc2, 0, 10, str("c"), str("u"), str("p")));
  });

  it("CONNECT 5.0 with will: flags 0x2c and both property lengths (§3.1.2.3, §3.1.3.2)", () => {
    const enc = encodeConnect({
      type: 1, protocolVersion: 5, clean: false, keepAlive: 0, clientId: "c",
      will: { topic: "w", payload: bytes(9), qos: 1, retain: true, properties: { willDelayInterval: 1 } },
    });
    expect(enc).toEqual(bytes(0x10, 26, str("MQTT"), 5, 0x2c, 0, 0, 0, str("c"), 5, 0x18, 0, 0, 0, 1, str("w"), 0, 1, 9));
  });

  it("PUBREL/SUBSCRIBE/UNSUBSCRIBE fixed headers carry flags 0010 (Table 2-2)", () => {
    expect(encodePacket({ type: 6, packetId: 1 }, 4)).toEqual(bytes(0x62, 2, 0, 1));
    expect(encodePacket({ type: 8, packetId: 1, subscriptions: [{ topicFilter: "t", qos: 1 }] }, 4)).toEqual(bytes(0x82, 6, 0, 1, str("t"), 1));
    expect(encodePacket({ type: 10, packetId: 1, topicFilters: ["t"] }, 4)).toEqual(bytes(0xa2, 5, 0, 1, str("t")));
  });

  it("5.0 acks: Reason Code and Property Length omitted for Success without properties (§3.4.2.1)", () => {
    expect(encodePuback({ type: 4, packetId: 7 }, 5)).toEqual(bytes(0x40, 2, 0, 7));
    expect(encodePuback({ type: 4, packetId: 7, reasonCode: 0x10 }, 5)).toEqual(bytes(0x40, 3, 0, 7, 0x10));
    expect(encodePuback({ type: 4, packetId: 7, reasonCode: 0, properties: { reasonString: "x" } }, 5)).toEqual(
      bytes(0x40, 8, 0, 7, 0, 4, 0x1f, str("x")),
    );
  });

  it("5.0 DISCONNECT: Remaining Length 0 for Success without properties (§3.14.2.1); AUTH always in full (§3.15.2.1)", () => {
    expect(encodePacket({ type: 14 }, 5)).toEqual(bytes(0xe0, 0));
    expect(encodePacket({ type: 14, reasonCode: 0x8e }, 5)).toEqual(bytes(0xe0, 1, 0x8e));
    expect(encodeAuth({ type: 15 })).toEqual(bytes(0xf0, 2, 0, 0));
    expect(encodeAuth({ type: 15, reasonCode: 0x18 })).toEqual(bytes(0xf0, 2, 0x18, 0));
  });

  it("5.0 AUTH with Remaining Length 0 decodes as Success (§3.15.2.1)", () => {
    expect(decodeAll(bytes(0xf0, 0), 5).packets).toEqual([{ type: 15, reasonCode: 0 }]);
  });

  it("PINGREQ / PINGRESP (§3.12, §3.13)", () => {
    expect(encodePingreq()).toEqual(bytes(0xc0, 0));
    expect(encodePingresp()).toEqual(bytes(0xd0, 0));
  });

  it("SUBSCRIBE 5.0 options byte: QoS, No Local, RAP, Retain Handling (§3.8.3.1)", () => {
    const enc = encodePacket({ type: 8, packetId: 2, subscriptions: [{ topicFilter: "t", qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2 }] }, 5);
    expect(enc).toEqual(bytes(0x82, 7, 0, 2, 0, str("t"), 0x2e));
  });

  it("Remaining Length uses 2 bytes from 128 and 3 bytes from 16,384 (§1.5.5 Table 1-1)", () => {
    const p = (n: number): PublishPacket => ({ type: 3, topic: "t", payload: new Uint8Array(n), qos: 0, retain: false, dup: false });
    expect(Array.from(encodePublish(p(124), 4).subarray(0, 2))).toEqual([0x30, 127]);
    expect(Array.from(encodePublish(p(125), 4).subarray(0, 3))).toEqual([0x30, 0x80, 0x01]);
    expect(Array.from(encodePublish(p(16384 - 3), 4).subarray(0, 4))).toEqual([0x30, 0x80, 0x80, 0x01]);
    const big = encodePublish(p(16384 - 3), 4);
    const { packets } = decodeAll(big, 4);
    expect((packets[0] as PublishPacket).payload.length).toBe(16381);
  });

  it("the hot path: PUBLISH QoS 1 telemetry round trip in both versions", () => {
    for (const v of [4, 5] as const) {
      const p: PublishPacket = { type: 3, topic: TELE_TOPIC, payload: PAYLOAD_40, qos: 1, retain: false, dup: false, packetId: 42 };
      const enc = encodePublish(p, v);
      expect(enc.length).toBe(v === 4 ? 70 : 71);
      expect(decodeAll(enc, v).packets[0]).toEqual(p);
    }
  });
});

describe("MqttDecoder behaviour", () => {
  it("payload is a view of the fed chunk when the packet is whole, a copy with copyPayload", () => {
    const enc = encodePublish({ type: 3, topic: "t", payload: bytes(1, 2, 3), qos: 0, retain: false, dup: false }, 4);
    const view = decodeAll(enc, 4).packets[0] as PublishPacket;
    expect(view.payload.buffer).toBe(enc.buffer);
    const copy = decodeAll(enc, 4, { copyPayload: true }).packets[0] as PublishPacket;
    expect(copy.payload.buffer === enc.buffer).toBe(false);
    expect(copy.payload).toEqual(bytes(1, 2, 3));
  });

  it("returns the same string for a repeated topic (topic cache) and still distinguishes topics", () => {
    const d = new MqttDecoder({ version: 4 });
    const topics = ["a/1", "a/2", "a/3", "a/4", "a/5", "a/1", "a/2", "b"];
    for (const t of topics) {
      d.feed(encodePublish({ type: 3, topic: t, payload: bytes(), qos: 0, retain: false, dup: false }, 4));
      const p = d.next() as PublishPacket;
      expect(p.topic).toBe(t);
    }
  });

  it("each decoder has its own topic cache: topics of the same length, fed in turn, come back right [MQTT-3.3.2-2]", () => {
    const a = new MqttDecoder({ version: 4 });
    const b = new MqttDecoder({ version: 4 });
    const pub = (t: string) => encodePublish({ type: 3, topic: t, payload: bytes(), qos: 0, retain: false, dup: false }, 4);
    const seen: string[] = [];
    for (const [d, t] of [[a, "a/1"], [b, "b/1"], [a, "a/1"], [b, "a/2"], [a, "b/1"], [b, "b/1"], [a, "a/1"]] as [MqttDecoder, string][]) {
      d.feed(pub(t));
      seen.push((d.next() as PublishPacket).topic);
    }
    expect(seen).toEqual(["a/1", "b/1", "a/1", "a/2", "b/1", "b/1", "a/1"]);
    // A cached topic does not let a wildcard topic of the same length through.
    const bad = pub("a/1");
    bad[bad.length - 1] = 0x2b; // the topic's last byte (empty payload): "a/+"
    a.feed(bad);
    expect(a.next()).toBeUndefined();
    expect(a.error).toBeDefined();
  });

  it("feeding again before draining keeps every byte", () => {
    const a = encodePacket({ type: 12 }, 4);
    const b = encodePacket({ type: 4, packetId: 3 }, 4);
    const d = new MqttDecoder({ version: 4 });
    d.feed(a);
    d.feed(b);
    expect(d.next()).toEqual({ type: 12 });
    expect(d.next()).toEqual({ type: 4, packetId: 3, reasonCode: 0 });
    expect(d.next()).toBeUndefined();
    expect(d.buffered).toBe(0);
  });

  it("buffered counts a partial packet; empty chunks are ignored", () => {
    const enc = encodePublish({ type: 3, topic: "t", payload: new Uint8Array(10), qos: 0, retain: false, dup: false }, 4);
    const d = new MqttDecoder({ version: 4 });
    d.feed(enc.subarray(0, 6));
    d.feed(new Uint8Array(0));
    expect(d.next()).toBeUndefined();
    expect(d.buffered).toBe(6);
    d.feed(enc.subarray(6));
    expect(d.next()).toBeDefined();
    expect(d.buffered).toBe(0);
  });

  it("a CONNECT switches the decoder to its Protocol Level (§3.1.2.2)", () => {
    const d = new MqttDecoder({ version: 5 });
    d.feed(encodeConnect({ type: 1, protocolVersion: 4, clean: true, keepAlive: 1, clientId: "x" }));
    expect(d.next()).toBeDefined();
    expect(d.version).toBe(4);
    // A 3.1.1 PUBACK is now read without Reason Code.
    d.feed(bytes(0x40, 2, 0, 1));
    expect(d.next()).toEqual({ type: PacketType.PUBACK, packetId: 1, reasonCode: 0 });
  });

  it("reset() clears an error and a partial packet", () => {
    const d = new MqttDecoder({ version: 4 });
    d.feed(bytes(0x00, 0));
    expect(d.next()).toBeUndefined();
    expect(d.error).toBeDefined();
    d.reset(5);
    expect(d.error).toBeUndefined();
    expect(d.version).toBe(5);
    d.feed(bytes(0xc0, 0));
    expect(d.next()).toEqual({ type: 12 });
  });

  it("rejects bad options", () => {
    expect(() => new MqttDecoder({ version: 3 as MqttVersion })).toThrow(RangeError);
    expect(() => new MqttDecoder({ maximumPacketSize: 1 })).toThrow(RangeError);
  });
});
