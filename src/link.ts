/*
 * The app's wiring of scheduler, configuration core and MQTT connection (src/app.ts builds on
 * it). It lives in src/, not modules/config: building clients, servers and a scheduler is the
 * app's job (docs/conventions.md).
 *
 *   const scheduler = deviceScheduler(platform, report);
 *   const trial = safeApplySwitch({ scheduler, open, coapSocket });
 *   const link = new MqttLink({ platform, scheduler, trial, report, resolve });
 *   const core = deviceCore({ platform, scheduler, connectivity: trial, offline: () => link.offline(), ... });
 *   link.core = core;
 *   link.open(core.current);   // an MqttClient for these settings, with its ConfigMqttBinding
 *
 * MqttLink keeps the client and its binding as fields and its callbacks as methods (one
 * small object per device instead of a dozen closures: a simulated fleet runs thousands).
 * Portable (XS): no Node API.
 */
import type { BoardDefinition } from "../boards/types";
import type { Platform } from "../modules/platform/platform";
import { Scheduler } from "../modules/scheduler/scheduler";
import { MqttClient, type ConnectInfo, type MqttClientOptions, type MqttError } from "../modules/mqtt/client";
import { ConfigStore } from "../modules/config/store";
import { provisionTlsCredentials, tlsCredentials, type TlsCredentials } from "../modules/config/tls-credentials";
import { ConfigCore, type ConfigCoreOptions, type ConfigShare, type ConnectivityHook } from "../modules/config/core";
import { ConfigMqttBinding, configMqttOptions, type Waiting } from "../modules/config/mqtt-binding";
import type { SafeApplySwitch } from "../modules/config/safe-apply-switch";
import type { DeviceConfig } from "../modules/config/schema";
import { SnLinkClient, type SnLinkHooks, type SnLinkParts } from "./mqttsn-link";

function message(e: unknown): string {
  return String((e as Error)?.message ?? e);
}

/** True for a dotted IPv4 address (a host name needs the platform's resolver or DNS). */
export function isIpv4(s: string): boolean {
  return /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(s);
}

/**
 * The device's scheduler on the platform clock. A deep-sleep or restart signal (and a
 * simulated power loss) thrown by a job unwinds to the host, as it must; any other job
 * error is reported and the scheduler goes on.
 */
export function deviceScheduler(platform: Platform, report: (message: string) => void): Scheduler {
  return new Scheduler({
    clock: platform.clock,
    onError: (error, job) => {
      if ((error as { isSleepSignal?: boolean })?.isSleepSignal || (error as Error)?.name === "PowerLossError") throw error;
      report(`job ${job.name}: ${message(error)}`);
    },
  });
}

export interface DeviceCoreOptions {
  platform: Platform;
  scheduler: Scheduler;
  board?: BoardDefinition;
  /** Default device id (the MAC-derived one on a device). */
  deviceId?: string;
  /** Factory provisioning of defaults (dotted keys). */
  provisioned?: { [key: string]: unknown };
  /** Provision this command key when the store has none. */
  key?: Uint8Array;
  /** Provision these TLS credentials (./tls-credentials.ts), each when the store has none. */
  tls?: TlsCredentials;
  /** The safe-apply hook (safe-apply-switch.ts). */
  connectivity: ConnectivityHook;
  /** Said before a commanded reboot: the MQTT "offline" state message. */
  offline(): void;
  /** Rate limit and reboot delay of the core (its defaults otherwise). */
  tuning?: { burst?: number; ratePerS?: number; rebootDelayMs?: number };
  /** Configuration groups shared with the other cores given the same pool (a simulated fleet). */
  configShare?: ConfigShare;
}

/**
 * The core's options on the platform: one object whose hooks are prototype methods
 * (three closures and their scope per device before; a simulated fleet runs thousands).
 */
class CoreHooks implements ConfigCoreOptions {
  declare readonly store: ConfigStore;
  declare readonly o: DeviceCoreOptions;

  constructor(o: DeviceCoreOptions, store: ConfigStore) {
    this.o = o;
    this.store = store;
  }

  get scheduler(): Scheduler {
    return this.o.scheduler;
  }

  get connectivity(): ConnectivityHook {
    return this.o.connectivity;
  }

  get shared(): ConfigShare | undefined {
    return this.o.configShare;
  }

  get burst(): number | undefined {
    return this.o.tuning?.burst;
  }

  get ratePerS(): number | undefined {
    return this.o.tuning?.ratePerS;
  }

  get rebootDelayMs(): number | undefined {
    return this.o.tuning?.rebootDelayMs;
  }

  hmacSha256(k: Uint8Array, d: Uint8Array): Uint8Array {
    return this.o.platform.crypto.hmacSha256(k, d);
  }

  reboot(): void {
    this.o.offline();
    this.o.platform.power.restart();
  }

  log(line: string): void {
    this.o.platform.log(line);
  }
}

/** The configuration store (with the command key provisioned when given) and the core on it. */
export function deviceCore(o: DeviceCoreOptions): ConfigCore {
  const { platform } = o;
  // The options are the store's context (board, deviceId, provisioned): no copy kept per device.
  const store = new ConfigStore({ storage: platform.storage, context: o });
  if (o.key && !store.key()) store.provisionKey(o.key);
  if (o.tls) provisionTlsCredentials(platform.storage, o.tls);
  return new ConfigCore(new CoreHooks(o, store));
}

export interface MqttLinkOptions {
  platform: Platform;
  scheduler: Scheduler;
  trial: SafeApplySwitch;
  report(message: string): void;
  /** Host name -> IPv4 address (no DNS in the simulator); default: "localhost" -> 127.0.0.1. */
  resolve?(host: string): string | undefined;
  /** Reconnection back-off (default 1 s .. 30 s). */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** With protocol "mqttsn": session parts beyond the firmware's, made for each client (./mqttsn-link.ts). */
  mqttsnParts?(): SnLinkParts | undefined;
  /** After the link's own work on CONNACK (binding told, trial told); `sessionPresent`: the broker kept our session (MQTT; undefined over MQTT-SN). */
  onConnect?(client: MqttClient, sessionPresent: boolean | undefined): void;
  /**
   * The current client's connection closed (or a connection attempt failed); `why`: the error
   * that ended it, when the client gave one ("connect ECONNREFUSED ...", "connection refused:
   * 0x87 §3.2.2.2"), so that one line says it (the link does not report that error itself).
   */
  onClose?(client: MqttClient, why: string | undefined): void;
  /** The current client stopped retrying: a refusal the same CONNECT would meet again, or its deadline. */
  onGiveUp?(client: MqttClient, reason: string): void;
  /**
   * Room may have come in the current client's outbox (a QoS 1/2 message acknowledged or given
   * up), after the binding's messages waiting for it went (ConfigMqttBinding.room): answers and
   * retained state first, telemetry after.
   */
  onRoom?(client: MqttClient): void;
}

/** Option groups every link's client gets alike (shared, read only: one object, not one per device). */
const OUTBOX = Object.freeze({ namespace: "xsmqtt" });
const RECONNECT = Object.freeze({ initialDelayMs: 1000, maxDelayMs: 30000 });

/**
 * The MQTT client for the current settings, its ConfigMqttBinding, and the safe-apply signals.
 * With protocol "mqttsn" the client is an MQTT-SN one in MqttClient's clothes (./mqttsn-link.ts).
 */
export class MqttLink implements SnLinkHooks {
  client: MqttClient | undefined = undefined;
  binding: ConfigMqttBinding | undefined = undefined;
  /** Set once the core exists (the core needs the trial, the trial opens through this link). */
  core: ConfigCore | undefined = undefined;
  readonly #o: MqttLinkOptions;
  /** The error that is ending the current client's connection, for onClose (reported by #say if none comes). */
  #why: string | undefined = undefined;
  /** What a closed binding left waiting for room in its outbox: the next binding publishes it (ConfigMqttBinding.adopt). */
  #carry: Waiting[] | undefined = undefined;

  constructor(options: MqttLinkOptions) {
    this.#o = options;
  }

  resolve(host: string): string {
    return this.#o.resolve?.(host) ?? (host === "localhost" ? "127.0.0.1" : host);
  }

  /** Opens a client for `c` (after closing any previous one). Reports and returns false when the platform lacks TLS. */
  open(c: Readonly<DeviceConfig>): boolean {
    this.close();
    const o = this.#o;
    const { platform } = o;
    if (c.protocol === "mqttsn") return this.#openSn(c);
    const io = c.mqtt.tls ? platform.io.TLS : platform.io.TCP;
    if (!io) {
      o.report("mqtt: this platform has no TLS");
      return false;
    }
    const host = this.resolve(c.mqtt.host);
    // The CA and the client certificate and key come from the device's TLS credentials
    // (./tls-credentials.ts); without a CA the TLS class verifies against its own roots.
    const tls = c.mqtt.tls ? { host: isIpv4(host) ? c.mqtt.host : host, ...tlsCredentials(platform.storage) } : undefined;
    const options: MqttClientOptions = {
      ...configMqttOptions(c as DeviceConfig),
      socket: isIpv4(host) ? { io, address: host, port: c.mqtt.port, tls } : { io, host, port: c.mqtt.port, tls },
      scheduler: o.scheduler,
      storage: platform.storage,
      outbox: OUTBOX,
      random: linkRandom,
      reconnect: o.reconnect ? { initialDelayMs: o.reconnect.initialDelayMs ?? 1000, maxDelayMs: o.reconnect.maxDelayMs ?? 30000 } : RECONNECT,
      onConnect: linkConnected,
      onClose: linkClosed,
      onError: linkError,
      onGiveUp: linkGaveUp,
      onDelivered: linkDelivered,
    };
    const client = new LinkedClient(options, this);
    this.client = client;
    // A deferred result (safe apply) goes out through whichever binding is current then.
    // platform.log is a plain function (apps pass it around); the link itself says which binding is current.
    this.binding = new ConfigMqttBinding({ core: this.core!, client, log: platform.log, owner: this });
    this.#adopt();
    return true;
  }

  /** MQTT-SN: mqtt.host and mqtt.port name the gateway (UDP). */
  #openSn(c: Readonly<DeviceConfig>): boolean {
    const o = this.#o;
    const address = this.resolve(c.mqtt.host);
    let client: SnLinkClient;
    try {
      if (!isIpv4(address)) throw new Error(`cannot resolve the gateway "${c.mqtt.host}"`);
      client = new SnLinkClient(c, address, o.platform, o.scheduler, this, o.mqttsnParts?.());
    } catch (e) {
      o.report("mqttsn: " + message(e));
      return false;
    }
    this.client = client as unknown as MqttClient;
    this.binding = new ConfigMqttBinding({ core: this.core!, client: this.client, log: o.platform.log, owner: this });
    this.#adopt();
    return true;
  }

  /** The new binding takes what the last one left waiting for room (answers, retained state). */
  #adopt(): void {
    const w = this.#carry;
    this.#carry = undefined;
    if (w) this.binding!.adopt(w);
  }

  /** The client's outbox may have room: the binding's waiting messages first, then the app's (onRoom). */
  #room(client: MqttClient): void {
    if (this.client !== client) return;
    this.binding?.room();
    this.#o.onRoom?.(client);
  }

  /** @internal SnLinkHooks: the MQTT-SN client's connection came up, went down, or failed. */
  snConnected(client: SnLinkClient): void {
    this.#connected(client as unknown as MqttClient, undefined);
  }

  snClosed(client: SnLinkClient): void {
    this.#closed(client as unknown as MqttClient);
  }

  snError(client: SnLinkClient, e: { message: string }): void {
    this.#error(client as unknown as MqttClient, e as MqttError);
  }

  snRoom(client: SnLinkClient): void {
    this.#room(client as unknown as MqttClient);
  }

  /** Says "offline" (retained state) while connected: before a deliberate disconnect or reboot. */
  offline(): void {
    this.binding?.offline();
  }

  /** Says "asleep" with the wake time (retained state) before a planned sleep. */
  asleep(wakeAtEpochMs: number): void {
    this.binding?.asleep(wakeAtEpochMs);
  }

  /** MQTT-SN: asleep at the gateway for `seconds` once what is queued has gone (§6.14; SnLinkClient.sleepFor). Nothing over MQTT. */
  snSleep(seconds: number): void {
    const c = this.client as unknown as SnLinkClient | undefined;
    if (c instanceof SnLinkClient) c.sleepFor(seconds);
  }

  /** MQTT-SN: a sleep asked for and not yet acknowledged (still busy), or asleep at the gateway (nothing in flight). */
  snSleepState(): "falling" | "asleep" | undefined {
    const c = this.client as unknown as SnLinkClient | undefined;
    if (!(c instanceof SnLinkClient)) return undefined;
    return c.falling ? "falling" : c.asleep ? "asleep" : undefined;
  }

  /**
   * Closes the client (DISCONNECT when connected). `sessionExpiryS` (MQTT 5, before a sleep):
   * the DISCONNECT's Session Expiry Interval, so the broker keeps the session (and its queued
   * messages) through a sleep longer than the CONNECT's own expiry (§3.14.2.2.2).
   */
  close(sessionExpiryS?: number): void {
    const w = this.binding?.detach();
    if (w) this.#carry = w;
    this.binding = undefined;
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    try {
      client.end(0, sessionExpiryS ? { sessionExpiryInterval: sessionExpiryS } : undefined);
    } catch (e) {
      this.#o.report("mqtt: " + message(e)); // [MQTT-3.14.2-2]: ended without it
      client.end();
    }
  }

  /** The callback's client is the link's (or the link has none: it is being replaced). */
  #current(client: MqttClient): boolean {
    return this.client === client || this.client === undefined;
  }

  /** @internal The client's callbacks (below), each given the client's link. */
  static connected(client: LinkedClient, sessionPresent: boolean): void {
    const link = client.link;
    if (link) link.#connected(client, sessionPresent);
  }

  static closed(client: LinkedClient): void {
    const link = client.link;
    if (link) link.#closed(client);
  }

  /** The current client's connection ended or an attempt failed: onClose with the error kept for it (#error). */
  #closed(client: MqttClient): void {
    if (this.client !== client) return;
    const why = this.#why;
    this.#why = undefined;
    this.#o.onClose?.(client, why);
  }

  static delivered(client: LinkedClient): void {
    const link = client.link;
    if (link) link.#room(client);
  }

  static error(client: LinkedClient, e: MqttError): void {
    const link = client.link;
    if (link) link.#error(client, e);
  }

  /** The back-off's jitter in [0, 1), from the platform's random source (a simulated device's is seeded). */
  static random(client: LinkedClient): number {
    const link = client.link;
    if (!link) return Math.random();
    const b = link.#o.platform.crypto.randomFill(new Uint8Array(2));
    return ((b[0] << 8) | b[1]) / 65536;
  }

  static gaveUp(client: LinkedClient, e: MqttError | undefined): void {
    const link = client.link;
    if (!link || !link.#current(client)) return;
    const reason = e?.message ?? "no connection";
    link.#o.trial.fail("MQTT gave up: " + reason);
    if (link.client === client) link.#o.onGiveUp?.(client, reason);
  }

  #connected(client: MqttClient, sessionPresent: boolean | undefined): void {
    this.binding?.connected();
    if (this.#current(client)) this.#o.trial.connected();
    this.#o.onConnect?.(client, sessionPresent);
  }

  #error(client: MqttClient, e: MqttError): void {
    if (this.#current(client)) this.#o.trial.connectionError(e.message);
    // An error without a connection, the one that ends it or fails an attempt (the client's
    // onClose comes next, in the same turn): the app's line for the failed attempt or the lost
    // connection says it, one line each (issue 15). One that no close takes (a socket that could
    // not be made) is reported a turn later.
    if (this.client === client && !client.isConnected) {
      this.#say();
      this.#why = cause(e.message);
      this.#o.scheduler.after(0, () => this.#say(), { name: "mqtt-error" });
    } else this.#o.report("mqtt: " + e.message);
  }

  /** Reports the error kept for onClose, if no close took it. */
  #say(): void {
    const why = this.#why;
    this.#why = undefined;
    if (why !== undefined) this.#o.report("mqtt: " + why);
  }
}

/**
 * A link's client knows its link. The client calls its callbacks (and its random source) with
 * `this` = the client, so the five below are plain functions shared by every link instead of
 * five closures per client, and they find the link on the client. (A module-level WeakMap from
 * client to link did this before: preloading makes it read-only, "read-only WeakMap instance".)
 */
class LinkedClient extends MqttClient {
  declare readonly link: MqttLink | undefined;
  constructor(options: MqttClientOptions, link: MqttLink) {
    super(options);
    (this as { link: MqttLink | undefined }).link = link;
  }
}

/** A connection error's message without what the line around it says: "MqttClient: connection failed: connect ECONNREFUSED ..." -> "connect ECONNREFUSED ...". */
function cause(m: string): string {
  if (m.startsWith("MqttClient: ")) m = m.slice(12);
  if (m.startsWith("connection failed: ") || m.startsWith("connection lost: ")) m = m.slice(m.indexOf(": ") + 2);
  return m;
}

function linkRandom(this: MqttClient): number {
  return MqttLink.random(this as LinkedClient);
}

function linkConnected(this: MqttClient, info: ConnectInfo): void {
  MqttLink.connected(this as LinkedClient, info.sessionPresent);
}

function linkClosed(this: MqttClient): void {
  MqttLink.closed(this as LinkedClient);
}

function linkDelivered(this: MqttClient): void {
  MqttLink.delivered(this as LinkedClient);
}

function linkError(this: MqttClient, e: MqttError): void {
  MqttLink.error(this as LinkedClient, e);
}

function linkGaveUp(this: MqttClient, e: MqttError | undefined): void {
  MqttLink.gaveUp(this as LinkedClient, e);
}
