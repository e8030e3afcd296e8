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
const { checkHeapApp } = require("./heap-app");

checkHeapApp("mqttsn-registry-heap", "bench/xs/mqttsn-registry-heap-main", "save", (r) => [2 * r.recordOctets + 2048, `a ${r.recordOctets}-octet record`]);
