// @xs
/*
 * CBOR (RFC 8949): Appendix A examples both ways, preferred serialization (§4.1),
 * deterministic map order (§4.2.1), and malformed input (§3, §5.3, Appendix F).
 */
import { decodeCbor, encodeCbor, CborTag, CborSimple, halfToNumber } from "../../modules/cbor/cbor";

function hex(b: Uint8Array): string {
  return Array.from(b).map((x) => (x < 16 ? "0" : "") + x.toString(16)).join("");
}
function bytes(h: string): Uint8Array {
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.substr(i * 2, 2), 16);
  return out;
}
function dec(h: string): unknown {
  const r = decodeCbor(bytes(h));
  if (!r.ok) throw new Error(r.error.reason);
  return r.value;
}

describe("CBOR RFC 8949 Appendix A", () => {
  // [value, encoding]: the encoder writes exactly these (preferred serialization, §4.1).
  const both: [unknown, string][] = [
    [0, "00"], [1, "01"], [10, "0a"], [23, "17"], [24, "1818"], [25, "1819"], [100, "1864"], [1000, "1903e8"],
    [1000000, "1a000f4240"], [1000000000000, "1b000000e8d4a51000"], [-1, "20"], [-10, "29"], [-100, "3863"], [-1000, "3903e7"],
    [1.5, "f93e00"], [65504, "19ffe0"], [65504.5, "fa477fe080"], [100000.0, "1a000186a0"], [3.4028234663852886e38, "fa7f7fffff"], [1.0e300, "fb7e37e43c8800759c"],
    [5.960464477539063e-8, "f90001"], [0.00006103515625, "f90400"], [-4, "23"], [-4.1, "fbc010666666666666"],
    [Infinity, "f97c00"], [-Infinity, "f9fc00"], [false, "f4"], [true, "f5"], [null, "f6"], [undefined, "f7"],
    ["", "60"], ["a", "6161"], ["IETF", "6449455446"], ['"\\', "62225c"], ["\u00fc", "62c3bc"], ["\u6c34", "63e6b0b4"], ["\ud800\udd51", "64f0908591"],
    [[], "80"], [[1, 2, 3], "83010203"], [[1, [2, 3], [4, 5]], "8301820203820405"],
    [{}, "a0"], [{ a: 1, b: [2, 3] }, "a26161016162820203"], [["a", { b: "c" }], "826161a161626163"],
  ];
  it.each(both)("encode/decode %p <-> %s", (value, h) => {
    expect(hex(encodeCbor(value))).toBe(h);
    expect(dec(h)).toEqual(value);
  });
  it("-0.0 is f98000 and decodes to -0", () => {
    expect(hex(encodeCbor(-0))).toBe("f98000");
    expect(Object.is(dec("f98000"), -0)).toBe(true);
  });
  it("NaN encodes as f97e00 (§4.2.2) and the longer forms decode to NaN", () => {
    expect(hex(encodeCbor(NaN))).toBe("f97e00");
    expect(dec("fa7fc00000")).toBeNaN();
    expect(dec("fb7ff8000000000000")).toBeNaN();
  });
  it("decodes the non-preferred forms of Appendix A", () => {
    expect(dec("f90000")).toBe(0);
    expect(dec("f93c00")).toBe(1);
    expect(dec("fb3ff199999999999a")).toBe(1.1);
    expect(dec("fa47c35000")).toBe(100000);
    expect(dec("f97e00")).toBeNaN();
  });
  it("large integers become bigint (§3.1)", () => {
    expect(dec("1bffffffffffffffff")).toBe(BigInt("18446744073709551615"));
    expect(dec("3bffffffffffffffff")).toBe(BigInt("-18446744073709551616"));
    expect(hex(encodeCbor(BigInt("18446744073709551615")))).toBe("1bffffffffffffffff");
    expect(hex(encodeCbor(BigInt("-18446744073709551616")))).toBe("3bffffffffffffffff");
  });
  it("byte strings, tags and simple values", () => {
    expect(dec("4401020304")).toEqual(new Uint8Array([1, 2, 3, 4]));
    expect(hex(encodeCbor(new Uint8Array([1, 2, 3, 4])))).toBe("4401020304");
    const t = dec("c074323031332d30332d32315432303a30343a30305a") as CborTag;
    expect(t).toBeInstanceOf(CborTag);
    expect(t.tag).toBe(0);
    expect(t.value).toBe("2013-03-21T20:04:00Z");
    expect(hex(encodeCbor(new CborTag(1, 1363896240)))).toBe("c11a514b67b0");
    expect((dec("f0") as CborSimple).value).toBe(16);
    expect((dec("f8ff") as CborSimple).value).toBe(255);
  });
  it("indefinite lengths (§3.2)", () => {
    expect(dec("5f42010243030405ff")).toEqual(new Uint8Array([1, 2, 3, 4, 5]));
    expect(dec("7f657374726561646d696e67ff")).toBe("streaming");
    expect(dec("9fff")).toEqual([]);
    expect(dec("9f018202039f0405ffff")).toEqual([1, [2, 3], [4, 5]]);
    expect(dec("bf61610161629f0203ffff")).toEqual({ a: 1, b: [2, 3] });
    expect(dec("bf6346756ef563416d7421ff")).toEqual({ Fun: true, Amt: -2 });
  });
  it("maps with non-text keys become Map (SenML CBOR labels)", () => {
    const m = dec("a201020304") as Map<unknown, unknown>;
    expect(m).toBeInstanceOf(Map);
    expect(m.get(1)).toBe(2);
    expect(m.get(3)).toBe(4);
    expect(hex(encodeCbor(new Map([[1, 2], [3, 4]])))).toBe("a201020304");
  });
  it("a __proto__ key is data, not the prototype", () => {
    const o = dec("a1695f5f70726f746f5f5f01") as { [k: string]: unknown };
    expect(Object.getPrototypeOf(o)).toBe(Object.prototype);
    expect(Object.keys(o)).toEqual(["__proto__"]);
  });
  it("deterministic encoding sorts keys bytewise (§4.2.1)", () => {
    expect(hex(encodeCbor({ b: 1, a: 2, aa: 3 }, { deterministic: true }))).toBe("a3616102616201626161" + "03");
    expect(hex(encodeCbor({ b: 1, a: 2 }))).toBe("a2616201616102");
  });
  it("halfToNumber covers subnormals and the largest half", () => {
    expect(halfToNumber(0x0001)).toBe(5.960464477539063e-8);
    expect(halfToNumber(0x7bff)).toBe(65504);
    expect(halfToNumber(0xc400)).toBe(-4);
  });
});

describe("CBOR malformed input never throws and says why", () => {
  const bad: [string, string, RegExp][] = [
    ["empty", "", /empty/],
    ["truncated uint16", "19 01", /truncated/],
    ["truncated text", "63 61 62", /truncated/],
    ["reserved ai 28", "1c", /reserved/],
    ["reserved ai 30 in major 7", "fe", /reserved/],
    ["indefinite uint", "1f", /indefinite/],
    ["stray break", "ff", /break/],
    ["trailing bytes (§5.3)", "01 02", /after the data item/],
    ["invalid UTF-8 text (§5.3.1)", "62 c3 28", /UTF-8/],
    ["surrogate in text", "63 ed a0 80", /UTF-8/],
    ["huge string length", "5a ff ff ff ff 00", /exceeds|truncated/],
    ["huge 64-bit length", "5b ff ff ff ff ff ff ff ff", /exceeds/],
    ["array count beyond input", "9a 00 10 00 00 01", /exceeds|cannot fit/],
    ["map count beyond input", "ba 00 10 00 00 01", /exceeds|cannot fit/],
    ["indefinite string with wrong chunk type", "5f 61 61 ff", /wrong type/],
    ["nested indefinite string chunk", "5f 5f ff ff", /wrong type/],
    ["unterminated indefinite array", "9f 01 02", /truncated/],
    ["duplicate map key (§5.6)", "a2 61 61 01 61 61 02", /duplicate/],
    ["two-byte simple value < 32 (§3.3)", "f8 10", /simple value/],
    ["indefinite tag", "df 01", /indefinite/],
    ["deep nesting", "81".repeat(40) + "01", /nesting/],
    ["missing map value", "a1 61 61", /truncated/],
  ];
  it.each(bad)("%s", (_name, h, why) => {
    const r = decodeCbor(bytes(h.replace(/ /g, "")));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.reason).toMatch(why);
  });
  it("item count is bounded", () => {
    const r = decodeCbor(bytes("98ff" + "00".repeat(255)), { maxItems: 100 });
    expect(r.ok).toBe(false);
  });
  it("random bytes never throw", () => {
    let seed = 12345;
    for (let i = 0; i < 2000; i++) {
      const n = 1 + (i % 24);
      const b = new Uint8Array(n);
      for (let j = 0; j < n; j++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        b[j] = seed & 0xff;
      }
      const r = decodeCbor(b);
      expect(typeof r.ok).toBe("boolean");
    }
  });
  it("the encoder refuses what it cannot carry", () => {
    expect(() => encodeCbor(() => 1)).toThrow(TypeError);
    const cyc: unknown[] = [];
    cyc.push(cyc);
    expect(() => encodeCbor(cyc)).toThrow(RangeError);
    expect(() => encodeCbor(BigInt(2) ** BigInt(70))).toThrow(RangeError);
  });
});
