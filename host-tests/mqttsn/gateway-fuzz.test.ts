/*
 * A seeded, generative fuzz of our MQTT-SN gateway (sim/node/mqttsn-gateway.ts) against a real
 * mosquitto. Node only.
 *
 * Per seed: a fresh mosquitto (with $SYS every second) and gateway (small bounds: 8 clients,
 * 8 topics, 4 buffered, 512-octet datagrams, short retries and keepLostMs), 10 simulated
 * clients on UDP sockets bound to three loopback addresses (127.0.0.1-3), 1,600 datagrams
 * from them in about 6 s, each drawn from the seed: well-formed client messages with random fields (SEARCHGW,
 * CONNECT with/without will and clean flag from a small pool of ClientIds shared by every
 * address, so ids collide; WILLTOPIC/WILLMSG in and out of turn; REGISTER with random names,
 * wildcards, bad UTF-8; PUBLISH at QoS -1..2 with every TopicIdType and unknown ids; acks
 * with random MsgIds; SUBSCRIBE/UNSUBSCRIBE by name, pre-defined id, short name; PINGREQ with
 * and without ClientId; DISCONNECT with and without Duration; WILLTOPICUPD/WILLMSGUPD;
 * ENCAPSULATED) and mutated datagrams (bit flips, truncation, wrong Length, 3-octet Length,
 * oversized, random octets). The clients answer the gateway's REGISTER/PUBLISH/PUBREL/
 * WILLTOPICREQ/WILLMSGREQ, or not, at random (a random source of their own, so the sequence
 * of actions is the seed's whatever the timing of the answers). An MQTT.js publisher sends
 * to topics the clients subscribe to, so REGISTER toward clients, delivery and sleep
 * buffering run too.
 *
 * Asserted: nothing thrown out of the gateway (its socket callback is guarded by the test; an
 * uncaught exception or unhandled rejection fails the jest test by itself; no JavaScript error
 * in its log, where it reports what a handler threw); its state
 * bounded while it runs (clients <= maxClients, each client's registry and subscriptions <=
 * maxTopics, its buffer <= maxBuffered + the one message whose broker acknowledgement is
 * held); every PUBLISH the gateway accepted (PUBACK accepted at QoS 1, PUBREC at QoS 2)
 * reached an MQTT.js subscriber on '#'; once every client is gone, mosquitto counts exactly
 * the gateway's QoS -1 connection, the subscriber and the publisher
 * ($SYS/broker/clients/connected, and who its log says is connected), and after close() the
 * subscriber alone; the log bounded per datagram; and our own client still connects,
 * publishes at QoS 1, subscribes and receives through the same gateway.
 *
 * Below the fuzz, each fault it found, reproduced on its own. FUZZ_LOG=/tmp/gw- writes the
 * gateway's log of each seed to /tmp/gw-<seed>.
 */
import * as dgram from "node:dgram";
import * as fs from "node:fs";
import * as mqtt from "mqtt";
import { describeWithPeer, startMosquitto, type MosquittoPeer } from "../support/peers";
import { MqttSnCodecError, decode } from "../../modules/mqttsn/codec";
import type { UdpConstructor } from "../../modules/platform/io";
import { MqttSnGateway, type MqttSnGatewayOptions } from "../../sim/node/mqttsn-gateway";
import { UDP } from "../../sim/node/udp";
import { RawSnClient as Raw, makeClient, until } from "./interop-support";
import { prng } from "../support/fuzz";

const SEEDS = [0x5eed0001, 0x5eed0002, 0x5eed0003];
const STEPS = 1600; // datagrams per seed from the simulated clients
const SIMS = 10; // simulated clients, more than maxClients
const BOUNDS = { maxClients: 8, maxTopics: 8, maxBuffered: 4, maxDatagram: 512 };
const PREDEFINED = { "pre/a": 5, "pre/b": 6 };
const ADDRESSES = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
/** ClientIds any client may take (collisions between addresses), besides its own. */
const IDS = ["fz-a", "fz-b", "fz-c", "fz-s0", "fz-s1"];

/** The seed's draws (support/fuzz.ts's PRNG) with the helpers this file picks by. */
function rng(seed: number) {
  const next = prng(seed);
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(xs: readonly T[]): T => xs[int(xs.length)], chance: (p: number) => next() < p };
}
type Rng = ReturnType<typeof rng>;

const utf8 = (s: string) => [...Buffer.from(s, "utf8")];
const u16 = (v: number) => [(v >> 8) & 0xff, v & 0xff];
/** A datagram with its Length (§5.2.1): one octet up to 255, else 0x01 and two octets. */
function frame(type: number, body: number[]): Uint8Array {
  const n = body.length + 2;
  return Uint8Array.from(n <= 255 ? [n, type, ...body] : [1, ...u16(n + 2), type, ...body]);
}
/** Flags (§5.3.4): QoS -1 is 0b11. */
function flags(o: { dup?: boolean; qos?: number; retain?: boolean; will?: boolean; clean?: boolean; tid?: number }): number {
  const q = o.qos === -1 ? 3 : (o.qos ?? 0);
  return (o.dup ? 0x80 : 0) | (q << 5) | (o.retain ? 0x10 : 0) | (o.will ? 0x08 : 0) | (o.clean ? 0x04 : 0) | ((o.tid ?? 0) & 3);
}

/** Topic names and filters: good ones the publisher also uses, wildcards, long, bad UTF-8. */
function topicBytes(r: Rng): number[] {
  const k = r.int(10);
  if (k < 5) return utf8(r.pick(["fz/a", "fz/b", "a/b", "pre/a", "x", "fz/t/" + r.int(12), "fz/t/" + r.int(12) + "/z"]));
  if (k < 7) return utf8(r.pick(["fz/+", "fz/#", "#", "+/+", "fz/t/#", "a/#/b", "+"]));
  if (k < 8) return utf8("fz/" + "x".repeat(100 + r.int(300)));
  if (k < 9) return r.pick([[0x66, 0xc3, 0x28], [0xed, 0xa0, 0x80], [0x61, 0x00, 0x62], [0xff], [0xc0, 0xaf]]);
  return utf8("fz/" + String.fromCharCode(0x61 + r.int(26), 0x61 + r.int(26)));
}

/** The accepted publications: token -> its QoS; and what came back. */
interface Ledger {
  /** Global MsgId (0x8000-0xFFFF: never made by a mutation) -> token of the tracked PUBLISH. */
  tracked: Map<number, { token: string; qos: number }>;
  accepted: Map<string, number>;
  nextMsgId: number;
}

/** A simulated client: one UDP socket, a little of the state a client keeps, random answers. */
class Sim {
  socket = dgram.createSocket("udp4");
  /** Topic ids it learned (REGACK, SUBACK, the gateway's REGISTER). */
  ids: number[] = [];
  registering = new Map<number, number>();
  sent: Uint8Array[] = [];
  id: string;
  counts = new Map<number, number>();
  /** Told DISCONNECT or refused: the next message is likely a CONNECT. */
  away = true;
  /** Sent DISCONNECT with a Duration: wakes (PINGREQ with its ClientId) now and then. */
  sleeping = false;
  /** Malformed datagrams from the gateway (none expected). */
  malformed: string[] = [];
  constructor(
    readonly address: string,
    readonly gw: number,
    readonly r: Rng,
    /** For the answers, whose order depends on timing. */
    readonly answers: Rng,
    readonly ledger: Ledger,
    readonly own: string,
  ) {
    this.id = own;
    this.socket.on("message", (b) => this.#got(new Uint8Array(b)));
  }
  bind(): Promise<void> {
    return new Promise((res, rej) => {
      this.socket.once("error", rej);
      this.socket.bind(0, this.address, () => res());
    });
  }
  send(bytes: Uint8Array): void {
    this.sent.push(bytes);
    if (this.sent.length > 40) this.sent.shift();
    this.socket.send(bytes, this.gw, "127.0.0.1");
  }
  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }

  #got(b: Uint8Array): void {
    const m: any = decode(b);
    if (m instanceof MqttSnCodecError) {
      this.malformed.push(m.message);
      return;
    }
    this.counts.set(m.type, (this.counts.get(m.type) ?? 0) + 1);
    const r = this.answers;
    const learn = (id: number) => id && !this.ids.includes(id) && this.ids.push(id);
    switch (m.type) {
      case 0x05: // CONNACK
        this.away = m.returnCode !== 0;
        return;
      case 0x18: // DISCONNECT: the answer to ours, or the gateway does not know us
        if (!this.sleeping) this.away = true;
        return;
      case 0x06: // WILLTOPICREQ
        if (r.chance(0.85)) this.send(frame(0x07, r.chance(0.1) ? [] : [flags({ qos: r.int(3), retain: r.chance(0.3) }), ...utf8("fz/will/" + this.id)]));
        return;
      case 0x08: // WILLMSGREQ
        if (r.chance(0.85)) this.send(frame(0x09, utf8("gone " + this.id)));
        return;
      case 0x0a: // the gateway's REGISTER (§6.10)
        if (r.chance(0.8)) {
          const rc = r.chance(0.9) ? 0 : 1 + r.int(3);
          if (!rc) learn(m.topicId);
          this.send(frame(0x0b, [...u16(m.topicId), ...u16(m.msgId), rc]));
        }
        return;
      case 0x0b: // REGACK
        if (m.returnCode === 0) learn(m.topicId);
        return;
      case 0x13: // SUBACK
        if (m.returnCode === 0) learn(m.topicId);
        return;
      case 0x0c: // PUBLISH to the client
        if (m.qos === 1 && r.chance(0.8)) this.send(frame(0x0d, [...u16(m.topicId), ...u16(m.msgId), r.chance(0.95) ? 0 : 2]));
        if (m.qos === 2 && r.chance(0.8)) this.send(frame(0x0f, u16(m.msgId)));
        return;
      case 0x10: // PUBREL
        if (r.chance(0.85)) this.send(frame(0x0e, u16(m.msgId)));
        return;
      case 0x0d: // PUBACK for the client's PUBLISH
      case 0x0f: {
        // PUBREC
        const t = this.ledger.tracked.get(m.msgId);
        if (t && (m.type === 0x0f ? t.qos === 2 : t.qos === 1 && m.returnCode === 0)) this.ledger.accepted.set(t.token, t.qos);
        if (m.type === 0x0f && r.chance(0.9)) this.send(frame(0x10, u16(m.msgId)));
        return;
      }
    }
  }

  /** One random action: a well-formed message with random fields, or a mutated one. */
  step(seed: number, n: number): void {
    const r = this.r;
    if (this.sleeping && r.chance(0.5)) return this.send(frame(0x16, utf8(this.id))); // awake (§6.14)
    const k = this.away && r.chance(0.6) ? 25 : r.int(100);
    if (k < 20) return this.send(this.#mutant());
    this.send(this.#message(k, seed, n));
  }

  #message(k: number, seed: number, n: number): Uint8Array {
    const r = this.r;
    const anyId = () => (this.ids.length && r.chance(0.7) ? r.pick(this.ids) : r.chance(0.5) ? 1 + r.int(10) : r.int(0x10000));
    const msgId = () => r.int(0x8000);
    if (k < 22) return frame(0x01, [r.int(4)]); // SEARCHGW
    if (k < 27) {
      // CONNECT: a pooled ClientId (collisions between addresses) or a fresh one
      if (r.chance(0.3)) this.id = r.pick([this.own, this.own, ...IDS, "fz-" + r.int(1000)]);
      this.sleeping = false;
      this.ids = [];
      return frame(0x04, [flags({ will: r.chance(0.35), clean: r.chance(0.5) }), 1, ...u16(r.pick([0, 1, 2, 3, 5, 30])), ...utf8(this.id)]);
    }
    if (k < 29) return r.chance(0.5) ? frame(0x07, r.chance(0.2) ? [] : [flags({ qos: r.int(3) }), ...topicBytes(r)]) : frame(0x09, utf8("out of turn"));
    if (k < 37) {
      const id = msgId();
      this.registering.set(id, 0);
      return frame(0x0a, [...u16(0), ...u16(id), ...topicBytes(r)]);
    }
    if (k < 59) {
      // PUBLISH: every QoS and TopicIdType; tracked at QoS 1/2 with a global MsgId
      const qos = r.pick([-1, 0, 1, 1, 2]);
      const tid = r.pick([0, 0, 1, 1, 2, 3]);
      const topicId = tid === 1 ? r.pick([5, 6, 5, r.int(0x10000)]) : tid === 2 ? r.pick([0x6162, 0x2f61, 0x2331, r.int(0x10000)]) : anyId();
      const token = `fz${seed.toString(16)}-${n}`;
      // An empty payload carries no token: such a PUBLISH is not tracked.
      const data = r.chance(0.1) ? [] : utf8(token + (r.chance(0.2) ? "-" + "p".repeat(r.int(200)) : ""));
      let id = qos > 0 ? 1 + msgId() : r.chance(0.5) ? 0 : msgId();
      if (qos > 0 && data.length && this.ledger.nextMsgId <= 0xffff) {
        id = this.ledger.nextMsgId++;
        this.ledger.tracked.set(id, { token, qos });
      }
      return frame(0x0c, [flags({ qos, retain: r.chance(0.1), tid, dup: r.chance(0.05) }), ...u16(topicId), ...u16(id), ...data]);
    }
    if (k < 63) {
      // a tracked PUBLISH again (the client did not hear the answer): same MsgId, DUP
      const last = this.sent.filter((b) => b[1] === 0x0c && ((b[2] >> 5) & 3) !== 0 && ((b[2] >> 5) & 3) !== 3);
      if (last.length) {
        const again = Uint8Array.from(r.pick(last));
        again[2] |= 0x80;
        return again;
      }
      return frame(0x16, []);
    }
    if (k < 69) return frame(r.pick([0x0d, 0x0f, 0x10, 0x0e, 0x0b]), [...(r.chance(0.5) ? u16(anyId()) : []), ...u16(msgId()), ...(r.chance(0.5) ? [r.int(4)] : [])].slice(0, r.pick([2, 5])));
    if (k < 79) {
      // SUBSCRIBE / UNSUBSCRIBE by name, pre-defined id or short name
      const type = r.chance(0.75) ? 0x12 : 0x14;
      const tid = r.pick([0, 0, 0, 1, 2]);
      const f = flags({ qos: r.int(3), tid, dup: r.chance(0.05) });
      if (tid === 0) return frame(type, [f, ...u16(msgId()), ...topicBytes(r)]);
      return frame(type, [f, ...u16(msgId()), ...u16(tid === 1 ? r.pick([5, 6, r.int(0x10000)]) : r.pick([0x6162, 0x2331, 0x2b2b, r.int(0x10000)]))]);
    }
    if (k < 85) return frame(0x16, r.chance(0.4) ? [] : utf8(r.chance(0.7) ? this.id : r.pick(IDS))); // PINGREQ
    if (k < 90) {
      // DISCONNECT, or asleep with a Duration
      this.sleeping = r.chance(0.5);
      return frame(0x18, this.sleeping ? u16(r.pick([0, 1, 2, 3, 30])) : []);
    }
    if (k < 96) {
      if (r.chance(0.5)) return frame(0x1a, r.chance(0.3) ? [] : [flags({ qos: r.int(3), retain: r.chance(0.2) }), ...topicBytes(r)]);
      return frame(0x1c, utf8("will update " + n));
    }
    // ENCAPSULATED (§5.5): a message behind a forwarder's header
    const inner = frame(0x16, []);
    const node = [r.int(256), r.int(256)];
    return Uint8Array.from([3 + node.length, 0xfe, r.int(4), ...node, ...inner]);
  }

  #mutant(): Uint8Array {
    const r = this.r;
    for (;;) {
      const base = this.sent.length && r.chance(0.8) ? r.pick(this.sent) : frame(r.int(0x20), Array.from({ length: r.int(12) }, () => r.int(256)));
      let b: Uint8Array = Uint8Array.from(base);
      switch (r.int(7)) {
        case 0: // bit flips
          for (let i = 1 + r.int(3); i > 0 && b.length; i--) b[r.int(b.length)] ^= 1 << r.int(8);
          break;
        case 1: // truncated
          b = b.subarray(0, r.int(b.length));
          break;
        case 2: // a wrong Length
          if (b.length) b[0] = r.int(256);
          break;
        case 3: // oversized: past maxDatagram, sometimes past 1280
          b = frame(0x0c, [flags({ qos: r.int(3), tid: 1 }), 0, 5, 0, 1 + r.int(100), ...new Array(r.pick([520, 700, 1300, 2000])).fill(0x61)]);
          break;
        case 4: // 3-octet Length for a short message, or one that lies
          b = Uint8Array.from([1, 0, b.length + 2 + r.int(2), ...b.subarray(1)]);
          break;
        case 5: // random octets
          b = Uint8Array.from({ length: r.int(40) }, () => r.int(256));
          break;
        case 6: // trailing octets
          b = Uint8Array.from([...b, ...Array.from({ length: 1 + r.int(4) }, () => r.int(256))]);
          break;
      }
      // Never a PUBLISH in the tracked MsgId range, nor a name under '$' (the subscriber on '#' does not see those).
      const m: any = decode(b);
      if (m instanceof MqttSnCodecError) return b;
      if (m.type === 0x0c && m.msgId >= 0x8000) continue;
      if (/^\$/.test(m.topicName ?? m.willTopic ?? "")) continue;
      return b;
    }
  }
}

/** The gateway's UDP socket, with its callback guarded: anything it throws is recorded, not lost. */
function guardedUdp(thrown: unknown[]): UdpConstructor {
  return class extends (UDP as any) {
    constructor(o: any) {
      super({
        ...o,
        onReadable(this: unknown, n: number) {
          try {
            o.onReadable.call(this, n);
          } catch (e) {
            thrown.push(e);
          }
        },
      });
    }
  } as unknown as UdpConstructor;
}

/** $SYS/broker/clients/connected as mosquitto reports it (every second). */
async function connectionCounter(url: string) {
  const c = mqtt.connect(url, { clientId: "fuzz-sub", reconnectPeriod: 0 });
  const got = new Map<string, number>();
  const counts: number[] = [];
  const payloads: string[] = [];
  c.on("message", (topic, payload) => {
    if (topic === "$SYS/broker/clients/connected") counts.push(Number(payload.toString()));
    else if (topic.startsWith("fz/good/")) payloads.push(payload.toString());
    else {
      const token = /^(fz[0-9a-f]+-\d+)/.exec(payload.toString())?.[1];
      if (token) got.set(token, (got.get(token) ?? 0) + 1);
    }
  });
  await new Promise<void>((res, rej) => (c.once("connect", () => res()), c.once("error", rej)));
  await c.subscribeAsync(["#", "$SYS/broker/clients/connected"], { qos: 2 });
  return {
    c,
    got,
    counts,
    payloads,
    /** The count mosquitto reports (it publishes on a change, retained) once it has said `n` and then nothing else for 2.5 s; or the last count after `ms`. */
    async settle(n: number, ms: number): Promise<number | undefined> {
      const end = Date.now() + ms;
      for (;;) {
        const k = counts.length;
        if (counts[k - 1] === n) {
          await new Promise((r) => setTimeout(r, 2500));
          if (counts.length === k) return n;
          continue;
        }
        if (Date.now() > end) return counts[counts.length - 1];
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** The ClientIds mosquitto's log says are connected now (for the failure message). */
function connectedAt(broker: MosquittoPeer): string[] {
  const on = new Map<string, number>();
  for (const line of broker.logs().split("\n")) {
    let m = /New client connected from \S+ as (\S+) /.exec(line);
    if (m) on.set(m[1], (on.get(m[1]) ?? 0) + 1);
    else if ((m = /Client (\S+) (?:disconnected|closed its connection|has exceeded timeout|already connected, closing old connection)/.exec(line) ?? /Socket error on client (\S+),/.exec(line))) on.set(m[1], (on.get(m[1]) ?? 0) - 1);
  }
  return [...on].filter(([, k]) => k > 0).map(([id, k]) => (k > 1 ? `${id} x${k}` : id)).sort();
}

const JS_ERROR = /Cannot read prop|is not a function|is not defined|is not iterable|Maximum call stack|Invalid array length|of undefined|of null/;

describeWithPeer("mosquitto", "MQTT-SN gateway fuzz (seeded)", () => {
  for (const seed of SEEDS) {
    it(`seed 0x${seed.toString(16)}: ${STEPS} datagrams from ${SIMS} clients on 3 addresses, bounded, nothing accepted lost, still usable`, async () => {
      const started = Date.now();
      const r = rng(seed);
      const broker: MosquittoPeer = await startMosquitto({ extraConfig: ["sys_interval 1"] });
      const url = `mqtt://127.0.0.1:${broker.port}`;
      const thrown: unknown[] = [];
      const log: string[] = [];
      let gateway: MqttSnGateway | undefined;
      const sims: Sim[] = [];
      let counter: Awaited<ReturnType<typeof connectionCounter>> | undefined;
      let publisher: mqtt.MqttClient | undefined;
      let check: ReturnType<typeof setInterval> | undefined;
      const bounds: string[] = [];
      try {
        counter = await connectionCounter(url);
        const options: MqttSnGatewayOptions = {
          udp: { io: guardedUdp(thrown), port: 0, receiveQueue: 64 },
          broker: url,
          predefined: PREDEFINED,
          ...BOUNDS,
          retryMs: 150,
          maxRetries: 2,
          keepLostMs: 2000,
          tickMs: 20,
          log: (l) => log.push(l),
        };
        gateway = new MqttSnGateway(options);
        const port = await gateway.start();
        const ledger: Ledger = { tracked: new Map(), accepted: new Map(), nextMsgId: 0x8000 };
        for (let i = 0; i < SIMS; i++) {
          const s = new Sim(ADDRESSES[i % ADDRESSES.length], port, rng(seed * 31 + i), rng(seed * 37 + i), ledger, "fz-s" + i);
          await s.bind();
          sims.push(s);
        }
        publisher = mqtt.connect(url, { clientId: "fuzz-pub", reconnectPeriod: 0 });
        await new Promise((res) => publisher!.once("connect", res));

        const gw = gateway;
        check = setInterval(() => {
          if (gw.clients.size > BOUNDS.maxClients) bounds.push(`${gw.clients.size} clients`);
          for (const c of gw.clients.values() as Iterable<any>) {
            if (c.ids.size > BOUNDS.maxTopics || c.names.size > BOUNDS.maxTopics) bounds.push(`${c.id}: ${c.ids.size} topic ids`);
            if (c.subs.size > BOUNDS.maxTopics) bounds.push(`${c.id}: ${c.subs.size} subscriptions`);
            // One more than maxBuffered: the message whose broker acknowledgement is held (MQTT.js reads no further until it is given).
            if (c.queue.length > BOUNDS.maxBuffered + 1) bounds.push(`${c.id}: ${c.queue.length} buffered`);
          }
        }, 25);

        // The fuzz: each step a datagram from a random client; now and then a broker message.
        let published = 0;
        for (let n = 0; n < STEPS; n++) {
          r.pick(sims).step(seed, n);
          if (r.chance(0.12)) {
            const topic = r.pick(["fz/a", "fz/b", "a/b", "pre/a", "pre/b", "x", "ab", "fz/t/" + r.int(12), "fz/t/" + r.int(12) + "/z"]);
            publisher.publish(topic, "from broker " + n, { qos: r.pick([0, 1, 2]) as 0 | 1 | 2 });
            published++;
          }
          if (n % 4 === 3) await new Promise((res) => setTimeout(res, 8 + r.int(12)));
        }
        const fuzzMs = Date.now() - started;

        // Drain: every client says DISCONNECT (twice, a while apart); lost ones expire (keepLostMs).
        await new Promise((res) => setTimeout(res, 600));
        for (let round = 0; round < 3; round++) {
          for (const s of sims) s.send(frame(0x18, []));
          await new Promise((res) => setTimeout(res, 500));
        }
        await until(() => gw.clients.size === 0, 8000, `every client gone (left: ${[...gw.clients.values()].map((c: any) => `${c.id} ${c.state}`).join(", ")})`);

        // Every accepted PUBLISH is at the subscriber (QoS 1 may come more than once).
        await new Promise((res) => setTimeout(res, 300));
        const missing = [...ledger.accepted.keys()].filter((t) => !counter!.got.has(t));
        expect(missing).toEqual([]);

        // No broker connection left behind: the gateway's QoS -1 one, the subscriber and the publisher only.
        expect([await counter.settle(3, 8000), connectedAt(broker)]).toEqual([3, ["fuzz-pub", "fuzz-sub", `xs-iot-gw-qos-1-${port}`]]);

        // The gateway still serves a well-behaved client: CONNECT, QoS 1 PUBLISH, SUBSCRIBE, a message back.
        const good = makeClient({ clientId: "fz-good", gateways: [{ address: "127.0.0.1", port }] });
        try {
          good.client.connect();
          await good.next("connected", 5000);
          good.client.subscribe("fz/good/in", 1);
          expect((await good.next("subscribed", 5000)).returnCode).toBe(0);
          good.client.publish("fz/good/out", "fz-good-1", 1);
          await good.next("published", 5000);
          await until(() => counter!.payloads.includes("fz-good-1"), 3000, "the good client's message at the broker");
          publisher.publish("fz/good/in", "back", { qos: 1 });
          const msg = await good.next("message", 5000);
          expect([msg.topic, Buffer.from(msg.payload).toString()]).toEqual(["fz/good/in", "back"]);
          good.client.disconnect();
          await until(() => gw.clients.size === 0, 5000, "the good client gone");
        } finally {
          good.close();
        }
        await gateway.close();
        await publisher.endAsync();
        expect([await counter.settle(1, 8000), connectedAt(broker)]).toEqual([1, ["fuzz-sub"]]);

        // Never thrown, bounded throughout, the log bounded per datagram.
        expect(thrown.map(String)).toEqual([]);
        expect(sims.flatMap((s) => s.malformed)).toEqual([]);
        expect(bounds.slice(0, 5)).toEqual([]);
        expect(log.filter((l) => JS_ERROR.test(l)).slice(0, 5)).toEqual([]);
        const datagrams = gateway.stats.received;
        expect(log.length).toBeLessThan(3 * (datagrams + published) + 200);
        expect(Math.max(...log.map((l) => l.length))).toBeLessThan(2 * BOUNDS.maxDatagram + 300);

        // eslint-disable-next-line no-console
        console.log(
          `seed 0x${seed.toString(16)}: ${datagrams} datagrams in (${gateway.stats.malformed} malformed, ${gateway.stats.dropped} dropped), ${published} from the broker, ` +
            `${ledger.accepted.size} accepted and all forwarded, ${gateway.stats.delivered} delivered to clients, ${log.length} log lines; fuzz ${fuzzMs} ms, all ${Date.now() - started} ms`,
        );
        // The fuzz reached what it means to reach (not all malformed, not all refused).
        const replies = (t: number) => sims.reduce((a, s) => a + (s.counts.get(t) ?? 0), 0);
        expect(ledger.accepted.size).toBeGreaterThan(10);
        expect(gateway.stats.malformed).toBeGreaterThan(100);
        expect(replies(0x05)).toBeGreaterThan(20); // CONNACK
        expect(replies(0x0a)).toBeGreaterThan(0); // REGISTER toward a client
        expect(log.some((l) => /asleep for/.test(l))).toBe(true);
        expect(log.some((l) => /awake \(PINGREQ\)/.test(l))).toBe(true);
      } finally {
        clearInterval(check);
        for (const s of sims) await s.close();
        if (process.env.FUZZ_LOG) fs.writeFileSync(process.env.FUZZ_LOG + seed.toString(16), log.join("\n"));
        await gateway?.close();
        await publisher?.endAsync();
        await counter?.c.endAsync();
        await broker.stop();
      }
    }, 45000);
  }
});

const CONNECT = (id: string, clean: boolean, will = false) => frame(0x04, [flags({ clean, will }), 1, ...u16(30), ...utf8(id)]);
const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeWithPeer("mosquitto", "MQTT-SN gateway: what the fuzz found, reproduced", () => {
  let broker: MosquittoPeer;
  let url: string;
  beforeEach(async () => {
    broker = await startMosquitto();
    url = `mqtt://127.0.0.1:${broker.port}`;
  });
  afterEach(async () => {
    await broker?.stop();
  });
  const start = async (more: Partial<MqttSnGatewayOptions> = {}) => {
    const g = new MqttSnGateway({ udp: { io: UDP as unknown as UdpConstructor, port: 0 }, broker: url, retryMs: 150, maxRetries: 2, tickMs: 20, ...more });
    return { g, port: await g.start() };
  };

  it("a will update (§6.4) followed at once by DISCONNECT (§6.12) leaves no broker connection behind", async () => {
    const { g, port } = await start();
    const a = new Raw(port);
    await a.bind();
    try {
      a.send(CONNECT("rep-upd", true));
      expect((await a.next(0x05)).returnCode).toBe(0);
      a.send(frame(0x1a, [flags({ qos: 1 }), ...utf8("rep/will")])); // WILLTOPICUPD
      a.send(frame(0x18, [])); // DISCONNECT before the new broker connection is made
      await a.next(0x18);
      await sleepMs(1500);
      expect(g.clients.size).toBe(0);
      expect(connectedAt(broker)).toEqual([`xs-iot-gw-qos-1-${port}`]);
    } finally {
      await a.close();
      await g.close();
    }
  });

  it("two will updates in a row (a retransmitted WILLTOPICUPD) leave one broker connection for the client", async () => {
    const { g, port } = await start();
    const a = new Raw(port);
    await a.bind();
    try {
      a.send(CONNECT("rep-upd2", true));
      expect((await a.next(0x05)).returnCode).toBe(0);
      const upd = frame(0x1a, [flags({ qos: 1 }), ...utf8("rep/will")]);
      a.send(upd);
      a.send(upd);
      await a.next(0x1b);
      await sleepMs(1500);
      expect(connectedAt(broker)).toEqual(["rep-upd2", `xs-iot-gw-qos-1-${port}`]);
      a.send(frame(0x18, []));
      await a.next(0x18);
      await sleepMs(1500);
      expect(connectedAt(broker)).toEqual([`xs-iot-gw-qos-1-${port}`]);
    } finally {
      await a.close();
      await g.close();
    }
  });

  it("an address taken over by another ClientId while its client is lost: the lost one coming back elsewhere does not unseat the new one", async () => {
    const { g, port } = await start({ keepLostMs: 60000 });
    const a = new Raw(port, "127.0.0.1");
    const b = new Raw(port, "127.0.0.2");
    await a.bind();
    await b.bind();
    const pub = mqtt.connect(url, { clientId: "rep-pub" });
    await new Promise((r) => pub.once("connect", r));
    try {
      // x at A, persistent, with a message open toward it (our REGISTER, never acknowledged).
      a.send(CONNECT("rep-x", false));
      expect((await a.next(0x05)).returnCode).toBe(0);
      a.send(frame(0x12, [flags({ qos: 1 }), ...u16(1), ...utf8("rep/#")]));
      expect((await a.next(0x13)).returnCode).toBe(0);
      await pub.publishAsync("rep/t", "m", { qos: 1 });
      await a.next(0x0a);
      // y CONNECTs from A: x is lost there (its session kept), y takes the address.
      a.send(CONNECT("rep-y", true));
      expect((await a.next(0x05)).returnCode).toBe(0);
      // x comes back from B.
      b.send(CONNECT("rep-x", false));
      expect((await b.next(0x05)).returnCode).toBe(0);
      // y is still served at A: PINGREQ -> PINGRESP, not DISCONNECT.
      a.got.length = 0;
      a.send(frame(0x16, []));
      await sleepMs(300);
      expect(a.got.map((m) => m.type)).toEqual([0x17]);
      expect([...g.clients.values()].map((c: any) => c.id).sort()).toEqual(["rep-x", "rep-y"]);
      a.send(frame(0x18, []));
      b.send(frame(0x18, []));
      await sleepMs(1500);
      expect(g.clients.size).toBe(0);
      expect(connectedAt(broker)).toEqual(["rep-pub", `xs-iot-gw-qos-1-${port}`]);
    } finally {
      await pub.endAsync();
      await a.close();
      await b.close();
      await g.close();
    }
  });

  it("a QoS 1 message open toward a client that goes to sleep (§6.14) is delivered when it wakes, before PINGRESP", async () => {
    const { g, port } = await start();
    const a = new Raw(port);
    await a.bind();
    const pub = mqtt.connect(url, { clientId: "rep-pub" });
    await new Promise((r) => pub.once("connect", r));
    try {
      a.send(CONNECT("rep-nap", false));
      expect((await a.next(0x05)).returnCode).toBe(0);
      a.send(frame(0x12, [flags({ qos: 1 }), ...u16(1), ...utf8("rep/nap")]));
      const suback = await a.next(0x13);
      expect(suback.returnCode).toBe(0);
      await pub.publishAsync("rep/nap", "owed", { qos: 1 });
      const p = await a.next(0x0c);
      expect([p.qos, Buffer.from(p.data).toString()]).toEqual([1, "owed"]);
      // No PUBACK: the client sleeps (its PUBACK lost, or it never got the PUBLISH).
      a.send(frame(0x18, u16(60)));
      await a.next(0x18);
      await sleepMs(600); // past Tretry x Nretry: nothing is sent to a sleeping client
      a.got.length = 0;
      a.send(frame(0x16, utf8("rep-nap"))); // awake
      const again = await a.next(0x0c);
      expect([again.msgId, Buffer.from(again.data).toString()]).toEqual([p.msgId, "owed"]);
      expect(a.got.some((m) => m.type === 0x17)).toBe(false);
      a.send(frame(0x0d, [...u16(again.topicId), ...u16(again.msgId), 0]));
      await a.next(0x17); // PINGRESP once it is acknowledged
    } finally {
      await pub.endAsync();
      await a.close();
      await g.close();
    }
  });

  it("the registry stays within maxTopics (§7.3: per client) when a wildcard subscription brings many topics: the gateway's REGISTERs count too, no id is reused", async () => {
    const log: string[] = [];
    const { g, port } = await start({ maxTopics: 4, log: (l) => log.push(l) });
    const a = new Raw(port);
    await a.bind();
    const pub = mqtt.connect(url, { clientId: "rep-pub" });
    await new Promise((r) => pub.once("connect", r));
    try {
      a.send(CONNECT("rep-many", true));
      expect((await a.next(0x05)).returnCode).toBe(0);
      a.send(frame(0x12, [flags({ qos: 0 }), ...u16(1), ...utf8("rep/#")]));
      expect((await a.next(0x13)).returnCode).toBe(0);
      for (let i = 0; i < 8; i++) {
        await pub.publishAsync("rep/" + i, "m" + i, { qos: 0 });
        const r = await a.next(0x0a, 300).catch(() => undefined); // the gateway's REGISTER, acknowledged
        if (r) a.send(frame(0x0b, [...u16(r.topicId), ...u16(r.msgId), 0]));
        await sleepMs(50);
      }
      const c: any = [...g.clients.values()][0];
      expect(c.ids.size).toBeLessThanOrEqual(4);
      expect(a.got.filter((m) => m.type === 0x0c).length).toBe(4); // the four it has room for
      expect(log.filter((l) => /registry full/.test(l)).length).toBe(4);
      // A SUBSCRIBE by a name that would need a fifth id: SUBACK congestion (§5.4.16 gives the id in the SUBACK).
      a.send(frame(0x12, [flags({ qos: 0 }), ...u16(2), ...utf8("other/name")]));
      expect((await a.next(0x13)).returnCode).toBe(1);
      expect(c.ids.size).toBe(4);
    } finally {
      await pub.endAsync();
      await a.close();
      await g.close();
    }
  });

  it("a broker connection replaced while an acknowledgement is held (buffer full): no exception out of MQTT.js, nothing stuck", async () => {
    const log: string[] = [];
    const { g, port } = await start({ maxBuffered: 1, retryMs: 5000, log: (l) => log.push(l) });
    const a = new Raw(port);
    await a.bind();
    const pub = mqtt.connect(url, { clientId: "rep-pub" });
    await new Promise((r) => pub.once("connect", r));
    try {
      a.send(CONNECT("rep-held", true));
      expect((await a.next(0x05)).returnCode).toBe(0);
      a.send(frame(0x12, [flags({ qos: 2 }), ...u16(1), ...utf8("rep/h")]));
      expect((await a.next(0x13)).returnCode).toBe(0);
      // Never acknowledged: one open, one buffered, one held, the rest wait at the broker.
      for (let i = 0; i < 5; i++) pub.publish("rep/h", "h" + i, { qos: 2 });
      await until(() => log.some((l) => /acknowledgement is held/.test(l)), 3000, "a held acknowledgement");
      a.send(frame(0x1a, [flags({ qos: 1 }), ...utf8("rep/will")])); // WILLTOPICUPD: a new broker connection
      expect((await a.next(0x1b)).returnCode).toBe(0);
      a.send(frame(0x18, [])); // DISCONNECT: the client is forgotten
      await a.next(0x18);
      await sleepMs(1000);
      expect(log.filter((l) => JS_ERROR.test(l))).toEqual([]);
      expect(g.clients.size).toBe(0);
      expect(connectedAt(broker)).toEqual(["rep-pub", `xs-iot-gw-qos-1-${port}`]);
    } finally {
      await pub.endAsync();
      await a.close();
      await g.close();
    }
  });
});
