/*
 * One fleet in one Node process (run by bench/fleet.bench.ts, or by hand):
 *
 *   node --expose-gc tools/run-ts.js bench/fleet-worker.ts ours|client|mqttjs <devices> <port> <intervalMs> <seconds>
 *   node tools/run-ts.js bench/fleet-worker.ts all [devices] [intervalMs] [seconds]
 * (tools/run-ts.js runs the TypeScript as the command line does, without tsx's keepNames
 * wrappers; all three fleets run the same way.)
 *
 * ours:   <devices> simulated devices, each the whole firmware app (src/app.ts:
 *         config core + flash store, simulated I2C sensors, MQTT client with its
 *         persistent outbox, SenML telemetry), MQTT 3.1.1, QoS 1; no CoAP server.
 * client: our MqttClient alone (modules/mqtt, over sim/node/tcp), doing exactly
 *         what the MQTT.js fleet does: the like-for-like client comparison.
 * mqttjs: <devices> MQTT.js clients (3.1.1, QoS 1) publishing the same SenML
 *         readings (same environment, same encoder) on the same topics at the
 *         same interval, with no sensors or configuration behind them.
 * Every fleet is made in ten groups spread over one sampling interval (real devices are not in
 * phase), in two halves; connect time includes that spread.
 * Prints one JSON line: connect time (the two halves' together), acknowledged readings per
 * second over the steady window, memory per device (heap + external after a full GC, and
 * RSS; the median of five readings at phases spread over one sampling interval, each at least
 * 0.5 s after the one before) against the process
 * before the fleet was created, and the marginal heap + external
 * of a device: the fleet is made in two halves, and (whole fleet - first half) / second half
 * leaves out what a library costs once (code compiled on first use, caches), which the
 * per-device figure spreads over N.
 */
import * as mqtt from "mqtt";
import { monitorEventLoopDelay } from "perf_hooks";
import { getBoard } from "../boards/index";
import { SimDevice } from "../sim/device";
import { Environment } from "../sim/environment";
import { createSimHardware } from "../sim/hardware";
import { RealClock } from "../sim/node/real-clock";
import { TCP } from "../sim/node/tcp";
import { indoorDay } from "../sim/scenarios";
import { startApp, type App } from "../src/app";
import { encodeTelemetry } from "../src/senml";
import { MqttClient } from "../modules/mqtt/client";
import { Scheduler, type Job } from "../modules/scheduler/scheduler";

const [mode, nArg, portArg, intervalArg, secondsArg] = process.argv.slice(2);
const N = Number(nArg);
const PORT = Number(portArg);
const INTERVAL = Number(intervalArg);
const SECONDS = Number(secondsArg);
const gc = (globalThis as { gc?: () => void }).gc;

function memory(): { heap: number; rss: number } {
  for (let i = 0; i < 3; i++) gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed + m.external, rss: m.rss };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A running fleet's memory moves within each period (a device in the middle of a sampling
 * pass, or of a publish, holds more than one between them), so one instant is a poor
 * estimate of it: the median of SAMPLES readings at phases spread over one sampling interval,
 * taken the same way for every fleet. Each reading's full GCs stop the event loop for 25-55 ms
 * at 1,000 devices; the timers due meanwhile run late, together, and a reading taken before the
 * loop has caught up finds devices held mid-pass by the measurement itself (at 100 ms, readings
 * 20 ms apart gave 11.6-13.8 KB a device from run to run). So readings are at least SETTLE_MS
 * apart: whole intervals plus the phase step.
 */
const SAMPLES = 5;
const SETTLE_MS = 500;
async function memoryOverPeriod(): Promise<{ heap: number; rss: number }> {
  const heaps: number[] = [];
  const rsss: number[] = [];
  const step = Math.ceil(SETTLE_MS / INTERVAL) * INTERVAL + INTERVAL / SAMPLES;
  for (let i = 0; i < SAMPLES; i++) {
    if (i) await sleep(step);
    const m = memory();
    heaps.push(m.heap);
    rsss.push(m.rss);
  }
  const median = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1];
  return { heap: median(heaps), rss: median(rsss) };
}

async function main(): Promise<void> {
  await sleep(200);
  const base = memory();
  let acked = 0;
  let connected = 0;
  // The fleet is made in two halves: memory after the first half (connected, warmed up) and
  // after the whole gives the marginal memory of a device besides the fleet's per-device figure
  // (which also carries each library's one-time costs spread over N).
  let target = 0;
  let reachedAt = NaN;
  let create: (i: number) => void = () => undefined;
  // What the fleet holds, summed over its devices: readings handed to the client and not yet
  // acknowledged (in flight), and readings made but not yet handed to it (waiting).
  let backlog: () => { inFlight: number; waiting: number } = () => ({ inFlight: 0, waiting: 0 });
  const stops: (() => void)[] = [];
  const board = getBoard("sim");

  if (mode === "ours") {
    const clock = new RealClock();
    const apps: App[] = [];
    // What every device gets alike is made once (as a fleet runner would): the provisioned
    // broker, the overrides and the callbacks, which only count.
    const provisioned = Object.freeze({ protocol: "mqtt311", "mqtt.host": "127.0.0.1", "mqtt.port": PORT });
    const configShare = {}; // equal configuration groups are kept once for the fleet (ConfigShare)
    const overrides = Object.freeze({ samplingMs: INTERVAL, telemetryMs: INTERVAL, qos: 1 as const, coapServer: false });
    const onAcked = (e: { seqs: number[] }) => (acked += e.seqs.length);
    const onState = (s: string) => {
      if (s === "online" && ++connected === target) reachedAt = performance.now();
    };
    const onError = () => undefined;
    backlog = () => {
      let inFlight = 0;
      let waiting = 0;
      for (const a of apps) {
        inFlight += a.sent - a.acked - a.failed;
        waiting += a.readings - a.sent - a.dropped - a.thinned;
      }
      return { inFlight, waiting };
    };
    create = (i: number) => {
      const id = `fleet-${String(i + 1).padStart(4, "0")}`;
      const hardware = createSimHardware(board, clock, indoorDay(1 + i * 7919));
      const device = new SimDevice({
        name: id,
        clock,
        io: { ...hardware.io, TCP: TCP as never },
        seed: i + 1,
        app: (platform) => {
          const app = startApp({
            platform,
            board,
            deviceId: id,
            provisioned,
            configShare,
            overrides,
            onAcked,
            onState,
            onError,
          });
          apps.push(app);
          return app;
        },
      });
      device.start();
      stops.push(() => device.stop());
    };
  } else if (mode === "client") {
    // Our MqttClient alone (no app, no sensors), doing what the MQTT.js loop below does.
    const clock = new RealClock();
    const clients: MqttClient[] = [];
    backlog = () => {
      let inFlight = 0;
      for (const c of clients) inFlight += c.outbox.count;
      return { inFlight, waiting: 0 };
    };
    create = (i: number) => {
      const id = `client-${String(i + 1).padStart(4, "0")}`;
      const env = new Environment(indoorDay(1 + i * 7919));
      const topic = `xs-iot/${id}/tele`;
      const scheduler = new Scheduler({ clock });
      let job: Job | undefined;
      const client = new MqttClient({
        socket: { io: TCP as never, address: "127.0.0.1", port: PORT },
        scheduler,
        clientId: id, // MQTT 3.1.1: no 5.0 part
        keepAlive: 60,
        will: { topic: `xs-iot/${id}/state`, payload: new TextEncoder().encode("offline"), qos: 1, retain: true },
        onConnect() {
          if (++connected === target) reachedAt = performance.now();
          this.publish(`xs-iot/${id}/state`, "online", { qos: 1, retain: true });
          job ??= scheduler.after(INTERVAL, (_now, j) => {
            j.delay(INTERVAL);
            const t = performance.now();
            const sample = {
              thermometer: { temperature: env.temperature(t) },
              hygrometer: { humidity: env.humidity(t) },
              barometer: { pressure: env.pressure(t) },
              lightmeter: { illuminance: env.light(t) },
              carbonDioxideDetector: { CO2: env.co2(t) },
              battery: { voltage: env.battery(t) },
            };
            for (const p of encodeTelemetry(id, [{ time: Date.now(), sample }], "json")) client.publish(topic, p, { qos: 1 }, (e) => (e ? undefined : acked++));
          });
        },
      });
      clients.push(client);
      stops.push(() => {
        job?.cancel();
        client.end();
      });
    };
  } else {
    const clients: mqtt.MqttClient[] = [];
    backlog = () => {
      let inFlight = 0;
      let waiting = 0;
      for (const c of clients) {
        inFlight += Object.keys(c.outgoing).length;
        waiting += c.queue.length;
      }
      return { inFlight, waiting };
    };
    create = (i: number) => {
      const id = `mqttjs-${String(i + 1).padStart(4, "0")}`;
      const env = new Environment(indoorDay(1 + i * 7919));
      const topic = `xs-iot/${id}/tele`;
      const client = mqtt.connect(`mqtt://127.0.0.1:${PORT}`, {
        clientId: id,
        protocolVersion: 4,
        clean: false,
        keepalive: 60,
        reconnectPeriod: 1000,
        will: { topic: `xs-iot/${id}/state`, payload: Buffer.from("offline"), qos: 1, retain: true },
      });
      let timer: ReturnType<typeof setInterval> | undefined;
      client.on("connect", () => {
        if (++connected === target) reachedAt = performance.now();
        client.publish(`xs-iot/${id}/state`, "online", { qos: 1, retain: true });
        timer ??= setInterval(() => {
          const t = performance.now();
          const sample = {
            thermometer: { temperature: env.temperature(t) },
            hygrometer: { humidity: env.humidity(t) },
            barometer: { pressure: env.pressure(t) },
            lightmeter: { illuminance: env.light(t) },
            carbonDioxideDetector: { CO2: env.co2(t) },
            battery: { voltage: env.battery(t) },
          };
          for (const p of encodeTelemetry(id, [{ time: Date.now(), sample }], "json")) client.publish(topic, Buffer.from(p), { qos: 1 }, (e) => (e ? undefined : acked++));
        }, INTERVAL);
      });
      client.on("error", () => undefined);
      clients.push(client);
      stops.push(() => {
        if (timer) clearInterval(timer);
        client.end(true);
      });
    };
  }

  // Makes devices [from, to) and waits until all of them connected; the time it took, ms.
  const grow = async (from: number, to: number): Promise<number> => {
    const t = performance.now();
    target = to;
    // Devices are made in ten groups spread over one sampling interval, for every fleet: the
    // devices of a real fleet are not in phase. Made in one synchronous loop, our devices all
    // sampled in the same few milliseconds of each period (they sample from boot), while the
    // MQTT.js clients, whose loops start on their CONNACK, were already spread by connect
    // times; memory then depended on whether a reading fell in the burst (11.4 or 12.4-13.5 KB
    // a device at 100 ms from run to run on one tree; 11.38-11.40 KB over five runs spread).
    const groups = 10;
    const size = Math.ceil((to - from) / groups);
    for (let i = from; i < to; i++) {
      create(i);
      if ((i - from + 1) % size === 0 && i + 1 < to) await sleep(INTERVAL / groups);
    }
    const deadline = performance.now() + 120_000;
    while (connected < to && performance.now() < deadline) await sleep(50);
    if (connected < to) {
      process.stdout.write(JSON.stringify({ mode, devices: N, error: `only ${connected} of ${to} connected` }) + "\n");
      process.exit(1);
    }
    return reachedAt - t;
  };
  const half = Math.floor(N / 2);
  let connectMs = await grow(0, half);
  // Warm-up (the SCD4x's first measurement takes 5 s), then the half fleet's memory.
  await sleep(6000);
  const mid = await memoryOverPeriod();
  connectMs += await grow(half, N);
  // Past the second half's start-up: its SCD4x's first result comes 5.5 s after boot, with the
  // passes that waited for it; their acknowledgements must not fall in the window.
  await sleep(8000);
  const a0 = acked;
  const w0 = performance.now();
  const cpu0 = process.cpuUsage();
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  await sleep(SECONDS * 1000);
  lag.disable();
  const cpu = process.cpuUsage(cpu0);
  const rate = ((acked - a0) * 1000) / (performance.now() - w0);
  const after = await memoryOverPeriod();
  const held = backlog();
  // FLEET_SNAPSHOT=<file>: a heap snapshot right after the memory readings, to see what a device holds.
  if (process.env.FLEET_SNAPSHOT) (await import("v8")).writeHeapSnapshot(process.env.FLEET_SNAPSHOT);
  process.stdout.write(
    JSON.stringify({
      mode,
      devices: N,
      intervalMs: INTERVAL,
      connectMs: Math.round(connectMs),
      readingsPerS: Math.round(rate),
      offeredPerS: Math.round((N * 1000) / INTERVAL),
      heapPerDevice: Math.round((after.heap - base.heap) / N),
      marginalHeapPerDevice: Math.round((after.heap - mid.heap) / (N - half)),
      rssPerDevice: Math.round((after.rss - base.rss) / N),
      cpuPerReadingUs: Math.round((cpu.user + cpu.system) / Math.max(1, acked - a0)),
      loopDelayP50Ms: Math.round(lag.percentile(50) / 1e6),
      loopDelayP99Ms: Math.round(lag.percentile(99) / 1e6),
      inFlightPerDevice: +(held.inFlight / N).toFixed(1),
      waitingPerDevice: +(held.waiting / N).toFixed(1),
    }) + "\n",
  );
  for (const s of stops) s();
  await sleep(500);
  process.exit(0);
}

/** `all`: starts mosquitto, runs the three fleets one after the other (each in its own process), prints them as one JSON line. */
async function all(): Promise<void> {
  const { spawnSync, spawn } = await import("child_process");
  const { startMosquitto } = await import("../host-tests/support/peers");
  const n = Number(nArg || 1000);
  const interval = Number(portArg || 100);
  const seconds = Number(intervalArg || 10);
  const limit = Number(spawnSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" }).stdout.trim());
  const raise = !(limit >= 2 * n + 256);
  const broker = await startMosquitto({ extraConfig: ["max_connections -1"] });
  const out: { [mode: string]: unknown } = { devices: n, intervalMs: interval, seconds, fdLimit: limit, raised: raise };
  try {
    for (const m of ["ours", "client", "mqttjs"]) {
      const cmd = `${raise ? `ulimit -n ${4 * n + 1024} && ` : ""}exec "${process.execPath}" --expose-gc tools/run-ts.js bench/fleet-worker.ts ${m} ${n} ${broker.port} ${interval} ${seconds}`;
      const text = await new Promise<string>((resolve, reject) => {
        const child = spawn("sh", ["-c", cmd], { cwd: __dirname + "/..", stdio: ["ignore", "pipe", "inherit"] });
        let o = "";
        child.stdout.on("data", (d) => (o += d));
        child.on("close", (code) => (code === 0 ? resolve(o) : reject(new Error(`fleet ${m} exited with ${code}: ${o}`))));
      });
      out[m] = JSON.parse(text.trim().split("\n").pop()!);
    }
  } finally {
    await broker.stop();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

(mode === "all" ? all() : main()).catch((e) => {
  process.stderr.write(String(e?.stack ?? e) + "\n");
  process.exit(1);
});
