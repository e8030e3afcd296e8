/*
 * Interop with MQTT.js (npm `mqtt`) as the other client, through mosquitto, on 3.1.1 and
 * 5.0; and with aedes (npm) as the broker. Node only.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import * as path from "node:path";
import * as mqtt from "mqtt";
import { describeWithPeer, startMosquitto } from "../support/peers";
import type { MosquittoPeer } from "../support/peers";
import { probe, text, until } from "./interop-helpers";
import type { Probe } from "./interop-helpers";

jest.setTimeout(30000);

const probes: Probe[] = [];
const jsClients: mqtt.MqttClient[] = [];
function track(p: Probe): Probe {
  probes.push(p);
  return p;
}
async function js(url: string, opts: mqtt.IClientOptions): Promise<mqtt.MqttClient> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, ...opts });
  jsClients.push(c);
  await new Promise<void>((resolve, reject) => {
    c.once("connect", () => resolve());
    c.once("error", reject);
  });
  return c;
}
afterEach(async () => {
  while (probes.length) probes.pop()!.stop();
  while (jsClients.length) jsClients.pop()!.end(true);
});

async function roundTrips(port: number, version: 4 | 5, prefix: string): Promise<void> {
  const ours = track(probe({ port, version }));
  await ours.connected();
  let subbed = false;
  ours.client.subscribe(`${prefix}/to-xs/#`, { qos: 2 }, undefined, () => (subbed = true));
  await until(() => subbed, "SUBACK");
  const other = await js(`mqtt://127.0.0.1:${port}`, { protocolVersion: version, clean: true });
  const fromUs: { topic: string; qos: number; payload: string; props?: unknown }[] = [];
  other.on("message", (topic, payload, packet) => fromUs.push({ topic, qos: packet.qos, payload: payload.toString(), props: packet.properties }));
  await new Promise<void>((r, j) => other.subscribe(`${prefix}/from-xs/#`, { qos: 2 }, (e) => (e ? j(e) : r())));
  // MQTT.js -> us
  for (const qos of [0, 1, 2] as const) await new Promise<void>((r) => other.publish(`${prefix}/to-xs/${qos}`, "js" + qos, { qos }, () => r()));
  await until(() => ours.messages.length === 3, "three messages from MQTT.js");
  expect(ours.messages.map((m) => [m.topic, m.qos, text(m.payload)]).sort()).toEqual([
    [`${prefix}/to-xs/0`, 0, "js0"],
    [`${prefix}/to-xs/1`, 1, "js1"],
    [`${prefix}/to-xs/2`, 2, "js2"],
  ]);
  // us -> MQTT.js
  let acked = 0;
  for (const qos of [0, 1, 2] as const) {
    const properties = version === 5 ? { userProperties: [["k", "v" + qos]] as [string, string][], contentType: "text/plain" } : undefined;
    ours.client.publish(`${prefix}/from-xs/${qos}`, "xs" + qos, { qos, properties }, () => acked++);
  }
  await until(() => fromUs.length === 3 && acked === 2, "three messages to MQTT.js");
  expect(fromUs.map((m) => [m.topic, m.qos, m.payload]).sort()).toEqual([
    [`${prefix}/from-xs/0`, 0, "xs0"],
    [`${prefix}/from-xs/1`, 1, "xs1"],
    [`${prefix}/from-xs/2`, 2, "xs2"],
  ]);
  if (version === 5) {
    const p = fromUs.find((m) => m.qos === 1)!.props as { userProperties?: Record<string, string>; contentType?: string };
    expect(p.userProperties).toEqual({ k: "v1" });
    expect(p.contentType).toBe("text/plain");
  }
}

describeWithPeer("mosquitto", "MQTT.js as the other client (through mosquitto)", () => {
  let broker: MosquittoPeer;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  test.each([4, 5] as const)("MQTT %s: QoS 0/1/2 both ways between MQTT.js and us", async (version) => {
    await roundTrips(broker.port, version, "js" + version);
  });

  test("5.0 request / response with MQTT.js: Response Topic and Correlation Data", async () => {
    const ours = track(probe({ port: broker.port, version: 5 }));
    await ours.connected();
    let subbed = false;
    ours.client.subscribe("rr/req", { qos: 1 }, (m) => ours.client.respond(m, "pong:" + text(m.payload), { qos: 1 }), () => (subbed = true));
    await until(() => subbed, "SUBACK");
    const other = await js(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 5 });
    let answer: { payload: string; corr: string } | undefined;
    other.on("message", (_t, payload, packet) => {
      answer = { payload: payload.toString(), corr: Buffer.from(packet.properties!.correlationData!).toString() };
    });
    await new Promise<void>((r) => other.subscribe("rr/resp", { qos: 1 }, () => r()));
    other.publish("rr/req", "ping", { qos: 1, properties: { responseTopic: "rr/resp", correlationData: Buffer.from("c-42") } });
    await until(() => answer !== undefined, "the response");
    expect(answer).toEqual({ payload: "pong:ping", corr: "c-42" });
  });
});

// aedes is an ES module; it runs in a child Node process (like any other broker would).
const AEDES = `
import { Aedes } from "aedes";
import net from "node:net";
const broker = await Aedes.createBroker();
const server = net.createServer(broker.handle);
server.listen(0, "127.0.0.1", () => console.log("PORT " + server.address().port));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

describe("aedes as the broker", () => {
  let child: ChildProcess;
  let port = 0;
  beforeAll(async () => {
    child = spawn(process.execPath, ["--input-type=module", "-e", AEDES], { cwd: path.join(__dirname, "../.."), stdio: ["pipe", "pipe", "inherit"] });
    port = await new Promise<number>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (d) => {
        out += d;
        const m = /PORT (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once("exit", (code) => reject(new Error("aedes exited with " + code)));
    });
  });
  afterAll(() => {
    child.stdin!.end();
    if (child.pid) process.kill(child.pid, "SIGTERM");
  });

  test("3.1.1: QoS 0/1/2 both ways between MQTT.js and us", async () => {
    await roundTrips(port, 4, "aedes");
  });

  test("3.1.1: persistent session with aedes: a QoS 1 message published while we were away arrives", async () => {
    const id = "aedes-persist-" + (Date.now() % 100000);
    const first = probe({ port, version: 4, clientId: id, clean: false });
    await first.connected();
    let subbed = false;
    first.client.subscribe("aedes/persist", { qos: 1 }, undefined, () => (subbed = true));
    await until(() => subbed, "SUBACK");
    first.stop();
    const other = await js(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4 });
    await new Promise<void>((r) => other.publish("aedes/persist", "while-away", { qos: 1 }, () => r()));
    const second = track(probe({ port, version: 4, clientId: id, clean: false, store: first.store }));
    await until(() => second.messages.length === 1, "the queued message");
    expect(text(second.messages[0].payload)).toBe("while-away");
    expect(second.connects[0].sessionPresent).toBe(true);
  });
});
