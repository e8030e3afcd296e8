// @xs
import { sensirionWords } from "../../modules/sensors/crc8";
import { SensorError } from "../../modules/sensors/sensor";
import { SHT3X_DURATION_MAX, Sht3x } from "../../modules/sensors/sht3x";
import { encodeWords, sensirionCrc8, Sht3xSim, SHT3X_HEATER_OFFSET } from "../../sim/devices/sht3x";
import { ramp } from "../../sim/environment";
import { rig } from "./helpers";

function setup(spec = {}, address = 0x44) {
  const r = rig(spec);
  const chip = new Sht3xSim({ clock: r.clock, environment: r.environment });
  r.bus.attach(address, chip);
  const sensor = new Sht3x({ sensor: { io: r.bus.I2C, address, data: 21, clock: 22, hz: 400_000 }, scheduler: r.scheduler, onError: r.onError });
  return { ...r, chip, sensor };
}

// one LSB of the 16-bit raw values
const T_LSB = 175 / 65535;
const RH_LSB = 100 / 65535;

describe("SHT3x driver against the simulated chip", () => {
  it("CRC-8 poly 0x31 init 0xFF: datasheet §4.12 example 0xBEEF -> 0x92, on the chip's side and the driver's", () => {
    expect(sensirionCrc8(0xbeef)).toBe(0x92);
    expect(sensirionWords(new Uint8Array([0xbe, 0xef, 0x92]), 0)).toBe(0xbeef);
    for (let crc = 0; crc < 256; crc++) if (crc !== 0x92) expect(sensirionWords(new Uint8Array([0xbe, 0xef, crc]), 0)).toBe(-1);
    // the two implementations agree (every 7th word), and several words make one big-endian number
    for (let w = 0; w < 65536; w += 7) if (sensirionWords(encodeWords([w]), 0) !== w) throw new Error("CRC of word 0x" + w.toString(16));
    expect(sensirionWords(encodeWords([0x1234, 0x5678, 0x9abc]), 0, 3)).toBe(0x123456789abc);
    expect(sensirionWords(encodeWords([0x1234, 0x5678]), 1)).toBe(0x5678);
  });

  it.each([
    [-40, 0],
    [-10.5, 5],
    [0, 35],
    [23.4, 51.2],
    [60, 99],
    [124, 100],
  ])("single shot reads %d °C / %d %%RH (§4.13 conversion)", (t, rh) => {
    const { sensor, measure, errors } = setup({ temperature: t, humidity: rh });
    const s = measure(sensor);
    expect(errors).toHaveLength(0);
    expect(Math.abs(s.thermometer!.temperature - t)).toBeLessThanOrEqual(T_LSB);
    expect(Math.abs(s.hygrometer!.humidity - rh)).toBeLessThanOrEqual(RH_LSB);
  });

  it.each([
    ["high", 15],
    ["medium", 6],
    ["low", 4],
  ])("single shot with %s repeatability waits the datasheet maximum (%d ms) and does not busy-wait", (rep, ms) => {
    const { sensor, clock, measure, chip } = setup();
    sensor.configure({ repeatability: rep as any });
    const start = clock.now();
    measure(sensor);
    expect(clock.now() - start).toBe(ms);
    expect(SHT3X_DURATION_MAX[rep as "high"]).toBe(ms);
    expect(chip.commands[chip.commands.length - 1]).toBe({ high: 0x2400, medium: 0x240b, low: 0x2416 }[rep]);
  });

  it("measure() calls made while one runs share its single transaction: each caller gets its own copy, a throwing callback is reported and the others still run", () => {
    const { sensor, clock, chip, errors } = setup({ temperature: 21, humidity: 40 });
    const got: any[] = [];
    sensor.measure((s) => got.push(s));
    sensor.measure(() => {
      throw new Error("caller bug");
    });
    sensor.measure((s) => got.push(s));
    const commands = chip.commands.length;
    while (got.length < 2 && clock.step());
    expect(got).toHaveLength(2);
    expect(got[0]).toEqual(got[1]);
    expect(got[0] === got[1]).toBe(false);
    expect(got[0].thermometer === got[1].thermometer).toBe(false);
    expect(Math.abs(got[0].thermometer.temperature - 21)).toBeLessThanOrEqual(T_LSB);
    expect(chip.commands.length).toBe(commands); // no second measurement was started
    expect(errors.map((e) => e.message).join("\n")).toMatch(/measure callback/);
    // the next call starts a new measurement with a single caller again
    let again: any;
    sensor.measure((s) => (again = s));
    while (again === undefined && clock.step());
    expect(Math.abs(again.hygrometer.humidity - 40)).toBeLessThanOrEqual(RH_LSB);
  });

  it("sample() before the measurement is due returns undefined, then the value once, then undefined", () => {
    const { sensor, clock, errors } = setup({ temperature: 20 });
    expect(sensor.sample()).toBeUndefined();
    expect(sensor.trigger()).toBe(15); // Table 4, high repeatability
    clock.advance(10);
    expect(sensor.sample()).toBeUndefined();
    clock.advance(5);
    const s = sensor.sample()!;
    expect(s.thermometer!.temperature).toBeCloseTo(20, 1);
    expect(sensor.sample()).toBeUndefined();
    expect(errors).toHaveLength(0);
  });

  it("periodic mode follows a ramp and returns the newest measurement", () => {
    const { sensor, clock, errors } = setup({ temperature: ramp(10, 30, 0, 20_000) });
    sensor.configure({ mode: "periodic", mps: 2, repeatability: "medium" });
    expect(sensor.sample()).toBeUndefined(); // nothing measured yet
    clock.advance(5_000);
    const a = sensor.sample()!;
    clock.advance(5_000);
    const b = sensor.sample()!;
    expect(errors).toHaveLength(0);
    // the newest measurement completed at 4.5 s + 4.5 ms and 9.5 s + 4.5 ms
    expect(a.thermometer!.temperature).toBeCloseTo(10 + (20 * 4.5045) / 20, 1);
    expect(b.thermometer!.temperature).toBeCloseTo(10 + (20 * 9.5045) / 20, 1);
    // with no new data since the last fetch the chip NACKs; the driver returns its copy (same period)
    const c = sensor.sample()!;
    expect(c).toEqual(b);
    expect(c).not.toBe(b);
  });

  it("periodic mode reports an error when the chip stops delivering data", () => {
    const { sensor, clock, chip, errors } = setup();
    sensor.configure({ mode: "periodic", mps: 1 });
    clock.advance(1500);
    expect(sensor.sample()!.thermometer).toBeDefined();
    chip.faults.stuckBusy = true;
    clock.advance(3000);
    const s = sensor.sample()!;
    expect(s.thermometer).toBeUndefined();
    expect(errors[0].message).toMatch(/SHT3x at 0x44: fetch data/);
  });

  it("periodic mode: the start command of every mps and repeatability (§4.5 Table 9), the chip measures at that rate", () => {
    const TABLE: [number, number[]][] = [[0.5, [0x2032, 0x2024, 0x202f]], [1, [0x2130, 0x2126, 0x212d]], [2, [0x2236, 0x2220, 0x222b]], [4, [0x2334, 0x2322, 0x2329]], [10, [0x2737, 0x2721, 0x272a]]];
    const { sensor, chip, errors } = setup();
    for (const [mps, commands] of TABLE) {
      (["high", "medium", "low"] as const).forEach((repeatability, i) => {
        sensor.configure({ mode: "periodic", mps: mps as any, repeatability });
        expect(chip.commands[chip.commands.length - 1]).toBe(commands[i]);
        expect(chip.mode).toBe("periodic");
      });
    }
    expect(errors).toHaveLength(0);
  });

  it("switching periodic -> single sends break (0x3093)", () => {
    const { sensor, chip, measure } = setup({ humidity: 70 });
    sensor.configure({ mode: "periodic", mps: 10 });
    sensor.configure({ mode: "single" });
    expect(chip.commands).toContain(0x3093);
    expect(chip.mode).toBe("idle");
    expect(measure(sensor).hygrometer!.humidity).toBeCloseTo(70, 2);
  });

  it("heater on/off shows in the status register (bit 13) and raises the reading", () => {
    const { sensor, measure, errors } = setup({ temperature: 25 });
    sensor.configure({ heater: true });
    expect(sensor.readStatus()! & 0x2000).toBe(0x2000);
    expect(measure(sensor).thermometer!.temperature).toBeCloseTo(25 + SHT3X_HEATER_OFFSET, 1);
    sensor.configure({ heater: false });
    expect(sensor.readStatus()! & 0x2000).toBe(0);
    expect(errors).toHaveLength(0);
  });

  it("the chip's heater is its status bit 13: setting one shows in the other, a soft reset clears both", () => {
    const { sensor, chip } = setup({ temperature: 25 });
    expect(chip.heater).toBe(false);
    chip.heater = true;
    expect(chip.status & 0x2000).toBe(0x2000);
    expect(sensor.readStatus()! & 0x2000).toBe(0x2000);
    sensor.configure({ heater: true });
    sensor.configure({ heater: false }); // "heater off" clears the bit
    expect(chip.heater).toBe(false);
    expect(chip.status & 0x2000).toBe(0);
    chip.heater = true;
    expect(sensor.softReset()).toBe(true);
    expect(chip.heater).toBe(false);
    expect(chip.status).toBe(0x8010);
  });

  it("the serial number is 0x1a2b3c4d unless given or set, per chip", () => {
    const r = rig();
    const a = new Sht3xSim({ clock: r.clock, environment: r.environment });
    const b = new Sht3xSim({ clock: r.clock, environment: r.environment, serial: 7 });
    expect(a.serial).toBe(0x1a2b3c4d);
    expect(b.serial).toBe(7);
    a.serial = 0x01020304;
    expect(a.serial).toBe(0x01020304);
    expect(new Sht3xSim({ clock: r.clock, environment: r.environment }).serial).toBe(0x1a2b3c4d);
  });

  it("status register (§4.11 Table 17): reset detected (bit 4) and alert pending (bit 15) after soft reset, cleared by clear status", () => {
    const { sensor } = setup();
    expect(sensor.readStatus()).toBe(0x8010);
    expect(sensor.clearStatus()).toBe(true);
    expect(sensor.readStatus()).toBe(0);
    expect(sensor.softReset()).toBe(true);
    expect(sensor.readStatus()! & 0x0010).toBe(0x0010);
  });

  it("reads the serial number", () => {
    const { sensor, chip } = setup();
    chip.serial = 0xdeadbeef;
    expect(sensor.serialNumber()).toBe(0xdeadbeef);
  });

  it("works at address 0x45", () => {
    const { sensor, measure, errors } = setup({ temperature: -5 }, 0x45);
    expect(measure(sensor).thermometer!.temperature).toBeCloseTo(-5, 1);
    expect(errors).toHaveLength(0);
  });

  it("rejects a bad address and bad configuration with a clear error", () => {
    const r = rig();
    expect(() => new Sht3x({ sensor: { io: r.bus.I2C, address: 0x40 }, scheduler: r.scheduler })).toThrow(/address 64 not in 68,69/);
    expect(() => new Sht3x({ sensor: { io: r.bus.I2C }, scheduler: undefined as any })).toThrow(/SHT3x: no scheduler/);
    const { sensor } = setup();
    expect(() => sensor.configure({ mps: 3 as any })).toThrow(/mps/);
    expect(() => sensor.configure({ repeatability: "best" as any })).toThrow(/repeatability/);
  });

  describe("faults: onError is called and the field is left out", () => {
    it("address NACK on the command", () => {
      const { sensor, bus, measure, errors } = setup();
      bus.injectFault({ kind: "address-nack", address: 0x44, on: "write" });
      const s = measure(sensor);
      expect(s).toEqual({});
      expect(errors).toHaveLength(1);
      expect(errors[0].message).toMatch(/^SHT3x at 0x44: start measurement: .*not acknowledged/);
    });

    it("bus timeout on the read", () => {
      const { sensor, bus, measure, errors } = setup();
      bus.injectFault({ kind: "timeout", on: "read" });
      const s = measure(sensor);
      expect(s.thermometer).toBeUndefined();
      expect(s.hygrometer).toBeUndefined();
      expect(errors[0].message).toMatch(/read measurement: .*timeout/);
    });

    it("corrupted temperature byte: CRC catches it, humidity still reported", () => {
      const { sensor, bus, measure, errors } = setup({ humidity: 40 });
      bus.injectFault({ kind: "corrupt", on: "read", byteIndex: 1, mask: 0x04 });
      const s = measure(sensor);
      expect(s.thermometer).toBeUndefined();
      expect(s.hygrometer!.humidity).toBeCloseTo(40, 2);
      expect(errors).toHaveLength(1);
      expect(errors[0].message).toBe("SHT3x at 0x44: read temperature: CRC mismatch");
      // a typed error: its class, its name (String(error) starts with it), the cause alone, not fatal
      expect(errors[0]).toBeInstanceOf(SensorError);
      expect(String(errors[0])).toBe("SensorError: SHT3x at 0x44: read temperature: CRC mismatch");
      expect(errors[0].reason).toBe("CRC mismatch");
      expect(errors[0].fatal).toBe(false);
    });

    it("chip CRC error on the humidity word only", () => {
      const { sensor, chip, measure, errors } = setup({ temperature: 12 });
      chip.faults.crcErrorWord = 1;
      const s = measure(sensor);
      expect(s.hygrometer).toBeUndefined();
      expect(s.thermometer!.temperature).toBeCloseTo(12, 1);
      expect(errors[0].message).toMatch(/read humidity: CRC mismatch/);
      expect(errors[0].reason).toBe("CRC mismatch");
    });

    it("stuck busy: the read is still NACKed after the datasheet maximum", () => {
      const { sensor, chip, measure, errors } = setup();
      chip.faults.stuckBusy = true;
      const s = measure(sensor);
      expect(s).toEqual({});
      expect(errors[0].message).toMatch(/read measurement: SHT3x measurement not finished/);
    });

    it("no chip on the bus: errors at construction and on every measurement, nothing thrown", () => {
      const r = rig();
      const sensor = new Sht3x({ sensor: { io: r.bus.I2C }, scheduler: r.scheduler, onError: r.onError });
      expect(r.errors.length).toBeGreaterThan(0);
      const before = r.errors.length;
      expect(r.measure(sensor)).toEqual({});
      expect(r.errors.length).toBe(before + 1);
    });

    it("an onError or callback that throws does not escape", () => {
      const r = rig();
      r.bus.attach(0x44, new Sht3xSim({ clock: r.clock, environment: r.environment }));
      const sensor = new Sht3x({ sensor: { io: r.bus.I2C }, scheduler: r.scheduler, onError: () => { throw new Error("boom"); } });
      r.bus.injectFault({ kind: "address-nack", on: "read" });
      let got: unknown;
      sensor.measure((s) => { got = s; throw new Error("callback boom"); });
      expect(() => r.clock.runAll()).not.toThrow();
      expect(got).toEqual({});
    });
  });

  it("close() cancels a measurement under way", () => {
    const { sensor, clock, scheduler } = setup();
    let called = false;
    sensor.measure(() => { called = true; });
    sensor.close();
    clock.runAll();
    expect(called).toBe(false);
    expect(scheduler.size).toBe(0);
    expect(() => sensor.measure(() => {})).toThrow(/closed/);
  });

  it("close() from inside a measurement (an onError that closes the driver): the measurement ends there, nothing more is reported", () => {
    const r = rig();
    r.bus.attach(0x44, new Sht3xSim({ clock: r.clock, environment: r.environment }));
    const errors: string[] = [];
    const sensor: Sht3x = new Sht3x({ sensor: { io: r.bus.I2C }, scheduler: r.scheduler, onError: (e) => { errors.push(e.message); sensor.close(); } });
    r.bus.injectFault({ kind: "address-nack", on: "read" });
    let called = false;
    sensor.measure(() => { called = true; });
    r.clock.runAll();
    expect(called).toBe(false);
    expect(errors).toEqual(["SHT3x at 0x44: read measurement: I2C address not acknowledged"]);
    expect(r.scheduler.size).toBe(0);
  });
});
