/*
 * Simulated RTC slow memory (modules/platform/system.ts RtcMemory): a fixed
 * region that survives deep sleep and software restart and is lost on power-on.
 * The SimDevice keeps one instance across boots and calls powerOn() on a cold
 * boot, which zeroes it (the ESP32's RTC RAM holds garbage after power-on; we
 * give zeros so tests are deterministic, and apps must check a magic/CRC anyway).
 *
 * Portable (no Node API).
 */
import type { RtcMemory } from "../modules/platform/system";

export const DEFAULT_RTC_BYTES = 2048;

export class SimRtcMemory implements RtcMemory {
  readonly byteLength: number;
  /** Allocated on the first write: a fleet of simulated devices that never use RTC memory pays nothing for it. */
  #bytes: Uint8Array | undefined;
  /** Number of write() calls (diagnostics). */
  writes = 0;

  constructor(byteLength = DEFAULT_RTC_BYTES) {
    if (!Number.isInteger(byteLength) || byteLength <= 0 || byteLength > 8192)
      throw new RangeError(`RTC memory: byteLength must be an integer in 1..8192 (the ESP32 has 8 KB), got ${byteLength}`);
    this.byteLength = byteLength;
  }

  read(offset: number, length: number): Uint8Array {
    this.#check(offset, length, "read");
    return this.#bytes ? this.#bytes.slice(offset, offset + length) : new Uint8Array(length);
  }

  write(offset: number, data: Uint8Array): void {
    if (!ArrayBuffer.isView(data)) throw new TypeError("RTC memory write: data must be a Uint8Array");
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.#check(offset, bytes.length, "write");
    (this.#bytes ??= new Uint8Array(this.byteLength)).set(bytes, offset);
    this.writes++;
  }

  /** Cold boot: the content is lost (zeroed here). */
  powerOn(): void {
    this.#bytes = undefined;
  }

  #check(offset: number, length: number, what: string): void {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.byteLength)
      throw new RangeError(`RTC memory ${what}: [${offset}, ${offset}+${length}) is outside the ${this.byteLength}-byte region`);
  }
}
