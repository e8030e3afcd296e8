import { spawnSync } from "node:child_process";
import * as path from "node:path";

const BIN = path.join(__dirname, "../../bin/xs-iot.js");

function run(args: string[], timeout = 60_000) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("xs-iot sim (the command line)", () => {
  it("runs a simulated device to --readings N on a virtual clock and exits 0, with JSON events", () => {
    const r = run(["sim", "--readings", "3", "--interval", "2", "--clock", "virtual", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const readings = events.filter((e) => e.event === "reading");
    expect(readings.length).toBe(3);
    for (const e of readings) {
      expect(e.device).toBe("xs-iot-sim");
      expect(e.sample.thermometer.temperature).toBeGreaterThan(15);
      expect(e.sample.thermometer.temperature).toBeLessThan(30);
      expect(e.sample.barometer.pressure).toBeGreaterThan(90_000);
    }
    // virtual time: readings are exactly --interval apart
    const t = readings.map((e) => Date.parse(e.time));
    expect(t[2] - t[1]).toBe(2000);
    expect(events[events.length - 1]).toMatchObject({ event: "done", readings: 3, code: 0 });
  });

  it("runs several independent devices, each with its own id", () => {
    const r = run(["sim", "--devices", "3", "--readings", "2", "--clock", "virtual", "--json", "--id", "fleet"]);
    expect(r.code).toBe(0);
    const ids = new Set(r.stdout.trim().split("\n").map((l) => JSON.parse(l)).filter((e) => e.event === "reading").map((e) => e.device));
    expect([...ids].sort()).toEqual(["fleet-001", "fleet-002", "fleet-003"]);
  });

  it("prints human readings with units by default", () => {
    const r = run(["sim", "--readings", "1", "--clock", "virtual"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/#1 temperature \d+\.\d\d °C {2}humidity \d+\.\d %RH {2}pressure \d+ Pa/);
  });

  it.each([
    [["sim", "--bogus"], /Unknown option '--bogus'/],
    [["sim", "--interval", "0"], /--interval must be a number above 0/],
    [["sim", "--interval", "abc"], /--interval must be a number/],
    [["sim", "--devices", "1.5"], /--devices must be an integer/],
    [["sim", "--clock", "fast"], /--clock must be one of real, virtual/],
    [["sim", "--board", "nope"], /--board must be one of/],
    [["sim", "--id", "has space"], /--id must be/],
    [["sim", "--readings"], /argument missing|requires a value|--readings/],
    [["nosuchcommand"], /unknown command "nosuchcommand"/],
  ])("refuses %j with a clear message and exit code 2", (args, message) => {
    const r = run(args as string[]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message as RegExp);
    expect(r.stdout).not.toMatch(/reading/);
  });

  it("prints help for --help and exits 0", () => {
    const r = run(["sim", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--readings N/);
  });
});
