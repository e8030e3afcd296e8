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
 * Will is the state topic's "offline", topic ids are registered (REGISTER, §6.5) and kept in
 * flash with the outbox (namespace "xsmqttsn"). A refused connection is tried again after
 * 5 s. Portable (XS).
 */
import { MqttSnClient } from "../modules/mqttsn/client";
import { ACTIVE, DISCONNECTED, type MqttSnSessionOptions, type SnEvent } from "../modules/mqttsn/session";
import { SnWill } from "../modules/mqttsn/will";
import type { SnQoS } from "../modules/mqttsn/constants";
import { topicMatches } from "../modules/mqtt/topic";
import type { Platform } from "../modules/platform/platform";
import type { Job, Scheduler } from "../modules/scheduler/scheduler";
import { stateWill } from "../modules/config/mqtt-binding";
import type { DeviceConfig } from "../modules/config/schema";

/** Session parts a host may add to the firmware's (QoS 2, the registry kept in flash, discovery); see modules/mqttsn/session.ts. */
export type SnLinkParts = Pick<MqttSnSessionOptions, "qos2" | "registry" | "discovery">;

/** What the link is told (MqttLink's callbacks). */
export interface SnLinkHooks {
  snConnected(client: SnLinkClient): void;
  snClosed(client: SnLinkClient): void;
  snError(client: SnLinkClient, e: { message: string }): void;
}

interface Handler {
  onMessage(m: { topic: string; payload: Uint8Array; qos: number; retain: boolean; properties: undefined }): void;
}

type Callback = (error: { message: string } | undefined) => void;

const RETRY_MS = 5000;

export class SnLinkClient {
  readonly sn: MqttSnClient;
  readonly serverProperties = undefined;
  readonly reconnectAt = undefined;
  #hooks: SnLinkHooks;
  #subs = new Map<string, Handler | undefined>();
  #callbacks = new Map<number, Callback>();
  #retry: Job | undefined = undefined;
  #scheduler: Scheduler;
  #ended = false;
  #up = false;

  /** Throws (nothing opened) when the settings do not make an MQTT-SN client (e.g. a device id over 23 characters, §5.3.1). */
  constructor(c: Readonly<DeviceConfig>, address: string, platform: Platform, scheduler: Scheduler, hooks: SnLinkHooks, parts?: SnLinkParts) {
    this.#hooks = hooks;
    this.#scheduler = scheduler;
    const will = stateWill(c as DeviceConfig);
    this.sn = new MqttSnClient({
      clientId: c.deviceId,
      keepAlive: c.mqtt.keepAliveS,
      cleanSession: false,
      will: new SnWill({ topic: will.topic, payload: will.payload as Uint8Array, qos: 1, retain: true }),
      gateway: { address, port: c.mqtt.port },
      socket: { io: platform.io.UDP },
      scheduler,
      storage: platform.storage,
      namespace: "xsmqttsn",
      onEvent: (e) => this.#event(e),
      ...parts,
    });
    this.sn.connect();
  }

  get isConnected(): boolean {
    return this.sn.state === ACTIVE;
  }

  get outbox(): { count: number; maxMessages: number; bytes: number; maxBytes: number } {
    return this.sn.session.outbox;
  }

  publish(topic: string, payload: Uint8Array | string, options?: { qos?: 0 | 1 | 2; retain?: boolean }, callback?: Callback): number {
    const id = this.sn.publish(topic, payload, (options?.qos ?? 0) as SnQoS, !!options?.retain);
    if (id && callback) this.#callbacks.set(id, callback);
    return id;
  }

  subscribe(filter: string, options?: { qos?: 0 | 1 | 2 }, handler?: Handler): void {
    this.#subs.set(filter, handler);
    this.sn.subscribe(filter, options?.qos ?? 0);
  }

  unsubscribe(filter: string | string[]): void {
    for (const f of typeof filter === "string" ? [filter] : filter) {
      this.#subs.delete(f);
      this.sn.unsubscribe(f);
    }
  }

  respond(): number {
    throw new Error("mqttsn: no Response Topic in MQTT-SN");
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#retry?.cancel();
    try {
      this.sn.disconnect();
    } finally {
      this.sn.close();
    }
  }

  #event(e: SnEvent | { type: "error"; reason: string }): void {
    switch (e.type) {
      case "connected":
        this.#up = true;
        this.#hooks.snConnected(this);
        return;
      case "disconnected":
        if (this.#up) {
          this.#up = false;
          this.#hooks.snClosed(this);
        }
        this.#hooks.snError(this, { message: "MQTT-SN: " + e.reason });
        // Refused (no other gateway to try): again after a while, as MQTT's client does.
        if (!this.#ended && this.sn.state === DISCONNECTED && !this.#retry?.scheduled)
          this.#retry = this.#scheduler.after(RETRY_MS, () => !this.#ended && this.sn.state === DISCONNECTED && this.sn.connect(), { name: "mqttsn-retry", radio: true });
        return;
      case "message":
        for (const [filter, handler] of this.#subs)
          if (handler && topicMatches(filter, e.topic)) handler.onMessage({ topic: e.topic, payload: e.payload, qos: e.qos, retain: e.retain, properties: undefined });
        return;
      case "published":
      case "publish-failed": {
        const cb = this.#callbacks.get(e.msgId);
        this.#callbacks.delete(e.msgId);
        if (cb) cb(e.type === "published" ? undefined : { message: "MQTT-SN: " + e.reason });
        return;
      }
      case "error":
        this.#hooks.snError(this, { message: "MQTT-SN: " + e.reason });
    }
  }
}
