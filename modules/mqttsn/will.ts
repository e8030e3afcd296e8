/*
 * SnWill: the will of MQTT-SN 1.2 §6.2, a part the session is given
 * (`new MqttSnSession({ ..., will: new SnWill({ topic, payload, qos, retain }) })`): CONNECT
 * carries the Will flag, and the gateway's WILLTOPICREQ / WILLMSGREQ are answered with
 * WILLTOPIC / WILLMSG (Fig. 3). A session without it connects with no will (and drops a will
 * request). SnWillUpdates (./will-update.ts) adds changing it while connected (§6.4).
 */
import { encodeUtf8New } from "../bytes/utf8";
import { bad, frame, isTopicName } from "./session";

export interface SnWillMessage {
  topic: string;
  payload: Uint8Array | string;
  qos?: 0 | 1 | 2;
  retain?: boolean;
}

export class SnWill {
  /** The will; undefined: none (the CONNECT has no Will flag; an update deletes it). */
  will: SnWillMessage | undefined;

  constructor(will?: SnWillMessage) {
    this.will = checkWill(will);
  }

  /**
   * WILLTOPIC (0x07) or WILLTOPICUPD (0x1A): Flags (QoS, Retain) and the will topic, or only
   * the header when there is no will (§5.4.7: the empty form deletes it); WILLMSG (0x09) or
   * WILLMSGUPD (0x1C): the will payload.
   */
  message(type: number): Uint8Array {
    const w = this.will;
    if (type === 0x09 || type === 0x1c) {
      const p = w ? w.payload : "";
      return frame(type, -1, -1, -1, -1, typeof p === "string" ? encodeUtf8New(p) : p);
    }
    return w ? frame(type, ((w.qos ?? 0) << 5) | (w.retain ? 0x10 : 0), -1, -1, -1, encodeUtf8New(w.topic)) : frame(type, -1, -1, -1, -1);
  }
}

/** A will the session can send: a topic name (§6.10: no wildcard), QoS 0-2, a payload of bytes or text. */
export function checkWill(w: SnWillMessage | undefined): SnWillMessage | undefined {
  if (w && (!isTopicName(w.topic) || !(typeof w.payload === "string" || w.payload instanceof Uint8Array) || !((w.qos ?? 0) >= 0 && (w.qos ?? 0) <= 2))) throw bad("will");
  return w;
}
