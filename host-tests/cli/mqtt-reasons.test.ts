/*
 * sim/node/mqtt-reasons.ts: the device's MQTT errors carry a reason code and the section that
 * defines it; host-side output names the code (MQTT 5.0 §2.4 Table 2-6, MQTT 3.1.1 §3.2.2.3
 * Table 3.1). Node only.
 */
import { MqttError } from "../../modules/mqtt/session-error";
import { hex } from "../../modules/mqtt/session";
import { nameReasonCodes } from "../../sim/node/mqtt-reasons";

/** A message as modules/mqtt makes it: "<what>: 0xNN <section>". */
const device = (what: string, rc: number, section: string) => new MqttError("connect-refused", what + ": " + hex(rc), rc, section).message;

describe("nameReasonCodes", () => {
  it("a 5.0 CONNACK refusal (§3.2.2.2): the code and its name instead of the section", () => {
    expect(device("connection refused", 0x87, "§3.2.2.2")).toBe("connection refused: 0x87 §3.2.2.2");
    expect(nameReasonCodes("mqtt: " + device("connection refused", 0x87, "§3.2.2.2"))).toBe("mqtt: connection refused: 0x87 Not authorized");
    expect(nameReasonCodes(device("connection refused", 0x86, "§3.2.2.2"))).toBe("connection refused: 0x86 Bad user name or password");
    expect(nameReasonCodes(device("connection refused", 0x84, "§3.2.2.2"))).toBe("connection refused: 0x84 Unsupported protocol version");
    expect(nameReasonCodes(device("connection refused", 0x9b, "§3.2.2.2"))).toBe("connection refused: 0x9b QoS not supported");
  });

  it("a 3.1.1 CONNACK return code (§3.2.2.3) from 3.1.1's table, not 5.0's", () => {
    expect(nameReasonCodes(device("connection refused", 0x05, "§3.2.2.3"))).toBe("connection refused: 0x05 Not authorized");
    expect(nameReasonCodes(device("connection refused", 0x04, "§3.2.2.3"))).toBe("connection refused: 0x04 Bad user name or password");
    expect(nameReasonCodes(device("connection refused", 0x02, "§3.2.2.3"))).toBe("connection refused: 0x02 Identifier rejected");
  });

  it("a server's DISCONNECT (§3.14.2.1) and a refused PUBLISH ([MQTT-4.4.0-2]); in a longer text, each one", () => {
    expect(nameReasonCodes(device("server disconnected", 0x8e, "§3.14.2.1"))).toBe("server disconnected: 0x8e Session taken over");
    const two = `MQTT gave up: ${device("connection refused", 0x87, "§3.2.2.2")}; telemetry: ${device("refused", 0x97, "[MQTT-4.4.0-2]")}`;
    expect(nameReasonCodes(two)).toBe("MQTT gave up: connection refused: 0x87 Not authorized; telemetry: refused: 0x97 Quota exceeded");
  });

  it("a code with no name keeps its section; other text is left as it is", () => {
    expect(nameReasonCodes("connection refused: 0x03 §3.2.2.2")).toBe("connection refused: 0x03 §3.2.2.2");
    expect(nameReasonCodes("connection refused: 0x09 §3.2.2.3")).toBe("connection refused: 0x09 §3.2.2.3");
    expect(nameReasonCodes('{"value": "0x87 is a number"}')).toBe('{"value": "0x87 is a number"}');
  });
});
