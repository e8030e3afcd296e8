// @xs
import { Battery } from "../../modules/sensors/battery";
import { SimAdc, SimAnalog } from "../../sim/devices/analog";
import { ramp } from "../../sim/environment";
import { rig } from "./helpers";

function setup(battery: any = 3.7, ratio = 2, reference = 3.3, resolution = 12) {
  const r = rig({ battery });
  const adc = new SimAdc({ clock: r.clock, reference, resolution, pins: { "2": (t) => r.environment.battery(t) / ratio } });
  const sensor = new Battery({ sensor: { io: adc.Analog, pin: 2 }, reference, dividerRatio: ratio, scheduler: r.scheduler, onError: r.onError });
  return { ...r, adc, sensor };
}

describe("Battery voltage through the ADC", () => {
  it.each([3.0, 3.7, 4.2])("reads %d V through a 1:2 divider within one ADC step", (v) => {
    const { sensor } = setup(v);
    const step = (3.3 * 2) / 4095;
    expect(Math.abs(sensor.sample().battery!.voltage - v)).toBeLessThanOrEqual(step);
  });

  it("volts = raw / (2^resolution - 1) * reference * dividerRatio", () => {
    const { sensor } = setup(3.3, 2, 3.3, 12); // 1.65 V at the pin -> raw 2048
    expect(sensor.sample().battery!.voltage).toBeCloseTo((2048 / 4095) * 3.3 * 2, 9);
  });

  it("follows a discharge ramp; measure() calls back on the scheduler", () => {
    const { sensor, clock, measure } = setup(ramp(4.2, 3.3, 0, 3600_000));
    clock.advance(1800_000);
    expect(measure(sensor).battery!.voltage).toBeCloseTo(3.75, 2);
  });

  it("an ADC failure goes to onError and leaves the field out", () => {
    const { sensor, adc, errors } = setup();
    adc.fail = true;
    expect(sensor.sample()).toEqual({});
    expect(errors[0].message).toMatch(/Battery .*read: Analog: conversion failed/);
  });

  it("bad options throw clear errors", () => {
    const r = rig();
    const adc = new SimAdc({ clock: r.clock, reference: 3.3, pins: { "2": () => 1 } });
    expect(() => new Battery({ sensor: { io: adc.Analog, pin: 2 }, reference: 0, dividerRatio: 2 })).toThrow(/reference/);
    expect(() => new Battery({ sensor: { io: adc.Analog, pin: 2 }, reference: 3.3, dividerRatio: 0.5 })).toThrow(/dividerRatio/);
    expect(() => new Battery({ sensor: { io: adc.Analog, pin: 7 }, reference: 3.3, dividerRatio: 2 })).toThrow(/pin 7/);
  });

  it("one Analog class serves every ADC: each instance reads its own ADC's pins and failure flag", () => {
    const r = rig();
    const a = new SimAdc({ clock: r.clock, reference: 3.3, resolution: 12, pins: { "2": () => 3.3 } });
    const b = new SimAdc({ clock: r.clock, reference: 3.3, resolution: 10, pins: { "4": () => 0 } });
    const onA = new a.Analog({ pin: 2 });
    const onB = new b.Analog({ pin: 4 });
    expect(onA).toBeInstanceOf(a.Analog);
    expect(onA).toBeInstanceOf(SimAnalog);
    expect(onA.read()).toBe(4095);
    expect(onB.read()).toBe(0);
    expect(onB.resolution).toBe(10);
    expect(() => new b.Analog({ pin: 2 })).toThrow(/pin 2/);
    a.fail = true;
    expect(() => onA.read()).toThrow("conversion failed");
    expect(onB.read()).toBe(0);
    expect(() => new SimAnalog({ pin: 2 } as never, undefined as never)).toThrow(TypeError);
  });

  it("an ADC's inputs are the own pins given at construction (a name like toString is no pin)", () => {
    const r = rig();
    const pins: Record<string, (t: number) => number> = { "2": () => 1.65 };
    const adc = new SimAdc({ clock: r.clock, reference: 3.3, pins });
    expect(() => new adc.Analog({ pin: "toString" as never })).toThrow(RangeError);
    expect(() => new adc.Analog({ pin: "constructor" as never })).toThrow(RangeError);
    expect(new adc.Analog({ pin: 2 }).read()).toBe(2048);
    expect(adc.input("2")!(0)).toBe(1.65);
    expect(adc.input("3")).toBeUndefined();
  });

  it("a pin's source may be an object with volts(timeMs); several pins each read their own; a bad source throws", () => {
    const r = rig();
    const source = { k: 0.5, volts(t: number) { return this.k + t / 1000; } };
    const adc = new SimAdc({ clock: r.clock, reference: 3.3, resolution: 12, pins: { "2": source, "4": () => 3.3, "6": () => 0 } });
    expect(adc.volts("2", 1000)).toBe(1.5);
    expect(adc.input("2")!(2000)).toBe(2.5);
    expect(new adc.Analog({ pin: 4 }).read()).toBe(4095);
    expect(new adc.Analog({ pin: 6 }).read()).toBe(0);
    expect(new adc.Analog({ pin: 2 }).read()).toBe(Math.round((0.5 / 3.3) * 4095));
    expect(adc.has("3")).toBe(false);
    expect(() => adc.volts("3", 0)).toThrow(RangeError);
    const one = new SimAdc({ clock: r.clock, reference: 3.3, pins: { "2": source } });
    expect(one.has("2")).toBe(true);
    expect(one.has("4")).toBe(false);
    expect(() => new one.Analog({ pin: 4 })).toThrow(RangeError);
    expect(() => new SimAdc({ clock: r.clock, reference: 3.3, pins: { "2": 3 as never } })).toThrow(TypeError);
  });

  it("a closed analog input refuses reads; target is kept only when given", () => {
    const r = rig();
    const adc = new SimAdc({ clock: r.clock, reference: 3.3, pins: { "2": () => 1 } });
    const a = new adc.Analog({ pin: 2, target: "t" } as never);
    const b = new adc.Analog({ pin: 2 });
    expect(a.target).toBe("t");
    expect(b.target).toBeUndefined();
    b.close();
    expect(() => b.read()).toThrow("closed");
    expect(a.read()).toBe(1241);
  });
});
