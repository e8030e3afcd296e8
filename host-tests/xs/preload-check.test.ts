/**
 * The preload check's own tests (docs/moddable.md, "Preloading"): the static half
 * (tools/check-preload.js) names every violation of fixtures/device/violations.ts and nothing
 * in fixtures/device/clean.ts; the runtime half (the XS runner freezing each device module's
 * bindings after load, host-tests/xs/preload.ts) fails each test of fixtures/preload.fixture.ts
 * that does what a preloaded module cannot, with the device's error.
 */
import { spawnSync } from "child_process";
import * as path from "path";

const ROOT = path.resolve(__dirname, "../..");
const FIXTURES = path.join(__dirname, "fixtures");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { check, deviceFiles, EXEMPT } = require("../../tools/check-preload");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureXsnap } = require("../../tools/build-xsnap");

interface Finding {
  file: string;
  line: number;
  rule: string;
  message: string;
}

describe("tools/check-preload.js (static)", () => {
  it("names each violation of a module that breaks the rules, by rule and line", () => {
    const found: Finding[] = check([path.join(FIXTURES, "device", "violations.ts")]);
    expect(found.map((f) => `${f.line} ${f.rule}`)).toEqual([
      "7 let", // let calls
      "9 collection", // SCRATCH written
      "11 collection", // SEEN.add
      "20 static", // ++this.count in a static method
      "26 mutation", // SCRATCH[0] = v
      "31 mutation", // SEEN.add(o)
      "35 mutation", // CACHE[k] = 1
      "39 mutation", // Counter.prototype.extra = 1
      "50 regexp", // WORD, a RegExp made at load
      "58 mutation", // out[0] = n while `out` may still be the empty module-level NONE
    ]);
    for (const f of found) expect(f.file).toBe("host-tests/xs/fixtures/device/violations.ts");
    expect(found[1].message).toContain("read-only buffer");
    expect(found[2].message).toContain("read-only WeakSet instance");
    expect(found[8].message).toContain("fx_RegExp_prototype_exec");
    expect(found[9].message).toContain("may hold the module-level Uint8Array `NONE`");
  });

  it("accepts tables built at load, instance state, empty and @preloadReadOnly buffers", () => {
    expect(check([path.join(FIXTURES, "device", "clean.ts")])).toEqual([]);
  });

  it("finds nothing in the device code (modules/, src/, boards/) outside the exempt folders", () => {
    const files: string[] = deviceFiles();
    expect(files.length).toBeGreaterThan(50);
    for (const f of files) for (const x of EXEMPT as string[]) expect(path.relative(ROOT, f).startsWith(x)).toBe(false);
    const found: Finding[] = check(files);
    expect(found.map((f) => `${f.file}:${f.line}: ${f.message}`)).toEqual([]);
  });
});

describe("XS runner: device modules frozen after load, as preloading has them", () => {
  beforeAll(() => {
    ensureXsnap({ quiet: true });
  }, 300000);

  it("fails each test that changes what a module holds, with the device's error, and passes the rest", () => {
    const r = spawnSync(process.execPath, [path.join(__dirname, "run.js"), path.join(FIXTURES, "preload.fixture.ts")], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 120000,
    });
    const out = r.stdout + r.stderr;
    expect(r.status).toBe(1);
    expect(out).toMatch(/^XS: 2 passed, 6 failed$/m);
    expect(out).toMatch(/FAIL preloaded > a module-level buffer written after load\n\s+Error: read-only buffer: host-tests\/xs\/fixtures\/device\/violations\.ts: SCRATCH was written/);
    expect(out).toMatch(/FAIL preloaded > a module-level WeakSet added to\n\s+TypeError: read-only WeakSet instance/);
    expect(out).toMatch(/FAIL preloaded > a module-level object changed\n\s+TypeError: set k: not extensible/);
    expect(out).toMatch(/FAIL preloaded > a static property changed\n\s+TypeError: set count: not writable/);
    expect(out).toMatch(/FAIL preloaded > a prototype changed after load\n\s+TypeError: set extra: not extensible/);
    expect(out).toMatch(/FAIL preloaded > JSON.stringify of a preloaded object\n\s+TypeError: read only value/);
    expect(out).not.toMatch(/FAIL preloaded > state in an instance is fine/);
    expect(out).not.toMatch(/FAIL preloaded > tables built at load/);
  });
});
