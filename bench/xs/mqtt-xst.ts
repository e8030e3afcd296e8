/*
 * The MQTT client bench on the Moddable SDK's `xst`: bench/xs/mqtt-moddable.js bundles this
 * file with the SDK's client ($MODDABLE/examples/io/tcp/mqttclient/mqttclient.js, its
 * `timer` and `time` imports mapped to bench/xs/mqtt-sdk.ts) and calls main() on xst.
 *
 * One run: the SDK client and each of ours (bench/xs/mqtt-ours.ts) connect to one in-memory
 * broker; then every phase (bench/xs/mqtt-phases.ts) is timed for ours against the SDK's,
 * alternating slices (bench/harness.ts: calibrated batches of turns, per-round ratios,
 * medians). Output: `##bench` lines, then `BENCH-DONE n`. In "verify" mode (the jest test)
 * every phase runs a few turns with every byte checked and the counts are printed as one
 * `##verify` line, then `VERIFY-DONE`.
 */
import { runAll } from "../harness";
import type { BenchCase } from "../harness";
import { MqttBench, PAYLOAD_BYTES, PHASES, verifyRun } from "./mqtt-phases";
import type { Side } from "./mqtt-phases";
import { OUR_CLIENTS } from "./mqtt-ours";
import { createFloorClient } from "./mqtt-floor";
import { createSdkClient, installStringBuffers, useLoop } from "./mqtt-sdk";
import type { SdkClientClass } from "./mqtt-sdk";

export interface XstRunOptions {
  /** "turns": `turns` turns of phase `phase` on side `side` only, untimed (the instructions part counts them). */
  mode: "bench" | "verify" | "turns";
  phase?: string;
  side?: string;
  sliceMs: number;
  rounds: number;
  /** Case-name filters (substrings); empty: every case. */
  filters: string[];
  /** Turns per phase in verify mode. */
  turns: number;
}

export const FLOOR_NAME = "floor client";

export const SDK_NAME = "Moddable SDK embedded:network/mqtt/client (examples/io/tcp/mqttclient)";

const NOTES =
  "xst (XS of the Moddable SDK); one in-memory broker for both clients (bench/xs/mqtt-broker.ts, ECMA-419 socket shape, " +
  "5,744 B send buffer); topic tele/esp32-a1b2c3/SENSOR, 40-byte payload; ours without storage (RAM outbox); msgs/s per client; " +
  "ratio = median of per-round ours/SDK";

const FLOOR_NOTES =
  "the floor client (bench/xs/mqtt-floor.ts: pre-encoded packets, no checks) measures what the bench itself costs per message " +
  "(event loop, socket, broker); bench/xs/mqtt-moddable.js takes it out of the other cases' ratios (rows 'own time')";

declare const $262: { agent: { monotonicNow(): number } };

export function main(MQTTClient: SdkClientClass, o: XstRunOptions, print: (line: string) => void): void {
  installStringBuffers();
  const bench = new MqttBench();
  useLoop(bench.loop);
  let sdk: Side;
  let floor: Side;
  const ours: Side[] = [];
  try {
    floor = bench.add(FLOOR_NAME, (env, events) => createFloorClient(env, events, PAYLOAD_BYTES));
    sdk = bench.add("Moddable SDK", (env, events) => createSdkClient(MQTTClient, env, events));
    for (const c of OUR_CLIENTS) {
      const shared = c.shared(bench.env("shared"));
      ours.push(bench.add(c.name, (env, events) => c.create(env, shared, events)));
    }
  } catch (e) {
    print("##bench-error " + JSON.stringify({ name: "mqtt client on xst: setting up", error: String((e as Error)?.message ?? e) }));
    print(o.mode === "verify" ? "VERIFY-DONE" : "BENCH-DONE 0");
    return;
  }
  if (o.mode === "verify") {
    print("##verify " + JSON.stringify(verifyRun(bench, o.turns)));
    print("VERIFY-DONE");
    return;
  }
  bench.broker.verify = false;
  if (o.mode === "turns") {
    // Everything above is made the same whatever the side: two runs that differ only in
    // `turns` differ only by those turns' work.
    const side = [floor!, sdk!, ...ours].find((x) => x.name === o.side);
    const phase = PHASES.find((x) => x.name === o.phase);
    if (!side || !phase) throw new Error("turns: no side " + o.side + " or phase " + o.phase);
    for (let t = 0; t < o.turns; t++) phase.turn(bench, side);
    side.assertClean(phase.name);
    print("TURNS-DONE " + o.turns);
    return;
  }
  // The floor against the SDK first: how much of the SDK's time per message is the bench's own.
  const cases: BenchCase[] = phaseCases(bench, floor, sdk);
  for (const side of ours) cases.push(...phaseCases(bench, side, sdk));
  const filters = o.filters;
  runAll(cases, "xs", print, { sliceMs: o.sliceMs, rounds: o.rounds, now: () => $262.agent.monotonicNow() }, filters.length ? (name) => filters.some((f) => name.indexOf(f) >= 0) : undefined);
}

/**
 * Bench cases (bench/harness.ts): one per phase, `ours` timed against `peer`, alternating.
 * A case's check() runs one turn of each with every byte verified; the timed turns check
 * counts and lengths only.
 */
function phaseCases(bench: MqttBench, ours: Side, peer: Side): BenchCase[] {
  const notes = ours.name === FLOOR_NAME ? FLOOR_NOTES : NOTES;
  return PHASES.map((phase) => ({
    name: `mqtt client on xst, ${phase.name} (${ours.name} vs SDK)`,
    unit: "msgs/s",
    perOp: phase.perTurn,
    peer: SDK_NAME,
    run: () => phase.turn(bench, ours),
    peerRun: () => phase.turn(bench, peer),
    check: () => {
      bench.broker.verify = true;
      try {
        phase.turn(bench, ours);
        phase.turn(bench, peer);
        ours.assertClean(phase.name);
        peer.assertClean(phase.name);
      } finally {
        bench.broker.verify = false;
      }
    },
    notes,
  }));
}
