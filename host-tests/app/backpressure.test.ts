/*
 * Telemetry under back-pressure (src/app.ts), Node, real sockets, real clock, mosquitto: the
 * broker is frozen (SIGSTOP) while the device samples every 100 ms at QoS 1, so no PUBACK
 * comes and the MQTT outbox fills (32 messages by default). The app must then hold its
 * readings without encoding them or building an "outbox-full" error per reading, and when
 * the broker resumes (SIGCONT) and acknowledgements free places, send what it held. An
 * MQTT.js subscriber counts the SenML records: every reading the app did not report as
 * dropped arrives.
 */
import * as mqtt from "mqtt";
import { SimDevice } from "../../sim/device";
import { FlashStore } from "../../sim/flash-store";
import { TCP } from "../../sim/node/tcp";
import { RealClock } from "../../sim/node/real-clock";
import { nodeCrypto } from "../../sim/node/crypto";
import { createSimHardware } from "../../sim/hardware";
import { indoorDay } from "../../sim/scenarios";
import { getBoard } from "../../boards/index";
import { startApp, type App } from "../../src/app";
import { describeWithPeer, startMosquitto, type MosquittoPeer } from "../support/peers";

// SHT3x + BME280: a reading every samplingMs from boot.
const board = getBoard("esp32-devkitc");

async function waitFor(cond: () => boolean, ms: number, what: string, detail?: () => unknown): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting for " + what + (detail ? ": " + JSON.stringify(detail()) : ""));
    await new Promise((r) => setTimeout(r, 20));
  }
}

describeWithPeer("mosquitto", "telemetry while the broker does not acknowledge (outbox full)", () => {
  let broker: MosquittoPeer;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    try {
      process.kill(broker.pid, "SIGCONT");
    } catch {
      // already gone
    }
    await broker?.stop();
  });

  it("holds readings while the outbox is full (no encoding, no error per reading) and sends them when PUBACKs free places; nothing lost", async () => {
    const id = "app-backpressure";
    const watcher = await mqtt.connectAsync({ host: "127.0.0.1", port: broker.port, reconnectPeriod: 0 });
    const times = new Set<number>();
    watcher.on("message", (_topic, payload) => {
      let bt = 0;
      for (const r of JSON.parse(payload.toString()) as { bt?: number; t?: number; n: string }[]) {
        if (r.bt !== undefined) bt = r.bt;
        if (r.n === "temperature") times.add(Math.round((bt + (r.t ?? 0)) * 1000));
      }
    });
    await watcher.subscribeAsync(`xs-iot/${id}/tele`, { qos: 1 });

    const clock = new RealClock();
    const hardware = createSimHardware(board, clock, indoorDay(11));
    const errors: string[] = [];
    let app: App | undefined;
    const device = new SimDevice({
      clock,
      flash: new FlashStore(),
      crypto: nodeCrypto,
      board,
      io: { ...hardware.io, TCP: TCP as never },
      log: () => undefined,
      app: (platform) =>
        (app = startApp({
          platform,
          board,
          deviceId: id,
          provisioned: { "mqtt.host": "127.0.0.1", "mqtt.port": broker.port, "telemetry.qos": 1, "mqtt.keepAliveS": 60 },
          overrides: { samplingMs: 100, coapServer: false },
          onError: (m) => errors.push(m),
        })),
    });
    try {
      device.start();
      await waitFor(() => app?.state === "online" && app.acked >= 3, 10_000, "the first acknowledged readings");
      process.kill(broker.pid, "SIGSTOP");
      // 32 unacknowledged messages fill the outbox in ~3.2 s; the broker stays frozen 1.5 s more.
      await waitFor(() => app!.mqtt!.outbox.count >= 32, 8_000, "a full outbox", () => ({ count: app!.mqtt!.outbox.count }));
      // Watch what the app asks of the client meanwhile: nothing (it does not try, fail and retry).
      const client = app!.mqtt!;
      const publish = client.publish;
      let attempts = 0;
      client.publish = function (this: typeof client, ...args: Parameters<typeof publish>) {
        attempts++;
        return publish.apply(this, args);
      } as typeof publish;
      await new Promise((r) => setTimeout(r, 1_500));
      client.publish = publish;
      expect(attempts).toBe(0);
      const held = app!.readings - app!.sent;
      expect(held).toBeGreaterThanOrEqual(10); // readings waiting in the app, not in the outbox
      expect(app!.mqtt!.outbox.count).toBe(32);
      expect(errors.filter((m) => /outbox/i.test(m))).toEqual([]); // held quietly, not refused and retried

      process.kill(broker.pid, "SIGCONT");
      await waitFor(() => app!.sent === app!.readings - app!.dropped && app!.acked === app!.sent, 15_000, "everything sent and acknowledged", () => ({ readings: app!.readings, sent: app!.sent, acked: app!.acked, dropped: app!.dropped }));
      const delivered = app!.acked;
      await waitFor(() => times.size >= delivered, 5_000, `all ${delivered} readings at the subscriber`, () => ({ got: times.size }));
      expect(app!.dropped).toBe(0); // 5 s at 10 readings/s stays within the 32 outbox + 32 buffered places
      expect(errors).toEqual([]);
    } finally {
      try {
        process.kill(broker.pid, "SIGCONT");
      } catch {
        // gone
      }
      device.stop();
      clock.clearAll();
      await watcher.endAsync();
    }
  }, 45_000);
});
