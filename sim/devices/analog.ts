/*
 * A simulated ADC in the shape of ECMA-419 §10 "Analog input": each pin reads
 * a voltage function of time, converted as raw = round(v / reference *
 * (2^resolution - 1)), clamped to the range. A battery behind a divider is
 * `pins: {[pin]: (t) => environment.battery(t) / ratio}`.
 * Portable (no Node API).
 */
import type { AnalogConstructor, AnalogInput, AnalogOptions } from "../../modules/platform/io";
import type { SimClock } from "./sht3x";

export interface SimAdcOptions {
  clock: SimClock;
  /** Full-scale voltage. */
  reference: number;
  /** Native resolution when the caller does not ask for one (ESP32: 12 bits). */
  resolution?: number;
  pins: Record<string, (timeMs: number) => number>;
}

export class SimAdc {
  readonly Analog: AnalogConstructor;
  /** Make the next read throw (a dead ADC). */
  fail = false;
  readonly clock: SimClock;
  readonly reference: number;
  readonly resolution: number | undefined;
  /**
   * The pins' voltage functions under "pin <name>" keys: a pin name like "2" as a
   * key would give the object an elements store (~200 B in V8) per ADC.
   */
  readonly #inputs: Record<string, (timeMs: number) => number> = {};
  constructor(options: SimAdcOptions) {
    this.clock = options.clock;
    this.reference = options.reference;
    this.resolution = options.resolution;
    for (const pin of Object.keys(options.pins)) this.#inputs["pin " + pin] = options.pins[pin];
    // One class for every ADC, bound to this one (a class per ADC would cost each
    // simulated device a map, a prototype and a closure per method).
    this.Analog = SimAnalog.bind(null, this) as unknown as AnalogConstructor;
  }

  /** The voltage function of `pin`, or undefined when the ADC has no such input. */
  input(pin: string): ((timeMs: number) => number) | undefined {
    const key = "pin " + pin;
    return Object.prototype.hasOwnProperty.call(this.#inputs, key) ? this.#inputs[key] : undefined;
  }
}

/** An ECMA-419 §10 analog input of a SimAdc: `new adc.Analog(options)` is this class with the ADC bound first. */
export class SimAnalog implements AnalogInput {
  readonly resolution: number;
  readonly pin: string;
  readonly #adc: SimAdc;
  #closed = false;
  target: unknown;
  constructor(adc: SimAdc, o: AnalogOptions) {
    if (!(adc instanceof SimAdc)) throw new TypeError("Analog: construct through a SimAdc's Analog (new adc.Analog(options))");
    if (!o || !adc.input(String(o.pin))) throw new RangeError(`Analog: no ADC input on pin ${o?.pin}`);
    this.#adc = adc;
    this.pin = String(o.pin);
    this.resolution = o.resolution ?? adc.resolution ?? 12;
    this.target = o.target;
  }
  get format(): string {
    return "number";
  }
  read(): number {
    if (this.#closed) throw new Error("Analog: instance is closed");
    const adc = this.#adc;
    if (adc.fail) throw new Error("Analog: conversion failed");
    const full = 2 ** this.resolution - 1;
    const v = adc.input(this.pin)!(adc.clock.now());
    return Math.min(full, Math.max(0, Math.round((v / adc.reference) * full)));
  }
  close(): void {
    this.#closed = true;
  }
}
