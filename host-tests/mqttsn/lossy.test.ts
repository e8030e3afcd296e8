/*
 * 30% UDP loss between our MQTT-SN client and our gateway (sim/udp-network.ts on a real clock,
 * seeded), mosquitto behind the gateway, MQTT.js at the broker counting: every QoS 1 message
 * arrives at least once and every QoS 2 message exactly once, in both directions.
 */
import * as mqtt from "mqtt";
import { describeWithPeer, startMosquitto, type MosquittoPeer } from "../support/peers";
import { SimNetwork } from "../../sim/udp-network";
import { RealClock } from "../../sim/node/real-clock";
import { MqttSnGateway } from "../../sim/node/mqttsn-gateway";
import type { UdpConstructor } from "../../modules/platform/io";
import { MapStore, makeClient, subscriber, until, type TestClient } from "./interop-support";

const N = 30;

describeWithPeer("mosquitto", "MQTT-SN over a link losing 30% of datagrams", () => {
  let broker: MosquittoPeer;
  let url: string;
  let gateway: MqttSnGateway;
  let net: SimNetwork;
  let c: TestClient;
  const clock = new RealClock({ unref: true });
  const log: string[] = [];

  beforeAll(async () => {
    broker = await startMosquitto();
    url = `mqtt://127.0.0.1:${broker.port}`;
    net = new SimNetwork({ clock, loss: 0.3, seed: 18 });
    gateway = new MqttSnGateway({ udp: { io: net.host("10.0.0.1").UDP as unknown as UdpConstructor, port: 1884, address: "10.0.0.1" }, broker: url, retryMs: 150, maxRetries: 6, tickMs: 10, log: (l) => log.push(l) });
    await gateway.start();
    c = makeClient({ clientId: "lossy", io: net.host("10.0.0.2").UDP as unknown as UdpConstructor, clock, gateways: [{ address: "10.0.0.1", port: 1884 }], cleanSession: false, keepAlive: 3, retryMs: 150, maxRetries: 6, storage: new MapStore() });
    c.client.connect();
    await c.next("connected", 20000);
  }, 30000);
  afterAll(async () => {
    c?.close();
    await gateway?.close();
    await broker?.stop();
    clock.clearAll();
  });

  it(`client -> broker: ${N} QoS 1 and ${N} QoS 2 messages; each QoS 1 arrives, each QoS 2 exactly once`, async () => {
    const sub = await subscriber(url, ["lossy/#"]);
    const sent: number[] = [];
    for (let i = 0; i < 2 * N; ) {
      if (c.client.outbox.count < 16) {
        const qos = i < N ? 1 : 2;
        sent.push(c.client.publish(`lossy/q${qos}`, `${qos}-${i % N}`, qos));
        i++;
      } else await new Promise((r) => setTimeout(r, 20));
    }
    await until(() => c.count("published") === 2 * N, 90000, `${2 * N} acknowledgements (got ${c.count("published")})`);
    expect(c.count("publish-failed")).toBe(0);
    await until(() => new Set(sub.got.map((m) => m.payload)).size === 2 * N, 10000, "every message at the subscriber");
    await new Promise((r) => setTimeout(r, 300));
    const q2 = sub.got.filter((m) => m.topic === "lossy/q2").map((m) => m.payload);
    expect(q2.sort()).toEqual(Array.from({ length: N }, (_, i) => `2-${i}`).sort()); // exactly once
    const q1 = new Set(sub.got.filter((m) => m.topic === "lossy/q1").map((m) => m.payload));
    expect(q1.size).toBe(N); // at least once
    expect(net.counters.dropped).toBeGreaterThan(20);
    await sub.close();
  }, 120000);

  it(`broker -> client: ${N} QoS 1 and ${N} QoS 2 messages; each QoS 1 arrives, each QoS 2 exactly once`, async () => {
    c.client.subscribe("lossin/#", 2);
    await c.next("subscribed", 20000);
    const pub = mqtt.connect(url);
    await new Promise((r) => pub.once("connect", r));
    for (let i = 0; i < N; i++) {
      await pub.publishAsync("lossin/q1", `1-${i}`, { qos: 1 });
      await pub.publishAsync("lossin/q2", `2-${i}`, { qos: 2 });
    }
    const got = () => c.events.filter((e) => e.type === "message").map((e: any) => [e.topic, Buffer.from(e.payload).toString()] as [string, string]);
    await until(() => new Set(got().map((g) => g[1])).size === 2 * N, 90000, `${2 * N} messages (got ${new Set(got().map((g) => g[1])).size})`);
    await new Promise((r) => setTimeout(r, 500));
    const q2 = got().filter((g) => g[0] === "lossin/q2").map((g) => g[1]);
    expect(q2.sort()).toEqual(Array.from({ length: N }, (_, i) => `2-${i}`).sort()); // exactly once
    expect(new Set(got().filter((g) => g[0] === "lossin/q1").map((g) => g[1])).size).toBe(N);
    await pub.endAsync();
  }, 120000);
});
