/*
 * The error the MQTT session, outbox and client report to the app: a stable `code` to
 * switch on, the MQTT 5.0 reason code where one applies, and the spec statement.
 */

export type MqttErrorCode =
  /** The broker refused the connection (CONNACK reason / return code in `reasonCode`). */
  | "connect-refused"
  /** The broker broke the protocol; we sent DISCONNECT `reasonCode` (5.0) or closed (3.1.1). */
  | "protocol"
  /** The broker closed the session with a DISCONNECT (5.0), reason in `reasonCode`. */
  | "server-disconnect"
  /** No PINGRESP (nor any packet) in time: the link is dead ([MQTT-3.1.2-20] ff.). */
  | "keep-alive-timeout"
  /** No CONNACK in time. */
  | "connect-timeout"
  /** The network connection failed or closed. */
  | "connection-lost"
  /** An operation needs a connection (QoS 0 publish, subscribe) and there is none. */
  | "not-connected"
  /** The outbox is at its message or byte bound; the message was not accepted. */
  | "outbox-full"
  /** The packet exceeds the Maximum Packet Size of the receiver ([MQTT-3.2.2-15]). */
  | "packet-too-large"
  /** The broker refused a message (PUBACK/PUBREC reason >= 0x80, [MQTT-4.4.0-2]). */
  | "publish-refused"
  /** The message expired in the outbox before it could be sent (§3.3.2.3.3). */
  | "expired"
  /** Bad arguments from the app (invalid topic, QoS above the broker's maximum, ...). */
  | "invalid"
  /** The persistent store failed (flash full, power loss). */
  | "storage"
  /** The client's output queue is full (socket back-pressure) for a QoS 0 message. */
  | "busy"
  /** The client was ended. */
  | "ended"
  /** An app callback threw; the session went on. */
  | "callback";

export class MqttError extends Error {
  declare readonly code: MqttErrorCode;
  /** MQTT 5.0 reason code (or 3.1.1 CONNACK return code for "connect-refused"), when one applies. */
  declare readonly reasonCode: number | undefined;
  /** The normative statement concerned, e.g. "[MQTT-3.3.2-8]", or "". */
  declare readonly statement: string;
  /** The error that caused this one, if any. */
  declare readonly cause: unknown;
  /** MQTT 5.0 properties of the packet that carried the reason (Reason String, Server Reference, ...). */
  declare properties: { [key: string]: unknown } | undefined;

  constructor(code: MqttErrorCode, message: string, reasonCode?: number, statement?: string, cause?: unknown) {
    super(statement ? message + " " + statement : message);
    this.code = code;
    this.reasonCode = reasonCode;
    this.statement = statement ?? "";
    this.cause = cause;
    this.properties = undefined;
  }
}
// On the prototype: `this.name = ...` throws where the intrinsics are frozen, as on a device (host-tests/xs/lockdown.ts).
Object.defineProperty(MqttError.prototype, "name", { value: "MqttError", writable: true, configurable: true });
