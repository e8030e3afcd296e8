/**
 * MQTT UTF-8 Encoded String checks (MQTT 5.0 §1.5.4, MQTT 3.1.1 §1.5.3) as a status, for tests
 * and host tools. They lived in modules/bytes/utf8.ts, but no firmware module used them (the
 * MQTT codec checks each rule where it reads or writes a field: modules/mqtt/wire.ts), so the
 * device no longer carries them. Portable (no Node API): `// @xs` tests import them.
 */
import { decodeUtf8, utf8Invalid, utf8Length } from "../../modules/bytes/utf8";

/** The string satisfies every rule checked. */
export const MQTT_STRING_OK = 0;
/** Ill-formed UTF-8, encoded surrogates, or (JS strings) a lone surrogate [MQTT-1.5.4-1] [MQTT-1.5.3-1]. */
export const MQTT_STRING_ILL_FORMED = 1;
/** Contains U+0000 [MQTT-1.5.4-2] [MQTT-1.5.3-2]. */
export const MQTT_STRING_NULL = 2;
/** Contains U+0001..U+001F or U+007F..U+009F (SHOULD NOT; flagged only on request). */
export const MQTT_STRING_CONTROL = 3;
/** Contains a Unicode non-character, U+FDD0..U+FDEF or U+xxFFFE/U+xxFFFF (SHOULD NOT; on request). */
export const MQTT_STRING_NONCHARACTER = 4;
/** Longer than 65,535 bytes, the most a Two Byte Integer length prefix can give (§1.5.4). */
export const MQTT_STRING_TOO_LONG = 5;

/** Options for the SHOULD-level rules: both off by default (they are MAY-reject for a receiver). */
export interface MqttStringRules {
  /** Flag U+0001..U+001F and U+007F..U+009F. */
  controls?: boolean;
  /** Flag non-characters. */
  noncharacters?: boolean;
}

/** The rules of a well-formed string's characters: U+0000, then the optional ones. */
function characters(s: string, rules: MqttStringRules | undefined): number {
  if (s.indexOf("\u0000") >= 0) return MQTT_STRING_NULL; // [MQTT-1.5.4-2]
  if (rules?.controls && /[\u0001-\u001F\u007F-\u009F]/.test(s)) return MQTT_STRING_CONTROL;
  // U+1FFFE/F ... U+10FFFE/F as surrogate pairs: high D83F + 0x40 * (plane - 1), low DFFE/DFFF.
  if (rules?.noncharacters && /[\uFDD0-\uFDEF\uFFFE\uFFFF]|[\uD83F\uD87F\uD8BF\uD8FF\uD93F\uD97F\uD9BF\uD9FF\uDA3F\uDA7F\uDABF\uDAFF\uDB3F\uDB7F\uDBBF\uDBFF][\uDFFE\uDFFF]/.test(s)) {
    return MQTT_STRING_NONCHARACTER;
  }
  return MQTT_STRING_OK;
}

/**
 * Checks the encoded bytes of an MQTT UTF-8 Encoded String (without its length prefix), as a
 * receiver does before decoding. Returns an MQTT_STRING_* status. RangeError on a bad range.
 */
export function checkMqttUtf8(bytes: Uint8Array, start: number = 0, end: number = bytes.length, rules?: MqttStringRules): number {
  if (utf8Invalid(bytes, start, end) >= 0) return MQTT_STRING_ILL_FORMED; // [MQTT-1.5.4-1]
  if (end - start > 0xffff) return MQTT_STRING_TOO_LONG;
  return characters(decodeUtf8(bytes, start, end), rules);
}

/**
 * Checks a JS string that is to be sent as an MQTT UTF-8 Encoded String: no lone surrogate,
 * no U+0000, at most 65,535 bytes encoded, plus the optional SHOULD-level rules.
 */
export function checkMqttString(s: string, rules?: MqttStringRules): number {
  let n: number;
  try {
    n = utf8Length(s);
  } catch {
    return MQTT_STRING_ILL_FORMED; // [MQTT-1.5.4-1]
  }
  const c = characters(s, rules);
  return c !== MQTT_STRING_OK ? c : n > 0xffff ? MQTT_STRING_TOO_LONG : MQTT_STRING_OK;
}
