/*
 * MQTT 5's session across deep sleep (issue 19), against mosquitto: the app CONNECTs with a
 * Session Expiry of 1 s (mqtt.sessionExpiryS) and deep-sleeps several seconds between readings.
 * Before each sleep its DISCONNECT carries a Session Expiry Interval covering the sleep
 * (MQTT 5.0 §3.14.2.2.2), so the broker keeps the session past the CONNECT's own expiry: on the
 * wake the CONNACK says Session Present, the subscription to the command topic was kept (the
 * commands published while the device slept were queued for it at QoS 1) and they are
 * delivered and answered on the wake; no Will ("offline") is published.
 * Node, real sockets, real clock: the app on a SimDevice (deep sleep = reboot; flash and RTC
 * memory survive).
 */
import * as net from "node:net";
import * as mqtt from "mqtt";
import { getBoard } from "../../boards/index";
import { signCommand } from "../../modules/config/auth";
import { hmacSha256 } from "../../modules/platform/sha256";
import { describeWithPeer, startMosquitto, type MosquittoPeer } from "../support/peers";
import { MqttDecoder, PacketType } from "../support/mqtt-codec";
import { bootAppDevice, expectAsleepNotOffline, waitFor } from "./node-device";
import { cheapLinks } from "../support/cheap-board";

/**
 * A TCP relay in front of the broker that reads what the device sends: each CONNECT and, for
 * each DISCONNECT, its Session Expiry Interval (§3.14.2.2.2; undefined when absent), with the time.
 */
async function disconnectWatch(brokerPort: number) {
  const seen: { type: "connect" | "disconnect"; at: number; expiryS?: number }[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((device) => {
    const broker = net.connect(brokerPort, "127.0.0.1");
    const d = new MqttDecoder({ version: 5 });
    sockets.push(device, broker);
    device.on("data", (b) => {
      broker.write(b);
      d.feed(new Uint8Array(b));
      for (let p; (p = d.next()) !== undefined; ) {
        if (p.type === PacketType.CONNECT) seen.push({ type: "connect", at: Date.now() });
        if (p.type === PacketType.DISCONNECT) seen.push({ type: "disconnect", at: Date.now(), expiryS: p.properties?.sessionExpiryInterval });
      }
    });
    broker.on("data", (b) => device.write(b));
    device.on("close", () => broker.destroy());
    broker.on("close", () => device.destroy());
    device.on("error", () => broker.destroy());
    broker.on("error", () => device.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    close: () => {
      for (const x of sockets) x.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

// Booting and connecting cost almost nothing on this board: the planner deep-sleeps between
// readings seconds apart (as in ./deep-sleep.test.ts).
const base = getBoard("esp32-devkitc");
const board = cheapLinks(base);
const KEY = new Uint8Array(32).map((_, i) => (i * 13 + 1) & 0xff);

describeWithPeer("mosquitto", "MQTT 5 Session Expiry across deep sleep (§3.14.2.2.2)", () => {
  let broker: MosquittoPeer;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it("a sleep longer than the CONNECT's expiry: the session is kept by the DISCONNECT's, Session Present on the wake, the commands queued at QoS 1 while asleep are delivered and answered, no \"offline\"", async () => {
    const id = "sx-" + (Date.now() % 100000);
    const watcher = await mqtt.connectAsync({ host: "127.0.0.1", port: broker.port, reconnectPeriod: 0 });
    const answers: { at: number; boots: number; payload: { status: string; ctr?: number; uptimeMs?: number } }[] = [];
    const states: string[] = [];
    const errors: string[] = [];
    const d = bootAppDevice(board, 11, {
      deviceId: id,
      key: KEY,
      provisioned: { "mqtt.host": "127.0.0.1", "mqtt.port": broker.port, protocol: "mqtt5", "mqtt.sessionExpiryS": 1, "telemetry.qos": 1, "sleep.mode": "deep", "sleep.awakeWindowS": 1 },
      overrides: { samplingMs: 6_000, coapServer: false },
      onError: (m) => errors.push(m),
    });
    const device = d.device;
    watcher.on("message", (topic, payload) => {
      if (topic.endsWith("/state")) states.push(payload.toString());
      else answers.push({ at: Date.now(), boots: device.boots, payload: JSON.parse(payload.toString()) });
    });
    await watcher.subscribeAsync([`xs-iot/${id}/res/#`, `xs-iot/${id}/state`], { qos: 1 });
    try {
      // The first boot: a new session (the broker never saw this client id), then the first sleep.
      await waitFor(() => device.sleeps >= 1 && device.state === "asleep", 15_000, "the first sleep", () => ({ state: device.state, errors }));
      const sleep = device.events.filter((e) => e.type === "sleep").pop()!;
      expect(sleep.durationMs!).toBeGreaterThan(3_000); // well past the CONNECT's 1 s
      const boots = device.boots;
      // Three commands while it sleeps, QoS 1: the broker queues them in the kept session.
      for (let ctr = 1; ctr <= 3; ctr++) {
        const mac = signCommand(hmacSha256, KEY, id, "ping", ctr, null);
        await watcher.publishAsync(`xs-iot/${id}/cmd/ping`, JSON.stringify({ ctr, mac, body: null }), { qos: 1 });
      }
      expect(device.state).toBe("asleep");
      const queuedAt = Date.now();
      await waitFor(() => answers.length >= 3, 20_000, "three answers", () => ({ answers, state: device.state, boots: device.boots, errors }));
      // Answered on the wake, in the order sent, after the CONNECT's own expiry had long passed.
      expect(answers.map((a) => [a.payload.status, a.payload.ctr])).toEqual([["ok", 1], ["ok", 2], ["ok", 3]]);
      for (const a of answers) expect(a.boots).toBe(boots + 1);
      expect(answers[0].at - queuedAt).toBeGreaterThan(1_000);
      expect(d.app().sessionPresent).toBe(true); // the wake resumed the session
      // Asleep is not offline: no Will across the sleeps.
      await waitFor(() => device.sleeps >= 2, 15_000, "the second sleep");
      expect(states).toContain("online");
      expectAsleepNotOffline(states);
      expect(errors.filter((m) => !/^mqtt: (connection to|cannot connect)/.test(m))).toEqual([]);
    } finally {
      d.stop();
      await watcher.endAsync();
    }
  }, 60_000);

  // docs/moddable.md, "Readings waiting", fault 1, over MQTT 5: with telemetry batched the wakes
  // between two reports take a reading with the radio off, so the DISCONNECT's Session Expiry
  // must last to the next report's CONNECT, not to the next reading (before: 1 s + the 120 s
  // margin; a report an hour away would have found the session gone and the Will sent).
  it("sleep.mode light with readings between reports (radio off): the DISCONNECT's Session Expiry lasts to the next report's CONNECT; Session Present, no \"offline\"", async () => {
    const id = "sxl-" + (Date.now() % 100000);
    const relay = await disconnectWatch(broker.port);
    const watcher = await mqtt.connectAsync({ host: "127.0.0.1", port: broker.port, reconnectPeriod: 0 });
    const states: string[] = [];
    watcher.on("message", (_topic, payload) => states.push(payload.toString()));
    await watcher.subscribeAsync(`xs-iot/${id}/state`, { qos: 1 });
    const errors: string[] = [];
    // A reading every second, a report every 8 s (± 0.8 s): 7 wakes without radio between two radio wakes.
    const d = bootAppDevice(board, 12, {
      deviceId: id,
      key: KEY,
      provisioned: { "mqtt.host": "127.0.0.1", "mqtt.port": relay.port, protocol: "mqtt5", "mqtt.sessionExpiryS": 1, "telemetry.qos": 1, "sleep.mode": "light", "sleep.awakeWindowS": 0 },
      overrides: { samplingMs: 1_000, telemetryMs: 8_000, coapServer: false },
      onError: (m) => errors.push(m),
    });
    const more = () => ({ seen: relay.seen, state: d.device.state, errors });
    try {
      // connect, disconnect (after the boot), connect (the report), disconnect
      await waitFor(() => relay.seen.filter((x) => x.type === "disconnect").length >= 2, 20_000, "two DISCONNECTs", more);
      expect(relay.seen.slice(0, 4).map((x) => x.type)).toEqual(["connect", "disconnect", "connect", "disconnect"]);
      const [, off, on] = relay.seen;
      // Its Session Expiry without the wake's 120 s margin reaches the report's CONNECT: up to the
      // report's latest, 8.8 s after the boot (before: 1 s, the next reading).
      expect(off.expiryS! - 120).toBeGreaterThanOrEqual(8);
      expect((off.expiryS! - 120) * 1000).toBeGreaterThanOrEqual(on.at - off.at);
      expect(off.expiryS! - 120).toBeLessThanOrEqual(10);
      expect(d.app().sessionPresent).toBe(true); // the report's wake resumed the session
      expect(d.device.boots).toBe(1); // light sleep: no reboot
      expectAsleepNotOffline(states);
      expect(errors.filter((m) => !/^mqtt: (connection to|cannot connect)/.test(m))).toEqual([]);
    } finally {
      d.stop();
      await watcher.endAsync();
      await relay.close();
    }
  }, 40_000);
});
