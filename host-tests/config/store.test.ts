// @xs
/*
 * Configuration persistence: A/B slots + commit record over the flash KeyValueStore.
 * A power loss at EVERY mutating step of a write (sim/flash-store.ts failAfter(n),
 * lost or applied) leaves the old or the new configuration, never a mix.
 */
import { FlashStore } from "../../sim/flash-store";
import { ConfigStore, CONFIG_NAMESPACE, CHUNK_BYTES, crc32 } from "../../modules/config/store";
import { defaultConfig, type DeviceConfig } from "../../modules/config/schema";
import { simBoard } from "../../boards/sim";
import { canonicalJson } from "../../modules/config/auth";

const ctx = { board: simBoard, deviceId: "dev-1" };
/** Small chunks so that a real configuration spans several (the 4000-byte NVS limit in miniature). */
const SMALL = 256;

function withInterval(base: DeviceConfig, s: number): DeviceConfig {
  const c = JSON.parse(JSON.stringify(base)) as DeviceConfig;
  c.telemetry.intervalS = s;
  return c;
}

/** A config whose JSON is larger than one 4000-byte chunk (thresholds on every sensor, long strings). */
function bigConfig(tag: number): DeviceConfig {
  const c = defaultConfig(ctx);
  c.telemetry.intervalS = 100 + tag;
  c.mqtt.password = "p".repeat(128);
  c.mqtt.username = "u".repeat(64);
  c.sensors.sht3x.thresholds = { temperature: { min: -40, max: 125, delta: 0.5 }, humidity: { min: 0, max: 100, delta: 2 } };
  c.sensors.bme280.thresholds = { pressure: { min: 30000, max: 110000, delta: 50 } };
  return c;
}

describe("ConfigStore", () => {
  it("a fresh store loads the defaults and says so", () => {
    const s = new ConfigStore({ storage: new FlashStore(), context: ctx });
    const r = s.load();
    expect(r.status).toBe("defaults");
    expect(r.config).toEqual(defaultConfig(ctx));
    expect(r.counter).toBe(0);
  });

  it("save then load round-trips, alternating slots", () => {
    const flash = new FlashStore();
    const s = new ConfigStore({ storage: flash, context: ctx });
    s.load();
    s.save(withInterval(defaultConfig(ctx), 30), 5);
    expect(flash.keys(CONFIG_NAMESPACE)).toContain("a0");
    s.save(withInterval(defaultConfig(ctx), 40), 6);
    expect(flash.keys(CONFIG_NAMESPACE)).toContain("b0");
    const r = new ConfigStore({ storage: flash, context: ctx }).load();
    expect(r.status).toBe("stored");
    expect(r.config.telemetry.intervalS).toBe(40);
    expect(r.counter).toBe(6);
  });

  it("values over the chunk size are chunked and stale chunks removed", () => {
    const flash = new FlashStore();
    const s = new ConfigStore({ storage: flash, context: ctx, chunkBytes: SMALL });
    s.load();
    const big = bigConfig(1);
    expect(JSON.stringify(big).length).toBeGreaterThan(3 * SMALL);
    s.save(big, 1);
    expect(flash.keys(CONFIG_NAMESPACE)).toContain("a1");
    s.save(defaultConfig(ctx), 2); // slot b
    s.save(withInterval(defaultConfig(ctx), 20), 3); // slot a again, one chunk: a1 goes
    expect(flash.keys(CONFIG_NAMESPACE).filter((k) => k.charAt(0) === "a").length).toBe(Math.ceil(JSON.stringify(withInterval(defaultConfig(ctx), 20)).length / SMALL));
    expect(new ConfigStore({ storage: flash, context: ctx, chunkBytes: SMALL }).load().config.telemetry.intervalS).toBe(20);
    const again = new ConfigStore({ storage: flash, context: ctx, chunkBytes: SMALL });
    again.load();
    again.save(big, 4);
    expect(new ConfigStore({ storage: flash, context: ctx, chunkBytes: SMALL }).load().config).toEqual(big);
    expect(CHUNK_BYTES).toBe(4000);
    expect(() => new ConfigStore({ storage: flash, chunkBytes: 4001 })).toThrow(RangeError);
  });

  it("acceptCounter is one atomic write and keeps the configuration", () => {
    const flash = new FlashStore();
    const s = new ConfigStore({ storage: flash, context: ctx });
    s.load();
    s.save(withInterval(defaultConfig(ctx), 33), 1);
    const w = flash.writes;
    s.acceptCounter(9);
    expect(flash.writes - w).toBeLessThanOrEqual(2); // commit record (+ its mirror)
    const r = new ConfigStore({ storage: flash, context: ctx }).load();
    expect(r.counter).toBe(9);
    expect(r.config.telemetry.intervalS).toBe(33);
    expect(() => s.acceptCounter(9)).toThrow(RangeError);
  });

  it("counters up to 2^53-1 survive the record", () => {
    const flash = new FlashStore();
    const s = new ConfigStore({ storage: flash, context: ctx });
    s.load();
    s.acceptCounter(9007199254740991);
    expect(new ConfigStore({ storage: flash, context: ctx }).load().counter).toBe(9007199254740991);
  });

  describe.each([
    ["lost", false],
    ["applied", true],
  ])("power loss at every step of a write (the failing write %s)", (_name, apply) => {
    it.each([
      ["one chunk", false],
      ["several chunks", true],
    ])("%s: always the old or the new configuration", (_n, big) => {
      // Count the steps of one write.
      const chunkBytes = big ? SMALL : CHUNK_BYTES;
      const probe = new FlashStore();
      const p = new ConfigStore({ storage: probe, context: ctx, chunkBytes });
      p.load();
      const oldC = big ? bigConfig(1) : withInterval(defaultConfig(ctx), 50);
      const newC = big ? bigConfig(2) : withInterval(defaultConfig(ctx), 70);
      p.save(oldC, 1);
      p.save(newC, 1); // make slot b hold something, as in the field
      p.save(oldC, 2);
      const before = probe.writes + probe.erases;
      p.save(newC, 3);
      const steps = probe.writes + probe.erases - before;
      expect(steps).toBeGreaterThanOrEqual(2);
      let sawOld = 0;
      let sawNew = 0;
      let completed = false;
      for (let n = 0; !completed && n < 200; n++) {
        const flash = new FlashStore();
        const s = new ConfigStore({ storage: flash, context: ctx, chunkBytes });
        s.load();
        s.save(oldC, 1);
        s.save(newC, 1);
        s.save(oldC, 2);
        flash.failAfter(n, { apply });
        let failed = false;
        try {
          s.save(newC, 3);
        } catch (e) {
          expect((e as Error).name).toBe("PowerLossError");
          failed = true;
        }
        flash.cancelFailure();
        flash.powerOn();
        const r = new ConfigStore({ storage: flash, context: ctx, chunkBytes }).load();
        expect(r.status).toBe("stored");
        const isOld = canonicalJson(r.config) === canonicalJson(oldC);
        const isNew = canonicalJson(r.config) === canonicalJson(newC);
        expect(isOld || isNew).toBe(true);
        if (isOld) {
          sawOld++;
          expect(r.counter).toBe(2);
        } else {
          sawNew++;
          expect(r.counter).toBe(3);
        }
        if (!failed) {
          expect(isNew).toBe(true);
          completed = true;
        }
      }
      expect(completed).toBe(true);
      expect(sawOld).toBeGreaterThanOrEqual(big ? 4 : 1); // every chunk write, then the commit
      expect(sawNew).toBeGreaterThan(0);
    });
  });

  it("an interrupted very first write leaves the defaults", () => {
    for (let n = 0; n < 3; n++) {
      const flash = new FlashStore();
      const s = new ConfigStore({ storage: flash, context: ctx });
      s.load();
      flash.failAfter(n);
      try {
        s.save(withInterval(defaultConfig(ctx), 99), 1);
      } catch {
        // power lost
      }
      flash.cancelFailure();
      flash.powerOn();
      const r = new ConfigStore({ storage: flash, context: ctx }).load();
      expect(["defaults", "stored"]).toContain(r.status);
      expect([300, 99]).toContain(r.config.telemetry.intervalS);
    }
  });

  describe("a corrupt store boots on the defaults and says so", () => {
    function stored(): FlashStore {
      const flash = new FlashStore();
      const s = new ConfigStore({ storage: flash, context: ctx });
      s.load();
      s.save(withInterval(defaultConfig(ctx), 45), 7);
      return flash;
    }
    const cases: [string, (f: FlashStore) => void, RegExp][] = [
      ["commit record garbage", (f) => f.set(CONFIG_NAMESPACE, "commit", new ArrayBuffer(32)), /magic/],
      ["commit record wrong type", (f) => f.set(CONFIG_NAMESPACE, "commit", "hello"), /not a byte string/],
      ["commit record short", (f) => f.set(CONFIG_NAMESPACE, "commit", new ArrayBuffer(8)), /8 bytes/],
      [
        "commit record bit flip",
        (f) => {
          const b = new Uint8Array(f.get(CONFIG_NAMESPACE, "commit") as ArrayBuffer);
          b[17] ^= 1;
          f.set(CONFIG_NAMESPACE, "commit", b.buffer);
        },
        /checksum/,
      ],
      [
        "slot bit flip",
        (f) => {
          const b = new Uint8Array(f.get(CONFIG_NAMESPACE, "a0") as ArrayBuffer);
          b[10] ^= 4;
          f.set(CONFIG_NAMESPACE, "a0", b.buffer);
        },
        /checksum/,
      ],
      ["slot missing", (f) => f.delete(CONFIG_NAMESPACE, "a0"), /missing/],
      [
        "slot valid JSON, broken rules",
        (f) => {
          const text = JSON.stringify({ version: 2, nonsense: true });
          const b = new Uint8Array(text.length);
          for (let i = 0; i < text.length; i++) b[i] = text.charCodeAt(i);
          f.set(CONFIG_NAMESPACE, "a0", b.buffer);
          const rec = new Uint8Array(f.get(CONFIG_NAMESPACE, "commit") as ArrayBuffer);
          const v = new DataView(rec.buffer);
          v.setUint32(16, b.length);
          v.setUint32(20, crc32(b));
          v.setUint32(28, crc32(rec, 0, 28));
          f.set(CONFIG_NAMESPACE, "commit", rec.buffer);
        },
        /breaks the rules/,
      ],
    ];
    it.each(cases)("%s", (_name, damage, why) => {
      const flash = stored();
      damage(flash);
      const r = new ConfigStore({ storage: flash, context: ctx }).load();
      expect(r.status).toBe("corrupt");
      expect(r.message).toMatch(why);
      expect(r.message).toMatch(/running on defaults/);
      expect(r.config).toEqual(defaultConfig(ctx));
    });
    it("the counter survives a corrupt commit record through its mirror (no replay window)", () => {
      const flash = stored();
      flash.set(CONFIG_NAMESPACE, "commit", new ArrayBuffer(32));
      expect(new ConfigStore({ storage: flash, context: ctx }).load().counter).toBe(7);
    });
  });

  it("factory reset: defaults, key and counter kept, slots erased", () => {
    const flash = new FlashStore();
    const s = new ConfigStore({ storage: flash, context: ctx });
    s.load();
    s.provisionKey(new Uint8Array(32).fill(9));
    s.save(withInterval(defaultConfig(ctx), 45), 7);
    const c = s.factoryReset(8);
    expect(c).toEqual(defaultConfig(ctx));
    expect(flash.keys(CONFIG_NAMESPACE).filter((k) => /^[ab]\d/.test(k))).toEqual([]);
    const r = new ConfigStore({ storage: flash, context: ctx }).load();
    expect(r.status).toBe("defaults");
    expect(r.counter).toBe(8);
    expect(new ConfigStore({ storage: flash, context: ctx }).key()).toEqual(new Uint8Array(32).fill(9));
  });

  it("migrates a version 1 entry once, then it is an ordinary stored v2", () => {
    const flash = new FlashStore();
    flash.set(CONFIG_NAMESPACE, "config", JSON.stringify({ version: 1, deviceId: "old-1", broker: "10.0.0.9:1884", mqttVersion: 4, reportMs: 120000, sampleMs: 15500, sensors: ["sht3x"], deepSleep: true, pass: "pw" }));
    const r = new ConfigStore({ storage: flash, context: ctx }).load();
    expect(r.status).toBe("migrated");
    expect(r.config.deviceId).toBe("old-1");
    expect(r.config.protocol).toBe("mqtt311");
    expect(r.config.mqtt.host).toBe("10.0.0.9");
    expect(r.config.mqtt.port).toBe(1884);
    expect(r.config.mqtt.password).toBe("pw");
    expect(r.config.telemetry.intervalS).toBe(120);
    expect(r.config.sampling.intervalS).toBe(16);
    expect(r.config.sensors.sht3x.enabled).toBe(true);
    expect(r.config.sensors.bme280.enabled).toBe(false);
    expect(r.config.sleep.mode).toBe("deep");
    expect(flash.get(CONFIG_NAMESPACE, "config")).toBeUndefined();
    const again = new ConfigStore({ storage: flash, context: ctx }).load();
    expect(again.status).toBe("stored");
    expect(again.config).toEqual(r.config);
  });

  it("a broken version 1 entry is reported as corrupt", () => {
    const flash = new FlashStore();
    flash.set(CONFIG_NAMESPACE, "config", JSON.stringify({ version: 1, broker: 42 }));
    const r = new ConfigStore({ storage: flash, context: ctx }).load();
    expect(r.status).toBe("corrupt");
    expect(r.message).toMatch(/broker/);
  });

  it("a full flash refuses the save and keeps the old configuration", () => {
    const flash = new FlashStore({ capacity: 1600 });
    const s = new ConfigStore({ storage: flash, context: ctx });
    s.load();
    s.save(withInterval(defaultConfig(ctx), 21), 1);
    expect(() => s.save(bigConfig(3), 2)).toThrow();
    expect(new ConfigStore({ storage: flash, context: ctx }).load().config.telemetry.intervalS).toBe(21);
  });
});
