// @xs
import { boards, checkBoard, getBoard } from "../../boards/index";
import { discoverSensors, toBoardSensors, type DiscoveryResult } from "../../modules/sensors/discover";
import { Bme280, Bmp280 } from "../../modules/sensors/bmx280";
import { Sht3x } from "../../modules/sensors/sht3x";
import { Battery } from "../../modules/sensors/battery";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { SimAdc } from "../../sim/devices/analog";
import { populateBus } from "../../sim/devices/index";
import { Environment } from "../../sim/environment";
import { I2cBus } from "../../sim/i2c";
import { VirtualClock } from "../../sim/virtual-clock";

const names = Object.keys(boards);

describe("board definitions", () => {
  it("has the six boards", () => {
    expect(names.sort()).toEqual(["esp32-c3-devkitm-1", "esp32-devkitc", "esp32-s3-devkitc-1", "m5stack-atom-lite", "sim", "xiao-esp32c3"]);
  });

  it.each(names)("%s is consistent (pins, addresses, battery, power profile)", (name) => {
    const board = getBoard(name);
    expect(board.name).toBe(name);
    expect(checkBoard(board)).toEqual([]);
  });

  it.each([
    ["esp32-devkitc", 21, 22, "esp32"],
    ["esp32-c3-devkitm-1", 2, 3, "esp32/esp32c3"],
    ["esp32-s3-devkitc-1", 4, 5, "esp32/esp32s3"],
    ["xiao-esp32c3", 6, 7, "esp32/xiao_esp32c3"],
    ["m5stack-atom-lite", 26, 32, "esp32/m5atom_lite"],
  ])("%s: SDA GPIO%d, SCL GPIO%d, Moddable target %s", (name, sda, scl, target) => {
    const b = getBoard(name as string);
    expect(b.i2c.data).toBe(sda);
    expect(b.i2c.clock).toBe(scl);
    expect(b.moddableTarget).toBe(target);
    expect(b.sensorsAssumed).toBe(true);
  });

  it("the checker catches bad definitions", () => {
    const bad = { ...getBoard("esp32-devkitc"), i2c: { data: 34, clock: 34, hz: 123, source: "" }, sensors: [{ chip: "bme280" as const, address: 0x44 }, { chip: "sht3x" as const, address: 0x44 }] };
    const problems = checkBoard(bad);
    expect(problems.join("\n")).toMatch(/data pin 34/);
    expect(problems.join("\n")).toMatch(/same pin/);
    expect(problems.join("\n")).toMatch(/speed 123/);
    expect(problems.join("\n")).toMatch(/bme280 cannot be at 0x44/);
    expect(problems.join("\n")).toMatch(/two sensors at 0x44/);
    const power = { ...getBoard("sim"), power: { ...getBoard("sim").power, deepSleepMa: 5 } };
    expect(checkBoard(power).join("\n")).toMatch(/deepSleepMa should be below power.lightSleepMa/);
    expect(() => getBoard("arduino-uno")).toThrow(/unknown board "arduino-uno"/);
  });

  it.each(names)("%s: discovery on a bus populated from the board finds exactly its sensors", (name) => {
    const board = getBoard(name);
    const clock = new VirtualClock();
    const scheduler = new Scheduler({ clock });
    const bus = new I2cBus();
    populateBus(bus, board.sensors, { clock, environment: new Environment() });
    let result: DiscoveryResult | undefined;
    discoverSensors({ io: bus.I2C, data: board.i2c.data, clock: board.i2c.clock, hz: board.i2c.hz, scheduler }, (r) => { result = r; });
    clock.runAll(10_000);
    const byAddress = (a: { address: number }, b: { address: number }) => a.address - b.address;
    expect(toBoardSensors(result!).sort(byAddress)).toEqual(board.sensors.slice().sort(byAddress));
  });

  it("the sim board's sensors and battery produce readings", () => {
    const board = getBoard("sim");
    const clock = new VirtualClock();
    const scheduler = new Scheduler({ clock });
    const bus = new I2cBus();
    const environment = new Environment({ temperature: 19, battery: 3.8 });
    populateBus(bus, board.sensors, { clock, environment });
    const io = { io: bus.I2C, data: board.i2c.data, clock: board.i2c.clock, hz: board.i2c.hz };
    const errors: unknown[] = [];
    const sht = new Sht3x({ sensor: { ...io, address: 0x44 }, scheduler, onError: (e) => errors.push(e) });
    const bme = new Bme280({ sensor: { ...io, address: 0x76 }, scheduler, onError: (e) => errors.push(e) });
    const b = board.battery!;
    const adc = new SimAdc({ clock, reference: b.reference, resolution: b.resolution, pins: { [b.pin]: (t) => environment.battery(t) / b.dividerRatio } });
    const battery = new Battery({ sensor: { io: adc.Analog, pin: b.pin }, reference: b.reference, dividerRatio: b.dividerRatio });
    const got: any[] = [];
    sht.measure((s) => got.push(s));
    bme.measure((s) => got.push(s));
    clock.runAll(1000);
    expect(errors).toEqual([]);
    expect(got[0].thermometer.temperature).toBeCloseTo(19, 1);
    expect(got[1].thermometer.temperature).toBeCloseTo(19, 1);
    expect(battery.sample().battery!.voltage).toBeCloseTo(3.8, 2);
    void Bmp280;
  });
});
