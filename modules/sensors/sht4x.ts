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
import { decodeWord } from "./crc8";
import { I2cSensor, type Measurement, type Sample, type SensorOptions } from "./sensor";

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
export const SHT4X_MEASURE: Readonly<Record<Sht4xPrecision, number>> = { high: 0xfd, medium: 0xf6, low: 0xe0 };
export const SHT4X_DURATION_MAX: Readonly<Record<Sht4xPrecision, number>> = { high: 8.3, medium: 4.5, low: 1.6 };
export const SHT4X_HEATER: Readonly<Record<string, number>> = {
  "200/1000": 0x39, "200/100": 0x32, "110/1000": 0x2f, "110/100": 0x24, "20/1000": 0x1e, "20/100": 0x15,
};
export const SHT4X_READ_SERIAL = 0x89;
export const SHT4X_SOFT_RESET = 0x94;

export class Sht4x extends I2cSensor<Sample> {
  #precision: Sht4xPrecision = "high";
  #heater: Sht4xHeater | null = null;
  #pending = false;
  #readyAt = 0;

  constructor(options: SensorOptions & Sht4xConfiguration) {
    super("SHT4x", options, SHT4X_ADDRESSES);
    this.write("soft reset", [SHT4X_SOFT_RESET]); // ECMA-419 §13: consistent initial state
    this.configure(options);
  }

  configure(options: Sht4xConfiguration = {}): void {
    const precision = options.precision ?? this.#precision;
    if (SHT4X_MEASURE[precision] === undefined) throw new RangeError(`SHT4x: precision must be high, medium or low, got ${precision}`);
    let heater = this.#heater;
    if (options.heater !== undefined) {
      heater = options.heater;
      if (heater !== null && SHT4X_HEATER[`${heater.power}/${heater.duration}`] === undefined)
        throw new RangeError(`SHT4x: heater must be {power: 200|110|20, duration: 1000|100}, got ${JSON.stringify(heater)}`);
    }
    this.#precision = precision;
    this.#heater = heater ? { power: heater.power, duration: heater.duration } : null;
  }

  /** Starts a measurement (with the heater pulse if configured); returns the wait in ms, or -1 when the command failed. */
  trigger(): number {
    this.#pending = false;
    const heater = this.#heater;
    const command = heater ? SHT4X_HEATER[`${heater.power}/${heater.duration}`] : SHT4X_MEASURE[this.#precision];
    if (!this.write(heater ? "heater pulse" : "start measurement", [command])) return -1;
    const wait = heater ? heater.duration * 1.1 : SHT4X_DURATION_MAX[this.#precision];
    this.#pending = true;
    this.#readyAt = this.now() + wait;
    return wait;
  }

  /** The triggered measurement once it is due, then undefined until the next trigger. */
  sample(): Sample | undefined {
    if (!this.#pending || this.now() < this.#readyAt) return undefined;
    this.#pending = false;
    const bytes = this.read("read measurement", 6);
    if (!bytes) return {};
    const out: Sample = {};
    // Both words before any report: the bytes are the driver's buffer, which a read made by an onError handler would refill (I2cSensor.read).
    const t = decodeWord(bytes, 0);
    const rh = decodeWord(bytes, 1);
    if (typeof t === "number") out.thermometer = { temperature: -45 + (175 * t) / 65535 }; // §4.6
    else this.fail("read temperature", t);
    if (typeof rh === "number") out.hygrometer = { humidity: Math.min(100, Math.max(0, -6 + (125 * rh) / 65535)) }; // §4.6, cropped
    else this.fail("read humidity", rh);
    return out;
  }

  protected *measurement(): Measurement<Sample> {
    const wait = this.trigger();
    if (wait < 0) return {};
    yield wait;
    return this.sample() ?? {};
  }

  /** The 32-bit serial number (needs 1 ms between command and read: runs on the scheduler). */
  readSerialNumber(callback: (serial: number | undefined) => void): void {
    if (!this.write("read serial number", [SHT4X_READ_SERIAL])) {
      this.scheduler.after(0, () => callback(undefined));
      return;
    }
    this.scheduler.after(1, () => {
      const bytes = this.read("read serial number", 6);
      let serial: number | undefined;
      if (bytes) {
        const hi = decodeWord(bytes, 0);
        const lo = decodeWord(bytes, 1);
        if (typeof hi === "string") this.fail("read serial number", hi);
        else if (typeof lo === "string") this.fail("read serial number", lo);
        else serial = ((hi << 16) | lo) >>> 0;
      }
      try {
        callback(serial);
      } catch (error) {
        this.fail("serial number callback", error);
      }
    }, { name: "SHT4x serial" });
  }

  softReset(): boolean {
    this.#pending = false;
    return this.write("soft reset", [SHT4X_SOFT_RESET]);
  }
}
