/*
 * Reconnect back-off: exponential with "full jitter" and a cap, plus a give-up deadline.
 *
 *   attempt n (0-based) waits  random() * min(maxDelayMs, initialDelayMs * factor^n)
 *
 * Full jitter spreads a fleet of devices that lost the same broker over the whole
 * window, so they do not reconnect in lock step (a "reconnect storm"). The give-up
 * deadline counts from the first failure of a series; `next()` returns undefined once
 * the next attempt would start after it, and the client reports that as onGiveUp so the
 * app can choose to deep-sleep instead of draining the battery.
 *
 * A series ends only when a connection has lasted `stableAfterMs` (`connected(now)` marks
 * its start). A connection the broker drops at once (a second device with the same Client
 * Identifier, [MQTT-3.1.4-2]; a message that gets us disconnected every time it is resent;
 * a broker that closes on a policy violation) continues the series: the windows keep
 * growing and the deadline keeps counting, instead of a reconnect every initialDelayMs for
 * ever. (AWS's CRT clients call the same setting minConnectedTimeToResetReconnectDelayMs.)
 *
 * Pure: time comes in as `now`, randomness from the injected `random` (a number in
 * [0, 1)); the client owns the scheduler job.
 */

export interface BackoffOptions {
  /** First window in ms (default 1000). */
  initialDelayMs?: number;
  /** Largest window in ms (default 60000). */
  maxDelayMs?: number;
  /** Growth of the window per attempt (default 2). */
  factor?: number;
  /** Stop after this many ms since the first failure of a series (default Infinity: never). */
  giveUpAfterMs?: number;
  /** Smallest delay actually used, so a zero draw does not spin (default 100 ms). */
  minDelayMs?: number;
  /**
   * How long a connection must last to end the series of failures (default 30000 ms). One
   * that ends sooner continues it. 0: every connection ends it.
   */
  stableAfterMs?: number;
  /** Random source in [0, 1) (or the constructor's second argument). */
  random?: () => number;
}

function positive(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !(v >= 0)) throw new RangeError("Backoff: " + name + " < 0");
  return v;
}

export class Backoff {
  // Every field is assigned in the constructor (`declare`: class field initializers cost XS bytecode).
  declare readonly initialDelayMs: number;
  declare readonly maxDelayMs: number;
  declare readonly factor: number;
  declare readonly giveUpAfterMs: number;
  declare readonly minDelayMs: number;
  declare readonly stableAfterMs: number;
  /** Attempts made in the current series. */
  declare attempt: number;
  /** Time of the first failure of the current series, or NaN. */
  declare firstFailureAt: number;
  /** When the current connection was made (connected()), or NaN while there is none. */
  declare upSince: number;
  private declare readonly random: () => number;
  /** `this` for random (the client: its random source may be a function shared by many clients). */
  private declare readonly target: unknown;

  /**
   * `random`: the random source, when not in `options` (the client passes its options as given,
   * without a copy); it is called with `this` = `target`.
   */
  constructor(options: BackoffOptions, random = options && options.random, target?: unknown) {
    if (!options || typeof random !== "function") throw new TypeError("Backoff: random not a function");
    this.initialDelayMs = positive("initialDelayMs", options.initialDelayMs, 1000);
    this.maxDelayMs = positive("maxDelayMs", options.maxDelayMs, 60000);
    this.factor = positive("factor", options.factor, 2);
    this.giveUpAfterMs = positive("giveUpAfterMs", options.giveUpAfterMs, Infinity);
    this.minDelayMs = positive("minDelayMs", options.minDelayMs, 100);
    this.stableAfterMs = positive("stableAfterMs", options.stableAfterMs, 30000);
    if (this.factor < 1) throw new RangeError("Backoff: factor < 1");
    this.random = random;
    this.target = target;
    this.attempt = 0;
    this.firstFailureAt = this.upSince = NaN;
  }

  /**
   * The delay before the next attempt, or undefined when the give-up deadline would be
   * passed (the series is over; call reset() to start another). After a connection that
   * lasted stableAfterMs, this failure starts a new series.
   */
  next(now: number): number | undefined {
    if (now - this.upSince >= this.stableAfterMs) this.reset(); // NaN (no connection): false
    this.upSince = NaN;
    if (this.firstFailureAt !== this.firstFailureAt) this.firstFailureAt = now;
    let r = this.random.call(this.target);
    if (!(r >= 0 && r < 1)) r = 0.5; // a broken random source must not break the back-off
    // Full jitter over the window min(maxDelayMs, initialDelayMs * factor^attempt).
    const w = this.initialDelayMs * Math.pow(this.factor, this.attempt);
    let delay = Math.floor(r * (w < this.maxDelayMs ? w : this.maxDelayMs));
    if (delay < this.minDelayMs) delay = this.minDelayMs;
    if (now + delay - this.firstFailureAt > this.giveUpAfterMs) return undefined;
    this.attempt++;
    return delay;
  }

  /** A connection was made at `now`: if it lasts stableAfterMs, the next failure starts a new series. */
  connected(now: number): void {
    this.upSince = now;
  }

  /** Starts a new series: the next failure waits within the first window again. */
  reset(): void {
    this.attempt = 0;
    this.firstFailureAt = NaN;
  }
}
