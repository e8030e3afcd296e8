/*
 * The offline optimum for a scenario (sim/sleep-model.ts): the least number of wakes that
 * serves the same job list, found by dynamic programming over the whole day, and the schedule
 * that reaches it (to replay through the same energy model).
 *
 * Time is a grid of q ms, the greatest common divisor of every period, window and gap (3 s for
 * scenario (1), 3 min for scenario (2)), so no placement the jobs allow is missed. The state at
 * a grid point is, for each relative job, the time since the last traffic on its link (0 up to
 * its latest) and, for each periodic job, whether its current window is still to be served. A
 * step either sleeps through (allowed while no relative job is at its latest and no window
 * closes unserved) or wakes: every open periodic window is served (serving never hurts: the
 * instances are independent and traffic only moves relative deadlines later), the traffic
 * resets its link's relative jobs, and any subset of the relative jobs past their earliest may
 * run (those at their latest must). The model starts at a boot at time 0: a wake here too.
 *
 * Node or XS; memory: one byte of decision per state and grid point (50 MB for scenario (1) over
 * MQTT), so this is for the bench, not the device.
 */
import type { Scenario, ScenarioJob } from "./sleep-model";

export interface OptimumOptions {
  /** Count the liveness jobs (the links are kept all day) or leave them out (the links are let go between wakes). */
  liveness: boolean;
}

export interface OptimumResult {
  /** Wakes per day (the boot at time 0 counted, as the model counts it). */
  wakes: number;
  /** Of which with the radio on (the tie-break among schedules with the fewest wakes). */
  radioWakes: number;
  /** Run times (ms) per job name: the optimal schedule. */
  schedule: { [job: string]: number[] };
  gridMs: number;
  states: number;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

interface Periodic {
  spec: ScenarioJob;
  /** grid index of each window's start and end */
  starts: number[];
  ends: number[];
  linkIndex: number;
}

interface Relative {
  spec: ScenarioJob;
  min: number;
  max: number;
  linkIndex: number;
}

const INF = Infinity;
/** The cost of a wake; a radio wake adds 1 (the tie-break): exact in a double up to 2^53. */
const WAKE = 1_000_000;

export function optimumWakes(scenario: Scenario, o: OptimumOptions): OptimumResult {
  const T = scenario.durationMs;
  const jobs = scenario.jobs.filter((j) => o.liveness || !j.liveness);
  let q = 0;
  for (const j of jobs) for (const v of [j.periodMs, j.windowMs ?? 0, j.firstMs ?? j.periodMs, j.minGapMs ?? 0]) if (v) q = gcd(q, Math.round(v));
  if (!(q >= 1)) throw new RangeError("optimum: no time grid");
  const steps = Math.floor(T / q);
  const links: string[] = [];
  const linkOf = (j: ScenarioJob) => {
    if (!j.radio || !j.link) return -1;
    let i = links.indexOf(j.link);
    if (i < 0) i = links.push(j.link) - 1;
    return i;
  };
  const periodic: Periodic[] = [];
  const relative: Relative[] = [];
  for (const j of jobs) {
    if (j.kind === "periodic") {
      const w = j.windowMs ?? 0;
      if (2 * w >= j.periodMs) throw new RangeError(`optimum: ${j.name}'s windows overlap`);
      const p: Periodic = { spec: j, starts: [], ends: [], linkIndex: linkOf(j) };
      for (let d = j.firstMs ?? j.periodMs; d - w <= T; d += j.periodMs) {
        p.starts.push(Math.max(0, Math.ceil((d - w) / q)));
        p.ends.push(Math.floor((d + w) / q));
      }
      periodic.push(p);
    } else relative.push({ spec: j, min: Math.round((j.minGapMs ?? 0) / q), max: Math.round(j.periodMs / q), linkIndex: linkOf(j) });
  }
  const P = periodic.length;
  const R = relative.length;
  // State index: flags (bit j: periodic j has a window to serve) + 2^P * mixed radix of ages.
  const radix: number[] = [];
  let states = 1 << P;
  for (const r of relative) {
    radix.push(states);
    states *= r.max + 1;
  }
  if (states * (steps + 1) > 400e6 || steps >= WAKE) throw new RangeError(`optimum: ${states} states x ${steps + 1} steps is too large`);
  const ageOf = relative.map((r, k) => {
    const a = new Int16Array(states);
    for (let s = 0; s < states; s++) a[s] = Math.floor(s / radix[k]) % (r.max + 1);
    return a;
  });
  let cur = new Float64Array(states).fill(INF);
  let nxt = new Float64Array(states).fill(INF);
  // decision per (step, state): 0 sleep through, 1 + subset of relative jobs run: a wake
  const decision = new Uint8Array((steps + 1) * states);
  const from = new Int32Array((steps + 1) * states); // the previous state
  if (R > 7) throw new RangeError("optimum: at most 7 relative jobs");

  // Window bookkeeping per periodic job: index of the current/next window.
  const cursor = new Int32Array(P);

  // Boot at t = 0: a wake. Start from "all ages 0, nothing pending".
  cur[0] = 0;
  let bootPending = true;
  const ages = new Int32Array(R);
  for (let t = 0; t <= steps; t++) {
    // Windows opening now become pending; windows that closed move the cursor.
    let opening = 0;
    let closing = 0;
    let open = 0;
    for (let j = 0; j < P; j++) {
      const p = periodic[j];
      while (cursor[j] < p.starts.length && p.ends[cursor[j]] < t) cursor[j]++;
      const c = cursor[j];
      if (c < p.starts.length && p.starts[c] <= t) {
        open |= 1 << j;
        if (p.starts[c] === t) opening |= 1 << j;
        if (p.ends[c] === t) closing |= 1 << j;
      }
    }
    if (opening) {
      // A state still pending for a window that opens now missed the previous one: infeasible
      // (the closing check makes these unreachable; cleared for safety). Then every state gets
      // the new windows pending; the remap is marked so the way back can follow it.
      for (let s = 0; s < states; s++) if (s & opening) cur[s] = INF;
      for (let s = 0; s < states; s++) {
        if (s & opening || cur[s] >= INF) continue;
        const s2 = s | opening;
        cur[s2] = cur[s];
        from[t * states + s2] = -1 - s;
        cur[s] = INF;
      }
    }
    if (t === steps) break;
    nxt.fill(INF);
    const base = (t + 1) * states;
    for (let s = 0; s < states; s++) {
      const v = cur[s];
      if (v >= INF) continue;
      const flags = s & ((1 << P) - 1);
      let atMax = false;
      for (let k = 0; k < R; k++) {
        ages[k] = ageOf[k][s];
        if (ages[k] >= relative[k].max) atMax = true;
      }
      // Sleep through this grid point.
      if (!atMax && !(flags & closing) && !(bootPending && t === 0)) {
        let s2 = flags;
        for (let k = 0; k < R; k++) s2 += radix[k] * (ages[k] + 1);
        if (v < nxt[s2]) {
          nxt[s2] = v;
          decision[base + s2] = 0;
          from[base + s2] = s;
        }
      }
      // Wake: serve what is pending; its traffic resets its link.
      let traffic = 0;
      let radio = false;
      for (let j = 0; j < P; j++) {
        if (!(flags & (1 << j))) continue;
        if (periodic[j].linkIndex >= 0) traffic |= 1 << periodic[j].linkIndex;
        if (periodic[j].spec.radio) radio = true;
      }
      for (let subset = 0; subset < 1 << R; subset++) {
        let ok = true;
        let tr = traffic;
        let withRadio = radio;
        for (let k = 0; k < R && ok; k++) {
          if (!(subset & (1 << k))) continue;
          if (ages[k] < relative[k].min) ok = false;
          else {
            if (relative[k].linkIndex >= 0) tr |= 1 << relative[k].linkIndex;
            if (relative[k].spec.radio) withRadio = true;
          }
        }
        // Fewest wakes first; among those, fewest with the radio on.
        const cost = v + WAKE + (withRadio ? 1 : 0);
        if (!ok) continue;
        let s2 = 0; // nothing pending after the wake
        for (let k = 0; k < R && ok; k++) {
          const reset = subset & (1 << k) || (relative[k].linkIndex >= 0 && tr & (1 << relative[k].linkIndex));
          if (!reset && ages[k] >= relative[k].max) ok = false;
          s2 += radix[k] * (reset ? 1 : ages[k] + 1);
        }
        if (!ok) continue;
        if (cost < nxt[s2]) {
          nxt[s2] = cost;
          decision[base + s2] = 1 + subset;
          from[base + s2] = s;
        }
      }
    }
    bootPending = false;
    [cur, nxt] = [nxt, cur];
  }
  // The best end state, and the schedule back from it.
  let best = INF;
  let at = -1;
  for (let s = 0; s < states; s++) if (cur[s] < best) [best, at] = [cur[s], s];
  if (best >= INF) throw new RangeError("optimum: no feasible schedule");
  const schedule: { [job: string]: number[] } = {};
  for (const j of jobs) schedule[j.name] = [];
  for (let t = steps; t >= 1; t--) {
    let idx = t * states + at;
    while (from[idx] < 0) {
      // a remap at step t (a window opened): follow it to the state before
      at = -1 - from[idx];
      idx = t * states + at;
    }
    const d = decision[idx];
    const prev = from[idx];
    if (d > 0) {
      // the wake happened at step t - 1 from state prev
      const time = (t - 1) * q;
      const flags = prev & ((1 << P) - 1);
      for (let j = 0; j < P; j++) if (flags & (1 << j)) schedule[periodic[j].spec.name].push(time);
      for (let k = 0; k < R; k++) if ((d - 1) & (1 << k)) schedule[relative[k].spec.name].push(time);
    }
    at = prev;
  }
  for (const k of Object.keys(schedule)) schedule[k].reverse();
  const days = T / 86_400_000;
  return { wakes: Math.floor(best / WAKE) / days, radioWakes: (best % WAKE) / days, schedule, gridMs: q, states };
}
