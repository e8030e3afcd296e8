/*
 * MqttClientCore: an MQTT session bound to an ECMA-419 TCP or TLS socket and to the
 * scheduler, with reconnection. Which session it runs is chosen at build time by the entry
 * an app imports, both exporting a class named MqttClient with this API:
 *   - ./client.ts: MqttSession (./session.ts), MQTT 3.1.1 and 5.0;
 *   - ./client311.ts: MqttSessionCore (./session-core.ts), MQTT 3.1.1 only, without the
 *     5.0 properties codec, topic aliases or AUTH (a smaller build; version 5 is refused).
 *
 *   const client = new MqttClient({
 *     socket: { io: TLS, host: "broker.example", port: 8883, tls: { host: "broker.example", ca } },
 *     scheduler, storage: platform.storage, random: () => ...,
 *     clientId: "esp32-a1b2c3", version: 5, keepAlive: 60,
 *     onConnect(info) { this.subscribe("cmd/esp32-a1b2c3/#", { qos: 1 }); },
 *     onMessage(msg) { ... },
 *   });
 *   client.publish("tele/esp32-a1b2c3/SENSOR", json, { qos: 1 }, (err) => { ... });
 *
 * - Injected IO in the ECMA-419 spirit: `socket.io` is the TCP or TLS constructor
 *   (sim/node/tcp.ts or sim/node/tls.ts on Node, embedded:io/socket/tcp and
 *   embedded:io/socket/tcp/tls on the device). TLS certificate verification is whatever
 *   the TLS class does by default: on. Pass `tls.ca` for a private CA.
 * - ECMA-419 write back-pressure: write() throws when the output buffer is full. The
 *   client then keeps the bytes in its own queue (bounded by `maxQueuedBytes`) and writes
 *   them, in pieces no larger than the space onWritable reports, as room frees.
 *   A QoS 0 publish while that queue is over its bound is refused with "busy".
 * - Reconnection: exponential back-off with full jitter and a cap (./backoff.ts) as a
 *   scheduler job; after `reconnect.giveUpAfterMs` without success, onGiveUp. A connection
 *   ends a series of failures only once it has lasted `reconnect.stableAfterMs` (30 s), so
 *   a broker that drops us right after CONNACK is retried with growing waits. A refusal
 *   that retrying cannot fix (bad credentials, not authorized, banned, client identifier
 *   rejected, unsupported protocol version, bad authentication method) gives up at once.
 * - Subscriptions are remembered; when the broker has no session for us (Session
 *   Present 0) they are all sent again, otherwise only those never acknowledged.
 * - Callbacks are called with `this` = the client; an exception in one is reported
 *   through onError and goes no further.
 */
import type { TcpConstructor, TcpSocket, TlsConstructor, TlsSettings } from "../platform/io";
import type { KeyValueStore } from "../platform/storage";
import type { Job, Scheduler } from "../scheduler/scheduler";
import { Backoff } from "./backoff";
import { MqttOutbox } from "./outbox";
import type { PropertiesCodec, QoS, Subscription } from "./packets";
import type { MqttProperties } from "./properties";
import type { MqttSessionCore } from "./session-core";
import type {
  AuthExchange,
  ConnectInfo,
  DeliveryResult,
  DisconnectInfo,
  MqttMessage,
  MqttSessionHandler,
  MqttSessionOptions,
  MqttTransport,
  PublishCallback,
  PublishOptions,
  SubscribeCallback,
} from "./session-core";
import { why } from "./session-core";
import { MqttError } from "./session-error";
import type { MqttErrorCode } from "./session-error";
import { checkTopicFilter, parseSharedSubscription, topicMatches } from "./topic";

export type { MqttMessage, ConnectInfo, DeliveryResult, DisconnectInfo, PublishOptions, AuthExchange } from "./session-core";
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

export interface MqttClientOptions extends Omit<MqttSessionOptions, "scheduler" | "handler" | "outbox"> {
  socket: MqttSocketOptions;
  scheduler: Scheduler;
  /** Where the outbox lives (the platform KeyValueStore); without it, RAM only. */
  storage?: KeyValueStore;
  outbox?: { namespace?: string; maxMessages?: number; maxBytes?: number };
  /** Random source in [0, 1) for the back-off jitter (default Math.random), called with `this` = the client. */
  random?: (this: MqttClientCore) => number;
  /** false: no reconnection. */
  reconnect?: false | MqttReconnectOptions;
  /** Bound of the client's output queue under socket back-pressure (default 16384 bytes). */
  maxQueuedBytes?: number;
  /** Connect from the constructor (default true); else call connect(). */
  autoConnect?: boolean;
  onConnect?(this: MqttClientCore, info: ConnectInfo): void;
  onMessage?(this: MqttClientCore, message: MqttMessage): void;
  onDelivered?(this: MqttClientCore, result: DeliveryResult, error: MqttError | undefined): void;
  onError?(this: MqttClientCore, error: MqttError): void;
  onDisconnect?(this: MqttClientCore, info: DisconnectInfo): void;
  onClose?(this: MqttClientCore, error: MqttError | undefined): void;
  /** Reconnection stopped for good (deadline passed or a permanent refusal). */
  onGiveUp?(this: MqttClientCore, error: MqttError | undefined): void;
  onAuth?(this: MqttClientCore, exchange: AuthExchange): Uint8Array | undefined;
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
 * or an object whose `onMessage(message)` method is called, so that an owner which is itself
 * the handler keeps no closure per subscription (issue 7's fleet memory).
 */
export type MessageHandler = ((this: MqttClientCore, message: MqttMessage) => void) | { onMessage(message: MqttMessage): void };

/**
 * A remembered subscription: itself the Subscription sent (topicFilter, qos and only the
 * options given), plus what the client needs (one object a filter, not two).
 */
interface SubscriptionRecord extends Subscription {
  options: ClientSubscribeOptions;
  /** Messages matching this filter also go here. */
  onMessage: MessageHandler | undefined;
  acknowledged: boolean;
  /** For matching: the filter without a $share/<group>/ prefix. */
  match: string;
}

/*
 * The session's handler, transport and options, in one object with prototype methods
 * rather than closures over the client: no closure (and its scope) per callback, no
 * options object beside it (the session keeps its options), which is what a fleet of
 * clients pays per device. As options it has the session's scheduler, outbox and handler
 * (itself) and, as own properties, the callbacks and session options the app gave (COPIED).
 * It reaches the client's private methods by name (TypeScript allows it with brackets).
 */
class SessionEvents implements MqttSessionHandler, MqttTransport {
  declare readonly c: MqttClientCore;
  // The app's callbacks, copied from the options (the client keeps no options object: an
  // app's options literal, built with a spread, had a hidden class of its own per client
  // in V8, ~690 B a device in a fleet). Option onX is property X, an own property only
  // when given (the handler's methods have the onX names).
  declare readonly Connect?: MqttClientOptions["onConnect"];
  declare readonly Message?: MqttClientOptions["onMessage"];
  declare readonly Delivered?: MqttClientOptions["onDelivered"];
  declare readonly Error?: MqttClientOptions["onError"];
  declare readonly Disconnect?: MqttClientOptions["onDisconnect"];
  declare readonly Close?: MqttClientOptions["onClose"];
  declare readonly GiveUp?: MqttClientOptions["onGiveUp"];
  declare readonly Auth?: MqttClientOptions["onAuth"];
  declare readonly outbox: MqttOutbox;
  constructor(c: MqttClientCore, o: MqttClientOptions, outbox: MqttOutbox) {
    this.c = c;
    this.outbox = outbox;
    for (let j = 0; j < COPIED.length; j++) {
      const k = COPIED[j];
      const v = (o as unknown as { [k: string]: unknown })[k];
      if (v !== undefined) (this as unknown as { [k: string]: unknown })[j < 8 ? k.slice(2) : k] = v;
    }
  }
  get scheduler(): Scheduler {
    return this.c.scheduler;
  }
  get handler(): MqttSessionHandler {
    return this;
  }
  onConnect(info: ConnectInfo): void {
    this.c["connected"](info);
  }
  onMessage(m: MqttMessage): void {
    this.c["message"](m);
  }
  onDelivered(r: DeliveryResult, e: MqttError | undefined): void {
    this.Delivered?.call(this.c, r, e);
  }
  onError(e: MqttError): void {
    this.c["error"](e);
  }
  onDisconnect(info: DisconnectInfo): void {
    this.Disconnect?.call(this.c, info);
  }
  onClose(e: MqttError | undefined): void {
    this.c["closed"](e);
  }
  onAuth(x: AuthExchange): Uint8Array | undefined {
    return this.Auth ? this.Auth.call(this.c, x) : undefined;
  }
  // The session's transport, also: it has one only while the client's current socket is
  // open (it is torn down whenever the client drops a socket), so no per-connection object.
  write(b: Uint8Array): void {
    this.c["write"](b);
  }
  close(): void {
    this.c["closeSocket"]();
  }
}

/**
 * The client of the socket's connection when it is still the current one. The socket's
 * `target` (ECMA-419 base class pattern) is the client itself: the module's three socket
 * callbacks find it there, and ignore a socket the client has moved on from.
 */
function current(socket: TcpSocket): MqttClientCore | undefined {
  const c = socket.target as MqttClientCore | undefined;
  return c && c["socket"] === socket ? c : undefined;
}

function onSocketReadable(this: TcpSocket, bytes: number): void {
  current(this)?.["readable"](bytes);
}

function onSocketWritable(this: TcpSocket, bytes: number): void {
  current(this)?.["writableEvent"](bytes);
}

function onSocketError(this: TcpSocket, error?: Error): void {
  current(this)?.["socketError"](error);
}

const NO_SUBSCRIPTIONS: readonly SubscriptionRecord[] = Object.freeze([]);


/** subscribe() without options (shared, read only). */
const NO_OPTIONS: ClientSubscribeOptions = Object.freeze({});

/**
 * What SessionEvents copies from the client options: the eight callbacks (option onX is
 * property X), then the MqttSessionOptions the session gets (scheduler, outbox and handler
 * are the client's own).
 */
const COPIED: readonly string[] = [
  "onConnect", "onMessage", "onDelivered", "onError", "onDisconnect", "onClose", "onGiveUp", "onAuth",
  "version", "clientId", "clean", "keepAlive", "username", "password", "will", "sessionExpiryInterval", "receiveMaximum",
  "maximumPacketSize", "topicAliasMaximum", "outboundTopicAliases", "maxInflight", "connectTimeoutMs",
  "requestResponseInformation", "requestProblemInformation", "userProperties", "auth",
];

/** CONNACK refusals that the same CONNECT will meet again: reconnecting would only drain the battery. */
const PERMANENT_5 = [0x84, 0x85, 0x86, 0x87, 0x8a, 0x8c];
const PERMANENT_311 = [1, 2, 4, 5];

export class MqttClientCore {
  // Every field is assigned in the constructor (`declare`: class field initializers cost XS bytecode).
  declare readonly session: MqttSessionCore;
  declare readonly scheduler: Scheduler;
  /** The socket options given (the only part of the options kept besides the callbacks, in `events`). */
  private declare readonly socketOptions: MqttSocketOptions;
  private declare readonly events: SessionEvents;
  /** Reconnection options; false: none. */
  private declare readonly reconnect: MqttReconnectOptions | false;
  private declare readonly random: (this: MqttClientCore) => number;
  /** The back-off of the current series of failures: made with its first, kept through connections shorter than stableAfterMs. */
  private declare backoff: Backoff | undefined;
  private declare socket: TcpSocket | undefined;
  /** Bytes the socket did not take yet: made with the first, dropped when it empties (no empty array kept). */
  private declare queue: Uint8Array[] | undefined;
  private declare queuedBytes: number;
  private declare writable: number;
  private declare readonly maxQueuedBytes: number;
  private declare reconnectJob: Job | undefined;
  private declare ended: boolean;
  private declare gaveUp: boolean;
  private declare connecting: boolean;
  private declare lastError: MqttError | undefined;
  /**
   * Subscriptions remembered for resubscription, in the order made. An exactly sized
   * array replaced on change (rare) rather than a Map (~190 B a client for its one filter).
   */
  private declare subscriptions: readonly SubscriptionRecord[];
  /** Callbacks of subscriptions made while disconnected (created with the first). */
  private declare pendingCallbacks: Map<string, SubscribeCallback> | undefined;

  /** `Session`: the session class of the build (see the entries ./client.ts, ./client311.ts). */
  constructor(options: MqttClientOptions, Session: new (options: MqttSessionOptions) => MqttSessionCore, properties?: PropertiesCodec) {
    if (!options || !options.socket || typeof options.socket.io !== "function") {
      throw err("invalid", "socket.io required");
    }
    if (!options.scheduler) throw err("invalid", "scheduler required");
    if (!options.socket.host && !options.socket.address) throw err("invalid", "socket.host or address required");
    this.socketOptions = options.socket;
    this.scheduler = options.scheduler;
    this.queuedBytes = this.writable = 0;
    this.ended = this.gaveUp = this.connecting = false;
    this.socket = this.queue = this.reconnectJob = this.lastError = this.backoff = undefined;
    this.subscriptions = NO_SUBSCRIPTIONS;
    this.pendingCallbacks = undefined;
    this.maxQueuedBytes = options.maxQueuedBytes ?? 16384;
    const outbox = new MqttOutbox({
      storage: options.storage,
      namespace: options.outbox?.namespace,
      maxMessages: options.outbox?.maxMessages,
      maxBytes: options.outbox?.maxBytes,
      clock: options.scheduler.clock,
      properties,
    });
    // The session keeps its options: they are its handler, with only the session's own
    // options copied (the whole client options, sockets and callbacks included, were
    // ~150 B a device in a fleet; a separate object of them, 112 B).
    const events = (this.events = new SessionEvents(this, options, outbox));
    this.session = new Session(events as unknown as MqttSessionOptions);
    this.reconnect = options.reconnect === false ? false : options.reconnect ?? (NO_OPTIONS as MqttReconnectOptions);
    this.random = options.random ?? Math.random;
    if (this.reconnect) this.newBackoff(); // checks the options now (RangeError); the first failure makes the one used
    for (let j = 0; j < outbox.loadErrors.length; j++) this.error(err("storage", "outbox record dropped: " + outbox.loadErrors[j]));
    if (options.autoConnect !== false) this.connect();
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
    if (this.reconnectJob) {
      this.reconnectJob.cancel();
      this.reconnectJob = undefined;
    }
    if (this.gaveUp) this.backoff = undefined; // the app starts a new series
    this.gaveUp = false;
    this.open();
  }

  /**
   * Publishes; see MqttSession.publish. QoS 1/2 messages are accepted into the outbox
   * even while disconnected; QoS 0 needs a connection and room in the output queue.
   */
  publish(topic: string, payload: Uint8Array | string, options?: PublishOptions, callback?: PublishCallback): number {
    this.live();
    if ((options?.qos ?? 0) === 0 && this.queuedBytes > this.maxQueuedBytes) {
      throw err("busy", this.queuedBytes + " B queued");
    }
    return this.session.publish(topic, payload, options, callback);
  }

  /** Request / response: answers `request` on its Response Topic with its Correlation Data. */
  respond(request: MqttMessage, payload: Uint8Array | string, options?: PublishOptions, callback?: PublishCallback): number {
    return this.session.respond(request, payload, options, callback);
  }

  /**
   * Subscribes to one filter (kept across reconnections). `onMessage`, if given, also
   * receives the messages matching this filter: a function, or an object whose onMessage
   * method is called (MessageHandler); `callback` gets the reason code.
   */
  subscribe(topicFilter: string, options?: ClientSubscribeOptions, onMessage?: MessageHandler, callback?: SubscribeCallback): void {
    this.live();
    if (onMessage !== undefined && typeof onMessage !== "function" && typeof onMessage?.onMessage !== "function")
      throw new TypeError("subscribe: onMessage must be a function or an object with an onMessage method");
    const o = options ?? NO_OPTIONS;
    const bad = checkTopicFilter(topicFilter, this.session.version);
    if (bad !== undefined) throw new MqttError("invalid", "subscribe: " + bad.message, 0x8f, bad.statement);
    // Kept for resubscription: only the options given (no more fields for the usual filter).
    const shared = parseSharedSubscription(topicFilter);
    const record: SubscriptionRecord = { topicFilter, qos: o.qos ?? 0, options: o, onMessage, acknowledged: false, match: shared ? shared.topicFilter : topicFilter };
    if (o.noLocal !== undefined) record.noLocal = o.noLocal;
    if (o.retainAsPublished !== undefined) record.retainAsPublished = o.retainAsPublished;
    if (o.retainHandling !== undefined) record.retainHandling = o.retainHandling;
    if (this.session.connected) this.sendSubscribe(record, callback);
    else if (callback) {
      // Checked now, sent on connection.
      this.remember(record);
      (this.pendingCallbacks || (this.pendingCallbacks = new Map())).set(topicFilter, callback);
      return;
    }
    this.remember(record);
  }

  /** Adds `r`, or replaces the record of the same filter in its place. */
  private remember(r: SubscriptionRecord): void {
    const list = this.subscriptions;
    const f = r.topicFilter;
    for (let i = 0; i < list.length; i++) {
      if (list[i].topicFilter === f) {
        const copy = list.slice();
        copy[i] = r;
        this.subscriptions = copy;
        return;
      }
    }
    this.subscriptions = list.concat([r]);
  }

  /** Unsubscribes (and forgets the filters, so they are not sent again on reconnection). */
  unsubscribe(topicFilters: string | string[], callback?: SubscribeCallback): void {
    const list = typeof topicFilters === "string" ? [topicFilters] : topicFilters;
    for (let j = 0; j < list.length; j++) {
      const f = list[j];
      this.subscriptions = this.subscriptions.filter((r) => r.topicFilter !== f);
      this.pendingCallbacks?.delete(f);
    }
    if (this.session.connected) this.session.unsubscribe(list, undefined, callback);
    else this.call(callback, undefined, []);
  }

  /**
   * Ends the client: DISCONNECT (reasonCode, 0x04 to have the Will published) when
   * connected, socket closed, no more reconnection. The outbox stays in the store.
   */
  end(reasonCode = 0): void {
    if (this.ended) return;
    this.ended = true;
    if (this.reconnectJob) this.reconnectJob.cancel();
    this.reconnectJob = undefined;
    if (this.session.state !== "disconnected") {
      // Write what is queued first, then DISCONNECT; the socket is closed right after.
      this.session.disconnect(reasonCode);
    }
    this.closeSocket();
  }

  // ---------------------------------------------------------------------------

  private open(): void {
    const s = this.socketOptions;
    const opts: { [k: string]: unknown } = {};
    for (const k in s) if (k !== "io" && k !== "tls") opts[k] = s[k];
    opts.port = s.port ?? (s.tls ? 8883 : 1883);
    opts.onReadable = onSocketReadable;
    opts.onWritable = onSocketWritable;
    opts.onError = onSocketError;
    opts.target = this; // ECMA-419 base class pattern: how the callbacks find this client
    if (s.tls) opts.tls = { host: s.host ?? s.address, ...s.tls };
    this.queue = undefined;
    this.queuedBytes = 0;
    this.writable = 0;
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

  private readable(count: number): void {
    const sock = this.socket;
    if (!sock) return;
    for (let guard = 0; guard < 64; guard++) {
      let buf: ArrayBuffer | undefined;
      try {
        buf = sock.read();
      } catch (e) {
        this.socketError(e as Error);
        return;
      }
      if (!buf || buf.byteLength === 0) return;
      this.session.receive(new Uint8Array(buf));
      if (this.socket !== sock) return;
    }
    void count;
  }

  private writableEvent(bytes: number): void {
    this.writable = typeof bytes === "number" ? bytes : Infinity;
    if (this.connecting) {
      this.connecting = false;
      this.session.connectionMade(this.events);
      return;
    }
    this.flush();
  }

  /** The session's bytes: written now when the socket takes them, else queued (copied). */
  private write(bytes: Uint8Array): void {
    if (!this.socket) return;
    if (!this.queue && bytes.length <= this.writable) {
      try {
        const left = this.socket.write(bytes);
        this.writable = typeof left === "number" ? left : this.writable - bytes.length;
        return;
      } catch {
        this.writable = 0; // full after all: queue and wait for onWritable
      }
    }
    (this.queue || (this.queue = [])).push(bytes.slice());
    this.queuedBytes += bytes.length;
    this.flush();
  }

  private flush(): void {
    const sock = this.socket;
    const q = this.queue;
    while (sock && q && this.writable > 0) {
      const c = q[0];
      const n = c.length <= this.writable ? c.length : this.writable;
      const piece = n === c.length ? c : c.subarray(0, n);
      try {
        const left = sock.write(piece);
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

  private socketError(error?: Error): void {
    const sock = this.socket;
    if (!sock) return;
    this.socket = undefined;
    try {
      sock.close();
    } catch {
      // already closed
    }
    if (this.session.state !== "disconnected") {
      this.session.connectionLost(error ?? new Error("socket closed"));
    } else {
      // Never got to CONNECT (connection refused, TLS verification failed, ...).
      this.error(err("connection-lost", "connection failed" + (error ? ": " + why(error) : ""), error));
      this.closed(undefined);
    }
  }

  private closeSocket(): void {
    const sock = this.socket;
    if (!sock) return;
    this.flush();
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
    this.backoff?.connected(this.scheduler.now());
    this.lastError = undefined;
    this.call(this.events.Connect, info);
    if (!this.session.connected) return;
    // Resubscription: all when the broker has no session, else those never acknowledged.
    const subs = this.subscriptions;
    for (let i = 0; i < subs.length; i++) {
      const r = subs[i];
      if (!info.sessionPresent) r.acknowledged = false;
      if (!r.acknowledged && this.session.connected) this.sendSubscribe(r, this.pendingCallbacks?.get(r.topicFilter));
    }
    this.pendingCallbacks = undefined;
  }

  private sendSubscribe(r: SubscriptionRecord, callback: SubscribeCallback | undefined): void {
    const o = r.options;
    const opts = o.subscriptionIdentifier !== undefined || o.userProperties ? { subscriptionIdentifier: o.subscriptionIdentifier, userProperties: o.userProperties } : undefined;
    this.session.subscribe([r], opts, (err, codes) => {
      if (!err && codes.length && codes[0] < 0x80) r.acknowledged = true;
      if (callback) callback.call(this, err, codes);
    });
  }

  private message(m: MqttMessage): void {
    this.call(this.events.Message, m);
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
    // Kept only for onGiveUp after the back-off's deadline; without one, nothing reads it
    // (and an error with its stack trace is ~1 KB a device in a fleet).
    const r = this.reconnect;
    if (r && r.giveUpAfterMs !== undefined && r.giveUpAfterMs !== Infinity) this.lastError = e;
    try {
      this.events.Error?.call(this, e);
    } catch {
      // nobody left to tell
    }
  }

  private closed(e: MqttError | undefined): void {
    this.closeSocket();
    this.call(this.events.Close, e);
    if (this.ended || this.gaveUp) return;
    if (e && e.code === "connect-refused" && e.reasonCode !== undefined) {
      const permanent = this.session.version === 5 ? PERMANENT_5 : PERMANENT_311;
      if (permanent.indexOf(e.reasonCode) >= 0) {
        this.giveUp(e);
        return;
      }
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.ended || this.gaveUp || this.reconnectJob || !this.reconnect) return;
    const delay = (this.backoff || (this.backoff = this.newBackoff())).next(this.scheduler.now());
    if (delay === undefined) {
      this.giveUp(this.lastError);
      return;
    }
    this.reconnectJob = this.scheduler.after(delay, () => {
      this.reconnectJob = undefined;
      if (!this.ended && !this.socket) this.open();
    }, { name: "mqtt-reconnect", radio: true });
  }

  private giveUp(e: MqttError | undefined): void {
    this.gaveUp = true;
    this.call(this.events.GiveUp, e);
  }

  private newBackoff(): Backoff {
    return new Backoff(this.reconnect as MqttReconnectOptions, this.random, this);
  }

  /** Calls app code `f` (if any) with `this` = the client; an exception goes to onError. */
  private call(f: Function | undefined, a?: unknown, b?: unknown, self: unknown = this): void {
    try {
      if (f) f.call(self, a, b);
    } catch (e) {
      this.error(err("callback", "callback threw: " + why(e), e));
    }
  }

  /** The delay of the pending reconnection attempt's job, for diagnostics. */
  get reconnectAt(): number | undefined {
    return this.reconnectJob?.deadline;
  }

  /** Bytes waiting for the socket. */
  get queued(): number {
    return this.queuedBytes;
  }

  /** Subscriptions remembered for resubscription. */
  get subscribed(): string[] {
    return this.subscriptions.map((r) => r.topicFilter);
  }

  /** A 5.0 re-authentication (AUTH 0x19). */
  reauthenticate(data?: Uint8Array): void {
    this.session.reauthenticate(data);
  }

  /** Properties of the current connection's CONNACK. */
  get serverProperties(): MqttProperties | undefined {
    return this.session.serverProperties;
  }
}

/** An MqttError of the client: the message is "MqttClient: " + `text`. */
function err(code: MqttErrorCode, text: string, cause?: unknown): MqttError {
  return new MqttError(code, "MqttClient: " + text, undefined, undefined, cause);
}
