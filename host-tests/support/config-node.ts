/*
 * ConfigNode: the configuration core wired to its transports on one Platform:
 * store + core + (MQTT client + ConfigMqttBinding | CoAP server +
 * ConfigCoapBinding), a telemetry job at telemetry.intervalS, the safe-apply
 * hook, and the sleep cycle. It is a test harness (no sensors, a counter for
 * telemetry) the configuration's end-to-end tests run on a SimDevice where the
 * real app (src/app.ts) would bring more than the test needs; its scheduler,
 * core and MQTT link are the app's (src/link.ts). Portable (runs on XS with a
 * VirtualClock).
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
import type { Platform } from "../../modules/platform/platform";
import type { BoardDefinition } from "../../boards/types";
import type { Scheduler, Job } from "../../modules/scheduler/scheduler";
import type { MqttClient } from "../../modules/mqtt/client";
import { CoapServer } from "../../modules/coap/server";
import { CoapClient } from "../../modules/coap/client";
import { COAP_MEDIATYPE_APPLICATION_JSON } from "../../modules/coap/constants";
import { encodeUtf8New } from "../../modules/bytes/utf8";
import type { ConfigCore } from "../../modules/config/core";
import { safeApplySwitch } from "../../modules/config/safe-apply-switch";
import { configTopics, type ConfigMqttBinding } from "../../modules/config/mqtt-binding";
import { MqttLink, deviceCore, deviceScheduler, isIpv4 } from "../../src/link";
import { ConfigCoapBinding } from "../../modules/config/coap-binding";
import type { DeviceConfig } from "../../modules/config/schema";

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

export function startConfigNode(platform: Platform, options: ConfigNodeOptions = {}): ConfigNode {
  const report = (m: string) => platform.log(m);
  // A sleep signal or power loss unwinds to the device; any other job error is logged.
  const scheduler = deviceScheduler(platform, report);

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
  const link = new MqttLink({ platform, scheduler, trial, report, resolve: options.resolve, reconnect: options.reconnect });
  const core: ConfigCore = deviceCore({
    platform,
    scheduler,
    board: options.board,
    deviceId: options.deviceId,
    provisioned: options.provisioned,
    key: options.key,
    connectivity: trial,
    offline: () => link.offline(),
    tuning: options.core,
  });
  link.core = core;

  function closeTransport(): void {
    link.close();
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
    link.open(c);
  }

  // --- telemetry: a tick at telemetry.intervalS (the real payloads are modules/telemetry's) ---
  function telemetryTick(): void {
    const c = core.current;
    telemetryCount++;
    telemetrySent.push(scheduler.now());
    const payload = encodeUtf8New(JSON.stringify({ n: telemetryCount, intervalS: c.telemetry.intervalS }));
    const mqtt = link.client;
    if (mqtt && mqtt.isConnected) {
      try {
        mqtt.publish(`${configTopics(c).base}/tele`, payload, { qos: c.telemetry.qos });
      } catch (e) {
        platform.log("telemetry: " + String((e as Error)?.message ?? e));
      }
    } else if (coapClient && isIpv4(link.resolve(c.coap.gatewayHost))) {
      coapClient
        .request({ method: "POST", address: link.resolve(c.coap.gatewayHost), port: c.coap.gatewayPort, path: c.coap.gatewayPath, payload, contentFormat: COAP_MEDIATYPE_APPLICATION_JSON, confirmable: false })
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
      link.offline();
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
      return link.client;
    },
    get mqttBinding() {
      return link.binding;
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
