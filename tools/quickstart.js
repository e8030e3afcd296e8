#!/usr/bin/env node
// The README's quickstart as a new user runs it, checked end to end (issue 15):
//
//   1. a fresh clone of this repository's committed HEAD, in a temporary directory;
//   2. the install the README allows: `--install ci` (default: `npm ci`), `--install install`
//      (`npm install`), or `--install none` (nothing: the first `npm start` installs by itself;
//      with `--link` the clone borrows this checkout's node_modules instead, for a quick run);
//      the install's output must hold no warning (npm's "npm warn" lines: EBADENGINE, install
//      scripts not covered by allowScripts, ...);
//   3. `npm start -- --readings 3`, and while it runs, every command line of its banner
//      (watch, ask, discover, configure, ...) executed as printed, through the shell; each must
//      exit 0. A command that runs until stopped (mosquitto_sub) is stopped with SIGINT, as
//      Ctrl-C would, once it has printed what it is for;
//   4. `npm start` itself exits 0, having printed its "done:" line.
//
// Usage: node tools/quickstart.js [--install ci|install|none] [--link] [--keep]
// Prints each step and its outcome; exit code 0 when every step passed, 1 otherwise. A command
// whose program is not installed (coap-client-notls, mosquitto_sub) fails with CI=true and is
// skipped, with what to install, otherwise. Servers it starts are the npm start it runs, stopped
// by its process group's PID; it removes the clone unless --keep.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawn, spawnSync } = require("child_process");

const ROOT = path.resolve(__dirname, "..");
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const install = opt("--install", "ci");
const link = args.includes("--link");
const keep = args.includes("--keep");
const CI = process.env.CI === "true";
if (!["ci", "install", "none"].includes(install)) {
  process.stderr.write(`quickstart: --install must be ci, install or none, got "${install}"\n`);
  process.exit(2);
}

const t0 = Date.now();
const secs = () => ((Date.now() - t0) / 1000).toFixed(1) + " s";
let failures = 0;
const say = (m) => process.stdout.write(`quickstart [${secs()}]: ${m}\n`);
const fail = (m) => {
  failures++;
  say("FAIL " + m);
};

/** What the process group's processes wait on (/proc/PID/wchan), for a command that does not end: "mosquitto_sub futex_wait_queue". */
function waitsOn(pgid) {
  const r = spawnSync("ps", ["-e", "-o", "pgid=,comm=,wchan="], { encoding: "utf8" });
  const mine = (r.stdout || "").split("\n").map((l) => l.trim().split(/\s+/)).filter((f) => f[0] === String(pgid));
  return mine.map((f) => f.slice(1).join(" ")).join("; ") || "gone";
}

/**
 * Runs `command` through the shell in `cwd`; resolves { code, signal, out, err, stopped, hung }.
 * `until(out)` true: Ctrl-C it (SIGINT) once its output has paused for 300 ms, as a person
 * reading it would (mosquitto_sub disconnects from inside its SIGINT handler; one that lands
 * while it handles a burst of retained messages may never return); `hung`: what it waited on
 * when it had not ended 10 s after SIGINT (then SIGKILL).
 */
function sh(command, cwd, { timeoutMs = 60_000, until } = {}) {
  return new Promise((resolve) => {
    // Its own process group: SIGINT reaches the command and everything it started, as Ctrl-C does.
    const child = spawn("bash", ["-c", command], { cwd, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let out = "";
    let err = "";
    let stopped = false;
    let hung;
    let pause;
    let after;
    const stop = (sig) => {
      try {
        process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    child.stdout.on("data", (d) => {
      out += d;
      if (!until || stopped || !until(out)) return;
      clearTimeout(pause);
      pause = setTimeout(() => {
        stopped = true;
        stop("SIGINT");
        after = setTimeout(() => {
          hung = waitsOn(child.pid);
          stop("SIGKILL");
        }, 10_000);
      }, 300);
    });
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => {
      hung = hung || waitsOn(child.pid);
      stop("SIGKILL");
    }, timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      clearTimeout(pause);
      clearTimeout(after);
      resolve({ code, signal, out, err, stopped, hung });
    });
  });
}

function which(program) {
  return spawnSync("bash", ["-c", `command -v ${program}`], { encoding: "utf8" }).status === 0;
}

/** The banner's command lines: "  label   command ...", where the command starts with a program on PATH or npx. */
function bannerCommands(banner) {
  const out = [];
  for (const line of banner.split("\n")) {
    const m = /^ {2}([a-z]+) {2,}(\S.*)$/.exec(line);
    if (!m) continue;
    const program = m[2].split(" ")[0];
    if (program === "npx" || /^(mosquitto_sub|mosquitto_pub|coap-client-notls|coap-client)$/.test(program)) out.push({ label: m[1], command: m[2], program });
  }
  return out;
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xs-iot-quickstart-"));
  const clone = path.join(dir, "xs-iot");
  try {
    say(`git clone ${ROOT} (HEAD ${spawnSync("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).stdout.trim()}) -> ${clone}`);
    const c = spawnSync("git", ["clone", "--quiet", "--no-hardlinks", ROOT, clone], { encoding: "utf8" });
    if (c.status !== 0) throw new Error("git clone failed: " + c.stderr);

    if (link) fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(clone, "node_modules"), "dir");
    else if (install !== "none") {
      say(`npm ${install} ...`);
      const r = await sh(`npm ${install}`, clone, { timeoutMs: 600_000 });
      const warnings = (r.out + r.err).split("\n").filter((l) => /^npm (warn|WARN)|EBADENGINE|allowScripts|not yet covered/.test(l));
      if (r.code !== 0) fail(`npm ${install} exited ${r.code}: ${(r.err || r.out).trim().split("\n").slice(-5).join(" | ")}`);
      else if (warnings.length) fail(`npm ${install} warned: ${warnings.slice(0, 6).join(" | ")}`);
      else say(`npm ${install}: ok, no warning`);
    }

    // npm start -- --readings 3, run the banner's lines while it runs.
    say("npm start -- --readings 3 ...");
    const start = spawn("npm", ["start", "--", "--readings", "3"], { cwd: clone, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let out = "";
    let err = "";
    let bannerSeen;
    const banner = new Promise((resolve) => (bannerSeen = resolve));
    start.stdout.on("data", (d) => {
      out += d;
      // The banner ends with its last indented line, before the device's first log line.
      if (/^\[xs-iot-sim[ \]]/m.test(out)) bannerSeen(out);
    });
    start.stderr.on("data", (d) => (err += d));
    const exited = new Promise((resolve) => start.on("close", (code, signal) => resolve({ code, signal })));
    const killer = setTimeout(() => {
      try {
        process.kill(-start.pid, "SIGKILL");
      } catch {
        // gone
      }
    }, 300_000);
    const first = await Promise.race([banner, exited.then(() => undefined)]);
    if (first === undefined) {
      fail(`npm start ended before printing its banner: ${(err || out).trim().split("\n").slice(-8).join(" | ")}`);
    } else {
      const commands = bannerCommands(first);
      if (!commands.length) fail("the banner printed no command line");
      await Promise.all(
        commands.map(async ({ label, command, program }) => {
          if (program !== "npx" && !which(program)) {
            const m = `${label}: ${program} is not installed (Debian: mosquitto-clients, libcoap3-bin): ${command}`;
            if (CI) fail(m);
            else say("skip " + m);
            return;
          }
          const runsUntilStopped = program === "mosquitto_sub" && !/ -C \d/.test(command);
          const r = await sh(command, clone, { timeoutMs: 60_000, until: runsUntilStopped ? (o) => o.trim().length > 0 : undefined });
          if (r.code === 0) say(`ok   ${label}: ${command.length > 100 ? command.slice(0, 97) + "..." : command}${r.stopped ? " (stopped by SIGINT after its first output)" : ""}`);
          else fail(`${label}: exit ${r.code}${r.signal ? " (" + r.signal + ")" : ""}${r.hung ? `, ${r.stopped ? "10 s after SIGINT" : "at the time limit"} it waited on: ${r.hung}` : ""}: ${command}\n    ${(r.err || r.out).trim().split("\n").slice(-4).join("\n    ")}`);
        }),
      );
    }
    const { code } = await exited;
    clearTimeout(killer);
    const done = /^done: .*$/m.exec(out);
    if (code === 0 && done) say(`ok   npm start -- --readings 3 exited 0: ${done[0]}`);
    else fail(`npm start -- --readings 3 exited ${code}: ${(err + out).trim().split("\n").slice(-6).join(" | ")}`);
    const alarming = err.split("\n").filter((l) => /npm warn|EBADENGINE|allowScripts|not yet covered|Error:|^\s+at /.test(l));
    if (alarming.length) fail(`npm start printed on stderr: ${alarming.slice(0, 6).join(" | ")}`);
  } catch (e) {
    fail(String((e && e.message) || e));
  } finally {
    if (keep) say(`kept ${clone}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
  say(failures ? `${failures} check(s) failed` : "every step passed");
  return failures ? 1 : 0;
}

main().then((code) => process.exit(code));
