/*
 * Ready-made environments for the simulator. `indoorDay` is what `npm start`
 * shows: an office over a day, with a little sensor noise, different for each
 * device (seed) so a fleet does not report identical numbers.
 * Portable (no Node API).
 */
import { clamp, daylight, noisy, ramp, sine, sum, type EnvironmentSpec } from "./environment";

const HOUR = 3_600_000;

/** An indoor day: temperature 19–24 °C peaking mid-afternoon, humidity falling as it warms, CO2 rising in office hours. */
export function indoorDay(seed = 1, startHour = 9): EnvironmentSpec {
  const shift = (s: (t: number) => number) => (t: number) => s(t + startHour * HOUR);
  return {
    temperature: noisy(shift(sine({ mean: 21.5, amplitude: 2.5, peakAtMs: 15 * HOUR })), 0.05, seed),
    humidity: clamp(noisy(shift(sine({ mean: 45, amplitude: -8, peakAtMs: 15 * HOUR })), 0.3, seed + 1), 0, 100),
    pressure: noisy(shift(sine({ mean: 101_325, amplitude: 150, periodMs: 12 * HOUR })), 2, seed + 2),
    light: noisy(shift(daylight(650, 7, 19)), 3, seed + 3),
    co2: clamp(noisy(shift(sum(sine({ mean: 650, amplitude: 250, peakAtMs: 14 * HOUR }))), 8, seed + 4), 400, 40_000),
    // A LiPo cell draining slowly: 4.05 V to 3.95 V over a day.
    battery: noisy(ramp(4.05, 3.95, 0, 24 * HOUR), 0.003, seed + 5),
  };
}
