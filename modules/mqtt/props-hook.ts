/*
 * The MQTT 5.0 properties codec (§2.2.2, ./properties.ts) and the reason-code table
 * (Table 2-6, ./reason-codes.ts), plugged into the encoder and the decoder through this
 * small module instead of imported by them, so that a 3.1.1-only build (./client311.ts)
 * carries neither. properties.ts installs itself here when it is imported; codec.ts,
 * encode.ts and session.ts (the 5.0-capable entries) import it.
 *
 * Without it, packets with no properties still encode and decode in either version (the
 * Property Length is then 0, as the outbox's records of 3.1.1 messages are); anything that
 * needs a property or a 5.0 reason code is refused with 0x84 (Unsupported Protocol Version).
 */
import { MqttCodecError } from "./errors";
import type { MqttProperties } from "./properties";
import type { Reader } from "./wire";

export interface PropertiesCodec {
  len(p: MqttProperties | undefined, type: number): number;
  write(out: Uint8Array, o: number, p: MqttProperties | undefined, length: number): number;
  read(r: Reader, type: number): MqttProperties | undefined;
  allowed(type: number, code: number): boolean;
}

/** The installed 5.0 properties codec (set by ./properties.ts), if any. */
export const v5: { c?: PropertiesCodec } = {};

function none(): MqttCodecError {
  return new MqttCodecError(0x84, "MQTT 5.0 properties are not built in (3.1.1-only build)", "§2.2.2");
}

/** Byte length of `p` for packet type `type` (validating it); see properties.ts. */
export function propsLength(p: MqttProperties | undefined, type: number): number {
  if (v5.c) return v5.c.len(p, type);
  for (const k in p) if (k) throw none();
  return 0;
}

/** Writes the Property Length and the properties; see properties.ts. */
export function propsWrite(out: Uint8Array, o: number, p: MqttProperties | undefined, length: number): number {
  if (v5.c) return v5.c.write(out, o, p, length);
  out[o] = 0;
  return o + 1;
}

/** Reads a Property Length and the properties; see properties.ts. */
export function propsRead(r: Reader, type: number): MqttProperties | undefined {
  if (v5.c) return v5.c.read(r, type);
  if (r.varint() !== 0) throw none();
  return undefined;
}

/** isReasonCodeAllowed of ./reason-codes.ts (5.0 only). */
export function reasonAllowed(type: number, code: number): boolean {
  if (v5.c) return v5.c.allowed(type, code);
  throw none();
}
