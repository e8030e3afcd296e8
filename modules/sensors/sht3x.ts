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

/** Datasheet Table 4, maximum measurement duration in ms. */
export const SHT3X_DURATION_MAX: Readonly<Record<Repeatability, number>> = { low: 4, medium: 6, high: 15 };

/** Commands (datasheet §4.3-§4.11), as the device build's numbers (a const enum costs no bytecode). */
const enum Command {
  FETCH = 0xe000, // §4.6
  BREAK = 0x3093, // §4.8
  SOFT_RESET = 0x30a2, // §4.9
  HEATER_ON = 0x306d, // §4.10
  HEATER_OFF = 0x3066,
  READ_STATUS = 0xf32d, // §4.11
  CLEAR_STATUS = 0x3041,
  READ_SERIAL = 0x3780, // electronic identification code
}

/** Repeatabilities in the order of the tables below. */
const REPEATABILITIES = ["high", "medium", "low"];
/** §4.5 periodic mode: [mps][repeatability] flattened, mps 0.5, 1, 2, 4, 10; high, medium, low. */
const MPS = [0.5, 1, 2, 4, 10];
const PERIODIC = [0x2032, 0x2024, 0x202f, 0x2130, 0x2126, 0x212d, 0x2236, 0x2220, 0x222b, 0x2334, 0x2322, 0x2329, 0x2737, 0x2721, 0x272a];

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

export class Sht3x extends I2cSensor<Sample> {
  declare private periodic: boolean;
  declare private repeatability: Repeatability;
  declare private mps: Sht3xMps;
  declare private heater: boolean;
  /** Single shot: when the triggered measurement is due, 0 when none is. */
  declare private readyAt: number;
  declare private periodicStart: number;
  declare private cached: Sample | undefined;
  declare private cachedAt: number;

  constructor(options: SensorOptions & Sht3xConfiguration) {
    super("SHT3x", options, SHT3X_ADDRESSES);
    this.periodic = this.heater = false;
    this.repeatability = "high";
    this.mps = 1;
    this.readyAt = this.periodicStart = this.cachedAt = 0;
    // ECMA-419 §13 constructor: reset to a consistent state whatever a previous
    // instance left running (break stops periodic mode, then soft reset, §4.8/§4.9).
    this.command("break", Command.BREAK);
    this.command("soft reset", Command.SOFT_RESET);
    this.configure(options);
  }

  get mode(): "single" | "periodic" {
    return this.periodic ? "periodic" : "single";
  }

  configure(options: Sht3xConfiguration = {}): void {
    const mode = options.mode ?? this.mode;
    const repeatability = options.repeatability ?? this.repeatability;
    const mps = options.mps ?? this.mps;
    const heater = options.heater;
    const rep = REPEATABILITIES.indexOf(repeatability);
    const rate = MPS.indexOf(mps);
    if ((mode !== "single" && mode !== "periodic") || rep < 0 || rate < 0 || (heater !== undefined && typeof heater !== "boolean"))
      throw new RangeError("SHT3x: mode single|periodic, repeatability high|medium|low, mps 0.5|1|2|4|10, heater boolean; got " + [mode, repeatability, mps, heater]);
    const periodic = mode === "periodic";
    // a periodic measurement changes only through break (§4.8) and a new start
    const keep = this.periodic && periodic && repeatability === this.repeatability && mps === this.mps;
    if (this.periodic && !keep) this.command("break", Command.BREAK);
    this.periodic = periodic;
    this.repeatability = repeatability;
    this.mps = mps;
    this.readyAt = 0;
    if (heater !== undefined && heater !== this.heater && this.command("heater", heater ? Command.HEATER_ON : Command.HEATER_OFF)) this.heater = heater;
    if (periodic && !keep) {
      this.cached = undefined;
      if (this.command("start periodic", PERIODIC[rate * 3 + rep])) this.periodicStart = this.now();
    }
  }

  /** Single-shot mode: starts a measurement; sample() has it after `SHT3X_DURATION_MAX` ms. False when the command failed. */
  trigger(): boolean {
    if (this.periodic) return true;
    this.readyAt = 0;
    // §4.3 single shot, clock stretching disabled: 0x2400 / 0x240B / 0x2416 (high / medium / low)
    if (!this.command("start measurement", 0x2400 + 11 * REPEATABILITIES.indexOf(this.repeatability))) return false;
    this.readyAt = this.now() + SHT3X_DURATION_MAX[this.repeatability];
    return true;
  }

  /**
   * Single-shot: the triggered measurement once it is due (then undefined until
   * the next trigger). Periodic: the chip's newest measurement (a cached copy
   * while the chip has nothing newer, at most one period old).
   */
  sample(): Sample | undefined {
    const now = this.now();
    if (!this.periodic) {
      if (!this.readyAt || now < this.readyAt) return undefined;
      this.readyAt = 0;
      const bytes = this.read("read measurement", 6);
      return bytes ? this.decode(bytes) : {};
    }
    if (!this.command("fetch data", Command.FETCH)) return {};
    const bytes = this.tryRead(6);
    if (bytes instanceof Uint8Array) {
      this.cachedAt = now;
      return copySample((this.cached = this.decode(bytes)));
    }
    if (this.cached && now - this.cachedAt <= 1500 / this.mps) return copySample(this.cached);
    if (now < this.periodicStart + SHT3X_DURATION_MAX[this.repeatability]) return undefined;
    this.fail("fetch data", bytes);
    return {};
  }

  protected *measurement(): Measurement<Sample> {
    if (!this.periodic) {
      if (!this.trigger()) return {};
      yield SHT3X_DURATION_MAX[this.repeatability];
    } else {
      const wait = this.periodicStart + SHT3X_DURATION_MAX[this.repeatability] - this.now();
      if (wait > 0) yield wait;
    }
    return this.sample() ?? {};
  }

  readStatus(): Sht3xStatus | undefined {
    const word = this.words("read status", Command.READ_STATUS, 1);
    if (word === undefined) return undefined;
    const w = word[0];
    return {
      raw: w,
      alertPending: !!(w & 0x8000),
      heater: !!(w & 0x2000),
      humidityAlert: !!(w & 0x0800),
      temperatureAlert: !!(w & 0x0400),
      resetDetected: !!(w & 0x0010),
      commandFailed: !!(w & 0x0002),
      writeChecksumFailed: !!(w & 0x0001),
    };
  }

  clearStatus(): boolean {
    return this.command("clear status", Command.CLEAR_STATUS);
  }

  /** §4.9 soft reset; leaves periodic mode (break first) and the heater off. */
  softReset(): boolean {
    if (this.periodic) this.command("break", Command.BREAK);
    this.periodic = this.heater = false;
    this.readyAt = 0;
    return this.command("soft reset", Command.SOFT_RESET);
  }

  /** The 32-bit electronic identification code, or undefined (reported) on failure. */
  serialNumber(): number | undefined {
    const w = this.words("read serial number", Command.READ_SERIAL, 2);
    return w && ((w[0] << 16) | w[1]) >>> 0;
  }

  protected command(operation: string, command: number): boolean {
    return this.write(operation, [command >> 8, command & 0xff]);
  }

  /** A command, then `count` CRC-checked words (§4.12); undefined (reported) on failure. */
  private words(operation: string, command: number, count: number): number[] | undefined {
    const bytes = this.command(operation, command) ? this.read(operation, count * 3) : undefined;
    if (!bytes) return undefined;
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const w = decodeWord(bytes, i);
      if (typeof w === "string") return this.fail(operation, w);
      out.push(w);
    }
    return out;
  }

  private decode(bytes: Uint8Array): Sample {
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
