// @xs
import {
  VARINT_MAX,
  VARINT_INCOMPLETE,
  VARINT_MALFORMED,
  VARINT_NON_MINIMAL,
  varintSize,
  varintLength,
  encodeVarint,
  decodeVarint,
  decodeVarintLenient,
} from "../../modules/bytes/varint";

function enc(value: number): number[] {
  const out = new Uint8Array(8);
  const end = encodeVarint(value, out, 0);
  return Array.from(out.subarray(0, end));
}

describe("Variable Byte Integer (MQTT 5.0 §1.5.5, 3.1.1 §2.2.3)", () => {
  // Table 1-1 Size of Variable Byte Integer: the boundary values and their bytes.
  const table: [number, number[]][] = [
    [0, [0x00]],
    [127, [0x7f]],
    [128, [0x80, 0x01]],
    [16383, [0xff, 0x7f]],
    [16384, [0x80, 0x80, 0x01]],
    [2097151, [0xff, 0xff, 0x7f]],
    [2097152, [0x80, 0x80, 0x80, 0x01]],
    [268435455, [0xff, 0xff, 0xff, 0x7f]],
    [321, [0xc1, 0x02]],
  ];

  it.each(table)("encodes %i as Table 1-1 gives it", (value, bytes) => {
    expect(enc(value)).toEqual(bytes);
    expect(varintSize(value)).toBe(bytes.length);
  });

  it.each(table)("decodes %i from its bytes and reports the length", (value, bytes) => {
    const buf = new Uint8Array([0xaa, ...bytes, 0x55]);
    expect(decodeVarint(buf, 1)).toBe(value);
    expect(varintSize(value)).toBe(bytes.length);
    expect(varintLength(buf, 1)).toBe(bytes.length);
  });

  it("returns the offset after the written bytes and leaves the rest alone", () => {
    const out = new Uint8Array([9, 9, 9, 9, 9, 9]);
    expect(encodeVarint(16384, out, 2)).toBe(5);
    expect(Array.from(out)).toEqual([9, 9, 0x80, 0x80, 0x01, 9]);
  });

  it.each([[-1], [1.5], [VARINT_MAX + 1], [NaN], [Infinity]])("rejects %p with a RangeError", (v) => {
    expect(() => varintSize(v)).toThrow(RangeError);
    const out = new Uint8Array(4);
    expect(() => encodeVarint(v, out, 0)).toThrow(RangeError);
    expect(Array.from(out)).toEqual([0, 0, 0, 0]);
  });

  it("rejects a value that does not fit in the buffer, writing nothing", () => {
    const out = new Uint8Array(3);
    expect(() => encodeVarint(2097152, out, 0)).toThrow(/do not fit/);
    expect(() => encodeVarint(128, out, 2)).toThrow(RangeError);
    expect(Array.from(out)).toEqual([0, 0, 0]);
    expect(encodeVarint(127, out, 2)).toBe(3);
  });

  it("asks for more bytes when the input ends inside the integer", () => {
    const whole = [0xff, 0xff, 0xff, 0x7f];
    for (let cut = 0; cut < whole.length; cut++) {
      const buf = new Uint8Array(whole.slice(0, cut));
      expect(decodeVarint(buf, 0)).toBe(VARINT_INCOMPLETE);
    }
    // `end` limits the read even when the array is longer.
    const buf = new Uint8Array([0x80, 0x01]);
    expect(decodeVarint(buf, 0, 1)).toBe(VARINT_INCOMPLETE);
    expect(decodeVarint(buf, 0, 2)).toBe(128);
  });

  it("decodes one byte at a time as an incremental codec feeds it", () => {
    const bytes = enc(200000);
    const seen: number[] = [];
    for (let n = 1; n <= bytes.length; n++) seen.push(decodeVarint(new Uint8Array(bytes.slice(0, n)), 0));
    expect(seen).toEqual([VARINT_INCOMPLETE, VARINT_INCOMPLETE, 200000]);
  });

  it("[MQTT-1.5.5-1] a fifth byte is malformed", () => {
    expect(decodeVarint(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x7f]), 0)).toBe(VARINT_MALFORMED);
    expect(decodeVarint(new Uint8Array([0x80, 0x80, 0x80, 0x80]), 0)).toBe(VARINT_MALFORMED);
  });

  it("[MQTT-1.5.5-1] a non-minimal encoding is refused by the strict decoder, read by the lenient one", () => {
    const cases: [number[], number][] = [
      [[0x80, 0x00], 0],
      [[0xff, 0x00], 127],
      [[0x80, 0x80, 0x00], 0],
      [[0x81, 0x80, 0x80, 0x00], 1],
    ];
    for (const [bytes, value] of cases) {
      expect(decodeVarint(new Uint8Array(bytes), 0)).toBe(VARINT_NON_MINIMAL);
      expect(decodeVarintLenient(new Uint8Array(bytes), 0)).toBe(value);
      expect(varintLength(new Uint8Array(bytes), 0)).toBe(bytes.length);
    }
  });

  it("round-trips values across the whole range", () => {
    const out = new Uint8Array(4);
    let checked = 0;
    for (let v = 0; v <= VARINT_MAX; v = v < 20000 ? v + 1 : v * 2 + 7) {
      const end = encodeVarint(v, out, 0);
      expect(end).toBe(varintSize(v));
      if (decodeVarint(out, 0) !== v || varintLength(out, 0) !== end) throw new Error("round trip failed at " + v);
      checked++;
    }
    expect(decodeVarint(out.fill(0xff).fill(0x7f, 3), 0)).toBe(VARINT_MAX);
    expect(checked).toBeGreaterThan(20000);
  });
});
