// @xs
import { Bh1750, bh1750MeasurementTimeMax } from "../../modules/sensors/bh1750";
import { Bh1750Sim } from "../../sim/devices/bh1750";
import { daylight } from "../../sim/environment";
import { rig } from "./helpers";

function setup(spec = {}, config: any = {}, address = 0x23) {
  const r = rig(spec);
  const chip = new Bh1750Sim({ clock: r.clock, environment: r.environment });
  r.bus.attach(address, chip);
  const sensor = new Bh1750({ sensor: { io: r.bus.I2C, address }, scheduler: r.scheduler, onError: r.onError, ...config });
  return { ...r, chip, sensor };
}

describe("BH1750 driver against the simulated chip", () => {
  it.each([0, 0.5, 10, 320, 5000, 54612])("one-time H-resolution reads %d lx within one count (1/1.2 lx)", (lux) => {
    const { sensor, measure, errors } = setup({ light: lux });
    const s = measure(sensor);
    expect(errors).toEqual([]);
    expect(Math.abs(s.lightmeter!.illuminance - lux)).toBeLessThanOrEqual(1 / 1.2);
  });

  it("saturates at 65535 counts (54612 lx) in bright sun", () => {
    const { sensor, measure } = setup({ light: 100000 });
    expect(measure(sensor).lightmeter!.illuminance).toBeCloseTo(65535 / 1.2, 3);
  });

  it("H-resolution mode2 halves the lux per count (0.5 lx resolution)", () => {
    const { sensor, measure, chip } = setup({ light: 12.3 }, { resolution: "high2" });
    const s = measure(sensor);
    expect(chip.commands).toContain(0x21);
    expect(Math.abs(s.lightmeter!.illuminance - 12.3)).toBeLessThanOrEqual(0.5 / 1.2);
  });

  it("L-resolution: 24 ms max wait, 4 lx steps", () => {
    const { sensor, measure, clock } = setup({ light: 1000 }, { resolution: "low" });
    const t0 = clock.now();
    const s = measure(sensor);
    expect(clock.now() - t0).toBeCloseTo(24, 6);
    expect(Math.abs(s.lightmeter!.illuminance - 1000)).toBeLessThanOrEqual(4 / 1.2);
  });

  it("MTreg 254 scales time and sensitivity (lux = raw / 1.2 * 69 / MTreg)", () => {
    const { sensor, measure, clock, chip } = setup({ light: 3.3 }, { measurementTime: 254 });
    expect(chip.mtreg).toBe(254);
    const t0 = clock.now();
    const s = measure(sensor);
    expect(clock.now() - t0).toBeCloseTo(bh1750MeasurementTimeMax("high", 254), 6);
    expect(bh1750MeasurementTimeMax("high", 254)).toBeCloseTo(180 * 254 / 69, 6);
    expect(Math.abs(s.lightmeter!.illuminance - 3.3)).toBeLessThanOrEqual((1 / 1.2) * (69 / 254));
  });

  it("one-time mode powers down by itself; a second sample() is undefined, not stale", () => {
    const { sensor, measure, chip } = setup({ light: 100 });
    measure(sensor);
    expect(chip.powered).toBe(false);
    expect(sensor.sample()).toBeUndefined();
  });

  it("continuous mode follows a day of daylight", () => {
    const { sensor, clock, errors } = setup({ light: daylight(20000) }, { mode: "continuous" });
    expect(sensor.sample()).toBeUndefined(); // first result not due yet
    clock.advance(3 * 3600_000); // 03:00, dark
    expect(sensor.sample()!.lightmeter!.illuminance).toBe(0);
    clock.advance(10 * 3600_000); // 13:00, bright
    expect(sensor.sample()!.lightmeter!.illuminance).toBeGreaterThan(15000);
    expect(errors).toEqual([]);
  });

  it("pace(period): continuous when a one-time conversion (180 ms max) would take more than half the period, so a reading never waits; one-time again for slow sampling", () => {
    const { sensor, measure, clock, chip, errors } = setup({ light: 250 });
    expect(sensor.pace(100)).toBe("continuous");
    expect(chip.commands).toContain(0x10); // p.5: continuously H-resolution mode
    measure(sensor); // the first result: one conversion time after the start
    clock.advance(1000);
    const t0 = clock.now();
    const s = measure(sensor);
    expect(clock.now()).toBe(t0); // the latest conversion, at once
    expect(Math.abs(s.lightmeter!.illuminance - 250)).toBeLessThanOrEqual(1 / 1.2);
    expect(sensor.pace(359)).toBe("continuous");
    expect(sensor.pace(360)).toBe("one-time");
    const t1 = clock.now();
    measure(sensor);
    expect(clock.now() - t1).toBeCloseTo(180, 6); // a one-time conversion again
    expect(chip.powered).toBe(false); // and the chip powers down after it
    expect(() => sensor.pace(0)).toThrow(RangeError);
    expect(() => sensor.pace(NaN)).toThrow(RangeError);
    expect(sensor.pace(5000)).toBe("one-time"); // unchanged by the refused calls
    expect(errors).toEqual([]);
  });

  it("address 0x5C works; bad MTreg is refused", () => {
    const { sensor, measure } = setup({ light: 50 }, {}, 0x5c);
    expect(measure(sensor).lightmeter!.illuminance).toBeCloseTo(50, 0);
    expect(() => sensor.configure({ measurementTime: 30 })).toThrow(/MTreg/);
    expect(() => sensor.configure({ measurementTime: 255 })).toThrow(/MTreg/);
  });

  it("NACK and timeout: onError, illuminance left out", () => {
    const { sensor, bus, measure, errors } = setup();
    bus.injectFault({ kind: "address-nack", on: "read" });
    expect(measure(sensor)).toEqual({});
    expect(errors[0].message).toMatch(/^BH1750 at 0x23: read measurement: .*not acknowledged/);
    bus.injectFault({ kind: "timeout", on: "write" });
    expect(measure(sensor)).toEqual({});
    expect(errors[1].message).toMatch(/start one-time measurement: .*timeout/);
  });
});
