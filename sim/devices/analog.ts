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
  constructor(options: SimAdcOptions) {
    const adc = this;
    this.Analog = class SimAnalog implements AnalogInput {
      readonly resolution: number;
      readonly pin: string;
      #closed = false;
      target: unknown;
      constructor(o: AnalogOptions) {
        if (!o || !(String(o.pin) in options.pins)) throw new RangeError(`Analog: no ADC input on pin ${o?.pin}`);
        this.pin = String(o.pin);
        this.resolution = o.resolution ?? options.resolution ?? 12;
        this.target = o.target;
      }
      get format(): string {
        return "number";
      }
      read(): number {
        if (this.#closed) throw new Error("Analog: instance is closed");
        if (adc.fail) throw new Error("Analog: conversion failed");
        const full = 2 ** this.resolution - 1;
        const v = options.pins[this.pin](options.clock.now());
        return Math.min(full, Math.max(0, Math.round((v / options.reference) * full)));
      }
      close(): void {
        this.#closed = true;
      }
    };
  }
}
