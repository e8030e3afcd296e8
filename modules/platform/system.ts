/*
 * What the chip offers besides IO: RTC memory that survives deep sleep, sleep
 * and restart, the reason for this boot, random bytes and HMAC-SHA256.
 */

/**
 * RTC slow memory: a fixed region kept through deep sleep and software restart,
 * lost on power-on (ESP32: RTC_NOINIT/RTC_DATA memory, 8 KB on the chip; we
 * reserve a smaller region, see `byteLength`).
 */
export interface RtcMemory {
  readonly byteLength: number;
  /** Copies `length` bytes starting at `offset`. Throws RangeError outside the region. */
  read(offset: number, length: number): Uint8Array;
  /** Writes `data` at `offset`. Throws RangeError outside the region. */
  write(offset: number, data: Uint8Array): void;
}

export type WakeCause = "power-on" | "deep-sleep" | "restart" | "watchdog" | "external";

export interface Power {
  /** Why this boot happened. */
  readonly wakeCause: WakeCause;
  /**
   * Deep sleep for `durationMs`: RAM is lost, RTC memory and flash are kept, and
   * the app boots again from scratch. Does not return.
   */
  deepSleep(durationMs: number): never;
  /** Software restart: like deep sleep of zero length with cause "restart". Does not return. */
  restart(): never;
}

export interface Crypto {
  /** Fills `buffer` with random bytes from the hardware generator. */
  randomFill(buffer: Uint8Array): Uint8Array;
  /** HMAC-SHA256 (RFC 2104 over FIPS 180-4 SHA-256), a 32-byte tag. */
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
}
