/*
 * Bosch BME280 (temperature, pressure, humidity; chip id 0x60) and BMP280
 * (temperature, pressure; chip id 0x58) at I2C address 0x76 (SDO low) or 0x77.
 *
 * From the BME280 datasheet (BST-BME280-DS002) and BMP280 datasheet
 * (BST-BMP280-DS001):
 *  §5.4.1 id register 0xD0; §4.2.2 trimming parameters 0x88..0xA1 and
 *  (BME280) 0xE1..0xE7; §5.4.3 ctrl_hum 0xF2 (takes effect after a write to
 *  ctrl_meas); §5.4.4 status 0xF3 (bit 3 measuring); §5.4.5 ctrl_meas 0xF4
 *  (osrs_t[7:5], osrs_p[4:2], mode[1:0]: 00 sleep, 01/10 forced, 11 normal);
 *  §5.4.6 config 0xF5 (t_sb[7:5], filter[4:2]); §5.4.7-9 data 0xF7..0xFE read
 *  in one burst; 0x80000 (0x8000 for humidity) marks a skipped measurement.
 *  §3.3.3 forced mode: one measurement, then back to sleep.
 *  Appendix B §9.1 measurement time:
 *    t_max = 1.25 + 2.3*osrs_t + (2.3*osrs_p + 0.575) + (2.3*osrs_h + 0.575) ms
 *  (a term is left out when its oversampling is "skipped").
 *  Compensation: see bmx280-compensation.ts.
 *
 * The constructor puts the chip to sleep and writes the configuration rather
 * than soft-resetting it: a reset needs ~2 ms before the trimming registers
 * read back correctly (§5.4.2, im_update), which a constructor cannot wait.
 */
import { compensateHumidity, compensatePressure, parseCalibration, temperatureFine, type Bmx280Calibration } from "./bmx280-compensation";
import { I2cSensor, type Measurement, type Sample, type SensorOptions } from "./sensor";

export type Oversampling = 0 | 1 | 2 | 4 | 8 | 16;
export type Bmx280Mode = "forced" | "normal" | "sleep";

export interface Bmx280Configuration {
  mode?: Bmx280Mode;
  temperatureOversampling?: Oversampling;
  pressureOversampling?: Oversampling;
  /** BME280 only. */
  humidityOversampling?: Oversampling;
  /** IIR filter coefficient (0 = off). */
  filter?: 0 | 2 | 4 | 8 | 16;
  /** Normal-mode standby time in ms, one of the chip's t_sb values. */
  standby?: number;
}

export const BMX280_ADDRESSES = [0x76, 0x77] as const;
export const BME280_CHIP_ID = 0x60;
export const BMP280_CHIP_ID = 0x58;
export const BMX280_REGISTERS = { id: 0xd0, reset: 0xe0, ctrlHum: 0xf2, status: 0xf3, ctrlMeas: 0xf4, config: 0xf5, data: 0xf7, calib00: 0x88, calib26: 0xe1 } as const;
/** t_sb codes 0..7 (BME280 §5.4.6 Table 27 / BMP280 §4.3.5 Table 21). */
export const BME280_STANDBY = [0.5, 62.5, 125, 250, 500, 1000, 10, 20] as const;
export const BMP280_STANDBY = [0.5, 62.5, 125, 250, 500, 1000, 2000, 4000] as const;
export const OVERSAMPLING_CODE: Readonly<Record<number, number>> = { 0: 0, 1: 1, 2: 2, 4: 3, 8: 4, 16: 5 };
export const FILTER_CODE: Readonly<Record<number, number>> = { 0: 0, 2: 1, 4: 2, 8: 3, 16: 4 };

/** Appendix B §9.1 maximum measurement time in ms. */
export function bmx280MeasurementTimeMax(osT: number, osP: number, osH: number): number {
  return 1.25 + (osT ? 2.3 * osT : 0) + (osP ? 2.3 * osP + 0.575 : 0) + (osH ? 2.3 * osH + 0.575 : 0);
}


export class Bmx280 extends I2cSensor<Sample> {
  readonly chipId: number;
  readonly hasHumidity: boolean;
  #calibration: Bmx280Calibration | undefined;
  #mode: Bmx280Mode = "forced";
  #osT: Oversampling = 1;
  #osP: Oversampling = 1;
  #osH: Oversampling = 1;
  #filter = 0;
  #standby = 1000;
  #pending = false;
  #readyAt = 0;
  #normalStart = 0;

  protected constructor(chip: string, chipId: number, options: SensorOptions & Bmx280Configuration) {
    super(chip, options, BMX280_ADDRESSES);
    this.chipId = chipId;
    this.hasHumidity = chipId === BME280_CHIP_ID;
    this.configure(options);
  }

  /** The trimming parameters read from the chip, once it answered with the right id. */
  get calibration(): Bmx280Calibration | undefined {
    return this.#calibration;
  }

  get mode(): Bmx280Mode {
    return this.#mode;
  }

  configure(options: Bmx280Configuration = {}): void {
    const mode = options.mode ?? this.#mode;
    if (mode !== "forced" && mode !== "normal" && mode !== "sleep") throw new RangeError(`${this.chip}: mode must be forced, normal or sleep, got ${mode}`);
    const osT = options.temperatureOversampling ?? this.#osT;
    const osP = options.pressureOversampling ?? this.#osP;
    const osH = options.humidityOversampling ?? this.#osH;
    for (const [name, v] of [["temperatureOversampling", osT], ["pressureOversampling", osP], ["humidityOversampling", osH]] as const)
      if (OVERSAMPLING_CODE[v] === undefined) throw new RangeError(`${this.chip}: ${name} must be 0, 1, 2, 4, 8 or 16, got ${v}`);
    const filter = options.filter ?? this.#filter;
    if (FILTER_CODE[filter] === undefined) throw new RangeError(`${this.chip}: filter must be 0, 2, 4, 8 or 16, got ${filter}`);
    const standby = options.standby ?? this.#standby;
    if (this.#standbyTable().indexOf(standby as never) < 0) throw new RangeError(`${this.chip}: standby must be one of ${this.#standbyTable().join(", ")} ms, got ${standby}`);
    this.#mode = mode;
    this.#osT = osT;
    this.#osP = osP;
    this.#osH = osH;
    this.#filter = filter;
    this.#standby = standby;
    this.#pending = false;
    if (this.#calibration || this.#init()) this.#apply();
  }

  /** Maximum duration of one measurement with the current oversampling (ms). */
  get measurementTime(): number {
    return bmx280MeasurementTimeMax(this.#osT, this.#osP, this.hasHumidity ? this.#osH : 0);
  }

  /** Forced mode: starts one measurement and returns the wait in ms (-1 on failure). Normal mode: the wait for the first result. */
  trigger(): number {
    if (!this.#calibration && !this.#init()) return -1;
    const now = this.now();
    if (this.#mode === "normal") return Math.max(0, this.#normalStart + this.measurementTime - now);
    if (this.#mode === "sleep") return -1;
    this.#pending = false;
    if (!this.write("start forced measurement", [BMX280_REGISTERS.ctrlMeas, this.#ctrlMeas(0b01)])) return -1;
    this.#pending = true;
    this.#readyAt = now + this.measurementTime;
    return this.measurementTime;
  }

  /**
   * Forced mode: the triggered measurement once it is due (then undefined until
   * the next trigger). Normal mode: the newest conversion. Sleep: undefined.
   */
  sample(): Sample | undefined {
    if (!this.#calibration && !this.#init()) return {};
    const now = this.now();
    if (this.#mode === "sleep") return undefined;
    if (this.#mode === "forced") {
      if (!this.#pending || now < this.#readyAt) return undefined;
      this.#pending = false;
      const status = this.readRegisters("read status", BMX280_REGISTERS.status, 1);
      if (!status) return {};
      if (status[0] & 0x08) {
        this.fail("read measurement", `still measuring ${Math.round(this.measurementTime * 10) / 10} ms after the start (status 0x${status[0].toString(16)})`);
        return {};
      }
    } else if (now < this.#normalStart + this.measurementTime) return undefined;
    return this.#readData();
  }

  protected *measurement(): Measurement<Sample> {
    const wait = this.trigger();
    if (wait < 0) return {};
    if (wait > 0) yield wait;
    return this.sample() ?? {};
  }

  #standbyTable(): readonly number[] {
    return this.chipId === BME280_CHIP_ID ? BME280_STANDBY : BMP280_STANDBY;
  }

  #ctrlMeas(mode: number): number {
    return (OVERSAMPLING_CODE[this.#osT] << 5) | (OVERSAMPLING_CODE[this.#osP] << 2) | mode;
  }

  /** Checks the chip id and reads the trimming parameters. */
  #init(): boolean {
    const id = this.readRegisters("read chip id", BMX280_REGISTERS.id, 1);
    if (!id) return false;
    if (id[0] !== this.chipId) {
      this.fail("check chip id", `expected 0x${this.chipId.toString(16)}, read 0x${id[0].toString(16)}`, true);
      return false;
    }
    // A copy: the humidity block below is read into the same buffer (I2cSensor.read).
    const tp = this.readRegisters("read calibration", BMX280_REGISTERS.calib00, 26)?.slice();
    if (!tp) return false;
    let humidity: Uint8Array | undefined;
    if (this.hasHumidity) {
      humidity = this.readRegisters("read calibration", BMX280_REGISTERS.calib26, 7);
      if (!humidity) return false;
    }
    const c = parseCalibration(tp, humidity);
    if (c.T1 === 0 || c.P1 === 0 || (c.T1 === 0xffff && c.P1 === 0xffff)) {
      this.fail("read calibration", `implausible trimming values (dig_T1 ${c.T1}, dig_P1 ${c.P1})`, true);
      return false;
    }
    this.#calibration = c;
    return true;
  }

  /** Writes the configuration: sleep first (config writes in normal mode may be ignored, §5.4.6), ctrl_hum before ctrl_meas (§5.4.3). */
  #apply(): void {
    const { ctrlHum, ctrlMeas, config } = BMX280_REGISTERS;
    if (!this.write("configure", [ctrlMeas, this.#ctrlMeas(0b00)])) return;
    if (this.hasHumidity && !this.write("configure", [ctrlHum, OVERSAMPLING_CODE[this.#osH]])) return;
    const tsb = this.#standbyTable().indexOf(this.#standby as never);
    if (!this.write("configure", [config, (tsb << 5) | (FILTER_CODE[this.#filter] << 2)])) return;
    if (!this.write("configure", [ctrlMeas, this.#ctrlMeas(this.#mode === "normal" ? 0b11 : 0b00)])) return;
    if (this.#mode === "normal") this.#normalStart = this.now();
  }

  #readData(): Sample {
    const c = this.#calibration!;
    const b = this.readRegisters("read measurement", BMX280_REGISTERS.data, this.hasHumidity ? 8 : 6);
    if (!b) return {};
    const adcP = (b[0] << 12) | (b[1] << 4) | (b[2] >> 4);
    const adcT = (b[3] << 12) | (b[4] << 4) | (b[5] >> 4);
    const adcH = this.hasHumidity ? (b[6] << 8) | b[7] : 0x8000; // all raw values before any report (the driver's buffer is reused)
    const out: Sample = {};
    if (adcT === 0x80000) return out; // temperature skipped: nothing can be compensated
    const tFine = temperatureFine(c, adcT);
    out.thermometer = { temperature: tFine / 5120 };
    if (adcP !== 0x80000) {
      const p = compensatePressure(c, adcP, tFine);
      if (p === 0) this.fail("compensate pressure", "division by zero guard (dig_P1 = 0?)");
      else out.barometer = { pressure: p };
    }
    if (this.hasHumidity) {
      if (adcH !== 0x8000) out.hygrometer = { humidity: compensateHumidity(c, adcH, tFine) };
    }
    return out;
  }
}

export class Bme280 extends Bmx280 {
  constructor(options: SensorOptions & Bmx280Configuration) {
    super("BME280", BME280_CHIP_ID, options);
  }
}

export class Bmp280 extends Bmx280 {
  constructor(options: SensorOptions & Bmx280Configuration) {
    super("BMP280", BMP280_CHIP_ID, options);
  }
}
