#!/usr/bin/env node
// `npm test`: builds xsnap if needed, type-checks and runs the preload check (without filters),
// runs jest on every host-tests/**/*.test.ts (Node), then
// the `// @xs` files on XS (host-tests/xs/run.js), and closes with one plain line summing the
// tests of both:   <passed> passed, <failed> failed[, <skipped> skipped]
// Exit code 1 if either fails. Arguments are passed to both as path filters
// (`npm test -- bytes`); `--verbose` goes to both too.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawn } = require("child_process");
const { ensureXsnap } = require("./build-xsnap");

const ROOT = path.resolve(__dirname, "..");

/** Runs a command, streaming its output, and resolves with { code, stdout }. */
function run(cmd, args, env) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    const out = [];
    child.stdout.on("data", (b) => {
      out.push(b);
      process.stdout.write(b);
    });
    child.stderr.on("data", (b) => process.stderr.write(b));
    child.on("error", (e) => resolve({ code: -1, stdout: "", error: e }));
    child.on("close", (code, signal) => resolve({ code: code === null ? 128 : code, signal, stdout: Buffer.concat(out).toString("utf8") }));
  });
}

function secs(ms) {
  return (ms / 1000).toFixed(1) + " s";
}

async function main() {
  const argv = process.argv.slice(2);
  const verbose = argv.includes("--verbose");
  const filters = argv.filter((a) => !a.startsWith("--"));
  const t0 = Date.now();

  process.stdout.write("== xsnap\n");
  try {
    ensureXsnap();
  } catch (e) {
    process.stderr.write(String(e.message || e) + "\n");
    process.stdout.write("xsnap could not be built: the XS suites will fail\n");
  }

  // ---- types: device code without Node types, host code, the Moddable binding. A type
  // error fails the run (counted as one failed check) even where the suites pass, since
  // ts-jest and the XS bundler only transpile.
  let types = { ok: true, ms: 0 };
  if (!filters.length) {
    process.stdout.write("\n== types (tsc)\n");
    const tsc = require.resolve("typescript/bin/tsc", { paths: [ROOT] });
    const tt = Date.now();
    for (const project of ["tsconfig.json", "host-tests/tsconfig.json", "modules/platform/moddable/tsconfig.json"]) {
      const r = await run(process.execPath, [tsc, "-p", project]);
      if (r.code !== 0) types.ok = false;
      process.stdout.write(`tsc -p ${project}: ${r.code === 0 ? "ok" : "errors"}\n`);
    }
    types.ms = Date.now() - tt;
  }

  // ---- preload: device code that preloading would freeze and then change (tools/check-preload.js;
  // the XS runner checks the same at run time). A finding fails the run, counted as one failed check.
  let preload = { ok: true, ms: 0 };
  if (!filters.length) {
    process.stdout.write("\n== preload (tools/check-preload.js)\n");
    const tp = Date.now();
    const r = await run(process.execPath, [path.join(ROOT, "tools", "check-preload.js")]);
    preload = { ok: r.code === 0, ms: Date.now() - tp };
  }

  // ---- jest (Node)
  process.stdout.write("\n== jest (Node)\n");
  const jsonFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "xs-iot-test-")), "jest.json");
  const jestBin = require.resolve("jest/bin/jest", { paths: [ROOT] });
  const t1 = Date.now();
  const jestArgs = [jestBin, "--json", "--outputFile=" + jsonFile, ...(verbose ? ["--verbose"] : []), ...filters];
  const jest = await run(process.execPath, jestArgs);
  let node = { passed: 0, failed: 1, skipped: 0 };
  try {
    const report = JSON.parse(fs.readFileSync(jsonFile, "utf8"));
    node = {
      passed: report.numPassedTests,
      // A suite that fails to load has no failed test in it: count it as one.
      failed: report.numFailedTests + report.numRuntimeErrorTestSuites,
      skipped: report.numPendingTests + report.numTodoTests,
    };
    if (jest.code !== 0 && node.failed === 0) node.failed = 1;
  } catch {
    process.stdout.write("jest wrote no report (it crashed before running tests)\n");
  } finally {
    fs.rmSync(path.dirname(jsonFile), { recursive: true, force: true });
  }
  const jestMs = Date.now() - t1;

  // ---- XS
  process.stdout.write("\n== XS (xsnap)\n");
  const t2 = Date.now();
  const xsArgs = [path.join(ROOT, "host-tests", "xs", "run.js"), ...(verbose ? ["--verbose"] : []), ...filters];
  const xsRun = await run(process.execPath, xsArgs);
  const m = /^XS: (\d+) passed, (\d+) failed$/m.exec(xsRun.stdout);
  const xs = m ? { passed: Number(m[1]), failed: Number(m[2]) } : { passed: 0, failed: 1 };
  if (xsRun.code !== 0 && xs.failed === 0) xs.failed = 1;
  const xsMs = Date.now() - t2;

  const passed = node.passed + xs.passed;
  const failed = node.failed + xs.failed + (types.ok ? 0 : 1) + (preload.ok ? 0 : 1);
  const skipped = node.skipped;
  process.stdout.write("\n== summary\n");
  process.stdout.write(`Node (jest): ${node.passed} passed, ${node.failed} failed, ${node.skipped} skipped in ${secs(jestMs)}\n`);
  process.stdout.write(`XS (xsnap):  ${xs.passed} passed, ${xs.failed} failed in ${secs(xsMs)}\n`);
  if (!filters.length) process.stdout.write(`Types (tsc): ${types.ok ? "clean" : "ERRORS (see above)"} in ${secs(types.ms)}\n`);
  if (!filters.length) process.stdout.write(`Preload check: ${preload.ok ? "clean" : "FINDINGS (see above)"} in ${secs(preload.ms)}\n`);
  process.stdout.write(`total time ${secs(Date.now() - t0)}\n`);
  process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}\n`);
  return failed === 0 && types.ok && preload.ok && jest.code === 0 && xsRun.code === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write("tools/test.js: " + (e && e.stack ? e.stack : e) + "\n");
    process.stdout.write("0 passed, 1 failed\n");
    process.exit(1);
  },
);
