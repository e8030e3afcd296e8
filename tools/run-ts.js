"use strict";
/*
 * Runs a TypeScript entry of the host tools (the xs-iot command line, the fleet bench worker)
 * as one CommonJS bundle that esbuild builds in memory, in about a tenth of a second:
 *
 *   const { loadTs } = require("./run-ts");  loadTs("sim/node/cli.ts")   -> the module's exports
 *   node tools/run-ts.js bench/fleet-worker.ts ARGS...             -> runs it as the main script
 *
 * Why not tsx's require hook, as the tests do: tsx transpiles with esbuild's `keepNames`, which
 * wraps every named function and class in a call that redefines its `name`. V8 then gives each
 * such closure its own property dictionary and map, about 300 bytes per closure created. A
 * simulated fleet creates thousands of closures, so tsx alone added ~13 KB per simulated device
 * (docs/app.md, "Fleet bench"). Nothing in the project reads a function's `name`, and on the
 * device there is no such wrapper at all, so the command line runs the plain transpiled code.
 *
 * npm packages stay outside the bundle (`packages: "external"`) and are required from
 * node_modules as usual. The bundle carries an inline source map and source maps are turned on,
 * so stack traces name the TypeScript files and lines.
 */
const path = require("path");
const Module = require("module");

function loadTs(entry) {
  const esbuild = require("esbuild");
  const file = path.resolve(entry);
  const result = esbuild.buildSync({
    entryPoints: [file],
    outfile: file.replace(/\.ts$/, ".bundle.cjs"), // names the source map's base; nothing is written
    write: false,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    packages: "external",
    keepNames: false,
    sourcemap: "inline",
    sourcesContent: false,
    logLevel: "silent",
  });
  const code = result.outputFiles.find((f) => f.path.endsWith(".cjs")).text;
  if (typeof process.setSourceMapsEnabled === "function") process.setSourceMapsEnabled(true);
  const m = new Module(file, module);
  m.filename = file;
  m.paths = Module._nodeModulePaths(path.dirname(file));
  m._compile(code, file);
  m.loaded = true;
  return m.exports;
}

module.exports = { loadTs };

if (require.main === module) {
  const entry = process.argv[2];
  if (!entry) {
    process.stderr.write("usage: node tools/run-ts.js FILE.ts [ARGS...]\n");
    process.exit(2);
  }
  // The entry sees its own path and arguments, as if run directly.
  process.argv.splice(1, 2, path.resolve(entry));
  loadTs(entry);
}
