/*
 * MqttSnClient: the MqttSnSession bound to an ECMA-419 UDP socket (ECMA-419 §10 "UDP
 * socket"; the constructor is injected: `{socket: {io: UDP, port}}`), a KeyValueStore and
 * the scheduler. It owns one scheduler job, armed for the session's next deadline with its
 * window. After every call into the session it applies, in this order, the store
 * operations (so a QoS 1/2 message is in flash before it is on the air), the datagrams,
 * then the events. Broadcasts (SEARCHGW, a client's GWINFO; §6.1) go to `broadcast`
 * (a subnet broadcast or multicast address and port) when one is given.
 *
 * The session's parts (./session.ts) are options like any other; their requests go through
 * `run`: `client.run((s, now) => sleep.sleep(s, 300, now))`.
 */
import type { UdpConstructor, UdpSocket } from "../platform/io";
import type { KeyValueStore } from "../platform/storage";
import type { Job, Scheduler } from "../scheduler/scheduler";
import type { SnQoS } from "./constants";
import { MqttSnSession, type MqttSnSessionOptions, type SnEvent } from "./session";

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
  readonly o: MqttSnClientOptions;
  job: Job | undefined = undefined;
  busy = false;
  closed = false;

  constructor(options: MqttSnClientOptions) {
    const o = options;
    if (!o || !o.socket || typeof o.socket.io !== "function" || !o.scheduler) throw new TypeError("mqttsn: socket.io, scheduler");
    this.o = o;
    const s = (this.session = new MqttSnSession(o));
    const ns = o.namespace ?? "mqttsn";
    const st = o.storage;
    if (st) s.restore(st.keys(ns).map((k) => [k, st.get(ns, k)]));
    const { io: UDP, ...udp } = o.socket;
    const self = this;
    this.socket = new UDP({
      ...udp,
      onReadable(this: UdpSocket) {
        for (let p; (p = this.read()); ) self.datagram(p);
      },
      onError(error?: Error) {
        self.emit({ type: "error", reason: "socket: " + error?.message });
      },
    } as never);
    this.run(() => 0);
  }

  get state(): number {
    return this.session.state;
  }

  connect(): void {
    this.run((s, now) => s.connect(now));
  }

  disconnect(): void {
    this.run((s, now) => s.disconnect(now));
  }

  /** Returns the MsgId of a QoS 1/2 message (0 for QoS −1/0); throws when refused (see MqttSnSession.publish). */
  publish(topic: string, payload: Uint8Array | string, qos: SnQoS = 0, retain = false): number {
    return this.run((s, now) => s.publish(topic, payload, qos, retain, now));
  }

  subscribe(topic: string, qos: 0 | 1 | 2 = 0): void {
    this.run((s, now) => s.subscribe(topic, qos, now));
  }

  unsubscribe(topic: string): void {
    this.run((s, now) => s.unsubscribe(topic, now));
  }

  close(): void {
    this.closed = true;
    this.job?.cancel();
    this.socket.close();
  }

  /**
   * Calls `f` with the session and the time, then applies the session's output (also when `f`
   * throws: its exception is rethrown after). For the parts' requests, e.g.
   * `client.run((s, now) => sleep.wake(s, now))`.
   */
  run<T>(f: (s: MqttSnSession, now: number) => T): T {
    if (this.closed) throw new Error("mqttsn: closed");
    try {
      return f(this.session, this.o.scheduler.now());
    } finally {
      if (!this.busy) {
        this.busy = true;
        try {
          this.flush();
        } finally {
          this.busy = false;
        }
      }
    }
  }

  /** @internal a datagram from the socket. */
  datagram(p: ArrayBuffer & { address: string; port: number }): void {
    this.run((s, now) => s.receive(new Uint8Array(p), p.address, p.port, now));
  }

  /** @internal the scheduler job: the session's timers. */
  fire(now: number): void {
    if (!this.closed) this.run((s) => s.handleTimeout(now));
  }

  private flush(): void {
    const s = this.session;
    const o = this.o;
    const st = o.storage;
    const ns = o.namespace ?? "mqttsn";
    for (let more = true; more; ) {
      more = false;
      for (let op; (op = s.pollStore()); more = true) {
        try {
          if (!st) continue;
          if (op.value === undefined) st.delete(ns, op.key);
          else st.set(ns, op.key, op.value);
        } catch (e) {
          this.emit({ type: "error", reason: "store: " + (e as Error).message });
        }
      }
      for (let d; (d = s.pollTransmit()); more = true) {
        const to = d.address === undefined ? o.broadcast : d;
        try {
          if (to && !this.closed) this.socket.write(d.data, to.address!, to.port);
        } catch (e) {
          this.emit({ type: "error", reason: "send: " + (e as Error).message });
        }
      }
      for (let e; (e = s.pollEvent()); more = true) this.emit(e);
    }
    if (this.closed) return;
    const t = s.timeout();
    if (!t) this.job?.cancel();
    else if (this.job) this.job.reschedule(t.deadline, t);
    else this.job = o.scheduler.schedule({ name: "mqttsn", deadline: t.deadline, earliest: t.earliest, latest: t.latest, radio: true, target: this, run: MqttSnClient.prototype.fire });
  }

  private emit(e: SnEvent | { type: "error"; reason: string }): void {
    try {
      this.o.onEvent?.(e);
    } catch (error) {
      if (e.type !== "error") this.emit({ type: "error", reason: "onEvent threw: " + (error as Error)?.message });
    }
  }
}
