/*
 * The scheduler: the single owner of time (ARCHITECTURE.md, principle 4).
 *
 * Every keep-alive, retransmission, observe refresh, sampling period and
 * back-off is a Job here. A job has a deadline (when it wants to run), an
 * optional window [earliest, latest] (how far the scheduler may move it to share
 * a wake-up with other jobs), and a flag saying whether it needs the radio.
 * One host timer serves all jobs. It is armed for the next *wake*, planned from
 * the windows (docs/scheduler.md, "Wakes by windows"): the wake must come by the
 * smallest `latest` of all jobs (no job runs past its latest), and at that wake
 * every job whose window has opened by then runs too; within that range the
 * wake is put as near the earliest deadline as the group allows. So a job runs
 * as late as its window allows when that saves a wake, and as early as its
 * window allows when that joins one. When the timer fires, every job whose
 * window has opened runs in that same wake-up (coalescing), in deadline order.
 *
 * The sleep planner (./sleep-planner.ts) reads the same job table through
 * `plan()`, `nextWake()` and `radioDueBefore()` to choose how to spend the time
 * between wakes.
 */
import type { Clock, TimerHandle } from "../platform/clock";

export interface JobOptions {
  /** For diagnostics and the sleep planner's log. */
  name?: string;
  /** Absolute time (clock.now() milliseconds) when the job wants to run. */
  deadline: number;
  /** The job may run this early to share a wake-up. Defaults to `deadline`. */
  earliest?: number;
  /** The job must have run by then. Defaults to `deadline`; never before it. */
  latest?: number;
  /** The job sends or receives on the radio when it runs. */
  radio?: boolean;
  /**
   * The job only keeps a connection alive (an MQTT PINGREQ, an MQTT-SN keep-alive): when the
   * device lets that connection go (deep sleep, radio off), the job need not run, and the sleep
   * planner does not count it as an obligation. Implies `radio`.
   */
  liveness?: boolean;
  /** Runs the job; `now` is the scheduler's time at the wake-up. Called with `this` = `target` when given, else the job. */
  run(now: number, job: Job): void;
  /**
   * What `run` is called on (the `target` idea of ECMA-419's IO options): an owner passes a
   * function shared by all its instances and itself here, instead of a closure or a bound
   * function per job (~0.1 KB each in a simulated fleet, issue 7).
   */
  target?: object;
}

export interface SchedulerOptions {
  clock: Clock;
  /** Told of an exception thrown by a job; the other jobs keep running. */
  onError?(error: unknown, job: Job): void;
  /** Told of each job before it runs and of the end of each wake (Scheduler.observer). */
  observer?: SchedulerObserver;
}

/**
 * Who watches the wakes: the sleep policy (./sleep-policy.ts) opens the links before a radio
 * job runs and plans the sleep when a wake ends; the simulator's energy timeline names the
 * jobs. A throw from it is reported like a job's (onError), a sleep signal unwinds.
 */
export interface SchedulerObserver {
  /** Before `job` runs at `now`. */
  onRun?(job: Job, now: number): void;
  /** The host timer's wake is over: every job due has run and the next wake is armed. */
  onIdle?(now: number): void;
}

export interface JobSnapshot {
  name: string;
  deadline: number;
  earliest: number;
  latest: number;
  radio: boolean;
  liveness: boolean;
}

/** Bits of Job.flags. */
const RADIO = 1;
const LIVENESS = 2;

export class Job {
  name: string;
  /*
   * The times start undefined, not 0: V8 then keeps these fields "tagged", so a
   * whole-ms time is stored in the field itself. Started as numbers, one
   * fractional time in any job of the process (a sensor's 9.3 ms conversion)
   * turns them into boxed doubles, a 16-byte heap number per field of every job.
   * Scheduler.schedule() places the job before anyone can read them.
   */
  deadline!: number;
  earliest!: number;
  latest!: number;
  /*
   * radio and liveness as bits of one small integer (an own field on every job: as a
   * prototype default set only on radio jobs it saved 8 B on the others but put a radio
   * job's one own property past the instance size V8 settles on, a 40-byte property array).
   */
  flags = 0;
  /** Position in the scheduler's heap, or -1 when not scheduled. */
  index = -1;
  run: (now: number, job: Job) => void;
  /** `this` for run (JobOptions.target); the job itself when none was given. */
  target: object;
  /** @internal */
  owner: Scheduler;

  /** @internal use Scheduler.schedule() */
  constructor(owner: Scheduler, options: JobOptions) {
    this.owner = owner;
    this.name = options.name ?? "job";
    this.run = options.run;
    this.target = options.target ?? this;
    this.flags = options.liveness ? RADIO | LIVENESS : options.radio ? RADIO : 0;
  }

  /** The job sends or receives on the radio (JobOptions.radio). */
  get radio(): boolean {
    return (this.flags & RADIO) !== 0;
  }

  /** The job only keeps a connection alive (JobOptions.liveness). */
  get liveness(): boolean {
    return (this.flags & LIVENESS) !== 0;
  }

  get scheduled(): boolean {
    return this.index >= 0;
  }

  /** Moves the job to a new deadline (and window), scheduling it again if it had run or was cancelled. */
  reschedule(deadline: number, window?: { earliest?: number; latest?: number }): this {
    this.owner.place(this, deadline, window?.earliest, window?.latest);
    return this;
  }

  /** Reschedules `delayMs` after now. */
  delay(delayMs: number, slackMs = 0): this {
    const now = this.owner.now();
    return this.reschedule(now + delayMs, { earliest: now + delayMs - slackMs, latest: now + delayMs + slackMs });
  }

  cancel(): void {
    this.owner.remove(this);
  }
}

/** What wakeOf() reads of a job (a Job or a JobSnapshot). */
export interface WindowedJob {
  readonly deadline: number;
  readonly earliest: number;
  readonly latest: number;
  readonly radio: boolean;
  readonly liveness: boolean;
}

/**
 * The next wake for `jobs` (docs/scheduler.md, "Wakes by windows"), or undefined when there is
 * none. Greedy interval stabbing: the wake must come by L, the smallest `latest`; every job
 * whose window opens by L can share it, and waking anywhere in [the latest of their
 * `earliest`s, L] serves them all, which is as many as any wake serving the job due by L can
 * (so the number of wakes is the least possible for the jobs as they stand). Within that range
 * the wake goes as near the earliest deadline among them as it can. With `ignoreLiveness`,
 * jobs that only keep a connection alive do not count (the sleep planner's view when it lets
 * the connections go); with `skipRadioOpenAt`, radio jobs whose window is open at that time are
 * left out too (the radio jobs a wake without radio lets wait). O(n) with no allocation: a device has a handful of jobs.
 */
export function wakeOf(jobs: ArrayLike<WindowedJob>, ignoreLiveness: boolean, skipRadioOpenAt = NaN): number | undefined {
  const n = jobs.length;
  let by = Infinity;
  for (let i = 0; i < n; i++) {
    const job = jobs[i];
    if (job.latest < by && !(ignoreLiveness && job.liveness) && !(job.radio && job.earliest <= skipRadioOpenAt)) by = job.latest;
  }
  let from = -Infinity;
  let first = Infinity;
  for (let i = 0; i < n; i++) {
    const job = jobs[i];
    // A window that never opens (earliest Infinity) joins no wake.
    if (job.earliest <= by && job.earliest !== Infinity && !(ignoreLiveness && job.liveness) && !(job.radio && job.earliest <= skipRadioOpenAt)) {
      if (job.earliest > from) from = job.earliest;
      if (job.deadline < first) first = job.deadline;
    }
  }
  if (from === -Infinity) return undefined;
  const at = first < from ? from : first > by ? by : first;
  return at === Infinity ? undefined : at;
}

/** A job's run that does nothing (the stand-in job an observer's error is reported with). */
function fire(): void {}

/** Heaps up to this many jobs are kept at their exact size (see #push). */
const SMALL_HEAP = 16;

function checkTime(what: string, value: number): void {
  if (typeof value !== "number" || value !== value) throw new RangeError(`scheduler: ${what} must be a number, got ${value}`);
}

export class Scheduler {
  readonly clock: Clock;
  #heap: Job[] = [];
  #timer: TimerHandle | undefined;
  /** The deadline the host timer is armed for; undefined when none is (not Infinity: a double is boxed). */
  #timerAt: number | undefined = undefined;
  #running = false;
  #onError: ((error: unknown, job: Job) => void) | undefined;
  /** `fire` bound to this scheduler, the callback of every host timer it arms (made with the first). */
  #onTimer: (() => void) | undefined = undefined;
  /** Told of each job and of the end of each wake (SchedulerOptions.observer); may be set later. */
  observer: SchedulerObserver | undefined;

  constructor(options: SchedulerOptions) {
    if (!options || !options.clock) throw new TypeError("scheduler: options.clock is required");
    this.clock = options.clock;
    this.#onError = options.onError;
    this.observer = options.observer;
  }

  now(): number {
    return this.clock.now();
  }

  /** Adds a job. See JobOptions for the meaning of deadline and window. */
  schedule(options: JobOptions): Job {
    if (typeof options?.run !== "function") throw new TypeError("scheduler: job needs a run function");
    const t = options.target;
    if (t !== undefined && (t === null || (typeof t !== "object" && typeof t !== "function"))) throw new TypeError("scheduler: a job's target must be an object");
    const job = new Job(this, options);
    this.place(job, options.deadline, options.earliest, options.latest);
    return job;
  }

  /** Convenience: a job `delayMs` from now, with `slackMs` either side to share wake-ups. */
  after(delayMs: number, run: (now: number, job: Job) => void, options?: { name?: string; radio?: boolean; slackMs?: number }): Job {
    const deadline = this.now() + delayMs;
    const slack = options?.slackMs ?? 0;
    return this.schedule({ name: options?.name, radio: options?.radio, deadline, earliest: deadline - slack, latest: deadline + slack, run });
  }

  /** Number of jobs scheduled. */
  get size(): number {
    return this.#heap.length;
  }

  /** The earliest deadline among scheduled jobs, or undefined when none. */
  nextDeadline(): number | undefined {
    return this.#heap.length ? this.#heap[0].deadline : undefined;
  }

  /**
   * When the next wake is planned (the host timer is armed for it): by the smallest `latest`,
   * as near the earliest deadline of the jobs it serves as their windows allow. Undefined when
   * no job is scheduled (or none has a finite time).
   */
  nextWake(): number | undefined {
    return Scheduler.#wakeAt(this);
  }

  /** True when a job that needs the radio has a window opening before `time` (liveness jobs too unless `obligationsOnly`). */
  radioDueBefore(time: number, obligationsOnly = false): boolean {
    for (const job of this.#heap) if (job.flags & RADIO && job.earliest < time && !(obligationsOnly && job.flags & LIVENESS)) return true;
    return false;
  }

  /** The job table, sorted by deadline, for the sleep planner and diagnostics. */
  plan(): JobSnapshot[] {
    return this.#heap
      .map((j) => ({ name: j.name, deadline: j.deadline, earliest: j.earliest, latest: j.latest, radio: j.radio, liveness: j.liveness }))
      .sort((a, b) => a.deadline - b.deadline);
  }

  /** Cancels every job and the host timer (used when an app instance stops). */
  clear(): void {
    for (const job of this.#heap) job.index = -1;
    this.#heap.length = 0;
    Scheduler.#arm(this);
  }

  /**
   * Runs every job whose window has opened at `now` (the host timer calls this;
   * tests with a virtual clock may too). Jobs scheduled while running, with a
   * window already open, run in the same pass.
   */
  runDue(now = this.now()): number {
    if (this.#running) return 0;
    this.#running = true;
    let ran = 0;
    try {
      let radio = false;
      for (;;) {
        const job = Scheduler.#firstOpen(this, now, radio);
        if (!job) break;
        this.remove(job, false);
        ran++;
        if (job.flags & RADIO) radio = true;
        try {
          const observer = this.observer;
          if (observer?.onRun) observer.onRun(job, now);
          job.run.call(job.target, now, job);
        } catch (error) {
          // Deep sleep and restart unwind the whole stack: the app instance is
          // gone, so no further job of this pass may run.
          if ((error as { isSleepSignal?: boolean } | null)?.isSleepSignal === true) throw error;
          Scheduler.#report(this, error, job);
        }
      }
    } finally {
      this.#running = false;
      Scheduler.#arm(this);
    }
    return ran;
  }

  // -- internals -----------------------------------------------------------

  /** @internal */
  place(job: Job, deadline: number, earliest?: number, latest?: number): void {
    checkTime("deadline", deadline);
    const e = earliest ?? deadline;
    const l = latest ?? deadline;
    checkTime("earliest", e);
    checkTime("latest", l);
    if (e > deadline || l < deadline)
      throw new RangeError(`scheduler: job "${job.name}" window [${e}, ${l}] does not contain its deadline ${deadline}`);
    if (job.index >= 0) this.remove(job, false);
    job.deadline = deadline;
    job.earliest = e;
    job.latest = l;
    Scheduler.#push(this, job);
    if (!this.#running) Scheduler.#arm(this);
  }

  /** @internal */
  remove(job: Job, rearm = true): void {
    const i = job.index;
    if (i < 0 || this.#heap[i] !== job) return;
    const last = this.#heap.pop()!;
    job.index = -1;
    if (last !== job) {
      this.#heap[i] = last;
      last.index = i;
      Scheduler.#down(this, i);
      Scheduler.#up(this, last.index);
    }
    if (rearm && !this.#running) Scheduler.#arm(this);
  }

  // Internals are static private methods given the instance: a private instance
  // method gives every instance a brand field (8 B; a simulated fleet has a thousand).
  /**
   * The open job with the earliest deadline; jobs whose deadline passed come first. A radio
   * job whose deadline has not come joins a wake without radio (`radio` false: no radio job
   * ran in this pass) only when it would otherwise need a wake of its own, i.e. its latest
   * comes before the next wake of the jobs that are not open radio jobs: the number of wakes
   * stays the least, and the radio is not switched on early for nothing (a keep-alive waits
   * for the next radio wake).
   */
  static #firstOpen(self: Scheduler, now: number, radio: boolean): Job | undefined {
    const heap = self.#heap;
    if (!heap.length) return undefined;
    if (heap[0].deadline <= now) return heap[0];
    // Coalescing: a job whose window opened may run now, though its deadline is later.
    let best: Job | undefined;
    let waiting: Job | undefined;
    for (const job of heap) {
      if (job.earliest > now) continue;
      if (radio || !(job.flags & RADIO)) {
        if (!best || job.deadline < best.deadline) best = job;
      } else if (!waiting || job.latest < waiting.latest) waiting = job;
    }
    if (best || !waiting) return best;
    // The open radio jobs wait together for the next wake of the others, unless the first of
    // them to be due would have to have a wake of its own before that.
    const next = wakeOf(heap, false, now);
    return next === undefined || waiting.latest < next ? waiting : undefined;
  }

  static #report(self: Scheduler, error: unknown, job: Job): void {
    if (self.#onError) {
      try {
        self.#onError(error, job);
      } catch {
        // an error handler that throws must not stop the other jobs
      }
    }
  }

  static #wakeAt(self: Scheduler): number | undefined {
    return wakeOf(self.#heap, false);
  }

  static #arm(self: Scheduler): void {
    const next = Scheduler.#wakeAt(self);
    if (next === self.#timerAt) return;
    if (self.#timer !== undefined) {
      self.clock.clearTimer(self.#timer);
      self.#timer = undefined;
    }
    self.#timerAt = next;
    if (next === undefined || next === Infinity) return;
    const delay = Math.max(0, next - self.clock.now());
    // One bound function per scheduler, made with the first timer and reused for
    // every later one: an arrow here cost a closure and a context per arming.
    self.#timer = self.clock.setTimer((self.#onTimer ??= self.fire.bind(self)), delay);
  }

  /** @internal the host timer's callback (bound once per scheduler): runs what is due. */
  fire(): void {
    const planned = this.#timerAt;
    this.#timer = undefined;
    this.#timerAt = undefined;
    // The timer fired for the planned wake: it is at least that time, though the clock may
    // say a rounding error less (a fractional deadline on a clock counted from a boot offset:
    // 300009.3 - 300000 = 9.2999999999884), which would run nothing and arm the same wake again.
    const clockNow = this.clock.now();
    const now = planned !== undefined && planned > clockNow && planned - clockNow < 1e-6 ? planned : clockNow;
    this.runDue(now);
    const observer = this.observer;
    if (!observer?.onIdle || this.#running) return;
    try {
      observer.onIdle(this.clock.now());
    } catch (error) {
      if ((error as { isSleepSignal?: boolean } | null)?.isSleepSignal === true) throw error;
      // reported as a job of that name (not scheduled: cancel() and the rest do nothing)
      Scheduler.#report(this, error, new Job(this, { name: "scheduler observer", deadline: now, run: fire }));
    }
  }

  static #push(self: Scheduler, job: Job): void {
    const heap = self.#heap;
    job.index = heap.length;
    // A push onto a full array grows it by 16 slots or more (~150 B); a device
    // has a handful of jobs, so a small heap is copied to its exact size instead.
    // (concat allocates the exact size; a spread or slice leaves room to grow).
    if (heap.length < SMALL_HEAP) self.#heap = heap.concat(job);
    else heap.push(job);
    Scheduler.#up(self, job.index);
  }

  static #up(self: Scheduler, i: number): void {
    const heap = self.#heap;
    const job = heap[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p];
      if (parent.deadline <= job.deadline) break;
      heap[i] = parent;
      parent.index = i;
      i = p;
    }
    heap[i] = job;
    job.index = i;
  }

  static #down(self: Scheduler, i: number): void {
    const heap = self.#heap;
    const n = heap.length;
    const job = heap[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && heap[r].deadline < heap[l].deadline ? r : l;
      if (heap[c].deadline >= job.deadline) break;
      heap[i] = heap[c];
      heap[i].index = i;
      i = c;
    }
    heap[i] = job;
    job.index = i;
  }
}
