/*
 * Faults found by fuzzing our MQTT-SN gateway (sim/node/mqttsn-gateway.ts) against a real
 * mosquitto, each reproduced on its own from a raw UDP socket: what mosquitto's log says is
 * connected is what the gateway should hold, and nothing is thrown. Node only.
 */
import * as dgram from "node:dgram";
import * as mqtt from "mqtt";
import { describeWithPeer, startMosquitto, type MosquittoPeer } from "../support/peers";
import { decode } from "../../modules/mqttsn/codec";
import type { UdpConstructor } from "../../modules/platform/io";
import { MqttSnGateway, type MqttSnGatewayOptions } from "../../sim/node/mqttsn-gateway";
import { UDP } from "../../sim/node/udp";
import { until } from "./interop-support";

const utf8 = (s: string) => [...Buffer.from(s, "utf8")];
const u16 = (v: number) => [(v >> 8) & 0xff, v & 0xff];
/** A datagram with its Length (§5.2.1): one octet up to 255, else 0x01 and two octets. */
function frame(type: number, body: number[]): Uint8Array {
  const n = body.length + 2;
  return Uint8Array.from(n <= 255 ? [n, type, ...body] : [1, ...u16(n + 2), type, ...body]);
}
/** Flags (§5.3.4): QoS -1 is 0b11. */
function flags(o: { dup?: boolean; qos?: number; retain?: boolean; will?: boolean; clean?: boolean; tid?: number }): number {
  const q = o.qos === -1 ? 3 : (o.qos ?? 0);
  return (o.dup ? 0x80 : 0) | (q << 5) | (o.retain ? 0x10 : 0) | (o.will ? 0x08 : 0) | (o.clean ? 0x04 : 0) | ((o.tid ?? 0) & 3);
}

/** The ClientIds mosquitto's log says are connected now (for the failure message). */
function connectedAt(broker: MosquittoPeer): string[] {
  const on = new Map<string, number>();
  for (const line of broker.logs().split("\n")) {
    let m = /New client connected from \S+ as (\S+) /.exec(line);
    if (m) on.set(m[1], (on.get(m[1]) ?? 0) + 1);
    else if ((m = /Client (\S+) (?:disconnected|closed its connection|has exceeded timeout|already connected, closing old connection)/.exec(line) ?? /Socket error on client (\S+),/.exec(line))) on.set(m[1], (on.get(m[1]) ?? 0) - 1);
  }
  return [...on].filter(([, k]) => k > 0).map(([id, k]) => (k > 1 ? `${id} x${k}` : id)).sort();
}

const JS_ERROR = /Cannot read prop|is not a function|is not defined|is not iterable|Maximum call stack|Invalid array length|of undefined|of null/;

/** A raw client on one UDP socket for the reproductions below. */
class Raw {
  socket = dgram.createSocket("udp4");
  got: any[] = [];
  constructor(
    readonly port: number,
    readonly address = "127.0.0.1",
  ) {
    this.socket.on("message", (b) => this.got.push(decode(new Uint8Array(b))));
  }
  bind(): Promise<void> {
    return new Promise((r) => this.socket.bind(0, this.address, () => r()));
  }
  send(bytes: Uint8Array): void {
    this.socket.send(bytes, this.port, "127.0.0.1");
  }
  async next(type: number, ms = 3000): Promise<any> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.got.findIndex((m) => m.type === type);
      if (i >= 0) return this.got.splice(i, 1)[0];
      if (Date.now() > end) throw new Error(`no message of type ${type} within ${ms} ms; have ${JSON.stringify(this.got.map((m) => m.type))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }
}

const CONNECT = (id: string, clean: boolean, will = false) => frame(0x04, [flags({ clean, will }), 1, ...u16(30), ...utf8(id)]);
const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeWithPeer("mosquitto", "MQTT-SN gateway: what the fuzz found, reproduced", () => {
  let broker: MosquittoPeer;
  let url: string;
  beforeEach(async () => {
    broker = await startMosquitto();
    url = `mqtt://127.0.0.1:${broker.port}`;
  });
  afterEach(async () => {
    await broker?.stop();
  });
  const start = async (more: Partial<MqttSnGatewayOptions> = {}) => {
    const g = new MqttSnGateway({ udp: { io: UDP as unknown as UdpConstructor, port: 0 }, broker: url, retryMs: 150, maxRetries: 2, tickMs: 20, ...more });
    return { g, port: await g.start() };
  };
  it("a will update (§6.4) followed at once by DISCONNECT (§6.12) leaves no broker connection behind", async () => {
    const { g, port } = await start();
    const a = new Raw(port);
    await a.bind();
    try {
      a.send(CONNECT("rep-upd", true));
      expect((await a.next(0x05)).returnCode).toBe(0);
      a.send(frame(0x1a, [flags({ qos: 1 }), ...utf8("rep/will")])); // WILLTOPICUPD
      a.send(frame(0x18, [])); // DISCONNECT before the new broker connection is made
      await a.next(0x18);
      await sleepMs(1500);
      expect(g.clients.size).toBe(0);
      expect(connectedAt(broker)).toEqual([`xs-iot-gw-qos-1-${port}`]);
    } finally {
      await a.close();
      await g.close();
    }
  });

  it("two will updates in a row (a retransmitted WILLTOPICUPD) leave one broker connection for the client", async () => {
    const { g, port } = await start();
    const a = new Raw(port);
    await a.bind();
    try {
      a.send(CONNECT("rep-upd2", true));
      expect((await a.next(0x05)).returnCode).toBe(0);
      const upd = frame(0x1a, [flags({ qos: 1 }), ...utf8("rep/will")]);
      a.send(upd);
      a.send(upd);
      await a.next(0x1b);
      await sleepMs(1500);
      expect(connectedAt(broker)).toEqual(["rep-upd2", `xs-iot-gw-qos-1-${port}`]);
      a.send(frame(0x18, []));
      await a.next(0x18);
      await sleepMs(1500);
      expect(connectedAt(broker)).toEqual([`xs-iot-gw-qos-1-${port}`]);
    } finally {
      await a.close();
      await g.close();
    }
  });

  it("an address taken over by another ClientId while its client is lost: the lost one coming back elsewhere does not unseat the new one", async () => {
    const { g, port } = await start({ keepLostMs: 60000 });
    const a = new Raw(port, "127.0.0.1");
    const b = new Raw(port, "127.0.0.2");
    await a.bind();
    await b.bind();
    const pub = mqtt.connect(url, { clientId: "rep-pub" });
    await new Promise((r) => pub.once("connect", r));
    try {
      // x at A, persistent, with a message open toward it (our REGISTER, never acknowledged).
      a.send(CONNECT("rep-x", false));
      expect((await a.next(0x05)).returnCode).toBe(0);
      a.send(frame(0x12, [flags({ qos: 1 }), ...u16(1), ...utf8("rep/#")]));
      expect((await a.next(0x13)).returnCode).toBe(0);
      await pub.publishAsync("rep/t", "m", { qos: 1 });
      await a.next(0x0a);
      // y CONNECTs from A: x is lost there (its session kept), y takes the address.
      a.send(CONNECT("rep-y", true));
      expect((await a.next(0x05)).returnCode).toBe(0);
      // x comes back from B.
      b.send(CONNECT("rep-x", false));
      expect((await b.next(0x05)).returnCode).toBe(0);
      // y is still served at A: PINGREQ -> PINGRESP, not DISCONNECT.
      a.got.length = 0;
      a.send(frame(0x16, []));
      await sleepMs(300);
      expect(a.got.map((m) => m.type)).toEqual([0x17]);
      expect([...g.clients.values()].map((c: any) => c.id).sort()).toEqual(["rep-x", "rep-y"]);
      a.send(frame(0x18, []));
      b.send(frame(0x18, []));
      await sleepMs(1500);
      expect(g.clients.size).toBe(0);
      expect(connectedAt(broker)).toEqual(["rep-pub", `xs-iot-gw-qos-1-${port}`]);
    } finally {
      await pub.endAsync();
      await a.close();
      await b.close();
      await g.close();
    }
  });

  it("a QoS 1 message open toward a client that goes to sleep (§6.14) is delivered when it wakes, before PINGRESP", async () => {
    const { g, port } = await start();
    const a = new Raw(port);
    await a.bind();
    const pub = mqtt.connect(url, { clientId: "rep-pub" });
    await new Promise((r) => pub.once("connect", r));
    try {
      a.send(CONNECT("rep-nap", false));
      expect((await a.next(0x05)).returnCode).toBe(0);
      a.send(frame(0x12, [flags({ qos: 1 }), ...u16(1), ...utf8("rep/nap")]));
      const suback = await a.next(0x13);
      expect(suback.returnCode).toBe(0);
      await pub.publishAsync("rep/nap", "owed", { qos: 1 });
      const p = await a.next(0x0c);
      expect([p.qos, Buffer.from(p.data).toString()]).toEqual([1, "owed"]);
      // No PUBACK: the client sleeps (its PUBACK lost, or it never got the PUBLISH).
      a.send(frame(0x18, u16(60)));
      await a.next(0x18);
      await sleepMs(600); // past Tretry x Nretry: nothing is sent to a sleeping client
      a.got.length = 0;
      a.send(frame(0x16, utf8("rep-nap"))); // awake
      const again = await a.next(0x0c);
      expect([again.msgId, Buffer.from(again.data).toString()]).toEqual([p.msgId, "owed"]);
      expect(a.got.some((m) => m.type === 0x17)).toBe(false);
      a.send(frame(0x0d, [...u16(again.topicId), ...u16(again.msgId), 0]));
      await a.next(0x17); // PINGRESP once it is acknowledged
    } finally {
      await pub.endAsync();
      await a.close();
      await g.close();
    }
  });

  it("the registry stays within maxTopics (§7.3: per client) when a wildcard subscription brings many topics: the gateway's REGISTERs count too, no id is reused", async () => {
    const log: string[] = [];
    const { g, port } = await start({ maxTopics: 4, log: (l) => log.push(l) });
    const a = new Raw(port);
    await a.bind();
    const pub = mqtt.connect(url, { clientId: "rep-pub" });
    await new Promise((r) => pub.once("connect", r));
    try {
      a.send(CONNECT("rep-many", true));
      expect((await a.next(0x05)).returnCode).toBe(0);
      a.send(frame(0x12, [flags({ qos: 0 }), ...u16(1), ...utf8("rep/#")]));
      expect((await a.next(0x13)).returnCode).toBe(0);
      for (let i = 0; i < 8; i++) {
        await pub.publishAsync("rep/" + i, "m" + i, { qos: 0 });
        const r = await a.next(0x0a, 300).catch(() => undefined); // the gateway's REGISTER, acknowledged
        if (r) a.send(frame(0x0b, [...u16(r.topicId), ...u16(r.msgId), 0]));
        await sleepMs(50);
      }
      const c: any = [...g.clients.values()][0];
      expect(c.ids.size).toBeLessThanOrEqual(4);
      expect(a.got.filter((m) => m.type === 0x0c).length).toBe(4); // the four it has room for
      expect(log.filter((l) => /registry full/.test(l)).length).toBe(4);
      // A SUBSCRIBE by a name that would need a fifth id: SUBACK congestion (§5.4.16 gives the id in the SUBACK).
      a.send(frame(0x12, [flags({ qos: 0 }), ...u16(2), ...utf8("other/name")]));
      expect((await a.next(0x13)).returnCode).toBe(1);
      expect(c.ids.size).toBe(4);
    } finally {
      await pub.endAsync();
      await a.close();
      await g.close();
    }
  });

  it("a broker connection replaced while an acknowledgement is held (buffer full): no exception out of MQTT.js, nothing stuck", async () => {
    const problems: string[] = [];
    const onError = (e: unknown) => problems.push(String((e as Error)?.stack ?? e));
    process.on("uncaughtException", onError);
    const log: string[] = [];
    const { g, port } = await start({ maxBuffered: 1, retryMs: 5000, log: (l) => log.push(l) });
    const a = new Raw(port);
    await a.bind();
    const pub = mqtt.connect(url, { clientId: "rep-pub" });
    await new Promise((r) => pub.once("connect", r));
    try {
      a.send(CONNECT("rep-held", true));
      expect((await a.next(0x05)).returnCode).toBe(0);
      a.send(frame(0x12, [flags({ qos: 2 }), ...u16(1), ...utf8("rep/h")]));
      expect((await a.next(0x13)).returnCode).toBe(0);
      // Never acknowledged: one open, one buffered, one held, the rest wait at the broker.
      for (let i = 0; i < 5; i++) pub.publish("rep/h", "h" + i, { qos: 2 });
      await until(() => log.some((l) => /acknowledgement is held/.test(l)), 3000, "a held acknowledgement");
      a.send(frame(0x1a, [flags({ qos: 1 }), ...utf8("rep/will")])); // WILLTOPICUPD: a new broker connection
      expect((await a.next(0x1b)).returnCode).toBe(0);
      a.send(frame(0x18, [])); // DISCONNECT: the client is forgotten
      await a.next(0x18);
      await sleepMs(1000);
      expect(problems).toEqual([]);
      expect(log.filter((l) => JS_ERROR.test(l))).toEqual([]);
      expect(g.clients.size).toBe(0);
      expect(connectedAt(broker)).toEqual(["rep-pub", `xs-iot-gw-qos-1-${port}`]);
    } finally {
      process.off("uncaughtException", onError);
      await pub.endAsync();
      await a.close();
      await g.close();
    }
  });
});
