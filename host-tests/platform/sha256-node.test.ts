import { createHash, createHmac } from "node:crypto";
import { hmacSha256, sha256 } from "../../modules/platform/sha256";
import { nodeCrypto } from "../../sim/node/crypto";
import { Prng } from "../../sim/prng";

describe("portable SHA-256 / HMAC agree with node:crypto (OpenSSL)", () => {
  it("SHA-256 of 300 pseudo-random messages of 0..299 bytes", () => {
    const rng = new Prng(42);
    for (let n = 0; n < 300; n++) {
      const data = rng.fill(new Uint8Array(n));
      expect(Buffer.from(sha256(data)).toString("hex")).toBe(createHash("sha256").update(data).digest("hex"));
    }
  });

  it("HMAC-SHA256 with keys of 0..150 bytes", () => {
    const rng = new Prng(7);
    for (let n = 0; n <= 150; n++) {
      const key = rng.fill(new Uint8Array(n));
      const data = rng.fill(new Uint8Array(n * 3 + 1));
      const expected = createHmac("sha256", key).update(data).digest("hex");
      expect(Buffer.from(hmacSha256(key, data)).toString("hex")).toBe(expected);
      expect(Buffer.from(nodeCrypto.hmacSha256(key, data)).toString("hex")).toBe(expected);
    }
  });

  it("nodeCrypto.randomFill fills the buffer with OS randomness", () => {
    const a = nodeCrypto.randomFill(new Uint8Array(32));
    const b = nodeCrypto.randomFill(new Uint8Array(32));
    expect(a).toHaveLength(32);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    expect(() => nodeCrypto.randomFill([] as unknown as Uint8Array)).toThrow(TypeError);
  });
});
