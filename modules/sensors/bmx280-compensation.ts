/*
 * The Bosch compensation formulas in double precision floating point: BME280
 * datasheet (BST-BME280-DS002) §8.1 and BMP280 datasheet (BST-BMP280-DS001)
 * §8.1, with the trimming parameters of §4.2.2 (BME280) / §3.11.2 (BMP280).
 *
 * The datasheets give the same compensation three ways: in doubles, in 32-bit
 * integers, and (pressure) in 64-bit integers, the integer ones for
 * controllers without floating point. On XS every JavaScript number is a
 * double, so the double version is the natural one: the 64-bit integer pressure
 * formula needs products up to ~2^62, past the 2^53 a double holds exactly,
 * and took BigInt or products split by hand (2.4 KB of bytecode, against
 * ~0.5 KB for these). The doubles do not truncate, so they are the more
 * accurate of the three; they differ from the integer versions by less than
 * their output steps (0.01 °C, 1/256 Pa, 1/1024 %RH), which
 * host-tests/sensors/bmx280.test.ts checks against the 64-bit formula.
 */

export interface Bmx280Calibration {
  T1: number; T2: number; T3: number;
  P1: number; P2: number; P3: number; P4: number; P5: number; P6: number; P7: number; P8: number; P9: number;
  /** Humidity trimming (BME280 only). */
  H1?: number; H2?: number; H3?: number; H4?: number; H5?: number; H6?: number;
}

const u16 = (b: ArrayLike<number>, o: number) => b[o] | (b[o + 1] << 8);
const s16 = (b: ArrayLike<number>, o: number) => (u16(b, o) << 16) >> 16;

/** Parses 0x88..0xA1 (26 bytes: dig_T1..dig_P9, dig_H1 at 0xA1) and, for the BME280, 0xE1..0xE7 (7 bytes). */
export function parseCalibration(tp: ArrayLike<number>, humidity?: ArrayLike<number>): Bmx280Calibration {
  const c: Bmx280Calibration = {
    T1: u16(tp, 0), T2: s16(tp, 2), T3: s16(tp, 4),
    P1: u16(tp, 6), P2: s16(tp, 8), P3: s16(tp, 10), P4: s16(tp, 12), P5: s16(tp, 14),
    P6: s16(tp, 16), P7: s16(tp, 18), P8: s16(tp, 20), P9: s16(tp, 22),
  };
  if (humidity) {
    const e = humidity;
    c.H1 = tp[25]; // 0xA1
    c.H2 = s16(e, 0); // 0xE1/0xE2
    c.H3 = e[2]; // 0xE3
    // 0xE4 / 0xE5[3:0] -> dig_H4 [11:4] / [3:0]; 0xE5[7:4] / 0xE6 -> dig_H5 [3:0] / [11:4]; both signed 12-bit
    c.H4 = ((e[3] << 24) >> 20) | (e[4] & 0x0f);
    c.H5 = ((e[5] << 24) >> 20) | (e[4] >> 4);
    c.H6 = (e[6] << 24) >> 24; // 0xE7, signed char
  }
  return c;
}

/** t_fine, the temperature term the other formulas take (°C = t_fine / 5120), from the 20-bit adc_T. */
export function temperatureFine(c: Bmx280Calibration, adcT: number): number {
  const x = adcT / 131072 - c.T1 / 8192;
  return (adcT / 16384 - c.T1 / 1024) * c.T2 + x * x * c.T3;
}

/** Pressure in Pa from the 20-bit adc_P; 0 when the trimming would divide by zero (the datasheet's guard). */
export function compensatePressure(c: Bmx280Calibration, adcP: number, tFine: number): number {
  let v1 = Math.trunc(tFine) / 2 - 64000; // the datasheets keep t_fine as an int32
  const v2 = ((v1 * v1 * c.P6) / 32768 + v1 * c.P5 * 2) / 4 + c.P4 * 65536;
  v1 = (1 + ((c.P3 * v1 * v1) / 524288 + c.P2 * v1) / 524288 / 32768) * c.P1;
  if (!v1) return 0;
  const p = ((1048576 - adcP - v2 / 4096) * 6250) / v1;
  return p + ((c.P9 * p * p) / 2147483648 + (p * c.P8) / 32768 + c.P7) / 16;
}

/** Relative humidity in % (0..100) from the 16-bit adc_H, BME280 only. */
export function compensateHumidity(c: Bmx280Calibration, adcH: number, tFine: number): number {
  const v = Math.trunc(tFine) - 76800;
  let h = (adcH - (c.H4! * 64 + (c.H5! / 16384) * v)) * ((c.H2! / 65536) * (1 + (c.H6! / 67108864) * v * (1 + (c.H3! / 67108864) * v)));
  h *= 1 - (c.H1! * h) / 524288;
  return h > 100 ? 100 : h < 0 ? 0 : h;
}
