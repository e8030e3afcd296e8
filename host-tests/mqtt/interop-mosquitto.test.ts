/*
 * Interop with mosquitto (Debian), MQTT 3.1.1 and 5.0, plain TCP and TLS (a self-signed CA
 * made in the test, verification on): QoS 0/1/2 both ways, retained, will, a persistent
 * session across a client restart, topic aliases and Receive Maximum. Node only.
 */
import { describeWithPeer, startMosquitto } from "../support/peers";
import type { MosquittoPeer } from "../support/peers";
import { makeTlsFixture } from "../support/tls";
import type { TlsFixture } from "../support/tls";
import type { PublishPacket } from "../support/mqtt-codec";
import { probe, RecordingTCP, text, until } from "./interop-helpers";
import type { Probe } from "./interop-helpers";

jest.setTimeout(30000);

let broker: MosquittoPeer;
let tlsFix: TlsFixture;
const probes: Probe[] = [];

function track(p: Probe): Probe {
  probes.push(p);
  return p;
}

describeWithPeer("mosquitto", "MQTT client against mosquitto", () => {
  beforeAll(async () => {
    tlsFix = makeTlsFixture();
    broker = await startMosquitto({
      tls: { certFile: tlsFix.certFile, keyFile: tlsFix.keyFile },
      extraConfig: ["max_inflight_messages 3", "max_topic_alias 10"],
    });
  });
  afterEach(() => {
    while (probes.length) probes.pop()!.stop();
  });
  afterAll(async () => {
    await broker?.stop();
    tlsFix?.cleanup();
  });

  const matrix: [string, 4 | 5, boolean][] = [
    ["3.1.1 over TCP", 4, false],
    ["5.0 over TCP", 5, false],
    ["3.1.1 over TLS", 4, true],
    ["5.0 over TLS", 5, true],
  ];

  describe.each(matrix)("%s", (_title, version, useTls) => {
    const port = () => (useTls ? broker.tlsPort! : broker.port);
    const tls = () => (useTls ? { ca: tlsFix.ca } : undefined);
    const base = `it/v${version}/${useTls ? "tls" : "tcp"}`;

    test("QoS 0, 1 and 2 both ways", async () => {
      const a = track(probe({ port: port(), tls: tls(), version }));
      await a.connected();
      let granted: number[] = [];
      a.client.subscribe(`${base}/q/#`, { qos: 2 }, undefined, (_e, c) => (granted = c));
      await until(() => granted.length === 1, "SUBACK");
      expect(granted).toEqual([2]);
      const done: number[] = [];
      for (const qos of [0, 1, 2] as const) {
        a.client.publish(`${base}/q/${qos}`, "m" + qos, { qos }, (e, r) => {
          if (!e) done.push(r.qos);
        });
      }
      await until(() => a.messages.length === 3 && done.length === 2, "three messages back");
      expect(a.messages.map((m) => m.topic).sort()).toEqual([`${base}/q/0`, `${base}/q/1`, `${base}/q/2`]);
      expect(a.messages.map((m) => m.qos).sort()).toEqual([0, 1, 2]);
      expect(a.client.outbox.count).toBe(0);
      expect(a.errors).toEqual([]);
    });

    test("retained messages in and out", async () => {
      const a = track(probe({ port: port(), tls: tls(), version }));
      await a.connected();
      let acked = false;
      a.client.publish(`${base}/ret`, "kept", { qos: 1, retain: true }, () => (acked = true));
      await until(() => acked, "PUBACK");
      const b = track(probe({ port: port(), tls: tls(), version }));
      await b.connected();
      b.client.subscribe(`${base}/ret`, { qos: 1 });
      await until(() => b.messages.length === 1, "retained message");
      expect(b.messages[0].retain).toBe(true);
      expect(text(b.messages[0].payload)).toBe("kept");
      a.client.publish(`${base}/ret`, "", { qos: 1, retain: true }); // clear it [MQTT-3.3.1-6]
    });

    test("will message published when the connection dies without DISCONNECT", async () => {
      const watcher = track(probe({ port: port(), tls: tls(), version }));
      await watcher.connected();
      let subbed = false;
      watcher.client.subscribe(`${base}/will`, { qos: 1 }, undefined, () => (subbed = true));
      await until(() => subbed, "SUBACK");
      const dying = probe({
        port: port(),
        tls: tls(),
        version,
        io: useTls ? undefined : RecordingTCP,
        reconnect: false,
        will: { topic: `${base}/will`, payload: new TextEncoder().encode("gone"), qos: 1, retain: false },
      });
      await dying.connected();
      if (useTls) dying.client.end(version === 5 ? 0x04 : 0); // 5.0: DISCONNECT with Will Message
      if (!useTls) RecordingTCP.last!.close(); // a crash: no DISCONNECT
      if (useTls && version === 4) {
        // 3.1.1 has no "disconnect with will"; a clean end suppresses it [MQTT-3.1.2-10]
        await new Promise((r) => setTimeout(r, 300));
        expect(watcher.messages).toHaveLength(0);
        return;
      }
      await until(() => watcher.messages.length === 1, "will message");
      expect(text(watcher.messages[0].payload)).toBe("gone");
    });

    test("persistent session across a client restart: queued QoS 1 messages arrive", async () => {
      const id = `persist-${version}-${useTls ? "s" : "p"}-${Date.now() % 100000}`;
      const opts = { port: port(), tls: tls(), version, clientId: id, clean: false, sessionExpiryInterval: 300 };
      const first = probe(opts);
      await first.connected();
      let subbed = false;
      first.client.subscribe(`${base}/persist`, { qos: 1 }, undefined, () => (subbed = true));
      await until(() => subbed, "SUBACK");
      first.stop();
      const pub = track(probe({ port: port(), tls: tls(), version }));
      await pub.connected();
      let acked = 0;
      for (let i = 0; i < 3; i++) pub.client.publish(`${base}/persist`, "p" + i, { qos: 1 }, () => acked++);
      await until(() => acked === 3, "PUBACKs");
      const second = track(probe({ ...opts, store: first.store }));
      await second.connected();
      expect(second.connects[0].sessionPresent).toBe(true);
      await until(() => second.messages.length === 3, "queued messages");
      expect(second.messages.map((m) => text(m.payload))).toEqual(["p0", "p1", "p2"]);
    });

    // 5.0 only: a Session Expiry Interval on DISCONNECT (§3.14.2.2.2), what a device says before it sleeps.
    if (version === 5) test("DISCONNECT with a Session Expiry longer than the CONNECT's: the session outlives the CONNECT's expiry, its QoS 1 messages arrive (§3.14.2.2.2)", async () => {
      const id = `sleep-${useTls ? "s" : "p"}-${Date.now() % 100000}`;
      const opts = { port: port(), tls: tls(), version, clientId: id, clean: false, sessionExpiryInterval: 1 };
      const first = probe(opts);
      await first.connected();
      let subbed = false;
      first.client.subscribe(`${base}/sleep`, { qos: 1 }, undefined, () => (subbed = true));
      await until(() => subbed, "SUBACK");
      first.client.end(0, { sessionExpiryInterval: 60 });
      first.stop();
      const pub = track(probe({ port: port(), tls: tls(), version }));
      await pub.connected();
      let acked = 0;
      for (let i = 0; i < 2; i++) pub.client.publish(`${base}/sleep`, "s" + i, { qos: 1 }, () => acked++);
      await until(() => acked === 2, "PUBACKs");
      await new Promise((r) => setTimeout(r, 2500)); // past the CONNECT's 1 s
      const second = track(probe({ ...opts, store: first.store }));
      await second.connected();
      expect(second.connects[0].sessionPresent).toBe(true);
      await until(() => second.messages.length === 2, "queued messages");
      expect(second.messages.map((m) => text(m.payload))).toEqual(["s0", "s1"]);
      // Control: the CONNECT's 1 s alone, the session is gone after 2.5 s.
      second.client.end();
      second.stop();
      await new Promise((r) => setTimeout(r, 2500));
      const third = track(probe({ ...opts, store: first.store }));
      await third.connected();
      expect(third.connects[0].sessionPresent).toBe(false);
    });

    if (version === 5) test("[MQTT-3.14.2-2] a Session Expiry on DISCONNECT after a CONNECT with none is refused and ends nothing", async () => {
      const a = track(probe({ port: port(), tls: tls(), version, clean: false }));
      await a.connected();
      expect(() => a.client.end(0, { sessionExpiryInterval: 60 })).toThrow(/\[MQTT-3\.14\.2-2\]/);
      expect(a.client.isConnected).toBe(true);
      let acked = false;
      a.client.publish(`${base}/still`, "x", { qos: 1 }, () => (acked = true));
      await until(() => acked, "PUBACK after the refused end()");
    });

    // 5.0 only: Receive Maximum does not exist in 3.1.1, and mosquitto 2.0.11 stalls 3.1.1
    // QoS 2 delivery once max_inflight_messages is reached (MQTT.js sees the same).
    if (version === 5) test("Receive Maximum: ten QoS 1 and ten QoS 2 at once go out within the broker's quota, all arrive in order", async () => {
      const sub = track(probe({ port: port(), tls: tls(), version }));
      await sub.connected();
      let subbed = false;
      sub.client.subscribe(`${base}/rm`, { qos: 2 }, undefined, () => (subbed = true));
      await until(() => subbed, "SUBACK");
      const a = track(probe({ port: port(), tls: tls(), version }));
      await a.connected();
      if (version === 5) expect(a.client.session.v5!.receiveMaximum).toBe(3); // max_inflight_messages 3
      let acked = 0;
      for (let i = 0; i < 10; i++) a.client.publish(`${base}/rm`, "a" + i, { qos: 1 }, () => acked++);
      for (let i = 0; i < 10; i++) a.client.publish(`${base}/rm`, "b" + i, { qos: 2 }, () => acked++);
      await until(() => acked === 20 && sub.messages.length === 20, "20 messages").catch((e) => {
        throw new Error(e.message + ": acked " + acked + ", received " + sub.messages.length + ", errors " + a.errors.concat(sub.errors).map((x) => x.message).join("; "));
      });
      expect(a.errors).toEqual([]);
      expect(sub.messages.map((m) => text(m.payload))).toEqual(
        Array.from({ length: 10 }, (_x, i) => "a" + i).concat(Array.from({ length: 10 }, (_x, i) => "b" + i)),
      );
    });
  });

  test("5.0 topic aliases: a stream to one topic goes out as topic + alias, then alias only", async () => {
    const sub = track(probe({ port: broker.port, version: 5 }));
    await sub.connected();
    let subbed = false;
    sub.client.subscribe("it/alias/tele/esp32-a1b2c3/SENSOR", { qos: 0 }, undefined, () => (subbed = true));
    await until(() => subbed, "SUBACK");
    const pub = track(probe({ port: broker.port, version: 5, io: RecordingTCP }));
    await pub.connected();
    const rec = RecordingTCP.last!;
    expect(pub.client.session.v5!.topicAliasMaximum).toBe(10);
    for (let i = 0; i < 20; i++) pub.client.publish("it/alias/tele/esp32-a1b2c3/SENSOR", "{\"t\":" + i + "}");
    await until(() => sub.messages.length === 20, "20 messages");
    expect(sub.messages.every((m) => m.topic === "it/alias/tele/esp32-a1b2c3/SENSOR")).toBe(true);
    const ps = rec.packets(5).filter((p) => p.type === 3) as PublishPacket[];
    expect(ps[0].topic).toBe("it/alias/tele/esp32-a1b2c3/SENSOR");
    expect(ps.slice(1).every((p) => p.topic === "" && p.properties!.topicAlias === 1)).toBe(true);
  });

  test.each([4, 5] as const)("two devices with one Client Identifier (v%s): mosquitto drops each on the other's CONNECT [MQTT-3.1.4-2]; the back-off keeps growing instead of a reconnect every initialDelayMs", async (version) => {
    // Without stableAfterMs each client reconnected within its first window (here 100 ms)
    // after every take-over: about 60 connections in these 6 s. With it, a connection that
    // lasts less than stableAfterMs (default 30 s) continues the series: windows of 100,
    // 200, 400, 800, 1600, then 2000 ms each.
    const clientId = "it-twin-" + version + "-" + Math.random().toString(16).slice(2, 8);
    const reconnect = { initialDelayMs: 100, maxDelayMs: 2000 };
    const a = track(probe({ port: broker.port, version, clientId, reconnect }));
    await a.connected();
    const b = track(probe({ port: broker.port, version, clientId, reconnect }));
    await until(() => a.closes >= 1 && b.connects.length >= 1, "the first take-over");
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 6000));
    const connects = a.connects.length + b.connects.length;
    const seconds = (Date.now() - t0) / 1000;
    console.log(`MQTT ${version}: twin client ids: ${connects} connections in ${seconds.toFixed(1)} s (a ${a.connects.length}, b ${b.connects.length})`);
    expect(a.closes + b.closes).toBeGreaterThanOrEqual(2); // they did take each other over
    // Each client: at most the 1 + 6 attempts that 100+200+400+800+1600+2000+2000 ms allow in ~6.5 s, plus the first.
    expect(connects).toBeLessThanOrEqual(18);
  });

  test("TLS verification fails without our CA (verification is on by default)", async () => {
    const a = track(probe({ port: broker.tlsPort!, tls: {}, version: 5, reconnect: false }));
    await until(() => a.errors.length > 0, "a TLS error");
    expect(a.client.isConnected).toBe(false);
    expect(a.errors[0].code).toBe("connection-lost");
    expect(String(a.errors[0].message)).toMatch(/certificate|self.signed|verify/i);
  });
});

/** The DER bytes of the first PEM block of `pem` (what a device holds in flash). */
function pemToDer(pem: string): Uint8Array {
  const body = pem.replace(/-----(BEGIN|END)[^-]*-----/g, "").replace(/\s+/g, "");
  return new Uint8Array(Buffer.from(body, "base64"));
}

// Mutual TLS, as AWS IoT Core and most managed brokers require of devices: mosquitto with
// `require_certificate true` and `use_identity_as_username true` (the certificate's CN is the
// user name), anonymous access off. The client certificate and key are given as DER, the
// form an ESP32 keeps them in.
describeWithPeer("mosquitto", "MQTT client against mosquitto with client certificates (mutual TLS)", () => {
  let mtlsBroker: MosquittoPeer;
  let fix: TlsFixture;
  const own: Probe[] = [];
  beforeAll(async () => {
    fix = makeTlsFixture();
    mtlsBroker = await startMosquitto({
      tls: { certFile: fix.certFile, keyFile: fix.keyFile, caFile: fix.caFile, requireClientCert: true },
      extraConfig: ["use_identity_as_username true", "allow_anonymous false"],
    });
  });
  afterEach(() => {
    while (own.length) own.pop()!.stop();
  });
  afterAll(async () => {
    await mtlsBroker?.stop();
    fix?.cleanup();
  });

  test.each([4, 5] as const)("v%s: connects with a DER client certificate and key, QoS 1 round trip", async (version) => {
    const a = probe({
      port: mtlsBroker.tlsPort!,
      version,
      tls: { ca: fix.ca, clientCertificate: pemToDer(fix.clientCert), clientKey: pemToDer(fix.clientKey) },
    });
    own.push(a);
    await a.connected();
    let granted: number[] = [];
    a.client.subscribe(`it/mtls/v${version}`, { qos: 1 }, undefined, (_e, c) => (granted = c));
    await until(() => granted.length === 1, "SUBACK");
    expect(granted).toEqual([1]);
    let acked = false;
    a.client.publish(`it/mtls/v${version}`, "signed in", { qos: 1 }, (e) => (acked = !e));
    await until(() => acked && a.messages.length === 1, "PUBACK and the message back");
    expect(text(a.messages[0].payload)).toBe("signed in");
  });

  test("without a client certificate, or with one another CA signed, the handshake is refused: an error, no CONNACK", async () => {
    const other = makeTlsFixture();
    try {
      const cases = [
        { ca: fix.ca },
        { ca: fix.ca, clientCertificate: pemToDer(other.clientCert), clientKey: pemToDer(other.clientKey) },
      ];
      for (const tls of cases) {
        const a = probe({ port: mtlsBroker.tlsPort!, version: 5, tls, reconnect: false });
        own.push(a);
        await until(() => a.errors.length > 0, "a TLS error");
        expect(a.connects).toHaveLength(0);
        expect(a.client.isConnected).toBe(false);
        expect(a.errors[0].code).toBe("connection-lost");
        console.log("mutual TLS refused: " + a.errors[0].message);
      }
    } finally {
      other.cleanup();
    }
  });
});
