// @xs
/*
 * indoorDay is one object per device whose methods are the quantities (a
 * SignalSet) instead of composed closures; these checks hold it to the
 * composition it stands for (sim/environment's combinators), value for value.
 */
import { clamp, daylight, Environment, noisy, ramp, sine, SignalSet, sum, type Quantity, type Signal } from "../../sim/environment";
import { indoorDay } from "../../sim/scenarios";

const HOUR = 3_600_000;

/** indoorDay written with the combinators, as it was. */
function composed(seed: number, startHour: number): Record<string, Signal> {
  const shift = (s: Signal) => (t: number) => s(t + startHour * HOUR);
  return {
    temperature: noisy(shift(sine({ mean: 21.5, amplitude: 2.5, peakAtMs: 15 * HOUR })), 0.05, seed),
    humidity: clamp(noisy(shift(sine({ mean: 45, amplitude: -8, peakAtMs: 15 * HOUR })), 0.3, seed + 1), 0, 100),
    pressure: noisy(shift(sine({ mean: 101_325, amplitude: 150, periodMs: 12 * HOUR })), 2, seed + 2),
    light: noisy(shift(daylight(650, 7, 19)), 3, seed + 3),
    co2: clamp(noisy(shift(sum(sine({ mean: 650, amplitude: 250, peakAtMs: 14 * HOUR }))), 8, seed + 4), 400, 40_000),
    battery: noisy(ramp(4.05, 3.95, 0, 24 * HOUR), 0.003, seed + 5),
  };
}

describe("indoorDay", () => {
  it.each([
    [1, 9],
    [2, 9],
    [7919, 0],
    [123457, 13],
  ])("seed %d, start hour %d: every quantity equals its composition over three days", (seed, startHour) => {
    const fast = indoorDay(seed, startHour);
    const slow = composed(seed, startHour);
    let mismatches = 0;
    let checked = 0;
    for (let t = -5000; t < 3 * 24 * HOUR; t += 3_333_337) {
      for (const q of Object.keys(slow) as Quantity[]) {
        if (fast[q](t) !== slow[q](t) || fast[q](t + 0.5) !== slow[q](t + 0.5)) mismatches++;
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(400);
    expect(mismatches).toBe(0);
  });

  it("different seeds give different noise; the same seed the same values", () => {
    const a = new Environment(indoorDay(1));
    const b = new Environment(indoorDay(2));
    const a2 = new Environment(indoorDay(1));
    expect(a.temperature(60_000)).not.toBe(b.temperature(60_000));
    expect(a.temperature(60_000)).toBe(a2.temperature(60_000));
    expect(a.co2(10 * HOUR)).toBeGreaterThanOrEqual(400);
  });
});

describe("Environment over a SignalSet", () => {
  it("reads the set's methods (raw through value(), clamped through the quantity); set() on it copies and leaves the set and its other Environments alone", () => {
    const day = indoorDay(4);
    expect(day).toBeInstanceOf(SignalSet);
    const a = new Environment(day);
    const b = new Environment(day);
    const t = 5 * HOUR + 123;
    expect(a.value("pressure", t)).toBe(day.pressure(t));
    expect(a.co2(t)).toBe(Math.max(0, day.co2(t)));
    a.set("temperature", 40);
    expect(a.temperature(t)).toBe(40);
    expect(a.humidity(t)).toBe(day.humidity(t)); // the other quantities still the set's
    expect(b.temperature(t)).toBe(day.temperature(t));
    expect(day.temperature(t)).not.toBe(40);
    expect(new Environment(day).temperature(t)).toBe(day.temperature(t));
  });

  it("rejects a non-function signal in set() and changes nothing", () => {
    const day = indoorDay(4);
    const a = new Environment(day);
    expect(() => a.set("light", "bright" as unknown as number)).toThrow(TypeError);
    expect(a.light(HOUR)).toBe(Math.max(0, day.light(HOUR)));
  });
});

describe("Environment defaults", () => {
  it("quantities not in the spec read their defaults; setting one leaves the others and other environments alone", () => {
    const a = new Environment({ temperature: 30 });
    const b = new Environment();
    a.set("humidity", 80);
    expect(a.temperature(0)).toBe(30);
    expect(a.humidity(0)).toBe(80);
    expect(a.pressure(0)).toBe(101325);
    expect(b.humidity(0)).toBe(45);
    expect(b.temperature(0)).toBe(21.5);
  });
});
