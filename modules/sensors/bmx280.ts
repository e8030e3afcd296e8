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
import { I2cSensor, type Sample, type SensorOptions } from "./sensor";

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
  /**
   * Normal-mode standby time in ms, one of the chip's t_sb values (BME280 §5.4.6 Table 27:
   * 0.5, 62.5, 125, 250, 500, 1000, 10, 20; BMP280 §4.3.5 Table 21: ..., 1000, 2000, 4000).
   */
  standby?: number;
}

export const BMX280_ADDRESSES = [0x76, 0x77] as const;

const enum Register {
  CALIB00 = 0x88,
  ID = 0xd0,
  CALIB26 = 0xe1,
  CTRL_HUM = 0xf2,
  STATUS = 0xf3,
  CTRL_MEAS = 0xf4,
  CONFIG = 0xf5,
  DATA = 0xf7,
  BME280_ID = 0x60,
  BMP280_ID = 0x58,
}

/** By their ctrl_meas mode bits (§5.4.5): 00 sleep, 01 forced, 11 normal. */
const MODES = ["sleep", "forced", , "normal"];
/** By their osrs code (§5.4.3, §5.4.5), and the IIR filter by its code (§5.4.6). */
const OVERSAMPLING = [0, 1, 2, 4, 8, 16];
const FILTERS = [0, 2, 4, 8, 16];

/** Appendix B §9.1 maximum measurement time in ms. */
export function bmx280MeasurementTimeMax(osT: number, osP: number, osH: number): number {
  return 1.25 + (osT && 2.3 * osT) + (osP && 2.3 * osP + 0.575) + (osH && 2.3 * osH + 0.575);
}

export class Bmx280 extends I2cSensor<Sample> {
  declare readonly chipId: number;
  /** The trimming parameters read from the chip, once it answered with the right id. */
  declare calibration: Bmx280Calibration | undefined;
  declare mode: Bmx280Mode;
  declare private osT: Oversampling;
  declare private osP: Oversampling;
  declare private osH: Oversampling;
  declare private filter: number;
  declare private standby: number;
  /** Normal mode: when the first conversion is done. */
  declare private firstAt: number;

  protected constructor(chip: string, chipId: number, options: SensorOptions & Bmx280Configuration) {
    super(chip, options, BMX280_ADDRESSES);
    this.chipId = chipId;
    this.mode = "forced";
    this.osT = this.osP = this.osH = 1;
    this.filter = 0;
    this.standby = 1000;
    this.configure(options);
  }

  configure(options: Bmx280Configuration = {}): void {
    const mode = options.mode ?? this.mode;
    const osT = options.temperatureOversampling ?? this.osT;
    const osP = options.pressureOversampling ?? this.osP;
    const osH = options.humidityOversampling ?? this.osH;
    const filter = options.filter ?? this.filter;
    const standby = options.standby ?? this.standby;
    this.option(MODES, mode, "mode");
    this.option(OVERSAMPLING, osT, "temperatureOversampling");
    this.option(OVERSAMPLING, osP, "pressureOversampling");
    this.option(OVERSAMPLING, osH, "humidityOversampling");
    this.option(FILTERS, filter, "filter");
    this.option(this.standbys(), standby, "standby");
    this.mode = mode;
    this.osT = osT;
    this.osP = osP;
    this.osH = osH;
    this.filter = filter;
    this.standby = standby;
    this.readyAt = 0;
    if (this.calibration) this.apply();
    else this.init();
  }

  /** Maximum duration of one measurement with the current oversampling (ms). */
  measurementTime(): number {
    return bmx280MeasurementTimeMax(this.osT, this.osP, this.chipId === Register.BME280_ID ? this.osH : 0);
  }

  /** Forced mode: starts one measurement and returns the wait in ms (-1 on failure). Normal mode: the wait for the first result. */
  override trigger(): number {
    if (!this.calibration && !this.init()) return -1;
    const now = this.now();
    if (this.mode === "normal") return Math.max(0, this.firstAt - now);
    this.readyAt = 0;
    if (this.mode === "sleep" || !this.write("start measurement", (Register.CTRL_MEAS << 8) | this.ctrlMeas(1))) return -1;
    const wait = this.measurementTime();
    this.readyAt = now + wait;
    return wait;
  }

  /**
   * Forced mode: the triggered measurement once it is due (then undefined until
   * the next trigger). Normal mode: the newest conversion. Sleep: undefined.
   */
  sample(): Sample | undefined {
    if (!this.calibration && !this.init()) return {};
    if (this.mode === "normal" ? this.now() < this.firstAt : !this.due()) return undefined;
    if (this.mode === "forced") {
      const status = this.readRegisters("read status", Register.STATUS, 1);
      if (!status) return {};
      if (status[0] & 0x08) return this.fail("read measurement", "still measuring (status 0x" + status[0].toString(16) + ")") ?? {};
    }
    const c = this.calibration!;
    const hasH = this.chipId === Register.BME280_ID;
    const b = this.readRegisters("read measurement", Register.DATA, hasH ? 8 : 6);
    if (!b) return {};
    // all raw values before anything else (the bytes are the driver's buffer)
    const adcP = (b[0] << 12) | (b[1] << 4) | (b[2] >> 4);
    const adcT = (b[3] << 12) | (b[4] << 4) | (b[5] >> 4);
    const adcH = hasH ? (b[6] << 8) | b[7] : 0x8000;
    const out: Sample = {};
    if (adcT === 0x80000) return out; // temperature skipped: nothing can be compensated
    const tFine = temperatureFine(c, adcT);
    out.thermometer = { temperature: tFine / 5120 };
    // skipped pressure or humidity: left out, no error (a pressure of 0 is the datasheet's division guard, which init() rules out)
    const p = adcP === 0x80000 ? 0 : compensatePressure(c, adcP, tFine);
    if (p) out.barometer = { pressure: p };
    if (adcH !== 0x8000) out.hygrometer = { humidity: compensateHumidity(c, adcH, tFine) };
    return out;
  }

  /** The chip's t_sb values in the order of their codes. */
  private standbys(): number[] {
    return [0.5, 62.5, 125, 250, 500, 1000].concat(this.chipId === Register.BME280_ID ? [10, 20] : [2000, 4000]);
  }

  private ctrlMeas(mode: number): number {
    return (OVERSAMPLING.indexOf(this.osT) << 5) | (OVERSAMPLING.indexOf(this.osP) << 2) | mode;
  }

  /** Register read: the register address, a repeated start, then `count` bytes. */
  private readRegisters(operation: string, register: number, count: number): Uint8Array | undefined {
    return this.write(operation, register, false) ? this.read(operation, count) : undefined;
  }

  /** Checks the chip id, reads the trimming parameters and writes the configuration. */
  private init(): boolean {
    const id = this.readRegisters("read chip id", Register.ID, 1);
    if (!id) return false;
    if (id[0] !== this.chipId) return !!this.fail("check chip id", "expected 0x" + this.chipId.toString(16) + ", read 0x" + id[0].toString(16), true);
    // A copy: the humidity block below is read into the same buffer.
    const tp = this.readRegisters("read calibration", Register.CALIB00, 26)?.slice();
    if (!tp) return false;
    let humidity: Uint8Array | undefined;
    if (this.chipId === Register.BME280_ID && !(humidity = this.readRegisters("read calibration", Register.CALIB26, 7))) return false;
    const c = parseCalibration(tp, humidity);
    if (!c.T1 || !c.P1 || (c.T1 & c.P1) === 0xffff) return !!this.fail("read calibration", "implausible trimming (dig_T1 " + c.T1 + ", dig_P1 " + c.P1 + ")", true);
    this.calibration = c;
    this.apply();
    return true;
  }

  /** Writes the configuration: sleep first (config writes in normal mode may be ignored, §5.4.6), ctrl_hum before ctrl_meas (§5.4.3). */
  private apply(): void {
    if (
      this.write("configure", (Register.CTRL_MEAS << 8) | this.ctrlMeas(0)) &&
      (this.chipId !== Register.BME280_ID || this.write("configure", (Register.CTRL_HUM << 8) | OVERSAMPLING.indexOf(this.osH))) &&
      this.write("configure", (Register.CONFIG << 8) | (this.standbys().indexOf(this.standby) << 5) | (FILTERS.indexOf(this.filter) << 2)) &&
      this.write("configure", (Register.CTRL_MEAS << 8) | this.ctrlMeas(this.mode === "normal" ? 3 : 0)) &&
      this.mode === "normal"
    )
      this.firstAt = this.now() + this.measurementTime();
  }
}

export class Bme280 extends Bmx280 {
  constructor(options: SensorOptions & Bmx280Configuration) {
    super("BME280", Register.BME280_ID, options);
  }
}

export class Bmp280 extends Bmx280 {
  constructor(options: SensorOptions & Bmx280Configuration) {
    super("BMP280", Register.BMP280_ID, options);
  }
}
