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
const { checkHeapApp } = require("./heap-app");

checkHeapApp("utf8-heap", "bench/xs/utf8-heap-main", "decode", (r) => [4 * r.octets + 2048, `${r.octets} octets`]);
