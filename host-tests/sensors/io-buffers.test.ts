// @xs
/*
 * The drivers' I2C transactions (modules/sensors/sensor.ts): every read of a driver fills a
 * view of its one buffer (ECMA-419 I2C `read(buffer)`), every write sends a view of the same
 * buffer's other half, so a sampling pass makes no ArrayBuffer per transaction; the buffer is
 * the instance's (a module-level one would be read-only once preloaded), and the samples are
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
  it("each driver reads into and writes from one buffer of its own, the same for every transaction; two chips measured in the same pass each get their own values", () => {
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
    const buffers = new Set<ArrayBufferLike>();
    for (const c of io.calls) {
      expect(c.arg instanceof Uint8Array).toBe(true);
      buffers.add((c.arg as Uint8Array).buffer);
    }
    expect(io.calls.filter((c) => c.op === "read").length).toBeGreaterThanOrEqual(4); // calibration, status, data of each chip
    expect(buffers.size).toBe(2); // one per driver, whatever the number of transactions
    const reads = io.calls.filter((c) => c.op === "read").map((c) => c.arg as Uint8Array);
    const writes = io.calls.filter((c) => c.op === "write").map((c) => c.arg as Uint8Array);
    // reads and writes of a driver use different bytes of its buffer
    for (const r of reads) for (const w of writes) if (r.buffer === w.buffer) expect(r.byteOffset + r.length <= w.byteOffset).toBe(true);
  });
});
