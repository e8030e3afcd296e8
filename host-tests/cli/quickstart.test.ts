/*
 * The README's quickstart, as written, in a fresh clone of this repository:
 * `git clone` (the committed tree only) into a temp dir, then `npm start -- --readings 3`
 * (the README's way to stop after a few readings), and `npm start` stopped by
 * Ctrl-C (SIGINT) after its first acknowledged readings; tools/quickstart.js runs every
 * command line the banner prints while it runs. `npm test` is not re-run
 * here. The clone gets this checkout's node_modules as a symlink: the tests have
 * no network, and the prestart hook (tools/ensure-deps.js) then finds the
 * dependencies installed for the same package-lock.json. Node only.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runCli } from "./run-cli";

const ROOT = path.join(__dirname, "../..");
const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");

describe("the README quickstart in a fresh clone", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "xs-iot-clone-"));
    const r = spawnSync("git", ["clone", "--quiet", "--no-hardlinks", ROOT, path.join(dir, "xs-iot")], { encoding: "utf8" });
    if (r.status !== 0) throw new Error("git clone failed: " + r.stderr);
    dir = path.join(dir, "xs-iot");
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"), "dir");
  });
  afterAll(() => {
    if (dir) fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  it("the README shows the two commands first, and how to stop after a few readings", () => {
    const quick = README.indexOf("## Quickstart");
    expect(quick).toBeGreaterThan(0);
    const block = README.slice(quick, README.indexOf("```", README.indexOf("```sh", quick) + 5));
    expect(block).toMatch(/npm start/);
    expect(block).toMatch(/npm test/);
    expect(README).toContain("npm start -- --readings 3");
  });

  it("`npm start -- --readings 3` publishes readings to the embedded broker and exits 0", async () => {
    const r = await runCli(["start", "--", "--readings", "3"], { cwd: dir, command: ["npm"], timeoutMs: 90_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/broker +mqtt:\/\/127\.0\.0\.1:\d+ \(embedded aedes/);
    expect(r.stdout).toMatch(/mosquitto_sub -h 127\.0\.0\.1 -p \d+/);
    expect(r.stdout).toMatch(/\[xs-iot-sim\] #1 temperature/);
    const done = /done: (\d+) readings from 1 device\(s\), (\d+) sent, (\d+) acknowledged/.exec(r.stdout);
    expect(done).not.toBeNull();
    expect(Number(done![3])).toBeGreaterThanOrEqual(3);
  }, 100_000);

  it("tools/quickstart.js: `npm start -- --readings 3`, and every command line its banner prints, run as printed, exit 0", async () => {
    // --link: the clone borrows this checkout's node_modules (CI runs it with `npm ci` instead, .ci/run).
    const r = await runCli([path.join(ROOT, "tools/quickstart.js"), "--link"], { timeoutMs: 150_000, command: [process.execPath] });
    expect(r.stdout).toMatch(/ok {3}configure: npx xs-iot config --device xs-iot-sim --via mqtt:\/\/127\.0\.0\.1:\d+ --key/);
    expect(r.stdout).toMatch(/ok {3}npm start -- --readings 3 exited 0: done: 3 readings from 1 device\(s\), 3 sent, 3 acknowledged/);
    expect(r.stdout).toMatch(/every step passed/);
    expect(r.code).toBe(0);
  }, 160_000);

  it("`npm start` stops cleanly on Ctrl-C (SIGINT) once readings flow", async () => {
    let seen = 0;
    // Ctrl-C on a terminal signals the whole process group (npm and the sim); the sim closes the devices and the broker.
    const r = await runCli(["start"], { cwd: dir, command: ["npm"], group: true, timeoutMs: 90_000, onLine: (l) => /\] #\d+ temperature/.test(l) && ++seen >= 2 });
    expect(seen).toBeGreaterThanOrEqual(2);
    expect(r.stdout).toMatch(/stopped: \d+ readings from 1 device\(s\)/);
  }, 100_000);
});
