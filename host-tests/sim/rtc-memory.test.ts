// @xs
import { SimRtcMemory } from "../../sim/rtc-memory";

describe("SimRtcMemory", () => {
  it("has a 2048-byte region by default, zeroed", () => {
    const rtc = new SimRtcMemory();
    expect(rtc.byteLength).toBe(2048);
    expect(Array.from(rtc.read(0, 4))).toEqual([0, 0, 0, 0]);
  });

  it("writes and reads back, copying in and out", () => {
    const rtc = new SimRtcMemory(64);
    const data = new Uint8Array([1, 2, 3]);
    rtc.write(10, data);
    data[0] = 99;
    const out = rtc.read(9, 5);
    expect(Array.from(out)).toEqual([0, 1, 2, 3, 0]);
    out[1] = 77;
    expect(rtc.read(10, 1)[0]).toBe(1);
    expect(rtc.writes).toBe(1);
  });

  it("accepts a view at an offset of a larger buffer", () => {
    const rtc = new SimRtcMemory(16);
    const big = new Uint8Array([9, 8, 7, 6]);
    rtc.write(0, big.subarray(2));
    expect(Array.from(rtc.read(0, 2))).toEqual([7, 6]);
  });

  it.each([
    ["read past the end", (r: SimRtcMemory) => r.read(60, 5)],
    ["negative offset", (r: SimRtcMemory) => r.read(-1, 1)],
    ["fractional length", (r: SimRtcMemory) => r.read(0, 1.5)],
    ["write past the end", (r: SimRtcMemory) => r.write(63, new Uint8Array(2))],
  ])("throws RangeError on %s", (_what, op) => {
    const rtc = new SimRtcMemory(64);
    expect(() => (op as (r: SimRtcMemory) => unknown)(rtc)).toThrow(RangeError);
  });

  it("a failed write changes nothing", () => {
    const rtc = new SimRtcMemory(8);
    expect(() => rtc.write(6, new Uint8Array([1, 1, 1]))).toThrow(RangeError);
    expect(Array.from(rtc.read(0, 8))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it("rejects data that is not a typed array", () => {
    const rtc = new SimRtcMemory(8);
    expect(() => rtc.write(0, [1, 2] as unknown as Uint8Array)).toThrow(TypeError);
  });

  it("powerOn() (cold boot) zeroes the region", () => {
    const rtc = new SimRtcMemory(8);
    rtc.write(0, new Uint8Array([5, 5]));
    rtc.powerOn();
    expect(Array.from(rtc.read(0, 2))).toEqual([0, 0]);
  });

  it("rejects a size beyond the chip's 8 KB", () => {
    expect(() => new SimRtcMemory(8193)).toThrow(RangeError);
    expect(() => new SimRtcMemory(0)).toThrow(RangeError);
  });
});
