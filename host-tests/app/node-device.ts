/*
 * Shared by the app's Node tests against a real broker (deep-sleep, back-pressure): the app
 * on a SimDevice with a real clock and real TCP, a wait helper, and an MQTT.js watcher that
 * collects the SenML readings by time. Node only.
 */
import * as mqtt from "mqtt";
import type { BoardDefinition } from "../../boards/types";
import type { Clock } from "../../modules/platform/clock";
import { SimDevice } from "../../sim/device";
import { FlashStore } from "../../sim/flash-store";
import { TCP } from "../../sim/node/tcp";
import { UDP } from "../../sim/node/udp";
import { RealClock } from "../../sim/node/real-clock";
import { nodeCrypto } from "../../sim/node/crypto";
import { createSimHardware } from "../../sim/hardware";
import { indoorDay } from "../../sim/scenarios";
import { startApp, type App, type AppOptions } from "../../src/app";

/** Polls `cond` every 20 ms; on timeout throws naming `what` and, when given, `detail()`. */
export async function waitFor(cond: () => boolean, ms: number, what: string, detail?: () => unknown): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting for " + what + (detail ? ": " + JSON.stringify(detail()) : ""));
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The app on a started SimDevice (real clock, real TCP, its own flash); `app()` is the current boot's. */
/** The retained states a device said across its sleeps: "asleep <time>" at least once, never "offline" (its Will: a real loss only). */
export function expectAsleepNotOffline(states: readonly string[]): void {
  expect(states.some((s) => s.startsWith("asleep "))).toBe(true);
  expect(states).not.toContain("offline");
}

/** A test's end: the device stopped (if not already), its real clock's timers cleared, then each closer awaited in turn. */
export async function endDevice(device: { state: string; stop(): void }, clock: { clearAll(): void }, ...closers: Array<() => unknown>): Promise<void> {
  if (device.state !== "off") device.stop();
  clock.clearAll();
  for (const c of closers) await c();
}

/**
 * The app on a SimDevice, started, with real TCP and UDP; `log`: the device's log lines (with their prefix).
 * `env` replaces the real clock (one with `clearAll()`, e.g. a faster one) or the UDP (a SimNetwork host's).
 */
export function bootAppDevice(board: BoardDefinition, seed: number, options: Omit<AppOptions, "platform" | "board">, log?: (line: string) => void, env?: { clock?: Clock & { clearAll(): void }; UDP?: unknown }) {
  const clock = env?.clock ?? new RealClock();
  const hardware = createSimHardware(board, clock, indoorDay(seed));
  let app: App | undefined;
  const device = new SimDevice({
    clock,
    flash: new FlashStore(),
    crypto: nodeCrypto,
    board,
    io: { ...hardware.io, TCP: TCP as never, UDP: (env?.UDP ?? UDP) as never },
    log: log ?? (() => undefined),
    app: (platform) => (app = startApp({ ...options, platform, board })),
  });
  device.start();
  return {
    device,
    app: () => app!,
    stop: () => {
      device.stop();
      clock.clearAll();
    },
  };
}

/**
 * An MQTT.js subscriber to a device's telemetry (and state) topics: `times` holds the SenML
 * time of every temperature record (one per reading), `records` counts them with repeats,
 * `states` lists the state messages in arrival order.
 */
export async function watchDevice(port: number, id: string) {
  const client = await mqtt.connectAsync({ host: "127.0.0.1", port, reconnectPeriod: 0 });
  const w = { times: new Set<number>(), records: 0, states: [] as string[], end: () => client.endAsync() };
  client.on("message", (topic, payload) => {
    if (topic.endsWith("/state")) {
      w.states.push(payload.toString());
      return;
    }
    let bt = 0;
    for (const r of JSON.parse(payload.toString()) as { bt?: number; t?: number; n: string }[]) {
      if (r.bt !== undefined) bt = r.bt;
      if (r.n === "temperature") {
        w.records++;
        w.times.add(Math.round((bt + (r.t ?? 0)) * 1000));
      }
    }
  });
  await client.subscribeAsync([`xs-iot/${id}/tele`, `xs-iot/${id}/state`], { qos: 1 });
  return w;
}
