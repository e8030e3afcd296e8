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

/** What ended a light sleep (Power.lightSleep). */
export type LightSleepEnd = "timer" | "pin" | "kept" | "deferred";

export interface Power {
  /** Why this boot happened. */
  readonly wakeCause: WakeCause;
  /**
   * Deep sleep for `durationMs`: RAM is lost, RTC memory and flash are kept, and
   * the app boots again from scratch (or earlier, on a wake pin: cause "external"). Does not return.
   */
  deepSleep(durationMs: number): never;
  /** Software restart: like deep sleep of zero length with cause "restart". Does not return. */
  restart(): never;
  /**
   * Light sleep for up to `durationMs`: CPU paused, RAM and the app kept.
   * - `keepWifi`: the association is kept; the chip sleeps between DTIM beacons whenever it is
   *   idle (ESP-IDF automatic light sleep). Returns "kept" at once.
   * - otherwise the radio is off (close the links first): on the ESP32 the call returns after
   *   the sleep, "timer" or "pin" (a wake pin); where the host cannot stop (the simulators) it
   *   returns "deferred" at once and the time to the next timer passes asleep with the radio
   *   off (the clock jumps).
   */
  lightSleep(durationMs: number, keepWifi: boolean): LightSleepEnd;
  /**
   * The GPIOs that end a light or deep sleep when one of them is at `level` (ESP32/-S3: EXT1 on
   * RTC GPIOs for deep sleep; ESP32-C3: GPIO0-5 for deep sleep; any GPIO for light sleep).
   * An empty list clears them. RangeError for a pin the chip cannot wake on.
   */
  setWakePins(pins: readonly number[], level: 0 | 1): void;
  /** For the simulator's energy timeline: what runs now (a job's name). Optional; a device ignores it. */
  note?(what: string): void;
}

export interface Crypto {
  /** Fills `buffer` with random bytes from the hardware generator. */
  randomFill(buffer: Uint8Array): Uint8Array;
  /** HMAC-SHA256 (RFC 2104 over FIPS 180-4 SHA-256), a 32-byte tag. */
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
}
