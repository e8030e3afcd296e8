/*
 * The discovery value_templates rendered by real Jinja2 (Python's jinja2, the
 * engine Home Assistant templates run on) against our SenML JSON: the value
 * when the record is there, the entity's current state (`this.state`) when a
 * split or batched message does not carry it. Node only (spawns python3).
 * Without python3 + jinja2 the suite is skipped locally and fails with CI=true,
 * as host-tests/support/peers.ts does for missing peers.
 */
import { spawnSync } from "child_process";
import { discoveryMessages } from "../../modules/telemetry/homeassistant";
import { encodeSenmlJson, readingsToPack, type TelemetryReading } from "../../modules/telemetry/senml";
import { splitSenml } from "../../modules/telemetry/split";

const RENDER = `
import json, sys
from jinja2 import Environment
jobs = json.load(sys.stdin)
env = Environment()
out = []
for j in jobs:
    t = env.from_string(j["template"])
    out.append(t.render(value_json=json.loads(j["payload"]), this={"state": j["state"]}))
print(json.dumps(out))
`;

function haveJinja(): boolean {
  const r = spawnSync("python3", ["-c", "import jinja2"], { encoding: "utf8" });
  return r.status === 0;
}

function render(jobs: { template: string; payload: string; state: string }[]): string[] {
  const r = spawnSync("python3", ["-c", RENDER], { input: JSON.stringify(jobs), encoding: "utf8" });
  if (r.status !== 0) throw new Error("python3 failed: " + r.stderr);
  return JSON.parse(r.stdout);
}

const available = haveJinja();
if (!available && process.env.CI === "true") throw new Error("python3 with jinja2 is missing in CI (Debian: apt-get install python3-jinja2)");
const maybe = available ? describe : describe.skip;

const READING: TelemetryReading = {
  time: 1700000000000,
  sample: {
    thermometer: { temperature: 21.47 },
    hygrometer: { humidity: 45.2 },
    barometer: { pressure: 101325 },
    lightmeter: { illuminance: 312.5 },
    carbonDioxideDetector: { CO2: 612 },
    battery: { voltage: 3.712 },
  },
};

const text = (b: Uint8Array) => Buffer.from(b).toString("utf8");

maybe("Home Assistant value_template under Jinja2", () => {
  it("renders each quantity's value from one full SenML JSON reading", () => {
    const payload = text(encodeSenmlJson(readingsToPack(READING, { deviceId: "dev-1" })));
    const msgs = discoveryMessages({ deviceId: "dev-1" });
    const got = render(msgs.map((m) => ({ template: JSON.parse(m.payload).value_template, payload, state: "prev" })));
    expect(got).toEqual(["21.47", "45.2", "101325", "312.5", "612", "3.712"]);
  });

  it("a batch: the newest record wins", () => {
    const batch = [READING, { time: 1700000010000, sample: { thermometer: { temperature: 22 } } }];
    const payload = text(encodeSenmlJson(readingsToPack(batch, { deviceId: "dev-1" })));
    const [t] = discoveryMessages({ deviceId: "dev-1", quantities: ["temperature"] });
    expect(render([{ template: JSON.parse(t.payload).value_template, payload, state: "prev" }])).toEqual(["22"]);
  });

  it("a split message without the quantity keeps the current state", () => {
    const packs = splitSenml(readingsToPack(READING, { deviceId: "dev-1" }), 90, "json").map(text);
    expect(packs.length).toBeGreaterThan(2);
    const [t] = discoveryMessages({ deviceId: "dev-1", quantities: ["temperature"] });
    const tpl = JSON.parse(t.payload).value_template;
    const got = render(packs.map((payload) => ({ template: tpl, payload, state: "20.9" })));
    expect(got[0]).toBe("21.47");
    expect(got.slice(1).every((g) => g === "20.9")).toBe(true);
  });

  it('co2Unit "/": the template scales the ratio back to ppm', () => {
    const payload = text(encodeSenmlJson(readingsToPack(READING, { deviceId: "d", co2Unit: "/" })));
    const [c] = discoveryMessages({ deviceId: "d", co2Unit: "/", quantities: ["co2"] });
    expect(Number(render([{ template: JSON.parse(c.payload).value_template, payload, state: "prev" }])[0])).toBe(612);
  });
});
