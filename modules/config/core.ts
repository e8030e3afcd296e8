/*
 * ConfigCore: the one command core both transports use (MQTT: ./mqtt-binding.ts,
 * CoAP: ./coap-binding.ts). A transport turns its message into a
 * CommandRequest {command, counter, mac, body, size} and sends back the
 * CommandResult; everything else happens here, in this order, for every command:
 *
 *   1. rate limit (token bucket: `burst` commands, refilled at `ratePerS`):
 *      over it -> "busy", before any parsing or crypto (bounded work per flood);
 *   2. size (`maxCommandBytes`) -> "too-large";
 *   3. known command -> else "not-found";
 *   4. authentication (./auth.ts): key provisioned, counter an integer, MAC 64
 *      hex digits, body signable, HMAC equal -> else "unauthorized" and nothing
 *      more (the detail goes to the device's log only); then the counter above
 *      the last accepted -> else "unauthorized" with `lastCtr` (the MAC proved
 *      the key: its owner may learn where to resume);
 *   5. the command's own checks (schema for config/set and config/patch) ->
 *      "invalid" with every reason;
 *   6. the change and the counter persisted together (./store.ts), then effects.
 * A rejected command changes nothing in flash or in RAM (the counter included).
 *
 * Commands: config/get, config/set (whole document; secrets left out keep their
 * value), config/patch (RFC 7396 merge patch), reboot, sleep/prevent,
 * sleep/allow, ping, factory-reset.
 *
 * Safe apply: a set/patch that changes a connectivity key (schema.ts) is
 * answered "pending" and tried through the app's ConnectivityHook. The stored
 * configuration stays the old one until the hook reports success within
 * safeApply.timeoutS; then the new one is saved ("ok", applied "kept"). On
 * failure or timeout the old one is restored in RAM and the hook is told to go
 * back ("rolled-back"). Either way the final result goes to the request's
 * `reply` callback and to the listeners. A reboot during the trial comes back
 * on the old configuration.
 */
import type { Scheduler, Job } from "../scheduler/scheduler";
import { CanonicalError, commandSigningBytes, constantTimeEqual, fromHex, isValidCounter, MAC_HEX_LENGTH } from "./auth";
import { mergePatch } from "./merge-patch";
import {
  carryChanges,
  changedKeys,
  cloneConfig,
  connectivityChanges,
  defaultConfig,
  isPlainObject,
  redactConfig,
  validateConfig,
  type DeviceConfig,
} from "./schema";
import { ConfigStore, type BootStatus } from "./store";

export const COMMANDS = ["config/get", "config/set", "config/patch", "reboot", "sleep/prevent", "sleep/allow", "ping", "factory-reset"] as const;
export type CommandName = (typeof COMMANDS)[number];

export type CommandStatus =
  | "ok"
  | "pending"
  | "rolled-back"
  | "invalid"
  | "unauthorized"
  | "not-found"
  | "too-large"
  | "busy"
  | "failed";

export interface CommandRequest {
  command: string;
  counter?: unknown;
  mac?: unknown;
  /** The decoded body (JSON or CBOR value); undefined when none. */
  body?: unknown;
  /** Size of the message as received, in bytes. */
  size?: number;
  /** "mqtt" / "coap", for the log. */
  via?: string;
  /** The transport could not decode the message: rejected "invalid" with this reason (after the rate limit). */
  malformed?: string;
}

export interface CommandResult {
  status: CommandStatus;
  command: string;
  /** The request's counter, echoed so a client can match the answer. */
  ctr?: number;
  reasons?: string[];
  /** Redacted configuration (config/get, and after a change). */
  config?: { [k: string]: unknown };
  /** Keys that changed. */
  changed?: string[];
  /** Safe apply: "direct" (no connectivity change), "trial" (pending), "kept", "rolled-back". */
  applied?: "direct" | "trial" | "kept" | "rolled-back";
  /** Busy: try again after this many ms. */
  retryAfterMs?: number;
  /**
   * An authenticated command (its MAC verifies) whose counter is not above the last accepted
   * one: that counter, so the owner can sign again above it (resynchronise). Never given to a
   * request that does not authenticate.
   */
  lastCtr?: number;
  /** Transports send nothing for this result (flood suppression). */
  silent?: boolean;
  [extra: string]: unknown;
}

/** What the app implements so that connectivity changes can be tried (see the file comment). */
export interface ConnectivityHook {
  /**
   * Reconnect with `next`; call `done(true)` once connected (and subscribed),
   * `done(false, reason)` when it failed. The core also stops waiting after
   * `timeoutMs` by itself. Calls after the first are ignored.
   */
  tryApply(next: DeviceConfig, timeoutMs: number, done: (ok: boolean, reason?: string) => void): void;
  /** Go back to `previous` (after a failure or a timeout). */
  revert(previous: DeviceConfig, reason: string): void;
  /** Optional: what went wrong so far in the trial (the last connection error), for the timeout's reason. */
  failureDetail?(): string | undefined;
}

/** The last safe apply of this boot, as config/get reports it (`trial`): how a CoAP client learns the final result. */
export interface TrialOutcome {
  command: string;
  ctr: number;
  status: "pending" | "ok" | "rolled-back";
  applied: "trial" | "kept" | "rolled-back";
  changed: string[];
  reasons?: string[];
}

interface Trial {
  job: Job | undefined;
  finish: (ok: boolean, reason?: string) => void;
  base: DeviceConfig;
  next: DeviceConfig;
}

export type ChangePhase = "applied" | "trial" | "kept" | "rolled-back" | "factory-reset";

export interface ConfigCoreEvent {
  type: "change" | "result" | "sleep-policy";
  config: DeviceConfig;
  previous?: DeviceConfig;
  phase?: ChangePhase;
  result?: CommandResult;
  sleepPrevented?: boolean;
}

export interface ConfigCoreOptions {
  store: ConfigStore;
  scheduler: Scheduler;
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
  connectivity?: ConnectivityHook;
  /** Restart the device (platform.power.restart). */
  reboot?(): void;
  /** Diagnostic lines (never carry keys, MACs or passwords). */
  log?(line: string): void;
  /** Largest command message (default 4096 bytes). */
  maxCommandBytes?: number;
  /** Token bucket: commands in a burst (default 10) and refill per second (default 2). */
  burst?: number;
  ratePerS?: number;
  /** Delay between the answer to reboot/factory-reset and the restart (default 1000 ms). */
  rebootDelayMs?: number;
  /**
   * Configuration groups to share with other cores (a simulated fleet passes one `{}` to all of
   * its devices' cores; see ConfigShare). Without it the core shares nothing.
   */
  shared?: ConfigShare;
}

const MAX_PREVENT_S = 86400;

/**
 * Groups of the configuration in effect (mqtt, coap, sensors, each sensor, ...) shared,
 * frozen, between the cores given the same ConfigShare (ConfigCoreOptions.shared): a
 * simulated fleet of a thousand devices whose settings differ only in the device id keeps one
 * copy of each group, not a thousand (~1.2 KB a device). At most SHARE_LIMIT kinds per group
 * are kept; others stay the core's own (frozen too: the configuration in effect is read-only,
 * `config` gives a copy). The pool is the caller's, not the module's: module-level state is
 * shared by every user of the module and frozen once preloaded (docs/moddable.md). A device
 * passes none.
 */
export interface ConfigShare {
  [path: string]: object[];
}

const SHARE_LIMIT = 8;

/** `c` with every object below it frozen and replaced by the pool's equal one (or offered to the pool). */
function share<T>(c: T, path: string, pool: ConfigShare | undefined): T {
  const o = c as unknown as { [k: string]: unknown };
  if (!Object.isFrozen(o)) {
    for (const k of Object.keys(o)) {
      const v = o[k];
      if (isPlainObject(v)) {
        const w = share(v, path + "." + k, pool);
        if (w !== v) o[k] = w;
      }
    }
  }
  if (path === "") return rootLiteral(c);
  const list = pool && (pool[path] || (pool[path] = []));
  if (list) for (let i = 0; i < list.length; i++) if (sameValue(list[i], o)) return list[i] as T;
  Object.freeze(o);
  if (list && list.length < SHARE_LIMIT) list.push(o);
  return c;
}

const ROOT_KEYS = "version,deviceId,protocol,topicPrefix,mqtt,coap,sampling,telemetry,sleep,safeApply,sensors";

/**
 * The configuration's root as one object literal (same keys, same order) when it has the
 * schema's keys in the schema's order: a root built key by key keeps most of its eleven
 * properties in a separate property array in V8 (88 B more a device in a fleet). Any other
 * root is returned as it is.
 */
function rootLiteral<T>(c: T): T {
  const o = c as unknown as DeviceConfig;
  if (Object.keys(o).join(",") !== ROOT_KEYS) return c;
  const r: DeviceConfig = {
    version: o.version,
    deviceId: o.deviceId,
    protocol: o.protocol,
    topicPrefix: o.topicPrefix,
    mqtt: o.mqtt,
    coap: o.coap,
    sampling: o.sampling,
    telemetry: o.telemetry,
    sleep: o.sleep,
    safeApply: o.safeApply,
    sensors: o.sensors,
  };
  return r as unknown as T;
}

/** Deep equality of two JSON-like values (plain objects, arrays, primitives); key order counts. */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (!a || !b || typeof a !== "object" || typeof b !== "object" || Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    if (ka[i] !== kb[i] || !sameValue((a as { [k: string]: unknown })[ka[i]], (b as { [k: string]: unknown })[kb[i]])) return false;
  }
  return true;
}

/**
 * Who on() calls: a function, or an object whose `onConfigEvent(e)` method is called (as the
 * DOM calls an EventListener's handleEvent): an owner that is itself the listener keeps no
 * closure for it (a closure and its context, ~0.1 KB a device in a simulated fleet, issue 7).
 */
export type ConfigListener = ((e: ConfigCoreEvent) => void) | { onConfigEvent(e: ConfigCoreEvent): void };

export class ConfigCore {
  readonly store: ConfigStore;
  readonly scheduler: Scheduler;
  /** How the configuration came up at boot. */
  readonly bootStatus: BootStatus;
  readonly bootMessage: string | undefined;
  /** True when the store was corrupt at boot and the device runs on defaults. */
  readonly corrupt: boolean;
  #config: DeviceConfig;
  #opts: ConfigCoreOptions;
  #listeners: ConfigListener[] = [];
  #tokens: number;
  #tokensAt: number;
  #busyNoticeAt = -Infinity;
  /** The safe apply being tried: `base` is the stored configuration (what a rollback restores), `next` the one tried. */
  #trial: Trial | undefined;
  #lastTrial: TrialOutcome | undefined;
  #preventUntil = 0;
  #preventJob: Job | undefined;
  #rebootJob: Job | undefined;
  #rejected: { [status: string]: number } | undefined = undefined;

  constructor(options: ConfigCoreOptions) {
    if (!options || !options.store || !options.scheduler || typeof options.hmacSha256 !== "function")
      throw new TypeError("ConfigCore: store, scheduler and hmacSha256 are required");
    this.#opts = options;
    this.store = options.store;
    this.scheduler = options.scheduler;
    const loaded = this.store.load();
    this.#config = share(loaded.config, "", this.#opts.shared);
    this.bootStatus = loaded.status;
    this.bootMessage = loaded.message;
    this.corrupt = loaded.status === "corrupt";
    if (loaded.status === "corrupt") this.#log("config: " + loaded.message);
    else if (loaded.status === "migrated") this.#log("config: " + loaded.message);
    this.#tokens = options.burst ?? 10;
    this.#tokensAt = this.scheduler.now();
  }

  /** The configuration in effect (a copy). */
  get config(): DeviceConfig {
    return cloneConfig(this.#config);
  }

  /** The configuration in effect, without copying: do not modify. */
  get current(): Readonly<DeviceConfig> {
    return this.#config;
  }

  /** Rejections by reason class (diagnostics; the object is made with the first rejection or read). */
  get rejected(): { [status: string]: number } {
    return this.#rejected || (this.#rejected = {});
  }

  /** True while a sleep/prevent is in force. */
  get sleepPrevented(): boolean {
    return this.#preventUntil > this.scheduler.now();
  }

  /** A connectivity change is being tried. */
  get trialRunning(): boolean {
    return this.#trial !== undefined;
  }

  /** The last safe apply of this boot (pending, kept or rolled back), or undefined. */
  get lastTrial(): TrialOutcome | undefined {
    return this.#lastTrial ? { ...this.#lastTrial } : undefined;
  }

  /** Listen to changes, final results and sleep policy; returns a function that removes the listener. */
  on(listener: ConfigListener): () => void {
    if (typeof listener !== "function" && typeof listener?.onConfigEvent !== "function") throw new TypeError("ConfigCore.on: listener must be a function or have an onConfigEvent method");
    this.#listeners = this.#listeners.concat([listener]); // exactly sized (push from empty gives 17 slots)
    return () => this.off(listener);
  }

  /** Removes a listener given to on() (what its returned function does, without keeping a closure). */
  off(listener: ConfigListener): void {
    const i = this.#listeners.indexOf(listener);
    if (i >= 0) this.#listeners = this.#listeners.slice(0, i).concat(this.#listeners.slice(i + 1));
  }

  /** Stops the core's jobs (app shutdown). */
  close(): void {
    this.#trial?.job?.cancel();
    this.#preventJob?.cancel();
    this.#rebootJob?.cancel();
  }

  /**
   * Runs one command. Returns its result at once; for a safe apply that is
   * "pending", and the final result goes to `reply` (and the listeners).
   * Never throws (a power loss on the simulated flash excepted: nothing runs after it).
   */
  execute(req: CommandRequest, reply?: (final: CommandResult) => void): CommandResult {
    const command = typeof req?.command === "string" ? req.command : "";
    try {
      return this.#execute(req, command, reply);
    } catch (e) {
      if ((e as Error)?.name === "PowerLossError" || (e as { isSleepSignal?: boolean })?.isSleepSignal) throw e;
      this.#log(`config: ${command} failed: ${String((e as Error)?.message ?? e)}`);
      return this.#reject("failed", command, req, ["internal error: " + String((e as Error)?.message ?? e)]);
    }
  }

  #execute(req: CommandRequest, command: string, reply?: (final: CommandResult) => void): CommandResult {
    // 1. Rate limit: nothing else is looked at.
    const wait = this.#take();
    if (wait > 0) {
      const now = this.scheduler.now();
      const silent = now - this.#busyNoticeAt < 1000;
      if (!silent) this.#busyNoticeAt = now;
      const r = this.#reject("busy", command, req, [`rate limit: too many commands, try again in ${wait} ms`]);
      r.retryAfterMs = wait;
      if (silent) r.silent = true;
      return r;
    }
    // 2. Size.
    const max = this.#opts.maxCommandBytes ?? 4096;
    if (typeof req.size === "number" && req.size > max) return this.#reject("too-large", command, req, [`message of ${req.size} bytes is larger than ${max}`]);
    // 3. Known command.
    if ((COMMANDS as readonly string[]).indexOf(command) < 0)
      return this.#reject("not-found", command, req, [`unknown command ${JSON.stringify(command.slice(0, 40))} (known: ${COMMANDS.join(", ")})`]);
    if (typeof req.malformed === "string") return this.#reject("invalid", command, req, [req.malformed]);
    // 4. Authentication. A request that does not authenticate learns nothing but "unauthorized"
    // (the reason is logged on the device); one whose MAC verifies but whose counter is stale
    // is told the last accepted counter, so its owner can resynchronise (docs/security.md).
    const why = this.#authenticate(command, req);
    if (why) return this.#reject("unauthorized", command, req, ["unauthorized"], why);
    if ((req.counter as number) <= this.store.counter) {
      const r = this.#reject("unauthorized", command, req, [`ctr: ${req.counter} is not above the last accepted counter ${this.store.counter} (replayed or stale command; sign again with a higher counter)`]);
      r.lastCtr = this.store.counter;
      return r;
    }
    const counter = req.counter as number;
    // 5./6. The command.
    switch (command as CommandName) {
      case "ping":
        this.store.acceptCounter(counter);
        return this.#ok(command, counter, { pong: true, uptimeMs: this.scheduler.now() });
      case "config/get":
        this.store.acceptCounter(counter);
        return this.#ok(command, counter, this.#lastTrial ? { config: redactConfig(this.#config), boot: this.bootStatus, corrupt: this.corrupt, trial: this.lastTrial } : { config: redactConfig(this.#config), boot: this.bootStatus, corrupt: this.corrupt });
      case "config/set":
      case "config/patch":
        return this.#change(command, counter, req.body, reply);
      case "reboot": {
        if (!this.#emptyBody(req.body)) return this.#reject("invalid", command, req, ["body: reboot takes no body (send null or {})"]);
        this.store.acceptCounter(counter);
        const delay = this.#scheduleReboot();
        return this.#ok(command, counter, { rebootInMs: delay });
      }
      case "factory-reset": {
        if (!this.#emptyBody(req.body)) return this.#reject("invalid", command, req, ["body: factory-reset takes no body (send null or {})"]);
        const defaults = this.store.factoryReset(counter);
        // A trial running ends first, rolled back: its result must not save its configuration
        // over the defaults, nor bring back the one before the reset (docs/config.md).
        this.#trial?.finish(false, "factory reset");
        const previous = this.#config;
        this.#config = share(defaults, "", this.#opts.shared);
        this.#log("config: factory reset (defaults restored; device key and counter kept)");
        this.#emit({ type: "change", config: this.config, previous, phase: "factory-reset" });
        const delay = this.#scheduleReboot();
        return this.#ok(command, counter, { config: redactConfig(this.#config), rebootInMs: delay });
      }
      case "sleep/prevent": {
        let forS = 600;
        const b = req.body;
        if (!this.#emptyBody(b)) {
          if (!isPlainObject(b)) return this.#reject("invalid", command, req, ["body: must be an object {forS}"]);
          for (const k of Object.keys(b)) if (k !== "forS") return this.#reject("invalid", command, req, [`body.${k}: unknown key (sleep/prevent takes forS)`]);
          if (b.forS !== undefined) {
            if (typeof b.forS !== "number" || !Number.isInteger(b.forS) || b.forS < 1 || b.forS > MAX_PREVENT_S)
              return this.#reject("invalid", command, req, [`body.forS: must be an integer from 1 to ${MAX_PREVENT_S} (got ${JSON.stringify(b.forS)})`]);
            forS = b.forS;
          }
        }
        this.store.acceptCounter(counter);
        this.#setPrevent(this.scheduler.now() + forS * 1000);
        return this.#ok(command, counter, { sleepPreventedForS: forS });
      }
      case "sleep/allow":
        if (!this.#emptyBody(req.body)) return this.#reject("invalid", command, req, ["body: sleep/allow takes no body (send null or {})"]);
        this.store.acceptCounter(counter);
        this.#setPrevent(0);
        return this.#ok(command, counter, { sleepPrevented: false });
    }
    return this.#reject("not-found", command, req, ["unknown command"]);
  }

  // -- authentication ---------------------------------------------------------

  #authenticate(command: string, req: CommandRequest): string | undefined {
    const key = this.store.key();
    if (!key) return "this device has no command key provisioned: every command is refused";
    const ctr = req.counter;
    if (ctr === undefined) return "ctr: missing (an integer counter above the last accepted one)";
    if (!isValidCounter(ctr)) return `ctr: must be an integer from 1 to 2^53-1 (got ${typeof ctr === "string" ? JSON.stringify(ctr.slice(0, 24)) : String(ctr).slice(0, 24)})`;
    const mac = req.mac;
    if (mac === undefined) return "mac: missing (64 hex digits of HMAC-SHA256)";
    if (typeof mac !== "string" || mac.length !== MAC_HEX_LENGTH) return `mac: must be ${MAC_HEX_LENGTH} hex digits (got ${typeof mac === "string" ? mac.length + " characters" : typeof mac})`;
    const tag = fromHex(mac);
    if (!tag) return "mac: must be hex digits only";
    let data: Uint8Array;
    try {
      data = commandSigningBytes(this.#config.deviceId, command, ctr, req.body);
    } catch (e) {
      if (e instanceof CanonicalError) return "body: " + e.message;
      throw e;
    }
    const expected = this.#opts.hmacSha256(key, data);
    if (!constantTimeEqual(expected, tag)) return "mac: does not verify (wrong key, or signed for another device, command, counter or body)";
    return undefined;
  }

  // -- config changes -----------------------------------------------------------

  #change(command: string, counter: number, body: unknown, reply?: (final: CommandResult) => void): CommandResult {
    const req = { counter };
    if (!isPlainObject(body)) return this.#reject("invalid", command, req, [command === "config/set" ? "body: must be the whole configuration object" : "body: must be a JSON merge patch object (RFC 7396)"]);
    let candidate: unknown;
    let keepSecrets: DeviceConfig | undefined;
    if (command === "config/set") {
      candidate = body;
      keepSecrets = this.#config;
    } else {
      candidate = mergePatch(this.#config, body);
    }
    const v = validateConfig(candidate, this.store.context, { keepSecretsFrom: keepSecrets });
    if (!v.ok) return this.#reject("invalid", command, req, v.errors.map((e) => e.message));
    const next = v.config;
    const previous = this.#config;
    const changed = changedKeys(previous, next);
    if (changed.length === 0) {
      this.store.acceptCounter(counter);
      return this.#ok(command, counter, { changed, applied: "direct", config: redactConfig(next) });
    }
    const conn = connectivityChanges(previous, next);
    const hook = this.#opts.connectivity;
    const trial = this.#trial;
    if (conn.length === 0 || !hook) {
      // During a trial the stored configuration is the one before it: the change goes there
      // too, on top of it, and the trial's own keys stay unstored until it is kept.
      let stored = next;
      if (trial) {
        const carried = validateConfig(carryChanges(trial.base, previous, next), this.store.context);
        if (!carried.ok) return this.#reject("busy", command, req, ["a connectivity change is being tried and this change does not hold without it (" + carried.errors.map((e) => e.message).join("; ") + "); wait for its result"]);
        stored = carried.config;
      }
      this.store.save(stored, counter);
      if (trial) {
        trial.base = share(stored, "", this.#opts.shared);
        trial.next = next;
      }
      this.#config = share(next, "", this.#opts.shared);
      this.#log(`config: ${command} applied (${changed.join(", ")})`);
      this.#emit({ type: "change", config: this.config, previous, phase: "applied" });
      return this.#ok(command, counter, { changed, applied: "direct", config: redactConfig(next) });
    }
    if (trial) return this.#reject("busy", command, req, ["a connectivity change is already being tried; wait for its result"]);
    // Safe apply: the counter is persisted now, the configuration only once it works.
    this.store.acceptCounter(counter);
    this.#config = share(next, "", this.#opts.shared);
    const timeoutMs = next.safeApply.timeoutS * 1000;
    this.#log(`config: ${command} trying connectivity change (${conn.join(", ")}) for up to ${next.safeApply.timeoutS} s`);
    let settled = false;
    const finish = (ok: boolean, reason?: string): void => {
      if (settled) return;
      settled = true;
      this.#trial = undefined;
      t.job?.cancel();
      // Both may have moved since the start: changes made during the trial (see above).
      const next = t.next;
      const previous = t.base;
      let final: CommandResult;
      if (ok) {
        try {
          this.store.save(next, counter);
        } catch (e) {
          if ((e as Error)?.name === "PowerLossError") throw e;
          ok = false;
          reason = "storage: " + String((e as Error)?.message ?? e);
        }
      }
      if (ok) {
        this.#log(`config: ${command} connectivity change kept`);
        final = this.#ok(command, counter, { changed, applied: "kept", config: redactConfig(next) });
        this.#emit({ type: "change", config: this.config, previous, phase: "kept" });
      } else {
        const why = reason ?? "the device could not reconnect";
        this.#config = previous;
        this.#log(`config: ${command} rolled back: ${why}`);
        this.#call(() => hook.revert(cloneConfig(previous), why));
        final = { status: "rolled-back", command, ctr: counter, reasons: [why], changed, applied: "rolled-back", config: redactConfig(previous) };
        this.#emit({ type: "change", config: this.config, previous: next, phase: "rolled-back" });
      }
      this.#lastTrial = { command, ctr: counter, status: final.status as "ok" | "rolled-back", applied: final.applied as "kept" | "rolled-back", changed };
      if (final.reasons) this.#lastTrial.reasons = final.reasons;
      this.#emit({ type: "result", config: this.config, result: final });
      if (reply) this.#call(() => reply(final));
    };
    this.#lastTrial = { command, ctr: counter, status: "pending", applied: "trial", changed };
    const t: Trial = { job: undefined, finish, base: previous, next };
    this.#trial = t;
    t.job = this.scheduler.after(timeoutMs, () => {
      let detail: string | undefined;
      this.#call(() => {
        detail = hook.failureDetail?.();
      });
      finish(false, `no connection with the new settings within ${next.safeApply.timeoutS} s` + (detail ? ` (last error: ${detail})` : ""));
    }, { name: "config-safe-apply" });
    this.#emit({ type: "change", config: this.config, previous, phase: "trial" });
    this.#call(() => hook.tryApply(cloneConfig(next), timeoutMs, (ok, reason) => finish(!!ok, reason)));
    if (settled) {
      // The hook answered synchronously: the final result is already out.
    }
    return { status: "pending", command, ctr: counter, changed, applied: "trial", timeoutS: next.safeApply.timeoutS, config: redactConfig(next) };
  }

  // -- helpers ----------------------------------------------------------------

  #emptyBody(b: unknown): boolean {
    return b === undefined || b === null || (isPlainObject(b) && Object.keys(b).length === 0);
  }

  #take(): number {
    const burst = this.#opts.burst ?? 10;
    const rate = this.#opts.ratePerS ?? 2;
    const now = this.scheduler.now();
    this.#tokens = Math.min(burst, this.#tokens + ((now - this.#tokensAt) * rate) / 1000);
    this.#tokensAt = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.#tokens) * 1000) / rate);
  }

  #setPrevent(until: number): void {
    this.#preventUntil = until;
    this.#preventJob?.cancel();
    this.#preventJob = undefined;
    if (until > this.scheduler.now()) {
      this.#preventJob = this.scheduler.schedule({
        name: "config-sleep-prevent",
        deadline: until,
        run: () => {
          this.#preventJob = undefined;
          this.#emit({ type: "sleep-policy", config: this.config, sleepPrevented: false });
        },
      });
    }
    this.#emit({ type: "sleep-policy", config: this.config, sleepPrevented: until > this.scheduler.now() });
  }

  #scheduleReboot(): number {
    const delay = this.#opts.rebootDelayMs ?? 1000;
    this.#rebootJob?.cancel();
    this.#rebootJob = this.scheduler.after(delay, () => {
      this.#log("config: rebooting on command");
      if (this.#opts.reboot) this.#opts.reboot();
    }, { name: "config-reboot" });
    return delay;
  }

  #ok(command: string, counter: number, extra: { [k: string]: unknown }): CommandResult {
    return { status: "ok", command, ctr: counter, ...extra };
  }

  /** `logged`: what the device's log says instead of the reasons (a detail the sender is not told). */
  #reject(status: CommandStatus, command: string, req: { counter?: unknown }, reasons: string[], logged?: string): CommandResult {
    const counts = this.rejected;
    counts[status] = (counts[status] ?? 0) + 1;
    if (status !== "busy") this.#log(`config: rejected ${command.slice(0, 40) || "(no command)"}: ${status}: ${(logged ?? reasons.join("; ")).slice(0, 200)}`);
    const r: CommandResult = { status, command, reasons };
    if (isValidCounter(req.counter)) r.ctr = req.counter;
    return r;
  }

  #emit(e: ConfigCoreEvent): void {
    for (const l of this.#listeners.slice()) this.#call(() => (typeof l === "function" ? l(e) : l.onConfigEvent(e)));
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if ((e as Error)?.name === "PowerLossError" || (e as { isSleepSignal?: boolean })?.isSleepSignal) throw e;
      this.#log("config: a callback threw: " + String((e as Error)?.message ?? e));
    }
  }

  #log(line: string): void {
    try {
      this.#opts.log?.(line);
    } catch {
      // logging must never break a command
    }
  }
}

export { defaultConfig };
