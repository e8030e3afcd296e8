// @xs
/*
 * The command core: schema rules, v1 -> v2 migration, RFC 7396 merge patch, every
 * command, HMAC authentication over the canonical bytes, the counter, the rate
 * limit, safe apply with rollback, sleep policy and reboot.
 */
import { makeCore, KEY, DEVICE, flashSnapshot } from "./helpers";
import { validateConfig, defaultConfig, migrateV1, redactConfig, CONNECTIVITY_KEYS, type DeviceConfig } from "../../modules/config/schema";
import { mergePatch } from "../../modules/config/merge-patch";
import { canonicalJson, commandSigningBytes, signCommand } from "../../modules/config/auth";
import { hmacSha256 } from "../../modules/platform/sha256";
import type { ConnectivityHook, CommandResult, ConfigShare } from "../../modules/config/core";
import { simBoard } from "../../boards/sim";
import { esp32DevkitC } from "../../boards/esp32-devkitc";

const ctx = { board: simBoard, deviceId: DEVICE };

describe("schema", () => {
  it("defaults come from the board: its sensors, enabled", () => {
    expect(Object.keys(defaultConfig({ board: esp32DevkitC })).length).toBeGreaterThan(5);
    expect(Object.keys(defaultConfig({ board: esp32DevkitC }).sensors).sort()).toEqual(["bme280", "sht3x"]);
    expect(Object.keys(defaultConfig({ board: simBoard }).sensors).sort()).toEqual(["battery", "bh1750", "bme280", "scd4x", "sht3x"]);
    expect(defaultConfig().topicPrefix).toBe("xs-iot");
  });
  it("provisioned defaults replace the built-in ones and are checked", () => {
    expect(defaultConfig({ provisioned: { "mqtt.host": "broker.lan", "mqtt.port": 8883 } }).mqtt.port).toBe(8883);
    expect(() => defaultConfig({ provisioned: { "mqtt.port": 0 } })).toThrow(/mqtt\.port/);
  });
  it("defaults pass their own rules", () => {
    expect(validateConfig(defaultConfig(ctx), ctx).ok).toBe(true);
  });
  const bad: [string, (c: any) => void, string][] = [
    ["integer range", (c) => (c.telemetry.intervalS = 0), "telemetry.intervalS: must be a number of seconds from 0.01 to 86400, in whole milliseconds (got 0)"],
    ["integer type", (c) => (c.mqtt.port = "1883"), 'mqtt.port: must be an integer from 1 to 65535 (got "1883")'],
    ["fraction", (c) => (c.mqtt.keepAliveS = 60.5), "mqtt.keepAliveS: must be an integer from 10 to 3600 (got 60.5)"],
    ["enum", (c) => (c.protocol = "http"), 'protocol: must be one of "mqtt311", "mqtt5", "coap", "mqttsn" (got "http")'],
    ["QoS 2 refused", (c) => (c.telemetry.qos = 2), "telemetry.qos: must be one of 0, 1 (got 2)"],
    ["bool", (c) => (c.mqtt.tls = "yes"), 'mqtt.tls: must be true or false (got "yes")'],
    ["host", (c) => (c.mqtt.host = "bad host!"), "mqtt.host: must be a host name"],
    ["ipv4 out of range", (c) => (c.mqtt.host = "300.1.1.1"), "mqtt.host: must be a host name"],
    ["device id charset", (c) => (c.deviceId = "a/b"), "deviceId: must be 1 to 32 characters from A-Z a-z 0-9 _ -"],
    ["device id length", (c) => (c.deviceId = "x".repeat(33)), "deviceId: must be 1 to 32 characters"],
    ["prefix wildcard", (c) => (c.topicPrefix = "a/+"), "topicPrefix: must not contain the wildcards"],
    ["prefix $", (c) => (c.topicPrefix = "$SYS"), 'topicPrefix: must not start with "$"'],
    ["prefix empty level", (c) => (c.topicPrefix = "a//b"), "topicPrefix: must not have empty levels"],
    ["unknown top key", (c) => (c.color = "red"), "color: unknown key"],
    ["unknown nested key", (c) => (c.mqtt.hots = "x"), "mqtt.hots: unknown key"],
    ["missing key", (c) => delete c.mqtt.port, "mqtt.port: is required"],
    ["missing group", (c) => delete c.sleep, "sleep: is required"],
    ["group not object", (c) => (c.mqtt = 5), "mqtt: must be an object (got 5)"],
    ["version", (c) => (c.version = 3), "version: must be 2 (or 1, migrated) (got 3)"],
    ["unknown sensor", (c) => (c.sensors.dht22 = { enabled: true }), "sensors.dht22: unknown sensor"],
    ["sensor not on board", (c) => (c.sensors.sht4x = { enabled: true }), "sensors.sht4x: this board has no such sensor"],
    ["sensor enabled type", (c) => (c.sensors.sht3x.enabled = 1), "sensors.sht3x.enabled: must be true or false (got 1)"],
    ["threshold quantity", (c) => (c.sensors.bh1750.thresholds = { co2: { max: 5 } }), "sensors.bh1750.thresholds.co2: unknown quantity for bh1750"],
    ["threshold range", (c) => (c.sensors.sht3x.thresholds = { humidity: { max: 101 } }), "sensors.sht3x.thresholds.humidity.max: must be from 0 to 100 (humidity) (got 101)"],
    ["threshold order", (c) => (c.sensors.sht3x.thresholds = { temperature: { min: 30, max: 20 } }), "sensors.sht3x.thresholds.temperature: min must not be above max"],
    ["threshold NaN-ish", (c) => (c.sensors.sht3x.thresholds = { temperature: { min: "1" } }), "sensors.sht3x.thresholds.temperature.min: must be a finite number"],
    ["cross-field", (c) => ((c.sampling.intervalS = 100), (c.telemetry.intervalS = 50)), "telemetry.intervalS: must not be shorter than sampling.intervalS"],
    ["secret not echoed", (c) => (c.mqtt.password = "x".repeat(200)), "mqtt.password: must be 0 to 128 characters (got 200 characters)"],
  ];
  it.each(bad)("%s: the error names the key and the rule", (_n, mutate, message) => {
    const c = JSON.parse(JSON.stringify(defaultConfig(ctx)));
    mutate(c);
    const r = validateConfig(c, ctx);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.message).join("\n")).toContain(message);
  });
  it("every error is reported, not just the first", () => {
    const c = JSON.parse(JSON.stringify(defaultConfig(ctx)));
    c.mqtt.port = 0;
    c.telemetry.qos = 5;
    c.x = 1;
    const r = validateConfig(c, ctx);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.length).toBe(3);
  });
  it("not an object", () => {
    for (const v of [null, 5, "x", [1]]) expect(validateConfig(v, ctx).ok).toBe(false);
  });
  it("redaction leaves the secrets out", () => {
    const c = defaultConfig(ctx);
    c.mqtt.password = "hunter2";
    expect(JSON.stringify(redactConfig(c))).not.toContain("hunter2");
    expect((redactConfig(c).mqtt as { [k: string]: unknown }).password).toBeUndefined();
  });
  it("connectivity keys are the broker, credentials, protocol and endpoints", () => {
    for (const k of ["protocol", "mqtt.host", "mqtt.port", "mqtt.password", "mqtt.username", "coap.listenPort", "deviceId"]) expect(CONNECTIVITY_KEYS).toContain(k);
    expect(CONNECTIVITY_KEYS).not.toContain("telemetry.intervalS");
  });
  it("v1 -> v2 migration maps every v1 key", () => {
    const m = migrateV1({ version: 1, deviceId: "d9", broker: "b.lan", mqttVersion: 5, user: "u", pass: "p", prefix: "acme/x", sampleMs: 999, reportMs: 60000, keepAlive: 30, qos: 0, sensors: ["bh1750"], deepSleep: false }, ctx);
    expect(m.ok).toBe(true);
    const v = validateConfig(m.ok ? m.doc : null, ctx);
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    const c = v.config;
    expect([c.deviceId, c.protocol, c.mqtt.host, c.mqtt.port, c.mqtt.username, c.mqtt.password, c.topicPrefix]).toEqual(["d9", "mqtt5", "b.lan", 1883, "u", "p", "acme/x"]);
    expect([c.sampling.intervalS, c.telemetry.intervalS, c.mqtt.keepAliveS, c.telemetry.qos, c.sleep.mode]).toEqual([1, 60, 30, 0, "none"]);
    expect(c.sensors.bh1750.enabled).toBe(true);
    expect(c.sensors.sht3x.enabled).toBe(false);
  });
  it("v1 documents are migrated by validateConfig (a config/set may send one)", () => {
    const r = validateConfig({ version: 1, reportMs: 30000 }, ctx);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.config.telemetry.intervalS).toBe(30);
  });
  it("v1 errors name the v1 key", () => {
    const m = migrateV1({ version: 1, mqttVersion: 3, reportMs: -1, extra: 1 }, ctx);
    expect(m.ok).toBe(false);
    if (!m.ok) expect(m.errors.map((e) => e.key).sort()).toEqual(["extra", "mqttVersion", "reportMs"]);
  });
});

describe("RFC 7396 merge patch", () => {
  // RFC 7396 Appendix A examples.
  const examples: [unknown, unknown, unknown][] = [
    [{ a: "b" }, { a: "c" }, { a: "c" }],
    [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
    [{ a: "b" }, { a: null }, {}],
    [{ a: "b", b: "c" }, { a: null }, { b: "c" }],
    [{ a: ["b"] }, { a: "c" }, { a: "c" }],
    [{ a: "c" }, { a: ["b"] }, { a: ["b"] }],
    [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
    [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
    [["a", "b"], ["c", "d"], ["c", "d"]],
    [{ a: "b" }, ["c"], ["c"]],
    [{ a: "foo" }, null, null],
    [{ a: "foo" }, "bar", "bar"],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: "b", c: null }, { a: "b" }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  it.each(examples)("Appendix A: %j + %j = %j", (target, patch, result) => {
    expect(mergePatch(target, patch)).toEqual(result);
  });
  it("leaves its inputs alone", () => {
    const t = { a: { b: 1 } };
    const p = { a: { c: 2 } };
    mergePatch(t, p);
    expect(t).toEqual({ a: { b: 1 } });
    expect(p).toEqual({ a: { c: 2 } });
  });
});

describe("canonical signing bytes", () => {
  it("sorted keys, no whitespace, JSON numbers (RFC 8785)", () => {
    expect(canonicalJson({ b: 1, a: [true, null, "x"], c: { z: 1.5, y: -0 } })).toBe('{"a":[true,null,"x"],"b":1,"c":{"y":0,"z":1.5}}');
    const text = String.fromCharCode(...Array.from(commandSigningBytes("dev-1", "config/patch", 17, { telemetry: { intervalS: 30 } })));
    expect(text).toBe('{"body":{"telemetry":{"intervalS":30}},"cmd":"config/patch","ctr":17,"dev":"dev-1"}');
    expect(String.fromCharCode(...Array.from(commandSigningBytes("d", "ping", 1, undefined)))).toBe('{"body":null,"cmd":"ping","ctr":1,"dev":"d"}');
  });
  it("a known HMAC vector (so other implementations can check theirs)", () => {
    const key = new Uint8Array(32).fill(0x0b);
    expect(signCommand(hmacSha256, key, "dev-1", "ping", 1, null)).toMatch(/^[0-9a-f]{64}$/);
    expect(signCommand(hmacSha256, key, "dev-1", "ping", 1, null)).toBe(signCommand(hmacSha256, key, "dev-1", "ping", 1, undefined));
    expect(signCommand(hmacSha256, key, "dev-1", "ping", 1, null)).not.toBe(signCommand(hmacSha256, key, "dev-2", "ping", 1, null));
  });
  it("values JSON cannot carry are unsignable", () => {
    expect(() => canonicalJson({ a: new Uint8Array(1) })).toThrow();
    expect(() => canonicalJson({ a: Infinity })).toThrow();
    expect(() => canonicalJson({ a: BigInt(1) })).toThrow();
  });
});

describe("commands", () => {
  it("ping, config/get (secrets left out), counters echoed", () => {
    const k = makeCore();
    const p = k.run("ping");
    expect(p.status).toBe("ok");
    expect(p.ctr).toBe(1);
    const g = k.run("config/get");
    expect(g.status).toBe("ok");
    expect((g.config as any).deviceId).toBe(DEVICE);
    expect((g.config as any).mqtt.password).toBeUndefined();
    expect(g.boot).toBe("defaults");
  });
  it("config/patch changes one key, persists it with the counter, and notifies", () => {
    const k = makeCore();
    const events: string[] = [];
    k.core.on((e) => events.push(e.type + ":" + (e.phase ?? "")));
    const r = k.run("config/patch", { telemetry: { intervalS: 30 } });
    expect(r.status).toBe("ok");
    expect(r.changed).toEqual(["telemetry.intervalS"]);
    expect(r.applied).toBe("direct");
    expect(k.core.config.telemetry.intervalS).toBe(30);
    expect(events).toEqual(["change:applied"]);
    const reloaded = makeCore({}, k.flash);
    expect(reloaded.core.config.telemetry.intervalS).toBe(30);
    expect(reloaded.store.counter).toBe(1);
  });
  it("the core's root configuration keeps the schema's keys in the schema's order, before and after a patch and a reload (the root is rebuilt as one literal)", () => {
    const k = makeCore();
    const schemaKeys = Object.keys(defaultConfig({ board: simBoard }));
    expect(Object.keys(k.core.current)).toEqual(schemaKeys);
    expect(k.core.current).toEqual(k.store.load().config);
    expect(k.run("config/patch", { telemetry: { intervalS: 30 } }).status).toBe("ok");
    expect(Object.keys(k.core.current)).toEqual(schemaKeys);
    expect(k.core.current.telemetry.intervalS).toBe(30);
    const reloaded = makeCore({}, k.flash);
    expect(Object.keys(reloaded.core.current)).toEqual(schemaKeys);
    expect(JSON.stringify(reloaded.core.current)).toBe(JSON.stringify(k.core.current));
  });
  it("a listener removed with off() (or the function on() returns) hears nothing more; the others still do, and one that removes itself mid-dispatch does not skip the next", () => {
    const k = makeCore();
    const heard: string[] = [];
    const a = () => heard.push("a");
    const selfRemoving = () => {
      heard.push("s");
      k.core.off(selfRemoving);
    };
    const c = () => heard.push("c");
    k.core.on(a);
    k.core.on(selfRemoving);
    const offC = k.core.on(c);
    expect(k.run("config/patch", { telemetry: { intervalS: 30 } }).status).toBe("ok");
    expect(heard).toEqual(["a", "s", "c"]);
    k.core.off(a);
    k.core.off(a); // twice: nothing
    offC();
    k.core.off(() => undefined); // never added: nothing
    expect(k.run("config/patch", { telemetry: { intervalS: 40 } }).status).toBe("ok");
    expect(heard).toEqual(["a", "s", "c"]);
    const late: string[] = [];
    k.core.on(() => late.push("late"));
    expect(k.run("config/patch", { telemetry: { intervalS: 50 } }).status).toBe("ok");
    expect(late).toEqual(["late"]);
  });
  it("a listener may be an object: its onConfigEvent is called with the object as this, off(object) removes it; anything else is refused", () => {
    const k = makeCore();
    const listener = {
      phases: [] as string[],
      onConfigEvent(e: { type: string; phase?: string }) {
        if (e.type === "change") this.phases.push(e.phase!);
      },
    };
    k.core.on(listener);
    expect(() => k.core.on({} as never)).toThrow(/listener must be a function or have an onConfigEvent method/);
    expect(() => k.core.on(undefined as never)).toThrow(TypeError);
    expect(k.run("config/patch", { telemetry: { intervalS: 30 } }).status).toBe("ok");
    expect(listener.phases).toEqual(["applied"]);
    k.core.off(listener);
    expect(k.run("config/patch", { telemetry: { intervalS: 40 } }).status).toBe("ok");
    expect(listener.phases).toEqual(["applied"]);
  });
  it("cores given one ConfigShare share equal configuration groups, frozen; a change on one core leaves the other's alone", () => {
    const shared: ConfigShare = {};
    const a = makeCore({ shared });
    const b = makeCore({ shared });
    expect(a.core.current).not.toBe(b.core.current); // the root is each device's own
    expect(a.core.current.mqtt).toBe(b.core.current.mqtt);
    expect(a.core.current.sensors).toBe(b.core.current.sensors);
    expect(a.core.current.sensors.sht3x).toBe(b.core.current.sensors.sht3x);
    expect(Object.isFrozen(a.core.current.telemetry)).toBe(true);
    expect(() => {
      (a.core.current.telemetry as { intervalS: number }).intervalS = 1;
    }).toThrow(TypeError);
    const copy = a.core.config; // `config` is a copy the caller may change
    copy.telemetry.intervalS = 7;
    expect(a.core.current.telemetry.intervalS).not.toBe(7);
    expect(a.run("config/patch", { telemetry: { intervalS: 30 } }).status).toBe("ok");
    expect(a.core.current.telemetry.intervalS).toBe(30);
    expect(b.core.current.telemetry.intervalS).not.toBe(30);
    expect(a.core.current.mqtt).toBe(b.core.current.mqtt); // unchanged groups stay shared
    expect(a.core.current.telemetry).not.toBe(b.core.current.telemetry);
    const c = makeCore({ shared });
    expect(c.run("config/patch", { telemetry: { intervalS: 30 } }).status).toBe("ok");
    expect(c.core.current.telemetry).toBe(a.core.current.telemetry); // equal again: shared again
    const alone = makeCore(); // no pool: its groups are its own, frozen all the same
    expect(alone.core.current.mqtt).not.toBe(a.core.current.mqtt);
    expect(alone.core.current.mqtt).toEqual(a.core.current.mqtt);
    expect(Object.isFrozen(alone.core.current.mqtt)).toBe(true);
  });
  it("config/set replaces the whole document; an absent secret keeps its value", () => {
    const k = makeCore();
    expect(k.run("config/patch", { mqtt: { password: "s3cret" } }).status).toBe("ok");
    const doc = redactConfig(k.core.config) as any;
    doc.telemetry.intervalS = 42;
    const r = k.run("config/set", doc);
    expect(r.status).toBe("ok");
    expect(k.core.config.telemetry.intervalS).toBe(42);
    expect(k.core.config.mqtt.password).toBe("s3cret");
    expect(JSON.stringify(r)).not.toContain("s3cret");
  });
  it("config/set with a partial document is refused: it must be whole", () => {
    const k = makeCore();
    const r = k.run("config/set", { version: 2, telemetry: { intervalS: 30, qos: 1 } });
    expect(r.status).toBe("invalid");
    expect(r.reasons!.join(" ")).toContain("deviceId: is required");
  });
  it("a patch that sets null on a required key is refused", () => {
    const k = makeCore();
    const r = k.run("config/patch", { mqtt: { port: null } });
    expect(r.status).toBe("invalid");
    expect(r.reasons).toEqual(["mqtt.port: is required"]);
  });
  it("an unchanged patch accepts the counter and writes no configuration", () => {
    const k = makeCore();
    const r = k.run("config/patch", { telemetry: { intervalS: 300 } });
    expect(r.status).toBe("ok");
    expect(r.changed).toEqual([]);
    expect(k.store.counter).toBe(1);
  });
  it("sleep/prevent and sleep/allow, with an expiry", () => {
    const k = makeCore();
    const policy: boolean[] = [];
    k.core.on((e) => e.type === "sleep-policy" && policy.push(!!e.sleepPrevented));
    expect(k.run("sleep/prevent", { forS: 5 }).status).toBe("ok");
    expect(k.core.sleepPrevented).toBe(true);
    k.clock.advance(5000);
    expect(k.core.sleepPrevented).toBe(false);
    expect(policy).toEqual([true, false]);
    expect(k.run("sleep/prevent").sleepPreventedForS).toBe(600);
    expect(k.run("sleep/allow").status).toBe("ok");
    expect(k.core.sleepPrevented).toBe(false);
    expect(k.run("sleep/prevent", { forS: 0 }).status).toBe("invalid");
    expect(k.run("sleep/prevent", { for: 10 }).reasons![0]).toContain("body.for: unknown key");
  });
  it("reboot answers first, restarts after the delay", () => {
    let reboots = 0;
    const k = makeCore({ reboot: () => reboots++, rebootDelayMs: 500 });
    const r = k.run("reboot");
    expect(r.status).toBe("ok");
    expect(r.rebootInMs).toBe(500);
    expect(reboots).toBe(0);
    k.clock.advance(500);
    expect(reboots).toBe(1);
    expect(k.run("reboot", { now: true }).status).toBe("invalid");
  });
  it("factory-reset: defaults, reboot, the key and counter kept (old commands stay refused)", () => {
    let reboots = 0;
    const k = makeCore({ reboot: () => reboots++ });
    const old = k.sign("config/patch", { telemetry: { intervalS: 30 } });
    expect(k.core.execute(old).status).toBe("ok");
    expect(k.run("factory-reset").status).toBe("ok");
    expect(k.core.config).toEqual(defaultConfig(ctx));
    k.clock.advance(1000);
    expect(reboots).toBe(1);
    const again = makeCore({}, k.flash);
    expect(again.core.config.telemetry.intervalS).toBe(300);
    expect(again.core.execute(old).status).toBe("unauthorized");
  });
});

describe("authentication", () => {
  it("no key provisioned: everything refused", () => {
    const k = makeCore({}, undefined, false);
    const r = k.run("ping");
    expect(r.status).toBe("unauthorized");
    expect(r.reasons).toEqual(["unauthorized"]);
    expect(k.logs.join("\n")).toContain("no command key");
  });
  it("the MAC binds the device id, command, counter and body", () => {
    const k = makeCore();
    const good = k.sign("config/patch", { telemetry: { intervalS: 30 } }, 10);
    expect(k.core.execute({ ...good, command: "config/set" }).status).toBe("unauthorized");
    expect(k.core.execute({ ...good, counter: 11 }).status).toBe("unauthorized");
    expect(k.core.execute({ ...good, body: { telemetry: { intervalS: 31 } } }).status).toBe("unauthorized");
    expect(k.core.execute(k.sign("config/patch", { telemetry: { intervalS: 30 } }, 10, KEY, "dev-2")).status).toBe("unauthorized");
    expect(k.store.counter).toBe(0);
    expect(k.core.execute(good).status).toBe("ok");
  });
  it("a replayed or lower counter is refused and changes nothing", () => {
    const k = makeCore();
    const a = k.sign("config/patch", { telemetry: { intervalS: 30 } }, 5);
    expect(k.core.execute(a).status).toBe("ok");
    const snap = flashSnapshot(k.flash);
    const r = k.core.execute(a);
    expect(r.status).toBe("unauthorized");
    expect(r.reasons![0]).toContain("not above the last accepted counter 5");
    expect(k.core.execute(k.sign("ping", undefined, 4)).status).toBe("unauthorized");
    expect(flashSnapshot(k.flash)).toBe(snap);
  });
  it("the last accepted counter is told only to a request whose MAC verifies (issue 15)", () => {
    const k = makeCore();
    expect(k.core.execute(k.sign("ping", undefined, 1_900_000_000_000)).status).toBe("ok");
    // A stale counter under the right key: the owner learns where to resume ...
    const stale = k.core.execute(k.sign("ping", undefined, 5));
    expect(stale.status).toBe("unauthorized");
    expect(stale.lastCtr).toBe(1_900_000_000_000);
    // ... and resynchronises with a counter above it.
    expect(k.core.execute(k.sign("ping", undefined, stale.lastCtr! + 1)).status).toBe("ok");
    // Under a wrong key (or no valid MAC) nothing but "unauthorized", whatever the counter.
    for (const counter of [5, 1_900_000_000_000, 1_900_000_000_002]) {
      const wrong = k.core.execute(k.sign("ping", undefined, counter, new Uint8Array(32).fill(0x5a)));
      expect(wrong.status).toBe("unauthorized");
      expect(wrong.reasons).toEqual(["unauthorized"]);
      expect(wrong.lastCtr).toBeUndefined();
      expect(JSON.stringify(wrong)).not.toContain("1900000000001");
    }
    const noMac = k.core.execute({ command: "ping", counter: 3, body: null, mac: undefined } as never);
    expect(noMac).toEqual({ status: "unauthorized", command: "ping", ctr: 3, reasons: ["unauthorized"] });
  });
  it("keys, MACs and passwords never reach the log", () => {
    const k = makeCore();
    const req = k.sign("config/patch", { mqtt: { password: "topsecret-pw" } });
    k.core.execute(req);
    k.core.execute({ ...req, mac: "00".repeat(32) });
    k.core.execute(k.sign("config/patch", { mqtt: { password: "x".repeat(300) } }));
    const all = k.logs.join("\n");
    expect(all).not.toContain("topsecret-pw");
    expect(all).not.toContain(req.mac as string);
    expect(all).not.toContain("xxxxxxxxxx");
    const hexKey = Array.from(KEY).map((b) => (b < 16 ? "0" : "") + b.toString(16)).join("");
    expect(all).not.toContain(hexKey);
  });
});

describe("rate limit", () => {
  it("a flood is cut off before any crypto, then answers resume", () => {
    const k = makeCore({ burst: 5, ratePerS: 1 });
    let hmacs = 0;
    const counted = makeCore({ burst: 5, ratePerS: 1, hmacSha256: (key, d) => (hmacs++, hmacSha256(key, d)) });
    const results: CommandResult[] = [];
    for (let i = 0; i < 200; i++) results.push(counted.core.execute({ command: "ping", counter: 1000 + i, mac: "00".repeat(32) }));
    expect(results.filter((r) => r.status === "busy").length).toBe(195);
    expect(hmacs).toBe(5);
    expect(results.filter((r) => r.silent).length).toBeGreaterThan(190);
    expect(results[5].retryAfterMs).toBeGreaterThan(0);
    counted.clock.advance(2000);
    expect(counted.core.execute(counted.sign("ping", undefined, 5000)).status).toBe("ok");
    expect(k.core.rejected.busy ?? 0).toBe(0);
  });
});

describe("safe apply", () => {
  function hookKit(behaviour: "ok" | "fail" | "silent" | "sync-ok") {
    const calls: string[] = [];
    let done: ((ok: boolean, reason?: string) => void) | undefined;
    const hook: ConnectivityHook = {
      tryApply(next, timeoutMs, cb) {
        calls.push(`try ${next.mqtt.host} ${timeoutMs}`);
        done = cb;
        if (behaviour === "sync-ok") cb(true);
      },
      revert(prev, reason) {
        calls.push(`revert ${prev.mqtt.host} ${reason}`);
      },
    };
    const finals: CommandResult[] = [];
    const k = makeCore({ connectivity: hook });
    return { k, calls, finals, finish: (ok: boolean, reason?: string) => done!(ok, reason), reply: (r: CommandResult) => finals.push(r), behaviour };
  }
  it("a connectivity change is pending, then kept and persisted when the hook connects", () => {
    const t = hookKit("ok");
    const r = t.k.core.execute(t.k.sign("config/patch", { mqtt: { host: "broker2.lan" } }), t.reply);
    expect(r.status).toBe("pending");
    expect(r.applied).toBe("trial");
    expect(t.calls).toEqual(["try broker2.lan 60000"]);
    expect(t.k.core.config.mqtt.host).toBe("broker2.lan");
    // Not stored yet: a reboot now comes back on the old broker.
    expect(makeCore({}, t.k.flash).core.config.mqtt.host).toBe("localhost");
    t.finish(true);
    expect(t.finals.map((f) => [f.status, f.applied])).toEqual([["ok", "kept"]]);
    expect(makeCore({}, t.k.flash).core.config.mqtt.host).toBe("broker2.lan");
  });
  it("rolled back when the device cannot reconnect within the time", () => {
    const t = hookKit("silent");
    t.k.core.execute(t.k.sign("config/patch", { mqtt: { host: "nowhere.lan" }, safeApply: { timeoutS: 10 } }), t.reply);
    t.k.clock.advance(9999);
    expect(t.finals).toEqual([]);
    t.k.clock.advance(1);
    expect(t.finals.length).toBe(1);
    expect(t.finals[0].status).toBe("rolled-back");
    expect(t.finals[0].reasons![0]).toContain("within 10 s");
    expect(t.calls[1]).toContain("revert localhost");
    expect(t.k.core.config.mqtt.host).toBe("localhost");
    expect(makeCore({}, t.k.flash).core.config.mqtt.host).toBe("localhost");
    // A late success after the rollback is ignored.
    t.finish(true);
    expect(t.finals.length).toBe(1);
    expect(t.k.core.config.mqtt.host).toBe("localhost");
  });
  it("rolled back at once when the hook reports failure, with its reason", () => {
    const t = hookKit("fail");
    t.k.core.execute(t.k.sign("config/patch", { mqtt: { port: 1999 } }), t.reply);
    t.finish(false, "connection refused");
    expect(t.finals[0].status).toBe("rolled-back");
    expect(t.finals[0].reasons).toEqual(["connection refused"]);
    expect(t.k.core.config.mqtt.port).toBe(1883);
  });
  it("the counter is spent at acceptance even when rolled back (no replay of the trial)", () => {
    const t = hookKit("fail");
    const req = t.k.sign("config/patch", { mqtt: { port: 1999 } });
    t.k.core.execute(req, t.reply);
    t.finish(false, "no");
    expect(t.k.core.execute(req).status).toBe("unauthorized");
  });
  it("a second connectivity change during a trial is busy; other changes go through", () => {
    const t = hookKit("silent");
    t.k.core.execute(t.k.sign("config/patch", { mqtt: { host: "a.lan" } }), t.reply);
    expect(t.k.core.execute(t.k.sign("config/patch", { mqtt: { host: "b.lan" } })).status).toBe("busy");
  });
  it("a hook that answers synchronously works too", () => {
    const t = hookKit("sync-ok");
    const r = t.k.core.execute(t.k.sign("config/patch", { protocol: "mqtt311" }), t.reply);
    expect(r.status).toBe("pending");
    expect(t.finals[0].status).toBe("ok");
    expect(t.k.core.trialRunning).toBe(false);
  });
  it("config/get reports the last safe apply (how a CoAP client learns the final result)", () => {
    const t = hookKit("fail");
    expect(t.k.run("config/get").trial).toBeUndefined();
    const req = t.k.sign("config/patch", { mqtt: { port: 1999 } });
    t.k.core.execute(req, t.reply);
    const during = t.k.run("config/get").trial as { [k: string]: unknown };
    expect(during).toEqual({ command: "config/patch", ctr: req.counter, status: "pending", applied: "trial", changed: ["mqtt.port"] });
    t.finish(false, "connection refused");
    const after = t.k.run("config/get").trial as { [k: string]: unknown };
    expect(after).toEqual({ command: "config/patch", ctr: req.counter, status: "rolled-back", applied: "rolled-back", changed: ["mqtt.port"], reasons: ["connection refused"] });
    expect(t.k.core.lastTrial!.status).toBe("rolled-back");
  });
  it("the timeout's reason carries the hook's last error (failureDetail)", () => {
    const finals: CommandResult[] = [];
    const k = makeCore({
      connectivity: { tryApply() {}, revert() {}, failureDetail: () => "connect ECONNREFUSED 10.0.0.9:1884" },
    });
    k.core.execute(k.sign("config/patch", { mqtt: { port: 1884 }, safeApply: { timeoutS: 5 } }), (r) => finals.push(r));
    k.clock.advance(5000);
    expect(finals[0].status).toBe("rolled-back");
    expect(finals[0].reasons).toEqual(["no connection with the new settings within 5 s (last error: connect ECONNREFUSED 10.0.0.9:1884)"]);
    expect(k.core.lastTrial!.reasons).toEqual(finals[0].reasons);
  });
  it("a failureDetail that throws does not stop the rollback", () => {
    const finals: CommandResult[] = [];
    const k = makeCore({
      connectivity: { tryApply() {}, revert() {}, failureDetail: () => { throw new Error("boom"); } },
    });
    k.core.execute(k.sign("config/patch", { mqtt: { port: 1884 }, safeApply: { timeoutS: 5 } }), (r) => finals.push(r));
    k.clock.advance(5000);
    expect(finals[0].status).toBe("rolled-back");
    expect(finals[0].reasons).toEqual(["no connection with the new settings within 5 s"]);
    expect(k.core.config.mqtt.port).toBe(1883);
  });
  it("without a hook a connectivity change applies directly", () => {
    const k = makeCore();
    const r = k.run("config/patch", { mqtt: { host: "c.lan" } });
    expect([r.status, r.applied]).toEqual(["ok", "direct"]);
  });
});

describe("found by the fuzz (core-fuzz.test.ts)", () => {
  function held() {
    let done: ((ok: boolean, reason?: string) => void) | undefined;
    const reverted: string[] = [];
    const finals: CommandResult[] = [];
    const k = makeCore({ connectivity: { tryApply: (_n, _t, cb) => void (done = cb), revert: (p) => void reverted.push(p.mqtt.host) } });
    k.core.on((e) => void (e.type === "result" && finals.push(e.result!)));
    return { k, reverted, finals, done: (ok: boolean) => done!(ok, ok ? undefined : "no connection") };
  }
  const reboot = (k: ReturnType<typeof makeCore>) => makeCore({}, k.flash).core.config;

  it("a change during a trial is stored on top of the configuration before the trial, not with the trial's untried keys; a rollback keeps it", () => {
    const t = held();
    expect(t.k.run("config/patch", { mqtt: { host: "a.lan" } }).status).toBe("pending");
    const r = t.k.run("config/patch", { sleep: { awakeWindowS: 20 } });
    expect([r.status, r.applied, r.changed]).toEqual(["ok", "direct", ["sleep.awakeWindowS"]]);
    expect([t.k.core.config.mqtt.host, t.k.core.config.sleep.awakeWindowS]).toEqual(["a.lan", 20]);
    // Before: the flash held mqtt.host "a.lan", not proven yet (a reboot came back on it).
    expect([reboot(t.k).mqtt.host, reboot(t.k).sleep.awakeWindowS]).toEqual(["localhost", 20]);
    t.done(false);
    expect(t.reverted).toEqual(["localhost"]);
    // Before: the rollback lost the change in RAM (awakeWindowS back to 10) while the flash kept it.
    expect([t.k.core.config.mqtt.host, t.k.core.config.sleep.awakeWindowS]).toEqual(["localhost", 20]);
    expect(t.finals[0].config).toEqual(redactConfig(t.k.core.config));
    expect(JSON.stringify(reboot(t.k))).toBe(JSON.stringify(t.k.core.config));
  });
  it("a change during a trial that is then kept is kept with it", () => {
    const t = held();
    t.k.run("config/patch", { mqtt: { host: "a.lan" } });
    t.k.run("config/patch", { telemetry: { intervalS: 600 } });
    t.done(true);
    // Before: the kept trial saved the configuration of its start: telemetry.intervalS 300 in flash, 600 in RAM.
    expect([t.k.core.config.mqtt.host, t.k.core.config.telemetry.intervalS]).toEqual(["a.lan", 600]);
    expect(JSON.stringify(reboot(t.k))).toBe(JSON.stringify(t.k.core.config));
  });
  it("a change during a trial that does not hold without the trial's own changes is busy, and changes nothing", () => {
    const t = held();
    t.k.run("config/patch", { mqtt: { host: "a.lan" }, sampling: { intervalS: 5 }, telemetry: { intervalS: 5 } });
    const flash = flashSnapshot(t.k.flash);
    const ctr = t.k.store.counter;
    // telemetry 6 s holds with the trial's sampling of 5 s, not with the stored one of 10 s.
    const r = t.k.run("config/patch", { telemetry: { intervalS: 6 } });
    expect(r.status).toBe("busy");
    expect(r.reasons![0]).toContain("telemetry.intervalS: must not be shorter than sampling.intervalS");
    expect([flashSnapshot(t.k.flash), t.k.store.counter, t.k.core.config.telemetry.intervalS]).toEqual([flash, ctr, 5]);
  });
  it("a factory reset during a trial ends it, rolled back, and the defaults stay (in RAM and in flash)", () => {
    const t = held();
    t.k.run("config/patch", { mqtt: { host: "a.lan" }, telemetry: { intervalS: 600 } });
    const r = t.k.run("factory-reset");
    expect(r.status).toBe("ok");
    // Before: the trial went on (0 final results) and then either saved itself over the defaults
    // when kept, or brought back the configuration before the reset in RAM when rolled back.
    expect(t.finals.map((f) => [f.status, f.reasons])).toEqual([["rolled-back", ["factory reset"]]]);
    expect(t.k.core.trialRunning).toBe(false);
    t.done(true);
    expect(t.finals.length).toBe(1);
    const defaults = JSON.stringify(defaultConfig(ctx));
    expect([JSON.stringify(t.k.core.config), JSON.stringify(reboot(t.k))]).toEqual([defaults, defaults]);
  });
  it.each(["constructor", "toString", "__proto__", "hasOwnProperty"])("a key named %s (an Object.prototype member) is an unknown key, at the top and as a sensor", (name) => {
    const c = JSON.parse(JSON.stringify(defaultConfig(ctx)));
    Object.defineProperty(c, name, { value: 1, enumerable: true, configurable: true, writable: true });
    const r = validateConfig(c, ctx);
    // Before: accepted, the key dropped without a word (the field table was a {}, so its prototype had them).
    expect(r.ok ? [] : r.errors.map((e) => e.message)).toEqual([`${name}: unknown key`]);
    const s = JSON.parse(JSON.stringify(defaultConfig({ deviceId: DEVICE })));
    Object.defineProperty(s.sensors, name, { value: { enabled: true, thresholds: { temperature: { max: 30 } } }, enumerable: true, configurable: true, writable: true });
    // Before (no board to restrict the sensors): accepted as a sensor ("__proto__" then became the
    // sensors' prototype), or a TypeError from the quantities table, answered "failed".
    const v = validateConfig(s, { deviceId: DEVICE });
    expect(v.ok ? [] : v.errors.map((e) => e.message)).toEqual([`sensors.${name}: unknown sensor (known: sht3x, sht4x, bme280, bmp280, bh1750, scd4x, battery)`]);
  });
});

describe("boot", () => {
  it("a corrupt store: defaults, a log line and a status flag", () => {
    const k = makeCore();
    k.run("config/patch", { telemetry: { intervalS: 30 } });
    k.flash.set("xscfg", "a0", new ArrayBuffer(3));
    const b = makeCore({}, k.flash);
    expect(b.core.bootStatus).toBe("corrupt");
    expect(b.core.corrupt).toBe(true);
    expect(b.logs.join("\n")).toMatch(/unusable .*running on defaults/);
    expect(b.core.config.telemetry.intervalS).toBe(300);
    const g = b.run("config/get");
    expect(g.corrupt).toBe(true);
  });
});

void ({} as DeviceConfig);
