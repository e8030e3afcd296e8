// @xs
/*
 * telemetry.maxBatch: the most readings that wait in the app for the telemetry period before
 * going at once (src/app.ts, docs/app.md "Readings waiting"): its default, its rule, an older
 * stored document without the key, config/get and config/patch, kept in flash.
 */
import { makeCore } from "./helpers";
import { CONNECTIVITY_KEYS, TELEMETRY_MAX_BATCH, defaultConfig, validateConfig } from "../../modules/config/schema";
import { simBoard } from "../../boards/sim";

const ctx = { board: simBoard, deviceId: "dev-1" };
const copy = () => JSON.parse(JSON.stringify(defaultConfig(ctx)));

describe("telemetry.maxBatch", () => {
  it("is 8 by default; takes an integer from 1 to 32 and refuses anything else, naming the key", () => {
    expect(TELEMETRY_MAX_BATCH).toBe(8);
    expect(defaultConfig(ctx).telemetry.maxBatch).toBe(8);
    for (const ok of [1, 12, 32]) {
      const c = copy();
      c.telemetry.maxBatch = ok;
      const r = validateConfig(c, ctx);
      expect(r.ok).toBe(true);
      if (r.ok) expect(r.config.telemetry.maxBatch).toBe(ok);
    }
    for (const bad of [0, 33, 1.5, -1, "8", null, true]) {
      const c = copy();
      c.telemetry.maxBatch = bad;
      const r = validateConfig(c, ctx);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.errors.map((e) => e.message).join("\n")).toContain("telemetry.maxBatch: must be an integer from 1 to 32");
    }
  });

  it("a stored document from before the key loads with the default", () => {
    const c = copy();
    delete c.telemetry.maxBatch;
    const r = validateConfig(c, ctx);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.config.telemetry.maxBatch).toBe(TELEMETRY_MAX_BATCH);
  });

  it("is not a connectivity key: config/patch applies it at once, config/get reports it, the flash keeps it; a bad value changes nothing", () => {
    expect(CONNECTIVITY_KEYS).not.toContain("telemetry.maxBatch");
    const k = makeCore();
    expect(k.run("config/patch", { telemetry: { maxBatch: 0 } }).status).not.toBe("ok");
    expect(k.core.config.telemetry.maxBatch).toBe(8);
    const r = k.run("config/patch", { telemetry: { maxBatch: 4 } });
    expect([r.status, r.changed]).toEqual(["ok", ["telemetry.maxBatch"]]);
    expect((k.run("config/get").config as { telemetry: { maxBatch: number } }).telemetry.maxBatch).toBe(4);
    expect(makeCore({}, k.flash).core.config.telemetry.maxBatch).toBe(4);
  });
});
