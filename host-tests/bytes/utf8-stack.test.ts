/*
 * decodeUtf8's bound on the XS stack (Node only: it spies on String.fromCharCode, which the XS run
 * freezes). String.fromCharCode.apply puts each argument on the stack as a slot; the esp32c3's XS
 * stack is 672 slots and the app has been measured at 517 (docs/moddable.md), so a decode must not
 * pass hundreds at once. modules/bytes/utf8.ts builds text 64 code units a call.
 */
import { decodeUtf8, encodeUtf8New } from "../../modules/bytes/utf8";

function widestCall(run: () => void): { widest: number; calls: number } {
  const spy = jest.spyOn(String, "fromCharCode");
  try {
    run();
    let widest = 0;
    for (const args of spy.mock.calls) widest = Math.max(widest, args.length);
    return { widest, calls: spy.mock.calls.length };
  } finally {
    spy.mockRestore();
  }
}

describe("decodeUtf8 passes at most 64 code units to String.fromCharCode at once", () => {
  const cases: [string, string][] = [
    ["a 500-octet ASCII command (JSON)", JSON.stringify({ op: "patch", body: { telemetry: { intervalS: 60 } }, pad: "p".repeat(440) })],
    ["2,000 octets of ASCII", "A".repeat(2000)],
    ["Latin-1 text", "température ".repeat(100)],
    ["astral characters (surrogate pairs)", "\u{1F321}\u{1F4A7}".repeat(200)],
    ["mixed", ("x".repeat(70) + "\u20ac".repeat(70)).repeat(5)],
  ];
  for (const [name, s] of cases) {
    it(name, () => {
      const encoded = encodeUtf8New(s);
      let out = "";
      const { widest, calls } = widestCall(() => (out = decodeUtf8(encoded)));
      expect(out).toBe(s);
      expect(calls).toBeGreaterThan(0);
      expect(widest).toBeLessThanOrEqual(64);
    });
  }
});
