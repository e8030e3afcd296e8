/*
 * The MQTT client bench against the Moddable SDK's client (bench/xs/mqtt-*, issue 16
 * "Measure"): its machinery must count every message, or its figures mean nothing.
 *
 * - On Node (always): our clients, through the bench's adapter (bench/xs/mqtt-ours.ts), move
 *   every message of every phase through the in-memory broker with every byte checked; and a
 *   client that drops a message fails its turn (the check is not vacuous).
 * - On xst (registered only when $MODDABLE is set: the SDK is not in CI): the bench bundle
 *   runs in verify mode, a few turns of every phase, and both the SDK client and ours must
 *   have moved exactly what the phases sent (and so must the bench's floor client), as counted by the broker and by the app.
 */
import { MqttBench, PHASES, verifyRun } from "../../bench/xs/mqtt-phases";
import type { VerifyCounts } from "../../bench/xs/mqtt-phases";
import { OUR_CLIENTS } from "../../bench/xs/mqtt-ours";
import type { BenchClient, BenchEvents, ClientEnv } from "../../bench/xs/mqtt-bench-api";

const TURNS = 2;

function expectEveryMessage(counts: VerifyCounts[], sides: string[]): void {
  for (const side of sides) {
    for (const phase of PHASES) {
      const c = counts.find((x) => x.side === side && x.phase === phase.name);
      expect({ side, phase: phase.name, found: !!c }).toEqual({ side, phase: phase.name, found: true });
      if (!c) continue;
      expect(c).toEqual({ side, phase: phase.name, turns: TURNS, expected: TURNS * phase.perTurn, broker: TURNS * phase.perTurn, client: TURNS * phase.perTurn, problems: 0, errors: [] });
    }
  }
}

/** Our adapter's client, but every `every`-th QoS 0 publish is not made: what a lossy client looks like to the bench. */
function dropping(inner: (env: ClientEnv, events: BenchEvents) => BenchClient, every: number) {
  return (env: ClientEnv, events: BenchEvents): BenchClient => {
    const c = inner(env, events);
    let n = 0;
    return {
      publish(payload, qos) {
        if (qos === 0 && ++n % every === 0) return;
        c.publish(payload, qos);
      },
      connect: () => c.connect(),
      subscribe: (f, q) => c.subscribe(f, q),
      close: () => c.close(),
    };
  };
}

describe("MQTT client bench (bench/xs/mqtt-*)", () => {
  it("our clients move every message of every phase through the in-memory broker, every byte checked (Node)", () => {
    const bench = new MqttBench();
    for (const c of OUR_CLIENTS) {
      const shared = c.shared(bench.env("shared"));
      bench.add(c.name, (env, events) => c.create(env, shared, events));
    }
    expectEveryMessage(verifyRun(bench, TURNS), OUR_CLIENTS.map((c) => c.name));
  });

  it("a client that drops a message fails its turn", () => {
    const bench = new MqttBench();
    const c = OUR_CLIENTS[0];
    const shared = c.shared(bench.env("shared"));
    const side = bench.add("lossy", dropping((env, events) => c.create(env, shared, events), 7));
    expect(() => PHASES[0].turn(bench, side)).toThrow("broker received 18 of 20");
    const counts = verifyRun(bench, TURNS).filter((x) => x.phase === "publish QoS 0");
    expect(counts[0].broker).toBeLessThan(counts[0].expected);
    expect(counts[0].errors.length).toBe(1);
  });

  // Registered only with $MODDABLE: the SDK (and its xst) is not installed in CI.
  if (process.env.MODDABLE) {
    it("on xst, the SDK's client and ours move every message of every phase (verify mode)", async () => {
      const moddable = require("../../bench/xs/mqtt-moddable.js") as {
        findSdk(): { sdk?: string; reason?: string };
        runXst(tools: unknown, o: { mode: "verify"; turns: number }): Promise<{ code: number; stdout: string; stderr: string }>;
      };
      const tools = moddable.findSdk();
      expect(tools.reason).toBeUndefined();
      const run = await moddable.runXst(tools, { mode: "verify", turns: TURNS });
      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: "" });
      expect(run.stdout).toMatch(/^VERIFY-DONE$/m);
      const line = run.stdout.split("\n").find((l) => l.startsWith("##verify "));
      expect(line).toBeDefined();
      const counts = JSON.parse((line as string).slice(9)) as VerifyCounts[];
      expectEveryMessage(counts, ["floor client", "Moddable SDK", ...OUR_CLIENTS.map((c) => c.name)]);
    }, 120_000);

    it("on xst, mode turns (what the instructions part counts) runs one phase of one side and checks it", async () => {
      const moddable = require("../../bench/xs/mqtt-moddable.js") as {
        findSdk(): unknown;
        runXst(tools: unknown, o: { mode: "turns"; turns: number; side: string; phase: string }): Promise<{ code: number; stdout: string; stderr: string }>;
      };
      const tools = moddable.findSdk();
      const ok = await moddable.runXst(tools, { mode: "turns", turns: 3, side: OUR_CLIENTS[0].name, phase: "publish QoS 1, 1 in flight" });
      expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: "" });
      expect(ok.stdout).toMatch(/^TURNS-DONE 3$/m);
      const bad = await moddable.runXst(tools, { mode: "turns", turns: 3, side: "nobody", phase: "publish QoS 0" });
      expect(bad.stdout).not.toMatch(/TURNS-DONE/);
      expect(bad.stdout + bad.stderr).toMatch(/no side nobody/);
    }, 120_000);
  }
});
