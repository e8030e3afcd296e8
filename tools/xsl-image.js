#!/usr/bin/env node
// What the XS linker (xsl) put in a Moddable firmware's preloaded image: reads the mc.xs.c a
// `mcconfig -m -p lin` build leaves in $BUILD/tmp/lin/mc/release/<app>/ and prints the heap slots,
// the bytecode of the preloaded functions, the strings, the keys (names) and an estimate of the
// flash they take on an ESP32 (a slot is 16 bytes there, 32 on 64-bit lin; a key table entry 4).
// Given two images (with and without a module), prints both and what the first carries more: the
// module's cost in the linked image, names shared with the rest of the firmware counted once.
//
//   node tools/xsl-image.js A/mc.xs.c [B/mc.xs.c]
//
// xsl keeps the keys of the previous link of the same build directory (modules/mc.xsi): compare
// builds made in fresh directories, or delete that file first (docs/mqttsn.md, "Figures").
"use strict";
const fs = require("fs");

/** Bytes of a C string literal's body, escapes resolved, without the NUL. */
function cLength(s) {
  let n = 0;
  for (let i = 0; i < s.length; n++) {
    if (s[i] !== "\\") i++;
    else if (s[i + 1] === "x") i += 2 + (/^[0-9a-fA-F]{1,2}/.exec(s.slice(i + 2, i + 4)) || [""])[0].length;
    else if (/[0-7]/.test(s[i + 1])) i += 1 + /^[0-7]{1,3}/.exec(s.slice(i + 1, i + 4))[0].length;
    else i += 2;
  }
  return n;
}

function image(file) {
  const src = fs.readFileSync(file, "latin1");
  const count = (name) => {
    const m = new RegExp("^#define " + name + " (\\d+)$", "m").exec(src);
    return m ? Number(m[1]) : 0;
  };
  const start = src.indexOf("static const txSlot gxHeap[mxHeapCount] = {");
  if (start < 0) throw new Error(file + ": no preloaded heap (gxHeap) in it: not an mc.xs.c of xsl");
  const heap = src.slice(start, src.indexOf("\n};", start));
  const sum = (re, extra) => {
    let n = 0;
    for (const m of heap.matchAll(re)) n += cLength(m[1]) + extra;
    return n;
  };
  let unpreloaded = 0;
  for (const m of src.matchAll(/^static const txU1 gxCode\d+\[(\d+)\];$/gm)) unpreloaded += Number(m[1]);
  const r = {
    heapSlots: count("mxHeapCount"),
    functions: (heap.match(/\.kind = XS_CODE_X_KIND/g) || []).length,
    codeBytes: sum(/\(txByte\*\)"((?:[^"\\]|\\.)*)"/g, 0),
    stringBytes: sum(/\.string = "((?:[^"\\]|\\.)*)"/g, 1),
    keys: count("mxKeysCount"),
    keyNameBytes: sum(/\.key = \{ "((?:[^"\\]|\\.)*)"/g, 1),
    unpreloadedCodeBytes: unpreloaded,
  };
  r.esp32Bytes = r.heapSlots * 16 + r.keys * 4 + r.codeBytes + r.stringBytes + r.keyNameBytes + r.unpreloadedCodeBytes;
  return r;
}

const files = process.argv.slice(2);
if (files.length < 1 || files.length > 2) {
  console.error("usage: node tools/xsl-image.js A/mc.xs.c [B/mc.xs.c]");
  process.exit(2);
}
let a, b;
try {
  [a, b] = files.map(image);
} catch (e) {
  console.error("xsl-image: " + e.message);
  process.exit(1);
}
for (const k of Object.keys(a)) console.log(k.padEnd(22) + String(a[k]).padStart(9) + (b ? String(b[k]).padStart(9) + String(a[k] - b[k]).padStart(9) : ""));
