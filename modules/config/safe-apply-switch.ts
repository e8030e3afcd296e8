/*
 * The transport side of a safe apply, shared by the device harness (node.ts) and
 * the firmware app (src/app.ts): a ConnectivityHook that moves the device to the
 * trial settings and decides when the trial worked.
 *
 *   const trial = safeApplySwitch({ scheduler, open: (c) => openTransport(c), coapSocket: () => coap?.socket ?? null });
 *   new ConfigCore({ ..., connectivity: trial });
 *   // in the MQTT client of the current settings:
 *   onConnect: () => trial.connected(), onError: (e) => trial.connectionError(e.message),
 *   onGiveUp: (e) => trial.fail("MQTT gave up: " + e.message)
 *
 * - The switch waits for one scheduler turn: the command that asked for it is still
 *   being handled, and its "pending" answer (and on MQTT the PUBACK of the QoS 1
 *   command [MQTT-4.3.2-4]) must go out on the connection it came in on. Switching
 *   at once lost both, and the broker redelivered the command to the next
 *   connection, where it was refused as a replay.
 * - MQTT: the trial worked when the new client connects (`connected()`, only after
 *   the switch: the old client reconnecting in between does not count); it failed
 *   on `fail()` (the client gave up, or the credentials were refused). The core's
 *   own timeout ends it otherwise, with `failureDetail()` (the last connection
 *   error) in its reason.
 * - CoAP: a server works once its socket is bound. A bind that fails throws in the
 *   constructor on the device (then `coapSocket()` returns null); the Node
 *   simulator binds asynchronously, reports a failure through the server's
 *   onError (the caller calls `fail()`), and shows the bound `port` when done. So:
 *   success when the socket shows a numeric `port`, or after `settleMs` without an
 *   error for a socket class that has no `port`. With MQTT and a CoAP server that
 *   moves (`waitsForCoap`), the trial needs both.
 * Portable: XS and Node.
 */
import type { Scheduler, Job } from "../scheduler/scheduler";
import type { ConnectivityHook } from "./core";
import type { DeviceConfig } from "./schema";

export interface SafeApplySwitchOptions {
  scheduler: Scheduler;
  /** Close the transports and open them for `c` (the trial's settings, or the previous ones on revert). */
  open(c: DeviceConfig): void;
  /**
   * After `open(c)` for a CoAP configuration: the CoAP socket to wait for (its
   * `port` shows once bound), `null` when it could not be opened.
   */
  coapSocket(): { port?: unknown } | null | undefined;
  /**
   * Asked before `open(next)`: must the trial also wait for a CoAP socket (e.g. the app's
   * CoAP server, reopened on a new `coap.listenPort` while the protocol stays MQTT)?
   * Default: only when `next.protocol` is "coap".
   */
  waitsForCoap?(next: DeviceConfig): boolean;
  /** How long a CoAP socket without a `port` is watched for an error, ms (default 300). */
  settleMs?: number;
}

export interface SafeApplySwitch extends ConnectivityHook {
  /** A trial is running (tryApply called, not yet decided or reverted). */
  readonly trying: boolean;
  /** The MQTT client of the current settings connected: a trial that switched to them worked. */
  connected(): void;
  /** A connection error during the trial (kept for `failureDetail()`). */
  connectionError(message: string): void;
  /** The trial cannot work (no-op without one). */
  fail(reason: string): void;
  /** Stop: cancels the pending switch and checks (the app is stopping). */
  cancel(): void;
}

/** A SafeApplySwitch for `options` (one small object with prototype methods: a fleet runs thousands). */
export function safeApplySwitch(options: SafeApplySwitchOptions): SafeApplySwitch {
  return new Switch(options);
}

class Switch implements SafeApplySwitch {
  #o: SafeApplySwitchOptions;
  #done: ((ok: boolean, reason?: string) => void) | undefined = undefined;
  #switched = false;
  #needMqtt = false;
  #needCoap = false;
  #lastError: string | undefined = undefined;
  #next: DeviceConfig | undefined = undefined;
  #switchJob: Job | undefined = undefined;
  #coapJob: Job | undefined = undefined;
  /** The CoAP wait: the port and when it began. */
  #coapPort = 0;
  #coapSince = 0;

  constructor(options: SafeApplySwitchOptions) {
    this.#o = options;
  }

  get trying(): boolean {
    return this.#done !== undefined;
  }

  tryApply(next: DeviceConfig, _timeoutMs: number, d: (ok: boolean, reason?: string) => void): void {
    this.#stopJobs();
    this.#done = d;
    this.#switched = false;
    this.#lastError = undefined;
    this.#next = next;
    // A closure only while a trial runs (rare): the switch's lasting state is its fields.
    this.#switchJob = this.#o.scheduler.after(0, () => this.#switchNow(), { name: "config-safe-apply-switch", radio: true });
  }

  failureDetail(): string | undefined {
    return this.#lastError;
  }

  revert(previous: DeviceConfig): void {
    this.cancel();
    this.#o.open(previous);
  }

  connected(): void {
    if (!this.#done || !this.#switched || !this.#needMqtt) return;
    this.#needMqtt = false;
    if (!this.#needCoap) this.#finish(true);
  }

  connectionError(message: string): void {
    if (this.#done) this.#lastError = message;
  }

  fail(reason: string): void {
    if (this.#done) this.#finish(false, reason);
  }

  cancel(): void {
    this.#stopJobs();
    this.#next = undefined;
    this.#done = undefined;
    this.#switched = false;
  }

  /** The switch job: one scheduler turn after tryApply. */
  #switchNow(): void {
    this.#switchJob = undefined;
    const next = this.#next;
    this.#next = undefined;
    if (!this.#done || !next) return;
    const o = this.#o;
    this.#switched = true;
    this.#needMqtt = next.protocol !== "coap";
    this.#needCoap = next.protocol === "coap" || !!o.waitsForCoap?.(next);
    o.open(next);
    if (this.#needCoap) {
      this.#coapPort = next.coap.listenPort;
      this.#coapSince = o.scheduler.now();
      this.#settleCoap();
    }
  }

  /** Watches the CoAP socket until it is bound (or failed, or settled). */
  #settleCoap(): void {
    this.#coapJob = undefined;
    if (!this.#done) return;
    const o = this.#o;
    const socket = o.coapSocket();
    if (!socket) return this.#finish(false, `cannot open the CoAP server on UDP port ${this.#coapPort}`);
    if (typeof socket.port === "number" || o.scheduler.now() - this.#coapSince >= (o.settleMs ?? 300)) {
      this.#needCoap = false;
      if (!this.#needMqtt) this.#finish(true);
      return;
    }
    this.#coapJob = o.scheduler.after(20, () => this.#settleCoap(), { name: "config-safe-apply-coap" });
  }

  #stopJobs(): void {
    this.#switchJob?.cancel();
    this.#switchJob = undefined;
    this.#coapJob?.cancel();
    this.#coapJob = undefined;
  }

  #finish(ok: boolean, reason?: string): void {
    this.#stopJobs();
    const d = this.#done;
    this.#done = undefined;
    this.#switched = false;
    d?.(ok, reason);
  }
}
