#!/usr/bin/env node
// Live XS slots and chunk bytes the CoAP endpoint keeps per request in its deduplication memory
// (RFC 7252 §4.5; issue 17 memory): bench/xs/coap-dedup-heap-main.js built instrumented for lin
// and run in mcsim (bench/xs/heap-app.js: under `flock /tmp/mcsim.lock`).
//
//   MODDABLE=/tmp/moddable node bench/xs/coap-dedup-heap.js
//
// Prints the app's `##heap {json}` lines: slots (the device's count; lin's bytes / 32) and
// lin's chunk bytes per request for 32 requests, then for 32 more with the cache full, then
// after EXCHANGE_LIFETIME on the app's own clock.
"use strict";
const { runHeapApp } = require("./heap-app");

process.stdout.write(runHeapApp("coap-dedup-heap", "bench/xs/coap-dedup-heap-main"));
