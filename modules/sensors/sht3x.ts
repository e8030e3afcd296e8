/*
 * Sensirion SHT3x (SHT30/31/35) temperature and humidity sensor, I2C address
 * 0x44 (ADDR low) or 0x45 (ADDR high).
 *
 * From the SHT3x-DIS datasheet (v6, 2019):
 *  §4.3 single shot mode, clock stretching disabled: 0x2400 / 0x240B / 0x2416
 *       (repeatability high / medium / low); the chip NACKs the read header
 *       until the measurement is done.
 *  §4.5 periodic mode at 0.5/1/2/4/10 measurements per second, §4.6 fetch data
 *       (0xE000; NACK when no new data), §4.8 break (0x3093).
 *  §4.9 soft reset (0x30A2), §4.10 heater on/off (0x306D/0x3066),
 *  §4.11 status register read (0xF32D) and clear (0x3041),
 *  §4.12 CRC-8 on every 16-bit word, §4.13 conversion:
 *       T = -45 + 175 * S_T / (2^16 - 1), RH = 100 * S_RH / (2^16 - 1).
 *  Table 4 measurement duration (max): low 4 ms, medium 6 ms, high 15 ms.
 *  Serial number: command 0x3780 (Sensirion, "SHT3x electronic identification code").
 */
import { decodeWord } from "./crc8";
import { I2cSensor, copySample, type Measurement, type Sample, type SensorOptions } from "./sensor";

export type Repeatability = "low" | "medium" | "high";
export type Sht3xMps = 0.5 | 1 | 2 | 4 | 10;

export interface Sht3xConfiguration {
  /** "single": one measurement per measure()/trigger(); "periodic": the chip measures on its own. */
  mode?: "single" | "periodic";
  repeatability?: Repeatability;
  /** Measurements per second in periodic mode. */
  mps?: Sht3xMps;
  heater?: boolean;
}

export const SHT3X_ADDRESSES = [0x44, 0x45] as const;

export const SHT3X_SINGLE_SHOT: Readonly<Record<Repeatability, number>> = { high: 0x2400, medium: 0x240b, low: 0x2416 };
export const SHT3X_PERIODIC: Readonly<Record<string, Readonly<Record<Repeatability, number>>>> = {
  "0.5": { high: 0x2032, medium: 0x2024, low: 0x202f },
  "1": { high: 0x2130, medium: 0x2126, low: 0x212d },
  "2": { high: 0x2236, medium: 0x2220, low: 0x222b },
  "4": { high: 0x2334, medium: 0x2322, low: 0x2329 },
  "10": { high: 0x2737, medium: 0x2721, low: 0x272a },
};
export const SHT3X_FETCH = 0xe000;
export const SHT3X_BREAK = 0x3093;
export const SHT3X_SOFT_RESET = 0x30a2;
export const SHT3X_HEATER_ON = 0x306d;
export const SHT3X_HEATER_OFF = 0x3066;
export const SHT3X_READ_STATUS = 0xf32d;
export const SHT3X_CLEAR_STATUS = 0x3041;
export const SHT3X_READ_SERIAL = 0x3780;
/** Datasheet Table 4, maximum measurement duration in ms. */
export const SHT3X_DURATION_MAX: Readonly<Record<Repeatability, number>> = { low: 4, medium: 6, high: 15 };

export interface Sht3xStatus {
  raw: number;
  alertPending: boolean;
  heater: boolean;
  humidityAlert: boolean;
  temperatureAlert: boolean;
  resetDetected: boolean;
  commandFailed: boolean;
  writeChecksumFailed: boolean;
}

const REPEATABILITIES: readonly string[] = ["low", "medium", "high"];

export class Sht3x extends I2cSensor<Sample> {
  #mode: "single" | "periodic" = "single";
  #repeatability: Repeatability = "high";
  #mps: Sht3xMps = 1;
  #heater = false;
  #pending = false;
  #readyAt = 0;
  #periodicStart = 0;
  #cached: Sample | undefined;
  #cachedAt = 0;

  constructor(options: SensorOptions & Sht3xConfiguration) {
    super("SHT3x", options, SHT3X_ADDRESSES);
    // ECMA-419 §13 constructor: reset to a consistent state whatever a previous
    // instance left running (break stops periodic mode, then soft reset, §4.8/§4.9).
    this.command("break", SHT3X_BREAK);
    this.command("soft reset", SHT3X_SOFT_RESET);
    this.configure(options);
  }

  get mode(): "single" | "periodic" {
    return this.#mode;
  }

  configure(options: Sht3xConfiguration = {}): void {
    const mode = options.mode ?? this.#mode;
    const repeatability = options.repeatability ?? this.#repeatability;
    const mps = options.mps ?? this.#mps;
    if (mode !== "single" && mode !== "periodic") throw new RangeError(`SHT3x: mode must be "single" or "periodic", got ${mode}`);
    if (!REPEATABILITIES.includes(repeatability)) throw new RangeError(`SHT3x: repeatability must be low, medium or high, got ${repeatability}`);
    if (!SHT3X_PERIODIC[String(mps)]) throw new RangeError(`SHT3x: mps must be 0.5, 1, 2, 4 or 10, got ${mps}`);
    if (options.heater !== undefined && typeof options.heater !== "boolean") throw new TypeError("SHT3x: heater must be a boolean");

    const restartPeriodic = this.#mode === "periodic" && (mode !== "periodic" || repeatability !== this.#repeatability || mps !== this.#mps);
    if (restartPeriodic) this.command("break", SHT3X_BREAK);
    const wasPeriodic = this.#mode === "periodic" && !restartPeriodic;
    this.#mode = mode;
    this.#repeatability = repeatability;
    this.#mps = mps;
    this.#pending = false;
    if (options.heater !== undefined && options.heater !== this.#heater) {
      if (this.command(options.heater ? "heater on" : "heater off", options.heater ? SHT3X_HEATER_ON : SHT3X_HEATER_OFF)) this.#heater = options.heater;
    }
    if (mode === "periodic" && !wasPeriodic) {
      this.#cached = undefined;
      if (this.command("start periodic", SHT3X_PERIODIC[String(mps)][repeatability])) this.#periodicStart = this.now();
    }
  }

  /** Single-shot mode: starts a measurement; sample() has it after `SHT3X_DURATION_MAX` ms. False when the command failed. */
  trigger(): boolean {
    if (this.#mode !== "single") return true;
    this.#pending = false;
    if (!this.command("start measurement", SHT3X_SINGLE_SHOT[this.#repeatability])) return false;
    this.#pending = true;
    this.#readyAt = this.now() + SHT3X_DURATION_MAX[this.#repeatability];
    return true;
  }

  /**
   * Single-shot: the triggered measurement once it is due (then undefined until
   * the next trigger). Periodic: the chip's newest measurement (a cached copy
   * while the chip has nothing newer, at most one period old).
   */
  sample(): Sample | undefined {
    const now = this.now();
    if (this.#mode === "single") {
      if (!this.#pending || now < this.#readyAt) return undefined;
      this.#pending = false;
      const bytes = this.read("read measurement", 6);
      return bytes ? this.#decode(bytes) : {};
    }
    const period = 1000 / this.#mps;
    if (!this.command("fetch data", SHT3X_FETCH)) return {};
    const bytes = this.tryRead(6);
    if (bytes instanceof Uint8Array) {
      const sample = this.#decode(bytes);
      this.#cached = sample;
      this.#cachedAt = now;
      return copySample(sample);
    }
    if (this.#cached && now - this.#cachedAt <= period * 1.5) return copySample(this.#cached);
    if (now < this.#periodicStart + SHT3X_DURATION_MAX[this.#repeatability]) return undefined;
    this.fail("fetch data", bytes);
    return {};
  }

  protected *measurement(): Measurement<Sample> {
    if (this.#mode === "single") {
      if (!this.trigger()) return {};
      yield SHT3X_DURATION_MAX[this.#repeatability];
    } else {
      const first = this.#periodicStart + SHT3X_DURATION_MAX[this.#repeatability];
      if (this.now() < first) yield first - this.now();
    }
    return this.sample() ?? {};
  }

  readStatus(): Sht3xStatus | undefined {
    if (!this.command("read status", SHT3X_READ_STATUS)) return undefined;
    const bytes = this.read("read status", 3);
    if (!bytes) return undefined;
    const word = decodeWord(bytes, 0);
    if (typeof word === "string") return this.fail("read status", word);
    return {
      raw: word,
      alertPending: !!(word & 0x8000),
      heater: !!(word & 0x2000),
      humidityAlert: !!(word & 0x0800),
      temperatureAlert: !!(word & 0x0400),
      resetDetected: !!(word & 0x0010),
      commandFailed: !!(word & 0x0002),
      writeChecksumFailed: !!(word & 0x0001),
    };
  }

  clearStatus(): boolean {
    return this.command("clear status", SHT3X_CLEAR_STATUS);
  }

  /** §4.9 soft reset; leaves periodic mode (break first) and the heater off. */
  softReset(): boolean {
    if (this.#mode === "periodic") this.command("break", SHT3X_BREAK);
    this.#mode = "single";
    this.#pending = false;
    this.#heater = false;
    return this.command("soft reset", SHT3X_SOFT_RESET);
  }

  /** The 32-bit electronic identification code, or undefined (reported) on failure. */
  serialNumber(): number | undefined {
    if (!this.command("read serial number", SHT3X_READ_SERIAL)) return undefined;
    const bytes = this.read("read serial number", 6);
    if (!bytes) return undefined;
    const hi = decodeWord(bytes, 0);
    const lo = decodeWord(bytes, 1);
    if (typeof hi === "string") return this.fail("read serial number", hi);
    if (typeof lo === "string") return this.fail("read serial number", lo);
    return ((hi << 16) | lo) >>> 0;
  }

  protected command(operation: string, command: number): boolean {
    return this.write(operation, [command >> 8, command & 0xff]);
  }

  #decode(bytes: Uint8Array): Sample {
    const out: Sample = {};
    // Both words before any report: the bytes are the driver's buffer, which a read made by an onError handler would refill (I2cSensor.read).
    const t = decodeWord(bytes, 0);
    const rh = decodeWord(bytes, 1);
    if (typeof t === "number") out.thermometer = { temperature: -45 + (175 * t) / 65535 }; // §4.13
    else this.fail("read temperature", t);
    if (typeof rh === "number") out.hygrometer = { humidity: (100 * rh) / 65535 }; // §4.13
    else this.fail("read humidity", rh);
    return out;
  }
}
