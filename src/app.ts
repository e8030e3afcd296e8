/*
 * The firmware app, the same on every host: boot, start the board's sensors,
 * sample on the configured interval and hand each reading on.
 *
 * This is the app's first form (issue 7 grows it: config, protocols, CoAP
 * resources, telemetry). Hosts call `startApp` — src/main.ts on Moddable,
 * sim/cli-sim.ts in the desktop simulator — with a Platform and a board.
 */
import type { BoardDefinition } from "../boards/types";
import type { Platform } from "../modules/platform/platform";
import { Scheduler } from "../modules/scheduler/scheduler";
import type { Sample, SensorError } from "../modules/sensors/sensor";
import { measureAll, startBoardSensors, type SensorReading } from "./sensors";

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

export interface AppOptions {
  platform: Platform;
  board: BoardDefinition;
  /** Sampling interval in ms (default 10 s). */
  intervalMs?: number;
  /** Receives each reading as soon as every sensor has answered. */
  onReading?(reading: Reading): void;
  /** Receives sensor and job errors (default: platform.log). */
  onError?(message: string): void;
}

export interface App {
  readonly scheduler: Scheduler;
  readonly readings: number;
  stop(): void;
}

export function startApp(options: AppOptions): App {
  const { platform, board } = options;
  const intervalMs = options.intervalMs ?? 10_000;
  if (!(intervalMs > 0)) throw new RangeError(`app: intervalMs must be > 0, got ${intervalMs}`);
  const report = options.onError ?? ((message: string) => platform.log(message));
  const scheduler = new Scheduler({ clock: platform.clock, onError: (error, job) => report(`job ${job.name}: ${(error as Error)?.message ?? error}`) });
  const sensors = startBoardSensors(platform, board, scheduler, (error: SensorError) => report(error.message));
  for (const f of sensors.failed) report(`sensor ${f.chip} at 0x${f.address.toString(16)} not started: ${f.reason}`);
  platform.log(`xs-iot on ${board.name}: ${sensors.drivers.map((d) => d.chip).join(", ") || "no sensors"}; sampling every ${intervalMs / 1000} s`);

  let readings = 0;
  let stopped = false;
  const sampling = scheduler.schedule({
    name: "sample",
    deadline: platform.clock.now(),
    run: (_now, job) => {
      // Drift-free period; a slow measurement never stacks up samples.
      job.reschedule(job.deadline + intervalMs, { earliest: job.deadline + intervalMs * 0.9, latest: job.deadline + intervalMs * 1.1 });
      const time = platform.clock.epoch();
      measureAll(sensors.drivers, (sample, each) => {
        if (stopped) return;
        readings++;
        options.onReading?.({ seq: readings, time, sample, sensors: each });
      });
    },
  });

  return {
    scheduler,
    get readings() {
      return readings;
    },
    stop() {
      stopped = true;
      sampling.cancel();
      for (const d of sensors.drivers) d.close();
      scheduler.clear();
    },
  };
}
