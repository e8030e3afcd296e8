// @xs
/*
 * mqtt.snPredefined: MQTT-SN pre-defined topic ids in the device configuration (MQTT-SN 1.2
 * §6.7): the rule, an older stored document without the key, RFC 7396 patches of the object,
 * and a change of it as a connectivity change (a new MQTT-SN client, tried and kept).
 */
import { makeCore } from "./helpers";
import { CONNECTIVITY_KEYS, changedKeys, connectivityChanges, defaultConfig, validateConfig } from "../../modules/config/schema";
import { simBoard } from "../../boards/sim";
import { ConfigStore } from "../../modules/config/store";
import { FlashStore } from "../../sim/flash-store";

const ctx = { board: simBoard, deviceId: "dev-1" };
const copy = () => JSON.parse(JSON.stringify(defaultConfig(ctx)));

describe("mqtt.snPredefined", () => {
  it("defaults to none; a valid set of ids passes and is copied, not shared with the input", () => {
    expect(defaultConfig(ctx).mqtt.snPredefined).toEqual({});
    const c = copy();
    const ids = { "xs-iot/dev-1/tele": 10, "xs-iot/dev-1/state": 11 };
    c.mqtt.snPredefined = ids;
    const r = validateConfig(c, ctx);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.config.mqtt.snPredefined).toEqual(ids);
      expect(r.config.mqtt.snPredefined).not.toBe(ids);
    }
  });

  const bad: [string, unknown, string][] = [
    ["not an object", "tele=10", 'mqtt.snPredefined: must be an object {"topic": id, ...} (got "tele=10")'],
    ["an array", [10], "mqtt.snPredefined: must be an object"],
    ["id 0 (reserved, §5.3.11)", { a: 0 }, "mqtt.snPredefined.a: must be a topic id from 1 to 65534 (got 0)"],
    ["id 0xFFFF (reserved)", { a: 65535 }, "mqtt.snPredefined.a: must be a topic id from 1 to 65534 (got 65535)"],
    ["id not an integer", { a: 1.5 }, "mqtt.snPredefined.a: must be a topic id from 1 to 65534 (got 1.5)"],
    ["id as text", { a: "7" }, 'mqtt.snPredefined.a: must be a topic id from 1 to 65534 (got "7")'],
    ["a wildcard (§6.10)", { "a/#": 1 }, "mqtt.snPredefined.a/#: must be a topic name of 1 to 128 characters, without + or #"],
    ["an empty topic", { "": 1 }, "mqtt.snPredefined.: must be a topic name"],
    ["a topic over 128 characters", { ["t".repeat(129)]: 1 }, "must be a topic name of 1 to 128 characters"],
    ["the same id twice", { a: 5, b: 5 }, "mqtt.snPredefined.b: must be an id no other topic has (got 5)"],
    ["more than 8 topics", { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9 }, "mqtt.snPredefined: must have at most 8 topics"],
  ];
  for (const [name, value, message] of bad) {
    it("refuses " + name, () => {
      const c = copy();
      c.mqtt.snPredefined = value;
      const r = validateConfig(c, ctx);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.errors.map((e) => e.message).join("\n")).toContain(message);
    });
  }

  it("a stored document from before the key loads with none (not as a corrupt one)", () => {
    const c = copy();
    delete c.mqtt.snPredefined;
    const r = validateConfig(c, ctx);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.config.mqtt.snPredefined).toEqual({});
    const flash = new FlashStore();
    const store = new ConfigStore({ storage: flash, context: ctx });
    store.save({ ...c, telemetry: { intervalS: 30, qos: 1 } } as never);
    const loaded = new ConfigStore({ storage: flash, context: ctx }).load();
    expect(loaded.status).toBe("stored");
    expect(loaded.config.telemetry.intervalS).toBe(30);
    expect(loaded.config.mqtt.snPredefined).toEqual({});
  });

  it("is a connectivity key; equal objects are no change, another id is", () => {
    expect(CONNECTIVITY_KEYS).toContain("mqtt.snPredefined");
    const a = defaultConfig(ctx);
    const b = JSON.parse(JSON.stringify(a));
    expect(changedKeys(a, b)).toEqual([]);
    b.mqtt.snPredefined = { t: 3 };
    expect(connectivityChanges(a, b)).toEqual(["mqtt.snPredefined"]);
  });

  it("config/patch adds an entry and removes one with null (RFC 7396), as a connectivity change", () => {
    const k = makeCore();
    let r = k.run("config/patch", { mqtt: { snPredefined: { "xs-iot/dev-1/tele": 21, "xs-iot/dev-1/state": 22 } } });
    expect([r.status, r.changed]).toEqual(["ok", ["mqtt.snPredefined"]]);
    r = k.run("config/patch", { mqtt: { snPredefined: { "xs-iot/dev-1/state": null } } });
    expect(r.status).toBe("ok");
    expect(k.core.config.mqtt.snPredefined).toEqual({ "xs-iot/dev-1/tele": 21 });
    r = k.run("config/patch", { mqtt: { snPredefined: { "x/#": 4 } } });
    expect(r.status).not.toBe("ok");
    expect(k.core.config.mqtt.snPredefined).toEqual({ "xs-iot/dev-1/tele": 21 });
    expect(makeCore({}, k.flash).core.config.mqtt.snPredefined).toEqual({ "xs-iot/dev-1/tele": 21 });
  });
});

// mqtt.snWill: the MQTT-SN CONNECT with or without the will (§6.2; Paho's gateway ends the will dialogue, #248).
describe("mqtt.snWill", () => {
  it("is true by default, takes false, and refuses what is not a boolean", () => {
    expect(defaultConfig(ctx).mqtt.snWill).toBe(true);
    const c = copy();
    c.mqtt.snWill = false;
    const r = validateConfig(c, ctx);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.config.mqtt.snWill).toBe(false);
    c.mqtt.snWill = "no";
    const bad = validateConfig(c, ctx);
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.errors.map((e) => e.message).join("\n")).toContain("mqtt.snWill: must be");
  });

  it("a stored document from before the key loads with the will", () => {
    const c = copy();
    delete c.mqtt.snWill;
    const r = validateConfig(c, ctx);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.config.mqtt.snWill).toBe(true);
  });

  it("is a connectivity key: config/patch false is a change, kept in flash", () => {
    expect(CONNECTIVITY_KEYS).toContain("mqtt.snWill");
    const k = makeCore();
    const r = k.run("config/patch", { mqtt: { snWill: false } });
    expect([r.status, r.changed]).toEqual(["ok", ["mqtt.snWill"]]);
    expect(k.run("config/patch", { mqtt: { snWill: 0 } }).status).not.toBe("ok");
    expect(makeCore({}, k.flash).core.config.mqtt.snWill).toBe(false);
  });
});
