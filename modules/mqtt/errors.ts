/*
 * The codec's one error type. The decoder never throws: it turns malformed or
 * protocol-violating input into an MqttCodecError (decoder.error) that the session turns
 * into a DISCONNECT / CONNACK with `reasonCode` (MQTT 5.0 §4.13) or, in 3.1.1, a closed
 * Network Connection. The encoders throw it when asked to encode a packet the spec forbids.
 */
export class MqttCodecError extends Error {
  /** MQTT 5.0 reason code: 0x81 Malformed Packet, 0x82 Protocol Error, 0x95 Packet too large, ... */
  declare readonly reasonCode: number;
  /** The normative statement violated, e.g. "[MQTT-3.3.1-4]", or a section ("§2.2.2.2"). */
  declare readonly statement: string;

  constructor(reasonCode: number, message: string, statement: string) {
    super(statement !== "" ? message + " " + statement : message);
    this.reasonCode = reasonCode;
    this.statement = statement;
  }
}
// On the prototype: `this.name = ...` throws where the intrinsics are frozen, as on a device (host-tests/xs/lockdown.ts).
Object.defineProperty(MqttCodecError.prototype, "name", { value: "MqttCodecError", writable: true, configurable: true });

/** 0x81: the packet cannot be parsed (MQTT 5.0 §1.2 "Malformed Packet"). */
export function malformed(message: string, statement: string): MqttCodecError {
  return new MqttCodecError(0x81, message, statement);
}

/** 0x82: parsed, but holds data the protocol does not allow (§1.2 "Protocol Error"). */
export function protocolError(message: string, statement: string): MqttCodecError {
  return new MqttCodecError(0x82, message, statement);
}
