/*
 * PUBLISH from a PublishPacket, with every check: for tests, tools and the codec bench. The
 * session writes its PUBLISHes with ./encode.ts publishFrom once it has checked their parts
 * (the topic once per topic, through a PreparedTopic), so no firmware carries this.
 */
import { MqttCodecError, malformed } from "./errors";
import { PacketType } from "./packets";
import type { MqttVersion, PropertiesCodec, PublishPacket } from "./packets";
import { checkHeader, checkId } from "./rules";
import { checkTopicName } from "./topic";
import type { PreparedTopic } from "./topic";
import { publishFrom } from "./encode";

/**
 * PUBLISH (§3.3). With `topic` (a PreparedTopic whose name is `p.topic`, already checked and
 * UTF-8 encoded once), the topic is copied as it is; else `p.topic` is checked and encoded
 * here. A 5.0 PUBLISH with a Topic Alias may have an empty topic (§3.3.2.3.4).
 */
export function encodePublish(p: PublishPacket, v: MqttVersion, props?: PropertiesCodec, topic?: PreparedTopic): Uint8Array {
  if (v !== 4 && v !== 5) throw new MqttCodecError(0x84, "protocol version " + v, "§3.1.2.2");
  const qos = p.qos;
  const first = 0x30 | (p.dup ? 8 : 0) | ((qos === 0 || qos === 1 || qos === 2 ? qos : 3) << 1) | (p.retain ? 1 : 0);
  checkHeader(first, v); // [MQTT-3.3.1-4] QoS 3, [MQTT-3.3.1-2] DUP with QoS 0
  const t = p.topic;
  if (topic === undefined && !(v === 5 && t === "" && p.properties !== undefined && p.properties.topicAlias !== undefined)) {
    const bad = checkTopicName(t, v); // [MQTT-3.3.2-2]
    if (bad !== undefined) throw bad;
  }
  if (qos !== 0) checkId(p.packetId, PacketType.PUBLISH, v);
  if (!(p.payload instanceof Uint8Array)) throw malformed("PUBLISH payload not a Uint8Array", "§3.3.3");
  return publishFrom(first, topic ?? t, qos ? (p.packetId as number) : 0, v, p.payload, props, p.properties);
}
