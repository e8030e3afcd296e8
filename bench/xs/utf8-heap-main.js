/*
 * XS chunk bytes and slots one decodeUtf8 allocates (modules/bytes/utf8.ts; docs/moddable.md,
 * "What the runs found"), for text of the sizes the app decodes: a configuration command of
 * ~700 octets (JSON, ASCII), 2,000 octets of ASCII, and ~700 octets with non-ASCII characters.
 * Instrumented mcsim app: Instrumentation's "XS Chunk Heap Used" and "XS Slot Heap Used" right
 * before and right after the decode, no collection between (checked: "XS Garbage Collection
 * Count" unchanged), so the difference is what the decode allocated, garbage included.
 */
import Instrumentation from "instrumentation";
import Debug from "debug";
import { decodeUtf8, encodeUtf8New } from "modules/bytes/utf8";

const SLOTS = Instrumentation.map("XS Slot Heap Used");
const CHUNKS = Instrumentation.map("XS Chunk Heap Used");
const GCS = Instrumentation.map("XS Garbage Collection Count");

function measure(phase, text) {
	const bytes = encodeUtf8New(text);
	if (decodeUtf8(bytes) !== text) throw new Error(phase + ": decoded text differs"); // warm-up and check
	Debug.gc();
	Debug.gc();
	const g0 = Instrumentation.get(GCS), c0 = Instrumentation.get(CHUNKS), s0 = Instrumentation.get(SLOTS);
	const out = decodeUtf8(bytes);
	const c1 = Instrumentation.get(CHUNKS), s1 = Instrumentation.get(SLOTS), g1 = Instrumentation.get(GCS);
	trace(`##heap ${JSON.stringify({ phase, octets: bytes.length, units: out.length, chunkBytes: c1 - c0, slots: (s1 - s0) / 32, collections: g1 - g0 })}\n`);
}

const command = JSON.stringify({ op: "patch", id: "c-0001", body: { telemetry: { intervalS: 600, maxBatch: 8 }, sampling: { intervalS: 60 } }, pad: "" });
measure("a 705-octet command (ASCII)", command.slice(0, -2) + "p".repeat(705 - command.length) + '"}');
measure("2,000 octets of ASCII", "A".repeat(2000));
measure("~700 octets, non-ASCII (°C, €, emoji)", "température 21.5 °C, 3 € \u{1F321} ".repeat(20));
trace("##heap-done\n");
