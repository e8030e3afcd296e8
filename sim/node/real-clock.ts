/*
 * The platform Clock over the host's real time: now() from performance.now()
 * (monotonic, whole milliseconds like the device's tick count), epoch() from
 * Date.now(). Node-only (also fine in browsers).
 *
 * All timers of one clock share one host timer: they wait in a binary heap by
 * deadline (ties in the order they were set), and the host timer is armed for
 * the earliest. A simulated fleet shares one clock between a thousand devices;
 * a Node Timeout with its closure and a Set entry cost ~300 B per armed timer,
 * a heap entry ~60 B.
 */
import type { Clock, TimerHandle } from "../../modules/platform/clock";
import { FIRES_TARGETS, checkTimerCallback, fireTimer, type TimerCallback } from "../virtual-clock";

export interface RealClockOptions {
  /** Timers do not keep the Node process alive (default false). */
  unref?: boolean;
  /** Called when a timer callback throws; by default the error is rethrown (uncaught). */
  onError?(error: unknown): void;
}

/** An armed timer of a RealClock (its TimerHandle). */
class RealTimer {
  constructor(
    readonly at: number,
    readonly seq: number,
    readonly callback: TimerCallback,
    /** Position in the clock's heap; -1 once fired or cleared. */
    public index: number,
  ) {}
}

function before(a: RealTimer, b: RealTimer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

export class RealClock implements Clock {
  #origin = performance.now();
  #unref: boolean;
  #onError?: (error: unknown) => void;
  #heap: RealTimer[] = [];
  #seq = 0;
  #host: ReturnType<typeof setTimeout> | undefined;
  /** The deadline the host timer is armed for. */
  #hostAt = Infinity;

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

  /** `callback`: a function, or a TimerTarget whose fire() is called (see FIRES_TARGETS in sim/virtual-clock). */
  setTimer(callback: TimerCallback, delayMs: number): TimerHandle {
    checkTimerCallback(callback);
    const delay = delayMs > 0 ? Math.min(delayMs, 0x7fffffff) : 0;
    // A whole-ms deadline (rounded up: never early): a fractional one in a field
    // is a 16-byte heap number per armed timer (a simulated fleet arms a thousand).
    const timer = new RealTimer(Math.ceil(performance.now() + delay), this.#seq++, callback, this.#heap.length);
    this.#heap.push(timer);
    this.#up(timer.index);
    if (this.#heap[0] === timer) this.#arm();
    return timer;
  }

  clearTimer(handle: TimerHandle): void {
    if (!(handle instanceof RealTimer) || handle.index < 0 || this.#heap[handle.index] !== handle) return;
    this.#remove(handle.index);
    if (!this.#heap.length) this.#disarm();
  }

  /** Armed timers. */
  get pending(): number {
    return this.#heap.length;
  }

  /** Cancels every armed timer (test teardown). */
  clearAll(): void {
    for (const t of this.#heap) t.index = -1;
    this.#heap = [];
    this.#disarm();
  }

  // -- internals -------------------------------------------------------------

  /** Arms the host timer for the earliest deadline (unless it already is). */
  #arm(): void {
    const first = this.#heap[0];
    if (!first) return this.#disarm();
    if (this.#host !== undefined && this.#hostAt <= first.at) return;
    if (this.#host !== undefined) clearTimeout(this.#host);
    this.#hostAt = first.at;
    this.#host = setTimeout(this.#fire, Math.max(0, Math.ceil(first.at - performance.now())));
    if (this.#unref) this.#host.unref();
  }

  #disarm(): void {
    if (this.#host !== undefined) clearTimeout(this.#host);
    this.#host = undefined;
    this.#hostAt = Infinity;
  }

  /** The host timer: runs every timer due by now that was set before this run began. */
  #fire = (): void => {
    this.#host = undefined;
    this.#hostAt = Infinity;
    const now = performance.now();
    const seqLimit = this.#seq;
    try {
      for (let t = this.#heap[0]; t && t.at <= now && t.seq < seqLimit; t = this.#heap[0]) {
        this.#remove(0);
        if (!this.#onError) fireTimer(t.callback);
        else {
          try {
            fireTimer(t.callback);
          } catch (error) {
            this.#onError(error);
          }
        }
      }
    } finally {
      // a callback that threw (no onError) leaves the rest for the next turn
      this.#arm();
    }
  };

  #remove(i: number): void {
    const heap = this.#heap;
    const gone = heap[i];
    const last = heap.pop()!;
    gone.index = -1;
    if (last === gone) return;
    heap[i] = last;
    last.index = i;
    this.#up(i);
    this.#down(last.index);
  }

  #up(i: number): void {
    const heap = this.#heap;
    const t = heap[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(t, heap[p])) break;
      heap[i] = heap[p];
      heap[i].index = i;
      i = p;
    }
    heap[i] = t;
    t.index = i;
  }

  #down(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const t = heap[i];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && before(heap[c + 1], heap[c])) c++;
      if (!before(heap[c], t)) break;
      heap[i] = heap[c];
      heap[i].index = i;
      i = c;
    }
    heap[i] = t;
    t.index = i;
  }
}
(RealClock.prototype as { [FIRES_TARGETS]?: boolean })[FIRES_TARGETS] = true;
