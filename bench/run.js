#!/usr/bin/env node
// npm run bench: runs bench/*.bench.ts on Node (through tsx) and bench/xs/*.bench.ts on XS
// (bundled like the XS tests, run on xsnap), prints a table and writes bench/results.json:
// [{ name, unit, value, peer, peerValue, ratio, engine: "node"|"xs", notes }], where value and
// peerValue are medians over the rounds and ratio is the median of per-round ours/peer ratios
// (above 1: ours is faster). See bench/README.md.
//
//   node bench/run.js [filters...] [--quick] [--slice=ms] [--rounds=n] [--node] [--xs] [--out=file]
// A filter is a substring of a bench file path or of a case name.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawn } = require("child_process");
const { ROOT, bundle, spec, runXsnap } = require("../tools/xs");
const { ensureXsnap } = require("../tools/build-xsnap");
const moddableMqtt = require("./xs/mqtt-moddable");

function parseArgs(argv) {
  const o = { sliceMs: 150, rounds: 5, node: true, xs: true, out: path.join(__dirname, "results.json"), filters: [] };
  let onlyNode = false;
  let onlyXs = false;
  for (const a of argv) {
    if (a === "--quick") {
      o.sliceMs = 50;
      o.rounds = 3;
    } else if (a.startsWith("--slice=")) o.sliceMs = Number(a.slice(8));
    else if (a.startsWith("--rounds=")) o.rounds = Number(a.slice(9));
    else if (a === "--node") onlyNode = true;
    else if (a === "--xs") onlyXs = true;
    else if (a.startsWith("--out=")) o.out = path.resolve(a.slice(6));
    else if (a === "--help" || a === "-h") {
      process.stdout.write("usage: node bench/run.js [filters...] [--quick] [--slice=ms] [--rounds=n] [--node] [--xs] [--out=file]\n");
      process.exit(0);
    } else if (a.startsWith("--")) throw new Error("unknown option " + a);
    else o.filters.push(a);
  }
  if (onlyNode || onlyXs) {
    o.node = onlyNode;
    o.xs = onlyXs;
  }
  return o;
}

function benchFiles(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".bench.ts"))
    .sort()
    .map((f) => path.join(dir, f));
}

/** Splits the filters: those naming a file select files, the rest select cases. */
function select(files, filters) {
  const fileFilters = filters.filter((f) => files.some((file) => path.relative(ROOT, file).includes(f)));
  const caseFilters = filters.filter((f) => !fileFilters.includes(f));
  const picked = fileFilters.length ? files.filter((file) => fileFilters.some((f) => path.relative(ROOT, file).includes(f))) : files;
  return { picked, caseFilters };
}

function fmt(n) {
  if (n === null || n === undefined || !isFinite(n)) return "-";
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(2) + "G";
  if (a >= 1e6) return (n / 1e6).toFixed(2) + "M";
  if (a >= 1e4) return (n / 1e3).toFixed(1) + "k";
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

function parseLines(text, results, errors, label) {
  for (const line of text.split("\n")) {
    if (line.startsWith("##bench ")) {
      const r = JSON.parse(line.slice(8));
      results.push(r);
      const vs = r.peer ? `  vs ${r.peer} ${fmt(r.peerValue)} → ratio ${r.ratio == null ? "n/a" : r.ratio.toFixed(2)}` : "";
      process.stdout.write(`  [${r.engine}] ${r.name}: ${fmt(r.value)} ${r.unit}${vs}\n`);
    } else if (line.startsWith("##bench-error ")) {
      const e = JSON.parse(line.slice(14));
      errors.push(`${label}: ${e.name}: ${e.error}`);
      process.stdout.write(`  [${label}] ${e.name}: ERROR ${e.error}\n`);
    }
  }
}

function runNode(file, opts, caseFilters) {
  return new Promise((resolve) => {
    const args = ["--import", "tsx", path.join(__dirname, "node-entry.ts"), file, JSON.stringify({ sliceMs: opts.sliceMs, rounds: opts.rounds, filters: caseFilters })];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let pending = "";
    let all = "";
    let err = "";
    const results = [];
    const errors = [];
    child.stdout.on("data", (b) => {
      pending += b.toString();
      all += b.toString();
      const cut = pending.lastIndexOf("\n");
      if (cut >= 0) {
        parseLines(pending.slice(0, cut), results, errors, "node");
        pending = pending.slice(cut + 1);
      }
    });
    child.stderr.on("data", (b) => (err += b.toString()));
    child.on("close", (code) => {
      if (pending) parseLines(pending, results, errors, "node");
      if (code !== 0 || !/^BENCH-DONE \d+$/m.test(all)) errors.push(`node ${path.relative(ROOT, file)}: exit ${code}\n${err.trim()}`);
      resolve({ results, errors });
    });
  });
}

async function runXs(file, opts, caseFilters, xsnap, dir) {
  const harness = path.join(__dirname, "harness.ts");
  const entry =
    `import { runAll, defaultOptions } from ${spec(harness)};\n` +
    `import cases from ${spec(file)};\n` +
    `const filters = ${JSON.stringify(caseFilters)};\n` +
    `runAll(cases, "xs", (line) => print(line), { sliceMs: ${opts.sliceMs}, rounds: ${opts.rounds}, now: () => performance.now() },\n` +
    `  filters.length ? (name) => filters.some((f) => name.indexOf(f) >= 0) : undefined);\n`;
  const { code } = await bundle(entry, { name: path.relative(ROOT, file) });
  const script = path.join(dir, path.basename(file) + ".js");
  fs.writeFileSync(script, code);
  const run = await runXsnap(xsnap, script, { timeoutMs: 15 * 60 * 1000 });
  const results = [];
  const errors = [];
  parseLines(run.stdout, results, errors, "xs");
  if (run.code !== 0 || !/^BENCH-DONE \d+$/m.test(run.stdout)) {
    errors.push(`xs ${path.relative(ROOT, file)}: exit ${run.code}${run.timedOut ? " (timed out)" : ""}\n${run.stderr.trim()}`);
  }
  return { results, errors };
}

function table(results) {
  const rows = [["engine", "bench", "ours", "unit", "peer", "peer value", "ratio"]];
  for (const r of results) {
    rows.push([r.engine, r.name, fmt(r.value), r.unit, r.peer || "-", fmt(r.peerValue), r.ratio === null ? "-" : r.ratio.toFixed(2)]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => String(row[i]).length)));
  return rows
    .map((row, n) => {
      const line = row.map((c, i) => (i >= 2 && i !== 3 && i !== 4 ? String(c).padStart(widths[i]) : String(c).padEnd(widths[i]))).join("  ");
      return n === 0 ? line + "\n" + widths.map((w) => "-".repeat(w)).join("  ") : line;
    })
    .join("\n");
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const results = [];
  const errors = [];
  const allFiles = [...benchFiles(__dirname), ...benchFiles(path.join(__dirname, "xs"))].map((f) => path.relative(ROOT, f));
  // Filters naming only bench/xs/mqtt-moddable.js (not a *.bench.ts file) select it alone.
  const onlyModdable = opts.filters.length > 0 && opts.filters.every((f) => moddableMqtt.FILE.includes(f) && !allFiles.some((file) => file.includes(f)));
  const nodeSel = onlyModdable ? { picked: [], caseFilters: [] } : select(benchFiles(__dirname), opts.filters);
  const xsSel = onlyModdable ? { picked: [], caseFilters: [] } : select(benchFiles(path.join(__dirname, "xs")), opts.filters);
  process.stdout.write(`bench: slices of ${opts.sliceMs} ms, ${opts.rounds} rounds, ours and peer alternating\n`);
  if (opts.node) {
    for (const file of nodeSel.picked) {
      process.stdout.write(`bench: node ${path.relative(ROOT, file)}\n`);
      const r = await runNode(file, opts, nodeSel.caseFilters);
      results.push(...r.results);
      errors.push(...r.errors);
    }
  }
  if (opts.xs && xsSel.picked.length) {
    const xsnap = ensureXsnap();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xs-bench-"));
    try {
      for (const file of xsSel.picked) {
        process.stdout.write(`bench: xs ${path.relative(ROOT, file)}\n`);
        const r = await runXs(file, opts, xsSel.caseFilters, xsnap, dir);
        results.push(...r.results);
        errors.push(...r.errors);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  // The MQTT clients on the Moddable SDK's own XS (xst, mcsim, mcconfig): skipped, with a line saying so, without $MODDABLE.
  if (opts.xs && moddableMqtt.selected(opts.filters)) {
    process.stdout.write("bench: xs bench/xs/mqtt-moddable.js (our MQTT client and the Moddable SDK's, on the SDK's XS)\n");
    const caseFilters = opts.filters.filter((f) => !moddableMqtt.FILE.includes(f));
    const r = await moddableMqtt.run({ sliceMs: opts.sliceMs, rounds: opts.rounds, filters: caseFilters }, (text, label) => parseLines(text, results, errors, label));
    results.push(...r.results);
    errors.push(...r.errors);
  }
  process.stdout.write("\n" + table(results) + "\n\n");
  process.stdout.write("ratio = ours / peer (median of per-round ratios); above 1 means ours is faster\n");
  fs.writeFileSync(opts.out, JSON.stringify(results, null, 2) + "\n");
  process.stdout.write(`bench: ${results.length} results written to ${path.relative(process.cwd(), opts.out)} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  if (errors.length) {
    process.stdout.write("bench errors:\n" + errors.map((e) => "  " + e).join("\n") + "\n");
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write("bench: " + (e && e.stack ? e.stack : e) + "\n");
    process.exit(1);
  },
);
