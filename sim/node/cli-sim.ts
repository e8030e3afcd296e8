/*
 * `xs-iot sim`: runs simulated devices — the firmware app (src/app.ts) on the
 * desktop simulator, one SimDevice per device, each with its own simulated
 * board hardware, flash, RTC memory, MQTT session and CoAP server.
 *
 * With no --broker an MQTT broker (aedes) runs in this process on a free
 * loopback port; with --protocol coap and no --server a CoAP sink runs here and
 * prints what it receives; with --protocol mqttsn and no --gateway an MQTT-SN gateway
 * (sim/node/mqttsn-gateway.ts) runs here, bridging to that broker. `npm start` is
 * `xs-iot sim` with the defaults.
 *
 * Flag names are a contract other tools rely on (issue 7); keep them.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { boards, getBoard } from "../../boards/index";
import type { BoardDefinition } from "../../boards/types";
import type { Sample } from "../../modules/sensors/sensor";
import type { TlsCredentials } from "../../modules/config/tls-credentials";
import { MAX_VALUE_BYTES } from "../../modules/platform/storage";
import { startApp, type App, type AppState, type Reading, type TelemetryEvent } from "../../src/app";
import { QUANTITIES } from "../../src/senml";
import { choiceFlag, durationFlag, intFlag, numberFlag, parseFlags, UsageError, urlFlag, type FlagSpec, type ParsedUrl } from "./cli-args";
import { DeviceEnergy } from "../energy-account";
import { energyLines, energySummary, energySvg } from "./energy-report";
import { SimDevice } from "../device";
import { freeUdpPort, startCoapSink, startEmbeddedBroker, type CoapSink, type EmbeddedBroker, type SinkMessage } from "./embedded";
import { createSimHardware } from "../hardware";
import { FastForward } from "./fast-forward";
import { RealClock } from "./real-clock";
import { TCP } from "./tcp";
import { TLS } from "./tls";
import { UDP } from "./udp";
import { indoorDay } from "../scenarios";
import { MqttSnGateway } from "./mqttsn-gateway";
import { SnQos2 } from "../../modules/mqttsn/qos2";
import { StatusLine, type StatusCounts } from "./status";
import { nameReasonCodes } from "./mqtt-reasons";
import { VirtualClock } from "../virtual-clock";

const FLAGS: FlagSpec = {
  protocol: { type: "string" },
  broker: { type: "string" },
  server: { type: "string" },
  gateway: { type: "string" },
  "no-will": { type: "boolean" },
  id: { type: "string" },
  board: { type: "string" },
  devices: { type: "string" },
  interval: { type: "string" },
  qos: { type: "string" },
  readings: { type: "string" },
  duration: { type: "string" },
  clock: { type: "string" },
  "coap-port": { type: "string" },
  format: { type: "string" },
  "home-assistant": { type: "boolean" },
  timeout: { type: "string" },
  seed: { type: "string" },
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  json: { type: "boolean" },
  report: { type: "string" },
  svg: { type: "string" },
  help: { type: "boolean", short: "h" },
};

/** src/mqttsn-link.ts's hint when the gateway ends the will dialogue: the sim's flag sets that setting. */
const WILL_HINT = "mqtt.snWill false";

const HELP = `usage: xs-iot sim [flags]

Runs simulated devices: the firmware app on the desktop simulator, with
simulated sensors on a simulated I2C bus, publishing SenML telemetry.

  --protocol P          mqtt311, mqtt5, coap or mqttsn (default: mqtt5 with --broker,
                        mqtt311 with the embedded broker, which has no MQTT 5)
  --gateway URL         with --protocol mqttsn: udp://host:port of an MQTT-SN gateway
                        (default: a gateway in this process, bridging to --broker
                        or to the embedded broker)
  --no-will             with --protocol mqttsn: CONNECT without the will (the
                        device's mqtt.snWill false), for gateways that end the will
                        dialogue with DISCONNECT (Eclipse Paho's, issue #248)
  --broker URL          mqtt://host:port or mqtts://host:port (default: an
                        embedded broker in this process on a free loopback port)
  --tls-ca FILE         with mqtts://: the CA certificate (PEM or DER) the broker's
                        certificate is verified against (default: Node's roots)
  --tls-cert FILE       with mqtts://: the device's client certificate (PEM or DER),
  --tls-key FILE        and its private key, for brokers that require them (mutual
                        TLS: AWS IoT Core, mosquitto's require_certificate); each
                        device is provisioned with them as a device at the factory
  --server URL          coap://host:port/path where CoAP telemetry is POSTed
                        (default: an embedded sink in this process that prints it)
  --id DEVICE_ID        device id, 1 to 32 of A-Z a-z 0-9 _ - (default xs-iot-sim;
                        with --devices N, DEVICE_ID-001 ..., so 4+ characters fewer)
  --board NAME          board definition (default sim): ${Object.keys(boards).join(", ")}
  --devices N           run N independent devices (default 1)
  --interval SECONDS    sampling and telemetry interval, 0.01 to 86400, fractions
                        allowed (default 5); the device's initial sampling.intervalS
                        and telemetry.intervalS: a remote config change wins
  --qos 0|1|2           telemetry QoS (default 1); CoAP: 0 = NON, 1/2 = CON
  --readings N          each device takes exactly N readings; exit 0 once every
                        device has sent them (and, at QoS 1/2, had them
                        acknowledged); non-zero on failure or timeout, and at
                        once when every device has given up connecting
  --duration TIME       stop after this long (device time): seconds, or with a unit
                        (90s, 15m, 24h, 2d)
  --timeout SECONDS     with --readings: give up after this long (default: 60 + 3 x N x interval)
  --clock real|virtual  real time (default) or virtual time, as fast as possible
  --coap-port N         UDP port of the device's CoAP server (default: a free one;
                        with --devices N: N, N+1, ...; a fleet without it runs no CoAP servers)
  --format json|cbor    SenML encoding of the telemetry (default json)
  --home-assistant      publish Home Assistant MQTT discovery configs (retained)
  --seed N              seed of the simulated environment (default 1)
  --report energy       plan sleep (sleep.mode deep) and account each device's energy
                        per power state from the board's profile; at the end print wakes,
                        radio-on time, bytes and mAh per day, and write the first
                        device's timeline as SVG (with --clock virtual a day takes minutes)
  --svg FILE            where --report energy writes the timeline (default xs-iot-energy.svg)
  --json                one JSON event per line instead of the human output

Ctrl-C stops every device (each says "offline" first) and the embedded peers.`;

export interface SimRunOptions {
  id: string;
  board: BoardDefinition;
  devices: number;
  intervalMs: number;
  readings?: number;
  durationMs?: number;
  timeoutMs?: number;
  clock: "real" | "virtual";
  seed: number;
  json: boolean;
  protocol: "mqtt311" | "mqtt5" | "coap" | "mqttsn";
  broker?: ParsedUrl;
  /** --no-will: the device's mqtt.snWill false (MQTT-SN CONNECT without the will). */
  noWill?: boolean;
  /** --protocol mqttsn: an MQTT-SN gateway elsewhere (udp://host:port). */
  gateway?: ParsedUrl;
  server?: ParsedUrl;
  qos: 0 | 1 | 2;
  coapPort?: number;
  format: "json" | "cbor";
  homeAssistant: boolean;
  /** TLS credentials every device is provisioned with (--tls-ca, --tls-cert, --tls-key). */
  tls?: TlsCredentials;
  /** --report energy: planned sleep and an energy account per device. */
  report?: "energy";
  /** --svg: the timeline file of --report energy. */
  svg?: string;
}

/** --svg FILE: only with --report energy. */
function svgFlag(values: { [k: string]: string | boolean | undefined }): string | undefined {
  const v = values.svg;
  if (v === undefined) return undefined;
  if (values.report !== "energy") throw new UsageError("--svg is for --report energy");
  if (typeof v !== "string" || !v.trim()) throw new UsageError("--svg needs a file name");
  return v;
}

/** Reads --tls-ca / --tls-cert / --tls-key; a usage error names a flag given without mqtts://, alone, or unreadable. */
function tlsFlags(values: { [k: string]: string | boolean | undefined }, broker: ParsedUrl | undefined): TlsCredentials | undefined {
  const files: [keyof TlsCredentials, string][] = [["ca", "tls-ca"], ["clientCertificate", "tls-cert"], ["clientKey", "tls-key"]];
  const given = files.filter(([, flag]) => values[flag] !== undefined);
  if (!given.length) return undefined;
  if (broker?.scheme !== "mqtts") throw new UsageError(`--${given[0][1]} needs --broker mqtts://host:port`);
  if ((values["tls-cert"] === undefined) !== (values["tls-key"] === undefined)) throw new UsageError("--tls-cert and --tls-key go together");
  const out: TlsCredentials = {};
  for (const [field, flag] of given) {
    const file = String(values[flag]);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(file));
    } catch (e) {
      throw new UsageError(`--${flag}: cannot read "${file}": ${(e as Error).message}`);
    }
    if (bytes.length === 0 || bytes.length > MAX_VALUE_BYTES) throw new UsageError(`--${flag}: "${file}" must hold 1 to ${MAX_VALUE_BYTES} bytes (one flash entry), it has ${bytes.length}`);
    out[field] = bytes;
  }
  return out;
}

export function parseSimFlags(argv: string[]): SimRunOptions | "help" {
  const { values, positionals } = parseFlags(argv, FLAGS);
  if (values.help) return "help";
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const id = values.id ?? "xs-iot-sim";
  // Topic-safe and a valid configuration deviceId (1 to 32 characters, modules/config/schema.ts);
  // a fleet appends "-001" ... to it, so its --id leaves room for that suffix.
  const fleetSize = values.devices !== undefined && /^\d+$/.test(String(values.devices)) ? Number(values.devices) : 1;
  const suffix = fleetSize > 1 ? 1 + Math.max(3, String(fleetSize).length) : 0;
  const maxId = 32 - suffix;
  if (!/^[A-Za-z0-9_-]+$/.test(id) || id.length > maxId)
    throw new UsageError(`--id must be 1 to ${maxId} letters, digits, "-" or "_"${suffix ? ` (a device id has at most 32 and --devices ${fleetSize} appends ${suffix} characters, "-${"1".padStart(suffix - 1, "0")}")` : ""}, got "${id}"`);
  const boardName = values.board ?? "sim";
  let board: BoardDefinition;
  try {
    board = getBoard(boardName);
  } catch {
    throw new UsageError(`--board must be one of ${Object.keys(boards).join(", ")}, got "${boardName}"`);
  }
  const broker = urlFlag(values, "broker", { mqtt: 1883, mqtts: 8883 });
  // The embedded broker (aedes) speaks MQTT 3.1.1 only: that is the default without --broker.
  const protocol = choiceFlag(values, "protocol", ["mqtt311", "mqtt5", "coap", "mqttsn"] as const, broker ? "mqtt5" : "mqtt311")!;
  if (protocol === "mqtt5" && !broker) throw new UsageError("--protocol mqtt5 needs --broker: the embedded broker (aedes) speaks MQTT 3.1.1 only");
  const gateway = urlFlag(values, "gateway", { udp: 1884 });
  if (gateway && protocol !== "mqttsn") throw new UsageError("--gateway is for --protocol mqttsn");
  if (values["no-will"] && protocol !== "mqttsn") throw new UsageError("--no-will is for --protocol mqttsn (over MQTT the will is always asked for)");
  if (gateway && broker) throw new UsageError("--gateway and --broker: an MQTT-SN gateway bridges to its own broker; give one or the other");
  if (gateway?.path) throw new UsageError(`--gateway takes no path, got "${gateway.path}"`);
  if (gateway && !/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(gateway.host) && gateway.host !== "localhost") throw new UsageError(`--gateway: host must be an IPv4 address, got "${gateway.host}"`);
  if (protocol === "mqttsn" && broker?.scheme === "mqtts") throw new UsageError("--protocol mqttsn: the gateway in this process speaks plain MQTT to --broker (mqtt://)");
  const server = urlFlag(values, "server", { coap: 5683 });
  if (broker && protocol === "coap") throw new UsageError("--broker is for --protocol mqtt311 or mqtt5; CoAP telemetry goes to --server");
  if (server && protocol !== "coap") throw new UsageError("--server is for --protocol coap; MQTT telemetry goes to --broker");
  if (broker?.path) throw new UsageError(`--broker takes no path, got "${broker.path}"`);
  for (const [flag, u] of [["broker", broker], ["server", server]] as const) {
    if (u && !/^[A-Za-z0-9.-]+$/.test(u.host)) throw new UsageError(`--${flag}: host must be a host name or an IPv4 address, got "${u.host}"`);
    if (u && !(u.port >= 1 && u.port <= 65535)) throw new UsageError(`--${flag}: port must be from 1 to 65535`);
  }
  if (server && !/^[A-Za-z0-9_\-./]{0,65}$/.test(server.path)) throw new UsageError(`--server: path must be letters, digits, _ - . /, got "${server.path}"`);
  const seconds = (v: number | undefined) => (v === undefined ? undefined : Math.round(v * 1000));
  const devices = intFlag(values, "devices", 1, 100_000, 1)!;
  const coapPort = intFlag(values, "coap-port", 1, 65535);
  if (coapPort !== undefined && coapPort + devices - 1 > 65535) throw new UsageError(`--coap-port ${coapPort} leaves no room for ${devices} devices (ports up to 65535)`);
  const intervalMs = seconds(numberFlag(values, "interval", 0, 86_400, 5))!;
  // The device's sampling.intervalS takes 0.01 to 86400 s in whole ms (modules/config/schema.ts).
  if (intervalMs < 10) throw new UsageError(`--interval must be at least 0.01 s, got "${values.interval}"`);
  return {
    id,
    board,
    devices,
    intervalMs,
    readings: intFlag(values, "readings", 1, 1_000_000),
    durationMs: seconds(durationFlag(values, "duration", 0, 365 * 86_400)),
    timeoutMs: seconds(numberFlag(values, "timeout", 0, 365 * 86_400)),
    clock: choiceFlag(values, "clock", ["real", "virtual"] as const, "real")!,
    seed: intFlag(values, "seed", 0, 2 ** 31 - 1, 1)!,
    json: !!values.json,
    protocol,
    broker,
    gateway,
    noWill: !!values["no-will"],
    server,
    qos: Number(choiceFlag(values, "qos", ["0", "1", "2"] as const, "1")) as 0 | 1 | 2,
    coapPort,
    format: choiceFlag(values, "format", ["json", "cbor"] as const, "json")!,
    homeAssistant: !!values["home-assistant"],
    tls: tlsFlags(values, broker),
    report: choiceFlag(values, "report", ["energy"] as const),
    svg: svgFlag(values),
  };
}

const UNITS: [keyof Sample, string, string, number][] = [
  ["thermometer", "temperature", "°C", 2],
  ["hygrometer", "humidity", "%RH", 1],
  ["barometer", "pressure", "Pa", 0],
  ["lightmeter", "illuminance", "lx", 0],
  ["carbonDioxideDetector", "CO2", "ppm", 0],
  ["battery", "voltage", "V", 2],
];

export function formatSample(sample: Sample): string {
  const parts: string[] = [];
  for (const [group, field, unit, digits] of UNITS) {
    const v = (sample as any)[group]?.[field];
    if (typeof v === "number") parts.push(`${field} ${v.toFixed(digits)} ${unit}`);
  }
  return parts.join("  ") || "(no values)";
}

export async function simCommand(argv: string[]): Promise<number> {
  const parsed = parseSimFlags(argv);
  if (parsed === "help") {
    console.log(HELP);
    return 0;
  }
  // Piped into `head` and the like: a closed stdout ends the run quietly, not with an EPIPE trace.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
  });
  const code = await runSim(parsed);
  // Everything is closed by now; should a handle linger, do not hang the shell.
  setTimeout(() => process.exit(code), 3000).unref();
  return code;
}

function deviceId(options: SimRunOptions, i: number): string {
  if (options.devices === 1) return options.id;
  const width = Math.max(3, String(options.devices).length);
  return `${options.id}-${String(i + 1).padStart(width, "0")}`;
}

function senmlLine(m: SinkMessage): string {
  const pack = m.pack as any[];
  if (!Array.isArray(pack)) return `${m.payload.length} bytes (not SenML)`;
  const parts: string[] = [];
  let bn = "";
  for (const r of pack) {
    const rec = r instanceof Map ? { bn: r.get(-2), n: r.get(0), u: r.get(1), v: r.get(2) } : r;
    if (rec.bn) bn = rec.bn;
    parts.push(`${rec.n}=${rec.v}${rec.u ? " " + rec.u : ""}`);
  }
  return `${bn.replace(/:$/, "")}: ${parts.join(", ")}`;
}

export async function runSim(options: SimRunOptions, out: (line: string) => void = (l) => process.stdout.write(l + "\n")): Promise<number> {
  const virtual = options.clock === "virtual" ? new VirtualClock({ epochAtStart: Date.now() }) : undefined;
  const clock = virtual ?? new RealClock();
  const apps: (App | undefined)[] = new Array(options.devices).fill(undefined);
  const devices: SimDevice[] = [];
  const energies: DeviceEnergy[] = [];
  const startedAt = clock.now();
  const startedEpoch = clock.epoch();
  /** Where the run ended in device time (virtual time stops there: the report counts up to it). */
  let endedAt: number | undefined;
  const json = options.json;
  const tty = !json && !!process.stdout.isTTY;
  const chatty = options.devices <= 10;
  let broker: EmbeddedBroker | undefined;
  let sink: CoapSink | undefined;
  let gateway: MqttSnGateway | undefined;
  let gatewayPort: number | undefined;
  let status: StatusLine | undefined;
  const print = (line: string) => (status ? status.print(line) : out(line));
  // MQTT reason codes by name (the device's messages carry the code and its section).
  // The device's hint names its setting; here the flag sets it (every hint works as printed).
  const emit = (event: Record<string, unknown>, human: string | undefined) => {
    if (json) out(nameReasonCodes(JSON.stringify(event)).replace(WILL_HINT, "--no-will"));
    else if (human !== undefined) print(nameReasonCodes(human).replace(WILL_HINT, "--no-will"));
  };

  // --- peers ---
  const mqtt = options.protocol !== "coap";
  const sn = options.protocol === "mqttsn";
  try {
    if (mqtt && !options.broker && !options.gateway) broker = await startEmbeddedBroker();
    if (sn && !options.gateway) {
      // The MQTT-SN gateway in this process, bridging to the broker: its problems are worth a line, its steps are not.
      gateway = new MqttSnGateway({
        udp: { io: UDP as never, port: 0, receiveQueue: Math.max(16, options.devices * 2) },
        broker: options.broker ? `mqtt://${options.broker.host}:${options.broker.port}` : broker!.url,
        maxClients: options.devices + 10, // a fleet shares this gateway
        log: (line) => (json ? emit({ event: "gateway", line }, undefined) : /lost|cannot|refused|error|buffer full/i.test(line) && print(line)),
      });
      gatewayPort = await gateway.start();
    }
    if (!mqtt && !options.server)
      sink = await startCoapSink("tele", (m) => emit({ event: "coap-received", from: m.from, contentFormat: m.contentFormat, confirmable: m.confirmable, bytes: m.payload.length, senml: m.pack instanceof Array ? m.pack.map((r: unknown) => (r instanceof Map ? Object.fromEntries(r) : r)) : undefined }, chatty ? `  sink <- ${m.confirmable ? "CON" : "NON"} ${senmlLine(m)}` : undefined));
  } catch (e) {
    const message = `cannot start the embedded ${sn && broker ? "MQTT-SN gateway" : mqtt ? "broker" : "CoAP sink"}: ${(e as Error).message}`;
    emit({ event: "error", message }, message);
    await gateway?.close();
    await broker?.close();
    return 1;
  }
  const brokerUrl = options.broker ? `${options.broker.scheme}://${options.broker.host}:${options.broker.port}` : broker?.url;
  // MQTT-SN: the device's mqtt.host/port name the gateway (modules/config/schema.ts).
  const gatewayHost = options.gateway ? (options.gateway.host === "localhost" ? "127.0.0.1" : options.gateway.host) : "127.0.0.1";
  const gatewayUdpPort = options.gateway?.port ?? gatewayPort;
  const brokerHost = options.broker?.host ?? "127.0.0.1";
  const brokerPort = options.broker?.port ?? broker?.port ?? 1883;
  const serverHost = options.server?.host ?? "127.0.0.1";
  const serverPort = options.server?.port ?? sink?.port ?? 5683;
  const serverPath = (options.server?.path ?? "/tele").replace(/^\//, "");

  // The device's CoAP server: a given port (N, N+1, ...), a free port for one device, none for a fleet without --coap-port.
  let coapPorts: (number | undefined)[] = [];
  if (options.coapPort !== undefined) coapPorts = apps.map((_, i) => options.coapPort! + i);
  else if (options.devices === 1) coapPorts = [await freeUdpPort()];
  else coapPorts = apps.map(() => undefined);

  const keys = apps.map(() => new Uint8Array(randomBytes(32)));
  let finished = false;
  let failure: string | undefined;
  let resolveDone: (code: number) => void = () => undefined;
  const done = new Promise<number>((r) => (resolveDone = r));
  const timers: ReturnType<typeof setTimeout>[] = [];

  const counts = (): StatusCounts => {
    let readings = 0, sent = 0, acked = 0, failed = 0, reconnects = 0, online = 0, queued = 0, buffered = 0, thinned = 0, failedAttempts = 0, gaveUp = 0;
    for (const a of apps) {
      if (!a) continue;
      readings += a.readings;
      sent += a.sent;
      acked += a.acked;
      failed += a.failed;
      reconnects += a.reconnects;
      queued += a.queued;
      buffered += a.buffered;
      thinned += a.thinned + a.dropped;
      failedAttempts += a.failedAttempts;
      if (a.gaveUp !== undefined) gaveUp++;
      if (a.state === "online") online++;
    }
    const a0 = apps[0];
    const at = options.devices === 1 && a0 ? a0.nextAttemptAt : undefined;
    return {
      devices: options.devices, online, readings, sent, acked, failed, reconnects, queued, buffered, thinned, failedAttempts, gaveUp,
      nextAttemptInMs: at === undefined || !a0 ? undefined : Math.max(0, at - a0.scheduler.now()),
      state: a0?.state ?? "starting",
    };
  };

  const reached = () =>
    options.readings !== undefined && apps.every((a) => a && a.sent >= options.readings! && a.acked >= options.readings!);
  // Every reading of --readings N has its outcome: acknowledged, failed, or thinned out under pressure.
  const settled = () =>
    options.readings !== undefined && apps.every((a) => a && a.readings >= options.readings! && a.acked + a.failed + a.thinned + a.dropped >= options.readings!);

  const finish = async (code: number, reason: string) => {
    if (finished) return;
    finished = true;
    endedAt = clock.now();
    // Virtual time ends here: the sockets still get their real-time turns below.
    if (energies.length) driver?.stop();
    for (const t of timers) clearTimeout(t);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    // Let datagrams and packets already written leave the sockets before they close.
    await new Promise((r) => setTimeout(r, 100));
    for (const d of devices) d.stop(); // each app says "offline" and disconnects
    driver?.stop();
    // Let the last packets (state "offline", DISCONNECT) reach the broker before it closes.
    await new Promise((r) => setTimeout(r, 100));
    (clock as RealClock).clearAll?.();
    status?.stop();
    status = undefined;
    reportEnergy();
    const c = counts();
    emit({ event: "done", reason, code, devices: options.devices, readings: c.readings, sent: c.sent, acked: c.acked, failed: c.failed, thinned: c.thinned, queued: c.queued, buffered: c.buffered, reconnects: c.reconnects, failedAttempts: c.failedAttempts }, `${reason}: ${c.readings} readings from ${options.devices} device(s), ${c.sent} sent, ${c.acked} acknowledged${c.failed ? `, ${c.failed} failed` : ""}${c.thinned ? `, ${c.thinned} thinned out (outbox full or not connected)` : ""}${c.queued ? `, ${c.queued} never sent (no connection)` : ""}${c.buffered ? `, ${c.buffered} still on the device (not sent, or unanswered)` : ""}`);
    await gateway?.close();
    if (broker) await broker.close();
    sink?.close();
    resolveDone(code);
  };
  /** --report energy: each device's figures per day (the first ten in the human output), the first one's timeline as SVG. */
  const reportEnergy = () => {
    if (!energies.length) return;
    const now = Math.max(endedAt ?? clock.now(), startedAt);
    energies.forEach((e, i) => {
      const summary = energySummary(deviceId(options, i), options.protocol, e.totals(now));
      emit({ event: "energy", ...summary }, i < 10 ? energyLines(summary).join("\n") : undefined);
    });
    const file = options.svg ?? "xs-iot-energy.svg";
    const first = energies[0];
    const title = `xs-iot ${deviceId(options, 0)} on ${options.board.name}, ${options.protocol}: power state and radio (hover a bar for why)`;
    try {
      writeFileSync(file, energySvg(first.meter.segments, startedAt, now, title, startedEpoch));
      emit({ event: "energy-timeline", file }, `energy: timeline of ${deviceId(options, 0)} written to ${file}${first.meter.segments.length >= 400_000 ? " (the first 400,000 stretches)" : ""}`);
    } catch (e) {
      emit({ event: "error", message: `cannot write ${file}: ${(e as Error).message}` }, `cannot write ${file}: ${(e as Error).message}`);
    }
  };
  const onSignal = () => void finish(failure ? 1 : 0, "stopped");
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  // In virtual time, time may jump only while no device waits for the network.
  // (A CoAP device is "connecting" until its gateway first answers: its retransmissions run on device time.)
  const busy = () => apps.some((a) => a && ((a.state === "connecting" && a.config.protocol !== "coap") || (a.mqtt !== undefined && a.mqtt.outbox.count > 0)));
  const driver = virtual ? new FastForward({ clock: virtual, isBusy: busy }) : undefined;

  const configShare = {}; // equal configuration groups kept once for all the devices (ConfigShare)
  for (let i = 0; i < options.devices; i++) {
    const id = deviceId(options, i);
    const hardware = createSimHardware(options.board, clock, indoorDay(options.seed + i * 7919));
    const provisioned: { [k: string]: unknown } = {
      protocol: options.protocol,
      "mqtt.host": sn ? gatewayHost : brokerHost,
      "mqtt.port": sn ? gatewayUdpPort : brokerPort,
      "mqtt.tls": options.broker?.scheme === "mqtts",
      "coap.gatewayHost": serverHost,
      "coap.gatewayPort": serverPort,
      "coap.gatewayPath": serverPath,
      "telemetry.qos": options.qos === 0 ? 0 : 1,
      // Factory values, not overrides: a remote config/patch wins (and is kept in flash), and
      // config get reports what the device runs with (issue 15).
      "sampling.intervalS": options.intervalMs / 1000,
      "telemetry.intervalS": options.intervalMs / 1000,
    };
    if (coapPorts[i] !== undefined) provisioned["coap.listenPort"] = coapPorts[i];
    if (options.noWill) provisioned["mqtt.snWill"] = false;
    // --report energy: the scheduler's sleep policy plans the sleeps (up to deep sleep), and the
    // device's energy is accounted per power state from the board's profile.
    if (options.report === "energy") provisioned["sleep.mode"] = "deep";
    const energy = options.report === "energy" ? new DeviceEnergy(options.board.power, clock.now(), { timeline: 400_000 }) : undefined;
    if (energy) energies.push(energy);
    let everOnline = false;
    const device = new SimDevice({
      name: id,
      clock,
      energy,
      board: options.board,
      io: { ...hardware.io, TCP: TCP as never, TLS: TLS as never, UDP: UDP as never },
      seed: options.seed + i,
      log: (line) => {
        if (chatty || /fail|error|cannot|refused/i.test(line)) emit({ event: "log", device: id, line }, line);
      },
      app: (platform) => {
        const app = startApp({
          platform,
          board: options.board,
          deviceId: id,
          provisioned,
          configShare,
          key: keys[i],
          tls: options.tls,
          // QoS 2 has no configuration key (telemetry.qos is 0 or 1): it alone stays an override.
          // --readings N: the device takes exactly N readings, then waits for their acknowledgements.
          // MQTT-SN: QoS 2 needs the session's QoS 2 part, which the firmware does not carry (src/mqttsn-link.ts).
          mqttsnParts: options.qos === 2 ? () => ({ qos2: new SnQos2() }) : undefined,
          overrides: { qos: options.qos === 2 ? 2 : undefined, format: options.format, homeAssistant: options.homeAssistant, coapServer: coapPorts[i] !== undefined, maxReadings: options.readings },
          onReading: (reading: Reading) => {
            const time = reading.time === reading.time ? new Date(reading.time).toISOString() : undefined;
            // simMs: the simulator clock the environment is a function of (sim/scenarios.ts), for checks against it.
            if (json) emit({ event: "reading", device: id, seq: reading.seq, time, simMs: clock.now(), sample: reading.sample }, undefined);
            else if (chatty) print(`[${id}] #${reading.seq} ${formatSample(reading.sample)}`);
          },
          onAcked: (e: TelemetryEvent) => {
            if (json) emit({ event: "acked", device: id, seqs: e.seqs }, undefined);
            if (!finished && reached()) void finish(0, "done");
            else if (!finished && settled()) void finish(1, "failed: not every reading was acknowledged");
          },
          onSent: (e: TelemetryEvent) => {
            if (json) emit({ event: "sent", device: id, seqs: e.seqs, messages: e.messages, bytes: e.bytes }, undefined);
          },
          onFailed: (e: TelemetryEvent, reason: string) => {
            failure = `[${id}] telemetry of readings ${e.seqs.join(",")} failed: ${reason}`;
            emit({ event: "failed", device: id, seqs: e.seqs, reason }, failure);
            if (options.readings !== undefined) void finish(1, "failed");
          },
          onState: (s: AppState) => {
            // "offline" before the first "online" says nothing the failed attempt's line does not.
            if (s === "online") everOnline = true;
            emit({ event: "state", device: id, state: s }, chatty && (everOnline || s !== "offline") ? `[${id}] ${s}` : undefined);
          },
          onError: (m) => {
            emit({ event: "error", device: id, message: m }, chatty ? `[${id}] ${m}` : undefined);
            // --readings N: once every device has given up connecting, nothing more can be acknowledged.
            if (options.readings !== undefined && !finished && apps.every((a) => a && a.gaveUp !== undefined)) {
              status?.update(true);
              const a0 = apps[0]!;
              void finish(1, options.devices === 1 ? `gave up connecting to ${a0.config.mqtt.host}:${a0.config.mqtt.port}: ${a0.gaveUp}` : `every device gave up connecting (the first: ${a0.gaveUp})`);
            }
          },
        });
        apps[i] = app;
        return app;
      },
    });
    devices.push(device);
  }

  const first = deviceId(options, 0);
  // A fleet's topics as one valid filter: "+" stands for a whole level [MQTT-4.7.1-2].
  const topicBase = `xs-iot/${options.devices === 1 ? first : "+"}`;
  const coapUrl = coapPorts[0] !== undefined ? `coap://127.0.0.1:${coapPorts[0]}` : undefined;
  const start: Record<string, unknown> = {
    event: "start",
    devices: options.devices,
    board: options.board.name,
    protocol: options.protocol,
    intervalMs: options.intervalMs,
    qos: options.qos,
    clock: options.clock,
    broker: mqtt ? brokerUrl : undefined,
    embeddedBroker: !!broker,
    gateway: sn ? `udp://${gatewayHost}:${gatewayUdpPort}` : undefined,
    embeddedGateway: !!gateway,
    server: mqtt ? undefined : `coap://${serverHost}:${serverPort}/${serverPath}`,
    embeddedSink: !!sink,
    telemetryTopic: mqtt ? `${topicBase}/tele` : undefined,
    stateTopic: mqtt ? `${topicBase}/state` : undefined,
    coap: coapUrl,
    key: options.devices === 1 ? Buffer.from(keys[0]).toString("hex") : undefined,
  };
  const lines = [
    `xs-iot sim: ${options.devices} device(s) on board "${options.board.name}", ${options.protocol}, a reading every ${options.intervalMs / 1000} s (QoS ${options.qos}, ${options.clock} clock). Ctrl-C stops.`,
  ];
  if (sn) lines.push(`  gateway    udp://${gatewayHost}:${gatewayUdpPort}${gateway ? ` (MQTT-SN 1.2, in this process, bridging to ${brokerUrl})` : " (MQTT-SN 1.2)"}`);
  if (mqtt && brokerUrl) {
    lines.push(`  broker     ${brokerUrl}${broker ? " (embedded aedes, in this process)" : ""}`);
    lines.push(`  telemetry  ${topicBase}/tele  (SenML ${options.format.toUpperCase()})`);
    lines.push(`  state      ${topicBase}/state  (retained: online / offline)`);
    lines.push(`  watch      mosquitto_sub -h ${brokerHost} -p ${brokerPort} -v -t '${topicBase}/#'`);
  } else if (mqtt) {
    lines.push(`  telemetry  ${topicBase}/tele  (SenML ${options.format.toUpperCase()}), on the gateway's broker`);
  } else {
    lines.push(`  telemetry  POST coap://${serverHost}:${serverPort}/${serverPath}${sink ? " (embedded sink, prints what it receives)" : ""}, ${options.qos ? "CON" : "NON"}`);
  }
  if (coapUrl) {
    lines.push(`  CoAP       ${coapUrl}  (/.well-known/core, /sensors/${QUANTITIES[0].name} ..., /config)`);
    lines.push(`  ask        coap-client-notls -m get ${coapUrl}/sensors/temperature`);
    lines.push(`  discover   coap-client-notls -m get ${coapUrl}/.well-known/core`);
  }
  if (options.devices === 1 && (!mqtt || brokerUrl))
    lines.push(`  configure  npx xs-iot config --device ${first} --via ${mqtt ? brokerUrl : coapUrl ?? "coap://..."} --key ${start.key} get`);
  emit(start, lines.join("\n"));

  for (const d of devices) d.start();
  if (!json) status = new StatusLine(counts, { tty, write: (s) => process.stdout.write(s), everyMs: 10_000 });

  if (options.durationMs !== undefined)
    clock.setTimer(() => void finish(options.readings !== undefined && !reached() ? 1 : 0, options.readings !== undefined && !reached() ? "duration reached before --readings" : "duration reached"), options.durationMs);
  if (options.readings !== undefined) {
    const limit = options.timeoutMs ?? 60_000 + 3 * options.readings * options.intervalMs;
    if (virtual) virtual.setTimer(() => void finish(1, `timeout: --readings ${options.readings} not reached`), limit);
    // Real time too: virtual time stands still while a device waits for the network.
    if (virtual) timers.push(setTimeout(() => void finish(1, `timeout: --readings ${options.readings} not reached (real time)`), Math.max(120_000, options.timeoutMs ?? 0)));
    else timers.push(setTimeout(() => void finish(1, `timeout: --readings ${options.readings} not reached`), limit));
  }
  // --report energy over a long simulated time: progress every 5 s of real time.
  if (energies.length && options.durationMs !== undefined) {
    const progress = setInterval(() => {
      const done = clock.now() - startedAt;
      const wakes = energies.reduce((n, e) => n + e.meter.totals(clock.now()).wakes, 0);
      emit({ event: "progress", simulatedMs: done, durationMs: options.durationMs, wakes }, `energy: ${(done / 3_600_000).toFixed(2)} h of ${(options.durationMs! / 3_600_000).toFixed(2)} h simulated (${Math.floor((100 * done) / options.durationMs!)}%), ${wakes} wakes so far`);
    }, 5_000);
    progress.unref();
    timers.push(progress as unknown as ReturnType<typeof setTimeout>);
  }
  driver?.start();
  return done;
}
