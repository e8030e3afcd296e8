/*
 * Time as the host provides it. Only the scheduler (modules/scheduler) arms
 * timers; everything else asks the scheduler (ARCHITECTURE.md, "one owner of time").
 */

export type TimerHandle = unknown;

export interface Clock {
  /** Monotonic milliseconds since an arbitrary origin (boot on the device). */
  now(): number;
  /** Wall-clock milliseconds since 1970-01-01 UTC, or NaN when the host has no time yet. */
  epoch(): number;
  /** Arms a one-shot host timer; the scheduler is its only caller. */
  setTimer(callback: () => void, delayMs: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}
