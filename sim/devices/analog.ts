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
  readonly options: Readonly<SimAdcOptions>;
  constructor(options: SimAdcOptions) {
    this.options = options;
    // One class for every ADC, bound to this one (a class per ADC would cost each
    // simulated device a map, a prototype and a closure per method).
    this.Analog = SimAnalog.bind(null, this) as unknown as AnalogConstructor;
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
    if (!o || !(String(o.pin) in adc.options.pins)) throw new RangeError(`Analog: no ADC input on pin ${o?.pin}`);
    this.#adc = adc;
    this.pin = String(o.pin);
    this.resolution = o.resolution ?? adc.options.resolution ?? 12;
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
    const o = adc.options;
    const v = o.pins[this.pin](o.clock.now());
    return Math.min(full, Math.max(0, Math.round((v / o.reference) * full)));
  }
  close(): void {
    this.#closed = true;
  }
}
