/*
 * Builds the board's sensor drivers. A board lists which chips are fitted at
 * which addresses (boards/); this turns that list into driver instances on the
 * platform's I2C constructor, plus the battery ADC when the board has one.
 */
import type { BoardDefinition } from "../boards/types";
import type { Platform } from "../modules/platform/platform";
import type { Scheduler } from "../modules/scheduler/scheduler";
import { Battery } from "../modules/sensors/battery";
import { Bh1750 } from "../modules/sensors/bh1750";
import { Bme280, Bmp280 } from "../modules/sensors/bmx280";
import type { SensorChip } from "../modules/sensors/discover";
import { Scd4x } from "../modules/sensors/scd4x";
import type { Sample, SensorError, SensorOptions } from "../modules/sensors/sensor";
import { Sht3x } from "../modules/sensors/sht3x";
import { Sht4x } from "../modules/sensors/sht4x";

/** What the app needs of a driver: measure on the scheduler, then close. */
export interface SensorDriver {
  readonly chip: string;
  measure(callback: (sample: Sample) => void): void;
  /** Told the sampling period (ms) whenever it is set: a driver with modes picks the one that serves it (Bh1750.pace). */
  pace?(periodMs: number): unknown;
  close(): void;
}

const DRIVERS: Readonly<Record<SensorChip, new (options: SensorOptions) => SensorDriver>> = Object.freeze({
  sht3x: Sht3x,
  sht4x: Sht4x,
  bme280: Bme280,
  bmp280: Bmp280,
  bh1750: Bh1750,
  scd4x: Scd4x,
});

/** How the app runs each chip unless configured otherwise: the SCD4x measures continuously (5 s period, its datasheet mode for mains- and battery-powered use alike). */
const DEFAULT_CONFIGURATION: Readonly<Partial<Record<SensorChip, object>>> = Object.freeze({
  scd4x: Object.freeze({ mode: "periodic" }),
});

export interface BoardSensors {
  drivers: SensorDriver[];
  /** Sensors the board lists that could not be started, with the reason. */
  failed: { chip: string; address: number; reason: string }[];
}

export function startBoardSensors(platform: Platform, board: BoardDefinition, scheduler: Scheduler, onError: (error: SensorError) => void): BoardSensors {
  const drivers: SensorDriver[] = [];
  const failed: BoardSensors["failed"] = [];
  for (const { chip, address } of board.sensors) {
    const Driver = DRIVERS[chip];
    try {
      if (!Driver) throw new Error(`no driver for "${chip}"`);
      const sensor = { io: platform.io.I2C, address, data: board.i2c.data, clock: board.i2c.clock, hz: board.i2c.hz, port: board.i2c.port };
      drivers.push(new Driver({ ...DEFAULT_CONFIGURATION[chip], sensor, scheduler, onError }));
    } catch (error) {
      failed.push({ chip, address, reason: (error as Error).message });
    }
  }
  const battery = board.battery;
  if (battery && platform.io.Analog) {
    try {
      const driver = new Battery({ sensor: { io: platform.io.Analog, pin: battery.pin, resolution: battery.resolution }, reference: battery.reference, dividerRatio: battery.dividerRatio, scheduler, onError });
      drivers.push(driver as unknown as SensorDriver);
    } catch (error) {
      failed.push({ chip: "battery", address: -1, reason: (error as Error).message });
    }
  }
  // Exact size: an array grown by push() from empty keeps 17 slots, and the app holds this one.
  return { drivers: drivers.slice(), failed };
}

export interface SensorReading {
  chip: string;
  sample: Sample;
}

/**
 * Measures every driver; `done` runs once, after the last one answers, with
 * each driver's sample in board order and the merged sample: where two chips
 * measure the same quantity (an SHT3x and a BME280 both give temperature), the
 * one listed first on the board wins, and the other fills in when the first
 * has no value this time. A failed field stays out: nothing is carried over
 * from an earlier reading.
 */
export function measureAll(drivers: readonly SensorDriver[], done: (merged: Sample, each: SensorReading[]) => void): void {
  // Each driver's entry is made when it answers (every driver answers, with an empty sample
  // when it has nothing): no placeholder object per driver and pass.
  const each: SensorReading[] = new Array(drivers.length);
  let pending = drivers.length;
  const finish = () => done(mergeSamples(each), each);
  if (!pending) {
    finish();
    return;
  }
  for (let i = 0; i < drivers.length; i++) {
    drivers[i].measure((sample) => {
      each[i] = { chip: drivers[i].chip, sample: sample || {} };
      if (--pending === 0) finish();
    });
  }
}

/** One sample from each driver's: the first driver (board order) with a quantity gives it. */
export function mergeSamples(each: readonly SensorReading[]): Sample {
  const merged: Sample = {};
  for (const r of each) {
    for (const key of Object.keys(r.sample) as (keyof Sample)[]) {
      if (merged[key] === undefined && r.sample[key] !== undefined) (merged as any)[key] = r.sample[key];
    }
  }
  return merged;
}

/**
 * What a device's sampling passes keep per driver between passes (samplePass): which drivers
 * are still answering an earlier pass (bit i: driver i; a board has far fewer than 31 chips),
 * and answers that came after their pass closed (made with the first such answer: one object
 * and a number per device otherwise, in a simulated fleet of thousands).
 */
export interface PassState {
  busy: number;
  late: (Sample | undefined)[] | undefined;
}

export function passState(drivers: readonly SensorDriver[]): PassState {
  if (drivers.length > 31) throw new RangeError(`a board has at most 31 sensors, got ${drivers.length}`);
  return { busy: 0, late: undefined };
}

/**
 * One sampling pass that a slow sensor cannot hold back nor multiply (an SCD4x gives its first
 * result 5 s after it starts, SCD4x datasheet §3.5; a single shot takes 5 s):
 * - a driver still answering an earlier pass sits this one out (no second request queued
 *   behind the first, so no burst of passes completing together when it answers);
 * - the pass closes when every driver asked has answered, or `budgetMs` after it began,
 *   whichever is first; a driver that has not answered by then gives nothing this pass;
 * - an answer that comes after its pass closed is kept and given by the next pass that
 *   closes without a fresh answer from that driver (a value is reported once, never twice).
 * `done` runs exactly once, with the merged sample (mergeSamples) and each driver's.
 */
export function samplePass(drivers: readonly SensorDriver[], state: PassState, scheduler: Scheduler, budgetMs: number, done: (merged: Sample, each: SensorReading[]) => void): void {
  const n = drivers.length;
  const each: SensorReading[] = new Array(n);
  let closed = false;
  let timer: { cancel(): void } | undefined;
  const close = () => {
    if (closed) return;
    closed = true;
    timer?.cancel();
    const lates = state.late;
    for (let i = 0; i < n; i++) {
      if (each[i]) continue;
      const late = lates ? lates[i] : undefined;
      if (lates) lates[i] = undefined;
      each[i] = { chip: drivers[i].chip, sample: late || {} };
    }
    done(mergeSamples(each), each);
  };
  // One more than the drivers asked until all are asked: a driver that answers at once
  // cannot close the pass before the others are asked.
  let pending = 1;
  for (let i = 0; i < n; i++) {
    const bit = 1 << i;
    if (state.busy & bit) continue;
    state.busy |= bit;
    pending++;
    const d = drivers[i];
    d.measure((sample) => {
      state.busy &= ~bit;
      if (closed) {
        (state.late ??= new Array(n))[i] = sample || {};
        return;
      }
      if (state.late) state.late[i] = undefined;
      each[i] = { chip: d.chip, sample: sample || {} };
      if (--pending === 0) close();
    });
  }
  if (--pending === 0) close();
  else if (!closed) timer = scheduler.after(budgetMs, close, { name: "sample-budget" });
}
