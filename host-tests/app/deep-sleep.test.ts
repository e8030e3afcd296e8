/*
 * The firmware app's deep-sleep cycle (src/app.ts, sleep.mode "deep") against mosquitto,
 * Node, real sockets, real clock: the app runs on a SimDevice (deep sleep tears it down and
 * boots it again; flash survives) with the simulated board and real TCP. An MQTT.js
 * subscriber counts every SenML record and the retained state messages. Nothing handed to
 * the QoS 1 outbox before a sleep may be lost: what was in flight when the device slept is
 * resent from flash after the wake (MQTT-4.4.0-1) and arrives.
 */
import { getBoard } from "../../boards/index";
import type { TelemetryEvent } from "../../src/app";
import { describeWithPeer, startMosquitto, type MosquittoPeer } from "../support/peers";
import { bootAppDevice, waitFor, watchDevice } from "./node-device";

// SHT3x + BME280: a reading every samplingMs from boot (no 5 s SCD4x start-up).
const board = getBoard("esp32-devkitc");

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
    const w = await watchDevice(broker.port, id);
    const sent: TelemetryEvent[] = [];
    const errors: string[] = [];
    const d = bootAppDevice(board, 5, {
      deviceId: id,
      provisioned: { "mqtt.host": "127.0.0.1", "mqtt.port": broker.port, "telemetry.qos": 1, "sampling.intervalS": 1, "sleep.mode": "deep", "sleep.awakeWindowS": 2, "telemetry.intervalS": 4 },
      overrides: { samplingMs: 400, coapServer: false },
      onSent: (e) => sent.push(e),
      onError: (m) => errors.push(m),
    });
    const device = d.device;
    try {
      await waitFor(() => device.sleeps >= 3, 20_000, "three sleeps", () => ({ sleeps: device.sleeps, boots: device.boots, state: device.state, states: w.states, errors, events: device.events.slice(0, 6) }));
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
      await waitFor(() => w.times.size >= handed, 10_000, `all ${handed} readings at the subscriber`, () => ({ got: w.times.size }));
      // online / offline per wake, in order. QoS 1 may repeat a message (a boot that could not
      // connect in its window leaves its "offline" in the outbox, resent before the next
      // "online"), so repeats are folded; the order may never be broken.
      const folded = w.states.filter((x, i) => i === 0 || x !== w.states[i - 1]);
      expect(folded.slice(0, 6)).toEqual(["online", "offline", "online", "offline", "online", "offline"]);
      // The device waits for the broker's PUBACKs before the radio goes off: no reading is
      // resent after a wake.
      expect(w.records).toBe(w.times.size);
      expect(errors.filter((m) => !/^mqtt: /.test(m))).toEqual([]);
    } finally {
      d.stop();
      await w.end();
    }
  }, 40_000);
});
