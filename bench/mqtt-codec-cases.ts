/**
 * MQTT codec benchmark cases shared by Node (bench/mqtt-codec.bench.ts, against mqtt-packet)
 * and XS (bench/xs/mqtt-codec.bench.ts, no peer). Portable: no Node API.
 *
 * The hot path of issue 3: PUBLISH QoS 1, topic "tele/esp32-a1b2c3/SENSOR", 40-byte payload.
 */
import type { BenchCase } from "./harness";
import { MqttDecoder } from "../modules/mqtt/decoder";
import { encodePublish } from "../modules/mqtt/encode-publish";
import type { MqttVersion, PublishPacket } from "../modules/mqtt/packets";
import { properties5 } from "../modules/mqtt/properties";
import { prepareTopic, topicMatches } from "../modules/mqtt/topic";

export const TOPIC = "tele/esp32-a1b2c3/SENSOR";
export const PAYLOAD = new Uint8Array(40);
for (let i = 0; i < PAYLOAD.length; i++) PAYLOAD[i] = 0x30 + (i % 10);

export function hotPublish(): PublishPacket {
  return { type: 3, topic: TOPIC, payload: PAYLOAD, qos: 1, retain: false, dup: false, packetId: 42 };
}

function label(v: MqttVersion): string {
  return v === 5 ? "5.0" : "3.1.1";
}

/**
 * Decode, encode (topic given as a string, and as a prepared topic) for one version; `peer*`
 * fields are filled in by the Node file. The client's own decoder and encoders (a 5.0 one
 * with the properties codec), as the session uses them.
 */
export function publishCases(v: MqttVersion): BenchCase[] {
  const packet = hotPublish();
  const props = v === 5 ? properties5 : undefined;
  const wire = encodePublish(packet, v, props);
  const decoder = new MqttDecoder({ version: v, properties: props });
  const topic = prepareTopic(TOPIC, v);
  return [
    {
      name: "mqtt " + label(v) + " decode PUBLISH QoS 1 (" + wire.length + " B)",
      run: () => {
        decoder.feed(wire);
        return decoder.next();
      },
      check: () => {
        decoder.feed(wire);
        const p = decoder.next() as PublishPacket;
        if (p === undefined || p.topic !== TOPIC || p.packetId !== 42 || p.payload.length !== 40) throw new Error("decode check failed");
      },
    },
    {
      name: "mqtt " + label(v) + " encode PUBLISH QoS 1, topic string checked and encoded (encodePublish)",
      run: () => encodePublish(packet, v, props),
    },
    {
      name: "mqtt " + label(v) + " encode PUBLISH QoS 1, prepared topic (encodePublish + prepareTopic)",
      run: () => encodePublish(packet, v, props, topic),
    },
  ];
}

const FILTERS = ["tele/+/SENSOR", "cmd/esp32-a1b2c3/#", "#", "$SYS/#", "tele/esp32-a1b2c3/STATE"];

export function topicCases(): BenchCase[] {
  return [
    {
      name: "mqtt topicMatches, 5 filters vs 1 topic",
      run: () => {
        let n = 0;
        for (let i = 0; i < FILTERS.length; i++) if (topicMatches(FILTERS[i], TOPIC)) n++;
        return n;
      },
      check: () => {
        let n = 0;
        for (let i = 0; i < FILTERS.length; i++) if (topicMatches(FILTERS[i], TOPIC)) n++;
        if (n !== 2) throw new Error("topicMatches check: " + n);
      },
    },
  ];
}
