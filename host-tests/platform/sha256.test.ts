// @xs
import { Sha256, hmacSha256, sha256, toHex } from "../../modules/platform/sha256";

function ascii(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function repeat(byte: number, n: number): Uint8Array {
  return new Uint8Array(n).fill(byte);
}

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

describe("SHA-256 (FIPS 180-4)", () => {
  // FIPS 180-4 examples (NIST CSRC "SHA256.pdf", "SHA256_2.pdf") and the classic long-message vectors.
  it.each([
    ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
    ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    ["abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"],
    [
      "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
    ],
  ])("digest of %j", (message, digest) => {
    expect(toHex(sha256(ascii(message as string)))).toBe(digest);
  });

  it("one million 'a' fed in 1000-byte pieces (FIPS 180-4 long message)", () => {
    const h = new Sha256();
    const piece = repeat(0x61, 1000);
    for (let i = 0; i < 1000; i++) h.update(piece);
    expect(toHex(h.digest())).toBe("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  });

  it("gives the same digest for any chunking, across the 55/56/64-byte padding boundaries (§5.1.1)", () => {
    for (const n of [55, 56, 57, 63, 64, 65, 119, 120, 128]) {
      const data = new Uint8Array(n);
      for (let i = 0; i < n; i++) data[i] = (i * 7 + 3) & 0xff;
      const whole = toHex(sha256(data));
      const h = new Sha256();
      for (let i = 0; i < n; i += 5) h.update(data.subarray(i, Math.min(n, i + 5)));
      expect(toHex(h.digest())).toBe(whole);
    }
  });

  it("refuses update after digest and a second digest", () => {
    const h = new Sha256();
    h.update(ascii("x"));
    h.digest();
    expect(() => h.update(ascii("y"))).toThrow("after digest");
    expect(() => h.digest()).toThrow("twice");
  });

  it("rejects non-Uint8Array input", () => {
    expect(() => sha256("abc" as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe("HMAC-SHA256 (RFC 2104, RFC 4231 test cases)", () => {
  it.each([
    ["1", repeat(0x0b, 20), ascii("Hi There"), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"],
    ["2", ascii("Jefe"), ascii("what do ya want for nothing?"), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"],
    ["3", repeat(0xaa, 20), repeat(0xdd, 50), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"],
    ["4", fromHex("0102030405060708090a0b0c0d0e0f10111213141516171819"), repeat(0xcd, 50), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"],
    ["6", repeat(0xaa, 131), ascii("Test Using Larger Than Block-Size Key - Hash Key First"), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"],
    [
      "7",
      repeat(0xaa, 131),
      ascii("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."),
      "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ],
  ])("RFC 4231 §4 test case %s", (_n, key, data, tag) => {
    expect(toHex(hmacSha256(key as Uint8Array, data as Uint8Array))).toBe(tag);
  });

  it("RFC 4231 §4.6 test case 5 (truncated to 128 bits)", () => {
    const tag = hmacSha256(repeat(0x0c, 20), ascii("Test With Truncation"));
    expect(toHex(tag.subarray(0, 16))).toBe("a3b6167473100ee06e0c796c2955552b");
  });

  it("a 64-byte key is used as is, a 65-byte key is hashed first (RFC 2104 §2)", () => {
    const k64 = repeat(0x41, 64);
    const k65 = repeat(0x41, 65);
    const data = ascii("m");
    expect(toHex(hmacSha256(k65, data))).toBe(toHex(hmacSha256(sha256(k65), data)));
    expect(toHex(hmacSha256(k64, data))).not.toBe(toHex(hmacSha256(sha256(k64), data)));
  });

  it("rejects a non-Uint8Array key or data", () => {
    expect(() => hmacSha256([1, 2] as unknown as Uint8Array, ascii("x"))).toThrow(TypeError);
    expect(() => hmacSha256(ascii("k"), "x" as unknown as Uint8Array)).toThrow(TypeError);
  });
});
