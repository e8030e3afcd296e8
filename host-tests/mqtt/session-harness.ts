/*
 * Portable helpers for the MQTT session, outbox and client suites (Node and XS): a small
 * binding of the sans-IO MqttSession for tests (it writes the session's tx to a recording
 * transport, hands its events to handler callbacks, answers Auth events, and calls
 * handleTimeout when virtual time reaches the session's deadline), and a scripted "broker"
 * side that decodes what the session sends and encodes what the broker answers.
 */
import { encodePacket, MqttDecoder } from "../support/mqtt-codec";
import type { MqttPacket, MqttProperties, MqttVersion, PublishPacket, Subscription } from "../support/mqtt-codec";
import { Mqtt5 } from "../../modules/mqtt/mqtt5";
import type { Mqtt5Options } from "../../modules/mqtt/mqtt5";
import { MqttOutbox } from "../../modules/mqtt/outbox";
import type { MqttOutboxOptions } from "../../modules/mqtt/outbox";
import { KvOutboxStore } from "../../modules/mqtt/outbox-store";
import { MqttEvent, MqttSession, SessionState } from "../../modules/mqtt/session";
import { MqttError } from "../../modules/mqtt/session";
import type {
  AuthExchange,
  ConnectInfo,
  DeliveryResult,
  DisconnectInfo,
  MqttMessage,
  MqttSessionOptions,
  PublishOptions,
  SubscribeOptions,
} from "../../modules/mqtt/session";
import type { PreparedTopic } from "../../modules/mqtt/topic";
import { FlashStore } from "../../sim/flash-store";
import { VirtualClock } from "../../sim/virtual-clock";

/** A transport that records what the session writes. */
export class TestLink {
  written: Uint8Array[] = [];
  closed = false;
  write(bytes: Uint8Array): void {
    if (this.closed) throw new Error("TestLink: write after close");
    this.written.push(bytes.slice());
  }
  close(): void {
    this.closed = true;
  }
  /** Every byte written so far, in one array. */
  bytes(): Uint8Array {
    let n = 0;
    for (const w of this.written) n += w.length;
    const out = new Uint8Array(n);
    let o = 0;
    for (const w of this.written) {
      out.set(w, o);
      o += w.length;
    }
    return out;
  }
}

export interface Handler {
  onConnect?(info: ConnectInfo): void;
  onMessage?(message: MqttMessage): void;
  onDelivered?(result: DeliveryResult, error: MqttError | undefined): void;
  onError?(error: MqttError): void;
  onDisconnect?(info: DisconnectInfo): void;
  onClose?(error: MqttError | undefined): void;
  onAuth?(exchange: AuthExchange): Uint8Array | undefined;
}

type Callback = (error: MqttError | undefined, result: never) => void;
type PublishCallback = (error: MqttError | undefined, result: DeliveryResult) => void;
type SubscribeCallback = (error: MqttError | undefined, reasonCodes: number[]) => void;

/**
 * The session with a test binding around it: the app operations of the session, time from the
 * virtual clock, the session's output written to the current TestLink and its events handed
 * to `handler` as they come.
 */
export class SessionDriver {
  link: TestLink | undefined = undefined;
  constructor(
    readonly s: MqttSession,
    readonly clock: VirtualClock,
    public handler: Handler,
  ) {}

  get connected(): boolean {
    return this.s.connected;
  }
  get state(): "disconnected" | "connecting" | "connected" {
    return this.s.state === SessionState.Connected ? "connected" : this.s.state === SessionState.Connecting ? "connecting" : "disconnected";
  }
  get clientId(): string {
    return this.s.clientId;
  }
  get keepAlive(): number {
    return this.s.keepAlive;
  }
  get outbox(): MqttOutbox {
    return this.s.outbox;
  }
  get version(): MqttVersion {
    return this.s.version;
  }
  get serverReceiveMaximum(): number {
    return this.s.v5 ? this.s.v5.receiveMaximum : 65535;
  }
  get serverMaximumPacketSize(): number {
    return this.s.v5 ? this.s.v5.maximumPacketSize : 268435460;
  }
  get serverTopicAliasMaximum(): number {
    return this.s.v5 ? this.s.v5.topicAliasMaximum : 0;
  }
  get serverProperties(): MqttProperties | undefined {
    return this.s.v5?.serverProperties;
  }

  /** The transport is open: the session sends CONNECT on `link`. */
  connectionMade(link: TestLink): void {
    this.link = link;
    this.s.connect(this.clock.now());
    this.drain();
  }
  connectionLost(cause?: unknown): void {
    this.s.connectionLost(this.clock.now(), cause);
    this.drain();
  }
  receive(bytes: Uint8Array): void {
    this.s.receive(bytes, this.clock.now());
    this.drain();
  }
  publish(topic: string | PreparedTopic, payload: Uint8Array | string, options?: PublishOptions, callback?: PublishCallback): number {
    const id = this.s.publish(topic, payload, options, callback, this.clock.now());
    this.drain();
    return id;
  }
  subscribe(subs: Subscription[], options?: SubscribeOptions, callback?: SubscribeCallback): number {
    const id = this.s.subscribe(subs, options, callback, this.clock.now());
    this.drain();
    return id;
  }
  unsubscribe(filters: string[], options?: { userProperties?: [string, string][] }, callback?: SubscribeCallback): number {
    const id = this.s.unsubscribe(filters, options, callback, this.clock.now());
    this.drain();
    return id;
  }
  disconnect(reasonCode = 0, properties?: MqttProperties): void {
    this.s.disconnect(reasonCode, properties, this.clock.now());
    this.drain();
  }
  reauthenticate(data?: Uint8Array): void {
    if (!this.s.v5) throw new Error("3.1.1 session");
    this.s.v5.reauthenticate(this.s, data, this.clock.now());
    this.drain();
  }
  /** Request / response (§4.10), as the client does it. */
  respond(request: MqttMessage, payload: Uint8Array | string, options?: PublishOptions, callback?: PublishCallback): number {
    const rp = request.properties;
    if (!rp || rp.responseTopic === undefined) throw new MqttError("invalid", "respond: no Response Topic", undefined, "§4.10");
    const properties: MqttProperties = { ...(options?.properties ?? {}) };
    if (rp.correlationData !== undefined) properties.correlationData = rp.correlationData;
    return this.publish(rp.responseTopic!, payload, { qos: options?.qos, retain: options?.retain, properties }, callback);
  }
  /** Calls handleTimeout whenever the virtual clock reaches the session's latest deadline, up to `ms` ahead. */
  advance(ms: number): void {
    const end = this.clock.now() + ms;
    for (let guard = 0; guard < 100000; guard++) {
      const l = this.s.latest;
      if (l < 0 || l > end) break;
      if (l > this.clock.now()) this.clock.advance(l - this.clock.now());
      this.s.handleTimeout(this.clock.now());
      this.drain();
    }
    if (end > this.clock.now()) this.clock.advance(end - this.clock.now());
  }

  /** What a binding does after each call: bytes to the link, events to the handler (an exception from it reported with onError "callback"). */
  drain(): void {
    const s = this.s;
    const ev = s.events;
    let i = 0;
    for (;;) {
      for (const b of s.tx) this.link?.write(b);
      s.tx.length = 0;
      if (i >= ev.length) break;
      const [k, a, b, c] = [ev[i], ev[i + 1], ev[i + 2], ev[i + 3]];
      i += 4;
      try {
        this.handle(k as MqttEvent, a, b, c);
      } catch (e) {
        if (k === MqttEvent.Error) continue; // nobody left to tell
        try {
          this.handler.onError?.(new MqttError("callback", "callback threw: " + String((e as Error)?.message ?? e), undefined, undefined, e));
        } catch {
          // nobody left to tell
        }
      }
    }
    ev.length = 0;
  }

  private handle(k: MqttEvent, a: unknown, b: unknown, c: unknown): void {
    const s = this.s;
    const h = this.handler;
      switch (k) {
        case MqttEvent.Connect:
          h.onConnect?.(a as ConnectInfo);
          break;
        case MqttEvent.Message:
          h.onMessage?.(a as MqttMessage);
          break;
        case MqttEvent.Delivered:
          (c as Callback | undefined)?.(b as MqttError | undefined, a as never);
          h.onDelivered?.(a as DeliveryResult, b as MqttError | undefined);
          break;
        case MqttEvent.Subscribed:
          (c as Callback | undefined)?.(b as MqttError | undefined, a as never);
          break;
        case MqttEvent.Error:
          h.onError?.(a as MqttError);
          break;
        case MqttEvent.Disconnect:
          h.onDisconnect?.(a as DisconnectInfo);
          break;
        case MqttEvent.Auth: {
          let answer: Uint8Array | undefined;
          try {
            answer = h.onAuth?.(a as AuthExchange);
          } finally {
            s.authenticate(answer, this.clock.now());
          }
          break;
        }
        case MqttEvent.Close:
          this.link?.close();
          h.onClose?.(a as MqttError | undefined);
          break;
      }
  }
}

export interface Events {
  connects: ConnectInfo[];
  messages: MqttMessage[];
  delivered: { result: DeliveryResult; error: MqttError | undefined }[];
  errors: MqttError[];
  disconnects: DisconnectInfo[];
  closes: (MqttError | undefined)[];
  auth: { reasonCode: number; data: Uint8Array | undefined }[];
}

export interface Rig {
  clock: VirtualClock;
  store: FlashStore;
  outbox: MqttOutbox;
  session: SessionDriver;
  link: TestLink;
  events: Events;
  version: MqttVersion;
  /** Packets the session wrote since the last call. */
  sent(): MqttPacket[];
  /** The broker sends `p`. */
  serve(p: MqttPacket): void;
  /** The broker sends raw bytes. */
  serveBytes(bytes: number[] | Uint8Array): void;
  /** Opens a new link and sends CONNECT (returned). */
  open(): MqttPacket;
  /** open() + CONNACK success. */
  connect(connack?: { sessionPresent?: boolean; properties?: MqttProperties }): void;
  /** Advances virtual time, calling the session's handleTimeout at its deadlines. */
  advance(ms: number): void;
}

export interface RigOptions extends MqttSessionOptions, Omit<Mqtt5Options, "userProperties"> {
  /** 4 (3.1.1: no 5.0 part) or 5 (default). */
  version?: MqttVersion;
  /** CONNECT User Properties (5.0). */
  userProperties?: [string, string][];
  store?: FlashStore;
  clock?: VirtualClock;
  outboxOptions?: Omit<MqttOutboxOptions, "store" | "version" | "now"> & { namespace?: string };
  authAnswer?: (reasonCode: number, data: Uint8Array | undefined) => Uint8Array | undefined;
}

/** The session's outbox on `store` (the binding's way of making it). */
export function makeOutbox(store: FlashStore, version: MqttVersion, options?: RigOptions["outboxOptions"], now = 0): MqttOutbox {
  return new MqttOutbox({ ...options, store: new KvOutboxStore(store, options?.namespace), version, now });
}

export function makeRig(options: RigOptions = {}): Rig {
  const version = options.version ?? 5;
  const clock = options.clock ?? new VirtualClock();
  const store = options.store ?? new FlashStore();
  const outbox = makeOutbox(store, version, options.outboxOptions, clock.now());
  const events: Events = { connects: [], messages: [], delivered: [], errors: [], disconnects: [], closes: [], auth: [] };
  const v5 = version === 5 ? new Mqtt5(options) : undefined;
  const session = new MqttSession({ clientId: "dev-1", keepAlive: 60, ...options, v5 }, outbox, clock);
  const handler: Handler = {
    onConnect: (i) => events.connects.push(i),
    onMessage: (m) => events.messages.push(m),
    onDelivered: (result, error) => events.delivered.push({ result, error }),
    onError: (e) => events.errors.push(e),
    onDisconnect: (d) => events.disconnects.push(d),
    onClose: (e) => events.closes.push(e),
    onAuth: (x) => {
      events.auth.push({ reasonCode: x.reasonCode, data: x.data });
      return options.authAnswer ? options.authAnswer(x.reasonCode, x.data) : undefined;
    },
  };
  const driver = new SessionDriver(session, clock, handler);
  const decoder = new MqttDecoder({ version });
  let read = 0;
  const rig: Rig = {
    clock,
    store,
    outbox,
    session: driver,
    link: new TestLink(),
    events,
    version,
    sent() {
      const out: MqttPacket[] = [];
      const w = rig.link.written;
      for (; read < w.length; read++) {
        decoder.feed(w[read]);
        for (;;) {
          const p = decoder.next();
          if (p === undefined) break;
          out.push(p);
        }
        if (decoder.error) throw decoder.error;
      }
      return out;
    },
    serve(p) {
      driver.receive(encodePacket(p, version));
    },
    serveBytes(bytes) {
      driver.receive(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
    },
    open() {
      rig.link = new TestLink();
      read = 0;
      decoder.reset(version);
      driver.connectionMade(rig.link);
      const p = rig.sent();
      if (p.length !== 1 || p[0].type !== 1) throw new Error("expected one CONNECT, got " + p.map((x) => x.type).join(","));
      return p[0];
    },
    connect(connack) {
      rig.open();
      rig.serve({ type: 2, sessionPresent: !!connack?.sessionPresent, reasonCode: 0, properties: version === 5 ? connack?.properties : undefined });
    },
    advance(ms) {
      driver.advance(ms);
    },
  };
  return rig;
}

export function text(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

export function str(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

export function publishes(ps: MqttPacket[]): PublishPacket[] {
  return ps.filter((p) => p.type === 3) as PublishPacket[];
}

export function types(ps: MqttPacket[]): number[] {
  return ps.map((p) => p.type);
}

/** The PUBLISH an outbox entry holds, decoded (its payload, topic, properties). */
export function entryPacket(bytes: Uint8Array | undefined, version: MqttVersion): PublishPacket {
  const d = new MqttDecoder({ version, copyPayload: true });
  d.feed(bytes!);
  const p = d.next();
  if (!p || p.type !== 3) throw new Error("not a PUBLISH: " + (d.error?.message ?? p?.type));
  return p;
}
