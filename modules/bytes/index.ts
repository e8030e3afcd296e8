/** Byte helpers shared by the protocol codecs: MQTT Variable Byte Integers and UTF-8. */
export {
  VARINT_MAX,
  VARINT_INCOMPLETE,
  VARINT_MALFORMED,
  VARINT_NON_MINIMAL,
  varintSize,
  varintLength,
  encodeVarint,
  decodeVarint,
  decodeVarintLenient,
} from "./varint";
export {
  Utf8Error,
  NATIVE_UTF8,
  utf8Length,
  encodeUtf8,
  encodeUtf8New,
  encodeUtf8Js,
  decodeUtf8,
  decodeUtf8Js,
  utf8Invalid,
  checkMqttUtf8,
  checkMqttString,
  MQTT_STRING_OK,
  MQTT_STRING_ILL_FORMED,
  MQTT_STRING_NULL,
  MQTT_STRING_CONTROL,
  MQTT_STRING_NONCHARACTER,
  MQTT_STRING_TOO_LONG,
} from "./utf8";
export type { MqttStringRules } from "./utf8";
