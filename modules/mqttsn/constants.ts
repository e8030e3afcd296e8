/*
 * MQTT-SN 1.2 constants, named as the spec's tables name them.
 */

// MQTT-SN 1.2 §5.2.2 Table 3: MsgType values (0x03, 0x11, 0x19, 0x1E-0xFD and 0xFF are reserved).
export const ADVERTISE = 0x00;
export const SEARCHGW = 0x01;
export const GWINFO = 0x02;
export const CONNECT = 0x04;
export const CONNACK = 0x05;
export const WILLTOPICREQ = 0x06;
export const WILLTOPIC = 0x07;
export const WILLMSGREQ = 0x08;
export const WILLMSG = 0x09;
export const REGISTER = 0x0a;
export const REGACK = 0x0b;
export const PUBLISH = 0x0c;
export const PUBACK = 0x0d;
export const PUBCOMP = 0x0e;
export const PUBREC = 0x0f;
export const PUBREL = 0x10;
export const SUBSCRIBE = 0x12;
export const SUBACK = 0x13;
export const UNSUBSCRIBE = 0x14;
export const UNSUBACK = 0x15;
export const PINGREQ = 0x16;
export const PINGRESP = 0x17;
export const DISCONNECT = 0x18;
export const WILLTOPICUPD = 0x1a;
export const WILLTOPICRESP = 0x1b;
export const WILLMSGUPD = 0x1c;
export const WILLMSGRESP = 0x1d;
/** §5.5: Forwarder Encapsulation. */
export const ENCAPSULATED = 0xfe;

// MQTT-SN 1.2 §5.3.10 Table 5: ReturnCode values (0x04-0xFF reserved).
export const ACCEPTED = 0x00;
export const REJECTED_CONGESTION = 0x01;
export const REJECTED_INVALID_TOPIC_ID = 0x02;
export const REJECTED_NOT_SUPPORTED = 0x03;

// MQTT-SN 1.2 §5.3.4 Table 4: TopicIdType (0b11 reserved).
export const TOPIC_NORMAL = 0;
export const TOPIC_PREDEFINED = 1;
export const TOPIC_SHORT = 2;

/** §5.3.8: the only ProtocolId. */
export const PROTOCOL_ID = 0x01;

/** Message QoS: −1 (§6.8, "0b11" on the wire), 0, 1, 2. */
export type SnQoS = -1 | 0 | 1 | 2;
export type TopicIdType = 0 | 1 | 2;

/** Names of the message types, for logs and errors (index = MsgType; "" = reserved). */
export function msgTypeName(type: number): string {
  if (type === ENCAPSULATED) return "ENCAPSULATED";
  const n =
    "ADVERTISE SEARCHGW GWINFO - CONNECT CONNACK WILLTOPICREQ WILLTOPIC WILLMSGREQ WILLMSG REGISTER REGACK PUBLISH PUBACK PUBCOMP PUBREC PUBREL - SUBSCRIBE SUBACK UNSUBSCRIBE UNSUBACK PINGREQ PINGRESP DISCONNECT - WILLTOPICUPD WILLTOPICRESP WILLMSGUPD WILLMSGRESP".split(
      " ",
    )[type];
  return n && n !== "-" ? n : "0x" + (type >>> 0).toString(16);
}
