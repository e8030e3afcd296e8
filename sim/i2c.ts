/*
 * A simulated I2C bus with register-level peripherals and injectable faults.
 *
 * `bus.I2C` is a constructor in the shape of ECMA-419 §10 "I²C – synchronous IO":
 * drivers get it as `{sensor: {io: bus.I2C, address, data, clock, hz}}` exactly as
 * they get `embedded:io/i2c` on the device. Peripherals (sim/devices/*) model a
 * chip's command set and registers; the bus models what the wire can do wrong:
 * address NACK, data NACK, a stuck bus (timeout) and a corrupted byte.
 *
 * Portable on purpose (no Node API): the XS suites drive drivers through it.
 */
import type { ByteBuffer, I2cDevice, I2cOptions } from "../modules/platform/io";
import { toUint8Array } from "./io-buffers";

/** Thrown by a peripheral (or the bus) when a byte is not acknowledged. */
export class I2cNackError extends Error {
  readonly kind: "address" | "data";
  constructor(kind: "address" | "data", message?: string) {
    super(message ?? (kind === "address" ? "I2C address not acknowledged" : "I2C data not acknowledged"));
    this.kind = kind;
  }
}
// On the prototype: `this.name = ...` throws where the intrinsics are frozen, as on a device (host-tests/xs/lockdown.ts).
Object.defineProperty(I2cNackError.prototype, "name", { value: "I2cNackError", writable: true, configurable: true });

export class I2cTimeoutError extends Error {
  constructor(message = "I2C bus timeout (clock held low)") {
    super(message);
  }
}
// On the prototype: `this.name = ...` throws where the intrinsics are frozen, as on a device (host-tests/xs/lockdown.ts).
Object.defineProperty(I2cTimeoutError.prototype, "name", { value: "I2cTimeoutError", writable: true, configurable: true });

/** A chip on the bus, seen at the byte level. */
export interface I2cPeripheral {
  /**
   * A write transaction: the bytes the initiator sent after the address. `stop`
   * is false when a repeated start follows (register-address-then-read pattern).
   * Throw I2cNackError("address") to refuse the transaction (busy chip) or
   * I2cNackError("data") to refuse a byte.
   */
  write(data: Uint8Array, stop: boolean): void;
  /** A read transaction of `count` bytes. Throw I2cNackError("address") when the chip is busy. */
  read(count: number, stop: boolean): Uint8Array;
}

export type I2cFaultKind = "address-nack" | "data-nack" | "timeout" | "corrupt";

export interface I2cFault {
  kind: I2cFaultKind;
  /** Only transactions to this address (default: any). */
  address?: number;
  /** Only reads or only writes (default: both). */
  on?: "read" | "write";
  /** How many transactions it affects (default 1; Infinity for a permanent fault). */
  count?: number;
  /** For "corrupt": which byte of the read to flip (default 0) and the XOR mask (default 0x01). */
  byteIndex?: number;
  mask?: number;
}

export interface I2cTransaction {
  address: number;
  op: "read" | "write";
  /** Bytes written, or bytes returned for a read. */
  data: Uint8Array;
  stop: boolean;
  /** The fault or NACK that ended it, if any. */
  error?: string;
}

export class I2cBus {
  /**
   * The chips by address under "a<address>" keys: a plain object of a shape
   * shared by every bus with the same chips (a Map costs each bus ~180 B).
   */
  #chips: Record<string, I2cPeripheral> = {};
  #faults: I2cFault[] | undefined;
  #log: I2cTransaction[] | undefined;
  logLimit: number;
  /** The ECMA-419 I2C constructor bound to this bus. */
  readonly I2C: new (options: I2cOptions) => I2cDevice;

  /** `logLimit`: transactions kept in `log` (default 256). */
  constructor(options?: { logLimit?: number }) {
    const limit = options?.logLimit ?? 256;
    if (!(Number.isInteger(limit) && limit >= 0)) throw new RangeError(`I2C bus: logLimit must be an integer >= 0, got ${limit}`);
    this.logLimit = limit;
    // One class for every bus, bound to this one: a class per bus would cost each
    // simulated device a map, a prototype and a closure per method (~1.5 KB in V8).
    // `new bus.I2C(options)` constructs a SimI2C with (bus, options); instances
    // are `instanceof bus.I2C` as the ECMA-419 class pattern expects.
    this.I2C = SimI2C.bind(null, this) as unknown as new (options: I2cOptions) => I2cDevice;
  }

  /** The attached chips by address (a new Map each time: attach and detach change the bus). */
  get peripherals(): Map<number, I2cPeripheral> {
    const map = new Map<number, I2cPeripheral>();
    for (const address of this.scan()) map.set(address, this.#chips["a" + address]);
    return map;
  }

  /** The chip at `address`, if any. */
  peripheral(address: number): I2cPeripheral | undefined {
    const key = "a" + address;
    return Object.prototype.hasOwnProperty.call(this.#chips, key) ? this.#chips[key] : undefined;
  }

  /** The queued faults, next first (created with the first). */
  get faults(): I2cFault[] {
    return (this.#faults ??= []);
  }

  /** Every transaction, newest last, up to `logLimit` of them (0: none kept; created with the first). */
  get log(): I2cTransaction[] {
    return (this.#log ??= []);
  }

  attach(address: number, peripheral: I2cPeripheral): void {
    if (!Number.isInteger(address) || address < 0 || address > 0x7f) throw new RangeError(`I2C bus: invalid 7-bit address ${address}`);
    if (this.peripheral(address)) throw new Error(`I2C bus: address 0x${address.toString(16)} already in use`);
    this.#chips["a" + address] = peripheral;
  }

  detach(address: number): void {
    delete this.#chips["a" + address];
  }

  /** Queues a fault for the next matching transaction(s). */
  injectFault(fault: I2cFault): void {
    this.faults.push({ count: 1, ...fault });
  }

  clearFaults(): void {
    if (this.#faults) this.#faults.length = 0;
  }

  /** Addresses that acknowledge, as a bus scan would find them. */
  scan(): number[] {
    return Object.keys(this.#chips).map((k) => Number(k.slice(1))).sort((a, b) => a - b);
  }

  /** @internal one transaction on the wire */
  transfer(address: number, op: "read" | "write", count: number, data: Uint8Array | undefined, stop: boolean): Uint8Array {
    // The log entry and its copies only when a log is kept (a fleet's buses keep none).
    const entry: I2cTransaction | undefined = this.logLimit > 0 ? { address, op, data: data ? data.slice() : new Uint8Array(0), stop } : undefined;
    this.#record(entry);
    const fault = this.#takeFault(address, op);
    try {
      if (fault?.kind === "timeout") throw new I2cTimeoutError();
      if (fault?.kind === "address-nack") throw new I2cNackError("address");
      const peripheral = this.peripheral(address);
      if (!peripheral) throw new I2cNackError("address", `I2C address 0x${address.toString(16)} not acknowledged (no device)`);
      if (op === "write") {
        if (fault?.kind === "data-nack") throw new I2cNackError("data");
        peripheral.write(data!, stop);
        return entry ? entry.data : data!;
      }
      const out = peripheral.read(count, stop);
      if (out.length !== count) throw new Error(`simulated peripheral 0x${address.toString(16)} returned ${out.length} bytes for a ${count}-byte read`);
      // A copy when the bytes are logged or corrupted, so the chip's own array stays as it made
      // it; otherwise SimI2C.read copies them into what it hands out.
      const bytes = entry || fault ? out.slice() : out;
      if (fault?.kind === "corrupt" && bytes.length) {
        const i = Math.min(fault.byteIndex ?? 0, bytes.length - 1);
        bytes[i] ^= fault.mask ?? 0x01;
      }
      if (fault?.kind === "data-nack") throw new I2cNackError("data");
      if (entry) entry.data = bytes;
      return bytes;
    } catch (error) {
      if (entry) entry.error = (error as Error).message;
      throw error;
    }
  }

  #takeFault(address: number, op: "read" | "write"): I2cFault | undefined {
    const faults = this.#faults;
    if (!faults) return undefined;
    for (let i = 0; i < faults.length; i++) {
      const f = faults[i];
      if (f.address !== undefined && f.address !== address) continue;
      if (f.on && f.on !== op) continue;
      if (f.kind === "corrupt" && op !== "read") continue;
      f.count = (f.count ?? 1) - 1;
      if (f.count <= 0) faults.splice(i, 1);
      return f;
    }
    return undefined;
  }

  #record(entry: I2cTransaction | undefined): void {
    if (!entry) {
      if (this.#log?.length) this.#log.length = 0;
      return;
    }
    this.log.push(entry);
    if (this.log.length > this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
  }
}

/**
 * An ECMA-419 §10 I²C instance on a simulated bus. Not constructed directly:
 * `new bus.I2C(options)` is this class with the bus bound as first argument.
 */
export class SimI2C implements I2cDevice {
  readonly address: number;
  /** The bus; undefined once closed (one field for both: a simulated fleet opens four of these per device). */
  #bus: I2cBus | undefined;
  /**
   * ECMA-419 §10 `target`: an own property only when the options gave one; the
   * prototype's undefined otherwise (a field less per instance).
   */
  declare target: unknown;
  constructor(bus: I2cBus, options: I2cOptions) {
    if (!(bus instanceof I2cBus)) throw new TypeError("I2C: construct through an I2cBus's I2C (new bus.I2C(options))");
    if (!options || typeof options !== "object") throw new TypeError("I2C: options object required");
    const { address, hz } = options;
    if (!Number.isInteger(address) || address < 0 || address > 0x7f) throw new RangeError(`I2C: invalid 7-bit address ${address}`);
    if (hz !== undefined && !(hz > 0)) throw new RangeError(`I2C: invalid hz ${hz}`);
    this.#bus = bus;
    this.address = address;
    if (options.target !== undefined) this.target = options.target;
  }
  get format(): string {
    return "buffer";
  }
  set format(value: string) {
    if (value !== "buffer") throw new Error(`I2C: unsupported format "${value}"`);
  }
  read(what: number | ByteBuffer, stop = true): any {
    const bus = openBus(this.#bus);
    if (typeof what === "number") {
      if (!Number.isInteger(what) || what < 0) throw new RangeError(`I2C read: invalid byte count ${what}`);
      const bytes = bus.transfer(this.address, "read", what, undefined, stop);
      return (bytes.buffer as ArrayBuffer).slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    }
    const target = toUint8Array(what, "I2C read");
    const bytes = bus.transfer(this.address, "read", target.length, undefined, stop);
    target.set(bytes);
    return bytes.length;
  }
  write(data: ByteBuffer, stop = true): void {
    openBus(this.#bus).transfer(this.address, "write", 0, toUint8Array(data, "I2C write"), stop);
  }
  close(): void {
    this.#bus = undefined;
  }
}
SimI2C.prototype.target = undefined;

/** The bus of an open instance (a module function, not a private method: those add a brand field to every instance). */
function openBus(bus: I2cBus | undefined): I2cBus {
  if (!bus) throw new Error("I2C: instance is closed");
  return bus;
}

/**
 * A register-file peripheral (8-bit register addresses, auto-increment), the
 * pattern most sensors follow (BMx280, BH1750 aside). Subclass and override
 * `readRegister`/`writeRegister` for side effects.
 */
export class RegisterPeripheral implements I2cPeripheral {
  readonly registers = new Uint8Array(256);
  pointer = 0;

  write(data: Uint8Array, _stop: boolean): void {
    if (!data.length) return;
    this.pointer = data[0];
    for (let i = 1; i < data.length; i++) this.writeRegister((this.pointer + i - 1) & 0xff, data[i]);
    if (data.length > 1) this.pointer = (this.pointer + data.length - 1) & 0xff;
  }

  read(count: number, _stop: boolean): Uint8Array {
    const out = new Uint8Array(count);
    for (let i = 0; i < count; i++) out[i] = this.readRegister((this.pointer + i) & 0xff);
    this.pointer = (this.pointer + count) & 0xff;
    return out;
  }

  readRegister(register: number): number {
    return this.registers[register];
  }

  writeRegister(register: number, value: number): void {
    this.registers[register] = value;
  }
}
