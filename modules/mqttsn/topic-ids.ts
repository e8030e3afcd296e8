/*
 * SnTopicIds: pre-defined topic ids (MQTT-SN 1.2 §6.7) and QoS −1 (§6.8), a part the session
 * is given (`topics: new SnTopicIds({ "xs-iot/dev1/tele": 10 })`). The ids are the gateway's
 * (its configuration, e.g. `xs-iot gateway --predefined FILE`): a PUBLISH on such a topic
 * needs no REGISTER, a SUBSCRIBE goes by id, and QoS −1 is possible (to the gateway known,
 * connected or not). SnShortTopicIds (./short-topics.ts) adds short topic names.
 * A session without a topics part registers every topic (§6.5) and refuses QoS −1; a PUBLISH
 * from the gateway with a pre-defined or short id is then answered "rejected: invalid topic
 * ID" (§6.10).
 */
import { bad, type MqttSnSession } from "./session";

export class SnTopicIds {
  /** Name -> id and id -> name (a name is a string, an id a number: one Map holds both ways). */
  declare readonly ids: Map<string | number, any>;

  /** `predefined`: topic name -> id (1-65534, §5.3.11), as the gateway has them. */
  constructor(predefined: Record<string, number> = {}) {
    this.ids = new Map();
    for (const name in predefined) {
      const id = predefined[name];
      if (!(id > 0 && id < 0xffff && (id | 0) === id) || !name) throw bad("pre-defined id " + name);
      this.ids.set(name, id).set(id, name);
    }
  }

  /** TopicIdType << 16 | TopicId for `name` (1: pre-defined, 2: short), or -1: registered as usual. */
  id(name: string): number {
    const p = this.ids.get(name);
    return p === undefined ? -1 : 0x10000 | p;
  }

  /** The topic of a TopicIdType (1 pre-defined, 2 short) and TopicId, or undefined: unknown. */
  name(type: number, id: number): string | undefined {
    return type === 1 ? this.ids.get(id) : undefined;
  }

  /** @internal §6.8: PUBLISH at QoS −1 on a pre-defined or short topic, to the gateway known, connected or not. */
  minus1(s: MqttSnSession, topic: string, data: Uint8Array, retain: boolean, now: number): number {
    const t = this.id(topic);
    if (t < 0 || !s.gw) throw bad("QoS -1: a pre-defined or short topic, a known gateway");
    s.publishOut(t, -1, retain, 0, 0, data, now);
    return 0;
  }
}
