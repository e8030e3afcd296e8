#!/usr/bin/env node
// Builds the standalone `xsnap` binary (the bare XS engine, XS 13.3) from the C sources that
// the npm package @agoric/xsnap ships, into .cache/xsnap/. Rebuilds only when the binary is
// missing or the package version changed. npm 11 does not run that package's postinstall, so
// we build it ourselves with its own makefile:
//   make -f xsnap.mk MODDABLE=<pkg>/moddable GOAL=release BUILD_DIR=<cache>/build
//
// Usage: node tools/build-xsnap.js [--force] [--quiet]
// As a module: const { ensureXsnap } = require("./build-xsnap"); ensureXsnap() -> binary path.
// xsnap's globals: print, setImmediate, performance, TextEncoder/TextDecoder, gc; no setTimeout.
"use strict";

const fs = require("fs");
const path = require("path");
const { spawnSync } = require("child_process");

const ROOT = path.resolve(__dirname, "..");
const CACHE = path.join(ROOT, ".cache", "xsnap");
const BINARY = path.join(CACHE, "xsnap");
const STAMP = path.join(CACHE, "stamp.json");

function packageDir() {
  try {
    return path.dirname(require.resolve("@agoric/xsnap/package.json", { paths: [ROOT] }));
  } catch {
    // The package's "exports" may hide package.json; fall back to the plain layout.
    const dir = path.join(ROOT, "node_modules", "@agoric", "xsnap");
    if (fs.existsSync(path.join(dir, "package.json"))) return dir;
    throw new Error("build-xsnap: @agoric/xsnap is not installed; run `npm ci` first");
  }
}

function wanted() {
  const dir = packageDir();
  const version = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).version;
  return { dir, version };
}

function upToDate(version) {
  if (!fs.existsSync(BINARY)) return false;
  try {
    const stamp = JSON.parse(fs.readFileSync(STAMP, "utf8"));
    return stamp.version === version;
  } catch {
    return false;
  }
}

/** Returns the path of an up-to-date xsnap binary, building it first when needed. */
function ensureXsnap({ force = false, quiet = false } = {}) {
  const log = quiet ? () => {} : (m) => process.stderr.write("build-xsnap: " + m + "\n");
  const { dir, version } = wanted();
  if (!force && upToDate(version)) return BINARY;

  const makeDir = path.join(dir, "xsnap-native", "xsnap", "makefiles", "lin");
  const moddable = path.join(dir, "moddable");
  if (!fs.existsSync(path.join(makeDir, "xsnap.mk")) || !fs.existsSync(path.join(moddable, "xs"))) {
    throw new Error("build-xsnap: the XS sources are missing from " + dir);
  }
  fs.mkdirSync(CACHE, { recursive: true });
  // One build at a time (jest workers and the XS runner may ask together).
  const lock = path.join(CACHE, "lock");
  const deadline = Date.now() + 5 * 60 * 1000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (e) {
      if (e.code !== "EEXIST") throw e;
      if (Date.now() > deadline || Date.now() - fs.statSync(lock).mtimeMs > 5 * 60 * 1000) {
        log("removing a stale build lock");
        fs.rmSync(lock, { recursive: true, force: true });
        continue;
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
      if (!force && upToDate(version)) return BINARY;
    }
  }
  try {
    return build(dir, version, moddable, makeDir, log, quiet);
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

function build(dir, version, moddable, makeDir, log, quiet) {
  if (upToDate(version) && !process.argv.includes("--force")) return BINARY;
  const buildDir = path.join(CACHE, "build");
  const started = Date.now();
  log(`building xsnap from @agoric/xsnap ${version} (about 20 s on 2 cores) ...`);
  const args = [
    "-f",
    "xsnap.mk",
    "MODDABLE=" + moddable,
    "BUILD_DIR=" + buildDir,
    "GOAL=release",
    "-j" + Math.max(2, Math.min(4, require("os").cpus().length)),
  ];
  log("make " + args.join(" "));
  const r = spawnSync("make", args, { cwd: makeDir, stdio: ["ignore", quiet ? "pipe" : 2, "pipe"] });
  if (r.error) throw new Error("build-xsnap: cannot run make: " + r.error.message + " (install make and a C compiler)");
  if (r.status !== 0) {
    process.stderr.write(r.stderr ? r.stderr.toString() : "");
    throw new Error("build-xsnap: make failed with exit code " + r.status);
  }
  const built = path.join(buildDir, "bin", "lin", "release", "xsnap");
  if (!fs.existsSync(built)) throw new Error("build-xsnap: make succeeded but " + built + " is missing");
  fs.copyFileSync(built, BINARY + ".tmp");
  fs.chmodSync(BINARY + ".tmp", 0o755);
  fs.renameSync(BINARY + ".tmp", BINARY);
  const v = spawnSync(BINARY, ["-v"], { encoding: "utf8" });
  const xs = (v.stdout || "").trim();
  fs.writeFileSync(STAMP, JSON.stringify({ version, xs, built: new Date().toISOString() }, null, 2) + "\n");
  log(`built ${path.relative(ROOT, BINARY)} (${xs}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return BINARY;
}

module.exports = { ensureXsnap, BINARY };

if (require.main === module) {
  try {
    const force = process.argv.includes("--force");
    const quiet = process.argv.includes("--quiet");
    const bin = ensureXsnap({ force, quiet });
    if (!quiet) process.stderr.write("build-xsnap: " + path.relative(ROOT, bin) + " is up to date\n");
  } catch (e) {
    process.stderr.write(String(e && e.message ? e.message : e) + "\n");
    process.exit(1);
  }
}
