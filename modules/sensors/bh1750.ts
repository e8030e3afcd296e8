/*
 * ROHM BH1750FVI ambient light sensor, I2C address 0x23 (ADDR low) or 0x5C
 * (ADDR high).
 *
 * From the BH1750FVI datasheet (ROHM, rev. 2011):
 *  instruction set (p.5): 0x00 power down, 0x01 power on, 0x07 reset (data
 *  register; only when powered on), 0x10/0x11/0x13 continuously H-resolution /
 *  H-resolution mode2 / L-resolution, 0x20/0x21/0x23 one time H / H2 / L
 *  (then power down by itself), 0b01000_MT[7:5] and 0b011_MT[4:0] set the
 *  measurement time register MTreg (31..254, default 69).
 *  Measurement time: H-resolution typ. 120 ms, max 180 ms; L-resolution typ.
 *  16 ms, max 24 ms; both scale with MTreg / 69 (p.11).
 *  Result: two bytes, high byte first; lux = raw / 1.2 * (69 / MTreg), and
 *  half that in H-resolution mode2 (p.7, p.11). We apply the MTreg scaling to
 *  L-resolution too (the datasheet's example is H-resolution).
 * The chip has no status register: a result's readiness comes from timing
 * only, so the driver waits the datasheet maximum.
 */
import { I2cSensor, type Measurement, type Sample, type SensorOptions } from "./sensor";

export type Bh1750Resolution = "high" | "high2" | "low";

export interface Bh1750Configuration {
  mode?: "one-time" | "continuous";
  resolution?: Bh1750Resolution;
  /** MTreg, 31..254 (default 69): longer is more sensitive. */
  measurementTime?: number;
}

export const BH1750_ADDRESSES = [0x23, 0x5c] as const;
export const BH1750_POWER_DOWN = 0x00;
export const BH1750_POWER_ON = 0x01;
export const BH1750_RESET = 0x07;
export const BH1750_CONTINUOUS: Readonly<Record<Bh1750Resolution, number>> = { high: 0x10, high2: 0x11, low: 0x13 };
export const BH1750_ONE_TIME: Readonly<Record<Bh1750Resolution, number>> = { high: 0x20, high2: 0x21, low: 0x23 };

/** Datasheet maximum measurement time (ms) for a resolution and MTreg. */
export function bh1750MeasurementTimeMax(resolution: Bh1750Resolution, mtreg = 69): number {
  return ((resolution === "low" ? 24 : 180) * mtreg) / 69;
}

export class Bh1750 extends I2cSensor<Sample> {
  #mode: "one-time" | "continuous" = "one-time";
  #resolution: Bh1750Resolution = "high";
  #mtreg = 69;
  #pending = false;
  #readyAt = 0;
  #continuousStart = 0;

  constructor(options: SensorOptions & Bh1750Configuration) {
    super("BH1750", options, BH1750_ADDRESSES);
    // ECMA-419 §13 constructor: a consistent state (powered on, data register cleared)
    this.write("power on", [BH1750_POWER_ON]);
    this.write("reset", [BH1750_RESET]);
    this.configure(options);
  }

  configure(options: Bh1750Configuration = {}): void {
    const mode = options.mode ?? this.#mode;
    const resolution = options.resolution ?? this.#resolution;
    const mtreg = options.measurementTime ?? this.#mtreg;
    if (mode !== "one-time" && mode !== "continuous") throw new RangeError(`BH1750: mode must be "one-time" or "continuous", got ${mode}`);
    if (BH1750_ONE_TIME[resolution] === undefined) throw new RangeError(`BH1750: resolution must be high, high2 or low, got ${resolution}`);
    if (!Number.isInteger(mtreg) || mtreg < 31 || mtreg > 254) throw new RangeError(`BH1750: measurementTime (MTreg) must be an integer 31..254, got ${mtreg}`);
    if (mtreg !== this.#mtreg) {
      // p.11: high bits then low bits
      if (this.write("set MTreg", [0x40 | (mtreg >> 5)]) && this.write("set MTreg", [0x60 | (mtreg & 0x1f)])) this.#mtreg = mtreg;
    }
    this.#mode = mode;
    this.#resolution = resolution;
    this.#pending = false;
    if (mode === "continuous") {
      if (this.write("start continuous", [BH1750_CONTINUOUS[resolution]])) this.#continuousStart = this.now();
    }
  }

  /**
   * Fits the mode to how often the app samples (called with the sampling period, ms):
   * continuous when a one-time conversion (the datasheet maximum, up to 180 ms in H-resolution)
   * would keep the chip busy for more than half the period, one-time otherwise. In continuous
   * mode a reading takes the latest conversion without waiting (p.5: the data register holds the
   * last result), so sampling passes stay short and never overlap; a one-time conversion powers
   * the chip down by itself after it (p.5), which saves power when readings are far apart. A
   * one-time conversion cannot keep up with a period shorter than itself: each pass would wait
   * for the conversion the pass before started. Returns the mode in use.
   */
  pace(periodMs: number): "one-time" | "continuous" {
    if (typeof periodMs !== "number" || !(periodMs > 0)) throw new RangeError(`BH1750: pace(periodMs) needs a period above 0 ms, got ${periodMs}`);
    const mode = periodMs < 2 * this.measurementTime ? "continuous" : "one-time";
    if (mode !== this.#mode) this.configure({ mode });
    return this.#mode;
  }

  get measurementTime(): number {
    return bh1750MeasurementTimeMax(this.#resolution, this.#mtreg);
  }

  /** Starts a one-time measurement; returns the wait in ms (-1 on failure). In continuous mode: the wait for the first result. */
  trigger(): number {
    const now = this.now();
    if (this.#mode === "continuous") return Math.max(0, this.#continuousStart + this.measurementTime - now);
    this.#pending = false;
    if (!this.write("start one-time measurement", [BH1750_ONE_TIME[this.#resolution]])) return -1;
    this.#pending = true;
    this.#readyAt = now + this.measurementTime;
    return this.measurementTime;
  }

  sample(): Sample | undefined {
    const now = this.now();
    if (this.#mode === "one-time") {
      if (!this.#pending || now < this.#readyAt) return undefined;
      this.#pending = false;
    } else if (now < this.#continuousStart + this.measurementTime) return undefined;
    const b = this.read("read measurement", 2);
    if (!b) return {};
    const raw = (b[0] << 8) | b[1];
    const lux = (raw / 1.2) * (69 / this.#mtreg) / (this.#resolution === "high2" ? 2 : 1);
    return { lightmeter: { illuminance: lux } };
  }

  protected *measurement(): Measurement<Sample> {
    const wait = this.trigger();
    if (wait < 0) return {};
    if (wait > 0) yield wait;
    return this.sample() ?? {};
  }

  powerDown(): boolean {
    this.#pending = false;
    this.#mode = "one-time";
    return this.write("power down", [BH1750_POWER_DOWN]);
  }
}
