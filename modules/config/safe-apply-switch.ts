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

export function safeApplySwitch(options: SafeApplySwitchOptions): SafeApplySwitch {
  const { scheduler } = options;
  const settleMs = options.settleMs ?? 300;
  let done: ((ok: boolean, reason?: string) => void) | undefined;
  let switched = false;
  let needMqtt = false;
  let needCoap = false;
  let lastError: string | undefined;
  let switchJob: Job | undefined;
  let coapJob: Job | undefined;

  function stopJobs(): void {
    switchJob?.cancel();
    switchJob = undefined;
    coapJob?.cancel();
    coapJob = undefined;
  }

  function finish(ok: boolean, reason?: string): void {
    stopJobs();
    const d = done;
    done = undefined;
    switched = false;
    d?.(ok, reason);
  }

  function settleCoap(port: number, since: number): void {
    coapJob = undefined;
    if (!done) return;
    const socket = options.coapSocket();
    if (!socket) return finish(false, `cannot open the CoAP server on UDP port ${port}`);
    if (typeof socket.port === "number" || scheduler.now() - since >= settleMs) {
      needCoap = false;
      if (!needMqtt) finish(true);
      return;
    }
    coapJob = scheduler.after(20, () => settleCoap(port, since), { name: "config-safe-apply-coap" });
  }

  return {
    get trying() {
      return done !== undefined;
    },
    tryApply(next, _timeoutMs, d) {
      stopJobs();
      done = d;
      switched = false;
      lastError = undefined;
      switchJob = scheduler.after(
        0,
        () => {
          switchJob = undefined;
          if (!done) return;
          switched = true;
          needMqtt = next.protocol !== "coap";
          needCoap = next.protocol === "coap" || !!options.waitsForCoap?.(next);
          options.open(next);
          if (needCoap) settleCoap(next.coap.listenPort, scheduler.now());
        },
        { name: "config-safe-apply-switch", radio: true },
      );
    },
    failureDetail() {
      return lastError;
    },
    revert(previous) {
      stopJobs();
      done = undefined;
      switched = false;
      options.open(previous);
    },
    connected() {
      if (!done || !switched || !needMqtt) return;
      needMqtt = false;
      if (!needCoap) finish(true);
    },
    connectionError(message) {
      if (done) lastError = message;
    },
    fail(reason) {
      if (done) finish(false, reason);
    },
    cancel() {
      stopJobs();
      done = undefined;
      switched = false;
    },
  };
}
