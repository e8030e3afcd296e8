/*
 * SHA-256 (FIPS 180-4 §6.2) and HMAC-SHA256 (RFC 2104, FIPS 198-1) on
 * Uint8Array, portable (XS, Node, browsers). Used where the host has no
 * hardware hash (the desktop simulator, xsnap) and as the reference the
 * host implementations are checked against.
 *
 * Messages are limited to 2^53 - 1 bits' worth of bytes, far beyond what a
 * device hashes; the length is encoded as a 64-bit big-endian bit count
 * (FIPS 180-4 §5.1.1).
 */

// FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube
// roots of the first 64 primes.
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

// FIPS 180-4 §5.3.3: initial hash value H(0).
const H0 = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

export const SHA256_BLOCK_BYTES = 64;
export const SHA256_DIGEST_BYTES = 32;

/** Incremental SHA-256: update() any number of times, then digest() once. */
export class Sha256 {
  #h = new Uint32Array(H0);
  #w = new Uint32Array(64);
  #block = new Uint8Array(64);
  #used = 0;
  #length = 0;
  #done = false;

  update(data: Uint8Array): this {
    if (this.#done) throw new Error("Sha256: update() after digest()");
    if (!(data instanceof Uint8Array)) throw new TypeError("Sha256: data must be a Uint8Array");
    const block = this.#block;
    let i = 0;
    const n = data.length;
    this.#length += n;
    if (this.#used) {
      while (i < n && this.#used < 64) block[this.#used++] = data[i++];
      if (this.#used < 64) return this;
      this.#compress(block, 0);
      this.#used = 0;
    }
    while (n - i >= 64) {
      this.#compress(data, i);
      i += 64;
    }
    while (i < n) block[this.#used++] = data[i++];
    return this;
  }

  /** The 32-byte digest. The instance cannot be updated afterwards. */
  digest(): Uint8Array {
    if (this.#done) throw new Error("Sha256: digest() called twice");
    this.#done = true;
    // FIPS 180-4 §5.1.1: append 1 bit, zeros, then the 64-bit message length in bits.
    const bits = this.#length * 8;
    const block = this.#block;
    block[this.#used++] = 0x80;
    if (this.#used > 56) {
      block.fill(0, this.#used);
      this.#compress(block, 0);
      this.#used = 0;
    }
    block.fill(0, this.#used, 56);
    const high = Math.floor(bits / 0x100000000);
    const low = bits >>> 0;
    block[56] = high >>> 24;
    block[57] = high >>> 16;
    block[58] = high >>> 8;
    block[59] = high;
    block[60] = low >>> 24;
    block[61] = low >>> 16;
    block[62] = low >>> 8;
    block[63] = low;
    this.#compress(block, 0);
    const out = new Uint8Array(32);
    const h = this.#h;
    for (let j = 0; j < 8; j++) {
      out[j * 4] = h[j] >>> 24;
      out[j * 4 + 1] = h[j] >>> 16;
      out[j * 4 + 2] = h[j] >>> 8;
      out[j * 4 + 3] = h[j];
    }
    return out;
  }

  // FIPS 180-4 §6.2.2: the hash computation for one 512-bit block.
  #compress(data: Uint8Array, offset: number): void {
    const w = this.#w;
    for (let t = 0; t < 16; t++) {
      const p = offset + t * 4;
      w[t] = (data[p] << 24) | (data[p + 1] << 16) | (data[p + 2] << 8) | data[p + 3];
    }
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15];
      const y = w[t - 2];
      // σ0 and σ1 (FIPS 180-4 §4.1.2, (4.6) and (4.7))
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
    }
    const h = this.#h;
    let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (let t = 0; t < 64; t++) {
      // Σ1, Ch, Σ0, Maj (FIPS 180-4 §4.1.2, (4.2)-(4.5))
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[t] + w[t]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
  }
}

/** SHA-256 of `data` (FIPS 180-4), a 32-byte digest. */
export function sha256(data: Uint8Array): Uint8Array {
  return new Sha256().update(data).digest();
}

/**
 * HMAC-SHA256 (RFC 2104 §2 with B = 64, L = 32): keys longer than the block
 * are hashed first, shorter ones padded with zeros; H(K ^ opad, H(K ^ ipad, text)).
 */
export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  if (!(key instanceof Uint8Array)) throw new TypeError("hmacSha256: key must be a Uint8Array");
  if (!(data instanceof Uint8Array)) throw new TypeError("hmacSha256: data must be a Uint8Array");
  const k = new Uint8Array(SHA256_BLOCK_BYTES);
  k.set(key.length > SHA256_BLOCK_BYTES ? sha256(key) : key);
  const pad = new Uint8Array(SHA256_BLOCK_BYTES);
  for (let i = 0; i < SHA256_BLOCK_BYTES; i++) pad[i] = k[i] ^ 0x36; // ipad
  const inner = new Sha256().update(pad).update(data).digest();
  for (let i = 0; i < SHA256_BLOCK_BYTES; i++) pad[i] = k[i] ^ 0x5c; // opad
  return new Sha256().update(pad).update(inner).digest();
}

/** Lower-case hex of bytes (test and log helper). */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
  return s;
}
