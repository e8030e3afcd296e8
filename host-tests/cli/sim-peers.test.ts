/*
 * `xs-iot sim` against real peers: mosquitto (MQTT 3.1.1 and 5.0, a small
 * Maximum Packet Size, a fleet of 100 devices) with an MQTT.js subscriber
 * checking what arrives, and a node-coap server as the CoAP telemetry target.
 * Node only.
 */
import * as coap from "coap";
import * as mqtt from "mqtt";
import { Environment } from "../../sim/environment";
import { indoorDay } from "../../sim/scenarios";
import { describeWithPeer, startMosquitto, type MosquittoPeer } from "../support/peers";
import { makeTlsFixture, type TlsFixture } from "../support/tls";
import { jsonEvents, runCli } from "./run-cli";

interface Got {
  topic: string;
  payload: Buffer;
  retain: boolean;
}

async function subscriber(port: number, filter: string): Promise<{ client: mqtt.MqttClient; got: Got[] }> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, clean: true });
  const got: Got[] = [];
  client.on("message", (topic, payload, packet) => got.push({ topic, payload, retain: !!packet.retain }));
  await new Promise<void>((resolve, reject) => {
    client.once("connect", () => client.subscribe(filter, { qos: 1 }, (e) => (e ? reject(e) : resolve())));
    client.once("error", reject);
  });
  return { client, got };
}

function records(got: Got[], topic: string): any[][] {
  return got.filter((g) => g.topic === topic).map((g) => JSON.parse(g.payload.toString("utf8")));
}

describeWithPeer("mosquitto", "xs-iot sim against mosquitto, read by an MQTT.js subscriber", () => {
  let broker: MosquittoPeer;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it.each([["mqtt311"], ["mqtt5"]])("--protocol %s --readings 5: the SenML readings decode to the simulated sensors' values", async (protocol) => {
    const id = "p-" + protocol;
    const sub = await subscriber(broker.port, `xs-iot/${id}/#`);
    try {
      const r = await runCli(["sim", "--broker", `mqtt://127.0.0.1:${broker.port}`, "--protocol", protocol, "--id", id, "--readings", "5", "--interval", "0.5", "--json"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      await new Promise((res) => setTimeout(res, 300));
      const events = jsonEvents(r.stdout);
      const readings = events.filter((e) => e.event === "reading");
      const packs = records(sub.got, `xs-iot/${id}/tele`);
      expect(packs.length).toBeGreaterThanOrEqual(5);
      const env = new Environment(indoorDay(1)); // the first device's scenario (seed 1)
      for (let i = 0; i < 5; i++) {
        const pack = packs[i];
        expect(pack[0].bn).toBe(id + ":");
        const v: { [n: string]: number } = {};
        for (const rec of pack) v[rec.n] = rec.v;
        // the same reading the device reported, rounded to SenML's resolution ...
        const reading = readings.find((e) => Math.round(Date.parse(e.time)) / 1000 === pack[0].bt);
        expect(reading).toBeDefined();
        expect(v.temperature).toBeCloseTo(reading.sample.thermometer.temperature, 2);
        expect(v.pressure).toBe(Math.round(reading.sample.barometer.pressure));
        // ... and within the sensors' resolution (plus the scenario's noise) of the environment at that time
        const t = reading.simMs;
        expect(Math.abs(v.temperature - env.temperature(t))).toBeLessThan(0.2);
        expect(Math.abs(v.humidity - env.humidity(t))).toBeLessThan(1.5);
        expect(Math.abs(v.pressure - env.pressure(t))).toBeLessThan(10);
        expect(Math.abs(v.illuminance - env.light(t))).toBeLessThan(10);
        expect(Math.abs(v.battery - env.battery(t))).toBeLessThan(0.03);
        // The SCD4x's first result comes 5 s after it starts; the readings before it have no CO2 (docs/app.md, Start-up).
        if (v.co2 !== undefined) expect(v.co2).toBeGreaterThan(400);
      }
      // state: "online" retained on connect, "offline" retained when stopped (docs/topics.md)
      const states = sub.got.filter((g) => g.topic === `xs-iot/${id}/state`).map((g) => g.payload.toString());
      expect(states[0]).toBe("online");
      expect(states[states.length - 1]).toBe("offline");
      expect(sub.got.some((g) => g.topic === `xs-iot/${id}/config`)).toBe(true);
    } finally {
      sub.client.end(true);
    }
  });

  it("--qos 2 on MQTT 5: every reading completes the PUBREC/PUBREL/PUBCOMP exchange before exit 0", async () => {
    const r = await runCli(["sim", "--broker", `mqtt://127.0.0.1:${broker.port}`, "--id", "q2", "--qos", "2", "--readings", "3", "--interval", "0.5", "--json"]);
    expect(r.code).toBe(0);
    const acked = new Set(jsonEvents(r.stdout).filter((e) => e.event === "acked").flatMap((e) => e.seqs));
    expect([1, 2, 3].every((s) => acked.has(s))).toBe(true);
  });

  it("--home-assistant: retained discovery configs for the board's quantities", async () => {
    const sub = await subscriber(broker.port, "homeassistant/sensor/ha-1/#");
    try {
      const r = await runCli(["sim", "--broker", `mqtt://127.0.0.1:${broker.port}`, "--id", "ha-1", "--home-assistant", "--readings", "1", "--interval", "0.5"]);
      expect(r.code).toBe(0);
      await new Promise((res) => setTimeout(res, 300));
      const topics = sub.got.map((g) => g.topic).sort();
      expect(topics).toContain("homeassistant/sensor/ha-1/temperature/config");
      expect(topics).toContain("homeassistant/sensor/ha-1/co2/config");
      const cfg = JSON.parse(sub.got.find((g) => g.topic.endsWith("/temperature/config"))!.payload.toString());
      expect(cfg.state_topic).toBe("xs-iot/ha-1/tele");
    } finally {
      sub.client.end(true);
    }
  });

  it("a fleet of 100 devices: each has its own id and session, and all reach --readings 2", async () => {
    const sub = await subscriber(broker.port, "xs-iot/+/tele");
    try {
      const r = await runCli(["sim", "--broker", `mqtt://127.0.0.1:${broker.port}`, "--id", "fl", "--devices", "100", "--readings", "2", "--interval", "1", "--json"], { timeoutMs: 120_000 });
      expect(r.code).toBe(0);
      await new Promise((res) => setTimeout(res, 500));
      const ids = new Set(sub.got.map((g) => g.topic.split("/")[1]).filter((d) => d.startsWith("fl-")));
      expect(ids.size).toBe(100);
      expect(ids.has("fl-001")).toBe(true);
      expect(ids.has("fl-100")).toBe(true);
      const done = jsonEvents(r.stdout).pop();
      expect(done.acked).toBeGreaterThanOrEqual(200);
    } finally {
      sub.client.end(true);
    }
  }, 150_000);
});

describeWithPeer("mosquitto", "xs-iot sim against a mosquitto that requires client certificates (mutual TLS)", () => {
  let broker: MosquittoPeer;
  let fix: TlsFixture;
  beforeAll(async () => {
    fix = makeTlsFixture();
    broker = await startMosquitto({
      tls: { certFile: fix.certFile, keyFile: fix.keyFile, caFile: fix.caFile, requireClientCert: true },
      extraConfig: ["use_identity_as_username true", "allow_anonymous false"],
    });
  });
  afterAll(async () => {
    await broker?.stop();
    fix?.cleanup();
  });

  it("--tls-ca, --tls-cert and --tls-key: the device is provisioned with them, connects and every reading is acknowledged", async () => {
    const id = "p-mtls";
    const r = await runCli(["sim", "--broker", `mqtts://localhost:${broker.tlsPort}`, "--tls-ca", fix.caFile, "--tls-cert", fix.clientCertFile, "--tls-key", fix.clientKeyFile, "--id", id, "--readings", "3", "--interval", "0.5", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const acked = new Set(jsonEvents(r.stdout).filter((e) => e.event === "acked").flatMap((e) => e.seqs));
    for (let seq = 1; seq <= 3; seq++) expect(acked.has(seq)).toBe(true);
  });

  it("without a client certificate the broker refuses the handshake: the TLS alert is reported and the run fails", async () => {
    const r = await runCli(["sim", "--broker", `mqtts://localhost:${broker.tlsPort}`, "--tls-ca", fix.caFile, "--id", "p-mtls-none", "--readings", "1", "--interval", "0.5", "--timeout", "4", "--json"]);
    expect(r.code).not.toBe(0);
    const events = jsonEvents(r.stdout);
    expect(events.some((e) => e.event === "acked")).toBe(false);
    // TLS 1.3: the broker's alert ("certificate required") comes after the client's side of the
    // handshake, so an attempt may see only the reset of the connection it wrote CONNECT to.
    const errors = events.filter((e) => e.event === "error").map((e) => String(e.message));
    expect(errors.length).toBeGreaterThan(0);
    // Each failed attempt is one line: its reason (OpenSSL's, as "TLS: <reason>", not its
    // internals over two lines) and when the next one comes (issue 15).
    for (const m of errors) expect(m).not.toMatch(/\n|deps\/openssl/);
    for (const m of errors) expect(m).toMatch(/^mqtt: cannot connect to localhost:\d+ \(attempt \d+ failed: .*(certificate required|ECONNRESET|EPIPE).*\); next attempt in [\d.]+ s$/);
  });
});

describeWithPeer("mosquitto", "a broker with a small Maximum Packet Size (MQTT 5.0 §3.2.2.3.6)", () => {
  let broker: MosquittoPeer;
  beforeAll(async () => {
    broker = await startMosquitto({ extraConfig: ["max_packet_size 180"] });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it("the device splits each reading over several PUBLISHes within the limit [MQTT-3.2.2-15], nothing lost", async () => {
    const sub = await subscriber(broker.port, "xs-iot/small/tele");
    try {
      const r = await runCli(["sim", "--broker", `mqtt://127.0.0.1:${broker.port}`, "--protocol", "mqtt5", "--id", "small", "--readings", "2", "--interval", "0.5", "--json"]);
      expect(r.code).toBe(0);
      await new Promise((res) => setTimeout(res, 300));
      const sent = jsonEvents(r.stdout).filter((e) => e.event === "sent");
      expect(sent[0].messages).toBeGreaterThan(1);
      const packs = records(sub.got, "xs-iot/small/tele");
      for (const g of sub.got) expect(g.payload.length + 2 + "xs-iot/small/tele".length + 2 + 2 + 4).toBeLessThanOrEqual(180);
      // the first reading's records, gathered from its packs, are every quantity measured by then
      // (no CO2 yet: the SCD4x's first result comes 5 s after it starts)
      const names = new Set<string>();
      for (const p of packs) if (p[0].bt === packs[0][0].bt) for (const rec of p) names.add(rec.n);
      expect([...names].sort()).toEqual(["battery", "humidity", "illuminance", "pressure", "temperature"]);
      for (const p of packs) expect(p[0].bn).toBe("small:");
    } finally {
      sub.client.end(true);
    }
  });
});

describe("--protocol coap --server against node-coap", () => {
  it("CON POSTs at QoS 1 to the given path, acknowledged by the server; exit 0", async () => {
    const got: { path: string; confirmable: boolean; format: unknown; body: any }[] = [];
    const server = coap.createServer((req: any, res: any) => {
      got.push({ path: req.url, confirmable: req._packet.confirmable, format: req.headers["Content-Format"], body: JSON.parse(req.payload.toString()) });
      res.code = "2.04";
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    const port = (server as any)._sock.address().port;
    try {
      const r = await runCli(["sim", "--protocol", "coap", "--server", `coap://127.0.0.1:${port}/ingest/env`, "--id", "c-1", "--readings", "3", "--interval", "0.5", "--json"]);
      expect(r.code).toBe(0);
      expect(got.length).toBeGreaterThanOrEqual(3);
      expect(got[0].path).toBe("/ingest/env");
      expect(got[0].confirmable).toBe(true);
      expect(got[0].format).toBe("application/senml+json");
      expect(got[0].body[0].bn).toBe("c-1:");
      expect(got[0].body.map((x: any) => x.n)).toContain("temperature");
    } finally {
      server.close();
    }
  });
});
