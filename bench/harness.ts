/**
 * Portable benchmark harness: runs on Node (bench/node-entry.ts) and on XS (bundled by
 * bench/run.js and run on xsnap). No Node API here.
 *
 * A bench file default-exports an array of BenchCase. For each case the harness measures
 * operations per second by running `run` for a fixed time slice (calibrated batches, so the
 * clock is read rarely), then `peerRun` for the same slice, alternating which goes first,
 * for several rounds. It reports the median of each side and the median of the per-round
 * ratios (ours / peer; above 1 means ours is faster), because the machine is shared and
 * noisy and adjacent slices see the same noise.
 */

export interface BenchCase {
  /** What is measured, e.g. "varint encode (1-4 bytes)". */
  name: string;
  /** One operation of ours. Return something derived from the work (it is kept in a sink). */
  run: () => unknown;
  /** The same operation done by the named peer (omit when there is none). */
  peerRun?: () => unknown;
  /** The peer's name, e.g. "TextEncoder.encodeInto". */
  peer?: string;
  /** Unit of the reported value; default "ops/s". */
  unit?: string;
  /** Multiplier from operations/s to `unit` (e.g. bytes per op / 1e6 for "MB/s"). Default 1. */
  perOp?: number;
  /** Throws if ours and the peer disagree; run once before timing. */
  check?: () => void;
  notes?: string;
}

export interface BenchResult {
  name: string;
  unit: string;
  value: number;
  peer: string | null;
  peerValue: number | null;
  ratio: number | null;
  engine: "node" | "xs";
  notes: string;
}

export interface BenchOptions {
  /** Length of one measured slice in ms. */
  sliceMs: number;
  /** Rounds of (ours, peer) slices. */
  rounds: number;
  now: () => number;
}

export const defaultOptions: BenchOptions = {
  sliceMs: 150,
  rounds: 5,
  now: () => performance.now(),
};

let sink: unknown = null;

/** Keeps results alive so an optimizer cannot drop the measured work. */
export function consume(v: unknown): void {
  sink = v;
}

export function lastSink(): unknown {
  return sink;
}

/** Batch size such that one batch takes about `targetMs`. */
export function calibrate(fn: () => unknown, targetMs: number, now: () => number): number {
  let n = 1;
  for (;;) {
    const t0 = now();
    for (let i = 0; i < n; i++) sink = fn();
    const dt = now() - t0;
    if (dt >= targetMs || n >= 1 << 24) {
      if (dt <= 0) return n;
      return Math.max(1, Math.round((n * targetMs) / dt));
    }
    n = dt < targetMs / 16 ? n * 8 : n * 2;
  }
}

/** Operations per second of `fn` over one slice, in batches of `batch`. */
export function opsPerSecond(fn: () => unknown, batch: number, sliceMs: number, now: () => number): number {
  let ops = 0;
  const t0 = now();
  let t = t0;
  do {
    for (let i = 0; i < batch; i++) sink = fn();
    ops += batch;
    t = now();
  } while (t - t0 < sliceMs);
  return (ops * 1000) / (t - t0);
}

export function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Measures one case. */
export function runCase(c: BenchCase, engine: "node" | "xs", options: BenchOptions = defaultOptions): BenchResult {
  const { sliceMs, rounds, now } = options;
  if (c.check) c.check();
  const perOp = c.perOp === undefined ? 1 : c.perOp;
  const target = Math.max(1, sliceMs / 20);
  const ourBatch = calibrate(c.run, target, now);
  const peerBatch = c.peerRun ? calibrate(c.peerRun, target, now) : 0;
  const ours: number[] = [];
  const theirs: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let a: number;
    let b = 0;
    if (c.peerRun && r % 2 === 1) {
      b = opsPerSecond(c.peerRun, peerBatch, sliceMs, now);
      a = opsPerSecond(c.run, ourBatch, sliceMs, now);
    } else {
      a = opsPerSecond(c.run, ourBatch, sliceMs, now);
      if (c.peerRun) b = opsPerSecond(c.peerRun, peerBatch, sliceMs, now);
    }
    ours.push(a * perOp);
    if (c.peerRun) {
      theirs.push(b * perOp);
      ratios.push(a / b);
    }
  }
  return {
    name: c.name,
    unit: c.unit || "ops/s",
    value: median(ours),
    peer: c.peerRun ? c.peer || "peer" : null,
    peerValue: c.peerRun ? median(theirs) : null,
    ratio: c.peerRun ? median(ratios) : null,
    engine,
    notes: c.notes || "",
  };
}

/** Throws unless two byte sequences are equal (for `check`). */
export function sameBytes(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  if (a.length !== b.length) throw new Error(what + ": lengths differ: " + a.length + " vs " + b.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) throw new Error(what + ": byte " + i + " differs: " + a[i] + " vs " + b[i]);
  }
}

/**
 * Runs every case, reporting each result through `emit` as one line:
 *   ##bench <JSON BenchResult>     or     ##bench-error <JSON {name, error}>
 * then `BENCH-DONE <count>`.
 */
export function runAll(cases: BenchCase[], engine: "node" | "xs", emit: (line: string) => void, options: BenchOptions = defaultOptions, filter?: (name: string) => boolean): void {
  let count = 0;
  for (const c of cases) {
    if (filter && !filter(c.name)) continue;
    try {
      emit("##bench " + JSON.stringify(runCase(c, engine, options)));
      count++;
    } catch (e) {
      emit("##bench-error " + JSON.stringify({ name: c.name, error: String(e && (e as Error).message ? (e as Error).message : e) }));
    }
  }
  emit("BENCH-DONE " + count);
}
