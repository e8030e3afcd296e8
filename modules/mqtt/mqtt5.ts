/*
 * Mqtt5: what MQTT 5.0 adds to the session (./session.ts), as a part the session is given
 * (`new MqttSession({ v5: new Mqtt5(options) })`, or the client's `v5` option). A 3.1.1-only
 * build never imports this module, nor the properties codec it brings (./properties.ts).
 *
 * - CONNECT properties: Session Expiry, Receive Maximum, Maximum Packet Size, Topic Alias
 *   Maximum, request/problem information, user properties, Authentication Method/Data.
 * - The server's CONNACK: its limits (Receive Maximum, Maximum Packet Size, Topic Alias
 *   Maximum, Maximum QoS, Retain / Wildcard / Subscription Identifier availability), Server
 *   Keep Alive [MQTT-3.2.2-21], Assigned Client Identifier (kept in the store).
 * - Checks of the properties an app gives to PUBLISH and SUBSCRIBE.
 * - Message expiry (§3.3.2.3.3): a message in the outbox, never sent, whose interval has
 *   passed is given up ("expired"); the interval sent is what remains, patched into the
 *   stored bytes' copy at send time.
 * - Topic aliases (§3.3.2.3.4): outbound ones automatic (the first PUBLISH to a topic carries
 *   topic + alias, the next ones an empty topic + alias, derived from the encoded PUBLISH at
 *   send time; the least recently used alias is reassigned when all are taken; none where
 *   an alias would not save bytes); inbound ones resolved (0 or above our maximum is 0x94,
 *   an unknown alias 0x82).
 * - The server's DISCONNECT with reason and Server Reference; enhanced authentication
 *   (§4.12) and re-authentication.
 */
import { utf8Invalid, utf8Length } from "../bytes/utf8";
import { MAX_PACKET_SIZE } from "./decoder";
import { frame } from "./encode";
import { encodeAuth, encodeDisconnect } from "./encode-packets";
import type { OutboxEntry } from "./outbox";
import { PacketType } from "./packets";
import type { AuthPacket, DisconnectPacket, PropertiesCodec, PublishPacket, QoS, Subscription } from "./packets";
import type { MqttProperties } from "./properties";
import { PROPERTY_BY_ID, properties5 } from "./properties";
import type { AuthExchange, DisconnectInfo, MqttSession, SubscribeOptions } from "./session";
import { hex, invalid, MqttEvent, refused, SessionState, tooLarge, withProps } from "./session";
import { MqttError } from "./session-error";
import { checkTopicName } from "./topic";
import { varintAt, varintLength, writeVarint } from "./wire";

export interface Mqtt5Options {
  /** Session Expiry Interval in seconds (default 0; 0xFFFFFFFF = never). */
  sessionExpiryInterval?: number;
  /** Receive Maximum we announce (default 16). */
  receiveMaximum?: number;
  /** Topic Alias Maximum we announce for inbound aliases (default 16). */
  topicAliasMaximum?: number;
  /** Use outbound topic aliases when the server allows them (default true). */
  outboundTopicAliases?: boolean;
  requestResponseInformation?: boolean;
  requestProblemInformation?: boolean;
  /** User Properties of the CONNECT. */
  userProperties?: [string, string][];
  /** Enhanced authentication (§4.12). */
  auth?: { method: string; data?: Uint8Array };
}

/** The topic aliases of one connection (§3.3.2.3.4), made with its first alias either way. */
interface TopicAliases {
  /** Outbound: topic -> alias, alias -> topic, alias -> last use, the use counter. */
  of: Map<string, number>;
  topic: string[];
  used: number[];
  clock: number;
  /** Inbound: alias -> topic. */
  inbound: string[];
}

/** Offsets in an encoded PUBLISH: [topic length, Property Length, properties, payload]. */
function parts(b: Uint8Array): [number, number, number, number] {
  const o = varintAt(b, 1)[1];
  const id = o + 2 + ((b[o] << 8) | b[o + 1]);
  const pl = id + ((b[0] & 6) !== 0 ? 2 : 0);
  const v = varintAt(b, pl); // [Property Length, offset after it]: read by index (array destructuring runs the iterator protocol on XS)
  return [o, pl, v[1], v[1] + v[0]];
}

/** Offset of the value of property `id` in an encoded 5.0 PUBLISH, or -1. */
function findProperty(b: Uint8Array, id: number): number {
  const q = parts(b);
  const end = q[3];
  for (let o = q[2]; o < end; ) {
    const k = b[o++]; // every identifier of Table 2-4 is below 0x80: one byte
    if (k === id) return o;
    const d = PROPERTY_BY_ID[k];
    if (!d) return -1;
    const t = d.type; // 1 Byte, 2 Two, 3 Four, 4 varint, 5 string, 6 binary, 7 string pair
    if (t <= 3) o += t === 3 ? 4 : t;
    else if (t === 4) o = varintAt(b, o)[1];
    else {
      o += 2 + ((b[o] << 8) | b[o + 1]);
      if (t === 7) o += 2 + ((b[o] << 8) | b[o + 1]);
    }
  }
  return -1;
}

export class Mqtt5 {
  // Every field is assigned in the constructor (`declare`: class field initializers cost XS bytecode).
  /** The 5.0 properties codec, handed to the encoders and the decoder. */
  declare readonly props: PropertiesCodec;
  declare readonly options: Mqtt5Options;
  /** The server's CONNACK properties of the current connection. */
  declare serverProperties: MqttProperties | undefined;
  /** The server's limits on this connection (the defaults until its CONNACK). */
  declare receiveMaximum: number;
  /** No Maximum Packet Size from the server: MAX_PACKET_SIZE, the largest an MQTT packet can be (§2.2.3). */
  declare maximumPacketSize: number;
  declare topicAliasMaximum: number;
  declare maximumQoS: QoS;
  declare retainAvailable: boolean;
  declare wildcardAvailable: boolean;
  declare subscriptionIdsAvailable: boolean;
  /**
   * The server limits what we send (Maximum QoS, Retain Available, Maximum Packet Size) or
   * takes topic aliases: outgoing() has work for every PUBLISH. Without, the session calls it
   * only for a message with an expiry (a call costs on XS).
   */
  declare limited: boolean;
  /** Topic alias state of this connection, made with the first alias (one field, not five). */
  private declare aliases: TopicAliases | undefined;
  /** An AUTH awaits the app's answer (authenticate()). */
  private declare authPending: boolean;

  constructor(options: Mqtt5Options = {}) {
    const rm = options.receiveMaximum ?? 16;
    if (!(rm >= 1 && rm <= 65535)) throw invalid("Mqtt5: receiveMaximum 1..65535");
    this.props = properties5;
    this.options = options;
    this.reset();
  }

  /** A new connection: the server's limits back to the defaults, no alias [MQTT-3.3.2-7]. */
  reset(): void {
    this.serverProperties = this.aliases = undefined;
    this.receiveMaximum = 65535;
    this.maximumPacketSize = MAX_PACKET_SIZE;
    this.topicAliasMaximum = 0;
    this.maximumQoS = 2;
    this.retainAvailable = this.wildcardAvailable = this.subscriptionIdsAvailable = true;
    this.limited = this.authPending = false;
  }

  /** The CONNECT properties (§3.1.2.11). */
  connectProperties(s: MqttSession): MqttProperties {
    const o = this.options;
    const p: MqttProperties = {};
    if (o.sessionExpiryInterval) p.sessionExpiryInterval = o.sessionExpiryInterval;
    const rm = o.receiveMaximum ?? 16;
    if (rm !== 65535) p.receiveMaximum = rm;
    const mps = s.decoder.maximumPacketSize;
    if (mps < MAX_PACKET_SIZE) p.maximumPacketSize = mps;
    const tam = o.topicAliasMaximum ?? 16;
    if (tam) p.topicAliasMaximum = tam;
    if (o.requestResponseInformation) p.requestResponseInformation = 1;
    if (o.requestProblemInformation === false) p.requestProblemInformation = 0;
    if (o.userProperties) p.userProperties = o.userProperties;
    if (o.auth) {
      p.authenticationMethod = o.auth.method;
      if (o.auth.data) p.authenticationData = o.auth.data;
    }
    return p;
  }

  /** A successful CONNACK's properties: the server's limits. False after a violation. */
  onConnack(s: MqttSession, props: MqttProperties | undefined): boolean {
    const o = this.options;
    this.serverProperties = props;
    this.receiveMaximum = props?.receiveMaximum ?? 65535;
    this.maximumPacketSize = props?.maximumPacketSize ?? MAX_PACKET_SIZE;
    this.topicAliasMaximum = o.outboundTopicAliases === false ? 0 : props?.topicAliasMaximum ?? 0;
    this.maximumQoS = (props?.maximumQoS ?? 2) as QoS;
    this.retainAvailable = props?.retainAvailable !== 0;
    this.wildcardAvailable = props?.wildcardSubscriptionAvailable !== 0;
    this.subscriptionIdsAvailable = props?.subscriptionIdentifiersAvailable !== 0;
    this.limited = this.maximumQoS < 2 || !this.retainAvailable || this.maximumPacketSize < MAX_PACKET_SIZE || this.topicAliasMaximum > 0;
    if (props?.serverKeepAlive !== undefined) s.keepAlive = props.serverKeepAlive; // [MQTT-3.2.2-21]
    const assigned = props?.assignedClientIdentifier;
    if (assigned !== undefined) {
      s.clientId = assigned;
      try {
        s.outbox.store?.setMeta("cid", assigned);
      } catch (e) {
        s.emit(MqttEvent.Error, e);
      }
    }
    if (o.auth && props?.authenticationMethod !== undefined && props.authenticationMethod !== o.auth.method) {
      s.violation(0x82, "CONNACK Authentication Method differs", "[MQTT-4.12.0-5]");
      return false;
    }
    return true;
  }

  /** The properties an app gives a PUBLISH, checked; throws MqttError "invalid". */
  publishProperties(properties: MqttProperties | undefined, payload: Uint8Array): MqttProperties | undefined {
    if (properties === undefined) return undefined;
    if (properties.topicAlias !== undefined) throw invalid("publish: topicAlias is automatic");
    if (properties.subscriptionIdentifiers !== undefined) throw invalid("publish: Subscription Identifier", undefined, "[MQTT-3.3.4-6]");
    if (properties.responseTopic !== undefined) {
      const r = checkTopicName(properties.responseTopic, 5);
      if (r !== undefined) throw invalid("publish: Response Topic: " + r.message, r.reasonCode, "[MQTT-3.3.2-14]");
    }
    if (properties.payloadFormatIndicator === 1 && utf8Invalid(payload) >= 0) throw invalid("publish: Payload Format Indicator 1, not UTF-8", 0x99, "§3.3.2.3.2");
    return properties;
  }

  /** The server's Maximum QoS and Retain Available ([MQTT-3.2.2-11], [MQTT-3.2.2-14]). */
  allowed(qos: number, retain: boolean): MqttError | undefined {
    if (qos > this.maximumQoS) return invalid("QoS > Maximum QoS", 0x9b, "[MQTT-3.2.2-11]");
    if (retain && !this.retainAvailable) return invalid("retain unavailable", 0x9a, "[MQTT-3.2.2-14]");
    return undefined;
  }

  /**
   * The bytes to send for outbox message `e` (encoded as `bytes`) on this connection: its
   * remaining expiry patched in, topic-aliased. Undefined when it is given up (expired, over
   * the server's limits), reported through the session.
   */
  outgoing(s: MqttSession, e: OutboxEntry, bytes: Uint8Array, now: number): Uint8Array | undefined {
    let expiry = e.expiry;
    if (expiry === -1) {
      // Loaded after a reboot: look the interval up once in the stored bytes.
      const at = findProperty(bytes, 0x02);
      expiry = e.expiry = at < 0 ? 0 : ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
    }
    let out = bytes;
    if (expiry) {
      // Message expiry (§3.3.2.3.3): time is wall-clock when the host has it (so it counts
      // across deep sleep), else monotonic since boot.
      const epoch = s.epoch();
      const created = e.createdAt ?? NaN;
      const elapsed = created === created && epoch === epoch ? epoch - created : now - (e.createdMono ?? now);
      let remaining = expiry - Math.floor(elapsed / 1000);
      if (remaining <= 0) {
        if (!e.sent) {
          s.finish(e, 0, undefined, new MqttError("expired", "expired in the outbox", undefined, "§3.3.2.3.3"));
          return undefined;
        }
        remaining = 1; // [MQTT-4.3.3-7]: once sent, it is no longer ours to expire
      }
      out = bytes.slice();
      const at = findProperty(out, 0x02);
      out[at] = remaining >>> 24;
      out[at + 1] = (remaining >>> 16) & 0xff;
      out[at + 2] = (remaining >>> 8) & 0xff;
      out[at + 3] = remaining & 0xff;
    }
    // The server's limits, when it set some (their defaults let every PUBLISH through: the
    // bytes are read only when needed, a typed array access costs on XS).
    if (this.limited) {
      const n = out.length;
      const b0 = bytes[0];
      if (((b0 >> 1) & 3) > this.maximumQoS || ((b0 & 1) === 1 && !this.retainAvailable) || n > this.maximumPacketSize) {
        s.finish(e, 0, undefined, this.allowed((b0 >> 1) & 3, (b0 & 1) === 1) || tooLarge(n));
        return undefined;
      }
    }
    return this.topicAliasMaximum ? this.alias(out, e.topic) : out;
  }

  /**
   * The PUBLISH `bytes` (to `topic`) with a Topic Alias when the server allows some and it
   * saves bytes: the first to a topic carries topic + alias, the next ones an empty topic +
   * alias. Otherwise `bytes` as they are.
   */
  alias(bytes: Uint8Array, topic: string): Uint8Array {
    const max = this.topicAliasMaximum;
    if (max === 0 || utf8Length(topic) <= 3) return bytes; // an alias costs 3 bytes of property
    const a = this.topicAliases();
    let alias = a.of.get(topic);
    const known = alias !== undefined;
    // [Topic Name, or an empty one][Packet Identifier][Property Length][Topic Alias][properties][payload]
    const q = parts(bytes);
    const o = q[0];
    const pl = q[1];
    const p = q[2];
    const payload = q[3];
    const idl = (bytes[0] & 6) !== 0 ? 2 : 0;
    const n = payload - p + 3;
    const topicPart = known ? 2 : pl - idl - o;
    const rl = topicPart + idl + varintLength(n) + n + bytes.length - payload;
    // [MQTT-3.2.2-15]: the alias's 3 bytes must not take a PUBLISH that fits past the server's
    // Maximum Packet Size; it then goes with its Topic Name alone (an empty one is shorter).
    if (!known && rl + 1 + varintLength(rl) > this.maximumPacketSize) return bytes;
    if (alias === undefined) {
      // The next free alias, else the least recently used one.
      alias = a.topic.length || 1;
      if (alias > max) {
        alias = 1;
        for (let i = 2; i <= max; i++) if (a.used[i] < a.used[alias]) alias = i;
        a.of.delete(a.topic[alias]);
      }
      a.topic[alias] = topic;
      a.of.set(topic, alias); // [MQTT-3.3.2-8], [MQTT-3.3.2-9]: 1..server maximum
    }
    a.used[alias] = ++a.clock;
    const out = frame(bytes[0], rl, PacketType.PUBLISH);
    let w = out.length - rl;
    if (known) w += 2; // a zero-length Topic Name, the alias stands for it (§3.3.2.3.4)
    else {
      out.set(bytes.subarray(o, pl - idl), w);
      w += topicPart;
    }
    out.set(bytes.subarray(pl - idl, pl), w);
    w = writeVarint(out, w + idl, n);
    out[w++] = 0x23;
    out[w++] = alias >> 8;
    out[w++] = alias & 0xff;
    out.set(bytes.subarray(p), w); // the other properties, then the payload
    return out;
  }

  /** This connection's topic alias state, made with its first alias either way. */
  private topicAliases(): TopicAliases {
    return this.aliases || (this.aliases = { of: new Map(), topic: [], used: [], clock: 0, inbound: [] });
  }

  /** The Topic Name of an inbound PUBLISH, aliases resolved; undefined after a violation. */
  inboundTopic(s: MqttSession, p: PublishPacket): string | undefined {
    const props = p.properties;
    let topic = p.topic;
    const rm = this.options.receiveMaximum ?? 16;
    if (p.qos === 2 && !s.outbox.hasInbound(p.packetId!) && s.outbox.inboundCount >= rm) {
      // [MQTT-3.3.4-9]: more QoS 2 messages unreleased than our Receive Maximum.
      s.violation(0x93, "over Receive Maximum", "[MQTT-3.3.4-9]");
      return undefined;
    }
    const alias = props?.topicAlias;
    if (alias !== undefined) {
      if (alias === 0 || alias > (this.options.topicAliasMaximum ?? 16)) {
        s.violation(0x94, "Topic Alias " + alias, alias === 0 ? "[MQTT-3.3.2-8]" : "[MQTT-3.1.2-26]");
        return undefined;
      }
      if (topic === "") {
        const t = this.aliases?.inbound[alias];
        if (t === undefined) {
          s.violation(0x82, "unknown Topic Alias " + alias, "§3.3.4");
          return undefined;
        }
        topic = t;
      } else {
        this.topicAliases().inbound[alias] = topic;
      }
    }
    return topic;
  }

  /** SUBSCRIBE properties (Subscription Identifier, User Properties), the subscriptions checked against the server's limits. */
  subscribeProperties(s: MqttSession, subs: Subscription[], options: SubscribeOptions | undefined): MqttProperties | undefined {
    const connected = s.state === SessionState.Connected;
    for (let i = 0; i < subs.length; i++) {
      const f = subs[i].topicFilter;
      if (subs[i].noLocal && f.startsWith("$share/")) throw invalid("subscribe: No Local on a Shared Subscription", 0x82, "[MQTT-3.8.3-4]");
      if (connected && !this.wildcardAvailable && (f.indexOf("+") >= 0 || f.indexOf("#") >= 0)) throw invalid("subscribe: no wildcards", 0xa2, "§3.2.2.3.14");
    }
    if (!options) return undefined;
    const properties: MqttProperties = {};
    const id = options.subscriptionIdentifier;
    if (id !== undefined) {
      if (!(id >= 1 && id <= 268435455) || (id | 0) !== id) throw invalid("subscribe: Subscription Identifier 1..268435455", undefined, "§3.8.2.1.2");
      if (connected && !this.subscriptionIdsAvailable) throw invalid("subscribe: no Subscription Identifiers", 0xa1, "§3.2.2.3.15");
      properties.subscriptionIdentifiers = [id];
    }
    if (options.userProperties) properties.userProperties = options.userProperties;
    return properties;
  }

  /**
   * A DISCONNECT with the app's reason and properties; Reason String, then User Properties,
   * dropped when the packet would pass the server's Maximum Packet Size ([MQTT-3.14.2-3],
   * [MQTT-3.14.2-4]).
   */
  disconnect(reasonCode: number, properties: MqttProperties | undefined): Uint8Array {
    const p: DisconnectPacket = { type: PacketType.DISCONNECT, reasonCode, properties };
    try {
      let bytes = encodeDisconnect(p, 5, this.props);
      for (let k = 0; properties && k < 2 && bytes.length > this.maximumPacketSize; k++) {
        properties = { ...properties };
        if (k === 0) delete properties.reasonString;
        else delete properties.userProperties;
        p.properties = properties;
        bytes = encodeDisconnect(p, 5, this.props);
      }
      return bytes;
    } catch (e) {
      // A reason code not for DISCONNECT (Table 3-10), a lone surrogate [MQTT-1.5.4-1] ...: refused, nothing sent or ended
      throw refused("disconnect", e);
    }
  }

  /** The server's DISCONNECT (§3.14). */
  onDisconnect(s: MqttSession, p: DisconnectPacket): void {
    const rc = p.reasonCode ?? 0;
    const props = p.properties;
    if (props?.sessionExpiryInterval !== undefined) {
      s.violation(0x82, "Session Expiry Interval on DISCONNECT", "[MQTT-3.14.2-2]");
      return;
    }
    const info: DisconnectInfo = { reasonCode: rc, reasonString: props?.reasonString, serverReference: props?.serverReference, properties: props };
    s.emit(MqttEvent.Disconnect, info);
    // [MQTT-3.14.4-1]: after DISCONNECT nothing more is sent; close.
    s.close(rc ? withProps(new MqttError("server-disconnect", "server disconnected: " + hex(rc), rc, "§3.14.2.1"), props) : undefined);
  }

  /** The server's AUTH (§4.12): an Auth event; the app answers through authenticate(). */
  onAuth(s: MqttSession, p: AuthPacket, now: number): void {
    const auth = this.options.auth;
    const props = p.properties;
    if (!auth) {
      s.violation(0x82, "AUTH without enhanced authentication", "[MQTT-4.12.0-6]");
      return;
    }
    if (props?.authenticationMethod !== auth.method) {
      s.violation(0x82, "AUTH method differs", "[MQTT-4.12.0-5]");
      return;
    }
    const rc = p.reasonCode ?? 0;
    if (rc === 0x19 || (rc === 0 && s.state === SessionState.Connecting)) {
      s.violation(0x82, "AUTH " + rc, "§4.12");
      return;
    }
    this.authPending = rc !== 0;
    const exchange: AuthExchange = { reasonCode: rc, method: auth.method, data: props?.authenticationData, properties: props };
    s.emit(MqttEvent.Auth, exchange);
    void now;
  }

  /** The app's answer to an AUTH 0x18: the next Authentication Data (AUTH 0x18), or undefined to abandon (DISCONNECT 0x87). */
  authenticate(s: MqttSession, data: Uint8Array | undefined, now: number): void {
    if (!this.authPending) return;
    this.authPending = false;
    if (data === undefined) {
      s.violation(0x87, "authentication abandoned", "§4.12", true);
      return;
    }
    s.send(encodeAuth({ type: PacketType.AUTH, reasonCode: 0x18, properties: { authenticationMethod: this.options.auth!.method, authenticationData: data } }, this.props), now);
  }

  /** Re-authentication (§4.12.1): AUTH 0x19 with new Authentication Data. */
  reauthenticate(s: MqttSession, data: Uint8Array | undefined, now: number): void {
    const auth = this.options.auth;
    if (!auth) throw invalid("reauthenticate: no enhanced authentication", undefined, "[MQTT-4.12.1-1]");
    if (s.state !== SessionState.Connected) throw new MqttError("not-connected", "reauthenticate: not connected");
    const properties: MqttProperties = { authenticationMethod: auth.method };
    if (data) properties.authenticationData = data;
    s.send(encodeAuth({ type: PacketType.AUTH, reasonCode: 0x19, properties }, this.props), now);
  }
}
