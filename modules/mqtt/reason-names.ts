/*
 * Names of the MQTT Reason Codes (MQTT 5.0 §2.4, Table 2-6) and the MQTT 3.1.1 CONNACK
 * return codes (MQTT 3.1.1 §3.2.2.3, Table 3.1), word for word from the spec tables. Kept apart
 * from ./properties (isReasonCodeAllowed) so that the session and client bundles (which use numbers) leave them out.
 */

/** MQTT 5.0 §2.4 Table 2-6. Values below 0x80 are successes, 0x80 and above failures. */
export const ReasonCode = {
  Success: 0x00,
  NormalDisconnection: 0x00,
  GrantedQoS0: 0x00,
  GrantedQoS1: 0x01,
  GrantedQoS2: 0x02,
  DisconnectWithWillMessage: 0x04,
  NoMatchingSubscribers: 0x10,
  NoSubscriptionExisted: 0x11,
  ContinueAuthentication: 0x18,
  ReAuthenticate: 0x19,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  ImplementationSpecificError: 0x83,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  ServerBusy: 0x89,
  Banned: 0x8a,
  ServerShuttingDown: 0x8b,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  PacketIdentifierInUse: 0x91,
  PacketIdentifierNotFound: 0x92,
  ReceiveMaximumExceeded: 0x93,
  TopicAliasInvalid: 0x94,
  PacketTooLarge: 0x95,
  MessageRateTooHigh: 0x96,
  QuotaExceeded: 0x97,
  AdministrativeAction: 0x98,
  PayloadFormatInvalid: 0x99,
  RetainNotSupported: 0x9a,
  QoSNotSupported: 0x9b,
  UseAnotherServer: 0x9c,
  ServerMoved: 0x9d,
  SharedSubscriptionsNotSupported: 0x9e,
  ConnectionRateExceeded: 0x9f,
  MaximumConnectTime: 0xa0,
  SubscriptionIdentifiersNotSupported: 0xa1,
  WildcardSubscriptionsNotSupported: 0xa2,
} as const;

/** MQTT 3.1.1 §3.2.2.3 Table 3.1 "Connect Return code values". 6..255 are reserved. */
export const ConnackReturnCode = {
  Accepted: 0,
  UnacceptableProtocolVersion: 1,
  IdentifierRejected: 2,
  ServerUnavailable: 3,
  BadUserNameOrPassword: 4,
  NotAuthorized: 5,
} as const;

/** MQTT 3.1.1 §3.9.3: SUBACK return codes 0x00, 0x01, 0x02 (granted QoS) and 0x80 (Failure). */
export const SubackReturnCode = {
  GrantedQoS0: 0x00,
  GrantedQoS1: 0x01,
  GrantedQoS2: 0x02,
  Failure: 0x80,
} as const;

const NAMES: string[] = [];
(function names(): void {
  const keys = Object.keys(ReasonCode) as (keyof typeof ReasonCode)[];
  for (let i = 0; i < keys.length; i++) {
    const code = ReasonCode[keys[i]];
    if (NAMES[code] === undefined) NAMES[code] = keys[i];
  }
})();

/** The Table 2-6 name of a reason code (the first name for shared values), or "0x.." if unknown. */
export function reasonCodeName(code: number): string {
  const name = NAMES[code];
  return name !== undefined ? name : "0x" + (code < 16 ? "0" : "") + code.toString(16);
}
