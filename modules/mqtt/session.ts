/*
 * MqttSession: the client side of MQTT 3.1.1 and 5.0 as a sans-IO state machine
 * (ARCHITECTURE.md principle 1; in the manner of python-hyper/h11 and quinn-proto).
 *
 *   IN   connect(now)               the transport is open: CONNECT is queued
 *        receive(bytes, now)        bytes from the transport, any chunking
 *        handleTimeout(now)         the deadline (or any time in its window) has come
 *        connectionLost(now, cause) the transport died
 *        publish / subscribe / unsubscribe / disconnect (..., now)   app operations
 *   OUT  tx                         bytes to transmit, in order (the binding writes and empties it)
 *        events                     what happened, four slots per event: MqttEvent, a, b, c
 *        earliest, latest           the next deadline's window (ms, -1: none): handleTimeout
 *                                   may be called anywhere in it, so a scheduler can coalesce
 *        the outbox's store         persistence, through the OutboxStore the binding handed
 *                                   the outbox (written before the bytes it covers are queued)
 *
 * It never touches a socket, a timer or flash, and never calls app code: events are queued
 * and the binding (./client.ts) dispatches them after the call returns, so app code never
 * runs inside the session.
 *
 * 3.1.1 and 5.0 by composition: a session given a 5.0 part (`v5: new Mqtt5(...)`, ./mqtt5.ts)
 * speaks 5.0 and asks the part wherever 5.0 adds something (properties, the server's limits,
 * topic aliases, reason codes, enhanced authentication); without one it speaks 3.1.1 and a
 * build carries no 5.0 code.
 *
 * What it implements (sections of MQTT 5.0 unless said otherwise; 3.1.1 alike where it has
 * the feature):
 * - CONNECT/CONNACK (§3.1, §3.2) with every reason / return code, Clean Start, user name /
 *   password, Will; the server-assigned Client Identifier kept in the store.
 * - Keep alive (§3.1.2.10): a PINGREQ anywhere from half to all of keepAlive after the older
 *   of the last packet sent [MQTT-3.1.2-20] and received (any traffic that proves the link
 *   alive replaces it), and the connection is closed when no packet comes within keepAlive / 2
 *   of the PINGREQ. So a dead link is noticed at most 1.5 x keepAlive after the last packet
 *   received, also while the device keeps publishing QoS 0.
 * - QoS 0/1/2 both ways (§4.3): every outbound QoS > 0 message in the outbox (./outbox.ts),
 *   encoded once; inbound QoS 2 identifiers stored before delivery [MQTT-4.3.3-10]; on a
 *   resumed session unacknowledged PUBLISH (DUP set, same identifier) and PUBREL are sent
 *   again in order [MQTT-4.4.0-1].
 * - Flow control (§4.9): at most min(maxInflight, the server's Receive Maximum) QoS > 0
 *   PUBLISH in flight [MQTT-3.3.4-7].
 * - Protocol violations by the server end in DISCONNECT with the reason code (5.0) or a
 *   closed connection (3.1.1), an Error event, and an untouched outbox (§4.13).
 */
import { MAX_PACKET_SIZE, MqttDecoder } from "./decoder";
import { encodeConnect, encodePingreq, encodeSubscribe, encodeUnsubscribe, publishFrom } from "./encode";
import type { MqttCodecError } from "./errors";
import { MqttOutbox } from "./outbox";
import type { OutboxEntry } from "./outbox";
import type { Mqtt5 } from "./mqtt5";
import { PacketType } from "./packets";
import type { ConnackPacket, ConnectPacket, MqttPacket, PubAckPacket, PublishPacket, QoS, SubackPacket, Subscription, UnsubackPacket, WillMessage } from "./packets";
import type { MqttProperties } from "./properties";
import { encodeUtf8New } from "../bytes/utf8";
import { MqttError } from "./session-error";
import { checkTopicFilter, prepareTopic } from "./topic";
import type { PreparedTopic } from "./topic";

export { MqttError } from "./session-error";
export type { MqttErrorCode } from "./session-error";

/** What the session's events are (the first of their four slots in `events`). */
export const enum MqttEvent {
  /** a: ConnectInfo. */
  Connect = 1,
  /** a: MqttMessage. */
  Message = 2,
  /** An outbound QoS 1/2 message is done. a: DeliveryResult, b: MqttError when given up, c: the publisher's token. */
  Delivered = 3,
  /** A SUBACK / UNSUBACK (or the connection lost before it). a: the reason codes, b: MqttError or undefined, c: the token. */
  Subscribed = 4,
  /** a: MqttError. */
  Error = 5,
  /** The server sent DISCONNECT (5.0). a: DisconnectInfo. */
  Disconnect = 6,
  /** The server's AUTH (5.0 §4.12). a: AuthExchange; answer with session.authenticate(). */
  Auth = 7,
  /** The connection is over for the session (the binding closes the transport). a: the MqttError, if any. */
  Close = 8,
}

/** Session states. */
export const enum SessionState {
  Disconnected = 0,
  /** CONNECT sent, no CONNACK yet. */
  Connecting = 1,
  Connected = 2,
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
  /** The acknowledgement's properties (5.0); absent or undefined when it had none. */
  properties?: MqttProperties;
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

export interface MqttSessionOptions {
  /** The 5.0 part (./mqtt5.ts): with it the session speaks MQTT 5.0, without it 3.1.1. */
  v5?: Mqtt5;
  /** "" asks the server to assign one (5.0; 3.1.1 requires clean). A stored assigned one is reused. */
  clientId?: string;
  /** Clean Start / CleanSession (default false: resume the session). */
  clean?: boolean;
  /** Seconds, 0 = off (default 60). */
  keepAlive?: number;
  username?: string;
  password?: Uint8Array | string;
  will?: WillMessage;
  /** Largest packet we accept; announced in 5.0 (default 16384). */
  maximumPacketSize?: number;
  /** Our own cap on outbound QoS > 0 messages in flight (default 20 in 3.1.1, 65535 in 5.0). */
  maxInflight?: number;
  /** Close when no CONNACK within this (default 30000 ms). */
  connectTimeoutMs?: number;
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

/** @internal An "invalid" MqttError: bad arguments from the app. */
export function invalid(message: string, reasonCode?: number, statement?: string): MqttError {
  return new MqttError("invalid", message, reasonCode, statement);
}

/** A reason code as "0x8e" in messages (names: reasonCodeName in ./reason-names, kept out of this bundle). */
export function hex(rc: number): string {
  return "0x" + (rc < 16 ? "0" : "") + rc.toString(16);
}

/** `e` carrying the properties of the packet that gave the reason; returns `e`. */
export function withProps(e: MqttError, props: MqttProperties | undefined): MqttError {
  e.properties = props as { [key: string]: unknown } | undefined;
  return e;
}

/** [MQTT-3.2.2-15]: a packet of `n` bytes over the server's Maximum Packet Size. */
export function tooLarge(n: number): MqttError {
  return new MqttError("packet-too-large", n + " B > Maximum Packet Size", 0x95, "[MQTT-3.2.2-15]");
}

/** The message of a thrown value. */
export function why(e: unknown): string {
  return String((e as Error)?.message ?? e);
}

/** `e`, an MqttCodecError, as an "invalid" MqttError of `what`. */
export function refused(what: string, e: unknown): MqttError {
  const c = e as MqttCodecError;
  return invalid(what + ": " + why(e), c.reasonCode, c.statement);
}

export class MqttSession {
  // Every field is assigned in the constructor (`declare`: class field initializers cost XS bytecode).
  /** The app's options (read where used: no field per option). */
  declare readonly options: MqttSessionOptions;
  /** Wall-clock time (5.0 message expiry across a deep sleep), if the host has it. */
  declare readonly clock?: { epoch(): number };
  /** The 5.0 part, if the session speaks 5.0. */
  declare readonly v5: Mqtt5 | undefined;
  /** 4 (3.1.1) or 5 (5.0). */
  declare readonly version: 4 | 5;
  declare readonly outbox: MqttOutbox;
  declare readonly decoder: MqttDecoder;
  /** Client Identifier in use (the assigned one once the server gave one). */
  declare clientId: string;
  /** Keep alive in force, seconds. */
  declare keepAlive: number;
  declare state: SessionState;
  /** OUT: bytes to transmit, in order. The binding writes each and empties the array. */
  declare tx: Uint8Array[];
  /** OUT: events, four slots each (MqttEvent, a, b, c). The binding handles them in order and empties the array. */
  declare events: unknown[];
  /**
   * OUT: the deadline's window may have come nearer (a connection opened, a PINGREQ sent): the
   * binding places its timer again and clears this. Traffic only moves the window later, which
   * a timer placed for the old one finds out when it runs (handleTimeout early does nothing).
   */
  declare rearm: boolean;
  /** @internal */
  declare lastSent: number;
  /** @internal */
  declare lastReceived: number;
  /** When the PINGREQ awaiting an answer went out; -1: none. */
  declare pingAt: number;
  /** When CONNECT went out. */
  declare connectAt: number;
  /** QoS > 0 PUBLISH (and PUBREL) in flight on this connection, and how many may be (§4.9). */
  declare inflight: number;
  declare quota: number;
  /** @internal */
  declare nextId: number;
  /** SUBSCRIBE / UNSUBSCRIBE awaiting acknowledgement: [packet id, packet type, count, token] each (made with the first). */
  declare pending?: unknown[];
  /** The last Topic Name published to, checked and encoded. */
  declare topic: PreparedTopic | undefined;

  /**
   * `outbox`: the persistent outbox (default: a RAM-only one); `clock`: wall-clock time, for
   * 5.0 message expiry (the scheduler's clock; without it expiry counts monotonic time).
   */
  constructor(options: MqttSessionOptions = {}, outbox?: MqttOutbox, clock?: { epoch(): number }) {
    const o = options;
    const k = o.keepAlive ?? 60;
    if (!(k >= 0 && k <= 65535) || (k | 0) !== k) throw invalid("MqttSession: keepAlive 0..65535");
    const mps = o.maximumPacketSize ?? 16384;
    if (!(mps >= 16)) throw invalid("MqttSession: maximumPacketSize < 16");
    const version = o.v5 ? 5 : 4;
    // The most used fields first: XS finds an own property by walking the object's list.
    this.state = SessionState.Disconnected;
    this.tx = [];
    this.events = [];
    this.lastSent = this.lastReceived = 0;
    this.v5 = o.v5;
    this.outbox = outbox ?? new MqttOutbox({ version });
    this.inflight = this.quota = 0;
    this.rearm = false;
    this.version = version;
    this.decoder = new MqttDecoder({ version, maximumPacketSize: mps, properties: o.v5?.props });
    this.pingAt = -1;
    this.nextId = 1;
    this.options = o;
    this.keepAlive = k;
    this.connectAt = 0;
    if (clock) this.clock = clock;
    // made when first needed: `topic` (the first publish), `pending` (a SUBSCRIBE in flight;
    // a field kept undefined would save a QoS > 0 publish ~190 instructions for 32 B of heap)
    const stored = this.outbox.store?.getMeta("cid");
    const id = o.clientId ?? "";
    this.clientId = id === "" && stored !== undefined ? stored : id;
    try {
      this.connectPacket(); // the options make a valid CONNECT, or the session is not made
    } catch (e) {
      throw refused("MqttSession", e);
    }
  }

  get connected(): boolean {
    return this.state === SessionState.Connected;
  }

  // ---------------------------------------------------------------------------
  // Time: the window of the next deadline

  /** Earliest time handleTimeout has something to do (ms), -1 when nothing is due. */
  get earliest(): number {
    const l = this.latest;
    if (l < 0 || this.state !== SessionState.Connected || this.pingAt >= 0) return l;
    return l - this.keepAlive * 500; // a PINGREQ may go from half the keep alive on
  }

  /** Latest time handleTimeout must be called (ms), -1 when nothing is due. */
  get latest(): number {
    if (this.state === SessionState.Connecting) return this.connectAt + (this.options.connectTimeoutMs ?? 30000);
    const k = this.keepAlive * 1000;
    if (this.state !== SessionState.Connected || k === 0) return -1;
    if (this.pingAt >= 0) return this.pingAt + k / 2;
    return (this.lastSent < this.lastReceived ? this.lastSent : this.lastReceived) + k;
  }

  /** Time has come (anywhere in [earliest, latest]): the CONNACK timeout, a PINGREQ, the PINGRESP timeout. */
  handleTimeout(now: number): void {
    if (this.state === SessionState.Connecting) {
      if (now >= this.latest) this.close(new MqttError("connect-timeout", "CONNACK timeout"));
      return;
    }
    if (this.state !== SessionState.Connected || this.keepAlive === 0) return;
    if (this.pingAt >= 0) {
      // No packet at all for half a keep-alive after our PINGREQ: the link is dead.
      if (now >= this.latest) this.close(new MqttError("keep-alive-timeout", "no PINGRESP", 0x8d, "[MQTT-3.1.2-22]"));
    } else if (now >= this.earliest) {
      this.pingAt = now;
      this.rearm = true;
      this.send(encodePingreq(), now); // [MQTT-3.1.2-20]
    }
  }

  // ---------------------------------------------------------------------------
  // The transport

  /** The CONNECT of the options (§3.1). */
  private connectPacket(): ConnectPacket {
    const o = this.options;
    return {
      type: PacketType.CONNECT,
      protocolVersion: this.version,
      clean: !!o.clean,
      keepAlive: o.keepAlive ?? 60,
      clientId: this.clientId,
      will: o.will,
      username: o.username,
      password: o.password,
      properties: this.v5?.connectProperties(this),
    };
  }

  /** The transport is open: queues CONNECT (§3.1) and waits for CONNACK. */
  connect(now: number): void {
    if (this.state !== SessionState.Disconnected) this.close(undefined);
    this.state = SessionState.Connecting;
    this.rearm = true;
    this.connectAt = this.lastReceived = now;
    this.pingAt = -1;
    this.inflight = 0;
    this.keepAlive = this.options.keepAlive ?? 60;
    this.decoder.reset(this.version);
    this.outbox.restart();
    this.v5?.reset();
    this.send(encodeConnect(this.connectPacket(), this.v5?.props), now);
  }

  /** The transport died (socket error or closed by the peer). */
  connectionLost(now: number, cause?: unknown): void {
    if (this.state === SessionState.Disconnected) return;
    this.close(cause instanceof MqttError ? cause : new MqttError("connection-lost", "connection lost" + (cause ? ": " + why(cause) : ""), undefined, undefined, cause));
    void now;
  }

  /** Bytes from the transport. Never throws. */
  receive(bytes: Uint8Array, now: number): void {
    if (this.state === SessionState.Disconnected) return;
    const d = this.decoder;
    if (this.state === SessionState.Connected && d.input === undefined && d.state === 0 && d.error === undefined) {
      // PUBACKs (a publisher's usual traffic) at the start of the chunk are read here, four
      // bytes each (0x40, Remaining Length 2, a non-zero Packet Identifier: §3.4, the same in
      // 3.1.1 and 5.0), not through the decoder: on XS that halves the cost of an
      // acknowledgement. Anything else, from the first other byte on, goes to the decoder.
      // Each byte is read once: a typed array access costs several property reads on XS.
      const n = bytes.length;
      const box = this.outbox;
      let i = 0;
      while (i + 3 < n && bytes[i] === 0x40 && bytes[i + 1] === 2) {
        const id = (bytes[i + 2] << 8) | bytes[i + 3];
        if (id === 0) break;
        this.lastReceived = now;
        this.pingAt = -1;
        i += 4;
        // onAck() for the usual case, a QoS 1 message in flight (a publisher's every message
        // comes here), written out: a call costs on XS. Anything else goes to onAck, which
        // reports it.
        const table = box.table;
        const e = table && table[id & (box.size - 1)];
        const b = e && e.packetId === id ? e.bytes : undefined;
        const c = box.cursor;
        if (!b || (b[0] & 6) !== 2 || (c !== undefined && e!.seq >= c.seq)) {
          onAck(this, PacketType.PUBACK, id, 0, undefined, now);
          if ((this.state as SessionState) === SessionState.Disconnected) return;
          continue;
        }
        this.inflight--;
        // finish(), written out for this case
        if (box.store) persist(this, 2, e);
        else {
          // MqttOutbox.remove(), written out
          table![id & (box.size - 1)] = undefined;
          const next = e!.next;
          const prev = e!.prev;
          if (c === e) box.cursor = next;
          if (prev) prev.next = next;
          else box.head = next;
          if (next) next.prev = prev;
          else box.tail = prev;
          e!.prev = e!.next = undefined;
          box.bytes -= b.length;
          box.count--;
        }
        const result: DeliveryResult = { packetId: id, topic: e!.topic, qos: 1, reasonCode: 0 }; // no properties: none (an object literal's every property costs on XS)
        this.events.push(MqttEvent.Delivered, result, undefined, e!.token);
        if (box.cursor) pump(this, now);
      }
      if (i === n) return;
      if (i) bytes = bytes.subarray(i);
    }
    d.feed(bytes);
    for (;;) {
      const p = d.next();
      if (p === undefined) break;
      this.lastReceived = now;
      this.pingAt = -1; // any packet proves the link alive
      try {
        dispatch(this, p, now);
      } catch (e) {
        // A session bug must not escape into the socket callback.
        this.violation(0x83, "internal error: " + why(e), "");
      }
      if ((this.state as SessionState) === SessionState.Disconnected) return;
    }
    if (d.error !== undefined) this.violation(d.error.reasonCode, d.error.message, "");
  }

  // ---------------------------------------------------------------------------
  // App operations

  /**
   * Publishes a message. QoS 0 is queued now (needs a connection); QoS 1/2 is stored in the
   * outbox first (committed to the store), then sent when the connection and the send quota
   * allow. Returns the Packet Identifier (0 for QoS 0). Throws MqttError when the message is
   * refused: "invalid", "not-connected" (QoS 0), "packet-too-large", "outbox-full",
   * "storage". `token` comes back with the message's Delivered event.
   */
  publish(topic: string | PreparedTopic, payload: Uint8Array | string, options: PublishOptions | undefined, token: unknown, now: number): number {
    const qos = options?.qos ?? 0;
    const retain = !!options?.retain;
    const data = typeof payload === "string" ? encodeUtf8New(payload) : payload;
    // The constructor first: instanceof is a native call on XS, several times the cost.
    if ((data as { constructor?: unknown } | undefined)?.constructor !== Uint8Array && !(data instanceof Uint8Array)) throw invalid("publish: bad payload");
    if (qos !== 0 && qos !== 1 && qos !== 2) throw invalid("publish: bad qos");
    // The Topic Name rules ([MQTT-3.3.2-2], §4.7) are checked once per topic.
    let t = typeof topic === "string" ? this.topic : topic;
    if (t === undefined || (typeof topic === "string" && t.name !== topic)) {
      try {
        t = this.topic = prepareTopic(topic as string, this.version);
      } catch (e) {
        throw refused("publish", e);
      }
    }
    const v5 = this.v5;
    const box = this.outbox;
    const version = this.version;
    const properties = v5 && options && options.properties ? v5.publishProperties(options.properties, data) : undefined;
    if (qos === 0) {
      if (this.state !== SessionState.Connected) throw new MqttError("not-connected", "publish: not connected");
    } else if (box.count >= box.maxMessages) {
      throw box.refusal(0); // before an identifier is looked for: a full outbox has no free place
    }
    let id = 0;
    if (qos) {
      // allocateId()'s first try, written out (a call costs on XS): the next identifier's place is free
      id = this.nextId;
      const table = box.table; // (not t: that is the prepared topic, used below)
      if ((table && table[id & (box.size - 1)] !== undefined) || this.pending) id = allocateId(this);
      else this.nextId = id === 65535 ? 1 : id + 1;
    }
    let bytes: Uint8Array;
    try {
      bytes = publishFrom(0x30 | (qos << 1) | (retain ? 1 : 0), t, id, version, data, v5?.props, properties);
    } catch (e) {
      throw refused("publish", e);
    }
    if (v5 && this.state === SessionState.Connected) {
      // The server's limits (§3.2.2.3): refused now, the caller keeps the message.
      if (qos > v5.maximumQoS || (retain && !v5.retainAvailable)) throw v5.allowed(qos, retain)!;
      if (v5.maximumPacketSize < MAX_PACKET_SIZE && bytes.length > v5.maximumPacketSize) throw tooLarge(bytes.length); // [MQTT-3.2.2-15]
    }
    if (qos === 0) {
      this.lastSent = now;
      this.tx.push(v5 && v5.topicAliasMaximum ? v5.alias(bytes, t.name) : bytes);
      return 0;
    }
    const createdAt = v5 && properties?.messageExpiryInterval !== undefined ? this.epoch() : NaN;
    const e = box.add(id, t.name, bytes, version, createdAt, token); // throws outbox-full / storage: nothing kept
    // 5.0: the expiry sent, patched at send time (Mqtt5.outgoing); none: no field (one made costs on XS)
    const x = properties ? properties.messageExpiryInterval : undefined;
    if (x) {
      e.expiry = x;
      e.createdAt = createdAt;
      e.createdMono = now;
    }
    if (box.cursor === e && this.inflight < this.quota && this.state === SessionState.Connected && !(v5 && (v5.limited || x))) {
      // pump() for the usual case, the new message alone to send and room for it, written
      // out: a call costs on XS, and a publisher comes here for every message.
      box.cursor = undefined; // e is the last entry
      if (box.store) persist(this, 0, e); // the store's high-water mark first
      else e.sent = true;
      this.inflight++;
      this.lastSent = now;
      this.tx.push(bytes);
    } else pump(this, now);
    return id;
  }

  /** SUBSCRIBE (§3.8) with one or more filters; the Subscribed event gives one reason code per filter. */
  subscribe(subscriptions: Subscription[], options: SubscribeOptions | undefined, token: unknown, now: number): number {
    if (!Array.isArray(subscriptions) || subscriptions.length === 0) throw invalid("subscribe: none", undefined, "[MQTT-3.8.3-2]");
    for (let i = 0; i < subscriptions.length; i++) {
      const s = subscriptions[i];
      const bad = checkTopicFilter(s.topicFilter, this.version);
      if (bad !== undefined) throw invalid("subscribe: " + bad.message, 0x8f, bad.statement);
      if (s.qos !== 0 && s.qos !== 1 && s.qos !== 2) throw invalid("subscribe: bad qos");
    }
    const properties = this.v5?.subscribeProperties(this, subscriptions, options);
    return request(this, PacketType.SUBSCRIBE, subscriptions, properties, token, now);
  }

  /** UNSUBSCRIBE (§3.10); the Subscribed event gives one reason code per filter (5.0; none in 3.1.1). */
  unsubscribe(topicFilters: string[], options: { userProperties?: [string, string][] } | undefined, token: unknown, now: number): number {
    if (!Array.isArray(topicFilters) || topicFilters.length === 0) throw invalid("unsubscribe: none", undefined, "[MQTT-3.10.3-2]");
    for (let i = 0; i < topicFilters.length; i++) {
      const bad = checkTopicFilter(topicFilters[i], this.version);
      if (bad !== undefined) throw invalid("unsubscribe: " + bad.message, 0x8f, bad.statement);
    }
    const properties = this.v5 && options?.userProperties ? { userProperties: options.userProperties } : undefined;
    return request(this, PacketType.UNSUBSCRIBE, topicFilters.slice(), properties, token, now);
  }


  /**
   * Ends the connection with DISCONNECT (§3.14). 0x04 asks the server to publish the Will
   * (5.0). The session then emits Close; the binding closes the transport.
   */
  disconnect(reasonCode: number, properties: MqttProperties | undefined, now: number): void {
    if (this.state === SessionState.Disconnected) return;
    this.send(this.v5 ? this.v5.disconnect(reasonCode, properties) : Uint8Array.of(0xe0, 0), now);
    this.close(undefined);
  }

  /** The answer to an Auth event: the next Authentication Data, or undefined to abandon (5.0 §4.12). */
  authenticate(data: Uint8Array | undefined, now: number): void {
    this.v5?.authenticate(this, data, now);
  }

  // ---------------------------------------------------------------------------
  // Inbound packets








  // ---------------------------------------------------------------------------
  // The outbox


  /** An outbox message is done: removed, and its Delivered event queued. */
  finish(e: OutboxEntry, reasonCode: number, properties: MqttProperties | undefined, error: MqttError | undefined, qos?: QoS): void {
    const box = this.outbox;
    const b = e.bytes;
    if (box.store) persist(this, 2, e);
    else box.remove(e);
    // `qos` when the caller knows it (onAck has read it): a typed array read costs on XS.
    const result: DeliveryResult = { packetId: e.packetId, topic: e.topic, qos: qos || (b ? (((b[0] >> 1) & 3) as 1 | 2) : 2), reasonCode, properties };
    this.events.push(MqttEvent.Delivered, result, error, e.token);
  }



  /** Wall-clock ms (5.0 message expiry), NaN without a source. */
  epoch(): number {
    return this.clock ? this.clock.epoch() : NaN;
  }

  // ---------------------------------------------------------------------------
  // Output

  /** Queues bytes for the transport. */
  send(bytes: Uint8Array, now: number): void {
    if (this.state === SessionState.Disconnected) return;
    this.lastSent = now;
    this.tx.push(bytes);
  }


  /** Queues an event for the app (see MqttEvent). */
  emit(kind: MqttEvent, a?: unknown, b?: unknown, c?: unknown): void {
    this.events.push(kind, a, b, c);
  }

  // ---------------------------------------------------------------------------
  // Errors and the end of a connection

  /**
   * The server broke the protocol (or we must abandon): DISCONNECT with the reason (5.0) or
   * a plain close (3.1.1) (§4.13). The outbox is left as it is.
   */
  violation(reasonCode: number, message: string, statement: string, ours = false): void {
    if (this.state === SessionState.Disconnected) return;
    // DISCONNECT with the reason, nothing more (§3.14.2.1); the time it goes out does not matter any more.
    if (this.v5) this.send(Uint8Array.of(0xe0, 1, reasonCode >= 0x80 ? reasonCode : 0x82), this.lastSent);
    this.close(new MqttError(ours ? "connection-lost" : "protocol", message, reasonCode, statement));
  }

  /** The connection is over: pending requests fail, Error (if any) and Close are queued. */
  close(error: MqttError | undefined): void {
    if (this.state === SessionState.Disconnected) return;
    this.state = SessionState.Disconnected;
    this.decoder.reset(this.version);
    this.pingAt = -1;
    const list = this.pending;
    if (list) delete this.pending;
    if (error) this.emit(MqttEvent.Error, error);
    for (let i = 0; list && i < list.length; i += 4) this.emit(MqttEvent.Subscribed, [], new MqttError("connection-lost", "connection lost"), list[i + 3]);
    this.emit(MqttEvent.Close, error);
  }
}

function dispatch(s: MqttSession, p: MqttPacket, now: number): void {
  if (s.state === SessionState.Connecting && p.type !== PacketType.CONNACK && p.type !== PacketType.AUTH) {
    s.violation(0x82, p.type + " before CONNACK", "[MQTT-3.2.0-1]");
    return;
  }
  switch (p.type) {
    case PacketType.CONNACK:
      return onConnack(s, p, now);
    case PacketType.PUBLISH:
      return onPublish(s, p, now);
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBCOMP:
      return onAck(s, p.type, p.packetId, p.reasonCode ?? 0, p.properties, now);
    case PacketType.PUBREL:
      return onPubrel(s, p, now);
    case PacketType.SUBACK:
    case PacketType.UNSUBACK:
      return onRequestAck(s, p);
    case PacketType.PINGRESP:
      return; // any packet already counted as proof of life
    case PacketType.DISCONNECT:
      if (s.v5) return s.v5.onDisconnect(s, p);
      return s.violation(0x82, "DISCONNECT from a 3.1.1 server", "§3.14");
    case PacketType.AUTH:
      if (s.v5) return s.v5.onAuth(s, p, now);
  }
  // CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ: only a client sends those (AUTH in 3.1.1: the decoder refuses it).
  s.violation(0x82, "client packet " + p.type, "§2.1.2");
}

function onConnack(s: MqttSession, p: ConnackPacket, now: number): void {
  if (s.state !== SessionState.Connecting) {
    s.violation(0x82, "second CONNACK", "[MQTT-3.2.0-2]");
    return;
  }
  const rc = p.reasonCode;
  if (rc !== 0) {
    s.close(withProps(new MqttError("connect-refused", "connection refused: " + hex(rc), rc, s.v5 ? "§3.2.2.2" : "§3.2.2.3"), p.properties));
    return;
  }
  if (p.sessionPresent && s.options.clean) {
    // [MQTT-3.2.2-4]: we have no Session State (we asked for a clean start).
    s.violation(0x82, "Session Present after clean start", s.v5 ? "[MQTT-3.2.2-4]" : "[MQTT-3.2.2-1]");
    return;
  }
  if (s.v5 && !s.v5.onConnack(s, p.properties)) return;
  s.state = SessionState.Connected;
  s.rearm = true;
  // At most min(our cap, the server's Receive Maximum) QoS > 0 PUBLISH in flight (§4.9).
  const mi = s.options.maxInflight ?? (s.v5 ? 65535 : 20);
  s.quota = s.v5 && s.v5.receiveMaximum < mi ? s.v5.receiveMaximum : mi;
  if (!p.sessionPresent) sessionLost(s);
  s.emit(MqttEvent.Connect, { sessionPresent: p.sessionPresent, properties: p.properties, clientId: s.clientId, keepAlive: s.keepAlive });
  pump(s, now);
}

/**
 * The server has no session for us ([MQTT-3.2.2-5]): its packet identifier state is
 * gone. QoS 2 messages it had PUBREC'd were taken over by it and are done; messages it
 * never acknowledged are sent again as new messages (DUP 0) so that none is lost.
 */
function sessionLost(s: MqttSession): void {
  persist(s, 4, undefined);
  for (let e = s.outbox.head; e; ) {
    const next = e.next;
    if (!e.bytes) s.finish(e, 0, undefined, undefined); // released (PUBREL sent)
    else if (e.sent) {
      e.sent = false;
      e.bytes![0] &= ~8;
    }
    e = next;
  }
}

function onPublish(s: MqttSession, p: PublishPacket, now: number): void {
  const topic = s.v5 ? s.v5.inboundTopic(s, p) : p.topic;
  if (topic === undefined) return;
  const id = p.packetId!;
  const message: MqttMessage = { topic, payload: p.payload, qos: p.qos, retain: p.retain, dup: p.dup, packetId: id, properties: p.properties };
  if (p.qos < 2) {
    s.events.push(MqttEvent.Message, message, undefined, undefined);
    if (p.qos) ack(s, PacketType.PUBACK, id, 0, now);
    return;
  }
  if (!s.outbox.hasInbound(id)) {
    // [MQTT-4.3.3-10]: remember the identifier before delivering, so a repeat of this
    // PUBLISH (DUP, or after a reboot) is acknowledged but not delivered again.
    try {
      s.outbox.addInbound(id);
    } catch (e) {
      // Not stored: do not acknowledge, the server sends it again later.
      s.emit(MqttEvent.Error, e);
      s.violation(0x80, "cannot store QoS 2 state", "[MQTT-4.3.3-10]", true);
      return;
    }
    s.emit(MqttEvent.Message, message);
  }
  ack(s, PacketType.PUBREC, id, 0, now); // [MQTT-4.3.3-8]
}

/** PUBACK (§4.3.2), PUBREC, PUBCOMP (§4.3.3) `t` for an outbox message: its identifier, reason code (0 in 3.1.1) and properties. */
function onAck(s: MqttSession, t: number, id: number, rc: number, properties: MqttProperties | undefined, now: number): void {
  const box = s.outbox;
  const table = box.table; // MqttOutbox.get(), written out: a call costs on XS
  let e = table && table[id & (box.size - 1)];
  if (e && e.packetId !== id) e = undefined;
  // PUBACK: a QoS 1 message in flight; PUBREC: a QoS 2 one (or one already released: a
  // repeated PUBREC is answered again); PUBCOMP: a PUBREL in flight. In flight: before the
  // outbox's cursor (MqttOutbox.inflight, written out here: a call costs on XS).
  const b = e && e.bytes;
  const c = box.cursor;
  const inflight = !!e && (c === undefined || e.seq < c.seq);
  const qos = b ? (b[0] >> 1) & 3 : 2;
  if (!e || qos !== (t === PacketType.PUBACK ? 1 : 2) || (t === PacketType.PUBCOMP ? b || !inflight : !(t === PacketType.PUBREC && !b) && !inflight)) {
    s.violation(0x82, "unexpected " + t + " " + id, t === PacketType.PUBACK ? "§4.3.2" : "§4.3.3");
    return;
  }
  if (t === PacketType.PUBREC && (!b || rc < 0x80)) {
    // No PUBREL before the release is stored ([MQTT-4.3.3-6]: the PUBLISH is never sent again
    // after it); not stored, the connection ends and the PUBLISH goes again on the next one.
    if (b && !persist(s, 1, e)) return s.violation(0x80, "cannot store QoS 2 state", "[MQTT-4.3.3-6]", true);
    ack(s, PacketType.PUBREL, id, 0, now); // [MQTT-4.3.3-4]
    return;
  }
  s.inflight--;
  // [MQTT-4.4.0-2]: a failure reason code also acknowledges; the message is not resent.
  s.finish(e, rc, properties, rc >= 0x80 && t !== PacketType.PUBCOMP ? withProps(new MqttError("publish-refused", "refused: " + hex(rc), rc, "[MQTT-4.4.0-2]"), properties) : undefined, qos as QoS);
  if (box.cursor) pump(s, now);
}

function onPubrel(s: MqttSession, p: PubAckPacket, now: number): void {
  const known = s.outbox.hasInbound(p.packetId);
  if (known) persist(s, 3, undefined, p.packetId);
  // [MQTT-4.3.3-11]; 0x92 when we hold no state for it (5.0 §3.7.2.1).
  ack(s, PacketType.PUBCOMP, p.packetId, known || !s.v5 ? 0 : 0x92, now);
}

function onRequestAck(s: MqttSession, p: SubackPacket | UnsubackPacket): void {
  const list = s.pending;
  const sub = p.type === PacketType.SUBACK;
  let i = 0;
  while (list && i < list.length && list[i] !== p.packetId) i += 4;
  if (!list || i >= list.length || list[i + 1] !== (sub ? PacketType.SUBSCRIBE : PacketType.UNSUBSCRIBE)) {
    s.violation(0x82, "unexpected " + p.type + " " + p.packetId, "§3.9.2");
    return;
  }
  if (p.reasonCodes.length !== (sub || s.v5 ? list[i + 2] : 0)) {
    s.violation(0x82, "reason code count", sub ? "[MQTT-3.8.4-6]" : "[MQTT-3.10.4-5]");
    return;
  }
  const token = list[i + 3];
  list.splice(i, 4);
  if (!list.length) delete s.pending; // SUBACKs are rare: no empty array kept, nor its slot
  s.emit(MqttEvent.Subscribed, p.reasonCodes, undefined, token);
}

/** Sends what the outbox holds, in order, as far as the quota allows (§4.9). */
function pump(s: MqttSession, now: number): void {
  if (s.state !== SessionState.Connected) return;
  const box = s.outbox;
  const v5 = s.v5;
  while (s.inflight < s.quota) {
    const e = box.cursor;
    if (!e) return;
    box.cursor = e.next;
    let bytes = e.bytes;
    if (!bytes) {
      // released: its PUBREL again
      s.inflight++;
      ack(s, PacketType.PUBREL, e.packetId, 0, now);
      continue;
    }
    const resend = e.sent;
    if (resend) bytes[0] |= 8; // [MQTT-3.3.1-1]: DUP on a resend
    if (v5 && (v5.limited || e.expiry !== undefined)) {
      // an expiry to patch (or not known yet: loaded after a reboot), a server's limit, an alias
      const out = v5.outgoing(s, e, bytes, now);
      if (out === undefined) continue; // given up (expired, too large, ...) and reported
      bytes = out;
    }
    if (resend) {
      // already handed to the network once
    } else if (box.store) persist(s, 0, e); // the store's high-water mark first
    else e.sent = true;
    s.inflight++;
    s.lastSent = now;
    s.tx.push(bytes);
  }
}

/** An outbox write (0 sent, 1 PUBREC, 2 done, 3 PUBREL of inbound `id`, 4 no session): a storage failure is reported (false), not thrown. */
function persist(s: MqttSession, op: number, e: OutboxEntry | undefined, id = 0): boolean {
  const b = s.outbox;
  try {
    if (op === 0) b.markSent(e!);
    else if (op === 1) b.release(e!);
    else if (op === 2) b.remove(e!);
    else if (op === 3) b.removeInbound(id);
    else b.clearInbound();
  } catch (err) {
    s.emit(MqttEvent.Error, err);
    return false;
  }
  return true;
}

/** A Packet Identifier no outbox message nor pending request has (O(1) on average: the outbox keeps places free). */
function allocateId(s: MqttSession): number {
  const box = s.outbox;
  const t = box.table; // MqttOutbox.free(), written out here: a call costs on XS
  const mask = box.size - 1;
  const p = s.pending;
  for (let n = 0; n < 65535; n++) {
    const id = s.nextId;
    s.nextId = id === 65535 ? 1 : id + 1;
    if ((!t || t[id & mask] === undefined) && (!p || p.indexOf(id) < 0)) return id;
  }
  throw new MqttError("outbox-full", "no free packet identifier");
}

/**
 * PUBACK / PUBREC / PUBREL / PUBCOMP: with reason code 0 the same four bytes in both
 * versions; a 5.0 failure code (only PUBCOMP 0x92 is sent) follows them, with no Property
 * Length (§3.4.2.1, §3.7.2.1).
 */
function ack(s: MqttSession, type: number, id: number, rc: number, now: number): void {
  const first = (type << 4) | (type === PacketType.PUBREL ? 2 : 0);
  s.send(rc ? Uint8Array.of(first, 3, id >> 8, id & 0xff, rc) : Uint8Array.of(first, 2, id >> 8, id & 0xff), now);
}

/** Sends a SUBSCRIBE or UNSUBSCRIBE and remembers it until its acknowledgement. */
function request(s: MqttSession, type: number, list: unknown[], properties: MqttProperties | undefined, token: unknown, now: number): number {
  if (s.state !== SessionState.Connected) throw new MqttError("not-connected", (type === PacketType.SUBSCRIBE ? "" : "un") + "subscribe: not connected");
  const id = allocateId(s);
  const v = s.version;
  const props = s.v5?.props;
  let bytes: Uint8Array;
  try {
    bytes =
      type === PacketType.SUBSCRIBE
        ? encodeSubscribe({ type: PacketType.SUBSCRIBE, packetId: id, subscriptions: list as Subscription[], properties }, v, props)
        : encodeUnsubscribe({ type: PacketType.UNSUBSCRIBE, packetId: id, topicFilters: list as string[], properties }, v, props);
  } catch (e) {
    // What the checks above leave to the encoder (a lone surrogate [MQTT-1.5.4-1] in a filter or a User Property): refused as publish() refuses it
    throw refused(type === PacketType.SUBSCRIBE ? "subscribe" : "unsubscribe", e);
  }
  // [MQTT-3.2.2-15]: every packet, not only PUBLISH; refused now, the caller keeps its request
  if (s.v5 && bytes.length > s.v5.maximumPacketSize) throw tooLarge(bytes.length);
  (s.pending || (s.pending = [])).push(id, type, list.length, token);
  s.send(bytes, now);
  return id;
}
