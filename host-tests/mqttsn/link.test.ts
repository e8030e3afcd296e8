// @xs
/*
 * src/mqttsn-link.ts: the MQTT-SN ClientId of a device id (MQTT-SN 1.2 §5.3.1: 1-23 characters).
 */
import { mqttsnClientId } from "../../src/mqttsn-link";

describe("mqttsnClientId (§5.3.1)", () => {
  it("is the device id itself up to 23 characters", () => {
    for (const id of ["a", "xs-iot-sim", "x".repeat(23)]) expect(mqttsnClientId(id)).toBe(id);
  });

  it("above 23: the first 14 characters, '-' and 8 hex digits of the id's FNV-1a hash; 23 characters, the same every time", () => {
    for (let n = 24; n <= 32; n++) {
      const id = "device-" + "abcdefghijklmnopqrstuvwxyz".slice(0, n - 7);
      const c = mqttsnClientId(id);
      expect(c.length).toBe(23);
      expect(c.slice(0, 15)).toBe(id.slice(0, 14) + "-");
      expect(c).toMatch(/-[0-9a-f]{8}$/);
      expect(mqttsnClientId(id)).toBe(c);
    }
    // FNV-1a 32 of the id, by hand for one: offset basis 0x811C9DC5, prime 0x01000193.
    const id = "a-device-id-of-thirty-two-chars0";
    let h = 0x811c9dc5;
    for (let i = 0; i < id.length; i++) h = Number((BigInt(h ^ id.charCodeAt(i)) * 0x01000193n) & 0xffffffffn) >>> 0;
    expect(mqttsnClientId(id)).toBe("a-device-id-of-" + h.toString(16).padStart(8, "0"));
  });

  it("ids that share their first 14 characters get different ClientIds", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add(mqttsnClientId("same-14-prefix-device-" + i));
    expect(seen.size).toBe(200);
  });
});
