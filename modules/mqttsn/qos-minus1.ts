/*
 * SnQosMinus1: PUBLISH at QoS −1, MQTT-SN 1.2 §6.8, a part the session is given
 * (`qosMinus1: new SnQosMinus1()`, with a topics part): on a pre-defined topic id or a short
 * topic name (§6.7, the topics part's), to the gateway known, connected or not, with no
 * CONNECT, no REGISTER and no reply. A session without it refuses QoS −1 ("QoS -1").
 * A part of its own, outside the app's firmware: the app publishes at QoS 0-2 only, and
 * these lines cost the session's module some 100 B of XS bytecode (docs/mqttsn.md).
 */
import { bad, frame, type MqttSnSession } from "./session";

export class SnQosMinus1 {
  /** @internal the session's publish() at QoS −1, its checks of the topic and payload done; returns 0 (no MsgId). */
  publish(s: MqttSnSession, topic: string, data: Uint8Array, retain: number, now: number): number {
    const t = s.o.topics?.id(topic) ?? -1;
    if (t < 0 || !s.gw) throw bad("QoS -1: a pre-defined or short topic, a known gateway");
    s.out(frame(0x0c, 0x60 | retain | (t >> 16), t, 0, data), now); // PUBLISH (§5.4.12), MsgId 0; QoS −1 is 0b11 in the Flags (§5.3.4)
    return 0;
  }
}
