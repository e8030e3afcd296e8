/*
 * Packet rules shared by the encoder (./encode.ts) and the decoder (./decoder.ts): one
 * function per rule, called from both sides, so a rule and its statement exist once. Each
 * throws an MqttCodecError naming the statement; the encoder turns a packet's fields into
 * the same bytes the decoder checks (flags, options) and calls the same rule.
 */
import { MqttCodecError, malformed, protocolError } from "./errors";
import { PacketType, packetName } from "./packets";
import type { PropertiesCodec } from "./packets";

/** Fixed header byte 1 of `type` with its required flags: 0010 for PUBREL, SUBSCRIBE, UNSUBSCRIBE (§2.1.3 Table 2-2). */
export function firstByte(type: number): number {
  return (type << 4) | (((0x540 >> type) & 1) << 1);
}

/** Fixed header byte 1 (§2.1.2, §2.1.3 Table 2-2; 3.1.1 §2.2.1, §2.2.2 Table 2.2). */
export function checkHeader(h: number, v: number): void {
  const t = h >> 4;
  const f = h & 15;
  if (t === 0) throw malformed("reserved packet type 0", v === 5 ? "§2.1.2" : "§2.2.1");
  if (t === PacketType.AUTH && v === 4) throw malformed("AUTH in 3.1.1", "§2.2.1 (3.1.1 Table 2.1)");
  if (t === PacketType.PUBLISH) {
    if ((f & 6) === 6) throw malformed("PUBLISH QoS 3", "[MQTT-3.3.1-4]");
    if ((f & 14) === 8) throw protocolError("PUBLISH QoS 0 with DUP", "[MQTT-3.3.1-2]");
  } else if (h !== ((t << 4) | (((0x540 >> t) & 1) << 1))) {
    throw malformed(
      packetName(t) + " reserved flags 0x" + f.toString(16),
      (0x540 >> t) & 1 ? "[MQTT-3." + t + ".1-1]" : v === 5 ? "[MQTT-2.1.3-1]" : "[MQTT-2.2.2-1]",
    );
  }
}

/** Packet Identifier in 1..65535: [MQTT-2.2.1-3] (5.0) / [MQTT-2.3.1-1] (3.1.1). */
export function checkId(id: number | undefined, type: number, v: number): number {
  if (!((id as number) >= 1 && (id as number) <= 0xffff && ((id as number) | 0) === id)) {
    throw protocolError(packetName(type) + " Packet Identifier " + id, v === 5 ? "[MQTT-2.2.1-3]" : "[MQTT-2.3.1-1]");
  }
  return id as number;
}

/** The error for 5.0 content (a property, a reason code) where no properties codec was given. */
export function no5(): MqttCodecError {
  return new MqttCodecError(0x84, "MQTT 5.0 properties are not built in", "§2.2.2");
}

/** A 5.0 reason code of packet `type` (Table 2-6, through the 5.0 properties codec `props`). */
export function checkReason(props: PropertiesCodec | undefined, type: number, code: number, statement: string): void {
  if (!props) throw no5();
  if (!props.reasonAllowed(type, code)) throw protocolError("reason code " + code + " not allowed in " + packetName(type), statement);
}

/** CONNACK: 3.1.1 return code 0..5 (§3.2.2.3) or a 5.0 Connect Reason Code; Session Present only on success. */
export function checkConnack(sp: boolean, rc: number, v: number, props: PropertiesCodec | undefined, statement: string): void {
  if (v === 4) {
    if (!(rc >= 0 && rc <= 5 && (rc | 0) === rc)) throw protocolError("Connect Return code " + rc, "§3.2.2.3");
  } else checkReason(props, PacketType.CONNACK, rc, statement);
  if (sp && rc !== 0) throw protocolError("Session Present with failure", v === 5 ? "[MQTT-3.2.2-6]" : "[MQTT-3.2.2-4]");
}

/** CONNECT Flags (§3.1.2.3): reserved bit, Will QoS/Retain only with the Will Flag, no QoS 3, 3.1.1 Password only with User Name. */
export function checkConnectFlags(f: number, v: number): void {
  const q = (f >> 3) & 3;
  let s = "";
  if (f & 1) s = "[MQTT-3.1.2-3]";
  else if (!(f & 4) && q) s = v === 5 ? "[MQTT-3.1.2-11]" : "[MQTT-3.1.2-13]";
  else if (!(f & 4) && f & 0x20) s = v === 5 ? "[MQTT-3.1.2-13]" : "[MQTT-3.1.2-15]";
  else if (q === 3) s = v === 5 ? "[MQTT-3.1.2-12]" : "[MQTT-3.1.2-14]";
  else if (v === 4 && (f & 0xc0) === 0x40) s = "[MQTT-3.1.2-22]";
  if (s) throw malformed("bad CONNECT flags 0x" + f.toString(16), s);
}

/** 3.1.1: a zero-byte ClientId needs CleanSession = 1 ([MQTT-3.1.3-7] sender, [MQTT-3.1.3-8] receiver). */
export function checkClientId(id: string, clean: boolean, v: number, statement: string): void {
  if (v === 4 && id === "" && !clean) throw new MqttCodecError(0x85, "empty ClientId, no CleanSession", statement);
}

/** Subscription Options (5.0 §3.8.3.1) / Requested QoS (3.1.1 §3.8.3) of `filter`. */
export function checkOptions(o: number, filter: string, v: number): void {
  if (v === 4) {
    if (o > 2) throw malformed("Requested QoS byte " + o, "[MQTT-3-8.3-4]");
    return;
  }
  if (o & 0xc0) throw malformed("Subscription Options reserved bits", "[MQTT-3.8.3-5]");
  if ((o & 3) === 3 || (o & 0x30) === 0x30) throw protocolError("QoS or Retain Handling 3", "§3.8.3.1");
  if (o & 4 && filter.startsWith("$share/")) throw protocolError("No Local on a Shared Subscription", "[MQTT-3.8.3-4]");
}

/** A SUBACK / UNSUBACK code: 3.1.1 SUBACK 0, 1, 2, 0x80 ([MQTT-3.9.3-2]); 5.0 Tables 3-8 / 3-9. */
export function checkListCode(type: number, c: number, v: number, props: PropertiesCodec | undefined): void {
  if (v === 5) checkReason(props, type, c, type === PacketType.SUBACK ? "[MQTT-3.9.3-2]" : "[MQTT-3.11.3-2]");
  else if (!(c >= 0 && c <= 2 && (c | 0) === c) && c !== 0x80) throw protocolError("SUBACK code " + c, "[MQTT-3.9.3-2]");
}

/** SUBSCRIBE, SUBACK, UNSUBSCRIBE and (5.0) UNSUBACK carry at least one entry. */
export function checkNotEmpty(n: number, type: number, v: number): void {
  if (n === 0) {
    throw protocolError(
      packetName(type) + " with no entry",
      type === PacketType.SUBSCRIBE ? (v === 5 ? "[MQTT-3.8.3-2]" : "[MQTT-3.8.3-3]") : type === PacketType.SUBACK ? (v === 5 ? "[MQTT-3.8.4-6]" : "[MQTT-3.8.4-5]") : type === PacketType.UNSUBSCRIBE ? "[MQTT-3.10.3-2]" : "[MQTT-3.11.3-1]",
    );
  }
}
