/*
 * MqttSession: the MQTT 3.1.1 / 5.0 client session (sans-IO). The protocol core, the
 * 3.1.1 behaviour and everything both versions share are in ./session-core.ts
 * (MqttSessionCore, whose header lists what the session implements); this subclass adds
 * the 5.0-only machinery, so that a 3.1.1-only build (./client311.ts) carries none of it:
 *
 * - the 5.0 properties codec (./properties.ts `properties5`, given to the core);
 * - CONNECT properties (Session Expiry, Receive Maximum, Maximum Packet Size, Topic Alias
 *   Maximum, request/problem information, user properties, Authentication Method/Data);
 * - checks of the properties an app gives to PUBLISH and SUBSCRIBE;
 * - topic aliases (§3.3.2.3.4): outbound ones automatic (first PUBLISH to a topic carries
 *   topic + alias, the next ones an empty topic + alias; the least recently used alias is
 *   reassigned when all are taken; none where an alias would not save bytes), inbound ones
 *   resolved (0 or above our maximum is 0x94, an unknown alias 0x82);
 * - enhanced authentication (§4.12) through handler.onAuth, and re-authentication;
 * - dropping Reason String / User Properties from packets that would pass the server's
 *   Maximum Packet Size ([MQTT-3.4.2-2], [MQTT-3.4.2-3]).
 *
 * The class works for version 4 as well (every 5.0 step is skipped there).
 */
import { utf8Invalid, utf8Length } from "../bytes/utf8";
import { MAX_PACKET_SIZE } from "./decoder";
import type { OutboxEntry } from "./outbox";
import type { AuthPacket, DisconnectPacket, MqttPacket, PublishPacket, QoS, Subscription } from "./packets";
import type { MqttProperties } from "./properties";
import { properties5 } from "./properties";
import type { AuthExchange, DisconnectInfo, MqttMessage, MqttSessionOptions, PublishCallback, PublishOptions, SubscribeOptions } from "./session-core";
import { hex, invalid, MqttSessionCore, withProps } from "./session-core";
import { MqttError } from "./session-error";
import { checkTopicName } from "./topic";

export * from "./session-core";

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

export class MqttSession extends MqttSessionCore {
  // Topic alias state of this connection, created with the first alias (a 3.1.1 connection,
  // or a server allowing none, never has any): one field, not five, per session.
  protected aliases: TopicAliases | undefined = undefined;

  constructor(options: MqttSessionOptions) {
    super(options, properties5);
  }

  /** The connection's alias state, made now if it has none. */
  protected topicAliases(): TopicAliases {
    return this.aliases || (this.aliases = { of: new Map(), topic: [], used: [], clock: 0, inbound: [] });
  }

  protected override supports5(): boolean {
    return true;
  }

  protected override connectProperties(): MqttProperties | undefined {
    if (this.version !== 5) return undefined;
    const o = this.options;
    const p: MqttProperties = {};
    if (o.sessionExpiryInterval) p.sessionExpiryInterval = o.sessionExpiryInterval;
    const rm = o.receiveMaximum ?? 16;
    if (rm !== 65535) p.receiveMaximum = rm;
    const mps = this.decoder.maximumPacketSize;
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

  protected override publishProperties(properties: MqttProperties | undefined, bytes: Uint8Array): MqttProperties | undefined {
    if (properties === undefined || this.version !== 5) return undefined;
    if (properties.topicAlias !== undefined) throw invalid("publish: topicAlias is automatic");
    if (properties.subscriptionIdentifiers !== undefined) throw invalid("publish: Subscription Identifier", undefined, "[MQTT-3.3.4-6]");
    if (properties.responseTopic !== undefined) {
      const r = checkTopicName(properties.responseTopic, 5);
      if (r !== undefined) throw invalid("publish: Response Topic: " + r.message, r.reasonCode, "[MQTT-3.3.2-14]");
    }
    if (properties.payloadFormatIndicator === 1 && utf8Invalid(bytes) >= 0) throw invalid("publish: Payload Format Indicator 1, not UTF-8", 0x99, "§3.3.2.3.2");
    return properties;
  }

  protected override subscribeProperties(subs: Subscription[] | undefined, options: SubscribeOptions | undefined): MqttProperties | undefined {
    if (this.version !== 5) return undefined;
    const connected = this.state === "connected";
    for (let i = 0; subs && i < subs.length; i++) {
      const f = subs[i].topicFilter;
      if (subs[i].noLocal && f.startsWith("$share/")) throw invalid("subscribe: No Local on a Shared Subscription", 0x82, "[MQTT-3.8.3-4]");
      if (connected && !this.serverWildcardAvailable && /[+#]/.test(f)) throw invalid("subscribe: no wildcards", 0xa2, "§3.2.2.3.14");
    }
    if (!options) return undefined;
    const properties: MqttProperties = {};
    const id = options.subscriptionIdentifier;
    if (subs && id !== undefined) {
      if (!(id >= 1 && id <= 268435455) || (id | 0) !== id) throw invalid("subscribe: Subscription Identifier 1..268435455", undefined, "§3.8.2.1.2");
      if (connected && !this.serverSubscriptionIdsAvailable) throw invalid("subscribe: no Subscription Identifiers", 0xa1, "§3.2.2.3.15");
      properties.subscriptionIdentifiers = [id];
    }
    if (options.userProperties) properties.userProperties = options.userProperties;
    else if (!subs) return undefined;
    return properties;
  }

  /** Request / response (§4.10): publishes `payload` to the request's Response Topic with its Correlation Data. */
  override respond(request: MqttMessage, payload: Uint8Array | string, options?: PublishOptions, callback?: PublishCallback): number {
    const rp = request.properties;
    if (!rp || rp.responseTopic === undefined) return super.respond(request, payload, options, callback);
    const properties: MqttProperties = { ...(options?.properties ?? {}) };
    if (rp.correlationData !== undefined) properties.correlationData = rp.correlationData;
    return this.publish(rp.responseTopic, payload, { qos: options?.qos, retain: options?.retain, properties }, callback);
  }

  protected override connackProperties(props: MqttProperties | undefined): boolean {
    if (this.version === 4) return true; // no properties: the prototype's 3.1.1 limits stand
    const o = this.options;
    this.serverProperties = props;
    this.serverReceiveMaximum = props?.receiveMaximum ?? 65535;
    this.serverMaximumPacketSize = props?.maximumPacketSize ?? MAX_PACKET_SIZE;
    this.serverTopicAliasMaximum = o.outboundTopicAliases === false ? 0 : props?.topicAliasMaximum ?? 0;
    this.serverMaximumQoS = (props?.maximumQoS ?? 2) as QoS;
    this.serverRetainAvailable = props?.retainAvailable !== 0;
    this.serverWildcardAvailable = props?.wildcardSubscriptionAvailable !== 0;
    this.serverSubscriptionIdsAvailable = props?.subscriptionIdentifiersAvailable !== 0;
    this.keepAlive = props?.serverKeepAlive ?? o.keepAlive ?? 60; // [MQTT-3.2.2-21]
    if (props?.assignedClientIdentifier !== undefined) {
      this.store("setMeta", "cid", (this.clientId = props.assignedClientIdentifier));
    }
    if (o.auth && props?.authenticationMethod !== undefined && props.authenticationMethod !== o.auth.method) {
      this.violation(0x82, "CONNACK Authentication Method differs", "[MQTT-4.12.0-5]");
      return false;
    }
    return true;
  }

  protected override onDisconnect(p: DisconnectPacket): void {
    if (this.version === 4) return super.onDisconnect(p);
    const rc = p.reasonCode ?? 0;
    const props = p.properties;
    if (props?.sessionExpiryInterval !== undefined) {
      this.violation(0x82, "Session Expiry Interval on DISCONNECT", "[MQTT-3.14.2-2]");
      return;
    }
    const info: DisconnectInfo = { reasonCode: rc, reasonString: props?.reasonString, serverReference: props?.serverReference, properties: props };
    this.emit("onDisconnect", info);
    // [MQTT-3.14.4-1]: after DISCONNECT nothing more is sent; close.
    this.teardown(rc ? withProps(new MqttError("server-disconnect", "server disconnected: " + hex(rc), rc, "§3.14.2.1"), props) : undefined, true);
  }

  /** Message expiry (§3.3.2.3.3): the interval sent is what remains; an expired message never sent is dropped. */
  protected override outboxProperties(e: OutboxEntry): MqttProperties | undefined | null {
    const props = this.version === 5 ? e.properties : undefined;
    const expiry = props?.messageExpiryInterval;
    if (expiry === undefined) return props;
    const epochNow = this.scheduler.clock.epoch();
    const elapsedMs = e.createdAt === e.createdAt && epochNow === epochNow ? epochNow - e.createdAt : this.scheduler.now() - e.createdMono;
    let remaining = expiry - Math.floor(elapsedMs / 1000);
    if (remaining <= 0) {
      if (!e.sent) {
        this.finish(e, 0, undefined, new MqttError("expired", "expired in the outbox", undefined, "§3.3.2.3.3"));
        return null;
      }
      remaining = 1; // [MQTT-4.3.3-7]: once sent, it is no longer ours to expire
    }
    return { ...props, messageExpiryInterval: remaining };
  }

  protected override inboundTopic(p: PublishPacket): string | undefined {
    const props = p.properties;
    let topic = p.topic;
    if (p.qos === 2 && this.version === 5 && !this.outbox.hasInbound(p.packetId!) && this.outbox.inboundCount >= (this.options.receiveMaximum ?? 16)) {
      // [MQTT-3.3.4-9]: more QoS 2 messages unreleased than our Receive Maximum.
      this.violation(0x93, "over Receive Maximum", "[MQTT-3.3.4-9]");
      return undefined;
    }
    if (this.version === 5 && props !== undefined && props.topicAlias !== undefined) {
      const alias = props.topicAlias;
      if (alias === 0 || alias > (this.options.topicAliasMaximum ?? 16)) {
        this.violation(0x94, "Topic Alias " + alias, alias === 0 ? "[MQTT-3.3.2-8]" : "[MQTT-3.1.2-26]");
        return undefined;
      }
      if (topic === "") {
        const t = this.aliases?.inbound[alias];
        if (t === undefined) {
          this.violation(0x82, "unknown Topic Alias " + alias, "§3.3.4");
          return undefined;
        }
        topic = t;
      } else {
        this.topicAliases().inbound[alias] = topic;
      }
    }
    return topic;
  }

  /** 5.0 re-authentication (§4.12.1): AUTH 0x19 with new Authentication Data. */
  override reauthenticate(data?: Uint8Array): void {
    const auth = this.options.auth;
    if (!auth || this.version !== 5) super.reauthenticate(data);
    else {
      if (this.state !== "connected") throw new MqttError("not-connected", "reauthenticate: not connected");
      const properties: MqttProperties = { authenticationMethod: auth.method };
      if (data) properties.authenticationData = data;
      this.send({ type: 15 /* AUTH */, reasonCode: 0x19, properties });
    }
  }

  protected override onAuthPacket(p: AuthPacket): void {
    const auth = this.options.auth;
    const props = p.properties;
    if (!auth) return super.onAuthPacket(p);
    if (props?.authenticationMethod !== auth.method) {
      this.violation(0x82, "AUTH method differs", "[MQTT-4.12.0-5]");
      return;
    }
    const rc = p.reasonCode ?? 0;
    if (rc === 0x19 || (rc === 0 && this.state === "connecting")) {
      this.violation(0x82, "AUTH " + rc, "§4.12");
      return;
    }
    const exchange: AuthExchange = { reasonCode: rc, method: auth.method, data: props?.authenticationData, properties: props };
    const answer = this.emit("onAuth", exchange) as Uint8Array | undefined;
    if (rc === 0) return;
    if (answer === undefined) {
      this.violation(0x87, "authentication abandoned", "§4.12", true);
      return;
    }
    this.send({ type: 15 /* AUTH */, reasonCode: 0x18, properties: { authenticationMethod: auth.method, authenticationData: answer } });
  }

  protected override sendPublish(p: PublishPacket): boolean {
    if (this.serverTopicAliasMaximum > 0 && utf8Length(p.topic) > 3) {
      // An alias costs 3 bytes of property; an empty topic saves the topic's bytes.
      const topic = p.topic;
      const a = this.topicAliases();
      let alias = a.of.get(topic);
      const props: MqttProperties = p.properties ? { ...p.properties } : {};
      if (alias !== undefined) {
        props.topicAlias = alias;
        p = { ...p, topic: "", properties: props };
      } else {
        alias = this.assignAlias(topic, a);
        props.topicAlias = alias;
        p = { ...p, properties: props };
      }
      a.used[alias] = ++a.clock;
    }
    return this.send(p);
  }

  /** A new outbound alias for `topic`: the next free one, else the least recently used. */
  protected assignAlias(topic: string, a: TopicAliases): number {
    let alias = a.topic.length;
    if (alias === 0) alias = 1;
    if (alias > this.serverTopicAliasMaximum) {
      alias = 1;
      for (let i = 2; i <= this.serverTopicAliasMaximum; i++) if (a.used[i] < a.used[alias]) alias = i;
      a.of.delete(a.topic[alias]);
    }
    a.topic[alias] = topic;
    a.of.set(topic, alias);
    return alias; // [MQTT-3.3.2-8], [MQTT-3.3.2-9]: 1..server maximum
  }

  /**
   * Drops the properties a receiver allows us to drop (Reason String, then User
   * Properties) from a non-PUBLISH packet that would exceed the server's Maximum Packet
   * Size ([MQTT-3.4.2-2], [MQTT-3.4.2-3], and alike for the other packets).
   */
  protected override fit(p: MqttPacket): MqttPacket {
    const max = this.serverMaximumPacketSize;
    if (max >= MAX_PACKET_SIZE || p.type === 3 /* PUBLISH */ || p.type === 1 /* CONNECT */) return p;
    const q = p as { properties?: MqttProperties };
    if (!q.properties || this.encode(p).length <= max) return p;
    let props: MqttProperties = { ...q.properties };
    delete props.reasonString;
    let r = { ...p, properties: props } as MqttPacket;
    if (this.encode(r).length <= max) return r;
    props = { ...props };
    delete props.userProperties;
    r = { ...p, properties: props } as MqttPacket;
    return r;
  }

  protected override resetConnectionState(): void {
    super.resetConnectionState();
    this.aliases = undefined; // [MQTT-3.3.2-7]
    if (this.version === 5) {
      // Until the next CONNACK: the defaults (a 3.1.1 session keeps the prototype's).
      this.serverReceiveMaximum = 65535;
      this.serverMaximumPacketSize = MAX_PACKET_SIZE;
      this.serverTopicAliasMaximum = 0;
    }
  }
}
