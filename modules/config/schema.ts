/*
 * The device configuration: its type, its defaults (from the board and the
 * device's identity), its rules, and the migration from the previous version.
 *
 * Every rule lives in one table (FIELDS) so that validation, the error
 * messages, docs/config.md and the set of "connectivity" keys agree. An error
 * names the key (dotted path) and the rule it broke:
 *   mqtt.port: must be an integer from 1 to 65535 (got 0)
 *   mqtt.hostt: unknown key
 * Validation collects every error, not just the first, and never throws.
 */

export const CONFIG_VERSION = 2;

/** "mqttsn": MQTT-SN 1.2 over UDP; mqtt.host and mqtt.port then name the MQTT-SN gateway. */
export type Protocol = "mqtt311" | "mqtt5" | "coap" | "mqttsn";
export type SleepMode = "none" | "light" | "deep";

export interface ThresholdRule {
  min?: number;
  max?: number;
  /** Report early when the reading moves this much since the last report. */
  delta?: number;
}

export interface SensorSettings {
  enabled: boolean;
  thresholds: { [quantity: string]: ThresholdRule };
}

export interface DeviceConfig {
  version: 2;
  /** Used in topics and as the MQTT client identifier. */
  deviceId: string;
  protocol: Protocol;
  /** First level(s) of every topic (default "xs-iot"). */
  topicPrefix: string;
  mqtt: {
    host: string;
    port: number;
    tls: boolean;
    username: string;
    /** Secret: never published, never echoed, never logged. */
    password: string;
    keepAliveS: number;
    /** MQTT 5 Session Expiry Interval; commands queue at the broker this long while the device is away. */
    sessionExpiryS: number;
    /**
     * MQTT-SN (protocol "mqttsn"): topic name -> the gateway's pre-defined topic id
     * (MQTT-SN 1.2 §6.7; the gateway's `--predefined` file): a PUBLISH on such a topic needs
     * no REGISTER. Absent from an older stored document: none.
     */
    snPredefined: { [topic: string]: number };
    /** MQTT-SN: ask for the will (the state topic's "offline") in CONNECT (§6.2); false: none (Paho's gateway, #248). */
    snWill: boolean;
  };
  coap: {
    /** Where CoAP telemetry goes (a gateway or server). */
    gatewayHost: string;
    gatewayPort: number;
    gatewayPath: string;
    /** The device's own CoAP server (/config, /cmd/...). */
    listenPort: number;
  };
  sampling: { intervalS: number };
  telemetry: {
    intervalS: number;
    qos: 0 | 1;
    /**
     * The most readings that wait in the app for the telemetry period: when that many wait they
     * go at once, as one batch, before the period ends (src/app.ts; docs/app.md "Readings
     * waiting"). Bounds the memory of a long period with frequent sampling on the smallest target.
     */
    maxBatch: number;
  };
  sensors: { [chip: string]: SensorSettings };
  sleep: {
    mode: SleepMode;
    /** Stay awake (and reachable over CoAP) this long after each wake. */
    awakeWindowS: number;
    /** RTC drift the sleep planner allows for, ppm: wakes come this much earlier than planned. */
    driftPpm: number;
  };
  safeApply: {
    /** A connectivity change must reconnect within this, or it is rolled back. */
    timeoutS: number;
  };
}

export interface ConfigIssue {
  /** Dotted path of the key ("" for the document itself). */
  key: string;
  /** The rule, as words: "must be an integer from 1 to 86400". */
  rule: string;
  /** `key: rule (got x)`, ready to show. */
  message: string;
}

export type ValidationResult = { ok: true; config: DeviceConfig } | { ok: false; errors: ConfigIssue[] };

/**
 * What the configuration needs to know of a board: which chips are fitted and whether it has
 * a battery divider (their sensors are enabled by default; others are refused). A board
 * definition (boards/types.ts) is one; modules/config does not import boards/, the app passes
 * its board in.
 */
export interface ConfigBoard {
  readonly sensors: readonly { readonly chip: string }[];
  readonly battery?: unknown;
}

/** The identity and provisioning a device's defaults come from. */
export interface ConfigContext {
  board?: ConfigBoard;
  /** Default device id (from the chip's MAC on the device). */
  deviceId?: string;
  /** Factory provisioning: values that replace the built-in defaults (validated like any input). */
  provisioned?: { [key: string]: unknown };
}

// ---------------------------------------------------------------------------
// Field table

type Kind =
  | { type: "int"; min: number; max: number }
  /** A duration in seconds with millisecond resolution (fractions allowed: 0.5 is 500 ms). */
  | { type: "seconds"; min: number; max: number }
  | { type: "enum"; values: readonly (string | number)[] }
  | { type: "bool" }
  | { type: "string"; min: number; max: number; pattern?: () => RegExp; patternRule?: string }
  | { type: "host" }
  | { type: "topic-prefix" }
  /** An object: topic name (no wildcard, 1-128 characters) -> topic id (1-65534), at most 8, ids distinct. */
  | { type: "topic-ids" };

interface Field {
  key: string;
  kind: Kind;
  /** Secrets are left out of config/get, the retained config topic and logs. */
  secret?: boolean;
  /** A change here is tried and rolled back when the device cannot reconnect. */
  connectivity?: boolean;
  /** Absent from a stored document (one written before the key existed): `absent`, else its kind's empty value ({}; a bool: true, as before the key) instead of "is required". */
  optional?: boolean;
  /** With optional: the value a stored document without the key gets (the built-in default). */
  absent?: number;
  doc: string;
}

/**
 * telemetry.maxBatch's default: 8 readings, ~2.3 KB of SenML JSON (three MQTT-SN datagrams),
 * encoded at once. Measured in mcsim on the esp32c3's limits (docs/moddable.md, "Memory per
 * target"): 25 readings waiting for a 120 s period took the C3's block past its size.
 */
export const TELEMETRY_MAX_BATCH = 8;

export const DEVICE_ID_RULE = "must be 1 to 32 characters from A-Z a-z 0-9 _ -";

export const FIELDS: readonly Field[] = [
  { key: "deviceId", kind: { type: "string", min: 1, max: 32, pattern: () => /^[A-Za-z0-9_-]+$/, patternRule: DEVICE_ID_RULE }, connectivity: true, doc: "device identifier, in every topic" },
  { key: "protocol", kind: { type: "enum", values: ["mqtt311", "mqtt5", "coap", "mqttsn"] }, connectivity: true, doc: "how telemetry and commands travel (mqttsn: mqtt.host/port name the MQTT-SN gateway)" },
  { key: "topicPrefix", kind: { type: "topic-prefix" }, connectivity: true, doc: "first topic level(s)" },
  { key: "mqtt.host", kind: { type: "host" }, connectivity: true, doc: "MQTT broker (or MQTT-SN gateway) host name or IPv4 address" },
  { key: "mqtt.port", kind: { type: "int", min: 1, max: 65535 }, connectivity: true, doc: "MQTT broker (or MQTT-SN gateway UDP) port" },
  { key: "mqtt.tls", kind: { type: "bool" }, connectivity: true, doc: "MQTT over TLS" },
  { key: "mqtt.username", kind: { type: "string", min: 0, max: 64 }, connectivity: true, doc: "MQTT user name ('' for none)" },
  { key: "mqtt.password", kind: { type: "string", min: 0, max: 128 }, secret: true, connectivity: true, doc: "MQTT password (secret)" },
  { key: "mqtt.keepAliveS", kind: { type: "int", min: 10, max: 3600 }, doc: "MQTT keep alive, seconds" },
  { key: "mqtt.sessionExpiryS", kind: { type: "int", min: 0, max: 604800 }, doc: "MQTT 5 session expiry, seconds" },
  { key: "mqtt.snPredefined", kind: { type: "topic-ids" }, connectivity: true, optional: true, doc: "MQTT-SN: the gateway's pre-defined topic ids, {topic: id}" },
  { key: "mqtt.snWill", kind: { type: "bool" }, connectivity: true, optional: true, doc: "MQTT-SN: CONNECT with the will (the state topic's \"offline\", §6.2); false: without (for gateways that end the will dialogue, e.g. Paho's)" },
  { key: "coap.gatewayHost", kind: { type: "host" }, connectivity: true, doc: "CoAP telemetry gateway host" },
  { key: "coap.gatewayPort", kind: { type: "int", min: 1, max: 65535 }, connectivity: true, doc: "CoAP gateway port" },
  { key: "coap.gatewayPath", kind: { type: "string", min: 0, max: 64, pattern: () => /^[A-Za-z0-9_\-./]*$/, patternRule: "must be up to 64 characters from A-Z a-z 0-9 _ - . /" }, doc: "CoAP gateway resource path" },
  { key: "coap.listenPort", kind: { type: "int", min: 1, max: 65535 }, connectivity: true, doc: "UDP port of the device's CoAP server" },
  { key: "sampling.intervalS", kind: { type: "seconds", min: 0.01, max: 86400 }, doc: "sensor sampling period, seconds (whole ms)" },
  { key: "telemetry.intervalS", kind: { type: "seconds", min: 0.01, max: 86400 }, doc: "telemetry report period, seconds (whole ms)" },
  { key: "telemetry.qos", kind: { type: "enum", values: [0, 1] }, doc: "MQTT QoS of telemetry" },
  { key: "telemetry.maxBatch", kind: { type: "int", min: 1, max: 32 }, optional: true, absent: TELEMETRY_MAX_BATCH, doc: "most readings waiting for the telemetry period; that many go at once, early" },
  { key: "sleep.mode", kind: { type: "enum", values: ["none", "light", "deep"] }, doc: "sleep between reports" },
  { key: "sleep.awakeWindowS", kind: { type: "int", min: 0, max: 600 }, doc: "time awake and reachable after each wake" },
  { key: "sleep.driftPpm", kind: { type: "int", min: 0, max: 10000 }, doc: "RTC drift allowed for when planning wakes, ppm" },
  { key: "safeApply.timeoutS", kind: { type: "int", min: 5, max: 600 }, doc: "reconnect deadline of a connectivity change" },
];

// Without a prototype: a key named after an Object.prototype member ("constructor", "__proto__",
// "toString", ...) is not a field (with {} it was found there, and an unknown key went unreported).
const FIELD_BY_KEY: { [key: string]: Field } = Object.create(null);
for (const f of FIELDS) FIELD_BY_KEY[f.key] = f;

/** Groups of the document (objects that hold fields). */
const GROUPS = ["mqtt", "coap", "sampling", "telemetry", "sleep", "safeApply"];

export const SECRET_KEYS: readonly string[] = FIELDS.filter((f) => f.secret).map((f) => f.key);
export const CONNECTIVITY_KEYS: readonly string[] = FIELDS.filter((f) => f.connectivity).map((f) => f.key);

/** Quantities each sensor reports (ECMA-419 §14 units: °C, %RH, Pa, lx, ppm, V) and their plausible range. */
export const SENSOR_QUANTITIES: { readonly [chip: string]: readonly string[] } = {
  sht3x: ["temperature", "humidity"],
  sht4x: ["temperature", "humidity"],
  bme280: ["temperature", "humidity", "pressure"],
  bmp280: ["temperature", "pressure"],
  bh1750: ["illuminance"],
  scd4x: ["co2", "temperature", "humidity"],
  battery: ["voltage"],
};

export const QUANTITY_RANGES: { readonly [q: string]: readonly [number, number] } = {
  temperature: [-40, 125],
  humidity: [0, 100],
  pressure: [30000, 110000],
  illuminance: [0, 100000],
  co2: [0, 40000],
  voltage: [0, 6],
};

// ---------------------------------------------------------------------------

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "..." : v);
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return "a " + typeof v;
}

function issue(errors: ConfigIssue[], key: string, rule: string, got?: unknown, showGot = true): void {
  const message = key ? `${key}: ${rule}` : rule;
  errors.push({ key, rule, message: showGot && arguments.length >= 4 ? `${message} (got ${show(got)})` : message });
}

export function isPlainObject(v: unknown): v is { [k: string]: unknown } {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return false;
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

// Each made when called: a preloaded RegExp crashes XS (tools/check-preload.js, rule 4).
const IPV4 = (): RegExp => /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const LABEL = (): RegExp => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** A DNS host name (RFC 1123 §2.1 labels) or a dotted IPv4 address. */
export function isHost(s: string): boolean {
  if (s.length < 1 || s.length > 253) return false;
  if (/^[\d.]+$/.test(s)) return IPV4().test(s);
  return s.split(".").every((l) => LABEL().test(l));
}

/** Topic levels without wildcards, empty levels or a leading "$" (MQTT 5.0 §4.7). */
function checkTopicPrefix(s: string): string | undefined {
  if (s.length < 1 || s.length > 64) return "must be 1 to 64 characters";
  if (/[+#\u0000]/.test(s)) return "must not contain the wildcards + or # (MQTT 5.0 §4.7.1) or U+0000";
  if (s.charAt(0) === "$") return 'must not start with "$" (reserved for broker topics, MQTT 5.0 §4.7.2)';
  if (s.split("/").some((l) => l.length === 0)) return "must not have empty levels (no leading, trailing or double /)";
  if (!/^[\x21-\x7e]+$/.test(s)) return "must be printable ASCII without spaces";
  return undefined;
}

function checkField(f: Field, v: unknown, errors: ConfigIssue[]): void {
  const k = f.kind;
  switch (k.type) {
    case "int":
      if (typeof v !== "number" || !Number.isInteger(v) || v < k.min || v > k.max) issue(errors, f.key, `must be an integer from ${k.min} to ${k.max}`, v);
      return;
    case "seconds":
      if (typeof v !== "number" || !(v >= k.min && v <= k.max) || Math.abs(v * 1000 - Math.round(v * 1000)) > 1e-6)
        issue(errors, f.key, `must be a number of seconds from ${k.min} to ${k.max}, in whole milliseconds`, v);
      return;
    case "enum":
      if (k.values.indexOf(v as string | number) < 0) issue(errors, f.key, `must be one of ${k.values.map((x) => JSON.stringify(x)).join(", ")}`, v);
      return;
    case "bool":
      if (typeof v !== "boolean") issue(errors, f.key, "must be true or false", v);
      return;
    case "string":
      if (typeof v !== "string") issue(errors, f.key, "must be a string", f.secret ? typeof v : v, !f.secret);
      else if (v.length < k.min || v.length > k.max) {
        const rule = `must be ${k.min} to ${k.max} characters`;
        errors.push({ key: f.key, rule, message: `${f.key}: ${rule} (got ${v.length} characters)` });
      }
      else if (k.pattern && !k.pattern().test(v)) issue(errors, f.key, k.patternRule ?? "has characters that are not allowed", f.secret ? "(secret)" : v);
      else if (/[\uD800-\uDFFF]/.test(v) && /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(v)) issue(errors, f.key, "must be valid Unicode (no lone surrogate)");
      return;
    case "host":
      if (typeof v !== "string" || !isHost(v)) issue(errors, f.key, "must be a host name (letters, digits, - and . ; at most 253) or an IPv4 address", v);
      return;
    case "topic-ids": {
      if (!isPlainObject(v)) {
        issue(errors, f.key, 'must be an object {"topic": id, ...}', v);
        return;
      }
      const names = Object.keys(v);
      const seen: number[] = [];
      if (names.length > 8) issue(errors, f.key, "must have at most 8 topics", names.length + " topics");
      for (const t of names) {
        const id = v[t];
        // MQTT-SN 1.2 §6.7: a topic name (no wildcard, MQTT 5.0 §4.7.1) and an id from 1 to 65534 (§5.3.11; 0 and 0xFFFF are reserved).
        if (!t || t.length > 128 || /[+#\u0000]/.test(t)) issue(errors, `${f.key}.${t}`, "must be a topic name of 1 to 128 characters, without + or #");
        else if (typeof id !== "number" || !Number.isInteger(id) || id < 1 || id > 65534) issue(errors, `${f.key}.${t}`, "must be a topic id from 1 to 65534", id);
        else if (seen.indexOf(id) >= 0) issue(errors, `${f.key}.${t}`, "must be an id no other topic has", id);
        else seen.push(id);
      }
      return;
    }
    case "topic-prefix": {
      if (typeof v !== "string") {
        issue(errors, f.key, "must be a string", v);
        return;
      }
      const why = checkTopicPrefix(v);
      if (why) issue(errors, f.key, why, v);
      return;
    }
  }
}

function getPath(o: unknown, key: string): unknown {
  let cur = o;
  for (const part of key.split(".")) {
    if (!isPlainObject(cur) || !Object.prototype.hasOwnProperty.call(cur, part)) return undefined;
    cur = cur[part];
  }
  return cur;
}

function hasPath(o: unknown, key: string): boolean {
  let cur = o;
  for (const part of key.split(".")) {
    if (!isPlainObject(cur) || !Object.prototype.hasOwnProperty.call(cur, part)) return false;
    cur = cur[part];
  }
  return true;
}

function setPath(o: { [k: string]: unknown }, key: string, value: unknown): void {
  const parts = key.split(".");
  let cur = o;
  for (let i = 0; i < parts.length - 1; i++) {
    const p = parts[i];
    if (!isPlainObject(cur[p])) cur[p] = {};
    cur = cur[p] as { [k: string]: unknown };
  }
  cur[parts[parts.length - 1]] = value;
}

function checkThreshold(key: string, quantity: string, v: unknown, errors: ConfigIssue[]): ThresholdRule | undefined {
  if (!isPlainObject(v)) {
    issue(errors, key, "must be an object with min, max and/or delta", v);
    return undefined;
  }
  const [lo, hi] = QUANTITY_RANGES[quantity];
  const out: ThresholdRule = {};
  for (const name of Object.keys(v)) {
    const x = v[name];
    const k = `${key}.${name}`;
    if (name !== "min" && name !== "max" && name !== "delta") {
      issue(errors, k, "unknown key (a threshold has min, max, delta)");
      continue;
    }
    if (typeof x !== "number" || !isFinite(x)) {
      issue(errors, k, "must be a finite number", x);
      continue;
    }
    if (name === "delta") {
      if (x <= 0 || x > hi - lo) issue(errors, k, `must be above 0 and at most ${hi - lo}`, x);
      else out.delta = x;
    } else if (x < lo || x > hi) issue(errors, k, `must be from ${lo} to ${hi} (${quantity})`, x);
    else out[name] = x;
  }
  if (out.min !== undefined && out.max !== undefined && out.min > out.max) issue(errors, key, `min must not be above max`, `min ${out.min}, max ${out.max}`);
  return out;
}

function checkSensors(v: unknown, board: ConfigBoard | undefined, errors: ConfigIssue[]): { [chip: string]: SensorSettings } {
  const out: { [chip: string]: SensorSettings } = {};
  if (!isPlainObject(v)) {
    issue(errors, "sensors", "must be an object of sensor settings", v);
    return out;
  }
  const fitted = boardSensorNames(board);
  for (const chip of Object.keys(v)) {
    const key = `sensors.${chip}`;
    if (!Object.prototype.hasOwnProperty.call(SENSOR_QUANTITIES, chip)) {
      issue(errors, key, `unknown sensor (known: ${Object.keys(SENSOR_QUANTITIES).join(", ")})`);
      continue;
    }
    if (fitted && fitted.indexOf(chip) < 0) {
      issue(errors, key, `this board has no such sensor (it has ${fitted.join(", ") || "none"})`);
      continue;
    }
    const s = v[chip];
    if (!isPlainObject(s)) {
      issue(errors, key, "must be an object {enabled, thresholds}", s);
      continue;
    }
    const settings: SensorSettings = { enabled: false, thresholds: {} };
    for (const name of Object.keys(s)) if (name !== "enabled" && name !== "thresholds") issue(errors, `${key}.${name}`, "unknown key (a sensor has enabled, thresholds)");
    if (!Object.prototype.hasOwnProperty.call(s, "enabled")) issue(errors, `${key}.enabled`, "is required");
    else if (typeof s.enabled !== "boolean") issue(errors, `${key}.enabled`, "must be true or false", s.enabled);
    else settings.enabled = s.enabled;
    if (Object.prototype.hasOwnProperty.call(s, "thresholds")) {
      const t = s.thresholds;
      if (!isPlainObject(t)) issue(errors, `${key}.thresholds`, "must be an object keyed by quantity", t);
      else
        for (const q of Object.keys(t)) {
          if (SENSOR_QUANTITIES[chip].indexOf(q) < 0) {
            issue(errors, `${key}.thresholds.${q}`, `unknown quantity for ${chip} (it measures ${SENSOR_QUANTITIES[chip].join(", ")})`);
            continue;
          }
          const r = checkThreshold(`${key}.thresholds.${q}`, q, t[q], errors);
          if (r) settings.thresholds[q] = r;
        }
    }
    out[chip] = settings;
  }
  return out;
}

function boardSensorNames(board: ConfigBoard | undefined): string[] | undefined {
  if (!board) return undefined;
  const names: string[] = [];
  for (const s of board.sensors) if (names.indexOf(s.chip) < 0) names.push(s.chip);
  if (board.battery) names.push("battery");
  return names;
}

// ---------------------------------------------------------------------------

/** Built-in defaults, then the board's sensors, then the identity and provisioning. */
export function defaultConfig(ctx: ConfigContext = {}): DeviceConfig {
  const sensors: { [chip: string]: SensorSettings } = {};
  for (const chip of boardSensorNames(ctx.board) ?? []) sensors[chip] = { enabled: true, thresholds: {} };
  const c: DeviceConfig = {
    version: 2,
    deviceId: ctx.deviceId ?? "xs-iot-device",
    protocol: "mqtt5",
    topicPrefix: "xs-iot",
    mqtt: { host: "localhost", port: 1883, tls: false, username: "", password: "", keepAliveS: 60, sessionExpiryS: 86400, snPredefined: {}, snWill: true },
    coap: { gatewayHost: "localhost", gatewayPort: 5683, gatewayPath: "tele", listenPort: 5683 },
    sampling: { intervalS: 10 },
    telemetry: { intervalS: 300, qos: 1, maxBatch: TELEMETRY_MAX_BATCH },
    sensors,
    sleep: { mode: "none", awakeWindowS: 10, driftPpm: 100 },
    safeApply: { timeoutS: 60 },
  };
  if (ctx.provisioned) for (const key of Object.keys(ctx.provisioned)) if (FIELD_BY_KEY[key]) setPath(c as unknown as { [k: string]: unknown }, key, ctx.provisioned[key]);
  // Normalized through the rules: the same key order as every validated config.
  const r = validateConfig(c, ctx);
  if (r.ok) return r.config;
  throw new RangeError("config: the defaults are invalid (check the provisioning and the device id): " + r.errors.map((e) => e.message).join("; "));
}

export interface ValidateOptions {
  /** For a whole-document set: secrets absent from the input keep these values. */
  keepSecretsFrom?: DeviceConfig;
}

/**
 * Checks a whole configuration document (version 2; a version 1 document is
 * migrated first). Returns a new, normalized DeviceConfig or every issue found.
 */
export function validateConfig(input: unknown, ctx: ConfigContext = {}, options: ValidateOptions = {}): ValidationResult {
  const errors: ConfigIssue[] = [];
  if (!isPlainObject(input)) {
    issue(errors, "", "the configuration must be a JSON/CBOR object", input);
    return { ok: false, errors };
  }
  let doc: { [k: string]: unknown } = input;
  if (doc.version === 1) {
    const m = migrateV1(doc, ctx);
    if (!m.ok) return m;
    doc = m.doc;
  }
  if (doc.version !== CONFIG_VERSION) issue(errors, "version", `must be ${CONFIG_VERSION} (or 1, migrated)`, doc.version);
  // Unknown keys, at the top and in the groups.
  for (const k of Object.keys(doc)) {
    if (k === "version" || k === "sensors") continue;
    if (GROUPS.indexOf(k) >= 0) {
      const g = doc[k];
      if (!isPlainObject(g)) {
        issue(errors, k, "must be an object", g);
        continue;
      }
      for (const sub of Object.keys(g)) if (!FIELD_BY_KEY[`${k}.${sub}`]) issue(errors, `${k}.${sub}`, "unknown key");
    } else if (!FIELD_BY_KEY[k]) issue(errors, k, "unknown key");
  }
  const out = {} as { [k: string]: unknown };
  out.version = CONFIG_VERSION;
  for (const f of FIELDS) {
    const group = f.key.indexOf(".") > 0 ? f.key.split(".")[0] : undefined;
    if (group && !isPlainObject(doc[group])) {
      if (!Object.prototype.hasOwnProperty.call(doc, group) && !errors.some((e) => e.key === group)) issue(errors, group, "is required");
      continue;
    }
    if (!hasPath(doc, f.key)) {
      if (f.optional) {
        setPath(out, f.key, f.absent ?? (f.kind.type === "bool" || {}));
        continue;
      }
      if (f.secret && options.keepSecretsFrom) {
        setPath(out, f.key, getPath(options.keepSecretsFrom, f.key));
        continue;
      }
      issue(errors, f.key, "is required");
      continue;
    }
    const v = getPath(doc, f.key);
    const before = errors.length;
    checkField(f, v, errors);
    // An object value is copied: the result shares nothing with the input.
    if (errors.length === before) setPath(out, f.key, isPlainObject(v) ? { ...v } : v);
  }
  if (!Object.prototype.hasOwnProperty.call(doc, "sensors")) issue(errors, "sensors", "is required");
  else out.sensors = checkSensors(doc.sensors, ctx.board, errors);
  // Cross-field rules.
  const samp = getPath(doc, "sampling.intervalS");
  const tele = getPath(doc, "telemetry.intervalS");
  if (typeof samp === "number" && typeof tele === "number" && errors.every((e) => e.key !== "sampling.intervalS" && e.key !== "telemetry.intervalS") && tele < samp)
    issue(errors, "telemetry.intervalS", "must not be shorter than sampling.intervalS", `${tele} < ${samp}`);
  if (errors.length) return { ok: false, errors };
  return { ok: true, config: out as unknown as DeviceConfig };
}

/** A deep copy with the secrets removed (for config/get, the retained topic, logs). */
export function redactConfig(c: DeviceConfig): { [k: string]: unknown } {
  const copy = JSON.parse(JSON.stringify(c)) as { [k: string]: unknown };
  for (const key of SECRET_KEYS) {
    const parts = key.split(".");
    let cur = copy;
    for (let i = 0; i < parts.length - 1; i++) cur = cur[parts[i]] as { [k: string]: unknown };
    delete cur[parts[parts.length - 1]];
  }
  return copy;
}

/** Whether the values of `key` differ (an object value by its entries, in order). */
function differs(a: DeviceConfig, b: DeviceConfig, key: string): boolean {
  const x = getPath(a, key);
  const y = getPath(b, key);
  return x !== y && !(isPlainObject(x) && isPlainObject(y) && JSON.stringify(x) === JSON.stringify(y));
}

/** Connectivity keys whose values differ (the ones a safe apply must try). */
export function connectivityChanges(a: DeviceConfig, b: DeviceConfig): string[] {
  const out: string[] = [];
  for (const k of CONNECTIVITY_KEYS) if (differs(a, b, k)) out.push(k);
  return out;
}

/** Keys (dotted, sensors as one key each) whose values differ. */
export function changedKeys(a: DeviceConfig, b: DeviceConfig): string[] {
  const out: string[] = [];
  for (const f of FIELDS) if (differs(a, b, f.key)) out.push(f.key);
  const chips = Object.keys(a.sensors).concat(Object.keys(b.sensors).filter((c) => !(c in a.sensors)));
  for (const chip of chips) if (JSON.stringify(a.sensors[chip]) !== JSON.stringify(b.sensors[chip])) out.push("sensors." + chip);
  return out;
}

/**
 * `base` with the values `next` has where it differs from `from` (the keys changedKeys(from, next)
 * names): a change made on top of `from` carried over to `base`. Not validated.
 */
export function carryChanges(base: DeviceConfig, from: DeviceConfig, next: DeviceConfig): DeviceConfig {
  const out = cloneConfig(base);
  for (const key of changedKeys(from, next)) {
    if (key.indexOf("sensors.") === 0) {
      const chip = key.slice(8);
      if (Object.prototype.hasOwnProperty.call(next.sensors, chip)) out.sensors[chip] = JSON.parse(JSON.stringify(next.sensors[chip]));
      else delete out.sensors[chip];
    } else setPath(out as unknown as { [k: string]: unknown }, key, JSON.parse(JSON.stringify(getPath(next, key))));
  }
  return out;
}

export function cloneConfig(c: DeviceConfig): DeviceConfig {
  return JSON.parse(JSON.stringify(c)) as DeviceConfig;
}

// ---------------------------------------------------------------------------
// Version 1 (the previous firmware's flat layout) -> version 2

/**
 * Version 1 was flat and counted time in milliseconds:
 *   { version: 1, deviceId, broker: "host:port", mqttVersion: 4 | 5, user, pass,
 *     prefix, sampleMs, reportMs, keepAlive, qos, sensors: ["sht3x", ...], deepSleep }
 * Migration: broker splits into mqtt.host / mqtt.port (port 1883 when absent),
 * mqttVersion 4 -> "mqtt311", 5 -> "mqtt5"; milliseconds become seconds
 * (rounded up, at least 1); the sensor list becomes per-sensor settings
 * (listed = enabled, other fitted sensors disabled); deepSleep true -> sleep.mode
 * "deep", false -> "none". Keys v1 did not have take their defaults.
 */
export function migrateV1(v1: { [k: string]: unknown }, ctx: ConfigContext = {}): { ok: true; doc: { [k: string]: unknown } } | { ok: false; errors: ConfigIssue[] } {
  const errors: ConfigIssue[] = [];
  const known = ["version", "deviceId", "broker", "mqttVersion", "user", "pass", "prefix", "sampleMs", "reportMs", "keepAlive", "qos", "sensors", "deepSleep"];
  for (const k of Object.keys(v1)) if (known.indexOf(k) < 0) issue(errors, k, "unknown key in a version 1 configuration");
  const d = defaultConfig({ board: ctx.board, deviceId: ctx.deviceId }) as unknown as { [k: string]: any };
  if (v1.deviceId !== undefined) d.deviceId = v1.deviceId;
  if (v1.broker !== undefined) {
    if (typeof v1.broker !== "string" || !/^[^:]+(:\d{1,5})?$/.test(v1.broker)) issue(errors, "broker", 'must be "host" or "host:port" (version 1)', v1.broker);
    else {
      const [host, port] = v1.broker.split(":");
      d.mqtt.host = host;
      d.mqtt.port = port === undefined ? 1883 : Number(port);
    }
  }
  if (v1.mqttVersion !== undefined) {
    if (v1.mqttVersion === 4) d.protocol = "mqtt311";
    else if (v1.mqttVersion === 5) d.protocol = "mqtt5";
    else issue(errors, "mqttVersion", "must be 4 or 5 (version 1)", v1.mqttVersion);
  }
  if (v1.user !== undefined) d.mqtt.username = v1.user;
  if (v1.pass !== undefined) d.mqtt.password = v1.pass;
  if (v1.prefix !== undefined) d.topicPrefix = v1.prefix;
  const seconds = (k: string, target: (s: number) => void) => {
    const v = v1[k];
    if (v === undefined) return;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1) issue(errors, k, "must be a positive integer of milliseconds (version 1)", v);
    else target(Math.max(1, Math.ceil(v / 1000)));
  };
  seconds("sampleMs", (s) => (d.sampling.intervalS = s));
  seconds("reportMs", (s) => (d.telemetry.intervalS = s));
  if (v1.keepAlive !== undefined) d.mqtt.keepAliveS = v1.keepAlive;
  if (v1.qos !== undefined) d.telemetry.qos = v1.qos;
  if (v1.sensors !== undefined) {
    if (!Array.isArray(v1.sensors) || v1.sensors.some((s) => typeof s !== "string")) issue(errors, "sensors", "must be a list of sensor names (version 1)", v1.sensors);
    else {
      const list = v1.sensors as string[];
      const sensors: { [chip: string]: SensorSettings } = {};
      for (const chip of Object.keys(d.sensors)) sensors[chip] = { enabled: list.indexOf(chip) >= 0, thresholds: {} };
      for (const chip of list) if (!sensors[chip]) sensors[chip] = { enabled: true, thresholds: {} };
      d.sensors = sensors;
    }
  }
  if (v1.deepSleep !== undefined) {
    if (typeof v1.deepSleep !== "boolean") issue(errors, "deepSleep", "must be true or false (version 1)", v1.deepSleep);
    else d.sleep.mode = v1.deepSleep ? "deep" : "none";
  }
  if (errors.length) return { ok: false, errors };
  return { ok: true, doc: d };
}
