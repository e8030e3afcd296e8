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
import { sensirionWords } from "./crc8";
import { I2cSensor, type Sample, type SensorOptions } from "./sensor";

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
  SINGLE_HIGH = 0x2400, // §4.3; + 11 for medium, + 22 for low
  FETCH = 0xe000, // §4.6
  BREAK = 0x3093, // §4.8
  SOFT_RESET = 0x30a2, // §4.9
  HEATER_ON = 0x306d, // §4.10
  HEATER_OFF = 0x3066,
  READ_STATUS = 0xf32d, // §4.11
  CLEAR_STATUS = 0x3041,
  READ_SERIAL = 0x3780, // electronic identification code
}

const MODES = ["single", "periodic"];
/** Repeatabilities in the order of the tables below. */
const REPEATABILITIES = ["high", "medium", "low"];
/** §4.5 periodic mode: measurements per second, and the start commands by [mps][repeatability]. */
const MPS = [0.5, 1, 2, 4, 10];
/**
 * The 15 start commands (mps 0.5, 1, 2, 4, 10, each high, medium, low) as the char codes of a
 * string: 0x2032, 0x2024, 0x202F, 0x2130, ... 0x272A. A string costs XS ~3 bytes a command,
 * an array literal ~12 (its bytecode builds the array element by element).
 */
const PERIODIC = "\u2032\u2024\u202f\u2130\u2126\u212d\u2236\u2220\u222b\u2334\u2322\u2329\u2737\u2721\u272a";

/**
 * The SHT3x. `readStatus()` gives the status register (§4.11, Table 17): bit 15 alert pending,
 * 13 heater on, 11 RH alert, 10 T alert, 4 reset detected, 1 last command failed, 0 write
 * checksum failed.
 */
export class Sht3x extends I2cSensor<Sample> {
  declare mode: "single" | "periodic";
  declare private repeatability: Repeatability;
  declare private mps: Sht3xMps;
  declare private heater: boolean;
  // Periodic mode: the newest result as the chip's words (-1: not read or CRC mismatch) and
  // when it was fetched; readyAt is when the first result is due.
  declare private t: number;
  declare private rh: number;
  declare private fetchedAt: number;

  constructor(options: SensorOptions & Sht3xConfiguration) {
    super("SHT3x", options, SHT3X_ADDRESSES);
    this.repeatability = "high";
    this.mps = 1;
    // ECMA-419 §13 constructor: reset to a consistent state whatever a previous
    // instance left running (break stops periodic mode, then soft reset, §4.8/§4.9).
    this.mode = "periodic";
    this.softReset();
    this.configure(options);
  }

  configure(options: Sht3xConfiguration = {}): void {
    const mode = options.mode ?? this.mode;
    const repeatability = options.repeatability ?? this.repeatability;
    const mps = options.mps ?? this.mps;
    const heater = options.heater;
    this.option(MODES, mode, "mode");
    const rep = this.option(REPEATABILITIES, repeatability, "repeatability");
    const rate = this.option(MPS, mps, "mps");
    if (heater !== undefined) this.option([false, true], heater, "heater");
    const was = this.mode === "periodic";
    const periodic = mode === "periodic";
    // a periodic measurement changes only through break (§4.8) and a new start
    const keep = was && periodic && repeatability === this.repeatability && mps === this.mps;
    if (was && !keep) this.write("break", Command.BREAK);
    this.mode = mode;
    this.repeatability = repeatability;
    this.mps = mps;
    if (!keep) this.readyAt = 0;
    if (heater !== undefined && heater !== this.heater && this.write("heater", heater ? Command.HEATER_ON : Command.HEATER_OFF)) this.heater = heater;
    if (periodic && !keep) {
      this.fetchedAt = -Infinity;
      if (this.write("start periodic", PERIODIC.charCodeAt(rate * 3 + rep))) this.readyAt = this.now() + SHT3X_DURATION_MAX[repeatability];
    }
  }

  /**
   * Single shot: starts a measurement and returns the wait until sample() has it (the Table 4
   * maximum), -1 when the command failed. Periodic: the wait for the first result.
   */
  override trigger(): number {
    const now = this.now();
    if (this.mode === "periodic") return Math.max(0, this.readyAt - now);
    this.readyAt = 0;
    // §4.3 single shot, clock stretching disabled: 0x2400 / 0x240B / 0x2416 (high / medium / low)
    if (!this.write("start measurement", Command.SINGLE_HIGH + 11 * REPEATABILITIES.indexOf(this.repeatability))) return -1;
    const wait = SHT3X_DURATION_MAX[this.repeatability];
    this.readyAt = now + wait;
    return wait;
  }

  /**
   * Single shot: the triggered measurement once it is due (then undefined until
   * the next trigger). Periodic: the chip's newest measurement (the kept one
   * while the chip has nothing newer, at most one and a half periods old).
   */
  sample(): Sample | undefined {
    if (this.mode !== "periodic") {
      if (!this.due()) return undefined;
      const b = this.read("read measurement", 6);
      return b ? this.decode(b) : {};
    }
    const now = this.now();
    if (!this.write("fetch data", Command.FETCH)) return {};
    const b = this.read("", 6); // a NACK: no new data since the last fetch (§4.6)
    if (b) {
      this.fetchedAt = now;
      return this.decode(b);
    }
    if (now - this.fetchedAt <= 1500 / this.mps) return this.kept();
    if (now < this.readyAt) return undefined;
    this.fail("fetch data", "no new data");
    return {};
  }

  /** The status register (see the class), or undefined (reported) on failure. */
  readStatus(): number | undefined {
    return this.words("read status", Command.READ_STATUS, 1);
  }

  clearStatus(): boolean {
    return this.write("clear status", Command.CLEAR_STATUS);
  }

  /** §4.9 soft reset; leaves periodic mode (break first) and the heater off. */
  softReset(): boolean {
    if (this.mode === "periodic") this.write("break", Command.BREAK);
    this.mode = "single";
    this.heater = false;
    this.readyAt = 0;
    return this.write("soft reset", Command.SOFT_RESET);
  }

  /** The 32-bit electronic identification code, or undefined (reported) on failure. */
  serialNumber(): number | undefined {
    return this.words("read serial number", Command.READ_SERIAL, 2);
  }

  /** A command, then `count` CRC-checked words (§4.12) as one number; undefined (reported) on failure. */
  private words(operation: string, command: number, count: number): number | undefined {
    const b = this.write(operation, command) && this.read(operation, count * 3);
    if (!b) return undefined;
    const w = sensirionWords(b, 0, count);
    return w < 0 ? this.fail(operation, "CRC mismatch") : w;
  }

  private decode(b: Uint8Array): Sample {
    // Both words before any report: the bytes are the driver's buffer, which a read made by an onError handler would refill.
    const t = (this.t = sensirionWords(b, 0));
    const rh = (this.rh = sensirionWords(b, 1));
    if (t < 0) this.fail("read temperature", "CRC mismatch");
    if (rh < 0) this.fail("read humidity", "CRC mismatch");
    return this.kept();
  }

  /** The newest result's words as a new sample (§4.13); a word that failed its CRC is left out. */
  private kept(): Sample {
    const out: Sample = {};
    if (this.t >= 0) out.thermometer = { temperature: -45 + (175 * this.t) / 65535 };
    if (this.rh >= 0) out.hygrometer = { humidity: (100 * this.rh) / 65535 };
    return out;
  }
}
