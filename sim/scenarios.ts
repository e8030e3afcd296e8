/*
 * Ready-made environments for the simulator. `indoorDay` is what `npm start`
 * shows: an office over a day, with a little sensor noise, different for each
 * device (seed) so a fleet does not report identical numbers.
 * Portable (no Node API).
 */
import { daylightAt, noiseAt, rampAt, SignalSet, sineAt } from "./environment";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * An indoor day: temperature 19–24 °C peaking mid-afternoon, humidity falling as it warms, CO2 rising in office hours.
 * One small object per device whose methods are the quantities (a fleet holds a
 * thousand of them; composed closures cost ~2.5 KB per device, bound methods
 * ~360 B): each is what `noisy(shifted sine, amplitude, seed + k)` and friends
 * from sim/environment compute, through the same arithmetic (sineAt, noiseAt,
 * ...), so the values are the same to the bit. Hand it to `new Environment()`
 * or `createSimHardware`; call its quantities as methods (`day.temperature(t)`).
 */
export function indoorDay(seed = 1, startHour = 9): IndoorDay {
  return new IndoorDay(seed, startHour * HOUR);
}

export class IndoorDay extends SignalSet {
  constructor(
    readonly seed: number,
    readonly shiftMs: number,
  ) {
    super();
  }
  temperature(t: number): number {
    return sineAt(t + this.shiftMs, 21.5, 2.5, DAY, 15 * HOUR) + noiseAt(t, 0.05, this.seed);
  }
  humidity(t: number): number {
    return Math.min(100, Math.max(0, sineAt(t + this.shiftMs, 45, -8, DAY, 15 * HOUR) + noiseAt(t, 0.3, this.seed + 1)));
  }
  pressure(t: number): number {
    return sineAt(t + this.shiftMs, 101_325, 150, 12 * HOUR, (12 * HOUR) / 4) + noiseAt(t, 2, this.seed + 2);
  }
  light(t: number): number {
    return daylightAt(t + this.shiftMs, 650, 7, 19) + noiseAt(t, 3, this.seed + 3);
  }
  co2(t: number): number {
    return Math.min(40_000, Math.max(400, 0 + sineAt(t + this.shiftMs, 650, 250, DAY, 14 * HOUR) + noiseAt(t, 8, this.seed + 4)));
  }
  /** A LiPo cell draining slowly: 4.05 V to 3.95 V over a day (not shifted by the start hour). */
  battery(t: number): number {
    return rampAt(t, 4.05, 3.95, 0, DAY) + noiseAt(t, 0.003, this.seed + 5);
  }
}
