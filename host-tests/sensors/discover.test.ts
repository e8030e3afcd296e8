// @xs
import { discoverSensors, toBoardSensors, type DiscoveryResult } from "../../modules/sensors/discover";
import { Bmx280Sim, populateBus, Scd4xSim } from "../../sim/devices/index";
import { rig } from "./helpers";

function discover(r: ReturnType<typeof rig>, addresses?: number[]): DiscoveryResult {
  let result: DiscoveryResult | undefined;
  discoverSensors({ io: r.bus.I2C, data: 21, clock: 22, scheduler: r.scheduler, addresses }, (x) => { result = x; });
  r.clock.runAll(10_000);
  if (!result) throw new Error("discovery did not finish");
  return result;
}

describe("Sensor discovery on a simulated bus", () => {
  it("finds and identifies a bus full of chips", () => {
    const r = rig();
    const fitted = [
      { chip: "sht3x", address: 0x44 },
      { chip: "sht4x", address: 0x45 },
      { chip: "bme280", address: 0x76 },
      { chip: "bmp280", address: 0x77 },
      { chip: "bh1750", address: 0x23 },
      { chip: "scd4x", address: 0x62 },
    ];
    populateBus(r.bus, fitted, { clock: r.clock, environment: r.environment });
    const result = discover(r);
    expect(result.unidentified).toEqual([]);
    const board = toBoardSensors(result).sort((a, b) => a.address - b.address);
    expect(board).toEqual(fitted.slice().sort((a, b) => a.address - b.address));
    const sht3x = result.found.find((s) => s.chip === "sht3x")!;
    expect(sht3x.serial).toBe(0x1a2b3c4d);
    expect(result.found.find((s) => s.chip === "scd4x")!.serial).toBe(0x1234_5678_9abc);
  });

  it("tells an SHT4x at 0x44 from an SHT3x (one-byte vs two-byte commands)", () => {
    const r = rig();
    populateBus(r.bus, [{ chip: "sht4x", address: 0x44 }], { clock: r.clock, environment: r.environment });
    expect(toBoardSensors(discover(r))).toEqual([{ chip: "sht4x", address: 0x44 }]);
  });

  it("finds an SCD4x that is already measuring (stops it, waits 500 ms, asks again)", () => {
    const r = rig();
    const chip = new Scd4xSim({ clock: r.clock, environment: r.environment });
    r.bus.attach(0x62, chip);
    chip.write(Uint8Array.of(0x21, 0xb1), true); // start_periodic_measurement
    const result = discover(r, [0x62]);
    expect(toBoardSensors(result)).toEqual([{ chip: "scd4x", address: 0x62 }]);
    expect(chip.commands).toContain(0x3f86);
  });

  it("reports a chip with an unknown id (e.g. a BME680, 0x61) as unidentified", () => {
    const r = rig();
    const chip = new Bmx280Sim({ clock: r.clock, environment: r.environment });
    chip.faults.chipId = 0x61;
    r.bus.attach(0x77, chip);
    const result = discover(r);
    expect(result.found).toEqual([]);
    expect(result.unidentified).toEqual([{ address: 0x77, detail: "chip id 0x61 (not a BME280/BMP280)" }]);
  });

  it("an empty bus gives an empty result; CRC-corrupting bus does not identify an SHT3x", () => {
    const r = rig();
    expect(discover(r)).toEqual({ found: [], unidentified: [] });
    const r2 = rig();
    populateBus(r2.bus, [{ chip: "sht3x", address: 0x44 }], { clock: r2.clock, environment: r2.environment });
    r2.bus.injectFault({ kind: "corrupt", address: 0x44, on: "read", count: Infinity, byteIndex: 2 });
    const result = discover(r2, [0x44]);
    expect(result.found).toEqual([]);
    expect(result.unidentified[0].address).toBe(0x44);
  });

  it("leaves a BH1750 powered down", () => {
    const r = rig();
    const chips = populateBus(r.bus, [{ chip: "bh1750", address: 0x5c }], { clock: r.clock, environment: r.environment });
    expect(toBoardSensors(discover(r))).toEqual([{ chip: "bh1750", address: 0x5c }]);
    expect((chips.get(0x5c) as any).powered).toBe(false);
  });
});
