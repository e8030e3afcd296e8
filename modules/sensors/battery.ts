/*
 * Battery voltage through an ADC and a resistor divider, with the analog input
 * in the shape of ECMA-419 §10 "Analog input" (AnalogConstructor):
 *
 *   volts = raw / (2^resolution - 1) * reference * dividerRatio
 *
 * `reference` is the ADC full-scale voltage and `dividerRatio` the board's
 * (R_top + R_bottom) / R_bottom; both come from the board definition. The
 * sample is a host extension, `{battery: {voltage}}` (ECMA-419 has no battery
 * class). Reading an ADC needs no wait, so measure() completes at once (on
 * the scheduler, for the same callback timing as the I2C sensors).
 */
import type { AnalogConstructor, AnalogInput, PinSpecifier } from "../platform/io";
import type { Scheduler } from "../scheduler/scheduler";
import { SensorError, type Sample } from "./sensor";

export interface BatteryOptions {
  sensor: { io: AnalogConstructor; pin: PinSpecifier; resolution?: number };
  /** ADC full-scale voltage in volts (e.g. 3.3, or the ESP32's ~1.1 V at 0 dB attenuation). */
  reference: number;
  /** (R_top + R_bottom) / R_bottom; 1 when the cell is wired straight to the pin. */
  dividerRatio: number;
  scheduler?: Scheduler;
  onError?: (error: SensorError) => void;
}

export class Battery {
  readonly chip = "Battery";
  readonly reference: number;
  readonly dividerRatio: number;
  readonly pin: PinSpecifier;
  #input: AnalogInput | undefined;
  #onError?: (error: SensorError) => void;
  #scheduler?: Scheduler;

  constructor(options: BatteryOptions) {
    if (!options || typeof options !== "object" || !options.sensor || typeof options.sensor.io !== "function")
      throw new TypeError("Battery: options.sensor.io must be an Analog constructor");
    if (!(options.reference > 0)) throw new RangeError(`Battery: reference must be > 0 volts, got ${options.reference}`);
    if (!(options.dividerRatio >= 1)) throw new RangeError(`Battery: dividerRatio must be >= 1, got ${options.dividerRatio}`);
    const r = options.sensor.resolution;
    if (r !== undefined && !(Number.isInteger(r) && r >= 1 && r <= 24)) throw new RangeError(`Battery: resolution must be 1..24 bits, got ${r}`);
    this.reference = options.reference;
    this.dividerRatio = options.dividerRatio;
    this.pin = options.sensor.pin;
    this.#onError = options.onError;
    this.#scheduler = options.scheduler;
    const io: any = { pin: options.sensor.pin };
    if (r !== undefined) io.resolution = r;
    this.#input = new options.sensor.io(io);
  }

  configure(_options: object = {}): void {}

  sample(): Sample {
    const input = this.#input;
    if (!input) return this.#fail("read", "instance is closed");
    let raw: number;
    try {
      raw = input.read();
    } catch (error) {
      return this.#fail("read", error instanceof Error ? error.message : String(error));
    }
    const full = 2 ** input.resolution - 1;
    if (typeof raw !== "number" || !(raw >= 0 && raw <= full)) return this.#fail("read", `raw value ${raw} outside 0..${full}`);
    return { battery: { voltage: (raw / full) * this.reference * this.dividerRatio } };
  }

  measure(callback: (sample: Sample) => void): void {
    if (typeof callback !== "function") throw new TypeError("Battery: measure(callback) needs a function");
    const run = () => {
      const s = this.sample();
      try {
        callback(s);
      } catch (error) {
        this.#fail("measure callback", error instanceof Error ? error.message : String(error));
      }
    };
    if (this.#scheduler) this.#scheduler.after(0, run, { name: "battery measure" });
    else run();
  }

  close(): void {
    const input = this.#input;
    this.#input = undefined;
    try {
      input?.close();
    } catch {
      // nothing to do
    }
  }

  #fail(operation: string, reason: string): Sample {
    const error = new SensorError(this.chip, typeof this.pin === "number" ? this.pin : 0, operation, reason);
    try {
      this.#onError?.(error);
    } catch {
      // an onError that throws must not break the driver
    }
    return {};
  }
}
