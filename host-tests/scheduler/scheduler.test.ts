// @xs
import { Scheduler } from "../../modules/scheduler/scheduler";
import { VirtualClock } from "../../sim/virtual-clock";

describe("Scheduler", () => {
  function setup() {
    const clock = new VirtualClock();
    const errors: unknown[] = [];
    const scheduler = new Scheduler({ clock, onError: (e) => errors.push(e) });
    return { clock, scheduler, errors };
  }

  it("runs a job at its deadline, not before", () => {
    const { clock, scheduler } = setup();
    const ran: number[] = [];
    scheduler.schedule({ deadline: 100, run: (now) => ran.push(now) });
    clock.advance(99);
    expect(ran).toEqual([]);
    clock.advance(1);
    expect(ran).toEqual([100]);
    expect(scheduler.size).toBe(0);
  });

  it("calls run on the job's target when one is given (one shared function for many owners), on the job itself otherwise; refuses a target that is not an object", () => {
    const { clock, scheduler } = setup();
    const seen: unknown[] = [];
    function run(this: unknown, now: number) {
      seen.push([this, now]);
    }
    const a = { name: "a" };
    const b = { name: "b" };
    scheduler.schedule({ deadline: 10, run, target: a });
    scheduler.schedule({ deadline: 20, run, target: b });
    const plain = scheduler.schedule({ deadline: 30, run });
    expect(plain.target).toBe(plain);
    clock.advance(30);
    expect(seen).toEqual([[a, 10], [b, 20], [plain, 30]]);
    expect(() => scheduler.schedule({ deadline: 40, run, target: null as never })).toThrow(/target must be an object/);
    expect(() => scheduler.schedule({ deadline: 40, run, target: 7 as never })).toThrow(TypeError);
    expect(scheduler.size).toBe(0); // nothing scheduled by the refused calls
  });

  it("serves all jobs with one host timer", () => {
    const { clock, scheduler } = setup();
    for (let i = 0; i < 50; i++) scheduler.schedule({ deadline: 1000 + i * 10, run: () => {} });
    expect(clock.pending).toBe(1);
    expect(clock.nextTimerAt()).toBe(1000);
    clock.advance(1000);
    expect(clock.pending).toBe(1);
    expect(clock.nextTimerAt()).toBe(1010);
  });

  it("runs jobs in deadline order", () => {
    const { clock, scheduler } = setup();
    const order: string[] = [];
    scheduler.schedule({ name: "c", deadline: 30, run: () => order.push("c") });
    scheduler.schedule({ name: "a", deadline: 10, run: () => order.push("a") });
    scheduler.schedule({ name: "b", deadline: 20, run: () => order.push("b") });
    clock.advance(100);
    expect(order).toEqual(["a", "b", "c"]);
  });

  it("coalesces: a job whose window is open runs in another job's wake-up", () => {
    const { clock, scheduler } = setup();
    const ran: Array<[string, number]> = [];
    scheduler.schedule({ name: "keepalive", deadline: 1000, run: (now) => ran.push(["keepalive", now]) });
    scheduler.schedule({ name: "sample", deadline: 1200, earliest: 900, latest: 1500, run: (now) => ran.push(["sample", now]) });
    clock.advance(1000);
    expect(ran).toEqual([
      ["keepalive", 1000],
      ["sample", 1000],
    ]);
    expect(clock.pending).toBe(0);
  });

  it("does not run a job before its window opens", () => {
    const { clock, scheduler } = setup();
    const ran: string[] = [];
    scheduler.schedule({ name: "a", deadline: 1000, run: () => ran.push("a") });
    scheduler.schedule({ name: "b", deadline: 1200, earliest: 1100, run: () => ran.push("b") });
    clock.advance(1000);
    expect(ran).toEqual(["a"]);
    clock.advance(200);
    expect(ran).toEqual(["a", "b"]);
  });

  it("cancels and reschedules jobs", () => {
    const { clock, scheduler } = setup();
    const ran: number[] = [];
    const job = scheduler.schedule({ deadline: 100, run: (now) => ran.push(now) });
    job.cancel();
    expect(job.scheduled).toBe(false);
    clock.advance(200);
    expect(ran).toEqual([]);
    job.reschedule(300);
    job.reschedule(250);
    clock.advance(100);
    expect(ran).toEqual([250]);
  });

  it("lets a job reschedule itself (periodic work without drift)", () => {
    const { clock, scheduler } = setup();
    const ran: number[] = [];
    scheduler.schedule({
      deadline: 100,
      run: (now, job) => {
        ran.push(now);
        if (ran.length < 4) job.reschedule(job.deadline + 100);
      },
    });
    clock.advance(1000);
    expect(ran).toEqual([100, 200, 300, 400]);
  });

  it("reports a throwing job and keeps running the others", () => {
    const { clock, scheduler, errors } = setup();
    const ran: string[] = [];
    scheduler.schedule({ name: "bad", deadline: 10, run: () => { throw new Error("boom"); } });
    scheduler.schedule({ name: "good", deadline: 10, run: () => ran.push("good") });
    clock.advance(10);
    expect(ran).toEqual(["good"]);
    expect(errors.length).toBe(1);
    expect((errors[0] as Error).message).toBe("boom");
  });

  it("rejects a window that does not contain the deadline, and a NaN deadline", () => {
    const { scheduler } = setup();
    expect(() => scheduler.schedule({ deadline: 100, earliest: 150, run: () => {} })).toThrow(RangeError);
    expect(() => scheduler.schedule({ deadline: 100, latest: 50, run: () => {} })).toThrow(/window/);
    expect(() => scheduler.schedule({ deadline: NaN, run: () => {} })).toThrow(RangeError);
    expect(scheduler.size).toBe(0);
  });

  it("tells the sleep planner which jobs need the radio", () => {
    const { scheduler } = setup();
    scheduler.schedule({ name: "sample", deadline: 100, run: () => {} });
    scheduler.schedule({ name: "publish", deadline: 500, earliest: 400, radio: true, run: () => {} });
    expect(scheduler.radioDueBefore(300)).toBe(false);
    expect(scheduler.radioDueBefore(401)).toBe(true);
    expect(scheduler.plan().map((j) => j.name)).toEqual(["sample", "publish"]);
  });

  it("clear() cancels every job and the host timer", () => {
    const { clock, scheduler } = setup();
    let ran = 0;
    for (let i = 1; i <= 5; i++) scheduler.schedule({ deadline: i * 10, run: () => ran++ });
    scheduler.clear();
    expect(clock.pending).toBe(0);
    clock.advance(100);
    expect(ran).toBe(0);
  });

  it("keeps a fractional deadline and window as given (a sensor's 9.3 ms conversion): the job runs at that time", () => {
    const { clock, scheduler } = setup();
    const ran: number[] = [];
    const job = scheduler.schedule({ name: "conversion", deadline: 9.3, earliest: 8.5, latest: 12.25, run: (now) => ran.push(now) });
    expect([job.deadline, job.earliest, job.latest]).toEqual([9.3, 8.5, 12.25]);
    clock.advance(9);
    expect(ran).toEqual([]);
    clock.advance(0.3);
    expect(ran).toEqual([9.3]);
    const whole = scheduler.after(5, (now) => ran.push(now));
    expect(whole.deadline).toBe(14.3);
    clock.advance(5);
    expect(ran).toEqual([9.3, 14.3]);
  });

  it("arms every host timer with the same callback (one bound function per scheduler), each of them runs what is due", () => {
    const clock = new VirtualClock();
    const callbacks: (() => void)[] = [];
    const recording = {
      now: () => clock.now(),
      epoch: () => clock.epoch(),
      setTimer(callback: () => void, delayMs: number) {
        callbacks.push(callback);
        return clock.setTimer(callback, delayMs);
      },
      clearTimer: (handle: unknown) => clock.clearTimer(handle as never),
    };
    const scheduler = new Scheduler({ clock: recording });
    const ran: string[] = [];
    scheduler.schedule({ name: "b", deadline: 50, run: () => ran.push("b") });
    scheduler.schedule({ name: "a", deadline: 20, run: () => ran.push("a") });
    clock.advance(20);
    scheduler.schedule({ name: "c", deadline: 30, run: () => ran.push("c") });
    clock.advance(40);
    expect(ran).toEqual(["a", "c", "b"]);
    expect(callbacks.length).toBeGreaterThanOrEqual(3);
    for (const cb of callbacks) expect(cb).toBe(callbacks[0]);
    expect(new Scheduler({ clock: recording }).schedule({ deadline: 5, run: () => {} }).scheduled).toBe(true);
    expect(callbacks[callbacks.length - 1]).not.toBe(callbacks[0]); // another scheduler, its own
  });

  it("keeps heap order through many random inserts and removals", () => {
    const { clock, scheduler } = setup();
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const ran: number[] = [];
    const jobs = [];
    for (let i = 0; i < 300; i++) jobs.push(scheduler.schedule({ deadline: Math.floor(rand() * 10000), run: (now) => ran.push(now) }));
    for (let i = 0; i < 100; i++) jobs[Math.floor(rand() * jobs.length)].cancel();
    const expected = scheduler.plan().map((j) => j.deadline);
    clock.advance(10000);
    expect(ran).toEqual(expected);
    for (let i = 1; i < ran.length; i++) expect(ran[i]).toBeGreaterThanOrEqual(ran[i - 1]);
  });
});

describe("Scheduler and deep sleep", () => {
  it("lets a sleep signal unwind: no further job of the pass runs and the signal is not reported as an error", () => {
    const clock = new VirtualClock();
    const errors: unknown[] = [];
    const scheduler = new Scheduler({ clock, onError: (e) => errors.push(e) });
    const ran: string[] = [];
    const signal = Object.assign(new Error("deep sleep"), { isSleepSignal: true });
    scheduler.schedule({ name: "sleeper", deadline: 10, run: () => { ran.push("sleeper"); throw signal; } });
    scheduler.schedule({ name: "after", deadline: 10, run: () => ran.push("after") });
    expect(() => clock.advance(10)).toThrow("deep sleep");
    expect(ran).toEqual(["sleeper"]);
    expect(errors).toEqual([]);
  });
});

describe("Scheduler: wakes by windows", () => {
  function setup() {
    const clock = new VirtualClock();
    const scheduler = new Scheduler({ clock });
    /** Distinct times at which jobs ran (one per wake). */
    const wakes: number[] = [];
    const ran: Array<[string, number]> = [];
    const record = (name: string) => (now: number) => {
      ran.push([name, now]);
      if (wakes[wakes.length - 1] !== now) wakes.push(now);
    };
    return { clock, scheduler, wakes, ran, record };
  }

  it("runs a job as late as its window allows when that saves a wake", () => {
    const { clock, scheduler, ran, record } = setup();
    scheduler.schedule({ name: "sample", deadline: 1000, earliest: 900, latest: 1100, run: record("sample") });
    scheduler.schedule({ name: "keepalive", deadline: 1080, earliest: 1080, latest: 1080, radio: true, run: record("keepalive") });
    expect(scheduler.nextWake()).toBe(1080);
    clock.advance(2000);
    expect(ran).toEqual([["sample", 1080], ["keepalive", 1080]]); // the sample's deadline passed: it goes first
  });

  it("runs a job as early as its window allows when that joins a wake", () => {
    const { clock, scheduler, ran, record } = setup();
    scheduler.schedule({ name: "sample", deadline: 1000, run: record("sample") });
    scheduler.schedule({ name: "telemetry", deadline: 1400, earliest: 950, latest: 1500, radio: true, run: record("telemetry") });
    clock.advance(2000);
    expect(ran).toEqual([["sample", 1000], ["telemetry", 1000]]);
  });

  it("wakes at the deadline when no other job can share the wake (moving it would save nothing)", () => {
    const { clock, scheduler, ran, record } = setup();
    scheduler.schedule({ name: "a", deadline: 1000, earliest: 500, latest: 1500, run: record("a") });
    scheduler.schedule({ name: "b", deadline: 3000, earliest: 2900, latest: 3100, run: record("b") });
    clock.advance(5000);
    expect(ran).toEqual([["a", 1000], ["b", 3000]]);
  });

  it("meets two windows that only overlap at their edges in one wake", () => {
    const { clock, scheduler, wakes, record } = setup();
    scheduler.schedule({ name: "a", deadline: 100, earliest: 50, latest: 200, run: record("a") });
    scheduler.schedule({ name: "b", deadline: 300, earliest: 200, latest: 400, run: record("b") });
    clock.advance(1000);
    expect(wakes).toEqual([200]);
  });

  it("honours latest: a job whose window another job's wake does not reach runs by its own latest", () => {
    const { clock, scheduler, ran, record } = setup();
    scheduler.schedule({ name: "tight", deadline: 100, earliest: 100, latest: 120, run: record("tight") });
    scheduler.schedule({ name: "wide", deadline: 300, earliest: 130, latest: 500, run: record("wide") });
    clock.advance(1000);
    expect(ran).toEqual([["tight", 100], ["wide", 300]]);
  });

  // The least number of wakes for a fixed set of windows, by brute force over candidate points
  // (every window edge): independent of the scheduler's greedy rule.
  function leastWakes(windows: Array<[number, number]>): number {
    const points = Array.from(new Set(windows.flatMap(([e, l]) => [e, l]))).sort((a, b) => a - b);
    for (let k = 1; k <= windows.length; k++) {
      const pick = (start: number, left: number, chosen: number[]): boolean => {
        if (left === 0) return windows.every(([e, l]) => chosen.some((p) => p >= e && p <= l));
        for (let i = start; i < points.length; i++) if (pick(i + 1, left - 1, chosen.concat(points[i]))) return true;
        return false;
      };
      if (pick(0, k, [])) return k;
    }
    return windows.length;
  }

  it("never runs a job outside its window and wakes no more often than the least possible (random job sets)", () => {
    let seed = 4242;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    for (let round = 0; round < 60; round++) {
      const { clock, scheduler, wakes } = setup();
      const windows: Array<[number, number]> = [];
      const outside: string[] = [];
      const n = 2 + rand(6);
      for (let i = 0; i < n; i++) {
        const deadline = 100 + rand(2000);
        const earliest = deadline - rand(400);
        const latest = deadline + rand(400);
        windows.push([earliest, latest]);
        scheduler.schedule({
          name: "j" + i,
          deadline,
          earliest,
          latest,
          radio: rand(2) === 1, // radio jobs may wait for a later wake: never one more

          run: (now) => {
            if (now < earliest || now > latest) outside.push(`j${i} at ${now} outside [${earliest}, ${latest}]`);
            if (wakes[wakes.length - 1] !== now) wakes.push(now);
          },
        });
      }
      clock.advance(5000);
      expect(outside).toEqual([]);
      expect(scheduler.size).toBe(0);
      expect(wakes.length).toBe(leastWakes(windows));
    }
  });

  it("a radio job waits for the next wake rather than switch the radio on at a wake without radio, unless it would then need a wake of its own", () => {
    const { clock, scheduler, ran, record } = setup();
    // samples every 30 s; a keep-alive due within [30, 60] s: it joins the sample at 60, not the one at 30
    for (const t of [30_000, 60_000, 90_000]) scheduler.schedule({ name: "sample", deadline: t, run: record("sample") });
    scheduler.schedule({ name: "keepalive", deadline: 60_000, earliest: 30_000, latest: 60_000, radio: true, liveness: true, run: record("keepalive") });
    // a radio job whose latest comes before the next wake joins the wake at hand
    scheduler.schedule({ name: "notify", deadline: 45_000, earliest: 20_000, latest: 45_000, radio: true, run: record("notify") });
    clock.advance(100_000);
    expect(ran).toEqual([
      ["sample", 30_000],
      ["notify", 30_000], // its latest (45 s) is before the next wake (60 s): now, not a wake of its own
      ["keepalive", 30_000], // the radio is on in this wake now: the open radio job joins
      ["sample", 60_000],
      ["sample", 90_000],
    ]);
  });

  it("radio jobs wait together: two open radio jobs do not hold each other back into a wake of their own", () => {
    const { clock, scheduler, wakes, ran, record } = setup();
    scheduler.schedule({ name: "sample", deadline: 30_000, run: record("sample") });
    scheduler.schedule({ name: "sample", deadline: 60_000, run: record("sample") });
    scheduler.schedule({ name: "keepalive", deadline: 60_000, earliest: 20_000, latest: 60_000, radio: true, run: record("keepalive") });
    scheduler.schedule({ name: "observe", deadline: 60_000, earliest: 20_000, latest: 60_000, radio: true, run: record("observe") });
    clock.advance(100_000);
    expect(wakes).toEqual([30_000, 60_000]);
    expect(ran.filter(([n]) => n !== "sample").sort()).toEqual([["keepalive", 60_000], ["observe", 60_000]]); // same deadline: either order
  });

  it("plans the next wake again when a job is added, moved or cancelled", () => {
    const { scheduler } = setup();
    const a = scheduler.schedule({ name: "a", deadline: 1000, earliest: 800, latest: 1200, run: () => {} });
    expect(scheduler.nextWake()).toBe(1000);
    const b = scheduler.schedule({ name: "b", deadline: 1100, earliest: 1100, latest: 1100, run: () => {} });
    expect(scheduler.nextWake()).toBe(1100);
    b.reschedule(700);
    expect(scheduler.nextWake()).toBe(700); // a's window has not opened at 700: b alone, then a
    b.cancel();
    expect(scheduler.nextWake()).toBe(1000);
    a.cancel();
    expect(scheduler.nextWake()).toBe(undefined);
  });

  it("tells the sleep planner which radio jobs only keep a connection alive (liveness)", () => {
    const { scheduler } = setup();
    scheduler.schedule({ name: "ping", deadline: 600, earliest: 300, liveness: true, run: () => {} });
    scheduler.schedule({ name: "tele", deadline: 900, earliest: 800, radio: true, run: () => {} });
    const plan = scheduler.plan();
    expect(plan.map((j) => [j.name, j.radio, j.liveness])).toEqual([["ping", true, true], ["tele", true, false]]);
    expect(scheduler.radioDueBefore(500)).toBe(true);
    expect(scheduler.radioDueBefore(500, true)).toBe(false); // obligations only: the ping is not one
    expect(scheduler.radioDueBefore(801, true)).toBe(true);
  });
});

describe("Scheduler on a clock with rounding errors", () => {
  it("a fractional deadline on a clock counted from an offset runs when its timer fires (300009.3 - 300000 < 9.3), instead of arming the same wake again", () => {
    const raw = new VirtualClock({ start: 300_000 });
    const offset = { now: () => raw.now() - 300_000, epoch: () => raw.epoch(), setTimer: (cb: () => void, ms: number) => raw.setTimer(cb, ms), clearTimer: (h: unknown) => raw.clearTimer(h as never) };
    const scheduler = new Scheduler({ clock: offset });
    const ran: number[] = [];
    scheduler.schedule({ name: "conversion", deadline: 9.3, run: (now) => ran.push(now) });
    raw.advance(20);
    expect(ran).toEqual([9.3]);
    expect(raw.pending).toBe(0);
  });
});
