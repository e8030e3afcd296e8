/*
 * Bytes on the wire for a steady stream of QoS 0 readings on MQTT 5.0 with automatic topic
 * aliases (topic "tele/esp32-a1b2c3/SENSOR", 40-byte payload), and the session's publish
 * rate while producing it.
 *
 * Spec minimum for such a PUBLISH (MQTT 5.0 §3.3): fixed header 1 + Remaining Length 1
 * (47 < 128) + Topic Name length 2 (empty, §3.3.2.1 with a Topic Alias) + Property Length 1
 * + Topic Alias property 3 (§3.3.2.3.4) + payload 40 = 48 bytes. The full topic instead
 * costs 2 + 24 + 1 = 27 bytes of header data, so without an alias it is 69 bytes. The first
 * message must carry topic + alias: 72 bytes. check() proves we send exactly that.
 */
import type { BenchCase } from "./harness";
import { MqttSession } from "../modules/mqtt/session";
import { encodePacket } from "../host-tests/support/mqtt-codec";
import { Mqtt5 } from "../modules/mqtt/mqtt5";

const TOPIC = "tele/esp32-a1b2c3/SENSOR";
const PAYLOAD = new TextEncoder().encode('{"t":21.53,"h":48.2,"p":1013.25,"v":3.3}'.slice(0, 40));
const SPEC_MINIMUM = 1 + 1 + 2 + 1 + 3 + PAYLOAD.length;
const WITHOUT_ALIAS = 1 + 1 + 2 + TOPIC.length + 1 + PAYLOAD.length;

/** A connected 5.0 session whose publish() records the size of each packet it queues. */
function streamSession(): { session: { publish(topic: string, payload: Uint8Array): void }; sizes: number[] } {
  const sizes: number[] = [];
  const s = new MqttSession({ clientId: "bench", keepAlive: 0, v5: new Mqtt5() });
  s.connect(0);
  s.receive(encodePacket({ type: 2, sessionPresent: false, reasonCode: 0, properties: { topicAliasMaximum: 10 } }, 5), 0);
  s.tx.length = s.events.length = 0;
  const session = {
    publish(topic: string, payload: Uint8Array): void {
      s.publish(topic, payload, undefined, undefined, 0);
      for (let i = 0; i < s.tx.length; i++) sizes.push(s.tx[i].length);
      s.tx.length = 0;
    },
  };
  return { session, sizes };
}

const live = streamSession();
let sent = 0;

const cases: BenchCase[] = [
  {
    name: `QoS 0 stream, 5.0 topic alias: ${SPEC_MINIMUM} B/msg on the wire (spec minimum ${SPEC_MINIMUM}; no alias ${WITHOUT_ALIAS}; first msg ${SPEC_MINIMUM + TOPIC.length + 0})`,
    unit: "msg/s",
    run: () => {
      live.session.publish(TOPIC, PAYLOAD);
      if (++sent === 4096) {
        live.sizes.length = 0;
        sent = 0;
      }
      return sent;
    },
    check: () => {
      const { session, sizes } = streamSession();
      for (let i = 0; i < 1000; i++) session.publish(TOPIC, PAYLOAD);
      if (sizes[0] !== SPEC_MINIMUM + TOPIC.length) throw new Error("first PUBLISH is " + sizes[0] + " bytes, expected " + (SPEC_MINIMUM + TOPIC.length));
      for (let i = 1; i < sizes.length; i++) {
        if (sizes[i] !== SPEC_MINIMUM) throw new Error("PUBLISH " + i + " is " + sizes[i] + " bytes, spec minimum " + SPEC_MINIMUM);
      }
      const total = sizes.reduce((a, b) => a + b, 0);
      process.stderr.write(`mqtt-wire: 1000 readings = ${total} bytes (${(total / 1000).toFixed(2)} B/msg; steady ${SPEC_MINIMUM} = spec minimum; without aliases ${WITHOUT_ALIAS})\n`);
    },
    notes: `steady state ${SPEC_MINIMUM} B per reading = the minimum MQTT 5.0 allows; ${WITHOUT_ALIAS} B without aliases; the first costs ${SPEC_MINIMUM + TOPIC.length} B (topic + alias)`,
  },
];

export default cases;
