/*
 * A scriptable physical environment for the simulated sensor chips: each
 * quantity is a function of time (virtual clock milliseconds). Build them from
 * constants, ramps, sine day curves and steps, add seeded noise, and hand the
 * Environment to the chips in sim/devices/.
 *
 * Units are the ones the sample objects use: temperature °C, humidity %RH,
 * pressure Pa, light lux, CO2 ppm, battery volts.
 *
 * Portable on purpose (no Node API): the XS suites use it.
 */

/** A quantity as a function of time (ms). */
export type Signal = (timeMs: number) => number;

export type Quantity = "temperature" | "humidity" | "pressure" | "light" | "co2" | "battery";

export const DEFAULTS: Readonly<Record<Quantity, number>> = Object.freeze({
  temperature: 21.5,
  humidity: 45,
  pressure: 101325,
  light: 320,
  co2: 600,
  battery: 3.9,
});

export function constant(value: number): Signal {
  checkFinite("constant", value);
  return () => value;
}

/** Linear from `from` (before `startMs`) to `to` (after `startMs + durationMs`). */
export function ramp(from: number, to: number, startMs: number, durationMs: number): Signal {
  checkFinite("ramp from", from);
  checkFinite("ramp to", to);
  if (!(durationMs > 0)) throw new RangeError(`ramp: durationMs must be > 0, got ${durationMs}`);
  return (t) => rampAt(t, from, to, startMs, durationMs);
}

/** The value of `ramp(from, to, startMs, durationMs)` at `t` (no closure: for signals built as classes). */
export function rampAt(t: number, from: number, to: number, startMs: number, durationMs: number): number {
  if (t <= startMs) return from;
  if (t >= startMs + durationMs) return to;
  return from + ((to - from) * (t - startMs)) / durationMs;
}

export interface SineOptions {
  mean: number;
  amplitude: number;
  /** Default one day. */
  periodMs?: number;
  /** Time of the maximum (default a quarter period). */
  peakAtMs?: number;
}

/** A sine; with the default period, a day curve (e.g. temperature peaking mid-afternoon). */
export function sine(options: SineOptions): Signal {
  const period = options.periodMs ?? 86_400_000;
  if (!(period > 0)) throw new RangeError(`sine: periodMs must be > 0, got ${period}`);
  checkFinite("sine mean", options.mean);
  checkFinite("sine amplitude", options.amplitude);
  const peak = options.peakAtMs ?? period / 4;
  const { mean, amplitude } = options;
  return (t) => sineAt(t, mean, amplitude, period, peak);
}

/** The value at `t` of a sine of this mean and amplitude, peaking at `peakAtMs` every `periodMs`. */
export function sineAt(t: number, mean: number, amplitude: number, periodMs: number, peakAtMs: number): number {
  return mean + amplitude * Math.cos((2 * Math.PI * (t - peakAtMs)) / periodMs);
}

/** A day of daylight: 0 lux at night, a half-sine between sunrise and sunset (hours since start). */
export function daylight(peakLux: number, sunriseHour = 6, sunsetHour = 20): Signal {
  return (t) => daylightAt(t, peakLux, sunriseHour, sunsetHour);
}

/** The value of `daylight(peakLux, sunriseHour, sunsetHour)` at `t`. */
export function daylightAt(t: number, peakLux: number, sunriseHour: number, sunsetHour: number): number {
  const day = 86_400_000;
  const h = ((t % day) + day) % day / 3_600_000;
  if (h <= sunriseHour || h >= sunsetHour) return 0;
  return peakLux * Math.sin((Math.PI * (h - sunriseHour)) / (sunsetHour - sunriseHour));
}

/** Piecewise constant: `initial` until the first step's time, then each step's value from its time on. */
export function steps(initial: number, points: readonly (readonly [number, number])[]): Signal {
  const sorted = points.slice().sort((a, b) => a[0] - b[0]);
  return (t) => {
    let v = initial;
    for (const [at, value] of sorted) {
      if (t >= at) v = value;
      else break;
    }
    return v;
  };
}

export function sum(...signals: Signal[]): Signal {
  return (t) => {
    let v = 0;
    for (const s of signals) v += s(t);
    return v;
  };
}

/** Clamps a signal into [min, max] (e.g. humidity into 0..100). */
export function clamp(signal: Signal, min: number, max: number): Signal {
  return (t) => Math.min(max, Math.max(min, signal(t)));
}

/** A 32-bit integer mix (the finaliser of MurmurHash3): spreads nearby inputs apart. */
export function hash32(n: number): number {
  let h = n | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Adds seeded noise: uniform in [-amplitude, +amplitude], a pure function of
 * (seed, time) so a chip reading the same instant twice sees the same value
 * and runs are reproducible whatever the order of reads.
 */
export function noisy(signal: Signal, amplitude: number, seed = 1): Signal {
  if (!(amplitude >= 0)) throw new RangeError(`noisy: amplitude must be >= 0, got ${amplitude}`);
  return (t) => signal(t) + noiseAt(t, amplitude, seed);
}

/** The noise `noisy(signal, amplitude, seed)` adds at `t`: uniform in [-amplitude, +amplitude], a pure function of (seed, t). */
export function noiseAt(t: number, amplitude: number, seed: number): number {
  const h = hash32(hash32(seed) ^ (Math.floor(t) | 0) ^ Math.floor(t / 4294967296));
  return amplitude * (2 * (h / 4294967296) - 1);
}

export type SignalSpec = Signal | number;

export type EnvironmentSpec = Partial<Record<Quantity, SignalSpec>>;

const QUANTITIES: readonly Quantity[] = Object.freeze(["temperature", "humidity", "pressure", "light", "co2", "battery"]);

/**
 * Every quantity as a method of one object: an Environment built from one calls
 * its methods (no closure or bound function per quantity; a simulated fleet holds
 * one per device). Subclass it; the methods receive the time in ms. Such an
 * object is read, never changed, by the Environments built from it: set() on
 * one of them gives that Environment a table of its own first.
 */
export abstract class SignalSet {
  abstract temperature(t: number): number;
  abstract humidity(t: number): number;
  abstract pressure(t: number): number;
  abstract light(t: number): number;
  abstract co2(t: number): number;
  abstract battery(t: number): number;
}

/** The default signals, shared by every Environment (constants: nothing per environment). */
const DEFAULT_SIGNALS: Readonly<Record<Quantity, Signal>> = Object.freeze({
  temperature: constant(DEFAULTS.temperature),
  humidity: constant(DEFAULTS.humidity),
  pressure: constant(DEFAULTS.pressure),
  light: constant(DEFAULTS.light),
  co2: constant(DEFAULTS.co2),
  battery: constant(DEFAULTS.battery),
});

export class Environment {
  /**
   * The quantities, called as methods of this object: a table of signals, the
   * shared defaults until the first set() (copy on write), or a SignalSet.
   */
  #signals: Readonly<Record<Quantity, Signal>> | SignalSet;

  constructor(spec: EnvironmentSpec | SignalSet = {}) {
    if (spec instanceof SignalSet) {
      this.#signals = spec;
      return;
    }
    this.#signals = DEFAULT_SIGNALS;
    for (const q of Object.keys(spec) as Quantity[]) this.set(q, (spec as EnvironmentSpec)[q]!);
  }

  /** Replaces one quantity's script. */
  set(quantity: Quantity, spec: SignalSpec): this {
    if (!(quantity in DEFAULTS)) throw new RangeError(`environment: unknown quantity "${quantity}"`);
    const signal = typeof spec === "number" ? constant(spec) : checkSignal(quantity, spec);
    let table = this.#signals as Record<Quantity, Signal>;
    if (table === DEFAULT_SIGNALS || table instanceof SignalSet) {
      // copy on write: the shared defaults and a SignalSet are never changed
      const from = table;
      table = {} as Record<Quantity, Signal>;
      for (const q of QUANTITIES) table[q] = from instanceof SignalSet ? from[q].bind(from) : from[q];
      this.#signals = table;
    }
    table[quantity] = signal;
    return this;
  }

  value(quantity: Quantity, timeMs: number): number {
    return this.#signals[quantity](timeMs);
  }

  temperature(t: number): number {
    return this.#signals.temperature(t);
  }
  humidity(t: number): number {
    return Math.min(100, Math.max(0, this.#signals.humidity(t)));
  }
  pressure(t: number): number {
    return this.#signals.pressure(t);
  }
  light(t: number): number {
    return Math.max(0, this.#signals.light(t));
  }
  co2(t: number): number {
    return Math.max(0, this.#signals.co2(t));
  }
  battery(t: number): number {
    return Math.max(0, this.#signals.battery(t));
  }
}

function checkFinite(what: string, v: number): void {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new RangeError(`${what} must be a finite number, got ${v}`);
}

function checkSignal(quantity: string, s: unknown): Signal {
  if (typeof s !== "function") throw new TypeError(`environment: ${quantity} must be a number or a function of time`);
  return s as Signal;
}
