/*
 * A simulated Bosch BME280 / BMP280 at the register level: id, trimming
 * registers, ctrl_hum / ctrl_meas / config, status (measuring bit), forced and
 * normal modes with the datasheet's typical measurement time
 * (Appendix B §9.1: 1 + 2*osrs_t + (2*osrs_p + 0.5) + (2*osrs_h + 0.5) ms) and
 * standby times, the IIR filter on temperature and pressure (§3.4.4:
 * x[n] = (x[n-1] * (c - 1) + x_new) / c), and the ADC resolution
 * (16 + log2(oversampling) bits without the filter, 20 bits with it, §3.4.1).
 *
 * The raw ADC values are found by inverting the compensation formulas
 * numerically (binary search over the raw value, which the formulas map
 * monotonically), so the driver's compensation turns them back into the
 * scripted value within one ADC step.
 *
 * I2C writes are register/value pairs (§6.2.1); reads auto-increment.
 * Portable (no Node API).
 */
import { compensateHumidity, compensatePressure, temperatureFine, type Bmx280Calibration } from "../../modules/sensors/bmx280-compensation";
import { I2cNackError, type I2cPeripheral } from "../i2c";
import { setOwn } from "./own";
import type { Environment } from "../environment";
import type { SimClock } from "./sht3x";

/**
 * dig_T1..dig_P9: the worked example of the BMP280 datasheet (§3.12 / §8.2,
 * adc_T 519888 -> 25.08 °C, adc_P 415148 -> 100653 Pa). dig_H1..dig_H6 are not
 * in the datasheet: typical values as read from production BME280s.
 */
export const DATASHEET_CALIBRATION: Readonly<Bmx280Calibration> = Object.freeze({
  T1: 27504, T2: 26435, T3: -1000,
  P1: 36477, P2: -10685, P3: 3024, P4: 2855, P5: 140, P6: -7, P7: 15500, P8: -14600, P9: 6000,
  H1: 75, H2: 362, H3: 0, H4: 315, H5: 50, H6: 30,
});

const OS: readonly number[] = Object.freeze([0, 1, 2, 4, 8, 16, 16, 16]);
const FILTER: readonly number[] = Object.freeze([0, 2, 4, 8, 16, 16, 16, 16]);
const BME_STANDBY: readonly number[] = Object.freeze([0.5, 62.5, 125, 250, 500, 1000, 10, 20]);
const BMP_STANDBY: readonly number[] = Object.freeze([0.5, 62.5, 125, 250, 500, 1000, 2000, 4000]);

/**
 * The trimming registers' bytes of a calibration (0x88..0xA1: 26 bytes, dig_H1 at 0xA1; 0xE1..0xE7:
 * 7 bytes; datasheet §4.2.2): what the driver's parseCalibration reads back.
 */
export function encodeCalibration(c: Bmx280Calibration): { tp: Uint8Array; humidity: Uint8Array } {
  const tp = new Uint8Array(26);
  const put = (o: number, v: number) => { tp[o] = v & 0xff; tp[o + 1] = (v >> 8) & 0xff; };
  [c.T1, c.T2, c.T3, c.P1, c.P2, c.P3, c.P4, c.P5, c.P6, c.P7, c.P8, c.P9].forEach((v, i) => put(i * 2, v));
  tp[25] = (c.H1 ?? 0) & 0xff; // 0xA1
  const h = new Uint8Array(7);
  const H2 = c.H2 ?? 0, H4 = c.H4 ?? 0, H5 = c.H5 ?? 0;
  h[0] = H2 & 0xff; h[1] = (H2 >> 8) & 0xff;
  h[2] = (c.H3 ?? 0) & 0xff;
  h[3] = (H4 >> 4) & 0xff;
  h[4] = (H4 & 0x0f) | ((H5 & 0x0f) << 4);
  h[5] = (H5 >> 4) & 0xff;
  h[6] = (c.H6 ?? 0) & 0xff;
  return { tp, humidity: h };
}

/** adc_T on a grid of `step` whose t_fine/5120 is closest to `celsius`; `hint` (an earlier answer) only speeds the search. */
export function invertTemperature(c: Bmx280Calibration, celsius: number, step = 1, hint = -1): number {
  const target = celsius * 5120;
  return searchGrid(step, 1 << 20, (adc) => temperatureFine(c, adc), target, true, hint);
}

/** adc_P on a grid of `step` whose pressure is closest to `pascal` at this t_fine; `hint` as above. */
export function invertPressure(c: Bmx280Calibration, pascal: number, tFine: number, step = 1, hint = -1): number {
  return searchGrid(step, 1 << 20, (adc) => compensatePressure(c, adc, tFine), pascal, false, hint);
}

/** adc_H whose humidity is closest to `percent` at this t_fine; `hint` as above. */
export function invertHumidity(c: Bmx280Calibration, percent: number, tFine: number, hint = -1): number {
  return searchGrid(1, 1 << 16, (adc) => compensateHumidity(c, adc, tFine), percent, true, hint);
}

/**
 * Binary search over adc = k * step (k < limit/step) of a monotonic f for the value closest to
 * target. With a `hint` (the chip's previous conversion: the environment moves little between
 * two) it first gallops out from the hint to bracket the answer, so a conversion costs a handful
 * of evaluations instead of ~22. The answer
 * is the same either way: the first grid point past the target is unique.
 */
function searchGrid(step: number, limit: number, f: (adc: number) => number, target: number, increasing: boolean, hint = -1): number {
  const max = Math.floor((limit - 1) / step);
  // past(k): f(k*step) >= target (increasing) or <= target (decreasing); false...false true...true
  const past = (k: number) => (increasing ? f(k * step) >= target : f(k * step) <= target);
  if (!past(max)) return max * step;
  let lo = 0;
  let hi = max;
  if (hint >= 0) {
    const k = Math.min(max, Math.floor(hint / step));
    if (past(k)) {
      hi = k;
      for (let d = 1; ; d *= 2) {
        const j = hi - d;
        if (j < 0) break;
        if (!past(j)) {
          lo = j + 1;
          break;
        }
        hi = j;
      }
    } else {
      lo = k + 1;
      for (let d = 1; ; d *= 2) {
        const j = k + d;
        if (j >= max) break;
        if (past(j)) {
          hi = j;
          break;
        }
        lo = j + 1;
      }
    }
  }
  // the first k in [lo, hi] with past(k)
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (past(mid)) hi = mid;
    else lo = mid + 1;
  }
  if (lo > 0 && Math.abs(f((lo - 1) * step) - target) < Math.abs(f(lo * step) - target)) lo--;
  return lo * step;
}

export interface Bmx280Faults {
  /** The measuring bit never clears and no conversion completes. */
  stuckBusy: boolean;
  /** Answer this id instead of the real one. */
  chipId?: number;
}

/** The trimming registers' bytes (0x88..0xA1 and 0xE1..0xE7) of a calibration. */
type Nvm = { tp: Uint8Array; humidity: Uint8Array };

/** The datasheet calibration's NVM, shared by every chip that keeps it (encoded at load: preloaded, it lives in flash and is only read). */
const DATASHEET_NVM: Nvm = encodeCalibration(DATASHEET_CALIBRATION);

/*
 * The register file is not a 256-byte array per chip (with its ArrayBuffer,
 * ~440 B in V8, times a thousand in a simulated fleet): the trimming NVM is
 * shared by every chip with the same calibration (the datasheet's, by default),
 * the control registers and the ADC results are fields, and every other
 * register reads 0. `registers` gives a copy of the whole file for tests.
 */
export class Bmx280Sim implements I2cPeripheral {
  /** "bme280" unless given (the default is on the prototype: a field less per chip). */
  declare readonly variant: "bme280" | "bmp280";
  /** The trimming values in the chip's NVM (frozen; the datasheet's, shared by every chip, unless given). */
  declare readonly calibration: Readonly<Bmx280Calibration>;
  /** The trimming registers' bytes of `calibration` (the shared datasheet NVM, on the prototype, unless given). */
  declare readonly nvm: Nvm;
  /** The register the next read starts at (auto-increment, §6.3). */
  pointer = 0;
  /** Conversions performed (for tests). */
  conversions = 0;
  #faults: Bmx280Faults | undefined;
  #clock: SimClock;
  #env: Environment;
  #ctrlHum = 0; // 0xF2
  #ctrlMeas = 0; // 0xF4
  #config = 0; // 0xF5
  #adcP = 0x80000; // 0xF7..0xF9
  #adcT = 0x80000; // 0xFA..0xFC
  #adcH = 0x8000; // 0xFD..0xFE
  #osH = 0; // latched at the ctrl_meas write (§5.4.3)
  /**
   * When the forced conversion under way started (-1: none). Its end is derived
   * (start + measurementTime(), which only a ctrl_meas write changes, and that
   * write restarts it): a fractional end time in a field is a 16-byte heap number.
   */
  #forcedStart = -1;
  #normalStart = -1;
  #lastCycle = -1;
  #filtT: number | undefined;
  #filtP: number | undefined;

  constructor(options: { clock: SimClock; environment: Environment; variant?: "bme280" | "bmp280"; calibration?: Bmx280Calibration }) {
    this.#clock = options.clock;
    this.#env = options.environment;
    if (options.variant !== undefined && options.variant !== "bme280") setOwn(this, "variant", options.variant);
    if (options.calibration) {
      const calibration = Object.freeze({ ...options.calibration });
      setOwn(this, "nvm", encodeCalibration(calibration)); // a bad calibration throws here
      setOwn(this, "calibration", calibration);
    }
  }

  /** Injected faults (created on first use). */
  get faults(): Bmx280Faults {
    return (this.#faults ??= { stuckBusy: false });
  }

  /** A copy of the register file as stored (0xD0 and 0xF3 are computed on a read and show 0 here). */
  get registers(): Uint8Array {
    const out = new Uint8Array(256);
    for (let r = 0; r < 256; r++) out[r] = Bmx280Sim.#stored(this, r);
    return out;
  }

  /** I2C write: a register address then register/value pairs (§6.2.1); one byte only sets the pointer. */
  write(data: Uint8Array, _stop: boolean): void {
    if (!data.length) return;
    Bmx280Sim.#update(this);
    this.pointer = data[0];
    if (data.length === 2) this.writeRegister(data[0], data[1]);
    else for (let i = 0; i + 1 < data.length; i += 2) this.writeRegister(data[i], data[i + 1]);
  }

  read(count: number, _stop: boolean): Uint8Array {
    Bmx280Sim.#update(this);
    const out = new Uint8Array(count);
    for (let i = 0; i < count; i++) out[i] = this.readRegister((this.pointer + i) & 0xff);
    this.pointer = (this.pointer + count) & 0xff;
    return out;
  }

  readRegister(register: number): number {
    if (register === 0xd0) return this.#faults?.chipId ?? (this.variant === "bme280" ? 0x60 : 0x58);
    if (register === 0xf3) return Bmx280Sim.#measuring(this) ? 0x08 : 0x00;
    return Bmx280Sim.#stored(this, register);
  }

  // Internals are static private methods given the instance: a private instance
  // method gives every instance a brand field (8 B; a simulated fleet has a thousand).
  /** A register's stored byte. */
  static #stored(self: Bmx280Sim, r: number): number {
    const bme = self.variant === "bme280";
    if (r >= 0x88 && r <= 0xa1) return bme || r < 0xa0 ? self.nvm.tp[r - 0x88] : 0;
    if (r >= 0xe1 && r <= 0xe7) return bme ? self.nvm.humidity[r - 0xe1] : 0;
    switch (r) {
      case 0xf2: return bme ? self.#ctrlHum : 0;
      case 0xf4: return self.#ctrlMeas;
      case 0xf5: return self.#config;
      case 0xf7: return self.#adcP >> 12;
      case 0xf8: return (self.#adcP >> 4) & 0xff;
      case 0xf9: return (self.#adcP & 0x0f) << 4;
      case 0xfa: return self.#adcT >> 12;
      case 0xfb: return (self.#adcT >> 4) & 0xff;
      case 0xfc: return (self.#adcT & 0x0f) << 4;
      case 0xfd: return self.#adcH >> 8;
      case 0xfe: return self.#adcH & 0xff;
      default: return 0;
    }
  }

  writeRegister(register: number, value: number): void {
    const now = this.#clock.now();
    switch (register) {
      case 0xe0:
        if (value === 0xb6) Bmx280Sim.#resetControl(this);
        return;
      case 0xf2:
        if (this.variant === "bme280") this.#ctrlHum = value & 0x07;
        return;
      case 0xf5:
        this.#config = value & 0xfd;
        return;
      case 0xf4: {
        this.#ctrlMeas = value;
        this.#osH = OS[this.#ctrlHum & 7];
        const mode = value & 3;
        this.#forcedStart = -1;
        this.#normalStart = -1;
        if (mode === 1 || mode === 2) this.#forcedStart = now;
        else if (mode === 3) {
          this.#normalStart = now;
          this.#lastCycle = -1;
        }
        return;
      }
      default:
        if (register >= 0x88 && register <= 0xa1) return; // trimming NVM: read-only
        if (register >= 0xe1 && register <= 0xf0) return;
        throw new I2cNackError("data", `BMx280: register 0x${register.toString(16)} is not writable`);
    }
  }

  /** Typical measurement time (ms) for the current settings. */
  measurementTime(): number {
    const osT = OS[this.#ctrlMeas >> 5];
    const osP = OS[(this.#ctrlMeas >> 2) & 7];
    const osH = this.variant === "bme280" ? this.#osH : 0;
    return 1 + 2 * osT + (osP ? 2 * osP + 0.5 : 0) + (osH ? 2 * osH + 0.5 : 0);
  }

  static #standby(self: Bmx280Sim): number {
    return (self.variant === "bme280" ? BME_STANDBY : BMP_STANDBY)[self.#config >> 5];
  }

  static #measuring(self: Bmx280Sim): boolean {
    const now = self.#clock.now();
    if (self.#faults?.stuckBusy && (self.#forcedStart >= 0 || self.#normalStart >= 0)) return true;
    if (self.#forcedStart >= 0) return now < self.#forcedStart + self.measurementTime();
    if (self.#normalStart >= 0) {
      const cycle = self.measurementTime() + Bmx280Sim.#standby(self);
      return (now - self.#normalStart) % cycle < self.measurementTime();
    }
    return false;
  }

  /** Runs the conversions that completed by now. */
  static #update(self: Bmx280Sim): void {
    if (self.#faults?.stuckBusy) return;
    const now = self.#clock.now();
    if (self.#forcedStart >= 0 && now >= self.#forcedStart + self.measurementTime()) {
      const at = self.#forcedStart + self.measurementTime();
      self.#forcedStart = -1;
      self.#ctrlMeas &= ~3; // back to sleep (§3.3.3)
      Bmx280Sim.#convert(self, at);
    }
    if (self.#normalStart >= 0) {
      const tm = self.measurementTime();
      const cycle = tm + Bmx280Sim.#standby(self);
      const latest = Math.floor((now - self.#normalStart - tm) / cycle);
      // the IIR filter settles within a few hundred steps: older cycles cannot matter
      for (let k = Math.max(self.#lastCycle + 1, latest - 256); k <= latest; k++) Bmx280Sim.#convert(self, self.#normalStart + k * cycle + tm);
      if (latest > self.#lastCycle) self.#lastCycle = latest;
    }
  }

  static #convert(self: Bmx280Sim, at: number): void {
    self.conversions++;
    const c = self.calibration;
    const osT = OS[self.#ctrlMeas >> 5];
    const osP = OS[(self.#ctrlMeas >> 2) & 7];
    const coef = FILTER[(self.#config >> 2) & 7];
    let adcT = 0x80000;
    if (osT) {
      // The previous conversion (the registers) is the search's starting point.
      const raw = invertTemperature(c, self.#env.temperature(at), 1, self.#adcT === 0x80000 ? -1 : self.#adcT);
      adcT = Bmx280Sim.#filter(self, "T", raw, coef, osT);
    }
    let adcP = 0x80000;
    if (osP && osT) {
      const raw = invertPressure(c, self.#env.pressure(at), temperatureFine(c, adcT), 1, self.#adcP === 0x80000 ? -1 : self.#adcP);
      adcP = Bmx280Sim.#filter(self, "P", raw, coef, osP);
    }
    self.#adcP = adcP;
    self.#adcT = adcT;
    if (self.variant === "bme280") self.#adcH = self.#osH && osT ? invertHumidity(c, self.#env.humidity(at), temperatureFine(c, adcT), self.#adcH === 0x8000 ? -1 : self.#adcH) : 0x8000;
  }

  /** IIR filter on the raw value, then the ADC resolution: 20 bits with the filter, 16 + log2(osr) without. */
  static #filter(self: Bmx280Sim, which: "T" | "P", raw: number, coef: number, os: number): number {
    if (!coef) {
      if (which === "T") self.#filtT = undefined;
      else self.#filtP = undefined;
      const step = 16 / os;
      return Math.round(raw / step) * step;
    }
    const prev = which === "T" ? self.#filtT : self.#filtP;
    const next = prev === undefined ? raw : (prev * (coef - 1) + raw) / coef;
    if (which === "T") self.#filtT = next;
    else self.#filtP = next;
    return Math.min(0xfffff, Math.max(0, Math.round(next)));
  }

  static #resetControl(self: Bmx280Sim): void {
    self.#ctrlHum = self.#ctrlMeas = self.#config = 0;
    self.#adcP = self.#adcT = 0x80000;
    self.#adcH = 0x8000;
    self.#forcedStart = -1;
    self.#normalStart = -1;
    self.#filtT = self.#filtP = undefined;
  }
}
Object.assign(Bmx280Sim.prototype, { variant: "bme280", calibration: DATASHEET_CALIBRATION, nvm: DATASHEET_NVM });
