/*
 * A deterministic clock for the simulator and the tests. Time moves only when
 * told to: `advance(ms)` fires every timer due on the way, in time order (ties
 * in the order they were armed), each seeing `now()` equal to its own due time.
 *
 * Portable on purpose (no Node API): the XS test suites use it too.
 */
import type { Clock, TimerHandle } from "../modules/platform/clock";

/**
 * The simulator's clocks (VirtualClock, RealClock) also take, as a timer's
 * callback, an object whose fire() they call (`target.fire()`); they say so
 * with this symbol set to true. SimDevice arms its boots' timers that way: a
 * bound function per armed timer is ~48 B a device in a simulated fleet.
 * A subclass that overrides setTimer must keep accepting targets, or set the
 * symbol to false on its prototype.
 */
export const FIRES_TARGETS: unique symbol = Symbol.for("xs-iot.sim.clockFiresTargets");

/** What such a clock calls when the timer is due. */
export interface TimerTarget {
  fire(): void;
}

/** A timer's callback for a clock that fires targets: a function or a TimerTarget. */
export type TimerCallback = (() => void) | TimerTarget;

/** Checks a callback for setTimer (a function, or an object with fire()). */
export function checkTimerCallback(callback: unknown): void {
  if (typeof callback !== "function" && typeof (callback as TimerTarget | null)?.fire !== "function")
    throw new TypeError("setTimer: callback must be a function (or a timer target with fire())");
}

/** Runs a due timer's callback. */
export function fireTimer(callback: TimerCallback): void {
  if (typeof callback === "function") callback();
  else callback.fire();
}

interface VirtualTimer {
  at: number;
  seq: number;
  callback: TimerCallback;
  cancelled: boolean;
}

export interface VirtualClockOptions {
  /** Initial monotonic time in ms (default 0). */
  start?: number;
  /** Wall-clock time at `start`, ms since 1970 (default 2026-01-01T00:00:00Z). */
  epochAtStart?: number;
  /** Called when a timer callback throws; by default the error propagates out of advance(). */
  onError?(error: unknown): void;
}

export class VirtualClock implements Clock {
  #now: number;
  #epochOffset: number;
  #timers: VirtualTimer[] = [];
  #seq = 0;
  #onError?: (error: unknown) => void;

  constructor(options: VirtualClockOptions = {}) {
    this.#now = options.start ?? 0;
    this.#epochOffset = (options.epochAtStart ?? Date.UTC(2026, 0, 1)) - this.#now;
    this.#onError = options.onError;
  }

  now(): number {
    return this.#now;
  }

  epoch(): number {
    return this.#now + this.#epochOffset;
  }

  /** `callback`: a function, or a TimerTarget (see FIRES_TARGETS). */
  setTimer(callback: TimerCallback, delayMs: number): TimerHandle {
    checkTimerCallback(callback);
    const d = delayMs > 0 ? delayMs : 0;
    const timer: VirtualTimer = { at: this.#now + d, seq: this.#seq++, callback, cancelled: false };
    // keep sorted by (at, seq): insertion from the end, timers are usually armed in order
    const list = this.#timers;
    let i = list.length;
    while (i > 0 && (list[i - 1].at > timer.at || (list[i - 1].at === timer.at && list[i - 1].seq > timer.seq))) i--;
    list.splice(i, 0, timer);
    return timer;
  }

  clearTimer(handle: TimerHandle): void {
    const timer = handle as VirtualTimer;
    if (!timer || timer.cancelled) return;
    timer.cancelled = true;
    const i = this.#timers.indexOf(timer);
    if (i >= 0) this.#timers.splice(i, 1);
  }

  /** Number of armed timers. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Due time of the next armed timer, or undefined. */
  nextTimerAt(): number | undefined {
    return this.#timers.length ? this.#timers[0].at : undefined;
  }

  /** Moves time forward by `ms`, firing every timer due up to the new time. Returns how many fired. */
  advance(ms: number): number {
    if (!(ms >= 0)) throw new RangeError(`advance: ms must be >= 0, got ${ms}`);
    return this.advanceTo(this.#now + ms);
  }

  /** Moves time forward to `time`, firing every timer due up to it. */
  advanceTo(time: number): number {
    if (time < this.#now) throw new RangeError(`advanceTo: time ${time} is before now ${this.#now}`);
    let fired = 0;
    for (;;) {
      const next = this.#timers[0];
      if (!next || next.at > time) break;
      this.#timers.shift();
      this.#now = next.at;
      fired++;
      this.#fire(next);
    }
    this.#now = time;
    return fired;
  }

  /** Jumps to the next timer and fires it (and any due at the same time). Returns false when none is armed. */
  step(): boolean {
    const next = this.#timers[0];
    if (!next) return false;
    this.advanceTo(next.at);
    return true;
  }

  /** Fires timers in order until none is left or `limitMs` of virtual time has passed. */
  runAll(limitMs = Infinity, maxTimers = 1_000_000): number {
    const until = this.#now + limitMs;
    let fired = 0;
    while (this.#timers.length && this.#timers[0].at <= until) {
      if (fired >= maxTimers) throw new Error(`runAll: more than ${maxTimers} timers fired; a job reschedules itself without end?`);
      fired += this.advanceTo(this.#timers[0].at);
    }
    if (until !== Infinity && until > this.#now) this.#now = until;
    return fired;
  }

  #fire(timer: VirtualTimer): void {
    if (timer.cancelled) return;
    timer.cancelled = true;
    if (!this.#onError) {
      fireTimer(timer.callback);
      return;
    }
    try {
      fireTimer(timer.callback);
    } catch (error) {
      this.#onError(error);
    }
  }
}
(VirtualClock.prototype as { [FIRES_TARGETS]?: boolean })[FIRES_TARGETS] = true;
