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
import { I2cSensor, type Sample, type SensorOptions } from "./sensor";

export type Bh1750Resolution = "high" | "high2" | "low";

export interface Bh1750Configuration {
  mode?: "one-time" | "continuous";
  resolution?: Bh1750Resolution;
  /** MTreg, 31..254 (default 69): longer is more sensitive. */
  measurementTime?: number;
}

export const BH1750_ADDRESSES = [0x23, 0x5c] as const;

/** Instructions (p.5). */
const enum Command {
  POWER_DOWN = 0x00,
  POWER_ON = 0x01,
  RESET = 0x07,
  /** + 0, 1, 3 for H, H2, L resolution; one time is 0x10 more. */
  CONTINUOUS = 0x10,
}

const MODES = ["one-time", "continuous"];
/** In the order of the instruction codes' low bits: H 0, H2 1, L 3. */
const RESOLUTIONS = ["high", "high2", , "low"];

/** Datasheet maximum measurement time (ms) for a resolution and MTreg. */
export function bh1750MeasurementTimeMax(resolution: Bh1750Resolution, mtreg = 69): number {
  return ((resolution === "low" ? 24 : 180) * mtreg) / 69;
}

export class Bh1750 extends I2cSensor<Sample> {
  declare mode: "one-time" | "continuous";
  declare private resolution: Bh1750Resolution;
  declare private mtreg: number;
  /** Continuous mode: when its first result is due. */
  declare private firstAt: number;

  constructor(options: SensorOptions & Bh1750Configuration) {
    super("BH1750", options, BH1750_ADDRESSES);
    this.mode = "one-time";
    this.resolution = "high";
    this.mtreg = 69;
    // ECMA-419 §13 constructor: a consistent state (powered on, data register cleared)
    this.write("power on", Command.POWER_ON);
    this.write("reset", Command.RESET);
    this.configure(options);
  }

  configure(options: Bh1750Configuration = {}): void {
    const mode = options.mode ?? this.mode;
    const resolution = options.resolution ?? this.resolution;
    const mtreg = options.measurementTime ?? this.mtreg;
    this.option(MODES, mode, "mode");
    this.option(RESOLUTIONS, resolution, "resolution");
    if (!(mtreg >= 31 && mtreg <= 254 && mtreg % 1 === 0)) throw new RangeError("BH1750: measurementTime (MTreg) 31..254, got " + mtreg);
    // p.11: high bits then low bits
    if (mtreg !== this.mtreg && this.write("set MTreg", 0x40 | (mtreg >> 5)) && this.write("set MTreg", 0x60 | (mtreg & 0x1f))) this.mtreg = mtreg;
    this.mode = mode;
    this.resolution = resolution;
    this.readyAt = 0;
    if (mode === "continuous" && this.write("start continuous", Command.CONTINUOUS + RESOLUTIONS.indexOf(resolution))) this.firstAt = this.now() + this.measurementTime();
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
    if (!(periodMs > 0)) throw new RangeError("BH1750: pace(periodMs) needs a period above 0, got " + periodMs);
    const mode = periodMs < 2 * this.measurementTime() ? "continuous" : "one-time";
    if (mode !== this.mode) this.configure({ mode });
    return this.mode;
  }

  /** The datasheet maximum of one conversion with the current settings (ms). */
  measurementTime(): number {
    return bh1750MeasurementTimeMax(this.resolution, this.mtreg);
  }

  /** Starts a one-time measurement; returns the wait in ms (-1 on failure). In continuous mode: the wait for the first result. */
  override trigger(): number {
    const now = this.now();
    if (this.mode === "continuous") return Math.max(0, this.firstAt - now);
    this.readyAt = 0;
    if (!this.write("start one-time measurement", Command.CONTINUOUS + 0x10 + RESOLUTIONS.indexOf(this.resolution))) return -1;
    const wait = this.measurementTime();
    this.readyAt = now + wait;
    return wait;
  }

  sample(): Sample | undefined {
    if (this.mode === "continuous" ? this.now() < this.firstAt : !this.due()) return undefined;
    const b = this.read("read measurement", 2);
    if (!b) return {};
    return { lightmeter: { illuminance: (((b[0] << 8) | b[1]) / 1.2) * (69 / this.mtreg) / (this.resolution === "high2" ? 2 : 1) } };
  }

  powerDown(): boolean {
    this.readyAt = 0;
    this.mode = "one-time";
    return this.write("power down", Command.POWER_DOWN);
  }
}
