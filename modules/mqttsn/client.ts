/*
 * MqttSnClient: the MqttSnSession bound to an ECMA-419 UDP socket (ECMA-419 §10 "UDP
 * socket"; the constructor is injected: `{socket: {io: UDP, port}}`), a KeyValueStore and
 * the scheduler. It owns one scheduler job, armed for the session's next deadline with its
 * window. After every call into the session it applies, in this order, the store
 * operations (so a QoS 1/2 message is in flash before it is on the air), the datagrams,
 * then the events. Broadcasts (SEARCHGW, a client's GWINFO; §6.1) go to `broadcast`
 * (a subnet broadcast or multicast address and port) when one is given.
 */
import type { UdpConstructor, UdpSocket } from "../platform/io";
import type { KeyValueStore } from "../platform/storage";
import type { Job, Scheduler } from "../scheduler/scheduler";
import type { SnQoS } from "./constants";
import { MqttSnSession, type MqttSnSessionOptions, type SnEvent, type SnWill } from "./session";

export interface MqttSnClientOptions extends MqttSnSessionOptions {
  socket: { io: UdpConstructor; port?: number; address?: string; [extra: string]: unknown };
  scheduler: Scheduler;
  /** Where the outbox, topic registry and sleep state live (survives deep sleep); none: RAM only. */
  storage?: KeyValueStore;
  /** KeyValueStore namespace (default "mqttsn"). */
  namespace?: string;
  /** Where broadcasts go (§6.1). */
  broadcast?: { address: string; port: number };
  /** Every session event; an exception thrown here is reported as an "error" event's reason, never escapes. */
  onEvent?(event: SnEvent | { type: "error"; reason: string }): void;
}

export class MqttSnClient {
  readonly session: MqttSnSession;
  readonly socket: UdpSocket;
  #o: MqttSnClientOptions;
  #job: Job | undefined = undefined;
  #busy = false;
  #closed = false;

  constructor(options: MqttSnClientOptions) {
    const o = options;
    if (!o || !o.socket || typeof o.socket.io !== "function" || !o.scheduler) throw new TypeError("mqttsn: options.socket.io (ECMA-419 UDP) and options.scheduler are required");
    this.#o = o;
    const session = (this.session = new MqttSnSession(o));
    const ns = o.namespace ?? "mqttsn";
    if (o.storage) session.restore(o.storage.keys(ns).map((k) => [k, o.storage!.get(ns, k)]));
    const { io: UDP, ...udp } = o.socket;
    const self = this;
    this.socket = new UDP({
      ...udp,
      onReadable(this: UdpSocket) {
        for (let p; (p = this.read()); ) self.#step(() => session.receive(new Uint8Array(p!), p!.address, p!.port, self.#now()));
      },
      onError(error?: Error) {
        self.#emit({ type: "error", reason: "socket: " + (error?.message ?? "error") });
      },
    } as never);
    this.#step(() => 0);
  }

  get state(): number {
    return this.session.state;
  }

  connect(): void {
    this.#step((now) => this.session.connect(now));
  }

  disconnect(): void {
    this.#step((now) => this.session.disconnect(now));
  }

  /** §6.14: asleep for `seconds`; the app sleeps the device (deep sleep keeps the state in the store). */
  sleep(seconds: number): void {
    this.#step((now) => this.session.sleep(seconds, now));
  }

  /** §6.14: awake until the gateway's PINGRESP (buffered messages come as "message" events). */
  wake(): void {
    this.#step((now) => this.session.wake(now));
  }

  search(): void {
    this.#step((now) => this.session.search(now));
  }

  /** Returns the MsgId of a QoS 1/2 message (0 for QoS −1/0); throws when refused (see MqttSnSession.publish). */
  publish(topic: string, payload: Uint8Array | string, qos: SnQoS = 0, retain = false): number {
    let id = 0;
    this.#step((now) => (id = this.session.publish(topic, payload, qos, retain, now)));
    return id;
  }

  subscribe(topic: string, qos: 0 | 1 | 2 = 0): void {
    this.#step((now) => this.session.subscribe(topic, qos, now));
  }

  unsubscribe(topic: string): void {
    this.#step((now) => this.session.unsubscribe(topic, now));
  }

  updateWill(will: SnWill | undefined): void {
    this.#step((now) => this.session.updateWill(will, now));
  }

  close(): void {
    this.#closed = true;
    this.#job?.cancel();
    this.socket.close();
  }

  #now(): number {
    return this.#o.scheduler.now();
  }

  /** Calls into the session, then applies its output; an exception of `f` is rethrown after the output. */
  #step(f: (now: number) => unknown): void {
    if (this.#closed) throw new Error("mqttsn: client closed");
    let error: unknown;
    try {
      f(this.#now());
    } catch (e) {
      error = e;
    }
    if (!this.#busy) {
      this.#busy = true;
      try {
        this.#flush();
      } finally {
        this.#busy = false;
      }
    }
    if (error !== undefined) throw error;
  }

  #flush(): void {
    const s = this.session;
    const o = this.#o;
    const ns = o.namespace ?? "mqttsn";
    for (;;) {
      let progress = false;
      for (let op; (op = s.pollStore()); progress = true) {
        if (!o.storage) continue;
        try {
          if (op.value === undefined) o.storage.delete(ns, op.key);
          else o.storage.set(ns, op.key, op.value);
        } catch (e) {
          this.#emit({ type: "error", reason: "store: " + (e as Error).message });
        }
      }
      for (let d; (d = s.pollTransmit()); progress = true) {
        const to = d.address === undefined ? o.broadcast : d;
        if (!to || this.#closed) continue;
        try {
          this.socket.write(d.data, to.address!, to.port);
        } catch (e) {
          this.#emit({ type: "error", reason: "send: " + (e as Error).message });
        }
      }
      for (let e; (e = s.pollEvent()); progress = true) this.#emit(e);
      if (!progress) break;
    }
    if (this.#closed) return;
    const t = s.timeout();
    if (!t) this.#job?.cancel();
    else if (this.#job) this.#job.reschedule(t.deadline, t);
    else this.#job = o.scheduler.schedule({ name: "mqttsn", deadline: t.deadline, earliest: t.earliest, latest: t.latest, radio: true, target: this, run: MqttSnClient.prototype.fire });
  }

  /** @internal the scheduler job: the session's timers. */
  fire(now: number): void {
    if (!this.#closed) this.#step(() => this.session.handleTimeout(now));
  }

  #emit(e: SnEvent | { type: "error"; reason: string }): void {
    try {
      this.#o.onEvent?.(e);
    } catch (error) {
      if (e.type !== "error") this.#emit({ type: "error", reason: "onEvent threw: " + (error as Error)?.message });
    }
  }
}
