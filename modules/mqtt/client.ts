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
  acknowledged: boolean;
  /** Messages matching this filter also go here (only when given). */
  onMessage?: MessageHandler;
  /** The 5.0 Subscription Identifier and User Properties (only when given). */
  properties?: ClientSubscribeOptions;
  /** For matching, the filter without its $share/<group>/ prefix (only for a shared one). */
  match?: string;
  /** The app's callback of a subscription made while disconnected, until it is sent. */
  callback?: SubscribeCallback;
}

/** What the client hands the session as a SUBSCRIBE's token: the record and the app's callback. */
type SubscribeToken = [SubscriptionRecord, SubscribeCallback | undefined];

/*
 * The socket's `target` (ECMA-419 base class pattern) is the client itself: the module's three
 * socket callbacks find it there, and ignore a socket the client has moved on from.
 */

/**
 * The socket has bytes (onReadable). The socket callbacks do their work themselves, with no
 * method of the client in between: a call costs on XS, and these run for every packet.
 */
function onSocketReadable(this: TcpSocket, count: number): void {
  const c = this.target as MqttClient | undefined;
  if (!c || c.socket !== this) return;
  if (typeof count !== "number") count = Infinity;
  const s = c.session;
  for (let guard = 0; guard < 64; guard++) {
    let buf: ArrayBuffer | undefined;
    try {
      buf = this.read();
    } catch (e) {
      c.socketError(e as Error);
      return;
    }
    const n = buf ? buf.byteLength : 0;
    if (n === 0) return;
    s.receive(new Uint8Array(buf!), c.options.scheduler.clock.now());
    flush(c);
    // ECMA-419 onReadable(count): `count` bytes were there; all read, no second read().
    if (c.socket !== this || n >= count) return;
    count -= n;
  }
}

/** The socket has room (onWritable): the first time, the connection is made. */
function onSocketWritable(this: TcpSocket, bytes: number): void {
  const c = this.target as MqttClient | undefined;
  if (!c || c.socket !== this) return;
  c.writable = typeof bytes === "number" ? bytes : Infinity;
  if (c.flags & Flag.Connecting) {
    c.flags &= ~Flag.Connecting;
    c.session.connect(c.options.scheduler.clock.now());
    flush(c);
  } else if (c.queue) drain(c); // the session has nothing new to say: nothing to flush
}

function onSocketError(this: TcpSocket, error?: Error): void {
  const c = this.target as MqttClient | undefined;
  if (c && c.socket === this) c.socketError(error);
}

/** The client's scheduler job (`this` = the client, JobOptions.target): the session's deadline, or the reconnection wait, has come. */
function onJob(this: MqttClient, now: number): void {
  if (this.flags & Flag.Waiting) {
    this.flags &= ~Flag.Waiting;
    if (!(this.flags & Flag.Ended) && !this.socket) open(this);
    return;
  }
  // Placed for a window the session has since moved later (traffic proved the link alive):
  // placed again for the new one, instead of a PINGREQ the traffic made needless. From
  // now on only: a window already open would run the job again in this same wake.
  const s = this.session;
  const l = s.latest;
  if (l > now && this.job!.latest < l) {
    const e = s.earliest;
    place(this, l, e > now ? e : now + 1);
    return;
  }
  s.handleTimeout(now);
  flush(this);
  const nl = s.latest;
  if (nl >= 0 && this.socket && !(this.flags & Flag.Waiting) && !this.job!.scheduled) place(this, nl, s.earliest); // the next window
}


/** CONNACK refusals that the same CONNECT will meet again: reconnecting would only drain the battery. */
const PERMANENT_5 = [0x84, 0x85, 0x86, 0x87, 0x8a, 0x8c];
const PERMANENT_311 = [1, 2, 4, 5];

/** An MqttError of the client: the message is "MqttClient: " + `text`. */
function err(code: MqttErrorCode, text: string, cause?: unknown): MqttError {
  return new MqttError(code, "MqttClient: " + text, undefined, undefined, cause);
}

/** Bits of MqttClient.flags. */
const enum Flag {
  /** end() was called. */
  Ended = 1,
  /** Reconnection stopped for good. */
  GaveUp = 2,
  /** The job waits to reconnect (not on the session's deadline). */
  Waiting = 4,
  /** A socket is open and its first onWritable (the connection made) has not come. */
  Connecting = 8,
  /** flush() is running (an app callback called back into the client). */
  Flushing = 16,
}

export class MqttClient {
  // Fields are assigned in the constructor (`declare`: class field initializers cost XS
  // bytecode); those marked "made with" exist only from their first use (a connected client
  // that never lost its connection has no back-off and no last error: fewer slots).
  declare readonly session: MqttSession;
  /** @internal The current socket, if any. */
  declare socket: TcpSocket | undefined;
  /** @internal Bytes the socket did not take yet: made with the first, dropped when it empties. */
  declare queue: Uint8Array[] | undefined;
  /** @internal */
  declare writable: number;
  /** @internal */
  declare queuedBytes: number;
  /** @internal Flag bits. */
  declare flags: number;
  /** The app's options (socket, callbacks and the session's options), read where used. */
  declare readonly options: MqttClientOptions;
  /** @internal Subscriptions remembered for resubscription, in the order made. */
  declare subscriptions: SubscriptionRecord[];
  /** @internal The one scheduler job: made with the first deadline. */
  declare job: Job | undefined;
  /** @internal The back-off of the current series of failures: made with its first, kept through connections shorter than stableAfterMs. */
  declare backoff: Backoff | undefined;
  /** @internal The last error of a series, for onGiveUp: made with the first (only when the series has a deadline). */
  declare lastError: MqttError | undefined;

  constructor(options: MqttClientOptions) {
    const o = options;
    if (!o || !o.socket || typeof o.socket.io !== "function") throw err("invalid", "socket.io required");
    if (!o.scheduler) throw err("invalid", "scheduler required");
    if (!o.socket.host && !o.socket.address) throw err("invalid", "socket.host or address required");
    if (o.reconnect) new Backoff(o.reconnect, Math.random); // checks the options now (RangeError)
    // The most used fields first: XS finds an own property by walking the object's list.
    this.session = undefined as unknown as MqttSession;
    this.socket = this.queue = undefined;
    this.writable = this.queuedBytes = this.flags = 0;
    this.options = o;
    this.subscriptions = [];
    const ob = o.outbox;
    const outbox = new MqttOutbox({
      store: o.storage ? new KvOutboxStore(o.storage, ob?.namespace) : undefined,
      maxMessages: ob?.maxMessages,
      maxBytes: ob?.maxBytes,
      version: o.v5 ? 5 : 4,
      now: o.scheduler.clock.now(),
    });
    this.session = new MqttSession(o, outbox, o.scheduler.clock);
    for (let j = 0; j < outbox.loadErrors.length; j++) error(this, err("storage", "outbox record dropped: " + outbox.loadErrors[j]));
    if (o.autoConnect !== false) this.connect();
  }

  /** Throws "ended" once end() was called. */
  private live(): void {
    if (this.flags & Flag.Ended) throw err("ended", "ended");
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
    if (this.flags & Flag.GaveUp) this.backoff = undefined; // the app starts a new series
    this.flags &= ~(Flag.GaveUp | Flag.Waiting);
    open(this);
  }

  /**
   * Publishes; see MqttSession.publish. QoS 1/2 messages are accepted into the outbox even
   * while disconnected; QoS 0 needs a connection and room in the output queue. `topic` may be
   * a PreparedTopic (prepareTopic in ./topic.ts). `callback` runs when a QoS 1/2 message is done.
   */
  publish(topic: string | PreparedTopic, payload: Uint8Array | string, options?: PublishOptions, callback?: PublishCallback): number {
    if (this.flags & Flag.Ended) throw err("ended", "ended");
    const o = this.options;
    if (this.queuedBytes && this.queuedBytes > (o.maxQueuedBytes ?? 16384) && !(options && options.qos)) throw err("busy", this.queuedBytes + " B queued");
    const id = this.session.publish(topic, payload, options, callback, o.scheduler.clock.now());
    // From an app callback (onDelivered publishing the next message) flush() is running: it
    // writes what this queued when the callback returns (no call: a call costs on XS).
    if (!(this.flags & Flag.Flushing)) flush(this);
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
    // Only what was given: one object of three slots for the usual filter.
    const r: SubscriptionRecord = { topicFilter, qos: o.qos ?? 0, acknowledged: false };
    if (onMessage !== undefined) r.onMessage = onMessage;
    if (shared) r.match = shared.topicFilter;
    if (o.subscriptionIdentifier !== undefined || o.userProperties) r.properties = o;
    if (o.noLocal !== undefined) r.noLocal = o.noLocal;
    if (o.retainAsPublished !== undefined) r.retainAsPublished = o.retainAsPublished;
    if (o.retainHandling !== undefined) r.retainHandling = o.retainHandling;
    // Kept for resubscription (a record of the same filter is replaced in its place).
    const list = this.subscriptions;
    let i = 0;
    while (i < list.length && list[i].topicFilter !== topicFilter) i++;
    list[i] = r;
    if (this.session.connected) sendSubscribe(this, r, callback);
    else if (callback) r.callback = callback; // checked now, sent on connection
  }

  /** Unsubscribes (and forgets the filters, so they are not sent again on reconnection). */
  unsubscribe(topicFilters: string | string[], callback?: SubscribeCallback): void {
    const list = typeof topicFilters === "string" ? [topicFilters] : topicFilters;
    this.subscriptions = this.subscriptions.filter((r) => list.indexOf(r.topicFilter) < 0);
    if (this.session.connected) {
      this.session.unsubscribe(list, undefined, callback, this.options.scheduler.clock.now());
      flush(this);
    } else call(this, callback, undefined, []);
  }

  /**
   * Ends the client: DISCONNECT (reasonCode, 0x04 to have the Will published) when
   * connected, socket closed, no more reconnection. The outbox stays in the store.
   * `properties` (5.0) go on the DISCONNECT, e.g. a Session Expiry Interval covering a
   * sleep (§3.14.2.2.2); a non-zero one after a CONNECT with none is refused, nothing ended
   * [MQTT-3.14.2-2].
   */
  end(reasonCode = 0, properties?: MqttProperties): void {
    if (this.flags & Flag.Ended) return;
    if (properties?.sessionExpiryInterval && !this.session.v5?.options.sessionExpiryInterval)
      throw new MqttError("invalid", "end: a Session Expiry Interval on DISCONNECT needs one on CONNECT", 0x82, "[MQTT-3.14.2-2]");
    // The session first: a DISCONNECT it refuses ("invalid") leaves the client as it was (its
    // events wait for flush(), after Ended is set).
    this.session.disconnect(reasonCode, this.session.v5 ? properties : undefined, this.options.scheduler.clock.now());
    this.flags |= Flag.Ended;
    this.job?.cancel();
    flush(this);
    closeSocket(this);
  }

  /** A 5.0 re-authentication (AUTH 0x19). */
  reauthenticate(data?: Uint8Array): void {
    const v5 = this.session.v5;
    if (!v5) throw new MqttError("invalid", "reauthenticate: no enhanced authentication", undefined, "[MQTT-4.12.1-1]");
    v5.reauthenticate(this.session, data, this.options.scheduler.clock.now());
    flush(this);
  }

  /** Properties of the current connection's CONNACK (5.0). */
  get serverProperties(): MqttProperties | undefined {
    return this.session.v5?.serverProperties;
  }

  /** When the pending reconnection attempt is due, for diagnostics. */
  get reconnectAt(): number | undefined {
    return this.flags & Flag.Waiting ? this.job?.deadline : undefined;
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


  /** @internal The socket failed or the peer closed it (onError). */
  socketError(cause?: Error): void {
    const sock = this.socket;
    if (!sock) return;
    this.socket = undefined;
    try {
      sock.close();
    } catch {
      // already closed
    }
    if (this.session.state !== SessionState.Disconnected) {
      this.session.connectionLost(this.options.scheduler.clock.now(), cause ?? new Error("socket closed"));
      flush(this);
    } else {
      // Never got to CONNECT (connection refused, TLS verification failed, ...).
      error(this, err("connection-lost", "connection failed" + (cause ? ": " + why(cause) : ""), cause));
      closed(this, undefined);
    }
  }















}

/**
 * Writes what the session queued, hands its events to the app, and keeps the job on the
 * session's deadline. Re-entered from an app callback (publish in onMessage), it returns at
 * once: the outer call goes on with what the callback queued.
 */
function flush(client: MqttClient): void {
  if (client.flags & Flag.Flushing) return; // before anything else: a publish from onDelivered lands here
  const s = client.session;
  const ev = s.events;
  const tx = s.tx;
  client.flags |= Flag.Flushing;
  // write() and the Delivered case of handle() are written out here: a call costs on XS, and
  // a publisher goes through this loop for every message.
  let i = 0;
  let j: number;
  let bytes: Uint8Array;
  let n: number;
  let sock: TcpSocket | undefined;
  let kind: MqttEvent;
  let f: MqttClientOptions["onDelivered"];
  let m: number;
  for (;;) {
    // An array's length is a getter on XS: read once (writing cannot add to tx: ECMA-419
    // sockets call back later, never from inside write()).
    m = tx.length;
    if (m) {
      for (j = 0; j < m; j++) {
        // The session's bytes: written now when the socket takes them, else queued.
        bytes = tx[j];
        sock = client.socket;
        if (!sock) continue;
        n = bytes.length; // read once: a typed array's length is a getter on XS
        if (!client.queue && n <= client.writable) {
          try {
            const left = sock.write(bytes);
            client.writable = typeof left === "number" ? left : client.writable - n;
            continue;
          } catch {
            client.writable = 0; // full after all: queue and wait for onWritable
          }
        }
        (client.queue || (client.queue = [])).push(bytes); // the session's array is its own: no copy
        client.queuedBytes += n;
        drain(client);
      }
      tx.length = 0;
    }
    if (i >= ev.length) break;
    kind = ev[i] as MqttEvent;
    if (kind === MqttEvent.Delivered) {
      // An outbound QoS 1/2 message is done: the publisher's callback, then onDelivered.
      if (ev[i + 3]) call(client, ev[i + 3] as PublishCallback, ev[i + 2], ev[i + 1]);
      f = client.options.onDelivered;
      if (f) {
        try {
          f.call(client, ev[i + 1] as DeliveryResult, ev[i + 2] as MqttError | undefined);
        } catch (x) {
          error(client, err("callback", "callback threw: " + why(x), x));
        }
      }
    } else handle(client, kind, ev[i + 1], ev[i + 2], ev[i + 3]);
    i += 4;
  }
  if (i) ev.length = 0;
  client.flags &= ~Flag.Flushing;
  // The job: placed again only when the session says its deadline may have come nearer
  // (session.rearm); traffic moves it later, which a run in the old window finds out
  // (timeout() places it again), so a publish costs no rescheduling.
  if (!s.rearm) return;
  s.rearm = false;
  const l = s.latest;
  if (l >= 0 && client.socket && !(client.flags & Flag.Waiting)) place(client, l, s.earliest);
}

/** Places the job at `latest` with its window from `earliest`. */
function place(client: MqttClient, latest: number, earliest: number): void {
  if (client.job) client.job.reschedule(latest, { earliest, latest });
  else client.job = client.options.scheduler.schedule({ name: "mqtt", liveness: true, deadline: latest, earliest, latest, run: onJob, target: client });
}

/** One session event to the app (MqttEvent). Never throws. */
function handle(client: MqttClient, kind: MqttEvent, a: unknown, b: unknown, c: unknown): void {
  const o = client.options;
  switch (kind) {
    case MqttEvent.Connect:
      return connected(client, a as ConnectInfo);
    case MqttEvent.Message:
      return message(client, a as MqttMessage);
    case MqttEvent.Subscribed: {
      const t = c as SubscribeToken | SubscribeCallback | undefined;
      if (Array.isArray(t)) {
        const codes = a as number[];
        if (!b && codes.length && codes[0] < 0x80) t[0].acknowledged = true;
        return call(client, t[1], b, codes);
      }
      return call(client, t, b, a);
    }
    case MqttEvent.Error:
      return error(client, a as MqttError);
    case MqttEvent.Disconnect:
      return call(client, o.onDisconnect, a);
    case MqttEvent.Auth: {
      let answer: Uint8Array | undefined;
      try {
        answer = o.onAuth ? o.onAuth.call(client, a as AuthExchange) : undefined;
      } catch (e) {
        error(client, err("callback", "callback threw: " + why(e), e));
      }
      return client.session.authenticate(answer, o.scheduler.clock.now());
    }
    case MqttEvent.Close:
      return closed(client, a as MqttError | undefined);
  }
}

/** Writes queued bytes, in pieces the socket has room for. */
function drain(client: MqttClient): void {
  const sock = client.socket;
  const q = client.queue;
  while (sock && q && client.writable > 0) {
    const c = q[0];
    const n = c.length <= client.writable ? c.length : client.writable;
    try {
      const left = sock.write(n === c.length ? c : c.subarray(0, n));
      client.writable = typeof left === "number" ? left : client.writable - n;
    } catch {
      client.writable = 0;
      return;
    }
    client.queuedBytes -= n;
    if (n < c.length) q[0] = c.subarray(n);
    else if (q.length > 1) q.shift();
    else {
      client.queue = undefined; // emptied: no array kept
      return;
    }
  }
}

function connected(client: MqttClient, info: ConnectInfo): void {
  // The series of failures ends when this connection has lasted stableAfterMs (Backoff.next).
  client.backoff?.connected(client.options.scheduler.clock.now());
  if (client.lastError) delete client.lastError;
  call(client, client.options.onConnect, info);
  // Resubscription: all when the broker has no session, else those never acknowledged.
  const subs = client.subscriptions;
  for (let i = 0; i < subs.length && client.session.connected; i++) {
    const r = subs[i];
    if (!info.sessionPresent) r.acknowledged = false;
    if (!r.acknowledged) {
      const cb = r.callback;
      if (cb) delete r.callback;
      sendSubscribe(client, r, cb);
    }
  }
}

function sendSubscribe(client: MqttClient, r: SubscriptionRecord, callback: SubscribeCallback | undefined): void {
  const token: SubscribeToken = [r, callback];
  try {
    client.session.subscribe([r], r.properties, token, client.options.scheduler.clock.now());
  } catch (e) {
    call(client, callback, e, []);
    return;
  }
  flush(client);
}

function message(client: MqttClient, m: MqttMessage): void {
  call(client, client.options.onMessage, m);
  const subs = client.subscriptions;
  for (let i = 0; i < subs.length; i++) {
    const r = subs[i];
    const h = r.onMessage;
    if (h && topicMatches(r.match ?? r.topicFilter, m.topic)) {
      if (typeof h === "function") call(client, h, m);
      else call(client, h.onMessage, m, undefined, h);
    }
  }
}

function error(client: MqttClient, e: MqttError): void {
  // Kept only for onGiveUp after the back-off's deadline; without one, nothing reads it.
  const r = client.options.reconnect;
  if (r && r.giveUpAfterMs !== undefined && r.giveUpAfterMs !== Infinity) client.lastError = e;
  try {
    client.options.onError?.call(client, e);
  } catch {
    // nobody left to tell
  }
}

function closed(client: MqttClient, e: MqttError | undefined): void {
  closeSocket(client);
  call(client, client.options.onClose, e);
  if (client.flags & (Flag.Ended | Flag.GaveUp)) return;
  if (e && e.code === "connect-refused" && e.reasonCode !== undefined) {
    if ((client.session.v5 ? PERMANENT_5 : PERMANENT_311).indexOf(e.reasonCode) >= 0) {
      giveUp(client, e);
      return;
    }
  }
  scheduleReconnect(client);
}

function scheduleReconnect(client: MqttClient): void {
  const r = client.options.reconnect;
  if (client.flags & (Flag.Ended | Flag.GaveUp | Flag.Waiting) || r === false) return;
  const now = client.options.scheduler.clock.now();
  const delay = (client.backoff || (client.backoff = new Backoff(r ?? {}, client.options.random ?? Math.random, client))).next(now);
  if (delay === undefined) {
    giveUp(client, client.lastError);
    return;
  }
  client.flags |= Flag.Waiting;
  place(client, now + delay, now + delay);
}

function giveUp(client: MqttClient, e: MqttError | undefined): void {
  client.flags |= Flag.GaveUp;
  call(client, client.options.onGiveUp, e);
}

/** Calls app code `f` (if any) with `this` = `self` (the client); an exception goes to onError. */
function call(client: MqttClient, f: Function | undefined, a?: unknown, b?: unknown, self: unknown = client): void {
  try {
    if (f) f.call(self, a, b);
  } catch (e) {
    error(client, err("callback", "callback threw: " + why(e), e));
  }
}

function closeSocket(client: MqttClient): void {
  const sock = client.socket;
  if (!sock) return;
  drain(client);
  client.socket = undefined;
  client.flags &= ~Flag.Connecting;
  try {
    sock.close();
  } catch {
    // fine
  }
}

function open(client: MqttClient): void {
  const s = client.options.socket;
  const opts: { [k: string]: unknown } = {};
  for (const k in s) if (k !== "io" && k !== "tls") opts[k] = s[k];
  opts.port = s.port ?? (s.tls ? 8883 : 1883);
  opts.onReadable = onSocketReadable;
  opts.onWritable = onSocketWritable;
  opts.onError = onSocketError;
  opts.target = client; // ECMA-419 base class pattern: how the callbacks find this client
  if (s.tls) opts.tls = { host: s.host ?? s.address, ...s.tls };
  client.queue = undefined;
  client.queuedBytes = client.writable = 0;
  let sock: TcpSocket;
  try {
    sock = new (s.io as TcpConstructor)(opts as never);
  } catch (e) {
    error(client, err("connection-lost", "socket: " + why(e), e));
    scheduleReconnect(client);
    return;
  }
  client.socket = sock;
  client.flags |= Flag.Connecting;
}
