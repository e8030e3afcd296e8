/*
 * The Bosch integer compensation formulas, BME280 datasheet (BST-BME280-DS002)
 * §4.2.3 and BMP280 datasheet (BST-BMP280-DS001) §3.11.3, revision 1.1 of the
 * code: temperature in 32-bit integers, pressure in 64-bit integers,
 * humidity in 32-bit integers.
 *
 * 32-bit arithmetic: JavaScript's `>>` and `<<` already work on int32 as the
 * datasheet's BME280_S32_t; products go through Math.imul so an overflow wraps
 * as two's complement, exactly as the 32-bit C would on the chip's intended
 * targets (with realistic calibration values nothing overflows).
 *
 * 64-bit pressure: the intermediate values reach about 2^62 ((p << 31) * 3125),
 * beyond the 2^53 a double holds exactly. compensatePressure computes it in
 * doubles, splitting the two products that pass 2^53 for real chips, and falls
 * back to BigInt when any value leaves the exact range; the tests compare both
 * with 20,000 random inputs on Node and on XS. C's int64 `>>` is a floor
 * division by 2^n and its `/` truncates toward zero; the BigInt version spells
 * the shift of a negative value as a division (XS 13 gets -256n >> 8n wrong).
 * (The datasheets' alternative 32-bit pressure formula is less accurate; we do
 * not use it.)
 */

export interface Bmx280Calibration {
  T1: number; T2: number; T3: number;
  P1: number; P2: number; P3: number; P4: number; P5: number; P6: number; P7: number; P8: number; P9: number;
  /** Humidity trimming (BME280 only). */
  H1?: number; H2?: number; H3?: number; H4?: number; H5?: number; H6?: number;
}

const u16 = (b: ArrayLike<number>, o: number) => b[o] | (b[o + 1] << 8);
const s16 = (b: ArrayLike<number>, o: number) => (u16(b, o) << 16) >> 16;

/** Parses 0x88..0x9F (24 bytes; 26 with 0xA0/0xA1) and, for the BME280, 0xE1..0xE7 (7 bytes) plus dig_H1 at 0xA1. */
export function parseCalibration(tp: ArrayLike<number>, humidity?: ArrayLike<number>, h1?: number): Bmx280Calibration {
  const c: Bmx280Calibration = {
    T1: u16(tp, 0), T2: s16(tp, 2), T3: s16(tp, 4),
    P1: u16(tp, 6), P2: s16(tp, 8), P3: s16(tp, 10), P4: s16(tp, 12), P5: s16(tp, 14),
    P6: s16(tp, 16), P7: s16(tp, 18), P8: s16(tp, 20), P9: s16(tp, 22),
  };
  if (humidity) {
    const e = humidity;
    c.H1 = h1 ?? 0;
    c.H2 = s16(e, 0); // 0xE1/0xE2
    c.H3 = e[2]; // 0xE3
    // 0xE4 / 0xE5[3:0] -> dig_H4 [11:4] / [3:0]; 0xE5[7:4] / 0xE6 -> dig_H5 [3:0] / [11:4]; both signed 12-bit
    c.H4 = (((e[3] << 24) >> 20) | (e[4] & 0x0f));
    c.H5 = (((e[5] << 24) >> 20) | (e[4] >> 4));
    c.H6 = (e[6] << 24) >> 24; // 0xE7, signed char
  }
  return c;
}

/** Encodes a calibration into register bytes (0x88..0xA1: 26 bytes, 0xE1..0xE7: 7 bytes). For the simulator and tests. */
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

/** t_fine from a 20-bit adc_T (BME280_compensate_T_int32, first half). */
export function temperatureFine(c: Bmx280Calibration, adcT: number): number {
  const var1 = Math.imul((adcT >> 3) - (c.T1 << 1), c.T2) >> 11;
  const d = (adcT >> 4) - c.T1;
  const var2 = Math.imul(Math.imul(d, d) >> 12, c.T3) >> 14;
  return (var1 + var2) | 0;
}

/** Temperature in 0.01 °C ("5123" is 51.23 °C). */
export function compensateTemperature(tFine: number): number {
  return (Math.imul(tFine, 5) + 128) >> 8;
}

/**
 * Pressure in Pa as Q24.8 (divide by 256), from the 64-bit formula; 0 when the calibration would
 * divide by zero. Computed in doubles where every intermediate value stays within 2^53, where a
 * double holds an integer exactly (the case for real chips in their -40..85 °C range); any value
 * beyond it sends the whole computation to the BigInt version, so the result is always the int64
 * one. The doubles avoid about twenty BigInt allocations per reading (on XS each one is a chunk
 * in the heap).
 */
export function compensatePressure(c: Bmx280Calibration, adcP: number, tFine: number): number {
  const p = pressureInDoubles(c, adcP, tFine);
  return p === p ? p : compensatePressureBig(c, adcP, tFine); // NaN: a value left the exact range
}

const SAFE = Number.MAX_SAFE_INTEGER;
const TWO_24 = 16777216;

/** x >> n for an int64 x held exactly in a double: floor division by 2^n (C's arithmetic shift). */
function shr(x: number, n: number): number {
  return Math.floor(x / 2 ** n);
}

/**
 * The 64-bit formula in doubles, NaN when an intermediate value would leave the exact range
 * (exported for the tests that compare it with the BigInt version).
 * Two products can exceed 2^53 for real chips and are taken apart:
 *  - ((2^47 + var1) * dig_P1) >> 33: the 48-bit factor is split into 24-bit halves, so each
 *    partial product is below 2^40 and the low half's part below 2^-9 cannot change the floor;
 *  - ((p << 31) - var2) * 3125 / var1: long division by var1 of the 53-bit dividend in 20-bit
 *    chunks, each partial remainder below var1 * 2^20, truncated toward zero as C's int64 `/`.
 */
export function pressureInDoubles(c: Bmx280Calibration, adcP: number, tFine: number): number {
  // Each product checked on its own: two inexact terms could cancel to a small, wrong sum.
  let var1 = tFine - 128000;
  const sq = var1 * var1;
  const a = sq * c.P6;
  const b5 = var1 * c.P5 * 131072; // (var1 * P5) << 17
  const a3 = sq * c.P3;
  const b2 = var1 * c.P2 * 4096; // (var1 * P2) << 12
  if (!(sq <= SAFE && Math.abs(a) <= SAFE && Math.abs(b5) <= SAFE && Math.abs(a3) <= SAFE && Math.abs(b2) <= SAFE)) return NaN;
  const var2 = a + b5 + c.P4 * 34359738368; // + (P4 << 35)
  if (!(Math.abs(var2) <= SAFE / 4)) return NaN; // then |(p << 31) - var2| < 2^53 below
  var1 = shr(a3, 8) + b2;
  const x = 140737488355328 + var1; // (1 << 47) + var1
  if (!(x >= 0 && x < 2 ** 48)) return NaN;
  const xh = Math.floor(x / TWO_24);
  const xl = x - xh * TWO_24;
  if (!(c.P1 >= 0 && c.P1 < 65536)) return NaN;
  var1 = Math.floor((xh * c.P1 + Math.floor((xl * c.P1) / TWO_24)) / 512); // (x * P1) >> 33
  if (var1 === 0) return 0; // the datasheet's guard against division by zero
  const p31 = (1048576 - adcP) * 2147483648; // p << 31
  if (!(Math.abs(p31) <= SAFE / 2)) return NaN;
  const d = p31 - var2;
  let q = divide(Math.abs(d), var1);
  if (q !== q) return NaN;
  if (d < 0) q = -q;
  const s = shr(q, 13);
  const ss = s * s;
  if (!(ss <= SAFE)) return NaN;
  const ssh = Math.floor(ss / 33554432);
  var1 = c.P9 * ssh + shr(c.P9 * (ss - ssh * 33554432), 25); // (P9 * s * s) >> 25
  const p8 = c.P8 * q;
  if (!(Math.abs(p8) <= SAFE)) return NaN;
  const sum = q + var1 + shr(p8, 19); // p + var1 + ((P8 * p) >> 19)
  if (!(Math.abs(sum) <= SAFE)) return NaN;
  const out = shr(sum, 8) + c.P7 * 16; // + (P7 << 4)
  return out >>> 0; // (BME280_U32_t)p: modulo 2^32
}

/** trunc(n * 3125 / v) for 0 <= n < 2^53 and 0 < v < 2^32, exactly; NaN when the quotient would not be exact. */
function divide(n: number, v: number): number {
  if (!(v > 0 && v < 4294967296)) return NaN;
  const hi = Math.floor(n / 1099511627776); // bits 40..52
  const mid = Math.floor(n / 1048576) - hi * 1048576; // bits 20..39
  const lo = n - Math.floor(n / 1048576) * 1048576; // bits 0..19
  let quotient = 0;
  let rest = 0;
  // Three chunks, each multiplied by 3125 (< 2^12): the partial dividend stays below 2^53.
  for (let i = 0; i < 3; i++) {
    const chunk = (i === 0 ? hi : i === 1 ? mid : lo) * 3125;
    const part = rest * 1048576 + chunk;
    let q = Math.floor(part / v);
    let r = part - q * v;
    if (r < 0) {
      q--;
      r += v;
    } else if (r >= v) {
      q++;
      r -= v;
    }
    quotient = quotient * 1048576 + q;
    rest = r;
  }
  return quotient <= SAFE ? quotient : NaN;
}

/**
 * x >> n for a BigInt, as C's arithmetic shift (floor division by 2^n), written with `/` (which
 * truncates toward zero) because the XS 13 of our CI gives (-256n >> 8n) === -2n: one too low
 * for a negative exact multiple of 2^n.
 */
function sar(x: bigint, n: bigint): bigint {
  if (x >= 0n) return x >> n;
  const d = 1n << n;
  return -((-x + d - 1n) / d);
}

/** The datasheet's 64-bit formula in BigInt: the reference, and the fallback beyond the exact range of doubles. */
export function compensatePressureBig(c: Bmx280Calibration, adcP: number, tFine: number): number {
  let var1 = BigInt(tFine) - 128000n;
  let var2 = var1 * var1 * BigInt(c.P6);
  var2 = var2 + ((var1 * BigInt(c.P5)) << 17n);
  var2 = var2 + (BigInt(c.P4) << 35n);
  var1 = sar(var1 * var1 * BigInt(c.P3), 8n) + ((var1 * BigInt(c.P2)) << 12n);
  var1 = sar(((1n << 47n) + var1) * BigInt(c.P1), 33n);
  if (var1 === 0n) return 0; // the datasheet's guard against division by zero
  let p = 1048576n - BigInt(adcP);
  p = (((p << 31n) - var2) * 3125n) / var1;
  var1 = sar(BigInt(c.P9) * sar(p, 13n) * sar(p, 13n), 25n);
  var2 = sar(BigInt(c.P8) * p, 19n);
  p = sar(p + var1 + var2, 8n) + (BigInt(c.P7) << 4n);
  return Number(BigInt.asUintN(32, p)); // (BME280_U32_t)p
}

/** Humidity in %RH as Q22.10 (divide by 1024), BME280 only. */
export function compensateHumidity(c: Bmx280Calibration, adcH: number, tFine: number): number {
  const H1 = c.H1 ?? 0, H2 = c.H2 ?? 0, H3 = c.H3 ?? 0, H4 = c.H4 ?? 0, H5 = c.H5 ?? 0, H6 = c.H6 ?? 0;
  let v = (tFine - 76800) | 0;
  const a = ((((adcH << 14) - (H4 << 20) - Math.imul(H5, v)) | 0) + 16384) >> 15;
  const t1 = Math.imul(v, H6) >> 10;
  const t2 = ((Math.imul(v, H3) >> 11) + 32768) | 0;
  const t3 = ((Math.imul(t1, t2) >> 10) + 2097152) | 0;
  const t4 = (Math.imul(t3, H2) + 8192) >> 14;
  v = Math.imul(a, t4);
  v = (v - ((Math.imul(Math.imul(v >> 15, v >> 15) >> 7, H1)) >> 4)) | 0;
  v = v < 0 ? 0 : v;
  v = v > 419430400 ? 419430400 : v;
  return v >>> 12;
}
