/*
 * The MQTT 3.1.1 / 5.0 codec: pure, no IO, runs on XS. One import for the session:
 *   import { MqttDecoder, encodePublish, PacketType, ReasonCode } from "../mqtt/codec";
 */
import "./decode-server"; // CONNECT, SUBSCRIBE, UNSUBSCRIBE decoding (what a server receives)
export { PacketType } from "./packets";
export type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  MqttPacket,
  MqttVersion,
  PingreqPacket,
  PingrespPacket,
  PubAckPacket,
  PubackPacket,
  PubcompPacket,
  PublishPacket,
  PubrecPacket,
  PubrelPacket,
  QoS,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  WillMessage,
} from "./packets";
export type { MqttProperties, PropertyDefinition } from "./properties";
export { PROPERTIES, PROPERTY_BY_ID, PropertyType, WILL_PROPERTIES, packetName } from "./properties";
export { isReasonCodeAllowed } from "./reason-codes";
export { ReasonCode, ConnackReturnCode, SubackReturnCode, reasonCodeName } from "./reason-names";
export { MqttCodecError } from "./errors";
export type { SharedSubscription } from "./topic";
export {
  checkTopicFilter,
  checkTopicName,
  isValidTopicFilter,
  isValidTopicName,
  parseSharedSubscription,
  topicMatches,
  MAX_TOPIC_BYTES,
} from "./topic";
export { MqttDecoder, MAX_PACKET_SIZE } from "./decoder";
export { MqttEncoder } from "./encode-core";
export type { MqttEncoderOptions } from "./encode-core";
export type { MqttDecoderOptions } from "./decoder";
export {
  encodePacket,
  encodePacketInto,
  encodedLength,
  encodeConnect,
  encodeConnack,
  encodePublish,
  encodePuback,
  encodePubrec,
  encodePubrel,
  encodePubcomp,
  encodeSubscribe,
  encodeSuback,
  encodeUnsubscribe,
  encodeUnsuback,
  encodePingreq,
  encodePingresp,
  encodeDisconnect,
  encodeAuth,
} from "./encode-core";
