/*
 * MQTT Reason Codes (MQTT 5.0 §2.4, Table 2-6) and the MQTT 3.1.1 CONNACK return codes
 * (MQTT 3.1.1 §3.2.2.3, Table 3.1): which packets may carry which code. The names are in
 * ./reason-names, a module only diagnostics and apps import, so the client bundle does not carry them.
 */

import { PacketType } from "./packets";

const C = 1 << PacketType.CONNACK;
const PA = 1 << PacketType.PUBACK;
const PRC = 1 << PacketType.PUBREC;
const PRL = 1 << PacketType.PUBREL;
const PC = 1 << PacketType.PUBCOMP;
const SA = 1 << PacketType.SUBACK;
const UA = 1 << PacketType.UNSUBACK;
const D = 1 << PacketType.DISCONNECT;
const A = 1 << PacketType.AUTH;

/**
 * For each reason code of Table 2-6, a bit mask of the packet types (1 << type) that may
 * carry it ("Packets" column). Index = reason code; 0 = not a reason code.
 */
const REASON_CODE_PACKETS: number[] = [];
(function fill(): void {
  const rows: number[] = [
    0x00, C | PA | PRC | PRL | PC | UA | A | D | SA, // Success / Normal disconnection / Granted QoS 0
    0x01, SA,
    0x02, SA,
    0x04, D,
    0x10, PA | PRC,
    0x11, UA,
    0x18, A,
    0x19, A,
    0x80, C | PA | PRC | SA | UA | D,
    0x81, C | D,
    0x82, C | D,
    0x83, C | PA | PRC | SA | UA | D,
    0x84, C,
    0x85, C,
    0x86, C,
    0x87, C | PA | PRC | SA | UA | D,
    0x88, C,
    0x89, C | D,
    0x8a, C,
    0x8b, D,
    0x8c, C | D,
    0x8d, D,
    0x8e, D,
    0x8f, SA | UA | D,
    0x90, C | PA | PRC | D,
    0x91, PA | PRC | SA | UA,
    0x92, PRL | PC,
    0x93, D,
    0x94, D,
    0x95, C | D,
    0x96, D,
    0x97, C | PA | PRC | SA | D,
    0x98, D,
    0x99, C | PA | PRC | D,
    0x9a, C | D,
    0x9b, C | D,
    0x9c, C | D,
    0x9d, C | D,
    0x9e, SA | D,
    0x9f, C | D,
    0xa0, D,
    0xa1, SA | D,
    0xa2, SA | D,
  ];
  for (let i = 0; i < 256; i++) REASON_CODE_PACKETS[i] = 0;
  for (let i = 0; i < rows.length; i += 2) REASON_CODE_PACKETS[rows[i]] = rows[i + 1];
})();

/**
 * True when `code` is one of the MQTT 5.0 reason codes that packet type `type` may carry
 * (Table 2-6; [MQTT-3.2.2-8], [MQTT-3.4.2-1], [MQTT-3.5.2-1], [MQTT-3.6.2-1], [MQTT-3.7.2-1],
 * [MQTT-3.9.3-2], [MQTT-3.11.3-2], [MQTT-3.14.2-1], [MQTT-3.15.2-1]).
 */
export function isReasonCodeAllowed(type: number, code: number): boolean {
  return code >= 0 && code <= 0xff && (REASON_CODE_PACKETS[code] & (1 << type)) !== 0;
}
