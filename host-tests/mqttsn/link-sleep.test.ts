// @xs
/*
 * src/mqttsn-link.ts, the app's sleeping client (MQTT-SN 1.2 §6.14), against a gateway scripted
 * by the test on the simulated UDP network (virtual clock, one scheduler, a Map store that
 * outlives the links as flash does): sleepFor() sends DISCONNECT with the Duration once the
 * outbox is empty and is `falling` until the gateway's DISCONNECT; end() while asleep sends
 * nothing (a plain DISCONNECT would end the session at the gateway); the next link, from the
 * same store, wakes with the awake PINGREQ and its ClientId instead of a CONNECT, delivers what
 * the gateway buffered to the subscriptions' handlers, and CONNECTs at PINGRESP; a DISCONNECT
 * in answer, or no PINGRESP after Nretry, ends in a CONNECT too.
 */
import { MqttSnCodecError, decode, encode, type MqttSnMessage } from "../../modules/mqttsn/codec";
import { defaultConfig } from "../../modules/config/schema";
import type { KeyValueStore, StoredValue } from "../../modules/platform/storage";
import type { Platform } from "../../modules/platform/platform";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { SimNetwork, type SimUdpSocket } from "../../sim/udp-network";
import { VirtualClock } from "../../sim/virtual-clock";
import { SnLinkClient, type SnLinkHooks } from "../../src/mqttsn-link";
import { F } from "./helpers";

class MapStore implements KeyValueStore {
  data = new Map<string, StoredValue>();
  get(ns: string, k: string) {
    return this.data.get(ns + "/" + k);
  }
  set(ns: string, k: string, v: StoredValue) {
    this.data.set(ns + "/" + k, v);
  }
  delete(ns: string, k: string) {
    this.data.delete(ns + "/" + k);
  }
  keys(ns: string) {
    const out: string[] = [];
    this.data.forEach((_, k) => k.indexOf(ns + "/") === 0 && out.push(k.slice(ns.length + 1)));
    return out;
  }
}

const CMD = "xs-iot/dev1/cmd/#";

function setup() {
  const clock = new VirtualClock();
  const net = new SimNetwork({ clock, latencyMs: 5 });
  const scheduler = new Scheduler({ clock });
  const store = new MapStore();
  const gw = new (net.host("10.0.0.1").UDP)({ port: 1884 }) as SimUdpSocket;
  const c = defaultConfig({ deviceId: "dev1" });
  c.protocol = "mqttsn";
  c.mqtt.port = 1884;
  const platform = { clock, storage: store, io: { UDP: net.host("10.0.0.2").UDP } } as unknown as Platform;
  const said: string[] = [];
  const hooks: SnLinkHooks = {
    snConnected: () => said.push("connected"),
    snClosed: () => said.push("closed"),
    snError: (_c, e) => said.push("error " + e.message),
    snRoom: () => undefined,
  };
  let peer = { address: "", port: 0 };
  /** What the device sent since the last call, decoded. */
  const sent = (ms = 20): any[] => {
    clock.advance(ms);
    const out: any[] = [];
    for (let p; (p = gw.read()); ) {
      peer = { address: p.address, port: p.port };
      const m = decode(new Uint8Array(p));
      if (m instanceof MqttSnCodecError) throw new Error(m.message);
      out.push(m);
    }
    return out;
  };
  const reply = (m: MqttSnMessage) => gw.write(encode(m), peer.address, peer.port);
  const open = () => new SnLinkClient(c, "10.0.0.1", platform, scheduler, hooks);
  /** The CONNECT with the will dialogue (§6.2), answered up to CONNACK. */
  const connect = () => {
    const [m] = sent();
    expect([m.type, m.will, m.cleanSession, m.clientId]).toEqual([0x04, true, false, "dev1"]);
    reply({ type: 0x06 });
    expect(sent().map((x) => x.type)).toEqual([0x07]);
    reply({ type: 0x08 });
    expect(sent().map((x) => x.type)).toEqual([0x09]);
    reply({ type: 0x05, returnCode: 0 });
  };
  return { clock, store, gw, said, sent, reply, open, connect };
}

/** A link connected, subscribed to the command topic and asleep at the gateway for 60 s. */
function asleep(t: ReturnType<typeof setup>) {
  const link = t.open();
  t.connect();
  link.subscribe(CMD, { qos: 1 }, { onMessage: () => undefined });
  const [sub] = t.sent();
  expect([sub.type, sub.topicName]).toEqual([0x12, CMD]);
  t.reply({ type: 0x13, ...F, qos: 1, topicId: 0, msgId: sub.msgId, returnCode: 0 });
  // The retained state first (QoS 1, through the outbox), then the sleep.
  link.publish("xs-iot/dev1/state", "asleep", { qos: 1, retain: true });
  const [reg] = t.sent();
  expect(reg.type).toBe(0x0a);
  t.reply({ type: 0x0b, topicId: 3, msgId: reg.msgId, returnCode: 0 });
  const [pub] = t.sent();
  expect(pub.type).toBe(0x0c);
  link.sleepFor(60);
  expect(link.falling).toBe(true);
  expect(t.sent()).toEqual([]); // the outbox first
  t.reply({ type: 0x0d, topicId: 3, msgId: pub.msgId, returnCode: 0 });
  expect(t.sent()).toEqual([{ type: 0x18, duration: 60 }]); // §5.4.21
  expect(link.falling).toBe(true); // until the gateway acknowledges it
  expect(link.asleep).toBe(false);
  t.reply({ type: 0x18, duration: undefined });
  t.sent();
  expect(link.falling).toBe(false);
  expect(link.asleep).toBe(true);
  expect(link.isConnected).toBe(false);
  link.end();
  expect(t.sent(1000)).toEqual([]); // asleep: no DISCONNECT, the session stays at the gateway
}

describe("SnLinkClient: the sleeping client (§6.14)", () => {
  it("asleep with a Duration after the outbox; the next link wakes by PINGREQ, gets what was buffered, CONNECTs at PINGRESP", () => {
    const t = setup();
    asleep(t);
    const got: string[] = [];
    const link = t.open();
    link.subscribe(CMD, { qos: 1 }, { onMessage: (m) => got.push(m.topic + " " + String.fromCharCode(...m.payload)) });
    const [ping] = t.sent();
    expect(ping).toEqual({ type: 0x16, clientId: "dev1" }); // not a CONNECT
    expect(link.isConnected).toBe(false);
    // What the gateway buffered: a command on a topic it registers first (§6.10).
    t.reply({ type: 0x0a, topicId: 9, msgId: 1, topicName: "xs-iot/dev1/cmd/ping" });
    expect(t.sent()).toEqual([{ type: 0x0b, topicId: 9, msgId: 1, returnCode: 0 }]);
    t.reply({ type: 0x0c, ...F, qos: 1, topicId: 9, msgId: 2, data: new Uint8Array([0x7b, 0x7d]) });
    expect(t.sent()).toEqual([{ type: 0x0d, topicId: 9, msgId: 2, returnCode: 0 }]);
    expect(got).toEqual(["xs-iot/dev1/cmd/ping {}"]);
    expect(t.said).toEqual(["connected"]); // the first link's only
    // PINGRESP: everything buffered has come; back to active to send.
    t.reply({ type: 0x17 });
    t.connect();
    t.sent();
    expect(link.isConnected).toBe(true);
    expect(t.said).toEqual(["connected", "connected"]);
    link.end();
  });

  it("a DISCONNECT in answer to the awake PINGREQ (the gateway lost the session): reported, then CONNECT", () => {
    const t = setup();
    asleep(t);
    const link = t.open();
    expect(t.sent()).toEqual([{ type: 0x16, clientId: "dev1" }]);
    t.reply({ type: 0x18, duration: undefined });
    t.connect();
    t.sent();
    expect(link.isConnected).toBe(true);
    expect(t.said.filter((s) => s.startsWith("error"))).toEqual(["error MQTT-SN: the gateway did not keep the sleeping session (DISCONNECT to the awake PINGREQ): connecting"]);
    link.end();
  });

  it("heard from while awake, then no PINGRESP after Nretry (§6.13): reported, then CONNECT", () => {
    const t = setup();
    asleep(t);
    const link = t.open();
    expect(t.sent()).toEqual([{ type: 0x16, clientId: "dev1" }]);
    // A buffered message's REGISTER (the gateway knows us), then nothing more, never a PINGRESP.
    t.reply({ type: 0x0a, topicId: 9, msgId: 1, topicName: "xs-iot/dev1/cmd/ping" });
    expect(t.sent()).toEqual([{ type: 0x0b, topicId: 9, msgId: 1, returnCode: 0 }]);
    const pings = t.sent(60_000).filter((m) => m.type === 0x16).length;
    expect(pings).toBeGreaterThan(1); // retransmitted
    const errors = t.said.filter((s) => s.startsWith("error"));
    expect(errors[0]).toBe("error MQTT-SN: no PINGRESP to the awake PINGREQ (§6.14): connecting");
    // then the CONNECT, unanswered here: each Tretry is a failed attempt (§6.13, issue 15)
    for (const e of errors.slice(1)) expect(e).toBe("error no answer in 10 s, MQTT-SN 1.2 §6.13 Tretry; sent again now");
    link.end();
  });

  // Paho's gateway 1.5.1 looks a client up by its address, not by the awake PINGREQ's ClientId: a
  // device back from deep sleep opens its socket on a new port, and Paho drops its PINGREQ
  // ("Unknown Client"). The sleep policy gives a link 30 s (giveUpMs) before it deep-sleeps again
  // with the store as it is: the device must be connected again within that, and not wake the same
  // way on the next boot (docs/mqttsn.md, "Against Paho's gateway").
  it("a gateway that drops the awake PINGREQ from a new port (Paho): CONNECT within the policy's 30 s, connected, the asleep state gone", () => {
    const t = setup();
    asleep(t);
    const link = t.open();
    const woke = t.sent(); // the gateway does not answer: it does not know this address
    expect(woke).toEqual([{ type: 0x16, clientId: "dev1" }]);
    // 15 s after the PINGREQ (Tretry 10 s, the link's default; the CONNECT has 15 s more of the link's 30 s, a retransmission included)
    const within = t.sent(15_000);
    const connect = within.findIndex((m) => m.type === 0x04);
    expect(connect).toBeGreaterThan(0);
    expect(within.slice(0, connect).map((m) => m.type)).toEqual([0x16]); // after the one retransmission of the PINGREQ
    expect([within[connect].cleanSession, within[connect].clientId]).toEqual([false, "dev1"]);
    expect(t.said.filter((s) => s.startsWith("error"))).toEqual([
      "error MQTT-SN: no answer to the awake PINGREQ (§6.14; a gateway that knows clients by address drops it from a new port): connecting",
    ]);
    // The will dialogue and CONNACK: active again, to send.
    t.reply({ type: 0x06 });
    expect(t.sent().map((x) => x.type)).toEqual([0x07]);
    t.reply({ type: 0x08 });
    expect(t.sent().map((x) => x.type)).toEqual([0x09]);
    t.reply({ type: 0x05, returnCode: 0 });
    t.sent();
    expect(link.isConnected).toBe(true);
    link.publish("xs-iot/dev1/tele", "21.5", { qos: 1 });
    expect(t.sent().map((x) => x.type)).toContain(0x0a); // the reading's REGISTER goes
    link.end();
    // The next boot CONNECTs (nothing says asleep).
    const next = t.open();
    t.connect();
    t.sent();
    expect(next.isConnected).toBe(true);
    next.end();
  });

  it("a wake given up before PINGRESP (the link ended, e.g. by the sleep policy): the next link CONNECTs instead of waking again", () => {
    const t = setup();
    asleep(t);
    const link = t.open();
    expect(t.sent(10_020).map((m) => m.type)).toEqual([0x16, 0x16]); // unanswered, retransmitted after Tretry
    link.end();
    expect(t.sent(1000)).toEqual([]); // nothing sent at the end: no DISCONNECT (it would end the session at a gateway that knows us)
    const next = t.open();
    t.connect(); // CONNECT (§6.14: from asleep back to active), not the awake PINGREQ
    t.sent();
    expect(next.isConnected).toBe(true);
    next.end();
  });

  it("a link that never slept CONNECTs as before, and end() sends a plain DISCONNECT", () => {
    const t = setup();
    const link = t.open();
    t.connect();
    t.sent();
    expect(link.isConnected).toBe(true);
    expect(link.asleep).toBe(false);
    link.end();
    expect(t.sent()).toEqual([{ type: 0x18, duration: undefined }]);
  });
});
