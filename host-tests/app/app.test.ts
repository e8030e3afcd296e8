// @xs
import { getBoard } from "../../boards/index";
import { SimDevice } from "../../sim/device";
import { createSimHardware } from "../../sim/hardware";
import { VirtualClock } from "../../sim/virtual-clock";
import { startApp, type Reading } from "../../src/app";

function setup(env = { temperature: 23.25, humidity: 40, pressure: 99_000, light: 500, co2: 800, battery: 3.9 }) {
  const clock = new VirtualClock();
  const board = getBoard("sim");
  const hardware = createSimHardware(board, clock, env);
  const readings: Reading[] = [];
  const errors: string[] = [];
  const device = new SimDevice({
    clock,
    io: hardware.io,
    app: (platform) => startApp({ platform, board, intervalMs: 10_000, onReading: (r) => readings.push(r), onError: (m) => errors.push(m) }),
  });
  return { clock, hardware, readings, errors, device };
}

describe("the app on a simulated board", () => {
  it("samples every sensor of the board on the interval and reports what the environment holds", () => {
    const { clock, readings, errors, device } = setup();
    device.start();
    clock.advance(25_000);
    expect(errors).toEqual([]);
    expect(readings.length).toBe(3);
    expect(readings.map((r) => r.seq)).toEqual([1, 2, 3]);
    const s = readings[2].sample;
    expect(s.thermometer!.temperature).toBeCloseTo(23.25, 1);
    expect(s.hygrometer!.humidity).toBeCloseTo(40, 0);
    expect(Math.abs(s.barometer!.pressure - 99_000)).toBeLessThan(5);
    expect(Math.abs(s.lightmeter!.illuminance - 500)).toBeLessThan(2);
    expect(Math.abs(s.carbonDioxideDetector!.CO2 - 800)).toBeLessThan(2);
    expect(s.battery!.voltage).toBeCloseTo(3.9, 2);
  });

  it("keeps a drift-free period: readings start 10 s apart whatever the measurement time", () => {
    const { clock, readings, device } = setup();
    device.start();
    clock.advance(60_000);
    const times = readings.map((r) => r.time);
    for (let i = 2; i < times.length; i++) expect(times[i] - times[i - 1]).toBe(10_000);
  });

  it("prefers the chip listed first on the board for a quantity two chips measure", () => {
    const { clock, readings, device } = setup();
    device.start();
    clock.advance(11_000);
    const r = readings[0];
    expect(r.sensors.map((x) => x.chip)).toEqual(["SHT3x", "BME280", "BH1750", "SCD4x", "Battery"]);
    expect(r.sample.hygrometer!.humidity).toBe(r.sensors[0].sample.hygrometer!.humidity);
    expect(r.sample.barometer!.pressure).toBe(r.sensors[1].sample.barometer!.pressure);
  });

  it("leaves out the field of a failing sensor and reports the error, never a stale value", () => {
    const { clock, hardware, readings, errors, device } = setup();
    device.start();
    clock.advance(15_000);
    expect(readings[readings.length - 1].sample.hygrometer).toBeDefined();
    hardware.bus.injectFault({ kind: "address-nack", address: 0x44, count: Infinity });
    clock.advance(10_000);
    const last = readings[readings.length - 1];
    const sht = last.sensors.find((r) => r.chip === "SHT3x")!;
    const bme = last.sensors.find((r) => r.chip === "BME280")!;
    expect(sht.sample.hygrometer).toBeUndefined();
    expect(sht.sample.thermometer).toBeUndefined();
    expect(errors.some((e) => /SHT3x at 0x44/.test(e))).toBe(true);
    // the merged view falls back to the BME280's fresh values, not the SHT3x's old ones
    expect(last.sample.hygrometer!.humidity).toBe(bme.sample.hygrometer!.humidity);
    expect(last.sample.thermometer!.temperature).toBe(bme.sample.thermometer!.temperature);
  });

  it("reports a board sensor whose chip is missing, and runs with the others", () => {
    const clock = new VirtualClock();
    const board = getBoard("sim");
    const hardware = createSimHardware(board, clock);
    hardware.bus.detach(0x76);
    const readings: Reading[] = [];
    const errors: string[] = [];
    const device = new SimDevice({ clock, io: hardware.io, app: (platform) => startApp({ platform, board, intervalMs: 10_000, onReading: (r) => readings.push(r), onError: (m) => errors.push(m) }) });
    device.start();
    clock.advance(11_000);
    expect(readings.length).toBeGreaterThan(0);
    expect(readings[0].sample.barometer).toBeUndefined();
    expect(readings[0].sample.hygrometer).toBeDefined();
    expect(errors.some((e) => /0x76/.test(e))).toBe(true);
  });

  it("stops: no reading and no timer after stop()", () => {
    const { clock, readings, device } = setup();
    device.start();
    clock.advance(10_000);
    const n = readings.length;
    device.stop();
    clock.advance(100_000);
    expect(readings.length).toBe(n);
    expect(clock.pending).toBe(0);
  });

  it("rejects a non-positive interval", () => {
    const clock = new VirtualClock();
    const board = getBoard("sim");
    let error: unknown;
    const device = new SimDevice({
      clock,
      io: createSimHardware(board, clock).io,
      app: (platform) => {
        try {
          startApp({ platform, board, intervalMs: 0 });
        } catch (e) {
          error = e;
        }
      },
    });
    device.start();
    expect(error).toBeInstanceOf(RangeError);
  });
});
