/*
 * The shared shape of our I2C sensor drivers: ECMA-419 §13 "Sensor Class
 * Pattern" (constructor with an options object whose `sensor` property names
 * the IO constructor and its options, `configure`, `sample`, `close`, an
 * `onError` callback), plus one addition for chips that need time to measure:
 * `measure(callback)`.
 *
 * Timing. ECMA-419 `sample()` is synchronous and "non-blocking, like IO"
 * (§13), so a driver must never wait inside it. Every measurement that takes
 * time is written as a generator (`measurement()`) that yields how many
 * milliseconds to wait before its next step; `measure()` runs it on the
 * scheduler (one job per wait, nothing busy-waits) and hands the finished
 * sample to the callback. The same code runs on the device (the scheduler on
 * the host timer) and in tests (the scheduler on a VirtualClock).
 *
 * Errors. A NACK, timeout, wrong chip id or bad CRC is reported through
 * `onError` as a SensorError naming the chip, the address, the operation and
 * the cause, and the affected field is left out of the sample: never a stale
 * or made-up value. Nothing thrown by the bus escapes `sample()` or
 * `measure()`. Unlike ECMA-419's onError (non-recoverable only), ours is
 * called for every failed operation; `error.fatal` says when the instance
 * cannot work until the condition clears (for instance a wrong chip id).
 * Only bad arguments (a programming error) throw, synchronously.
 */
import type { I2cConstructor, I2cDevice, PinSpecifier, PortSpecifier } from "../platform/io";
import type { Job, Scheduler } from "../scheduler/scheduler";

/** ECMA-419 §13: the `sensor` property of the constructor options. */
export interface SensorIoOptions {
  io: I2cConstructor;
  address?: number;
  data?: PinSpecifier;
  clock?: PinSpecifier;
  /** Bus speed; 100 kHz when absent. */
  hz?: number;
  port?: PortSpecifier;
}

export interface SensorOptions {
  sensor: SensorIoOptions;
  /** The owner of time: waits between a measurement's steps are scheduler jobs. */
  scheduler: Scheduler;
  onError?: (error: SensorError) => void;
}

/** Sample sub-objects named as ECMA-419 §14 names them (compound sensors). */
export interface Sample {
  /** ECMA-419 §14 Temperature: degrees Celsius. */
  thermometer?: { temperature: number };
  /** ECMA-419 §14 Humidity: relative humidity in percent. */
  hygrometer?: { humidity: number };
  /** ECMA-419 §14 Atmospheric pressure: pascal. */
  barometer?: { pressure: number };
  /** ECMA-419 §14 Ambient light: lux. */
  lightmeter?: { illuminance: number };
  /** ECMA-419 §14 Carbon Dioxide: parts per million (property `CO2`). */
  carbonDioxideDetector?: { CO2: number };
  /** Host extension (ECMA-419 has no battery class): volts at the cell. */
  battery?: { voltage: number };
}

export class SensorError extends Error {
  readonly chip: string;
  readonly address: number;
  readonly operation: string;
  readonly reason: string;
  /** The instance cannot produce samples until the cause clears (it retries on the next measurement). */
  readonly fatal: boolean;
  constructor(chip: string, address: number, operation: string, reason: string, fatal = false) {
    super(`${chip} at 0x${address.toString(16)}: ${operation}: ${reason}`);
    this.chip = chip;
    this.address = address;
    this.operation = operation;
    this.reason = reason;
    this.fatal = fatal;
  }
}
// On the prototype: `this.name = ...` throws where the intrinsics are frozen, as on a device (host-tests/xs/lockdown.ts).
Object.defineProperty(SensorError.prototype, "name", { value: "SensorError", writable: true, configurable: true });

/** A measurement: yields milliseconds to wait, returns the sample (or undefined when there is none). */
export type Measurement<S> = Generator<number, S | undefined, void>;

function describe(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/** Copies a sample two levels deep so each receiver gets its own object (ECMA-419 §13 sample). */
export function copySample<S extends object>(sample: S): S {
  const out: any = {};
  for (const key of Object.keys(sample)) {
    const v = (sample as any)[key];
    out[key] = v && typeof v === "object" ? { ...v } : v;
  }
  return out;
}

export function checkOptions(chip: string, options: unknown): asserts options is SensorOptions {
  if (!options || typeof options !== "object") throw new TypeError(`${chip}: options object required`);
  const o = options as SensorOptions;
  if (!o.sensor || typeof o.sensor !== "object") throw new TypeError(`${chip}: options.sensor required ({io, address, data, clock, hz})`);
  if (typeof o.sensor.io !== "function") throw new TypeError(`${chip}: options.sensor.io must be an I2C constructor`);
  if (!o.scheduler || typeof o.scheduler.schedule !== "function") throw new TypeError(`${chip}: options.scheduler required`);
  if (o.onError !== undefined && typeof o.onError !== "function") throw new TypeError(`${chip}: options.onError must be a function`);
}


/*
 * The bytes of one I2C transaction. ECMA-419 I2C is synchronous and a driver decodes what it
 * read before it yields to the scheduler, so each driver keeps one buffer for all its
 * transactions: read(byteLength) would make a new ArrayBuffer per transaction and
 * Uint8Array.from a second for every command written, a dozen allocations per sampling pass
 * for the garbage collector (on XS, chunk-heap churn). Reads fill a view of the first half
 * (ECMA-419 I2C `read(buffer)`); writes copy the command into a view of the second half, so a
 * register-address write does not clobber bytes the driver is still decoding. Views are made
 * once per length. Longer transfers (none of our chips needs one) get a buffer of their own.
 * The buffer is the instance's, not the module's: a module-level one would be read-only once
 * preloaded ("read-only buffer", docs/moddable.md).
 */
const SCRATCH_BYTES = 32;

export abstract class I2cSensor<S extends object = Sample> {
  readonly chip: string;
  readonly address: number;
  protected readonly scheduler: Scheduler;
  protected device: I2cDevice | undefined;
  #onError?: (error: SensorError) => void;
  #job: Job | undefined;
  #sequence: Measurement<S> | undefined;
  // The callbacks of the measurement under way: the first in a field, later ones (calls made
  // while it runs) in an array made only then. A one-element array per measurement cost
  // ~150 B a driver mid-measurement in a fleet (issue 7).
  #waiter: ((sample: S) => void) | undefined = undefined;
  #more: ((sample: S) => void)[] | undefined = undefined;
  #closed = false;
  /** Reads fill views of bytes 0..31, writes go through views of 32..63 (above). */
  #io = new Uint8Array(2 * SCRATCH_BYTES);
  /** Views of #io by length: [n] reads n bytes, [SCRATCH_BYTES + n] writes n bytes. */
  #views: Uint8Array[] = [];
  /** This driver's job name ("SHT3x measure"), made once. */
  #stepName: string;

  constructor(chip: string, options: SensorOptions, addresses: readonly number[]) {
    checkOptions(chip, options);
    const s = options.sensor;
    const address = s.address ?? addresses[0];
    if (!addresses.includes(address))
      throw new RangeError(`${chip}: address 0x${Number(address).toString(16)} is not one of ${addresses.map((a) => "0x" + a.toString(16)).join(", ")}`);
    if (s.hz !== undefined && !(s.hz > 0 && s.hz <= 1_000_000)) throw new RangeError(`${chip}: hz must be in (0, 1000000], got ${s.hz}`);
    this.chip = chip;
    this.#stepName = chip + " measure";
    this.address = address;
    this.scheduler = options.scheduler;
    this.#onError = options.onError;
    const io: any = { address, hz: s.hz ?? 100_000 };
    if (s.data !== undefined) io.data = s.data;
    if (s.clock !== undefined) io.clock = s.clock;
    if (s.port !== undefined) io.port = s.port;
    this.device = new s.io(io);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** True while a measure() is under way. */
  get measuring(): boolean {
    return this.#sequence !== undefined;
  }

  protected now(): number {
    return this.scheduler.now();
  }

  /** Reports a failure through onError (never throws) and returns undefined for convenience. */
  protected fail(operation: string, cause: unknown, fatal = false): undefined {
    const error = new SensorError(this.chip, this.address, operation, typeof cause === "string" ? cause : describe(cause), fatal);
    if (this.#onError) {
      try {
        this.#onError(error);
      } catch {
        // an onError that throws must not break the driver
      }
    }
    return undefined;
  }

  #readView(count: number): Uint8Array {
    if (count > SCRATCH_BYTES) return new Uint8Array(count);
    return (this.#views[count] ??= this.#io.subarray(0, count));
  }

  #writeView(bytes: ArrayLike<number>): Uint8Array {
    const n = bytes.length;
    const view = n > SCRATCH_BYTES ? new Uint8Array(n) : (this.#views[SCRATCH_BYTES + n] ??= this.#io.subarray(SCRATCH_BYTES, SCRATCH_BYTES + n));
    for (let i = 0; i < n; i++) view[i] = bytes[i];
    return view;
  }

  /** One write transaction; false (after reporting) when it failed. */
  protected write(operation: string, bytes: ArrayLike<number>, stop = true): boolean {
    if (!this.device) {
      this.fail(operation, "instance is closed");
      return false;
    }
    try {
      this.device.write(this.#writeView(bytes), stop);
      return true;
    } catch (error) {
      this.fail(operation, error);
      return false;
    }
  }

  /**
   * One read transaction of `count` bytes; undefined (after reporting) when it failed. The
   * bytes are a view of the driver's buffer, valid until its next read: decode them at once,
   * copy what must be kept (`slice()`).
   */
  protected read(operation: string, count: number): Uint8Array | undefined {
    if (!this.device) return this.fail(operation, "instance is closed");
    const view = this.#readView(count);
    try {
      this.device.read(view);
      return view;
    } catch (error) {
      return this.fail(operation, error);
    }
  }

  /** Register read: the register address, a repeated start, then `count` bytes. */
  protected readRegisters(operation: string, register: number, count: number): Uint8Array | undefined {
    if (!this.write(operation, [register], false)) return undefined;
    return this.read(operation, count);
  }

  /** Reads without reporting: for "is a result there yet" probes whose NACK is not an error. The bytes are reused as read()'s are. */
  protected tryRead(count: number): Uint8Array | Error {
    if (!this.device) return new Error("instance is closed");
    const view = this.#readView(count);
    try {
      this.device.read(view);
      return view;
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  /** The chip's measurement sequence, run by measure(). */
  protected abstract measurement(): Measurement<S>;

  /** ECMA-419 §13 sample(): never waits. */
  abstract sample(): S | undefined;

  /**
   * Runs one measurement with the datasheet timing on the scheduler and calls
   * `callback` with the sample (an object; fields that failed are left out).
   * Calls made while one is under way share its result.
   */
  measure(callback: (sample: S) => void): void {
    if (typeof callback !== "function") throw new TypeError(`${this.chip}: measure(callback) needs a function`);
    if (this.#closed) throw new Error(`${this.chip}: instance is closed`);
    if (this.#sequence) {
      if (this.#more) this.#more.push(callback);
      else this.#more = [callback];
      return;
    }
    this.#waiter = callback;
    this.#sequence = this.measurement();
    this.#step();
  }

  #step(): void {
    const sequence = this.#sequence;
    if (!sequence) return;
    let result: IteratorResult<number, S | undefined>;
    try {
      result = sequence.next();
    } catch (error) {
      this.fail("measure", error);
      result = { done: true, value: undefined };
    }
    if (result.done) {
      this.#finish(result.value);
      return;
    }
    const wait = result.value > 0 ? result.value : 0;
    const deadline = this.scheduler.now() + wait;
    // A shared run with this driver as its target, and a name made once per driver: no closure
    // or string per step (a pass makes one step per wait of every driver).
    this.#job = this.scheduler.schedule({ name: this.#stepName, deadline, run: I2cSensor.#stepJob, target: this });
  }

  /** The run of every measurement step's job; the job's target is the driver. */
  static #stepJob(this: I2cSensor<object>): void {
    this.#job = undefined;
    this.#step();
  }

  #finish(sample: S | undefined): void {
    this.#sequence = undefined;
    const first = this.#waiter;
    const more = this.#more;
    this.#waiter = this.#more = undefined;
    const base = sample ?? ({} as S);
    if (first) this.#answer(first, base);
    if (more) for (let i = 0; i < more.length; i++) this.#answer(more[i], copySample(base));
  }

  #answer(callback: (sample: S) => void, sample: S): void {
    try {
      callback(sample);
    } catch (error) {
      this.fail("measure callback", error);
    }
  }

  /** ECMA-419 §13 close(): cancels a measurement under way and releases the IO. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#job?.cancel();
    this.#job = undefined;
    this.#sequence = undefined;
    this.#waiter = this.#more = undefined;
    const device = this.device;
    this.device = undefined;
    try {
      device?.close();
    } catch {
      // closing twice or a dead bus: nothing to do
    }
  }
}
