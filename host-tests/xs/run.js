#!/usr/bin/env node
// Runs the `// @xs` test files on the bare XS engine (xsnap).
//
//   node host-tests/xs/run.js [filters...] [--verbose] [--timeout=ms] [--jobs=n]
//
// Finds every host-tests/**/*.test.ts whose first line is `// @xs`, bundles each file with
// our harness (host-tests/xs/harness.ts) into one IIFE script (tools/xs.js: rollup +
// typescript.transpileModule + node-resolve), runs it on xsnap (tools/build-xsnap.js builds
// it on first use) and judges it. A filter is a substring of the file's path; an argument
// naming an existing file runs that file whatever its first line (the runner's own tests use
// this for fixtures).
//
// A file passes ONLY when xsnap exits 0, the harness printed `XS-TESTS-DONE <p> <f>` with
// f = 0 and the same counts it reported test by test, nothing timed out, and xsnap reported
// no unhandled rejection or exception. (xsnap exits 0 on an unhandled rejection and on a
// promise that never settles; a missing sentinel catches both.)
//
// Closing line: `XS: <tests passed> passed, <tests failed> failed`. Exit code 1 on any failure.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { ROOT, bundle, spec, runXsnap } = require("../../tools/xs");
const { ensureXsnap } = require("../../tools/build-xsnap");

const HARNESS = path.join(__dirname, "harness.ts");
const LOCKDOWN = path.join(__dirname, "lockdown.ts");
const SENTINEL = /^XS-TESTS-DONE (\d+) (\d+)$/;

function parseArgs(argv) {
  const opts = { verbose: false, timeoutMs: Number(process.env.XS_TEST_TIMEOUT) || 120000, jobs: Math.min(2, os.cpus().length), filters: [], files: [] };
  for (const a of argv) {
    if (a === "--verbose" || a === "-v") opts.verbose = true;
    else if (a.startsWith("--timeout=")) opts.timeoutMs = Number(a.slice(10));
    else if (a.startsWith("--jobs=")) opts.jobs = Math.max(1, Number(a.slice(7)) || 1);
    else if (a === "--help" || a === "-h") {
      process.stdout.write("usage: node host-tests/xs/run.js [filters or files...] [--verbose] [--timeout=ms] [--jobs=n]\n");
      process.exit(0);
    } else if (a.startsWith("--")) throw new Error("unknown option " + a);
    else if (fs.existsSync(a) && fs.statSync(a).isFile()) opts.files.push(path.resolve(a));
    else opts.filters.push(a);
  }
  return opts;
}

function firstLine(file) {
  const fd = fs.openSync(file, "r");
  try {
    const buf = Buffer.alloc(64);
    const n = fs.readSync(fd, buf, 0, 64, 0);
    return buf.toString("utf8", 0, n).split(/\r?\n/)[0].trim();
  } finally {
    fs.closeSync(fd);
  }
}

/** Every host-tests/**\/*.test.{ts,js} whose first line is `// @xs`, sorted. */
function discover() {
  const found = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.name === "node_modules" || e.name.startsWith(".")) continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.test\.[jt]s$/.test(e.name) && firstLine(p) === "// @xs") found.push(p);
    }
  };
  walk(path.join(ROOT, "host-tests"));
  return found.sort();
}

/** Judges one xsnap run from its exit and output. */
function judge(run) {
  const tests = []; // {name, pass, ms, msg: []}
  const other = [];
  const problems = [];
  let sentinel = null;
  let started = null;
  for (const line of run.stdout.split("\n")) {
    if (line.startsWith("##xs start\t")) {
      started = line.slice(11);
    } else if (line.startsWith("##xs pass\t") || line.startsWith("##xs fail\t")) {
      const [, name, ms] = line.slice(5).split("\t");
      tests.push({ name, pass: line.startsWith("##xs pass"), ms: Number(ms), msg: [] });
      started = null;
    } else if (line.startsWith("##xs msg\t")) {
      if (tests.length) tests[tests.length - 1].msg.push(line.slice(9));
    } else if (SENTINEL.test(line)) {
      const m = SENTINEL.exec(line);
      sentinel = { passed: Number(m[1]), failed: Number(m[2]) };
    } else if (line !== "") {
      other.push(line);
      if (/^unhandled (rejection|exception):/.test(line)) problems.push("xsnap reported an " + line);
    }
  }
  const passed = tests.filter((t) => t.pass).length;
  let failed = tests.length - passed;
  if (run.timedOut) problems.push("killed after the " + (run.timeoutMs / 1000) + " s time limit");
  else if (run.signal) problems.push("xsnap died from signal " + run.signal);
  else if (run.code !== 0) problems.push("xsnap exited with code " + run.code);
  if (!sentinel) {
    problems.push(
      "the run did not finish (no XS-TESTS-DONE)" +
        (started !== null ? "; this test started and never finished: " + started : ""),
    );
  } else if (sentinel.passed !== passed || sentinel.failed !== failed) {
    problems.push("the harness's totals (" + sentinel.passed + "/" + sentinel.failed + ") differ from its test reports (" + passed + "/" + failed + ")");
  }
  if (problems.length && started !== null) {
    tests.push({ name: started, pass: false, ms: 0, msg: ["never finished"] });
    failed++;
  } else if (problems.length && failed === 0) {
    failed = 1; // the file itself counts as a failed test
  }
  return { ok: problems.length === 0 && failed === 0, passed, failed, tests, problems, other };
}

async function runFile(file, opts, xsnap, dir) {
  const rel = path.relative(ROOT, file);
  const t0 = Date.now();
  let code;
  try {
    // lockdown.ts freezes the intrinsics after the harness and before the test file's modules, as a Moddable build has them.
    const entry = `import { runTests } from ${spec(HARNESS)};\nimport ${spec(LOCKDOWN)};\nimport ${spec(file)};\nrunTests();\n`;
    // preload: every device module's bindings are frozen after its body ran, as a Moddable build that preloads it has them (host-tests/xs/preload.ts).
    ({ code } = await bundle(entry, { name: rel, preload: true }));
  } catch (e) {
    return { rel, ok: false, passed: 0, failed: 1, tests: [], problems: ["bundling failed: " + (e && e.message ? e.message : e)], other: [], stderr: "", ms: Date.now() - t0 };
  }
  const script = path.join(dir, rel.replace(/[^\w.-]+/g, "_") + ".js");
  fs.writeFileSync(script, code);
  const run = await runXsnap(xsnap, script, { timeoutMs: opts.timeoutMs });
  run.timeoutMs = opts.timeoutMs;
  const verdict = judge(run);
  return { rel, ...verdict, stderr: run.stderr, ms: Date.now() - t0 };
}

function printResult(r, verbose) {
  const secs = (r.ms / 1000).toFixed(1);
  const out = [];
  out.push(`${r.ok ? "PASS" : "FAIL"} ${r.rel} (${r.passed} passed, ${r.failed} failed, ${secs} s)`);
  for (const t of r.tests) {
    if (t.pass && !verbose) continue;
    out.push(`  ${t.pass ? "ok  " : "FAIL"} ${t.name}${verbose ? ` (${t.ms.toFixed(1)} ms)` : ""}`);
    for (const m of t.msg) out.push("        " + m);
  }
  for (const p of r.problems) out.push("  !! " + p);
  if ((!r.ok || verbose) && r.other.length) {
    out.push("  output:");
    for (const l of r.other.slice(-30)) out.push("    | " + l);
  }
  if ((!r.ok || verbose) && r.stderr.trim()) {
    out.push("  stderr:");
    for (const l of r.stderr.trim().split("\n").slice(-30)) out.push("    | " + l);
  }
  process.stdout.write(out.join("\n") + "\n");
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  let files = opts.files.slice();
  if (opts.filters.length || !files.length) {
    const all = discover();
    const picked = opts.filters.length ? all.filter((f) => opts.filters.some((x) => path.relative(ROOT, f).includes(x))) : all;
    files = files.concat(picked);
  }
  if (!files.length) {
    process.stdout.write("XS: no test files matched\nXS: 0 passed, 1 failed\n");
    return 1;
  }
  const xsnap = ensureXsnap();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xs-run-"));
  const started = Date.now();
  process.stdout.write(`XS: running ${files.length} file(s) on ${path.relative(ROOT, xsnap)} (${opts.jobs} at a time)\n`);
  const results = new Array(files.length);
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      results[i] = await runFile(files[i], opts, xsnap, dir);
      printResult(results[i], opts.verbose);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(opts.jobs, files.length) }, worker));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const okFiles = results.filter((r) => r.ok).length;
  const passed = results.reduce((n, r) => n + r.passed, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  process.stdout.write(`XS files: ${okFiles} of ${results.length} passed in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  process.stdout.write(`XS: ${passed} passed, ${failed} failed\n`);
  return okFiles === results.length && failed === 0 ? 0 : 1;
}

module.exports = { judge, discover };

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write("XS runner error: " + (e && e.stack ? e.stack : e) + "\n");
      process.stdout.write("XS: 0 passed, 1 failed\n");
      process.exit(1);
    },
  );
}
