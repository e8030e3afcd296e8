/*
 * `xs-iot config`: configure a device over MQTT or CoAP with signed commands.
 *
 *   xs-iot config --device ID --via mqtt://host:port --key HEX get
 *   xs-iot config --device ID --via mqtt://host:port --key-file F set telemetry.intervalS=30 ...
 *   xs-iot config --device ID --via coap://host:port --key HEX patch telemetry.intervalS=30
 *   xs-iot config ... reboot | ping | factory-reset | sleep-prevent [SECONDS] | sleep-allow
 *
 * `key=value`: dotted keys make nested objects; the value is JSON when it parses
 * (30, true, "x", {...}, null), otherwise the text itself.
 * `set` reads the configuration first (config/get), applies the pairs and sends
 * the whole document (config/set); `patch` sends the pairs as an RFC 7396 merge patch.
 *
 * Every command is signed (modules/config/auth.ts) with the device key from
 * --key (hex) or --key-file (hex text or 16..64 raw bytes). The counter defaults
 * to the wall clock in milliseconds, which only grows; --counter overrides it.
 * Prints the device's answer (JSON) and exits 0 when it is "ok", 1 when the
 * device rejected the command, rolled it back or did not answer, 2 on a usage error.
 * A connectivity change is answered "pending" first; the CLI waits for the final
 * result (MQTT: also on the new broker / topics; CoAP: by polling config/get's
 * `trial` on the new and old listen ports). See docs/config.md "Host CLI".
 *
 * Host side: MQTT.js for MQTT (an independent implementation of the protocol
 * our device speaks, with 5.0 Response Topic / Correlation Data, so every e2e run
 * is also an interop check); our own CoapClient for CoAP (node-coap keeps a
 * global agent and hides Content-Format 60 and iPATCH behind its own defaults;
 * ours takes the socket we give it and speaks every method of RFC 8132).
 */
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { UsageError, choiceFlag, intFlag, numberFlag, parseFlags, urlFlag } from "./cli-args";
import { nodeCrypto } from "./crypto";
import { fromHex, signCommand } from "../../modules/config/auth";
import { decodeCbor, encodeCbor } from "../../modules/cbor/cbor";
import { mqttPublishPayloadLimit } from "../../modules/telemetry/split";
import { nameReasonCodes } from "./mqtt-reasons";
import { coapErrorLine } from "./coap-codes";

const HELP = `usage: xs-iot config --device ID --via URL (--key HEX | --key-file FILE) [flags] COMMAND [key=value ...]

Sends a signed command to a device and prints its answer.

commands:
  get                          the configuration (secrets left out)
  set key=value ...            read, change, and write back the whole configuration
  patch key=value ...          change some keys (RFC 7396 merge patch)
  reboot | ping | factory-reset | sleep-allow
  sleep-prevent [SECONDS]      keep the device awake (default 600 s)

flags:
  --device ID          the device id (topics, and part of what is signed)
  --via URL            mqtt://host:port (default port 1883) or coap://host:port (5683)
  --key HEX            the device key, hex
  --key-file FILE      a file holding the key (hex text, or raw bytes)
  --prefix P           topic prefix (default xs-iot)
  --mqtt-version V     5, 3.1.1 or auto (default: 5, and 3.1.1 when the broker
                       refuses 5 as an unacceptable protocol version)
  --cbor               CoAP: send and ask for CBOR (Content-Format 60) instead of JSON
  --counter N          command counter (default: now in ms; must exceed the last one the device
                       accepted; without --counter a device ahead of the clock is resynchronised)
  --timeout S          seconds to wait for the answer (default 10); a change being tried
                       ("pending") is waited for its trial time on top
  --help               this text

exit codes: 0 ok, 1 rejected / rolled back / no answer, 2 usage error`;

type Answer = { [k: string]: unknown };

/** "a.b=5" pairs into a nested object; the value is JSON when it parses, else text. */
export function pairsToObject(pairs: string[]): { [k: string]: unknown } {
  const out: { [k: string]: unknown } = {};
  for (const p of pairs) {
    const eq = p.indexOf("=");
    if (eq <= 0) throw new UsageError(`expected key=value, got "${p}"`);
    const key = p.slice(0, eq);
    const raw = p.slice(eq + 1);
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(key)) throw new UsageError(`bad key "${key}" (dotted names like telemetry.intervalS)`);
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    const parts = key.split(".");
    let cur = out;
    for (let i = 0; i < parts.length - 1; i++) {
      const k = parts[i];
      if (typeof cur[k] !== "object" || cur[k] === null) cur[k] = {};
      cur = cur[k] as { [k: string]: unknown };
    }
    cur[parts[parts.length - 1]] = value;
  }
  return out;
}

function deepMerge(target: { [k: string]: unknown }, patch: { [k: string]: unknown }): void {
  for (const k of Object.keys(patch)) {
    const v = patch[k];
    if (v && typeof v === "object" && !Array.isArray(v) && target[k] && typeof target[k] === "object") deepMerge(target[k] as { [k: string]: unknown }, v as { [k: string]: unknown });
    else target[k] = v;
  }
}

function readKey(values: Record<string, any>): Uint8Array {
  if (values.key !== undefined && values["key-file"] !== undefined) throw new UsageError("give --key or --key-file, not both");
  let key: Uint8Array | undefined;
  if (values.key !== undefined) {
    key = fromHex(String(values.key).trim());
    if (!key) throw new UsageError("--key must be hex digits (an even number of them)");
  } else if (values["key-file"] !== undefined) {
    let data: Buffer;
    try {
      data = readFileSync(values["key-file"]);
    } catch (e) {
      throw new UsageError(`--key-file: cannot read "${values["key-file"]}": ${(e as Error).message}`);
    }
    const text = data.toString("utf8").trim();
    key = /^[0-9a-fA-F]+$/.test(text) ? fromHex(text) : new Uint8Array(data);
  } else throw new UsageError("a key is required: --key HEX or --key-file FILE");
  if (!key || key.length < 16 || key.length > 64) throw new UsageError("the key must be 16 to 64 bytes");
  return key;
}

interface Step {
  command: string;
  body: unknown;
}

interface Transport {
  /**
   * Sends one command and resolves with its answer. Over MQTT a "pending" answer (a safe
   * apply being tried) is not the end: send() goes on waiting for the final result.
   */
  send(command: string, counter: number, mac: string, body: unknown, method?: string): Promise<Answer>;
  /** Over CoAP: after a "pending" answer, asks the device (signed config/get) until its safe apply has a final result. */
  awaitFinal?(pending: Answer, sign: (command: string, body: unknown) => { counter: number; mac: string }): Promise<Answer>;
  close(): Promise<void>;
}

/** Where a device will look for commands after a change: its broker and topic base, from a (redacted) configuration or a change. */
interface MqttTarget {
  host: string;
  port: number;
  tls: boolean;
  base: string;
  username?: string;
  password?: string;
}

function targetOf(c: { [k: string]: any }, fallback: MqttTarget): MqttTarget | undefined {
  if (!c || typeof c !== "object") return undefined;
  if (c.protocol === "coap") return undefined;
  const m = c.mqtt && typeof c.mqtt === "object" ? c.mqtt : {};
  const host = typeof m.host === "string" ? (m.host === "localhost" ? "127.0.0.1" : m.host) : fallback.host;
  const port = typeof m.port === "number" ? m.port : fallback.port;
  const tls = typeof m.tls === "boolean" ? m.tls : fallback.tls;
  const base = `${typeof c.topicPrefix === "string" ? c.topicPrefix : fallback.base.split("/").slice(0, -1).join("/")}/${typeof c.deviceId === "string" ? c.deviceId : fallback.base.split("/").pop()}`;
  const t: MqttTarget = { host, port, tls, base };
  if (typeof m.username === "string" && m.username) t.username = m.username;
  if (typeof m.password === "string" && m.password) t.password = m.password;
  return t;
}

export async function configCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    device: { type: "string" },
    via: { type: "string" },
    key: { type: "string" },
    "key-file": { type: "string" },
    prefix: { type: "string" },
    "mqtt-version": { type: "string" },
    cbor: { type: "boolean" },
    counter: { type: "string" },
    timeout: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const device: string | undefined = values.device;
  if (!device || !/^[A-Za-z0-9_-]{1,32}$/.test(device)) throw new UsageError("--device is required: 1 to 32 characters from A-Z a-z 0-9 _ -");
  const via = urlFlag(values, "via", { mqtt: 1883, coap: 5683 });
  if (!via) throw new UsageError("--via is required: mqtt://host:port or coap://host:port");
  const key = readKey(values);
  const prefix: string = values.prefix ?? "xs-iot";
  const mqttVersion = choiceFlag(values, "mqtt-version", ["5", "3.1.1", "auto"] as const, "auto")!;
  const timeoutMs = numberFlag(values, "timeout", 0, 3600, 10)! * 1000;
  let counter = intFlag(values, "counter", 1, Number.MAX_SAFE_INTEGER, Date.now())!;
  const [verb, ...rest] = positionals;
  if (!verb) throw new UsageError("a command is required: get, set, patch, reboot, ping, factory-reset, sleep-prevent, sleep-allow");
  const simple: { [v: string]: string } = { get: "config/get", reboot: "reboot", ping: "ping", "factory-reset": "factory-reset", "sleep-allow": "sleep/allow" };
  let steps: Step[];
  if (simple[verb]) {
    if (rest.length) throw new UsageError(`${verb} takes no arguments`);
    steps = [{ command: simple[verb], body: null }];
  } else if (verb === "sleep-prevent") {
    if (rest.length > 1 || (rest.length === 1 && !/^\d+$/.test(rest[0]))) throw new UsageError("sleep-prevent takes one optional number of seconds");
    steps = [{ command: "sleep/prevent", body: rest.length ? { forS: Number(rest[0]) } : null }];
  } else if (verb === "patch" || verb === "set") {
    if (!rest.length) throw new UsageError(`${verb} needs key=value pairs`);
    const pairs = pairsToObject(rest);
    steps = verb === "patch" ? [{ command: "config/patch", body: pairs }] : [{ command: "config/get", body: null }, { command: "config/set", body: pairs }];
  } else throw new UsageError(`unknown command "${verb}"`);

  if (!(via.port >= 1 && via.port <= 65535)) throw new UsageError(`--via: port must be from 1 to 65535, got ${via.port}`);
  const host = via.host === "localhost" ? "127.0.0.1" : via.host;
  let transport: Transport;
  try {
    transport = via.scheme === "mqtt" ? await mqttTransport(host, via.port, prefix, device, mqttVersion === "auto" ? "auto" : mqttVersion === "5" ? 5 : 4, timeoutMs) : await coapTransport(host, via.port, !!values.cbor, timeoutMs);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    // A refused or unreachable broker is one line, not a stack trace.
    console.error(`xs-iot config: ${(e as Error).message}`);
    return 1;
  }
  try {
    let answer: Answer | undefined;
    for (const step of steps) {
      let body = step.body;
      if (step.command === "config/set") {
        const current = answer?.config as { [k: string]: unknown } | undefined;
        if (!current) throw new Error("config/get returned no configuration");
        deepMerge(current, step.body as { [k: string]: unknown });
        body = current;
      }
      answer = await transport.send(step.command, counter, signCommand(nodeCrypto.hmacSha256, key, device, step.command, counter, body), body);
      // Resynchronise (docs/config.md): the device tells the last counter it accepted only to a
      // command whose MAC verifies. The default counter (the clock in ms) can fall behind it (an
      // earlier --counter above the clock, a host clock behind another's): sign once more above it.
      if (answer.status === "unauthorized" && typeof answer.lastCtr === "number" && isFinite(answer.lastCtr)) {
        if (values.counter === undefined) {
          counter = answer.lastCtr + 1;
          console.error(`xs-iot config: the device has accepted counter ${answer.lastCtr}, above this clock's; signing again with ${counter}`);
          answer = await transport.send(step.command, counter, signCommand(nodeCrypto.hmacSha256, key, device, step.command, counter, body), body);
        } else console.error(`xs-iot config: the device's last accepted counter is ${answer.lastCtr}: give --counter ${answer.lastCtr + 1} or more, or leave --counter out`);
      }
      counter++;
      if (answer.status === "pending" && transport.awaitFinal) {
        answer = await transport.awaitFinal(answer, (command, b) => {
          const c = counter++;
          return { counter: c, mac: signCommand(nodeCrypto.hmacSha256, key, device, command, c, b) };
        });
      }
      if (answer.status !== "ok") break;
    }
    // The device's reasons name MQTT reason codes by number and section: by name here.
    console.log(nameReasonCodes(JSON.stringify(answer, null, 2)));
    return answer && answer.status === "ok" ? 0 : 1;
  } catch (e) {
    console.error(`xs-iot config: ${(e as Error).message}`);
    return 1;
  } finally {
    await transport.close();
  }
}

/** MQTT.js's error for a CONNACK refusing the protocol version: 3.1.1 return code 1, 5.0 reason 0x84 [MQTT-3.1.2-2]. */
function unacceptableVersion(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === 1 || code === 0x84 || /unacceptable protocol version|unsupported protocol version/i.test(String((e as Error)?.message));
}

/**
 * The configuration a device retains on `topic`: whole, or in parts (`"parts": [names]`, each on
 * `topic/<name>`, split again the same way; modules/config/mqtt-binding.ts publishConfig). Resolves
 * undefined when it is not complete within `waitMs`.
 */
async function retainedConfig(client: import("mqtt").MqttClient, topic: string, waitMs: number): Promise<Answer | undefined> {
  const got = new Map<string, Answer>();
  const assemble = (t: string): Answer | undefined => {
    const doc = got.get(t);
    if (!doc || !Array.isArray(doc.parts)) return doc && { ...doc };
    const out: Answer = { ...doc };
    delete out.parts;
    for (const name of doc.parts) {
      const part = assemble(`${t}/${name}`);
      if (!part) return undefined;
      out[String(name)] = part;
    }
    return out;
  };
  let done: (c: Answer | undefined) => void = () => undefined;
  const result = new Promise<Answer | undefined>((resolve) => (done = resolve));
  const onMessage = (t: string, payload: Buffer) => {
    if (t !== topic && !t.startsWith(topic + "/")) return;
    try {
      const v = JSON.parse(payload.toString("utf8"));
      if (v && typeof v === "object" && !Array.isArray(v)) got.set(t, v);
    } catch {
      return;
    }
    const c = assemble(topic);
    if (c) done(c);
  };
  client.on("message", onMessage);
  const timer = setTimeout(() => done(undefined), waitMs);
  try {
    await client.subscribeAsync([topic, topic + "/#"], { qos: 1 });
    return await result;
  } finally {
    clearTimeout(timer);
    client.removeListener("message", onMessage);
    await client.unsubscribeAsync([topic, topic + "/#"]).catch(() => undefined);
  }
}

async function mqttTransport(host: string, port: number, prefix: string, device: string, requested: 4 | 5 | "auto", timeoutMs: number): Promise<Transport> {
  const mqtt = await import("mqtt");
  const clientId = "xs-iot-cli-" + randomBytes(4).toString("hex");
  const base = `${prefix}/${device}`;
  const replyTopic = `${base}/reply/${clientId}`;
  let client: import("mqtt").MqttClient;
  let version: 4 | 5 = requested === 4 ? 4 : 5;
  const connect = (v: 4 | 5) => mqtt.connectAsync({ host, port, protocol: "mqtt", protocolVersion: v, clientId, clean: true, reconnectPeriod: 0, connectTimeout: timeoutMs });
  try {
    try {
      client = await connect(version);
    } catch (e) {
      // "auto": a 3.1.1-only broker (aedes, the embedded broker of `xs-iot sim`) refuses 5.0 with
      // "unacceptable protocol version"; the same command then goes over 3.1.1.
      if (requested !== "auto" || !unacceptableVersion(e)) throw e;
      version = 4;
      client = await connect(version);
    }
  } catch (e) {
    const m = (e as Error).message || String(e);
    throw new Error(`cannot connect to mqtt://${host}:${port}: ${m}${unacceptableVersion(e) ? ` (MQTT ${version === 5 ? "5" : "3.1.1"} refused; try --mqtt-version ${version === 5 ? "3.1.1" : "5"})` : ""}`);
  }
  const waiting = new Map<number, { resolve: (a: Answer) => void; pending: (a: Answer) => void }>();
  const onMessage = (_topic: string, payload: Buffer) => {
    let a: Answer;
    try {
      a = JSON.parse(payload.toString("utf8"));
    } catch {
      return;
    }
    const w = waiting.get(a.ctr as number);
    if (!w) return;
    // A safe apply answers "pending" first (maybe more than once: a resend after the
    // device reconnects); the final result follows.
    if (a.status === "pending") w.pending(a);
    else w.resolve(a);
  };
  client.on("message", onMessage);
  await client.subscribeAsync([`${base}/res/#`, ...(version === 5 ? [replyTopic] : [])], { qos: 1 });

  // A change of broker or topics: the final result is published where the device is
  // then (the new broker when the change is kept, the old one after a rollback), so
  // the CLI listens on both. Followers are opened before the command is sent when the
  // change itself names the new place (the device may connect there before the
  // "pending" answer reaches us), else on the "pending" answer. Best effort: a broker
  // the CLI cannot reach (the one being tried, maybe) is only a note on stderr.
  const here: MqttTarget = { host, port, tls: false, base };
  const followers = new Map<string, Promise<import("mqtt").MqttClient | undefined>>();
  const follow = (t: MqttTarget): Promise<unknown> => {
    const sameBroker = t.host === host && t.port === port;
    const id = `${t.host}:${t.port}/${t.base}`;
    if ((sameBroker && t.base === base) || followers.has(id)) return followers.get(id) ?? Promise.resolve();
    const p = (async () => {
      try {
        let c = client;
        if (!sameBroker) {
          c = await mqtt.connectAsync({
            host: t.host,
            port: t.port,
            protocol: t.tls ? "mqtts" : "mqtt",
            protocolVersion: version,
            clientId: clientId + "-f" + followers.size,
            clean: true,
            reconnectPeriod: 0,
            connectTimeout: Math.min(timeoutMs, 5000),
            username: t.username,
            password: t.password,
          });
          c.on("message", onMessage);
        }
        await c.subscribeAsync(`${t.base}/res/#`, { qos: 1 });
        return c === client ? undefined : c;
      } catch (e) {
        console.error(`xs-iot config: cannot listen for the result on mqtt://${t.host}:${t.port} (${(e as Error).message}); still listening on mqtt://${host}:${port}`);
        return undefined;
      }
    })();
    followers.set(id, p);
    return p;
  };
  /**
   * An answer the device cut to fit the broker's Maximum Packet Size (`cut`: its whole size;
   * docs/config.md "MQTT"): the configuration it left out is read from where the device retains
   * it (`configTopic`, in parts), and the answer printed as the device made it.
   */
  const uncut = async (a: Answer): Promise<Answer> => {
    if (typeof a.cut !== "number") return a;
    const waitMs = Math.min(timeoutMs, 5000);
    const topic = typeof a.configTopic === "string" && a.config === undefined ? a.configTopic : undefined;
    const config = topic ? await retainedConfig(client, topic, waitMs) : undefined;
    const notes = [`xs-iot config: the device's answer (${a.cut} B) is over the broker's Maximum Packet Size`];
    if (config) {
      a.config = config;
      delete a.configTopic;
      notes.push(`its configuration was read from ${topic} (retained)`);
    } else if (topic) notes.push(`its configuration is retained on ${topic} and was not read within ${waitMs / 1000} s`);
    if (typeof a.moreReasons === "number") notes.push(`${a.moreReasons} more reason(s) left out`);
    else if (config) delete a.cut;
    console.error(notes.join("; "));
    return a;
  };
  return {
    async send(command, counter, mac, body) {
      if (command === "config/patch" && body && typeof body === "object") {
        const t = targetOf(body as Answer, here);
        if (t) await follow(t);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const answer = new Promise<Answer>((resolve, reject) => {
        const fail = (ms: number, why: string) => {
          if (timer) clearTimeout(timer);
          timer = setTimeout(() => {
            waiting.delete(counter);
            reject(new Error(why));
          }, ms);
        };
        fail(timeoutMs, `no answer from ${device} within ${timeoutMs / 1000} s (asleep or offline? a QoS 1 command waits at the broker for its next connection)`);
        let tried = false;
        waiting.set(counter, {
          resolve: (a) => {
            if (timer) clearTimeout(timer);
            waiting.delete(counter);
            // The final result of a trial can overtake its "pending" answer when the device moved
            // to another broker (two connections, no order between them): say what happened anyway.
            if (!tried && (a.applied === "kept" || a.applied === "rolled-back")) console.error(`xs-iot config: the device tried the change and ${a.applied === "kept" ? "kept it" : "rolled it back"}`);
            resolve(a);
          },
          pending: (a) => {
            if (tried) return;
            tried = true;
            const s = typeof a.timeoutS === "number" ? a.timeoutS : 60;
            console.error(`xs-iot config: the device is trying the change (up to ${s} s)...`);
            // The final result comes within the trial time; allow our timeout again on top.
            fail(s * 1000 + timeoutMs, `the device answered "pending" but sent no final result within ${s} s + ${timeoutMs / 1000} s`);
            const c = a.config as Answer | undefined;
            if (c && c.protocol === "coap") console.error("xs-iot config: the device is moving to CoAP: a kept change is not reported over MQTT (ask it with --via coap://DEVICE:PORT get); a rollback is");
            else if (c && Array.isArray(a.changed) && a.changed.some((k) => /^(mqtt\.(host|port|tls|username|password)|topicPrefix|deviceId)$/.test(String(k)))) {
              const t = targetOf(c, here);
              if (t) void follow(t);
            }
          },
        });
      });
      const properties = version === 5 ? { responseTopic: replyTopic, correlationData: Buffer.from(String(counter)) } : undefined;
      const topic = `${base}/cmd/${command}`;
      const payload = JSON.stringify({ ctr: counter, mac, body });
      // [MQTT-3.2.2-15] A broker closes the connection on a PUBLISH over its Maximum Packet Size: say so instead.
      // (MQTT.js keeps the CONNACK, typed private.)
      const max = (client as unknown as { connackPacket?: { properties?: { maximumPacketSize?: number } } }).connackPacket?.properties?.maximumPacketSize;
      const room = max === undefined ? Infinity : mqttPublishPayloadLimit(max, topic, { version, qos: 1, propertiesLength: properties ? 6 + replyTopic.length + properties.correlationData.length : 0 });
      if (Buffer.byteLength(payload) > room) {
        waiting.delete(counter);
        clearTimeout(timer);
        const hint = command === "config/set" ? "use patch with the keys that change" : command === "config/patch" ? "patch fewer keys at a time" : "a shorter --prefix or --device";
        throw new Error(`the command (${Buffer.byteLength(payload)} B of payload) is over the broker's Maximum Packet Size of ${max} B (room for ${Math.max(room, 0)} B on ${topic}): ${hint}`);
      }
      answer.catch(() => undefined); // the publish's own failure (below) is the one reported
      await Promise.race([client.publishAsync(topic, payload, { qos: 1, properties }), answer]);
      return uncut(await answer);
    },
    async close() {
      for (const p of followers.values()) {
        const c = await p;
        await c?.endAsync().catch(() => undefined);
      }
      await client.endAsync().catch(() => undefined);
    },
  };
}

async function coapTransport(host: string, port: number, cbor: boolean, timeoutMs: number): Promise<Transport> {
  const { CoapClient } = await import("../../modules/coap/client");
  const { Scheduler } = await import("../../modules/scheduler/scheduler");
  const { RealClock } = await import("./real-clock");
  const { UDP } = await import("./udp");
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(host)) throw new UsageError(`coap: give an IPv4 address (got "${host}")`);
  const clock = new RealClock();
  const scheduler = new Scheduler({ clock });
  const client = new CoapClient({ socket: { io: UDP as never, address: "0.0.0.0" }, scheduler, random: (b) => nodeCrypto.randomFill(b) });
  const cf = cbor ? 60 : 50;
  const encode = (v: unknown) => (v === null || v === undefined ? undefined : cbor ? encodeCbor(v) : JSON.stringify(v));
  const transport: Transport = {
    async send(command, counter, mac, body) {
      const [a, error] = await sendTo(port, command, counter, mac, body, timeoutMs);
      // The device's own answer to an error code: its result on stdout, the code in words here.
      // (A device's 5.03 says when in Max-Age, whole seconds, and in retryAfterMs: the second when Max-Age is missing.)
      const retry = typeof a.retryAfterMs === "number" && error !== undefined && error.indexOf("ask again") < 0 ? `; ask again in ${Math.ceil(a.retryAfterMs / 100) / 10} s` : "";
      if (error !== undefined) console.error(`xs-iot config: coap://${host}:${port} answered ${error}${retry}`);
      return a;
    },
    // A safe apply over CoAP answers "pending" (2.04) and has no later message to send
    // the final result in: the CLI asks for it. config/get reports the last safe apply
    // as `trial`; we ask the new listen port (when the change moves it) and the old one
    // (where a rolled-back device listens again), until the trial is over or its time
    // (timeoutS) plus our --timeout has passed.
    async awaitFinal(pending, sign) {
      const s = typeof pending.timeoutS === "number" ? pending.timeoutS : 60;
      console.error(`xs-iot config: the device is trying the change (up to ${s} s)...`);
      const c = pending.config as Answer | undefined;
      const ports = [port];
      const np = c && c.protocol === "coap" ? (c.coap as Answer | undefined)?.listenPort : undefined;
      if (typeof np === "number" && np !== port) ports.unshift(np);
      if (c && c.protocol !== "coap") console.error("xs-iot config: the device is moving to MQTT: a kept change is not reported over CoAP (ask it over MQTT); a rollback is");
      const deadline = Date.now() + s * 1000 + timeoutMs;
      let last = "";
      for (let i = 0; Date.now() < deadline; i++) {
        // The device switches right after answering: give it a moment to bind (a CON to a
        // port not yet bound waits for its retransmission, 2-3 s), and ask at most every 0.5 s
        // (its rate limit refills 2 commands a second).
        await new Promise((r) => setTimeout(r, i === 0 ? 200 : 500));
        const p = ports[i % ports.length];
        const { counter, mac } = sign("config/get", null);
        try {
          const [a] = await sendTo(p, "config/get", counter, mac, null, Math.min(1500, Math.max(200, deadline - Date.now())));
          const t = a.trial as Answer | undefined;
          if (a.status === "ok" && t && t.ctr === pending.ctr && t.status !== "pending") {
            const final: Answer = { ...t, config: a.config, coap: a.coap };
            if (p !== port) final.via = `coap://${host}:${p}`;
            return final;
          }
          last = a.status === "ok" ? "still trying" : `config/get: ${String(a.status)}`;
        } catch (e) {
          last = (e as Error).message;
        }
      }
      return { ...pending, status: "pending", reasons: [`no final result within ${s} s + ${timeoutMs / 1000} s (last: ${last})`] };
    },
    async close() {
      client.close();
      clock.clearAll();
    },
  };
  return transport;

  /**
   * The answer, and for a 4.xx/5.xx one the code in words (./coap-codes.ts). An error answer that
   * is not a device's command result (another server, a proxy: no JSON or CBOR with a status)
   * throws that line: the CLI prints it, one line, and exits 1.
   */
  async function sendTo(toPort: number, command: string, counter: number, mac: string, body: unknown, waitMs: number): Promise<[Answer, string | undefined]> {
    const query = [`ctr=${counter}`, `mac=${mac}`];
    const payload = encode(body);
    let init: Parameters<typeof client.request>[0];
    if (command === "config/set") init = { method: "PUT", path: "config" };
    else if (command === "config/patch") init = { method: "iPATCH", path: "config" };
    else init = { method: "POST", path: "cmd/" + command };
    const res = await client.request({ ...init, address: host, port: toPort, query, payload, contentFormat: payload === undefined ? undefined : cf, accept: cf, timeout: waitMs }).catch((e) => {
      throw new Error(`no answer from coap://${host}:${toPort} (${(e as Error).message}); a sleeping device answers in its awake window`);
    });
    const error = coapErrorLine(res);
    let a: Answer | undefined;
    if (res.contentFormat === 60) {
      const d = decodeCbor(res.payload);
      a = d.ok && d.value !== null && typeof d.value === "object" ? (d.value as Answer) : undefined;
      if (!a && error === undefined) a = { status: "failed", reasons: ["answer is not CBOR"] };
    } else {
      try {
        const v = JSON.parse(res.text() || "{}");
        a = v !== null && typeof v === "object" ? v : undefined;
      } catch {
        a = undefined;
      }
      if (!a && error === undefined) a = { status: "failed", reasons: [`answer ${res.status} is not JSON`] };
    }
    if (error !== undefined && (!a || typeof a.status !== "string")) throw new Error(`coap://${host}:${toPort} answered ${error}`);
    a = a!;
    if (!a.status) a.status = res.ok ? "ok" : "failed";
    a.coap = res.status;
    return [a, error];
  }
}
