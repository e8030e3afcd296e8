// @xs
/*
 * ConfigMqttBinding meets a full outbox (docs/config.md, "A full outbox"; docs/moddable.md,
 * "Readings waiting", fault 2): at a reconnect, the retained messages of the connection and a
 * telemetry batch filled MQTT-SN's outbox, and the answer to a command and the retained
 * configuration reflecting it were refused ("mqttsn: outbox full") and lost. Now they wait in
 * the binding, bounded, and go when an acknowledgement frees room (room(), which the link calls
 * from the client's delivery callback); a newer retained message replaces a waiting one on its
 * topic; past the bound a clear line says what was not published.
 *
 * The client here holds a bounded outbox as the two real ones do: MQTT-SN's (the session's
 * RangeError "mqttsn: outbox full", modules/mqttsn/session.ts, which the link client,
 * src/mqttsn-link.ts, passes on with MqttClient's code "outbox-full") and MQTT's (MqttError
 * "outbox-full", modules/mqtt/outbox.ts), and refuses the same way; `ack()` is the gateway's PUBACK (§6.6: one
 * exchange at a time, the oldest first).
 */
import type { MessageHandler } from "../../modules/mqtt/client";
import { MqttError } from "../../modules/mqtt/session-error";
import { ConfigMqttBinding } from "../../modules/config/mqtt-binding";
import { signCommand } from "../../modules/config/auth";
import { hmacSha256 } from "../../modules/platform/sha256";
import { makeCore, KEY, DEVICE, type CoreKit } from "./helpers";

const enc = (s: string) => {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
};
const dec = (b: Uint8Array) => String.fromCharCode(...Array.from(b));

interface Held {
  topic: string;
  payload: Uint8Array;
  retain: boolean;
  correlationData?: Uint8Array;
}

class BoundedClient {
  isConnected = true;
  serverProperties: undefined = undefined;
  subs: MessageHandler[] = [];
  /** In the outbox, oldest first. */
  held: Held[] = [];
  /** Acknowledged, in order: what the broker got. */
  delivered: Held[] = [];
  /** How the real clients refuse: "mqttsn" (the session's RangeError with the link client's code) or "mqtt" (MqttError outbox-full). */
  constructor(readonly maxMessages: number, readonly maxBytes: number, readonly kind: "mqttsn" | "mqtt" = "mqttsn") {}
  get outbox() {
    let bytes = 0;
    for (const h of this.held) bytes += h.topic.length + h.payload.length;
    return { count: this.held.length, maxMessages: this.maxMessages, bytes, maxBytes: this.maxBytes };
  }
  subscribe(_f: string, _o: unknown, fn: MessageHandler) {
    this.subs.push(fn);
  }
  unsubscribe() {}
  publish(topic: string, payload: Uint8Array | string, o: { qos?: number; retain?: boolean; properties?: { correlationData?: Uint8Array } }) {
    const p = typeof payload === "string" ? enc(payload) : payload;
    const ob = this.outbox;
    if (ob.count >= this.maxMessages || ob.bytes + topic.length + p.length > this.maxBytes) {
      if (this.kind === "mqtt") throw new MqttError("outbox-full", "MQTT outbox full: " + ob.count + " messages");
      throw Object.assign(new RangeError("mqttsn: outbox full"), { code: "outbox-full" });
    }
    expect(o.qos).toBe(1);
    this.held.push({ topic, payload: p, retain: !!o.retain, correlationData: o.properties?.correlationData });
    return this.held.length;
  }
  /** As MqttClient.respond: a publish on the Response Topic with the Correlation Data (MQTT 5.0 §4.10). */
  respond(request: { properties?: { responseTopic?: string; correlationData?: Uint8Array } }, payload: Uint8Array, o: { qos?: number }) {
    const rp = request.properties!;
    return this.publish(rp.responseTopic!, payload, { qos: o.qos, properties: rp.correlationData ? { correlationData: rp.correlationData } : undefined });
  }
  /** The oldest message acknowledged: then the link tells the binding (MqttLink.#room). */
  ack(binding: ConfigMqttBinding) {
    this.delivered.push(this.held.shift()!);
    binding.room();
  }
  deliver(topic: string, payload: Uint8Array, properties?: unknown) {
    for (const fn of this.subs) {
      const m = { topic, payload, qos: 1, retain: false, dup: false, packetId: 1, properties } as never;
      if (typeof fn === "function") fn.call(this as never, m);
      else fn.onMessage(m);
    }
  }
}

function command(k: CoreKit, name: string, body: unknown): Uint8Array {
  const ctr = k.ctr++;
  return enc(JSON.stringify({ ctr, mac: signCommand(hmacSha256, KEY, DEVICE, name, ctr, body), body }));
}

function kit(max = 4, bytes = 8192, kind: "mqttsn" | "mqtt" = "mqttsn") {
  const k = makeCore();
  const client = new BoundedClient(max, bytes, kind);
  const binding = new ConfigMqttBinding({ core: k.core, client: client as any, log: (l) => k.logs.push(l) });
  const base = `xs-iot/${DEVICE}`;
  // The outbox full of other messages (a telemetry batch), as at the reconnect of fault 2.
  const fill = () => {
    while (client.outbox.count < max) client.publish(base + "/tele", new Uint8Array(100), { qos: 1 });
  };
  return { k, client, binding, base, fill };
}

describe("ConfigMqttBinding with a full outbox", () => {
  for (const kind of ["mqttsn", "mqtt"] as const)
    it(`${kind}: the answer to a command and the retained configuration wait, then go as acknowledgements free room; nothing lost`, () => {
      const { k, client, binding, base, fill } = kit(4, 8192, kind);
      fill();
      client.deliver(base + "/cmd/config/patch", command(k, "config/patch", { telemetry: { intervalS: 90 } }));
      // The command is applied (as in fault 2) and its messages wait: nothing refused for good.
      expect(k.core.current.telemetry.intervalS).toBe(90);
      expect(binding.waiting).toBe(2);
      expect(k.logs.filter((l) => l.indexOf("cannot publish") >= 0)).toEqual([]);
      expect(k.logs).toContain(`config: the outbox is full: ${base}/config waits for room (an acknowledgement frees it)`);
      // A ping behind them waits too, in order.
      client.deliver(base + "/cmd/ping", command(k, "ping", null));
      expect(binding.waiting).toBe(3);
      client.ack(binding);
      expect(binding.waiting).toBe(2);
      expect(client.held[3].topic).toBe(base + "/config");
      client.ack(binding);
      client.ack(binding);
      expect(binding.waiting).toBe(0);
      while (client.held.length) client.ack(binding);
      const after = client.delivered.filter((m) => m.topic.indexOf("/tele") < 0);
      expect(after.map((m) => m.topic)).toEqual([base + "/config", base + "/res/config/patch", base + "/res/ping"]);
      expect(after[0].retain).toBe(true);
      expect(JSON.parse(dec(after[0].payload)).telemetry.intervalS).toBe(90);
      const answer = JSON.parse(dec(after[1].payload));
      expect([answer.status, answer.command, answer.changed]).toEqual(["ok", "config/patch", ["telemetry.intervalS"]]);
      expect(JSON.parse(dec(after[2].payload)).status).toBe("ok");
      expect(k.logs.filter((l) => l.indexOf("cannot publish") >= 0)).toEqual([]);
    });

  it("mqtt 5: the answer on a request's Response Topic waits too, and goes with its Correlation Data (§4.10)", () => {
    const { k, client, binding, base, fill } = kit(3, 8192, "mqtt");
    fill();
    const cd = Uint8Array.of(7, 7, 7);
    client.deliver(base + "/cmd/ping", command(k, "ping", null), { responseTopic: "host/replies/1", correlationData: cd });
    expect(binding.waiting).toBe(2);
    while (client.held.length) client.ack(binding);
    const out = client.delivered.slice(3);
    expect(out.map((m) => m.topic)).toEqual([base + "/res/ping", "host/replies/1"]);
    expect(out[1].correlationData).toEqual(cd);
    expect(JSON.parse(dec(out[1].payload)).status).toBe("ok");
    expect(k.logs.filter((l) => l.indexOf("cannot") >= 0)).toEqual([]);
  });

  it("a newer retained configuration replaces the one waiting; every answer waits, in order", () => {
    const { k, client, binding, base, fill } = kit(4);
    fill();
    for (const s of [30, 40, 50]) client.deliver(base + "/cmd/config/patch", command(k, "config/patch", { telemetry: { intervalS: s } }));
    // One configuration (the newest), three answers.
    expect(binding.waiting).toBe(4);
    while (client.held.length) client.ack(binding);
    const out = client.delivered.filter((m) => m.topic.indexOf("/tele") < 0);
    expect(out.map((m) => m.topic)).toEqual([base + "/res/config/patch", base + "/res/config/patch", base + "/config", base + "/res/config/patch"]);
    expect(out.map((m) => JSON.parse(dec(m.payload))).map((d) => d.telemetry?.intervalS ?? d.config.telemetry.intervalS)).toEqual([30, 40, 50, 50]);
  });

  it("the state and Home Assistant's retained messages (publishRetained) wait as well, a newer state replacing an older", () => {
    const { client, binding, base, fill } = kit(3);
    fill();
    binding.connected(); // "online" and the configuration
    binding.publishRetained("homeassistant/sensor/x/temperature/config", '{"name":"t"}');
    binding.asleep(Date.UTC(2026, 0, 1));
    expect(binding.waiting).toBe(3);
    while (client.held.length) client.ack(binding);
    const out = client.delivered.slice(3);
    expect(out.map((m) => [m.topic, m.retain])).toEqual([[base + "/config", true], ["homeassistant/sensor/x/temperature/config", true], [base + "/state", true]]);
    expect(dec(out[2].payload)).toBe("asleep 2026-01-01T00:00:00.000Z");
  });

  it("past the bound (12 messages) the answer is not published and a line says so; those waiting still go", () => {
    const { k, client, binding, base, fill } = kit(2);
    fill();
    for (let i = 0; i < 14; i++) client.deliver(base + "/cmd/ping", command(k, "ping", null));
    expect(binding.waiting).toBe(12);
    const lost = k.logs.filter((l) => l.indexOf("cannot publish") >= 0);
    expect(lost.length).toBe(2);
    for (const l of lost) expect(l).toMatch(/^config: cannot publish xs-iot\/dev-1\/res\/ping: the outbox is full and 12 message\(s\) of \d+ B already wait for room \(at most 12, 6144 B\)$/);
    while (client.held.length) client.ack(binding);
    expect(client.delivered.filter((m) => m.topic === base + "/res/ping").length).toBe(12);
  });

  it("a refusal no acknowledgement can cure (an empty outbox refusing) is reported at once, not kept", () => {
    const { k, client, binding, base } = kit(4, 64);
    binding.publishConfig(); // larger than the whole outbox
    expect(binding.waiting).toBe(0);
    expect(client.held.length).toBe(0);
    expect(k.logs).toContain(`config: cannot publish ${base}/config: mqttsn: outbox full`);
  });

  it("what waits goes to the next binding of the link (detach, adopt): a client replaced keeps the answers", () => {
    const { k, client, binding, base, fill } = kit(2);
    fill();
    client.deliver(base + "/cmd/ping", command(k, "ping", null));
    const w = binding.detach();
    expect(w?.map((m) => m.topic)).toEqual([base + "/res/ping"]);
    const next = new BoundedClient(2, 8192);
    const b2 = new ConfigMqttBinding({ core: k.core, client: next as any });
    b2.adopt(w!);
    expect(next.held.map((m) => m.topic)).toEqual([base + "/res/ping"]);
    expect(JSON.parse(dec(next.held[0].payload)).status).toBe("ok");
  });
});
