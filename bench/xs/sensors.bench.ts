/**
 * Sensor drivers on XS (xsnap): the cost of one sample() per driver (issue 5, Benchmarks).
 *
 * To time the driver and not the simulator, each driver runs on a canned I2C device: first the
 * driver is run once against its simulated chip (sim/devices) through a recording wrapper that
 * keeps the last response to each (command, length); then a fresh driver instance is timed on
 * a device that answers from that table (one map lookup and a copy per read: a new ArrayBuffer
 * for read(byteLength), or into the caller's buffer for read(buffer), which the drivers use). The bytes are thus valid chip output (CRCs,
 * calibration block, status bits), and the driver does all its real work: commands, reads,
 * CRC checks, conversions, compensation, the sample object.
 *
 * Time comes from a VirtualClock; where a driver must wait for a conversion (single-shot
 * modes) the op includes the trigger() and a jump of virtual time (advance with no timer
 * due: cheap). SCD4x has no synchronous read (its sample() returns the newest result of
 * measure()), so its op is one measure() run to completion: two scheduler jobs included.
 * No peer: there is no sensor driver native to XS to compare with.
 */
import type { BenchCase } from "../harness";
import type { ByteBuffer, I2cConstructor, I2cDevice, I2cOptions, AnalogConstructor } from "../../modules/platform/io";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { VirtualClock } from "../../sim/virtual-clock";
import { Environment } from "../../sim/environment";
import { I2cBus, type I2cPeripheral } from "../../sim/i2c";
import { Bh1750Sim, Bmx280Sim, Scd4xSim, Sht3xSim, Sht4xSim } from "../../sim/devices/index";
import type { Sample, SensorError, SensorOptions } from "../../modules/sensors/sensor";
import { Sht3x, SHT3X_DURATION_MAX } from "../../modules/sensors/sht3x";
import { Sht4x } from "../../modules/sensors/sht4x";
import { Bme280, Bmp280 } from "../../modules/sensors/bmx280";
import { compensatePressure } from "../../modules/sensors/bmx280-compensation";
import { Bh1750 } from "../../modules/sensors/bh1750";
import { Scd4x } from "../../modules/sensors/scd4x";
import { Battery } from "../../modules/sensors/battery";

/** Responses by (first two bytes of the last write, read length). */
type Table = Map<number, ArrayBuffer>;

function writeKey(data: ByteBuffer): number {
  const b = data instanceof Uint8Array ? data : new Uint8Array(data as ArrayBuffer);
  return b.length === 0 ? 0 : b.length === 1 ? b[0] << 8 : (b[0] << 8) | b[1];
}

/** Wraps the simulated bus's I2C class, recording every read's answer under the last write. */
function recordingIo(bus: I2cBus, table: Table): I2cConstructor {
  const Real = bus.I2C;
  let last = 0;
  return class RecordingI2c {
    #device: I2cDevice;
    format = "buffer";
    constructor(options: I2cOptions) {
      this.#device = new Real(options);
    }
    write(data: ByteBuffer, stop?: boolean): void {
      this.#device.write(data, stop);
      last = writeKey(data);
    }
    read(what: number | Uint8Array, stop?: boolean): ArrayBuffer | number {
      // ECMA-419 I2C read(byteLength) or read(buffer): the drivers pass their shared buffer
      if (typeof what === "number") {
        const ab = this.#device.read(what, stop);
        table.set(last * 64 + what, ab.slice(0));
        return ab;
      }
      const ab = this.#device.read(what.length, stop);
      table.set(last * 64 + what.length, ab.slice(0));
      what.set(new Uint8Array(ab));
      return what.length;
    }
    close(): void {
      this.#device.close();
    }
  } as unknown as I2cConstructor;
}

/** An I2C class answering from a recorded table: the driver's cost with no simulator in the loop. */
function cannedIo(table: Table): I2cConstructor {
  let last = 0;
  return class CannedI2c {
    format = "buffer";
    constructor(_options: I2cOptions) {}
    write(data: ByteBuffer): void {
      last = writeKey(data);
    }
    read(what: number | Uint8Array): ArrayBuffer | number {
      const count = typeof what === "number" ? what : what.length;
      const ab = table.get(last * 64 + count);
      if (ab === undefined) throw new Error("canned I2C: no recorded answer to 0x" + last.toString(16) + " / " + count);
      if (typeof what === "number") return ab.slice(0);
      what.set(new Uint8Array(ab)); // into the caller's buffer, as a real read(buffer) fills it
      return count;
    }
    close(): void {}
  } as unknown as I2cConstructor;
}

interface Driver {
  sample(): Sample | undefined;
  measure(cb: (s: Sample) => void): void;
}
type Make = (options: SensorOptions) => Driver;

function runMeasure(driver: Driver, clock: VirtualClock): Sample {
  let result: Sample | undefined;
  driver.measure((s) => {
    result = s;
  });
  for (let i = 0; result === undefined && i < 100000; i++) if (!clock.step()) break;
  if (result === undefined) throw new Error("measure() did not complete");
  return result;
}

/** Runs `make` against `chip` on the simulated bus (measure twice) and returns the recorded answers. */
function record(chip: (clock: VirtualClock, env: Environment) => I2cPeripheral, address: number, make: Make): Table {
  const clock = new VirtualClock();
  const scheduler = new Scheduler({ clock });
  const bus = new I2cBus();
  bus.attach(address, chip(clock, new Environment()));
  const table: Table = new Map();
  const errors: SensorError[] = [];
  const driver = make({ sensor: { io: recordingIo(bus, table), address }, scheduler, onError: (e) => errors.push(e) });
  clock.advance(6000); // start-up waits (SCD4x stop/start, periodic first results)
  runMeasure(driver, clock);
  // One SCD4x interval later, so the second measurement reads a new result: the table keeps the
  // last answer to each command, and right after the first the SCD4x's data-ready says "none
  // yet" (the driver then returns its kept result), which replayed is "never ready".
  clock.advance(5000);
  runMeasure(driver, clock);
  driver.sample();
  if (errors.length) throw new Error("recording: " + errors[0].message);
  return table;
}

interface Rig {
  driver: Driver;
  clock: VirtualClock;
  errors: SensorError[];
}

function replay(table: Table, address: number, make: Make): Rig {
  const clock = new VirtualClock();
  const scheduler = new Scheduler({ clock });
  const errors: SensorError[] = [];
  const driver = make({ sensor: { io: cannedIo(table), address }, scheduler, onError: (e) => errors.push(e) });
  clock.advance(6000);
  return { driver, clock, errors };
}

function checkSample(s: Sample | undefined, errors: SensorError[], fields: (keyof Sample)[], what: string): void {
  if (errors.length) throw new Error(what + ": " + errors[0].message);
  if (!s) throw new Error(what + ": no sample");
  for (const f of fields) if (!s[f]) throw new Error(what + ": sample has no " + f);
}

interface Spec {
  name: string;
  chip: (clock: VirtualClock, env: Environment) => I2cPeripheral;
  address: number;
  make: Make;
  /** One operation on the rig. */
  op: (r: Rig) => Sample | undefined;
  fields: (keyof Sample)[];
  notes?: string;
}

const SPECS: Spec[] = [
  {
    name: "SHT3x periodic sample() (fetch + read 6 + 2 CRCs)",
    chip: (clock, environment) => new Sht3xSim({ clock, environment }),
    address: 0x44,
    make: (o) => new Sht3x({ ...o, mode: "periodic", mps: 10 }),
    op: (r) => r.driver.sample(),
    fields: ["thermometer", "hygrometer"],
  },
  {
    name: "SHT3x single shot trigger() + sample()",
    chip: (clock, environment) => new Sht3xSim({ clock, environment }),
    address: 0x44,
    make: (o) => new Sht3x({ ...o, mode: "single", repeatability: "high" }),
    op: (r) => {
      (r.driver as Sht3x).trigger();
      r.clock.advance(SHT3X_DURATION_MAX.high);
      return r.driver.sample();
    },
    fields: ["thermometer", "hygrometer"],
  },
  {
    name: "SHT4x trigger() + sample() (high precision)",
    chip: (clock, environment) => new Sht4xSim({ clock, environment }),
    address: 0x44,
    make: (o) => new Sht4x({ ...o, precision: "high" }),
    op: (r) => {
      r.clock.advance((r.driver as Sht4x).trigger());
      return r.driver.sample();
    },
    fields: ["thermometer", "hygrometer"],
  },
  {
    name: "BME280 normal mode sample() (T + P + H compensation)",
    chip: (clock, environment) => new Bmx280Sim({ clock, environment, variant: "bme280" }),
    address: 0x76,
    make: (o) => new Bme280({ ...o, mode: "normal" }),
    op: (r) => r.driver.sample(),
    fields: ["thermometer", "barometer", "hygrometer"],
  },
  {
    name: "BME280 forced trigger() + sample() (status + data)",
    chip: (clock, environment) => new Bmx280Sim({ clock, environment, variant: "bme280" }),
    address: 0x76,
    make: (o) => new Bme280({ ...o, mode: "forced" }),
    op: (r) => {
      r.clock.advance((r.driver as Bme280).trigger());
      return r.driver.sample();
    },
    fields: ["thermometer", "barometer", "hygrometer"],
  },
  {
    name: "BMP280 normal mode sample() (T + P)",
    chip: (clock, environment) => new Bmx280Sim({ clock, environment, variant: "bmp280" }),
    address: 0x76,
    make: (o) => new Bmp280({ ...o, mode: "normal" }),
    op: (r) => r.driver.sample(),
    fields: ["thermometer", "barometer"],
  },
  {
    name: "BH1750 continuous sample()",
    chip: (clock, environment) => new Bh1750Sim({ clock, environment }),
    address: 0x23,
    make: (o) => new Bh1750({ ...o, mode: "continuous" }),
    op: (r) => r.driver.sample(),
    fields: ["lightmeter"],
  },
  {
    name: "SCD4x periodic measure() (data-ready + read 9 + 3 CRCs, 2 scheduler jobs)",
    chip: (clock, environment) => new Scd4xSim({ clock, environment }),
    address: 0x62,
    make: (o) => new Scd4x({ ...o, mode: "periodic" }),
    // one interval later each time: a new result is due, so the driver asks data-ready and reads
    op: (r) => {
      r.clock.advance(5000);
      return runMeasure(r.driver, r.clock);
    },
    fields: ["carbonDioxideDetector", "thermometer", "hygrometer"],
    notes: "includes the scheduler and VirtualClock work of two 1 ms waits; SCD4x sample() only returns the cached result",
  },
];

const cases: BenchCase[] = [];
for (const s of SPECS) {
  const table = record(s.chip, s.address, s.make);
  const rig = replay(table, s.address, s.make);
  cases.push({
    name: "sensor " + s.name,
    run: () => s.op(rig),
    check: () => checkSample(s.op(rig), rig.errors, s.fields, s.name),
    notes: "canned I2C replaying the simulated chip's answers; no peer on XS" + (s.notes ? "; " + s.notes : ""),
  });
}

// Battery: an ADC read and a division; the ADC is a constant.
class FixedAdc {
  resolution = 12;
  constructor(_options: unknown) {}
  read(): number {
    return 2345;
  }
  close(): void {}
}
const batteryErrors: SensorError[] = [];
const battery = new Battery({ sensor: { io: FixedAdc as unknown as AnalogConstructor, pin: 34 }, reference: 3.3, dividerRatio: 2, onError: (e) => batteryErrors.push(e) });
cases.push({
  name: "sensor Battery sample() (ADC + divider)",
  run: () => battery.sample(),
  check: () => checkSample(battery.sample(), batteryErrors, ["battery"], "Battery"),
  notes: "constant ADC value; no peer on XS",
});

// The pressure formula alone (the datasheet's double-precision one, BMP280 §8.1), on the datasheet's
// worked example.
const cal = { T1: 27504, T2: 26435, T3: -1000, P1: 36477, P2: -10685, P3: 3024, P4: 2855, P5: 140, P6: -7, P7: 15500, P8: -14600, P9: 6000 };
cases.push({
  name: "sensor BMx280 compensatePressure",
  run: () => compensatePressure(cal, 415148, 128422),
  check: () => {
    if (Math.abs(compensatePressure(cal, 415148, 128422) - 100653.27) > 0.05) throw new Error("compensatePressure: not the datasheet's 100653.27 Pa");
  },
  notes: "adc_P 415148, t_fine 128422 (BMP280 datasheet §3.12 example); no peer on XS",
});

export default cases;
