/**
 * The XS runner's own tests: it must pass what passes and fail everything else, including
 * the cases where xsnap itself exits 0 (unhandled rejection, a promise that never settles).
 * Fixtures live in host-tests/xs/fixtures/ and do not start with `// @xs`.
 */
import { spawnSync } from "child_process";
import * as path from "path";

const ROOT = path.resolve(__dirname, "../..");
const RUN = path.join(__dirname, "run.js");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureXsnap } = require("../../tools/build-xsnap");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { judge, discover } = require("./run.js");

function runFixture(name: string, extra: string[] = []) {
  const r = spawnSync(process.execPath, [RUN, path.join(__dirname, "fixtures", name), ...extra], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 120000,
  });
  const closing = /^XS: (\d+) passed, (\d+) failed$/m.exec(r.stdout);
  return {
    status: r.status,
    out: r.stdout + r.stderr,
    passed: closing ? Number(closing[1]) : -1,
    failed: closing ? Number(closing[2]) : -1,
  };
}

beforeAll(() => {
  ensureXsnap({ quiet: true }); // the first build takes ~20-40 s
}, 300000);

describe("XS runner on fixtures", () => {
  it("(a) passes a file whose tests all pass, counting tests", () => {
    const r = runFixture("pass.fixture.ts");
    expect(r.out).toContain("PASS host-tests/xs/fixtures/pass.fixture.ts");
    expect(r.status).toBe(0);
    expect(r.passed).toBe(8);
    expect(r.failed).toBe(0);
  }, 120000);

  it("toMatch runs the pattern itself: an escaped slash matches on XS 13.3 (whose RegExp source is wrong for it)", () => {
    const r = runFixture("escaped-slash.fixture.ts");
    expect(r.status).toBe(0);
    expect(r.passed).toBe(1);
    expect(r.failed).toBe(0);
  }, 120000);

  it("(b) fails the run on a failing assertion and shows expected/received", () => {
    const r = runFixture("fail-assertion.fixture.ts");
    expect(r.status).toBe(1);
    expect(r.passed).toBe(1);
    expect(r.failed).toBe(1);
    expect(r.out).toContain("FAIL fixture > fails on purpose");
    expect(r.out).toContain("Expected: [1, 2, 4]");
  }, 120000);

  it("(b) counts an async test that rejects, and a .rejects that resolves, as failures", () => {
    const r = runFixture("async-rejects.fixture.ts");
    expect(r.status).toBe(1);
    expect(r.failed).toBe(2);
    expect(r.out).toContain("async failure on purpose");
  }, 120000);

  it("(c) fails on an error thrown at the top level of the file", () => {
    const r = runFixture("top-level-throw.fixture.ts");
    expect(r.status).toBe(1);
    expect(r.failed).toBeGreaterThanOrEqual(1);
    expect(r.out).toContain("top-level failure on purpose");
    expect(r.out).toContain("no XS-TESTS-DONE");
  }, 120000);

  it("(d) fails on an unhandled rejection even though every test passed and xsnap exited 0", () => {
    const r = runFixture("unhandled-rejection.fixture.ts");
    expect(r.status).toBe(1);
    expect(r.failed).toBe(1);
    expect(r.out).toContain("unhandled rejection");
  }, 120000);

  it("(d) fails on a test whose promise never settles, naming it", () => {
    const r = runFixture("never-settles.fixture.ts");
    expect(r.status).toBe(1);
    expect(r.passed).toBe(1);
    expect(r.failed).toBe(1);
    expect(r.out).toContain("never finished: waits forever");
  }, 120000);

  it("(e) kills a script that loops forever at the time limit and fails it", () => {
    const started = Date.now();
    const r = runFixture("infinite-loop.fixture.ts", ["--timeout=2000"]);
    expect(r.status).toBe(1);
    expect(r.failed).toBe(1);
    expect(r.out).toContain("killed after the 2 s time limit");
    expect(Date.now() - started).toBeLessThan(60000);
  }, 120000);

  it("fails a file that registers no test", () => {
    const r = runFixture("no-tests.fixture.ts");
    expect(r.status).toBe(1);
    expect(r.out).toContain("registered no test");
  }, 120000);
});

describe("XS runner verdicts", () => {
  const base = { code: 0, signal: null, timedOut: false, stderr: "", timeoutMs: 1000 };
  const ok = "##xs start\ta\n##xs pass\ta\t1.0\nXS-TESTS-DONE 1 0\n";

  it("needs exit 0, the sentinel and zero failures", () => {
    expect(judge({ ...base, stdout: ok }).ok).toBe(true);
    expect(judge({ ...base, stdout: ok, code: 5 }).ok).toBe(false);
    expect(judge({ ...base, stdout: "##xs start\ta\n##xs pass\ta\t1.0\n" }).ok).toBe(false);
    expect(judge({ ...base, stdout: "##xs start\ta\n##xs fail\ta\t1.0\nXS-TESTS-DONE 0 1\n" }).ok).toBe(false);
  });

  it("refuses a sentinel whose totals disagree with the reports", () => {
    const v = judge({ ...base, stdout: "##xs start\ta\n##xs pass\ta\t1.0\nXS-TESTS-DONE 2 0\n" });
    expect(v.ok).toBe(false);
    expect(v.problems.join("\n")).toContain("differ");
  });

  it("refuses a run that timed out or died from a signal", () => {
    expect(judge({ ...base, stdout: ok, timedOut: true, signal: "SIGKILL", code: null }).ok).toBe(false);
    expect(judge({ ...base, stdout: ok, signal: "SIGSEGV", code: null }).ok).toBe(false);
  });

  it("discovers only files whose first line is // @xs, never the fixtures", () => {
    const files: string[] = discover().map((f: string) => path.relative(ROOT, f));
    expect(files).toContain(path.join("host-tests", "bytes", "utf8.test.ts"));
    expect(files.some((f) => f.includes("fixtures"))).toBe(false);
    expect(files).not.toContain(path.join("host-tests", "xs", "runner.test.ts"));
  });
});
