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
  /** The analog input's constructor and its options (ECMA-419 §10: pin, and resolution if the host takes one). */
  sensor: { io: AnalogConstructor; pin: PinSpecifier; resolution?: number };
  /** ADC full-scale voltage in volts (e.g. 3.3, or the ESP32's ~1.1 V at 0 dB attenuation). */
  reference: number;
  /** (R_top + R_bottom) / R_bottom; 1 when the cell is wired straight to the pin. */
  dividerRatio: number;
  scheduler?: Scheduler;
  onError?: (error: SensorError) => void;
}

export class Battery {
  declare readonly chip: string;
  declare readonly reference: number;
  declare readonly dividerRatio: number;
  declare readonly pin: PinSpecifier;
  declare private input: AnalogInput | undefined;
  declare private onError: ((error: SensorError) => void) | undefined;
  declare private scheduler: Scheduler | undefined;

  constructor(options: BatteryOptions) {
    const s = options.sensor;
    if (!(options.reference > 0 && options.dividerRatio >= 1)) throw new RangeError("Battery: reference > 0 V and dividerRatio >= 1, got " + options.reference + " and " + options.dividerRatio);
    this.chip = "Battery";
    this.reference = options.reference;
    this.dividerRatio = options.dividerRatio;
    this.pin = s.pin;
    this.onError = options.onError;
    this.scheduler = options.scheduler;
    this.input = new s.io(s); // ECMA-419 §10: the sensor's own options (pin, resolution)
  }

  configure(_options: object = {}): void {}

  sample(): Sample {
    try {
      const input = this.input!; // (closed: the TypeError is reported)
      const raw = input.read();
      const full = 2 ** input.resolution - 1;
      if (!(raw >= 0 && raw <= full)) throw Error("raw value " + raw + " outside 0.." + full);
      return { battery: { voltage: (raw / full) * this.reference * this.dividerRatio } };
    } catch (error) {
      this.fail("read", error);
      return {};
    }
  }

  measure(callback: (sample: Sample) => void): void {
    if (typeof callback !== "function") throw new TypeError("Battery: measure(callback) needs a function");
    const run = () => {
      const s = this.sample();
      try {
        callback(s);
      } catch (error) {
        this.fail("measure callback", error);
      }
    };
    if (this.scheduler) this.scheduler.after(0, run, { name: "battery measure" });
    else run();
  }

  close(): void {
    this.input?.close();
    this.input = undefined;
  }

  private fail(operation: string, error: unknown): void {
    try {
      this.onError?.(new SensorError(this.chip, +this.pin || 0, operation, (error as Error).message));
    } catch {
      // an onError that throws must not break the driver
    }
  }
}
