/*
 * mqtt.snWill / `xs-iot sim --no-will`: a gateway that ends the will dialogue with DISCONNECT
 * (Eclipse Paho's MQTT-SN gateway answers our WILLTOPIC so, its issue #248) refuses every
 * CONNECT that asks for a will (MQTT-SN 1.2 §6.2). The scripted gateway below does what Paho's
 * does (measured against 1.5.1, docs/mqttsn.md "Against Paho's gateway"): WILLTOPICREQ to a
 * CONNECT with the Will flag, DISCONNECT to the WILLTOPIC; CONNACK to one without; REGACK,
 * PUBACK, SUBACK, PINGRESP. Then our own gateway (in the process) with --no-will. Node only.
 */
import * as dgram from "dgram";
import * as mqtt from "mqtt";
import { runCli } from "../cli/run-cli";
import { decode, encode, type MqttSnMessage } from "../../modules/mqttsn/codec";

interface Scripted {
  port: number;
  seen: number[];
  willConnects: number;
  published: number;
  close(): Promise<void>;
}

function scriptedGateway(): Promise<Scripted> {
  const sock = dgram.createSocket("udp4");
  const g: Scripted = { port: 0, seen: [], willConnects: 0, published: 0, close: () => new Promise((r) => sock.close(() => r())) };
  let topicId = 0;
  sock.on("message", (b, rinfo) => {
    const m = decode(new Uint8Array(b)) as MqttSnMessage & { [k: string]: any };
    if ("error" in m || m.type === undefined) return;
    g.seen.push(m.type);
    const send = (r: MqttSnMessage) => sock.send(encode(r), rinfo.port, rinfo.address);
    const F = { dup: false, qos: 0 as const, retain: false, will: false, cleanSession: false, topicIdType: 0 as const };
    if (m.type === 0x04) {
      if (m.will) {
        g.willConnects++;
        send({ type: 0x06 }); // WILLTOPICREQ
      } else send({ type: 0x05, returnCode: 0 }); // CONNACK accepted
    } else if (m.type === 0x07) send({ type: 0x18, duration: undefined }); // WILLTOPIC -> DISCONNECT (Paho #248)
    else if (m.type === 0x0a) send({ type: 0x0b, topicId: ++topicId, msgId: m.msgId, returnCode: 0 });
    else if (m.type === 0x0c) {
      g.published++;
      if (m.qos === 1) send({ type: 0x0d, topicId: m.topicId, msgId: m.msgId, returnCode: 0 });
    } else if (m.type === 0x12) send({ ...F, type: 0x13, topicId: 0, msgId: m.msgId, returnCode: 0 });
    else if (m.type === 0x16) send({ type: 0x17 });
    else if (m.type === 0x18) send({ type: 0x18, duration: undefined });
  });
  return new Promise((resolve) => sock.bind(0, "127.0.0.1", () => ((g.port = sock.address().port), resolve(g))));
}

describe("xs-iot sim --protocol mqttsn against a gateway that ends the will dialogue (Paho #248)", () => {
  it("by default: every attempt refused, each line names the cause and --no-will", async () => {
    const gw = await scriptedGateway();
    try {
      const r = await runCli(["sim", "--protocol", "mqttsn", "--gateway", `udp://127.0.0.1:${gw.port}`, "--readings", "2", "--interval", "0.5", "--timeout", "20"], { timeoutMs: 60000 });
      expect(r.code).not.toBe(0);
      expect(gw.willConnects).toBeGreaterThanOrEqual(1);
      expect(gw.published).toBe(0);
      expect(r.stdout).toContain("the gateway ended the will dialogue with DISCONNECT (some gateways cannot, e.g. Paho #248)");
      expect(r.stdout).toContain("--no-will connects without one");
      expect(r.stdout).not.toContain("mqtt.snWill false");
      expect(r.stdout).toMatch(/0 sent, 0 acknowledged/);
    } finally {
      await gw.close();
    }
  }, 70000);

  it("with --no-will: CONNECT without the Will flag, and the readings are acknowledged", async () => {
    const gw = await scriptedGateway();
    try {
      const r = await runCli(["sim", "--protocol", "mqttsn", "--gateway", `udp://127.0.0.1:${gw.port}`, "--no-will", "--readings", "3", "--interval", "0.5", "--timeout", "30"], { timeoutMs: 60000 });
      expect(r.stdout).toMatch(/3 readings from 1 device\(s\), 3 sent, 3 acknowledged/);
      expect(r.code).toBe(0);
      expect(gw.willConnects).toBe(0);
      expect(gw.seen).not.toContain(0x07);
      expect(gw.published).toBeGreaterThanOrEqual(3);
    } finally {
      await gw.close();
    }
  }, 70000);

  it("with --no-will through our own gateway (in the process): the readings reach the embedded broker", async () => {
    const got: string[] = [];
    let sub: mqtt.MqttClient | undefined;
    // The banner names the embedded broker the gateway bridges to; the readings come every 2 s, so the subscriber is there first.
    const r = await runCli(["sim", "--protocol", "mqttsn", "--no-will", "--readings", "3", "--interval", "2", "--timeout", "40"], {
      timeoutMs: 60000,
      onLine(line) {
        const m = /bridging to (mqtt:\/\/[\d.:]+)/.exec(line);
        if (m && !sub) {
          sub = mqtt.connect(m[1]);
          sub.on("message", (t) => got.push(t));
          sub.subscribe("xs-iot/xs-iot-sim/tele");
        }
      },
    });
    sub?.end();
    expect(r.stdout).toMatch(/3 readings from 1 device\(s\), 3 sent, 3 acknowledged/);
    expect(r.code).toBe(0);
    expect(got.length).toBeGreaterThanOrEqual(1);
  }, 70000);

  it("--no-will is for --protocol mqttsn", async () => {
    const r = await runCli(["sim", "--protocol", "coap", "--no-will"], { timeoutMs: 30000 });
    expect(r.code).toBe(2);
    expect(r.stderr + r.stdout).toContain("--no-will is for --protocol mqttsn");
  });
});
