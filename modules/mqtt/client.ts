/*
 * MqttClient: the binding of the sans-IO MqttSession (./session.ts) to an ECMA-419 TCP or
 * TLS socket, the scheduler and the flash. It alone owns the socket and one scheduler job,
 * and it reconnects.
 *
 *   const client = new MqttClient({
 *     socket: { io: TLS, host: "broker.example", port: 8883, tls: { ca } },
 *     scheduler, storage: platform.storage,
 *     clientId: "esp32-a1b2c3", keepAlive: 60,
 *     v5: new Mqtt5({ sessionExpiryInterval: 3600 }),   // omit for MQTT 3.1.1
 *     onConnect(info) { this.subscribe("cmd/esp32-a1b2c3/#", { qos: 1 }); },
 *     onMessage(msg) { ... },
 *   });
 *   client.publish("tele/esp32-a1b2c3/SENSOR", json, { qos: 1 }, (err) => { ... });
 *
 * A PUBLISH from the app to the socket:
 *   client.publish(topic, payload, {qos: 1}, cb)
 *     -> session.publish(): topic prepared once (checked, UTF-8 encoded), the PUBLISH encoded
 *        once (encode.ts), committed to the outbox's store (outbox.ts, outbox-store.ts),
 *        sent from the outbox's cursor while the quota allows: pushed on session.tx
 *     -> client.flush(): each session.tx buffer to socket.write() (or the back-pressure
 *        queue); each session.events entry to the app's callbacks; the job kept on the
 *        session's deadline window (session.earliest .. session.latest)
 *   and back: socket onReadable -> session.receive(bytes, now) -> PUBACK -> outbox entry
 *   removed -> Delivered event -> flush() -> cb(undefined, result), onDelivered.
 *
 * - Injected IO in the ECMA-419 spirit: `socket.io` is the TCP or TLS constructor. TLS
 *   certificate verification is whatever the TLS class does by default: on.
 * - ECMA-419 write back-pressure: write() throws when the output buffer is full; the client
 *   keeps the bytes (the session's arrays are its own, nothing is copied) and writes them, in
 *   pieces no larger than the space onWritable reports, as room frees. A QoS 0 publish while
 *   more than `maxQueuedBytes` wait is refused with "busy".
 * - One scheduler job (liveness: it only makes and keeps the connection): the session's
 *   deadline with its window while a socket is open (CONNACK timeout, PINGREQ anywhere from
 *   half to all of the keep alive, PINGRESP timeout), the reconnection back-off while there is
 *   none. It is moved only when the session needs it sooner; a run before the session's
 *   window opens does nothing but place the job again.
 * - Reconnection: exponential back-off with full jitter (./backoff.ts); after
 *   `reconnect.giveUpAfterMs` without a lasting connection, onGiveUp. A refusal that retrying
 *   cannot fix gives up at once.
 * - Subscriptions are remembered; when the broker has no session for us (Session Present 0)
 *   they are all sent again, otherwise only those never acknowledged.
 * - Callbacks are called with `this` = the client; an exception in one is reported through
 *   onError and goes no further.
 */
import type { TcpConstructor, TcpSocket, TlsConstructor, TlsSettings } from "../platform/io";
import type { KeyValueStore } from "../platform/storage";
import type { Job, Scheduler } from "../scheduler/scheduler";
import { Backoff } from "./backoff";
import { MqttOutbox } from "./outbox";
import { KvOutboxStore } from "./outbox-store";
import type { QoS, Subscription } from "./packets";
import type { MqttProperties } from "./properties";
import { MqttEvent, MqttSession, SessionState, why } from "./session";
import type { AuthExchange, ConnectInfo, DeliveryResult, DisconnectInfo, MqttMessage, MqttSessionOptions, PublishOptions } from "./session";
import { MqttError } from "./session-error";
import type { MqttErrorCode } from "./session-error";
import { checkTopicFilter, parseSharedSubscription, topicMatches } from "./topic";
import type { PreparedTopic } from "./topic";

export type { MqttMessage, ConnectInfo, DeliveryResult, DisconnectInfo, PublishOptions, AuthExchange } from "./session";
export { MqttError } from "./session-error";

export interface MqttSocketOptions {
  /** The ECMA-419 TCP or TLS socket constructor. */
  io: TcpConstructor | TlsConstructor;
  /** Host name (resolved by the socket) ... */
  host?: string;
  /** ... or IP address of the broker. */
  address?: string;
  /** Default 1883, or 8883 with `tls`. */
  port?: number;
  /** TLS settings (ECMA-419 TLS Client socket); `tls.host` defaults to `host`. */
  tls?: Partial<TlsSettings>;
  /** Further options passed to the socket constructor as they are. */
  [extra: string]: unknown;
}

export interface MqttReconnectOptions {
  initialDelayMs?: number;
  maxDelayMs?: number;
  factor?: number;
  /** Stop trying after this long without a lasting connection (default: never); then onGiveUp. */
  giveUpAfterMs?: number;
  /** How long a connection must last before the next failure starts from initialDelayMs again (default 30000; 0: at once). */
  stableAfterMs?: number;
}

export type PublishCallback = (this: MqttClient, error: MqttError | undefined, result: DeliveryResult) => void;
export type SubscribeCallback = (this: MqttClient, error: MqttError | undefined, reasonCodes: number[]) => void;

/** The session's options (MqttSessionOptions, read by the session where used) and the client's own. */
export interface MqttClientOptions extends MqttSessionOptions {
  socket: MqttSocketOptions;
  scheduler: Scheduler;
  /** Where the outbox lives (the platform KeyValueStore); without it, RAM only. */
  storage?: KeyValueStore;
  outbox?: { namespace?: string; maxMessages?: number; maxBytes?: number };
  /** Random source in [0, 1) for the back-off jitter (default Math.random), called with `this` = the client. */
  random?: (this: MqttClient) => number;
  /** false: no reconnection. */
  reconnect?: false | MqttReconnectOptions;
  /** Bound of the client's output queue under socket back-pressure (default 16384 bytes). */
  maxQueuedBytes?: number;
  /** Connect from the constructor (default true); else call connect(). */
  autoConnect?: boolean;
  onConnect?(this: MqttClient, info: ConnectInfo): void;
  onMessage?(this: MqttClient, message: MqttMessage): void;
  /** An outbound QoS 1/2 message is done: acknowledged (no error) or given up (error says why). */
  onDelivered?(this: MqttClient, result: DeliveryResult, error: MqttError | undefined): void;
  onError?(this: MqttClient, error: MqttError): void;
  /** The server sent DISCONNECT (5.0). */
  onDisconnect?(this: MqttClient, info: DisconnectInfo): void;
  /** The network connection is over (after onError / onDisconnect when there was one). */
  onClose?(this: MqttClient, error: MqttError | undefined): void;
  /** Reconnection stopped for good (deadline passed or a permanent refusal). */
  onGiveUp?(this: MqttClient, error: MqttError | undefined): void;
  /** Enhanced authentication (5.0 §4.12): the server's AUTH; return the next Authentication Data, or undefined to abandon. */
  onAuth?(this: MqttClient, exchange: AuthExchange): Uint8Array | undefined;
}

export interface ClientSubscribeOptions {
  qos?: QoS;
  noLocal?: boolean;
  retainAsPublished?: boolean;
  retainHandling?: 0 | 1 | 2;
  subscriptionIdentifier?: number;
  userProperties?: [string, string][];
}

/**
 * Where subscribe() delivers a filter's messages: a function (called with `this` = the client),
 * or an object whose `onMessage(message)` method is called (an owner that is itself the
 * handler keeps no closure per subscription).
 */
export type MessageHandler = ((this: MqttClient, message: MqttMessage) => void) | { onMessage(message: MqttMessage): void };

/**
 * A remembered subscription: itself the Subscription sent (topicFilter, qos and only the
 * options given), plus what the client needs.
 */
interface SubscriptionRecord extends Subscription {
  options: ClientSubscribeOptions;
  /** Messages matching this filter also go here. */
  onMessage: MessageHandler | undefined;
  acknowledged: boolean;
  /** For matching: the filter without a $share/<group>/ prefix. */
  match: string;
  /** The app's callback of a subscription made while disconnected, until it is sent. */
  callback: SubscribeCallback | undefined;
}

/** What the client hands the session as a SUBSCRIBE's token: the record and the app's callback. */
type SubscribeToken = [SubscriptionRecord, SubscribeCallback | undefined];

/**
 * The client of the socket's connection when it is still the current one. The socket's
 * `target` (ECMA-419 base class pattern) is the client itself: the module's three socket
 * callbacks find it there, and ignore a socket the client has moved on from.
 */
function current(socket: TcpSocket): MqttClient | undefined {
  const c = socket.target as MqttClient | undefined;
  return c && c.socket === socket ? c : undefined;
}

function onSocketReadable(this: TcpSocket): void {
  current(this)?.readable();
}

function onSocketWritable(this: TcpSocket, bytes: number): void {
  current(this)?.writableEvent(bytes);
}

function onSocketError(this: TcpSocket, error?: Error): void {
  current(this)?.socketError(error);
}

/** The client's scheduler job (`this` = the client, JobOptions.target). */
function onJob(this: MqttClient, now: number): void {
  this.timeout(now);
}

/** CONNACK refusals that the same CONNECT will meet again: reconnecting would only drain the battery. */
const PERMANENT_5 = [0x84, 0x85, 0x86, 0x87, 0x8a, 0x8c];
const PERMANENT_311 = [1, 2, 4, 5];

/** An MqttError of the client: the message is "MqttClient: " + `text`. */
function err(code: MqttErrorCode, text: string, cause?: unknown): MqttError {
  return new MqttError(code, "MqttClient: " + text, undefined, undefined, cause);
}

export class MqttClient {
  // Every field is assigned in the constructor (`declare`: class field initializers cost XS bytecode).
  /** The app's options (socket, callbacks and the session's options), read where used. */
  declare readonly options: MqttClientOptions;
  declare readonly session: MqttSession;
  /** @internal The current socket, if any. */
  declare socket: TcpSocket | undefined;
  /** The one scheduler job (made with the first deadline). */
  private declare job: Job | undefined;
  /** The back-off of the current series of failures: made with its first, kept through connections shorter than stableAfterMs. */
  private declare backoff: Backoff | undefined;
  /** Bytes the socket did not take yet: made with the first, dropped when it empties. */
  private declare queue: Uint8Array[] | undefined;
  private declare queuedBytes: number;
  private declare writable: number;
  /** The job waits to reconnect (not on the session's deadline). */
  private declare waiting: boolean;
  private declare ended: boolean;
  private declare gaveUp: boolean;
  private declare connecting: boolean;
  /** flush() is running (an app callback called back into the client). */
  private declare flushing: boolean;
  private declare lastError: MqttError | undefined;
  /** Subscriptions remembered for resubscription, in the order made. */
  private declare subscriptions: SubscriptionRecord[];

  constructor(options: MqttClientOptions) {
    const o = options;
    if (!o || !o.socket || typeof o.socket.io !== "function") throw err("invalid", "socket.io required");
    if (!o.scheduler) throw err("invalid", "scheduler required");
    if (!o.socket.host && !o.socket.address) throw err("invalid", "socket.host or address required");
    if (o.reconnect) new Backoff(o.reconnect, Math.random); // checks the options now (RangeError)
    this.options = o;
    this.queuedBytes = this.writable = 0;
    this.ended = this.gaveUp = this.connecting = this.waiting = this.flushing = false;
    this.socket = this.queue = this.job = this.lastError = this.backoff = undefined;
    this.subscriptions = [];
    const ob = o.outbox;
    const outbox = new MqttOutbox({
      store: o.storage ? new KvOutboxStore(o.storage, ob?.namespace) : undefined,
      maxMessages: ob?.maxMessages,
      maxBytes: ob?.maxBytes,
      version: o.v5 ? 5 : 4,
      now: o.scheduler.now(),
    });
    this.session = new MqttSession(o, outbox, o.scheduler.clock);
    for (let j = 0; j < outbox.loadErrors.length; j++) this.error(err("storage", "outbox record dropped: " + outbox.loadErrors[j]));
    if (o.autoConnect !== false) this.connect();
  }

  /** Throws "ended" once end() was called. */
  private live(): void {
    if (this.ended) throw err("ended", "ended");
  }

  /** True while the session is connected (CONNACK received). */
  get isConnected(): boolean {
    return this.session.connected;
  }

  /** The persistent outbox (count, bytes, entries). */
  get outbox(): MqttOutbox {
    return this.session.outbox;
  }

  /** Opens a connection now (also cancels a pending reconnection wait). */
  connect(): void {
    this.live();
    if (this.socket) return;
    if (this.gaveUp) this.backoff = undefined; // the app starts a new series
    this.gaveUp = this.waiting = false;
    this.open();
  }

  /**
   * Publishes; see MqttSession.publish. QoS 1/2 messages are accepted into the outbox even
   * while disconnected; QoS 0 needs a connection and room in the output queue. `topic` may be
   * a PreparedTopic (prepareTopic in ./topic.ts). `callback` runs when a QoS 1/2 message is done.
   */
  publish(topic: string | PreparedTopic, payload: Uint8Array | string, options?: PublishOptions, callback?: PublishCallback): number {
    this.live();
    if ((options?.qos ?? 0) === 0 && this.queuedBytes > (this.options.maxQueuedBytes ?? 16384)) {
      throw err("busy", this.queuedBytes + " B queued");
    }
    const id = this.session.publish(topic, payload, options, callback, this.options.scheduler.now());
    this.flush();
    return id;
  }

  /** Request / response (5.0 §4.10): answers `request` on its Response Topic with its Correlation Data. */
  respond(request: MqttMessage, payload: Uint8Array | string, options?: PublishOptions, callback?: PublishCallback): number {
    const rp = request.properties;
    if (!rp || rp.responseTopic === undefined || !this.session.v5) throw new MqttError("invalid", "respond: no Response Topic", undefined, "§4.10");
    const properties: MqttProperties = { ...(options?.properties ?? {}) };
    if (rp.correlationData !== undefined) properties.correlationData = rp.correlationData;
    return this.publish(rp.responseTopic, payload, { qos: options?.qos, retain: options?.retain, properties }, callback);
  }

  /**
   * Subscribes to one filter (kept across reconnections). `onMessage`, if given, also
   * receives the messages matching this filter; `callback` gets the reason code.
   */
  subscribe(topicFilter: string, options?: ClientSubscribeOptions, onMessage?: MessageHandler, callback?: SubscribeCallback): void {
    this.live();
    if (onMessage !== undefined && typeof onMessage !== "function" && typeof onMessage?.onMessage !== "function")
      throw new TypeError("subscribe: onMessage must be a function or an object with an onMessage method");
    const o = options ?? {};
    const bad = checkTopicFilter(topicFilter, this.session.version);
    if (bad !== undefined) throw new MqttError("invalid", "subscribe: " + bad.message, 0x8f, bad.statement);
    const shared = parseSharedSubscription(topicFilter);
    const r: SubscriptionRecord = { topicFilter, qos: o.qos ?? 0, options: o, onMessage, acknowledged: false, match: shared ? shared.topicFilter : topicFilter, callback: undefined };
    if (o.noLocal !== undefined) r.noLocal = o.noLocal;
    if (o.retainAsPublished !== undefined) r.retainAsPublished = o.retainAsPublished;
    if (o.retainHandling !== undefined) r.retainHandling = o.retainHandling;
    // Kept for resubscription (a record of the same filter is replaced in its place).
    const list = this.subscriptions;
    let i = 0;
    while (i < list.length && list[i].topicFilter !== topicFilter) i++;
    list[i] = r;
    if (this.session.connected) this.sendSubscribe(r, callback);
    else r.callback = callback; // checked now, sent on connection
  }

  /** Unsubscribes (and forgets the filters, so they are not sent again on reconnection). */
  unsubscribe(topicFilters: string | string[], callback?: SubscribeCallback): void {
    const list = typeof topicFilters === "string" ? [topicFilters] : topicFilters;
    this.subscriptions = this.subscriptions.filter((r) => list.indexOf(r.topicFilter) < 0);
    if (this.session.connected) {
      this.session.unsubscribe(list, undefined, callback, this.options.scheduler.now());
      this.flush();
    } else this.call(callback, undefined, []);
  }

  /**
   * Ends the client: DISCONNECT (reasonCode, 0x04 to have the Will published) when
   * connected, socket closed, no more reconnection. The outbox stays in the store.
   */
  end(reasonCode = 0): void {
    if (this.ended) return;
    this.ended = true;
    this.job?.cancel();
    this.session.disconnect(reasonCode, undefined, this.options.scheduler.now());
    this.flush();
    this.closeSocket();
  }

  /** A 5.0 re-authentication (AUTH 0x19). */
  reauthenticate(data?: Uint8Array): void {
    const v5 = this.session.v5;
    if (!v5) throw new MqttError("invalid", "reauthenticate: no enhanced authentication", undefined, "[MQTT-4.12.1-1]");
    v5.reauthenticate(this.session, data, this.options.scheduler.now());
    this.flush();
  }

  /** Properties of the current connection's CONNACK (5.0). */
  get serverProperties(): MqttProperties | undefined {
    return this.session.v5?.serverProperties;
  }

  /** When the pending reconnection attempt is due, for diagnostics. */
  get reconnectAt(): number | undefined {
    return this.waiting ? this.job?.deadline : undefined;
  }

  /** Bytes waiting for the socket. */
  get queued(): number {
    return this.queuedBytes;
  }

  /** Subscriptions remembered for resubscription. */
  get subscribed(): string[] {
    return this.subscriptions.map((r) => r.topicFilter);
  }

  // ---------------------------------------------------------------------------
  // Socket, session, job

  private open(): void {
    const s = this.options.socket;
    const opts: { [k: string]: unknown } = {};
    for (const k in s) if (k !== "io" && k !== "tls") opts[k] = s[k];
    opts.port = s.port ?? (s.tls ? 8883 : 1883);
    opts.onReadable = onSocketReadable;
    opts.onWritable = onSocketWritable;
    opts.onError = onSocketError;
    opts.target = this; // ECMA-419 base class pattern: how the callbacks find this client
    if (s.tls) opts.tls = { host: s.host ?? s.address, ...s.tls };
    this.queue = undefined;
    this.queuedBytes = this.writable = 0;
    let sock: TcpSocket;
    try {
      sock = new (s.io as TcpConstructor)(opts as never);
    } catch (e) {
      this.error(err("connection-lost", "socket: " + why(e), e));
      this.scheduleReconnect();
      return;
    }
    this.socket = sock;
    this.connecting = true;
  }

  /** @internal The socket has bytes (onReadable). */
  readable(): void {
    const sock = this.socket;
    for (let guard = 0; sock && guard < 64; guard++) {
      let buf: ArrayBuffer | undefined;
      try {
        buf = sock.read();
      } catch (e) {
        this.socketError(e as Error);
        return;
      }
      if (!buf || buf.byteLength === 0) return;
      this.session.receive(new Uint8Array(buf), this.options.scheduler.now());
      this.flush();
      if (this.socket !== sock) return;
    }
  }

  /** @internal The socket has room (onWritable): the first time, the connection is made. */
  writableEvent(bytes: number): void {
    this.writable = typeof bytes === "number" ? bytes : Infinity;
    if (this.connecting) {
      this.connecting = false;
      this.session.connect(this.options.scheduler.now());
    } else this.drain();
    this.flush();
  }

  /** @internal The socket failed or the peer closed it (onError). */
  socketError(error?: Error): void {
    const sock = this.socket;
    if (!sock) return;
    this.socket = undefined;
    try {
      sock.close();
    } catch {
      // already closed
    }
    if (this.session.state !== SessionState.Disconnected) {
      this.session.connectionLost(this.options.scheduler.now(), error ?? new Error("socket closed"));
      this.flush();
    } else {
      // Never got to CONNECT (connection refused, TLS verification failed, ...).
      this.error(err("connection-lost", "connection failed" + (error ? ": " + why(error) : ""), error));
      this.closed(undefined);
    }
  }

  /** @internal The job's run: the session's deadline, or the reconnection wait, has come. */
  timeout(now: number): void {
    if (this.waiting) {
      this.waiting = false;
      if (!this.ended && !this.socket) this.open();
      return;
    }
    // Placed for a window the session has since moved later (traffic proved the link alive):
    // placed again for the new one, instead of a PINGREQ the traffic made needless. From
    // now on only: a window already open would run the job again in this same wake.
    const l = this.session.latest;
    if (l > now && this.job!.latest < l) {
      const e = this.session.earliest;
      this.place(l, e > now ? e : now + 1);
    } else {
      this.session.handleTimeout(now);
      this.flush();
    }
  }

  /**
   * Writes what the session queued, hands its events to the app, and keeps the job on the
   * session's deadline. Re-entered from an app callback (publish in onMessage), it returns at
   * once: the outer call goes on with what the callback queued.
   */
  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    const s = this.session;
    const ev = s.events;
    let i = 0;
    for (;;) {
      const tx = s.tx;
      for (let j = 0; j < tx.length; j++) this.write(tx[j]);
      tx.length = 0;
      if (i >= ev.length) break;
      this.handle(ev[i] as MqttEvent, ev[i + 1], ev[i + 2], ev[i + 3]);
      i += 4;
    }
    ev.length = 0;
    this.flushing = false;
    // The job: moved only when the session needs it sooner than it is placed (a run inside an
    // older window just places it again), so a publish costs no rescheduling.
    const l = s.latest;
    if (l < 0 || !this.socket || this.waiting) return;
    const job = this.job;
    if (job && job.scheduled && job.latest <= l) return;
    this.place(l, s.earliest);
  }

  /** Places the job at `latest` with its window from `earliest`. */
  private place(latest: number, earliest: number): void {
    if (this.job) this.job.reschedule(latest, { earliest, latest });
    else this.job = this.options.scheduler.schedule({ name: "mqtt", liveness: true, deadline: latest, earliest, latest, run: onJob, target: this });
  }

  /** One session event to the app (MqttEvent). Never throws. */
  private handle(kind: MqttEvent, a: unknown, b: unknown, c: unknown): void {
    const o = this.options;
    switch (kind) {
      case MqttEvent.Connect:
        return this.connected(a as ConnectInfo);
      case MqttEvent.Message:
        return this.message(a as MqttMessage);
      case MqttEvent.Delivered:
        this.call(c as PublishCallback, b, a);
        return this.call(o.onDelivered, a, b);
      case MqttEvent.Subscribed: {
        const t = c as SubscribeToken | SubscribeCallback | undefined;
        if (Array.isArray(t)) {
          const codes = a as number[];
          if (!b && codes.length && codes[0] < 0x80) t[0].acknowledged = true;
          return this.call(t[1], b, codes);
        }
        return this.call(t, b, a);
      }
      case MqttEvent.Error:
        return this.error(a as MqttError);
      case MqttEvent.Disconnect:
        return this.call(o.onDisconnect, a);
      case MqttEvent.Auth: {
        let answer: Uint8Array | undefined;
        try {
          answer = o.onAuth ? o.onAuth.call(this, a as AuthExchange) : undefined;
        } catch (e) {
          this.error(err("callback", "callback threw: " + why(e), e));
        }
        return this.session.authenticate(answer, o.scheduler.now());
      }
      case MqttEvent.Close:
        return this.closed(a as MqttError | undefined);
    }
  }

  /** The session's bytes: written now when the socket takes them, else queued. */
  private write(bytes: Uint8Array): void {
    const sock = this.socket;
    if (!sock) return;
    if (!this.queue && bytes.length <= this.writable) {
      try {
        const left = sock.write(bytes);
        this.writable = typeof left === "number" ? left : this.writable - bytes.length;
        return;
      } catch {
        this.writable = 0; // full after all: queue and wait for onWritable
      }
    }
    (this.queue || (this.queue = [])).push(bytes); // the session's array is its own: no copy
    this.queuedBytes += bytes.length;
    this.drain();
  }

  /** Writes queued bytes, in pieces the socket has room for. */
  private drain(): void {
    const sock = this.socket;
    const q = this.queue;
    while (sock && q && this.writable > 0) {
      const c = q[0];
      const n = c.length <= this.writable ? c.length : this.writable;
      try {
        const left = sock.write(n === c.length ? c : c.subarray(0, n));
        this.writable = typeof left === "number" ? left : this.writable - n;
      } catch {
        this.writable = 0;
        return;
      }
      this.queuedBytes -= n;
      if (n < c.length) q[0] = c.subarray(n);
      else if (q.length > 1) q.shift();
      else {
        this.queue = undefined; // emptied: no array kept
        return;
      }
    }
  }

  private closeSocket(): void {
    const sock = this.socket;
    if (!sock) return;
    this.drain();
    this.socket = undefined;
    this.connecting = false;
    try {
      sock.close();
    } catch {
      // fine
    }
  }

  private connected(info: ConnectInfo): void {
    // The series of failures ends when this connection has lasted stableAfterMs (Backoff.next).
    this.backoff?.connected(this.options.scheduler.now());
    this.lastError = undefined;
    this.call(this.options.onConnect, info);
    // Resubscription: all when the broker has no session, else those never acknowledged.
    const subs = this.subscriptions;
    for (let i = 0; i < subs.length && this.session.connected; i++) {
      const r = subs[i];
      if (!info.sessionPresent) r.acknowledged = false;
      if (!r.acknowledged) {
        const cb = r.callback;
        r.callback = undefined;
        this.sendSubscribe(r, cb);
      }
    }
  }

  private sendSubscribe(r: SubscriptionRecord, callback: SubscribeCallback | undefined): void {
    const o = r.options;
    const opts = o.subscriptionIdentifier !== undefined || o.userProperties ? o : undefined;
    const token: SubscribeToken = [r, callback];
    try {
      this.session.subscribe([r], opts, token, this.options.scheduler.now());
    } catch (e) {
      this.call(callback, e, []);
      return;
    }
    this.flush();
  }

  private message(m: MqttMessage): void {
    this.call(this.options.onMessage, m);
    const subs = this.subscriptions;
    for (let i = 0; i < subs.length; i++) {
      const r = subs[i];
      const h = r.onMessage;
      if (h && topicMatches(r.match, m.topic)) {
        if (typeof h === "function") this.call(h, m);
        else this.call(h.onMessage, m, undefined, h);
      }
    }
  }

  private error(e: MqttError): void {
    // Kept only for onGiveUp after the back-off's deadline; without one, nothing reads it.
    const r = this.options.reconnect;
    if (r && r.giveUpAfterMs !== undefined && r.giveUpAfterMs !== Infinity) this.lastError = e;
    try {
      this.options.onError?.call(this, e);
    } catch {
      // nobody left to tell
    }
  }

  private closed(e: MqttError | undefined): void {
    this.closeSocket();
    this.call(this.options.onClose, e);
    if (this.ended || this.gaveUp) return;
    if (e && e.code === "connect-refused" && e.reasonCode !== undefined) {
      if ((this.session.v5 ? PERMANENT_5 : PERMANENT_311).indexOf(e.reasonCode) >= 0) {
        this.giveUp(e);
        return;
      }
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const r = this.options.reconnect;
    if (this.ended || this.gaveUp || this.waiting || r === false) return;
    const now = this.options.scheduler.now();
    const delay = (this.backoff || (this.backoff = new Backoff(r ?? {}, this.options.random ?? Math.random, this))).next(now);
    if (delay === undefined) {
      this.giveUp(this.lastError);
      return;
    }
    this.waiting = true;
    this.place(now + delay, now + delay);
  }

  private giveUp(e: MqttError | undefined): void {
    this.gaveUp = true;
    this.call(this.options.onGiveUp, e);
  }

  /** Calls app code `f` (if any) with `this` = `self` (the client); an exception goes to onError. */
  private call(f: Function | undefined, a?: unknown, b?: unknown, self: unknown = this): void {
    try {
      if (f) f.call(self, a, b);
    } catch (e) {
      this.error(err("callback", "callback threw: " + why(e), e));
    }
  }
}
