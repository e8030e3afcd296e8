// @xs
/*
 * Hostile and broken commands through both transports: each is rejected with a
 * clear reason, and the flash (every namespace, byte for byte) is unchanged after it.
 * MQTT through ConfigMqttBinding on a scripted client; CoAP through
 * ConfigCoapBinding on a CoapServer over sim/udp-network.ts (RFC 7252 codes).
 */
import type { MessageHandler } from "../../modules/mqtt/client";
import { makeCore, KEY, OTHER_KEY, DEVICE, flashSnapshot, type CoreKit } from "./helpers";
import { ConfigMqttBinding } from "../../modules/config/mqtt-binding";
import { ConfigCoapBinding } from "../../modules/config/coap-binding";
import { ConfigCore } from "../../modules/config/core";
import { ConfigStore } from "../../modules/config/store";
import { signCommand } from "../../modules/config/auth";
import { encodeCbor, decodeCbor, CborTag } from "../../modules/cbor/cbor";
import { hmacSha256 } from "../../modules/platform/sha256";
import { FlashStore } from "../../sim/flash-store";
import { makeFixture, SERVER } from "../coap/server-fixture";
import { simBoard } from "../../boards/sim";

const enc = (s: string) => {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
};
const dec = (b: Uint8Array) => String.fromCharCode(...Array.from(b));

/** A result as sent: JSON, or CBOR when the request was CBOR. */
function parse(b: Uint8Array): any {
  if (b[0] === 0x7b) return JSON.parse(dec(b));
  const r = decodeCbor(b);
  if (!r.ok) throw new Error("result is neither JSON nor CBOR");
  return r.value;
}

class ScriptedClient {
  isConnected = true;
  /** The broker's CONNACK properties (MQTT 5), when a test gives them. */
  serverProperties: { maximumPacketSize?: number } | undefined = undefined;
  subs: { filter: string; fn: MessageHandler }[] = [];
  published: { topic: string; payload: Uint8Array; retain: boolean }[] = [];
  responded: { payload: Uint8Array; correlationData: unknown }[] = [];
  subscribe(filter: string, _o: unknown, fn: MessageHandler) {
    this.subs.push({ filter, fn });
  }
  unsubscribe() {}
  publish(topic: string, payload: Uint8Array, o: { retain?: boolean }) {
    this.published.push({ topic, payload, retain: !!o?.retain });
    return 1;
  }
  respond(req: any, payload: Uint8Array) {
    this.responded.push({ payload, correlationData: req.properties.correlationData });
    return 1;
  }
  deliver(topic: string, payload: Uint8Array, properties?: unknown) {
    // As MqttClient dispatches: a function, or an object's onMessage method (MessageHandler).
    for (const s of this.subs) {
      const m = { topic, payload, qos: 1, retain: false, dup: false, packetId: 1, properties } as never;
      if (typeof s.fn === "function") s.fn.call(this as never, m);
      else s.fn.onMessage(m);
    }
  }
  last(): any {
    const p = this.published[this.published.length - 1];
    return { topic: p.topic, ...(parse(p.payload) as object) };
  }
}

function mqttKit(options = {}) {
  const k = makeCore(options);
  const client = new ScriptedClient();
  new ConfigMqttBinding({ core: k.core, client: client as any });
  const base = `xs-iot/${DEVICE}/cmd/`;
  return { k, client, base };
}

function env(k: CoreKit, command: string, body: unknown, over: { [k: string]: unknown } = {}, key = KEY, device = DEVICE) {
  const ctr = (over.ctr as number) ?? k.ctr++;
  const e: { [k: string]: unknown } = { ctr, mac: signCommand(hmacSha256, key, device, command, ctr, body), body };
  for (const x of Object.keys(over)) if (over[x] === undefined) delete e[x];
  else e[x] = over[x];
  return enc(JSON.stringify(e));
}

type MqttCase = [string, (t: ReturnType<typeof mqttKit>) => { command: string; payload: Uint8Array; properties?: unknown }, string, RegExp];

const mqttCases: MqttCase[] = [
  ["invalid JSON", () => ({ command: "ping", payload: enc("{") }), "invalid", /invalid JSON/],
  ["JSON array envelope", () => ({ command: "ping", payload: enc("[1,2]") }), "invalid", /must be an object/],
  ["empty payload", () => ({ command: "ping", payload: new Uint8Array(0) }), "invalid", /empty/],
  ["JSON string envelope", () => ({ command: "ping", payload: enc('"hi"') }), "invalid", /must be an object/],
  ["invalid UTF-8", () => ({ command: "ping", payload: Uint8Array.of(0x7b, 0xc3, 0x28, 0x7d) }), "invalid", /UTF-8/],
  ["unknown envelope key", (t) => ({ command: "ping", payload: env(t.k, "ping", null, { x: 1 }) }), "invalid", /payload\.x: unknown key/],
  ["missing mac", (t) => ({ command: "ping", payload: env(t.k, "ping", null, { mac: undefined }) }), "unauthorized", /mac: missing/],
  ["missing ctr", (t) => ({ command: "ping", payload: enc(JSON.stringify({ mac: "00".repeat(32) })) }), "unauthorized", /ctr: missing/],
  ["ctr as a string", (t) => ({ command: "ping", payload: env(t.k, "ping", null, { ctr: "5" }) }), "unauthorized", /ctr: must be an integer/],
  ["ctr negative", (t) => ({ command: "ping", payload: env(t.k, "ping", null, { ctr: -3 }) }), "unauthorized", /ctr: must be an integer/],
  ["ctr zero", (t) => ({ command: "ping", payload: env(t.k, "ping", null, { ctr: 0 }) }), "unauthorized", /ctr: must be an integer/],
  ["ctr fraction", (t) => ({ command: "ping", payload: env(t.k, "ping", null, { ctr: 1.5 }) }), "unauthorized", /ctr: must be an integer/],
  ["ctr above 2^53", (t) => ({ command: "ping", payload: env(t.k, "ping", null, { ctr: 2 ** 60 }) }), "unauthorized", /ctr: must be an integer/],
  ["truncated MAC", (t) => ({ command: "ping", payload: env(t.k, "ping", null, { mac: "ab".repeat(20) }) }), "unauthorized", /mac: must be 64 hex digits \(got 40/],
  ["non-hex MAC", (t) => ({ command: "ping", payload: env(t.k, "ping", null, { mac: "zz".repeat(32) }) }), "unauthorized", /hex digits only/],
  ["MAC as a number", (t) => ({ command: "ping", payload: env(t.k, "ping", null, { mac: 12345 }) }), "unauthorized", /mac: must be 64 hex/],
  ["wrong MAC", (t) => ({ command: "ping", payload: env(t.k, "ping", null, { mac: "00".repeat(32) }) }), "unauthorized", /does not verify/],
  ["MAC made with another key", (t) => ({ command: "config/patch", payload: env(t.k, "config/patch", { telemetry: { intervalS: 30 } }, {}, OTHER_KEY) }), "unauthorized", /does not verify/],
  ["command for another device", (t) => ({ command: "config/patch", payload: env(t.k, "config/patch", { telemetry: { intervalS: 30 } }, {}, KEY, "dev-2") }), "unauthorized", /does not verify/],
  ["MAC for another command", (t) => ({ command: "factory-reset", payload: env(t.k, "ping", null) }), "unauthorized", /does not verify/],
  ["unknown command", (t) => ({ command: "selfdestruct", payload: env(t.k, "selfdestruct", null) }), "not-found", /unknown command "selfdestruct"/],
  ["oversized payload", () => ({ command: "config/set", payload: new Uint8Array(5000).fill(0x20) }), "too-large", /5000 bytes is larger than 4096/],
  ["JSON nested 50 deep", () => ({ command: "ping", payload: enc('{"body":' + "[".repeat(50) + "]".repeat(50) + "}") }), "invalid", /deeper than 12/],
  ["patch body an array", (t) => ({ command: "config/patch", payload: env(t.k, "config/patch", [1]) }), "invalid", /merge patch object/],
  ["patch unknown key", (t) => ({ command: "config/patch", payload: env(t.k, "config/patch", { telemetry: { intervall: 5 } }) }), "invalid", /telemetry\.intervall: unknown key/],
  ["patch out of range", (t) => ({ command: "config/patch", payload: env(t.k, "config/patch", { telemetry: { intervalS: 999999 } }) }), "invalid", /telemetry\.intervalS: must be a number of seconds from 0\.01 to 86400/],
  ["patch wrong type", (t) => ({ command: "config/patch", payload: env(t.k, "config/patch", { mqtt: { tls: "on" } }) }), "invalid", /mqtt\.tls: must be true or false/],
  ["set partial document", (t) => ({ command: "config/set", payload: env(t.k, "config/set", { version: 2 }) }), "invalid", /deviceId: is required/],
  ["set a string", (t) => ({ command: "config/set", payload: env(t.k, "config/set", "everything") }), "invalid", /whole configuration object/],
  ["reboot with a body", (t) => ({ command: "reboot", payload: env(t.k, "reboot", { delay: 0 }) }), "invalid", /reboot takes no body/],
  ["sleep/prevent too long", (t) => ({ command: "sleep/prevent", payload: env(t.k, "sleep/prevent", { forS: 1e9 }) }), "invalid", /forS: must be an integer from 1 to 86400/],
  ["patch required key to null", (t) => ({ command: "config/patch", payload: env(t.k, "config/patch", { mqtt: { port: null } }) }), "invalid", /mqtt\.port: is required/],
  ["device id with a slash", (t) => ({ command: "config/patch", payload: env(t.k, "config/patch", { deviceId: "../x" }) }), "invalid", /deviceId: must be 1 to 32/],
  ["topic prefix wildcard", (t) => ({ command: "config/patch", payload: env(t.k, "config/patch", { topicPrefix: "#" }) }), "invalid", /wildcards/],
  ["unknown sensor", (t) => ({ command: "config/patch", payload: env(t.k, "config/patch", { sensors: { dht11: { enabled: true } } }) }), "invalid", /sensors\.dht11: unknown sensor/],
  ["threshold min above max", (t) => ({ command: "config/patch", payload: env(t.k, "config/patch", { sensors: { sht3x: { thresholds: { temperature: { min: 50, max: 10 } } } } }) }), "invalid", /min must not be above max/],
  ["CBOR payload invalid", () => ({ command: "ping", payload: Uint8Array.of(0xa1, 0x63), properties: { contentType: "application/cbor" } }), "invalid", /invalid CBOR/],
  ["CBOR payload with trailing bytes", () => ({ command: "ping", payload: Uint8Array.of(0xa0, 0x00), properties: { contentType: "application/cbor" } }), "invalid", /after the data item/],
  [
    "CBOR body with a byte string (unsignable)",
    (t) => ({ command: "config/patch", payload: encodeCbor({ ctr: t.k.ctr++, mac: "00".repeat(32), body: { x: new Uint8Array(2) } }), properties: { contentType: "application/cbor" } }),
    "unauthorized",
    /body: only JSON values can be signed/,
  ],
  [
    "CBOR body with a tag (unsignable)",
    (t) => ({ command: "config/patch", payload: encodeCbor({ ctr: t.k.ctr++, mac: "00".repeat(32), body: new CborTag(1, 5) }), properties: { contentType: "application/cbor" } }),
    "unauthorized",
    /only JSON values/,
  ],
  ["password too long (not echoed)", (t) => ({ command: "config/patch", payload: env(t.k, "config/patch", { mqtt: { password: "Q".repeat(500) } }) }), "invalid", /mqtt\.password: must be 0 to 128 characters \(got 500 characters\)/],
  ["version 3 document", (t) => ({ command: "config/patch", payload: env(t.k, "config/patch", { version: 3 }) }), "invalid", /version: must be 2/],
];

describe("hostile MQTT commands", () => {
  it.each(mqttCases)("%s -> %s", (_name, make, status, why) => {
    const t = mqttKit();
    const m = make(t);
    const before = flashSnapshot(t.k.flash);
    const config = JSON.stringify(t.k.core.config);
    t.client.deliver(t.base + m.command, m.payload, m.properties);
    const r = t.client.last();
    expect(r.status).toBe(status);
    if (status === "unauthorized") {
      // An unauthenticated sender learns nothing more than "unauthorized" (issue 15); the
      // reason is in the device's own log.
      expect(r.reasons).toEqual(["unauthorized"]);
      expect(r.lastCtr).toBeUndefined();
      expect(t.k.logs.join("\n")).toMatch(why);
    } else expect(r.reasons.join(" | ")).toMatch(why);
    expect(flashSnapshot(t.k.flash)).toBe(before);
    expect(JSON.stringify(t.k.core.config)).toBe(config);
    expect(JSON.stringify(t.client.published.map((p) => dec(p.payload)))).not.toContain("QQQQQQQQ");
  });

  it("replayed counter: the same message twice, the second refused and nothing written", () => {
    const t = mqttKit();
    const msg = env(t.k, "config/patch", { telemetry: { intervalS: 30 } });
    t.client.deliver(t.base + "config/patch", msg);
    expect(t.client.last().status).toBe("ok");
    const before = flashSnapshot(t.k.flash);
    t.client.deliver(t.base + "config/patch", msg);
    expect(t.client.last().status).toBe("unauthorized");
    expect(t.client.last().reasons[0]).toMatch(/not above the last accepted/);
    expect(flashSnapshot(t.k.flash)).toBe(before);
  });

  it("a lower counter after a higher one is refused", () => {
    const t = mqttKit();
    t.client.deliver(t.base + "ping", env(t.k, "ping", null, { ctr: 100 }));
    const before = flashSnapshot(t.k.flash);
    t.client.deliver(t.base + "ping", env(t.k, "ping", null, { ctr: 99 }));
    expect(t.client.last().status).toBe("unauthorized");
    expect(flashSnapshot(t.k.flash)).toBe(before);
  });

  it("command flood: bounded work, one busy answer per second, flash untouched", () => {
    const t = mqttKit({ burst: 5, ratePerS: 1 });
    const before = flashSnapshot(t.k.flash);
    for (let i = 0; i < 500; i++) t.client.deliver(t.base + "ping", env(t.k, "ping", null, { mac: "11".repeat(32) }));
    const answers = t.client.published.filter((p) => p.topic.endsWith("/res/ping")).map((p) => JSON.parse(dec(p.payload)));
    expect(answers.filter((a) => a.status === "unauthorized").length).toBe(5);
    expect(answers.filter((a) => a.status === "busy").length).toBe(1);
    expect(t.k.core.rejected.busy).toBe(495);
    expect(flashSnapshot(t.k.flash)).toBe(before);
  });

  it("results: res/<command>, and on MQTT 5 also the Response Topic with the Correlation Data", () => {
    const t = mqttKit();
    const cd = Uint8Array.of(1, 2, 3);
    t.client.deliver(t.base + "ping", env(t.k, "ping", null), { responseTopic: "host/replies", correlationData: cd });
    expect(t.client.published.some((p) => p.topic === `xs-iot/${DEVICE}/res/ping`)).toBe(true);
    expect(t.client.responded.length).toBe(1);
    expect(t.client.responded[0].correlationData).toEqual(cd);
    expect(JSON.parse(dec(t.client.responded[0].payload)).status).toBe("ok");
  });

  it("the retained config topic is published after a change, without secrets", () => {
    const t = mqttKit();
    t.client.deliver(t.base + "config/patch", env(t.k, "config/patch", { mqtt: { password: "pw-123456" }, telemetry: { intervalS: 60 } }));
    const cfg = t.client.published.filter((p) => p.topic === `xs-iot/${DEVICE}/config`);
    expect(cfg.length).toBe(1);
    expect(cfg[0].retain).toBe(true);
    expect(dec(cfg[0].payload)).not.toContain("pw-123456");
    expect(JSON.parse(dec(cfg[0].payload)).telemetry.intervalS).toBe(60);
  });
});

describe("answers under a broker's Maximum Packet Size [MQTT-3.2.2-15]", () => {
  /** The bytes of a PUBLISH at QoS 1 with a 3-byte property (MQTT 5): what must fit in 256. */
  const packet = (topic: string, payload: Uint8Array, props = 3) => {
    const rest = 2 + topic.length + 2 + 1 + props + payload.length;
    return 1 + (rest < 128 ? 1 : 2) + rest;
  };

  it("config/get: the answer without the configuration, `configTopic` where it is retained in parts, `cut` its whole size; both topics fit", () => {
    const t = mqttKit();
    t.client.serverProperties = { maximumPacketSize: 256 };
    const cd = Uint8Array.of(1, 2, 3, 4);
    t.client.deliver(t.base + "config/get", env(t.k, "config/get", null), { responseTopic: "host/replies/a-long-response-topic", correlationData: cd });
    const res = t.client.published.filter((p) => p.topic === `xs-iot/${DEVICE}/res/config/get`);
    expect(res.length).toBe(1);
    const a = JSON.parse(dec(res[0].payload));
    expect([a.status, a.command, a.configTopic]).toEqual(["ok", "config/get", `xs-iot/${DEVICE}/config`]);
    expect(a.config).toBeUndefined();
    expect(a.cut).toBeGreaterThan(256);
    expect(packet(res[0].topic, res[0].payload)).toBeLessThanOrEqual(256);
    expect(packet("host/replies/a-long-response-topic", t.client.responded[0].payload, 3 + 3 + cd.length)).toBeLessThanOrEqual(256);
    // without a limit, the whole answer
    const u = mqttKit();
    u.client.deliver(u.base + "config/get", env(u.k, "config/get", null));
    expect(JSON.parse(dec(u.client.published[u.client.published.length - 1].payload)).config.deviceId).toBe(DEVICE);
  });

  it("a rejection with many reasons: as many as fit, in order, and how many are left out", () => {
    const t = mqttKit();
    t.client.serverProperties = { maximumPacketSize: 256 };
    const body: { [k: string]: number } = {};
    for (let i = 0; i < 12; i++) body["unknownKeyNumber" + i] = i;
    t.client.deliver(t.base + "config/patch", env(t.k, "config/patch", body));
    const p = t.client.published[t.client.published.length - 1];
    const a = JSON.parse(dec(p.payload));
    expect(a.status).toBe("invalid");
    expect(a.reasons.length).toBeGreaterThan(0);
    expect(a.reasons[0]).toMatch(/^unknownKeyNumber0: unknown key/);
    expect(a.reasons.length + a.moreReasons).toBe(12);
    expect(packet(p.topic, p.payload)).toBeLessThanOrEqual(256);
    // the same in CBOR
    t.client.deliver(t.base + "config/patch", enc(String.fromCharCode(...encodeCbor({ ctr: t.k.ctr, mac: signCommand(hmacSha256, KEY, DEVICE, "config/patch", t.k.ctr, body), body }))), { contentType: "application/cbor" });
    t.k.ctr++;
    const q = t.client.published[t.client.published.length - 1];
    const b = parse(q.payload);
    expect(b.status).toBe("invalid");
    expect(b.reasons.length + b.moreReasons).toBe(12);
    expect(packet(q.topic, q.payload)).toBeLessThanOrEqual(256);
  });
});

describe("MQTT binding topics", () => {
  it("follow a device id change: the subscription moves, results and state go to the new topics, old commands are ignored", () => {
    const k = makeCore();
    const client = new ScriptedClient();
    const binding = new ConfigMqttBinding({ core: k.core, client: client as any });
    expect(binding.topics).toEqual({
      base: `xs-iot/${DEVICE}`, commands: `xs-iot/${DEVICE}/cmd/#`, cmdPrefix: `xs-iot/${DEVICE}/cmd/`,
      resPrefix: `xs-iot/${DEVICE}/res/`, config: `xs-iot/${DEVICE}/config`, state: `xs-iot/${DEVICE}/state`,
    });
    expect(client.subs.map((x) => x.filter)).toEqual([`xs-iot/${DEVICE}/cmd/#`]);
    expect(k.run("config/patch", { deviceId: "dev-2" }).status).toBe("ok");
    expect(binding.topics.commands).toBe("xs-iot/dev-2/cmd/#");
    expect(client.subs.map((x) => x.filter)).toEqual([`xs-iot/${DEVICE}/cmd/#`, "xs-iot/dev-2/cmd/#"]);
    expect(client.published.some((p) => p.topic === "xs-iot/dev-2/state" && dec(p.payload) === "online")).toBe(true);
    const n = client.published.length;
    client.deliver(`xs-iot/${DEVICE}/cmd/ping`, enc("{}"));
    expect(client.published.length).toBe(n); // not under the current prefix: ignored
    client.deliver("xs-iot/dev-2/cmd/ping", enc("{"));
    expect(client.last().topic).toBe("xs-iot/dev-2/res/ping");
    expect(client.last().status).toBe("invalid");
  });
});

describe("hostile CoAP requests", () => {
  async function coapKit() {
    const fx = makeFixture();
    const flash = new FlashStore();
    const store = new ConfigStore({ storage: flash, context: { board: simBoard, deviceId: DEVICE } });
    store.provisionKey(KEY);
    const logs: string[] = [];
    const core = new ConfigCore({ store, scheduler: fx.scheduler, hmacSha256, burst: 1000, ratePerS: 1000, log: (l) => logs.push(l) });
    new ConfigCoapBinding({ core, server: fx.server });
    let ctr = 1;
    const q = (command: string, body: unknown, c = ctr++, key = KEY, device = DEVICE) => [`ctr=${c}`, `mac=${signCommand(hmacSha256, key, device, command, c, body)}`];
    return { fx, flash, core, q, logs, uri: (p: string) => `coap://${SERVER}/${p}` };
  }
  type CoapCase = [string, (t: Awaited<ReturnType<typeof coapKit>>) => any, string, RegExp | undefined];
  const json = (v: unknown) => JSON.stringify(v);
  const cases: CoapCase[] = [
    ["PUT invalid JSON", (t) => ({ method: "PUT", path: "config", payload: "{", contentFormat: 50, query: t.q("config/set", undefined) }), "4.00", /invalid JSON/],
    ["PUT text/plain", (t) => ({ method: "PUT", path: "config", payload: "x", contentFormat: 0, query: t.q("config/set", "x") }), "4.15", undefined],
    ["PUT with Accept xml", (t) => ({ method: "PUT", path: "config", payload: "{}", contentFormat: 50, accept: 41, query: t.q("config/set", {}) }), "4.06", undefined],
    ["GET with Accept xml", () => ({ method: "GET", path: "config", accept: 41 }), "4.06", undefined],
    ["PUT without ctr/mac", () => ({ method: "PUT", path: "config", payload: "{}", contentFormat: 50 }), "4.01", /ctr: missing/],
    ["PUT wrong MAC", (t) => ({ method: "PUT", path: "config", payload: "{}", contentFormat: 50, query: ["ctr=1", "mac=" + "ab".repeat(32)] }), "4.01", /does not verify/],
    ["iPATCH truncated MAC", (t) => ({ method: "iPATCH", path: "config", payload: "{}", contentFormat: 52, query: ["ctr=1", "mac=abcd"] }), "4.01", /64 hex digits/],
    ["POST unknown command", (t) => ({ method: "POST", path: "cmd/format-flash", query: t.q("format-flash", null) }), "4.04", undefined],
    ["PUT 5000-byte body", (t) => ({ method: "PUT", path: "config", payload: "x".repeat(5000), contentFormat: 50, query: t.q("config/set", null) }), "4.13", undefined],
    ["iPATCH invalid CBOR", (t) => ({ method: "iPATCH", path: "config", payload: Uint8Array.of(0xbf, 0x61), contentFormat: 60, query: t.q("config/patch", null) }), "4.00", /invalid CBOR/],
    ["iPATCH CBOR duplicate keys", (t) => ({ method: "iPATCH", path: "config", payload: Uint8Array.of(0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02), contentFormat: 60, query: t.q("config/patch", null) }), "4.00", /duplicate/],
    ["PATCH out of range (signed)", (t) => ({ method: "PATCH", path: "config", payload: json({ telemetry: { intervalS: 0 } }), contentFormat: 52, query: t.q("config/patch", { telemetry: { intervalS: 0 } }) }), "4.00", /telemetry\.intervalS/],
    ["ctr=abc", () => ({ method: "POST", path: "cmd/ping", query: ["ctr=abc", "mac=" + "00".repeat(32)] }), "4.01", /ctr: must be an integer/],
    ["DELETE /config", () => ({ method: "DELETE", path: "config" }), "4.05", undefined],
    ["POST for another device", (t) => ({ method: "POST", path: "cmd/ping", query: t.q("ping", null, 50, KEY, "dev-9") }), "4.01", /does not verify/],
    ["POST signed for another command", (t) => ({ method: "POST", path: "cmd/reboot", query: t.q("ping", null) }), "4.01", /does not verify/],
  ];
  it.each(cases)("%s -> %s", async (_n, make, code, why) => {
    const t = await coapKit();
    const before = flashSnapshot(t.flash);
    const res = await t.fx.settle(t.fx.client.request({ address: SERVER, ...make(t) }));
    expect(res.status).toBe(code);
    // 4.01: "unauthorized" and nothing more to the sender; the detail is in the device's log.
    if (why && code === "4.01") {
      expect(parse(res.payload).reasons).toEqual(["unauthorized"]);
      expect(t.logs.join("\n")).toMatch(why);
    } else if (why) expect(parse(res.payload).reasons.join(" | ")).toMatch(why);
    expect(flashSnapshot(t.flash)).toBe(before);
    t.fx.close();
  });
  it("replayed POST /cmd/ping is refused with 4.01", async () => {
    const t = await coapKit();
    const query = t.q("ping", null);
    const ok = await t.fx.settle(t.fx.client.request({ address: SERVER, method: "POST", path: "cmd/ping", query }));
    expect(ok.status).toBe("2.04");
    const before = flashSnapshot(t.flash);
    const again = await t.fx.settle(t.fx.client.request({ address: SERVER, method: "POST", path: "cmd/ping", query }));
    expect(again.status).toBe("4.01");
    expect(flashSnapshot(t.flash)).toBe(before);
    t.fx.close();
  });
  it("GET /config in JSON and CBOR, secrets left out; PUT and iPATCH in CBOR work", async () => {
    const t = await coapKit();
    const j = await t.fx.settle(t.fx.client.request({ address: SERVER, method: "GET", path: "config" }));
    expect(j.status).toBe("2.05");
    expect(j.contentFormat).toBe(50);
    const doc = JSON.parse(j.text());
    expect(doc.mqtt.password).toBeUndefined();
    const c = await t.fx.settle(t.fx.client.request({ address: SERVER, method: "GET", path: "config", accept: 60 }));
    expect(c.contentFormat).toBe(60);
    expect(c.payload[0] >> 5).toBe(5); // a CBOR map
    const patch = { telemetry: { intervalS: 77 } };
    const p = await t.fx.settle(t.fx.client.request({ address: SERVER, method: "iPATCH", path: "config", payload: encodeCbor(patch), contentFormat: 60, query: t.q("config/patch", patch) }));
    expect(p.status).toBe("2.04");
    expect(p.contentFormat).toBe(60);
    expect(t.core.config.telemetry.intervalS).toBe(77);
    doc.telemetry.intervalS = 88;
    const s = await t.fx.settle(t.fx.client.request({ address: SERVER, method: "PUT", path: "config", payload: encodeCbor(doc), contentFormat: 60, query: t.q("config/set", doc) }));
    expect(s.status).toBe("2.04");
    expect(t.core.config.telemetry.intervalS).toBe(88);
    t.fx.close();
  });
  it("GET /config is observable: a change notifies the observer", async () => {
    const t = await coapKit();
    const seen: number[] = [];
    const obs = t.fx.client.observe({ address: SERVER, path: "config", onNotify: (r) => seen.push(JSON.parse(r.text()).telemetry.intervalS) });
    await t.fx.advance(100);
    const patch = { telemetry: { intervalS: 66 } };
    await t.fx.settle(t.fx.client.request({ address: SERVER, method: "PATCH", path: "config", payload: JSON.stringify(patch), contentFormat: 52, query: t.q("config/patch", patch) }));
    await t.fx.advance(5000);
    expect(seen[0]).toBe(300);
    expect(seen[seen.length - 1]).toBe(66);
    obs.forget();
    t.fx.close();
  });
});
