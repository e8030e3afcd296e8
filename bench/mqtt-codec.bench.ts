/** MQTT codec on Node, against MQTT.js's codec mqtt-packet (issue 3: decode >= 3x, encode >= 1.5x). */
import type { BenchCase } from "./harness";
import { sameBytes } from "./harness";
import { publishCases, topicCases, hotPublish } from "./mqtt-codec-cases";
import { encodePublish } from "../modules/mqtt/encode-publish";
import type { MqttVersion } from "../modules/mqtt/packets";
import { properties5 } from "../modules/mqtt/properties";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const mqttPacket = require("mqtt-packet");

function withPeer(v: MqttVersion): BenchCase[] {
  const [decode, encString, encPrepared] = publishCases(v);
  const p = hotPublish();
  const mp = { cmd: "publish", topic: p.topic, payload: Buffer.from(p.payload), qos: 1, messageId: 42, retain: false, dup: false };
  const opts = { protocolVersion: v };
  const wire = mqttPacket.generate(mp, opts);

  const parser = mqttPacket.parser(opts);
  let last: unknown = null;
  parser.on("packet", (packet: unknown) => {
    last = packet;
  });
  decode.peer = "mqtt-packet Parser.parse";
  decode.peerRun = () => {
    parser.parse(wire);
    return last;
  };
  const decodeCheck = decode.check!;
  decode.check = () => {
    decodeCheck();
    parser.parse(wire);
    if (!last || (last as { messageId?: number }).messageId !== 42) throw new Error("mqtt-packet parse check failed");
  };

  for (const c of [encString, encPrepared]) {
    c.peer = "mqtt-packet generate";
    c.peerRun = () => mqttPacket.generate(mp, opts);
    c.check = () => sameBytes(encodePublish(p, v, v === 5 ? properties5 : undefined), mqttPacket.generate(mp, opts), "PUBLISH v" + v);
    c.notes = "one new Uint8Array per packet; V8 allocates arrays over 64 B off-heap, mqtt-packet slices a pooled Buffer";
  }
  return [decode, encString, encPrepared];
}

const cases: BenchCase[] = [...withPeer(4), ...withPeer(5), ...topicCases()];
export default cases;
