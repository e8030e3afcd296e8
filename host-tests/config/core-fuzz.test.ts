// @xs
/*
 * ConfigCore (modules/config/core.ts) fuzzed: a stateful, seeded, generative test
 * (docs/testing.md, "Seeded fuzz of a protocol end"). Each of SEEDS makes a core on a simulated
 * flash (sim/flash-store.ts; in turn: the sim board and a connectivity hook; no board; a small
 * flash that fills up; small store chunks and no hook) and drives it for STEPS random steps:
 *   - commands with a random name (the eight known ones, and unknown, empty, long, look-alike
 *     ones) and a random body: merge patches (RFC 7396) of the schema's fields with valid and
 *     invalid values, nulls that delete (optional keys come back to their default, required ones
 *     are missing), sensors added, changed and deleted, keys named after Object.prototype
 *     members, whole documents for config/set (with the password left out, version 1 ones),
 *     random JSON (deep nesting past the signing bound, huge strings, lone surrogates, arrays),
 *     values JSON cannot carry (byte strings, CBOR tags, undefined, bigints, functions, Dates,
 *     Maps, objects without a prototype); part of them travel through the MQTT envelope
 *     (envelope.ts, JSON or CBOR, sometimes mutated bytes) as the bindings do;
 *   - counters above, equal to and below the last accepted one, 0, negative, fractional, as
 *     strings, past 2^53 - 1; MACs right (lower or upper case), wrong, made with another key or
 *     for another device or command, short, not hex, not a string, missing; sizes true, lying or
 *     over the limit; exact replays of commands accepted earlier;
 *   - time: small steps, the rate limit's refill, to a safe-apply deadline (just before, at it),
 *     long jumps; the connectivity hook answering at once (yes, no, throwing) or later (yes, no,
 *     twice);
 *   - reboots (a new core on the same flash), on command (reboot, factory-reset) or at random,
 *     and power cuts in the middle of a flash write (FlashStore.failAfter, applied or not).
 * After every step (fail() names the seed, the step and the last steps):
 *   - nothing is thrown out of execute() or a hook callback (a power cut's PowerLossError
 *     excepted, and only while one is armed);
 *   - every answer has a documented status, echoes the command and a valid counter; a command
 *     that does not authenticate learns "unauthorized" and nothing more; the status is the one
 *     the check order (docs/config.md: rate limit, size, name, envelope, MAC, counter) gives;
 *   - the configuration in effect validates against the schema and has exactly its shape (the
 *     schema's keys, known sensors only, plain objects only), and a change has the values the
 *     merge patch (computed here from RFC 7396 §2) or the document asked for, `changed` naming them;
 *   - a rejected command changes neither the flash (byte for byte) nor the configuration nor
 *     the counter; an accepted one takes exactly its counter, which is above the last (never a
 *     (counter, MAC) twice);
 *   - the flash, read by a fresh store, holds exactly the last committed configuration and
 *     counter (during a safe-apply trial: the configuration before it; after a power cut: the
 *     old or the new state, never a mix, and never "corrupt");
 *   - no result, final result, trial record or log line holds a password or the device key, and
 *     no log line a MAC; results carry no mqtt.password;
 *   - bounded: scheduler jobs, flash entries, rejection classes, log lines per step.
 * A last test checks that the seeds together reached every status, trial outcome, reboot and
 * power cut (the counts it prints are the same on Node and XS: the PRNG is ours).
 *
 * What it found (each with a deterministic test of its own in core.test.ts, "found by the fuzz";
 * fixed in schema.ts and core.ts), none of which the 62 hostile commands of hostile.test.ts or
 * the hand-written safe-apply tests had met:
 *  - a key named after an Object.prototype member ("constructor", "valueOf", "__proto__", ...)
 *    was accepted and dropped without a word (the field table was a {}); as a sensor without a
 *    board it was taken, or threw out of the quantities table ("failed: internal error");
 *  - a set/patch during a safe-apply trial stored the trial's untried connectivity keys (a reboot
 *    came back on them), and was then lost by a rollback (in RAM) or by a kept trial (in flash);
 *  - a factory-reset during a trial left it running: kept, it saved the tried configuration over
 *    the defaults; rolled back, it brought back the one from before the reset in RAM.
 * Each invariant was shown able to fail by breaking the code once on purpose (the commit that
 * added this file lists the breaks and what caught them).
 */
import { Scheduler } from "../../modules/scheduler/scheduler";
import { VirtualClock } from "../../sim/virtual-clock";
import { FlashStore } from "../../sim/flash-store";
import { hmacSha256 } from "../../modules/platform/sha256";
import { ConfigStore, CONFIG_NAMESPACE } from "../../modules/config/store";
import { ConfigCore, COMMANDS, type CommandRequest, type CommandResult, type ConnectivityHook } from "../../modules/config/core";
import { signCommand, toHex, MAX_COUNTER } from "../../modules/config/auth";
import { decodeEnvelope } from "../../modules/config/envelope";
import { encodeCbor, CborTag } from "../../modules/cbor/cbor";
import { encodeUtf8New } from "../../modules/bytes/utf8";
import { CONNECTIVITY_KEYS, FIELDS, SENSOR_QUANTITIES, defaultConfig, validateConfig, type ConfigContext, type DeviceConfig } from "../../modules/config/schema";
import { simBoard } from "../../boards/sim";
import { KEY, OTHER_KEY } from "./helpers";
import { prng, Tally } from "../support/fuzz";

const SEEDS = Array.from({ length: 12 }, (_, i) => 0xc0f16 + i * 7919);
const STEPS = 250;

const STATUSES = ["ok", "pending", "rolled-back", "invalid", "unauthorized", "not-found", "too-large", "busy", "failed"];
const KEY_HEX = toHex(KEY);
const MAX_BYTES = 4096;
const BURST = 6;
const RATE = 3;
const OPTIONAL_ABSENT: { [k: string]: unknown } = { "mqtt.snPredefined": {}, "mqtt.snWill": true, "telemetry.maxBatch": 8 };
const UNKNOWN_COMMANDS = ["", "config", "config/get ", "CONFIG/GET", "config/../reboot", "sleep/prevent\u0000", "x".repeat(300), "__proto__", "constructor", "toString", "cmd/ping", "config/delete"];
const PROTO_KEYS = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"];

const SCHEMA_PATHS = FIELDS.map((f) => f.key);

/** Totals over every seed (printed, and checked by the last test). */
const tally = new Tally();
const { reached, count } = tally;

type Json = unknown;
type Obj = { [k: string]: unknown };

function isObj(v: unknown): v is Obj {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return false;
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

function own(o: Obj, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

function has(o: unknown, k: string): boolean {
  return isObj(o) && Object.prototype.hasOwnProperty.call(o, k);
}

/** RFC 7396 §2 MergePatch, written here from the RFC's pseudocode (the test's own oracle). */
function rfcMerge(target: Json, patch: Json): Json {
  if (!isObj(patch)) return patch;
  const t: Obj = {};
  if (isObj(target)) for (const k of Object.keys(target)) own(t, k, target[k]);
  for (const k of Object.keys(patch)) {
    if (patch[k] === null) delete t[k];
    else own(t, k, rfcMerge(has(t, k) ? t[k] : undefined, patch[k]));
  }
  return t;
}

function at(o: unknown, path: string): { found: boolean; value?: unknown } {
  let cur = o;
  for (const p of path.split(".")) {
    if (!has(cur, p)) return { found: false };
    cur = (cur as Obj)[p];
  }
  return { found: true, value: cur };
}

function put(o: Obj, path: string, v: unknown): void {
  const parts = path.split(".");
  let cur = o;
  for (let i = 0; i < parts.length - 1; i++) {
    if (!isObj(cur[parts[i]])) own(cur, parts[i], {});
    cur = cur[parts[i]] as Obj;
  }
  own(cur, parts[parts.length - 1], v);
}

/**
 * A copy JSON.stringify gives the same text for on Node and on XS: the XS harness gives the
 * prototypes of preloaded classes (CborTag's) a toJSON that throws (host-tests/xs/preload.ts), so
 * a tag is written as the plain {tag, value} Node writes.
 */
function plain(v: unknown, depth = 0): unknown {
  if (v instanceof CborTag) return { tag: v.tag, value: plain(v.value, depth + 1) };
  if (depth > 64 || v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map((x) => plain(x, depth + 1));
  if (!isObj(v)) return v;
  const o: Obj = {};
  for (const k of Object.keys(v)) own(o, k, plain(v[k], depth + 1));
  return o;
}

function safeJson(v: unknown): string | undefined {
  try {
    return JSON.stringify(plain(v));
  } catch {
    return undefined;
  }
}

/** What validation makes of a sensors object that passed: {chip: {enabled, thresholds: {q: rule}}}. */
function normSensors(s: unknown): string {
  const out: Obj = {};
  if (isObj(s))
    for (const chip of Object.keys(s)) {
      const v = s[chip] as Obj;
      const th: Obj = {};
      if (isObj(v.thresholds)) for (const q of Object.keys(v.thresholds)) th[q] = { ...(v.thresholds[q] as Obj) };
      own(out, chip, { enabled: v.enabled, thresholds: th });
    }
  return JSON.stringify(out);
}

/** Key paths whose values differ (FIELDS, then one key per sensor), as core.changed lists them. */
function diffKeys(a: Obj, b: Obj): string[] {
  const out: string[] = [];
  for (const f of FIELDS) if (JSON.stringify(at(a, f.key).value) !== JSON.stringify(at(b, f.key).value)) out.push(f.key);
  const sa = a.sensors as Obj;
  const sb = b.sensors as Obj;
  const chips = Object.keys(sa).concat(Object.keys(sb).filter((c) => !has(sa, c)));
  for (const c of chips) if (JSON.stringify(sa[c]) !== JSON.stringify(sb[c])) out.push("sensors." + c);
  return out;
}

function redacted(c: Obj): string {
  const copy = JSON.parse(JSON.stringify(c));
  delete copy.mqtt.password;
  return JSON.stringify(copy);
}

class Fuzz {
  r: () => number;
  variant: string;
  ctx: ConfigContext;
  hasHook: boolean;
  capacity: number | undefined;
  chunk: number | undefined;
  flash: FlashStore;
  clock!: VirtualClock;
  scheduler!: Scheduler;
  store!: ConfigStore;
  core!: ConfigCore;
  step = 0;
  checked = "";
  shaped = "";
  trace: string[] = [];
  logs: string[] = [];
  finals: CommandResult[] = [];
  replies: CommandResult[] = [];
  tried: string[] = [];
  reverted: string[] = [];
  held: ((ok: boolean, reason?: string) => void) | undefined;
  rebootAsked = false;
  hookThrows = false;
  // The model.
  committed: string;
  ram: string;
  counter = 0;
  trial: { next: string } | undefined;
  tokens = BURST;
  tokensAt = 0;
  accepted: string[] = [];
  recent: CommandRequest[] = [];
  passwords: string[] = [];
  defaults: string;

  constructor(readonly seed: number) {
    this.r = prng(seed);
    const v = seed % 4;
    this.variant = ["board+hook", "no board", "small flash", "small chunks, no hook"][v];
    this.ctx = v === 1 ? { deviceId: "dev-1" } : { board: simBoard, deviceId: "dev-1" };
    this.hasHook = v !== 3;
    this.capacity = v === 2 ? 1760 : undefined;
    this.chunk = v === 3 ? 96 : undefined;
    this.flash = new FlashStore(this.capacity ? { capacity: this.capacity } : {});
    this.defaults = JSON.stringify(defaultConfig(this.ctx));
    this.committed = this.defaults;
    this.ram = this.defaults;
    new ConfigStore({ storage: this.flash }).provisionKey(KEY);
    this.boot();
  }

  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
  chance(p: number): boolean {
    return this.r() < p;
  }

  fail(what: string): never {
    throw new Error("seed " + this.seed + " (" + this.variant + ") step " + this.step + ": " + what + "\n  last steps:\n  " + this.trace.slice(-12).join("\n  "));
  }
  note(what: string): void {
    this.trace.push(this.step + (this.trial ? " [trial]" : "") + " " + what.slice(0, 300));
    if (this.trace.length > 40) this.trace.shift();
  }

  // -- the device ---------------------------------------------------------------------

  boot(): void {
    this.clock = new VirtualClock();
    this.scheduler = new Scheduler({ clock: this.clock });
    this.store = new ConfigStore({ storage: this.flash, context: this.ctx, chunkBytes: this.chunk });
    const hook: ConnectivityHook = {
      tryApply: (next, _timeoutMs, done) => {
        this.tried.push(JSON.stringify(next));
        const mode = this.hookThrows ? 3 : this.int(6);
        if (mode === 0 || mode === 5) done(true);
        else if (mode === 1) done(false, "refused at once");
        else if (mode === 3) throw new Error("hook broke");
        else this.held = done;
      },
      revert: (previous) => {
        this.reverted.push(JSON.stringify(previous));
      },
      failureDetail: () => (this.chance(0.5) ? "connect ECONNREFUSED" : undefined),
    };
    this.core = new ConfigCore({
      store: this.store,
      scheduler: this.scheduler,
      hmacSha256,
      connectivity: this.hasHook ? hook : undefined,
      reboot: () => {
        this.rebootAsked = true;
      },
      log: (l) => this.logs.push(l),
      burst: BURST,
      ratePerS: RATE,
    });
    this.core.on((e) => {
      if (e.type === "result" && e.result) this.finals.push(e.result);
    });
    this.held = undefined;
    this.rebootAsked = false;
    this.tokens = BURST;
    this.tokensAt = 0;
    this.trial = undefined;
    this.ram = this.committed;
    const st = this.core.bootStatus;
    if (st !== "stored" && st !== "defaults") this.fail("boot status " + st + ": " + this.core.bootMessage);
    count("boot " + st);
  }

  /** Entries written and erased so far (FlashStore counts every set that changed a value, every delete of a key). */
  flashWrites(): string {
    return this.flash.writes + "/" + this.flash.erases;
  }

  /** The flash as a fresh store reads it at boot (load() only reads: no legacy entry is ever written here). */
  reload(): { config: string; counter: number; status: string; message?: string } {
    const before = this.flashWrites();
    const l = new ConfigStore({ storage: this.flash, context: this.ctx, chunkBytes: this.chunk }).load();
    if (this.flashWrites() !== before) this.fail("reading the flash wrote it");
    return { config: JSON.stringify(l.config), counter: l.counter, status: l.status, message: l.message };
  }

  // -- generators -------------------------------------------------------------------

  str(): string {
    switch (this.int(8)) {
      case 0:
        return "";
      case 1:
        return "x".repeat(1 + this.int(70));
      case 2:
        return "é\u00fc\u4e2d";
      case 3:
        return "a\ud800b";
      case 4:
        // Around the 4096-byte message limit (once in an envelope), now and then.
        return this.chance(0.1) ? "y".repeat(3900 + this.int(300)) : "y".repeat(100 + this.int(300));
      case 5:
        return this.pick(PROTO_KEYS);
      default:
        return "s" + this.int(1000);
    }
  }

  password(): string {
    let s = "pw-";
    for (let i = 0; i < 8; i++) s += "abcdefghjkmnpqrstuvwxyz23456789"[this.int(31)];
    this.passwords.push(s);
    if (this.passwords.length > 64) this.passwords.shift();
    return s;
  }

  /** A value for a schema field: usually valid, sometimes not. */
  fieldValue(key: string, clean = false): unknown {
    const bad = !clean && this.chance(0.3);
    const f = FIELDS.filter((x) => x.key === key)[0];
    const k = f.kind;
    if (bad) {
      const generic = [null, "1", true, [], {}, 1.5, -1, 1e9, this.str()];
      switch (k.type) {
        case "int":
        case "seconds":
          return this.pick([k.min - 1, k.max + 1, k.type === "int" ? k.min + 0.5 : k.min / 10, String(k.min), ...generic]);
        case "enum":
          return this.pick(["http", 2, "MQTT5", ...generic]);
        case "bool":
          return this.pick(["yes", 1, 0, ...generic]);
        case "host":
          return this.pick(["bad host!", "300.1.1.1", "", "-a.b", "a..b", "x".repeat(254), ...generic]);
        case "topic-prefix":
          return this.pick(["a/+", "$SYS", "a//b", "sp ace", "/a", "x".repeat(65), ...generic]);
        case "topic-ids":
          return this.pick([{ "a/+": 1 }, { a: 0 }, { a: 1, b: 1 }, { a: 65535 }, { "": 3 }, Object.fromEntries(Array.from({ length: 9 }, (_, i) => ["t" + i, i + 1])), ...generic]);
        case "string":
          return this.pick([k.max ? "z".repeat(k.max + 1) : "", "a\ud800", "bad path?", ...generic]);
      }
    }
    if (f.secret) return this.chance(0.2) ? "" : this.password();
    switch (k.type) {
      case "int":
        return this.pick([k.min, k.max, Math.floor((k.min + k.max) / 2), k.min + this.int(Math.min(100, k.max - k.min + 1))]);
      case "seconds":
        return this.pick([k.min, 1, 0.5, 10, 30, 300, 86400, 2.125]);
      case "enum":
        return this.pick(k.values);
      case "bool":
        return this.chance(0.5);
      case "host":
        return this.pick(["localhost", "broker.lan", "10.0.0.9", "a-b.example.com"]);
      case "topic-prefix":
        return this.pick(["xs-iot", "fleet/a", "b", "x".repeat(64)]);
      case "topic-ids":
        return this.pick([{}, { "t/1": 5 }, { a: 1, b: 2 }, { __proto__x: 4 }, JSON.parse('{"__proto__": 7}'), { constructor: 9 }]);
      case "string":
        if (key === "deviceId") return this.pick(["dev-1", "dev-2", "d_3", "x".repeat(32)]);
        if (key === "coap.gatewayPath") return this.pick(["tele", "a/b.c", ""]);
        return this.pick(["", "user", "ü", "x".repeat(64)]);
    }
    return null;
  }

  sensorsPatch(): Obj {
    const chips = ["sht3x", "bme280", "bh1750", "scd4x", "battery", "sht4x", "dht22", ...PROTO_KEYS];
    const out: Obj = {};
    for (let n = 1 + this.int(3); n > 0; n--) {
      const chip = this.pick(chips);
      const qs = SENSOR_QUANTITIES[chip] ? [...(Object.prototype.hasOwnProperty.call(SENSOR_QUANTITIES, chip) ? SENSOR_QUANTITIES[chip] : []), "co2", "constructor"] : ["temperature", "constructor"];
      let v: unknown;
      switch (this.int(6)) {
        case 0:
          v = null;
          break;
        case 1:
          v = { enabled: this.chance(0.5) };
          break;
        case 2: {
          const th: Obj = {};
          const q = this.pick(qs);
          own(th, q, this.pick([{ min: 0, max: 50 }, { delta: 1 }, { min: 30, max: 20 }, { min: "1" }, { max: 1e9 }, null, { step: 1 }, { min: 10, delta: 0.5 }]));
          v = this.chance(0.5) ? { enabled: true, thresholds: th } : { thresholds: th };
          break;
        }
        case 3:
          v = { enabled: "yes" };
          break;
        case 4:
          v = { enabled: false, extra: 1 };
          break;
        default:
          v = this.pick([5, [], "on", {}]);
      }
      own(out, chip, v);
    }
    return out;
  }

  /** An RFC 7396 patch of the schema's fields. */
  patch(): Obj {
    const p: Obj = {};
    const clean = this.chance(0.5);
    for (let n = 1 + this.int(3); n > 0; n--) {
      const roll = clean ? this.int(12) : this.int(20);
      if (roll < 12) {
        // Connectivity keys start a trial (and are busy during one): fewer of them.
        const f = this.chance(this.trial ? 0.1 : 0.5) ? this.pick(FIELDS) : this.pick(FIELDS.filter((x) => !x.connectivity));
        put(p, f.key, !clean && this.chance(0.08) ? null : this.fieldValue(f.key, clean));
      } else if (roll < 15) own(p, "sensors", this.sensorsPatch());
      else if (roll < 16) own(p, this.pick(["mqtt", "coap", "sleep", "sensors", "version", "telemetry"]), this.chance(0.5) ? null : this.pick([5, [], "x"]));
      else if (roll < 18) own(p, this.pick([...PROTO_KEYS, "color", "mqtt"]), this.pick([1, {}, { host: "a" }, "x"]));
      else put(p, this.pick(["mqtt", "coap", "sleep"]) + "." + this.pick([...PROTO_KEYS, "hots"]), 1);
    }
    // Keep a trial from being tried over and over: most connectivity changes are left out.
    return p;
  }

  /** A whole document for config/set. */
  document(): Obj {
    const base = JSON.parse(this.ram) as Obj;
    let d = rfcMerge(base, this.chance(0.7) ? this.patch() : {}) as Obj;
    if (!isObj(d)) d = {};
    if (this.chance(0.5) && isObj(d.mqtt)) delete (d.mqtt as Obj).password;
    if (this.chance(0.1)) d = { version: 1, deviceId: "dev-1", broker: "localhost:1883", mqttVersion: 5, prefix: "xs-iot", sampleMs: 10000, reportMs: 300000, sensors: ["sht3x"] };
    if (this.chance(0.05)) d.version = this.pick([3, "2", 0]);
    return d;
  }

  randomJson(depth: number): Json {
    const roll = this.int(depth > 3 ? 6 : 10);
    switch (roll) {
      case 0:
        return null;
      case 1:
        return this.chance(0.5);
      case 2:
        return this.pick([0, -0, 1, -1, 1.5, 1e308, -1e-300, 2 ** 53, 123456789]);
      case 3:
        return this.str();
      case 4:
      case 5:
        return this.pick([true, "x", 7]);
      case 6:
      case 7: {
        const a: Json[] = [];
        for (let n = this.int(4); n > 0; n--) a.push(this.randomJson(depth + 1));
        return a;
      }
      default: {
        const o: Obj = {};
        for (let n = this.int(4); n > 0; n--) own(o, this.pick(["mqtt", "sensors", "a", "forS", "host", ...PROTO_KEYS, this.str().slice(0, 20)]), this.randomJson(depth + 1));
        return o;
      }
    }
  }

  deep(n: number): Json {
    let v: Json = this.chance(0.5) ? 1 : null;
    for (let i = 0; i < n; i++) v = this.chance(0.5) ? [v] : { mqtt: v };
    return v;
  }

  /** Values JSON cannot carry (CBOR and JS-only ones) and objects that are not plain. */
  strange(): unknown {
    const nul = Object.create(null) as Obj;
    nul.telemetry = { intervalS: 600 };
    class Thing {
      a = 1;
    }
    return this.pick([
      new Uint8Array([1, 2, 3]),
      new CborTag(1, 0),
      new Date(0),
      new Map([["a", 1]]),
      new Thing(),
      nul,
      { a: undefined },
      { telemetry: { intervalS: NaN } },
      { sleep: { awakeWindowS: Infinity } },
      () => 1,
      typeof BigInt === "function" ? BigInt(5) : 5,
      [undefined],
      { s: new Uint8Array(2) },
    ]);
  }

  body(command: string): Json {
    const roll = this.int(20);
    if (command === "config/patch" && roll < 12) return this.patch();
    if (command === "config/set" && roll < 12) return this.document();
    if (command === "factory-reset" && this.trial && roll < 15) return this.pick([undefined, null, {}]);
    if (command === "sleep/prevent" && roll < 10) return this.pick([undefined, {}, { forS: 1 + this.int(100) }, { forS: 86400 }, { forS: 0 }, { forS: 1.5 }, { forS: "5" }, { forS: 86401 }, { other: 1 }, null, 5]);
    if (roll < 13) return this.pick([undefined, null, {}, []]);
    if (roll < 16) return this.randomJson(0);
    if (roll < 17) return this.deep(8 + this.int(40));
    // Huge: around the 4096-byte limit (not often: SHA-256 in JavaScript over 4 KB is slow on XS).
    if (roll < 18) return this.chance(0.3) ? { mqtt: { username: "y".repeat(3950 + this.int(200)) } } : this.randomJson(0);
    return this.strange();
  }

  counterFor(): unknown {
    const c = this.counter;
    const roll = this.int(40);
    if (roll < 13 || roll >= 24) return c + 1 + (this.chance(0.3) ? this.int(1000) : 0);
    switch (roll) {
      case 13:
        return c;
      case 14:
        return c > 0 ? Math.max(1, c - 1 - this.int(5)) : 1;
      case 15:
        return this.pick([0, -1, -(c + 1)]);
      case 16:
        return c + 1.5;
      case 17:
        return String(c + 1);
      case 18:
        return this.pick([MAX_COUNTER + 1, 2 ** 64, Infinity, NaN, 1e300]);
      case 19:
        return this.pick([undefined, null, true, [c + 1], { n: c + 1 }]);
      case 20:
        // The largest counter ends a device's commands for good: only near the end of a run.
        return this.step > STEPS - 10 ? MAX_COUNTER : c + 2;
      default:
        return c + 1;
    }
  }

  /** A signed (or mis-signed) request; `right` says whether its MAC is the right one. */
  request(command: string, body: Json, counter: unknown): { req: CommandRequest; right: boolean } {
    const dev = (JSON.parse(this.ram) as Obj).deviceId as string;
    const sign = (key: Uint8Array, device: string, cmd: string): string | undefined => {
      if (typeof counter !== "number") return undefined;
      try {
        return signCommand(hmacSha256, key, device, cmd, counter, body);
      } catch {
        return undefined;
      }
    };
    const roll = this.int(40);
    let mac: unknown;
    let right = false;
    if (roll < 13 || roll >= 20) {
      mac = sign(KEY, dev, command);
      right = mac !== undefined;
    } else if (roll === 13) {
      mac = sign(KEY, dev, command)?.toUpperCase();
      right = mac !== undefined;
    } else if (roll === 14) mac = sign(OTHER_KEY, dev, command);
    else if (roll === 15) mac = sign(KEY, dev === "dev-1" ? "dev-2" : "dev-1", command);
    else if (roll === 16) mac = sign(KEY, dev, command === "ping" ? "config/get" : "ping");
    else if (roll === 17) {
      const m = sign(KEY, dev, command);
      mac = m ? (m[0] === "0" ? "1" : "0") + m.slice(1) : undefined;
    } else mac = this.pick([undefined, "", "a".repeat(63), "g".repeat(64), "0".repeat(64), 12, null, KEY_HEX.slice(0, 64), "A".repeat(65)]);
    if (mac === undefined && this.chance(0.7)) mac = "f".repeat(64);
    return { req: { command, counter, mac, body }, right };
  }

  // -- checks -----------------------------------------------------------------------

  /** The status the documented check order gives before the command's own rules, or undefined (it passes). */
  predict(req: CommandRequest, right: boolean): string | undefined {
    const now = this.clock.now();
    this.tokens = Math.min(BURST, this.tokens + ((now - this.tokensAt) * RATE) / 1000);
    this.tokensAt = now;
    if (this.tokens >= 1) this.tokens -= 1;
    else return "busy";
    if (typeof req.size === "number" && req.size > MAX_BYTES) return "too-large";
    if ((COMMANDS as readonly string[]).indexOf(req.command) < 0) return "not-found";
    if (typeof req.malformed === "string") return "invalid";
    const c = req.counter;
    const ctrOk = typeof c === "number" && Number.isInteger(c) && c >= 1 && c <= MAX_COUNTER;
    if (!ctrOk || !right) return "unauthorized";
    if ((c as number) <= this.counter) return "unauthorized+lastCtr";
    return undefined;
  }

  checkShape(): void {
    const c = this.core.current as unknown as Obj;
    const text = JSON.stringify(c);
    if (text === this.shaped) return;
    this.shaped = text;
    const v = validateConfig(c, this.ctx);
    if (!v.ok) this.fail("the configuration in effect breaks the schema: " + v.errors.map((e) => e.message).join("; "));
    const walk = (o: unknown, path: string): void => {
      if (o === null || typeof o !== "object") return;
      if (!Array.isArray(o) && Object.getPrototypeOf(o) !== Object.prototype) this.fail(path + " is not a plain object");
      for (const k of Object.keys(o)) walk((o as Obj)[k], path + "." + k);
    };
    walk(c, "config");
    const groups: { [g: string]: string[] } = { "": ["version", "sensors"] };
    for (const f of FIELDS) {
      const i = f.key.indexOf(".");
      const g = i < 0 ? "" : f.key.slice(0, i);
      if (i >= 0 && groups[""].indexOf(g) < 0) groups[""].push(g);
      (groups[g] = groups[g] ?? []).push(i < 0 ? f.key : f.key.slice(i + 1));
    }
    for (const g of Object.keys(groups)) {
      const o = g ? c[g] : c;
      const got = Object.keys(o as Obj).sort().join(",");
      if (got !== groups[g].slice().sort().join(",")) this.fail("config" + (g ? "." + g : "") + " has keys " + got + ", not the schema's " + groups[g].slice().sort().join(","));
    }
    const known = this.ctx.board ? ["sht3x", "bme280", "bh1750", "scd4x", "battery"] : Object.keys(SENSOR_QUANTITIES);
    for (const chip of Object.keys(c.sensors as Obj)) if (known.indexOf(chip) < 0) this.fail("sensor " + JSON.stringify(chip) + " in the configuration: not a known (fitted) sensor");
  }

  checkSecrets(what: string, text: string): void {
    if (text.indexOf(KEY_HEX) >= 0) this.fail(what + " holds the device key");
    for (const p of this.passwords) if (text.indexOf(p) >= 0) this.fail(what + " holds the password " + p);
  }

  checkResult(r: CommandResult, req: CommandRequest): void {
    if (!r || typeof r !== "object") this.fail("execute returned " + String(r));
    if (STATUSES.indexOf(r.status) < 0) this.fail("undocumented status " + JSON.stringify(r.status));
    if (r.command !== (typeof req.command === "string" ? req.command : "")) this.fail("result names command " + JSON.stringify(r.command));
    const c = req.counter;
    const ctrOk = typeof c === "number" && Number.isInteger(c) && c >= 1 && c <= MAX_COUNTER;
    if (ctrOk ? r.ctr !== c : r.ctr !== undefined) this.fail("result ctr " + r.ctr + " for request counter " + String(c));
    const text = safeJson(r) ?? this.fail("result does not serialize");
    this.checkSecrets("result " + r.status, text);
    if (r.config && has(r.config.mqtt, "password")) this.fail("result config carries mqtt.password");
    if (r.status === "unauthorized" && r.lastCtr === undefined && JSON.stringify(r.reasons) !== '["unauthorized"]') this.fail("an unauthenticated command learned " + JSON.stringify(r.reasons));
  }

  /** Everything after a step: the model against the core and the flash. */
  checkState(): void {
    if (JSON.stringify(this.core.current) !== this.ram) this.fail("configuration in effect differs from the model:\n    core  " + JSON.stringify(this.core.current) + "\n    model " + this.ram);
    if (this.core.trialRunning !== !!this.trial) this.fail("trialRunning " + this.core.trialRunning + ", model " + !!this.trial);
    if (this.store.counter !== this.counter) this.fail("store counter " + this.store.counter + ", model " + this.counter);
    this.checkShape();
    // Read again when the flash or the model moved since the last time it matched.
    const mark = this.flashWrites() + " " + this.counter + " " + this.committed;
    const l = mark === this.checked ? { config: this.committed, counter: this.counter, status: "stored" } : this.reload();
    this.checked = mark;
    if (l.status !== "stored" && l.status !== "defaults") this.fail("flash reads " + l.status + ": " + (l as { message?: string }).message);
    if (l.config !== this.committed) this.fail("flash holds another configuration than the last committed:\n    flash " + l.config + "\n    model " + this.committed);
    if (l.counter !== this.counter) this.fail("flash counter " + l.counter + ", model " + this.counter);
    // Bounded.
    // At most one job of each kind: the trial's deadline (while one runs), the end of a sleep/prevent, the reboot.
    const jobs = this.scheduler.plan().map((j) => j.name).sort();
    if (this.scheduler.size > 3 || jobs.join() !== jobs.filter((n, i) => jobs.indexOf(n) === i && ["config-reboot", "config-safe-apply", "config-sleep-prevent"].indexOf(n) >= 0).join()) this.fail("scheduler jobs: " + jobs.join(", "));
    if ((jobs.indexOf("config-safe-apply") >= 0) !== !!this.trial) this.fail("scheduler jobs " + jobs.join(", ") + (this.trial ? " during" : " without") + " a trial");
    const keys = this.flash.keys(CONFIG_NAMESPACE);
    if (keys.length > 3 + 2 * Math.ceil(MAX_BYTES / (this.chunk ?? 4000))) this.fail("flash holds " + keys.length + " entries: " + keys.join(" "));
    const classes = Object.keys(this.core.rejected);
    for (const k of classes) if (STATUSES.indexOf(k) < 0) this.fail("rejection class " + k);
    this.checkLogs();
    if (this.core.lastTrial) this.checkSecrets("lastTrial", JSON.stringify(this.core.lastTrial));
  }

  checkLogs(): void {
    if (this.logs.length > 6) this.fail(this.logs.length + " log lines in one step");
    for (const line of this.logs) {
      if (line.length > 400) this.fail("log line of " + line.length + " characters");
      this.checkSecrets("log line", line);
      if (/[0-9a-fA-F]{64}/.test(line)) this.fail("log line holds a MAC: " + line);
    }
  }

  // -- model updates ----------------------------------------------------------------

  /** A final result of a safe apply (reply and listener). */
  takeFinals(replyExpected: boolean): void {
    const finals = this.finals;
    this.finals = [];
    if (replyExpected && this.replies.length !== finals.length) this.fail(finals.length + " final results to the listeners, " + this.replies.length + " to reply");
    this.replies = [];
    for (const f of finals) {
      this.checkSecrets("final result", JSON.stringify(f));
      if (!this.trial) this.fail("a final result without a trial: " + JSON.stringify(f));
      if (f.status === "ok" && f.applied === "kept") {
        count("trial kept");
        this.committed = this.trial.next;
        this.ram = this.committed;
        if (f.config && JSON.stringify(f.config) !== redacted(JSON.parse(this.committed))) this.fail("kept result's config is not the kept one");
        if (this.reverted.length) this.fail("reverted on a kept trial");
      } else if (f.status === "rolled-back" && f.applied === "rolled-back") {
        count("trial rolled back");
        this.ram = this.committed;
        if (JSON.stringify(f.config) !== redacted(JSON.parse(this.committed))) this.fail("rolled-back result's config is not the one before the trial:\n    " + JSON.stringify(f.config));
        if (this.reverted.length !== 1 || this.reverted[0] !== this.committed) this.fail("revert() given " + this.reverted.join(" | ") + ", not the configuration before the trial");
      } else this.fail("final result " + JSON.stringify(f));
      this.reverted = [];
      this.trial = undefined;
    }
    if (this.reverted.length) this.fail("revert() called without a rolled-back result");
  }

  /** What a set/patch that passed authentication must have made of the configuration. */
  expectChange(command: string, body: Json, before: Obj, after: Obj, r: CommandResult): void {
    if (command === "config/patch" || (isObj(body) && body.version === 2)) {
      const want = command === "config/patch" ? (rfcMerge(before, body) as Obj) : body as Obj;
      // Every key of an accepted document is the schema's (an unknown one is reported, never dropped).
      for (const k of Object.keys(want)) {
        const sub = isObj(want[k]) && k !== "sensors" ? Object.keys(want[k] as Obj).map((x) => k + "." + x) : [k];
        for (const path of sub) if (SCHEMA_PATHS.indexOf(path) < 0 && !(path === k && (k === "version" || k === "sensors"))) this.fail(command + " " + r.status + " with the unknown key " + JSON.stringify(path));
      }
      for (const f of FIELDS) {
        const w = at(want, f.key);
        const expected = w.found ? w.value : f.optional ? OPTIONAL_ABSENT[f.key] : f.secret && command === "config/set" ? at(before, f.key).value : undefined;
        const got = at(after, f.key).value;
        if (JSON.stringify(got) !== JSON.stringify(expected)) this.fail(command + " " + r.status + ": " + f.key + " is " + JSON.stringify(got) + ", the " + (command === "config/patch" ? "merge patch (RFC 7396)" : "document") + " gives " + JSON.stringify(expected));
      }
      if (normSensors(after.sensors) !== normSensors(want.sensors)) this.fail(command + ": sensors are " + JSON.stringify(after.sensors) + ", expected " + normSensors(want.sensors));
    }
    const changed = diffKeys(before, after);
    if (JSON.stringify(r.changed) !== JSON.stringify(changed)) this.fail(command + ": changed " + JSON.stringify(r.changed) + ", the values differ in " + JSON.stringify(changed));
    if (r.config && JSON.stringify(r.config) !== redacted(after)) this.fail(command + ": result config is not the configuration in effect");
  }

  /** Runs one command and checks it against the model. */
  command(req: CommandRequest, right: boolean, armed: boolean): void {
    const predicted = this.predict(req, right);
    const flashBefore = this.flashWrites();
    const ramBefore = this.ram;
    const before = JSON.parse(this.ram) as Obj;
    const trialBefore = !!this.trial;
    const counterBefore = this.counter;
    this.logs = [];
    let r: CommandResult;
    try {
      r = this.core.execute(req, (f) => this.replies.push(f));
    } catch (e) {
      if (armed && (e as Error)?.name === "PowerLossError") throw e;
      this.fail("execute threw " + String((e as Error)?.stack ?? e));
    }
    const status = r.status;
    this.note(`${JSON.stringify(req.command).slice(0, 30)} ctr=${String(req.counter).slice(0, 20)} right=${right} size=${req.size} body=${(safeJson(req.body) ?? String(req.body)).slice(0, 120)} -> ${status} ${JSON.stringify(r.reasons ?? r.changed ?? "").slice(0, 200)}`);
    count("status " + status);
    this.checkResult(r, req);
    this.checkShape();
    // The documented order of checks.
    if (predicted === "unauthorized+lastCtr") {
      if (status !== "unauthorized" || r.lastCtr !== counterBefore) this.fail("stale counter with the right MAC: " + status + " lastCtr " + r.lastCtr + " (last accepted " + counterBefore + ")");
    } else if (predicted) {
      if (status !== predicted) this.fail("the check order gives " + predicted + ", the core answered " + status + " " + JSON.stringify(r.reasons));
      if (r.lastCtr !== undefined) this.fail("lastCtr told to a command that does not authenticate");
    } else if (status === "unauthorized" || status === "busy" && !(trialBefore && (req.command === "config/set" || req.command === "config/patch")) || status === "too-large" || status === "not-found") this.fail("an authenticated command with a fresh counter: " + status + " " + JSON.stringify(r.reasons));
    else if (status === "failed" && !(this.capacity && (req.command === "config/set" || req.command === "config/patch" || req.command === "factory-reset"))) this.fail("failed: " + JSON.stringify(r.reasons));
    else if (status === "pending" && (!this.hasHook || trialBefore)) this.fail("pending " + (trialBefore ? "during a trial" : "without a hook"));
    const acceptedNow = status === "ok" || status === "pending";
    if (!acceptedNow) {
      // A rejected command changes nothing (docs/config.md, docs/security.md).
      if (status === "rolled-back") this.fail("execute returned rolled-back");
      if (this.finals.length) this.fail("a rejected command produced a final result");
      if (this.flashWrites() !== flashBefore) this.fail("a rejected command (" + status + ") changed the flash: " + flashBefore + " -> " + this.flashWrites() + " (writes/erases)");
      if (JSON.stringify(this.core.current) !== ramBefore) this.fail("a rejected command (" + status + ") changed the configuration");
      if (this.store.counter !== counterBefore) this.fail("a rejected command (" + status + ") changed the counter: " + counterBefore + " -> " + this.store.counter);
      if (this.core.trialRunning !== trialBefore) this.fail("a rejected command changed the trial");
      this.takeFinals(false);
      return;
    }
    // Accepted: exactly its counter, above the last.
    const ctr = req.counter as number;
    if (!(ctr > counterBefore)) this.fail("accepted counter " + ctr + " is not above the last accepted " + counterBefore);
    const pair = ctr + ":" + String(req.mac).toLowerCase();
    if (this.accepted.indexOf(pair) >= 0) this.fail("(counter, MAC) accepted twice: " + pair);
    this.accepted.push(pair);
    if (this.accepted.length > 200) this.accepted.shift();
    this.counter = ctr;
    this.recent.push(req);
    if (this.recent.length > 8) this.recent.shift();
    if (status === "pending") {
      count("trial started");
      // What is tried (the hook may have answered already: then the final result is out too).
      if (this.tried.length !== 1) this.fail("tryApply() called " + this.tried.length + " times");
      const next = JSON.parse(this.tried[0]) as Obj;
      this.tried = [];
      this.expectChange(req.command, req.body, before, next, r);
      if (r.applied !== "trial") this.fail("pending with applied " + r.applied);
      if (!diffKeys(before, next).some((k) => CONNECTIVITY_KEYS.indexOf(k) >= 0)) this.fail("pending without a connectivity change");
      this.ram = JSON.stringify(next);
      this.trial = { next: this.ram };
      this.takeFinals(true);
      return;
    }
    switch (req.command) {
      case "config/set":
      case "config/patch": {
        const now = JSON.parse(JSON.stringify(this.core.current)) as Obj;
        this.expectChange(req.command, req.body, before, now, r);
        if (r.applied !== "direct") this.fail("ok with applied " + r.applied);
        if (this.trial) {
          // A change during a trial: in effect on top of the trial's; in flash on top of the
          // configuration before it (the trial's connectivity keys are not proven yet).
          if (diffKeys(before, now).some((k) => CONNECTIVITY_KEYS.indexOf(k) >= 0)) this.fail("a connectivity change applied directly during a trial");
          const base = JSON.parse(this.committed) as Obj;
          for (const k of diffKeys(before, now)) {
            if (k.indexOf("sensors.") === 0) {
              const chip = k.slice(8);
              if (has(now.sensors, chip)) own(base.sensors as Obj, chip, (now.sensors as Obj)[chip]);
              else delete (base.sensors as Obj)[chip];
            } else put(base, k, at(now, k).value);
          }
          this.committed = JSON.stringify(base);
          this.ram = JSON.stringify(this.core.current);
          this.trial.next = this.ram;
          count("change during a trial");
        } else {
          if (this.hasHook && diffKeys(before, now).some((k) => CONNECTIVITY_KEYS.indexOf(k) >= 0)) this.fail("a connectivity change applied directly with a hook");
          this.ram = JSON.stringify(this.core.current);
          this.committed = this.ram;
        }
        this.takeFinals(true);
        return;
      }
      case "factory-reset":
        // A trial running is ended first: rolled back.
        if (trialBefore && this.finals.length !== 1) this.fail("factory reset during a trial: " + this.finals.length + " final results");
        if (trialBefore) count("factory reset during a trial");
        this.takeFinals(true);
        this.committed = this.defaults;
        this.ram = this.defaults;
        if (JSON.stringify(r.config) !== redacted(JSON.parse(this.defaults))) this.fail("factory-reset result config is not the defaults");
        count("factory reset");
        return;
      case "config/get":
        if (JSON.stringify(r.config) !== redacted(before)) this.fail("config/get answered another configuration");
        break;
      case "sleep/prevent":
        if (!this.core.sleepPrevented) this.fail("sleep/prevent ok, but sleep is not prevented");
        break;
      case "sleep/allow":
        if (this.core.sleepPrevented) this.fail("sleep/allow ok, but sleep is prevented");
        break;
    }
    this.takeFinals(true);
  }

  // -- steps ------------------------------------------------------------------------

  commandStep(): void {
    if (this.chance(0.5)) this.timeStep(this.int(500));
    const known = this.chance(0.9);
    // During a trial, mostly patches: a change on top of a trial is where the stored and the tried configurations part.
    const command = this.trial && this.chance(0.4) ? this.pick(["config/patch", "config/patch", "config/patch", "config/patch", "config/set", "factory-reset"]) : known ? this.pick([...COMMANDS, "config/patch", "config/patch", "config/patch", "config/set", "config/get"]) : this.pick(UNKNOWN_COMMANDS);
    let req: CommandRequest;
    let right: boolean;
    if (this.recent.length && this.chance(0.05)) {
      req = { ...this.pick(this.recent) };
      right = this.macIsRight(req);
      count("replay");
    } else {
      const x = this.request(command, this.body(command), this.counterFor());
      req = x.req;
      right = x.right;
    }
    // How it travels: as the bindings give it (size from its encoding), or through the MQTT envelope.
    const roll = this.int(10);
    if (roll < 6) {
      const text = safeJson({ ctr: req.counter, mac: req.mac, body: req.body });
      req.size = this.chance(0.1) ? this.pick([undefined, 0, -1, NaN, MAX_BYTES + 1, MAX_BYTES]) : text === undefined ? undefined : encodeUtf8New(text).length;
    } else {
      const cbor = this.chance(0.4);
      let bytes: Uint8Array | undefined;
      try {
        const env: Obj = { ctr: req.counter, mac: req.mac };
        if (req.body !== undefined) env.body = req.body;
        if (this.chance(0.05)) env.extra = 1;
        bytes = cbor ? encodeCbor(env) : encodeUtf8New(JSON.stringify(plain(env)));
      } catch {
        bytes = undefined;
      }
      if (!bytes || this.chance(0.05)) bytes = new Uint8Array(this.int(40)).map(() => this.int(256));
      else if (this.chance(0.06)) {
        bytes = bytes.slice(0, this.int(bytes.length));
        count("mutated envelope");
      }
      const d = decodeEnvelope(bytes, cbor ? "cbor" : "json");
      if (d.ok) {
        const same = d.envelope.counter === req.counter && d.envelope.mac === req.mac && safeJson(d.envelope.body) === safeJson(req.body);
        req = { command: req.command, counter: d.envelope.counter, mac: d.envelope.mac, body: d.envelope.body, size: bytes.length, via: "mqtt" };
        right = same ? right : this.macIsRight(req);
        count(cbor ? "cbor envelope" : "json envelope");
      } else {
        req = { command: req.command, size: bytes.length, via: "mqtt", malformed: d.reason };
        right = false;
        count("malformed envelope");
      }
    }
    this.command(req, right, false);
  }

  macIsRight(req: CommandRequest): boolean {
    if (typeof req.counter !== "number" || typeof req.mac !== "string") return false;
    try {
      const dev = (JSON.parse(this.ram) as Obj).deviceId as string;
      return signCommand(hmacSha256, KEY, dev, req.command, req.counter, req.body) === req.mac.toLowerCase();
    } catch {
      return false;
    }
  }

  timeStep(by?: number): void {
    this.logs = [];
    const roll = by === undefined ? this.int(10) : -1;
    let ms: number;
    if (roll < 0) ms = by!;
    else if (roll < 4) ms = this.int(400);
    else if (roll < 6) ms = 1000 / RATE + this.int(3000);
    else if (roll < 8 && this.trial) {
      const t = (JSON.parse(this.trial.next) as DeviceConfig).safeApply.timeoutS * 1000;
      ms = Math.max(0, t - this.int(3));
    } else ms = this.pick([1000, 5000, 60000, 700000]);
    this.note("time +" + ms + " ms");
    try {
      this.clock.advance(ms);
    } catch (e) {
      this.fail("a job threw " + String((e as Error)?.stack ?? e));
    }
    this.takeFinals(true);
    this.checkLogs();
    count("time");
  }

  hookStep(): void {
    const done = this.held;
    if (!done) return this.timeStep();
    this.logs = [];
    const ok = this.chance(0.5);
    const cut = ok && this.chance(0.25);
    if (cut) this.flash.failAfter(this.int(3), { apply: this.chance(0.5) });
    this.note("hook done(" + ok + ")" + (cut ? " with a power cut armed" : ""));
    try {
      done(ok, ok ? undefined : "no connection");
      if (this.chance(0.3)) done(!ok, "again");
    } catch (e) {
      if (cut && (e as Error)?.name === "PowerLossError") return this.powerCut([this.trial!.next]);
      this.fail("done() threw " + String((e as Error)?.stack ?? e));
    }
    this.flash.cancelFailure();
    this.held = undefined;
    this.takeFinals(true);
    count("hook answered later");
  }

  /** After a PowerLossError: the flash holds the old state or one of `news` (with the counter given), never a mix. */
  powerCut(news: string[], newCounter = this.counter): void {
    count("power cut");
    this.flash.cancelFailure();
    this.flash.powerOn();
    const l = this.reload();
    if (l.status !== "stored" && l.status !== "defaults") this.fail("after a power cut the flash reads " + l.status + ": " + l.message);
    const old = l.config === this.committed && l.counter === this.counter;
    const fresh = news.indexOf(l.config) >= 0 && l.counter === newCounter;
    if (!old && !fresh) this.fail("after a power cut the flash holds neither the old nor the new state:\n    flash " + l.counter + " " + l.config + "\n    old   " + this.counter + " " + this.committed + "\n    new   " + newCounter + " " + news.join(" | "));
    count(old ? "power cut: old state" : "power cut: new state");
    this.committed = l.config;
    this.counter = l.counter;
    this.finals = [];
    this.replies = [];
    this.tried = [];
    this.reverted = [];
    this.logs = [];
    this.boot();
  }

  /** A command that writes the flash, with a power cut armed in the middle of its writes. */
  cutStep(): void {
    if (this.trial) return this.commandStep();
    const kind = this.int(4);
    const counter = this.counter + 1;
    let command: string;
    let body: Json;
    let news: string[];
    if (kind === 0) {
      command = "factory-reset";
      body = undefined;
      news = [this.defaults];
    } else if (kind === 1) {
      command = "ping";
      body = undefined;
      news = [this.committed];
    } else {
      command = "config/patch";
      body = { telemetry: { intervalS: 400 + this.int(1000) }, sleep: { awakeWindowS: this.int(600) }, coap: { gatewayPath: "p".repeat(this.int(64)) } };
      const v = validateConfig(rfcMerge(JSON.parse(this.ram), body), this.ctx);
      news = v.ok ? [JSON.stringify(v.config)] : [];
    }
    const { req } = this.request(command, body, counter);
    const dev = (JSON.parse(this.ram) as Obj).deviceId as string;
    req.mac = signCommand(hmacSha256, KEY, dev, command, counter, body);
    req.size = 100;
    this.flash.failAfter(this.int(kind >= 2 ? 6 : 2), { apply: this.chance(0.5) });
    this.note("power cut armed");
    try {
      this.command(req, true, true);
    } catch (e) {
      if ((e as Error)?.name === "PowerLossError") return this.powerCut(news, counter);
      throw e;
    }
    this.flash.cancelFailure();
  }

  rebootStep(): void {
    this.note("reboot");
    this.logs = [];
    this.finals = [];
    this.replies = [];
    this.tried = [];
    this.reverted = [];
    this.core.close();
    this.boot();
    count("reboot");
  }

  run(steps: number): void {
    this.checkState();
    for (this.step = 1; this.step <= steps; this.step++) {
      this.hookThrows = this.chance(0.1);
      const roll = this.int(100);
      if (roll < 62) this.commandStep();
      else if (roll < 78) this.timeStep();
      else if (roll < 86) this.hookStep();
      else if (roll < 92) this.cutStep();
      else if (roll < 96) this.rebootStep();
      else this.commandStep();
      this.checkState();
      if (this.rebootAsked) {
        count("reboot on command");
        this.rebootStep();
        this.checkState();
      }
    }
  }
}

describe("ConfigCore fuzz: " + SEEDS.length + " seeds x " + STEPS + " steps", () => {
  it.each(SEEDS)("seed %i: invariants hold after every step", (seed) => {
    const z = new Fuzz(seed);
    z.run(STEPS);
    // And a clean command still works (unless the run ended on the largest counter).
    if (z.counter < MAX_COUNTER) {
      z.clock.advance(10000);
      const x = z.request("ping", undefined, z.counter + 1);
      const dev = (JSON.parse(z.ram) as Obj).deviceId as string;
      x.req.mac = signCommand(hmacSha256, KEY, dev, "ping", z.counter + 1, undefined);
      expect(z.core.execute(x.req).status).toBe("ok");
    }
    count("seeds");
  });

  it("the seeds together reached every status, both trial outcomes, reboots and power cuts", () => {
    tally.print("config core fuzz");
    expect(reached.seeds).toBe(SEEDS.length);
    for (const s of STATUSES) if (s !== "rolled-back") expect(["status " + s, (reached["status " + s] ?? 0) > 0]).toEqual(["status " + s, true]);
    for (const k of ["trial started", "trial kept", "trial rolled back", "change during a trial", "factory reset", "factory reset during a trial", "reboot", "reboot on command", "power cut: old state", "power cut: new state", "replay", "cbor envelope", "malformed envelope", "boot stored"])
      expect([k, (reached[k] ?? 0) > 0]).toEqual([k, true]);
  });
});

