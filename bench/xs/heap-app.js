// Runs a small heap-measuring app of ours in Moddable's simulator (issue 17 memory), for the
// bench/xs/*-heap.js scripts: builds `main` (a repository path, e.g. bench/xs/coap-dedup-heap-main)
// and the modules of ours it imports with `mcconfig -m -p lin -i` (instrumented release) into a
// new directory under $TMPDIR, and runs it in mcsim under xvfb-run until it prints `##heap-done`
// (60 s at most), both under `flock /tmp/mcsim.lock`; mcsim is stopped by its PID. Returns the
// app's `##heap` lines. The app reads Instrumentation ("XS Slot Heap Used", "XS Chunk Heap Used")
// and collects with Debug.gc(); both modules are in its manifest.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { execFileSync } = require("child_process");
const { ROOT } = require("../../tools/xs");
const { closure } = require("./mqtt-moddable");

/**
 * `name`: the script's name, for messages and the work directory; `creation`: XS limits of the
 * app (the manifest's "creation" entries; the SDK's lin defaults where not given). Exits 2
 * without a built SDK.
 */
function runHeapApp(name, main, creation = {}) {
  const sdk = process.env.MODDABLE;
  const bin = sdk && path.join(sdk, "build", "bin", "lin", "release");
  if (!sdk || !fs.existsSync(path.join(bin, "mcconfig"))) {
    process.stderr.write(`${name}: needs a built Moddable SDK: export MODDABLE=/tmp/moddable\n`);
    process.exit(2);
  }
  const { ours } = closure([main]);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `xsiot-${name}-`));
  const app = path.join(work, "app");
  const build = path.join(work, "build");
  fs.mkdirSync(app);
  fs.mkdirSync(build);
  const modules = {};
  for (const [id, file] of ours) modules[id] = file.replace(/\.(ts|js)$/, "");
  const manifest = {
    include: ["$(MODDABLE)/examples/manifest_base.json", "$(MODDABLE)/modules/base/instrumentation/manifest.json", "$(MODDABLE)/modules/base/debug/manifest.json"],
    typescript: { compiler: path.join(ROOT, "node_modules", ".bin", "tsc") },
    modules,
    creation: { ...creation, main },
  };
  fs.writeFileSync(path.join(app, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  const so = path.join(build, "bin", "lin", "mc", "instrument", "app", "mc.so");
  const out = path.join(work, "mcsim.out");
  const script = [
    `PATH="$BIN:$PATH" mcconfig -m -p lin -i -o "$BUILD" "$APP/manifest.json" > "$WORK/build.log" 2>&1 || { echo "mcconfig failed, log: $WORK/build.log"; tail -20 "$WORK/build.log"; exit 3; }`,
    `rm -f /tmp/modpreferences.json`,
    `xvfb-run -a sh -c 'echo $$ > "$WORK/pid"; exec stdbuf -oL "$BIN/mcsim" "$SO"' > "$OUT" 2>&1 &`,
    `i=0; while [ $i -lt 600 ] && ! grep -q '^##heap-done' "$OUT" 2>/dev/null; do sleep 0.1; i=$((i+1)); done`,
    `[ -s "$WORK/pid" ] && kill "$(cat "$WORK/pid")" 2>/dev/null`,
    `wait`,
    `grep '^##heap' "$OUT" || { echo "mcsim printed no ##heap-done in 60 s:"; tail -20 "$OUT"; exit 4; }`,
  ].join("\n");
  process.stdout.write(`${name}: mcconfig -m -p lin -i + mcsim in ${work}, under flock /tmp/mcsim.lock (waits while another run holds it)\n`);
  try {
    return execFileSync("flock", ["/tmp/mcsim.lock", "sh", "-c", script], { env: { ...process.env, BIN: bin, BUILD: build, APP: app, WORK: work, SO: so, OUT: out }, encoding: "utf8", timeout: 15 * 60 * 1000 });
  } catch (error) {
    process.stderr.write(String(error.stdout || error.message) + "\n");
    process.exit(1);
  }
}

/**
 * For the scripts that bound one operation's allocation: runs the app with room enough that no
 * collection runs during the operation (4 MB of chunks and 128 K slots to start with), prints
 * its `##heap` lines, and exits 1 when an operation's chunk bytes pass `limit(record)` (a
 * collection during it is reported: its figure is then a lower bound).
 */
function checkHeapApp(name, main, what, limit) {
  const out = runHeapApp(name, main, { chunk: { initial: 4194304, incremental: 65536 }, heap: { initial: 131072, incremental: 4096 } });
  process.stdout.write(out);
  let bad = 0;
  for (const line of out.split("\n")) {
    if (!line.startsWith("##heap {")) continue;
    const r = JSON.parse(line.slice(6));
    if (r.collections) process.stdout.write(`${name}: ${r.phase}: a collection ran during the ${what}; its chunk bytes are a lower bound\n`);
    const [most, of] = limit(r);
    if (r.chunkBytes > most) {
      process.stdout.write(`${name}: ${r.phase}: the ${what} allocated ${r.chunkBytes} chunk bytes for ${of} (at most ${most} expected)\n`);
      bad++;
    }
  }
  process.exit(bad ? 1 : 0);
}

module.exports = { runHeapApp, checkHeapApp };
