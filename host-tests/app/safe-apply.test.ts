/*
 * Safe apply in the firmware app (src/app.ts), Node, real sockets, real clock: the app
 * runs on a SimDevice with the simulated board, real TCP/UDP and mosquitto (peers.ts),
 * and is moved by signed config/patch commands (MQTT.js, QoS 1) to a broker port where
 * nothing listens (rolled back after safeApply.timeoutS, the result says so and names
 * the connection error, telemetry continues on the first broker) and to a second
 * mosquitto (kept, the final result and the telemetry arrive there). Issues 6/7; the
 * hook is modules/config/safe-apply-switch.ts.
 */
import * as mqtt from "mqtt";
import { SimDevice } from "../../sim/device";
import { FlashStore } from "../../sim/flash-store";
import { TCP } from "../../sim/node/tcp";
import { UDP } from "../../sim/node/udp";
import { RealClock } from "../../sim/node/real-clock";
import { nodeCrypto } from "../../sim/node/crypto";
import { createSimHardware } from "../../sim/hardware";
import { indoorDay } from "../../sim/scenarios";
import { getBoard } from "../../boards/index";
import { ConfigStore } from "../../modules/config/store";
import { signCommand } from "../../modules/config/auth";
import { startApp, type App } from "../../src/app";
import { describeWithPeer, freePort, startMosquitto, type MosquittoPeer } from "../support/peers";

const KEY = new Uint8Array(32).fill(0x5a);
// SHT3x + BME280: a reading every samplingMs (the sim board's SCD4x measures once per 5 s).
const board = getBoard("esp32-devkitc");

async function waitFor(cond: () => boolean, ms = 10000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function bootApp(deviceId: string, brokerPort: number) {
  const clock = new RealClock();
  const flash = new FlashStore();
  const logs: string[] = [];
  const errors: string[] = [];
  const prov = { "mqtt.host": "127.0.0.1", "mqtt.port": brokerPort, "safeApply.timeoutS": 5, "telemetry.qos": 1 };
  const hardware = createSimHardware(board, clock, indoorDay(3));
  const device = new SimDevice({
    clock,
    flash,
    crypto: nodeCrypto,
    board,
    io: { ...hardware.io, TCP: TCP as never, UDP: UDP as never },
    log: (l) => logs.push(l),
    restartDelayMs: 50,
    app: (platform) =>
      startApp({
        platform,
        board,
        deviceId,
        key: KEY,
        provisioned: prov,
        overrides: { samplingMs: 300, telemetryMs: 300, coapServer: false },
        onError: (m) => errors.push(m),
      }),
  });
  device.start();
  const app = () => device.instance as unknown as App;
  /** The configuration in flash, as the next boot would load it. */
  const stored = () => new ConfigStore({ storage: flash, context: { board, deviceId, provisioned: prov } }).load().config;
  const stop = () => {
    device.stop();
    clock.clearAll();
  };
  return { device, app, logs, errors, stored, stop };
}

let ctr = 0;
function envelope(deviceId: string, command: string, body: unknown): { payload: string; ctr: number } {
  const c = (ctr = Math.max(ctr + 1, Date.now()));
  return { payload: JSON.stringify({ ctr: c, mac: signCommand(nodeCrypto.hmacSha256, KEY, deviceId, command, c, body), body }), ctr: c };
}

/** An MQTT.js watcher on one broker: telemetry arrival times and the device's results. */
async function watch(port: number, id: string) {
  const client = await mqtt.connectAsync({ host: "127.0.0.1", port, reconnectPeriod: 0 });
  const tele: number[] = [];
  const results: any[] = [];
  client.on("message", (t, p) => {
    if (t.endsWith("/tele")) tele.push(Date.now());
    else if (t.includes("/res/")) results.push(JSON.parse(p.toString()));
  });
  await client.subscribeAsync([`xs-iot/${id}/tele`, `xs-iot/${id}/res/#`], { qos: 1 });
  return {
    tele,
    results,
    finals: (c: number) => results.filter((r) => r.ctr === c && r.status !== "pending"),
    /** A signed command, published at QoS 1 (the broker awaits its PUBACK [MQTT-4.3.2-4]). */
    publish: async (command: string, body: unknown) => {
      const e = envelope(id, command, body);
      await client.publishAsync(`xs-iot/${id}/cmd/${command}`, e.payload, { qos: 1 });
      return e.ctr;
    },
    end: () => client.endAsync(),
  };
}

describeWithPeer("mosquitto", "the app's safe apply with real brokers (src/app.ts + modules/config/safe-apply-switch.ts)", () => {
  let a: MosquittoPeer;
  beforeAll(async () => {
    a = await startMosquitto();
  });
  afterAll(async () => {
    await a?.stop();
  });

  it("config/patch to an unreachable broker port: tried, rolled back after safeApply.timeoutS naming ECONNREFUSED, telemetry continues on the first broker", async () => {
    const id = "app-sa-dead";
    const dead = await freePort(); // nothing listens there
    const d = bootApp(id, a.port);
    const w = await watch(a.port, id);
    try {
      await waitFor(() => d.app()?.state === "online", 10000, "first connection");
      await waitFor(() => w.tele.length >= 1, 12000, "telemetry on A");
      const sentAt = Date.now();
      const c = await w.publish("config/patch", { mqtt: { port: dead } });
      // "pending" goes out on A before the app leaves it (the switch waits a scheduler turn).
      await waitFor(() => w.results.some((r) => r.ctr === c && r.status === "pending"), 3000, "pending on A");
      const pending = w.results.find((r) => r.ctr === c && r.status === "pending");
      expect([pending.applied, pending.timeoutS, pending.config.mqtt.port]).toEqual(["trial", 5, dead]);
      await waitFor(() => d.app().config.mqtt.port === dead && d.app().state !== "online", 2000, "the trial on the dead port");
      expect(d.stored().mqtt.port).toBe(a.port); // not stored while being tried

      await waitFor(() => w.finals(c).length > 0, 12000, "final result on A");
      const took = Date.now() - sentAt;
      const final = w.finals(c)[0];
      expect([final.status, final.applied]).toEqual(["rolled-back", "rolled-back"]);
      expect(final.changed).toEqual(["mqtt.port"]);
      expect(final.reasons[0]).toContain("no connection with the new settings within 5 s");
      expect(final.reasons[0]).toContain("ECONNREFUSED"); // failureDetail(): the last connection error
      expect(final.config.mqtt.port).toBe(a.port);
      expect(took).toBeGreaterThanOrEqual(4900);
      expect(took).toBeLessThan(9000);
      // The command's PUBACK went out on A before the switch: the broker did not deliver it again
      // (a redelivery would be answered "replay"). The QoS 1 "pending" answer may arrive twice
      // (resent with DUP on the next connection when its PUBACK came after the switch, [MQTT-4.3.2]).
      await new Promise((r) => setTimeout(r, 500));
      const statuses = w.results.filter((r) => r.ctr === c).map((r) => r.status as string);
      expect(statuses.filter((x) => x !== "pending")).toEqual(["rolled-back"]);

      // Back on A, running and storing the old configuration, telemetry flowing to A again.
      expect(d.app().config.mqtt.port).toBe(a.port);
      expect(d.stored().mqtt.port).toBe(a.port);
      await waitFor(() => d.app().state === "online", 3000, "reconnection to A");
      const n = w.tele.length;
      await waitFor(() => w.tele.length >= n + 2, 4000, "telemetry on A after the rollback");
    } finally {
      await w.end();
      d.stop();
    }
  }, 40000);

  it("config/patch to a working second mosquitto: kept, the final result is published on B, telemetry moves to B", async () => {
    const id = "app-sa-move";
    const b = await startMosquitto();
    const d = bootApp(id, a.port);
    const wa = await watch(a.port, id);
    const wb = await watch(b.port, id);
    try {
      await waitFor(() => d.app()?.state === "online", 10000, "first connection");
      await waitFor(() => wa.tele.length >= 1, 12000, "telemetry on A");
      const c = await wa.publish("config/patch", { mqtt: { port: b.port } });
      await waitFor(() => wa.results.some((r) => r.ctr === c && r.status === "pending"), 3000, "pending on A");
      // The final result goes out through the binding in use then: on B.
      await waitFor(() => wb.finals(c).length > 0, 5000, "final result on B");
      const final = wb.finals(c)[0];
      expect([final.status, final.applied]).toEqual(["ok", "kept"]);
      expect(final.config.mqtt.port).toBe(b.port);
      expect(wa.finals(c)).toEqual([]);
      expect(d.stored().mqtt.port).toBe(b.port);
      expect(d.app().config.mqtt.port).toBe(b.port);
      // Telemetry now arrives at B, not A.
      await new Promise((r) => setTimeout(r, 200));
      const na = wa.tele.length;
      const nb = wb.tele.length;
      await waitFor(() => wb.tele.length >= nb + 2, 4000, "telemetry on B");
      expect(wa.tele.length).toBe(na);
    } finally {
      await wa.end();
      await wb.end();
      d.stop();
      await b.stop();
    }
  }, 40000);
});
