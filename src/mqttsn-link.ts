/*
 * The app over MQTT-SN (protocol "mqttsn"): an MqttSnClient (modules/mqttsn) dressed in the
 * part of MqttClient that the app (src/app.ts) and the configuration binding
 * (modules/config/mqtt-binding.ts) use, so telemetry, the retained state and configuration,
 * and commands travel over MQTT-SN exactly as they do over MQTT:
 *
 *   isConnected, outbox {count, maxMessages, bytes, maxBytes}, publish(topic, payload,
 *   {qos, retain}, callback), subscribe(filter, {qos}, handler), unsubscribe(filter), end(),
 *   serverProperties (none), reconnectAt (none), respond() (no Response Topic in MQTT-SN).
 *
 * With protocol "mqttsn", mqtt.host and mqtt.port name the MQTT-SN gateway (UDP), and
 * mqtt.keepAliveS is its keep-alive. The session is persistent (cleanSession false), the
 * Will is the state topic's "offline" (the will part; none with mqtt.snWill false), topics in mqtt.snPredefined go with
 * the gateway's pre-defined ids (the topics part: no REGISTER), the others are registered
 * (§6.5); the outbox and the topic registry (the registry part, SnRegistryStore) are kept in flash
 * (namespace "xsmqttsn"). The sleeping client (§6.14, the
 * sleep part): before a planned sleep the app asks for DISCONNECT with a Duration (sleepFor),
 * and the gateway keeps the session asleep, buffering what comes for it and supervising the
 * sleep (its Will fires only if the device misses its wake); the asleep state is kept in flash,
 * so the next link (after a light sleep with the radio off, or the next boot) wakes with the
 * awake PINGREQ: the gateway sends what it buffered, PINGRESP ends it (the command window),
 * then CONNECT returns to active to send (§6.14's last paragraph); a DISCONNECT in answer (the
 * gateway did not keep the session) or no PINGRESP leads to a CONNECT all the same: after Nretry
 * when the gateway was heard during the wake, else after the PINGREQ and one retransmission (1.5
 * Tretry, 15 s: well within the 30 s the sleep policy gives a link; a gateway that knows clients
 * by address, as Paho's does, drops the PINGREQ of a device whose new boot has a new UDP port). A
 * link ended while waking (before PINGRESP) leaves the store disconnected, so the next link CONNECTs. The ClientId is the device id,
 * or for one over MQTT-SN's 23 characters an id derived from it (mqttsnClientId). A refused
 * connection is tried again after 5 s. Each CONNECT that Tretry leaves unanswered, and the give-up
 * after Nretry (§6.13), is a failed attempt for the app (onClose with the reason: one line each,
 * with reconnectAt, when the next CONNECT goes). The registry is kept because the session is
 * (cleanSession false, §6.3): a device back from deep sleep knows the normal topic ids it and
 * the gateway registered, so the PUBLISHes the gateway buffered for it, and any it sends later
 * on those ids (at QoS 0 too, which a gateway cannot send again after "invalid topic ID", §6.10), are read,
 * with any gateway (Paho's answers that PUBACK with nothing but a log line); and its own topics
 * go without a REGISTER each boot. The firmware carries the MQTT-SN core (session.ts) and the
 * registry part; a host adds others (AppOptions.mqttsnParts). Portable (XS).
 */
import { ACTIVE, ASLEEP, AWAKE, CONNECTING, DISCONNECTED, MqttSnClient, SnRegistryStore, SnSleep, SnTopicIds, SnWill, type MqttSnSessionOptions, type SnEvent } from "../modules/mqttsn/session";
import type { SnQoS } from "../modules/mqttsn/constants";
import { topicMatches } from "../modules/mqtt/topic";
import type { Platform } from "../modules/platform/platform";
import type { Job, Scheduler } from "../modules/scheduler/scheduler";
import { stateWill } from "../modules/config/mqtt-binding";
import type { DeviceConfig } from "../modules/config/schema";

/** Session parts a host may add to the firmware's (QoS 2, discovery) or give in its stead (the registry kept in flash); see modules/mqttsn/session.ts. */
export type SnLinkParts = Pick<MqttSnSessionOptions, "qos2" | "registry" | "discovery">;

/** What the link is told (MqttLink's callbacks). */
export interface SnLinkHooks {
  snConnected(client: SnLinkClient): void;
  snClosed(client: SnLinkClient): void;
  snError(client: SnLinkClient, e: { message: string }): void;
  /** A QoS 1/2 message left the outbox (acknowledged or given up): room may have come. */
  snRoom(client: SnLinkClient): void;
}

interface Handler {
  onMessage(m: { topic: string; payload: Uint8Array; qos: number; retain: boolean; properties: undefined }): void;
}

type Callback = (error: { message: string } | undefined) => void;

/**
 * The MQTT-SN ClientId of a device (MQTT-SN 1.2 §5.3.1: 1 to 23 characters): its device id
 * when that has at most 23 characters, else the first 14 characters, "-" and the 8 hex
 * digits of the id's 32-bit FNV-1a hash ("a-device-id-th-1b2c3d4e"): the same on every boot,
 * and different for two ids that share their first 14 characters. Topics keep the whole id.
 */
export function mqttsnClientId(deviceId: string): string {
  if (deviceId.length <= 23) return deviceId;
  let h = 0x811c9dc5;
  for (let i = 0; i < deviceId.length; i++) h = Math.imul(h ^ deviceId.charCodeAt(i), 0x01000193);
  return deviceId.slice(0, 14) + "-" + ((h >>> 0) + 0x100000000).toString(16).slice(1);
}

/** The will part, noting that the gateway asked for the will (WILLTOPICREQ): a DISCONNECT then ended the will dialogue. */
class LinkWill extends SnWill {
  declare asked: boolean;
  override message(type: number): Uint8Array {
    this.asked = true;
    return super.message(type);
  }
}

export class SnLinkClient {
  declare readonly sn: MqttSnClient;
  declare readonly serverProperties: undefined;
  /** When the next CONNECT goes if the one out is not answered (§6.13 Tretry), after a failed one. */
  declare reconnectAt: number | undefined;
  declare readonly hooks: SnLinkHooks;
  declare readonly scheduler: Scheduler;
  declare readonly subs: Map<string, Handler | undefined>;
  declare readonly callbacks: Map<number, Callback>;
  declare retry: Job | undefined;
  declare ended: boolean;
  declare up: boolean;
  declare readonly nap: SnSleep;
  declare readonly will: LinkWill | undefined;
  /** §6.14: a sleep asked for (DISCONNECT with a Duration) that the gateway has not acknowledged yet. */
  declare falling: boolean;
  /** §6.14: the awake PINGREQ is out; at its PINGRESP the link goes active (CONNECT). */
  declare waking: boolean;
  /** The wake's give-up (see wakeUnheard) and the gateway's `seen` when the awake PINGREQ went. */
  declare wakeJob: Job | undefined;
  declare seen: number;

  /** Throws (nothing opened) when the settings do not make an MQTT-SN client. */
  constructor(c: Readonly<DeviceConfig>, address: string, platform: Platform, scheduler: Scheduler, hooks: SnLinkHooks, parts?: SnLinkParts) {
    const will = stateWill(c as DeviceConfig);
    this.hooks = hooks;
    this.scheduler = scheduler;
    this.subs = new Map();
    this.callbacks = new Map();
    this.ended = this.up = this.falling = this.waking = false;
    this.nap = new SnSleep();
    // mqtt.snWill false: CONNECT without the Will flag (some gateways end the will dialogue, Paho's #248).
    this.will = c.mqtt.snWill === false ? undefined : new LinkWill({ topic: will.topic, payload: will.payload as Uint8Array, qos: 1, retain: true });
    this.sn = new MqttSnClient({
      clientId: mqttsnClientId(c.deviceId),
      keepAlive: c.mqtt.keepAliveS,
      cleanSession: false,
      will: this.will,
      topics: new SnTopicIds(c.mqtt.snPredefined),
      gateway: { address, port: c.mqtt.port },
      socket: { io: platform.io.UDP },
      scheduler,
      storage: platform.storage,
      namespace: "xsmqttsn",
      sleep: this.nap,
      // The topic registry in flash (record "reg"): a rebooted device keeps its session's topic ids (§6.3, §6.14).
      registry: new SnRegistryStore(),
      onEvent: (e) => this.event(e),
      ...parts,
    });
    // Asleep at the gateway since the last link (the store says so): wake by PINGREQ (§6.14).
    if (this.sn.state === ASLEEP) {
      this.waking = true;
      this.seen = this.sn.gw!.seen;
      this.sn.run((s, now) => this.nap.wake(s, now));
      // A gateway that knows its clients by address (Paho's 1.5.1) drops the awake PINGREQ of a
      // device back from deep sleep on a new UDP port. Waiting for Nretry (50 s at the defaults)
      // outlasts the time the sleep policy gives a link (30 s): the PINGREQ and one retransmission
      // unheard, then CONNECT (§6.14: a CONNECT from asleep returns the client to active).
      this.wakeJob = scheduler.after(this.sn.retryMs * 1.5, () => this.wakeUnheard(), { name: "mqttsn-wake", radio: true });
    } else this.sn.connect();
  }

  /** Asleep at the gateway (§6.14): it buffers what comes for us; nothing of ours is in flight. */
  get asleep(): boolean {
    return this.sn.state === ASLEEP && !this.waking;
  }

  /**
   * §6.14: asleep for `seconds` (1-65535, §5.3.3) once the queued requests and the outbox have
   * gone: DISCONNECT with that Duration; `falling` until the gateway's DISCONNECT acknowledges it.
   */
  sleepFor(seconds: number): void {
    if (this.sn.state !== ACTIVE) return;
    this.falling = true;
    this.sn.run((s, now) => this.nap.sleep(s, seconds, now));
  }

  get isConnected(): boolean {
    return this.sn.state === ACTIVE;
  }

  get outbox(): { count: number; maxMessages: number; bytes: number; maxBytes: number } {
    return this.sn.outbox;
  }

  publish(topic: string, payload: Uint8Array | string, options?: { qos?: 0 | 1 | 2; retain?: boolean }, callback?: Callback): number {
    let id: number;
    try {
      id = this.sn.publish(topic, payload, (options?.qos ?? 0) as SnQoS, !!options?.retain);
    } catch (e) {
      // A full outbox refuses with MqttClient's code (MqttError "outbox-full", modules/mqtt/outbox.ts):
      // its callers (the config binding, which waits for room) read the code, not MQTT-SN's text.
      if (e instanceof RangeError && e.message === "mqttsn: outbox full") (e as { code?: string }).code = "outbox-full";
      throw e;
    }
    if (id && callback) this.callbacks.set(id, callback);
    return id;
  }

  subscribe(filter: string, options?: { qos?: 0 | 1 | 2 }, handler?: Handler): void {
    this.subs.set(filter, handler);
    this.sn.subscribe(filter, options?.qos ?? 0);
  }

  unsubscribe(filter: string | string[]): void {
    const l = typeof filter === "string" ? [filter] : filter;
    for (let i = 0; i < l.length; i++) {
      this.subs.delete(l[i]);
      this.sn.unsubscribe(l[i]);
    }
  }

  respond(): number {
    throw new Error("mqttsn: no Response Topic");
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.retry?.cancel();
    this.wakeJob?.cancel();
    try {
      // A wake given up (no PINGRESP yet): the asleep state goes from the store, so the next link
      // CONNECTs instead of waking again the same way, e.g. with the same unknown port (§6.14).
      // (From AWAKE the session's disconnect() sends nothing: it goes to disconnected and stores that.)
      this.waking = false;
      // Asleep at the gateway: only the socket goes; a DISCONNECT without a Duration would end the session there (§6.14).
      if (this.sn.state !== ASLEEP) this.sn.disconnect();
    } finally {
      this.sn.close();
    }
  }

  /** @internal no word from the gateway to the awake PINGREQ nor its retransmission (Tretry each): CONNECT. */
  wakeUnheard(): void {
    if (!this.waking || this.ended || this.sn.state !== AWAKE || this.sn.gw!.seen !== this.seen) return; // heard: the session's Nretry decides
    this.waking = false;
    this.hooks.snError(this, { message: "MQTT-SN: no answer to the awake PINGREQ (§6.14; a gateway that knows clients by address drops it from a new port): connecting" });
    this.sn.connect();
  }

  /** @internal the client's events. */
  event(e: SnEvent | { type: "error"; reason: string }): void {
    const h = this.hooks;
    const w = this.will;
    const willEnded = w?.asked && e.type === "disconnected" && e.reason === "DISCONNECT" && !this.up;
    if (w && (e.type === "connected" || e.type === "disconnected")) w.asked = false;
    if (e.type === "connected") {
      this.up = true;
      h.snConnected(this);
    } else if (e.type === "asleep") {
      this.falling = false;
      // PINGRESP: what the gateway buffered has come; back to active to send (§6.14).
      if (this.waking) {
        this.waking = false;
        this.sn.connect();
      }
    } else if (this.waking && (e.type === "wake-failed" || e.type === "disconnected")) {
      // No PINGRESP after Nretry, or a DISCONNECT in answer (the gateway did not keep the sleeping session): CONNECT.
      this.waking = false;
      h.snError(this, { message: e.type === "wake-failed" ? "MQTT-SN: no PINGRESP to the awake PINGREQ (§6.14): connecting" : "MQTT-SN: the gateway did not keep the sleeping session (DISCONNECT to the awake PINGREQ): connecting" });
      this.sn.connect();
    } else if (e.type === "message")
      this.subs.forEach((handler, filter) => handler && topicMatches(filter, e.topic) && handler.onMessage({ topic: e.topic, payload: e.payload, qos: e.qos, retain: e.retain, properties: undefined }));
    else if (e.type === "published" || e.type === "publish-failed") {
      const cb = this.callbacks.get(e.msgId);
      this.callbacks.delete(e.msgId);
      if (cb) cb(e.type === "published" ? undefined : { message: "MQTT-SN: " + e.reason });
      h.snRoom(this);
    } else if ((e.type === "retry" || e.type === "disconnected" || e.type === "error") && !this.ended) {
      // (ended: the close that end() asked for, nothing to say)
      const s = this.sn;
      // §6.13: each CONNECT that Tretry leaves unanswered is a failed attempt, one line (issue 15); after
      // Nretry retransmissions the client gives the gateway up and connects again (no other gateway to try).
      const c = s.cur;
      this.reconnectAt = c && s.state === CONNECTING ? c.at + s.retryMs : undefined;
      let message: string;
      if (e.type === "retry") message = `no answer in ${s.retryMs / 1000} s, MQTT-SN 1.2 §6.13 Tretry; sent again now`;
      else if (e.type === "disconnected" && e.reason === "no reply" && !this.up) message = `no answer to ${(s.o.maxRetries ?? 4) + 1} tries: gave up, MQTT-SN 1.2 §6.13 Nretry; connecting again now`;
      else if (willEnded) message = "MQTT-SN: the gateway ended the will dialogue with DISCONNECT (some gateways cannot, e.g. Paho #248); mqtt.snWill false connects without one";
      else message = "MQTT-SN: " + e.reason;
      h.snError(this, { message });
      if (e.type !== "error") {
        this.up = false;
        h.snClosed(this);
      }
      // Refused (no other gateway to try): again after a while, as MQTT's client does.
      if (this.sn.state === DISCONNECTED && !this.retry?.scheduled)
        this.retry = this.scheduler.after(5000, () => !this.ended && this.sn.state === DISCONNECTED && this.sn.connect(), { name: "mqttsn-retry", radio: true });
    }
  }
}
