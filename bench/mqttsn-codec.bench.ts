/**
 * MQTT-SN codec on Node. No MQTT-SN codec on npm to measure against (none in the registry's
 * list); the peer rows give MQTT.js's mqtt-packet on the MQTT 5 PUBLISH with a Topic Alias that
 * carries the same 40-byte payload: a different protocol, for scale only.
 */
import type { BenchCase } from "./harness";
import { codecCases, PAYLOAD } from "./mqttsn-cases";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const mqttPacket = require("mqtt-packet");

const cases: BenchCase[] = codecCases();
const mp = { cmd: "publish", topic: "", payload: Buffer.from(PAYLOAD), qos: 1, messageId: 42, retain: false, dup: false, properties: { topicAlias: 1 } };
const opts = { protocolVersion: 5 };
const wire = mqttPacket.generate(mp, opts);
const parser = mqttPacket.parser(opts);
let last: unknown = null;
parser.on("packet", (p: unknown) => (last = p));
const note = "peer: mqtt-packet on MQTT 5 PUBLISH QoS 1 with a Topic Alias and the same payload (" + wire.length + " B): another protocol, for scale";
cases[0].peer = "mqtt-packet parse (MQTT 5 + alias)";
cases[0].peerRun = () => (parser.parse(wire), last);
cases[0].notes = note;
cases[1].peer = "mqtt-packet generate (MQTT 5 + alias)";
cases[1].peerRun = () => mqttPacket.generate(mp, opts);
cases[1].notes = note;
export default cases;
