// @xs
/*
 * MQTT 3.1.1 alone: MqttSession without the 5.0 part, the outbox and the codec WITHOUT the
 * 5.0 properties codec (nothing hands them ./properties.ts `properties5`, as in a 3.1.1 app's
 * firmware, which never imports ./mqtt5.ts: host-tests/mqtt/imports.test.ts checks that).
 * The test's broker side is host-tests/support/mqtt-codec.ts, also told to use no properties
 * codec. Checks that this works on its own: CONNECT/CONNACK, QoS 1 and 2 both ways, a
 * persisted message resent after a restart, and clear refusals of what needs 5.0.
 */
import { MqttDecoder as ClientDecoder } from "../../modules/mqtt/decoder";
import type { MqttPacket, MqttVersion } from "../../modules/mqtt/packets";
import { MqttOutbox } from "../../modules/mqtt/outbox";
import { KvOutboxStore } from "../../modules/mqtt/outbox-store";
import { MqttEvent, MqttSession, SessionState } from "../../modules/mqtt/session";
import { FlashStore } from "../../sim/flash-store";
import { encodePacket as encodeWith, MqttDecoder as BrokerDecoder } from "../support/mqtt-codec";

/** The broker side, with no 5.0 properties codec either. */
const encodePacket = (p: MqttPacket, v: MqttVersion) => encodeWith(p, v, null);
class MqttDecoder extends BrokerDecoder {
  constructor(o: { version: MqttVersion }) {
    super({ ...o, properties: undefined });
  }
}

function rig(store = new FlashStore()) {
  const outbox = new MqttOutbox({ store: new KvOutboxStore(store), version: 4 });
  const written: Uint8Array[] = [];
  const delivered: number[] = [];
  const messages: string[] = [];
  const session = new MqttSession({ clientId: "dev-311", keepAlive: 60 }, outbox);
  /** A binding's work after each call: the bytes out, the events read. */
  const drain = () => {
    for (const b of session.tx) written.push(b.slice());
    session.tx.length = 0;
    const ev = session.events;
    for (let i = 0; i < ev.length; i += 4) {
      if (ev[i] === MqttEvent.Delivered && !ev[i + 2]) delivered.push((ev[i + 1] as { packetId: number }).packetId);
      if (ev[i] === MqttEvent.Message) messages.push((ev[i + 1] as { topic: string }).topic);
    }
    ev.length = 0;
  };
  const decoder = new MqttDecoder({ version: 4 });
  let read = 0;
  const sent = (): MqttPacket[] => {
    const out: MqttPacket[] = [];
    for (; read < written.length; read++) {
      decoder.feed(written[read]);
      for (let p = decoder.next(); p !== undefined; p = decoder.next()) out.push(p);
    }
    return out;
  };
  const serve = (p: MqttPacket) => {
    session.receive(encodePacket(p, 4), 0);
    drain();
  };
  const connect = () => {
    session.connect(0);
    drain();
  };
  const publish = (topic: string, payload: string, qos: 1 | 2) => {
    const id = session.publish(topic, payload, { qos }, undefined, 0);
    drain();
    return id;
  };
  return { store, outbox, session, sent, serve, connect, publish, delivered, messages };
}

describe("MQTT 3.1.1 alone: no 5.0 part, no properties codec", () => {
  it("a client's decoder (no clientPackets given) refuses a CONNECT / SUBSCRIBE / UNSUBSCRIBE (only a client sends them) with 0x82 [MQTT-3.2.0-1] §2.1.2", () => {
    {
      const bytes = [
        encodePacket({ type: 1, protocolVersion: 4, clean: true, keepAlive: 0, clientId: "x" }, 4),
        encodePacket({ type: 8, packetId: 1, subscriptions: [{ topicFilter: "a", qos: 0 }] }, 4),
        encodePacket({ type: 10, packetId: 1, topicFilters: ["a"] }, 4),
      ];
      for (let i = 0; i < bytes.length; i++) {
        const dec = new ClientDecoder({ version: 4 });
        dec.feed(bytes[i]);
        expect(dec.next()).toBeUndefined();
        expect(dec.error?.reasonCode).toBe(0x82);
        expect(dec.error?.statement).toBe("§2.1.2");
      }
      // The session turns it into a closed connection (3.1.1), outbox untouched.
      const r = rig();
      r.connect();
      r.session.receive(bytes[0], 0);
      expect(r.session.state).toBe(SessionState.Disconnected);
      // A broker's decoder (given clientPackets): the same bytes decode.
      const dec = new MqttDecoder({ version: 4 });
      dec.feed(bytes[1]);
      expect(dec.next()?.type).toBe(8);
    }
  });

  it("a session without the 5.0 part speaks 3.1.1 (Protocol Level 4) and has no 5.0 limits to keep", () => {
    const r = rig();
    expect(r.session.version).toBe(4);
    expect(r.session.v5).toBeUndefined();
    r.connect();
    expect((r.sent()[0] as { protocolVersion: number }).protocolVersion).toBe(4);
  });

  it("encoding a property without the 5.0 codec is refused (0x84); a 5.0 PUBLISH without properties still encodes (the outbox's record form) [MQTT-2.2.2-1]", () => {
    const withProps: MqttPacket = { type: 3, topic: "a/b", payload: new Uint8Array([1]), qos: 0, retain: false, dup: false, properties: { contentType: "x" } };
    expect(() => encodePacket(withProps, 5)).toThrow("not built in");
    const bytes = encodePacket({ type: 3, topic: "a/b", payload: new Uint8Array([7]), qos: 1, retain: false, dup: false, packetId: 9 }, 5);
    const d = new MqttDecoder({ version: 5 });
    d.feed(bytes);
    const p = d.next() as { topic: string; packetId: number; properties: unknown };
    expect(p.topic).toBe("a/b");
    expect(p.packetId).toBe(9);
    expect(p.properties).toBeUndefined();
  });

  it("CONNECT level 4, QoS 1 out and PUBACK [MQTT-4.3.2-1], QoS 2 in with PUBREC/PUBREL/PUBCOMP [MQTT-4.3.3-8], [MQTT-4.3.3-11]", () => {
    const r = rig();
    r.connect();
    const c = r.sent();
    expect(c.length).toBe(1);
    expect(c[0].type).toBe(1);
    expect((c[0] as { protocolVersion: number }).protocolVersion).toBe(4);
    r.serve({ type: 2, sessionPresent: false, reasonCode: 0 });
    expect(r.session.connected).toBe(true);
    const id = r.publish("t/1", "hi", 1);
    const pub = r.sent();
    expect(pub.length).toBe(1);
    expect(pub[0].type).toBe(3);
    r.serve({ type: 4, packetId: id });
    expect(r.delivered).toEqual([id]);
    expect(r.outbox.list().length).toBe(0);
    r.serve({ type: 3, topic: "in/2", payload: new Uint8Array([1]), qos: 2, retain: false, dup: false, packetId: 77 });
    expect(r.messages).toEqual(["in/2"]);
    expect(r.sent().map((p) => p.type)).toEqual([5]);
    r.serve({ type: 6, packetId: 77 });
    expect(r.sent().map((p) => p.type)).toEqual([7]);
  });

  it("a QoS 1 message survives a restart in the persistent outbox and is resent with DUP and the same identifier [MQTT-4.4.0-1]", () => {
    const a = rig();
    a.connect();
    a.sent();
    a.serve({ type: 2, sessionPresent: false, reasonCode: 0 });
    const id = a.publish("keep/me", "v", 1);
    expect(a.sent().length).toBe(1);
    // "reboot": a new outbox and session on the same flash
    const b = rig(a.store);
    expect(b.outbox.list().length).toBe(1);
    b.connect();
    b.sent();
    b.serve({ type: 2, sessionPresent: true, reasonCode: 0 });
    const again = b.sent() as { type: number; dup: boolean; packetId: number; topic: string }[];
    expect(again.length).toBe(1);
    expect(again[0].topic).toBe("keep/me");
    expect(again[0].dup).toBe(true);
    expect(again[0].packetId).toBe(id);
  });
});
