/*
 * Bad input at our MQTT-SN gateway: malformed, out-of-state and hostile datagrams from a raw
 * UDP socket, each answered or dropped as MQTT-SN 1.2 says; the gateway neither crashes nor
 * grows without bound, and a real client still works afterwards. Node only (mosquitto).
 */
import * as dgram from "node:dgram";
import { describeWithPeer, startMosquitto, type MosquittoPeer } from "../support/peers";
import { MqttSnCodecError, decode, encode, shortTopicId } from "../../modules/mqttsn/codec";
import type { MqttSnGateway } from "../../sim/node/mqttsn-gateway";
import { F } from "./helpers";
import { makeClient, startGateway, subscriber, until } from "./interop-support";

class Raw {
  socket = dgram.createSocket("udp4");
  replies: any[] = [];
  constructor(readonly port: number) {
    this.socket.on("message", (b) => {
      const m = decode(new Uint8Array(b));
      this.replies.push(m instanceof MqttSnCodecError ? { malformed: m.message } : m);
    });
  }
  bind(): Promise<void> {
    return new Promise((r) => this.socket.bind(0, "127.0.0.1", () => r()));
  }
  /** Sends and returns what came back within `ms`. */
  async send(bytes: Uint8Array | number[], ms = 120): Promise<any[]> {
    this.replies = [];
    this.socket.send(Buffer.from(bytes as Uint8Array), this.port, "127.0.0.1");
    await new Promise((r) => setTimeout(r, ms));
    return this.replies;
  }
  close() {
    this.socket.close();
  }
}

const connect = (id: string) => encode({ type: 0x04, ...F, cleanSession: true, protocolId: 1, duration: 30, clientId: id });
const types = (ms: any[]) => ms.map((m) => m.type ?? "malformed");

describeWithPeer("mosquitto", "MQTT-SN gateway: bad input", () => {
  let broker: MosquittoPeer;
  let gateway: MqttSnGateway;
  let port: number;
  let url: string;
  let raw: Raw; // a connected client
  let stranger: Raw; // never connected
  const log: string[] = [];

  beforeAll(async () => {
    broker = await startMosquitto();
    url = `mqtt://127.0.0.1:${broker.port}`;
    ({ gateway, port } = await startGateway({ broker: url, predefined: { "pre/a": 5 }, maxClients: 4, maxTopics: 8, maxDatagram: 512 }, log));
    raw = new Raw(port);
    stranger = new Raw(port);
    await raw.bind();
    await stranger.bind();
    expect(types(await raw.send(connect("hostile"), 1000))).toEqual([0x05]);
  });
  afterAll(async () => {
    raw?.close();
    stranger?.close();
    await gateway?.close();
    await broker?.stop();
  });

  // [name, from (c: connected, s: stranger), datagram, expected reply types]
  const cases: [string, "c" | "s", number[] | (() => Uint8Array), number[]][] = [
    ["empty datagram", "c", [], []],
    ["one octet", "c", [7], []],
    ["Length 0", "c", [0, 0x16], []],
    ["Length past the datagram", "c", [9, 0x16], []],
    ["trailing octets", "c", [2, 0x16, 0], []],
    ["3-octet Length truncated", "c", [1, 0], []],
    ["reserved MsgType 0x03", "c", [2, 0x03], []],
    ["reserved MsgType 0xFF", "c", [2, 0xff], []],
    ["oversized: 2000 octets", "c", () => encode({ type: 0x0c, ...F, topicIdType: 1, topicId: 5, msgId: 0, data: new Uint8Array(1990) }), []],
    ["CONNECT with ProtocolId 2: CONNACK not supported", "s", [7, 0x04, 0x04, 2, 0, 30, 0x61], [0x05]],
    ["CONNECT with an empty ClientId: CONNACK not supported", "s", [6, 0x04, 0x04, 1, 0, 30], [0x05]],
    ["PUBLISH from an unknown address: DISCONNECT (§6.12)", "s", () => encode({ type: 0x0c, ...F, qos: 1, topicIdType: 1, topicId: 5, msgId: 1, data: new Uint8Array(1) }), [0x18]],
    ["REGISTER from an unknown address: DISCONNECT", "s", () => encode({ type: 0x0a, topicId: 0, msgId: 1, topicName: "x" }), [0x18]],
    ["PINGREQ naming an unknown client: DISCONNECT (§6.14)", "s", () => encode({ type: 0x16, clientId: "nobody" }), [0x18]],
    ["DISCONNECT from an unknown address: dropped (no loop)", "s", [2, 0x18], []],
    ["QoS -1 to an unknown pre-defined id: dropped", "s", () => encode({ type: 0x0c, ...F, qos: -1, topicIdType: 1, topicId: 999, msgId: 0, data: new Uint8Array(1) }), []],
    ["QoS -1 to a short name that is not UTF-8: dropped", "s", () => encode({ type: 0x0c, ...F, qos: -1, topicIdType: 2, topicId: 0xfffe, msgId: 0, data: new Uint8Array(1) }), []],
    ["QoS -1 with a normal topic id (§6.8): malformed", "s", [8, 0x0c, 0x60, 0, 1, 0, 0, 0x61], []],
    ["WILLTOPIC not asked for", "c", () => encode({ type: 0x07, ...F, willTopic: "w" }), []],
    ["WILLMSG not asked for", "c", [3, 0x09, 0x61], []],
    ["PUBLISH to a never registered topic id: PUBACK invalid topic ID", "c", () => encode({ type: 0x0c, ...F, qos: 1, topicId: 0x777, msgId: 3, data: new Uint8Array(1) }), [0x0d]],
    ["PUBLISH QoS 0 to a topic id 0: PUBACK invalid topic ID", "c", () => encode({ type: 0x0c, ...F, topicId: 0, msgId: 0, data: new Uint8Array(1) }), [0x0d]],
    ["PUBLISH to an unknown pre-defined id: PUBACK invalid topic ID (§6.7)", "c", () => encode({ type: 0x0c, ...F, qos: 1, topicIdType: 1, topicId: 4242, msgId: 4, data: new Uint8Array(1) }), [0x0d]],
    ["PUBLISH QoS 1 with MsgId 0: malformed", "c", [8, 0x0c, 0x20, 0, 1, 0, 0, 0x61], []],
    ["REGISTER with a wildcard: malformed", "c", () => Uint8Array.from([8, 0x0a, 0, 0, 0, 9, 0x61, 0x23]), []],
    ["SUBSCRIBE to a bad filter: SUBACK not supported", "c", () => encode({ type: 0x12, ...F, msgId: 7, topicName: "a/#/b", topicId: 0 }), [0x13]],
    ["SUBSCRIBE to an unknown pre-defined id: SUBACK invalid topic ID", "c", () => encode({ type: 0x12, ...F, topicIdType: 1, msgId: 8, topicName: undefined, topicId: 4242 }), [0x13]],
    ["SUBSCRIBE to a short name with a wildcard: SUBACK not supported", "c", () => encode({ type: 0x12, ...F, topicIdType: 2, msgId: 9, topicName: undefined, topicId: shortTopicId("a#") }), [0x13]],
    ["PUBACK matching nothing", "c", [7, 0x0d, 0, 1, 0, 99, 0], []],
    ["PUBREC matching nothing", "c", [4, 0x0f, 0, 99], []],
    ["PUBCOMP matching nothing", "c", [4, 0x0e, 0, 99], []],
    ["REGACK matching nothing", "c", [7, 0x0b, 0, 1, 0, 99, 0], []],
    ["PUBREL for an unknown id: PUBCOMP (as MQTT)", "c", [4, 0x10, 0, 99], [0x0e]],
    ["CONNACK (a gateway's message)", "c", [3, 0x05, 0], []],
    ["WILLTOPICREQ (a gateway's message)", "c", [2, 0x06], []],
    ["ADVERTISE from a client", "c", [5, 0x00, 1, 0, 10], []],
    ["GWINFO from a client", "c", [3, 0x02, 1], []],
    ["ENCAPSULATED (no forwarders here)", "c", [5, 0xfe, 0, 1, 2, 2, 0x17], []],
    ["SEARCHGW: GWINFO", "s", [3, 0x01, 1], [0x02]],
  ];

  it("has at least 30 cases", () => expect(cases.length).toBeGreaterThanOrEqual(30));
  for (const [name, who, bytes, expected] of cases) {
    it(name, async () => {
      const r = who === "c" ? raw : stranger;
      const data = typeof bytes === "function" ? bytes() : bytes;
      const replies = await r.send(data);
      expect(types(replies)).toEqual(expected);
      if (expected[0] === 0x0d) expect(replies[0].returnCode).toBe(2);
      if (expected[0] === 0x05) expect(replies[0].returnCode).toBe(3);
    });
  }

  it("a QoS 2 PUBLISH sent 50 times is forwarded once", async () => {
    const sub = await subscriber(url, ["pre/a"]);
    const p = encode({ type: 0x0c, ...F, qos: 2, topicIdType: 1, topicId: 5, msgId: 321, data: new Uint8Array([0x31]) });
    for (let i = 0; i < 50; i++) raw.socket.send(Buffer.from(p), port, "127.0.0.1");
    await new Promise((r) => setTimeout(r, 500));
    expect(raw.replies.filter((m) => m.type === 0x0f).length).toBeGreaterThan(0);
    expect(sub.got.length).toBe(1);
    await raw.send([4, 0x10, 1, 0x41]); // PUBREL 321
    await sub.close();
  });

  it("registrations are bounded per client: REGACK congestion past maxTopics", async () => {
    const codes: number[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await raw.send(encode({ type: 0x0a, topicId: 0, msgId: 100 + i, topicName: "reg/" + i }), 60);
      codes.push(r[0]?.returnCode);
    }
    expect(codes.slice(0, 8)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(codes.slice(8)).toEqual([1, 1, 1, 1]);
  });

  it("clients are bounded: CONNECTs from many addresses get CONNACK congestion past maxClients", async () => {
    const socks: Raw[] = [];
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) {
      const s = new Raw(port);
      await s.bind();
      socks.push(s);
      const r = await s.send(connect("flood" + i), 600);
      codes.push(r[0]?.returnCode);
    }
    expect(gateway.clients.size).toBeLessThanOrEqual(4);
    expect(codes.filter((c) => c === 1).length).toBeGreaterThanOrEqual(2);
    for (const s of socks) {
      await s.send([2, 0x18], 50); // DISCONNECT
      s.close();
    }
    await until(() => gateway.clients.size === 1, 3000, "the flood gone");
  });

  it("after all that, a real client connects and publishes at QoS 1; the gateway logged every drop", async () => {
    const sub = await subscriber(url, ["after/#"]);
    const c = makeClient({ clientId: "after", gateways: [{ address: "127.0.0.1", port }] });
    c.client.connect();
    await c.next("connected");
    c.client.publish("after/x", "fine", 1);
    await c.next("published");
    await until(() => sub.got.length === 1, 3000, "the message");
    c.close();
    await sub.close();
    expect(gateway.stats.malformed).toBeGreaterThanOrEqual(12);
    expect(log.filter((l) => l.includes("dropped")).length).toBeGreaterThanOrEqual(20);
  });
});
