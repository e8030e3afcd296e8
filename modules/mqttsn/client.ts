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
  declare readonly session: MqttSnSession;
  declare readonly socket: UdpSocket;
  declare readonly o: MqttSnClientOptions;
  declare job: Job | undefined;
  declare busy: boolean;
  declare closed: boolean;

  constructor(o: MqttSnClientOptions) {
    if (!o || !o.socket || typeof o.socket.io !== "function" || !o.scheduler) throw new TypeError("mqttsn: socket.io, scheduler");
    const s = (this.session = new MqttSnSession(o));
    const st = o.storage;
    const ns = o.namespace ?? "mqttsn";
    this.o = o;
    this.busy = this.closed = false;
    if (st) s.restore(st.keys(ns).map((k) => [k, st.get(ns, k)]));
    const so = o.socket;
    const self = this;
    // ECMA-419: the socket takes the options it knows (port, address, ...) and ignores the others (io).
    this.socket = new so.io({
      ...so,
      onReadable(this: UdpSocket) {
        for (let p: any; (p = this.read()); ) self.run((s, now) => s.receive(new Uint8Array(p), p.address, p.port, now));
      },
      onError(e?: Error) {
        self.emit({ type: "error", reason: "socket: " + e?.message });
      },
    } as never);
    this.flush();
  }

  get state(): number {
    return this.session.state;
  }

  connect(): void {
    this.session.connect(this.now());
    this.flush();
  }

  disconnect(): void {
    this.session.disconnect(this.now());
    this.flush();
  }

  /** Returns the MsgId of a QoS 1/2 message (0 for QoS −1/0); throws when refused (see MqttSnSession.publish). */
  publish(topic: string, payload: Uint8Array | string, qos: SnQoS = 0, retain = false): number {
    const id = this.session.publish(topic, payload, qos, retain, this.now());
    this.flush();
    return id;
  }

  subscribe(topic: string, qos: 0 | 1 | 2 = 0): void {
    this.session.subscribe(topic, qos, this.now());
    this.flush();
  }

  unsubscribe(topic: string): void {
    this.session.unsubscribe(topic, this.now());
    this.flush();
  }

  close(): void {
    this.closed = true;
    this.job?.cancel();
    this.socket.close();
  }

  /**
   * Calls `f` with the session and the time, then applies the session's output (also when `f`
   * throws: its exception is rethrown after). For the parts' requests, e.g.
   * `client.run((s, now) => sleep.wake(s, now))`. (The client's own requests need no such
   * care: a request the session refuses changes nothing.)
   */
  run<T>(f: (s: MqttSnSession, now: number) => T): T {
    try {
      return f(this.session, this.now());
    } finally {
      this.flush();
    }
  }

  /** @internal the scheduler job: the session's timers. */
  fire(now: number): void {
    if (!this.closed) this.run((s) => s.handleTimeout(now));
  }

  private now(): number {
    if (this.closed) throw new Error("mqttsn: closed");
    return this.o.scheduler.now();
  }

  /**
   * Applies the session's output: store operations before any datagram, then the events (one
   * at a time: an event handler's own requests are applied in turn); then the job is armed
   * for the session's next deadline.
   */
  private flush(): void {
    const s = this.session;
    const o = this.o;
    const ns = o.namespace ?? "mqttsn";
    if (this.busy) return;
    this.busy = true;
    for (let x: any; ; ) {
      let what = "store: ";
      try {
        if ((x = s.pollStore())) {
          const st = o.storage;
          if (st) x.value ? st.set(ns, x.key, x.value) : st.delete(ns, x.key);
        } else if ((x = s.pollTransmit())) {
          what = "send: ";
          const to = x.address === undefined ? o.broadcast : x;
          if (to && !this.closed) this.socket.write(x.data, to.address, to.port);
        } else if ((x = s.pollEvent())) this.emit(x);
        else break;
      } catch (e) {
        this.emit({ type: "error", reason: what + (e as Error).message });
      }
    }
    this.busy = false;
    const t = s.timeout();
    if (this.closed || !t) this.job?.cancel();
    else if (this.job) this.job.reschedule(t.deadline, t);
    else this.job = o.scheduler.schedule({ name: "mqttsn", ...t, radio: true, target: this, run: this.fire });
  }

  private emit(e: SnEvent | { type: "error"; reason: string }): void {
    try {
      this.o.onEvent?.(e);
    } catch (error) {
      if (e.type !== "error") this.emit({ type: "error", reason: "onEvent threw: " + (error as Error)?.message });
    }
  }
}
