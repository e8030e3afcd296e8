/*
 * MqttSession: the MQTT 3.1.1 / 5.0 client protocol, sans-IO (ARCHITECTURE.md principle 1).
 *
 *   const s = new MqttSession({ scheduler, outbox, clientId: "dev-1", version: 5, handler });
 *   s.connectionMade({ write(bytes) { ... }, close() { ... } });   // sends CONNECT
 *   s.receive(bytesFromTheSocket);                                 // drives everything
 *   s.connectionLost();                                            // the socket died
 *
 * It never touches a socket or a host timer: bytes go out through the transport's
 * write(), time comes from the scheduler (keep-alive and the CONNACK timeout are
 * scheduler jobs), and what happens is reported through the handler. Every handler call
 * is guarded: an exception from app code becomes an onError("callback") and the session
 * carries on.
 *
 * What it implements (sections of MQTT 5.0 unless said otherwise; 3.1.1 alike where it
 * has the feature):
 * - CONNECT/CONNACK (§3.1, §3.2) with every reason / return code, Clean Start, Session
 *   Expiry, assigned Client Identifier (kept in the store), user name / password, Will
 *   with its properties, enhanced authentication (§4.12) through handler.onAuth.
 * - Keep alive (§3.1.2.10): a PINGREQ once keepAlive has passed since the last packet
 *   sent [MQTT-3.1.2-20] or received, and the connection is closed when no packet comes
 *   within keepAlive / 2 of it. So a dead link is noticed at most 1.5 x keepAlive after
 *   the last packet received. Server Keep Alive replaces ours [MQTT-3.2.2-21].
 * - QoS 0/1/2 both ways (§4.3) with the outbox (./outbox.ts) holding every outbound
 *   QoS > 0 message and the inbound QoS 2 identifiers; on a resumed session unacknowledged
 *   PUBLISH (DUP set, same identifier) and PUBREL are sent again [MQTT-4.4.0-1].
 * - Flow control (§4.9): at most the server's Receive Maximum QoS > 0 PUBLISH in flight
 *   [MQTT-3.3.4-7]; more than ours from the server is a 0x93 DISCONNECT.
 * - Topic aliases (§3.3.2.3.4): outbound ones are automatic (first PUBLISH to a topic
 *   carries topic + alias, the next ones an empty topic + alias; least recently used alias
 *   reassigned when all are taken; not used where an alias would not save bytes); inbound
 *   ones resolved, 0 or above our maximum is 0x94, an unknown alias 0x82.
 * - Maximum Packet Size both ways: ours is announced and enforced by the decoder (0x95);
 *   the server's makes publish() refuse a message with "packet-too-large" [MQTT-3.2.2-15];
 *   Reason String and User Properties are dropped from acknowledgements that would pass it
 *   ([MQTT-3.4.2-2], [MQTT-3.4.2-3]).
 * - Message expiry (§3.3.2.3.3): a message still in the outbox, never sent, whose interval
 *   has passed is dropped and reported ("expired"); the interval sent is what remains.
 * - Maximum QoS and Retain Available of the server are honoured ([MQTT-3.2.2-11], -14).
 * - Protocol violations by the server end in DISCONNECT with the reason code (5.0) or a
 *   closed connection (3.1.1), an onError("protocol"), and an untouched outbox (§4.13).
 */
import type { Job, Scheduler } from "../scheduler/scheduler";
import { MAX_PACKET_SIZE, MqttDecoder } from "./decoder";
import { encodeAck, encodeAuth, encodeConnect, encodeDisconnect, encodePingreq, encodePublish, encodeSubscribe, encodeUnsubscribe } from "./encode";
import type { MqttCodecError } from "./errors";
import type { OutboxEntry } from "./outbox";
import { MqttOutbox } from "./outbox";
import { packetName } from "./packets";
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  MqttPacket,
  MqttVersion,
  PubAckPacket,
  PublishPacket,
  QoS,
  SubackPacket,
  Subscription,
  UnsubackPacket,
  PropertiesCodec,
  WillMessage,
} from "./packets";
import type { MqttProperties } from "./properties";
import { encodeUtf8New } from "../bytes/utf8";
import { MqttError } from "./session-error";
import { checkTopicFilter } from "./topic";

export { MqttError } from "./session-error";
export type { MqttErrorCode } from "./session-error";

/**
 * Where the session's bytes go. `bytes` is a view of the encoders' scratch buffer, shared
 * by every session of the process and valid only during the call: write() copies what it
 * keeps (ECMA-419 write() does) before it returns or lets anything else send.
 */
export interface MqttTransport {
  write(bytes: Uint8Array): void;
  close(): void;
}

export interface MqttMessage {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** 0 for QoS 0. */
  packetId: number;
  properties: MqttProperties | undefined;
}

export interface ConnectInfo {
  sessionPresent: boolean;
  /** The CONNACK properties (5.0): limits, Assigned Client Identifier, Server Reference, ... */
  properties: MqttProperties | undefined;
  clientId: string;
  /** Keep alive in effect, seconds (Server Keep Alive when the server sent one). */
  keepAlive: number;
}

export interface DeliveryResult {
  packetId: number;
  topic: string;
  qos: QoS;
  /** PUBACK / PUBREC / PUBCOMP reason code (0 in 3.1.1). */
  reasonCode: number;
  properties: MqttProperties | undefined;
}

export interface DisconnectInfo {
  reasonCode: number;
  reasonString: string | undefined;
  /** §3.14.2.2.5: the server the client should use instead (with 0x9C / 0x9D). */
  serverReference: string | undefined;
  properties: MqttProperties | undefined;
}

export interface AuthExchange {
  /** 0x18 Continue authentication, 0x00 Success (after a re-authentication). */
  reasonCode: number;
  method: string;
  data: Uint8Array | undefined;
  properties: MqttProperties | undefined;
}

export interface MqttSessionHandler {
  onConnect?(info: ConnectInfo): void;
  onMessage?(message: MqttMessage): void;
  /** An outbound QoS 1/2 message is done: acknowledged (no error) or given up (error says why). */
  onDelivered?(result: DeliveryResult, error: MqttError | undefined): void;
  onError?(error: MqttError): void;
  /** The server sent DISCONNECT (5.0). */
  onDisconnect?(info: DisconnectInfo): void;
  /** The network connection is over (after onError / onDisconnect when there was one). */
  onClose?(error: MqttError | undefined): void;
  /**
   * Enhanced authentication (§4.12): the server's AUTH. Return the Authentication Data to
   * answer with (AUTH 0x18), or undefined to abandon (DISCONNECT 0x87).
   */
  onAuth?(exchange: AuthExchange): Uint8Array | undefined;
}

export interface MqttSessionOptions {
  scheduler: Scheduler;
  handler?: MqttSessionHandler;
  /** Persistent outbox; default: a RAM-only one. */
  outbox?: MqttOutbox;
  /** 4 (3.1.1) or 5 (5.0, default). */
  version?: MqttVersion;
  /** "" asks the server to assign one (5.0; 3.1.1 requires clean). A stored assigned one is reused. */
  clientId?: string;
  /** Clean Start / CleanSession (default false: resume the session). */
  clean?: boolean;
  /** Seconds, 0 = off (default 60). */
  keepAlive?: number;
  username?: string;
  password?: Uint8Array | string;
  will?: WillMessage;
  /** 5.0 Session Expiry Interval in seconds (default 0; 0xFFFFFFFF = never). */
  sessionExpiryInterval?: number;
  /** 5.0 Receive Maximum we announce (default 16). */
  receiveMaximum?: number;
  /** Largest packet we accept; announced in 5.0 (default 16384). */
  maximumPacketSize?: number;
  /** 5.0 Topic Alias Maximum we announce for inbound aliases (default 16). */
  topicAliasMaximum?: number;
  /** Use outbound topic aliases when the server allows them (default true). */
  outboundTopicAliases?: boolean;
  /** Our own cap on outbound QoS > 0 messages in flight (default 65535, 3.1.1: 20). */
  maxInflight?: number;
  /** Close when no CONNACK within this (default 30000 ms). */
  connectTimeoutMs?: number;
  requestResponseInformation?: boolean;
  requestProblemInformation?: boolean;
  /** User Properties of the CONNECT (5.0). */
  userProperties?: [string, string][];
  /** Enhanced authentication (5.0 §4.12). */
  auth?: { method: string; data?: Uint8Array };
}

export interface PublishOptions {
  qos?: QoS;
  retain?: boolean;
  /** 5.0 properties: messageExpiryInterval, contentType, payloadFormatIndicator, responseTopic, correlationData, userProperties. */
  properties?: MqttProperties;
}

export interface SubscribeOptions {
  /** 5.0 Subscription Identifier (1..268435455). */
  subscriptionIdentifier?: number;
  userProperties?: [string, string][];
}

export type PublishCallback = (error: MqttError | undefined, result: DeliveryResult) => void;
export type SubscribeCallback = (error: MqttError | undefined, reasonCodes: number[]) => void;

export type SessionState = "disconnected" | "connecting" | "connected";

interface Pending {
  kind: "sub" | "unsub";
  count: number;
  callback: SubscribeCallback | undefined;
}

export class MqttSessionCore {
  // Every field is assigned in the constructor (`declare`: class field initializers cost XS bytecode).
  declare readonly version: MqttVersion;
  declare readonly outbox: MqttOutbox;
  declare readonly scheduler: Scheduler;
  declare handler: MqttSessionHandler;
  /** Client Identifier in use (the assigned one once the server gave one). */
  declare clientId: string;
  declare state: SessionState;
  /*
   * The server's CONNACK properties and the limits in force on this connection. What a
   * 3.1.1 server allows is on the prototype (set below the class): a 3.1.1 session has
   * none of these eight fields of its own; the 5.0 session sets them from each CONNACK.
   */
  /** The server's CONNACK properties of the current connection (5.0). */
  declare serverProperties: MqttProperties | undefined;
  declare serverReceiveMaximum: number;
  /**
   * No Maximum Packet Size from the server: MAX_PACKET_SIZE, the largest an MQTT packet can
   * be (§2.2.3), not Infinity (a double in a field is a 16-byte heap number per session).
   */
  declare serverMaximumPacketSize: number;
  declare serverTopicAliasMaximum: number;
  declare serverMaximumQoS: QoS;
  declare serverRetainAvailable: boolean;
  declare serverWildcardAvailable: boolean;
  declare serverSubscriptionIdsAvailable: boolean;
  /** Keep alive in force, seconds. */
  declare keepAlive: number;

  protected declare readonly options: MqttSessionOptions;
  /** The 5.0 properties codec (given by MqttSession), undefined in a 3.1.1-only build. */
  protected declare readonly props: PropertiesCodec | undefined;
  protected declare readonly decoder: MqttDecoder;
  protected declare transport: MqttTransport | undefined;
  protected declare inflight: number;
  protected declare nextId: number;
  // SUBSCRIBE / UNSUBSCRIBE awaiting their acknowledgement: created with the first and
  // dropped when empty (an empty Map is ~190 B a session in a fleet).
  protected declare pending: Map<number, Pending> | undefined;
  // Keep alive.
  protected declare lastSent: number;
  protected declare lastReceived: number;
  protected declare pingSentAt: number;
  protected declare keepAliveJob: Job | undefined;
  protected declare connectJob: Job | undefined;
  protected declare closing: boolean;

  constructor(options: MqttSessionOptions, props?: PropertiesCodec) {
    if (!options || !options.scheduler) throw invalid("MqttSession: scheduler required");
    this.props = props;
    const v = options.version ?? 5;
    if (v !== 4 && v !== 5) throw invalid("MqttSession: version 4 or 5");
    if (v === 5 && !this.supports5()) throw invalid("MQTT 5.0 is not in this build");
    this.version = v;
    this.options = options;
    this.scheduler = options.scheduler;
    this.handler = options.handler ?? {};
    this.outbox = options.outbox ?? new MqttOutbox({ clock: options.scheduler.clock });
    this.keepAlive = options.keepAlive ?? 60;
    if (!(this.keepAlive >= 0 && this.keepAlive <= 65535) || (this.keepAlive | 0) !== this.keepAlive) {
      throw invalid("MqttSession: keepAlive 0..65535");
    }
    // Receive Maximum, Maximum Packet Size (the decoder's), Topic Alias Maximum and the
    // in-flight cap are read from the options where used: no field of each per session.
    const rm = options.receiveMaximum ?? 16;
    if (!(rm >= 1 && rm <= 65535)) throw invalid("MqttSession: receiveMaximum 1..65535");
    const mps = options.maximumPacketSize ?? 16384;
    if (!(mps >= 16)) throw invalid("MqttSession: maximumPacketSize < 16");
    const stored = this.outbox.getMeta("cid");
    const id = options.clientId ?? "";
    this.clientId = id === "" && stored !== undefined ? stored : id;
    if (v === 4 && this.clientId === "" && !options.clean) {
      throw invalid("MqttSession: empty clientId needs clean", undefined, "[MQTT-3.1.3-7]");
    }
    this.decoder = new MqttDecoder({ version: v, maximumPacketSize: mps, properties: props });
    this.state = "disconnected";
    this.inflight = this.lastSent = this.lastReceived = 0;
    this.closing = false;
    this.nextId = 1;
    this.pingSentAt = -1;
    this.pending = this.transport = this.keepAliveJob = this.connectJob = undefined;
  }

  /** False: this class is the 3.1.1 session; MqttSession (./session) adds 5.0. */
  protected supports5(): boolean {
    return false;
  }

  /** CONNECT properties (5.0). */
  protected connectProperties(): MqttProperties | undefined {
    return undefined;
  }

  /** The properties a PUBLISH carries, checked (5.0); throws MqttError "invalid". */
  protected publishProperties(properties: MqttProperties | undefined, payload: Uint8Array): MqttProperties | undefined {
    return undefined;
  }

  /**
   * The properties a SUBSCRIBE (`subs` given) or UNSUBSCRIBE carries, the subscriptions
   * checked against the server's limits (5.0); throws MqttError "invalid".
   */
  protected subscribeProperties(subs: Subscription[] | undefined, options: SubscribeOptions | undefined): MqttProperties | undefined {
    return undefined;
  }

  /** The Topic Name of an inbound PUBLISH (5.0 resolves aliases); undefined after a violation. */
  protected inboundTopic(p: PublishPacket): string | undefined {
    return p.topic;
  }

  get connected(): boolean {
    return this.state === "connected";
  }

  // ---------------------------------------------------------------------------
  // Network connection events

  /** The transport is open: sends CONNECT (§3.1) and waits for CONNACK. */
  connectionMade(transport: MqttTransport): void {
    if (this.state !== "disconnected") this.teardown(undefined, false);
    this.transport = transport;
    this.closing = false;
    this.state = "connecting";
    this.decoder.reset(this.version);
    this.resetConnectionState();
    const o = this.options;
    const now = this.scheduler.now();
    this.lastReceived = now;
    const packet: ConnectPacket = {
      type: 1 /* CONNECT */,
      protocolVersion: this.version,
      clean: !!o.clean,
      keepAlive: this.keepAlive,
      clientId: this.clientId,
      will: o.will,
      username: o.username,
      password: o.password,
      properties: this.connectProperties(),
    };
    if (!this.send(packet)) return;
    const timeout = o.connectTimeoutMs ?? 30000;
    this.connectJob = this.scheduler.after(timeout, () => {
      this.connectJob = undefined;
      if (this.state === "connecting") {
        this.teardown(new MqttError("connect-timeout", "CONNACK timeout"), true);
      }
    }, { name: "mqtt-connack", radio: true });
  }

  /** The transport reports the connection gone (socket error or closed by the peer). */
  connectionLost(cause?: unknown): void {
    if (this.state === "disconnected") return;
    const e = cause instanceof MqttError ? cause : new MqttError("connection-lost", "connection lost" + (cause ? ": " + why(cause) : ""), undefined, undefined, cause);
    this.teardown(this.closing ? undefined : e, false);
  }

  /** Bytes from the network. Never throws. */
  receive(bytes: Uint8Array): void {
    if (this.state === "disconnected" || this.closing) return;
    const d = this.decoder;
    d.feed(bytes);
    for (;;) {
      const p = d.next();
      if (p === undefined) break;
      this.lastReceived = this.scheduler.now();
      this.pingSentAt = -1; // any packet proves the link alive
      try {
        this.dispatch(p);
      } catch (e) {
        // A session bug must not escape into the socket callback.
        this.violation(0x83, "internal error: " + why(e), "");
      }
      if (this.isDown()) return;
    }
    if (d.error !== undefined) this.codecViolation(d.error);
  }

  // ---------------------------------------------------------------------------
  // App operations

  /**
   * Publishes a message. QoS 0 is sent now (needs a connection); QoS 1/2 is stored in the
   * outbox first (persisted), then sent when the connection and the send quota allow.
   * Returns the Packet Identifier (0 for QoS 0). Throws MqttError when the message is
   * refused: "invalid", "not-connected" (QoS 0), "packet-too-large", "outbox-full", "storage".
   * `callback` runs when a QoS 1/2 message is done (acknowledged, refused or expired).
   */
  publish(topic: string, payload: Uint8Array | string, options?: PublishOptions, callback?: PublishCallback): number {
    const qos = options?.qos ?? 0;
    const retain = !!options?.retain;
    const bytes = typeof payload === "string" ? encodeUtf8New(payload) : payload;
    if (!(bytes instanceof Uint8Array)) throw invalid("publish: bad payload");
    if (qos !== 0 && qos !== 1 && qos !== 2) throw invalid("publish: bad qos");
    // The Topic Name rules ([MQTT-3.3.2-2], §4.7) are checked once, by encodedLength below.
    const properties = this.publishProperties(options?.properties, bytes);
    if (this.state === "connected") {
      const e = this.allowed(qos, retain);
      if (e) throw e;
    }
    const packet: PublishPacket = { type: 3 /* PUBLISH */, topic, payload: bytes, qos, retain, dup: false, packetId: qos ? 1 : 0, properties };
    let size: number;
    try {
      size = this.encode(packet).length;
    } catch (e) {
      const ce = e as MqttCodecError;
      throw invalid("publish: " + ce.message, ce.reasonCode, ce.statement);
    }
    const limit = this.state === "connected" ? this.serverMaximumPacketSize : Infinity;
    if (size > limit) {
      // [MQTT-3.2.2-15]: never sent; the caller keeps the message.
      throw tooLarge(size);
    }
    if (qos === 0) {
      if (this.state !== "connected") throw new MqttError("not-connected", "publish: not connected");
      this.sendPublish(packet);
      return 0;
    }
    packet.packetId = this.allocateId();
    const entry = this.outbox.add(packet); // throws outbox-full / storage: nothing kept
    if (callback) entry.callback = callback; // kept on the entry: no Map of callbacks per session
    this.pump();
    return packet.packetId!;
  }

  /** Request / response (§4.10, 5.0; MqttSession): a 3.1.1 message has no Response Topic. */
  respond(request: MqttMessage, payload: Uint8Array | string, options?: PublishOptions, callback?: PublishCallback): number {
    throw invalid("respond: no Response Topic", undefined, "§4.10");
  }

  /** SUBSCRIBE (§3.8) with one or more filters; `callback` gets one reason code per filter. */
  subscribe(subscriptions: Subscription[], options?: SubscribeOptions, callback?: SubscribeCallback): number {
    if (!Array.isArray(subscriptions) || subscriptions.length === 0) throw invalid("subscribe: none", undefined, "[MQTT-3.8.3-2]");
    const subs: Subscription[] = [];
    for (let i = 0; i < subscriptions.length; i++) {
      const s = subscriptions[i];
      const bad = checkTopicFilter(s.topicFilter, this.version);
      if (bad !== undefined) throw invalid("subscribe: " + bad.message, 0x8f, bad.statement);
      if (s.qos !== 0 && s.qos !== 1 && s.qos !== 2) throw invalid("subscribe: bad qos");
      subs.push(this.version === 5 ? s : { topicFilter: s.topicFilter, qos: s.qos });
    }
    const properties = this.subscribeProperties(subs, options);
    if (this.state !== "connected") throw new MqttError("not-connected", "subscribe: not connected");
    const id = this.allocateId();
    const ok = this.send({ type: 8 /* SUBSCRIBE */, packetId: id, subscriptions: subs, properties });
    if (ok) (this.pending || (this.pending = new Map())).set(id, { kind: "sub", count: subs.length, callback });
    return id;
  }

  /** UNSUBSCRIBE (§3.10); `callback` gets one reason code per filter (5.0; empty in 3.1.1). */
  unsubscribe(topicFilters: string[], options?: { userProperties?: [string, string][] }, callback?: SubscribeCallback): number {
    if (!Array.isArray(topicFilters) || topicFilters.length === 0) throw invalid("unsubscribe: none", undefined, "[MQTT-3.10.3-2]");
    for (let i = 0; i < topicFilters.length; i++) {
      const bad = checkTopicFilter(topicFilters[i], this.version);
      if (bad !== undefined) throw invalid("unsubscribe: " + bad.message, 0x8f, bad.statement);
    }
    if (this.state !== "connected") throw new MqttError("not-connected", "unsubscribe: not connected");
    const id = this.allocateId();
    const ok = this.send({ type: 10 /* UNSUBSCRIBE */, packetId: id, topicFilters: topicFilters.slice(), properties: this.subscribeProperties(undefined, options) });
    if (ok) (this.pending || (this.pending = new Map())).set(id, { kind: "unsub", count: topicFilters.length, callback });
    return id;
  }

  /**
   * Ends the connection with DISCONNECT (§3.14). 0x04 asks the server to publish the Will
   * (5.0). `sessionExpiryInterval` may change it (not from 0 to non-zero, [MQTT-3.14.2-?]).
   */
  disconnect(reasonCode = 0, properties?: MqttProperties): void {
    if (this.state === "disconnected") return;
    const p: DisconnectPacket = { type: 14 /* DISCONNECT */, reasonCode: this.version === 5 ? reasonCode : 0, properties: this.version === 5 ? properties : undefined };
    this.send(p);
    this.teardown(undefined, true);
  }

  /** 5.0 re-authentication (§4.12.1); a 3.1.1 session has no enhanced authentication. */
  reauthenticate(data?: Uint8Array): void {
    throw invalid("reauthenticate: no enhanced authentication", undefined, "[MQTT-4.12.1-1]");
  }

  // ---------------------------------------------------------------------------
  // Inbound packets

  protected dispatch(p: MqttPacket): void {
    if (this.state === "connecting" && p.type !== 2 /* CONNACK */ && p.type !== 15 /* AUTH */) {
      this.violation(0x82, p.type + " before CONNACK", "[MQTT-3.2.0-1]");
      return;
    }
    switch (p.type) {
      case 2 /* CONNACK */:
        return this.onConnack(p);
      case 3 /* PUBLISH */:
        return this.onPublish(p);
      case 4 /* PUBACK */:
      case 5 /* PUBREC */:
      case 7 /* PUBCOMP */:
        return this.onAck(p);
      case 6 /* PUBREL */:
        return this.onPubrel(p);
      case 9 /* SUBACK */:
      case 11 /* UNSUBACK */:
        return this.onSubOrUnsubAck(p);
      case 13 /* PINGRESP */:
        return; // any packet already counted as proof of life
      case 14 /* DISCONNECT */:
        return this.onDisconnect(p);
      case 15 /* AUTH */:
        return this.onAuthPacket(p);
      default:
        // CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ: only a client sends those.
        this.violation(0x82, "client packet " + p.type, "§2.1.2");
    }
  }

  protected onConnack(p: ConnackPacket): void {
    if (this.state !== "connecting") {
      this.violation(0x82, "second CONNACK", "[MQTT-3.2.0-2]");
      return;
    }
    if (this.connectJob) {
      this.connectJob.cancel();
      this.connectJob = undefined;
    }
    const rc = p.reasonCode;
    const v5 = this.version === 5;
    if (rc !== 0) {
      this.teardown(withProps(new MqttError("connect-refused", "connection refused: " + hex(rc), rc, v5 ? "§3.2.2.2" : "§3.2.2.3"), p.properties), true);
      return;
    }
    if (p.sessionPresent && this.options.clean) {
      // [MQTT-3.2.2-4]: we have no Session State (we asked for a clean start).
      this.violation(0x82, "Session Present after clean start", v5 ? "[MQTT-3.2.2-4]" : "[MQTT-3.2.2-1]");
      return;
    }
    if (!this.connackProperties(p.properties)) return;
    this.state = "connected";
    if (!p.sessionPresent) this.sessionLost();
    this.armKeepAlive();
    this.emit("onConnect", { sessionPresent: p.sessionPresent, properties: p.properties, clientId: this.clientId, keepAlive: this.keepAlive });
    if (this.state === "connected") this.pump();
  }

  /** Applies the CONNACK properties (5.0: the server's limits); false after a violation. */
  protected connackProperties(props: MqttProperties | undefined): boolean {
    return true;
  }

  /**
   * The server has no session for us ([MQTT-3.2.2-5]): its packet identifier state is
   * gone. QoS 2 messages it had PUBREC'd were taken over by it and are done; messages
   * it never acknowledged are sent again as new messages (DUP 0) so that none is lost.
   */
  protected sessionLost(): void {
    this.store("clearInbound");
    const list = this.outbox.list();
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      if (e.state === 2) {
        this.finish(e, 0, undefined, undefined);
      } else {
        e.sent = false;
      }
    }
  }

  protected onPublish(p: PublishPacket): void {
    const topic = this.inboundTopic(p);
    if (topic === undefined) return;
    const message: MqttMessage = { topic, payload: p.payload, qos: p.qos, retain: p.retain, dup: p.dup, packetId: p.packetId ?? 0, properties: p.properties };
    const id = p.packetId!;
    if (p.qos < 2) {
      this.emit("onMessage", message);
      if (p.qos) this.sendAck(4 /* PUBACK */, id, 0);
    } else {
      if (!this.outbox.hasInbound(id)) {
        // [MQTT-4.3.3-10]: remember the identifier before delivering, so a repeat of
        // this PUBLISH (DUP, or after a reboot) is acknowledged but not delivered again.
        try {
          this.outbox.addInbound(id);
        } catch (e) {
          // Not stored: do not acknowledge, the server sends it again later.
          this.emitError(e as MqttError);
          this.violation(0x80, "cannot store QoS 2 state", "[MQTT-4.3.3-10]", true);
          return;
        }
        this.emit("onMessage", message);
      }
      this.sendAck(5 /* PUBREC */, id, 0); // [MQTT-4.3.3-8]
    }
  }

  /** PUBACK (§4.3.2), PUBREC, PUBCOMP (§4.3.3) for an outbox message. */
  protected onAck(p: PubAckPacket): void {
    const t = p.type;
    const id = p.packetId;
    const e = this.outbox.get(id);
    const rc = p.reasonCode ?? 0;
    // PUBACK: a QoS 1 message in flight; PUBREC: a QoS 2 one (or one already released: a
    // repeated PUBREC is answered again); PUBCOMP: a PUBREL in flight.
    if (!e || e.qos !== (t === 4 ? 1 : 2) || (t === 7 ? e.state !== 2 || !e.inflight : !e.inflight && !(t === 5 && e.state === 2))) {
      this.violation(0x82, "unexpected " + packetName(t) + " " + id, t === 4 ? "§4.3.2" : "§4.3.3");
      return;
    }
    if (t === 5 && (e.state === 2 || rc < 0x80)) {
      if (e.state !== 2) {
        this.store("release", id);
      }
      this.sendAck(6, id, 0); // [MQTT-4.3.3-4]
      return;
    }
    this.inflight--;
    // [MQTT-4.4.0-2]: a failure reason code also acknowledges; the message is not resent.
    this.finish(e, rc, p.properties, rc >= 0x80 && t !== 7 ? withProps(new MqttError("publish-refused", "refused: " + hex(rc), rc, "[MQTT-4.4.0-2]"), p.properties) : undefined);
    this.pump();
  }

  protected onPubrel(p: PubAckPacket): void {
    const known = this.outbox.hasInbound(p.packetId);
    if (known) {
      this.store("removeInbound", p.packetId);
    }
    // [MQTT-4.3.3-11]; 0x92 when we hold no state for it (5.0 §3.7.2.1).
    this.sendAck(7 /* PUBCOMP */, p.packetId, known || this.version === 4 ? 0 : 0x92);
  }

  protected onSubOrUnsubAck(p: SubackPacket | UnsubackPacket): void {
    const pending = this.pending?.get(p.packetId);
    const sub = p.type === 9; /* SUBACK */
    if (!pending || pending.kind !== (sub ? "sub" : "unsub")) {
      this.violation(0x82, "unexpected " + packetName(p.type) + " " + p.packetId, "§3.9.2");
      return;
    }
    if (p.reasonCodes.length !== (sub || this.version === 5 ? pending.count : 0)) {
      this.violation(0x82, "reason code count", sub ? "[MQTT-3.8.4-6]" : "[MQTT-3.10.4-5]");
      return;
    }
    this.pending!.delete(p.packetId);
    if (this.pending!.size === 0) this.pending = undefined; // SUBACKs are rare: no empty Map kept
    this.call(pending.callback, undefined, p.reasonCodes);
  }

  /** DISCONNECT from the server: 5.0 only (MqttSession). */
  protected onDisconnect(p: DisconnectPacket): void {
    this.violation(0x82, "DISCONNECT from a 3.1.1 server", "§3.14");
  }

  /** AUTH (§3.15): only a 5.0 session with enhanced authentication takes it. */
  protected onAuthPacket(p: AuthPacket): void {
    this.violation(0x82, "AUTH without enhanced authentication", "[MQTT-4.12.0-6]");
  }

  // ---------------------------------------------------------------------------
  // Outbox pump

  /** Sends what the outbox holds as far as the quota allows (§4.9). */
  protected pump(): void {
    if (this.state !== "connected" || this.closing) return;
    const mi = this.options.maxInflight ?? (this.version === 5 ? 65535 : 20);
    const quotaMax = this.serverReceiveMaximum < mi ? this.serverReceiveMaximum : mi;
    if (this.inflight >= quotaMax) return;
    const list = this.outbox.list();
    for (let i = 0; i < list.length && this.inflight < quotaMax; i++) {
      const e = list[i];
      if (e.inflight) continue;
      if (e.state === 2) {
        e.inflight = true;
        this.inflight++;
        if (!this.sendAck(6 /* PUBREL */, e.packetId, 0)) return;
        continue;
      }
      const packet = this.outboxPublish(e);
      if (packet === undefined) continue; // given up (expired, too large, ...)
      this.store("markSent", e);
      e.inflight = true;
      this.inflight++;
      if (!this.sendPublish(packet)) return;
    }
  }

  /** The PUBLISH for an outbox entry now, or undefined after giving it up (reported). */
  protected outboxPublish(e: OutboxEntry): PublishPacket | undefined {
    const props = this.outboxProperties(e);
    if (props === null) return undefined;
    // [MQTT-3.3.1-1]: DUP on a resend.
    const packet: PublishPacket = { type: 3 /* PUBLISH */, topic: e.topic, payload: e.payload, qos: e.qos, retain: e.retain, dup: e.sent && e.seq > 0, packetId: e.packetId, properties: props };
    let n = 0;
    const error = this.allowed(e.qos, e.retain) || ((n = this.encode(packet).length) > this.serverMaximumPacketSize ? tooLarge(n) : undefined);
    if (error) {
      this.finish(e, 0, undefined, error);
      return undefined;
    }
    return packet;
  }

  /** The properties to send an outbox entry with (5.0), or null when it expired (reported). */
  protected outboxProperties(e: OutboxEntry): MqttProperties | undefined | null {
    return undefined;
  }

  /** The server's Maximum QoS and Retain Available ([MQTT-3.2.2-11], [MQTT-3.2.2-14]). */
  protected allowed(qos: number, retain: boolean): MqttError | undefined {
    if (qos > this.serverMaximumQoS) return invalid("QoS > Maximum QoS", 0x9b, "[MQTT-3.2.2-11]");
    if (retain && !this.serverRetainAvailable) return invalid("retain unavailable", 0x9a, "[MQTT-3.2.2-14]");
    return undefined;
  }

  /** An outbox message is done: remove it, tell its callback and the handler. */
  protected finish(e: OutboxEntry, reasonCode: number, properties: MqttProperties | undefined, error: MqttError | undefined): void {
    this.store("remove", e.packetId);
    const result: DeliveryResult = { packetId: e.packetId, topic: e.topic, qos: e.qos, reasonCode, properties };
    const cb = e.callback;
    e.callback = undefined;
    this.call(cb, error, result);
    this.emit("onDelivered", result, error);
  }

  // ---------------------------------------------------------------------------
  // Output

  /** Sends a PUBLISH (the 5.0 session adds topic aliases here). */
  protected sendPublish(p: PublishPacket): boolean {
    return this.send(p);
  }

  /** PUBACK / PUBREC / PUBREL / PUBCOMP. */
  protected sendAck(type: 4 | 5 | 6 | 7, packetId: number, reasonCode: number): boolean {
    return this.send({ type, packetId, reasonCode, properties: undefined } as PubAckPacket);
  }

  /** Encodes and writes a packet; false when the connection ended meanwhile. */
  protected send(p: MqttPacket): boolean {
    const t = this.transport;
    if (!t || this.state === "disconnected") return false;
    let bytes: Uint8Array;
    try {
      bytes = this.encode(this.fit(p));
    } catch (e) {
      this.emitError(new MqttError("invalid", "cannot encode " + p.type + ": " + why(e), (e as MqttCodecError).reasonCode, (e as MqttCodecError).statement, e));
      return true;
    }
    this.lastSent = this.scheduler.now();
    try {
      t.write(bytes);
    } catch (e) {
      this.connectionLost(e);
      return false;
    }
    return !this.isDown();
  }

  /** Encodes a packet a Client sends. */
  protected encode(p: MqttPacket): Uint8Array {
    const v = this.version;
    const c = this.props;
    switch (p.type) {
      case 1 /* CONNECT */:
        return encodeConnect(p, c);
      case 3 /* PUBLISH */:
        return encodePublish(p, v, c);
      case 8 /* SUBSCRIBE */:
        return encodeSubscribe(p, v, c);
      case 10 /* UNSUBSCRIBE */:
        return encodeUnsubscribe(p, v, c);
      case 12 /* PINGREQ */:
        return encodePingreq();
      case 14 /* DISCONNECT */:
        return encodeDisconnect(p, v, c);
      case 15 /* AUTH */:
        return encodeAuth(p, c);
    }
    return encodeAck(p as PubAckPacket, v, c);
  }

  /** True once the connection ended (a method against TypeScript's narrowing of `state`). */
  protected isDown(): boolean {
    return this.state === "disconnected" || this.closing;
  }

  /** A packet made to fit the server's Maximum Packet Size (5.0; nothing to do in 3.1.1). */
  protected fit(p: MqttPacket): MqttPacket {
    return p;
  }

  // ---------------------------------------------------------------------------
  // Keep alive (§3.1.2.10)

  protected armKeepAlive(): void {
    if (this.keepAliveJob) this.keepAliveJob.cancel();
    this.keepAliveJob = undefined;
    if (this.keepAlive === 0) return;
    this.pingSentAt = -1;
    this.keepAliveJob = this.scheduler.schedule({
      name: "mqtt-keepalive",
      radio: true,
      deadline: this.nextKeepAlive(),
      // The prototype method with the session as target: no bound function per connection.
      run: this.keepAliveTick,
      target: this,
    });
  }

  /** When the keep-alive job must next look: a PINGREQ due, or the PINGRESP deadline. */
  protected nextKeepAlive(): number {
    const k = this.keepAlive * 1000;
    if (this.pingSentAt >= 0) return this.pingSentAt + k / 2;
    const base = this.lastSent < this.lastReceived ? this.lastSent : this.lastReceived;
    return base + k;
  }

  protected keepAliveTick(now: number): void {
    if (this.state !== "connected" || !this.keepAliveJob) return;
    if (now >= this.nextKeepAlive()) {
      if (this.pingSentAt >= 0) {
        // No packet at all for half a keep-alive after our PINGREQ: the link is dead.
        this.teardown(new MqttError("keep-alive-timeout", "no PINGRESP", 0x8d, "[MQTT-3.1.2-22]"), true);
        return;
      }
      this.pingSentAt = now;
      if (!this.send({ type: 12 /* PINGREQ */ })) return; // [MQTT-3.1.2-20]
    }
    if (this.keepAliveJob) this.keepAliveJob.reschedule(this.nextKeepAlive());
  }

  // ---------------------------------------------------------------------------
  // Errors and teardown

  protected codecViolation(e: MqttCodecError): void {
    this.violation(e.reasonCode, e.message, "");
  }

  /**
   * The server broke the protocol (or we must abandon): error event, DISCONNECT with the
   * reason (5.0) or a plain close (3.1.1) (§4.13). The outbox is left as it is.
   */
  protected violation(reasonCode: number, message: string, statement: string, ours = false): void {
    if (this.state === "disconnected") return;
    const e = new MqttError(ours ? "connection-lost" : "protocol", message, reasonCode, statement);
    if (this.version === 5 && this.transport) {
      const rc = reasonCode >= 0x80 ? reasonCode : 0x82;
      this.send({ type: 14 /* DISCONNECT */, reasonCode: rc, properties: undefined });
    }
    this.teardown(e, true);
  }

  protected teardown(error: MqttError | undefined, closeTransport: boolean): void {
    if (this.state === "disconnected") return;
    const t = this.transport;
    this.state = "disconnected";
    this.closing = true;
    this.transport = undefined;
    if (this.keepAliveJob) this.keepAliveJob.cancel();
    this.keepAliveJob = undefined;
    if (this.connectJob) this.connectJob.cancel();
    this.connectJob = undefined;
    this.decoder.reset(this.version);
    if (closeTransport && t) {
      try {
        t.close();
      } catch {
        // closing a dead socket is fine
      }
    }
    const pending = this.pending ? Array.from(this.pending.values()) : [];
    this.pending = undefined;
    this.resetConnectionState();
    if (error) this.emitError(error);
    for (let i = 0; i < pending.length; i++) this.call(pending[i].callback, new MqttError("connection-lost", "connection lost"), []);
    this.emit("onClose", error);
  }

  protected resetConnectionState(): void {
    this.inflight = 0;
    const list = this.outbox.list();
    for (let i = 0; i < list.length; i++) list[i].inflight = false;
    this.pingSentAt = -1;
  }

  protected allocateId(): number {
    for (let n = 0; n < 65535; n++) {
      const id = this.nextId;
      this.nextId = id === 65535 ? 1 : id + 1;
      if (!this.outbox.has(id) && !this.pending?.has(id)) return id;
    }
    throw new MqttError("outbox-full", "no free packet identifier");
  }

  /** Calls the outbox's method `m`; a storage failure is reported through onError, not thrown. */
  protected store(m: "clearInbound" | "release" | "removeInbound" | "markSent" | "remove" | "setMeta", a?: unknown, b?: unknown): void {
    try {
      (this.outbox[m] as Function).call(this.outbox, a, b);
    } catch (e) {
      this.emitError(e as MqttError);
    }
  }

  protected emitError(e: MqttError): void {
    try {
      this.handler.onError?.(e);
    } catch {
      // an error handler that throws has nobody left to tell
    }
  }

  /** Calls app code `f` (if any) with `this` = `self`; an exception becomes an onError("callback"). */
  protected call(f: Function | undefined, a?: unknown, b?: unknown, self?: unknown): unknown {
    try {
      return f && f.call(self, a, b);
    } catch (e) {
      this.emitError(new MqttError("callback", "callback threw: " + why(e), undefined, undefined, e));
    }
  }

  /** Calls the handler's `name` method, if it has one (guarded as call() is). */
  protected emit(name: keyof MqttSessionHandler, a?: unknown, b?: unknown): unknown {
    const h = this.handler;
    return this.call(h[name], a, b, h);
  }
}

// A 3.1.1 server's limits (and a 5.0 one's that says nothing), shared by every session.
const P = MqttSessionCore.prototype;
P.serverReceiveMaximum = 65535;
P.serverMaximumPacketSize = MAX_PACKET_SIZE;
P.serverTopicAliasMaximum = 0;
P.serverMaximumQoS = 2;
P.serverRetainAvailable = P.serverWildcardAvailable = P.serverSubscriptionIdsAvailable = true;

/** @internal An "invalid" MqttError: bad arguments from the app. */
export function invalid(message: string, reasonCode?: number, statement?: string): MqttError {
  return new MqttError("invalid", message, reasonCode, statement);
}

/** A reason code as "0x8e" in messages (names: reasonCodeName in ./reason-codes, kept out of this bundle). */
export function hex(rc: number): string {
  return "0x" + (rc < 16 ? "0" : "") + rc.toString(16);
}

/** `e` carrying the properties of the packet that gave the reason; returns `e`. */
export function withProps(e: MqttError, props: MqttProperties | undefined): MqttError {
  e.properties = props as { [key: string]: unknown } | undefined;
  return e;
}

/** [MQTT-3.2.2-15]: a packet of `n` bytes over the server's Maximum Packet Size. */
function tooLarge(n: number): MqttError {
  return new MqttError("packet-too-large", n + " B > Maximum Packet Size", 0x95, "[MQTT-3.2.2-15]");
}

/** The message of a thrown value. */
export function why(e: unknown): string {
  return String((e as Error)?.message ?? e);
}
