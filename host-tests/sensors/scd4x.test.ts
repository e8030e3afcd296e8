// @xs
import { Scd4x } from "../../modules/sensors/scd4x";
import { Scd4xSim } from "../../sim/devices/scd4x";
import { ramp } from "../../sim/environment";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { rig } from "./helpers";

function setup(spec = {}, config: any = { mode: "periodic" }, variant: "scd40" | "scd41" = "scd41") {
  const r = rig(spec);
  const chip = new Scd4xSim({ clock: r.clock, environment: r.environment, variant });
  r.bus.attach(0x62, chip);
  const sensor = new Scd4x({ sensor: { io: r.bus.I2C }, scheduler: r.scheduler, onError: r.onError, variant, ...config });
  return { ...r, chip, sensor };
}

describe("SCD4x driver against the simulated chip", () => {
  it.each([
    [400, -10, 10],
    [800, 22, 45],
    [5000, 40, 90],
    [40000, 60, 100],
  ])("periodic: %d ppm, %d °C, %d %%RH", (co2, t, rh) => {
    const { sensor, measure, errors, clock } = setup({ co2, temperature: t, humidity: rh });
    const s = measure(sensor);
    expect(errors).toEqual([]);
    expect(s.carbonDioxideDetector!.CO2).toBe(co2);
    expect(Math.abs(s.thermometer!.temperature - t)).toBeLessThanOrEqual(175 / 65535);
    expect(Math.abs(s.hygrometer!.humidity - rh)).toBeLessThanOrEqual(100 / 65535);
    // stop (500 ms) + the first 5 s interval + command waits
    expect(clock.now()).toBeGreaterThanOrEqual(5500);
    expect(clock.now()).toBeLessThan(5600);
  });

  it("constructor stops a running measurement (0x3F86) and waits 500 ms before starting (0x21B1)", () => {
    const { chip, clock } = setup();
    expect(chip.commands).toEqual([0x3f86]);
    clock.advance(499);
    expect(chip.mode).toBe("idle");
    clock.advance(1);
    expect(chip.commands).toEqual([0x3f86, 0x21b1]);
    expect(chip.mode).toBe("periodic");
  });

  it("sample() returns the newest measured value within one interval, then undefined", () => {
    const { sensor, measure, clock } = setup({ co2: ramp(500, 1500, 0, 60_000) });
    expect(sensor.sample()).toBeUndefined();
    const a = measure(sensor);
    expect(sensor.sample()).toEqual(a);
    clock.advance(5001);
    expect(sensor.sample()).toBeUndefined();
    const b = measure(sensor);
    expect(b.carbonDioxideDetector!.CO2).toBeGreaterThan(a.carbonDioxideDetector!.CO2);
  });

  it("periodic, sampled faster than the chip measures: the newest result at once while it is within its interval, then the next one (datasheet §3: periodic measurement gives one result per 5 s)", () => {
    const { sensor, measure, clock, chip, errors } = setup({ co2: ramp(500, 1500, 0, 60_000) });
    const a = measure(sensor);
    const t0 = clock.now();
    clock.advance(1000);
    const reads = chip.commands.filter((c) => c === 0xec05).length;
    const b = measure(sensor);
    // no new data ready yet: the same result, without waiting and without a read_measurement
    expect(b).toEqual(a);
    expect(clock.now() - t0).toBeLessThan(1000 + 10);
    expect(chip.commands.filter((c) => c === 0xec05).length).toBe(reads);
    clock.advance(4200);
    const c = measure(sensor);
    // past the interval: a new result, read from the chip
    expect(c.carbonDioxideDetector!.CO2).toBeGreaterThan(a.carbonDioxideDetector!.CO2);
    expect(chip.commands.filter((x) => x === 0xec05).length).toBe(reads + 1);
    expect(errors).toEqual([]);
  });

  it("periodic, a step that runs late across the chip's next result: asks again at once instead of sleeping a whole interval (a busy event loop stacked a fleet device's sampling passes for 5 s)", () => {
    const r = rig({ co2: 777 });
    // The host timers of this scheduler fire `late.ms` after they are due, as on a loaded host.
    const late = { ms: 0 };
    const clock = { now: () => r.clock.now(), epoch: () => r.clock.epoch(), setTimer: (cb: () => void, ms: number) => r.clock.setTimer(cb, ms + late.ms), clearTimer: (h: unknown) => r.clock.clearTimer(h as never) };
    const scheduler = new Scheduler({ clock });
    const chip = new Scd4xSim({ clock: r.clock, environment: r.environment, variant: "scd41" });
    r.bus.attach(0x62, chip);
    const sensor = new Scd4x({ sensor: { io: r.bus.I2C }, scheduler, onError: r.onError, mode: "periodic" });
    const start = 500; // the start command, after the 500 ms stop (see the constructor test)
    r.clock.advance(start + 1);
    expect(chip.mode).toBe("periodic");
    // 50 ms before the first result is due (start + 5 s), with no result kept yet: the data-ready
    // question says "not yet", and the step after it runs 100 ms late, past the result.
    r.clock.advanceTo(start + 5000 - 50);
    late.ms = 100;
    const t0 = r.clock.now();
    const s = r.measure(sensor);
    expect(r.clock.now() - t0).toBeLessThan(400);
    expect(s.carbonDioxideDetector!.CO2).toBe(777);
    expect(r.errors).toEqual([]);
  });

  it("periodic: no data-ready question while the result after the kept one is not due yet (§3.6.2: one result per interval)", () => {
    const { sensor, measure, clock, chip, errors } = setup({ co2: ramp(500, 1500, 0, 60_000) });
    const a = measure(sensor); // the first result, read just after start + 5 s
    const polls = () => chip.commands.filter((c) => c === 0xe4b8).length;
    const before = polls();
    for (let i = 0; i < 40; i++) {
      clock.advance(100);
      const t = clock.now();
      expect(measure(sensor)).toEqual(a);
      expect(clock.now()).toBe(t); // at once: no 1 ms command wait
    }
    expect(polls()).toBe(before);
    clock.advance(1000); // past start + 10 s: the second result is due
    const b = measure(sensor);
    expect(polls()).toBe(before + 1);
    expect(b.carbonDioxideDetector!.CO2).toBeGreaterThan(a.carbonDioxideDetector!.CO2);
    expect(errors).toEqual([]);
  });

  it("SCD41 single shot: 0x219D then 5 s", () => {
    const { sensor, measure, chip, clock } = setup({ co2: 1234 }, { mode: "single" });
    const s = measure(sensor);
    expect(chip.commands).toContain(0x219d);
    expect(s.carbonDioxideDetector!.CO2).toBe(1234);
    expect(clock.now()).toBeGreaterThanOrEqual(5500);
  });

  it("SCD40 refuses single shot at configure time", () => {
    const r = rig();
    r.bus.attach(0x62, new Scd4xSim({ clock: r.clock, environment: r.environment, variant: "scd40" }));
    expect(() => new Scd4x({ sensor: { io: r.bus.I2C }, scheduler: r.scheduler, mode: "single" })).toThrow(/SCD41/);
  });

  it("low-power periodic mode: 30 s interval", () => {
    const { sensor, measure, chip, clock } = setup({ co2: 700 }, { mode: "low-power" });
    const s = measure(sensor);
    expect(chip.commands).toContain(0x21ac);
    expect(s.carbonDioxideDetector!.CO2).toBe(700);
    expect(clock.now()).toBeGreaterThanOrEqual(30500);
  });

  it("serial number (48 bit) while idle", () => {
    const { sensor, chip, clock } = setup({}, { mode: "idle" });
    chip.serial = 0xabcd_ef01_2345;
    let serial: number | undefined;
    sensor.readSerialNumber((s) => { serial = s; });
    clock.advance(600);
    expect(serial).toBe(0xabcd_ef01_2345);
  });

  it("measure() while idle reports an error", () => {
    const { sensor, measure, errors } = setup({}, { mode: "idle" });
    expect(measure(sensor)).toEqual({});
    expect(errors[0].message).toMatch(/SCD4x at 0x62: measure: sensor is idle/);
  });

  describe("faults", () => {
    it("stuck busy (data never ready): gives up after two intervals with an error", () => {
      const { sensor, chip, measure, errors, clock } = setup();
      chip.faults.stuckBusy = true;
      expect(measure(sensor)).toEqual({});
      expect(errors[0].message).toMatch(/no data ready/);
      expect(clock.now()).toBeLessThan(20_000);
    });

    it("CRC error on the CO2 word: CO2 left out, T and RH kept", () => {
      const { sensor, chip, errors, clock } = setup();
      clock.advance(5600);
      let s: any;
      sensor.measure((x) => { s = x; });
      // the data-ready response was prepared with a good CRC; corrupt what follows
      chip.faults.crcErrorWord = 0;
      clock.advance(10);
      expect(s.carbonDioxideDetector).toBeUndefined();
      expect(s.thermometer).toBeDefined();
      expect(s.hygrometer).toBeDefined();
      expect(errors[0].message).toMatch(/read CO2: CRC mismatch/);
    });

    it("CRC error on the CO2 word: sample() keeps the temperature and humidity read, not the CO2 (§3.5.2 words kept raw)", () => {
      const { sensor, chip, clock } = setup();
      clock.advance(5600);
      let s: any;
      sensor.measure((x) => { s = x; });
      chip.faults.crcErrorWord = 0;
      clock.advance(10);
      const kept = sensor.sample()!;
      expect(kept).toEqual(s);
      expect(Object.keys(kept).sort()).toEqual(["hygrometer", "thermometer"]);
      // each call gives a fresh object: a caller changing it changes nothing kept
      kept.thermometer!.temperature = 999;
      expect(sensor.sample()!.thermometer!.temperature).toBe(s.thermometer.temperature);
    });

    it("every word of a result fails its CRC: an empty sample, three errors, and sample() has nothing to give afterwards (not an empty sample)", () => {
      const { sensor, chip, clock, errors } = setup();
      clock.advance(5600);
      let s: any;
      sensor.measure((x) => { s = x; });
      chip.faults.crcError = true; // after the data-ready answer: the measurement's three words
      clock.advance(10);
      expect(s).toEqual({});
      expect(errors.map((e) => e.message).join("\n")).toMatch(/read CO2: CRC mismatch[^]*read temperature: CRC mismatch[^]*read humidity: CRC mismatch/);
      expect(sensor.sample()).toBeUndefined();
    });

    it("address NACK (chip missing): errors, empty sample, nothing thrown", () => {
      const r = rig();
      const sensor = new Scd4x({ sensor: { io: r.bus.I2C }, scheduler: r.scheduler, onError: r.onError, mode: "periodic" });
      expect(() => r.clock.runAll(1000)).not.toThrow();
      expect(r.measure(sensor)).toEqual({});
      expect(r.errors.length).toBeGreaterThanOrEqual(2);
      expect(r.errors[0].message).toMatch(/stop periodic measurement: .*not acknowledged/);
    });

    it("bus timeout on the measurement read", () => {
      const { sensor, bus, measure, errors, clock } = setup();
      clock.advance(5600);
      bus.injectFault({ kind: "timeout", on: "read", count: 2 });
      expect(measure(sensor)).toEqual({});
      expect(errors[0].reason).toMatch(/timeout/);
    });
  });
});
