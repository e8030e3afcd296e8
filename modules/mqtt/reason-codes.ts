/*
 * MQTT Reason Codes (MQTT 5.0 §2.4, Table 2-6) and the MQTT 3.1.1 CONNACK return codes
 * (MQTT 3.1.1 §3.2.2.3, Table 3.1): which packets may carry which code. The names are in
 * ./reason-names, a module only diagnostics and apps import, so the client bundle does not carry them.
 */

/*
 * Table 2-6 as data (a string costs XS bytecode ~1 B per character, a numeric array ~11 B per
 * element): one row per reason code, its value in hex and its "Packets" column as one hex
 * digit per packet type (2 CONNACK, 4 PUBACK, 5 PUBREC, 6 PUBREL, 7 PUBCOMP, 9 SUBACK,
 * b UNSUBACK, e DISCONNECT, f AUTH).
 */
const TABLE =
  "00 245679bef," + // Success / Normal disconnection / Granted QoS 0
  "01 9,02 9,04 e,10 45,11 b,18 f,19 f," +
  "80 2459be,81 2e,82 2e,83 2459be,84 2,85 2,86 2,87 2459be,88 2,89 2e,8a 2,8b e,8c 2e,8d e,8e e,8f 9be," +
  "90 245e,91 459b,92 67,93 e,94 e,95 2e,96 e,97 2459e,98 e,99 245e,9a 2e,9b 2e,9c 2e,9d 2e,9e 9e,9f 2e," +
  "a0 e,a1 9e,a2 9e";

/** Reason code -> bit mask of the packet types (1 << type) that may carry it; no entry: not a reason code. */
const REASON_CODE_PACKETS: number[] = [];
const ROWS = TABLE.split(",");
for (let r = 0; r < ROWS.length; r++) {
  const row = ROWS[r];
  let packets = 0;
  for (let i = 3; i < row.length; i++) packets |= 1 << parseInt(row[i], 16);
  REASON_CODE_PACKETS[parseInt(row, 16)] = packets;
}

/**
 * True when `code` is one of the MQTT 5.0 reason codes that packet type `type` may carry
 * (Table 2-6; [MQTT-3.2.2-8], [MQTT-3.4.2-1], [MQTT-3.5.2-1], [MQTT-3.6.2-1], [MQTT-3.7.2-1],
 * [MQTT-3.9.3-2], [MQTT-3.11.3-2], [MQTT-3.14.2-1], [MQTT-3.15.2-1]).
 */
export function isReasonCodeAllowed(type: number, code: number): boolean {
  return (REASON_CODE_PACKETS[code] & (1 << type)) !== 0;
}
