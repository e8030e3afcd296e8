/*
 * What the seeded fuzz files share (docs/testing.md, "Seeded fuzz of a protocol end"): the PRNG
 * that draws every step from the seed, and the tally of what the seeds reached, which the last
 * test of each file prints and checks. Portable: the `// @xs` fuzz files run on XS too.
 */

/**
 * A small PRNG (mulberry32): the same sequence on Node and XS. Not sim/prng.ts's generator: the
 * seeds named in the fuzz files' commits and docs (where a fault showed, what the seeds reached)
 * are this sequence's.
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

declare const print: ((s: string) => void) | undefined;

/** Totals over every seed of a fuzz file: what was reached, how often. */
export class Tally {
  readonly reached: Record<string, number> = {};
  /** Adds `n` (default 1) to `what`; a function of its own, so that it can be passed or destructured. */
  readonly count = (what: string, n = 1): void => {
    this.reached[what] = (this.reached[what] ?? 0) + n;
  };
  /** Prints `title: what n, ...` (sorted; `print` on XS, console.log on Node): the figures for a report. */
  print(title: string): void {
    const r = this.reached;
    const line = Object.keys(r)
      .sort()
      .map((k) => k + " " + r[k])
      .join(", ");
    (typeof print === "function" ? print : console.log)(title + ": " + line);
  }
}
