/*
 * Reason codes named in host-side output. The device's MQTT errors carry the code and the
 * section that defines it ("connection refused: 0x87 §3.2.2.2"): the firmware does not ship
 * the names (modules/mqtt/reason-names.ts stays out of its bundle). What a person reads on the
 * host (the sim's log, the config CLI's answers) gets the name instead of the section:
 * "connection refused: 0x87 Not authorized". Node only.
 */
import { ConnackReturnCode, reasonCodeName } from "../../modules/mqtt/reason-names";

/** An identifier of modules/mqtt/reason-names.ts as words: "NotAuthorized" -> "Not authorized", "QoSNotSupported" -> "QoS not supported". */
function words(identifier: string): string {
  const w = identifier.match(/QoS|[A-Z][a-z]*|\d+/g) ?? [identifier];
  return w.map((x, i) => (i === 0 || x === "QoS" ? x : x.toLowerCase())).join(" ");
}

/** MQTT 3.1.1 §3.2.2.3 Table 3.1, by return code. */
const CONNACK_311 = new Map<number, string>(Object.entries(ConnackReturnCode).map(([k, v]) => [v, k]));

/**
 * `text` with every "0xNN <section>" of an MQTT error (modules/mqtt: CONNACK §3.2.2.2 (5.0) or
 * §3.2.2.3 (3.1.1), DISCONNECT §3.14.2.1, a refused PUBLISH [MQTT-4.4.0-2]) read as "0xNN <name>".
 * A code with no name keeps its section.
 */
export function nameReasonCodes(text: string): string {
  if (text.indexOf(" 0x") < 0) return text;
  return text.replace(/(0x([0-9a-f]{2})) (§3\.2\.2\.[23]|§3\.14\.2\.1|\[MQTT-4\.4\.0-2\])/g, (all, hex: string, digits: string, section: string) => {
    const code = parseInt(digits, 16);
    const name = section === "§3.2.2.3" ? CONNACK_311.get(code) : reasonCodeName(code);
    return name === undefined || name === hex ? all : `${hex} ${words(name)}`;
  });
}
