/*
 * XS chunk bytes and slots one save of the MQTT-SN topic registry (SnRegistryStore, the "reg"
 * record) allocates, with the registry of the app's mcsim run (docs/moddable.md, fault 3) and one
 * near the record's 4000-octet bound. Instrumented mcsim app: Instrumentation's "XS Chunk Heap
 * Used" and "XS Slot Heap Used" right before and right after the save, no collection between
 * (checked: "XS Garbage Collection Count" unchanged), so the difference is what the save
 * allocated, garbage included.
 */
import Instrumentation from "instrumentation";
import Debug from "debug";
import { SnRegistryStore } from "modules/mqttsn/session";

const SLOTS = Instrumentation.map("XS Slot Heap Used");
const CHUNKS = Instrumentation.map("XS Chunk Heap Used");
const GCS = Instrumentation.map("XS Garbage Collection Count");
const store = new SnRegistryStore();

function measure(phase, regOf, names) {
	const s = { regOf, reg: new Map(), st: [] };
	names.forEach((name, i) => s.reg.set(name, 0x21 + i).set(0x21 + i, name));
	store.save(s); // warm-up: the closures' and the record's first run
	s.st.length = 0;
	Debug.gc();
	Debug.gc();
	const g0 = Instrumentation.get(GCS), c0 = Instrumentation.get(CHUNKS), s0 = Instrumentation.get(SLOTS);
	store.save(s);
	const c1 = Instrumentation.get(CHUNKS), s1 = Instrumentation.get(SLOTS), g1 = Instrumentation.get(GCS);
	const record = s.st[0].value.byteLength;
	trace(`##heap ${JSON.stringify({ phase, topics: names.length, recordOctets: record, chunkBytes: c1 - c0, slots: (s1 - s0) / 32, collections: g1 - g0 })}\n`);
}

const id = "mem-esp32-esp32c3";
// The topics the app's MQTT-SN link registered in the fault's run (its gateway.out): state, config,
// the six Home Assistant configs, tele and the four command topics it was sent.
const app = ["state", "config"].map((t) => `xs-iot/${id}/${t}`);
for (const q of ["temperature", "humidity", "pressure", "illuminance", "co2", "battery"]) app.push(`homeassistant/sensor/${id}/${q}/config`);
for (const t of ["tele", "cmd/config/get", "cmd/config/patch", "cmd/sleep/prevent", "cmd/sleep/allow"]) app.push(`xs-iot/${id}/${t}`);
measure("the app's registry", "127.0.0.1:33613", app);
const big = [];
for (let k = 0; big.length < 32; k++) big.push(`xs-iot/${id}/topic/${k}/`.padEnd(120, "x"));
measure("near the 4000-octet bound", "127.0.0.1:33613", big);
trace("##heap-done\n");
