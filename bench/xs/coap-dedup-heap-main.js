/*
 * Live XS slots kept per CoAP request by the endpoint's deduplication memory (RFC 7252 §4.5).
 * Requests shaped like the app's CoAP commands. Instrumented mcsim app: Instrumentation's "XS Slot Heap Used" after Debug.gc().
 */
import Instrumentation from "instrumentation";
import Debug from "debug";
import { CoapEndpoint } from "modules/coap/messaging";
import { Scheduler } from "modules/scheduler/scheduler";
import { encode } from "modules/coap/codec";

const SLOTS = Instrumentation.map("XS Slot Heap Used");
const CHUNKS = Instrumentation.map("XS Chunk Heap Used");
function heap() {
	Debug.gc();
	Debug.gc();
	return { slots: Instrumentation.get(SLOTS) / 32, chunks: Instrumentation.get(CHUNKS) };
}
let t = 0;
const clock = { now: () => t, epoch: () => NaN, setTimer: () => 1, clearTimer() {} };
const scheduler = new Scheduler({ clock });
const payload = new Uint8Array(24).fill(0x41);
let sent = 0;
const ep = new CoapEndpoint({
	scheduler,
	random: (b) => b.fill(7),
	send: () => { sent++; },
	onRequest: (req) => req.respond({ code: 0x45, options: [], payload }),
});
const N = 32;
const reqs = [];
const ascii = (s) => Uint8Array.from(s, (c) => c.charCodeAt(0));
// shaped like the app's CoAP commands: POST /config with two Uri-Path options, a Uri-Query and a small JSON body
const options = [{ number: 11, value: ascii("device") }, { number: 11, value: ascii("config") }, { number: 15, value: ascii("safe=1") }];
for (let i = 0; i < 3 * N + 2; i++) reqs.push(encode({ type: 0, code: 2, messageId: 1000 + i, token: Uint8Array.of(i & 255, 1, 2, 3), options, payload: ascii('{"keepAlive":60}') }));
let next = 0;
ep.receive(reqs[next++], "10.0.0.9", 5683); // warm-up: the peer, the first entry
const h0 = heap();
for (let i = 0; i < N; i++) ep.receive(reqs[next++], "10.0.0.9", 5683);
const h1 = heap();
trace(`##heap ${JSON.stringify({ phase: "32 requests", slotsPerRequest: (h1.slots - h0.slots) / N, chunkBytesPerRequest: (h1.chunks - h0.chunks) / N, size: ep.dedup.size })}\n`);
for (let i = 0; i < N; i++) ep.receive(reqs[next++], "10.0.0.9", 5683);
const h2 = heap();
trace(`##heap ${JSON.stringify({ phase: "32 more (cache full)", slotsPerRequest: (h2.slots - h1.slots) / N, size: ep.dedup.size, evictions: ep.dedup.evictions })}\n`);
t += 247000;
ep.receive(reqs[next++], "10.0.0.9", 5683);
const h3 = heap();
trace(`##heap ${JSON.stringify({ phase: "one request after EXCHANGE_LIFETIME", slotsVsStart: h3.slots - h0.slots, size: ep.dedup.size, sent })}\n`);
trace("##heap-done\n");
