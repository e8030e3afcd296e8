/**
 * Sleep planning (issue 19, Benchmarks): the standard scenarios on the virtual clock, per
 * protocol (MQTT 3.1.1, MQTT 5, MQTT-SN 1.2, CoAP), for naive independent timers, our scheduler and sleep planner, and the offline
 * optimum found by search over the same job list (sim/sleep-model.ts, sim/sleep-optimum.ts;
 * docs/scheduler.md, "Benchmarks"):
 *
 *   (1) sampling every 30 s, telemetry every 5 min, MQTT keep-alive 60 s, one CoAP observer
 *   (2) one report an hour, commands expected within the hour
 *
 * Per scenario and protocol: wakes per day, radio wakes per day and modelled mAh per day, ours
 * side by side with the naive timers (ratio = naive / ours: above 1, ours wakes less or spends
 * less) and with the optimum (ratio = optimum / ours: 1 is as good as the optimum; the target
 * is wakes <= optimum + 5%, a ratio >= 0.952). Scenario (2): battery life on a 2,000 mAh cell.
 * Board: `sim` (ESP32-C3 chip figures, boards/power.ts). A model, not a measurement: the
 * currents are the datasheet's and ESP-IDF's, the connection costs our estimates.
 *
 * The optimum is by wakes (ties broken by radio wakes), searched with the links kept all day
 * and with the links let go after every wake; the one with fewer wakes is reported (equal:
 * the one spending less), its schedule replayed through the same energy model for its mAh.
 */
import type { BenchCase } from "./harness";
import { fixedResult } from "./xsc-size";
import { simBoard } from "../boards/sim";
import { batteryDays } from "../modules/scheduler/energy";
import type { LinkProtocol } from "../modules/scheduler/sleep-planner";
import { runScenario, scenarioHourly, scenarioSampling, type Scenario, type ScenarioResult } from "../sim/sleep-model";
import { optimumWakes } from "../sim/sleep-optimum";

const power = simBoard.power;
const CELL_MAH = 2000;
const PROTOCOLS: LinkProtocol[] = ["mqtt311", "mqtt5", "mqttsn", "coap"];

function optimum(sc: Scenario): { result: ScenarioResult; links: string; searchMs: number } {
  let best: { result: ScenarioResult; links: string; searchMs: number } | undefined;
  for (const keep of [true, false]) {
    const t0 = Date.now();
    const o = optimumWakes(sc, { liveness: keep });
    const searchMs = Date.now() - t0;
    const result = runScenario(sc, "optimum", { power, schedule: o.schedule, keepLinks: keep });
    if (result.violations.length) throw new Error(`optimum replay: ${result.violations[0]}`);
    if (Math.abs(result.wakes - o.wakes) > 1e-9) throw new Error(`optimum replay: ${result.wakes} wakes, the search found ${o.wakes}`);
    if (!best || result.wakes < best.result.wakes || (result.wakes === best.result.wakes && result.mAh < best.result.mAh))
      best = { result, links: keep ? "links kept" : "links let go after each wake", searchMs };
  }
  return best!;
}

const f = (n: number, d = 0) => n.toFixed(d);

for (const [label, make] of [["(1)", scenarioSampling], ["(2)", scenarioHourly]] as const) {
  for (const protocol of PROTOCOLS) {
    const sc = make(protocol);
    const naive = runScenario(sc, "naive", { power });
    const ours = runScenario(sc, "planner", { power });
    const opt = optimum(sc);
    for (const r of [naive, ours]) if (r.violations.length) throw new Error(`${r.mode}: ${r.violations[0]}`);
    const name = `sleep ${label} ${protocol}`;
    const held = ours.wakes <= opt.result.wakes * 1.05;
    const sleeps = `our sleeps/day: ${Object.entries(ours.sleeps).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${f(v)}`).join(", ")}`;
    fixedResult({
      name: `${name}: wakes/day, ours vs naive independent timers`,
      unit: "wakes/day",
      value: ours.wakes,
      peer: "naive independent timers",
      peerValue: naive.wakes,
      notes: `ratio = naive / ours (target >= 3): ${f(naive.wakes / ours.wakes, 2)}; ${sleeps}; ${sc.name}`,
    });
    fixedResult({
      name: `${name}: wakes/day, ours vs offline optimum`,
      unit: "wakes/day",
      value: ours.wakes,
      peer: `offline optimum (search, ${opt.links}, ${opt.searchMs} ms)`,
      peerValue: opt.result.wakes,
      notes: `ratio = optimum / ours; target wakes <= optimum + 5%: ${held ? "held" : "NOT held"}`,
    });
    fixedResult({
      name: `${name}: radio wakes/day, ours vs naive`,
      unit: "radio wakes/day",
      value: ours.radioWakes,
      peer: "naive independent timers",
      peerValue: naive.radioWakes,
      notes: `optimum: ${f(opt.result.radioWakes)}; radio on ${f(ours.radioOnS)} s/day (naive ${f(naive.radioOnS)}, optimum ${f(opt.result.radioOnS)}); bytes/day ${f(ours.bytes)}`,
    });
    fixedResult({ name: `${name}: mAh/day, ours vs naive`, unit: "mAh/day", value: ours.mAh, peer: "naive independent timers", peerValue: naive.mAh, notes: "ratio = naive / ours" });
    fixedResult({ name: `${name}: mAh/day, ours vs offline optimum`, unit: "mAh/day", value: ours.mAh, peer: "offline optimum (its schedule replayed)", peerValue: opt.result.mAh, notes: "ratio = optimum / ours" });
    if (label === "(2)")
      fixedResult({
        name: `${name}: battery life on a ${CELL_MAH} mAh cell`,
        unit: "days",
        value: batteryDays(CELL_MAH, ours.mAh),
        notes: `naive ${f(batteryDays(CELL_MAH, naive.mAh))} days, optimum ${f(batteryDays(CELL_MAH, opt.result.mAh))} days; self-discharge, the regulator's quiescent current and the cut-off voltage not modelled`,
      });
    process.stderr.write(
      `${name}: wakes/day naive ${f(naive.wakes)} / ours ${f(ours.wakes)} / optimum ${f(opt.result.wakes)}; ` +
        `mAh/day ${f(naive.mAh, 2)} / ${f(ours.mAh, 2)} / ${f(opt.result.mAh, 2)}\n`,
    );
  }
}

// Drift (docs/scheduler.md, "Drift"): what the wake margin for a slow RTC costs. No protocol we
// speak carries the peer's time, so the margin is all there is: ours at the app's default
// (sleep.driftPpm 100) and at 1,000 ppm against no margin, over 60 days for the hourly scenario
// (a relative job's phase creeps by the margin at each run) and a day for the sampling one.
const DAY = 86_400_000;
for (const [label, make, days] of [["(1)", scenarioSampling, 1], ["(2)", scenarioHourly, 60]] as const) {
  for (const protocol of PROTOCOLS) {
    const none = runScenario(make(protocol, days * DAY), "planner", { power });
    for (const ppm of [100, 1000]) {
      const r = runScenario(make(protocol, days * DAY), "planner", { power, driftPpm: ppm });
      if (r.violations.length) throw new Error(`drift ${ppm} ppm: ${r.violations[0]}`);
      fixedResult({
        name: `sleep drift ${label} ${protocol}: mAh/day with a ${ppm} ppm wake margin vs none`,
        unit: "mAh/day",
        value: r.mAh,
        peer: "no margin (0 ppm)",
        peerValue: none.mAh,
        notes: `ratio = none / with; wakes/day ${f(r.wakes, 2)} vs ${f(none.wakes, 2)}; over ${days} day(s)`,
      });
    }
  }
}

const cases: BenchCase[] = [];
export default cases;
