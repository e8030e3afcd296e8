/*
 * The packets with a Reason Code, from packet objects, with every check: the PUBACK family,
 * DISCONNECT, AUTH. The 5.0 part's (./mqtt5.ts) and the test broker's: a 3.1.1 session
 * writes its four-byte acknowledgements and two-byte DISCONNECT itself, so the firmware of a
 * 3.1.1 app does not carry these. Same conventions as ./encode.ts.
 */
import { malformed } from "./errors";
import { PacketType, packetName } from "./packets";
import type { AuthPacket, DisconnectPacket, MqttVersion, PropertiesCodec, PubAckPacket } from "./packets";
import type { MqttProperties } from "./properties";
import { checkId, checkReason, firstByte } from "./rules";
import { varintLength } from "./wire";
import { frame, propsLength, propsWrite } from "./encode";

/**
 * The packets of the form [Packet Identifier] [Reason Code [Property Length, properties]]:
 * PUBACK, PUBREC, PUBREL, PUBCOMP (§3.4-§3.7), DISCONNECT (§3.14), AUTH (§3.15). In 5.0 the
 * Reason Code 0x00 with no properties is left out and a failure with no properties is
 * written without Property Length (§3.4.2.1, §3.14.2.1); AUTH is always written in full
 * (§3.15.2.1 allows the short form, but some peers, mqtt-packet 9, refuse it).
 */
function reasonPacket(type: number, id: number | undefined, rc: number | undefined, properties: MqttProperties | undefined, v: MqttVersion, props: PropertiesCodec | undefined): Uint8Array {
  const h = type < PacketType.SUBSCRIBE ? 2 : 0;
  if (h) checkId(id, type, v);
  const code = rc === undefined ? 0 : rc;
  let rl = h;
  let pl = 0;
  if (v === 4) {
    if (type === PacketType.AUTH) throw malformed("AUTH in 3.1.1", "§2.2.1 (3.1.1 Table 2.1)");
    if (code !== 0 || properties !== undefined) throw malformed("3.1.1 " + packetName(type) + " Reason Code", h ? "§3.4" : "§3.14");
  } else {
    checkReason(props, type, code, "§2.4");
    pl = propsLength(props, properties, type);
    if (pl > 0 || type === PacketType.AUTH) rl += 1 + varintLength(pl) + pl;
    else if (code !== 0) rl += 1;
  }
  const out = frame(firstByte(type), rl, type);
  let o = out.length - rl;
  if (h) {
    out[o++] = (id as number) >> 8;
    out[o++] = (id as number) & 0xff;
  }
  if (rl > h) out[o++] = code;
  if (rl > h + 1) propsWrite(props, out, o, properties, pl);
  return out;
}

/** PUBACK, PUBREC, PUBREL or PUBCOMP (`p.type`). */
export function encodeAck(p: PubAckPacket, v: MqttVersion, props?: PropertiesCodec): Uint8Array {
  const t = p.type;
  if (!(t >= PacketType.PUBACK && t <= PacketType.PUBCOMP)) throw malformed("not an acknowledgement: type " + t, "§2.1.2");
  return reasonPacket(t, p.packetId, p.reasonCode, p.properties, v, props);
}

/** DISCONNECT (§3.14). */
export function encodeDisconnect(p: DisconnectPacket, v: MqttVersion, props?: PropertiesCodec): Uint8Array {
  return reasonPacket(PacketType.DISCONNECT, undefined, p.reasonCode, p.properties, v, props);
}

/** AUTH (§3.15), 5.0 only. */
export function encodeAuth(p: AuthPacket, props?: PropertiesCodec): Uint8Array {
  return reasonPacket(PacketType.AUTH, undefined, p.reasonCode, p.properties, 5, props);
}

