#!/usr/bin/env node
// XS chunk bytes and slots one save of the MQTT-SN topic registry allocates (SnRegistryStore's
// "reg" record; docs/moddable.md, "Readings waiting", fault 3): bench/xs/mqttsn-registry-heap-main.js
// built instrumented for lin and run in mcsim (bench/xs/heap-app.js: under `flock /tmp/mcsim.lock`).
//
//   MODDABLE=/tmp/moddable node bench/xs/mqttsn-registry-heap.js
//
// Prints the app's `##heap {json}` lines (lin's chunk bytes: 64-bit, an upper bound of the
// ESP32's) and exits 1 when a save allocated more than twice its record and 2 KB: the record
// was built as an array of numbers before, an XS slot an octet (32 B on lin), and grew by copies.
"use strict";
const { runHeapApp } = require("./heap-app");

// Room enough that no collection runs during a save (each would take garbage out of the figure):
// 4 MB of chunks and 128 K slots to start with.
const out = runHeapApp("mqttsn-registry-heap", "bench/xs/mqttsn-registry-heap-main", { chunk: { initial: 4194304, incremental: 65536 }, heap: { initial: 131072, incremental: 4096 } });
process.stdout.write(out);
let bad = 0;
for (const line of out.split("\n")) {
  if (!line.startsWith("##heap {")) continue;
  const r = JSON.parse(line.slice(6));
  if (r.collections) process.stdout.write(`mqttsn-registry-heap: ${r.phase}: a collection ran during the save; its chunk bytes are a lower bound\n`);
  if (r.chunkBytes > 2 * r.recordOctets + 2048) {
    process.stdout.write(`mqttsn-registry-heap: ${r.phase}: the save allocated ${r.chunkBytes} chunk bytes for a ${r.recordOctets}-octet record (at most ${2 * r.recordOctets + 2048} expected)\n`);
    bad++;
  }
}
process.exit(bad ? 1 : 0);
