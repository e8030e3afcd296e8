/*
 * The firmware app, the same on every host (src/main.ts on Moddable,
 * sim/node/cli-sim.ts in the desktop simulator; docs/app.md):
 *
 *   boot -> load the configuration (modules/config: defaults from the board and
 *   the device id, then what the flash holds) -> start the board's sensors ->
 *   connect with the configured protocol (mqtt311 | mqtt5 | coap | mqttsn) -> sample on
 *   sampling.intervalS and send SenML telemetry on telemetry.intervalS ->
 *   serve the command topic and the CoAP resources -> report state.
 *
 * MQTT topics (docs/topics.md): <prefix>/<id>/tele (SenML), .../state
 * ("online" retained on connect, "offline" retained as the Will and before a
 * deliberate disconnect), .../config (retained), .../cmd/# in, .../res/* out.
 * CoAP resources on the device's server: /.well-known/core (RFC 6690),
 * /sensors/<quantity> (one per quantity the board measures, observable,
 * RFC 7641; SenML JSON or CBOR by Accept), /config and /cmd/<command>.
 * With protocol "coap" telemetry is POSTed to coap.gateway*: NON at QoS 0, CON
 * otherwise (RFC 7252 §4.2, §4.3).
 *
 * Portable (XS): no Node API; time only through the scheduler.
 */
import type { BoardDefinition } from "../boards/types";
import type { Platform } from "../modules/platform/platform";
import type { Scheduler, Job } from "../modules/scheduler/scheduler";
import { SleepPolicy, type SleepHost } from "../modules/scheduler/sleep-policy";
import { linkCost, type LinkCost } from "../modules/scheduler/sleep-planner";
import type { Sample, SensorError } from "../modules/sensors/sensor";
import type { MqttClient } from "../modules/mqtt/client";
import { CoapServer } from "../modules/coap/server";
import { CoapClient } from "../modules/coap/client";
import type { ConfigCore, ConfigCoreEvent, ConfigShare } from "../modules/config/core";
import { safeApplySwitch, type SafeApplySwitch, type SafeApplySwitchOptions } from "../modules/config/safe-apply-switch";
import { configTopics } from "../modules/config/mqtt-binding";
import { MqttLink, deviceCore, deviceScheduler, isIpv4, type DeviceCoreOptions, type MqttLinkOptions } from "./link";
import type { SnLinkParts } from "./mqttsn-link";
import { ConfigCoapBinding } from "../modules/config/coap-binding";
import type { TlsCredentials } from "../modules/config/tls-credentials";
import { SENSOR_QUANTITIES, type DeviceConfig } from "../modules/config/schema";
import { decodeCoapKept, encodeCoapKept, type CoapKept } from "./coap-state";
import { passState, samplePass, startBoardSensors, type PassState, type SensorDriver, type SensorReading } from "./sensors";
import { mqttPublishPayloadLimit } from "../modules/telemetry/split";
import { discoveryMessages } from "../modules/telemetry/homeassistant";
import { encodeQuantity, encodeWaiting, quantityRaw, quantityValue, waitingReading, QUANTITIES, SENML_CBOR_CONTENT_FORMAT, SENML_JSON_CONTENT_FORMAT, type Quantity, type SenmlFormat, type WaitingReading } from "./senml";

export interface Reading {
  /** Sequence number of this reading since boot (1, 2, ...). */
  seq: number;
  /** Wall-clock ms since 1970 when the sampling pass began (NaN when the host has no time). */
  time: number;
  /** One value per quantity (see mergeSamples for which chip wins). */
  sample: Sample;
  /** Each chip's own sample, in board order. */
  sensors: SensorReading[];
}

export type AppState = "connecting" | "online" | "offline" | "stopped";

export interface AppOverrides {
  /** Sampling period in ms (instead of sampling.intervalS; fractions of a second allowed). */
  samplingMs?: number;
  /** Telemetry period in ms (instead of telemetry.intervalS); equal to samplingMs: every reading is sent at once. */
  telemetryMs?: number;
  /** Telemetry QoS (instead of telemetry.qos; 2 allowed here). */
  qos?: 0 | 1 | 2;
  /** SenML JSON (default) or CBOR. */
  format?: SenmlFormat;
  /** Run the device's CoAP server (default true when the platform has UDP). */
  coapServer?: boolean;
  /** Publish Home Assistant MQTT discovery configs (retained) on each connection (default false). */
  homeAssistant?: boolean;
  /** Take this many readings, then sample no more (the connection and the servers stay up). */
  maxReadings?: number;
}

export interface TelemetryEvent {
  /** Sequence numbers of the readings in this message (or these split messages). */
  seqs: number[];
  messages: number;
  bytes: number;
}

export interface AppOptions {
  platform: Platform;
  board: BoardDefinition;
  /** The device's own id (default: the configuration's deviceId). */
  deviceId?: string;
  /** Factory provisioning: configuration keys that replace the built-in defaults ("mqtt.host": "10.0.0.2"). */
  provisioned?: { [key: string]: unknown };
  /** Provision this command key (16..64 bytes) when the flash holds none. */
  key?: Uint8Array;
  /**
   * Provision TLS credentials for `mqtt.tls` (CA; client certificate and key for mutual TLS),
   * each when the flash holds none (modules/config/tls-credentials.ts).
   */
  tls?: TlsCredentials;
  /** Configuration groups shared with the other apps given the same pool: a simulated fleet passes one `{}` to all (modules/config/core.ts ConfigShare). */
  configShare?: ConfigShare;
  overrides?: AppOverrides;
  /** The address the device's CoAP server binds (default: every interface; a test on a shared host gives 127.0.0.1). */
  coapListenAddress?: string;
  /** Host name -> IPv4 address, for hosts without DNS. */
  resolve?(host: string): string | undefined;
  /**
   * With protocol "mqttsn": MQTT-SN session parts beyond the firmware's (src/mqttsn-link.ts),
   * made anew for each connection, e.g. `() => ({ qos2: new SnQos2() })` for QoS 2 telemetry.
   */
  mqttsnParts?(): SnLinkParts;
  /**
   * Buffered readings kept while telemetry cannot go out (default 32; past it the buffer is
   * thinned, docs/app.md "Telemetry under pressure"). The configuration's telemetry.maxBatch
   * (or this, when smaller) is how many wait for the telemetry period before going early.
   */
  maxBuffered?: number;
  /** Each reading as soon as every sensor has answered. */
  onReading?(reading: Reading): void;
  /** Telemetry handed to the network (MQTT client or CoAP). */
  onSent?(event: TelemetryEvent): void;
  /** Telemetry acknowledged (PUBACK / PUBCOMP / CoAP 2.xx to a CON). */
  onAcked?(event: TelemetryEvent): void;
  /** Telemetry that failed for good (refused, too large, a CoAP error answer; an unanswered CON's readings are kept instead). */
  onFailed?(event: TelemetryEvent, reason: string): void;
  onState?(state: AppState): void;
  /** Sensor, job and transport errors (default: platform.log). */
  onError?(message: string): void;
}

export interface App {
  readonly scheduler: Scheduler;
  readonly core: ConfigCore;
  readonly config: Readonly<DeviceConfig>;
  readonly readings: number;
  readonly sent: number;
  readonly acked: number;
  readonly failed: number;
  readonly dropped: number;
  /** Readings taken out of the buffer while telemetry could not go out (the thinning policy, docs/app.md). */
  readonly thinned: number;
  /** Readings handed to the MQTT outbox while not connected: sent once a connection writes them. */
  readonly queued: number;
  /** Readings in the app's buffer: not handed to the network yet, or kept after a CoAP CON went unanswered. */
  readonly buffered: number;
  readonly reconnects: number;
  /** The last CONNACK's Session Present: the broker kept the session (and what it queued for it) through a sleep; undefined before a CONNACK and over MQTT-SN. */
  readonly sessionPresent: boolean | undefined;
  /** MQTT connection attempts that failed since the last connection (or since boot). */
  readonly failedAttempts: number;
  /** When the MQTT client tries next (scheduler ms, `scheduler.now()` scale), while it waits. */
  readonly nextAttemptAt: number | undefined;
  /** The reason MQTT stopped retrying (a refusal the same CONNECT meets again), until a connection. */
  readonly gaveUp: string | undefined;
  readonly state: AppState;
  readonly mqtt: MqttClient | undefined;
  readonly coap: CoapServer | undefined;
  /** The UDP port of the device's CoAP server, if it runs. */
  readonly coapPort: number | undefined;
  /** Topics the app uses (MQTT). */
  readonly topics: { telemetry: string; state: string; config: string; commands: string };
  /** The latest merged sample. */
  readonly latest: Sample | undefined;
  stop(): void;
}
function seqOf(w: WaitingReading): number {
  return w[0];
}

function message(e: unknown): string {
  return String((e as Error)?.message ?? e);
}

/**
 * The longest a sampling pass waits for its sensors, ms (half the period when that is shorter):
 * the fast chips answer in tens of ms (a BH1750 in 180 ms), an SCD4x's first result takes 5 s.
 */
const SAMPLE_BUDGET_MS = 1000;
/** With sleep.mode "deep": a sampling pass may wait this long for every sensor (an SCD4x's first result). */
const DEEP_SAMPLE_BUDGET_MS = 60_000;

/**
 * The sleep record in RTC memory (after src/main.ts's boot counter at 0): "SLP1", the failed
 * wakes in a row (the give-up back-off), the readings taken so far (uint32), the planned wake
 * (float64, ms since 1970). Checked by its magic; zeros after power-on.
 */
const RTC_SLEEP_OFFSET = 16;
const RTC_SLEEP_BYTES = 20;
const RTC_SLEEP_MAGIC = 0x534c5031; // "SLP1"

/**
 * The CoAP state in RTC memory across a deep sleep (./coap-state.ts): each peer's next Message
 * ID and the server's observations. Written before every deep sleep, read on a wake from one.
 */
const RTC_COAP_OFFSET = 64;
const RTC_COAP_BYTES = 448;

/** MQTT 5: what the DISCONNECT's Session Expiry adds to a sleep for the wake (#sleepExpiryS), s. */
const SLEEP_EXPIRY_MARGIN_S = 120;

/** The device's CoAP server as a link: UDP, nothing to reopen beyond Wi-Fi, nothing to keep alive. */
const COAP_SERVER_LINK: LinkCost = Object.freeze({ name: "coap-server", reopenMs: 0, sessionKeptMs: Infinity, livenessMs: 0 });

const NO_QUANTITIES: readonly QuantityResource[] = Object.freeze([]);

interface QuantityResource {
  q: Quantity;
  last: number | undefined;
  resource: { notify(): void };
}

/** Starts the app on `platform`. Bad overrides throw (RangeError) before anything starts. */
export function startApp(options: AppOptions): App {
  return new DeviceApp(options);
}

/**
 * The app's state lives in fields and its steps are methods: one object per device (plus the
 * few callbacks handed to other components), not a closure per step. A simulated fleet runs
 * thousands of these (docs/app.md, "Fleet bench").
 */
class DeviceApp implements App {
  readonly scheduler: Scheduler;
  readonly core: ConfigCore;
  readings = 0;
  sent = 0;
  acked = 0;
  failed = 0;
  dropped = 0;
  thinned = 0;
  queued = 0;
  reconnects = 0;
  sessionPresent: boolean | undefined = undefined;
  failedAttempts = 0;
  gaveUp: string | undefined = undefined;
  state: AppState = "connecting";
  coap: CoapServer | undefined = undefined;

  readonly #options: AppOptions;
  readonly #o: AppOverrides;
  readonly #platform: Platform;
  readonly #format: SenmlFormat;
  readonly #maxBuffered: number;
  readonly #link: MqttLink;
  readonly #trial: ReturnType<typeof safeApplySwitch>;
  /** The board's started sensor drivers (startBoardSensors gives an exact-size array). */
  readonly #drivers: SensorDriver[];
  /** Readings not handed to the network yet, compact (src/senml.ts WaitingReading: ~65 XS slots fewer each). */
  readonly #buffer: WaitingReading[] = [];
  /** Per driver between sampling passes (src/sensors.ts samplePass). */
  readonly #passState: PassState;
  /** Sampling passes begun (overrides.maxReadings counts them). */
  #passes = 0;
  /** SenML bytes a reading took in the last batch (#flushBatch groups readings by it); a first guess before one. */
  #readingBytes = 300;
  /** Where the thinning policy removes the next reading from the buffer (#trimBuffer). */
  #thinAt = 1;
  /** Telemetry handed to the outbox while not connected: reported sent on the next CONNACK. */
  #unsent: TelemetryEvent[] | undefined = undefined;
  #coapBinding: ConfigCoapBinding | undefined = undefined;
  #coapClient: CoapClient | undefined = undefined;
  #coapServerPort: number | undefined = undefined;
  /** The CoAP state of an endpoint closed (or of the boot before a deep sleep), for the next one to go on from. */
  #coapKept: CoapKept | undefined = undefined;
  /** CoAP telemetry requests not yet answered (the sleep policy waits for them). */
  #coapInFlight = 0;
  /** The CoAP server's sensor resources (a shared empty array while there is no server). */
  #quantities: readonly QuantityResource[] = NO_QUANTITIES;
  /**
   * The latest merged sample as numbers in QUANTITIES order (NaN: not measured), overwritten
   * in place by each reading; `latest` makes the Sample from it on demand. Seven objects and six
   * boxed doubles kept per device before (~0.4 KB in a simulated fleet, issue 7).
   */
  #latestValues: number[] | undefined = undefined;
  #latestTime = NaN;
  #stopped = false;
  #everConnected = false;
  /** The MQTT client whose connection is up (set on CONNACK, cleared when it closes). */
  #up: MqttClient | undefined = undefined;
  /** Readings are held because the MQTT outbox was full at the last flush. */
  #waitingForRoom = false;
  #samplingJob: Job | undefined = undefined;
  #telemetryJob: Job | undefined = undefined;
  /** The sleep policy (modules/scheduler/sleep-policy.ts) while sleep.mode is not "none". */
  #sleep: SleepPolicy | undefined = undefined;

  /**
   * The options and callbacks the safe-apply switch, the MQTT link and the configuration core
   * take, as one object of prototype methods per device: nine closures and three option
   * objects before, ~0.5 KB a device in a simulated fleet (issue 7). Declared inside the
   * class so that its methods reach the app's private members.
   */
  static readonly #Hooks = class AppHooks implements SafeApplySwitchOptions, MqttLinkOptions, DeviceCoreOptions {
    declare readonly app: DeviceApp;
    declare readonly platform: Platform;
    declare readonly scheduler: Scheduler;
    declare trial: SafeApplySwitch;

    constructor(app: DeviceApp, platform: Platform, scheduler: Scheduler) {
      this.app = app;
      this.platform = platform;
      this.scheduler = scheduler;
      this.trial = undefined as unknown as SafeApplySwitch; // set once the switch exists
    }

    // deviceCore (DeviceCoreOptions)
    get board(): BoardDefinition {
      return this.app.#options.board;
    }
    get deviceId(): string | undefined {
      return this.app.#options.deviceId;
    }
    get provisioned(): { [key: string]: unknown } | undefined {
      return this.app.#options.provisioned;
    }
    get key(): Uint8Array | undefined {
      return this.app.#options.key;
    }
    get tls(): TlsCredentials | undefined {
      return this.app.#options.tls;
    }
    get configShare(): ConfigShare | undefined {
      return this.app.#options.configShare;
    }
    get connectivity(): SafeApplySwitch {
      return this.trial;
    }
    offline(): void {
      this.app.#link.offline();
    }

    // safeApplySwitch (SafeApplySwitchOptions)
    waitsForCoap(c: DeviceConfig): boolean {
      return this.app.#coapServerMoves(c);
    }
    open(c: DeviceConfig): void {
      const app = this.app;
      if (app.#coapServerMoves(c)) {
        app.#closeCoapServer();
        app.#openCoapServer(c);
      }
      app.#openTransport(c);
    }
    coapSocket(): { port?: unknown } | null {
      const app = this.app;
      if (app.#runsCoapServer()) return app.coap ? ((app.coap.socket as { port?: unknown } | undefined) ?? {}) : null;
      return app.#coapClient ? {} : null;
    }

    // MqttLink (MqttLinkOptions)
    report(m: string): void {
      this.app.#report(m);
    }
    resolve(host: string): string | undefined {
      const r = this.app.#options.resolve;
      return r ? r(host) : undefined;
    }
    mqttsnParts(): SnLinkParts | undefined {
      return this.app.#options.mqttsnParts?.();
    }
    onConnect(client: MqttClient, sessionPresent: boolean | undefined): void {
      this.app.sessionPresent = sessionPresent;
      this.app.#connected(client);
    }
    onClose(client: MqttClient, why: string | undefined): void {
      if (!this.app.#stopped) this.app.#closed(client, why);
    }
    onGiveUp(client: MqttClient, reason: string): void {
      if (!this.app.#stopped) this.app.#gaveUp(client, reason);
    }
    onRoom(): void {
      // After the binding's answers and retained state (MqttLink: they go first): the readings held.
      const app = this.app;
      if (app.#waitingForRoom && !app.#stopped) app.#flush();
    }

    // ConfigCore.on (ConfigListener)
    onConfigEvent(e: ConfigCoreEvent): void {
      this.app.#onConfigEvent(e);
    }
  };

  constructor(options: AppOptions) {
    const { platform, board } = options;
    const o = options.overrides ?? {};
    for (const k of ["samplingMs", "telemetryMs"] as const) {
      const v = o[k];
      if (v !== undefined && !(v > 0 && v < Infinity)) throw new RangeError(`app: overrides.${k} must be > 0, got ${v}`);
    }
    if (o.maxReadings !== undefined && !(Number.isInteger(o.maxReadings) && o.maxReadings >= 1)) throw new RangeError(`app: overrides.maxReadings must be an integer >= 1, got ${o.maxReadings}`);
    if (o.qos !== undefined && o.qos !== 0 && o.qos !== 1 && o.qos !== 2) throw new RangeError(`app: overrides.qos must be 0, 1 or 2, got ${o.qos}`);
    this.#options = options;
    this.#o = o;
    this.#platform = platform;
    this.#format = o.format ?? "json";
    this.#maxBuffered = options.maxBuffered ?? 32;
    // One closure reports for the scheduler and the sensor drivers alike (a SensorError by its message).
    const report = (m: string | SensorError) => this.#report(typeof m === "string" ? m : m.message);

    // Deep sleep and restart unwind to the host; any other job error is reported.
    const scheduler = (this.scheduler = deviceScheduler(platform, report));

    // Safe apply (modules/config/safe-apply-switch.ts): the switch waits one scheduler turn
    // (the command's "pending" answer and PUBACK [MQTT-4.3.2-4] go out first), MQTT is kept
    // once the new client connects, CoAP once the server's socket is bound on the new port;
    // the resource server moves with coap.listenPort whatever the protocol, and is waited for.
    // The switch, the MQTT link and the configuration core take their options and callbacks
    // from one AppHooks object (#Hooks, above).
    const hooks = new DeviceApp.#Hooks(this, platform, scheduler);
    this.#trial = hooks.trial = safeApplySwitch(hooks);

    // --- configuration and the MQTT link (src/link.ts, shared with the tests' config harness) ---
    this.#link = new MqttLink(hooks);
    const core = (this.core = deviceCore(hooks));
    this.#link.core = core;
    if (core.bootStatus === "corrupt") report("config: STATUS corrupt-config (running on defaults)");

    // --- sensors ---
    const sensors = startBoardSensors(platform, board, scheduler, report);
    this.#drivers = sensors.drivers;
    this.#passState = passState(this.#drivers);
    for (const f of sensors.failed) report(`sensor ${f.chip} at 0x${f.address.toString(16)} not started: ${f.reason}`);

    core.on(hooks); // AppHooks.onConfigEvent -> #onConfigEvent

    // --- boot ---
    const c0 = core.current;
    this.#readCoapState();
    this.#openCoapServer(c0);
    // The start line first, then the transport (with CoAP, "online" at the gateway's first answer).
    platform.log(
      `xs-iot ${c0.deviceId} on ${board.name}: ${this.#drivers.map((d) => d.chip).join(", ") || "no sensors"}; ` +
        `${c0.protocol === "coap" ? `CoAP to ${c0.coap.gatewayHost}:${c0.coap.gatewayPort}/${c0.coap.gatewayPath}` : `${c0.protocol} to ${c0.mqtt.host}:${c0.mqtt.port}`}; ` +
        `sampling every ${this.#samplingMs() / 1000} s` +
        (this.coap ? `; CoAP server on UDP ${this.coap.socket?.port ?? c0.coap.listenPort}` : "") +
        (c0.sleep.mode !== "none" ? `; sleeping as planned (up to ${c0.sleep.mode} sleep), reachable ${c0.sleep.awakeWindowS} s after each connection` : ""),
    );
    this.#restoreSleepRecord();
    this.#openTransport(c0);
    this.#armSampling(true);
    this.#armTelemetry();
    this.#armSleep();
  }

  /** The latest merged sample (undefined before the first reading): a fresh object each time. */
  get latest(): Sample | undefined {
    const values = this.#latestValues;
    if (!values) return undefined;
    const sample: { [group: string]: { [field: string]: number } } = {};
    for (let i = 0; i < QUANTITIES.length; i++) {
      const q = QUANTITIES[i];
      if (values[i] === values[i]) sample[q.group] = { [q.field]: values[i] };
    }
    return sample as Sample;
  }

  get config(): Readonly<DeviceConfig> {
    return this.core.current;
  }

  get mqtt(): MqttClient | undefined {
    return this.#link.client;
  }

  get nextAttemptAt(): number | undefined {
    const client = this.#link.client;
    return client && !client.isConnected ? client.reconnectAt : undefined;
  }

  get buffered(): number {
    return this.#buffer.length;
  }

  get coapPort(): number | undefined {
    return this.coap ? (this.coap.socket?.port ?? this.core.current.coap.listenPort) : undefined;
  }

  get topics(): App["topics"] {
    const t = configTopics(this.core.current);
    return { telemetry: t.base + "/tele", state: t.state, config: t.config, commands: t.commands };
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#samplingJob?.cancel();
    this.#telemetryJob?.cancel();
    this.#sleep?.stop();
    this.#sleep = undefined;
    for (const d of this.#drivers) d.close();
    this.#link.offline();
    this.#trial.cancel();
    this.#closeTransport();
    this.#closeCoapServer();
    this.core.close();
    this.scheduler.clear();
    this.#setState("stopped");
  }

  /** The configuration core's events: a change in effect re-arms the jobs; a lifted sleep prevention re-arms the sleep. */
  #onConfigEvent(e: ConfigCoreEvent): void {
    if (e.type === "change" && (e.phase === "applied" || e.phase === "kept" || e.phase === "rolled-back" || e.phase === "factory-reset")) {
      if (this.#o.samplingMs === undefined) this.#armSampling(false);
      this.#armTelemetry();
      this.#armSleep();
    }
  }

  // --- reporting ---

  #report(m: string): void {
    try {
      (this.#options.onError ?? this.#platform.log)(m);
    } catch {
      // a reporting hook must not break the app
    }
  }

  #call<A>(fn: ((a: A) => void) | undefined, a: A): void {
    if (!fn) return;
    try {
      fn(a);
    } catch (e) {
      this.#report("app callback: " + message(e));
    }
  }

  #failed(event: TelemetryEvent, reason: string): void {
    this.failed += event.seqs.length;
    const f = this.#options.onFailed;
    if (!f) return;
    try {
      f(event, reason);
    } catch (e) {
      this.#report("app callback: " + message(e));
    }
  }

  #acknowledged(event: TelemetryEvent): void {
    this.acked += event.seqs.length;
    this.#call(this.#options.onAcked, event);
  }

  #setState(s: AppState): void {
    if (s === this.state) return;
    this.state = s;
    this.#call(this.#options.onState, s);
  }

  #connected(client: MqttClient): void {
    if (this.#everConnected) this.reconnects++;
    if (this.failedAttempts) this.#platform.log(`mqtt: connected after ${this.failedAttempts} failed attempt(s)`);
    this.#everConnected = true;
    this.#up = client;
    this.failedAttempts = 0;
    this.gaveUp = undefined;
    // What the outbox held goes out on this connection [MQTT-4.4.0-1]: sent now.
    const unsent = this.#unsent;
    this.#unsent = undefined;
    this.queued = 0;
    if (unsent) for (const e of unsent) this.#reportSent(e);
    this.#setState("online");
    if (this.#o.homeAssistant) this.#publishDiscovery(client);
    this.#flush();
  }

  /** The MQTT connection closed, or an attempt failed: say so, why, and when the next attempt is (one line). */
  #closed(client: MqttClient, why: string | undefined): void {
    this.#setState("offline");
    const lost = this.#up === client;
    this.#up = undefined;
    if (!lost) this.failedAttempts++;
    // The client arms its next attempt right after this callback: report one turn later,
    // when client.reconnectAt says when.
    this.scheduler.after(0, () => {
      if (this.#stopped || this.#link.client !== client || client.isConnected) return;
      const c = this.core.current;
      const at = client.reconnectAt;
      const next = at === undefined ? "" : `; next attempt in ${Math.max(0, Math.round((at - this.scheduler.now()) / 100) / 10)} s`;
      const to = `${c.mqtt.host}:${c.mqtt.port}`;
      if (this.gaveUp === undefined) this.#report(lost ? `mqtt: connection to ${to} lost${why ? ` (${why})` : ""}${next}` : `mqtt: cannot connect to ${to} (attempt ${this.failedAttempts} failed${why ? ": " + why : ""})${next}`);
    }, { name: "mqtt-closed" });
  }

  #gaveUp(client: MqttClient, reason: string): void {
    this.gaveUp = reason;
    this.#setState("offline");
    const c = this.core.current;
    this.#report(`mqtt: gave up connecting to ${c.mqtt.host}:${c.mqtt.port}: ${reason} (the same CONNECT would be refused again; a config change or a reboot tries again)`);
  }

  #resolve(host: string): string {
    return this.#link.resolve(host);
  }

  #qos(): 0 | 1 | 2 {
    return (this.#o.qos ?? this.core.current.telemetry.qos) as 0 | 1 | 2;
  }

  #telemetryTopic(): string {
    return `${configTopics(this.core.current).base}/tele`;
  }

  #samplingMs(): number {
    return this.#o.samplingMs ?? this.core.current.sampling.intervalS * 1000;
  }

  #telemetryMs(): number {
    const o = this.#o;
    return o.telemetryMs ?? (o.samplingMs !== undefined && o.telemetryMs === undefined ? o.samplingMs : this.core.current.telemetry.intervalS * 1000);
  }

  // --- CoAP server: /.well-known/core, /sensors/<quantity>, /config, /cmd/* ---

  #runsCoapServer(): boolean {
    return this.#o.coapServer !== false && !!this.#platform.io.UDP;
  }

  #coapServerMoves(c: Readonly<DeviceConfig>): boolean {
    return this.#runsCoapServer() && this.#coapServerPort !== c.coap.listenPort;
  }

  #openCoapServer(c: Readonly<DeviceConfig>): void {
    if (!this.#runsCoapServer()) return;
    const platform = this.#platform;
    this.#coapServerPort = c.coap.listenPort;
    const address = this.#options.coapListenAddress;
    let server: CoapServer;
    try {
      server = new CoapServer({
        // No `address` key unless one is given: the host's UDP class then binds every interface.
        socket: address ? { io: platform.io.UDP, port: c.coap.listenPort, address } : { io: platform.io.UDP, port: c.coap.listenPort },
        scheduler: this.scheduler,
        random: (b) => platform.crypto.randomFill(b),
        onError: (e) => {
          this.#report("coap: " + message(e));
          // Node binds asynchronously: an error before the socket shows its port is a failed bind,
          // and a safe apply that (re)opened the server on this port cannot work.
          if (this.coap === server && typeof (server.socket as { port?: unknown } | undefined)?.port !== "number") this.#trial.fail(`cannot open the CoAP server on UDP port ${c.coap.listenPort}: ${message(e)}`);
        },
      });
    } catch (e) {
      this.#report(`coap: cannot open the server on UDP port ${c.coap.listenPort}: ${message(e)}`);
      this.coap = undefined;
      return;
    }
    this.coap = server;
    this.#coapBinding = new ConfigCoapBinding({ core: this.core, server });
    const quantities: QuantityResource[] = [];
    for (const q of QUANTITIES) {
      const resource = server.add("sensors/" + q.name, {
        title: q.name,
        rt: "xs-iot." + q.name,
        ct: [SENML_JSON_CONTENT_FORMAT, SENML_CBOR_CONTENT_FORMAT],
        observable: true,
        // CON notifications (RFC 7641 §4.5 lets the server choose): their state goes with the
        // observer's ACK. A NON's is kept NON_LIFETIME (145 s) to match a RST, ~64 slots each
        // in modules/coap: one observer at a 5 s period held ~1,900 more slots (mcsim, esp32s3
        // limits). A CON that times out also drops an observer that went away (§4.5).
        confirmableNotifications: true,
        get: (req) => this.#getQuantity(q, req.accept),
      });
      quantities.push({ q, last: undefined, resource });
    }
    this.#quantities = quantities.slice(); // exact size
    this.#resumeCoap(server);
  }

  #getQuantity(q: Quantity, accept: number | undefined): { code?: number; payload?: Uint8Array; contentFormat?: number; maxAge: number } {
    const latest = this.latest;
    const v = latest ? quantityValue(latest, q) : undefined;
    const maxAge = Math.max(1, Math.ceil(this.#samplingMs() / 1000));
    // RFC 7252 §5.9.3.4: nothing measured yet -> 5.03 with Max-Age = when to ask again.
    if (v === undefined) return { code: 0xa3, maxAge };
    const f: SenmlFormat = accept === SENML_CBOR_CONTENT_FORMAT ? "cbor" : "json";
    return {
      payload: encodeQuantity(this.core.current.deviceId, q, latest!, this.#latestTime, f),
      contentFormat: f === "cbor" ? SENML_CBOR_CONTENT_FORMAT : SENML_JSON_CONTENT_FORMAT,
      maxAge,
    };
  }

  #closeCoapServer(): void {
    this.#keepCoap();
    this.#coapBinding?.detach();
    this.#coapBinding = undefined;
    this.coap?.close();
    this.coap = undefined;
    this.#coapServerPort = undefined;
    this.#quantities = NO_QUANTITIES;
  }

  // --- transport ---

  /** `sessionExpiryS`: MQTT 5's DISCONNECT before a sleep (#sleepExpiryS). */
  #closeTransport(sessionExpiryS?: number): void {
    this.#link.close(sessionExpiryS);
    if (this.#coapClient && this.#coapClient.endpoint !== this.coap?.endpoint) this.#keepCoap();
    this.#coapClient?.close();
    this.#coapClient = undefined;
  }

  #openTransport(c: Readonly<DeviceConfig>): void {
    this.#closeTransport();
    if (c.protocol === "coap") {
      const platform = this.#platform;
      try {
        this.#coapClient = this.coap ? new CoapClient({ endpoint: this.coap.endpoint }) : new CoapClient({ socket: { io: platform.io.UDP }, scheduler: this.scheduler, random: (b) => platform.crypto.randomFill(b) });
        if (!this.coap) this.#resumeCoap(undefined);
        // No connection to make: "online" at the gateway's first answer (#sendCoap), not before.
        this.#setState("connecting");
      } catch (e) {
        this.#report("coap: cannot open a client socket: " + message(e));
        this.#setState("offline");
      }
      return;
    }
    this.#setState("connecting");
    if (!this.#link.open(c)) this.#setState("offline");
  }

  /** Home Assistant MQTT discovery: one retained config per quantity the board measures. */
  #publishDiscovery(client: MqttClient): void {
    const c = this.core.current;
    const board = this.#options.board;
    // The quantities the board's chips measure (config schema names; the battery's "voltage" is SenML "battery").
    const have: string[] = [];
    const chips = board.sensors.map((x) => x.chip as string).concat(board.battery ? ["battery"] : []);
    for (const chip of chips) for (const q of SENSOR_QUANTITIES[chip] ?? []) {
      const name = q === "voltage" ? "battery" : q;
      if (have.indexOf(name) < 0 && QUANTITIES.some((x) => x.name === name)) have.push(name);
    }
    try {
      // A sleeping device: a value expires only when the device misses its next report (issue 19).
      const expireAfter = c.sleep.mode === "none" ? undefined : SleepPolicy.expireAfterS(this.#telemetryMs(), c.sleep.awakeWindowS * 1000);
      const messages = discoveryMessages({ deviceId: c.deviceId, topicPrefix: c.topicPrefix, quantities: have, device: { model: board.title }, expireAfter });
      // Through the binding: retained, they wait for room in a full outbox as its own do (a newer one replacing a waiting one).
      const binding = this.#link.binding;
      for (const m of messages) binding ? binding.publishRetained(m.topic, m.payload) : client.publish(m.topic, m.payload, { qos: 1, retain: true });
      const first = messages.length ? messages[0].topic : "";
      this.#platform.log(`homeassistant: ${messages.length} discovery config(s) published, retained: ${first.slice(0, first.lastIndexOf("/", first.lastIndexOf("/") - 1) + 1)}{${have.join(",")}}/config`);
    } catch (e) {
      this.#report("homeassistant: " + message(e));
    }
  }

  // --- telemetry ---

  /** The largest SenML pack that fits one message. */
  #budget(): number {
    const c = this.core.current;
    if (c.protocol === "coap") return 1024; // one block: no block-wise transfer needed (RFC 7959 §2.2)
    if (c.protocol === "mqttsn") return 1024; // one datagram: MQTT-SN has no fragmentation (§5.2.1)
    const max = this.#link.client?.serverProperties?.maximumPacketSize;
    if (!max) return 65536;
    // [MQTT-3.2.2-15]: the whole PUBLISH must fit; counted with the full topic and room for a Topic Alias property (3 bytes).
    const version = c.protocol === "mqtt311" ? 4 : 5;
    return mqttPublishPayloadLimit(max, this.#telemetryTopic(), { version, qos: this.#qos(), propertiesLength: version === 5 ? 3 : 0 });
  }

  /**
   * Telemetry out: one batch of at most #batchMax() readings, the oldest first (docs/app.md,
   * "Readings waiting"); at QoS 0, which nothing acknowledges, the next batch at once, else the
   * next when an acknowledgement comes (#sendMqtt, #sendCoap), so that no more than one batch
   * is encoded at a time.
   */
  #flush(): void {
    while (this.#flushBatch() && this.#qos() === 0 && this.#buffer.length);
  }

  /** Readings that wait before a batch goes without waiting for the period: telemetry.maxBatch, or maxBuffered when smaller. */
  #batchMax(): number {
    return Math.max(1, Math.min(this.core.current.telemetry.maxBatch, this.#maxBuffered));
  }

  /** One batch to the transport; false when none went (nothing to send, no connection, no room). */
  #flushBatch(): boolean {
    const buffer = this.#buffer;
    if (!buffer.length || this.#stopped) return false;
    const c = this.core.current;
    const qos = this.#qos();
    const mqtt = this.#link.client;
    if (c.protocol !== "coap" && (!mqtt || (!mqtt.isConnected && qos === 0))) return false; // kept for the next connection
    if (c.protocol === "coap" && !this.#coapClient) return false;
    if (c.protocol === "coap" && qos > 0 && this.#coapInFlight > 0) {
      // RFC 7252 §4.7: one outstanding interaction with the gateway (NSTART 1). The readings
      // wait in the buffer (bounded, thinned) and go together when the CON in flight ends:
      // a CON per reading to a gateway that does not answer held ~250 slots each for up to
      // MAX_TRANSMIT_WAIT (93 s) and filled a 4,928-slot heap in a minute (mcsim).
      this.#waitingForRoom = true;
      return false;
    }
    if (c.protocol !== "coap" && qos > 0 && (this.#link.binding?.waiting || !this.#outboxHasRoom(mqtt!, 1, 512))) {
      // The outbox cannot take a message now, or answers and retained state wait for it (the
      // config binding's: they go first, docs/app.md "Telemetry under pressure"): keep the
      // readings (nothing encoded, no error built) and try again when an acknowledgement frees
      // a place (AppHooks.onRoom, after the binding's).
      this.#waitingForRoom = true;
      return false;
    }
    this.#waitingForRoom = false;
    const limited = c.protocol !== "coap" && qos > 0;
    const overhead = this.#telemetryTopic().length + 16;
    // As many buffered readings as the outbox has room for, all of each one's messages (a
    // reading split under a small Maximum Packet Size is two or more): never half a reading in
    // the outbox. A batch too large is shrunk in proportion (at most a few encodings). At most
    // #batchMax() readings are encoded at once: 25 readings as one 7,269-byte pack took the
    // esp32c3's block past its size (mcsim, docs/moddable.md).
    let n = Math.min(buffer.length, this.#batchMax());
    let packs: Uint8Array[];
    let bytes: number;
    for (;;) {
      try {
        // As many readings a pack as fit the budget by the last batch's size (a tenth spare): each
        // message encoded on its own, not the batch as one pack split afterwards (encodeWaiting).
        const budget = this.#budget();
        packs = encodeWaiting(c.deviceId, n === buffer.length ? buffer : buffer.slice(0, n), this.#format, budget, (budget * 0.9) / this.#readingBytes);
      } catch (e) {
        const failed = buffer.splice(0, n);
        this.#failed({ seqs: failed.map(seqOf), messages: 0, bytes: 0 }, message(e));
        this.#report(message(e));
        return false;
      }
      bytes = 0;
      for (const p of packs) bytes += p.length;
      this.#readingBytes = bytes / n;
      if (!limited || this.#outboxHasRoom(mqtt!, packs.length, bytes + packs.length * overhead)) break;
      if (n === 1) {
        // Not even one reading's messages fit now: it waits whole for an acknowledgement.
        this.#waitingForRoom = true;
        return false;
      }
      const box = mqtt!.outbox;
      const room = Math.min(box.maxMessages - box.count, Math.floor((box.maxBytes - box.bytes) / (bytes / packs.length + overhead)));
      n = Math.max(1, Math.min(n - 1, Math.floor((n * Math.max(room, 0)) / packs.length)));
    }
    const batch = buffer.splice(0, n);
    if (buffer.length) this.#waitingForRoom = true; // the rest goes when an acknowledgement frees room
    const seqs = batch.map(seqOf);
    const event: TelemetryEvent = { seqs, messages: packs.length, bytes };
    if (c.protocol === "coap") return this.#sendCoap(c, packs, qos, event, batch);
    return this.#sendMqtt(mqtt!, packs, qos, event, batch);
  }

  /**
   * Room for one more telemetry message in the MQTT outbox (count, and bytes for a typical
   * pack). Checked before encoding: under back-pressure (a slow or unreachable broker at
   * QoS 1/2) a device would otherwise encode its whole buffer and build an "outbox-full"
   * error for every reading, and spend its CPU on that instead of on delivering.
   */
  #outboxHasRoom(mqtt: MqttClient, messages: number, bytes: number): boolean {
    const box = mqtt.outbox;
    return box.count + messages <= box.maxMessages && box.bytes + bytes <= box.maxBytes;
  }

  /** False when the client refused the batch's first message (the readings are kept). */
  #sendMqtt(mqtt: MqttClient, packs: Uint8Array[], qos: 0 | 1 | 2, event: TelemetryEvent, batch: WaitingReading[]): boolean {
    const topic = this.#telemetryTopic();
    // One tracker per message group: the callbacks share it instead of each capturing the app's state.
    const track = { pending: packs.length, error: undefined as string | undefined };
    const done = (e: { message: string } | undefined) => {
      if (this.#stopped) return; // ended by stop(): the outbox keeps the message
      if (e) track.error = e.message;
      if (--track.pending === 0) {
        if (track.error === undefined) this.#acknowledged(event);
        else this.#failed(event, track.error);
      }
      if (this.#waitingForRoom) this.#flush(); // a place in the outbox is free again
    };
    let handed = 0;
    for (const p of packs) {
      try {
        mqtt.publish(topic, p, { qos }, done);
        handed++;
      } catch (e) {
        // Refused now (outbox full, busy, not connected): keep the readings for the next try.
        if (handed === 0) {
          this.#keep(batch);
          return false;
        }
        track.pending -= 1;
        track.error = message(e);
        this.#report("telemetry: " + track.error);
      }
    }
    // Sent is what a connection writes: handed over while disconnected, the outbox keeps it
    // and the next connection sends it (#connected reports it then).
    if (mqtt.isConnected) this.#reportSent(event);
    else {
      this.queued += event.seqs.length;
      (this.#unsent ??= []).push(event);
    }
    // QoS 0 has no acknowledgement: delivered as far as the protocol can tell.
    if (qos === 0) this.#acknowledged(event);
    return true;
  }

  #reportSent(event: TelemetryEvent): void {
    this.sent += event.seqs.length;
    this.#call(this.#options.onSent, event);
  }

  /** False when the gateway's name does not resolve (the readings are kept). */
  #sendCoap(c: Readonly<DeviceConfig>, packs: Uint8Array[], qos: 0 | 1 | 2, event: TelemetryEvent, batch: WaitingReading[]): boolean {
    const address = this.#resolve(c.coap.gatewayHost);
    if (!isIpv4(address)) {
      this.#report(`telemetry: cannot resolve the CoAP gateway "${c.coap.gatewayHost}"`);
      this.#keep(batch);
      return false;
    }
    const confirmable = qos > 0; // RFC 7252 §4.2 CON / §4.3 NON
    let pending = packs.length;
    let error: string | undefined;
    const t0 = this.scheduler.now();
    if (confirmable) this.#coapInFlight += packs.length;
    for (const p of packs) {
      this.#coapClient!
        .request({ method: "POST", address, port: c.coap.gatewayPort, path: c.coap.gatewayPath, payload: p, contentFormat: this.#format === "cbor" ? SENML_CBOR_CONTENT_FORMAT : SENML_JSON_CONTENT_FORMAT, confirmable })
        .then(
          (res) => {
            // CoAP has no connection: an answer is what says that the gateway is there.
            if (!this.#stopped) this.#setState("online");
            if (!res.ok) error = `gateway answered ${res.status}`;
          },
          (e) => {
            // A NON request is not answered by every gateway: no answer is not a failure then.
            // A CON with no answer after MAX_RETRANSMIT (or MAX_TRANSMIT_WAIT): kept, not failed.
            if (confirmable) error = (e as { reason?: unknown }).reason === "timeout" ? "" : message(e);
          },
        )
        .then(() => {
          if (confirmable) this.#coapInFlight--;
          if (--pending || this.#stopped) return;
          if (!confirmable) return;
          if (error === "") {
            // RFC 7252 §4.2: the CON went MAX_RETRANSMIT + 1 times unanswered. Its readings go with the next request (issue 15).
            this.sent -= event.seqs.length;
            if (this.state === "online") this.#setState("offline");
            this.#report(`coap: no answer from ${c.coap.gatewayHost}:${c.coap.gatewayPort} in ${Math.round((this.scheduler.now() - t0) / 1000)} s (CON, RFC 7252 §4.2 MAX_RETRANSMIT); ${event.seqs.length} reading(s) kept for the next request`);
            this.#keep(batch);
          } else if (error === undefined) this.#acknowledged(event);
          else {
            this.#report("telemetry: " + error);
            this.#failed(event, error);
          }
          if (this.#waitingForRoom && this.#coapInFlight === 0) this.#flush(); // the readings held meanwhile
        });
    }
    this.sent += event.seqs.length;
    this.#call(this.#options.onSent, event);
    if (!confirmable) this.#acknowledged(event);
    return true;
  }

  /** Readings that did not go out go back to the front of the buffer (thinned, if it overflows). */
  #keep(batch: WaitingReading[]): void {
    this.#buffer.unshift(...batch);
    this.#trimBuffer();
  }

  /**
   * The thinning policy (docs/app.md, "Telemetry under pressure"): past maxBuffered readings
   * waiting, every second one is taken out, walking from the oldest to the newest and round
   * again, so a long outage keeps readings over all of it at a lower rate, the newest densest,
   * instead of only its last maxBuffered readings. Each reading keeps its own time.
   */
  #trimBuffer(): void {
    const buffer = this.#buffer;
    if (buffer.length <= this.#maxBuffered) return;
    const before = this.thinned;
    while (buffer.length > this.#maxBuffered) {
      if (this.#thinAt >= buffer.length - 1) this.#thinAt = 1;
      buffer.splice(this.#thinAt, 1);
      this.#thinAt++;
      this.thinned++;
    }
    // Said once per 32 thinned, not per reading.
    if (before >> 5 !== this.thinned >> 5 || before === 0) this.#platform.log(`telemetry: cannot go out as fast as readings come (${this.#waitingForRoom ? (this.core.current.protocol === "coap" ? "a CoAP request in flight" : "MQTT outbox full") : "not connected"}): ${this.thinned} reading(s) thinned out so far, ${buffer.length} kept`);
  }

  #onReading(reading: Reading): void {
    const values = (this.#latestValues ??= QUANTITIES.map(() => NaN));
    for (let i = 0; i < QUANTITIES.length; i++) {
      const v = quantityRaw(reading.sample, QUANTITIES[i]);
      values[i] = typeof v === "number" ? v : NaN;
    }
    this.#latestTime = reading.time;
    for (const r of this.#quantities) {
      const v = quantityValue(reading.sample, r.q);
      if (v !== r.last) {
        r.last = v;
        if (v !== undefined) r.resource.notify();
      }
    }
    this.#call(this.#options.onReading, reading);
    const buffer = this.#buffer;
    buffer.push(waitingReading(reading.seq, reading.time, values));
    const max = this.#batchMax();
    const job = this.#telemetryJob;
    // Reaching the batch bound now (not a backlog past it, which acknowledgements drain).
    const full = buffer.length === max;
    this.#trimBuffer();
    if (this.#telemetryMs() <= this.#samplingMs()) this.#flush();
    else if (full) {
      // A full batch goes now, not at the end of the period (docs/app.md, "Readings waiting"):
      // the telemetry job is a radio job, so a sleeping device's links open for it; it
      // flushes and counts its next period from now.
      if (job) job.delay(0);
      else this.#flush();
    } else if (buffer.length < max) {
      // The sleep planner plans by the next radio job: the telemetry job is due when the batch
      // will be full (half a period after its last sampling pass), if that is sooner than the
      // period's end. Planned by the period alone, a device sampling every 5 s with a 600 s
      // period let its links go at every wake and opened them again 40 s later for the batch.
      const p = this.#samplingMs();
      const fullAt = this.scheduler.now() + (max - buffer.length) * p + p / 2;
      if (job && fullAt < job.deadline) job.reschedule(fullAt);
    }
  }

  // --- jobs ---

  #armSampling(first: boolean): void {
    const max = this.#o.maxReadings;
    if (max !== undefined && this.#passes >= max) return;
    const period = this.#samplingMs();
    const drivers = this.#drivers;
    for (let i = 0; i < drivers.length; i++) drivers[i].pace?.(period);
    const start = first ? this.#platform.clock.now() : this.scheduler.now() + period;
    this.#samplingJob?.cancel();
    // Every reading sent as it comes (telemetry period <= sampling period): sampling is a radio job.
    const radio = this.#telemetryMs() <= period;
    this.#samplingJob = this.scheduler.schedule({ name: "sample", deadline: start, radio, run: DeviceApp.#sampleJob, target: this });
  }

  /** The sampling job's run, shared by every app (the job's target is the app). */
  static #sampleJob(this: DeviceApp, _now: number, job: Job): void {
    this.#sample(job);
  }

  #sample(job: Job): void {
    const p = this.#samplingMs();
    const max = this.#o.maxReadings;
    // Drift-free period; one pass per period (samplePass: a slow sensor sits passes out
    // instead of stacking them up, and closes none later than SAMPLE_BUDGET_MS).
    if (max === undefined || ++this.#passes < max) job.reschedule(job.deadline + p, { earliest: job.deadline + p * 0.9, latest: job.deadline + p * 1.1 });
    else if (this.#samplingJob === job) this.#samplingJob = undefined; // the last pass: the job is done
    const time = this.#platform.clock.epoch();
    // A device that deep-sleeps between readings takes one per wake: that one waits for every sensor.
    const budget = this.core.current.sleep.mode === "deep" ? DEEP_SAMPLE_BUDGET_MS : Math.min(p / 2, SAMPLE_BUDGET_MS);
    samplePass(this.#drivers, this.#passState, this.scheduler, budget, (sample, each) => {
      if (this.#stopped) return;
      const seq = ++this.readings;
      this.#onReading({ seq, time, sample, sensors: each });
    });
  }

  #armTelemetry(): void {
    this.#telemetryJob?.cancel();
    this.#telemetryJob = undefined;
    const period = this.#telemetryMs();
    if (period <= this.#samplingMs()) return; // every reading goes out as it comes
    // A tenth of the period either side: the scheduler may move a report that far to share a wake.
    this.#telemetryJob = this.scheduler.after(period, (_now, job) => {
      this.#flush();
      const p = this.#telemetryMs();
      job.delay(p, p / 10);
    }, { name: "telemetry", radio: true, slackMs: period / 10 });
  }

  // --- sleep (sleep.mode "light" / "deep"): the one policy, in the scheduler ---

  /**
   * With sleep.mode "light" or "deep" the scheduler's SleepPolicy puts the device to sleep
   * between wakes as the planner chooses (docs/scheduler.md): the links open before a radio
   * job, stay reachable sleep.awakeWindowS after they connect (the command window), and are
   * closed cleanly when a sleep lets them go (retained state "asleep" with the wake time, then
   * DISCONNECT: no Will); before deep sleep the buffered readings go to the QoS 1/2 outbox in
   * flash and the sleep record to RTC memory. "none" never sleeps.
   */
  #armSleep(): void {
    const c = this.core.current;
    if (c.sleep.mode === "none" || this.#stopped) {
      this.#sleep?.stop();
      this.#sleep = undefined;
      return;
    }
    if (this.#sleep) {
      this.#sleep.mode = c.sleep.mode;
      return;
    }
    this.#sleep = new SleepPolicy({
      scheduler: this.scheduler,
      power: this.#platform.power,
      figures: this.#options.board.power,
      host: new DeviceApp.#SleepHost(this),
      mode: c.sleep.mode,
      driftPpm: c.sleep.driftPpm,
      commandWindowMs: c.sleep.awakeWindowS * 1000,
    });
  }

  // --- CoAP state across sleeps: Message IDs (RFC 7252 §4.4) and observations (RFC 7641) ---

  /** What the CoAP endpoint in use and the server hold now, for the next endpoint (or boot) to go on from. */
  #keepCoap(): void {
    const server = this.coap;
    const endpoint = server?.endpoint ?? this.#coapClient?.endpoint;
    if (endpoint) this.#coapKept = { peers: endpoint.messageIds(), observations: server ? server.observations() : [] };
  }

  /** A new endpoint goes on from what was kept: the server's (with its observers) or, without one, the client's. */
  #resumeCoap(server: CoapServer | undefined): void {
    const kept = this.#coapKept;
    const endpoint = server?.endpoint ?? this.#coapClient?.endpoint;
    if (!kept || !endpoint) return;
    this.#coapKept = undefined;
    endpoint.resumeMessageIds(kept.peers);
    if (server && kept.observations.length) {
      const n = server.restoreObservations(kept.observations);
      this.#platform.log(`coap: ${n} observer(s) kept across the sleep`);
    }
  }

  /** On a wake from deep sleep: the CoAP state the boot before kept in RTC memory. */
  #readCoapState(): void {
    const cause = this.#platform.power.wakeCause;
    if (cause !== "deep-sleep" && cause !== "external") return;
    try {
      this.#coapKept = decodeCoapKept(this.#platform.rtc.read(RTC_COAP_OFFSET, RTC_COAP_BYTES));
    } catch {
      // a platform with less RTC memory: nothing kept
    }
  }

  /** Before deep sleep: the CoAP state to RTC memory (an empty record when there is none, so nothing stale comes back). */
  #writeCoapState(): void {
    this.#keepCoap();
    try {
      this.#platform.rtc.write(RTC_COAP_OFFSET, encodeCoapKept(this.#coapKept ?? { peers: [], observations: [] }, RTC_COAP_BYTES));
    } catch (e) {
      this.#report("sleep: cannot keep the CoAP state in RTC memory: " + message(e));
    }
  }

  /** The readings count and the give-up attempts survive deep sleep in RTC memory. */
  #restoreSleepRecord(): void {
    const r = this.#readSleepRecord();
    if (r) this.readings = r.readings;
  }

  #readSleepRecord(): { attempts: number; readings: number; wakeAt: number } | undefined {
    const platform = this.#platform;
    if (platform.power.wakeCause === "power-on") return undefined;
    try {
      const v = new DataView(platform.rtc.read(RTC_SLEEP_OFFSET, RTC_SLEEP_BYTES).buffer);
      if (v.getUint32(0, true) !== RTC_SLEEP_MAGIC) return undefined;
      return { attempts: v.getUint8(4), readings: v.getUint32(8, true), wakeAt: v.getFloat64(12, true) };
    } catch {
      return undefined; // a platform with less RTC memory: nothing kept
    }
  }

  #writeSleepRecord(attempts: number, wakeAt: number): void {
    const v = new DataView(new ArrayBuffer(RTC_SLEEP_BYTES));
    v.setUint32(0, RTC_SLEEP_MAGIC, true);
    v.setUint8(4, Math.min(255, attempts));
    v.setUint32(8, this.readings >>> 0, true);
    v.setFloat64(12, wakeAt, true);
    try {
      this.#platform.rtc.write(RTC_SLEEP_OFFSET, new Uint8Array(v.buffer));
    } catch (e) {
      this.#report("sleep: cannot keep the sleep record in RTC memory: " + message(e));
    }
  }

  /** The app as the sleep policy's host (prototype methods: one small object per device). */
  static readonly #SleepHost = class AppSleepHost implements SleepHost {
    declare readonly app: DeviceApp;
    constructor(app: DeviceApp) {
      this.app = app;
    }
    links(): readonly LinkCost[] {
      const app = this.app;
      const c = app.core.current;
      const power = app.#options.board.power;
      // MQTT 5: the DISCONNECT before a sleep lengthens the session to cover it (#sleepExpiryS),
      // unless the broker's CONNACK set the expiry itself (§3.2.2.3.2): then that is what it keeps.
      const serverExpiry = app.#link.client?.serverProperties?.sessionExpiryInterval;
      const own = c.protocol === "coap" ? linkCost("coap", power) : linkCost(c.protocol, power, { tls: c.mqtt.tls, keepAliveS: c.mqtt.keepAliveS, sessionExpiryS: serverExpiry ?? c.mqtt.sessionExpiryS, expiryOnDisconnect: serverExpiry === undefined });
      return app.coap ? [own, COAP_SERVER_LINK] : [own];
    }
    linksUp(): boolean {
      const app = this.app;
      return app.core.current.protocol === "coap" ? app.#coapClient !== undefined : app.#link.client !== undefined;
    }
    linksReady(): boolean {
      const app = this.app;
      return app.core.current.protocol === "coap" ? app.#coapClient !== undefined : !!app.#link.client?.isConnected;
    }
    busy(): boolean {
      const app = this.app;
      if (app.core.trialRunning || app.#waitingForRoom || app.#coapInFlight > 0) return true;
      const client = app.#link.client;
      if (!client) return false;
      // MQTT-SN (§6.14): busy until the gateway acknowledges the sleep; asleep there, nothing is in flight.
      const sn = app.#link.snSleepState();
      if (sn) return sn === "falling";
      return !client.isConnected || client.outbox.count > 0 || client.queued > 0;
    }
    prevented(): boolean {
      const core = this.app.core;
      return core.sleepPrevented || core.trialRunning;
    }
    openLinks(): void {
      const app = this.app;
      const c = app.core.current;
      if (!app.coap) app.#openCoapServer(c);
      if (!this.linksUp()) app.#openTransport(c);
    }
    prepare(deep: boolean): boolean {
      const app = this.app;
      if (!deep || !app.#buffer.length) return false;
      // Deep sleep loses RAM: the buffered readings go out (MQTT: to the outbox, kept in flash at QoS 1/2).
      if (!this.linksUp()) this.openLinks(); // MQTT flushes on CONNACK, CoAP at once
      if (this.linksReady()) app.#handOver();
      return this.busy() || app.#buffer.length > 0;
    }
    /**
     * `radioMs`/`radioAt`: by when the next radio obligation has run (SleepPlan.radioMs), not the
     * next wake: the wakes between (a sampling reading with telemetry batched) sleep again with
     * the links closed. So the retained "asleep <time>" says when the device is reachable again
     * (a command is read then), and the MQTT-SN Duration and MQTT 5's Session Expiry cover the
     * sleeps up to it: covering only the next wake, the gateway took the client for lost and
     * its Will fired before the radio wake (docs/moddable.md, "Readings waiting", fault 1).
     */
    announce(radioMs: number, radioAt: number | undefined): boolean {
      const app = this.app;
      if (!app.#link.client) return false; // CoAP: no retained state to say it on
      const epoch = app.#platform.clock.epoch();
      app.#link.asleep(radioAt === undefined || epoch !== epoch ? NaN : epoch + (radioAt - app.scheduler.now()));
      // MQTT-SN: then asleep at the gateway (§6.14: DISCONNECT with a Duration after the state),
      // up to the radio wake with the RTC slow by twice sleep.driftPpm plus the wake's margin; a
      // sleep with no radio wake planned ends with a plain DISCONNECT instead (closeLinks).
      if (app.core.current.protocol === "mqttsn" && radioMs < Infinity) app.#link.snSleep(Math.min(0xffff, app.#sleepCoverS(radioMs)));
      return true;
    }
    closeLinks(radioMs: number, _radioAt: number | undefined, deep: boolean): void {
      const app = this.app;
      if (deep) app.#handOver(); // what is left (QoS 0 while not connected: dropped, counted)
      app.#closeTransport(app.#sleepExpiryS(radioMs));
      app.#closeCoapServer();
      app.#setState("offline");
      app.#platform.log(`sleep: links closed for ${Math.round(radioMs)} ms (${deep ? "deep" : "light"} sleep)`);
    }
    beforeDeepSleep(sleepMs: number, attempts: number): void {
      const app = this.app;
      for (const d of app.#drivers) d.close();
      app.#writeCoapState();
      app.#writeSleepRecord(attempts, app.#platform.clock.epoch() + sleepMs);
    }
    attempts(): number {
      return this.app.#readSleepRecord()?.attempts ?? 0;
    }
    log(line: string): void {
      this.app.#platform.log(line);
    }
  };

  /**
   * MQTT 5, before a sleep that lets the link go: the DISCONNECT's Session Expiry Interval, s
   * (§3.14.2.2.2), when the sleep would outlast the CONNECT's. `sleepMs`: up to the next radio
   * wake (SleepPlan.radioMs), every sleep between included. It covers the sleep with the RTC
   * running slow by twice sleep.driftPpm, plus SLEEP_EXPIRY_MARGIN_S for the wake (boot, Wi-Fi,
   * CONNECT, a failed attempt and the give-up wait), so the broker keeps the session, its
   * subscriptions and the QoS 1/2 messages queued for it, and no Will fires. Not after a CONNECT
   * with 0 [MQTT-3.14.2-2] (the session ends with the connection then), nor for a sleep with no
   * radio wake planned (the CONNECT's expiry stays).
   */
  #sleepExpiryS(sleepMs: number): number | undefined {
    const c = this.core.current;
    if (c.protocol !== "mqtt5" || !(c.mqtt.sessionExpiryS > 0) || !(sleepMs < Infinity)) return undefined;
    const s = this.#sleepCoverS(sleepMs);
    return s > c.mqtt.sessionExpiryS ? Math.min(s, 0xfffffffe) : undefined;
  }

  /** Seconds that cover a sleep of `sleepMs` with the RTC slow by twice sleep.driftPpm, plus SLEEP_EXPIRY_MARGIN_S for the wake. */
  #sleepCoverS(sleepMs: number): number {
    return Math.ceil((sleepMs * (1 + (2 * this.core.current.sleep.driftPpm) / 1e6)) / 1000) + SLEEP_EXPIRY_MARGIN_S;
  }

  /** Before deep sleep: every buffered reading to the transport; what cannot be kept (QoS 0, not connected) is counted as dropped. */
  #handOver(): void {
    while (this.#flushBatch() && this.#buffer.length); // every batch the transport takes, not one
    const lost = this.#buffer.length;
    if (!lost) return;
    this.dropped += lost;
    this.#buffer.length = 0;
    this.#report(`sleep: ${lost} reading(s) could not be handed over before deep sleep (QoS 0, not connected)`);
  }
}
