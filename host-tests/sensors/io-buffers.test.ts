// @xs
/*
 * The drivers' I2C transactions (modules/sensors/sensor.ts): every read fills a view of one
 * buffer shared by all drivers (ECMA-419 I2C `read(buffer)`), every write sends a view of a
 * second one, so a sampling pass makes no ArrayBuffer per transaction; the samples are still
 * each chip's own.
 */
import { Bme280 } from "../../modules/sensors/bmx280";
import { Sht3x } from "../../modules/sensors/sht3x";
import type { Sample } from "../../modules/sensors/sensor";
import { Bmx280Sim } from "../../sim/devices/bmx280";
import { Sht3xSim } from "../../sim/devices/sht3x";
import { rig } from "./helpers";

function recording(Base: new (o: any) => any) {
  const calls: { op: "read" | "write"; arg: unknown }[] = [];
  // An ECMA-419 I2C class that records what the driver hands to read() and write().
  function I2C(this: unknown, options: object) {
    const device = new Base(options);
    return {
      format: "buffer",
      read(what: unknown, stop?: boolean) {
        calls.push({ op: "read", arg: what });
        return device.read(what, stop);
      },
      write(data: unknown, stop?: boolean) {
        calls.push({ op: "write", arg: data });
        device.write(data, stop);
      },
      close() {
        device.close();
      },
    };
  }
  return { I2C: I2C as unknown as new (o: object) => any, calls };
}

describe("I2C sensor drivers: transactions without an allocation each", () => {
  it("reads go into one buffer shared by every driver, writes come from another; two chips measured in the same pass each get their own values", () => {
    const r = rig({ temperature: 21.5, humidity: 44, pressure: 98_765 });
    r.bus.attach(0x44, new Sht3xSim({ clock: r.clock, environment: r.environment }));
    r.bus.attach(0x76, new Bmx280Sim({ clock: r.clock, environment: r.environment, variant: "bme280" }));
    const io = recording(r.bus.I2C);
    const sht = new Sht3x({ sensor: { io: io.I2C, address: 0x44 }, scheduler: r.scheduler, onError: r.onError });
    const bme = new Bme280({ sensor: { io: io.I2C, address: 0x76 }, scheduler: r.scheduler, onError: r.onError });
    let a: Sample | undefined;
    let b: Sample | undefined;
    sht.measure((s) => (a = s));
    bme.measure((s) => (b = s));
    r.clock.advance(200);
    expect(r.errors).toEqual([]);
    if (!a || !b) throw new Error("a driver did not answer");
    expect(a.thermometer!.temperature).toBeCloseTo(21.5, 1);
    expect(a.hygrometer!.humidity).toBeCloseTo(44, 0);
    expect(b.thermometer!.temperature).toBeCloseTo(21.5, 1);
    expect(Math.abs(b.barometer!.pressure - 98_765)).toBeLessThan(5);
    const reads = io.calls.filter((c) => c.op === "read").map((c) => c.arg);
    const writes = io.calls.filter((c) => c.op === "write").map((c) => c.arg);
    expect(reads.length).toBeGreaterThanOrEqual(4); // calibration, status, data of each chip
    for (const x of reads) expect(x instanceof Uint8Array).toBe(true);
    const readBuffer = (reads[0] as Uint8Array).buffer;
    for (const x of reads) expect((x as Uint8Array).buffer).toBe(readBuffer);
    const writeBuffer = (writes[0] as Uint8Array).buffer;
    for (const x of writes) expect((x as Uint8Array).buffer).toBe(writeBuffer);
    expect(writeBuffer).not.toBe(readBuffer);
  });
});
