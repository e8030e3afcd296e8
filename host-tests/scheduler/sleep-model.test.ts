// @xs
import { simBoard } from "../../boards/sim";
import { runScenario, scenarioHourly, scenarioSampling } from "../../sim/sleep-model";
import { optimumWakes } from "../../sim/sleep-optimum";

const power = simBoard.power;
const HOUR = 3_600_000;

describe("Standard scenarios on the virtual clock (issue 19): planner vs naive timers vs the offline optimum", () => {
  it("(1) over MQTT 5 (an hour): as few wakes as the optimum, the radio on every minute instead of at every sample, no job outside its window", () => {
    const sc = scenarioSampling("mqtt5", HOUR);
    const planner = runScenario(sc, "planner", { power });
    const naive = runScenario(sc, "naive", { power });
    const optimum = optimumWakes(sc, { liveness: true });
    expect(planner.violations).toEqual([]);
    expect(naive.violations).toEqual([]);
    expect(planner.wakes).toBe(optimum.wakes); // 120 samples an hour: every wake is a sample's
    expect(planner.wakes).toBeLessThan(naive.wakes); // naive: a keep-alive wake of its own besides the samples
    expect(planner.radioWakes * 2).toBeLessThanOrEqual(naive.radioWakes + 2); // naive notifies the observer at every sample
    expect(planner.sleeps.deep).toBe(0); // a radio obligation every minute: the association is kept
    expect(planner.sleeps.light).toBeGreaterThan(0);
    expect(planner.mAh).toBeLessThan(naive.mAh);
    // [MQTT-3.1.2-23]: never more than the keep-alive without a packet: a ping or a PUBLISH at least 60 times an hour
    expect((planner.runs.keepalive ?? 0) + (planner.runs.telemetry ?? 0)).toBeGreaterThanOrEqual(60 * 24);
  });

  it("(1) over CoAP (an hour): no keep-alive; the observer's freshness sets the radio wakes", () => {
    const sc = scenarioSampling("coap", HOUR);
    const planner = runScenario(sc, "planner", { power });
    expect(planner.violations).toEqual([]);
    expect(planner.runs.keepalive).toBe(undefined);
    expect(planner.wakes).toBe(optimumWakes(sc, { liveness: true }).wakes);
    // RFC 7641 §4.3.1: a notification within every Max-Age (60 s)
    expect(planner.runs.observe * 24).toBeGreaterThanOrEqual(59 * 24);
  });

  it("(2) one report an hour over MQTT 5 (a day): 24 deep sleeps, as few wakes as the optimum, 60 times fewer than keeping the connection", () => {
    const sc = scenarioHourly("mqtt5");
    const planner = runScenario(sc, "planner", { power });
    const naive = runScenario(sc, "naive", { power });
    const best = optimumWakes(sc, { liveness: false });
    expect(planner.violations).toEqual([]);
    expect(planner.wakes).toBe(24);
    expect(best.wakes).toBe(24);
    expect(planner.sleeps.deep).toBe(24);
    expect(planner.runs.report).toBe(24);
    expect(naive.wakes).toBeGreaterThanOrEqual(3 * planner.wakes);
    expect(planner.mAh * 5).toBeLessThan(naive.mAh);
    // replaying the optimum's schedule through the same model gives its wakes
    const replay = runScenario(sc, "optimum", { power, schedule: best.schedule, keepLinks: false });
    expect(replay.wakes).toBe(best.wakes);
    expect(replay.violations).toEqual([]);
  });

  it("(2) over MQTT 5 with a Session Expiry of 10 min: no deep sleep longer than the broker keeps the session (queued commands would be lost)", () => {
    const sc = scenarioHourly("mqtt5", 6 * HOUR);
    sc.linkOptions = { keepAliveS: 60, sessionExpiryS: 600 };
    const planner = runScenario(sc, "planner", { power, timeline: 10_000 });
    expect(planner.violations).toEqual([]);
    expect(planner.runs.keepalive).toBeGreaterThan(0); // connected for most of the hour
    const deep = planner.segments.filter((s) => s.state === "deep");
    expect(deep.length).toBeGreaterThan(0); // the last stretch before each report is short enough
    for (const s of deep) expect(s.to - s.from).toBeLessThanOrEqual(600_000);
  });

  it("drift margins: with 200 ppm allowed, the hourly wake comes 720 ms before each report's latest (the windows still honoured)", () => {
    const sc = scenarioHourly("coap", 3 * HOUR);
    sc.jobs[0].windowMs = 0; // the report due exactly on the hour: the margin is visible
    const r = runScenario(sc, "planner", { power, driftPpm: 200, timeline: 40 });
    expect(r.violations).toEqual([]);
    const boots = r.segments.filter((s) => s.state === "boot").map((s) => s.from);
    expect(boots.slice(1, 3)).toEqual([HOUR - 720, 2 * HOUR - 720]);
  });
});
