#!/usr/bin/env node
"use strict";
// The host command line. It runs the TypeScript sources with no build step: tools/run-ts.js
// bundles sim/node/cli.ts in memory with esbuild (a tenth of a second) and runs it; see that file
// for why this is not tsx's require hook.
const path = require("path");
const { loadTs } = require("../tools/run-ts");
const { main } = loadTs(path.join(__dirname, "../sim/node/cli.ts"));
main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === "number") process.exitCode = code;
  },
  (error) => {
    console.error(`xs-iot: ${error && error.stack ? error.stack : error}`);
    process.exitCode = 1;
  },
);
