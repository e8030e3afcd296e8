/*
 * Clock on Moddable: `Time.ticks` (milliseconds, monotonic since boot) and the
 * `timer` module's one-shot timers. Only the scheduler arms timers
 * (ARCHITECTURE.md, "one owner of time").
 */
import Timer from "timer";
import Time from "time";
import type { Clock, TimerHandle } from "../clock";

/** Wall-clock times before this are "no time yet" (the ESP32 RTC starts at 1970 until SNTP sets it). */
const EPOCH_VALID_AFTER = Date.UTC(2024, 0, 1);

type HostTimer = Parameters<typeof Timer.clear>[0];

export class ModdableClock implements Clock {
  now(): number {
    return Time.ticks;
  }

  epoch(): number {
    const now = Date.now();
    return now >= EPOCH_VALID_AFTER ? now : NaN;
  }

  setTimer(callback: () => void, delayMs: number): TimerHandle {
    // Timer.set(callback, interval): one-shot unless a repeat is given.
    return Timer.set(() => callback(), delayMs > 0 ? Math.ceil(delayMs) : 0);
  }

  clearTimer(handle: TimerHandle): void {
    Timer.clear(handle as HostTimer);
  }
}
