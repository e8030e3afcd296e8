/*
 * `xs-iot sim --report energy` (issue 19): planned sleep on the virtual clock, the energy per
 * day, the timeline as SVG; --duration with units.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { durationFlag, UsageError } from "../../sim/node/cli-args";
import { runCli } from "./run-cli";

describe("--duration takes units", () => {
  it("seconds, ms, s, m, min, h, d; a bad one is a usage error naming the flag", () => {
    const d = (v: string) => durationFlag({ duration: v }, "duration", 0, 365 * 86_400);
    expect(d("90")).toBe(90);
    expect(d("0.5")).toBe(0.5);
    expect(d("1500ms")).toBe(1.5);
    expect(d("90s")).toBe(90);
    expect(d("15m")).toBe(900);
    expect(d("2min")).toBe(120);
    expect(d("24h")).toBe(86_400);
    expect(d("1.5h")).toBe(5400);
    expect(d("2d")).toBe(172_800);
    for (const bad of ["", "h", "24x", "-1h", "0", "400d", "1e3"]) expect(() => d(bad)).toThrow(UsageError);
    expect(() => d("24x")).toThrow(/--duration .*"24x"/);
  });
});

describe("xs-iot sim --report energy", () => {
  it("plans the sleeps over simulated hours, prints wakes, radio-on time, bytes and mAh per day, and writes an SVG timeline with why the radio was on", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xs-iot-energy-"));
    const svg = path.join(dir, "day.svg");
    try {
      const r = await runCli(["sim", "--protocol", "coap", "--clock", "virtual", "--duration", "2h", "--interval", "600", "--report", "energy", "--svg", svg], { timeoutMs: 120_000 });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/energy \[xs-iot-sim\] coap, 2\.0 h simulated; per day:/);
      const m = /wakes ([\d,]+) \(([\d,]+) from deep sleep\), radio on ([\d.,]+) s in ([\d,]+) episodes, ([\d,]+) bytes/.exec(r.stdout);
      expect(m).not.toBeNull();
      const num = (s: string) => Number(s.replace(/,/g, ""));
      // a reading every 10 min: CoAP needs no connection, so the device deep-sleeps between readings
      expect(num(m![2])).toBeGreaterThanOrEqual(100);
      expect(num(m![5])).toBeGreaterThan(0);
      const mAh = Number(/([\d.]+) mAh\/day/.exec(r.stdout)![1]);
      expect(mAh).toBeGreaterThan(0);
      expect(mAh).toBeLessThan(20); // far below staying awake (20 mA: 480 mAh/day)
      expect(r.stdout).toMatch(/days on a 2,000 mAh cell/);
      expect(r.stdout).toContain(`energy: timeline of xs-iot-sim written to ${svg}`);
      const doc = fs.readFileSync(svg, "utf8");
      expect(doc.startsWith("<svg")).toBe(true);
      expect(doc).toMatch(/fill="#1f3b73"/); // deep sleep drawn
      expect(doc).toMatch(/<title>[^<]*Wi-Fi association[^<]*<\/title>/); // the radio lane says why
      expect(doc).toMatch(/radio [\d.]+ s: /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);

  it("--svg without --report energy is a usage error", async () => {
    const r = await runCli(["sim", "--svg", "x.svg"], { timeoutMs: 30_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(/--svg is for --report energy/);
  });
});
