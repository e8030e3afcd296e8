#!/usr/bin/env node
// Memory per ESP32 target, measured in Moddable's simulator (issue 17; docs/moddable.md,
// "Memory per target"). For each target it:
//
//   1. asks mcconfig which XS `creation` the device build gets (`mcconfig -p <target>` without
//      -m writes the makefile only; its CREATION line is what xsl links in: the SDK's device and
//      target manifests merged with ours);
//   2. builds the lin (simulator) app with those limits, instrumented (`mcconfig -m -i -p lin`),
//      through a wrapper manifest that includes manifest.json unchanged and starts
//      bench/mcsim/probe.js before src/main (the probe prints the SDK's instrumentation);
//   3. runs it in `xvfb-run -a mcsim` against a mosquitto of its own (127.0.0.1: MQTT 5 over TLS
//      for the device, plain MQTT for the tools), for --minutes: a CoAP observer
//      (coap-client-notls -s), configuration commands (bin/xs-iot.js config, over MQTT and
//      CoAP), Home Assistant discovery (mosquitto_sub), five sensors (the lin build's board);
//   4. reports slots and chunk bytes at peak, the headroom against the target's limits,
//      readings acknowledged, and whether our modules were preloaded.
//
// The app's protocol is MQTT 5 over TLS unless --set says otherwise. With --set protocol=coap
// (and no coap=) its telemetry goes to a CoAP sink in this process (sim/node/embedded.ts
// startCoapSink, 127.0.0.1, answering 2.04) and the commands planned over MQTT go over CoAP;
// with --set protocol=mqttsn (and no gateway=) to our MQTT-SN gateway (`bin/xs-iot.js gateway`,
// 127.0.0.1, a child of this process stopped by its PID) bridging to the run's mosquitto.
// Readings delivered are counted where they arrive (the sink, or the broker's tele topic:
// distinct SenML times), beside what the device says was acknowledged.
//
// One target at a time, each under `flock /tmp/mcsim.lock` (mcsim's preference file is shared);
// the lock is released between targets.
//
//   node tools/mcsim-memory.js [--target T]... [--minutes M] [--interval S] [--out FILE] [--no-build] [--set K=V]...
//   T: esp32 | esp32/esp32c3 | esp32/xiao_esp32c3 | esp32/esp32s3 | esp32/m5atom_lite (default: all)
//
// XSIOT_MCSIM_GDB=1: mcsim under gdb (bench/mcsim/crash.gdb), a crash's native stack in the result.
// Needs the Moddable SDK ($MODDABLE, its build/bin/lin/release tools), xvfb-run, mosquitto,
// mosquitto_sub, coap-client-notls, openssl. Not part of `npm test`.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawn, spawnSync } = require("child_process");
const net = require("net");
const dgram = require("dgram");
const crypto = require("crypto");

const ROOT = path.resolve(__dirname, "..");
const TARGETS = ["esp32", "esp32/esp32c3", "esp32/xiao_esp32c3", "esp32/esp32s3", "esp32/m5atom_lite"];
const LOCK = "/tmp/mcsim.lock";
const WORK = path.join(os.tmpdir(), "xs-iot-mcsim");
/** sizeof(txSlot) in the lin build (64-bit: next 8, kind/flag/ID 8, value 16) and on the ESP32 (32-bit). */
const LIN_SLOT = 32;
const ESP32_SLOT = 16;

function usage(code) {
  process.stdout.write(
    "usage: node tools/mcsim-memory.js [--target T]... [--minutes M] [--interval S] [--out FILE] [--no-build]\n" +
      `  T: ${TARGETS.join(" | ")} (default: all, one after the other)\n` +
      "  --minutes M   how long the app runs per target (default 10)\n" +
      "  --interval S  sampling and telemetry period of the app, seconds (default 5)\n" +
      `  --out FILE    results as JSON (default ${path.join(WORK, "results.json")})\n` +
      "  --no-build    run the last build of each target again\n" +
      "  --preload     preload every module of ours, whatever manifest.json says (an experiment:\n" +
      "                what the figures would be once all are preload-safe)\n" +
      "  --except P    with --preload: not the modules whose name starts with P (repeatable)\n" +
      "  --no-tls      MQTT without TLS (to tell a TLS problem from another)\n" +
      "  --set K=V     an mcconfig setting of the app instead of the run's own (src/main.ts; e.g.\n" +
      "                protocol=coap: no MQTT, telemetry to a CoAP sink started here;\n" +
      "                protocol=mqttsn: through our MQTT-SN gateway started here; telemetry=120: a\n" +
      "                telemetry period longer than --interval; sleep=light: sleep.mode), repeatable\n" +
      "env: XSIOT_MCSIM_GDB=1 runs mcsim under gdb (a crash's native stack in the result; needs gdb);\n" +
      "     XSIOT_MCSIM_DEBUG=1 a debug build (XS names the file and line of an exception)\n" +
      "needs: export MODDABLE=/path/to/moddable PATH=$PATH:$MODDABLE/build/bin/lin/release\n",
  );
  process.exit(code);
}

function parseArgs(argv) {
  const o = { targets: [], minutes: 10, interval: 5, out: path.join(WORK, "results.json"), build: true, single: false, preload: false, except: [], set: [], tls: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(2);
      return argv[++i];
    };
    if (a === "--target") o.targets.push(next());
    else if (a === "--minutes") o.minutes = Number(next());
    else if (a === "--interval") o.interval = Number(next());
    else if (a === "--out") o.out = path.resolve(next());
    else if (a === "--no-build") o.build = false;
    else if (a === "--preload") o.preload = true;
    else if (a === "--except") o.except.push(next());
    else if (a === "--set") o.set.push(next());
    else if (a === "--no-tls") o.tls = false;
    else if (a === "--single") o.single = true; // internal: this process holds the lock for one target
    else if (a === "--help" || a === "-h") usage(0);
    else {
      process.stderr.write(`mcsim-memory: unknown argument ${a}\n`);
      usage(2);
    }
  }
  if (!o.targets.length) o.targets = TARGETS.slice();
  for (const t of o.targets) if (!TARGETS.includes(t)) (process.stderr.write(`mcsim-memory: unknown target ${t}\n`), usage(2));
  if (!(o.minutes > 0) || !(o.interval > 0)) usage(2);
  return o;
}

function which(name) {
  const r = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

function tools() {
  const moddable = process.env.MODDABLE;
  if (!moddable || !fs.existsSync(path.join(moddable, "build/bin/lin/release/mcconfig"))) {
    throw new Error("no Moddable SDK: export MODDABLE=/path/to/moddable PATH=$PATH:$MODDABLE/build/bin/lin/release (docs/moddable.md)");
  }
  const bin = path.join(moddable, "build/bin/lin/release");
  const t = { moddable, mcconfig: path.join(bin, "mcconfig"), mcsim: path.join(bin, "mcsim") };
  for (const name of ["xvfb-run", "mosquitto", "mosquitto_sub", "coap-client-notls", "openssl", "flock", ...(process.env.XSIOT_MCSIM_GDB ? ["gdb", "stdbuf"] : [])]) {
    t[name] = which(name);
    if (!t[name]) throw new Error(`${name} is not installed`);
  }
  return t;
}

function log(target, line) {
  process.stdout.write(`[${target}] ${line}\n`);
}

// ---------------------------------------------------------------------------------------------
// creation limits

/** The XS creation a device build of `target` gets: CREATION = -c chunk,chunkInc,heap,heapInc,stack,keys,keysInc,name,symbol,parser,table,static,main,nativeStack. */
function deviceCreation(t, target) {
  const gen = path.join(WORK, "gen");
  fs.mkdirSync(gen, { recursive: true });
  const r = spawnSync(t.mcconfig, ["-p", target, "-o", gen, path.join(ROOT, "manifest.json")], { cwd: ROOT, encoding: "utf8", env: process.env });
  if (r.status !== 0) throw new Error(`mcconfig -p ${target} failed:\n${r.stdout}${r.stderr}`);
  const makefile = path.join(gen, "tmp", target, "release", path.basename(ROOT), "makefile");
  const m = /^CREATION = -c (.*)$/m.exec(fs.readFileSync(makefile, "utf8"));
  if (!m) throw new Error(`no CREATION line in ${makefile}`);
  const v = m[1].split(",");
  const n = (i) => Number(v[i]);
  return {
    chunk: { initial: n(0), incremental: n(1) },
    heap: { initial: n(2), incremental: n(3) },
    stack: n(4),
    keys: { initial: n(5), incremental: n(6), name: n(7), symbol: n(8) },
    parser: { buffer: n(9), table: n(10) },
    static: n(11),
  };
}

/** What the target's limits mean, in words, and how the lin run reproduces them. */
function describeLimits(c) {
  if (c.static > 0) {
    return {
      kind: "static",
      text: `one static block of ${c.static} B for chunks, slots and stack (chunks from ${c.chunk.initial} B +${c.chunk.incremental}, slots from ${c.heap.initial} +${c.heap.incremental}, stack ${c.stack} slots)`,
    };
  }
  if (c.chunk.incremental === 0 && c.heap.incremental === 0) return { kind: "fixed", text: `fixed: chunks ${c.chunk.initial} B, ${c.heap.initial} slots, stack ${c.stack} slots` };
  return { kind: "grows", text: `grows from the system heap: chunks ${c.chunk.initial} B +${c.chunk.incremental}, slots ${c.heap.initial} +${c.heap.incremental}, stack ${c.stack} slots` };
}

// ---------------------------------------------------------------------------------------------
// peers

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = s.address().port;
      s.close(() => {
        const u = dgram.createSocket("udp4");
        u.once("error", () => resolve(freePort()));
        u.bind(port, "127.0.0.1", () => u.close(() => resolve(port)));
      });
    });
  });
}

/** An RSA CA and a server certificate for localhost / 127.0.0.1 (the SDK's TLS client verifies RSA chains). */
function makeCertificates(t, dir) {
  const ssl = (args) => {
    const r = spawnSync(t.openssl, args, { cwd: dir, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
  };
  fs.writeFileSync(path.join(dir, "server.ext"), "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n");
  ssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=xs-iot mcsim CA"]);
  ssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
  ssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext"]);
  ssl(["x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der"]);
  for (const f of ["ca.pem", "server.pem", "server.key"]) fs.chmodSync(path.join(dir, f), 0o644); // throw-away test material
  return { caDer: fs.readFileSync(path.join(dir, "ca.der")) };
}

function startProcess(file, args, options = {}) {
  const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], detached: true, ...options });
  child.output = "";
  child.stdout.on("data", (b) => (child.output += b.toString()));
  child.stderr.on("data", (b) => (child.output += b.toString()));
  child.exited = new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
  return child;
}

/** Stops a process this tool started, with its process group (xvfb-run starts Xvfb and mcsim under it). */
async function stop(child, signal = "SIGINT") {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    return;
  }
  const timeout = new Promise((r) => setTimeout(() => r("timeout"), 5000));
  if ((await Promise.race([child.exited, timeout])) === "timeout") {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
    await child.exited;
  }
}

async function startMosquitto(t, dir, tlsPort, plainPort) {
  const conf = path.join(dir, "mosquitto.conf");
  fs.writeFileSync(
    conf,
    [
      "per_listener_settings false",
      "allow_anonymous true",
      "persistence false",
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${path.join(dir, "ca.pem")}`,
      `certfile ${path.join(dir, "server.pem")}`,
      `keyfile ${path.join(dir, "server.key")}`,
      "tls_version tlsv1.2",
      `listener ${plainPort} 127.0.0.1`,
      "",
    ].join("\n"),
  );
  const broker = startProcess(t.mosquitto, ["-c", conf]);
  for (let i = 0; i < 50; i++) {
    if (await canConnect(plainPort)) return broker;
    await sleep(100);
  }
  await stop(broker, "SIGTERM");
  throw new Error("mosquitto did not start:\n" + broker.output);
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** sim/node/embedded.ts (the CoAP sink), bundled on first use. */
let embedded;
function hostSim() {
  if (!embedded) embedded = require("./run-ts").loadTs(path.join(ROOT, "sim/node/embedded.ts"));
  return embedded;
}

/** modules/telemetry/senml.ts (decodeSenmlJson, decodeSenmlCbor: checked and resolved packs), bundled on first use. */
let senml;
function senmlModule() {
  if (!senml) senml = require("./run-ts").loadTs(path.join(ROOT, "modules/telemetry/senml.ts"));
  return senml;
}

/**
 * The readings in a SenML message: adds each resolved record's time (RFC 8428 §4.6: base time
 * plus its own; one reading is one time) to `times`. Returns the records counted, 0 for what
 * does not decode as a pack of its Content-Format (110 JSON, 112 CBOR).
 */
function addReadingTimes(payload, contentFormat, times) {
  const m = senmlModule();
  const r = contentFormat === 112 ? m.decodeSenmlCbor(payload) : m.decodeSenmlJson(payload);
  if (!r.ok) return 0;
  for (const rec of r.records) times.add(rec.t);
  return r.records.length;
}

/** Telemetry as it arrives: a CoAP sink's POSTs or the broker's tele messages. */
function deliveryCounter(via) {
  const times = new Set();
  return {
    via,
    messages: 0,
    undecoded: 0,
    add(payload, contentFormat) {
      this.messages++;
      if (!addReadingTimes(payload, contentFormat, times)) this.undecoded++;
    },
    get readings() {
      return times.size;
    },
    toJSON() {
      return { via, messages: this.messages, readings: times.size, undecoded: this.undecoded };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// build

function wrapperManifest(creation, preload) {
  return {
    ...(preload ? { preload } : {}),
    "//": "Generated by tools/mcsim-memory.js: the firmware's manifest with one target's XS limits, instrumented, with the memory probe first.",
    include: [
      path.join(ROOT, "manifest.json"),
      "$(MODDABLE)/modules/base/instrumentation/manifest.json",
      "$(MODDABLE)/modules/base/debug/manifest.json",
      "$(MODDABLE)/modules/files/file/manifest.json",
    ],
    typescript: { compiler: path.join(ROOT, "node_modules/.bin/tsc") },
    creation: {
      static: 0,
      chunk: creation.chunk,
      heap: creation.heap,
      stack: creation.stack,
      keys: creation.keys,
      parser: creation.parser,
      main: "bench/mcsim/main",
    },
    // The NVS-shaped preference of bench/mcsim/preference.js instead of the lin one, which keeps
    // every stored entry in the XS heap (see that file): the device's storage costs no heap.
    // ("~" leaves a source out of the build; mcconfig keeps the first file it meets for a name.)
    modules: {
      "~": ["$(MODDABLE)/modules/files/preference/lin/preference"],
      preference: path.join(ROOT, "bench/mcsim/preference"),
      "bench/mcsim/main": path.join(ROOT, "bench/mcsim/main"),
      "bench/mcsim/probe": path.join(ROOT, "bench/mcsim/probe"),
    },
  };
}

/** The build directory: one for every target (the C objects are the same; only xsl's output changes with the limits). */
const BUILD = path.join(WORK, "build");
const APP = "xsiot-memory";
/** mcconfig's output folder: -i (release, instrumented) or -d (debug: XS reports exceptions with their JS stack). */
const MODE = () => (process.env.XSIOT_MCSIM_DEBUG ? "debug" : "instrument");

/** Our modules in the lin build (the makefile mcconfig writes without -m). */
function linModules(t) {
  const gen = path.join(WORK, "gen");
  const r = spawnSync(t.mcconfig, ["-p", "lin", "-o", gen, path.join(ROOT, "manifest.json")], { cwd: ROOT, encoding: "utf8", env: process.env });
  if (r.status !== 0) throw new Error(`mcconfig -p lin failed:\n${r.stdout}${r.stderr}`);
  const text = fs.readFileSync(path.join(gen, "tmp/lin/mc/release", path.basename(ROOT), "makefile"), "utf8");
  return makeList(text, "MODULES")
    .map((l) => l.replace("$(MODULES_DIR)/", "").replace(/\.xsb$/, ""))
    .filter((m) => /^(src|modules|boards|sim)\//.test(m));
}

function build(t, target, creation, settings, preload) {
  const dir = path.join(BUILD, APP);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(wrapperManifest(creation, preload), null, 1) + "\n");
  const tmp = path.join(BUILD, `tmp/lin/mc/${MODE()}`, APP);
  // xsl's output depends on CREATION, which make does not track: drop it so it is linked again.
  for (const f of ["mc.xs.c", "mc.xs.c.o"]) fs.rmSync(path.join(tmp, f), { force: true });
  // -t build: make's "build" target only. A debug build's default target would also run the
  // makefile's launch step, whose `pkill mcsim` stops every mcsim on the machine.
  const args = ["-m", process.env.XSIOT_MCSIM_DEBUG ? "-d" : "-i", "-t", "build", "-p", "lin", "-o", BUILD, "manifest.json", ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)];
  log(target, `build: mcconfig ${args.map((a) => (a.startsWith("tlsca=") ? "tlsca=<CA>" : a)).join(" ")}`);
  const r = spawnSync(t.mcconfig, args, { cwd: dir, encoding: "utf8", env: process.env, maxBuffer: 64 << 20 });
  fs.writeFileSync(path.join(WORK, "build.log"), r.stdout + r.stderr);
  if (r.status !== 0) throw new Error(`the lin build failed (log: ${path.join(WORK, "build.log")}):\n${(r.stdout + r.stderr).split("\n").slice(-20).join("\n")}`);
  const so = path.join(BUILD, `bin/lin/mc/${MODE()}`, APP, "mc.so");
  if (!fs.existsSync(so)) throw new Error(`no ${so} after the build`);
  return { so, preload: preloadReport(path.join(tmp, "makefile")) };
}

/** A make variable's list (`NAME =\\` and the tab-indented lines after it). */
function makeList(text, name) {
  const lines = text.split("\n");
  const i = lines.indexOf(name + " =\\");
  const out = [];
  if (i < 0) return out;
  for (let j = i + 1; j < lines.length && lines[j].startsWith("\t"); j++) {
    out.push(lines[j].trim().replace(/\\$/, ""));
    if (!lines[j].endsWith("\\")) break;
  }
  return out;
}

/** Which of our modules the build preloads (the makefile's PRELOADS, xsl -p). */
function preloadReport(makefile) {
  const text = fs.readFileSync(makefile, "utf8");
  const preloaded = new Set(makeList(text, "PRELOADS").map((l) => l.replace(/^-p /, "").replace(/\.xsb$/, "")));
  const ours = makeList(text, "MODULES")
    .map((l) => l.replace("$(MODULES_DIR)/", "").replace(/\.xsb$/, ""))
    .filter((m) => /^(src|modules|boards|sim)\//.test(m));
  const missing = ours.filter((m) => !preloaded.has(m));
  return { ours: ours.length, preloaded: ours.length - missing.length, notPreloaded: missing };
}

// ---------------------------------------------------------------------------------------------
// the run

function configCommand(t, args, timeoutS) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, "bin/xs-iot.js"), "config", ...args, "--timeout", String(timeoutS)], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (b) => (out += b));
    child.stderr.on("data", (b) => (out += b));
    child.on("close", (code) => resolve({ code, out: out.trim() }));
  });
}

/** Parses the run's stdout: probe samples, the SDK's instruments lines, readings, acknowledgements, aborts. */
function parseRun(text) {
  const samples = [];
  const instruments = [];
  let keys = null;
  const acked = new Set();
  let readings = 0;
  let online = 0;
  let abort = null;
  const nativeStack = [];
  const errors = [];
  for (const line of text.split("\n")) {
    let m;
    if ((m = /^##(mem|live) t=(\d+) slots=(\d+) chunks=(\d+) stack=(\d+) keys=(\d+)/.exec(line))) {
      samples.push({ live: m[1] === "live", t: +m[2], slots: +m[3] / LIN_SLOT, chunks: +m[4], stack: +m[5] / LIN_SLOT, keys: +m[6] });
    } else if (line.startsWith("instruments key: ")) keys = line.slice(17).split(",");
    else if (line.startsWith("instruments: ") && keys) {
      const v = line.slice(13).split(",").map(Number);
      const o = {};
      keys.forEach((k, i) => (o[k] = v[i]));
      instruments.push(o);
    } else if ((m = /^telemetry acknowledged: reading ([\d,]+)/.exec(line))) for (const s of m[1].split(",")) acked.add(+s);
    else if (/^reading \d+:/.test(line)) readings++;
    else if (line === "state: online") online++;
    else if (!abort && /XS abort|memory full|allocation: failed|Chunk allocation: .* failed|the app did not start|^Segmentation fault|received signal SIG(SEGV|ABRT|BUS)/.test(line)) abort = line.trim();
    else if (abort && /^#\d+ /.test(line) && nativeStack.length < 12) nativeStack.push(line.replace(/ at \S+$/, "").trim()); // gdb's bt (XSIOT_MCSIM_WRAP)
    else if (/read-only|not writable|threw|unhandled/.test(line) && errors.length < 20) errors.push(line.trim());
  }
  return { samples, instruments, acked: acked.size, readings, online, abort, nativeStack, errors };
}

/**
 * Peak memory. "Live": the probe's samples right after a collection it forced (what the app
 * held then); "in use": every sample, garbage not yet collected included (it fills a fixed
 * heap before each collection); "allocated": what the machine holds from the host (the SDK's
 * instruments lines, "available"), which grows only where the target's limits let it.
 */
function peaks(samples, instruments) {
  const p = { liveSlots: 0, liveChunks: 0, liveSamples: 0, inUseSlots: 0, inUseChunks: 0, stack: 0, keys: 0, allocSlots: 0, allocChunks: 0, bootSlots: 0, bootChunks: 0 };
  for (const s of samples) {
    p.stack = Math.max(p.stack, s.stack);
    p.keys = Math.max(p.keys, s.keys);
    p.inUseSlots = Math.max(p.inUseSlots, s.slots);
    p.inUseChunks = Math.max(p.inUseChunks, s.chunks);
    if (s.live && s.t > 0) {
      if (!p.liveSamples) {
        p.bootSlots = s.slots;
        p.bootChunks = s.chunks;
      }
      p.liveSamples++;
      p.liveSlots = Math.max(p.liveSlots, s.slots);
      p.liveChunks = Math.max(p.liveChunks, s.chunks);
    }
  }
  for (const o of instruments) {
    p.allocSlots = Math.max(p.allocSlots, (o["Slot available"] || 0) / LIN_SLOT);
    p.allocChunks = Math.max(p.allocChunks, o["Chunk available"] || 0);
  }
  for (const k of Object.keys(p)) p[k] = Math.round(p[k]);
  return p;
}

/** Headroom against the target's limits (fractions; null where the target sets none). */
function headroom(creation, p) {
  const limits = describeLimits(creation);
  if (limits.kind === "fixed") {
    return { slots: 1 - p.liveSlots / creation.heap.initial, chunks: 1 - p.liveChunks / creation.chunk.initial, block: null };
  }
  if (limits.kind === "static") {
    // On the device the block holds the stack, the slots XS ever allocated (slots are never
    // given back) and the chunk heap; lin grows both from the C heap with the same steps, so
    // the block the run would have needed is their sum at 16 bytes a slot. Chunk bytes are the
    // lin build's (64-bit: larger than the ESP32's for the same objects).
    // A lower figure: the device compacts the chunk heap and gives its free end to the slots
    // when they run out (xs/platforms/mc/xsHosts.c), so the chunks it must hold are nearer
    // the live ones than the most the run ever allocated.
    const used = ESP32_SLOT * (creation.stack + p.allocSlots) + p.allocChunks;
    const usedLive = ESP32_SLOT * (creation.stack + p.allocSlots) + p.liveChunks;
    return { slots: null, chunks: null, block: 1 - used / creation.static, blockUsed: used, blockLive: 1 - usedLive / creation.static, blockUsedLive: usedLive };
  }
  return { slots: null, chunks: null, block: null };
}

async function runTarget(t, target, o) {
  fs.mkdirSync(WORK, { recursive: true });
  const runDir = fs.mkdtempSync(path.join(WORK, "run-"));
  fs.chmodSync(runDir, 0o755); // mosquitto started as root reads its files as the mosquitto user
  const creation = deviceCreation(t, target);
  const limits = describeLimits(creation);
  log(target, `XS limits of the device build: ${limits.text}`);
  const [tlsPort, plainPort, coapPort] = [await freePort(), await freePort(), await freePort()];
  const certs = makeCertificates(t, runDir);
  const key = crypto.randomBytes(32).toString("hex");
  const id = "mem-" + target.replace(/\W/g, "-");
  const settings = {
    broker: o.tls ? `mqtts://localhost:${tlsPort}` : `mqtt://localhost:${plainPort}`,
    ...(o.tls ? { tlsca: certs.caDer.toString("base64") } : {}),
    protocol: "mqtt5",
    interval: o.interval,
    id,
    key,
    coapport: coapPort,
    homeassistant: 1,
  };
  for (const kv of o.set) settings[kv.slice(0, kv.indexOf("="))] = kv.slice(kv.indexOf("=") + 1);
  // Where telemetry arrives. CoAP: a sink of ours, started now (its port goes into the build).
  // MQTT-SN: our gateway on a port chosen now, started with the broker. MQTT: the broker.
  let sink;
  let gatewayPort;
  const ownSink = settings.protocol === "coap" && !o.set.some((kv) => kv.startsWith("coap="));
  const delivered = deliveryCounter(ownSink ? "coap sink" : settings.protocol === "coap" ? "not counted (coap= given)" : "broker");
  if (ownSink) {
    sink = await hostSim().startCoapSink("tele", (m) => delivered.add(m.payload, m.contentFormat));
    settings.coap = sink.url;
    log(target, `CoAP telemetry sink (sim/node/embedded.ts) on ${sink.url}`);
  }
  if (settings.protocol === "mqttsn" && !o.set.some((kv) => kv.startsWith("gateway="))) {
    gatewayPort = await freePort();
    settings.gateway = `udp://127.0.0.1:${gatewayPort}`;
  }
  let built;
  const so = path.join(BUILD, `bin/lin/mc/${MODE()}`, APP, "mc.so");
  // src/main is the entry: preloading runs a module body at build time, and its body starts the app.
  const preload = o.preload ? linModules(t).filter((m) => m !== "src/main" && !o.except.some((p) => m.startsWith(p))) : undefined;
  if (o.build) built = build(t, target, creation, settings, preload);
  else if (fs.existsSync(so)) built = { so, preload: preloadReport(path.join(BUILD, `tmp/lin/mc/${MODE()}`, APP, "makefile")) };
  else throw new Error(`--no-build: no earlier build at ${so}`);
  log(target, `our modules preloaded: ${built.preload.preloaded} of ${built.preload.ours}`);

  const broker = await startMosquitto(t, runDir, tlsPort, plainPort);
  const durationS = Math.round(o.minutes * 60);
  let gateway;
  if (gatewayPort) {
    // node itself (not an npx wrapper), so that stop() ends the process it started.
    gateway = startProcess(process.execPath, [path.join(ROOT, "bin/xs-iot.js"), "gateway", "--port", String(gatewayPort), "--broker", `mqtt://127.0.0.1:${plainPort}`, "--duration", String(durationS + 60)], { cwd: ROOT });
    // Listening before the device boots: else its first CONNECT is lost and it connects a Tretry later.
    for (let i = 0; i < 100 && !/gateway: listening/.test(gateway.output) && gateway.exitCode === null; i++) await sleep(100);
    if (!/gateway: listening/.test(gateway.output)) {
      await stop(gateway, "SIGTERM");
      await stop(broker, "SIGTERM");
      throw new Error("the MQTT-SN gateway did not start:\n" + gateway.output);
    }
    log(target, `MQTT-SN gateway (bin/xs-iot.js gateway, pid ${gateway.pid}) on udp://127.0.0.1:${gatewayPort} -> mqtt://127.0.0.1:${plainPort}`);
  }
  // The telemetry that reaches the broker (each message's topic and payload in hex).
  const tele = delivered.via === "broker" ? startProcess(t.mosquitto_sub, ["-h", "127.0.0.1", "-p", String(plainPort), "-t", "#", "-F", "%t %x", "-W", String(durationS + 30)]) : undefined;
  const discovery = startProcess(t.mosquitto_sub, ["-h", "127.0.0.1", "-p", String(plainPort), "-t", "homeassistant/#", "-v", "-W", String(durationS + 30)]);
  // The app's flash starts empty: mcsim's own preferences and bench/mcsim/preference.js's entries.
  fs.rmSync("/tmp/modpreferences.json", { force: true });
  fs.rmSync("/tmp/xs-iot-mcsim-prefs", { recursive: true, force: true });
  const started = Date.now();
  // XSIOT_MCSIM_GDB=1 runs mcsim under gdb (bench/mcsim/crash.gdb: a crash's native stack goes
  // into the output and the result); XSIOT_MCSIM_WRAP="cmd args" runs it under any other command.
  const wrap = process.env.XSIOT_MCSIM_GDB
    ? ["gdb", "-q", "-batch", "-x", path.join(ROOT, "bench/mcsim/crash.gdb"), "--args", "stdbuf", "-oL"]
    : process.env.XSIOT_MCSIM_WRAP
      ? process.env.XSIOT_MCSIM_WRAP.split(" ")
      : ["stdbuf", "-oL"];
  const sim = startProcess(t["xvfb-run"], ["-a", ...wrap, t.mcsim, built.so], { cwd: runDir });
  const commands = [];
  let observer;
  const via = { mqtt: `mqtt://127.0.0.1:${plainPort}`, coap: `coap://127.0.0.1:${coapPort}` };
  // Configuration commands at fixed fractions of the run; a connectivity change (keep-alive)
  // makes the device reconnect under a safe apply, and is changed back later.
  const plan = [
    [0.08, "mqtt", ["get"]],
    [0.16, "coap", ["ping"]],
    [0.3, "mqtt", ["patch", "mqtt.keepAliveS=45"]],
    [0.45, "coap", ["get"]],
    [0.6, "mqtt", ["sleep-prevent", "120"]],
    [0.7, "mqtt", ["sleep-allow"]],
    [0.8, "mqtt", ["patch", "mqtt.keepAliveS=60"]],
    [0.9, "coap", ["ping"]],
  ];
  // With protocol=coap the device has no MQTT: every command goes over CoAP.
  if (settings.protocol === "coap") for (const step of plan) step[1] = "coap";
  const timers = [];
  for (const [at, transport, args] of plan) {
    timers.push(
      setTimeout(async () => {
        const r = await configCommand(t, ["--device", id, "--via", via[transport], "--key", key, ...args], 20);
        commands.push({ at: Math.round((Date.now() - started) / 1000), via: transport, command: args.join(" "), code: r.code, answer: r.out.split("\n")[0].slice(0, 120) });
        log(target, `config ${args.join(" ")} via ${transport}: exit ${r.code}${r.code ? " " + r.out.split("\n")[0].slice(0, 100) : ""}`);
      }, at * durationS * 1000),
    );
  }
  timers.push(
    setTimeout(() => {
      observer = startProcess(t["coap-client-notls"], ["-m", "get", "-s", String(Math.max(10, durationS - 40)), "-B", String(durationS), `coap://127.0.0.1:${coapPort}/sensors/temperature`]);
    }, 20000),
  );
  const progress = setInterval(() => {
    const r = parseRun(sim.output);
    const p = peaks(r.samples, r.instruments);
    const el = Math.round((Date.now() - started) / 1000);
    log(target, `${Math.floor(el / 60)}:${String(el % 60).padStart(2, "0")} / ${o.minutes} min: readings ${r.readings}, acknowledged ${r.acked}; live at collection: ${p.liveSlots} slots, ${p.liveChunks} chunk bytes${r.abort ? "; ABORT: " + r.abort : ""}`);
  }, 30000);
  const ended = await Promise.race([sim.exited.then(() => "exited"), sleep(durationS * 1000).then(() => "time")]);
  clearInterval(progress);
  for (const tm of timers) clearTimeout(tm);
  await stop(observer);
  await stop(sim);
  await stop(discovery, "SIGTERM");
  await stop(tele, "SIGTERM");
  await stop(gateway, "SIGTERM");
  await stop(broker, "SIGTERM");
  sink?.close();
  if (gateway) fs.writeFileSync(path.join(runDir, "gateway.out"), gateway.output);
  if (tele) {
    for (const line of tele.output.split("\n")) {
      const [topic, hex] = line.split(" ");
      if (!hex || !topic.endsWith(`/${id}/tele`)) continue;
      const payload = Buffer.from(hex, "hex");
      delivered.add(payload, payload[0] === 0x5b ? 110 : 112); // '[': SenML JSON, else CBOR (RFC 8428 §12.3)
    }
  }
  const runSeconds = Math.round((Date.now() - started) / 1000);
  fs.writeFileSync(path.join(runDir, "mcsim.out"), sim.output);

  const r = parseRun(sim.output);
  const p = peaks(r.samples, r.instruments);
  const h = headroom(creation, p);
  const discoveryTopics = new Set(discovery.output.split("\n").filter((l) => l.startsWith("homeassistant/")).map((l) => l.split(" ")[0]));
  // coap-client prints each notification's payload, a SenML pack, with no separator.
  const notifications = observer ? (observer.output.match(/\[\{"bn"/g) || []).length : 0;
  const result = {
    target,
    limits: limits.text,
    kind: limits.kind,
    creation,
    minutes: o.minutes,
    intervalS: o.interval,
    ranSeconds: runSeconds,
    ended: ended === "exited" ? "mcsim exited" : "ran to the end",
    abort: r.abort,
    nativeStack: r.nativeStack.length ? r.nativeStack : undefined,
    readings: r.readings,
    acknowledged: r.acked,
    delivered: delivered.toJSON(),
    online: r.online,
    preloaded: built.preload,
    preloadForced: o.preload ? { except: o.except } : undefined,
    settings: o.set.length ? o.set : undefined,
    tls: o.tls,
    peak: p,
    headroom: h,
    discoveryConfigs: discoveryTopics.size,
    observeNotifications: notifications,
    observeOutput: observer ? observer.output.split("\n").slice(0, 3).join(" | ").slice(0, 200) : "",
    commands,
    errors: r.errors,
    output: path.join(runDir, "mcsim.out"),
  };
  log(target, summary(result));
  return result;
}

function pct(x) {
  return x === null || x === undefined ? "-" : `${(100 * x).toFixed(0)}%`;
}

function summary(r) {
  const p = r.peak;
  const parts = [
    r.abort ? `ABORTED: ${r.abort}` : `ran ${r.ranSeconds} s`,
    `live at collection ${p.liveSlots} slots / ${p.liveChunks} B chunks`,
    `allocated ${p.allocSlots} slots / ${p.allocChunks} B`,
    `stack peak ${p.stack} slots`,
    r.kind === "fixed" ? `headroom slots ${pct(r.headroom.slots)}, chunks ${pct(r.headroom.chunks)}` : r.kind === "static" ? `static block: ${r.headroom.blockUsed} of ${r.creation.static} B, headroom ${pct(r.headroom.block)} (with live chunks: ${r.headroom.blockUsedLive} B, ${pct(r.headroom.blockLive)})` : "no fixed limit",
    `readings ${r.readings}, acknowledged ${r.acknowledged}, delivered ${r.delivered ? `${r.delivered.readings} in ${r.delivered.messages} messages (${r.delivered.via})` : "-"}`,
    `HA configs ${r.discoveryConfigs}, observe notifications ${r.observeNotifications}`,
    `commands ok ${r.commands.filter((c) => c.code === 0).length}/${r.commands.length}`,
    `preloaded ${r.preloaded.preloaded}/${r.preloaded.ours}`,
  ];
  return parts.join("; ");
}

function table(results) {
  const rows = ["| target | limits | live slots (peak) | live chunk bytes (peak) | headroom | readings acked | delivered | preloaded | result |", "|---|---|---|---|---|---|---|---|---|"];
  for (const r of results) {
    const p = r.peak;
    const hr = r.kind === "fixed" ? `slots ${pct(r.headroom.slots)}, chunks ${pct(r.headroom.chunks)}` : r.kind === "static" ? `block ${pct(r.headroom.block)} (${pct(r.headroom.blockLive)} with live chunks)` : "grows";
    rows.push(`| ${r.target} | ${r.limits} | ${p.liveSlots} | ${p.liveChunks} | ${hr} | ${r.acknowledged} of ${r.readings} | ${r.delivered.readings} (${r.delivered.via}) | ${r.preloaded.preloaded}/${r.preloaded.ours} | ${r.abort ? "aborted: " + r.abort : `ran ${r.ranSeconds} s`} |`);
  }
  return rows.join("\n");
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const t = tools();
  fs.mkdirSync(WORK, { recursive: true });
  if (o.single) {
    // This process holds /tmp/mcsim.lock for one target (the parent runs each under flock).
    const r = await runTarget(t, o.targets[0], o);
    process.stdout.write("##result " + JSON.stringify(r) + "\n");
    return 0;
  }
  const results = [];
  for (const target of o.targets) {
    log(target, `waiting for ${LOCK} (other engineers' mcsim runs)`);
    const args = [LOCK, process.execPath, __filename, "--single", "--target", target, "--minutes", String(o.minutes), "--interval", String(o.interval)];
    if (!o.build) args.push("--no-build");
    if (o.preload) args.push("--preload", ...o.except.flatMap((e) => ["--except", e]));
    for (const kv of o.set) args.push("--set", kv);
    if (!o.tls) args.push("--no-tls");
    const child = spawn(t.flock, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (b) => {
      out += b;
      for (const line of b.toString().split("\n")) if (line && !line.startsWith("##result ")) process.stdout.write(line + "\n");
    });
    const code = await new Promise((resolve) => child.on("close", resolve));
    const m = /^##result (.*)$/m.exec(out);
    if (code !== 0 || !m) {
      log(target, `failed (exit ${code})`);
      continue;
    }
    results.push(JSON.parse(m[1]));
  }
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  fs.writeFileSync(o.out, JSON.stringify(results, null, 2) + "\n");
  process.stdout.write("\n" + table(results) + "\n\nresults: " + o.out + "\n");
  return results.length === o.targets.length && results.every((r) => !r.abort) ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write("mcsim-memory: " + (e && e.message ? e.message : e) + "\n");
      process.exit(1);
    },
  );
}

module.exports = { parseRun, peaks, headroom, describeLimits, preloadReport, TARGETS };
