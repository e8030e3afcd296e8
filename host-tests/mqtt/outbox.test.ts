// @xs
/*
 * The MQTT outbox in the simulated flash: restart and resend ([MQTT-4.4.0-1]), bounds
 * with their refusal policy, records over the 4000-byte value limit, and power loss at
 * every step (sim/flash-store.ts failAfter) losing no message the caller was told was
 * accepted.
 */
import type { PubAckPacket, PublishPacket } from "../support/mqtt-codec";
import { MqttOutbox } from "../../modules/mqtt/outbox";
import { KvOutboxStore } from "../../modules/mqtt/outbox-store";
import { MqttError } from "../../modules/mqtt/session";
import { MAX_VALUE_BYTES } from "../../modules/platform/storage";
import { FlashStore } from "../../sim/flash-store";
import { entryPacket, makeOutbox, makeRig, publishes, str, types } from "./session-harness";

describe("restart: unacknowledged messages are resent with DUP and the same identifier [MQTT-4.4.0-1]", () => {
  test("QoS 1 and QoS 2 in flight survive a reboot and go out again in order", () => {
    const rig = makeRig();
    rig.connect();
    const a = rig.session.publish("t/a", "A", { qos: 1 });
    const b = rig.session.publish("t/b", "B", { qos: 2 });
    const c = rig.session.publish("t/c", "C", { qos: 1 });
    expect(publishes(rig.sent())).toHaveLength(3);
    // reboot: RAM gone; a new session over the same flash
    const again = makeRig({ store: rig.store });
    expect(again.outbox.count).toBe(3);
    again.connect({ sessionPresent: true });
    const ps = publishes(again.sent());
    expect(ps.map((p) => p.packetId)).toEqual([a, b, c]);
    expect(ps.map((p) => p.dup)).toEqual([true, true, true]); // [MQTT-3.3.1-1]
    expect(ps.map((p) => str(p.payload))).toEqual(["A", "B", "C"]);
    expect(ps[1].qos).toBe(2);
  });

  test("a QoS 2 message past PUBREC resumes with PUBREL, not PUBLISH [MQTT-4.3.3-6]", () => {
    const rig = makeRig();
    rig.connect();
    const id = rig.session.publish("t/q2", "x", { qos: 2 });
    rig.sent();
    rig.serve({ type: 5, packetId: id, reasonCode: 0 });
    rig.sent();
    const again = makeRig({ store: rig.store });
    again.connect({ sessionPresent: true });
    const s = again.sent();
    expect(types(s)).toEqual([6]);
    expect((s[0] as PubAckPacket).packetId).toBe(id);
    again.serve({ type: 7, packetId: id, reasonCode: 0 });
    expect(again.outbox.count).toBe(0);
    expect(again.store.keys("mqtt").filter((k) => k !== "hw")).toEqual([]);
  });

  test("messages accepted while offline are sent first time without DUP", () => {
    const rig = makeRig();
    rig.session.publish("t/a", "A", { qos: 1 });
    const again = makeRig({ store: rig.store });
    again.connect({ sessionPresent: true });
    expect(publishes(again.sent())[0].dup).toBe(false);
  });

  test("no session on the broker (sessionPresent 0): unacknowledged messages are published anew, QoS 2 past PUBREC is done [MQTT-3.2.2-5]", () => {
    const rig = makeRig();
    rig.connect();
    const a = rig.session.publish("t/a", "A", { qos: 1 });
    const b = rig.session.publish("t/b", "B", { qos: 2 });
    rig.sent();
    rig.serve({ type: 5, packetId: b, reasonCode: 0 });
    rig.sent();
    rig.session.connectionLost();
    rig.connect({ sessionPresent: false });
    const s = rig.sent();
    expect(types(s)).toEqual([3]);
    expect((s[0] as PublishPacket).packetId).toBe(a);
    expect((s[0] as PublishPacket).dup).toBe(false);
    expect(rig.events.delivered.map((d) => d.result.packetId)).toEqual([b]);
  });

  test("3.1.1 resumes the same way", () => {
    const rig = makeRig({ version: 4 });
    rig.connect();
    const a = rig.session.publish("t/a", "A", { qos: 1 });
    rig.sent();
    const again = makeRig({ version: 4, store: rig.store });
    again.connect({ sessionPresent: true });
    const [p] = publishes(again.sent());
    expect(p.packetId).toBe(a);
    expect(p.dup).toBe(true);
  });
});

describe("bounds and the policy when full", () => {
  test("by count: the next message is refused with outbox-full, the held ones untouched", () => {
    const rig = makeRig({ outboxOptions: { maxMessages: 3 } });
    for (let i = 0; i < 3; i++) rig.session.publish("t/x", "m" + i, { qos: 1 });
    let err: MqttError | undefined;
    try {
      rig.session.publish("t/x", "m3", { qos: 1 });
    } catch (e) {
      err = e as MqttError;
    }
    expect(err!.code).toBe("outbox-full");
    expect(rig.outbox.count).toBe(3);
    expect(rig.outbox.list().map((e) => str(entryPacket(e.bytes, 5).payload))).toEqual(["m0", "m1", "m2"]);
  });

  test("by bytes", () => {
    const rig = makeRig({ outboxOptions: { maxBytes: 1000 } });
    rig.session.publish("t/x", new Uint8Array(600), { qos: 1 });
    expect(() => rig.session.publish("t/x", new Uint8Array(600), { qos: 1 })).toThrow("outbox full");
    rig.session.publish("t/x", new Uint8Array(300), { qos: 1 });
    expect(rig.outbox.count).toBe(2);
    expect(rig.outbox.bytes).toBeLessThanOrEqual(1000);
  });

  test("room comes back when messages are acknowledged", () => {
    const rig = makeRig({ outboxOptions: { maxMessages: 1 } });
    rig.connect();
    const id = rig.session.publish("t/x", "a", { qos: 1 });
    expect(() => rig.session.publish("t/x", "b", { qos: 1 })).toThrow(MqttError);
    rig.serve({ type: 4, packetId: id, reasonCode: 0 });
    expect(rig.session.publish("t/x", "b", { qos: 1 })).toBeGreaterThan(0);
  });

  test("a flash too full to take the message: refused with a storage error, nothing half-written", () => {
    const store = new FlashStore({ capacity: 2048 });
    const rig = makeRig({ store, outboxOptions: { maxBytes: 100000 } });
    let err: MqttError | undefined;
    try {
      rig.session.publish("t/x", new Uint8Array(6000), { qos: 1 });
    } catch (e) {
      err = e as MqttError;
    }
    expect(err!.code).toBe("storage");
    expect(rig.outbox.count).toBe(0);
    expect(store.keys("mqtt")).toEqual([]);
  });

  test("namespace longer than 15 characters is refused", () => {
    expect(() => new KvOutboxStore(new FlashStore(), "a-very-long-namespace")).toThrow("namespace");
  });
});

describe("records over the 4000-byte value limit are chunked", () => {
  test("a 9000-byte message is stored in parts and comes back whole", () => {
    const rig = makeRig({ outboxOptions: { maxBytes: 65536 } });
    const payload = new Uint8Array(9000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    const id = rig.session.publish("t/big", payload, { qos: 1, properties: { contentType: "bin", userProperties: [["k", "v"]] } });
    const keys = rig.store.keys("mqtt").sort();
    expect(keys).toEqual(["m" + id, "x" + id + ".1", "x" + id + ".2"]);
    for (const k of keys) expect((rig.store.get("mqtt", k) as ArrayBuffer).byteLength).toBeLessThanOrEqual(MAX_VALUE_BYTES);
    const back = entryPacket(makeOutbox(rig.store, 5).get(id)!.bytes, 5);
    expect(back.payload.length).toBe(9000);
    let same = true;
    for (let i = 0; i < payload.length; i++) if (back.payload[i] !== payload[i]) same = false;
    expect(same).toBe(true);
    expect(back.properties!.contentType).toBe("bin");
    // done: every part goes
    rig.connect();
    rig.serve({ type: 4, packetId: id, reasonCode: 0 });
    expect(rig.store.keys("mqtt").filter((k) => k !== "hw")).toEqual([]);
  });

  test("orphan parts (a reboot before the commit) are swept on load", () => {
    const store = new FlashStore();
    store.set("mqtt", "x9.1", new ArrayBuffer(10));
    const ob = makeOutbox(store, 5);
    expect(ob.count).toBe(0);
    expect(store.keys("mqtt")).toEqual([]);
  });

  test("a corrupt record is dropped and reported in loadErrors", () => {
    const store = new FlashStore();
    store.set("mqtt", "m5", new ArrayBuffer(40));
    const ob = makeOutbox(store, 5);
    expect(ob.count).toBe(0);
    expect(ob.loadErrors).toHaveLength(1);
    expect(ob.loadErrors[0]).toMatch(/^m5: /);
    // Outboxes that loaded cleanly report none.
    const clean1 = makeOutbox(new FlashStore(), 5);
    const clean2 = new MqttOutbox();
    expect(clean1.loadErrors).toHaveLength(0);
    expect(clean2.loadErrors).toHaveLength(0);
    expect(ob.loadErrors).toHaveLength(1);
  });
});

describe("power loss at every step loses no message accepted by publish()", () => {
  /**
   * A scenario of publishes and acknowledgements; the flash dies after `n` writes. Every
   * message whose publish() returned and that was not reported done must be in the
   * outbox after power comes back.
   */
  function run(n: number, apply: boolean): { accepted: number; survivors: number; missing: number[]; dead: boolean } {
    const store = new FlashStore();
    const rig = makeRig({ store });
    rig.connect();
    store.failAfter(n, { apply });
    const accepted = new Map<number, string>();
    const done = new Set<number>();
    rig.session.handler.onDelivered = (r, e) => {
      if (!e) done.add(r.packetId);
    };
    const step = (fn: () => void): boolean => {
      if (!store.powered) return false;
      try {
        fn();
      } catch {
        // refused (power loss): not accepted
      }
      return store.powered;
    };
    for (let i = 0; i < 8; i++) {
      const payload = "msg-" + i;
      const qos = (i % 2) + 1;
      if (!step(() => accepted.set(rig.session.publish("t/p", payload, { qos: qos as 1 | 2 }), payload))) break;
      if (i % 3 === 2) {
        // acknowledge the oldest in flight
        const ps = publishes(rig.sent());
        for (const p of ps) {
          if (!step(() => rig.serve(p.qos === 1 ? { type: 4, packetId: p.packetId!, reasonCode: 0 } : { type: 5, packetId: p.packetId!, reasonCode: 0 }))) break;
          if (p.qos === 2 && !step(() => rig.serve({ type: 7, packetId: p.packetId!, reasonCode: 0 }))) break;
        }
      }
    }
    const dead = !store.powered;
    store.powerOn();
    const after = makeOutbox(store, 5);
    const missing: number[] = [];
    accepted.forEach((_p, id) => {
      if (!done.has(id) && !after.has(id)) missing.push(id);
    });
    // a surviving message in state 1 has its payload intact
    for (const e of after.list()) if (e.bytes && accepted.has(e.packetId) && str(entryPacket(e.bytes, 5).payload) !== accepted.get(e.packetId)) missing.push(-e.packetId);
    return { accepted: accepted.size, survivors: after.count, missing, dead };
  }

  const points: [number, boolean][] = [];
  for (let n = 0; n < 40; n++) {
    points.push([n, false]);
    points.push([n, true]);
  }

  test.each(points)("flash dies after %d writes (apply the failing write: %s)", (n, apply) => {
    const r = run(n, apply);
    expect(r.missing).toEqual([]);
  });

  test("the scenario does reach its end with enough writes (the loop above covers every step)", () => {
    const r = run(1000, false);
    expect(r.dead).toBe(false);
    // the last failure point tried above lies past the scenario's last write: every step was hit
    expect(run(39, false).dead).toBe(false);
    expect(r.accepted).toBe(8);
    const early = run(3, false);
    expect(early.dead).toBe(true);
  });
});

describe("the outbox's structure: encoded once, O(1) per operation", () => {
  test("a message is kept as the PUBLISH publish() encoded; those bytes are what goes out, DUP set in place on a resend [MQTT-3.3.1-1]", () => {
    const rig = makeRig({ version: 4 });
    rig.connect();
    const id = rig.session.publish("t/once", "payload", { qos: 1 });
    const e = rig.outbox.get(id)!;
    const stored = e.bytes!;
    expect(rig.link.written[rig.link.written.length - 1]).toEqual(stored);
    expect(stored[0] & 8).toBe(0);
    rig.session.connectionLost();
    rig.connect({ sessionPresent: true });
    expect(rig.outbox.get(id)!.bytes).toBe(stored); // the same array, not re-encoded
    expect(stored[0] & 8).toBe(8);
    const [p] = publishes(rig.sent());
    expect(p.dup).toBe(true);
    expect(str(p.payload)).toBe("payload");
  });

  test("identifiers are picked where their place in the table is free: lookups never collide, acknowledgements in any order", () => {
    const rig = makeRig({ version: 4, outboxOptions: { maxMessages: 4 } });
    rig.connect();
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) ids.push(rig.session.publish("t/x", "m" + i, { qos: 1 }));
    expect(new Set(ids.map((id) => id & 3)).size).toBe(4); // a table of 4: one place each
    rig.sent();
    rig.serve({ type: 4, packetId: ids[2], reasonCode: 0 });
    rig.serve({ type: 4, packetId: ids[0], reasonCode: 0 });
    const again = [rig.session.publish("t/x", "m4", { qos: 1 }), rig.session.publish("t/x", "m5", { qos: 1 })];
    for (const id of again) expect(rig.outbox.get(id)!.packetId).toBe(id);
    expect(new Set([ids[1], ids[3], ...again].map((id) => id & 3)).size).toBe(4);
    expect(rig.outbox.list().map((e) => str(entryPacket(e.bytes, 4).payload))).toEqual(["m1", "m3", "m4", "m5"]); // acceptance order
    expect(rig.outbox.cursor).toBeUndefined(); // all sent on this connection
  });

  test("identifiers loaded from flash that collide in the table are all kept (the table grows once, at boot)", () => {
    const store = new FlashStore();
    const a = makeRig({ store, version: 4, outboxOptions: { maxMessages: 64 } });
    a.connect();
    const ids = [1, 2, 3, 4, 5].map((n) => a.session.publish("t/" + n, "m" + n, { qos: 1 }));
    expect(ids).toEqual([1, 2, 3, 4, 5]);
    for (const id of [2, 3, 4]) a.serve({ type: 4, packetId: id, reasonCode: 0 });
    // A later boot whose table starts with four places: identifiers 1 and 5 both fall in place 1.
    const b = makeOutbox(store, 4, { maxMessages: 1 });
    expect(b.count).toBe(2);
    expect(b.get(1)!.topic).toBe("t/1");
    expect(b.get(5)!.topic).toBe("t/5");
    expect(b.list().map((e) => e.packetId)).toEqual([1, 5]);
  });

  test("the table starts with four places and doubles when more than half full, up to maxMessages: one or two messages in flight keep it at four", () => {
    const rig = makeRig({ version: 4, outboxOptions: { maxMessages: 32 } });
    rig.connect();
    const places = () => (rig.outbox as unknown as { table: unknown[] }).table.length;
    for (let i = 0; i < 50; i++) {
      const id = rig.session.publish("t/x", "m" + i, { qos: 1 });
      if (i % 2) {
        rig.serve({ type: 4, packetId: id - 1 || 65535, reasonCode: 0 });
        rig.serve({ type: 4, packetId: id, reasonCode: 0 });
      }
    }
    expect(rig.outbox.count).toBe(0);
    expect(places()).toBe(4);
    const ids: number[] = [];
    for (let i = 0; i < 32; i++) ids.push(rig.session.publish("t/y", "n" + i, { qos: 1 }));
    expect(places()).toBe(32);
    expect(new Set(ids.map((id) => id & 31)).size).toBe(32); // one place each
    expect(() => rig.session.publish("t/y", "full", { qos: 1 })).toThrow(/outbox full/);
    for (const id of ids) expect(rig.outbox.get(id)!.packetId).toBe(id);
  });

  test.each([
    [5, 4],
    [4, 5],
  ])("a message stored by a %d session is read by a %d one (the app switched protocol across a reboot)", (from, to) => {
    const store = new FlashStore();
    const a = makeRig({ store, version: from as 4 | 5 });
    const id = a.session.publish("t/switch", "v", { qos: 1, properties: from === 5 ? { contentType: "text/plain" } : undefined });
    const b = makeRig({ store, version: to as 4 | 5 });
    expect(b.outbox.count).toBe(1);
    b.connect({ sessionPresent: true });
    const [p] = publishes(b.sent());
    expect(p.packetId).toBe(id);
    expect(p.topic).toBe("t/switch");
    expect(str(p.payload)).toBe("v");
    expect(p.properties).toBeUndefined();
  });
});
