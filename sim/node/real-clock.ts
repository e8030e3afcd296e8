/*
 * The platform Clock over the host's real time: now() from performance.now()
 * (monotonic, whole milliseconds like the device's tick count), epoch() from
 * Date.now(), timers from setTimeout. Node-only (also fine in browsers).
 */
import type { Clock, TimerHandle } from "../../modules/platform/clock";

export interface RealClockOptions {
  /** Timers do not keep the Node process alive (default false). */
  unref?: boolean;
  /** Called when a timer callback throws; by default the error is rethrown (uncaught). */
  onError?(error: unknown): void;
}

export class RealClock implements Clock {
  #origin = performance.now();
  #unref: boolean;
  #onError?: (error: unknown) => void;
  #timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(options: RealClockOptions = {}) {
    this.#unref = !!options.unref;
    this.#onError = options.onError;
  }

  now(): number {
    return Math.floor(performance.now() - this.#origin);
  }

  epoch(): number {
    return Date.now();
  }

  setTimer(callback: () => void, delayMs: number): TimerHandle {
    if (typeof callback !== "function") throw new TypeError("setTimer: callback must be a function");
    const delay = delayMs > 0 ? Math.min(delayMs, 0x7fffffff) : 0;
    const handle = setTimeout(() => {
      this.#timers.delete(handle);
      if (!this.#onError) return callback();
      try {
        callback();
      } catch (error) {
        this.#onError(error);
      }
    }, delay);
    if (this.#unref) handle.unref();
    this.#timers.add(handle);
    return handle;
  }

  clearTimer(handle: TimerHandle): void {
    const h = handle as ReturnType<typeof setTimeout>;
    if (!this.#timers.delete(h)) return;
    clearTimeout(h);
  }

  /** Armed timers. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Cancels every armed timer (test teardown). */
  clearAll(): void {
    for (const h of this.#timers) clearTimeout(h);
    this.#timers.clear();
  }
}
