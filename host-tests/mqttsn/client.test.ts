// @xs
/*
 * MqttSnClient (in modules/mqttsn/session.ts): the session bound to an ECMA-419 UDP socket on a
 * simulated network, the scheduler on a virtual clock, and a store; the gateway's side is a
 * socket scripted by the test.
 */
import { MqttSnCodecError, decode, encode, type MqttSnMessage } from "../../modules/mqttsn/codec";
import { ACTIVE, ASLEEP, MqttSnClient, type SnEvent } from "../../modules/mqttsn/session";
import type { KeyValueStore, StoredValue } from "../../modules/platform/storage";
import type { UdpConstructor } from "../../modules/platform/io";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { SimNetwork, type SimUdpSocket } from "../../sim/udp-network";
import { VirtualClock } from "../../sim/virtual-clock";
import { snParts } from "../../modules/mqttsn/parts";
import { F } from "./helpers";

class LogStore implements KeyValueStore {
  data = new Map<string, StoredValue>();
  log: string[];
  constructor(log: string[]) {
    this.log = log;
  }
  get(ns: string, k: string) {
    return this.data.get(ns + "/" + k);
  }
  set(ns: string, k: string, v: StoredValue) {
    this.log.push("set " + ns + "/" + k);
    this.data.set(ns + "/" + k, v);
  }
  delete(ns: string, k: string) {
    this.log.push("delete " + ns + "/" + k);
    this.data.delete(ns + "/" + k);
  }
  keys(ns: string) {
    const out: string[] = [];
    this.data.forEach((_, k) => k.indexOf(ns + "/") === 0 && out.push(k.slice(ns.length + 1)));
    return out;
  }
}

function setup(options: { store?: LogStore; log?: string[]; onEvent?: (e: SnEvent | { type: "error"; reason: string }) => void } = {}) {
  const clock = new VirtualClock();
  const net = new SimNetwork({ clock, latencyMs: 5 });
  const scheduler = new Scheduler({ clock });
  const log = options.log ?? [];
  const gw = new (net.host("10.0.0.1").UDP)({ port: 1884 }) as SimUdpSocket;
  const got: any[] = [];
  let peer = { address: "", port: 0 };
  const events: any[] = [];
  const p = snParts({ random: () => 0.5 }); // a SEARCHGW 2.5 s after search(), the next 5 s later
  const client = new MqttSnClient({
    clientId: "bind1",
    gateway: { address: "10.0.0.1", port: 1884 },
    ...p,
    retryMs: 1000,
    maxRetries: 2,
    keepAlive: 30,
    socket: { io: net.host("10.0.0.2").UDP as unknown as UdpConstructor },
    scheduler,
    storage: options.store,
    broadcast: { address: "10.0.0.1", port: 1884 },
    onEvent(e) {
      events.push(e);
      log.push("event " + e.type);
      if (options.onEvent) options.onEvent(e);
    },
  });
  const receive = (): any[] => {
    const out: any[] = [];
    for (let p; (p = gw.read()); ) {
      peer = { address: p.address, port: p.port };
      const m = decode(new Uint8Array(p));
      if (m instanceof MqttSnCodecError) throw new Error(m.message);
      out.push(m);
      got.push(m);
      log.push("sent " + m.type);
    }
    return out;
  };
  const reply = (m: MqttSnMessage) => gw.write(encode(m), peer.address, peer.port);
  return { clock, net, scheduler, client, p, gw, receive, reply, events, log };
}

/** CONNECT out, CONNACK (accepted) back: the client connected (§6.2). */
function connected(t: ReturnType<typeof setup>): void {
  t.client.connect();
  t.clock.advance(10);
  t.receive();
  t.reply({ type: 0x05, returnCode: 0 });
  t.clock.advance(10);
}

describe("MqttSnClient: the binding", () => {
  it("connects over the socket; retransmissions come from its one scheduler job on time", () => {
    const t = setup();
    t.client.connect();
    t.clock.advance(10);
    expect(t.receive().map((m) => m.type)).toEqual([0x04]);
    expect(t.scheduler.plan().map((j) => j.name)).toEqual(["mqttsn"]);
    t.clock.advance(980); // sent at 0, Tretry 1000
    expect(t.receive()).toEqual([]);
    t.clock.advance(20);
    expect(t.receive().map((m) => m.type)).toEqual([0x04]);
    t.reply({ type: 0x05, returnCode: 0 });
    t.clock.advance(10);
    expect(t.client.state).toBe(ACTIVE);
    const job = t.scheduler.plan()[0];
    expect(job.latest - job.earliest).toBe(15000); // keep-alive window: half the period
    // A liveness job (needs the radio; only makes and keeps the connection, as the MQTT client's
    // job): the sleep planner counts no obligation in the keep-alive, so it may let the link go
    // (the app then sleeps at the gateway, §6.14) when the next real radio job is far enough.
    expect([job.radio, job.liveness]).toEqual([true, true]);
  });

  it("a QoS 1 message is stored before it is sent, and deleted after PUBACK", () => {
    const log: string[] = [];
    const t = setup({ store: new LogStore(log), log });
    connected(t);
    log.length = 0;
    const id = t.client.publish("ab", "v", 1);
    t.clock.advance(10);
    const sent = t.receive();
    expect(log.slice(0, 2)).toEqual(["set mqttsn/o" + id, "sent 12"]);
    t.reply({ type: 0x0d, topicId: sent[0].topicId, msgId: id, returnCode: 0 });
    t.clock.advance(10);
    expect(log.slice(2)).toEqual(["delete mqttsn/o" + id, "event published"]);
  });

  it("after a reboot the client restores from the store: asleep, and wakes with PINGREQ", () => {
    const store = new LogStore([]);
    const a = setup({ store });
    a.client.connect();
    a.clock.advance(10);
    a.receive();
    a.reply({ type: 0x05, returnCode: 0 });
    a.clock.advance(10);
    a.client.run((s, now) => a.p.sleep.sleep(s, 600, now));
    a.clock.advance(10);
    expect(a.receive()).toEqual([{ type: 0x18, duration: 600 }]);
    a.reply({ type: 0x18, duration: undefined });
    a.clock.advance(10);
    expect(a.client.state).toBe(ASLEEP);
    a.client.close();
    const b = setup({ store });
    expect(b.client.state).toBe(ASLEEP);
    b.client.run((s, now) => b.p.sleep.wake(s, now));
    b.clock.advance(10);
    expect(b.receive()).toEqual([{ type: 0x16, clientId: "bind1" }]);
  });

  it("broadcasts go to the configured broadcast address (SEARCHGW)", () => {
    const t = setup();
    t.client.run((s, now) => t.p.discovery.search(s, now));
    t.clock.advance(5100);
    expect(t.receive()).toEqual([{ type: 0x01, radius: 1 }]);
  });

  it("an exception in onEvent is reported as an 'error' event and does not stop the client", () => {
    let thrown = 0;
    const t = setup({
      onEvent: (e) => {
        if (e.type === "connected") {
          thrown++;
          throw new Error("app bug");
        }
      },
    });
    connected(t);
    expect(thrown).toBe(1);
    expect(t.events.map((e) => e.type)).toEqual(["connected", "error"]);
    expect(t.events[1].reason).toContain("app bug");
    t.client.publish("ab", "x", 0);
    t.clock.advance(10);
    expect(t.receive().map((m) => m.type)).toEqual([0x0c]);
  });

  it("a store write or a send that throws is reported as an 'error' event; the rest of the step is applied", () => {
    const log: string[] = [];
    const store = new LogStore(log);
    let failStore = false;
    const set = store.set.bind(store);
    store.set = (ns, k, v) => {
      if (failStore) throw new Error("flash full");
      set(ns, k, v);
    };
    const t = setup({ store, log });
    connected(t);
    t.events.length = 0;
    failStore = true;
    const id = t.client.publish("ab", "v", 1);
    failStore = false;
    t.clock.advance(10);
    // The record could not be written: said so, and the message still goes (nothing of the step lost).
    expect(t.events).toEqual([{ type: "error", reason: "store: flash full" }]);
    expect(t.receive().map((m) => [m.type, m.msgId])).toEqual([[0x0c, id]]);
    const socket = t.client.socket as any;
    const write = socket.write;
    socket.write = () => {
      throw new Error("no route");
    };
    t.client.publish("ab", "w", 0);
    socket.write = write;
    t.client.publish("ab", "x", 0);
    t.clock.advance(10);
    expect(t.events.slice(1)).toEqual([{ type: "error", reason: "send: no route" }]);
    // The QoS 0 message after it went out.
    expect(t.receive().map((m) => [m.type, Array.from(m.data)])).toEqual([[0x0c, [0x78]]]); // "x"
  });

  it("an exception in onEvent at an 'error' event is not reported again (no loop)", () => {
    let errors = 0;
    const t = setup({
      onEvent: (e) => {
        if (e.type === "error") errors++;
        throw new Error("app bug");
      },
    });
    connected(t);
    // "connected" threw: one "error" event, which threw too: nothing more.
    expect(t.events.map((e) => e.type)).toEqual(["connected", "error"]);
    expect(errors).toBe(1);
    expect(t.client.state).toBe(ACTIVE);
  });

  it("garbage from the network is dropped with a 'dropped' event; close() cancels the job and the socket", () => {
    const t = setup();
    t.client.connect();
    t.clock.advance(10);
    t.receive();
    t.gw.write(new Uint8Array([9, 9, 9]), "10.0.0.2", (t.client.socket as SimUdpSocket).port);
    t.clock.advance(10);
    expect(t.events.map((e) => e.type)).toEqual(["dropped"]);
    t.client.close();
    expect(t.scheduler.size).toBe(0);
    expect(() => t.client.publish("ab", "x", -1)).toThrow(Error);
  });

  it("refuses bad options", () => {
    const clock = new VirtualClock();
    const scheduler = new Scheduler({ clock });
    expect(() => new MqttSnClient({ clientId: "a", scheduler } as never)).toThrow(TypeError);
    void F;
  });
});
