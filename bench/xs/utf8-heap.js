#!/usr/bin/env node
// XS chunk bytes and slots one decodeUtf8 allocates (modules/bytes/utf8.ts): bench/xs/utf8-heap-main.js
// built instrumented for lin and run in mcsim (bench/xs/heap-app.js: under `flock /tmp/mcsim.lock`).
//
//   MODDABLE=/tmp/moddable node bench/xs/utf8-heap.js
//
// Prints the app's `##heap {json}` lines (lin's chunk bytes: 64-bit, an upper bound of the
// ESP32's) and exits 1 when a decode allocated more than four times its text's octets and 2 KB:
// past 512 ASCII octets, or with any non-ASCII character, the text was built through an array
// of up to 512 numbers before, an XS slot an element (32 B on lin), grown by copies.
"use strict";
const { runHeapApp } = require("./heap-app");

// Room enough that no collection runs during a decode: 4 MB of chunks and 128 K slots to start with.
const out = runHeapApp("utf8-heap", "bench/xs/utf8-heap-main", { chunk: { initial: 4194304, incremental: 65536 }, heap: { initial: 131072, incremental: 4096 } });
process.stdout.write(out);
let bad = 0;
for (const line of out.split("\n")) {
  if (!line.startsWith("##heap {")) continue;
  const r = JSON.parse(line.slice(6));
  if (r.collections) process.stdout.write(`utf8-heap: ${r.phase}: a collection ran during the decode; its chunk bytes are a lower bound\n`);
  const limit = 4 * r.octets + 2048;
  if (r.chunkBytes > limit) {
    process.stdout.write(`utf8-heap: ${r.phase}: the decode allocated ${r.chunkBytes} chunk bytes for ${r.octets} octets (at most ${limit} expected)\n`);
    bad++;
  }
}
process.exit(bad ? 1 : 0);
