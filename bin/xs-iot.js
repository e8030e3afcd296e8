#!/usr/bin/env node
"use strict";
// The host command line: runs the TypeScript sources directly through tsx's
// require hook (no build step), then hands over to sim/cli.ts.
require("tsx/cjs/api").register();
const { main } = require("../sim/cli.ts");
main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === "number") process.exitCode = code;
  },
  (error) => {
    console.error(`xs-iot: ${error && error.stack ? error.stack : error}`);
    process.exitCode = 1;
  },
);
