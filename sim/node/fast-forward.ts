/*
 * "As fast as possible" mode for a VirtualClock under Node: whenever the
 * process is idle, jump virtual time straight to the next timer and fire it.
 * Hours of device life (sleep cycles, keep-alives, retransmission back-off)
 * then run in milliseconds, while real IO (Node sockets) still gets its turn.
 *
 * "Idle" means: no holds are outstanding (hold() marks real IO in progress, e.g.
 * a request to a real broker whose reply must arrive before time moves on), the
 * optional isBusy() says no, and `idleTurns` consecutive setImmediate turns
 * passed. Node runs ready IO callbacks (poll phase) before setImmediate (check
 * phase), so a turn with nothing ready between two immediates means the event
 * loop had nothing to do for that instant. IO that takes real time to arrive
 * (a TCP round trip) needs a hold; a purely simulated network (SimNetwork)
 * needs none, its deliveries are virtual timers.
 */
import type { VirtualClock } from "../virtual-clock";

export interface FastForwardOptions {
  clock: VirtualClock;
  /** Consecutive idle turns before time jumps (default 2). */
  idleTurns?: number;
  /** Extra busy test, e.g. () => requestsInFlight > 0. */
  isBusy?(): boolean;
  /** Real ms to wait between checks while busy or with no timer armed (default 1). */
  pollMs?: number;
}

export class FastForward {
  readonly clock: VirtualClock;
  /** Timer jumps made (diagnostics). */
  jumps = 0;
  #idleTurns: number;
  #isBusy?: () => boolean;
  #pollMs: number;
  #holds = 0;
  #running = false;
  #idle = 0;
  #waiters: { until: () => boolean; resolve: () => void; reject: (e: unknown) => void; limit: number }[] = [];
  /** Virtual times the driver must stop at even with no timer there (runFor targets, runUntil limits). */
  #horizon(): number {
    let h = Infinity;
    for (const w of this.#waiters) if (w.limit < h) h = w.limit;
    return h;
  }
  #pending: ReturnType<typeof setTimeout> | ReturnType<typeof setImmediate> | undefined;

  constructor(options: FastForwardOptions) {
    if (!options?.clock) throw new TypeError("FastForward: options.clock (a VirtualClock) is required");
    this.clock = options.clock;
    this.#idleTurns = options.idleTurns ?? 2;
    this.#isBusy = options.isBusy;
    this.#pollMs = options.pollMs ?? 1;
    if (!Number.isInteger(this.#idleTurns) || this.#idleTurns < 1) throw new RangeError("FastForward: idleTurns must be a positive integer");
  }

  get running(): boolean {
    return this.#running;
  }

  /** Marks real IO in progress: time will not jump until the returned release() is called. */
  hold(): () => void {
    this.#holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holds--;
    };
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(false);
  }

  stop(): void {
    this.#running = false;
    if (this.#pending !== undefined) {
      clearTimeout(this.#pending as ReturnType<typeof setTimeout>);
      clearImmediate(this.#pending as ReturnType<typeof setImmediate>);
    }
    this.#pending = undefined;
  }

  /**
   * Runs (starting the driver if needed) until `until()` is true, checked after
   * every turn. Rejects when virtual time passes `virtualLimitMs` from now
   * (default 1 day) first.
   */
  runUntil(until: () => boolean, virtualLimitMs = 86_400_000): Promise<void> {
    if (until()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#waiters.push({ until, resolve, reject, limit: this.clock.now() + virtualLimitMs });
      this.start();
    });
  }

  /** Runs until virtual time reaches now + ms (firing every timer on the way). */
  runFor(ms: number): Promise<void> {
    if (!(ms >= 0)) return Promise.reject(new RangeError(`FastForward.runFor: ms must be >= 0, got ${ms}`));
    const end = this.clock.now() + ms;
    return this.runUntil(() => this.clock.now() >= end, ms);
  }

  #schedule(wait: boolean): void {
    if (!this.#running) return;
    if (wait) {
      const t = setTimeout(() => this.#turn(), this.#pollMs);
      // A driver with nobody waiting on it must not keep the process alive.
      if (!this.#waiters.length) t.unref();
      this.#pending = t;
    } else this.#pending = setImmediate(() => this.#turn());
  }

  #turn(): void {
    this.#pending = undefined;
    if (!this.#running) return;
    this.#settle();
    if (this.#holds > 0 || this.#isBusy?.()) {
      this.#idle = 0;
      // Busy means time may not jump; timers already due at this instant still fire (a job a
      // reply scheduled for "now" must run for the reply to be handled, or busy never ends).
      const due = this.clock.nextTimerAt();
      if (due !== undefined && due <= this.clock.now()) {
        try {
          this.clock.advanceTo(this.clock.now());
        } catch (error) {
          for (const w of this.#waiters.splice(0)) w.reject(error);
        }
      }
      return this.#schedule(true);
    }
    if (++this.#idle < this.#idleTurns) return this.#schedule(false);
    this.#idle = 0;
    const next = this.clock.nextTimerAt();
    const limit = this.#horizon();
    if (next === undefined || next > limit) {
      if (limit !== Infinity && this.clock.now() < limit) {
        this.clock.advanceTo(limit);
        this.#settle();
      }
      return this.#schedule(true);
    }
    this.jumps++;
    try {
      this.clock.advanceTo(next);
    } catch (error) {
      for (const w of this.#waiters.splice(0)) w.reject(error);
    }
    this.#settle();
    this.#schedule(false);
  }

  #settle(): void {
    for (let i = 0; i < this.#waiters.length; i++) {
      const w = this.#waiters[i];
      let done = false;
      try {
        done = w.until();
      } catch (error) {
        this.#waiters.splice(i--, 1);
        w.reject(error);
        continue;
      }
      if (done) {
        this.#waiters.splice(i--, 1);
        w.resolve();
      } else if (this.clock.now() >= w.limit) {
        this.#waiters.splice(i--, 1);
        w.reject(new Error(`FastForward: condition not met within the virtual time limit (now ${this.clock.now()} ms)`));
      }
    }
  }
}
