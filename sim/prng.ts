/*
 * A small seeded pseudo-random generator for the simulator: the same seed gives
 * the same sequence on every host (Node and XS alike), so a simulated network
 * with loss and reordering replays exactly. Not for cryptography.
 *
 * The generator is the well-known "mulberry32" construction (a 32-bit counter
 * with a Weyl increment passed through an integer mixing function), written
 * here from its description. Period 2^32, which is plenty for a test run.
 */
export class Prng {
  #state: number;

  constructor(seed = 1) {
    if (typeof seed !== "number" || seed !== seed) throw new TypeError(`Prng: seed must be a number, got ${seed}`);
    this.#state = seed >>> 0;
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    this.#state = (this.#state + 0x6d2b79f5) | 0;
    return mix32(this.#state);
  }

  /** A float in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** True with probability `p` (0..1). Draws one number either way, so the sequence does not depend on p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** An integer in [min, max] inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** Fills `bytes` with pseudo-random bytes. */
  fill(bytes: Uint8Array): Uint8Array {
    this.#state = fillFromState(this.#state, bytes);
    return bytes;
  }

  /** A new independent generator seeded from this one (for per-link streams). */
  fork(): Prng {
    return new Prng(this.nextUint32());
  }
}

/** The output function of the generator (mulberry32's) for an advanced state. */
function mix32(state: number): number {
  let z = state;
  z = Math.imul(z ^ (z >>> 15), z | 1);
  z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
  return (z ^ (z >>> 14)) >>> 0;
}

/** The generator's state for `seed` (what `new Prng(seed)` starts from), an int32. */
export function prngState(seed: number): number {
  return seed | 0;
}

/**
 * Fills `bytes` as Prng.fill() would from `state` and returns the state after:
 * for a holder that keeps the bare state in a field of its own (no Prng object
 * per simulated device).
 */
export function fillFromState(state: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i += 4) {
    state = (state + 0x6d2b79f5) | 0;
    let v = mix32(state);
    for (let j = 0; j < 4 && i + j < bytes.length; j++, v >>>= 8) bytes[i + j] = v & 0xff;
  }
  return state;
}
