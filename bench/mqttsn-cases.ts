/**
 * MQTT-SN benchmark cases shared by Node (bench/mqttsn-codec.bench.ts) and XS
 * (bench/xs/mqttsn-codec.bench.ts), and the reading the wire-size rows measure
 * (bench/mqttsn-size.bench.ts). Portable: no Node API.
 *
 * The hot path: a telemetry PUBLISH at QoS 1 on a registered topic id with a 40-byte
 * payload (the MQTT codec bench's payload), and one SenML reading of the simulated board.
 */
import type { BenchCase } from "./harness";
import { decode, encode, encodeInto, type MqttSnMessage } from "../modules/mqttsn/codec";
import { PUBLISH } from "../modules/mqttsn/constants";
import { encodeTelemetry } from "../src/senml";
import type { Sample } from "../modules/sensors/sensor";

export const PAYLOAD = new Uint8Array(40);
for (let i = 0; i < PAYLOAD.length; i++) PAYLOAD[i] = 0x30 + (i % 10);

export function hotPublish(data: Uint8Array = PAYLOAD): MqttSnMessage {
  return { type: PUBLISH, dup: false, qos: 1, retain: false, will: false, cleanSession: false, topicIdType: 0, topicId: 0x0021, msgId: 42, data };
}

/** One reading of the simulated board (SHT3x, BME280, BH1750, SCD4x, battery) as the app sends it. */
export function readingPayload(format: "json" | "cbor"): Uint8Array {
  const sample = {
    thermometer: { temperature: 21.53 },
    hygrometer: { humidity: 45.3 },
    barometer: { pressure: 101175 },
    lightmeter: { illuminance: 323 },
    carbonDioxideDetector: { CO2: 714 },
    battery: { voltage: 4.05 },
  } as unknown as Sample;
  return encodeTelemetry("xs-iot-sim", [{ time: 1767258000200, sample }], format)[0];
}

export function codecCases(): BenchCase[] {
  const p = hotPublish();
  const wire = encode(p);
  const out = new Uint8Array(64);
  const register = encode({ type: 0x0a, topicId: 0, msgId: 7, topicName: "xs-iot/xs-iot-sim/tele" });
  return [
    {
      name: "mqttsn decode PUBLISH QoS 1 (" + wire.length + " B)",
      run: () => decode(wire),
      check: () => {
        const d = decode(wire) as { msgId?: number; data?: Uint8Array };
        if (d.msgId !== 42 || d.data!.length !== 40) throw new Error("decode check failed");
      },
    },
    { name: "mqttsn encode PUBLISH QoS 1 (new array)", run: () => encode(p) },
    { name: "mqttsn encode PUBLISH QoS 1 (into a buffer)", run: () => encodeInto(p, out, 0) },
    { name: "mqttsn decode REGISTER (" + register.length + " B)", run: () => decode(register) },
  ];
}
