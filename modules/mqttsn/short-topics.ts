/*
 * SnShortTopicIds: the topics part (SnTopicIds, ./session.ts) with short topic names, MQTT-SN 1.2 §6.7:
 * every topic name of exactly two octets travels in the TopicId field itself (TopicIdType 2),
 * with no REGISTER, both ways, and QoS −1 (§6.8) is possible on it.
 */
import { decodeUtf8, encodeUtf8, utf8Length } from "../bytes/utf8";
import { SnTopicIds } from "./session";

export class SnShortTopicIds extends SnTopicIds {
  override id(name: string): number {
    const t = super.id(name);
    const s = shortTopicId(name);
    return t >= 0 || s < 0 ? t : 0x20000 | s;
  }

  override name(type: number, id: number): string | undefined {
    return type === 2 ? shortTopicName(id) : super.name(type, id);
  }
}

/** A short topic name (§6.7: exactly two octets) as the TopicId field carries it, or -1 when `name` is not two octets. */
export function shortTopicId(name: string): number {
  const b = new Uint8Array(4);
  try {
    if (utf8Length(name) !== 2) return -1;
  } catch {
    return -1;
  }
  encodeUtf8(name, b, 0);
  return (b[0] << 8) | b[1];
}

/** The short topic name a TopicId field carries (§6.7), or undefined when its two octets are not UTF-8 text. */
export function shortTopicName(topicId: number): string | undefined {
  try {
    const s = decodeUtf8(new Uint8Array([topicId >> 8, topicId & 0xff]));
    return s.indexOf("\u0000") < 0 ? s : undefined;
  } catch {
    return undefined;
  }
}
