/*
 * Our gateway against the sleeping-client bugs other gateways have shown (issue 18), from a
 * raw UDP socket that answers or withholds each acknowledgement as the test says; and
 * ADVERTISE with gateway-lost detection by our client. Node only (mosquitto).
 */
import * as mqtt from "mqtt";
import { describeWithPeer, freePort, startMosquitto, type MosquittoPeer } from "../support/peers";
import { F } from "./helpers";
import { RawSnClient as Raw, makeClient, startGateway } from "./interop-support";
import { UDP } from "../../sim/node/udp";

describeWithPeer("mosquitto", "our gateway and sleeping clients", () => {
  let broker: MosquittoPeer;
  let url: string;
  beforeAll(async () => {
    broker = await startMosquitto();
    url = `mqtt://127.0.0.1:${broker.port}`;
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it("PINGRESP only once every buffered QoS 1 message is acknowledged (EMQX #4507), and from whatever address the client wakes (Paho #157)", async () => {
    const { gateway, port } = await startGateway({ broker: url, retryMs: 300, maxRetries: 5 });
    const a = new Raw(port);
    await a.bind();
    a.send({ type: 0x04, ...F, cleanSession: true, protocolId: 1, duration: 30, clientId: "raw-sleeper" });
    expect((await a.next(0x05)).returnCode).toBe(0);
    a.send({ type: 0x12, ...F, qos: 1, msgId: 1, topicName: "nap/a", topicId: 0 });
    const suback = await a.next(0x13);
    expect(suback.returnCode).toBe(0);
    a.send({ type: 0x18, duration: 60 });
    await a.next(0x18);
    const pub = mqtt.connect(url);
    await new Promise((r) => pub.once("connect", r));
    for (let i = 0; i < 3; i++) await pub.publishAsync("nap/a", "m" + i, { qos: 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect(a.got).toEqual([]); // asleep: buffered

    a.send({ type: 0x16, clientId: "raw-sleeper" });
    const p1 = await a.next(0x0c);
    expect([p1.topicId, Buffer.from(p1.data).toString()]).toEqual([suback.topicId, "m0"]);
    // no PUBACK: the gateway sends the same PUBLISH again, with DUP, and no PINGRESP
    const again = await a.next(0x0c, 2000);
    expect([again.msgId, again.dup]).toEqual([p1.msgId, true]);
    expect(a.got.some((m) => m.type === 0x17)).toBe(false);
    a.send({ type: 0x0d, topicId: p1.topicId, msgId: p1.msgId, returnCode: 0 });
    const p2 = await a.next(0x0c);
    expect(Buffer.from(p2.data).toString()).toBe("m1");
    a.send({ type: 0x0d, topicId: p2.topicId, msgId: p2.msgId, returnCode: 0 });
    const p3 = await a.next(0x0c);
    expect(Buffer.from(p3.data).toString()).toBe("m2");
    await new Promise((r) => setTimeout(r, 200));
    expect(a.got.some((m) => m.type === 0x17)).toBe(false); // the last one is not acknowledged yet
    a.send({ type: 0x0d, topicId: p3.topicId, msgId: p3.msgId, returnCode: 0 });
    await a.next(0x17); // now PINGRESP: asleep again

    // Back to sleep; the device reboots from deep sleep with another UDP port and wakes from it.
    a.got.length = 0;
    await pub.publishAsync("nap/a", "after reboot", { qos: 1 });
    await new Promise((r) => setTimeout(r, 200));
    const b = new Raw(port);
    await b.bind();
    b.send({ type: 0x16, clientId: "raw-sleeper" });
    const p4 = await b.next(0x0c);
    expect(Buffer.from(p4.data).toString()).toBe("after reboot");
    b.send({ type: 0x0d, topicId: p4.topicId, msgId: p4.msgId, returnCode: 0 });
    await b.next(0x17);
    expect(a.got).toEqual([]); // nothing went to the old address
    a.close();
    b.close();
    await pub.endAsync();
    await gateway.close();
  }, 30000);

  it("ADVERTISE every --advertise seconds; our client connects to the advertised gateway and drops it when the advertisements stop", async () => {
    const clientPort = await freePort();
    const { gateway, port } = await startGateway({ broker: url, advertise: 1, broadcast: { address: "127.0.0.1", port: clientPort }, gwId: 9 });
    const c = makeClient({ clientId: "adv-client", gateways: [], advertiseMisses: 2, keepAlive: 30, socket: { io: UDP as never, port: clientPort } });
    c.search(); // no broadcast address: the SEARCHGW goes nowhere; the ADVERTISE finds the gateway
    const g = await c.next("gateway", 3000);
    expect([g.gwId, g.port]).toEqual([9, port]);
    const connected = await c.next("connected", 3000);
    expect(connected.port).toBe(port);
    await gateway.close(); // no more ADVERTISE
    const lost = await c.next("gateway-lost", 6000);
    expect(lost.gwId).toBe(9);
    c.close();
  }, 20000);
});

