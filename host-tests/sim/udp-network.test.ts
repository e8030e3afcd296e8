// @xs
import type { UdpPacket } from "../../modules/platform/io";
import { SimNetwork } from "../../sim/udp-network";
import type { LinkConditions } from "../../sim/udp-network";
import { VirtualClock } from "../../sim/virtual-clock";

function text(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function str(buffer: ArrayBuffer): string {
  return String.fromCharCode.apply(null, Array.from(new Uint8Array(buffer)));
}

/** Sends `count` numbered datagrams a → b, one per ms, and returns the sequence numbers b received, in order. */
function run(seed: number, conditions: LinkConditions, count: number): { received: number[]; network: SimNetwork } {
  const clock = new VirtualClock();
  const network = new SimNetwork({ clock, seed, receiveQueue: 100000, ...conditions });
  const received: number[] = [];
  const b = new (network.host("10.0.0.2").UDP)({
    port: 5683,
    onReadable() {
      let p: UdpPacket | undefined;
      while ((p = this.read())) received.push(new DataView(p).getUint32(0));
    },
  });
  const a = new (network.host("10.0.0.1").UDP)({});
  for (let i = 0; i < count; i++) {
    const msg = new DataView(new ArrayBuffer(4));
    msg.setUint32(0, i);
    a.write(msg.buffer, "10.0.0.2", 5683);
    clock.advance(1);
  }
  clock.runAll();
  a.close();
  b.close();
  return { received, network };
}

describe("SimNetwork: ECMA-419 §10 UDP sockets on simulated hosts", () => {
  it("delivers a datagram with the sender's address and port attached", () => {
    const clock = new VirtualClock();
    const net = new SimNetwork({ clock });
    const seen: number[] = [];
    const server = new (net.host("10.0.0.2").UDP)({ port: 5683, onReadable: (n) => seen.push(n) });
    const client = new (net.host("10.0.0.1").UDP)({});
    client.write(text("hello"), "10.0.0.2", 5683);
    expect(seen).toEqual([]); // never from inside write() (ECMA-419 §8)
    clock.advance(0);
    expect(seen).toEqual([1]);
    const packet = server.read()!;
    expect(str(packet)).toBe("hello");
    expect(packet.address).toBe("10.0.0.1");
    expect(packet.port).toBe(client.port);
    expect(server.read()).toBeUndefined();
  });

  it("read(buffer) copies into the buffer and throws when it is too small", () => {
    const clock = new VirtualClock();
    const net = new SimNetwork({ clock });
    const server = new (net.host("10.0.0.2").UDP)({ port: 9 });
    const client = new (net.host("10.0.0.1").UDP)({});
    client.write(text("abcdef"), "10.0.0.2", 9);
    clock.advance(0);
    expect(() => server.read(new Uint8Array(3))).toThrow("too small");
    const buffer = new Uint8Array(10);
    expect(server.read(buffer)).toBe(6);
    expect(str(buffer.buffer.slice(0, 6))).toBe("abcdef");
    expect((buffer as unknown as { address: string }).address).toBe("10.0.0.1");
  });

  it("applies latency and jitter on the clock", () => {
    const clock = new VirtualClock();
    const net = new SimNetwork({ clock, latencyMs: 50, jitterMs: 10, seed: 3 });
    const arrivals: number[] = [];
    new (net.host("10.0.0.2").UDP)({
      port: 1,
      onReadable() {
        this.read();
        arrivals.push(clock.now());
      },
    });
    const client = new (net.host("10.0.0.1").UDP)({});
    for (let i = 0; i < 20; i++) client.write(text("x"), "10.0.0.2", 1);
    clock.advance(49);
    expect(arrivals).toEqual([]);
    clock.advance(11);
    expect(arrivals).toHaveLength(20);
    for (const t of arrivals) {
      expect(t).toBeGreaterThanOrEqual(50);
      expect(t).toBeLessThan(60);
      expect(Number.isInteger(t)).toBe(true);
    }
    expect(new Set(arrivals).size).toBeGreaterThan(3);
  });

  it("loses datagrams at the configured rate (20 % ± 2 % over 5000) and counts them", () => {
    const { received, network } = run(1234, { loss: 0.2 }, 5000);
    const lost = 5000 - received.length;
    expect(lost / 5000).toBeGreaterThan(0.18);
    expect(lost / 5000).toBeLessThan(0.22);
    expect(network.counters.dropped).toBe(lost);
    expect(network.counters.sent).toBe(5000);
    expect(network.counters.delivered).toBe(received.length);
  });

  it("is deterministic: the same seed gives exactly the same deliveries, another seed differs", () => {
    const conditions = { loss: 0.1, duplicate: 0.05, reorder: 0.1, latencyMs: 5, jitterMs: 3 };
    const first = run(99, conditions, 500).received;
    const second = run(99, conditions, 500).received;
    const other = run(100, conditions, 500).received;
    expect(second).toEqual(first);
    expect(other).not.toEqual(first);
  });

  it("duplicates datagrams and counts the copies", () => {
    const { received, network } = run(5, { duplicate: 0.3 }, 1000);
    const copies = received.length - 1000;
    expect(copies).toBe(network.counters.duplicated);
    expect(copies).toBeGreaterThan(250);
    expect(copies).toBeLessThan(350);
    const seen: { [k: number]: number } = {};
    let doubled = 0;
    for (const n of received) if ((seen[n] = (seen[n] ?? 0) + 1) === 2) doubled++;
    expect(doubled).toBe(copies);
  });

  it("reorders datagrams: later ones overtake held-back ones", () => {
    const { received, network } = run(8, { reorder: 0.2, latencyMs: 2, reorderDelayMs: 20 }, 200);
    expect(received).toHaveLength(200);
    let inversions = 0;
    for (let i = 1; i < received.length; i++) if (received[i] < received[i - 1]) inversions++;
    expect(network.counters.reordered).toBeGreaterThan(20);
    expect(inversions).toBeGreaterThan(10);
    expect([...received].sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it("without impairments it keeps order exactly", () => {
    const { received } = run(1, {}, 100);
    expect(received).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it("per-link conditions override the global ones, one direction only", () => {
    const clock = new VirtualClock();
    const net = new SimNetwork({ clock, seed: 2 });
    net.link("10.0.0.1", "10.0.0.2", { down: true });
    const got: string[] = [];
    const a = new (net.host("10.0.0.1").UDP)({ port: 1, onReadable() { got.push("a:" + str(this.read()!)); } });
    const b = new (net.host("10.0.0.2").UDP)({ port: 2, onReadable() { got.push("b:" + str(this.read()!)); } });
    a.write(text("to-b"), "10.0.0.2", 2);
    b.write(text("to-a"), "10.0.0.1", 1);
    clock.advance(0);
    expect(got).toEqual(["a:to-a"]);
    expect(net.linkCounters("10.0.0.1", "10.0.0.2")!.dropped).toBe(1);
    net.unlink("10.0.0.1", "10.0.0.2");
    a.write(text("again"), "10.0.0.2", 2);
    clock.advance(0);
    expect(got).toEqual(["a:to-a", "b:again"]);
  });

  it("link(..., {both: true}) applies both ways; setConditions changes the global ones", () => {
    const clock = new VirtualClock();
    const net = new SimNetwork({ clock });
    net.link("10.0.0.1", "10.0.0.2", { latencyMs: 100 }, { both: true });
    net.setConditions({ latencyMs: 5 });
    const at: string[] = [];
    const a = new (net.host("10.0.0.1").UDP)({ port: 1, onReadable: () => at.push(`a@${clock.now()}`) });
    new (net.host("10.0.0.2").UDP)({ port: 2, onReadable: () => at.push(`b@${clock.now()}`) });
    const c = new (net.host("10.0.0.3").UDP)({ port: 3 });
    a.write(text("1"), "10.0.0.2", 2);
    c.write(text("2"), "10.0.0.1", 1);
    clock.advance(200);
    expect(at).toEqual(["a@5", "b@100"]);
  });

  it("counts datagrams to a host or port nobody listens on as unreachable", () => {
    const clock = new VirtualClock();
    const net = new SimNetwork({ clock });
    const a = new (net.host("10.0.0.1").UDP)({});
    a.write(text("x"), "10.0.0.9", 1);
    a.write(text("x"), "10.0.0.1", 4);
    clock.advance(0);
    expect(net.counters.unreachable).toBe(2);
  });

  it("drops datagrams beyond a socket's receive queue and counts the overflow", () => {
    const clock = new VirtualClock();
    const net = new SimNetwork({ clock, receiveQueue: 3 });
    const b = new (net.host("10.0.0.2").UDP)({ port: 2 });
    const a = new (net.host("10.0.0.1").UDP)({});
    for (let i = 0; i < 5; i++) a.write(text(String(i)), "10.0.0.2", 2);
    clock.advance(0);
    expect(net.counters.overflow).toBe(2);
    expect(str(b.read()!)).toBe("0");
    expect(b.pending).toBe(2);
  });

  it("records every datagram's fate when trace is on", () => {
    const clock = new VirtualClock();
    const net = new SimNetwork({ clock, loss: 1 });
    net.trace = [];
    const a = new (net.host("10.0.0.1").UDP)({ port: 7 });
    a.write(text("abc"), "10.0.0.2", 8);
    expect(net.trace).toEqual([{ at: 0, from: "10.0.0.1", fromPort: 7, to: "10.0.0.2", toPort: 8, byteLength: 3, fate: "dropped" }]);
  });
});

describe("SimNetwork: port binding and socket lifecycle", () => {
  it("binds the requested port, refuses it twice, frees it on close", () => {
    const net = new SimNetwork({ clock: new VirtualClock() });
    const host = net.host("10.0.0.1");
    const s = new host.UDP({ port: 5683 });
    expect(s.port).toBe(5683);
    expect(() => new host.UDP({ port: 5683 })).toThrow("already in use");
    s.close();
    expect(new host.UDP({ port: 5683 }).port).toBe(5683);
  });

  it("picks distinct ephemeral ports from 49152", () => {
    const net = new SimNetwork({ clock: new VirtualClock() });
    const host = net.host("10.0.0.1");
    const p1 = new host.UDP({}).port;
    const p2 = new host.UDP({ port: 0 }).port;
    expect(p1).toBe(49152);
    expect(p2).toBe(49153);
    expect(host.ports()).toEqual([49152, 49153]);
  });

  it("the same port on two hosts is fine; binding another host's address is not", () => {
    const net = new SimNetwork({ clock: new VirtualClock() });
    new (net.host("10.0.0.1").UDP)({ port: 1 });
    new (net.host("10.0.0.2").UDP)({ port: 1, address: "10.0.0.2" });
    expect(() => new (net.host("10.0.0.1").UDP)({ port: 2, address: "10.0.0.2" })).toThrow("cannot bind");
  });

  it("a closed socket throws on read and write, gets no more callbacks, and close() is idempotent", () => {
    const clock = new VirtualClock();
    const net = new SimNetwork({ clock, latencyMs: 10 });
    let calls = 0;
    const b = new (net.host("10.0.0.2").UDP)({ port: 2, onReadable: () => calls++ });
    const a = new (net.host("10.0.0.1").UDP)({});
    a.write(text("x"), "10.0.0.2", 2);
    b.close();
    b.close();
    clock.advance(10);
    expect(calls).toBe(0);
    expect(() => b.read()).toThrow("closed");
    expect(() => b.write(text("x"), "10.0.0.1", 1)).toThrow("closed");
  });

  it.each([
    ["a port above 65535", { port: 70000 }],
    ["a fractional port", { port: 1.5 }],
    ["a non-function onReadable", { onReadable: 5 }],
  ])("the constructor rejects %s", (_what, options) => {
    const net = new SimNetwork({ clock: new VirtualClock() });
    expect(() => new (net.host("10.0.0.1").UDP)(options as never)).toThrow();
    expect(net.host("10.0.0.1").ports()).toEqual([]);
  });

  it("write rejects a bad address, a bad port, a non-buffer and an oversize datagram, sending nothing", () => {
    const net = new SimNetwork({ clock: new VirtualClock(), maxPayload: 100 });
    const a = new (net.host("10.0.0.1").UDP)({});
    expect(() => a.write(text("x"), "10.0.0.256", 1)).toThrow(RangeError);
    expect(() => a.write(text("x"), "10.0.0.2", 0)).toThrow(RangeError);
    expect(() => a.write("x" as never, "10.0.0.2", 1)).toThrow(TypeError);
    expect(() => a.write(new Uint8Array(101), "10.0.0.2", 1)).toThrow("maximum payload");
    expect(net.counters.sent).toBe(0);
  });

  it("rejects bad network options", () => {
    const clock = new VirtualClock();
    expect(() => new SimNetwork({ clock, loss: 1.5 })).toThrow(RangeError);
    expect(() => new SimNetwork({ clock, latencyMs: -1 })).toThrow(RangeError);
    expect(() => new SimNetwork({ clock, maxPayload: 0 })).toThrow(RangeError);
    expect(() => new SimNetwork({} as never)).toThrow(TypeError);
    const net = new SimNetwork({ clock });
    expect(() => net.link("10.0.0.1", "10.0.0.2", { duplicate: -0.1 })).toThrow(RangeError);
  });

  it("format is always 'buffer'", () => {
    const net = new SimNetwork({ clock: new VirtualClock() });
    const s = new (net.host("10.0.0.1").UDP)({});
    expect(s.format).toBe("buffer");
    expect(() => (s.format = "string")).toThrow("unsupported format");
  });
});
