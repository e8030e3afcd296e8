/*
 * The firmware app's deep-sleep cycle (src/app.ts, sleep.mode "deep") against mosquitto,
 * Node, real sockets, real clock: the app runs on a SimDevice (deep sleep tears it down and
 * boots it again; flash survives) with the simulated board and real TCP. An MQTT.js
 * subscriber counts every SenML record and the retained state messages. Nothing handed to
 * the QoS 1 outbox before a sleep may be lost: what was in flight when the device slept is
 * resent from flash after the wake (MQTT-4.4.0-1) and arrives.
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
import { startApp, type TelemetryEvent } from "../../src/app";
import { describeWithPeer, startMosquitto, type MosquittoPeer } from "../support/peers";

// SHT3x + BME280: a reading every samplingMs from boot (no 5 s SCD4x start-up).
const board = getBoard("esp32-devkitc");

async function waitFor(cond: () => boolean, ms: number, what: string, detail?: () => unknown): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting for " + what + (detail ? ": " + JSON.stringify(detail()) : ""));
    await new Promise((r) => setTimeout(r, 20));
  }
}

describeWithPeer("mosquitto", "the app's deep-sleep cycle with a real broker", () => {
  let broker: MosquittoPeer;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it("wakes every telemetry.intervalS, says online, sends its readings at QoS 1, says offline and sleeps; every reading handed over arrives", async () => {
    const id = "app-deep-1";
    const watcher = await mqtt.connectAsync({ host: "127.0.0.1", port: broker.port, reconnectPeriod: 0 });
    const times = new Set<number>();
    let records = 0;
    const states: string[] = [];
    watcher.on("message", (topic, payload) => {
      if (topic.endsWith("/tele")) {
        const pack = JSON.parse(payload.toString()) as { bt?: number; t?: number; n: string }[];
        let bt = 0;
        for (const r of pack) {
          if (r.bt !== undefined) bt = r.bt;
          if (r.n === "temperature") {
            records++;
            times.add(Math.round((bt + (r.t ?? 0)) * 1000));
          }
        }
      } else if (topic.endsWith("/state")) states.push(payload.toString());
    });
    await watcher.subscribeAsync([`xs-iot/${id}/tele`, `xs-iot/${id}/state`], { qos: 1 });

    const clock = new RealClock();
    const flash = new FlashStore();
    const hardware = createSimHardware(board, clock, indoorDay(5));
    const sent: TelemetryEvent[] = [];
    const errors: string[] = [];
    const device = new SimDevice({
      clock,
      flash,
      crypto: nodeCrypto,
      board,
      io: { ...hardware.io, TCP: TCP as never },
      log: () => undefined,
      app: (platform) =>
        startApp({
          platform,
          board,
          deviceId: id,
          provisioned: { "mqtt.host": "127.0.0.1", "mqtt.port": broker.port, "telemetry.qos": 1, "sampling.intervalS": 1, "sleep.mode": "deep", "sleep.awakeWindowS": 2, "telemetry.intervalS": 4 },
          overrides: { samplingMs: 400, coapServer: false },
          onSent: (e) => sent.push(e),
          onError: (m) => errors.push(m),
        }),
    });
    try {
      device.start();
      await waitFor(() => device.sleeps >= 3, 20_000, "three sleeps", () => ({ sleeps: device.sleeps, boots: device.boots, state: device.state, states, errors, events: device.events.slice(0, 6) }));
      const handed = sent.reduce((n, e) => n + e.seqs.length, 0);
      expect(handed).toBeGreaterThanOrEqual(9); // ~5 readings per 2 s awake window, three windows
      // Woken once per telemetry period: boot k starts ~4 s after boot k-1.
      const boots = device.events.filter((e) => e.type === "boot").map((e) => e.at);
      expect(boots.length).toBeGreaterThanOrEqual(3);
      for (let i = 1; i < 3; i++) {
        expect(boots[i] - boots[i - 1]).toBeGreaterThanOrEqual(3_900);
        expect(boots[i] - boots[i - 1]).toBeLessThan(6_000); // timers can fire late on a loaded machine
      }
      // Every reading handed to the outbox before the third sleep reaches the subscriber; what
      // was in flight at a sleep comes after the next wake, so wait for the fourth boot's link.
      await waitFor(() => times.size >= handed, 10_000, `all ${handed} readings at the subscriber (got ${times.size})`);
      expect(records).toBeGreaterThanOrEqual(times.size); // QoS 1: duplicates allowed, losses not
      // online / offline per wake, in order. QoS 1 may repeat a message (a boot that could not
      // connect in its window leaves its "offline" in the outbox, resent before the next
      // "online"), so repeats are folded; the order may never be broken.
      const folded = states.filter((x, i) => i === 0 || x !== states[i - 1]);
      expect(folded.slice(0, 6)).toEqual(["online", "offline", "online", "offline", "online", "offline"]);
      // The device waits for the broker's PUBACKs before the radio goes off: no reading is
      // resent after a wake.
      expect(records).toBe(times.size);
      expect(errors.filter((m) => !/^mqtt: /.test(m))).toEqual([]);
    } finally {
      device.stop();
      clock.clearAll();
      await watcher.endAsync();
    }
  }, 40_000);
});
