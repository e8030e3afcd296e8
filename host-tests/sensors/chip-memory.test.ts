// @xs
/*
 * What a simulated chip keeps per instance: a bounded command list and, for the
 * BMx280, the datasheet calibration shared by every chip (a fleet holds a
 * thousand of each).
 */
import { Bh1750Sim, Bmx280Sim, createChip, populateBus, Scd4xSim, Sht3xSim, Sht4xSim } from "../../sim/devices/index";
import { DATASHEET_CALIBRATION } from "../../sim/devices/bmx280";
import { DEFAULT_COMMAND_LOG_LIMIT } from "../../sim/devices/command-log";
import { Environment } from "../../sim/environment";
import { I2cBus } from "../../sim/i2c";
import { VirtualClock } from "../../sim/virtual-clock";

const base = () => ({ clock: new VirtualClock(), environment: new Environment() });

// One command each chip accepts at any time, written as the bytes on the wire.
const CHIPS: [string, (o: { commandLogLimit?: number }) => { commands: number[]; commandLogLimit: number; write(d: Uint8Array, stop: boolean): void }, Uint8Array, number][] = [
  ["Sht3xSim", (o) => new Sht3xSim({ ...base(), ...o }), Uint8Array.of(0x30, 0x41), 0x3041], // clear status (SHT3x §4.11)
  ["Sht4xSim", (o) => new Sht4xSim({ ...base(), ...o }), Uint8Array.of(0x94), 0x94], // soft reset (SHT4x §4.5)
  ["Scd4xSim", (o) => new Scd4xSim({ ...base(), ...o }), Uint8Array.of(0xe0, 0x00, 0, 0, 0), 0xe000], // set_ambient_pressure (SCD4x §3.7.4)
  ["Bh1750Sim", (o) => new Bh1750Sim({ ...base(), ...o }), Uint8Array.of(0x01), 0x01], // power on
];

describe("simulated chips: the command list is bounded", () => {
  it.each(CHIPS)("%s keeps the newest commandLogLimit commands", (_name, make, bytes, command) => {
    const chip = make({ commandLogLimit: 3 });
    for (let i = 0; i < 10; i++) chip.write(bytes, true);
    expect(chip.commands).toEqual([command, command, command]);
  });

  it.each(CHIPS)("%s keeps 256 by default and none with commandLogLimit 0", (_name, make, bytes) => {
    const chip = make({});
    expect(chip.commandLogLimit).toBe(DEFAULT_COMMAND_LOG_LIMIT);
    for (let i = 0; i < 300; i++) chip.write(bytes, true);
    expect(chip.commands).toHaveLength(256);
    const none = make({ commandLogLimit: 0 });
    none.write(bytes, true);
    expect(none.commands).toHaveLength(0);
  });

  it.each(CHIPS)("%s rejects a bad commandLogLimit", (_name, make) => {
    expect(() => make({ commandLogLimit: -1 })).toThrow(RangeError);
    expect(() => make({ commandLogLimit: 1.5 })).toThrow(RangeError);
  });

  it("createChip and populateBus pass commandLogLimit to every chip", () => {
    const bus = new I2cBus();
    const chips = populateBus(bus, [{ chip: "sht3x", address: 0x44 }, { chip: "bh1750", address: 0x23 }], { ...base(), commandLogLimit: 0 });
    for (const chip of chips.values()) expect((chip as Sht3xSim).commandLogLimit).toBe(0);
    expect((createChip("scd4x", { ...base(), commandLogLimit: 5 }) as Scd4xSim).commandLogLimit).toBe(5);
  });
});

describe("simulated BMx280: the calibration", () => {
  it("chips without a calibration of their own share the datasheet's, frozen", () => {
    const a = new Bmx280Sim(base());
    const b = new Bmx280Sim({ ...base(), variant: "bmp280" });
    expect(a.calibration).toBe(DATASHEET_CALIBRATION);
    expect(b.calibration).toBe(DATASHEET_CALIBRATION);
    expect(Object.isFrozen(DATASHEET_CALIBRATION)).toBe(true);
  });

  it("a given calibration is copied and frozen: changing the caller's object later does not reach the chip", () => {
    const mine = { ...DATASHEET_CALIBRATION, T1: 28000 };
    const chip = new Bmx280Sim({ ...base(), calibration: mine });
    mine.T1 = 1;
    expect(chip.calibration.T1).toBe(28000);
    expect(Object.isFrozen(chip.calibration)).toBe(true);
    // dig_T1 in the trimming registers 0x88/0x89, little-endian (BME280 datasheet §5.4.1)
    expect(chip.registers[0x88] | (chip.registers[0x89] << 8)).toBe(28000);
  });

  it("chips with calibrations of their own each read their own trimming registers; the defaults come from the prototype", () => {
    const a = new Bmx280Sim({ ...base(), calibration: { ...DATASHEET_CALIBRATION, T1: 28000 } });
    const b = new Bmx280Sim({ ...base(), calibration: { ...DATASHEET_CALIBRATION, T1: 29000 } });
    const d = new Bmx280Sim(base());
    expect(a.registers[0x88] | (a.registers[0x89] << 8)).toBe(28000);
    expect(b.registers[0x88] | (b.registers[0x89] << 8)).toBe(29000);
    expect(d.registers[0x88] | (d.registers[0x89] << 8)).toBe(DATASHEET_CALIBRATION.T1);
    expect([d.variant, new Bmx280Sim({ ...base(), variant: "bmp280" }).variant, new Bmx280Sim({ ...base(), variant: "bme280" }).variant]).toEqual(["bme280", "bmp280", "bme280"]);
    expect(Object.prototype.hasOwnProperty.call(d, "calibration") || Object.prototype.hasOwnProperty.call(d, "variant")).toBe(false);
    expect([new Scd4xSim(base()).variant, new Scd4xSim({ ...base(), variant: "scd40" }).variant]).toEqual(["scd41", "scd40"]);
  });
});

describe("simulated chips: state created on first use", () => {
  it.each(CHIPS)("%s: a limit raised after construction starts keeping commands", (_name, make, bytes, command) => {
    const chip = make({ commandLogLimit: 0 });
    chip.write(bytes, true);
    chip.commandLogLimit = 2;
    chip.write(bytes, true);
    expect(chip.commands).toEqual([command]);
  });

  it("Sensirion faults set through chip.faults reach the bytes on the wire (CRC error, SHT3x §4.12)", () => {
    const chip = new Sht3xSim(base());
    chip.write(Uint8Array.of(0x37, 0x80), true); // read serial number
    const good = chip.read(6, true);
    chip.faults.crcError = true;
    chip.write(Uint8Array.of(0x37, 0x80), true);
    const bad = chip.read(6, true);
    expect(bad[2]).toBe(good[2] ^ 0xff);
    expect(bad[0]).toBe(good[0]);
    expect(chip.faults).toBe(chip.faults);
  });
});

describe("simulated BMx280: the register file without a per-chip array", () => {
  const read = (chip: Bmx280Sim, register: number, count: number) => {
    chip.write(Uint8Array.of(register), false);
    return Array.from(chip.read(count, true));
  };

  it("trimming registers read the datasheet calibration (BME280 §5.4.1: 0x88..0xA1, 0xE1..0xE7); BMP280 has no humidity trimming", () => {
    const bme = new Bmx280Sim(base());
    const bmp = new Bmx280Sim({ ...base(), variant: "bmp280" });
    const t = read(bme, 0x88, 2);
    expect(t[0] | (t[1] << 8)).toBe(DATASHEET_CALIBRATION.T1);
    expect(read(bme, 0xa1, 1)).toEqual([DATASHEET_CALIBRATION.H1]);
    expect(read(bmp, 0xa1, 1)).toEqual([0]);
    const h2 = read(bme, 0xe1, 2);
    expect(h2[0] | (h2[1] << 8)).toBe(DATASHEET_CALIBRATION.H2);
    expect(read(bmp, 0xe1, 2)).toEqual([0, 0]);
    expect(read(bme, 0x88, 24)).toEqual(read(bmp, 0x88, 24));
  });

  it("control registers keep what was written, the data registers read their reset values (§5.3), registers is a copy", () => {
    const chip = new Bmx280Sim(base());
    expect(read(chip, 0xf7, 8)).toEqual([0x80, 0, 0, 0x80, 0, 0, 0x80, 0]);
    chip.write(Uint8Array.of(0xf2, 0x05, 0xf5, 0xa0), true); // ctrl_hum, config
    expect(read(chip, 0xf2, 1)).toEqual([0x05]);
    expect(read(chip, 0xf5, 1)).toEqual([0xa0]);
    const copy = chip.registers;
    expect(copy[0xf2]).toBe(0x05);
    copy[0xf2] = 0x07;
    expect(chip.registers[0xf2]).toBe(0x05);
    chip.write(Uint8Array.of(0xe0, 0xb6), true); // soft reset
    expect(read(chip, 0xf2, 1)).toEqual([0]);
  });
});
