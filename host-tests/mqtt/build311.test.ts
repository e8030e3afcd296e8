// @xs
/*
 * The 3.1.1-only build (modules/mqtt/client311.ts): MqttSessionCore, the outbox and the
 * codec WITHOUT the 5.0 properties codec (nothing hands them ./properties.ts `properties5`,
 * as on such a device). The test's broker side is host-tests/support/mqtt-codec.ts, also
 * told to use no properties codec. Checks that the build works on its own: CONNECT/CONNACK,
 * QoS 1 and 2 both ways, a persisted message resent after a restart, and clear refusals of
 * what needs 5.0.
 */
import { MqttDecoder as ClientDecoder } from "../../modules/mqtt/decoder";
import type { MqttPacket, MqttVersion } from "../../modules/mqtt/packets";
import { MqttOutbox } from "../../modules/mqtt/outbox";
import { MqttSessionCore } from "../../modules/mqtt/session-core";
import type { MqttTransport } from "../../modules/mqtt/session-core";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { FlashStore } from "../../sim/flash-store";
import { VirtualClock } from "../../sim/virtual-clock";
import { encodePacket as encodeWith, MqttDecoder as BrokerDecoder } from "../support/mqtt-codec";

/** The broker side, with no 5.0 properties codec either. */
const encodePacket = (p: MqttPacket, v: MqttVersion) => encodeWith(p, v, null);
class MqttDecoder extends BrokerDecoder {
  constructor(o: { version: MqttVersion }) {
    super({ ...o, properties: undefined });
  }
}

function rig(store = new FlashStore()) {
  const clock = new VirtualClock();
  const scheduler = new Scheduler({ clock });
  const outbox = new MqttOutbox({ storage: store, clock });
  const written: Uint8Array[] = [];
  const delivered: number[] = [];
  const messages: string[] = [];
  const session = new MqttSessionCore({
    version: 4, clientId: "dev-311", keepAlive: 60, scheduler, outbox,
    handler: {
      onDelivered: (r, e) => { if (!e) delivered.push(r.packetId); },
      onMessage: (m) => messages.push(m.topic),
    },
  });
  const link: MqttTransport = { write: (b) => { written.push(b.slice()); }, close: () => {} };
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
  const serve = (p: MqttPacket) => session.receive(encodePacket(p, 4));
  return { store, outbox, session, link, sent, serve, delivered, messages };
}

describe("3.1.1-only build (client311.ts): no 5.0 properties codec installed", () => {
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
      r.session.connectionMade(r.link);
      r.session.receive(bytes[0]);
      expect(r.session.state).toBe("disconnected");
      // A broker's decoder (given clientPackets): the same bytes decode.
      const dec = new MqttDecoder({ version: 4 });
      dec.feed(bytes[1]);
      expect(dec.next()?.type).toBe(8);
    }
  });

  it("MqttSessionCore refuses version 5 with a clear error", () => {
    const clock = new VirtualClock();
    expect(() => new MqttSessionCore({ version: 5, clientId: "x", scheduler: new Scheduler({ clock }) })).toThrow("MQTT 5.0 is not in this build");
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
    r.session.connectionMade(r.link);
    const c = r.sent();
    expect(c.length).toBe(1);
    expect(c[0].type).toBe(1);
    expect((c[0] as { protocolVersion: number }).protocolVersion).toBe(4);
    r.serve({ type: 2, sessionPresent: false, reasonCode: 0 });
    expect(r.session.connected).toBe(true);
    const id = r.session.publish("t/1", "hi", { qos: 1 });
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
    a.session.connectionMade(a.link);
    a.sent();
    a.serve({ type: 2, sessionPresent: false, reasonCode: 0 });
    const id = a.session.publish("keep/me", "v", { qos: 1 });
    expect(a.sent().length).toBe(1);
    // "reboot": a new outbox and session on the same flash
    const b = rig(a.store);
    expect(b.outbox.list().length).toBe(1);
    b.session.connectionMade(b.link);
    b.sent();
    b.serve({ type: 2, sessionPresent: true, reasonCode: 0 });
    const again = b.sent() as { type: number; dup: boolean; packetId: number; topic: string }[];
    expect(again.length).toBe(1);
    expect(again[0].topic).toBe("keep/me");
    expect(again[0].dup).toBe(true);
    expect(again[0].packetId).toBe(id);
  });
});
