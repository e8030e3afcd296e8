/*
 * SnRegistryStore: the topic registry (MQTT-SN 1.2 §6.5, §6.10: the normal topic ids of a
 * gateway and a session) kept in the store, a part the session is given
 * (`registry: new SnRegistryStore()`), so that a device back from deep sleep or a reboot
 * publishes on the ids it had (cleanSession false) and reads the PUBLISHes a gateway buffered
 * for a sleeping client (§6.14). Without it, ids last as long as the session object, and a
 * rebooted device registers its topics again.
 *
 * Record "reg": the gateway's "address:port" (1 octet of length, ASCII), then per topic its
 * id (2 octets), the name's length (1) and the name (UTF-8); at most 4000 octets (names over
 * 255 octets or past the limit are not kept: they are registered again when needed).
 */
import { decodeUtf8, encodeUtf8New } from "../bytes/utf8";
import type { MqttSnSession } from "./session";

export class SnRegistryStore {
  /** @internal the registry changed. */
  save(s: MqttSnSession): void {
    const parts: number[] = [s.regOf.length];
    for (let i = 0; i < s.regOf.length; i++) parts.push(s.regOf.charCodeAt(i));
    s.reg.forEach((id, name) => {
      if (typeof name !== "string") return;
      const b = encodeUtf8New(name);
      if (b.length > 255 || parts.length + 3 + b.length > 4000) return;
      parts.push(id >> 8, id & 0xff, b.length);
      for (let i = 0; i < b.length; i++) parts.push(b[i]);
    });
    s.st.push({ key: "reg", value: new Uint8Array(parts).buffer });
  }

  /** @internal */
  restore(s: MqttSnSession, key: string, b: Uint8Array): boolean {
    if (key !== "reg" || b.length <= b[0]) return false;
    s.regOf = String.fromCharCode.apply(null, b.subarray(1, 1 + b[0]) as unknown as number[]);
    for (let i = 1 + b[0]; i + 3 <= b.length; i += 3 + b[i + 2]) {
      let name: string;
      try {
        name = decodeUtf8(b, i + 3, i + 3 + b[i + 2]);
      } catch {
        break;
      }
      const id = (b[i] << 8) | b[i + 1];
      s.reg.set(name, id).set(id, name);
    }
    return true;
  }
}
