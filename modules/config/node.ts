/*
 * ConfigNode: the configuration core wired to its transports on one Platform:
 * store + core + (MQTT client + ConfigMqttBinding | CoAP server +
 * ConfigCoapBinding), a telemetry job at telemetry.intervalS, the safe-apply
 * hook, and the sleep cycle. It is the device harness the end-to-end tests run
 * on a SimDevice until the app (src/) exists; the app can adopt it whole or
 * copy the wiring. Portable (runs on XS with a VirtualClock).
 *
 *   const node = startConfigNode(platform, { board, deviceId: "dev-1", key });
 *   node.core.config.telemetry.intervalS; node.telemetrySent; node.stop();
 *
 * Sleep (sleep.mode "deep"): after each boot the device stays awake for
 * sleep.awakeWindowS (reachable: CoAP requests answered, MQTT commands queued
 * at the broker delivered), longer while a sleep/prevent holds or a safe apply
 * runs, then says "offline" (MQTT), disconnects and deep-sleeps until the next
 * telemetry time.
 */
import type { Platform } from "../platform/platform";
import type { BoardDefinition } from "../../boards/types";
import { Scheduler, type Job } from "../scheduler/scheduler";
import { MqttClient } from "../mqtt/client";
import { CoapServer } from "../coap/server";
import { CoapClient } from "../coap/client";
import { COAP_MEDIATYPE_APPLICATION_JSON } from "../coap/constants";
import { encodeUtf8New } from "../bytes/utf8";
import { ConfigStore } from "./store";
import { ConfigCore, type ConnectivityHook } from "./core";
import { safeApplySwitch } from "./safe-apply-switch";
import { ConfigMqttBinding, configMqttOptions, configTopics } from "./mqtt-binding";
import { ConfigCoapBinding } from "./coap-binding";
import type { DeviceConfig } from "./schema";

export interface ConfigNodeOptions {
  board?: BoardDefinition;
  /** Default device id (the MAC-derived one on a device). */
  deviceId?: string;
  /** Factory provisioning of defaults (dotted keys). */
  provisioned?: { [key: string]: unknown };
  /** Provision this command key when the store has none. */
  key?: Uint8Array;
  /** Host name -> address for MQTT and the CoAP gateway (there is no DNS in the simulator). */
  resolve?(host: string): string | undefined;
  /** Extra options for the CoAP server (e.g. test parameters). */
  coapListenAddress?: string;
  /** Extra options for the core (rate limit, reboot delay). */
  core?: { burst?: number; ratePerS?: number; rebootDelayMs?: number };
  /** MQTT reconnection back-off (defaults: 1 s .. 30 s). */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
}

export interface ConfigNode {
  readonly platform: Platform;
  readonly scheduler: Scheduler;
  readonly core: ConfigCore;
  readonly mqtt: MqttClient | undefined;
  readonly mqttBinding: ConfigMqttBinding | undefined;
  readonly coap: CoapServer | undefined;
  /** Telemetry messages sent (or attempted) in this boot, with their times. */
  readonly telemetrySent: number[];
  /** The interval the telemetry job runs at now, ms. */
  readonly telemetryIntervalMs: number;
  stop(): void;
}

function resolveHost(options: ConfigNodeOptions, host: string): string {
  return options.resolve?.(host) ?? (host === "localhost" ? "127.0.0.1" : host);
}

export function startConfigNode(platform: Platform, options: ConfigNodeOptions = {}): ConfigNode {
  const scheduler = new Scheduler({
    clock: platform.clock,
    onError: (e) => {
      // A sleep signal or power loss must unwind to the device; anything else is logged.
      if ((e as { isSleepSignal?: boolean })?.isSleepSignal || (e as Error)?.name === "PowerLossError") throw e;
      platform.log("scheduler: job failed: " + String((e as Error)?.message ?? e));
    },
  });
  const store = new ConfigStore({ storage: platform.storage, context: { board: options.board, deviceId: options.deviceId, provisioned: options.provisioned } });
  if (options.key && !store.key()) store.provisionKey(options.key);

  let mqtt: MqttClient | undefined;
  let mqttBinding: ConfigMqttBinding | undefined;
  let coap: CoapServer | undefined;
  let coapBinding: ConfigCoapBinding | undefined;
  let coapClient: CoapClient | undefined;
  let telemetryJob: Job | undefined;
  let sleepJob: Job | undefined;
  const telemetrySent: number[] = [];
  let telemetryCount = 0;
  let stopped = false;

  // --- safe apply: reconnect with the new settings, report when connected (safe-apply-switch.ts) ---
  const trial = safeApplySwitch({
    scheduler,
    open: (c) => openTransport(c),
    coapSocket: () => (coap ? ((coap.socket as { port?: unknown } | undefined) ?? {}) : null),
  });
  const connectivity: ConnectivityHook = trial;

  const core = new ConfigCore({
    store,
    scheduler,
    hmacSha256: (k, d) => platform.crypto.hmacSha256(k, d),
    connectivity,
    reboot: () => {
      mqttBinding?.offline();
      platform.power.restart();
    },
    log: (line) => platform.log(line),
    burst: options.core?.burst,
    ratePerS: options.core?.ratePerS,
    rebootDelayMs: options.core?.rebootDelayMs,
  });

  function closeTransport(): void {
    if (mqttBinding) mqttBinding.detach();
    mqttBinding = undefined;
    if (mqtt) mqtt.end();
    mqtt = undefined;
    if (coapBinding) coapBinding.detach();
    coapBinding = undefined;
    if (coap) coap.close();
    coap = undefined;
    coapClient?.close();
    coapClient = undefined;
  }

  function openTransport(c: DeviceConfig): void {
    closeTransport();
    if (c.protocol === "coap") {
      try {
        coap = new CoapServer({
          socket: { io: platform.io.UDP, port: c.coap.listenPort, address: options.coapListenAddress },
          scheduler,
          random: (b) => platform.crypto.randomFill(b),
          onError: (e) => {
            platform.log("coap: " + String((e as Error)?.message ?? e));
            if (core.current.protocol === "coap") trial.fail(`cannot open the CoAP server on UDP port ${c.coap.listenPort}: ${String((e as Error)?.message ?? e)}`);
          },
        });
        coapBinding = new ConfigCoapBinding({ core, server: coap });
        coapClient = new CoapClient({ endpoint: coap.endpoint });
      } catch (e) {
        platform.log("config node: cannot open the CoAP server: " + String((e as Error)?.message ?? e));
        coap = undefined;
      }
      return;
    }
    const o = configMqttOptions(c);
    const client = new MqttClient({
      ...o,
      socket: { io: platform.io.TCP, address: resolveHost(options, c.mqtt.host), port: c.mqtt.port },
      scheduler,
      storage: platform.storage,
      outbox: { namespace: "xsmqtt" },
      random: () => {
        const b = platform.crypto.randomFill(new Uint8Array(2));
        return ((b[0] << 8) | b[1]) / 65536;
      },
      reconnect: { initialDelayMs: options.reconnect?.initialDelayMs ?? 1000, maxDelayMs: options.reconnect?.maxDelayMs ?? 30000 },
      onConnect() {
        mqttBinding?.connected();
        if (mqtt === client || mqtt === undefined) trial.connected();
      },
      onError(e) {
        if (mqtt === client || mqtt === undefined) trial.connectionError(e.message);
        platform.log("mqtt: " + e.message);
      },
      onGiveUp(e) {
        if (mqtt === client || mqtt === undefined) trial.fail("MQTT gave up: " + (e?.message ?? "no connection"));
      },
    });
    mqtt = client;
    // A deferred result (safe apply) goes out through whichever binding is current then.
    mqttBinding = new ConfigMqttBinding({ core, client, log: (l) => platform.log(l), current: () => mqttBinding });
  }

  // --- telemetry: a tick at telemetry.intervalS (the real payloads are modules/telemetry's) ---
  function telemetryTick(): void {
    const c = core.current;
    telemetryCount++;
    telemetrySent.push(scheduler.now());
    const payload = encodeUtf8New(JSON.stringify({ n: telemetryCount, intervalS: c.telemetry.intervalS }));
    if (mqtt && mqtt.isConnected) {
      try {
        mqtt.publish(`${configTopics(c).base}/tele`, payload, { qos: c.telemetry.qos });
      } catch (e) {
        platform.log("telemetry: " + String((e as Error)?.message ?? e));
      }
    } else if (coapClient && /^\d+\.\d+\.\d+\.\d+$/.test(resolveHost(options, c.coap.gatewayHost))) {
      coapClient
        .request({ method: "POST", address: resolveHost(options, c.coap.gatewayHost), port: c.coap.gatewayPort, path: c.coap.gatewayPath, payload, contentFormat: COAP_MEDIATYPE_APPLICATION_JSON, confirmable: false })
        .then(undefined, () => undefined);
    }
    armTelemetry();
  }

  function armTelemetry(): void {
    const ms = core.current.telemetry.intervalS * 1000;
    if (telemetryJob) telemetryJob.reschedule(scheduler.now() + ms);
    else telemetryJob = scheduler.after(ms, telemetryTick, { name: "telemetry", radio: true });
  }

  // --- sleep cycle ---
  function armSleep(): void {
    sleepJob?.cancel();
    sleepJob = undefined;
    const c = core.current;
    if (c.sleep.mode !== "deep") return;
    sleepJob = scheduler.after(c.sleep.awakeWindowS * 1000, () => {
      sleepJob = undefined;
      if (core.sleepPrevented || core.trialRunning) return; // re-armed by the sleep-policy / change events
      mqttBinding?.offline();
      const ms = core.current.telemetry.intervalS * 1000;
      closeTransport();
      platform.power.deepSleep(ms);
    }, { name: "awake-window" });
  }

  core.on((e) => {
    if (e.type === "change" && (e.phase === "applied" || e.phase === "kept" || e.phase === "rolled-back" || e.phase === "factory-reset")) {
      armTelemetry();
      armSleep();
    }
    if (e.type === "sleep-policy" && !e.sleepPrevented) armSleep();
  });

  openTransport(core.current);
  if (core.bootStatus === "corrupt") platform.log("config node: STATUS corrupt-config (running on defaults)");
  armTelemetry();
  armSleep();

  const node: ConfigNode = {
    platform,
    scheduler,
    core,
    get mqtt() {
      return mqtt;
    },
    get mqttBinding() {
      return mqttBinding;
    },
    get coap() {
      return coap;
    },
    telemetrySent,
    get telemetryIntervalMs() {
      return core.current.telemetry.intervalS * 1000;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      core.close();
      telemetryJob?.cancel();
      sleepJob?.cancel();
      trial.cancel();
      closeTransport();
      scheduler.clear();
    },
  };
  return node;
}
