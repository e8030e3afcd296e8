// @xs
import { SHT4X_DURATION_MAX, Sht4x } from "../../modules/sensors/sht4x";
import { Sht4xSim } from "../../sim/devices/sht4x";
import { rig } from "./helpers";

function setup(spec = {}) {
  const r = rig(spec);
  const chip = new Sht4xSim({ clock: r.clock, environment: r.environment });
  r.bus.attach(0x44, chip);
  const sensor = new Sht4x({ sensor: { io: r.bus.I2C, address: 0x44 }, scheduler: r.scheduler, onError: r.onError });
  return { ...r, chip, sensor };
}

describe("SHT4x driver against the simulated chip", () => {
  it.each([
    [-40, 0],
    [0, 12],
    [25, 50],
    [70, 95],
    [125, 100],
  ])("reads %d °C / %d %%RH (§4.6 conversion, RH cropped to 0..100)", (t, rh) => {
    const { sensor, measure, errors } = setup({ temperature: t, humidity: rh });
    const s = measure(sensor);
    expect(errors).toEqual([]);
    expect(Math.abs(s.thermometer!.temperature - t)).toBeLessThanOrEqual(175 / 65535);
    expect(Math.abs(s.hygrometer!.humidity - rh)).toBeLessThanOrEqual(125 / 65535);
    expect(s.hygrometer!.humidity).toBeLessThanOrEqual(100);
    expect(s.hygrometer!.humidity).toBeGreaterThanOrEqual(0);
  });

  it.each([
    ["high", 0xfd],
    ["medium", 0xf6],
    ["low", 0xe0],
  ])("precision %s sends 0x%s and waits the Table 6 maximum", (precision, cmd) => {
    const { sensor, chip, clock, measure } = setup();
    sensor.configure({ precision: precision as any });
    const t0 = clock.now();
    measure(sensor);
    expect(chip.commands[chip.commands.length - 1]).toBe(cmd);
    expect(clock.now() - t0).toBeCloseTo(SHT4X_DURATION_MAX[precision as "high"], 6);
  });

  it("heater pulse 200 mW / 1 s: command 0x39, 1.1 s wait, hotter reading", () => {
    const { sensor, chip, clock, measure } = setup({ temperature: 20 });
    sensor.configure({ heater: { power: 200, duration: 1000 } });
    const t0 = clock.now();
    const s = measure(sensor);
    expect(chip.commands[chip.commands.length - 1]).toBe(0x39);
    expect(clock.now() - t0).toBeCloseTo(1100, 6);
    expect(s.thermometer!.temperature).toBeGreaterThan(25);
    sensor.configure({ heater: null });
    expect(measure(sensor).thermometer!.temperature).toBeCloseTo(20, 1);
  });

  it("rejects an unknown heater setting", () => {
    const { sensor } = setup();
    expect(() => sensor.configure({ heater: { power: 150 as any, duration: 1000 } })).toThrow(/heater/);
    expect(() => sensor.configure({ precision: "ultra" as any })).toThrow(/precision/);
  });

  it("reads the serial number through the scheduler", () => {
    const { sensor, chip, clock } = setup();
    chip.serial = 0x12345678;
    let serial: number | undefined;
    sensor.readSerialNumber((s) => { serial = s; });
    expect(serial).toBeUndefined();
    clock.advance(1);
    expect(serial).toBe(0x12345678);
  });

  it("serial number: a CRC error gives undefined and a report; a callback that throws is reported, not thrown", () => {
    const { sensor, chip, clock, errors } = setup();
    chip.faults.crcErrorWord = 1;
    let serial: number | undefined = 1;
    sensor.readSerialNumber((s) => { serial = s; });
    clock.advance(1);
    expect(serial).toBeUndefined();
    expect(errors.map((e) => e.message)).toEqual(["SHT4x at 0x44: read serial number: CRC mismatch"]);
    chip.faults.crcErrorWord = undefined;
    sensor.readSerialNumber(() => { throw new Error("app bug"); });
    clock.advance(1);
    expect(errors[1].message).toBe("SHT4x at 0x44: serial number callback: app bug");
  });

  it("CRC error on the temperature word leaves temperature out", () => {
    const { sensor, chip, measure, errors } = setup({ humidity: 33 });
    chip.faults.crcErrorWord = 0;
    const s = measure(sensor);
    expect(s.thermometer).toBeUndefined();
    expect(s.hygrometer!.humidity).toBeCloseTo(33, 2);
    expect(errors[0].message).toMatch(/^SHT4x at 0x44: read temperature: CRC mismatch/);
  });

  it("stuck busy and NACK: onError, nothing in the sample", () => {
    const { sensor, chip, bus, measure, errors } = setup();
    chip.faults.stuckBusy = true;
    expect(measure(sensor)).toEqual({});
    expect(errors[0].message).toMatch(/read measurement: SHT4x measurement not finished/);
    chip.faults.stuckBusy = false;
    bus.injectFault({ kind: "data-nack", on: "write" });
    expect(measure(sensor)).toEqual({});
    expect(errors[1].message).toMatch(/start measurement/);
  });
});
