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
export { Utf8Error, utf8Length, encodeUtf8, encodeUtf8New, decodeUtf8, utf8Invalid } from "./utf8";
