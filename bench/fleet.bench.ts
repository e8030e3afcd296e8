/**
 * Fleet bench (issue 7): 1,000 devices in one Node process against mosquitto,
 * beside 1,000 MQTT.js clients sending the same readings, measured in the same
 * run (each fleet in its own child process, bench/fleet-worker.ts, so their
 * memory does not mix). Reports connect time, acknowledged readings per second
 * (QoS 1, every device offering one reading per FLEET_INTERVAL_MS) and memory
 * per device (V8 heap + external after a full GC, and RSS, over the process
 * before the fleet), and how many readings each device held (in flight or waiting) when
 * memory was read, and CPU per acknowledged reading with the event loop's delay. Three fleets:
 *   - ours:   the whole firmware app per device (config, flash, simulated sensors, MQTT, SenML);
 *   - client: our MqttClient alone, doing what the MQTT.js loop does (like for like);
 *   - mqttjs: MQTT.js 5 clients.
 * Env: FLEET_DEVICES (1000), FLEET_INTERVAL_MS (100), FLEET_SECONDS (10).
 * The fd limit is checked and raised for the workers when too low (each device
 * holds one socket, and so does mosquitto for it).
 * fixedResult's ratio is peer / ours: above 1 = ours smaller (memory) or
 * faster (connect time); for readings/s below 1 = ours faster.
 */
import { execFileSync } from "child_process";
import * as path from "path";
import type { BenchCase } from "./harness";
import { fixedResult } from "./xsc-size";

const N = Number(process.env.FLEET_DEVICES || 1000);
const INTERVAL = Number(process.env.FLEET_INTERVAL_MS || 100);
const SECONDS = Number(process.env.FLEET_SECONDS || 10);

const text = execFileSync(process.execPath, [path.join(__dirname, "../tools/run-ts.js"), path.join(__dirname, "fleet-worker.ts"), "all", String(N), String(INTERVAL), String(SECONDS)], {
  cwd: path.join(__dirname, ".."),
  timeout: 15 * 60_000,
  encoding: "utf8",
  stdio: ["ignore", "pipe", "inherit"],
});
const r = JSON.parse(text.trim().split("\n").pop()!);
const note = `${N} devices, QoS 1, one reading per ${INTERVAL} ms each (${Math.round((N * 1000) / INTERVAL)}/s offered), ${SECONDS} s window, mosquitto, fd limit ${r.fdLimit}${r.raised ? " (raised for the workers)" : ""}`;
const peer = r.mqttjs;
for (const [label, ours] of [["whole app per device", r.ours], ["MqttClient alone", r.client]] as const) {
  fixedResult({ name: `fleet: connect time of ${N} devices (${label})`, unit: "ms", value: ours.connectMs, peer: "MQTT.js", peerValue: peer.connectMs, notes: note });
  fixedResult({ name: `fleet: acknowledged readings per second (${label})`, unit: "readings/s", value: ours.readingsPerS, peer: "MQTT.js", peerValue: peer.readingsPerS, notes: note + "; ratio = peer/ours: below 1 = ours faster" });
  fixedResult({ name: `fleet: heap + external per device (${label})`, unit: "bytes", value: ours.heapPerDevice, peer: "MQTT.js", peerValue: peer.heapPerDevice, notes: note });
  fixedResult({
    name: `fleet: marginal heap + external per device (${label})`,
    unit: "bytes",
    value: ours.marginalHeapPerDevice,
    peer: "MQTT.js",
    peerValue: peer.marginalHeapPerDevice,
    notes: note + "; the fleet is made in two halves: (whole fleet - first half) / second half, without the one-time costs the per-device figure spreads over N",
  });
  fixedResult({ name: `fleet: RSS per device (${label})`, unit: "bytes", value: ours.rssPerDevice, peer: "MQTT.js", peerValue: peer.rssPerDevice, notes: note });
  fixedResult({
    name: `fleet: CPU per acknowledged reading (${label})`,
    unit: "µs",
    value: ours.cpuPerReadingUs,
    peer: "MQTT.js",
    peerValue: peer.cpuPerReadingUs,
    notes: note + `; user + system CPU of the fleet's process over the steady window; event-loop delay p50/p99 ${ours.loopDelayP50Ms}/${ours.loopDelayP99Ms} ms vs ${peer.loopDelayP50Ms}/${peer.loopDelayP99Ms} ms (a loop running late holds devices mid-pass, which shows in memory)`,
  });
  fixedResult({
    name: `fleet: readings held per device when memory was read (${label})`,
    unit: "readings",
    value: ours.inFlightPerDevice + ours.waitingPerDevice,
    peer: "MQTT.js",
    peerValue: peer.inFlightPerDevice + peer.waitingPerDevice,
    notes: note + `; in flight (handed to the client, not acknowledged) ${ours.inFlightPerDevice} vs ${peer.inFlightPerDevice}, waiting (not yet handed over) ${ours.waitingPerDevice} vs ${peer.waitingPerDevice}: a backlog costs memory on either side`,
  });
}

const cases: BenchCase[] = [];
export default cases;
