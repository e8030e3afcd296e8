// @xs
/*
 * MqttSnSession (modules/mqttsn/session.ts), sans-IO: each procedure of MQTT-SN 1.2 §6
 * driven message by message, the gateway's side scripted through the codec.
 */
import { ACTIVE, ASLEEP, AWAKE, CONNECTING, DISCONNECTED, MqttSnSession, SEARCHING } from "../../modules/mqttsn/session";
import { shortTopicId } from "../../modules/mqttsn/codec";
import { SnSleep, SnTopicIds, SnWill } from "../../modules/mqttsn/session";
import { MAX_VALUE_BYTES } from "../../modules/platform/storage";
import { F, GW, GW2, Harness, text, types } from "./helpers";

describe("§6.2 connection setup", () => {
  it("CONNECT carries the flags, ProtocolId, Duration and ClientId; CONNACK makes it active", () => {
    const h = new Harness({ keepAlive: 30 });
    const out = h.call((s, now) => s.connect(now));
    expect(out).toEqual([{ type: 0x04, ...F, cleanSession: true, protocolId: 1, duration: 30, clientId: "dev1" }]);
    expect(h.sent[0].to).toEqual({ data: h.sent[0].to.data, address: GW.address, port: GW.port }); // to the gateway: no radius (§6.1: broadcasts have one)
    expect(h.s.state).toBe(CONNECTING);
    h.gw({ type: 0x05, returnCode: 0 });
    expect(h.s.state).toBe(ACTIVE);
    expect(h.eventsOf("connected")).toEqual([{ type: "connected", address: GW.address, port: GW.port, gwId: -1 }]);
  });

  it("the will dialogue: WILLTOPICREQ -> WILLTOPIC, WILLMSGREQ -> WILLMSG, then CONNACK (§6.2, Fig. 3)", () => {
    const h = new Harness({ will: { topic: "dev1/state", payload: "offline", qos: 1, retain: true } });
    expect(h.call((s, now) => s.connect(now))[0].will).toBe(true);
    expect(h.gw({ type: 0x06 })).toEqual([{ type: 0x07, ...F, qos: 1, retain: true, willTopic: "dev1/state" }]);
    const wm = h.gw({ type: 0x08 });
    expect(types(wm)).toEqual([0x09]);
    expect(text(wm[0].willMsg)).toBe("offline");
    h.gw({ type: 0x05, returnCode: 0 });
    expect(h.s.state).toBe(ACTIVE);
  });

  it("a lost WILLMSG is retransmitted after Tretry (§6.13)", () => {
    const h = new Harness({ will: { topic: "w", payload: "x" } });
    h.call((s, now) => s.connect(now));
    h.gw({ type: 0x06 });
    h.gw({ type: 0x08 });
    expect(types(h.advance(1000))).toEqual([0x09]);
  });

  it("cleanSession false is sent as asked (§6.3)", () => {
    const h = new Harness({ cleanSession: false });
    expect(h.call((s, now) => s.connect(now))[0].cleanSession).toBe(false);
  });

  it("'rejected: congestion' waits TWAIT and connects again (§6.2, §7.2)", () => {
    const h = new Harness();
    h.call((s, now) => s.connect(now));
    h.gw({ type: 0x05, returnCode: 1 });
    expect(h.advance(4999)).toEqual([]);
    expect(types(h.advance(1))).toEqual([0x04]);
  });

  it("a refusal ('not supported') tries the next gateway, and with none left ends disconnected", () => {
    const h = new Harness({ gateways: [GW, GW2] });
    h.call((s, now) => s.connect(now));
    const next = h.gw({ type: 0x05, returnCode: 3 });
    expect(types(next)).toEqual([0x04]);
    expect(h.sent[1].to.address).toBe(GW2.address);
    h.gw({ type: 0x05, returnCode: 3 }, GW2);
    expect(h.s.state).toBe(DISCONNECTED);
    expect(h.eventsOf("disconnected").length).toBe(2);
  });
});

describe("§6.13 retransmission and failover", () => {
  it("CONNECT is sent Nretry more times, Tretry apart, then the next gateway; the former one last", () => {
    const h = new Harness({ gateways: [GW, GW2] });
    h.call((s, now) => s.connect(now));
    const t0 = h.now;
    const out = h.advance(10000);
    const to = h.sent.map((x) => x.to.address + "@" + (x.m.type === 4 ? "C" : x.m.type));
    expect(to.slice(0, 6)).toEqual(["10.0.0.1@C", "10.0.0.1@C", "10.0.0.1@C", "10.0.0.2@C", "10.0.0.2@C", "10.0.0.2@C"]);
    expect(to[6]).toBe("10.0.0.1@C");
    expect(out.length).toBeGreaterThan(6);
    void t0;
  });

  it("a PUBLISH retransmitted has DUP set and the same MsgId", () => {
    const h = new Harness({ predefined: { "t/a": 5 } }).connected();
    const id = h.s.publish("t/a", "x", 1, false, h.now);
    const first = h.drain();
    expect(h.sent[h.sent.length - 1].m).toEqual({ type: 0x0c, ...F, qos: 1, topicIdType: 1, topicId: 5, msgId: id, data: h.sent[h.sent.length - 1].m.data });
    void first;
    const again = h.advance(1000);
    expect(again.length).toBe(1);
    expect(again[0].dup).toBe(true);
    expect(again[0].msgId).toBe(id);
  });

  it("no PUBACK after Nretry: the connection is lost and the message is sent again after reconnecting", () => {
    const h = new Harness({ predefined: { "t/a": 5 } }).connected();
    const id = h.s.publish("t/a", "x", 1, false, h.now);
    h.drain();
    const out = h.advance(3000);
    expect(types(out)).toEqual([0x0c, 0x0c, 0x04]); // 2 retries, then CONNECT
    expect(h.eventsOf("disconnected").length).toBe(1);
    const after = h.gw({ type: 0x05, returnCode: 0 });
    expect(after.length).toBe(1);
    expect(after[0]).toEqual({ type: 0x0c, ...F, dup: true, qos: 1, topicIdType: 1, topicId: 5, msgId: id, data: after[0].data });
    h.gw({ type: 0x0d, topicId: 5, msgId: id, returnCode: 0 });
    expect(h.eventsOf("published")).toEqual([{ type: "published", msgId: id }]);
  });
});

describe("§6.5-§6.8 publishing", () => {
  it("QoS 1 on a new topic: REGISTER, REGACK, PUBLISH with the id, PUBACK; stored first, deleted at the end", () => {
    const h = new Harness().connected();
    const id = h.s.publish("dev1/tele", "21.5", 1, false, h.now);
    const reg = h.drain();
    expect(h.store.has("o" + id)).toBe(true);
    expect(reg).toEqual([{ type: 0x0a, topicId: 0, msgId: reg[0].msgId, topicName: "dev1/tele" }]);
    const pub = h.gw({ type: 0x0b, topicId: 0x21, msgId: reg[0].msgId, returnCode: 0 });
    expect(pub).toEqual([{ type: 0x0c, ...F, qos: 1, topicId: 0x21, msgId: id, data: pub[0].data }]);
    expect(text(pub[0].data)).toBe("21.5");
    h.gw({ type: 0x0d, topicId: 0x21, msgId: id, returnCode: 0 });
    expect(h.eventsOf("published")).toEqual([{ type: "published", msgId: id }]);
    expect(h.store.has("o" + id)).toBe(false);
    expect(h.s.outbox.count).toBe(0);
    // the id is kept: the next PUBLISH needs no REGISTER
    h.s.publish("dev1/tele", "22", 0, false, h.now);
    expect(h.drain()).toEqual([{ type: 0x0c, ...F, topicId: 0x21, msgId: 0, data: h.sent[h.sent.length - 1].m.data }]);
  });

  it("QoS 2: a PUBREC for a message whose REGISTER is still open (its PUBLISH not sent) is dropped, the REGISTER goes on", () => {
    const h = new Harness().connected();
    const id = h.s.publish("q2/t", "v", 2, false, h.now);
    const reg = h.drain();
    expect(types(reg)).toEqual([0x0a]);
    expect(h.gw({ type: 0x0f, msgId: id })).toEqual([]);
    expect(h.eventsOf("dropped").map((e) => e.reason)).toEqual(["unexpected PUBREC"]);
    expect(new Uint8Array(h.store.get("o" + id)!)[0]).toBe(1);
    const pub = h.gw({ type: 0x0b, topicId: 5, msgId: reg[0].msgId, returnCode: 0 });
    expect(pub).toEqual([{ type: 0x0c, ...F, qos: 2, topicId: 5, msgId: id, data: pub[0].data }]);
  });

  it("QoS 2: PUBLISH, PUBREC, PUBREL (state 2 stored first), PUBCOMP", () => {
    const h = new Harness({ predefined: { p: 7 } }).connected();
    const id = h.s.publish("p", "v", 2, true, h.now);
    const pub = h.drain();
    expect(pub[0].qos).toBe(2);
    expect(pub[0].retain).toBe(true);
    const rel = h.gw({ type: 0x0f, msgId: id });
    expect(rel).toEqual([{ type: 0x10, msgId: id }]);
    expect(new Uint8Array(h.store.get("o" + id)!)[0]).toBe(2);
    expect(types(h.advance(1000))).toEqual([0x10]); // PUBREL retransmitted
    h.gw({ type: 0x0e, msgId: id });
    expect(h.eventsOf("published").length).toBe(1);
    expect(h.store.has("o" + id)).toBe(false);
  });

  it("one QoS 1/2 exchange at a time, in order (§6.6)", () => {
    const h = new Harness({ predefined: { p: 7 } }).connected();
    const a = h.s.publish("p", "1", 1, false, h.now);
    const b = h.s.publish("p", "2", 1, false, h.now);
    expect(types(h.drain())).toEqual([0x0c]);
    const next = h.gw({ type: 0x0d, topicId: 7, msgId: a, returnCode: 0 });
    expect(next[0].msgId).toBe(b);
  });

  it("QoS 0 waits for its topic's registration, then goes", () => {
    const h = new Harness().connected();
    h.s.publish("a/b", "x", 0, false, h.now);
    const reg = h.drain();
    expect(types(reg)).toEqual([0x0a]);
    const pub = h.gw({ type: 0x0b, topicId: 3, msgId: reg[0].msgId, returnCode: 0 });
    expect(pub).toEqual([{ type: 0x0c, ...F, topicId: 3, msgId: 0, data: pub[0].data }]);
  });

  it("QoS −1 (§6.8): no connection, pre-defined or short topics only", () => {
    const h = new Harness({ predefined: { "s/t": 9 } });
    expect(h.call((s, now) => s.publish("s/t", "x", -1, false, now))).toEqual([{ type: 0x0c, ...F, qos: -1, topicIdType: 1, topicId: 9, msgId: 0, data: h.sent[0].m.data }]);
    expect(h.call((s, now) => s.publish("ab", "x", -1, false, now))[0].topicIdType).toBe(2);
    expect(h.s.state).toBe(DISCONNECTED);
    expect(() => h.s.publish("a/long/name", "x", -1, false, h.now)).toThrow(TypeError);
  });

  it("QoS −1 is the qosMinus1 part's: with pre-defined ids but without it, refused and nothing sent", () => {
    const s = new MqttSnSession({ clientId: "dev1", gateway: GW, topics: new SnTopicIds({ "s/t": 9 }) });
    expect(() => s.publish("s/t", "x", -1, false, 0)).toThrow("mqttsn: QoS -1");
    expect(s.tx).toEqual([]);
  });

  it("a two-octet topic name is a short topic name (§6.7): no REGISTER", () => {
    const h = new Harness().connected();
    h.s.publish("ab", "x", 1, false, h.now);
    const out = h.drain();
    expect(out[0].topicIdType).toBe(2);
    expect(out[0].topicId).toBe(shortTopicId("ab"));
  });

  it("PUBACK 'invalid topic ID' for a normal id: REGISTER again, then PUBLISH again (§6.6)", () => {
    const h = new Harness().connected();
    const id = h.s.publish("x/y", "1", 1, false, h.now);
    const r1 = h.drain();
    h.gw({ type: 0x0b, topicId: 4, msgId: r1[0].msgId, returnCode: 0 });
    const r2 = h.gw({ type: 0x0d, topicId: 4, msgId: id, returnCode: 2 });
    expect(types(r2)).toEqual([0x0a]);
    const p2 = h.gw({ type: 0x0b, topicId: 8, msgId: r2[0].msgId, returnCode: 0 });
    expect(p2[0].topicId).toBe(8);
    expect(p2[0].msgId).toBe(id);
  });

  it("PUBACK 'invalid topic ID' for a pre-defined id fails the message (§6.7: no re-registration helps)", () => {
    const h = new Harness({ predefined: { p: 7 } }).connected();
    const id = h.s.publish("p", "1", 1, false, h.now);
    h.drain();
    h.gw({ type: 0x0d, topicId: 7, msgId: id, returnCode: 2 });
    expect(h.eventsOf("publish-failed")).toEqual([{ type: "publish-failed", msgId: id, topic: "p", reason: "PUBACK 2" }]);
    expect(h.s.outbox.count).toBe(0);
  });

  it("PUBACK 'rejected: congestion': nothing is published for TWAIT, then the same message (§6.6)", () => {
    const h = new Harness({ predefined: { p: 7 } }).connected();
    const id = h.s.publish("p", "1", 1, false, h.now);
    h.drain();
    h.gw({ type: 0x0d, topicId: 7, msgId: id, returnCode: 1 });
    expect(h.advance(4999).filter((m) => m.type === 0x0c)).toEqual([]);
    const again = h.advance(1);
    expect(again[0].msgId).toBe(id);
  });

  it("the outbox is bounded: publish throws when full and keeps every message it holds", () => {
    const h = new Harness({ predefined: { p: 7 }, maxMessages: 3 });
    for (let i = 0; i < 3; i++) h.s.publish("p", "m" + i, 1, false, h.now);
    expect(() => h.s.publish("p", "m3", 1, false, h.now)).toThrow(RangeError);
    expect(h.s.outbox.count).toBe(3);
    h.drain();
    expect([...h.store.keys()].filter((k) => k[0] === "o").length).toBe(3);
  });

  it("a record is one value of the store: topic and payload up to MAX_VALUE_BYTES - 8 octets, one more is refused", () => {
    const h = new Harness({ predefined: { p: 7 }, maxBytes: 8192 });
    expect(() => h.s.publish("p", new Uint8Array(MAX_VALUE_BYTES - 8), 1, false, h.now)).toThrow(RangeError);
    expect(h.s.outbox.count).toBe(0);
    h.s.publish("p", new Uint8Array(MAX_VALUE_BYTES - 9), 1, false, h.now);
    h.drain();
    expect(h.store.get("o1")!.byteLength).toBe(MAX_VALUE_BYTES);
  });

  it("bad outbox bounds are refused when the session is made", () => {
    for (const bounds of [{ maxMessages: 0 }, { maxMessages: 1001 }, { maxBytes: 63 }]) expect(() => new MqttSnSession({ clientId: "x", ...bounds })).toThrow("maxMessages (1-1000), maxBytes (64 on)");
  });

  it("QoS 0 without a connection is refused", () => {
    const h = new Harness();
    expect(() => h.s.publish("a", "x", 0, false, h.now)).toThrow(TypeError);
  });

  it("a topic name, filter or will topic too long for one message (§5.2.1: 65,535 octets) is refused, nothing queued; the longest that fits goes", () => {
    const h = new Harness().connected();
    const long = "a".repeat(21843);
    expect(() => h.s.publish(long, "x", 0, false, h.now)).toThrow("mqttsn: topic, payload");
    expect(() => h.s.subscribe(long + "/#", 0, h.now)).toThrow("mqttsn: subscribe");
    expect(() => new SnWill({ topic: long, payload: "x" })).toThrow("mqttsn: will");
    expect(h.s.ops.length).toBe(0);
    expect(h.drain()).toEqual([]);
    // The longest: 21,842 characters of 3 octets each (65,526) in a REGISTER of 65,534 octets.
    const reg = h.call((s, now) => s.publish("\u20ac".repeat(21842), "x", 0, false, now));
    expect(reg.map((m) => m.type)).toEqual([0x0a]);
    expect(h.sent[h.sent.length - 1].to.data.length).toBe(65534);
  });
});

describe("§6.9, §6.10 subscriptions and the gateway's publications", () => {
  it("SUBSCRIBE by name with a wildcard: SUBACK id 0, then REGISTER from the gateway, then PUBLISH", () => {
    const h = new Harness().connected();
    const sub = h.call((s, now) => s.subscribe("cmd/#", 1, now));
    expect(sub).toEqual([{ type: 0x12, ...F, qos: 1, msgId: sub[0].msgId, topicName: "cmd/#", topicId: 0 }]);
    h.gw({ type: 0x13, ...F, qos: 1, topicId: 0, msgId: sub[0].msgId, returnCode: 0 });
    expect(h.eventsOf("subscribed")).toEqual([{ type: "subscribed", topic: "cmd/#", qos: 1, returnCode: 0 }]);
    expect(h.gw({ type: 0x0a, topicId: 0x40, msgId: 77, topicName: "cmd/led" })).toEqual([{ type: 0x0b, topicId: 0x40, msgId: 77, returnCode: 0 }]);
    const ack = h.gw({ type: 0x0c, ...F, qos: 1, topicId: 0x40, msgId: 78, data: new Uint8Array([0x6f, 0x6e]) });
    expect(ack).toEqual([{ type: 0x0d, topicId: 0x40, msgId: 78, returnCode: 0 }]);
    const msg = h.eventsOf("message")[0];
    expect([msg.topic, text(msg.payload), msg.qos]).toEqual(["cmd/led", "on", 1]);
  });

  it("SUBSCRIBE by name without wildcards: the SUBACK's id is the topic's id", () => {
    const h = new Harness().connected();
    const sub = h.call((s, now) => s.subscribe("cfg/set", 0, now));
    h.gw({ type: 0x13, ...F, topicId: 0x51, msgId: sub[0].msgId, returnCode: 0 });
    h.gw({ type: 0x0c, ...F, topicId: 0x51, msgId: 0, data: new Uint8Array([0x31]) });
    expect(h.eventsOf("message")[0].topic).toBe("cfg/set");
  });

  it("SUBSCRIBE by pre-defined id and by short name; UNSUBSCRIBE", () => {
    const h = new Harness({ predefined: { "cmd/x": 12 } }).connected();
    const a = h.call((s, now) => s.subscribe("cmd/x", 2, now));
    expect([a[0].topicIdType, a[0].topicId, a[0].topicName]).toEqual([1, 12, undefined]);
    const b = h.gw({ type: 0x13, ...F, qos: 2, topicId: 12, msgId: a[0].msgId, returnCode: 0 });
    expect(types(b)).toEqual([]);
    const c = h.call((s, now) => s.subscribe("zz", 0, now));
    expect([c[0].topicIdType, c[0].topicId]).toEqual([2, shortTopicId("zz")]);
    h.gw({ type: 0x13, ...F, topicId: 0, msgId: c[0].msgId, returnCode: 0 });
    const u = h.call((s, now) => s.unsubscribe("cmd/x", now));
    expect([u[0].type, u[0].topicIdType, u[0].topicId]).toEqual([0x14, 1, 12]);
    h.gw({ type: 0x15, msgId: u[0].msgId });
    expect(h.eventsOf("unsubscribed")).toEqual([{ type: "unsubscribed", topic: "cmd/x" }]);
  });

  it("one SUBSCRIBE/UNSUBSCRIBE at a time (§6.9); a lost SUBSCRIBE is sent again with DUP", () => {
    const h = new Harness().connected();
    h.call((s, now) => s.subscribe("a/#", 0, now));
    expect(h.call((s, now) => s.subscribe("b/#", 0, now))).toEqual([]);
    const again = h.advance(1000);
    expect([again[0].type, again[0].dup, again[0].topicName]).toEqual([0x12, true, "a/#"]);
  });

  it("an unknown topic id is answered PUBACK 'invalid topic ID' (§6.10) and nothing is delivered", () => {
    const h = new Harness().connected();
    expect(h.gw({ type: 0x0c, ...F, topicId: 0x99, msgId: 0, data: new Uint8Array(1) })).toEqual([{ type: 0x0d, topicId: 0x99, msgId: 0, returnCode: 2 }]);
    expect(h.gw({ type: 0x0c, ...F, qos: 1, topicIdType: 1, topicId: 0x99, msgId: 4, data: new Uint8Array(1) })).toEqual([{ type: 0x0d, topicId: 0x99, msgId: 4, returnCode: 2 }]);
    expect(h.eventsOf("message")).toEqual([]);
  });

  it("inbound QoS 2: delivered once though sent twice, PUBREC each time, PUBCOMP after PUBREL; the id is stored until then", () => {
    const h = new Harness().connected();
    const p = { type: 0x0c as const, ...F, qos: 2 as const, topicIdType: 2 as const, topicId: shortTopicId("q2"), msgId: 9, data: new Uint8Array([1]) };
    expect(h.gw(p)).toEqual([{ type: 0x0f, msgId: 9 }]);
    expect(h.store.has("in")).toBe(true);
    expect(h.gw({ ...p, dup: true })).toEqual([{ type: 0x0f, msgId: 9 }]);
    expect(h.eventsOf("message").length).toBe(1);
    expect(h.gw({ type: 0x10, msgId: 9 })).toEqual([{ type: 0x0e, msgId: 9 }]);
    expect(new Uint8Array(h.store.get("in")!).length).toBe(0);
  });

  it("subscriptions are sent again after a clean reconnection", () => {
    const h = new Harness().connected();
    const sub = h.call((s, now) => s.subscribe("a/#", 1, now));
    h.gw({ type: 0x13, ...F, qos: 1, topicId: 0, msgId: sub[0].msgId, returnCode: 0 });
    h.gw({ type: 0x18, duration: undefined }); // §6.12: unsolicited DISCONNECT -> CONNECT
    expect(h.s.state).toBe(CONNECTING);
    const again = h.gw({ type: 0x05, returnCode: 0 });
    expect([again[0].type, again[0].topicName]).toEqual([0x12, "a/#"]);
  });

  it("cleanSession false: subscriptions are sent again after every CONNACK (§5.4.5 has no session-present flag: a gateway that lost the session looks like one that kept it), the registry is kept", () => {
    const h = new Harness({ cleanSession: false }).connected();
    const sub = h.call((s, now) => s.subscribe("cmd/#", 1, now));
    h.gw({ type: 0x13, ...F, qos: 1, topicId: 0, msgId: sub[0].msgId, returnCode: 0 });
    const reg = h.call((s, now) => s.publish("t/x", "1", 1, false, now));
    h.gw({ type: 0x0b, topicId: 7, msgId: reg[0].msgId, returnCode: 0 });
    h.gw({ type: 0x0d, topicId: 7, msgId: h.sent[h.sent.length - 1].m.msgId, returnCode: 0 });
    h.gw({ type: 0x18, duration: undefined }); // §6.12: unsolicited DISCONNECT (a restarted gateway) -> CONNECT
    expect(h.call((s, now) => s.connect(now))).toEqual([]); // already connecting: nothing queued twice
    const again = h.gw({ type: 0x05, returnCode: 0 });
    expect(again.map((m) => [m.type, m.topicName])).toEqual([[0x12, "cmd/#"]]);
    h.gw({ type: 0x13, ...F, qos: 1, topicId: 0, msgId: again[0].msgId, returnCode: 0 });
    // the topic id is kept; a gateway that lost it answers "invalid topic ID" and the name is registered again (§6.6)
    const pub = h.call((s, now) => s.publish("t/x", "2", 1, false, now));
    expect([pub[0].type, pub[0].topicId]).toEqual([0x0c, 7]);
    expect(types(h.gw({ type: 0x0d, topicId: 7, msgId: pub[0].msgId, returnCode: 2 }))).toEqual([0x0a]);
  });
});

describe("§6.4 will updates, §6.11 keep-alive, §6.12 disconnect", () => {
  it("WILLTOPICUPD and WILLMSGUPD, each acknowledged; no will: the empty WILLTOPICUPD", () => {
    const h = new Harness().connected();
    const a = h.call((s, now) => h.p.will.updateWill(s, { topic: "w/t", payload: "bye", qos: 1 }, now));
    expect(a).toEqual([{ type: 0x1a, ...F, qos: 1, willTopic: "w/t" }]);
    const b = h.gw({ type: 0x1b, returnCode: 0 });
    expect(types(b)).toEqual([0x1c]);
    expect(text(b[0].willMsg)).toBe("bye");
    h.gw({ type: 0x1d, returnCode: 0 });
    expect(h.eventsOf("will-updated").length).toBe(2);
    expect(h.call((s, now) => h.p.will.updateWill(s, undefined, now))).toEqual([{ type: 0x1a, ...F, willTopic: "" }]);
  });

  it("a will update that is not a will is refused as the will part's constructor refuses it: nothing queued, the will kept", () => {
    const h = new Harness({ will: { topic: "w/old", payload: "x" } }).connected();
    for (const w of [{ topic: "w/#", payload: "x" }, { topic: "w/t", payload: 5 }, { topic: "w/t", payload: "x", qos: 3 }])
      expect(() => h.p.will.updateWill(h.s, w as never, h.now)).toThrow("mqttsn: will");
    expect(h.drain()).toEqual([]);
    expect(h.p.will.will!.topic).toBe("w/old");
  });

  it("PINGREQ when nothing went out for the keep-alive period; window from half of it", () => {
    const h = new Harness({ keepAlive: 20 }).connected();
    const t = h.s.timeout()!;
    expect(t.latest - h.now).toBe(20000);
    expect(t.earliest - h.now).toBe(10000);
    expect(t.deadline).toBe(t.latest);
    expect(h.advance(19999)).toEqual([]);
    expect(h.advance(1)).toEqual([{ type: 0x16, clientId: undefined }]);
    h.gw({ type: 0x17 });
    expect(h.s.state).toBe(ACTIVE);
  });

  it("no PINGRESP after the retries: connection lost, reconnect (§6.11)", () => {
    const h = new Harness({ keepAlive: 10 }).connected();
    const out = h.advance(10000 + 3000);
    expect(types(out)).toEqual([0x16, 0x16, 0x16, 0x04]);
  });

  it("the gateway's PINGREQ is answered with PINGRESP", () => {
    const h = new Harness().connected();
    expect(h.gw({ type: 0x16, clientId: undefined })).toEqual([{ type: 0x17 }]);
  });

  it("DISCONNECT waits for the outbox, then the gateway's DISCONNECT ends the connection", () => {
    const h = new Harness({ predefined: { p: 1 } }).connected();
    const id = h.s.publish("p", "x", 1, false, h.now);
    h.drain();
    expect(h.call((s, now) => s.disconnect(now))).toEqual([]);
    expect(h.gw({ type: 0x0d, topicId: 1, msgId: id, returnCode: 0 })).toEqual([{ type: 0x18, duration: undefined }]);
    h.gw({ type: 0x18, duration: undefined });
    expect(h.s.state).toBe(DISCONNECTED);
  });
});

describe("§6.14 sleeping client", () => {
  function asleep(h: Harness, seconds = 60): Harness {
    h.connected();
    expect(h.call((s, now) => h.p.sleep.sleep(s, seconds, now))).toEqual([{ type: 0x18, duration: seconds }]);
    h.gw({ type: 0x18, duration: undefined });
    return h;
  }

  it("a Duration that is not an integer of 1-65535 s (§5.3.3) is refused, nothing sent; wake() when not asleep is refused", () => {
    const h = new Harness().connected();
    for (const seconds of [0, -1, 1.5, 65536, NaN]) expect(() => h.p.sleep.sleep(h.s, seconds, h.now)).toThrow("sleep: 1-65535 s");
    expect(() => h.p.sleep.wake(h.s, h.now)).toThrow("wake: not asleep");
    expect(h.drain()).toEqual([]);
    expect(h.s.state).toBe(ACTIVE);
  });

  it("DISCONNECT with a Duration; the gateway's DISCONNECT makes it asleep; no keep-alive while asleep", () => {
    const h = asleep(new Harness({ keepAlive: 10 }), 600);
    expect(h.s.state).toBe(ASLEEP);
    expect(h.eventsOf("asleep")).toEqual([{ type: "asleep", duration: 600 }]);
    expect(h.s.timeout()).toBeUndefined();
    expect(h.advance(100000)).toEqual([]);
  });

  it("awake: PINGREQ with the ClientId; buffered messages come, each answered; PINGRESP: asleep again", () => {
    const h = asleep(new Harness());
    expect(h.call((s, now) => h.p.sleep.wake(s, now))).toEqual([{ type: 0x16, clientId: "dev1" }]);
    expect(h.s.state).toBe(AWAKE);
    expect(h.gw({ type: 0x0a, topicId: 3, msgId: 1, topicName: "cmd" })).toEqual([{ type: 0x0b, topicId: 3, msgId: 1, returnCode: 0 }]);
    expect(h.gw({ type: 0x0c, ...F, qos: 1, topicId: 3, msgId: 2, data: new Uint8Array([0x61]) })).toEqual([{ type: 0x0d, topicId: 3, msgId: 2, returnCode: 0 }]);
    h.gw({ type: 0x17 });
    expect(h.s.state).toBe(ASLEEP);
    expect(h.eventsOf("message").map((e) => e.topic)).toEqual(["cmd"]);
  });

  it("while awake, every message but PINGRESP restarts Tretry; the PINGREQ is retransmitted, then back to sleep", () => {
    const h = asleep(new Harness());
    h.call((s, now) => h.p.sleep.wake(s, now));
    h.advance(900);
    h.gw({ type: 0x0c, ...F, topicIdType: 2, topicId: shortTopicId("ab"), msgId: 0, data: new Uint8Array(0) });
    expect(h.advance(999)).toEqual([]); // restarted at 900
    expect(h.advance(1)).toEqual([{ type: 0x16, clientId: "dev1" }]);
    h.advance(2000);
    expect(h.s.state).toBe(ASLEEP);
    expect(h.eventsOf("wake-failed").length).toBe(1);
  });

  it("a new Duration while asleep (DISCONNECT again)", () => {
    const h = asleep(new Harness());
    expect(h.call((s, now) => h.p.sleep.sleep(s, 120, now))).toEqual([{ type: 0x18, duration: 120 }]);
    h.gw({ type: 0x18, duration: undefined });
    expect(h.eventsOf("asleep").pop()).toEqual({ type: "asleep", duration: 120 });
  });

  it("SnSleep alone (the app's): sleep while asleep is refused, nothing sent (a new Duration is SnSleepUpdates')", () => {
    const sleep = new SnSleep();
    const h = new Harness({ lean: true, sleep }).connected();
    expect(h.call((s, now) => sleep.sleep(s, 60, now))).toEqual([{ type: 0x18, duration: 60 }]);
    h.gw({ type: 0x18, duration: undefined });
    expect(h.s.state).toBe(ASLEEP);
    expect(() => sleep.sleep(h.s, 120, h.now)).toThrow("sleep: not connected");
    expect(h.drain()).toEqual([]);
    expect(h.s.state).toBe(ASLEEP);
  });

  it("from asleep, CONNECT returns to active (cleanSession false keeps the registry)", () => {
    const h = asleep(new Harness({ cleanSession: false }));
    h.s.publish("t/x", "1", 1, false, h.now); // held while asleep
    expect(h.drain()).toEqual([]);
    expect(h.call((s, now) => s.connect(now))[0].cleanSession).toBe(false);
    expect(types(h.gw({ type: 0x05, returnCode: 0 }))).toEqual([0x0a]);
  });

  it("the sleep waits for the outbox (QoS 1 delivered first)", () => {
    const h = new Harness({ predefined: { p: 1 } }).connected();
    const id = h.s.publish("p", "x", 1, false, h.now);
    h.drain();
    expect(h.call((s, now) => h.p.sleep.sleep(s, 30, now))).toEqual([]);
    expect(h.gw({ type: 0x0d, topicId: 1, msgId: id, returnCode: 0 })).toEqual([{ type: 0x18, duration: 30 }]);
  });
});

describe("persistence across deep sleep and reboot", () => {
  it("the outbox, the registry and the asleep state come back; the device wakes without a new CONNECT", () => {
    const h = new Harness({ cleanSession: false, predefined: { p: 1 } }).connected();
    const reg = h.call((s, now) => s.publish("a/b", "kept", 1, false, now));
    h.gw({ type: 0x0b, topicId: 0x21, msgId: reg[0].msgId, returnCode: 0 });
    const id1 = h.sent[h.sent.length - 1].m.msgId;
    h.gw({ type: 0x0d, topicId: 0x21, msgId: id1, returnCode: 0 });
    h.call((s, now) => h.p.sleep.sleep(s, 300, now));
    h.gw({ type: 0x18, duration: undefined });
    h.s.publish("a/b", "while asleep", 1, false, h.now);
    h.drain();
    // "reboot": a new session from the store
    const r = new Harness({ cleanSession: false, predefined: { p: 1 }, gateways: [] }, h.store);
    expect(r.s.state).toBe(ASLEEP);
    expect([r.s.gw!.address, r.s.gw!.port, r.s.gw!.gwId]).toEqual([GW.address, GW.port, -1]);
    expect(r.s.outbox.count).toBe(1);
    expect(r.call((s, now) => r.p.sleep.wake(s, now))).toEqual([{ type: 0x16, clientId: "dev1" }]);
    r.gw({ type: 0x17 });
    // reconnect: the stored id of a/b is used, the message goes without REGISTER, DUP set
    r.call((s, now) => s.connect(now));
    const out = r.gw({ type: 0x05, returnCode: 0 });
    expect(out).toEqual([{ type: 0x0c, ...F, dup: true, qos: 1, topicId: 0x21, msgId: out[0].msgId, data: out[0].data }]);
    expect(text(out[0].data)).toBe("while asleep");
    expect(out[0].msgId).not.toBe(id1);
  });

  it("the 'reg' record octet by octet: the gateway's address:port, then id, length and UTF-8 name per topic in registration order; a name over 255 octets, and a topic past 4000 octets, left out; restored as saved", () => {
    const h = new Harness({ cleanSession: false }).connected();
    const names = ["a/b", "\u00e9/\u00fc/\u20ac", "L".repeat(256)];
    for (let k = 1; k <= 20; k++) names.push(("n/" + k + "/").padEnd(200, "x"));
    names.forEach((topicName, i) => h.gw({ type: 0x0a, topicId: 0x21 + i, msgId: 1 + i, topicName }));
    // The record built here from SnRegistryStore's rules (the ids of MQTT-SN 1.2 §6.5, §6.10): 1 + 13,
    // then 3 + 3 and 3 + 9 (UTF-8: 2 + 1 + 2 + 1 + 3), 19 names of 3 + 200 = 3889 octets; a 20th would make 4092.
    const enc = new TextEncoder();
    const want = [13, ...Array.from(enc.encode("10.0.0.1:1884"))];
    const left: string[] = [];
    names.forEach((name, i) => {
      const b = enc.encode(name);
      if (b.length > 255 || want.length + 3 + b.length > 4000) return void left.push(name);
      want.push(0, 0x21 + i, b.length, ...Array.from(b));
    });
    expect(left.map((n) => n.slice(0, 6))).toEqual(["LLLLLL", "n/20/x"]);
    expect(Array.from(new Uint8Array(h.store.get("reg")!))).toEqual(want);
    // after a reboot: the gateway's PUBLISHes on the kept ids are read, the left-out ones are not
    const r = new Harness({ cleanSession: false }, h.store);
    r.connected();
    for (const i of [1, 21, 22]) r.gw({ type: 0x0c, ...F, topicId: 0x21 + i, msgId: 0, data: new Uint8Array(0) });
    expect(r.eventsOf("message").map((e) => e.topic)).toEqual([names[1], names[21]]);
  });

  it("a 'meta' record that is not the sleep state's six fields is deleted, and the session starts disconnected", () => {
    const store = new Map<string, ArrayBuffer>([["meta", new Uint8Array([4, 255, 7, 92, 0, 1]).buffer]]);
    const r = new Harness({}, store);
    expect(r.store.has("meta")).toBe(false);
    expect(r.s.state).toBe(DISCONNECTED);
  });

  it("an outbox record whose topic is ill-formed UTF-8, and a value that is not an ArrayBuffer, are deleted; the rest restored", () => {
    const store = new Map<string, any>([
      ["o3", new Uint8Array([1, 1, 0, 0, 0, 1, 0, 1, 0xff, 0x78]).buffer],
      ["o4", 17],
      ["o5", new Uint8Array([1, 1, 0, 0, 0, 2, 0, 1, 0x70, 0x78]).buffer],
    ]);
    const r = new Harness({}, store);
    expect([...r.store.keys()]).toEqual(["o5"]);
    expect(r.s.outbox.list.map((e) => [e.msgId, e.topic])).toEqual([[5, "p"]]);
  });

  it("a corrupt record is deleted, the rest restored", () => {
    const store = new Map<string, ArrayBuffer>([
      ["o7", new Uint8Array([9, 9, 9]).buffer],
      ["o8", new Uint8Array([1, 1, 0, 0, 0, 1, 0, 1, 0x70, 0x78]).buffer],
    ]);
    const r = new Harness({}, store);
    expect(r.store.has("o7")).toBe(false);
    expect(r.s.outbox.count).toBe(1);
    expect(r.s.outbox.list[0].topic).toBe("p");
  });

  it("an outbox record the outbox never writes (PUBREL state at QoS 1, QoS 0 or 3) is deleted; before, one in the PUBREL state at QoS 1 made a session without the QoS 2 part throw out of receive() at the CONNACK", () => {
    // state, QoS | Retain << 2, sequence number, topic length, topic "p", payload "x"
    const rec = (state: number, qos: number) => new Uint8Array([state, qos, 0, 0, 0, 1, 0, 1, 0x70, 0x78]).buffer;
    const store = new Map<string, ArrayBuffer>([
      ["o1", rec(2, 1)],
      ["o2", rec(1, 0)],
      ["o3", rec(1, 3)],
      ["o4", rec(2, 3)],
      ["o5", rec(1, 1)],
      ["o6", rec(2, 2)],
      ["o7", rec(1, 2)],
    ]);
    const r = new Harness({ lean: true }, store);
    expect([...r.store.keys()]).toEqual(["o5", "o6", "o7"]);
    r.call((s, now) => s.connect(now));
    let out: any[] = [];
    expect(() => (out = r.gw({ type: 0x05, returnCode: 0 }))).not.toThrow();
    // The QoS 1 one goes; without the QoS 2 part the QoS 2 ones fail when their turn comes (docs/mqttsn.md, store records).
    expect(out.map((m) => [m.type, m.topicName])).toEqual([[0x0a, "p"]]);
    const [pub] = r.gw({ type: 0x0b, topicId: 3, msgId: out[0].msgId, returnCode: 0 });
    expect([pub.type, pub.msgId, pub.dup]).toEqual([0x0c, 5, true]);
    r.gw({ type: 0x0d, topicId: 3, msgId: 5, returnCode: 0 });
    expect(r.eventsOf("published")).toEqual([{ type: "published", msgId: 5 }]);
    expect(r.eventsOf("publish-failed").map((e) => [e.msgId, e.reason])).toEqual([
      [6, "QoS 2"],
      [7, "QoS 2"],
    ]);
    expect(r.s.outbox.count).toBe(0);
  });
});

describe("§6.1 gateway discovery", () => {
  it("SEARCHGW after a random delay under TSEARCHGW, broadcast; a GWINFO answers and CONNECT follows", () => {
    const h = new Harness({ gateways: [], searchDelayMs: 4000, random: () => 0.25, radius: 2 });
    h.call((s, now) => s.connect(now));
    expect(h.s.state).toBe(SEARCHING);
    expect(h.advance(999)).toEqual([]);
    const out = h.advance(1);
    expect(out).toEqual([{ type: 0x01, radius: 2 }]);
    expect(h.sent[0].to.address).toBeUndefined();
    expect(h.sent[0].to.radius).toBe(2);
    expect(h.gw({ type: 0x02, gwId: 5, gwAdd: undefined }, GW2)).toEqual([{ type: 0x04, ...F, cleanSession: true, protocolId: 1, duration: 60, clientId: "dev1" }]);
    expect(h.sent[1].to.address).toBe(GW2.address);
    expect(h.eventsOf("gateway")).toEqual([{ type: "gateway", gwId: 5, address: GW2.address, port: GW2.port }]);
  });

  it("no answer: SEARCHGW again at exponentially growing intervals", () => {
    const h = new Harness({ gateways: [], searchDelayMs: 1000, random: () => 0, waitMs: 60000 });
    h.call((s, now) => h.p.discovery.search(s, now));
    const t0 = h.now;
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      h.advance(h.s.timeout()!.deadline - h.now);
      times.push(h.now - t0);
    }
    expect(times).toEqual([0, 1000, 3000, 7000, 15000]);
  });

  it("another client's identical SEARCHGW during the delay stands for ours", () => {
    const h = new Harness({ gateways: [], searchDelayMs: 4000, random: () => 0.5 });
    h.call((s, now) => h.p.discovery.search(s, now));
    h.gw({ type: 0x01, radius: 1 }, { address: "10.0.0.9", port: 1884 });
    expect(h.advance(3999)).toEqual([]);
  });

  it("a GWINFO from another client carries the gateway's address (GwAdd: IPv4 + port)", () => {
    const h = new Harness({ gateways: [] });
    h.call((s, now) => h.p.discovery.search(s, now));
    const out = h.gw({ type: 0x02, gwId: 9, gwAdd: new Uint8Array([10, 0, 0, 2, 0x07, 0x5c]) }, { address: "10.0.0.9", port: 1884 });
    expect(types(out)).toEqual([0x04]);
    expect([h.sent[0].to.address, h.sent[0].to.port]).toEqual(["10.0.0.2", 1884]);
  });

  it("a client that knows a gateway answers a SEARCHGW with GWINFO after a random delay, unless a GWINFO is heard first", () => {
    const h = new Harness({ gateways: [], random: () => 0.5, gwInfoDelayMs: 2000 });
    h.gw({ type: 0x00, gwId: 4, duration: 900 }, GW);
    h.gw({ type: 0x01, radius: 3 }, { address: "10.0.0.9", port: 1884 });
    const out = h.advance(1000);
    expect(out).toEqual([{ type: 0x02, gwId: 4, gwAdd: out[0].gwAdd }]);
    expect([...out[0].gwAdd]).toEqual([10, 0, 0, 1, 0x07, 0x5c]);
    expect(h.sent[h.sent.length - 1].to.radius).toBe(3);
    h.gw({ type: 0x01, radius: 3 }, { address: "10.0.0.9", port: 1884 });
    h.gw({ type: 0x02, gwId: 4, gwAdd: undefined }, GW);
    expect(h.advance(5000).filter((m) => m.type === 0x02)).toEqual([]);
  });

  it("ADVERTISE tracking: a gateway that misses NADV advertisements is dropped; the connected client fails over", () => {
    const h = new Harness({ gateways: [GW2], advertiseMisses: 2, keepAlive: 0 });
    h.gw({ type: 0x00, gwId: 1, duration: 10 }, GW); // heard at 1000: gone at 1000 + 2.5 x 10 s
    h.call((s, now) => s.connect(now)); // GW2, configured first
    h.gw({ type: 0x05, returnCode: 0 }, GW2);
    h.advance(5000);
    h.gw({ type: 0x00, gwId: 2, duration: 10 }, GW2); // heard at 6000
    h.advance(19999);
    expect(h.eventsOf("gateway-lost")).toEqual([]);
    h.advance(1);
    expect(h.eventsOf("gateway-lost")).toEqual([{ type: "gateway-lost", gwId: 1, address: GW.address, port: GW.port }]);
    expect(h.s.state).toBe(ACTIVE);
    h.advance(5000);
    expect(h.eventsOf("gateway-lost").map((e) => e.gwId)).toEqual([1, 2]);
    expect(h.s.state).toBe(SEARCHING); // no gateway left
  });
});

describe("bad input at the client: dropped or answered as the spec says, nothing thrown, nothing grows", () => {
  const hostile: [string, number[]][] = [
    ["empty", []],
    ["one octet", [1]],
    ["Length 0", [0, 0x05]],
    ["Length past the datagram", [9, 0x05, 0]],
    ["trailing octets", [3, 0x05, 0, 0]],
    ["3-octet Length truncated", [1, 0]],
    ["reserved MsgType 0x03", [2, 0x03]],
    ["reserved MsgType 0x1F", [2, 0x1f]],
    ["CONNACK reserved code", [3, 0x05, 9]],
    ["CONNACK while active", [3, 0x05, 0]],
    ["WILLTOPICREQ while active", [2, 0x06]],
    ["WILLMSGREQ while active", [2, 0x08]],
    ["REGACK nobody asked for", [7, 0x0b, 0, 1, 0, 1, 0]],
    ["PUBACK nobody asked for", [7, 0x0d, 0, 1, 0, 9, 0]],
    ["PUBREC nobody asked for", [4, 0x0f, 0, 9]],
    ["PUBCOMP nobody asked for", [4, 0x0e, 0, 9]],
    ["SUBACK nobody asked for", [8, 0x13, 0, 0, 1, 0, 9, 0]],
    ["UNSUBACK nobody asked for", [4, 0x15, 0, 9]],
    ["PINGRESP nobody asked for", [2, 0x17]],
    ["WILLTOPICRESP nobody asked for", [3, 0x1b, 0]],
    ["WILLMSGRESP nobody asked for", [3, 0x1d, 0]],
    ["CONNECT (a client's message)", [7, 0x04, 4, 1, 0, 10, 0x61]],
    ["SUBSCRIBE (a client's message)", [7, 0x12, 0, 0, 1, 0x61, 0x62]],
    ["WILLMSG (a client's message)", [3, 0x09, 0x61]],
    ["REGISTER with a wildcard", [8, 0x0a, 0, 5, 0, 1, 0x61, 0x23]],
    ["REGISTER with ill-formed UTF-8", [7, 0x0a, 0, 5, 0, 1, 0xff]],
    ["PUBLISH with TopicIdType 3", [8, 0x0c, 0x03, 0, 1, 0, 0, 0x61]],
    ["PUBLISH QoS 1 MsgId 0", [8, 0x0c, 0x20, 0, 1, 0, 0, 0x61]],
    ["PUBLISH to an unknown topic id", [8, 0x0c, 0x00, 0x12, 0x34, 0, 0, 0x61]],
    ["PUBLISH to an unknown pre-defined id, QoS 1", [8, 0x0c, 0x21, 0x12, 0x34, 0, 7, 0x61]],
    ["PUBLISH short topic that is not UTF-8", [8, 0x0c, 0x02, 0xff, 0xfe, 0, 0, 0x61]],
    ["ENCAPSULATED", [5, 0xfe, 0, 1, 2, 2, 0x17]],
    ["ADVERTISE truncated", [4, 0x00, 1, 0]],
    ["GWINFO with a 3-octet GwAdd", [6, 0x02, 1, 1, 2, 3]],
    ["oversized datagram (3-octet Length)", [1, 0x10, 0x04].concat(new Array(0x1001).fill(0))],
  ];
  it("has at least 30 cases", () => expect(hostile.length).toBeGreaterThanOrEqual(30));
  for (const [name, bytes] of hostile) {
    it(name, () => {
      const h = new Harness().connected();
      const before = h.s.state;
      let out: any[] = [];
      expect(() => (out = h.raw(new Uint8Array(bytes)))).not.toThrow();
      expect(h.s.state).toBe(before);
      // answered only where the spec says: an unknown topic id gets PUBACK "invalid topic ID" (§6.10)
      for (const m of out) expect([m.type, m.returnCode]).toEqual([0x0d, 2]);
      expect(h.eventsOf("message")).toEqual([]);
    });
  }

  it("a datagram from another address is dropped", () => {
    const h = new Harness().connected();
    h.gw({ type: 0x0c, ...F, topicIdType: 2, topicId: shortTopicId("ab"), msgId: 0, data: new Uint8Array(1) }, { address: "10.6.6.6", port: 1884 });
    expect(h.eventsOf("message")).toEqual([]);
    expect(h.eventsOf("dropped").pop().reason).toBe("not from the gateway");
  });

  it("a flood of REGISTERs keeps at most maxTopics ids; unreleased QoS 2 ids stay at 16", () => {
    const h = new Harness({ maxTopics: 8 }).connected();
    for (let i = 1; i <= 200; i++) h.gw({ type: 0x0a, topicId: i, msgId: i, topicName: "t/" + i });
    const reg = new Uint8Array(h.store.get("reg")!);
    expect(reg.length).toBeLessThan(200);
    // only the last 8 are known
    h.gw({ type: 0x0c, ...F, topicId: 1, msgId: 0, data: new Uint8Array(0) });
    h.gw({ type: 0x0c, ...F, topicId: 200, msgId: 0, data: new Uint8Array(0) });
    expect(h.eventsOf("message").map((e) => e.topic)).toEqual(["t/200"]);
    for (let i = 1; i <= 40; i++) h.gw({ type: 0x0c, ...F, qos: 2, topicId: 200, msgId: 1000 + i, data: new Uint8Array(0) });
    expect(new Uint8Array(h.store.get("in")!).length).toBe(32);
  });

  it("a session refuses bad options", () => {
    expect(() => new MqttSnSession({ clientId: "" })).toThrow(TypeError);
    expect(() => new MqttSnSession({ clientId: "x".repeat(24) })).toThrow(TypeError);
    expect(() => new SnTopicIds({ t: 0 })).toThrow(TypeError);
    expect(() => new SnWill({ topic: "a/#", payload: "" })).toThrow(TypeError);
  });
});

describe("§6.12 a DISCONNECT in answer to CONNECT", () => {
  it("is a refusal: CONNECT again after Tretry, then after a wait that doubles, never at once (Paho #248 answers WILLTOPIC so)", () => {
    const h = new Harness({ will: { topic: "w", payload: "x" }, retryMs: 1000, waitMs: 8000 });
    h.call((s, now) => s.connect(now));
    const t0 = h.now;
    const at: number[] = [];
    for (let i = 0; i < 5; i++) {
      h.gw({ type: 0x06 });
      expect(h.gw({ type: 0x18, duration: undefined })).toEqual([]);
      const out = h.advance(h.s.timeout()!.deadline - h.now);
      expect(types(out)).toEqual([0x04]);
      at.push(h.now - t0);
    }
    expect(at).toEqual([1000, 3000, 7000, 15000, 23000]);
  });

  it("with another gateway known, that one is tried at once", () => {
    const h = new Harness({ gateways: [GW, GW2] });
    h.call((s, now) => s.connect(now));
    const out = h.gw({ type: 0x18, duration: undefined });
    expect(types(out)).toEqual([0x04]);
    expect(h.sent[h.sent.length - 1].to.address).toBe(GW2.address);
  });
});

describe("the lean core: a session given no part", () => {
  it("connects, registers, publishes at QoS 0 and 1, subscribes by name and receives; a CONNECT has no Will flag", () => {
    const h = new Harness({ lean: true });
    expect(h.call((s, now) => s.connect(now))).toEqual([{ type: 0x04, ...F, cleanSession: true, protocolId: 1, duration: 60, clientId: "dev1" }]);
    h.gw({ type: 0x05, returnCode: 0 });
    const id = h.s.publish("dev1/tele", "1", 1, false, h.now);
    const reg = h.drain();
    expect(types(reg)).toEqual([0x0a]);
    const pub = h.gw({ type: 0x0b, topicId: 0x21, msgId: reg[0].msgId, returnCode: 0 });
    expect(pub).toEqual([{ type: 0x0c, ...F, qos: 1, topicId: 0x21, msgId: id, data: pub[0].data }]);
    h.gw({ type: 0x0d, topicId: 0x21, msgId: id, returnCode: 0 });
    expect(h.eventsOf("published")).toEqual([{ type: "published", msgId: id }]);
    h.s.publish("dev1/tele", "2", 0, false, h.now);
    expect(types(h.drain())).toEqual([0x0c]);
    const sub = h.call((s, now) => s.subscribe("dev1/cmd/#", 1, now));
    h.gw({ type: 0x13, ...F, qos: 1, topicId: 0, msgId: sub[0].msgId, returnCode: 0 });
    h.gw({ type: 0x0a, topicId: 0x40, msgId: 5, topicName: "dev1/cmd/x" });
    expect(h.gw({ type: 0x0c, ...F, qos: 1, topicId: 0x40, msgId: 6, data: new Uint8Array([0x31]) })).toEqual([{ type: 0x0d, topicId: 0x40, msgId: 6, returnCode: 0 }]);
    expect(h.eventsOf("message").map((e) => e.topic)).toEqual(["dev1/cmd/x"]);
    // nothing went to the store but the outbox's records
    expect([...h.store.keys()]).toEqual([]);
  });

  it("refuses what needs a part: QoS 2 and QoS −1 (publish and subscribe), nothing changed", () => {
    const h = new Harness({ lean: true, predefined: { p: 7 } }).connected();
    expect(() => h.s.publish("p", "x", 2, false, h.now)).toThrow(TypeError);
    expect(() => h.s.publish("p", "x", -1, false, h.now)).toThrow(TypeError);
    expect(() => h.s.subscribe("a", 2, h.now)).toThrow(TypeError);
    expect(h.s.outbox.count).toBe(0);
    expect(h.drain()).toEqual([]);
  });

  it("drops what needs a part: a will request, ADVERTISE, a QoS 2 PUBLISH; a pre-defined or short id is unknown (§6.10)", () => {
    const h = new Harness({ lean: true });
    h.call((s, now) => s.connect(now));
    expect(h.gw({ type: 0x06 })).toEqual([]);
    h.gw({ type: 0x05, returnCode: 0 });
    expect(h.gw({ type: 0x00, gwId: 1, duration: 10 })).toEqual([]);
    expect(h.gw({ type: 0x0c, ...F, qos: 1, topicIdType: 1, topicId: 7, msgId: 3, data: new Uint8Array(1) })).toEqual([{ type: 0x0d, topicId: 7, msgId: 3, returnCode: 2 }]);
    h.gw({ type: 0x0a, topicId: 9, msgId: 4, topicName: "q" });
    expect(h.gw({ type: 0x0c, ...F, qos: 2, topicId: 9, msgId: 5, data: new Uint8Array(1) })).toEqual([]);
    expect(h.eventsOf("message")).toEqual([]);
    expect(h.eventsOf("dropped").length).toBe(4);
  });

  it("no reply after Nretry: CONNECT to the same gateway again (no other is known)", () => {
    const h = new Harness({ lean: true }).connected();
    h.s.publish("t", "x", 1, false, h.now);
    h.drain();
    expect(types(h.advance(3000))).toEqual([0x0a, 0x0a, 0x04]);
    expect(h.sent[h.sent.length - 1].to.address).toBe(GW.address);
    expect(h.eventsOf("disconnected")).toEqual([{ type: "disconnected", reason: "no reply" }]);
  });
});

describe("found by the fuzz (session-fuzz.test.ts), each reproduced", () => {
  it("a REGACK refusing the topic of a QoS 0 message that already went (its id came by the gateway's REGISTER) fails nothing and leaves the request behind it queued (§6.5, §6.10)", () => {
    const h = new Harness().connected();
    const [register] = h.call((s, now) => s.publish("t/q0", "x", 0, false, now));
    expect([register.type, register.topicName]).toEqual([0x0a, "t/q0"]);
    h.call((s, now) => s.subscribe("s/1", 1, now)); // queued behind the QoS 0 message
    // The gateway registers the same topic itself (§6.10): answered REGACK.
    expect(types(h.gw({ type: 0x0a, topicId: 7, msgId: 50, topicName: "t/q0" }))).toEqual([0x0b]);
    // Tretry: the REGISTER again, and the QoS 0 message goes on the id the gateway gave.
    const again = h.advance(1000);
    expect(again.map((m) => [m.type, m.topicId])).toEqual([[0x0a, 0], [0x0c, 7]]);
    // The gateway refuses our REGISTER: the message went already, so nothing fails; the SUBSCRIBE
    // behind it goes now. (Before: the SUBSCRIBE was taken off the queue instead, never sent and never
    // reported, and the QoS 0 message that went was reported failed.)
    const out = h.gw({ type: 0x0b, topicId: 0, msgId: register.msgId, returnCode: 3 });
    expect(out.map((m) => [m.type, m.topicName])).toEqual([[0x12, "s/1"]]);
    expect(h.eventsOf("publish-failed")).toEqual([]);
    h.gw({ type: 0x13, ...F, qos: 1, topicId: 0, msgId: out[0].msgId, returnCode: 0 });
    expect(h.eventsOf("subscribed").map((e) => e.topic)).toEqual(["s/1"]);
  });

  it("a REGACK refusing the topic of a QoS 0 message still queued fails it (MsgId 0) and only it", () => {
    const h = new Harness().connected();
    const [register] = h.call((s, now) => s.publish("t/q0", "x", 0, false, now));
    h.call((s, now) => s.subscribe("s/1", 1, now));
    const out = h.gw({ type: 0x0b, topicId: 0, msgId: register.msgId, returnCode: 3 });
    expect(h.eventsOf("publish-failed")).toEqual([{ type: "publish-failed", msgId: 0, topic: "t/q0", reason: "REGACK 3" }]);
    expect(out.map((m) => [m.type, m.topicName])).toEqual([[0x12, "s/1"]]);
  });

  it("a filter that is empty, holds U+0000 or a lone surrogate, or is too long for one message is refused by unsubscribe() and subscribe() (§5.3, §5.3.12, §5.2.1): nothing queued, nothing sent", () => {
    // (Before: unsubscribe("") sent an UNSUBSCRIBE with no TopicName, U+0000 went out malformed, and a
    // lone surrogate made the UTF-8 encoder throw out of receive() or handleTimeout() when its turn came.)
    const h = new Harness().connected();
    for (const bad of ["", "a\u0000b", "a\ud800", "x".repeat(21843)]) {
      expect(() => h.call((s, now) => s.unsubscribe(bad, now))).toThrow(TypeError);
      if (bad) expect(() => h.call((s, now) => s.subscribe(bad, 1, now))).toThrow(TypeError);
    }
    expect(h.s.ops).toEqual([]);
    expect(h.s.subs.size).toBe(0);
    expect(types(h.gw({ type: 0x16, clientId: undefined }))).toEqual([0x17]); // nothing else went
    // The filters that are fine still go: a wildcard, the longest that fits, a surrogate pair.
    for (const good of ["a/#", "x".repeat(21842), "\ud83d\ude00/+"]) {
      const [m] = h.call((s, now) => s.unsubscribe(good, now));
      expect([m.type, m.topicName]).toEqual([0x14, good]);
      h.gw({ type: 0x15, msgId: m.msgId });
    }
  });

  it("a topic name with a lone surrogate is refused by publish() at every QoS (§5.3.12), nothing queued; before, a QoS 0 one was queued and its REGISTER threw out of publish() and out of every later call that ran the queue (receive(), handleTimeout())", () => {
    const h = new Harness().connected();
    for (const qos of [0, 1, 2] as const) expect(() => h.call((s, now) => s.publish("t/\udc00", "x", qos, false, now))).toThrow(TypeError);
    expect(h.s.ops).toEqual([]);
    expect(h.s.outbox.count).toBe(0);
    expect(() => h.advance(60000)).not.toThrow();
  });

  it("a will payload or ClientId with a lone surrogate is refused when made (§5.3.12); before, the will was taken and receive() threw at WILLMSGREQ, and the ClientId threw at each CONNECT", () => {
    expect(() => new SnWill({ topic: "w/1", payload: "a\ud800" })).toThrow(TypeError);
    expect(() => new SnWill({ topic: "w/\ud800", payload: "a" })).toThrow(TypeError);
    expect(() => new MqttSnSession({ clientId: "dev\ud800" })).toThrow(TypeError);
    expect(() => new MqttSnSession({ clientId: "dev\u0000" })).toThrow(TypeError);
    // A surrogate pair is text: taken, and sent as UTF-8.
    const h = new Harness({ clientId: "d\ud83d\ude00", will: { topic: "w/1", payload: "\ud83d\ude00" } });
    const [connect] = h.call((s, now) => s.connect(now));
    expect(connect.clientId).toBe("d\ud83d\ude00");
    h.gw({ type: 0x06 });
    const [willMsg] = h.gw({ type: 0x08 });
    expect(Array.from(willMsg.willMsg)).toEqual([0xf0, 0x9f, 0x98, 0x80]);
  });
});

