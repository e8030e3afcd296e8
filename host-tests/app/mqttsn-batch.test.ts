/*
 * Readings waiting for a long telemetry period over MQTT-SN (telemetry.maxBatch; docs/app.md
 * "Readings waiting"), against our gateway (sim/node/mqttsn-gateway.ts) in front of mosquitto:
 * a reading every 300 ms, a 30 s telemetry period, batches of 4. Each batch goes as soon as 4
 * readings wait, split into datagrams of at most 1,024 octets (MQTT-SN has no fragmentation),
 * and every reading arrives at an MQTT.js subscriber of the broker, once. Before the bound the
 * first telemetry came at 30 s with ~100 readings. Node, real sockets, real clock.
 */
import * as mqtt from "mqtt";
import { getBoard } from "../../boards/index";
import { decodeSenmlJson } from "../../modules/telemetry/senml";
import type { TelemetryEvent } from "../../src/app";
import { describeWithPeer, startMosquitto, type MosquittoPeer } from "../support/peers";
import { startGateway } from "../mqttsn/interop-support";
import { bootAppDevice, waitFor } from "./node-device";

describeWithPeer("mosquitto", "readings waiting for the telemetry period over MQTT-SN (telemetry.maxBatch) with our gateway", () => {
  let broker: MosquittoPeer;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it("300 ms sampling, 30 s period, maxBatch 4: a batch of 4 goes as soon as it is full; every reading arrives at the broker once; at most 4 wait", async () => {
    const id = "snb-" + (Date.now() % 100000);
    const lines: string[] = [];
    const { gateway, port } = await startGateway({ broker: `mqtt://127.0.0.1:${broker.port}` }, lines);
    const watcher = await mqtt.connectAsync({ host: "127.0.0.1", port: broker.port, reconnectPeriod: 0 });
    const times: number[] = [];
    const datagrams: number[] = [];
    const sent: TelemetryEvent[] = [];
    const errors: string[] = [];
    let most = 0;
    watcher.on("message", (_topic, payload) => {
      datagrams.push(payload.length);
      const d = decodeSenmlJson(payload);
      if (!d.ok) throw new Error("not SenML JSON: " + JSON.stringify(d.error));
      for (const r of d.records) if (r.n.endsWith(":temperature")) times.push(r.t);
    });
    await watcher.subscribeAsync(`xs-iot/${id}/tele`, { qos: 1 });
    const dev = bootAppDevice(getBoard("sim"), 21, {
      deviceId: id,
      provisioned: { protocol: "mqttsn", "mqtt.host": "127.0.0.1", "mqtt.port": port, "telemetry.qos": 1, "telemetry.maxBatch": 4 },
      overrides: { samplingMs: 300, telemetryMs: 30_000, coapServer: false },
      onReading: () => (most = Math.max(most, dev.app().buffered)),
      onSent: (e) => sent.push(e),
      onError: (m) => errors.push(m),
    });
    const app = dev.app;
    try {
      await waitFor(() => app().acked >= 12 && times.length >= 12, 15_000, "12 readings acknowledged and at the broker", () => ({ acked: app().acked, readings: app().readings, times: times.length, errors, lines: lines.slice(-6) }));
      // Well before the 30 s period: every batch was a full one of 4, in order.
      expect(sent.length).toBeGreaterThanOrEqual(3);
      for (let i = 0; i < sent.length; i++) expect(sent[i].seqs).toEqual([4 * i + 1, 4 * i + 2, 4 * i + 3, 4 * i + 4]);
      expect(most).toBeLessThanOrEqual(3); // seen before each push: the 4th goes in the turn it comes
      for (const n of datagrams) expect(n).toBeLessThanOrEqual(1024);
      // Once each (QoS 1 can duplicate only on a retransmission, which a quiet loopback does not need).
      expect(new Set(times).size).toBe(times.length);
      expect(app().thinned).toBe(0);
      expect(app().failed).toBe(0);
      expect(errors).toEqual([]);
    } finally {
      dev.stop();
      await watcher.endAsync();
      await gateway.close();
    }
  }, 30_000);
});
