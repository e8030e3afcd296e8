/*
 * The configuration core over MQTT (topic tree in docs/topics.md):
 *
 *   <prefix>/<device-id>/cmd/<command>   commands in  (subscribed QoS 1)
 *   <prefix>/<device-id>/res/<command>   results out (QoS 1, not retained)
 *   <prefix>/<device-id>/config          configuration, retained, secrets left out
 *                                        (in parts, config/<group>, under a small Maximum Packet Size)
 *   <prefix>/<device-id>/state           "online" / "offline", retained; "offline" is the Will
 *
 * On MQTT 5 a command with a Response Topic also gets its result there, with the
 * request's Correlation Data (MQTT 5.0 §4.10). Command names contain "/"
 * (config/patch), so the command is everything after ".../cmd/".
 *
 * The app owns the MqttClient: it builds it with `configMqttOptions(config)`
 * (client id, clean = false, session expiry, keep alive, the Will) and calls
 * `binding.connected()` from its onConnect. Commands published while the device
 * is away wait in the broker's session (persistent session + QoS 1
 * subscription) and arrive on reconnection.
 */
import type { MqttClient, MqttMessage } from "../mqtt/client";
import { Mqtt5 } from "../mqtt/mqtt5";
import type { WillMessage } from "../mqtt/packets";
import type { MqttError } from "../mqtt/session-error";
import { encodeUtf8New } from "../bytes/utf8";
import type { ConfigCore, CommandResult, ConfigCoreEvent } from "./core";
import { decodeEnvelope, encodeDocument, encodeResult, type BodyFormat } from "./envelope";
import { redactConfig, type DeviceConfig } from "./schema";
import { mqttPublishPayloadLimit } from "../telemetry/split";

export interface ConfigTopics {
  base: string;
  /** Subscription filter for commands. */
  commands: string;
  cmdPrefix: string;
  resPrefix: string;
  config: string;
  state: string;
}

export function configTopics(c: Pick<DeviceConfig, "topicPrefix" | "deviceId">): ConfigTopics {
  return topicsOf(`${c.topicPrefix}/${c.deviceId}`);
}

function topicsOf(base: string): ConfigTopics {
  return { base, commands: `${base}/cmd/#`, cmdPrefix: `${base}/cmd/`, resPrefix: `${base}/res/`, config: `${base}/config`, state: `${base}/state` };
}

/**
 * "offline" as bytes, shared by every Will of the process (read only: the session only
 * encodes it). A Uint8Array per device was ~150 B in a simulated fleet. Preloaded it is in
 * flash, read-only. @preloadReadOnly
 */
const OFFLINE = encodeUtf8New("offline");

/** The Will: "offline", retained, QoS 1, on the state topic. */
export function stateWill(c: DeviceConfig): WillMessage {
  return { topic: `${c.topicPrefix}/${c.deviceId}/state`, payload: OFFLINE, qos: 1, retain: true };
}

/** The command subscription's options (shared: the client only reads them). */
const COMMAND_SUBSCRIPTION = Object.freeze({ qos: 1 as const });

/**
 * MqttClient options that the configuration decides (the app adds socket, scheduler, storage,
 * callbacks): MQTT 5.0 (the client's `v5` part, with the Session Expiry Interval) unless the
 * protocol is mqtt311.
 */
export function configMqttOptions(c: DeviceConfig): {
  clientId: string;
  v5?: Mqtt5;
  clean: boolean;
  keepAlive: number;
  username?: string;
  password?: string;
  will: WillMessage;
} {
  const o: ReturnType<typeof configMqttOptions> = {
    clientId: c.deviceId,
    clean: false,
    keepAlive: c.mqtt.keepAliveS,
    will: stateWill(c),
  };
  if (c.protocol !== "mqtt311") o.v5 = new Mqtt5({ sessionExpiryInterval: c.mqtt.sessionExpiryS });
  if (c.mqtt.username) o.username = c.mqtt.username;
  if (c.mqtt.password) o.password = c.mqtt.password;
  return o;
}

export interface ConfigMqttBindingOptions {
  core: ConfigCore;
  client: MqttClient;
  log?(line: string): void;
  /**
   * The binding in use now. A safe apply answers "pending" at once and its final
   * result later, when the app has replaced the client (and this binding) with one
   * for the new settings, or for the old ones again after a rollback: the final
   * result goes out through the binding this returns. Without it, through this one.
   */
  current?(): ConfigMqttBinding | undefined;
  /** Instead of `current`: an object whose `binding` is the binding in use (no closure needed). */
  owner?: { readonly binding: ConfigMqttBinding | undefined };
}

/**
 * What may wait in the binding for room in the outbox (docs/config.md, "A full outbox"): 12
 * messages, 6,144 payload octets. The retained ones (state, configuration, a part of it, Home
 * Assistant's discovery) count once per topic, the newest replacing what waits, so what is left
 * is answers: a burst of commands at a reconnect, behind a telemetry batch and the retained
 * messages of the connection (MQTT-SN's outbox, 16 messages and 8,192 octets, held ~7 KB).
 */
const MAX_WAITING = 12;
const MAX_WAITING_BYTES = 6144;

/** A message waiting for room in the outbox: QoS 1 (as every message of the binding). */
export interface Waiting {
  topic: string;
  payload: Uint8Array;
  retain: boolean;
  /** An answer on a request's Response Topic (MQTT 5.0 §4.10): the request's properties it needs. */
  reply?: { responseTopic: string; correlationData?: Uint8Array };
}

/** Publish options of the binding's messages (shared, read only). */
const QOS1 = Object.freeze({ qos: 1 as const });
const RETAINED = Object.freeze({ qos: 1 as const, retain: true });

/** A message of the binding's, or one that waited, to the client (MqttClient.respond for a reply). Throws as the client does. */
function send(client: MqttClient, topic: string, payload: Uint8Array, retain: boolean, reply: Waiting["reply"]): void {
  if (reply) client.respond({ properties: reply } as MqttMessage, payload, QOS1);
  else client.publish(topic, payload, retain ? RETAINED : QOS1);
}

/**
 * The client refused a message because its outbox is full (MqttError "outbox-full": MQTT's, and
 * MQTT-SN's through its link client, src/mqttsn-link.ts) while it holds messages whose
 * acknowledgements will free room. A full outbox that holds nothing (a message too large for
 * it) frees none.
 */
function waitsForRoom(client: MqttClient, e: unknown): boolean {
  return (e as MqttError | undefined)?.code === "outbox-full" && client.outbox.count > 0;
}

export class ConfigMqttBinding {
  readonly core: ConfigCore;
  #client: MqttClient;
  /**
   * Messages that met a full outbox, oldest first, waiting for an acknowledgement to free room
   * (room(), which the link calls from the client's delivery callback); undefined when none
   * waits. Bounded: MAX_WAITING, MAX_WAITING_BYTES.
   */
  #waiting: Waiting[] | undefined = undefined;
  #waitingBytes = 0;
  /** `<prefix>/<device-id>`: the topics are made from it when used (they are used rarely). */
  #base: string;
  #log: ((line: string) => void) | undefined;
  #current: (() => ConfigMqttBinding | undefined) | { readonly binding: ConfigMqttBinding | undefined } | undefined;
  #detached = false;
  /** Commands received (diagnostics). */
  received = 0;

  constructor(options: ConfigMqttBindingOptions) {
    this.core = options.core;
    this.#client = options.client;
    this.#log = options.log;
    this.#current = options.current ?? options.owner;
    this.#base = `${this.core.current.topicPrefix}/${this.core.current.deviceId}`;
    this.#subscribe();
    // The binding is its own listener (onConfigEvent), removed with core.off(): no closure kept per device.
    this.core.on(this);
  }

  /** The core's events (ConfigListener): a change of device id or prefix moves the subscription; other changes republish the configuration. */
  onConfigEvent(e: ConfigCoreEvent): void {
    if (e.type !== "change") return;
    const t = configTopics(e.config);
    if (t.base !== this.#base) {
      // Device id or prefix changed: move the subscription.
      try {
        this.#client.unsubscribe(this.#base + "/cmd/#");
      } catch {
        // not connected: forgotten anyway
      }
      this.#base = t.base;
      this.#subscribe();
      if (this.#client.isConnected) this.connected();
    } else if (e.phase !== "trial") this.publishConfig();
  }

  get topics(): ConfigTopics {
    return topicsOf(this.#base);
  }

  /** Call from the client's onConnect: state "online" and the configuration, both retained. */
  connected(): void {
    this.#publish(this.#base + "/state", encodeUtf8New("online"), true);
    this.publishConfig();
  }

  /**
   * Publishes the (redacted) configuration, retained. Under a broker's Maximum Packet Size that
   * the whole document does not fit [MQTT-3.2.2-15] it goes in parts, as telemetry does
   * (docs/topics.md): .../config holds the top-level values and `"parts": [names]`, and each
   * named group is published, retained, on .../config/<name> (split the same way again if it
   * still does not fit).
   */
  publishConfig(): void {
    const doc = redactConfig(this.core.current as DeviceConfig);
    const max = this.#client.serverProperties?.maximumPacketSize;
    if (typeof max !== "number") this.#publish(this.#base + "/config", encodeDocument(doc, "json"), true);
    else this.#publishParts(this.#base + "/config", doc, max, 0);
  }

  #publishParts(topic: string, doc: { [k: string]: unknown }, max: number, depth: number): void {
    const whole = encodeDocument(doc, "json");
    // The server's limit is on 5.0 only; room for a Topic Alias property (3 bytes), as telemetry counts it.
    const limit = mqttPublishPayloadLimit(max, topic, { version: 5, qos: 1, propertiesLength: 3 });
    if (whole.length <= limit || depth > 3) {
      this.#publish(topic, whole, true);
      return;
    }
    const top: { [k: string]: unknown } = {};
    const parts: string[] = [];
    for (const k of Object.keys(doc)) {
      const v = doc[k];
      if (v !== null && typeof v === "object" && !Array.isArray(v)) parts.push(k);
      else top[k] = v;
    }
    top.parts = parts;
    this.#publish(topic, encodeDocument(top, "json"), true);
    for (const k of parts) this.#publishParts(topic + "/" + k, doc[k] as { [k: string]: unknown }, max, depth + 1);
  }

  /** Publishes "offline" (retained) before a deliberate disconnect or reboot. */
  offline(): void {
    this.#publish(this.#base + "/state", encodeUtf8New("offline"), true);
  }

  /**
   * Publishes "asleep <wake time>" (retained; ISO 8601 UTC, "asleep" alone without wall-clock
   * time) before a planned sleep: asleep is not offline (the Will says "offline" only for a
   * real loss; Home Assistant's availability ignores this payload and keeps the last values
   * until expire_after).
   */
  asleep(wakeAtEpochMs: number): void {
    const when = wakeAtEpochMs === wakeAtEpochMs && Number.isFinite(wakeAtEpochMs) ? " " + new Date(Math.round(wakeAtEpochMs)).toISOString() : "";
    this.#publish(this.#base + "/state", encodeUtf8New("asleep" + when), true);
  }

  /**
   * Stops listening to the core. The broker-side subscription stays: it is what
   * keeps commands queued in the persistent session while the device sleeps.
   */
  detach(): Waiting[] | undefined {
    this.#detached = true;
    this.core.off(this);
    // What waits for room goes to the next binding (adopt): the link's next client takes it.
    const w = this.#waiting;
    this.#waiting = undefined;
    this.#waitingBytes = 0;
    return w;
  }

  /** The messages a replaced binding left waiting (detach()): published, or waiting here, in order. */
  adopt(w: readonly Waiting[]): void {
    for (let i = 0; i < w.length; i++) this.#publish(w[i].topic, w[i].payload, w[i].retain, w[i].reply);
  }

  #subscribe(): void {
    // The binding is the subscription's handler (MessageHandler): no closure per subscription.
    this.#client.subscribe(this.#base + "/cmd/#", COMMAND_SUBSCRIPTION, this);
  }

  /** A message on the command topic (MessageHandler: the client calls it). */
  onMessage(m: MqttMessage): void {
    const prefix = this.#base + "/cmd/";
    if (m.topic.indexOf(prefix) !== 0) return;
    this.received++;
    const command = m.topic.slice(prefix.length);
    const ct = m.properties?.contentType;
    const format: BodyFormat = ct === "application/cbor" ? "cbor" : "json";
    let result: CommandResult;
    const max = 4096;
    if (m.payload.length > max) {
      result = this.core.execute({ command, size: m.payload.length, via: "mqtt" });
    } else {
      const env = decodeEnvelope(m.payload, format);
      if (!env.ok) {
        // Still through the core: rate limit and counting apply to garbage too.
        result = this.core.execute({ command, size: m.payload.length, via: "mqtt", malformed: env.reason });
      } else {
        result = this.core.execute({ command, counter: env.envelope.counter, mac: env.envelope.mac, body: env.envelope.body, size: m.payload.length, via: "mqtt" }, (final) => this.#answerLater(m, command, final, format));
      }
    }
    this.#answer(m, command, result, format);
  }

  /** A deferred (final) result: through the current binding when this one has been replaced. */
  #answerLater(request: MqttMessage, command: string, result: CommandResult, format: BodyFormat): void {
    let to: ConfigMqttBinding | undefined = this;
    const c = this.#current;
    if (this.#detached && c) to = typeof c === "function" ? c() : c.binding;
    if (!to || to.#detached) {
      this.#log?.(`config: no MQTT connection to publish the ${result.status} result of ${command} on`);
      return;
    }
    to.#answer(request, command, result, format);
  }

  #answer(request: MqttMessage, command: string, result: CommandResult, format: BodyFormat): void {
    if (result.silent) return;
    // Results go to res/<command>; a command name that is not a valid topic part is answered on res/invalid.
    const safe = /^[A-Za-z0-9/_-]{1,40}$/.test(command) && command.indexOf("//") < 0 ? command : "invalid";
    const topic = this.#base + "/res/" + safe;
    const payload = this.#fit(result, format, topic, request);
    this.#publish(topic, payload, false);
    const rp = request.properties;
    if (rp?.responseTopic !== undefined) this.#publish(rp.responseTopic, payload, false, { responseTopic: rp.responseTopic, correlationData: rp.correlationData });
  }

  /**
   * The answer, made to fit under the broker's Maximum Packet Size [MQTT-3.2.2-15] on res/<command>
   * and on the request's Response Topic (with its Correlation Data): whole when it fits; else
   * without the configuration and `configTopic` saying where it is retained (in parts, as
   * publishConfig() sends it) and `cut` (the bytes of the whole answer), with as many reasons as
   * fit (`moreReasons`: how many are left out); at the least its status, command and counter.
   * docs/config.md "MQTT".
   */
  #fit(result: CommandResult, format: BodyFormat, topic: string, request: MqttMessage): Uint8Array {
    let bytes = encodeResult(result, format);
    const max = this.#client.serverProperties?.maximumPacketSize;
    if (typeof max !== "number") return bytes;
    const rp = request.properties;
    const v5 = { version: 5 as const, qos: 1 as const, propertiesLength: 3 };
    let limit = mqttPublishPayloadLimit(max, topic, v5);
    if (rp?.responseTopic !== undefined) {
      v5.propertiesLength += 3 + (rp.correlationData ? rp.correlationData.length : 0);
      limit = Math.min(limit, mqttPublishPayloadLimit(max, rp.responseTopic, v5));
    }
    if (bytes.length <= limit) return bytes;
    const r: CommandResult = { ...result, config: undefined, cut: bytes.length };
    if (result.config) r.configTopic = this.#base + "/config";
    const reasons = result.reasons;
    if (reasons) {
      // As many reasons as fit, in order (a reason's JSON text is no shorter than its CBOR).
      r.reasons = [];
      r.moreReasons = reasons.length;
      let room = limit - encodeResult(r, format).length;
      let n = 0;
      while (n < reasons.length && (room -= encodeUtf8New(JSON.stringify(reasons[n])).length + 1) >= 0) n++;
      r.reasons = reasons.slice(0, n);
      r.moreReasons = reasons.length - n || undefined;
    }
    bytes = encodeResult(r, format);
    if (bytes.length <= limit) return bytes;
    // The least: status, command, counter, the last accepted counter (to resynchronise), where the configuration is.
    return encodeResult({ status: r.status, command: r.command, ctr: r.ctr, lastCtr: r.lastCtr, cut: r.cut, configTopic: r.configTopic, moreReasons: reasons && reasons.length ? reasons.length : undefined }, format);
  }

  /**
   * A retained message of the app's (Home Assistant discovery) with the binding's own: QoS 1,
   * waiting for room in the outbox when it is full, a newer one on the same topic replacing one
   * that waits.
   */
  publishRetained(topic: string, payload: Uint8Array | string): void {
    this.#publish(topic, typeof payload === "string" ? encodeUtf8New(payload) : payload, true);
  }

  /** Messages waiting for room in the outbox (the app's telemetry waits while any do). */
  get waiting(): number {
    const w = this.#waiting;
    return w ? w.length : 0;
  }

  /**
   * Room may have come in the outbox (an acknowledgement, or a message given up): what waits
   * goes, oldest first, as far as the outbox takes it. The link calls it from the client's
   * delivery callback (MQTT onDelivered; MQTT-SN's published / publish-failed events).
   */
  room(): void {
    const w = this.#waiting;
    if (!w) return;
    while (w.length) {
      const m = w[0];
      try {
        send(this.#client, m.topic, m.payload, m.retain, m.reply);
      } catch (e) {
        if (waitsForRoom(this.#client, e)) return; // still full: the next acknowledgement
        this.#cannot(m.topic, e);
      }
      w.shift();
      this.#waitingBytes -= m.payload.length;
    }
    this.#waiting = undefined;
    this.#waitingBytes = 0;
  }

  /** A message refused for good (not for room): one line says so. */
  #cannot(topic: string, e: unknown): void {
    this.#log?.(`config: cannot publish ${topic}: ${String((e as Error)?.message ?? e)}`);
  }

  /**
   * QoS 1, retained or not. Behind messages that wait, it waits too (answers stay in order);
   * refused for a full outbox it waits for room (room()); only past the bound of what may wait is
   * it lost, with a line saying so. Nothing is thrown out of a callback.
   */
  #publish(topic: string, payload: Uint8Array, retain: boolean, reply?: Waiting["reply"]): void {
    if (!this.#waiting) {
      try {
        send(this.#client, topic, payload, retain, reply);
        return;
      } catch (e) {
        if (!waitsForRoom(this.#client, e)) return this.#cannot(topic, e);
        this.#log?.(`config: the outbox is full: ${topic} waits for room (an acknowledgement frees it)`);
      }
    }
    const w = (this.#waiting ??= []);
    if (retain) {
      // Retained: only the newest matters to a subscriber; it replaces a waiting one on its topic.
      for (let i = 0; i < w.length; i++)
        if (w[i].retain && w[i].topic === topic) {
          this.#waitingBytes -= w[i].payload.length;
          w.splice(i, 1);
          break;
        }
    }
    if (w.length >= MAX_WAITING || this.#waitingBytes + payload.length > MAX_WAITING_BYTES) {
      this.#log?.(`config: cannot publish ${topic}: the outbox is full and ${w.length} message(s) of ${this.#waitingBytes} B already wait for room (at most ${MAX_WAITING}, ${MAX_WAITING_BYTES} B)`);
      if (!w.length) this.#waiting = undefined;
      return;
    }
    w.push(reply ? { topic, payload, retain, reply } : { topic, payload, retain });
    this.#waitingBytes += payload.length;
  }
}
