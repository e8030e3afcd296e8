/*
 * A simulated ADC in the shape of ECMA-419 §10 "Analog input": each pin reads
 * a voltage function of time, converted as raw = round(v / reference *
 * (2^resolution - 1)), clamped to the range. A battery behind a divider is
 * `pins: {[pin]: (t) => environment.battery(t) / ratio}`.
 * Portable (no Node API).
 */
import type { AnalogConstructor, AnalogInput, AnalogOptions } from "../../modules/platform/io";
import type { SimClock } from "./sht3x";

/** A pin's voltage: a function of time, or an object whose `volts(timeMs)` gives it (no bound function or closure per device). */
export type PinSource = ((timeMs: number) => number) | { volts(timeMs: number): number };

export interface SimAdcOptions {
  clock: SimClock;
  /** Full-scale voltage. */
  reference: number;
  /** Native resolution when the caller does not ask for one (ESP32: 12 bits). */
  resolution?: number;
  pins: Record<string, PinSource>;
}

function voltsOf(source: PinSource, timeMs: number): number {
  return typeof source === "function" ? source(timeMs) : source.volts(timeMs);
}

export class SimAdc {
  readonly Analog: AnalogConstructor;
  /** Make the next read throw (a dead ADC). */
  fail = false;
  readonly clock: SimClock;
  readonly reference: number;
  readonly resolution: number | undefined;
  /**
   * The only pin's name and source when the ADC has one pin (a battery's: a
   * simulated fleet has a thousand such ADCs; an object of pins costs each ~56 B);
   * otherwise #pin is undefined and #inputs the sources under "pin <name>" keys
   * (a pin name like "2" as a key would give the object an elements store).
   */
  readonly #pin: string | undefined;
  readonly #inputs: PinSource | Record<string, PinSource>;
  constructor(options: SimAdcOptions) {
    this.clock = options.clock;
    this.reference = options.reference;
    this.resolution = options.resolution;
    const names = Object.keys(options.pins);
    for (const pin of names) {
      const source = options.pins[pin];
      if (typeof source !== "function" && typeof source?.volts !== "function") throw new TypeError(`SimAdc: pin ${pin} needs a function of time or an object with volts(timeMs)`);
    }
    if (names.length === 1) {
      this.#pin = names[0];
      this.#inputs = options.pins[names[0]];
    } else {
      const inputs: Record<string, PinSource> = {};
      for (const pin of names) inputs["pin " + pin] = options.pins[pin];
      this.#pin = undefined;
      this.#inputs = inputs;
    }
    // One class for every ADC, bound to this one (a class per ADC would cost each
    // simulated device a map, a prototype and a closure per method).
    this.Analog = SimAnalog.bind(null, this) as unknown as AnalogConstructor;
  }

  /** True when the ADC has an input on `pin`. */
  has(pin: string): boolean {
    return sourceOf(this.#pin, this.#inputs, pin) !== undefined;
  }

  /** The voltage at `pin` at `timeMs` (a RangeError when the ADC has no such input). */
  volts(pin: string, timeMs: number): number {
    const source = sourceOf(this.#pin, this.#inputs, pin);
    if (source === undefined) throw new RangeError(`SimAdc: no input on pin ${pin}`);
    return voltsOf(source, timeMs);
  }

  /** The voltage function of `pin`, or undefined when the ADC has no such input. */
  input(pin: string): ((timeMs: number) => number) | undefined {
    const source = sourceOf(this.#pin, this.#inputs, pin);
    if (source === undefined || typeof source === "function") return source;
    return (timeMs) => source.volts(timeMs);
  }

}

/** The source of `pin` in an ADC's (#pin, #inputs); a module function, not a private method (those add a brand field per instance). */
function sourceOf(only: string | undefined, inputs: PinSource | Record<string, PinSource>, pin: string): PinSource | undefined {
  if (only !== undefined) return pin === only ? (inputs as PinSource) : undefined;
  const key = "pin " + pin;
  const table = inputs as Record<string, PinSource>;
  return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;
}

/** An ECMA-419 §10 analog input of a SimAdc: `new adc.Analog(options)` is this class with the ADC bound first. */
export class SimAnalog implements AnalogInput {
  readonly resolution: number;
  readonly pin: string;
  /** The ADC; undefined once closed (one field for both). */
  #adc: SimAdc | undefined;
  /** ECMA-419 `target`: an own property only when the options gave one (the prototype's undefined otherwise). */
  declare target: unknown;
  constructor(adc: SimAdc, o: AnalogOptions) {
    if (!(adc instanceof SimAdc)) throw new TypeError("Analog: construct through a SimAdc's Analog (new adc.Analog(options))");
    if (!o || !adc.has(String(o.pin))) throw new RangeError(`Analog: no ADC input on pin ${o?.pin}`);
    this.#adc = adc;
    this.pin = String(o.pin);
    this.resolution = o.resolution ?? adc.resolution ?? 12;
    if (o.target !== undefined) this.target = o.target;
  }
  get format(): string {
    return "number";
  }
  read(): number {
    const adc = this.#adc;
    if (!adc) throw new Error("Analog: instance is closed");
    if (adc.fail) throw new Error("Analog: conversion failed");
    const full = 2 ** this.resolution - 1;
    const v = adc.volts(this.pin, adc.clock.now());
    return Math.min(full, Math.max(0, Math.round((v / adc.reference) * full)));
  }
  close(): void {
    this.#adc = undefined;
  }
}
SimAnalog.prototype.target = undefined;
