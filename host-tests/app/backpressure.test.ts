/*
 * Telemetry under back-pressure (src/app.ts), Node, real sockets, real clock, mosquitto: the
 * broker is frozen (SIGSTOP) while the device samples every 100 ms at QoS 1, so no PUBACK
 * comes and the MQTT outbox fills (32 messages by default). The app must then hold its
 * readings without encoding them or building an "outbox-full" error per reading, and when
 * the broker resumes (SIGCONT) and acknowledgements free places, send what it held. An
 * MQTT.js subscriber counts the SenML records: every reading the app did not report as
 * dropped arrives.
 */
import { getBoard } from "../../boards/index";
import { describeWithPeer, startMosquitto, type MosquittoPeer } from "../support/peers";
import { bootAppDevice, waitFor, watchDevice } from "./node-device";

// SHT3x + BME280: a reading every samplingMs from boot.
const board = getBoard("esp32-devkitc");

/** Resumes a broker the test froze (SIGSTOP), whatever state it is in. */
function resume(broker: MosquittoPeer | undefined): void {
  try {
    if (broker) process.kill(broker.pid, "SIGCONT");
  } catch {
    // already gone
  }
}

describeWithPeer("mosquitto", "telemetry while the broker does not acknowledge (outbox full)", () => {
  let broker: MosquittoPeer;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    resume(broker);
    await broker?.stop();
  });

  it("holds readings while the outbox is full (no encoding, no error per reading) and sends them when PUBACKs free places; nothing lost", async () => {
    const id = "app-backpressure";
    const w = await watchDevice(broker.port, id);
    const errors: string[] = [];
    const d = bootAppDevice(board, 11, {
      deviceId: id,
      provisioned: { "mqtt.host": "127.0.0.1", "mqtt.port": broker.port, "telemetry.qos": 1, "mqtt.keepAliveS": 60 },
      overrides: { samplingMs: 100, coapServer: false },
      onError: (m) => errors.push(m),
    });
    const app = () => d.app();
    try {
      await waitFor(() => app()?.state === "online" && app().acked >= 3, 10_000, "the first acknowledged readings");
      process.kill(broker.pid, "SIGSTOP");
      // 32 unacknowledged messages fill the outbox in ~3.2 s; the broker stays frozen 1.5 s more.
      await waitFor(() => app().mqtt!.outbox.count >= 32, 8_000, "a full outbox", () => ({ count: app().mqtt!.outbox.count }));
      // Watch what the app asks of the client meanwhile: nothing (it does not try, fail and retry).
      const client = app().mqtt!;
      const publish = client.publish;
      let attempts = 0;
      client.publish = function (this: typeof client, ...args: Parameters<typeof publish>) {
        attempts++;
        return publish.apply(this, args);
      } as typeof publish;
      await new Promise((r) => setTimeout(r, 1_500));
      client.publish = publish;
      expect(attempts).toBe(0);
      const held = app().readings - app().sent;
      expect(held).toBeGreaterThanOrEqual(10); // readings waiting in the app, not in the outbox
      expect(app().mqtt!.outbox.count).toBe(32);
      expect(errors.filter((m) => /outbox/i.test(m))).toEqual([]); // held quietly, not refused and retried

      process.kill(broker.pid, "SIGCONT");
      await waitFor(() => app().sent === app().readings - app().dropped && app().acked === app().sent, 15_000, "everything sent and acknowledged", () => ({ readings: app().readings, sent: app().sent, acked: app().acked, dropped: app().dropped }));
      const delivered = app().acked;
      await waitFor(() => w.times.size >= delivered, 5_000, `all ${delivered} readings at the subscriber`, () => ({ got: w.times.size }));
      expect(app().dropped).toBe(0); // 5 s at 10 readings/s stays within the 32 outbox + 32 buffered places
      expect(errors).toEqual([]);
    } finally {
      resume(broker);
      d.stop();
      await w.end();
    }
  }, 45_000);
});

describeWithPeer("mosquitto", "telemetry while the broker does not acknowledge, each reading split (Maximum Packet Size 160)", () => {
  let broker: MosquittoPeer;
  beforeAll(async () => {
    broker = await startMosquitto({ extraConfig: ["max_packet_size 160"] });
  });
  afterAll(async () => {
    resume(broker);
    await broker?.stop();
  });

  // Issue 15: a split reading was handed to the outbox part by part, the outbox filled between
  // its parts, and the reading failed with "MQTT outbox full"; a buffer of readings that needs
  // more messages than the whole outbox holds must still go, a part of it at a time.
  it("never half a reading in the outbox: nothing fails, the buffer is thinned past 32, the rest arrives", async () => {
    const id = "app-split-pressure";
    const w = await watchDevice(broker.port, id);
    const errors: string[] = [];
    const sent: { seqs: number[]; messages: number }[] = [];
    const d = bootAppDevice(board, 12, {
      deviceId: id,
      provisioned: { protocol: "mqtt5", "mqtt.host": "127.0.0.1", "mqtt.port": broker.port, "telemetry.qos": 1, "mqtt.keepAliveS": 60 },
      overrides: { samplingMs: 100, coapServer: false },
      onError: (m) => errors.push(m),
      onSent: (e) => sent.push(e),
    });
    const app = () => d.app();
    try {
      await waitFor(() => app()?.state === "online" && app().acked >= 3, 10_000, "the first acknowledged readings");
      expect(app().mqtt!.serverProperties?.maximumPacketSize).toBe(160);
      expect(sent[0].seqs).toEqual([1]);
      expect(sent[0].messages).toBeGreaterThan(1); // one reading, several PUBLISHes
      process.kill(broker.pid, "SIGSTOP");
      await waitFor(() => app().thinned > 0, 15_000, "readings thinned while the outbox is full", () => ({ count: app().mqtt!.outbox.count, readings: app().readings }));
      process.kill(broker.pid, "SIGCONT");
      await waitFor(() => app().sent + app().thinned === app().readings && app().acked === app().sent, 20_000, "everything sent and acknowledged", () => ({ readings: app().readings, sent: app().sent, acked: app().acked, thinned: app().thinned }));
      expect(app().failed).toBe(0);
      expect(errors.filter((m) => /outbox full|failed/i.test(m))).toEqual([]);
      const delivered = app().acked;
      await waitFor(() => w.times.size >= delivered, 5_000, `all ${delivered} readings at the subscriber`, () => ({ got: w.times.size }));
    } finally {
      resume(broker);
      d.stop();
      await w.end();
    }
  }, 60_000);
});
