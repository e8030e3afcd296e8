/*
 * `xs-iot sim`: runs simulated devices — the firmware app (src/app.ts) on the
 * desktop simulator, one SimDevice per device, each with its own simulated
 * board hardware, flash and RTC memory.
 *
 * Flag names are a contract other tools rely on (issue 7); keep them.
 */
import { boards, getBoard } from "../boards/index";
import type { BoardDefinition } from "../boards/types";
import type { Sample } from "../modules/sensors/sensor";
import { startApp, type App, type Reading } from "../src/app";
import { choiceFlag, intFlag, numberFlag, parseFlags, UsageError, type FlagSpec } from "./cli-args";
import { SimDevice } from "./device";
import { createSimHardware } from "./hardware";
import { FastForward } from "./node/fast-forward";
import { RealClock } from "./node/real-clock";
import { indoorDay } from "./scenarios";
import { VirtualClock } from "./virtual-clock";

const FLAGS: FlagSpec = {
  protocol: { type: "string" },
  broker: { type: "string" },
  server: { type: "string" },
  id: { type: "string" },
  board: { type: "string" },
  devices: { type: "string" },
  interval: { type: "string" },
  qos: { type: "string" },
  readings: { type: "string" },
  duration: { type: "string" },
  clock: { type: "string" },
  "coap-port": { type: "string" },
  seed: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};

const HELP = `usage: xs-iot sim [flags]

Runs simulated devices: the firmware app on the desktop simulator, with
simulated sensors on a simulated I2C bus.

  --id DEVICE_ID        device id (default xs-iot-sim; with --devices N, DEVICE_ID-001 ...)
  --board NAME          board definition (default sim): ${Object.keys(boards).join(", ")}
  --devices N           run N independent devices (default 1)
  --interval SECONDS    sampling interval, fractions allowed (default 5)
  --readings N          exit 0 once every device has produced N readings
  --duration SECONDS    stop after this long (device time)
  --clock real|virtual  real time (default) or virtual time as fast as possible
  --seed N              seed of the simulated environment (default 1)
  --json                one JSON event per line instead of the human output

Protocol flags (--protocol, --broker, --server, --qos, --coap-port) arrive with
the MQTT and CoAP clients; until then they are refused with exit code 2.`;

export interface SimRunOptions {
  id: string;
  board: BoardDefinition;
  devices: number;
  intervalMs: number;
  readings?: number;
  durationMs?: number;
  clock: "real" | "virtual";
  seed: number;
  json: boolean;
}

export function parseSimFlags(argv: string[]): SimRunOptions | "help" {
  const { values, positionals } = parseFlags(argv, FLAGS);
  if (values.help) return "help";
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  for (const flag of ["protocol", "broker", "server", "qos", "coap-port"]) {
    if (values[flag] !== undefined) throw new UsageError(`--${flag} is not available yet: this build has no MQTT or CoAP client wired into the app`);
  }
  const id = values.id ?? "xs-iot-sim";
  // [MQTT-3.1.3-5]-safe and topic-safe: letters, digits, dash, underscore.
  if (!/^[A-Za-z0-9_-]{1,23}$/.test(id)) throw new UsageError(`--id must be 1 to 23 letters, digits, "-" or "_", got "${id}"`);
  const boardName = values.board ?? "sim";
  let board: BoardDefinition;
  try {
    board = getBoard(boardName);
  } catch {
    throw new UsageError(`--board must be one of ${Object.keys(boards).join(", ")}, got "${boardName}"`);
  }
  const seconds = (v: number | undefined) => (v === undefined ? undefined : Math.round(v * 1000));
  return {
    id,
    board,
    devices: intFlag(values, "devices", 1, 100_000, 1)!,
    intervalMs: seconds(numberFlag(values, "interval", 0, 86_400, 5))!,
    readings: intFlag(values, "readings", 1, 1_000_000),
    durationMs: seconds(numberFlag(values, "duration", 0, 365 * 86_400)),
    clock: choiceFlag(values, "clock", ["real", "virtual"] as const, "real")!,
    seed: intFlag(values, "seed", 0, 2 ** 31 - 1, 1)!,
    json: !!values.json,
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
  return runSim(parsed);
}

export function runSim(options: SimRunOptions, out: (line: string) => void = (l) => console.log(l)): Promise<number> {
  const virtual = options.clock === "virtual" ? new VirtualClock({ epochAtStart: Date.now() }) : undefined;
  const clock = virtual ?? new RealClock();
  const driver = virtual ? new FastForward({ clock: virtual }) : undefined;
  const width = String(options.devices).length < 3 ? 3 : String(options.devices).length;
  const emit = (event: Record<string, unknown>, human: string) => out(options.json ? JSON.stringify(event) : human);

  const devices: SimDevice[] = [];
  const counts: number[] = [];
  const apps: (App | undefined)[] = [];
  let finished = false;

  return new Promise<number>((resolve) => {
    const finish = (code: number, reason: string) => {
      if (finished) return;
      finished = true;
      for (const d of devices) d.stop();
      driver?.stop();
      (clock as RealClock).clearAll?.();
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      const total = counts.reduce((a, b) => a + b, 0);
      emit({ event: "done", reason, readings: total, devices: options.devices, code }, `${reason}: ${total} readings from ${options.devices} device(s)`);
      resolve(code);
    };
    const onSignal = () => finish(0, "stopped");
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);

    for (let i = 0; i < options.devices; i++) {
      const id = options.devices === 1 ? options.id : `${options.id}-${String(i + 1).padStart(width, "0")}`;
      const hardware = createSimHardware(options.board, clock, indoorDay(options.seed + i * 7919));
      counts.push(0);
      const device = new SimDevice({
        name: id,
        clock,
        board: options.board,
        io: hardware.io,
        seed: options.seed + i,
        log: (line) => emit({ event: "log", device: id, line }, line),
        app: (platform) => {
          const app = startApp({
            platform,
            board: options.board,
            intervalMs: options.intervalMs,
            onReading: (reading: Reading) => {
              counts[i]++;
              emit({ event: "reading", device: id, seq: reading.seq, time: new Date(reading.time).toISOString(), sample: reading.sample }, `[${id}] #${reading.seq} ${formatSample(reading.sample)}`);
              if (options.readings !== undefined && counts.every((c) => c >= options.readings!)) finish(0, "done");
            },
          });
          apps[i] = app;
          return app;
        },
      });
      devices.push(device);
    }
    emit({ event: "start", devices: options.devices, board: options.board.name, intervalMs: options.intervalMs, clock: options.clock }, `xs-iot sim: ${options.devices} device(s) on board "${options.board.name}", a reading every ${options.intervalMs / 1000} s (${options.clock} clock). Ctrl-C stops.`);
    for (const d of devices) d.start();
    if (options.durationMs !== undefined) clock.setTimer(() => finish(0, "duration reached"), options.durationMs);
    driver?.start();
  });
}
