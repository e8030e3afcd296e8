// @xs
/*
 * samplePass (src/sensors.ts): a slow sensor neither holds a sampling pass back nor multiplies
 * readings (issue 15, defect 3). Drivers here are stand-ins that answer at once or after a
 * scheduler delay, the way the real drivers answer from measure(); the virtual clock owns time.
 */
import type { Sample } from "../../modules/sensors/sensor";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { VirtualClock } from "../../sim/virtual-clock";
import { passState, samplePass, type SensorDriver } from "../../src/sensors";

function setup() {
  const clock = new VirtualClock();
  const scheduler = new Scheduler({ clock });
  /** A driver answering `delayMs` after each measure() (0: at once, inside the call), value n++. */
  const driver = (chip: string, group: keyof Sample, delayMs: number) => {
    let n = 0;
    const d = {
      chip,
      asked: 0,
      measure(cb: (s: Sample) => void) {
        d.asked++;
        const v = ++n;
        const answer = () => cb({ [group]: { value: v } } as unknown as Sample);
        if (delayMs === 0) answer();
        else scheduler.after(delayMs, answer);
      },
      close() {},
    };
    return d;
  };
  return { clock, scheduler, driver };
}

describe("samplePass", () => {
  it("closes when every driver answered; drivers that answer at once do not close it before the others are asked", () => {
    const { scheduler, driver } = setup();
    const a = driver("a", "thermometer", 0);
    const b = driver("b", "hygrometer", 0);
    const drivers = [a, b] as unknown as SensorDriver[];
    const got: Sample[] = [];
    samplePass(drivers, passState(drivers), scheduler, 1000, (merged) => got.push(merged));
    expect(got).toEqual([{ thermometer: { value: 1 }, hygrometer: { value: 1 } }]);
    expect(b.asked).toBe(1);
  });

  it("a slow driver: the pass closes at its budget without it, sits the next passes out while busy, and its late answer comes once, in the next pass", () => {
    const { clock, scheduler, driver } = setup();
    const fast = driver("fast", "thermometer", 10);
    const slow = driver("slow", "carbonDioxideDetector", 5000); // an SCD4x's first result
    const drivers = [fast, slow] as unknown as SensorDriver[];
    const state = passState(drivers);
    const got: { at: number; sample: Sample }[] = [];
    const pass = () => samplePass(drivers, state, scheduler, 500, (merged) => got.push({ at: clock.now(), sample: merged }));
    // One pass a second, as the app's sampling job runs them.
    for (let t = 0; t < 7; t++) {
      pass();
      clock.advance(1000);
    }
    // Seven passes, seven readings, each closed by its budget or by its drivers, never in a burst.
    expect(got.map((g) => g.at)).toEqual([500, 1010, 2010, 3010, 4010, 5500, 6010]);
    expect(got.map((g) => g.sample.carbonDioxideDetector)).toEqual([undefined, undefined, undefined, undefined, undefined, { value: 1 }, undefined]);
    expect(got.every((g) => g.sample.thermometer !== undefined)).toBe(true);
    // Asked once while busy (passes 2-5 left it alone), again once it had answered.
    expect(slow.asked).toBe(2);
    expect(fast.asked).toBe(7);
  });

  it("an answer after the pass closed is not given twice: a fresh answer in the next pass replaces it", () => {
    const { clock, scheduler, driver } = setup();
    const late = driver("late", "barometer", 700);
    const drivers = [late] as unknown as SensorDriver[];
    const state = passState(drivers);
    const got: Sample[] = [];
    samplePass(drivers, state, scheduler, 500, (m) => got.push(m)); // closes at 500 empty; answer 1 at 700
    clock.advance(1000);
    samplePass(drivers, state, scheduler, 800, (m) => got.push(m)); // answer 2 at 1700, within 800
    clock.advance(1000);
    expect(got).toEqual([{}, { barometer: { value: 2 } }]);
    samplePass(drivers, state, scheduler, 500, (m) => got.push(m)); // closes at 2500 empty; nothing stale given
    clock.advance(1000);
    expect(got[2]).toEqual({});
  });
});
