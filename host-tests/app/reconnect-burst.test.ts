/*
 * The burst at a reconnect over MQTT-SN (docs/moddable.md, "Readings waiting", fault 2), against
 * our gateway (sim/node/mqttsn-gateway.ts) in front of mosquitto: sleep.mode light, a reading a
 * second, a report every 8 s (a batch of 8 readings, three messages of ~600 octets), Home
 * Assistant discovery on (six configs of ~630 octets). Five config/patch commands are published
 * while the device is asleep at the gateway (§6.14); at the report's wake the batch goes to the
 * outbox, the awake PINGREQ brings the commands, each answered (~800 octets) and followed by the
 * retained configuration (~700), and at the CONNECT that follows the device publishes state
 * "online", the configuration and the six discovery configs: more than MQTT-SN's outbox holds
 * (16 messages, 8,192 octets); the fifth answer is the first to meet it full. Before, the device
 * logged "config: cannot publish .../res/config/patch: mqttsn: outbox full" and the operator
 * never heard back. Now every answer arrives at an MQTT.js subscriber, every retained message
 * too, and every reading: what met the full outbox waited in the config binding (answers and
 * retained state first) and the readings in the app, until acknowledgements freed room.
 * Node, real sockets, real clock.
 */
import * as mqtt from "mqtt";
import { getBoard } from "../../boards/index";
import { signCommand } from "../../modules/config/auth";
import { hmacSha256 } from "../../modules/platform/sha256";
import type { App } from "../../src/app";
import { describeWithPeer, startMosquitto, type MosquittoPeer } from "../support/peers";
import { startGateway } from "../mqttsn/interop-support";
import { bootAppDevice, waitFor } from "./node-device";
import { cheapLinks } from "../support/cheap-board";

// Opening the links costs next to nothing on this board: the planner lets them go between
// readings (as in ./mqttsn-sleep.test.ts).
const base = getBoard("sim"); // six quantities: six discovery configs, as in the mcsim run
const board = cheapLinks(base);
const KEY = new Uint8Array(32).map((_, i) => (i * 7 + 3) & 0xff);

describeWithPeer("mosquitto", "the burst at a reconnect (a full outbox): MQTT-SN with our gateway, MQTT 3.1.1, mosquitto", () => {
  let broker: MosquittoPeer;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  /**
   * `n` config/patch commands published while the device's links are closed (asleep at the
   * gateway over MQTT-SN; over MQTT the broker queues them in the persistent session), read at
   * the report's wake with the connection's burst.
   */
  async function burst(protocol: "mqttsn" | "mqtt311", n: number) {
    const id = (protocol === "mqttsn" ? "snf-" : "mqf-") + (Date.now() % 100000);
    const lines: string[] = [];
    const { gateway, port } = protocol === "mqttsn" ? await startGateway({ broker: `mqtt://127.0.0.1:${broker.port}`, retryMs: 500, maxRetries: 5 }, lines) : { gateway: undefined, port: broker.port };
    const watcher = await mqtt.connectAsync({ host: "127.0.0.1", port: broker.port, reconnectPeriod: 0 });
    const answers: { status: string; ctr?: number; changed?: string[] }[] = [];
    const configs: number[] = []; // mqtt.keepAliveS of each retained configuration received
    const discovery = new Map<string, number>();
    const times = new Set<number>();
    let records = 0;
    watcher.on("message", (topic, payload) => {
      const text = payload.toString();
      if (topic.startsWith("homeassistant/")) discovery.set(topic, (discovery.get(topic) ?? 0) + 1);
      else if (topic.endsWith("/config")) configs.push(JSON.parse(text).mqtt.keepAliveS);
      else if (topic.includes("/res/")) answers.push(JSON.parse(text));
      else if (topic.endsWith("/tele")) {
        // SenML JSON: base time in the first record, relative times after (a pack of up to 3 readings).
        const pack = JSON.parse(text) as { bt?: number; t?: number; n?: string }[];
        let bt = 0;
        for (const r of pack) {
          if (r.bt !== undefined) bt = r.bt;
          if (r.n === "temperature") {
            records++;
            times.add(bt + (r.t ?? 0));
          }
        }
      }
    });
    await watcher.subscribeAsync([`xs-iot/${id}/res/#`, `xs-iot/${id}/config`, `xs-iot/${id}/tele`, `homeassistant/sensor/${id}/#`], { qos: 1 });
    const errors: string[] = [];
    const log: string[] = [];
    const N = n;
    const { device, app: appOf, stop } = bootAppDevice(board, 21, {
      deviceId: id,
      key: KEY,
      provisioned: { protocol, "mqtt.host": "127.0.0.1", "mqtt.port": port, "telemetry.qos": 1, "sleep.mode": "light", "sleep.awakeWindowS": 0 },
      overrides: { samplingMs: 1_000, telemetryMs: 8_000, coapServer: false, homeAssistant: true },
      onError: (m) => errors.push(m),
    }, (l) => log.push(l));
    const app = () => appOf() as App | undefined;
    const more = () => ({ state: device.state, answers, configs, acked: app()?.acked, readings: app()?.readings, records, errors, log: log.slice(-12), lines: lines.slice(-12) });
    try {
      // The links let go after the boot's connection (its discovery configs acknowledged): asleep at the gateway (§6.14), or disconnected.
      await waitFor(() => log.some((l) => l.includes("sleep: links closed")) && (protocol !== "mqttsn" || lines.some((l) => l.includes(`${id} DISCONNECT: asleep for`))), 20_000, "the first sleep", more);
      const connects = lines.filter((l) => l.includes(`CONNECT "${id}"`)).length;
      const tele = records;
      // The commands while it sleeps: the gateway buffers them (the broker's session over MQTT); the report's wake brings them.
      for (let ctr = 1; ctr <= N; ctr++) {
        const body = { mqtt: { keepAliveS: 40 + 5 * ctr } };
        await watcher.publishAsync(`xs-iot/${id}/cmd/config/patch`, JSON.stringify({ ctr, mac: signCommand(hmacSha256, KEY, id, "config/patch", ctr, body), body }), { qos: 1 });
      }
      await waitFor(() => answers.length >= N, 25_000, N + " answers", more);
      if (protocol === "mqttsn") {
        // The wake: PINGREQ with the commands buffered, then a CONNECT, and the burst with it.
        expect(lines.some((l) => l.includes(`${id} awake (PINGREQ), ${N} buffered`))).toBe(true);
        expect(lines.filter((l) => l.includes(`CONNECT "${id}"`)).length).toBeGreaterThan(connects);
      }
      // The burst met a full outbox (so this test is about it), and nothing was lost to it.
      if (process.env.XSIOT_SHOW_GATEWAY) console.log(log.join("\n") + "\n----\n" + lines.join("\n"));
      expect(log.filter((l) => l.includes("config: the outbox is full: ")).length).toBeGreaterThan(0);
      expect(log.filter((l) => l.includes("cannot publish") || (l.includes("outbox full") && !l.includes("config: the outbox is full: ")))).toEqual([]);
      expect(answers.map((a) => [a.status, a.ctr, a.changed])).toEqual(Array.from({ length: N }, (_, i) => i + 1).map((ctr) => ["ok", ctr, ["mqtt.keepAliveS"]]));
      // The retained configuration reflecting the last patch reached the broker.
      await waitFor(() => configs[configs.length - 1] === 40 + 5 * N, 10_000, "the configuration after the patches", more);
      // Every reading the device took up to the wake's report arrives, once each; none failed, none thinned.
      await waitFor(() => app()!.acked >= 8 && records === app()!.acked && app()!.buffered === 0, 15_000, "the report's readings at the broker", more);
      expect(records).toBeGreaterThan(tele);
      expect(times.size).toBe(records);
      expect(app()!.failed).toBe(0);
      expect(app()!.thinned).toBe(0);
      // Home Assistant's six discovery configs went on both connections (retained, re-sent at each).
      // (They went last over MQTT-SN: the outbox sends one message at a time, §6.6.)
      await waitFor(() => discovery.size === 6 && [...discovery.values()].every((x) => x >= 2), 10_000, "six discovery configs twice", () => ({ discovery: [...discovery], ...more() }));
      expect(errors).toEqual([]);
    } finally {
      if (device.state !== "off") stop();
      await watcher.endAsync();
      await gateway?.close();
    }
  }

  it("MQTT-SN: five commands buffered while asleep, Home Assistant on, a batch of 8 waiting: every answer, retained message and reading arrives; nothing 'cannot publish'", async () => {
    // The fifth's answer and configuration meet the full outbox (16 messages, 8,192 octets), then the connection's own.
    await burst("mqttsn", 5);
  }, 60_000);

  it("MQTT 3.1.1: ten commands queued in the broker's session while the links were closed, Home Assistant on, a batch of 8: every answer, retained message and reading arrives", async () => {
    // At the CONNACK the connection's own messages and the batch (~6.5 KB), then ten answers and
    // configurations (~1.5 KB a command) in one read: past the outbox's 16,384 bytes.
    await burst("mqtt311", 10);
  }, 60_000);
});
