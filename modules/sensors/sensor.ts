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
 * scheduler (one job per wait, nothing busy-waits) and
 * hands the finished sample to the callback. The same code runs on the device
 * (the scheduler on the host timer) and in tests (the scheduler on a
 * VirtualClock). Most chips measure as "trigger(), wait, sample()": that is the
 * default measurement(), and `readyAt`/`due()` hold the one-shot bookkeeping.
 *
 * Errors. A NACK, timeout, wrong chip id or bad CRC is reported through
 * `onError` as a SensorError whose message names the chip, the address, the
 * operation and the cause, and the affected field is left out of the sample:
 * never a stale or made-up value. Nothing thrown by the bus escapes `sample()`
 * or `measure()`. Unlike ECMA-419's onError (non-recoverable only), ours is
 * called for every failed operation; `error.fatal` says when the instance
 * cannot work until the condition clears (for instance a wrong chip id).
 * Only bad arguments (a programming error) throw, synchronously.
 */
import type { I2cConstructor, I2cDevice, I2cOptions, PinSpecifier, PortSpecifier } from "../platform/io";
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

/**
 * A failed operation: `message` is "<chip> at 0x<address>: <operation>: <reason>", `name`
 * "SensorError" (a getter on the prototype: Error.prototype.name is read-only where the
 * intrinsics are frozen, as on a device, so it cannot be assigned, and a field would cost every
 * error a property).
 */
export class SensorError extends Error {
  declare readonly reason: string;
  /** The instance cannot produce samples until the cause clears (it retries on the next measurement). */
  declare readonly fatal: boolean;
  constructor(chip: string, address: number, operation: string, reason: string, fatal?: boolean) {
    super(chip + " at 0x" + address.toString(16) + ": " + operation + ": " + reason);
    this.reason = reason;
    this.fatal = !!fatal;
  }
  override get name(): string {
    return "SensorError";
  }
}

/** A measurement: yields milliseconds to wait, returns the sample (or undefined when there is none). */
export type Measurement<S> = Generator<number, S | undefined, void>;

/*
 * The bytes of one I2C transaction. ECMA-419 I2C is synchronous and a driver decodes what it
 * read before it yields to the scheduler, so each driver keeps one 64-byte buffer for all its
 * transactions, instead of a new ArrayBuffer per read (ECMA-419 `read(byteLength)`) and per
 * command written (a dozen allocations per sampling pass, chunk-heap churn on XS). Reads fill
 * a view of bytes 0..31 (ECMA-419 I2C `read(buffer)`; no chip of ours reads more than 26);
 * writes go through a view of bytes 32..33, so a register-address write does not clobber bytes
 * the driver is still decoding. Views are made once per length. The buffer is the instance's:
 * a module-level one would be read-only once preloaded ("read-only buffer", docs/moddable.md).
 */
const SCRATCH = 32;

export abstract class I2cSensor<S extends object = Sample> {
  declare readonly chip: string;
  declare readonly address: number;
  declare protected readonly scheduler: Scheduler;
  declare protected device: I2cDevice | undefined;
  /** One-shot modes: when the triggered result is due, 0 while none is (due()). */
  declare protected readyAt: number;
  declare private onError: ((error: SensorError) => void) | undefined;
  /** The job of the measurement's current wait. */
  declare private job: Job | undefined;
  declare private run: Measurement<S> | undefined;
  // The callbacks of the measurement under way: the first in a field, later ones (calls made
  // while it runs) in an array made only then (issue 7: no array per measurement).
  declare private waiter: ((sample: S) => void) | undefined;
  declare private more: ((sample: S) => void)[] | undefined;
  /** Views of the buffer by length: [n] reads n bytes at 0, [SCRATCH + n] writes n bytes at SCRATCH. */
  declare private views: Uint8Array[];

  constructor(chip: string, options: SensorOptions, addresses: readonly number[]) {
    const s = options.sensor;
    const address = s.address ?? addresses[0];
    this.chip = chip;
    this.option(addresses, address, "address");
    this.address = address;
    if (!(this.scheduler = options.scheduler)) throw new TypeError(chip + ": no scheduler");
    this.onError = options.onError;
    this.readyAt = 0;
    const views: Uint8Array[] = (this.views = []);
    views[SCRATCH] = new Uint8Array(2 * SCRATCH); // the whole buffer (no transfer is SCRATCH bytes long)
    // ECMA-419 §9.1 I2C options: the sensor's own, with its address and 100 kHz unless given
    // (as the Moddable SDK's drivers pass them; a pin given as undefined reaches the host as such)
    this.device = new s.io({ hz: 100_000, ...s, address } as I2cOptions);
  }

  protected now(): number {
    return this.scheduler.now();
  }

  /** Reports a failure through onError (never throws) and returns undefined for convenience. */
  protected fail(operation: string, cause: unknown, fatal?: boolean): undefined {
    try {
      this.onError?.(new SensorError(this.chip, this.address, operation, "" + ((cause as Error)?.message || cause), fatal));
    } catch {
      // an onError that throws must not break the driver
    }
  }

  /**
   * One transaction through a view of `count` bytes of the buffer: a read (no `command`) or the
   * write of `command`, big-endian in one byte, or two when it is above 0xFF (all our chips' commands
   * and register writes fit). The view, or undefined after reporting `operation` (not when it is
   * "": a probe whose NACK is an answer). Read bytes are valid until the driver's next read:
   * decode them at once, copy what must be kept (`slice()`).
   */
  protected transfer(operation: string, count: number, command?: number, stop = true): Uint8Array | undefined {
    const at = command === undefined ? 0 : SCRATCH;
    const view = (this.views[at + count] ??= this.views[SCRATCH].subarray(at, at + count));
    try {
      // (closed: device is undefined, and the TypeError is reported)
      if (at) {
        view[count - 1] = command!;
        view[0] = command! >> (8 * (count - 1));
        this.device!.write(view, stop);
      } else this.device!.read(view);
      return view;
    } catch (error) {
      if (operation) this.fail(operation, error);
    }
  }

  /** Writes a command (or register and value): one byte, or two when it is above 0xFF. False (after reporting) when it failed. */
  protected write(operation: string, command: number, stop?: boolean): boolean {
    return !!this.transfer(operation, command > 0xff ? 2 : 1, command, stop);
  }

  /** Reads `count` bytes (see transfer); undefined (after reporting, unless `operation` is "") when it failed. */
  protected read(operation: string, count: number): Uint8Array | undefined {
    return this.transfer(operation, count);
  }

  /** `value` when it is one of `list`, its index; otherwise a RangeError naming the option (nothing changed). */
  protected option(list: readonly unknown[], value: unknown, name: string): number {
    const i = list.indexOf(value);
    if (i < 0) throw new RangeError(this.chip + ": " + name + " " + value + " not in " + list);
    return i;
  }

  /** One-shot modes: true once the triggered result is due, and then no more until the next trigger. */
  protected due(): boolean {
    const at = this.readyAt;
    if (!at || this.now() < at) return false;
    this.readyAt = 0;
    return true;
  }

  /** Starts a measurement; the wait in ms until sample() has it, or -1 when it could not start (reported). */
  trigger?(): number;

  /** The chip's measurement sequence, run by measure(): by default trigger(), wait, sample(). */
  protected *measurement(): Measurement<S> {
    const wait = this.trigger!();
    if (wait < 0) return;
    if (wait > 0) yield wait;
    return this.sample();
  }

  /** ECMA-419 §13 sample(): never waits. */
  abstract sample(): S | undefined;

  /**
   * Runs one measurement with the datasheet timing on the scheduler and calls
   * `callback` with the sample (an object; fields that failed are left out).
   * Calls made while one is under way share its result, each with its own copy.
   */
  measure(callback: (sample: S) => void): void {
    if (typeof callback !== "function" || !this.device) throw new TypeError(this.chip + ": closed, or no callback");
    if (this.run) (this.more ??= []).push(callback);
    else {
      this.waiter = callback;
      this.run = this.measurement();
      this.step();
    }
  }

  /** Runs the measurement to its next wait (the driver's job, whose target is the driver) or its end. */
  private step(): void {
    let r: IteratorResult<number, S | undefined> | undefined;
    try {
      r = this.run!.next(); // the job is cancelled when the instance closes
    } catch (error) {
      this.fail("measure", error);
    }
    if (!this.run) return; // closed meanwhile (an onError that closes the driver): the measurement ends here
    if (r && !r.done) {
      // No closure, options object or string per step: the run is the class's, the name the chip's.
      this.job = this.scheduler.schedule({ name: this.chip, deadline: this.now() + (r.value > 0 ? r.value : 0), run: I2cSensor.stepJob, target: this });
      return;
    }
    const more = this.more;
    const first = this.waiter!;
    this.run = this.waiter = this.more = undefined;
    const sample = r?.value ?? ({} as S);
    this.answer(first, sample);
    // later callers: a copy each (a sample is objects of numbers)
    if (more) for (let i = 0; i < more.length; i++) this.answer(more[i], JSON.parse(JSON.stringify(sample)));
  }

  private static stepJob(this: I2cSensor<object>): void {
    this.step();
  }

  /** Calls the app's `callback`: what it throws is reported as `operation` ("measure callback" unless given), never escapes. */
  protected answer<T>(callback: (value: T) => void, value: T, operation?: string): void {
    try {
      callback(value);
    } catch (error) {
      this.fail(operation || "measure callback", error);
    }
  }

  /** ECMA-419 §13 close(): cancels a measurement under way and releases the IO. */
  close(): void {
    const device = this.device;
    this.device = this.run = this.waiter = this.more = undefined;
    this.job?.cancel();
    device?.close();
  }
}
