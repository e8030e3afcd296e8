/*
 * The firmware app's planned deep sleep (src/app.ts, sleep.mode "deep": the scheduler's
 * SleepPolicy) against mosquitto,
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
import { cheapLinks } from "../support/cheap-board";

// SHT3x + BME280: a reading every samplingMs from boot (no 5 s SCD4x start-up). Its power
// profile is changed so that connecting and booting cost almost nothing: the planner then
// deep-sleeps between readings a second or two apart, and these tests can run its cycle in
// real time against a real broker (the mechanics are under test here; the planner's choices on
// real figures are in host-tests/scheduler).
const base = getBoard("esp32-devkitc");
const board = cheapLinks(base);

describeWithPeer("mosquitto", "the app's planned deep sleep with a real broker", () => {
  let broker: MosquittoPeer;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it("wakes for each reading, says online, sends at QoS 1, says asleep with the wake time, disconnects and sleeps; every reading handed over arrives once", async () => {
    const id = "app-deep-1";
    const w = await watchDevice(broker.port, id);
    const sent: TelemetryEvent[] = [];
    const errors: string[] = [];
    const d = bootAppDevice(board, 5, {
      deviceId: id,
      provisioned: { "mqtt.host": "127.0.0.1", "mqtt.port": broker.port, "telemetry.qos": 1, "sleep.mode": "deep", "sleep.awakeWindowS": 0 },
      overrides: { samplingMs: 2_000, coapServer: false },
      onSent: (e) => sent.push(e),
      onError: (m) => errors.push(m),
    });
    const device = d.device;
    try {
      await waitFor(() => device.sleeps >= 3, 20_000, "three sleeps", () => ({ sleeps: device.sleeps, boots: device.boots, state: device.state, states: w.states, errors, events: device.events.slice(0, 6) }));
      const handed = sent.reduce((n, e) => n + e.seqs.length, 0);
      expect(handed).toBeGreaterThanOrEqual(3); // a reading per wake
      // Woken once per reading: each sleep asks to be woken for the next reading, ~2 s after the
      // boot before it (the drift margin takes 100 ppm off), and boot k comes no sooner. How late
      // the host's timer then fires is the machine's load, not the device's plan, so the upper
      // bound is on the wake the device asked for (its sleep's start + duration), not on the boot.
      const boots = device.events.filter((e) => e.type === "boot").map((e) => e.at);
      expect(boots.length).toBeGreaterThanOrEqual(3);
      for (let i = 1; i < 3; i++) {
        expect(boots[i] - boots[i - 1]).toBeGreaterThanOrEqual(1_900);
        const sleeps = device.events.filter((e) => e.type === "sleep" && e.at >= boots[i - 1] && e.at <= boots[i]);
        expect(sleeps.length).toBe(1);
        const s = sleeps[0] as { at: number; durationMs: number };
        expect(s.at + s.durationMs - boots[i - 1]).toBeGreaterThanOrEqual(1_900);
        expect(s.at + s.durationMs - boots[i - 1]).toBeLessThanOrEqual(2_100);
      }
      await waitFor(() => w.times.size >= handed, 10_000, `all ${handed} readings at the subscriber`, () => ({ got: w.times.size }));
      // online / asleep <time> per wake, in order; never "offline" (no Will: each sleep ends with DISCONNECT).
      const folded = w.states.filter((x, i) => i === 0 || x !== w.states[i - 1]);
      expect(folded.length).toBeGreaterThanOrEqual(6);
      for (let i = 0; i < 6; i++) expect(folded[i]).toMatch(i % 2 ? /^asleep \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/ : /^online$/);
      expect(w.states).not.toContain("offline");
      // The device waits for the broker's PUBACKs before the radio goes off: no reading is resent after a wake.
      expect(w.records).toBe(w.times.size);
      expect(errors.filter((m) => !/^mqtt: /.test(m))).toEqual([]);
    } finally {
      d.stop();
      await w.end();
    }
  }, 40_000);

  it("no false last will across 100 sleep cycles: the broker never publishes \"offline\" for a device that sleeps", async () => {
    const id = "app-deep-100";
    const w = await watchDevice(broker.port, id);
    const d = bootAppDevice(board, 6, {
      deviceId: id,
      provisioned: { "mqtt.host": "127.0.0.1", "mqtt.port": broker.port, "telemetry.qos": 1, "sleep.mode": "deep", "sleep.awakeWindowS": 0 },
      overrides: { samplingMs: 300, coapServer: false },
    });
    const device = d.device;
    try {
      await waitFor(() => device.sleeps >= 100, 110_000, "100 sleeps", () => ({ sleeps: device.sleeps, boots: device.boots, states: w.states.slice(-4) }));
      await waitFor(() => w.states.filter((x) => x.startsWith("asleep")).length >= 100, 10_000, "100 asleep states", () => ({ states: w.states.length }));
      expect(w.states.filter((x) => x === "online").length).toBeGreaterThanOrEqual(100);
      expect(w.states).not.toContain("offline");
      expect(device.crashes).toEqual([]);
    } finally {
      d.stop();
      await w.end();
    }
  }, 150_000);
});
