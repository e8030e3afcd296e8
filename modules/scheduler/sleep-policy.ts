/*
 * The sleep policy (docs/scheduler.md, "Sleep policy"): the one place that puts the device to
 * sleep. It watches the scheduler's wakes (Scheduler.observer): before a radio job runs with
 * the links closed it opens them; when a wake is over it asks the planner (./sleep-planner.ts)
 * how to spend the time to the next one and carries that out through the platform's Power:
 *
 *   awake / modem       nothing to do: the host timer wakes the app
 *   light, Wi-Fi kept   Power.lightSleep(ms, true): the chip sleeps between DTIM beacons, the
 *                       links stay open and their keep-alives run
 *   light, radio off    the links are closed cleanly (host.closeLinks), then Power.lightSleep(ms, false)
 *   deep                the links are closed cleanly, what must survive is saved
 *                       (host.beforeDeepSleep: RTC memory, flash), then Power.deepSleep(ms)
 *
 * It waits while the host is busy (connecting, messages not yet acknowledged, a CoAP exchange)
 * and for the command window after the links open (what the broker queued for the session
 * arrives then), up to `busyLimitMs`; then it sleeps anyway (what is unacknowledged stays in
 * flash and goes again after the wake [MQTT-4.4.0-1]). Links that cannot be opened for
 * `giveUpMs` are given up: deep sleep with a back-off that doubles per failed wake (or to the
 * next planned wake if that is later), the attempts counted across boots by the host (RTC memory).
 *
 * sleep/prevent (host.prevented()) is read at every decision, so one that arrived before the
 * policy existed (a command queued for the session, delivered at CONNACK) holds as well.
 *
 * Portable (XS): no Node API, no module-level mutable state.
 */
import type { Power } from "../platform/system";
import type { PowerFigures } from "./energy";
import type { Job, Scheduler, SchedulerObserver } from "./scheduler";
import { planSleep, type LinkCost, type SleepPlan } from "./sleep-planner";

/** What the policy needs from the app. */
export interface SleepHost {
  /** The links (protocols) open or to be opened, with their costs (linkCost()). */
  links(): readonly LinkCost[];
  /** The links are open (or opening). */
  linksUp(): boolean;
  /** The links are connected and usable (CONNACK received, a CoAP socket bound). */
  linksReady(): boolean;
  /** Something is in flight that a sleep would cut (a connection being set up, an unacknowledged message). */
  busy(): boolean;
  /** sleep/prevent holds. */
  prevented(): boolean;
  /** Opens the links (a radio job is about to run). */
  openLinks(): void;
  /**
   * Before a deep sleep (RAM lost): hands over what is pending (buffered readings) to the
   * transport, opening the links if need be. True when something is now in flight (the policy
   * waits for it, as for busy()); false when there was nothing to hand over.
   */
  prepare(deep: boolean): boolean;
  /**
   * Before a sleep that lets the links go, says so: the retained state "asleep" with the time
   * the device is reachable again. `radioMs` / `radioAt` (clock ms): until the links come back.
   * Light sleep: the plan's radioMs and radioAt, by when the next radio obligation has run, not
   * the next wake (the wakes before it run with the radio off); Infinity / undefined when none
   * is scheduled. Deep sleep: the wake (a boot; what is pending is handed over before each deep
   * sleep, prepare()). True when something went out: the policy then waits while it keeps the
   * host busy (its acknowledgement) before closing; false when there was nothing to say (CoAP).
   */
  announce(radioMs: number, radioAt: number | undefined): boolean;
  /**
   * Closes the links cleanly: MQTT DISCONNECT (no Will; MQTT 5 with a Session Expiry covering
   * `radioMs`), MQTT-SN DISCONNECT with a duration. `radioMs`, `radioAt` as for announce(); after
   * a give-up, the back-off.
   */
  closeLinks(radioMs: number, radioAt: number | undefined, deep: boolean): void;
  /** Before deep sleep: saves what must survive to RTC memory or flash. `attempts`: failed wakes in a row (give-up back-off). */
  beforeDeepSleep(sleepMs: number, attempts: number): void;
  /** Failed wakes in a row so far (kept by the host across boots, RTC memory). */
  attempts(): number;
  log?(line: string): void;
}

export type SleepCeiling = "none" | "light" | "deep";

export interface SleepPolicyOptions {
  scheduler: Scheduler;
  /** The platform's power control. */
  power: Power;
  /** The board's figures. */
  figures: PowerFigures;
  host: SleepHost;
  /** The deepest sleep allowed (the configuration's sleep.mode): none never sleeps. */
  mode: SleepCeiling;
  /** RTC drift to allow for, ppm (default 100). */
  driftPpm?: number;
  /** Reachable this long after the links open (the command window), ms (default 1000). */
  commandWindowMs?: number;
  /** The longest a busy host delays a sleep, ms (default 10 s). */
  busyLimitMs?: number;
  /** Links that do not come up within this are given up, ms (default 30 s). */
  giveUpMs?: number;
  /** Back-off after a give-up: this, doubled per failed wake in a row, up to maxBackoffMs (defaults 60 s, 1 h). */
  backoffMs?: number;
  maxBackoffMs?: number;
}

/** How the policy ended the last wake (for tests and the log). */
export interface SleepDecision {
  at: number;
  plan: SleepPlan | undefined;
  /** "wait" while busy or in the command window; "give-up" when the links could not be opened. */
  action: "none" | "wait" | "awake" | "light" | "light-radio-off" | "deep" | "give-up";
}

export class SleepPolicy implements SchedulerObserver {
  readonly #o: SleepPolicyOptions;
  #openedAt = -1;
  #busySince = -1;
  /** The decision job: planned at the end of a wake, run as the next turn (after the callbacks the wake's jobs started). */
  #decideJob: Job | undefined = undefined;
  #stopped = false;
  last: SleepDecision = { at: 0, plan: undefined, action: "none" };

  constructor(o: SleepPolicyOptions) {
    if (!o || !o.scheduler || !o.power || !o.figures || !o.host) throw new TypeError("SleepPolicy: scheduler, power, figures and host are required");
    if (o.mode !== "none" && o.mode !== "light" && o.mode !== "deep") throw new RangeError(`SleepPolicy: mode must be none, light or deep, got ${o.mode}`);
    this.#o = o;
    o.scheduler.observer = this;
    // Links the app opened itself (at boot): the command window counts from now.
    if (o.host.linksUp()) this.#openedAt = o.scheduler.now();
  }

  /** The deepest sleep allowed now (a configuration change). */
  set mode(mode: SleepCeiling) {
    if (mode !== "none" && mode !== "light" && mode !== "deep") throw new RangeError(`SleepPolicy: mode must be none, light or deep, got ${mode}`);
    this.#o.mode = mode;
  }

  get mode(): SleepCeiling {
    return this.#o.mode;
  }

  /** Stops watching: no more sleeps (the app stops). */
  stop(): void {
    this.#stopped = true;
    this.#decideJob?.cancel();
    this.#decideJob = undefined;
    if (this.#o.scheduler.observer === this) this.#o.scheduler.observer = undefined;
  }

  /** Scheduler observer: a radio job about to run finds the links open. */
  onRun(job: Job, now: number): void {
    if (this.#stopped || !job.radio || job.liveness) return;
    const host = this.#o.host;
    if (!host.linksUp()) {
      this.#openedAt = now;
      this.#announced = false;
      host.openLinks();
    }
  }

  /**
   * Scheduler observer: the wake is over. The decision is a job of its own, due now: it runs in
   * the host timer's next turn, after the promises and callbacks the wake's jobs started (a
   * reading that completes in a promise is sent before the radio goes off).
   */
  onIdle(now: number): void {
    if (this.#stopped || this.#decideJob?.scheduled) return;
    // The wake that just ended was the decision itself: nothing new to decide on.
    if (this.#decided) {
      this.#decided = false;
      return;
    }
    this.#arm(now, now, now);
  }

  /** The last wake was the decision job's. */
  #decided = false;
  /** "asleep" has been said on the links now open. */
  #announced = false;

  #arm(deadline: number, earliest: number, latest: number): void {
    const job = this.#decideJob;
    if (job) job.reschedule(deadline, { earliest, latest });
    else this.#decideJob = this.#o.scheduler.schedule({ name: "sleep-decide", deadline, earliest, latest, run: SleepPolicy.#decideJobRun, target: this });
  }

  static #decideJobRun(this: SleepPolicy, now: number): void {
    if (this.#stopped) return;
    this.#decided = true;
    this.#decide(now);
  }

  /** The time to sleep at most when `mode` allows deep sleep and nothing else limits it (Home Assistant's expire_after comes from it). */
  static expireAfterS(reportMs: number, commandWindowMs = 1000): number {
    // a report may come a tenth of its period late (its window), plus the wake and the command window
    return Math.ceil((reportMs * 1.1 + commandWindowMs) / 1000) + 60;
  }

  #decide(now: number): void {
    const o = this.#o;
    const host = o.host;
    if (o.mode === "none") return this.#record(now, undefined, "none");
    const window = o.commandWindowMs ?? 1000;
    const inWindow = this.#openedAt >= 0 && now < this.#openedAt + window;
    const busy = host.busy() || inWindow;
    if (busy) {
      if (this.#busySince < 0) this.#busySince = now;
      const waited = now - this.#busySince;
      // Links that do not come up: wait for them up to giveUpMs, then give up and sleep with a
      // back-off. Anything else in flight: wait up to busyLimitMs, then sleep as planned.
      const connecting = host.linksUp() && !host.linksReady() && this.#openedAt >= 0;
      if (connecting && now - this.#openedAt >= (o.giveUpMs ?? 30_000) && o.mode === "deep" && !host.prevented()) return this.#giveUp(now);
      if (connecting || waited < (o.busyLimitMs ?? 10_000) || host.prevented()) {
        // Only the command window: look again when it ends. Something in flight: soon (an
        // answer ends the wait). Meanwhile the chip light-sleeps with Wi-Fi kept: reachable.
        const at = inWindow && !connecting && !host.busy() ? this.#openedAt + window : now + 50;
        this.#arm(at, Math.min(at, now + 20), at + 150);
        this.#record(now, undefined, "wait");
        o.power.lightSleep(at - now, true);
        return;
      }
    }
    const plan = planSleep(now, o.scheduler.plan(), {
      power: o.figures,
      links: host.links(),
      linksUp: host.linksUp(),
      driftPpm: o.driftPpm ?? 100,
      prevent: host.prevented(),
      deepSleep: o.mode === "deep",
    });
    if (plan.mode === "awake" || plan.mode === "modem") {
      this.#busySince = -1;
      return this.#record(now, plan, "awake");
    }
    // What RAM holds goes out before a deep sleep; wait for it like for anything in flight.
    if (plan.mode === "deep" && host.prepare(true)) {
      if (host.linksUp() && this.#openedAt < 0) this.#openedAt = now;
      if (this.#busySince < 0) this.#busySince = now;
      this.#arm(now + 50, now + 20, now + 200);
      this.#record(now, plan, "wait");
      o.power.lightSleep(50, true);
      return;
    }
    if (!plan.keepLinks && host.linksUp()) {
      // Until when the links are gone. Light sleep (RAM and the job table kept): the next radio
      // obligation, not the next wake, since the wakes before it keep the radio off. Deep sleep:
      // the wake, a boot, whose app arms its jobs anew and hands what is pending over before
      // its next deep sleep (host.prepare): the radio wake as far as can be known here.
      const deep = plan.mode === "deep";
      const ms = deep ? plan.sleepMs : plan.radioMs;
      const at = deep ? plan.wakeAt : plan.radioAt;
      // Say "asleep" first and let its acknowledgement come (it keeps the host busy), then close.
      if (!this.#announced && ((this.#announced = true), host.announce(ms, at))) {
        if (this.#busySince < 0) this.#busySince = now;
        this.#arm(now + 50, now + 20, now + 200);
        this.#record(now, plan, "wait");
        o.power.lightSleep(50, true);
        return;
      }
      host.closeLinks(ms, at, deep);
      this.#openedAt = -1;
      this.#announced = false;
    }
    this.#busySince = -1;
    if (plan.mode === "deep") {
      this.#record(now, plan, "deep");
      host.log?.(`sleep: ${plan.reason}, ${Math.round(plan.sleepMs)} ms`);
      host.beforeDeepSleep(plan.sleepMs, 0);
      o.power.deepSleep(plan.sleepMs === Infinity ? 0x7fffffff : Math.max(1, plan.sleepMs));
    }
    this.#record(now, plan, plan.keepLinks ? "light" : "light-radio-off");
    o.power.lightSleep(plan.sleepMs === Infinity ? 0x7fffffff : plan.sleepMs, plan.keepLinks);
  }

  #giveUp(now: number): void {
    const o = this.#o;
    const host = o.host;
    const attempts = host.attempts() + 1;
    // the back-off, or the next planned wake if that is later (the jobs are not due before)
    const next = o.scheduler.plan().length ? planSleep(now, o.scheduler.plan(), { power: o.figures, links: [], linksUp: false, deepSleep: true }).sleepMs : Infinity;
    const backoff = Math.min(o.maxBackoffMs ?? 3_600_000, (o.backoffMs ?? 60_000) * 2 ** (attempts - 1));
    const ms = Math.max(backoff, next === Infinity ? backoff : next);
    host.log?.(`sleep: the links did not come up in ${o.giveUpMs ?? 30_000} ms (attempt ${attempts}): deep sleep ${ms} ms`);
    host.closeLinks(ms, now + ms, true);
    this.#record(now, undefined, "give-up");
    host.beforeDeepSleep(ms, attempts);
    o.power.deepSleep(ms);
  }

  #record(at: number, plan: SleepPlan | undefined, action: SleepDecision["action"]): void {
    this.last = { at, plan, action };
  }
}
