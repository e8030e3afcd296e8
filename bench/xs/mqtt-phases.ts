/*
 * The phases of the MQTT client bench (bench/xs/mqtt-*), the same for every client under
 * test. Portable: run on xst by bench/xs/mqtt-xst.ts, on Node by the jest test.
 *
 * One broker (bench/xs/mqtt-broker.ts) and one event loop (bench/xs/mqtt-loop.ts) serve every
 * client; each client has its own connection, opened, connected and subscribed to the bench
 * topic before anything is timed. One *turn* of a phase is a fixed number of messages, after
 * which the loop is idle again (every byte written was processed, every answer read):
 *
 * | phase | one turn |
 * |---|---|
 * | publish QoS 0 | the app publishes 20 messages, then the loop runs |
 * | publish QoS 1, 20 in flight | 100 messages: 20 published, then one more on each PUBACK |
 * | publish QoS 1, 1 in flight | 20 messages, each published on the previous one's PUBACK |
 * | receive QoS 0 | the broker sends 20 PUBLISHes in one chunk (one onReadable) |
 * | receive QoS 1 | the same at QoS 1; the client acknowledges each (PUBACK) |
 *
 * Topic `tele/esp32-a1b2c3/SENSOR`, 40-byte payload. A turn checks what it counted (the
 * broker's count of PUBLISHes and PUBACKs, the client's count of deliveries and messages, no
 * broker problem, no client error) and throws if anything is missing: a client or a broker
 * that drops a message fails the bench instead of looking fast.
 */
import type { BenchClient, BenchEvents, ClientEnv } from "./mqtt-bench-api";
import { MemoryBroker } from "./mqtt-broker";
import type { MemorySocket } from "./mqtt-broker";
import { EventLoop } from "./mqtt-loop";
import type { Clock } from "../../modules/platform/clock";
import type { KeyValueStore } from "../../modules/platform/storage";

export const TOPIC = "tele/esp32-a1b2c3/SENSOR";
export const PAYLOAD_BYTES = 40;
/** Messages per delivery in the receive phases, and per turn of the QoS 0 publish phase. */
export const PER_DELIVERY = 20;
export const KEEP_ALIVE = 60;

export type PhaseName = "publish QoS 0" | "publish QoS 1, 20 in flight" | "publish QoS 1, 1 in flight" | "receive QoS 0" | "receive QoS 1";

export interface Phase {
  name: PhaseName;
  /** Messages one turn moves. */
  perTurn: number;
  turn(bench: MqttBench, side: Side): void;
}

export const PHASES: Phase[] = [
  { name: "publish QoS 0", perTurn: PER_DELIVERY, turn: (b, s) => b.publishQos0(s, PER_DELIVERY) },
  { name: "publish QoS 1, 20 in flight", perTurn: 100, turn: (b, s) => b.publishQos1(s, 100, 20) },
  { name: "publish QoS 1, 1 in flight", perTurn: 20, turn: (b, s) => b.publishQos1(s, 20, 1) },
  { name: "receive QoS 0", perTurn: PER_DELIVERY, turn: (b, s) => b.receive(s, PER_DELIVERY, 0) },
  { name: "receive QoS 1", perTurn: PER_DELIVERY, turn: (b, s) => b.receive(s, PER_DELIVERY, 1) },
];

export type ClientFactory = (env: ClientEnv, events: BenchEvents) => BenchClient;

function sameBytes(a: ArrayBuffer | Uint8Array, b: Uint8Array): boolean {
  const x = a instanceof Uint8Array ? a : new Uint8Array(a);
  if (x.length !== b.length) return false;
  for (let i = 0; i < b.length; i++) if (x[i] !== b[i]) return false;
  return true;
}

/** One client under test, with what the bench counted of it. */
export class Side implements BenchEvents {
  readonly name: string;
  readonly bench: MqttBench;
  client!: BenchClient;
  socket!: MemorySocket;
  connects = 0;
  subscribes = 0;
  /** QoS 1 publishes acknowledged, as the client reported them. */
  acked = 0;
  /** Messages the app published (in the publish phases). */
  published = 0;
  /** Incoming messages the client gave the app. */
  received = 0;
  /** Incoming messages whose payload was not the bench's. */
  wrongMessages = 0;
  errors: unknown[] = [];
  /** Publish driver: messages still to publish in this turn, and in flight now. */
  toPublish = 0;
  inFlight = 0;

  constructor(bench: MqttBench, name: string) {
    this.bench = bench;
    this.name = name;
  }

  connected(): void {
    this.connects++;
  }
  subscribed(): void {
    this.subscribes++;
  }
  delivered(): void {
    this.acked++;
    this.inFlight--;
    if (this.toPublish > 0) {
      this.toPublish--;
      this.inFlight++;
      this.client.publish(this.bench.payload, 1);
    }
  }
  message(byteLength: number, bytes: ArrayBuffer | Uint8Array | undefined): void {
    this.received++;
    if (byteLength !== PAYLOAD_BYTES) this.wrongMessages++;
    else if (this.bench.broker.verify && (!bytes || !sameBytes(bytes, this.bench.payload))) this.wrongMessages++;
  }
  error(error: unknown): void {
    this.errors.push(error);
  }

  /** Throws unless nothing went wrong on this side so far. */
  assertClean(what: string): void {
    const s = this.socket;
    if (this.errors.length) throw new Error(`${this.name}, ${what}: client error: ${describe(this.errors[0])}`);
    if (s && s.problems) throw new Error(`${this.name}, ${what}: broker saw ${s.problems} problem(s), first: ${s.firstProblem}`);
    if (this.wrongMessages) throw new Error(`${this.name}, ${what}: ${this.wrongMessages} message(s) with a wrong payload`);
  }
}

function describe(e: unknown): string {
  if (e && typeof e === "object" && "message" in e) {
    const code = (e as { code?: unknown }).code;
    return (code ? code + ": " : "") + String((e as Error).message);
  }
  return String(e);
}

export interface MqttBenchOptions {
  /** Flash for our outbox (default none: RAM only). */
  storage?: KeyValueStore;
  /** The platform clock (default: the loop's virtual clock). */
  clock?: Clock;
}

/** The broker, the loop and the clients under test. */
export class MqttBench {
  readonly loop = new EventLoop();
  readonly broker: MemoryBroker;
  readonly payload: Uint8Array;
  readonly sides: Side[] = [];
  readonly storage: KeyValueStore | undefined;
  readonly clock: Clock;

  constructor(options: MqttBenchOptions = {}) {
    const payload = new Uint8Array(PAYLOAD_BYTES);
    for (let i = 0; i < PAYLOAD_BYTES; i++) payload[i] = 0x41 + (i % 26); // "ABC...": 40 bytes, as a short JSON reading
    this.payload = payload;
    this.broker = new MemoryBroker(this.loop, TOPIC, payload);
    this.storage = options.storage;
    this.clock = options.clock ?? this.loop.clock();
  }

  /** The environment a client is created in. */
  env(clientId: string): ClientEnv {
    return { loop: this.loop, TCP: this.broker.TCP, clock: this.clock, storage: this.storage, clientId, keepAlive: KEEP_ALIVE, topic: TOPIC };
  }

  /** Creates a client, connects it and subscribes it to the bench topic at QoS 1 (see connect()); a side of the bench. */
  add(name: string, create: ClientFactory): Side {
    const side = new Side(this, name);
    side.client = create(this.env("bench-" + this.sides.length), side);
    this.connect(side);
    this.sides.push(side);
    return side;
  }

  /** Creates `side`'s client (side.client.connect()), lets it connect and subscribes it to the bench topic at QoS 1; throws if it does not get there. */
  connect(side: Side): void {
    const name = side.name;
    const before = this.broker.opened;
    side.client.connect();
    this.loop.run();
    const opened = this.broker.opened - before;
    if (opened !== 1 || !this.broker.last) throw new Error(`${name}: opened ${opened} connections, expected 1`);
    side.socket = this.broker.last;
    if (side.connects !== 1 || side.socket.connects !== 1) throw new Error(`${name}: not connected (CONNACK seen ${side.connects} times)`);
    side.client.subscribe(TOPIC, 1);
    this.loop.run();
    if (side.subscribes !== 1 || side.socket.subscribes !== 1) throw new Error(`${name}: not subscribed`);
    side.assertClean("connecting");
  }

  // ---- one turn of each phase; each checks its own counts --------------------------------

  publishQos0(side: Side, n: number): void {
    const s = side.socket;
    const before = s.published0;
    const payload = this.payload;
    const client = side.client;
    for (let i = 0; i < n; i++) client.publish(payload, 0);
    side.published += n;
    this.loop.run();
    if (s.published0 - before !== n || s.unread) this.fail(side, "publish QoS 0", `broker received ${s.published0 - before} of ${n}`);
  }

  publishQos1(side: Side, total: number, window: number): void {
    const s = side.socket;
    const published = s.published1;
    const acked = side.acked;
    const first = Math.min(window, total);
    side.toPublish = total - first;
    side.inFlight = first;
    for (let i = 0; i < first; i++) side.client.publish(this.payload, 1);
    this.loop.run();
    side.published += total - side.toPublish;
    if (side.acked - acked !== total || s.published1 - published !== total || side.inFlight !== 0 || side.toPublish !== 0) {
      this.fail(side, `publish QoS 1 (${window} in flight)`, `broker received ${s.published1 - published} of ${total}, client reported ${side.acked - acked} acknowledged`);
    }
  }

  receive(side: Side, n: number, qos: 0 | 1): void {
    const s = side.socket;
    const received = side.received;
    const pubacks = s.pubacks;
    s.deliver(n, qos);
    this.loop.run();
    if (side.received - received !== n || (qos && (s.pubacks - pubacks !== n || s.acksOwed !== 0)) || s.unread) {
      this.fail(side, `receive QoS ${qos}`, `client gave the app ${side.received - received} of ${n}` + (qos ? `, broker got ${s.pubacks - pubacks} PUBACKs` : "") + (s.unread ? `, ${s.unread} B left unread` : ""));
    }
  }

  private fail(side: Side, what: string, detail: string): never {
    side.assertClean(what);
    throw new Error(`${side.name}, ${what}: ${detail}`);
  }
}

/** What one side did in a verification run: the counts the jest test checks. */
export interface VerifyCounts {
  side: string;
  phase: PhaseName;
  turns: number;
  /** Messages the phase should move in `turns` turns. */
  expected: number;
  /**
   * The broker's count: PUBLISHes received (publish phases), PUBLISHes sent (receive QoS 0),
   * PUBACKs received (receive QoS 1).
   */
  broker: number;
  /** The app's count: published (QoS 0), acknowledged (QoS 1), received (receive phases). */
  client: number;
  problems: number;
  errors: string[];
}

function counts(phase: PhaseName, side: Side): [number, number] {
  const s = side.socket;
  switch (phase) {
    case "publish QoS 0":
      return [s.published0, side.published];
    case "publish QoS 1, 20 in flight":
    case "publish QoS 1, 1 in flight":
      return [s.published1, side.acked];
    case "receive QoS 0":
      return [s.sent, side.received];
    case "receive QoS 1":
      return [s.pubacks, side.received];
  }
}

/**
 * Runs `turns` turns of every phase on every side with every byte verified, catching
 * failures, and returns what was counted (the jest test checks it against the expected).
 */
export function verifyRun(bench: MqttBench, turns: number): VerifyCounts[] {
  bench.broker.verify = true;
  const out: VerifyCounts[] = [];
  for (const phase of PHASES) {
    for (const side of bench.sides) {
      const [b0, c0] = counts(phase.name, side);
      const errors: string[] = [];
      for (let t = 0; t < turns; t++) {
        try {
          phase.turn(bench, side);
        } catch (e) {
          errors.push(describe(e));
          break;
        }
      }
      const [b1, c1] = counts(phase.name, side);
      out.push({
        side: side.name,
        phase: phase.name,
        turns,
        expected: turns * phase.perTurn,
        broker: b1 - b0,
        client: c1 - c0,
        problems: side.socket.problems,
        errors: errors.concat(side.errors.map(describe)),
      });
    }
  }
  return out;
}
