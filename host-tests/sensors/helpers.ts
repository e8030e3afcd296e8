/*
 * Portable helpers for the sensor suites (no Node API, no jest API): a bus, a
 * virtual clock, a scheduler and an error log in one call.
 */
import { Scheduler } from "../../modules/scheduler/scheduler";
import type { SensorError } from "../../modules/sensors/sensor";
import { Environment, type EnvironmentSpec } from "../../sim/environment";
import { I2cBus } from "../../sim/i2c";
import { VirtualClock } from "../../sim/virtual-clock";

export interface Rig {
  clock: VirtualClock;
  scheduler: Scheduler;
  bus: I2cBus;
  environment: Environment;
  errors: SensorError[];
  onError: (e: SensorError) => void;
  /** Runs measure() to completion on virtual time and returns the sample. */
  measure<S>(sensor: { measure(cb: (s: S) => void): void }, limitMs?: number): S;
}

export function rig(spec: EnvironmentSpec = {}): Rig {
  const clock = new VirtualClock();
  const scheduler = new Scheduler({ clock });
  const bus = new I2cBus();
  const environment = new Environment(spec);
  const errors: SensorError[] = [];
  const onError = (e: SensorError) => {
    errors.push(e);
  };
  function measure<S>(sensor: { measure(cb: (s: S) => void): void }, limitMs = 60_000): S {
    let result: S | undefined;
    let done = false;
    sensor.measure((s) => {
      result = s;
      done = true;
    });
    const until = clock.now() + limitMs;
    while (!done && clock.now() < until) {
      if (!clock.step()) break;
    }
    if (!done) throw new Error("measure() did not complete");
    return result as S;
  }
  return { clock, scheduler, bus, environment, errors, onError, measure };
}
