/*
 * Sensirion SHT4x (SHT40/41/45) temperature and humidity sensor, I2C address
 * 0x44 (SHT4x-A; B and C variants use 0x45/0x46).
 *
 * From the SHT4x datasheet (v6.6, 2023):
 *  §4.5 command table: 0xFD / 0xF6 / 0xE0 measure T & RH with high / medium /
 *       low precision; heater commands 0x39 (200 mW, 1 s), 0x32 (200 mW, 0.1 s),
 *       0x2F (110 mW, 1 s), 0x24 (110 mW, 0.1 s), 0x1E (20 mW, 1 s),
 *       0x15 (20 mW, 0.1 s), each followed by a high-precision measurement;
 *       0x89 read serial number, 0x94 soft reset. Every response is 2 words + CRC.
 *  §4.4 CRC-8 (poly 0x31, init 0xFF) on every word.
 *  §4.6 conversion: T = -45 + 175 * S_T / (2^16 - 1),
 *       RH = -6 + 125 * S_RH / (2^16 - 1), cropped to 0..100 %RH.
 *  Table 6 (system timing) maximum durations: high 8.3 ms, medium 4.5 ms,
 *       low 1.6 ms; heater 1.1 s / 0.11 s; serial number and reset 1 ms.
 * The heater must not run more than 10 % of the time (§4.9); measure() with a
 * heater setting is for occasional use (condensation removal, creep recovery).
 */
import { sensirionWords } from "./crc8";
import { I2cSensor, type Sample, type SensorOptions } from "./sensor";

export type Sht4xPrecision = "high" | "medium" | "low";
export interface Sht4xHeater {
  /** mW: 200, 110 or 20. */
  power: 200 | 110 | 20;
  /** ms: 1000 or 100. */
  duration: 1000 | 100;
}

export interface Sht4xConfiguration {
  precision?: Sht4xPrecision;
  /** Heater pulse before each measurement, or null for none. */
  heater?: Sht4xHeater | null;
}

export const SHT4X_ADDRESSES = [0x44, 0x45, 0x46] as const;
/** Table 6, maximum measurement duration in ms. */
export const SHT4X_DURATION_MAX: Readonly<Record<Sht4xPrecision, number>> = { high: 8.3, medium: 4.5, low: 1.6 };

const enum Command {
  READ_SERIAL = 0x89,
  SOFT_RESET = 0x94,
}

/** §4.5, in the order high, medium, low. */
const PRECISIONS = ["high", "medium", "low"];
const MEASURE = [0xfd, 0xf6, 0xe0];
/** §4.5 heater commands by power (200, 110, 20 mW), each for 1 s then 0.1 s. */
const POWERS = [200, 110, 20];
const HEATER = [0x39, 0x32, 0x2f, 0x24, 0x1e, 0x15];

export class Sht4x extends I2cSensor<Sample> {
  declare private precision: Sht4xPrecision;
  /** The heater command, 0 for none, and its pulse (ms). */
  declare private heater: number;
  declare private pulse: number;

  constructor(options: SensorOptions & Sht4xConfiguration) {
    super("SHT4x", options, SHT4X_ADDRESSES);
    this.precision = "high";
    this.heater = 0;
    this.softReset(); // ECMA-419 §13: consistent initial state
    this.configure(options);
  }

  configure(options: Sht4xConfiguration = {}): void {
    const precision = options.precision ?? this.precision;
    this.option(PRECISIONS, precision, "precision");
    const h = options.heater;
    let heater = this.heater;
    if (h !== undefined) {
      heater = 0;
      if (h !== null) heater = HEATER[this.option(POWERS, h.power, "heater power") * 2 + this.option([1000, 100], h.duration, "heater duration")];
      this.pulse = h ? h.duration * 1.1 : 0;
    }
    this.precision = precision;
    this.heater = heater;
  }

  /** Starts a measurement (with the heater pulse if configured); returns the wait in ms, or -1 when the command failed. */
  override trigger(): number {
    this.readyAt = 0;
    const heater = this.heater;
    if (!this.write(heater ? "heater pulse" : "start measurement", heater || MEASURE[PRECISIONS.indexOf(this.precision)])) return -1;
    const wait = heater ? this.pulse : SHT4X_DURATION_MAX[this.precision];
    this.readyAt = this.now() + wait;
    return wait;
  }

  /** The triggered measurement once it is due, then undefined until the next trigger. */
  sample(): Sample | undefined {
    if (!this.due()) return undefined;
    const b = this.read("read measurement", 6);
    if (!b) return {};
    const out: Sample = {};
    // Both words before any report: the bytes are the driver's buffer, which a read made by an onError handler would refill.
    const t = sensirionWords(b, 0);
    const rh = sensirionWords(b, 1);
    if (t < 0) this.fail("read temperature", "CRC mismatch");
    else out.thermometer = { temperature: -45 + (175 * t) / 65535 }; // §4.6
    if (rh < 0) this.fail("read humidity", "CRC mismatch");
    else out.hygrometer = { humidity: Math.min(100, Math.max(0, -6 + (125 * rh) / 65535)) }; // §4.6, cropped
    return out;
  }

  /** The 32-bit serial number (needs 1 ms between command and read: runs on the scheduler). */
  readSerialNumber(callback: (serial: number | undefined) => void): void {
    const sent = this.write("read serial number", Command.READ_SERIAL);
    this.scheduler.after(sent ? 1 : 0, () => {
      const b = sent && this.read("read serial number", 6);
      const w = b ? sensirionWords(b, 0, 2) : -2; // -2: not sent or not read (reported)
      if (w === -1) this.fail("read serial number", "CRC mismatch");
      this.answer(callback, w < 0 ? undefined : w, "serial number callback");
    }, { name: "SHT4x serial" });
  }

  softReset(): boolean {
    this.readyAt = 0;
    return this.write("soft reset", Command.SOFT_RESET);
  }
}
