/*
 * The XS heap of one connected MQTT session, ours and the Moddable SDK client's: the main
 * module of an app that bench/xs/mqtt-moddable.js builds with `mcconfig -m -p lin -i`
 * (instrumented release) and runs in mcsim. Plain JS (an XS module): it imports Moddable
 * host modules the repository's type checking does not know.
 *
 * The engine counts: Instrumentation's "XS Slot Heap Used" (slots in use × the slot size,
 * 32 B on this 64-bit host, 16 B on an ESP32) and "XS Chunk Heap Used" (bytes of chunks in
 * use), read right after Debug.gc() (a full collection), before and after one client is
 * created, connected (CONNACK) and subscribed (SUBACK) over the bench's in-memory broker
 * (bench/xs/mqtt-broker.ts), everything else made beforehand (the app's scheduler, the
 * app's options and callbacks for the client, the objects that count for the bench). The same is measured
 * for a bare socket connection (what a connection costs the broker and the socket, which a
 * device does not pay in its XS heap) and subtracted. Each subject is measured REPEAT times
 * after one warm-up instance; the instances are kept alive. Our clients get the device's
 * clock and flash (ModdableClock, PreferenceStore), the SDK client its own `timer`.
 *
 * Output (trace, stdout in a release build): one `##heap {json}` line per measurement, then
 * `##heap-done`.
 */
import Instrumentation from "instrumentation";
import Debug from "debug";
import MQTTClient from "embedded:network/mqtt/client";
import { MqttBench, Side } from "bench/xs/mqtt-phases";
import { OUR_CLIENTS } from "bench/xs/mqtt-ours";
import { createSdkClient, useLoop } from "bench/xs/mqtt-sdk";
import { ModdableClock } from "modules/platform/moddable/clock";
import { PreferenceStore } from "modules/platform/moddable/storage";

const REPEAT = 3;
const SLOTS = Instrumentation.map("XS Slot Heap Used");
const CHUNKS = Instrumentation.map("XS Chunk Heap Used");

function heap() {
	Debug.gc();
	Debug.gc();
	return { slots: Instrumentation.get(SLOTS), chunks: Instrumentation.get(CHUNKS) };
}

const bench = new MqttBench({ clock: new ModdableClock(), storage: new PreferenceStore() });
useLoop(bench.loop);
const kept = new Array(64).fill(undefined);
let keptCount = 0;

function ignore() {}

/** A bare connection: the socket and the broker's side of it, no client (its options and callbacks made beforehand). */
function bareConnection(subject) {
	const env = bench.env("bare");
	const options = { host: "broker.bench", port: 1883, onReadable: ignore, onWritable: ignore };
	const before = heap();
	const socket = new env.TCP(options);
	bench.loop.run();
	const after = heap();
	kept[keptCount++] = socket;
	return { subject, slotBytes: after.slots - before.slots, chunkBytes: after.chunks - before.chunks };
}

function session(subject, create) {
	const side = new Side(bench, subject);
	side.client = create(bench.env("heap-" + keptCount), side); // the app's options and callbacks: not counted
	const before = heap();
	bench.connect(side); // the client: created, connected, subscribed
	const after = heap();
	kept[keptCount++] = side;
	return { subject, slotBytes: after.slots - before.slots, chunkBytes: after.chunks - before.chunks };
}

const subjects = [
	{ name: "socket", measure: () => bareConnection("socket") },
	{ name: "sdk", measure: () => session("sdk", (env, events) => createSdkClient(MQTTClient, env, events)) },
];
for (const c of OUR_CLIENTS) {
	const shared = c.shared(bench.env("shared"));
	subjects.push({ name: c.name, measure: () => session(c.name, (env, events) => c.create(env, shared, events)) });
}

try {
	for (const s of subjects) s.measure(); // warm-up: first uses, caches, keys
	for (let i = 0; i < REPEAT; i++) {
		for (const s of subjects) trace("##heap " + JSON.stringify(s.measure()) + "\n");
	}
}
catch (e) {
	trace("##heap-error " + JSON.stringify(String(e && e.message ? e.message : e)) + "\n");
}
trace("##heap-done\n");
