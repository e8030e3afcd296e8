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
  // An own property, not an assignment: Error.prototype.name is read-only where the intrinsics
  // are frozen, as on a device (host-tests/xs/lockdown.ts), and a class field defines it.
  override name = "SensorError";
  declare readonly chip: string;
  declare readonly address: number;
  declare readonly operation: string;
  declare readonly reason: string;
  /** The instance cannot produce samples until the cause clears (it retries on the next measurement). */
  declare readonly fatal: boolean;
  constructor(chip: string, address: number, operation: string, reason: string, fatal = false) {
    super(chip + " at 0x" + address.toString(16) + ": " + operation + ": " + reason);
    this.chip = chip;
    this.address = address;
    this.operation = operation;
    this.reason = reason;
    this.fatal = fatal;
  }
}

/** A measurement: yields milliseconds to wait, returns the sample (or undefined when there is none). */
export type Measurement<S> = Generator<number, S | undefined, void>;

/** Copies a sample two levels deep so each receiver gets its own object (ECMA-419 §13 sample: every value is an object of numbers). */
export function copySample<S extends object>(sample: S): S {
  const out: any = {};
  for (const key in sample) out[key] = { ...sample[key] };
  return out;
}

/*
 * The bytes of one I2C transaction. ECMA-419 I2C is synchronous and a driver decodes what it
 * read before it yields to the scheduler, so each driver keeps one buffer for all its
 * transactions, instead of a new ArrayBuffer per read (ECMA-419 `read(byteLength)`) and per
 * command written (a dozen allocations per sampling pass, chunk-heap churn on XS). Reads fill
 * a view of bytes 0..31 (ECMA-419 I2C `read(buffer)`); writes copy the command into a view of
 * bytes 32..63, so a register-address write does not clobber bytes the driver is still
 * decoding. Views are made once per length; longer transfers (none of our chips needs one)
 * get a buffer of their own. The buffer is the instance's: a module-level one would be
 * read-only once preloaded ("read-only buffer", docs/moddable.md).
 */
const SCRATCH = 32;

export abstract class I2cSensor<S extends object = Sample> {
  declare readonly chip: string;
  declare readonly address: number;
  declare protected readonly scheduler: Scheduler;
  declare protected device: I2cDevice | undefined;
  declare private onError: ((error: SensorError) => void) | undefined;
  declare private job: Job | undefined;
  declare private run: Measurement<S> | undefined;
  // The callbacks of the measurement under way: the first in a field, later ones (calls made
  // while it runs) in an array made only then (issue 7: no array per measurement).
  declare private waiter: ((sample: S) => void) | undefined;
  declare private more: ((sample: S) => void)[] | undefined;
  /** Reads fill views of bytes 0..31, writes go through views of 32..63 (above). */
  declare private io: Uint8Array;
  /** Views of io by length: [n] reads n bytes, [SCRATCH + n] writes n bytes. */
  declare private views: Uint8Array[];

  constructor(chip: string, options: SensorOptions, addresses: readonly number[]) {
    const s = options.sensor;
    if (!s || !options.scheduler) throw new TypeError(chip + ": options.sensor and options.scheduler are required");
    const address = s.address ?? addresses[0];
    if (!addresses.includes(address)) throw new RangeError(chip + ": address 0x" + address.toString(16) + " is not one of the chip's");
    this.chip = chip;
    this.address = address;
    this.scheduler = options.scheduler;
    this.onError = options.onError;
    this.io = new Uint8Array(2 * SCRATCH);
    this.views = [];
    // ECMA-419 §9.1 I2C options: only the pins given (an undefined pin is not "no pin" to every host)
    const io: any = { address, hz: s.hz ?? 100_000 };
    if (s.data !== undefined) io.data = s.data;
    if (s.clock !== undefined) io.clock = s.clock;
    if (s.port !== undefined) io.port = s.port;
    this.device = new s.io(io);
  }

  /** True while a measure() is under way. */
  get measuring(): boolean {
    return !!this.run;
  }

  protected now(): number {
    return this.scheduler.now();
  }

  /** Reports a failure through onError (never throws) and returns undefined for convenience. */
  protected fail(operation: string, cause: unknown, fatal?: boolean): undefined {
    try {
      this.onError?.(new SensorError(this.chip, this.address, operation, cause instanceof Error ? cause.message : String(cause), fatal));
    } catch {
      // an onError that throws must not break the driver
    }
  }

  /** One transaction through a view of `count` bytes of the driver's buffer at `at` (below); the error when it failed. */
  private transfer(count: number, at: number, stop: boolean, bytes?: ArrayLike<number>): Uint8Array | Error {
    const view = count > SCRATCH ? new Uint8Array(count) : (this.views[at + count] ??= this.io.subarray(at, at + count));
    try {
      if (!this.device) return Error("instance is closed");
      if (bytes) {
        view.set(bytes);
        this.device.write(view, stop);
      } else this.device.read(view);
      return view;
    } catch (error) {
      return error instanceof Error ? error : Error(String(error));
    }
  }

  /** One write transaction; false (after reporting) when it failed. */
  protected write(operation: string, bytes: ArrayLike<number>, stop = true): boolean {
    const r = this.transfer(bytes.length, SCRATCH, stop, bytes);
    return r instanceof Error ? !!this.fail(operation, r) : true;
  }

  /**
   * One read transaction of `count` bytes; undefined (after reporting) when it failed. The
   * bytes are a view of the driver's buffer, valid until its next read: decode them at once,
   * copy what must be kept (`slice()`).
   */
  protected read(operation: string, count: number): Uint8Array | undefined {
    const r = this.transfer(count, 0, true);
    return r instanceof Error ? this.fail(operation, r) : r;
  }

  /** Register read: the register address, a repeated start, then `count` bytes. */
  protected readRegisters(operation: string, register: number, count: number): Uint8Array | undefined {
    return this.write(operation, [register], false) ? this.read(operation, count) : undefined;
  }

  /** Reads without reporting: for "is a result there yet" probes whose NACK is not an error. The bytes are reused as read()'s are. */
  protected tryRead(count: number): Uint8Array | Error {
    return this.transfer(count, 0, true);
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
    if (typeof callback !== "function" || !this.device) throw new TypeError(this.chip + (this.device ? ": measure(callback) needs a function" : ": instance is closed"));
    if (this.run) (this.more ??= []).push(callback);
    else {
      this.waiter = callback;
      this.run = this.measurement();
      this.step();
    }
  }

  /** Runs the measurement to its next wait (a scheduler job whose target is the driver) or its end. */
  private step(): void {
    const run = this.run;
    if (!run) return;
    let r: IteratorResult<number, S | undefined>;
    try {
      r = run.next();
    } catch (error) {
      this.fail("measure", error);
      r = { done: true, value: undefined };
    }
    if (!r.done) {
      // No closure or string per step: the run is the class's, the name the chip's.
      this.job = this.scheduler.schedule({ name: this.chip, deadline: this.scheduler.now() + (r.value > 0 ? r.value : 0), run: I2cSensor.stepJob, target: this });
      return;
    }
    const first = this.waiter!;
    const more = this.more;
    this.run = this.waiter = this.more = undefined;
    const sample = r.value ?? ({} as S);
    this.answer(first, sample);
    if (more) for (const cb of more) this.answer(cb, copySample(sample));
  }

  private static stepJob(this: I2cSensor<object>): void {
    this.step();
  }

  private answer(callback: (sample: S) => void, sample: S): void {
    try {
      callback(sample);
    } catch (error) {
      this.fail("measure callback", error);
    }
  }

  /** ECMA-419 §13 close(): cancels a measurement under way and releases the IO. */
  close(): void {
    const device = this.device;
    this.device = this.run = this.waiter = this.more = undefined;
    this.job?.cancel();
    try {
      device?.close();
    } catch {
      // a dead bus: nothing to do
    }
  }
}
