/*
 * The event loop of the MQTT client bench (bench/xs/mqtt-*): a run-to-idle task queue with
 * virtual time, standing in for the host's run loop. Portable (xst, xsnap, Node).
 *
 * - post(task): runs `task` on a later turn, in FIFO order (what a host does with a socket
 *   event or a zero-delay timer).
 * - setTimer(callback, ms): a one-shot timer in virtual time; delay 0 is a posted task.
 *   Virtual time moves only with advance(ms), so a keep-alive or a connect timeout never
 *   fires in the middle of a measurement.
 * - run(): runs posted tasks until none is left and returns how many ran.
 *
 * clock() gives the platform Clock our client's scheduler takes (modules/platform/clock.ts);
 * bench/xs/mqtt-sdk.ts builds the SDK's `timer` and `time` modules on the same loop, so both
 * clients' deferred work runs in the same queue.
 */
import type { Clock, TimerHandle } from "../../modules/platform/clock";

/** A timer of the loop; also what the SDK's Timer.set/repeat return (the SDK client sets properties on it). */
export interface LoopTimer {
  callback: (timer: LoopTimer) => void;
  at: number;
  /** Repeat interval in ms, or 0 for a one-shot timer. */
  interval: number;
  cancelled: boolean;
  [extra: string]: unknown;
}

/** Wall-clock origin of the virtual clock (2026-01-01T00:00:00Z). */
const EPOCH_AT_ZERO = Date.UTC(2026, 0, 1);

export class EventLoop {
  /** Virtual monotonic time in ms. */
  now = 0;
  #tasks: (() => void)[] = [];
  #head = 0;
  /** Timers with a delay, in no order (there are a handful: keep-alive, connect timeouts). */
  #timers: LoopTimer[] = [];
  /** A bound on tasks per run(): a run that never goes idle is a bug in a client or the broker. */
  readonly maxTasksPerRun: number;

  constructor(maxTasksPerRun = 1_000_000) {
    this.maxTasksPerRun = maxTasksPerRun;
  }

  post(task: () => void): void {
    this.#tasks.push(task);
  }

  setTimer(callback: (timer: LoopTimer) => void, ms = 0, repeat = false): LoopTimer {
    const delay = ms > 0 ? ms : 0;
    const timer: LoopTimer = { callback, at: this.now + delay, interval: repeat ? Math.max(1, delay) : 0, cancelled: false };
    if (delay === 0 && !repeat) this.#tasks.push(() => fire(timer));
    else this.#timers.push(timer);
    return timer;
  }

  clearTimer(timer: LoopTimer | undefined): void {
    if (!timer) return;
    timer.cancelled = true;
    const i = this.#timers.indexOf(timer);
    if (i >= 0) this.#timers.splice(i, 1);
  }

  /** Runs posted tasks until the queue is empty; returns the number run. */
  run(): number {
    let n = 0;
    const tasks = this.#tasks;
    while (this.#head < tasks.length) {
      const task = tasks[this.#head];
      tasks[this.#head++] = NOOP; // let it be collected
      if (++n > this.maxTasksPerRun) throw new Error("event loop: more than " + this.maxTasksPerRun + " tasks in one run (a client or the broker never goes idle)");
      task();
    }
    tasks.length = 0;
    this.#head = 0;
    return n;
  }

  /** Moves virtual time forward by `ms`, firing the timers due on the way (and running what they post). */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let next: LoopTimer | undefined;
      for (const t of this.#timers) if (t.at <= end && (!next || t.at < next.at)) next = t;
      if (!next) break;
      this.now = next.at;
      if (next.interval) next.at += next.interval;
      else this.#timers.splice(this.#timers.indexOf(next), 1);
      fire(next);
      this.run();
    }
    this.now = end;
    this.run();
  }

  /** Timers with a delay still armed (keep-alive and the like). */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /** The platform Clock of this loop, for our client's scheduler. */
  clock(): Clock {
    return new LoopClock(this);
  }
}

function NOOP(): void {}

function fire(timer: LoopTimer): void {
  if (!timer.cancelled) timer.callback(timer);
}

class LoopClock implements Clock {
  readonly loop: EventLoop;
  constructor(loop: EventLoop) {
    this.loop = loop;
  }
  now(): number {
    return this.loop.now;
  }
  epoch(): number {
    return EPOCH_AT_ZERO + this.loop.now;
  }
  setTimer(callback: () => void, delayMs: number): TimerHandle {
    return this.loop.setTimer(callback, delayMs);
  }
  clearTimer(handle: TimerHandle): void {
    this.loop.clearTimer(handle as LoopTimer);
  }
}
