// The MQTT client bench against the Moddable SDK's own client, on the SDK's XS (issue 16,
// "Measure"). Needs a built SDK in $MODDABLE; without one it says so and measures nothing.
// bench/run.js calls run(); `node bench/xs/mqtt-moddable.js [--quick] [--only=xst,heap,bytecode]`
// runs it alone and prints the ##bench lines (--only=instructions: the optional fourth part).
// Three parts by default:
//
// 1. xst: throughput. bench/xs/mqtt-xst.ts bundled (tools/xs.js: rollup) together with the
//    SDK's client, $MODDABLE/examples/io/tcp/mqttclient/mqttclient.js, read from $MODDABLE
//    now (never copied into the project), its `timer` and `time` imports mapped to our
//    stand-ins (bench/xs/mqtt-sdk.ts); run on $MODDABLE/build/bin/lin/release/xst.
// 2. heap: bench/xs/mqtt-heap-main.js built with `mcconfig -m -p lin -i` (instrumented
//    release; xst has no way to read its heap counts) and run in mcsim under xvfb-run.
// 3. bytecode: `mcconfig -m -p lin` (release) of an app with our client modules and the
//    SDK's client and reconnecting wrapper; the .xsb sizes of what each app would import.
//
// 4. instructions (only with --only=instructions; valgrind needed): each phase's turns alone on
//    xst under cachegrind, ours and the SDK's, the instructions per message. Deterministic: on
//    this shared machine the timed rates of part 1 swing with the load, this count does not.
//
// Both builds go to a directory under the OS temp dir (mcconfig -o), under flock
// /tmp/mcsim.lock (other engineers run mcconfig and mcsim too); mcsim is stopped by its PID.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawn } = require("child_process");
const { ROOT, bundle, runXsnap } = require("../../tools/xs");

const SDK_CLIENT = "examples/io/tcp/mqttclient/mqttclient.js";
const SDK_CLIENT_MANIFEST = "$(MODDABLE)/examples/io/tcp/mqttclient/manifest_mqttclient.json";
const SDK_WRAPPER_MANIFEST = "$(MODDABLE)/examples/io/tcp/mqtt/manifest_mqtt.json";
const SDK_CLIENT_XSB = "~.embedded/network/mqtt/client.xsb"; // specifier embedded:network/mqtt/client
const SDK_WRAPPER_XSB = "mqtt/js.xsb"; // specifier mqtt/js
const LOCK = "/tmp/mcsim.lock";
const MIN_ROUNDS = 9;
const LOCK_WAIT_MS = 60 * 60 * 1000;
const SDK_NAME = "Moddable SDK embedded:network/mqtt/client (examples/io/tcp/mqttclient)";

/** The SDK's tools, or a reason why not. */
function findSdk() {
  const sdk = process.env.MODDABLE;
  if (!sdk) return { reason: "MODDABLE is not set: the MQTT client bench against the Moddable SDK is skipped (export MODDABLE=<a built Moddable SDK>)" };
  const bin = path.join(sdk, "build", "bin", "lin", "release");
  const tools = { sdk, xst: path.join(bin, "xst"), mcconfig: path.join(bin, "mcconfig"), mcsim: path.join(bin, "mcsim"), client: path.join(sdk, SDK_CLIENT) };
  for (const k of ["xst", "client"]) {
    if (!fs.existsSync(tools[k])) return { reason: `MODDABLE=${sdk} but ${tools[k]} is missing: build the SDK's tools (cd $MODDABLE/build/makefiles/lin && make)` };
  }
  return tools;
}

function log(m) {
  process.stdout.write("  " + m + "\n");
}

// ---- 1. throughput on xst ---------------------------------------------------------------

/** rollup plugin: the SDK client's host modules `timer` and `time` are our stand-ins. */
function sdkHostModules() {
  const sdkFile = JSON.stringify(path.join(ROOT, "bench", "xs", "mqtt-sdk.ts"));
  const virtual = { timer: `export { SdkTimer as default } from ${sdkFile};`, time: `export { SdkTime as default } from ${sdkFile};` };
  return {
    name: "moddable-sdk-host",
    resolveId: (id) => (id in virtual ? "\0sdk-host:" + id : null),
    load: (id) => (id.startsWith("\0sdk-host:") ? virtual[id.slice(10)] : null),
  };
}

/** bench/xs/mqtt-xst.ts bundled with the SDK client; main() gets `optionsSource` (JavaScript: an object literal or a global's name). */
async function bundleXst(tools, optionsSource) {
  const entry =
    `import MQTTClient from ${JSON.stringify(tools.client)};\n` +
    `import { main } from ${JSON.stringify(path.join(ROOT, "bench", "xs", "mqtt-xst.ts"))};\n` +
    `main(MQTTClient, ${optionsSource}, (line) => print(line));\n`;
  return (await bundle(entry, { name: "mqtt-xst", plugins: [sdkHostModules()] })).code;
}

/**
 * Bundles bench/xs/mqtt-xst.ts with the SDK client and runs it on xst.
 * o: { mode: "bench"|"verify"|"turns", sliceMs, rounds, filters, turns, side, phase, timeoutMs } -> the xsnap-style run result.
 */
async function runXst(tools, o) {
  const code = await bundleXst(tools, JSON.stringify({ mode: o.mode, sliceMs: o.sliceMs, rounds: o.rounds, filters: o.filters || [], turns: o.turns || 3, side: o.side, phase: o.phase }));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xsiot-mqtt-xst-"));
  try {
    const script = path.join(dir, "mqtt-xst.js");
    fs.writeFileSync(script, code);
    return await runXsnap(tools.xst, script, { timeoutMs: o.timeoutMs || 20 * 60 * 1000 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---- 1b. instructions per message (xst under cachegrind) ----------------------------------

const PHASE_NAMES = ["publish QoS 0", "publish QoS 1, 20 in flight", "publish QoS 1, 1 in flight", "receive QoS 0", "receive QoS 1"];
const PER_TURN = { "publish QoS 0": 20, "publish QoS 1, 20 in flight": 100, "publish QoS 1, 1 in flight": 20, "receive QoS 0": 20, "receive QoS 1": 20 };
const TURNS = [20, 80];

function findValgrind() {
  for (const d of (process.env.PATH || "").split(path.delimiter)) if (d && fs.existsSync(path.join(d, "valgrind"))) return path.join(d, "valgrind");
  return undefined;
}

/**
 * The instructions xst executes per message, for each phase and client: every phase's turns
 * run alone (no timing) under valgrind's cachegrind, twice with different numbers of turns;
 * the difference of the two counts over the difference of messages is the cost of one
 * message, set-up and start-up taken out. Deterministic (the same build gives the same count
 * to the instruction), so it does not move with the load of the shared machine as the
 * timed rates do; it counts work, not cache misses or the time an instruction takes.
 * Returns { results, errors }; ratio = SDK / ours (above 1: ours does less).
 */
async function runInstructions(tools, filters, sides) {
  const valgrind = findValgrind();
  if (!valgrind) return { results: [], errors: [], skipped: "no valgrind on PATH: the instructions part is skipped (apt-get install valgrind)" };
  const code = await bundleXst(tools, "XSIOT_XST_OPTIONS");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xsiot-mqtt-instr-"));
  const results = [];
  const errors = [];
  const count = (side, phase, turns) => {
    const script = path.join(dir, "run.js");
    fs.writeFileSync(script, `var XSIOT_XST_OPTIONS = ${JSON.stringify({ mode: "turns", side, phase, turns, sliceMs: 0, rounds: 0, filters: [] })};\n` + code);
    const r = require("child_process").spawnSync(valgrind, ["--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", tools.xst, "-s", script], { encoding: "utf8", timeout: 10 * 60 * 1000 });
    const m = /I\s+refs:\s+([\d,]+)/.exec(r.stderr || "");
    if (r.status !== 0 || !m || !(r.stdout || "").includes("TURNS-DONE")) throw new Error(`${side}, ${phase}: exit ${r.status}\n${(r.stdout || "").trim()}\n${(r.stderr || "").trim().slice(-2000)}`);
    return Number(m[1].replace(/,/g, ""));
  };
  try {
    for (const phase of PHASE_NAMES) {
      const names = sides.map((c) => `mqtt client on xst, ${phase} (${c} vs SDK): instructions per message`);
      if (filters && filters.length && !names.some((n) => filters.some((f) => n.includes(f)))) continue;
      const per = {};
      for (const side of ["Moddable SDK", ...sides]) {
        try {
          const a = count(side, phase, TURNS[0]);
          const b = count(side, phase, TURNS[1]);
          per[side] = (b - a) / ((TURNS[1] - TURNS[0]) * PER_TURN[phase]);
          log(`instructions: ${phase}, ${side}: ${Math.round(per[side])} per message`);
        } catch (e) {
          errors.push("mqtt instructions: " + e.message);
        }
      }
      const sdk = per["Moddable SDK"];
      sides.forEach((side, k) => {
        if (per[side] === undefined || sdk === undefined) return;
        results.push({
          name: names[k],
          unit: "instr/msg",
          value: Math.round(per[side]),
          peer: SDK_NAME,
          peerValue: Math.round(sdk),
          ratio: sdk / per[side],
          engine: "xs",
          notes: `xst under valgrind --tool=cachegrind, the phase's turns alone (${TURNS.join(" and ")} turns, the difference); ratio = SDK / ours: above 1 means ours executes fewer instructions per message`,
        });
      });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { results, errors };
}

/**
 * The clients' own time per message: each phase's rate includes what the bench itself costs
 * per message (event loop, socket, broker), the same for every client, which pulls every
 * ratio towards 1. With r1 = ours/SDK and r2 = floor/SDK (rates, medians of per-round ratios,
 * both against the SDK in the same run) and the SDK's time per message t = 1/SDK rate:
 * ours' own time = t (1/r1 - 1/r2), the SDK's own time = t (1 - 1/r2).
 */
function ownTimeRows(stdout) {
  const rows = [];
  for (const line of stdout.split("\n")) if (line.startsWith("##bench ")) rows.push(JSON.parse(line.slice(8)));
  const out = [];
  const floorOf = new Map();
  const re = /^mqtt client on xst, (.*) \((.*) vs SDK\)$/;
  for (const r of rows) {
    const m = re.exec(r.name);
    if (m && m[2] === "floor client") floorOf.set(m[1], r);
  }
  for (const r of rows) {
    const m = re.exec(r.name);
    if (!m || m[2] === "floor client" || !floorOf.has(m[1])) continue;
    const f = floorOf.get(m[1]);
    const t = 1e6 / r.peerValue;
    const ours = t * (1 / r.ratio - 1 / f.ratio);
    const sdk = t * (1 - 1 / f.ratio);
    if (!(ours > 0 && sdk > 0)) continue; // a client faster than the floor: noise, nothing to say
    out.push({
      name: `mqtt client on xst, ${m[1]} (${m[2]} vs SDK): own time per message, the bench's floor taken out`,
      unit: "us/msg",
      value: ours,
      peer: SDK_NAME,
      peerValue: sdk,
      ratio: sdk / ours,
      engine: "xs",
      notes:
        `derived: SDK ${(t).toFixed(2)} us/msg in all (this case), floor/SDK ${f.ratio.toFixed(2)}, ours/SDK ${r.ratio.toFixed(2)}; ` +
        `ratio = SDK own time / ours: above 1 means ours is faster`,
    });
  }
  return out;
}

// ---- modules an app imports (for the builds) --------------------------------------------

let ts;
/** Runtime imports of one of our files: what tsc leaves after removing type-only imports. */
function runtimeImports(file) {
  ts = ts || require("typescript");
  let text = fs.readFileSync(file, "utf8");
  if (file.endsWith(".ts")) {
    text = ts.transpileModule(text, { fileName: file, compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, isolatedModules: true } }).outputText;
  }
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
}

function resolveOurs(from, spec) {
  const base = path.resolve(path.dirname(from), spec);
  for (const f of [base, base + ".ts", base + ".js", path.join(base, "index.ts")]) {
    if (fs.existsSync(f) && fs.statSync(f).isFile()) return f;
  }
  throw new Error(`cannot resolve ${spec} from ${path.relative(ROOT, from)}`);
}

/**
 * The modules of ours an app with these entries loads (repository paths without extension,
 * the specifiers mcconfig gives them here), and the host modules it imports.
 */
function closure(entries) {
  const ours = new Map(); // specifier -> file
  const host = new Set();
  const todo = entries.map((e) => resolveOurs(path.join(ROOT, "x"), "./" + e));
  while (todo.length) {
    const file = todo.pop();
    const id = path.relative(ROOT, file).replace(/\.(ts|js)$/, "").split(path.sep).join("/");
    if (ours.has(id)) continue;
    ours.set(id, file);
    for (const spec of runtimeImports(file)) {
      if (spec.startsWith("./") || spec.startsWith("../")) todo.push(resolveOurs(file, spec));
      else if (/^[\w-]+\//.test(spec) && fs.existsSync(path.join(ROOT, spec.split("/")[0]))) todo.push(resolveOurs(path.join(ROOT, "x"), "./" + spec)); // a repository path (the heap app's imports)
      else host.add(spec);
    }
  }
  return { ours, host };
}

function ourClients() {
  const { require: tsxRequire } = require("tsx/cjs/api");
  return tsxRequire("./mqtt-ours.ts", __filename).OUR_CLIENTS.map((c) => ({ name: c.name, entries: c.entries }));
}

/** Writes an app manifest (our modules by repository path, plus `includes`) into a new directory named `name`. */
function writeApp(parent, name, modules, includes, extra) {
  const app = path.join(parent, name);
  fs.mkdirSync(app, { recursive: true });
  const map = {};
  for (const [id, file] of modules) map[id] = file.replace(/\.(ts|js)$/, "");
  const manifest = {
    include: ["$(MODDABLE)/examples/manifest_base.json", ...includes],
    typescript: { compiler: path.join(ROOT, "node_modules", ".bin", "tsc") },
    modules: map,
    ...extra,
  };
  fs.writeFileSync(path.join(app, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  return app;
}

/**
 * Runs a shell script under the mcsim/mcconfig lock; resolves { code, out }. Others hold the
 * lock for minutes at a time (memory runs in mcsim): the wait is reported every 30 s and
 * bounded by LOCK_WAIT_MS; once the lock is held, the script has `timeoutMs`. On either
 * bound the script's process group (ours: flock and what it started) is stopped.
 */
function locked(script, env, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn("flock", [LOCK, "sh", "-c", "echo '##locked'; " + script], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const started = Date.now();
    let lockedAt = 0;
    let out = "";
    let why = "";
    child.stdout.on("data", (b) => {
      out += b;
      if (!lockedAt && out.includes("##locked")) lockedAt = Date.now();
    });
    child.stderr.on("data", (b) => (out += b));
    const stop = (reason) => {
      why = reason;
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        // already gone
      }
    };
    let reported = started;
    const tick = setInterval(() => {
      const now = Date.now();
      if (why) return;
      if (!lockedAt) {
        if (now - reported >= 30_000) {
          reported = now;
          log(`waiting for ${LOCK} (another mcconfig/mcsim run holds it): ${Math.round((now - started) / 1000)} s`);
        }
        if (now - started > LOCK_WAIT_MS) stop(`gave up waiting for ${LOCK} after ${LOCK_WAIT_MS / 60000} min`);
      } else if (now - lockedAt > timeoutMs) stop(`stopped after ${timeoutMs / 60000} min`);
    }, 1000);
    child.on("close", (code) => {
      clearInterval(tick);
      resolve({ code: why ? -1 : code, out: (why ? why + "\n" : "") + out.replace("##locked\n", "") });
    });
  });
}

function mcconfigScript(flags) {
  // PATH: mcconfig runs xsc, xsl and the SDK's other tools by name.
  return `PATH="$SDKBIN:$PATH" "$MCCONFIG" -m -p lin ${flags} -o "$BUILD" "$APP/manifest.json" > "$LOG" 2>&1 || { echo "mcconfig failed (exit $?), log: $LOG"; tail -20 "$LOG"; exit 3; }`;
}

function findFiles(dir, suffix) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith(suffix)) out.push(p);
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}

// ---- 2. heap in mcsim ---------------------------------------------------------------------

async function runHeap(tools, work) {
  const { ours } = closure(["bench/xs/mqtt-heap-main"]);
  const app = writeApp(work, "xsiot-mqtt-heap", ours, [
    "$(MODDABLE)/modules/base/instrumentation/manifest.json",
    "$(MODDABLE)/modules/base/debug/manifest.json",
    "$(MODDABLE)/modules/files/preference/manifest.json",
    SDK_CLIENT_MANIFEST,
  ], { creation: { main: "bench/xs/mqtt-heap-main" } });
  const build = path.join(work, "build-heap");
  fs.mkdirSync(build, { recursive: true });
  const so = path.join(build, "bin", "lin", "mc", "instrument", "xsiot-mqtt-heap", "mc.so");
  const out = path.join(work, "mcsim.out");
  const pidFile = path.join(work, "mcsim.pid");
  const script = [
    mcconfigScript("-i"),
    // mcsim keeps its preferences there: a fresh one for an independent run (docs/moddable.md)
    `rm -f /tmp/modpreferences.json`,
    `xvfb-run -a sh -c 'echo $$ > "$PIDFILE"; exec stdbuf -oL "$MCSIM" "$SO"' > "$OUT" 2>&1 &`,
    `i=0; while [ $i -lt 600 ] && ! grep -q '^##heap-done' "$OUT" 2>/dev/null; do sleep 0.1; i=$((i+1)); done`,
    `[ -s "$PIDFILE" ] && kill "$(cat "$PIDFILE")" 2>/dev/null`,
    `wait`,
    `grep -q '^##heap-done' "$OUT" || { echo "mcsim printed no ##heap-done in 60 s:"; tail -20 "$OUT"; exit 4; }`,
  ].join("\n");
  log("heap: mcconfig -m -p lin -i (instrumented release) + mcsim, under flock " + LOCK);
  const r = await locked(script, { SDKBIN: path.dirname(tools.xst), MCCONFIG: tools.mcconfig, MCSIM: tools.mcsim, BUILD: build, APP: app, LOG: path.join(work, "heap-build.log"), SO: so, OUT: out, PIDFILE: pidFile }, 10 * 60 * 1000);
  if (r.code !== 0) throw new Error("heap run failed: " + r.out.trim());
  const rows = [];
  for (const line of fs.readFileSync(out, "utf8").split("\n")) {
    if (line.startsWith("##heap-error ")) throw new Error("heap app: " + JSON.parse(line.slice(13)));
    if (line.startsWith("##heap ")) rows.push(JSON.parse(line.slice(7)));
  }
  return rows;
}

function median(xs) {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** 64-bit lin: sizeof(txSlot) (xst -v says "slot 32 bytes"); an ESP32's is 16. */
const SLOT_BYTES = 32;

function heapResults(rows) {
  const by = (subject, key) => median(rows.filter((r) => r.subject === subject).map((r) => r[key]));
  const socket = { slots: by("socket", "slotBytes") / SLOT_BYTES, chunks: by("socket", "chunkBytes") };
  const of = (subject) => {
    const slots = by(subject, "slotBytes") / SLOT_BYTES - socket.slots;
    const chunks = by(subject, "chunkBytes") - socket.chunks;
    return { slots, chunks, bytes: slots * SLOT_BYTES + chunks, esp32: slots * 16 + chunks };
  };
  const sdk = of("sdk");
  const subjects = [...new Set(rows.map((r) => r.subject))].filter((s) => s !== "socket" && s !== "sdk");
  return subjects.map((name) => {
    const ours = of(name);
    return {
      name: `mqtt client heap per connected session (${name} vs SDK), XS slots and chunks (mcsim, instrumented)`,
      unit: "bytes",
      value: ours.bytes,
      peer: SDK_NAME,
      peerValue: sdk.bytes,
      ratio: sdk.bytes / ours.bytes,
      engine: "xs",
      notes:
        `ours ${ours.slots} slots + ${ours.chunks} B chunks, SDK ${sdk.slots} slots + ${sdk.chunks} B chunks (median of 3, after a warm-up; ` +
        `a bare socket connection, ${socket.slots} slots + ${socket.chunks} B, subtracted). bytes = slots x 32 (this 64-bit host) + chunks; ` +
        `with an ESP32's 16-byte slots: ours ${ours.esp32} B, SDK ${sdk.esp32} B. Ours with our outbox on PreferenceStore, keep alive 60 s, ` +
        `connected and subscribed. ratio = SDK / ours: above 1 means ours is smaller`,
    };
  });
}

// ---- 3. bytecode of a lin release build ----------------------------------------------------

async function runBytecode(tools, work, clients) {
  const configs = clients.map((c) => ({ name: c.name, entries: c.entries, ...closure(c.entries) }));
  const all = new Map();
  for (const c of configs) for (const [id, file] of c.ours) all.set(id, file);
  // Everything in modules/mqtt too: what a manifest entry "modules/mqtt/*" ships whatever the app imports.
  const mqttDir = path.join(ROOT, "modules", "mqtt");
  const everyMqtt = fs.readdirSync(mqttDir).filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith(".d.ts")).map((f) => "modules/mqtt/" + f.replace(/\.(ts|js)$/, ""));
  for (const id of everyMqtt) all.set(id, path.join(ROOT, id + (fs.existsSync(path.join(ROOT, id + ".ts")) ? ".ts" : ".js")));
  const app = writeApp(work, "xsiot-mqtt-bytecode", all, [SDK_WRAPPER_MANIFEST], {});
  fs.writeFileSync(path.join(app, "main.js"), "// never run: the build is for the sizes of its modules\n");
  const manifestFile = path.join(app, "manifest.json");
  const manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8"));
  manifest.modules["*"] = "./main";
  fs.writeFileSync(manifestFile, JSON.stringify(manifest, null, 2) + "\n");
  const build = path.join(work, "build-bytecode");
  fs.mkdirSync(build, { recursive: true });
  log("bytecode: mcconfig -m -p lin (release), under flock " + LOCK);
  const r = await locked(mcconfigScript(""), { SDKBIN: path.dirname(tools.xst), MCCONFIG: tools.mcconfig, BUILD: build, APP: app, LOG: path.join(work, "bytecode-build.log") }, 10 * 60 * 1000);
  if (r.code !== 0) throw new Error("bytecode build failed: " + r.out.trim());
  const modulesDir = path.join(build, "tmp", "lin", "mc", "release", "xsiot-mqtt-bytecode", "modules");
  const size = (rel) => {
    const f = path.join(modulesDir, rel);
    if (!fs.existsSync(f)) throw new Error("no " + f + " in the build");
    return fs.statSync(f).size;
  };
  const ourSize = (id) => size(id + ".xsb");
  const sdkClient = size(SDK_CLIENT_XSB);
  const sdkWrapper = size(SDK_WRAPPER_XSB);
  const peer = sdkClient + sdkWrapper;
  const peerName = "Moddable SDK mqttclient + its reconnecting wrapper mqtt/js (same build)";
  const results = [];
  const row = (label, ids, extra) => {
    const list = [...ids].sort();
    const total = list.reduce((s, id) => s + ourSize(id), 0);
    results.push({
      name: `mqtt bytecode shipped, ${label}: .xsb of a lin release build`,
      unit: "bytes",
      value: total,
      peer: peerName,
      peerValue: peer,
      ratio: peer / total,
      engine: "xs",
      notes:
        `SDK client ${sdkClient} B + wrapper ${sdkWrapper} B. ${extra} ` +
        list.map((id) => `${id.replace(/^modules\//, "")} ${ourSize(id)}`).join(", ") +
        ". ratio = SDK / ours: above 1 means ours is smaller",
    });
  };
  for (const c of configs) {
    row(`${c.name} app (${c.entries.join(", ")} and what it imports)`, c.ours.keys(), `Host modules imported: ${[...c.host].join(", ") || "none"}.`);
  }
  row("all of modules/mqtt (what a manifest entry modules/mqtt/* ships)", everyMqtt, "");
  return results;
}

// ---- all three ---------------------------------------------------------------------------

const PARTS = ["xst", "heap", "bytecode"];
/** Parts run only when asked for (--only=...): instructions takes minutes under valgrind. */
const OPTIONAL_PARTS = ["instructions"];

/**
 * o: { sliceMs, rounds, filters (case filters), parts (subset of PARTS) }; onOutput(text, label)
 * gets the xst output (##bench lines); returns { results (heap and bytecode rows), errors, skipped }.
 */
async function run(o, onOutput) {
  const tools = findSdk();
  if (!tools.sdk) {
    log(tools.reason);
    return { results: [], errors: [], skipped: tools.reason };
  }
  const parts = o.parts || PARTS;
  const results = [];
  const errors = [];
  if (parts.includes("xst")) {
    log("xst: our client and the SDK's over one in-memory broker, alternating (" + tools.xst + ")");
    // At least 9 rounds: the phases are long next to the other benches' cases and the machine is shared.
    const r = await runXst(tools, { mode: "bench", sliceMs: o.sliceMs, rounds: Math.max(o.rounds, MIN_ROUNDS), filters: o.filters });
    onOutput(r.stdout, "xst");
    results.push(...ownTimeRows(r.stdout));
    if (r.code !== 0 || !/^BENCH-DONE \d+$/m.test(r.stdout)) errors.push(`xst mqtt client bench: exit ${r.code}${r.timedOut ? " (timed out)" : ""}\n${r.stderr.trim()}`);
  }
  if (parts.includes("instructions")) {
    log("instructions: each phase alone on xst under valgrind's cachegrind, per message (deterministic)");
    const r = await runInstructions(tools, o.filters, ourClients().map((c) => c.name));
    if (r.skipped) log(r.skipped);
    results.push(...r.results);
    errors.push(...r.errors);
  }
  const wanted = (name) => !o.filters || !o.filters.length || o.filters.some((f) => name.includes(f));
  if (!parts.includes("heap") && !parts.includes("bytecode")) return { results, errors };
  if (!fs.existsSync(tools.mcconfig)) {
    errors.push(`no ${tools.mcconfig}: the heap and bytecode parts need the SDK's mcconfig`);
    return { results, errors };
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "xsiot-mqtt-moddable-"));
  let keep = false;
  try {
    if (parts.includes("heap") && wanted("mqtt client heap")) {
      try {
        results.push(...heapResults(await runHeap(tools, work)));
      } catch (e) {
        keep = true;
        errors.push(`mqtt client heap: ${e.message} (files kept in ${work})`);
      }
    }
    if (parts.includes("bytecode") && wanted("mqtt bytecode")) {
      try {
        results.push(...(await runBytecode(tools, work, ourClients())));
      } catch (e) {
        keep = true;
        errors.push(`mqtt bytecode: ${e.message} (files kept in ${work})`);
      }
    }
  } finally {
    if (!keep) fs.rmSync(work, { recursive: true, force: true });
  }
  for (const r of results) log(`[xs] ${r.name}: ${r.value} ${r.unit} vs ${r.peerValue}`);
  return { results, errors };
}

const FILE = "bench/xs/mqtt-moddable.js";

/** True when bench/run.js's filters select this bench (or there are none): a filter names this file or its cases. */
function selected(filters) {
  return !filters.length || filters.some((f) => (FILE + " mqtt client on xst, mqtt client heap per connected session, mqtt bytecode shipped").includes(f));
}

module.exports = { run, runXst, selected, findSdk, closure, PARTS, OPTIONAL_PARTS, FILE };

if (require.main === module) {
  const args = process.argv.slice(2);
  const quick = args.includes("--quick");
  const only = args.find((a) => a.startsWith("--only="));
  const o = { sliceMs: quick ? 50 : 150, rounds: quick ? 3 : 5, filters: args.filter((a) => !a.startsWith("--")), parts: only ? only.slice(7).split(",") : PARTS };
  run(o, (text) => process.stdout.write(text)).then(
    (r) => {
      for (const x of r.results) process.stdout.write("##bench " + JSON.stringify(x) + "\n");
      if (r.errors.length) process.stdout.write("errors:\n  " + r.errors.join("\n  ") + "\n");
      process.exit(r.errors.length ? 1 : 0);
    },
    (e) => {
      process.stderr.write(String(e && e.stack ? e.stack : e) + "\n");
      process.exit(1);
    },
  );
}
