#!/usr/bin/env node
// Makes sure node_modules matches package-lock.json, so a fresh clone needs only `npm test`
// or `npm start` (package.json's pretest/prestart hooks run this).
//
// node_modules is installed (`npm ci` in a fresh clone, else `npm install`; see main()) when:
// - it is missing, or
// - the lock file (or package.json's dependency fields) changed since our last install (a
//   hash stamp kept in node_modules/.xs-iot-deps.json), or
// - there is no stamp and a declared dependency is not installed.
// Prints what it does; quiet when nothing is needed. Exit code 1 if the install fails.
"use strict";

const fs = require("fs");
const path = require("path");
const crypto = require("crypto");
const { spawnSync } = require("child_process");

const ROOT = path.resolve(__dirname, "..");
const NM = path.join(ROOT, "node_modules");
const STAMP = path.join(NM, ".xs-iot-deps.json");
const LOCK = path.join(ROOT, "package-lock.json");
const PKG = path.join(ROOT, "package.json");

/** What an install depends on: package.json's dependency fields (not its description or scripts) and the lock. */
function digest() {
  const h = crypto.createHash("sha256");
  const pkg = JSON.parse(fs.readFileSync(PKG, "utf8"));
  const fields = {};
  for (const k of ["dependencies", "devDependencies", "optionalDependencies", "overrides", "allowScripts", "engines"]) if (pkg[k] !== undefined) fields[k] = pkg[k];
  h.update(JSON.stringify(fields));
  h.update(fs.existsSync(LOCK) ? fs.readFileSync(LOCK) : "");
  return h.digest("hex");
}

function missingDeclared() {
  const pkg = JSON.parse(fs.readFileSync(PKG, "utf8"));
  const names = Object.keys({ ...(pkg.dependencies || {}), ...(pkg.devDependencies || {}) });
  return names.filter((n) => !fs.existsSync(path.join(NM, n, "package.json")));
}

function reason() {
  if (!fs.existsSync(NM)) return "node_modules is missing";
  if (fs.existsSync(STAMP)) {
    try {
      const stamp = JSON.parse(fs.readFileSync(STAMP, "utf8"));
      if (stamp.digest === digest()) return null;
      return "package.json or package-lock.json changed since the last install";
    } catch {
      return "the install stamp is unreadable";
    }
  }
  const missing = missingDeclared();
  if (missing.length) return "not installed: " + missing.slice(0, 5).join(", ") + (missing.length > 5 ? ", ..." : "");
  return null;
}

function main() {
  const why = reason();
  if (why === null) {
    if (!fs.existsSync(STAMP)) fs.writeFileSync(STAMP, JSON.stringify({ digest: digest() }) + "\n");
    return 0;
  }
  // A fresh clone (no node_modules) gets `npm ci`: exactly the lock file, as a user would run it.
  // An existing node_modules whose lock changed gets `npm install`, which brings it to the lock
  // without first deleting it (another checkout may share it through a symlink). The lock
  // records every platform's optional packages (rollup, esbuild), so `npm ci` accepts it, and
  // package.json's allowScripts and overrides keep both commands free of warnings (README).
  const args = fs.existsSync(NM) ? ["install", "--no-audit", "--no-fund"] : ["ci", "--no-audit", "--no-fund"];
  process.stderr.write(`ensure-deps: ${why}; running npm ${args.join(" ")} ...\n`);
  const started = Date.now();
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const r = spawnSync(npm, args, { cwd: ROOT, stdio: ["ignore", 2, 2] });
  if (r.error || r.status !== 0) {
    process.stderr.write(`ensure-deps: npm ${args[0]} failed (${r.error ? r.error.message : "exit " + r.status})\n`);
    return 1;
  }
  fs.writeFileSync(STAMP, JSON.stringify({ digest: digest(), installed: new Date().toISOString() }) + "\n");
  process.stderr.write(`ensure-deps: dependencies installed in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return 0;
}

process.exit(main());
