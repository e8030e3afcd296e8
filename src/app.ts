/*
 * The firmware app, the same on every host (src/main.ts on Moddable,
 * sim/cli-sim.ts in the desktop simulator; docs/app.md):
 *
 *   boot -> load the configuration (modules/config: defaults from the board and
 *   the device id, then what the flash holds) -> start the board's sensors ->
 *   connect with the configured protocol (mqtt311 | mqtt5 | coap) -> sample on
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
import type { Sample, SensorError } from "../modules/sensors/sensor";
import type { MqttClient } from "../modules/mqtt/client";
import { CoapServer } from "../modules/coap/server";
import { CoapClient } from "../modules/coap/client";
import type { ConfigCore } from "../modules/config/core";
import { safeApplySwitch } from "../modules/config/safe-apply-switch";
import { configTopics } from "../modules/config/mqtt-binding";
import { MqttLink, deviceCore, deviceScheduler, isIpv4 } from "../modules/config/link";
import { ConfigCoapBinding } from "../modules/config/coap-binding";
import { SENSOR_QUANTITIES, type DeviceConfig } from "../modules/config/schema";
import { measureAll, startBoardSensors, type SensorReading } from "./sensors";
import { mqttPublishPayloadLimit } from "../modules/telemetry/split";
import { discoveryMessages } from "../modules/telemetry/homeassistant";
import { encodeQuantity, encodeTelemetry, quantityValue, QUANTITIES, SENML_CBOR_CONTENT_FORMAT, SENML_JSON_CONTENT_FORMAT, type Quantity, type SenmlFormat } from "./senml";

export interface Reading {
  /** Sequence number of this reading since boot (1, 2, ...). */
  seq: number;
  /** Wall-clock ms since 1970 when the sampling pass began (NaN when the host has no time). */
  time: number;
  /** One value per quantity (see measureAll for which chip wins). */
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
  overrides?: AppOverrides;
  /** Host name -> IPv4 address, for hosts without DNS. */
  resolve?(host: string): string | undefined;
  /** Buffered readings kept while telemetry cannot go out (default 32; the oldest are dropped). */
  maxBuffered?: number;
  /** Each reading as soon as every sensor has answered. */
  onReading?(reading: Reading): void;
  /** Telemetry handed to the network (MQTT client or CoAP). */
  onSent?(event: TelemetryEvent): void;
  /** Telemetry acknowledged (PUBACK / PUBCOMP / CoAP 2.xx to a CON). */
  onAcked?(event: TelemetryEvent): void;
  /** Telemetry that failed for good (refused, too large, CoAP timeout). */
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
  readonly reconnects: number;
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

function message(e: unknown): string {
  return String((e as Error)?.message ?? e);
}

export function startApp(options: AppOptions): App {
  const { platform, board } = options;
  const o = options.overrides ?? {};
  for (const k of ["samplingMs", "telemetryMs"] as const) {
    const v = o[k];
    if (v !== undefined && !(v > 0 && v < Infinity)) throw new RangeError(`app: overrides.${k} must be > 0, got ${v}`);
  }
  if (o.qos !== undefined && o.qos !== 0 && o.qos !== 1 && o.qos !== 2) throw new RangeError(`app: overrides.qos must be 0, 1 or 2, got ${o.qos}`);
  const format: SenmlFormat = o.format ?? "json";
  const maxBuffered = options.maxBuffered ?? 32;
  const report = (m: string) => {
    try {
      (options.onError ?? platform.log)(m);
    } catch {
      // a reporting hook must not break the app
    }
  };
  const call = <A>(fn: ((a: A) => void) | undefined, a: A) => {
    if (!fn) return;
    try {
      fn(a);
    } catch (e) {
      report("app callback: " + message(e));
    }
  };

  // Deep sleep and restart unwind to the host; any other job error is reported.
  const scheduler = deviceScheduler(platform, report);

  let coap: CoapServer | undefined;
  let coapBinding: ConfigCoapBinding | undefined;
  let coapClient: CoapClient | undefined;
  let coapServerPort: number | undefined;
  let state: AppState = "connecting";
  let stopped = false;
  let reconnects = 0;
  let everConnected = false;

  const setState = (s: AppState) => {
    if (s === state) return;
    state = s;
    call(options.onState, s);
  };

  // Safe apply (modules/config/safe-apply-switch.ts): the switch waits one scheduler turn
  // (the command's "pending" answer and PUBACK [MQTT-4.3.2-4] go out first), MQTT is kept
  // once the new client connects, CoAP once the server's socket is bound on the new port;
  // the resource server moves with coap.listenPort whatever the protocol, and is waited for.
  const coapServerMoves = (c: Readonly<DeviceConfig>) => o.coapServer !== false && !!platform.io.UDP && coapServerPort !== c.coap.listenPort;
  const trial = safeApplySwitch({
    scheduler,
    waitsForCoap: coapServerMoves,
    open: (c) => {
      if (coapServerMoves(c)) {
        closeCoapServer();
        openCoapServer(c);
      }
      openTransport(c);
    },
    coapSocket: () => {
      if (o.coapServer !== false && platform.io.UDP) return coap ? ((coap.socket as { port?: unknown } | undefined) ?? {}) : null;
      return coapClient ? {} : null;
    },
  });

  // --- configuration and the MQTT link (modules/config/link.ts, shared with the config harness) ---
  const link = new MqttLink({
    platform,
    scheduler,
    trial,
    report,
    resolve: options.resolve,
    onConnect: (client) => {
      if (everConnected) reconnects++;
      everConnected = true;
      setState("online");
      if (o.homeAssistant) publishDiscovery(client);
      flush();
    },
    onClose: () => {
      if (!stopped) setState("offline");
    },
  });
  const core = deviceCore({ platform, scheduler, board, deviceId: options.deviceId, provisioned: options.provisioned, key: options.key, connectivity: trial, offline: () => link.offline() });
  link.core = core;
  if (core.bootStatus === "corrupt") report("config: STATUS corrupt-config (running on defaults)");

  const resolve = (host: string) => link.resolve(host);
  const qosOf = () => (o.qos ?? core.current.telemetry.qos) as 0 | 1 | 2;
  const telemetryTopic = () => `${configTopics(core.current).base}/tele`;

  // --- sensors ---
  const sensors = startBoardSensors(platform, board, scheduler, (error: SensorError) => report(error.message));
  for (const f of sensors.failed) report(`sensor ${f.chip} at 0x${f.address.toString(16)} not started: ${f.reason}`);

  // --- CoAP server: /.well-known/core, /sensors/<quantity>, /config, /cmd/* ---
  let latest: Sample | undefined;
  let latestTime = NaN;
  const quantityResources: { q: Quantity; last: number | undefined; notify(): void }[] = [];

  function openCoapServer(c: Readonly<DeviceConfig>): void {
    if (o.coapServer === false || !platform.io.UDP) return;
    coapServerPort = c.coap.listenPort;
    try {
      const server: CoapServer = new CoapServer({
        socket: { io: platform.io.UDP, port: c.coap.listenPort },
        scheduler,
        random: (b) => platform.crypto.randomFill(b),
        onError: (e) => {
          report("coap: " + message(e));
          // Node binds asynchronously: an error before the socket shows its port is a failed bind,
          // and a safe apply that (re)opened the server on this port cannot work.
          if (coap === server && typeof (server.socket as { port?: unknown } | undefined)?.port !== "number") trial.fail(`cannot open the CoAP server on UDP port ${c.coap.listenPort}: ${message(e)}`);
        },
      });
      coap = server;
    } catch (e) {
      report(`coap: cannot open the server on UDP port ${c.coap.listenPort}: ${message(e)}`);
      coap = undefined;
      return;
    }
    coapBinding = new ConfigCoapBinding({ core, server: coap });
    quantityResources.length = 0;
    for (const q of QUANTITIES) {
      const entry = { q, last: undefined as number | undefined, notify: () => undefined as void };
      const resource = coap.add("sensors/" + q.name, {
        title: q.name,
        rt: "xs-iot." + q.name,
        ct: [SENML_JSON_CONTENT_FORMAT, SENML_CBOR_CONTENT_FORMAT],
        observable: true,
        get: (req) => {
          const v = latest ? quantityValue(latest, q) : undefined;
          // RFC 7252 §5.9.3.4: nothing measured yet -> 5.03 with Max-Age = when to ask again.
          if (v === undefined) return { code: 0xa3, maxAge: Math.max(1, Math.ceil(samplingMs() / 1000)) };
          const f: SenmlFormat = req.accept === SENML_CBOR_CONTENT_FORMAT ? "cbor" : "json";
          return {
            payload: encodeQuantity(core.current.deviceId, q, latest!, latestTime, f),
            contentFormat: f === "cbor" ? SENML_CBOR_CONTENT_FORMAT : SENML_JSON_CONTENT_FORMAT,
            maxAge: Math.max(1, Math.ceil(samplingMs() / 1000)),
          };
        },
      });
      entry.notify = () => resource.notify();
      quantityResources.push(entry);
    }
  }

  function closeCoapServer(): void {
    coapBinding?.detach();
    coapBinding = undefined;
    coap?.close();
    coap = undefined;
    coapServerPort = undefined;
    quantityResources.length = 0;
  }

  // --- transport ---
  function closeTransport(): void {
    link.close();
    coapClient?.close();
    coapClient = undefined;
  }

  function openTransport(c: Readonly<DeviceConfig>): void {
    closeTransport();
    if (c.protocol === "coap") {
      try {
        coapClient = coap ? new CoapClient({ endpoint: coap.endpoint }) : new CoapClient({ socket: { io: platform.io.UDP }, scheduler, random: (b) => platform.crypto.randomFill(b) });
        setState("online");
      } catch (e) {
        report("coap: cannot open a client socket: " + message(e));
        setState("offline");
      }
      return;
    }
    setState("connecting");
    if (!link.open(c)) setState("offline");
  }

  /** Home Assistant MQTT discovery: one retained config per quantity the board measures. */
  function publishDiscovery(client: MqttClient): void {
    const c = core.current;
    // The quantities the board's chips measure (config schema names; the battery's "voltage" is SenML "battery").
    const have: string[] = [];
    const chips = board.sensors.map((x) => x.chip as string).concat(board.battery ? ["battery"] : []);
    for (const chip of chips) for (const q of SENSOR_QUANTITIES[chip] ?? []) {
      const name = q === "voltage" ? "battery" : q;
      if (have.indexOf(name) < 0 && QUANTITIES.some((x) => x.name === name)) have.push(name);
    }
    try {
      for (const m of discoveryMessages({ deviceId: c.deviceId, topicPrefix: c.topicPrefix, quantities: have, device: { model: board.title } })) client.publish(m.topic, m.payload, { qos: 1, retain: true });
    } catch (e) {
      report("homeassistant: " + message(e));
    }
  }

  // --- telemetry ---
  const buffer: Reading[] = [];
  let readings = 0;
  let sent = 0;
  let acked = 0;
  let failed = 0;
  let dropped = 0;

  function samplingMs(): number {
    return o.samplingMs ?? core.current.sampling.intervalS * 1000;
  }
  function telemetryMs(): number {
    return o.telemetryMs ?? (o.samplingMs !== undefined && o.telemetryMs === undefined ? o.samplingMs : core.current.telemetry.intervalS * 1000);
  }

  /** The largest SenML pack that fits one message. */
  function budget(): number {
    if (core.current.protocol === "coap") return 1024; // one block: no block-wise transfer needed (RFC 7959 §2.2)
    const max = link.client?.serverProperties?.maximumPacketSize;
    if (!max) return 65536;
    // [MQTT-3.2.2-15]: the whole PUBLISH must fit; counted with the full topic and room for a Topic Alias property (3 bytes).
    const version = core.current.protocol === "mqtt311" ? 4 : 5;
    return mqttPublishPayloadLimit(max, telemetryTopic(), { version, qos: qosOf(), propertiesLength: version === 5 ? 3 : 0 });
  }

  function flush(): void {
    if (!buffer.length || stopped) return;
    const c = core.current;
    const qos = qosOf();
    const mqtt = link.client;
    if (c.protocol !== "coap" && (!mqtt || (!mqtt.isConnected && qos === 0))) return; // kept for the next connection
    if (c.protocol === "coap" && !coapClient) return;
    const batch = buffer.splice(0, buffer.length);
    let packs: Uint8Array[];
    try {
      packs = encodeTelemetry(c.deviceId, batch, format, budget());
    } catch (e) {
      failed += batch.length;
      call(options.onFailed ? (ev: TelemetryEvent) => options.onFailed!(ev, message(e)) : undefined, { seqs: batch.map((r) => r.seq), messages: 0, bytes: 0 });
      report(message(e));
      return;
    }
    const seqs = batch.map((r) => r.seq);
    let bytes = 0;
    for (const p of packs) bytes += p.length;
    const event: TelemetryEvent = { seqs, messages: packs.length, bytes };
    if (c.protocol === "coap") sendCoap(c, packs, qos, event);
    else sendMqtt(packs, qos, event, batch);
  }

  function sendMqtt(packs: Uint8Array[], qos: 0 | 1 | 2, event: TelemetryEvent, batch: Reading[]): void {
    const topic = telemetryTopic();
    let pending = packs.length;
    let error: string | undefined;
    let handed = 0;
    for (const p of packs) {
      try {
        link.client!.publish(topic, p, { qos }, (e) => {
          if (stopped) return; // ended by stop(): the outbox keeps the message
          if (e) error = e.message;
          if (--pending === 0) {
            if (error === undefined) {
              acked += event.seqs.length;
              call(options.onAcked, event);
            } else {
              failed += event.seqs.length;
              if (options.onFailed) call((ev: TelemetryEvent) => options.onFailed!(ev, error!), event);
            }
          }
        });
        handed++;
      } catch (e) {
        // Refused now (outbox full, busy, not connected): keep the readings for the next try.
        if (handed === 0) {
          buffer.unshift(...batch);
          trimBuffer();
          return;
        }
        pending -= 1;
        error = message(e);
        report("telemetry: " + error);
      }
    }
    sent += event.seqs.length;
    call(options.onSent, event);
    if (qos === 0) {
      // QoS 0 has no acknowledgement: delivered as far as the protocol can tell.
      acked += event.seqs.length;
      call(options.onAcked, event);
    }
  }

  function sendCoap(c: Readonly<DeviceConfig>, packs: Uint8Array[], qos: 0 | 1 | 2, event: TelemetryEvent): void {
    const address = resolve(c.coap.gatewayHost);
    if (!isIpv4(address)) {
      report(`telemetry: cannot resolve the CoAP gateway "${c.coap.gatewayHost}"`);
      return;
    }
    const confirmable = qos > 0; // RFC 7252 §4.2 CON / §4.3 NON
    let pending = packs.length;
    let error: string | undefined;
    for (const p of packs) {
      coapClient!
        .request({ method: "POST", address, port: c.coap.gatewayPort, path: c.coap.gatewayPath, payload: p, contentFormat: format === "cbor" ? SENML_CBOR_CONTENT_FORMAT : SENML_JSON_CONTENT_FORMAT, confirmable })
        .then(
          (res) => {
            if (!res.ok) error = `gateway answered ${res.status}`;
          },
          (e) => {
            // A NON request is not answered by every gateway: no answer is not a failure then.
            if (confirmable) error = message(e);
          },
        )
        .then(() => {
          if (--pending || stopped) return;
          if (!confirmable) return;
          if (error === undefined) {
            acked += event.seqs.length;
            call(options.onAcked, event);
          } else {
            failed += event.seqs.length;
            report("telemetry: " + error);
            if (options.onFailed) call((ev: TelemetryEvent) => options.onFailed!(ev, error!), event);
          }
        });
    }
    sent += event.seqs.length;
    call(options.onSent, event);
    if (!confirmable) {
      acked += event.seqs.length;
      call(options.onAcked, event);
    }
  }

  function trimBuffer(): void {
    while (buffer.length > maxBuffered) {
      buffer.shift();
      dropped++;
    }
  }

  function onReading(reading: Reading): void {
    latest = reading.sample;
    latestTime = reading.time;
    for (const r of quantityResources) {
      const v = quantityValue(reading.sample, r.q);
      if (v !== r.last) {
        r.last = v;
        if (v !== undefined) r.notify();
      }
    }
    call(options.onReading, reading);
    buffer.push(reading);
    trimBuffer();
    if (telemetryMs() <= samplingMs()) flush();
  }

  // --- jobs ---
  let samplingJob: Job | undefined;
  let telemetryJob: Job | undefined;

  function armSampling(first: boolean): void {
    const period = samplingMs();
    const start = first ? platform.clock.now() : scheduler.now() + period;
    samplingJob?.cancel();
    samplingJob = scheduler.schedule({
      name: "sample",
      deadline: start,
      run: (_now, job) => {
        const p = samplingMs();
        // Drift-free period; a slow measurement never stacks up samples.
        job.reschedule(job.deadline + p, { earliest: job.deadline + p * 0.9, latest: job.deadline + p * 1.1 });
        const time = platform.clock.epoch();
        measureAll(sensors.drivers, (sample, each) => {
          if (stopped) return;
          readings++;
          onReading({ seq: readings, time, sample, sensors: each });
        });
      },
    });
  }

  function armTelemetry(): void {
    telemetryJob?.cancel();
    telemetryJob = undefined;
    const period = telemetryMs();
    if (period <= samplingMs()) return; // every reading goes out as it comes
    telemetryJob = scheduler.after(period, (_now, job) => {
      flush();
      job.delay(telemetryMs());
    }, { name: "telemetry", radio: true });
  }

  core.on((e) => {
    if (e.type === "change" && (e.phase === "applied" || e.phase === "kept" || e.phase === "rolled-back" || e.phase === "factory-reset")) {
      if (o.samplingMs === undefined) armSampling(false);
      armTelemetry();
    }
  });

  // --- boot ---
  const c0 = core.current;
  openCoapServer(c0);
  openTransport(c0);
  platform.log(
    `xs-iot ${c0.deviceId} on ${board.name}: ${sensors.drivers.map((d) => d.chip).join(", ") || "no sensors"}; ` +
      `${c0.protocol === "coap" ? `CoAP to ${c0.coap.gatewayHost}:${c0.coap.gatewayPort}/${c0.coap.gatewayPath}` : `${c0.protocol} to ${c0.mqtt.host}:${c0.mqtt.port}`}; ` +
      `sampling every ${samplingMs() / 1000} s` + (coap ? `; CoAP server on UDP ${coap.socket?.port ?? c0.coap.listenPort}` : ""),
  );
  armSampling(true);
  armTelemetry();

  return {
    scheduler,
    core,
    get config() {
      return core.current;
    },
    get readings() {
      return readings;
    },
    get sent() {
      return sent;
    },
    get acked() {
      return acked;
    },
    get failed() {
      return failed;
    },
    get dropped() {
      return dropped;
    },
    get reconnects() {
      return reconnects;
    },
    get state() {
      return state;
    },
    get mqtt() {
      return link.client;
    },
    get coap() {
      return coap;
    },
    get coapPort() {
      return coap ? (coap.socket?.port ?? core.current.coap.listenPort) : undefined;
    },
    get topics() {
      const t = configTopics(core.current);
      return { telemetry: t.base + "/tele", state: t.state, config: t.config, commands: t.commands };
    },
    get latest() {
      return latest;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      samplingJob?.cancel();
      telemetryJob?.cancel();
      for (const d of sensors.drivers) d.close();
      link.offline();
      trial.cancel();
      closeTransport();
      closeCoapServer();
      core.close();
      scheduler.clear();
      setState("stopped");
    },
  };
}
