/*
 * Our MQTT-SN client <-> our gateway (sim/node/mqttsn-gateway.ts) <-> mosquitto, with MQTT.js
 * clients on the broker side counting every message. Node only (real sockets, a real broker).
 */
import * as mqtt from "mqtt";
import { describeWithPeer, startMosquitto, type MosquittoPeer } from "../support/peers";
import { ACTIVE, ASLEEP } from "../../modules/mqttsn/session";
import { MapStore, makeClient, startGateway, subscriber, until, gatewayAddress, type TestClient } from "./interop-support";
import type { MqttSnGateway } from "../../sim/node/mqttsn-gateway";

describeWithPeer("mosquitto", "MQTT-SN client <-> gateway <-> mosquitto", () => {
  let broker: MosquittoPeer;
  let url: string;
  let gateway: MqttSnGateway;
  let port: number;
  const log: string[] = [];
  const open: TestClient[] = [];

  beforeAll(async () => {
    broker = await startMosquitto();
    url = `mqtt://127.0.0.1:${broker.port}`;
    ({ gateway, port } = await startGateway({ broker: url, predefined: { "pre/tele": 10, "pre/cmd": 11 } }, log));
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await gateway?.close();
    await broker?.stop();
  });
  afterEach(() => {
    for (const c of open.splice(0)) c.close();
  });

  function client(id: string, extra: Parameters<typeof makeClient>[0] extends infer T ? Partial<T> : never = {}): TestClient {
    const c = makeClient({ clientId: id, gateways: [gatewayAddress(port)], ...extra });
    open.push(c);
    return c;
  }

  it("publishes at QoS −1, 0, 1 and 2; a subscriber gets each exactly as its QoS promises", async () => {
    const sub = await subscriber(url, ["sn/#", "pre/#", "ab"]);
    const c = client("pub-all", { predefined: { "pre/tele": 10, "pre/cmd": 11 } });
    c.client.connect();
    await c.next("connected");
    c.client.publish("pre/tele", "m1", -1);
    c.client.publish("ab", "short", -1);
    c.client.publish("sn/q0", "m0", 0);
    const id1 = c.client.publish("sn/q1", "q1", 1);
    const id2 = c.client.publish("sn/q2", "q2", 2, true);
    await until(() => c.count("published") === 2, 10000, "both acknowledgements");
    expect(c.events.filter((e) => e.type === "published").map((e: any) => e.msgId).sort()).toEqual([id1, id2].sort());
    await until(() => sub.got.length >= 5, 5000, "5 messages at the subscriber");
    await new Promise((r) => setTimeout(r, 200));
    const byTopic = Object.fromEntries(sub.got.map((m) => [m.topic, m]));
    expect(sub.got.length).toBe(5);
    expect(byTopic["pre/tele"].payload).toBe("m1");
    expect(byTopic["ab"].payload).toBe("short");
    expect(byTopic["sn/q0"].payload).toBe("m0");
    expect(byTopic["sn/q1"]).toEqual({ topic: "sn/q1", payload: "q1", qos: 1, retain: false });
    expect(byTopic["sn/q2"]).toEqual({ topic: "sn/q2", payload: "q2", qos: 2, retain: false });
    await sub.close();
    // the retained QoS 2 message is there for a later subscriber
    const late = await subscriber(url, ["sn/q2"]);
    await until(() => late.got.length === 1, 5000, "the retained message");
    expect(late.got[0]).toEqual({ topic: "sn/q2", payload: "q2", qos: 2, retain: true });
    await late.close();
  });

  it("receives at QoS 0, 1 and 2 through a wildcard, a name, a pre-defined id and a short name", async () => {
    const c = client("sub-all", { predefined: { "pre/tele": 10, "pre/cmd": 11 } });
    c.client.connect();
    await c.next("connected");
    c.client.subscribe("cmd/dev/#", 2);
    c.client.subscribe("cfg/set", 1);
    c.client.subscribe("pre/cmd", 2);
    c.client.subscribe("zz", 0);
    await until(() => c.count("subscribed") === 4, 5000, "4 SUBACKs");
    const pub = mqtt.connect(url);
    await new Promise((r) => pub.once("connect", r));
    await pub.publishAsync("cmd/dev/led", "on", { qos: 2 });
    await pub.publishAsync("cmd/dev/fan", "off", { qos: 1 });
    await pub.publishAsync("cfg/set", "{}", { qos: 1 });
    await pub.publishAsync("pre/cmd", "go", { qos: 2 });
    await pub.publishAsync("zz", "z", { qos: 0 });
    await until(() => c.count("message") === 5, 5000, "5 messages").catch((e) => {
      throw new Error(e.message + "\n" + JSON.stringify(c.events) + "\n" + log.filter((l) => l.includes("sub-all")).join("\n"));
    });
    const got = c.events.filter((e) => e.type === "message").map((e: any) => [e.topic, Buffer.from(e.payload).toString(), e.qos]);
    expect(got.sort()).toEqual(
      [
        ["cfg/set", "{}", 1],
        ["cmd/dev/fan", "off", 1],
        ["cmd/dev/led", "on", 2],
        ["pre/cmd", "go", 2],
        ["zz", "z", 0],
      ].sort(),
    );
    await pub.endAsync();
  });

  it("the will is published by the broker when the client is lost, and not after a DISCONNECT", async () => {
    const sub = await subscriber(url, ["will/#"]);
    const a = client("will-a", { keepAlive: 1, will: { topic: "will/a", payload: "gone", qos: 1 } });
    a.client.connect();
    await a.next("connected");
    a.close(); // silent: no DISCONNECT, no PINGREQ
    await until(() => sub.got.length === 1, 5000, "the will");
    expect(sub.got[0]).toEqual({ topic: "will/a", payload: "gone", qos: 1, retain: false });
    const b = client("will-b", { keepAlive: 1, will: { topic: "will/b", payload: "gone" } });
    b.client.connect();
    await b.next("connected");
    b.client.disconnect();
    await b.next("disconnected");
    await new Promise((r) => setTimeout(r, 2500));
    expect(sub.got.map((m) => m.topic)).toEqual(["will/a"]);
    await sub.close();
  });

  it("a will updated (WILLTOPICUPD, WILLMSGUPD) is the one published", async () => {
    const sub = await subscriber(url, ["upd/#"]);
    const a = client("will-upd", { keepAlive: 1, will: { topic: "upd/old", payload: "old" } });
    a.client.connect();
    await a.next("connected");
    a.updateWill({ topic: "upd/new", payload: "new", qos: 1 });
    await until(() => a.count("will-updated") === 2, 5000, "both will updates acknowledged");
    a.close();
    await until(() => sub.got.length === 1, 5000, "the will");
    expect(sub.got[0]).toEqual({ topic: "upd/new", payload: "new", qos: 1, retain: false });
    await sub.close();
  });

  it("a sleep cycle: messages published while asleep are all delivered on wake, before PINGRESP", async () => {
    const store = new MapStore();
    const c = client("sleeper", { storage: store, cleanSession: false });
    c.client.connect();
    await c.next("connected");
    c.client.subscribe("sleep/#", 1);
    await c.next("subscribed");
    c.sleep(30);
    await c.next("asleep");
    expect(c.client.state).toBe(ASLEEP);
    const pub = mqtt.connect(url);
    await new Promise((r) => pub.once("connect", r));
    for (let i = 0; i < 12; i++) await pub.publishAsync("sleep/" + (i % 3), "m" + i, { qos: (i % 2) as 0 | 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect(c.count("message")).toBe(0);
    c.wake();
    await c.next("asleep");
    const got = c.events.filter((e) => e.type === "message").map((e: any) => Buffer.from(e.payload).toString());
    expect(got).toEqual(Array.from({ length: 12 }, (_, i) => "m" + i));
    // the gateway sent PINGRESP after the last acknowledgement
    const lines = log.filter((l) => l.includes("sleeper"));
    const resp = lines.findIndex((l) => l.includes("PINGRESP"));
    const last = lines.map((l, i) => (l.includes("<- PUBLISH") ? i : -1)).filter((i) => i >= 0).pop()!;
    expect(resp).toBeGreaterThan(last);
    await pub.endAsync();
  });

  it("a client that CONNECTs instead of waking gets its buffered messages too (Paho #122)", async () => {
    const c = client("reconnector", { cleanSession: false });
    c.client.connect();
    await c.next("connected");
    c.client.subscribe("rc/x", 1);
    await c.next("subscribed");
    c.sleep(30);
    await c.next("asleep");
    const pub = mqtt.connect(url);
    await new Promise((r) => pub.once("connect", r));
    await pub.publishAsync("rc/x", "while asleep", { qos: 1 });
    await new Promise((r) => setTimeout(r, 200));
    c.client.connect();
    await c.next("connected");
    await until(() => c.count("message") === 1, 5000, "the buffered message");
    expect(c.client.state).toBe(ACTIVE);
    await pub.endAsync();
  });

  it("gateway lost: the client fails over to a second gateway and keeps publishing at QoS 1", async () => {
    const second = await startGateway({ broker: url });
    const sub = await subscriber(url, ["fo/#"]);
    const c = client("failover", { gateways: [gatewayAddress(port), gatewayAddress(second.port)], keepAlive: 2 });
    c.client.connect();
    const first = await c.next("connected");
    expect(first.port).toBe(port);
    c.client.publish("fo/a", "before", 1);
    await c.next("published");
    // the first gateway stops answering this client: its datagrams go nowhere
    const socket = gateway.socket!;
    const write = socket.write.bind(socket);
    (socket as any).write = (d: any, a: string, p: number) => (p === (c.client.socket as any).port ? undefined : write(d, a, p));
    c.client.publish("fo/a", "after", 1);
    const again = await c.next("connected", 15000);
    expect(again.port).toBe(second.port);
    await until(() => sub.got.some((m) => m.payload === "after"), 10000, "the message after failover");
    (socket as any).write = write;
    await sub.close();
    await second.gateway.close();
  });
});
