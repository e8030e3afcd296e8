/*
 * Types of native.js (our native module; C in esp32/native.c and lin/native.c).
 */

/** Size in bytes of the RTC memory region the native module reserves. */
export function rtcByteLength(): number;
/** Copies region bytes [offset, offset + buffer.byteLength) into `buffer`. RangeError outside the region. */
export function rtcRead(offset: number, buffer: Uint8Array): void;
/** Copies `buffer` into the region at `offset`. RangeError outside the region. */
export function rtcWrite(offset: number, buffer: Uint8Array): void;
/** Arms a timer wake-up and enters deep sleep. ESP32: does not return. lin: throws (no deep sleep). */
export function deepSleep(microseconds: number): never;
/**
 * Light sleep with the radio off (Wi-Fi stopped before, started again after), timer wake-up
 * after `microseconds`; returns what ended it: "timer", "pin", or "deferred" (lin: no sleep).
 */
export function lightSleep(microseconds: number): string;
/**
 * Wake pins for light and deep sleep: GPIO numbers as a 64-bit mask in two halves, wake when
 * one is at `level` (0 or 1); a zero mask clears them. RangeError for a pin the chip cannot wake on.
 */
export function setWakePins(maskLow: number, maskHigh: number, level: number): void;
/** Software restart. ESP32: does not return. lin: throws (the simulator cannot restart the app). */
export function restart(): never;
/** One of "power-on" | "deep-sleep" | "restart" | "watchdog" | "external". */
export function wakeCause(): string;
/** Fills `buffer` with random bytes from the host's generator. */
export function randomFill(buffer: Uint8Array): void;
