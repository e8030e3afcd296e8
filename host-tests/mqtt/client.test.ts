// @xs
/*
 * MqttClient over a scripted ECMA-419 socket (portable, virtual clock): connection,
 * write back-pressure (write throws when full, onWritable when room frees), reconnection
 * with exponential back-off and full jitter, give-up, resubscription, end().
 */
import { encodePacket, MqttDecoder } from "../support/mqtt-codec";
import type { ConnectPacket, MqttPacket, PublishPacket, SubscribePacket } from "../support/mqtt-codec";
import { Backoff } from "../../modules/mqtt/backoff";
import { MqttClient } from "../../modules/mqtt/client";
import { Mqtt5 } from "../../modules/mqtt/mqtt5";
import type { MqttClientOptions, MqttError, MqttMessage } from "../../modules/mqtt/client";
import type { ByteBuffer, TcpOptions } from "../../modules/platform/io";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { FlashStore } from "../../sim/flash-store";
import { VirtualClock } from "../../sim/virtual-clock";

/** A scripted ECMA-419 TCP socket: the test plays the network and the broker. */
class FakeSocket {
  static all: FakeSocket[] = [];
  options: TcpOptions & { tls?: unknown };
  written: Uint8Array[] = [];
  inbound: Uint8Array[] = [];
  space = 0;
  closed = false;
  format = "buffer";
  target: unknown;
  constructor(options: TcpOptions) {
    this.options = options;
    this.target = options.target; // ECMA-419 base class pattern
    FakeSocket.all.push(this);
  }
  /** The connection is up with `capacity` bytes of output buffer (first onWritable). */
  open(capacity = 4096): void {
    this.space = capacity;
    this.options.onWritable?.call(this as never, capacity);
  }
  write(data: ByteBuffer): number {
    if (this.closed) throw new Error("closed");
    const b = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array((data as Uint8Array).buffer, (data as Uint8Array).byteOffset, (data as Uint8Array).byteLength);
    if (b.length > this.space) throw new Error("output buffer full");
    this.written.push(b.slice());
    this.space -= b.length;
    return this.space;
  }
  /** The network took everything: room again. */
  drain(capacity: number): void {
    this.space = capacity;
    this.options.onWritable?.call(this as never, capacity);
  }
  deliver(p: MqttPacket, version: 4 | 5 = 5): void {
    this.inbound.push(encodePacket(p, version));
    this.options.onReadable?.call(this as never, 1);
  }
  read(): ArrayBuffer | undefined {
    const c = this.inbound.shift();
    return c ? (c.slice().buffer as ArrayBuffer) : undefined;
  }
  fail(): void {
    this.options.onError?.call(this as never, new Error("reset"));
  }
  close(): void {
    this.closed = true;
  }
  packets(version: 4 | 5 = 5): MqttPacket[] {
    const d = new MqttDecoder({ version });
    const out: MqttPacket[] = [];
    for (const w of this.written) {
      d.feed(w);
      for (;;) {
        const p = d.next();
        if (!p) break;
        out.push(p);
      }
    }
    if (d.error) throw d.error;
    return out;
  }
  bytesWritten(): number {
    let n = 0;
    for (const w of this.written) n += w.length;
    return n;
  }
}

interface Kit {
  clock: VirtualClock;
  scheduler: Scheduler;
  client: MqttClient;
  errors: MqttError[];
  messages: MqttMessage[];
  gaveUp: (MqttError | undefined)[];
  connects: number;
  last(): FakeSocket;
  /** Opens the newest socket and answers its CONNECT with CONNACK. */
  accept(sessionPresent?: boolean, capacity?: number): FakeSocket;
}

/** The client's options, with `version` 4 or 5 (default) standing for no 5.0 part or a new Mqtt5. */
type KitOptions = Partial<MqttClientOptions> & { version?: 4 | 5 };

function kit(options: KitOptions = {}): Kit {
  FakeSocket.all = [];
  const version = options.version ?? 5;
  const clock = new VirtualClock();
  const scheduler = new Scheduler({ clock });
  const k: Kit = {
    clock,
    scheduler,
    client: undefined as unknown as MqttClient,
    errors: [],
    messages: [],
    gaveUp: [],
    connects: 0,
    last: () => FakeSocket.all[FakeSocket.all.length - 1],
    accept(sessionPresent = false, capacity = 4096) {
      const s = k.last();
      s.open(capacity);
      s.deliver({ type: 2, sessionPresent, reasonCode: 0 }, version);
      return s;
    },
  };
  k.client = new MqttClient({
    socket: { io: FakeSocket as never, host: "broker.test", port: 1883 },
    scheduler,
    storage: new FlashStore(),
    clientId: "dev-1",
    random: () => 0.5,
    reconnect: { initialDelayMs: 1000, maxDelayMs: 8000 },
    onError: (e) => k.errors.push(e),
    onMessage: (m) => k.messages.push(m),
    onGiveUp: (e) => k.gaveUp.push(e),
    onConnect: () => k.connects++,
    v5: version === 5 ? new Mqtt5() : undefined,
    ...options,
  });
  return k;
}

describe("MqttClient over an ECMA-419 socket", () => {
  test("one scheduler job (liveness) serves every timer: the CONNACK wait, the keep-alive window, the reconnection; publishing does not move it", () => {
    const k = kit({ keepAlive: 10 });
    const jobs = () => k.scheduler.plan().filter((j) => j.name === "mqtt");
    const s = k.last();
    s.open(4096);
    expect(jobs()).toEqual([{ name: "mqtt", deadline: 30000, earliest: 30000, latest: 30000, radio: true, liveness: true }]);
    s.deliver({ type: 2, sessionPresent: false, reasonCode: 0 });
    expect(jobs()).toEqual([{ name: "mqtt", deadline: 10000, earliest: 5000, latest: 10000, radio: true, liveness: true }]);
    k.clock.advance(3000);
    for (let i = 0; i < 5; i++) s.deliver({ type: 4, packetId: k.client.publish("t/x", "v", { qos: 1 }), reasonCode: 0 });
    expect(jobs()[0].latest).toBe(10000); // not moved by the traffic: a run inside the old window places it again
    k.clock.advance(7000);
    expect(s.packets().filter((p) => p.type === 12)).toHaveLength(0); // the exchanges at 3 s proved the link alive
    // Placed again for the window the traffic moved, from now on (a window already open would run it in this wake).
    expect(jobs()).toEqual([{ name: "mqtt", deadline: 13000, earliest: 10001, latest: 13000, radio: true, liveness: true }]);
    s.fail();
    expect(jobs()).toHaveLength(1);
    expect(jobs()[0].deadline).toBe(10500); // the back-off: random() 0.5 of the first 1000 ms window
    expect(k.scheduler.size).toBe(1);
  });

  test("connects on the first onWritable, dispatches messages by filter", () => {
    const k = kit();
    expect(FakeSocket.all).toHaveLength(1);
    expect(k.last().options.host).toBe("broker.test");
    expect(k.last().written).toHaveLength(0); // nothing before onWritable
    const got: string[] = [];
    k.client.subscribe("cmd/+/set", { qos: 1 }, (m) => got.push(m.topic));
    const s = k.accept();
    expect(k.connects).toBe(1);
    const sub = s.packets().filter((p) => p.type === 8) as SubscribePacket[];
    expect(sub[0].subscriptions[0].topicFilter).toBe("cmd/+/set");
    s.deliver({ type: 9, packetId: sub[0].packetId, reasonCodes: [1] });
    s.deliver({ type: 3, topic: "cmd/led/set", payload: new Uint8Array([0x31]), qos: 0, retain: false, dup: false });
    s.deliver({ type: 3, topic: "other", payload: new Uint8Array([0x32]), qos: 0, retain: false, dup: false });
    expect(got).toEqual(["cmd/led/set"]);
    expect(k.messages.map((m) => m.topic)).toEqual(["cmd/led/set", "other"]);
  });

  test("a subscription's handler may be an object: its onMessage method is called with the object as this; a handler of neither kind is refused before anything is sent", () => {
    const k = kit();
    const handler = {
      topics: [] as string[],
      onMessage(m: { topic: string }) {
        this.topics.push(m.topic);
      },
    };
    k.client.subscribe("cmd/#", { qos: 1 }, handler);
    expect(() => k.client.subscribe("x", {}, {} as never)).toThrow(/onMessage must be a function or an object with an onMessage method/);
    expect(() => k.client.subscribe("y", {}, 42 as never)).toThrow(TypeError);
    const s = k.accept();
    const sub = s.packets().filter((p) => p.type === 8) as SubscribePacket[];
    expect(sub.map((p) => p.subscriptions[0].topicFilter)).toEqual(["cmd/#"]); // the refused ones were not kept
    s.deliver({ type: 9, packetId: sub[0].packetId, reasonCodes: [1] });
    s.deliver({ type: 3, topic: "cmd/a", payload: new Uint8Array([0x31]), qos: 0, retain: false, dup: false });
    s.deliver({ type: 3, topic: "other", payload: new Uint8Array([0x32]), qos: 0, retain: false, dup: false });
    expect(handler.topics).toEqual(["cmd/a"]);
  });

  test("an object handler whose onMessage throws is reported through onError and goes no further", () => {
    const k = kit();
    k.client.subscribe("t", {}, { onMessage: () => { throw new Error("handler broke"); } });
    const s = k.accept();
    const sub = s.packets().filter((p) => p.type === 8) as SubscribePacket[];
    s.deliver({ type: 9, packetId: sub[0].packetId, reasonCodes: [0] });
    s.deliver({ type: 3, topic: "t", payload: new Uint8Array([1]), qos: 0, retain: false, dup: false });
    expect(k.errors.map((e) => e.message).join()).toMatch(/callback threw: handler broke/);
    expect(k.client.isConnected).toBe(true);
  });

  test("TLS settings reach the TLS constructor with tls.host defaulted to host", () => {
    const k = kit({ socket: { io: FakeSocket as never, host: "broker.test", tls: { ca: new Uint8Array([1]) } } });
    const o = k.last().options as { tls: { host: string; ca: Uint8Array }; port: number };
    expect(o.tls.host).toBe("broker.test");
    expect(o.port).toBe(8883);
  });

  test("write back-pressure: bytes queue when write() throws and go out in order on onWritable", () => {
    const k = kit();
    const s = k.accept(false, 100);
    const before = s.bytesWritten();
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) ids.push(k.client.publish("tele/x", new Uint8Array(60).fill(i), { qos: 1 }));
    expect(k.client.queued).toBeGreaterThan(0);
    let rounds = 0;
    while (k.client.queued > 0 && rounds++ < 20) s.drain(50); // the socket takes 50 bytes at a time
    expect(k.client.queued).toBe(0);
    const ps = s.packets().filter((p) => p.type === 3) as PublishPacket[];
    expect(ps.map((p) => p.packetId)).toEqual(ids);
    expect(ps.map((p) => p.payload[0])).toEqual([0, 1, 2, 3]);
    expect(s.bytesWritten() - before).toBeGreaterThan(240);
  });

  test("a packet larger than the whole output buffer is written in pieces", () => {
    const k = kit();
    const s = k.accept(false, 64);
    k.client.publish("tele/big", new Uint8Array(500).fill(7), { qos: 1 });
    for (let i = 0; i < 20 && k.client.queued > 0; i++) s.drain(64);
    const [p] = s.packets().filter((x) => x.type === 3) as PublishPacket[];
    expect(p.payload.length).toBe(500);
  });

  test("QoS 0 is refused with busy while the queue is over its bound; QoS 1 still accepted", () => {
    const k = kit({ maxQueuedBytes: 100 });
    k.accept(false, 10);
    k.client.publish("t/x", new Uint8Array(150));
    let code = "";
    try {
      k.client.publish("t/x", new Uint8Array(10));
    } catch (e) {
      code = (e as MqttError).code;
    }
    expect(code).toBe("busy");
    expect(k.client.publish("t/x", new Uint8Array(10), { qos: 1 })).toBeGreaterThan(0);
  });

  test("reconnects with back-off after a socket error; resubscribes all when the broker has no session", () => {
    const k = kit();
    k.client.subscribe("a/#", { qos: 1 });
    k.client.subscribe("b", { qos: 0 });
    const s1 = k.accept();
    const subs1 = s1.packets().filter((p) => p.type === 8) as SubscribePacket[];
    for (const sp of subs1) s1.deliver({ type: 9, packetId: sp.packetId, reasonCodes: [0] });
    const held = k.client.publish("t/q", "keep", { qos: 1 });
    s1.fail();
    expect(k.client.isConnected).toBe(false);
    expect(FakeSocket.all).toHaveLength(1);
    // random() = 0.5: first delay is half the 1000 ms window
    k.clock.advance(499);
    expect(FakeSocket.all).toHaveLength(1);
    k.clock.advance(1);
    expect(FakeSocket.all).toHaveLength(2);
    const s2 = k.accept(false);
    const ps = s2.packets();
    expect((ps.filter((p) => p.type === 8) as SubscribePacket[]).map((p) => p.subscriptions[0].topicFilter)).toEqual(["a/#", "b"]);
    expect((ps.filter((p) => p.type === 3) as PublishPacket[]).map((p) => p.packetId)).toEqual([held]);
  });

  test("remembered subscriptions: a second subscribe to a filter replaces it in place, unsubscribe forgets it", () => {
    const k = kit();
    k.client.subscribe("a/#", { qos: 0 });
    k.client.subscribe("b", { qos: 0 });
    k.client.subscribe("a/#", { qos: 1 });
    expect(k.client.subscribed).toEqual(["a/#", "b"]);
    k.client.subscribe("c", { qos: 2 });
    k.client.unsubscribe("b");
    expect(k.client.subscribed).toEqual(["a/#", "c"]);
    const s1 = k.accept(false);
    const subs = s1.packets().filter((p) => p.type === 8) as SubscribePacket[];
    expect(subs.map((p) => p.subscriptions[0].topicFilter + ":" + p.subscriptions[0].qos)).toEqual(["a/#:1", "c:2"]);
  });

  test("resumed session (Session Present 1): acknowledged subscriptions are not sent again", () => {
    const k = kit();
    k.client.subscribe("a/#", { qos: 1 });
    const s1 = k.accept();
    const [sp] = s1.packets().filter((p) => p.type === 8) as SubscribePacket[];
    s1.deliver({ type: 9, packetId: sp.packetId, reasonCodes: [1] });
    s1.fail();
    k.clock.advance(1000);
    const s2 = k.accept(true);
    expect(s2.packets().filter((p) => p.type === 8)).toHaveLength(0);
  });

  test("the random source is called with this = the client (one function can serve many clients)", () => {
    const seen: unknown[] = [];
    const k = kit({
      random(this: unknown) {
        seen.push(this);
        return 0.25;
      },
    });
    k.last().fail(); // connection refused: the back-off draws its jitter
    expect(seen.length).toBe(1);
    expect(seen[0]).toBe(k.client);
    k.clock.advance(250); // 0.25 of the first 1000 ms window
    expect(FakeSocket.all.length).toBe(2);
  });

  test("back-off windows grow exponentially to the cap; gives up after the deadline with onGiveUp", () => {
    const k = kit({ reconnect: { initialDelayMs: 1000, maxDelayMs: 4000, giveUpAfterMs: 20000 }, random: () => 0.999 });
    const starts: number[] = [];
    let last = 0;
    for (let i = 0; i < 400 && k.gaveUp.length === 0; i++) {
      const s = k.last();
      if (FakeSocket.all.length !== last) {
        last = FakeSocket.all.length;
        starts.push(k.clock.now());
        s.fail(); // connection refused
      }
      k.clock.advance(100);
    }
    const gaps = starts.slice(1).map((t, i) => t - starts[i]);
    expect(gaps[0]).toBeLessThanOrEqual(1100);
    expect(gaps[1]).toBeGreaterThan(1900);
    expect(gaps[2]).toBeGreaterThan(3900);
    for (const g of gaps) expect(g).toBeLessThanOrEqual(4100);
    expect(k.gaveUp).toHaveLength(1);
    // onGiveUp is told the last connection error (kept because the back-off has a deadline).
    expect(k.gaveUp[0]?.code).toBe("connection-lost");
    const n = FakeSocket.all.length;
    k.clock.advance(600000);
    expect(FakeSocket.all).toHaveLength(n);
  });

  test("a refusal that retrying cannot fix (bad user name or password) gives up at once", () => {
    const k = kit();
    const s = k.last();
    s.open();
    s.deliver({ type: 2, sessionPresent: false, reasonCode: 0x86 });
    expect(k.gaveUp).toHaveLength(1);
    expect(k.gaveUp[0]!.reasonCode).toBe(0x86);
    k.clock.advance(600000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  test("a refusal worth retrying (server busy) reconnects", () => {
    const k = kit();
    const s = k.last();
    s.open();
    s.deliver({ type: 2, sessionPresent: false, reasonCode: 0x89 });
    expect(k.gaveUp).toHaveLength(0);
    k.clock.advance(1000);
    expect(FakeSocket.all).toHaveLength(2);
  });

  test("end() with properties the DISCONNECT cannot carry is refused \"invalid\" and changes nothing (found by host-tests/mqtt/session-fuzz.test.ts)", () => {
    // Before, end() marked the client ended and cancelled its job, then the session's
    // DISCONNECT encoder threw (a lone surrogate in the Reason String): the exception reached
    // the app, the socket stayed open and the client would never reconnect.
    const k = kit({ keepAlive: 10 });
    const s = k.accept();
    const before = s.packets().length;
    let thrown: unknown;
    try {
      k.client.end(0, { reasonString: "bye \ud800" });
    } catch (e) {
      thrown = e;
    }
    expect((thrown as MqttError | undefined)?.code).toBe("invalid");
    expect(s.packets().length).toBe(before);
    expect(s.closed).toBe(false);
    expect(k.client.session.connected).toBe(true);
    // Still alive: the keep alive goes on, and a good end() then ends it.
    k.clock.advance(10000);
    expect(s.packets().map((p) => p.type)).toContain(12);
    k.client.end(0, { reasonString: "bye" });
    expect(s.packets()[s.packets().length - 1].type).toBe(14);
    expect(s.closed).toBe(true);
  });

  test("end(): DISCONNECT, socket closed, no reconnection; the outbox stays in the store", () => {
    const k = kit();
    const s = k.accept();
    k.client.publish("t/q", "x", { qos: 1 });
    k.client.end();
    const ps = s.packets();
    expect(ps[ps.length - 1].type).toBe(14);
    expect(s.closed).toBe(true);
    k.clock.advance(600000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(k.client.outbox.count).toBe(1);
    expect(() => k.client.publish("t/q", "y", { qos: 1 })).toThrow("ended");
  });

  test("an onMessage that throws is reported through onError and goes no further", () => {
    const k = kit({
      onMessage: () => {
        throw new Error("boom");
      },
    });
    const s = k.accept();
    s.deliver({ type: 3, topic: "x", payload: new Uint8Array(0), qos: 1, retain: false, dup: false, packetId: 4 });
    expect(k.errors.some((e) => e.code === "callback")).toBe(true);
    expect(s.packets().some((p) => p.type === 4)).toBe(true);
  });
});

describe("Backoff", () => {
  test("full jitter: delay = random x min(cap, initial x factor^n)", () => {
    const draws = [0.25, 0.5, 0.75, 0.999, 0.1];
    let i = 0;
    const b = new Backoff({ initialDelayMs: 1000, maxDelayMs: 5000, random: () => draws[i++] });
    expect(b.next(0)).toBe(250);
    expect(b.next(0)).toBe(1000);
    expect(b.next(0)).toBe(3000);
    expect(b.next(0)).toBe(4995);
    expect(b.next(0)).toBe(500);
    b.reset();
    expect(b.attempt).toBe(0);
  });

  test("give-up deadline counts from the first failure", () => {
    const b = new Backoff({ initialDelayMs: 1000, giveUpAfterMs: 3000, random: () => 0.99 });
    expect(b.next(0)).toBeDefined();
    expect(b.next(1000)).toBeDefined();
    expect(b.next(2500)).toBeUndefined();
  });

  test("a connection ends the series only once it has lasted stableAfterMs", () => {
    const b = new Backoff({ initialDelayMs: 1000, stableAfterMs: 5000, giveUpAfterMs: 20000, random: () => 0.5 });
    expect(b.next(0)).toBe(500);
    b.connected(1000);
    expect(b.next(5999)).toBe(1000); // up 4,999 ms: the second window
    expect(b.firstFailureAt).toBe(0);
    b.connected(7000);
    expect(b.next(12000)).toBe(500); // up 5,000 ms: a new series
    expect(b.firstFailureAt).toBe(12000);
    expect(b.next(13000)).toBe(1000); // no connection in between: the series goes on
    expect(b.next(31000)).toBeUndefined(); // 19 s + 2 s after its first failure: past 20 s
  });

  test("a broken random source does not break it", () => {
    const b = new Backoff({ random: () => NaN });
    expect(b.next(0)).toBe(500);
  });
});

describe("clients of one process", () => {
  test("interleaving sends: a queued packet is the session's own array (never shared between clients), each socket gets only its own bytes", () => {
    const ka = kit({ clientId: "dev-a" });
    const sa = ka.accept();
    const kb = kit({ clientId: "dev-b", version: 4 });
    const sb = kb.accept();
    sa.space = 0; // A's output buffer is full: A's packets wait in A's queue
    for (let n = 0; n < 3; n++) {
      ka.client.publish("a/" + n, "from A " + n, { qos: 1 });
      kb.client.publish("b/" + n, "from B " + n, { qos: 1 });
    }
    expect(ka.client.queued).toBeGreaterThan(0);
    expect(kb.client.queued).toBe(0);
    sa.drain(4096);
    expect(ka.client.queued).toBe(0);
    const pa = sa.packets().filter((p) => p.type === 3) as PublishPacket[];
    const pb = sb.packets(4).filter((p) => p.type === 3) as PublishPacket[];
    const dec = (p: PublishPacket) => p.topic + "=" + String.fromCharCode(...Array.from(p.payload));
    expect(pa.map(dec)).toEqual(["a/0=from A 0", "a/1=from A 1", "a/2=from A 2"]);
    expect(pb.map(dec)).toEqual(["b/0=from B 0", "b/1=from B 1", "b/2=from B 2"]);
    expect(ka.errors).toEqual([]);
    expect(kb.errors).toEqual([]);
  });
});

describe("what a client keeps per connection", () => {
  test("ECMA-419 target: every connection of every client gets the same three callbacks; a replaced socket's late events are ignored", () => {
    const ka = kit({ clientId: "dev-a" });
    const s1 = ka.accept();
    const kb = kit({ clientId: "dev-b" });
    const sb = kb.last();
    expect(s1.target).toBeDefined();
    expect(s1.target).not.toBe(sb.target);
    expect(sb.options.onReadable).toBe(s1.options.onReadable);
    expect(sb.options.onWritable).toBe(s1.options.onWritable);
    expect(sb.options.onError).toBe(s1.options.onError);
    s1.fail();
    ka.clock.advance(500); // random() = 0.5 of the first 1000 ms window
    const s2 = ka.last();
    expect(s2).not.toBe(s1);
    expect(s2).not.toBe(sb);
    expect(s2.options.onReadable).toBe(s1.options.onReadable);
    s2.open(4096);
    const connects = s2.packets().filter((p) => p.type === 1);
    expect(connects.map((p) => (p as { clientId?: string }).clientId)).toEqual(["dev-a"]);
    // The old socket speaks again: a CONNACK, an error, room to write. None reaches the client.
    s1.deliver({ type: 2, sessionPresent: false, reasonCode: 0 });
    s1.options.onWritable?.call(s1 as never, 4096);
    s1.fail();
    expect(ka.client.isConnected).toBe(false);
    expect(ka.errors.filter((e) => e.code === "connection-lost")).toHaveLength(1); // s1's first failure only
    s2.deliver({ type: 2, sessionPresent: false, reasonCode: 0 });
    expect(ka.client.isConnected).toBe(true);
    expect(ka.connects).toBe(2); // s1's CONNACK, then s2's: none from the stale s1
  });

  test("the socket's target is the client itself (no object per connection); the output queue exists only while bytes wait", () => {
    const k = kit();
    const s1 = k.accept(false, 100);
    expect(s1.target).toBe(k.client);
    const queue = () => (k.client as unknown as { queue: unknown }).queue;
    expect(queue()).toBeUndefined();
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push(k.client.publish("tele/q", new Uint8Array(60).fill(i), { qos: 1 }));
    expect(k.client.queued).toBeGreaterThan(0);
    expect(queue()).toBeDefined();
    for (let i = 0; i < 20 && k.client.queued > 0; i++) s1.drain(70);
    expect(k.client.queued).toBe(0);
    expect(queue()).toBeUndefined();
    // Room again: the next packet goes straight to the socket.
    const before = s1.bytesWritten();
    ids.push(k.client.publish("tele/q", new Uint8Array(10).fill(9), { qos: 1 }));
    expect(s1.bytesWritten()).toBeGreaterThan(before);
    expect(queue()).toBeUndefined();
    const ps = s1.packets().filter((p) => p.type === 3) as PublishPacket[];
    expect(ps.map((p) => p.packetId)).toEqual(ids);
    expect(ps.map((p) => p.payload[0])).toEqual([0, 1, 2, 9]);
    // A socket dropped with bytes queued: the next connection starts with no queue.
    k.client.publish("tele/q", new Uint8Array(200), { qos: 1 });
    expect(queue()).toBeDefined();
    s1.fail();
    k.clock.advance(1000);
    const s2 = k.last();
    expect(s2).not.toBe(s1);
    expect(s2.target).toBe(k.client);
    expect(queue()).toBeUndefined();
    expect(k.client.queued).toBe(0);
  });

  test("one options object for the client and its session (MqttClientOptions extends MqttSessionOptions), read where used: the CONNECT carries them", () => {
    const will = { topic: "dev/w/status", payload: new Uint8Array([111, 102, 102]), qos: 1 as const, retain: true };
    const k = kit({ clientId: "dev-w", keepAlive: 17, will, version: 4 });
    expect(k.client.session.options).toBe(k.client.options);
    expect(k.client.session.v5).toBeUndefined(); // no 5.0 part given: MQTT 3.1.1
    const s = k.accept();
    const [c] = s.packets(4).filter((p) => p.type === 1) as ConnectPacket[];
    expect(c.clientId).toBe("dev-w");
    expect(c.keepAlive).toBe(17);
    expect(c.protocolVersion).toBe(4);
    expect(c.will!.topic).toBe("dev/w/status");
    expect(c.will!.retain).toBe(true);
    expect(c.username).toBeUndefined();
    expect(k.client.isConnected).toBe(true);
  });

  test("the client keeps the options object it was given and reads its callbacks where used (no copies of them)", () => {
    const k = kit({ clientId: "dev-c" });
    let late = 0;
    k.client.options.onConnect = () => late++;
    k.accept();
    expect(k.connects).toBe(0);
    expect(late).toBe(1);
  });

  /** Fails the newest socket before CONNACK, twice: the series is then at its third window. */
  function twoFailures(k: Kit): void {
    k.last().fail();
    k.clock.advance(1000); // 0.999 of the first 1000 ms window
    k.last().fail();
    k.clock.advance(1999); // of the second, 2000 ms
    expect(FakeSocket.all).toHaveLength(3);
  }

  test("back-off: a connection that lasts stableAfterMs ends the series (the next failure waits the first window again)", () => {
    const k = kit({ reconnect: { initialDelayMs: 1000, maxDelayMs: 8000 }, random: () => 0.999 });
    twoFailures(k);
    const s3 = k.accept();
    expect(k.client.isConnected).toBe(true);
    k.clock.advance(30000); // the default stableAfterMs
    s3.fail();
    k.clock.advance(998);
    expect(FakeSocket.all).toHaveLength(3);
    k.clock.advance(1);
    expect(FakeSocket.all).toHaveLength(4); // 999 ms: the first window again, not the third
  });

  test("back-off: a connection the broker drops before stableAfterMs continues the series, up to the give-up deadline", () => {
    // A broker that closes every connection right after CONNACK (a second device with our
    // Client Identifier [MQTT-3.1.4-2], a message that gets us disconnected whenever it is
    // resent): the waits keep growing instead of one reconnect per initialDelayMs for ever.
    const k = kit({ reconnect: { initialDelayMs: 1000, maxDelayMs: 8000, giveUpAfterMs: 80000 }, random: () => 0.999 });
    twoFailures(k);
    const starts: number[] = [];
    for (let i = 0; i < 100000 && k.gaveUp.length === 0; i++) {
      if (FakeSocket.all.length > starts.length + 2) {
        starts.push(k.clock.now());
        const s = k.accept();
        expect(k.client.isConnected).toBe(true);
        k.clock.advance(29999); // one ms short of stableAfterMs
        s.fail();
      }
      k.clock.advance(1);
    }
    const waits = starts.slice(1).map((t, i) => t - starts[i] - 29999);
    expect(waits[0]).toBe(3996); // the third window (4000 ms), not the first
    expect(waits[1]).toBe(7992); // the cap
    expect(k.connects).toBe(starts.length);
    // 80 s after the first failure, counted through the connections: onGiveUp, with the error of the last close.
    expect(k.gaveUp).toHaveLength(1);
    expect(k.gaveUp[0]?.code).toBe("connection-lost");
    expect(starts.length).toBe(3); // connected at 3.0 s, 37.0 s and 75.0 s; the next would start after 80 s
    const n = FakeSocket.all.length;
    k.clock.advance(600000);
    expect(FakeSocket.all).toHaveLength(n);
  });

  test("back-off: stableAfterMs 0 ends the series at every CONNACK", () => {
    const k = kit({ reconnect: { initialDelayMs: 1000, maxDelayMs: 8000, stableAfterMs: 0 }, random: () => 0.999 });
    twoFailures(k);
    k.accept().fail(); // dropped at once
    k.clock.advance(998);
    expect(FakeSocket.all).toHaveLength(3);
    k.clock.advance(1);
    expect(FakeSocket.all).toHaveLength(4);
  });

  test("back-off: connect() after onGiveUp starts a new series (one give-up per deadline, not one per attempt)", () => {
    const k = kit({ reconnect: { initialDelayMs: 1000, maxDelayMs: 1000, giveUpAfterMs: 2500 }, random: () => 0.999 });
    for (let i = 0; i < 10 && k.gaveUp.length === 0; i++) {
      k.last().fail();
      k.clock.advance(999);
    }
    expect(k.gaveUp).toHaveLength(1);
    const n = FakeSocket.all.length;
    k.clock.advance(900000); // the app slept on onGiveUp
    k.client.connect();
    expect(FakeSocket.all).toHaveLength(n + 1);
    k.last().fail();
    expect(k.gaveUp).toHaveLength(1); // the old deadline is not applied to the new series
    k.clock.advance(999);
    expect(FakeSocket.all).toHaveLength(n + 2);
  });

  test("back-off: bad reconnect options throw at construction", () => {
    expect(() => kit({ reconnect: { initialDelayMs: -1 } })).toThrow(RangeError);
    expect(() => kit({ reconnect: { factor: 0.5 } })).toThrow(RangeError);
    expect(() => kit({ reconnect: { stableAfterMs: -1 } })).toThrow(RangeError);
    expect(() => kit({ reconnect: { stableAfterMs: NaN } })).toThrow(RangeError);
  });
});
