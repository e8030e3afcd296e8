/**
 * MQTT-SN sizes (issue 18, Benchmarks), measured once, no timed cases:
 *
 * 1. Bytes on the wire per reading: one SenML reading of the simulated board, as the app
 *    sends it, in an MQTT-SN PUBLISH on a registered or pre-defined topic id (the 7-octet
 *    header, §5.4.12), beside an MQTT 5 PUBLISH with a Topic Alias (MQTT.js's mqtt-packet
 *    generates it: empty topic + alias, as every PUBLISH after the first to that topic) and a
 *    CoAP NON POST as the app sends it (our codec: token of 4, Uri-Path "tele",
 *    Content-Format). Then the whole QoS 1 (CoAP: CON) exchange with IPv4 + UDP (28 octets)
 *    or IPv4 + TCP (40 octets, no TCP options; TCP's own ACKs not counted) headers. Ratios are
 *    peer / ours: above 1, ours is smaller.
 * 2. XS bytecode the firmware ships for the client: each file of modules/mqttsn compiled on
 *    its own as mcconfig does (TypeScript to an ES module, then the SDK's xsc -e), and the
 *    client's bundle (rollup) for comparison. Needs $MODDABLE (a built SDK); skipped without.
 */
import * as fs from "fs";
import * as path from "path";
import type { BenchCase } from "./harness";
import { findXsc, fixedResult, measureSizes, spec, xscSize } from "./xsc-size";
import { encode } from "../modules/mqttsn/codec";
import { encode as encodeCoap } from "../modules/coap/codec";
import { COAP_MESSAGE, COAP_REQUEST, COAP_OPTION } from "../modules/coap/constants";
import { hotPublish, PAYLOAD, readingPayload } from "./mqttsn-cases";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const mqttPacket = require("mqtt-packet");

const IPV4_UDP = 28;
const IPV4_TCP = 40;

for (const format of ["json", "cbor"] as const) {
  const payload = readingPayload(format);
  const sn = encode(hotPublish(payload)).length;
  const snPre = encode({ ...hotPublish(payload), topicIdType: 1, topicId: 10 } as never).length;
  const m5 = mqttPacket.generate({ cmd: "publish", topic: "", payload: Buffer.from(payload), qos: 1, messageId: 42, properties: { topicAlias: 1 } }, { protocolVersion: 5 }).length;
  const m5first = mqttPacket.generate({ cmd: "publish", topic: "xs-iot/xs-iot-sim/tele", payload: Buffer.from(payload), qos: 1, messageId: 42, properties: { topicAlias: 1 } }, { protocolVersion: 5 }).length;
  const m5ack = mqttPacket.generate({ cmd: "puback", messageId: 42, reasonCode: 0 }, { protocolVersion: 5 }).length;
  const coap = (type: number) =>
    encodeCoap({
      type: type as never,
      code: COAP_REQUEST.POST,
      messageId: 1,
      token: new Uint8Array(4),
      options: [
        { number: COAP_OPTION.URI_PATH, value: new Uint8Array([0x74, 0x65, 0x6c, 0x65]) },
        { number: COAP_OPTION.CONTENT_FORMAT, value: new Uint8Array([format === "json" ? 110 : 112]) },
      ],
      payload,
    }).length;
  const coapNon = coap(COAP_MESSAGE.NON);
  const coapCon = coap(COAP_MESSAGE.CON);
  const coapAck = encodeCoap({ type: COAP_MESSAGE.ACK, code: 0x44, messageId: 1, token: new Uint8Array(4), options: [], payload: new Uint8Array(0) }).length;
  const snAck = encode({ type: 0x0d, topicId: 0x21, msgId: 42, returnCode: 0 }).length;
  const what = `one reading, SenML ${format.toUpperCase()} (${payload.length} B)`;
  fixedResult({ name: `mqttsn wire: ${what}: MQTT-SN PUBLISH, registered topic id`, unit: "bytes", value: sn, peer: "MQTT 5 PUBLISH with Topic Alias (mqtt-packet)", peerValue: m5, notes: `header ${sn - payload.length} B (MQTT-SN 1.2 §5.4.12: 7); MQTT 5: ${m5 - payload.length} B (QoS 1, alias property, empty topic); its first PUBLISH, with the topic: ${m5first} B; ratio peer/ours, above 1: ours smaller` });
  fixedResult({ name: `mqttsn wire: ${what}: MQTT-SN PUBLISH, pre-defined topic id`, unit: "bytes", value: snPre, peer: "CoAP NON POST (our codec, as the app sends it)", peerValue: coapNon, notes: `CoAP: 4 B header, 4 B token, Uri-Path "tele" 5 B, Content-Format 2 B, payload marker 1 B; ratio peer/ours` });
  fixedResult({ name: `mqttsn wire: ${what}: QoS 1 exchange with IPv4+UDP headers (PUBLISH + PUBACK)`, unit: "bytes", value: sn + snAck + 2 * IPV4_UDP, peer: "MQTT 5 over IPv4+TCP (PUBLISH + PUBACK)", peerValue: m5 + m5ack + 2 * IPV4_TCP, notes: `MQTT-SN PUBACK ${snAck} B, MQTT 5 PUBACK ${m5ack} B; 28 B IPv4+UDP, 40 B IPv4+TCP per datagram/segment (no TCP options, TCP's own ACKs not counted)` });
  fixedResult({ name: `mqttsn wire: ${what}: QoS 1 exchange with IPv4+UDP headers, vs CoAP CON + ACK`, unit: "bytes", value: sn + snAck + 2 * IPV4_UDP, peer: "CoAP CON POST + empty ACK over IPv4+UDP", peerValue: coapCon + coapAck + 2 * IPV4_UDP, notes: `CoAP ACK ${coapAck} B (a piggybacked 2.04 with the 4-byte token)` });
}

{
  // The 7-octet minimum (a payload up to 248 octets): the 40-byte payload of the codec benches.
  const sn = encode(hotPublish()).length;
  const m5 = mqttPacket.generate({ cmd: "publish", topic: "", payload: Buffer.from(PAYLOAD), qos: 1, messageId: 42, properties: { topicAlias: 1 } }, { protocolVersion: 5 }).length;
  fixedResult({ name: "mqttsn wire: 40-byte payload: MQTT-SN PUBLISH, registered topic id", unit: "bytes", value: sn, peer: "MQTT 5 PUBLISH with Topic Alias (mqtt-packet)", peerValue: m5, notes: `header ${sn - 40} B (§5.4.12); a PUBLISH over 255 octets takes the 3-octet Length (§5.2.1): 9 B of header, as the JSON reading above` });
}

// --- XS bytecode --------------------------------------------------------------------------
const xsc = findXsc();
if (xsc.path) {
  const ts = require("typescript");
  const dir = path.join(__dirname, "../modules/mqttsn");
  let total = 0;
  const parts: string[] = [];
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".ts")).sort()) {
    const js = ts.transpileModule(fs.readFileSync(path.join(dir, f), "utf8"), { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, isolatedModules: true, useDefineForClassFields: true } }).outputText;
    const n = xscSize(xsc.path, js, "mqttsn_" + f.replace(/\W/g, "_"));
    total += n;
    parts.push(`${f} ${n}`);
  }
  fixedResult({ name: "mqttsn size: XS bytecode the firmware ships for the client (modules/mqttsn, each file on its own, as mcconfig)", unit: "bytes", value: total, notes: parts.join(", ") + "; issue 18's target: <= 10,240 B; shared modules (bytes/utf8, platform/storage) not counted" });
  const [b] = measureSizes([{ name: "mqttsn client bundle", entry: `export { MqttSnClient } from ${spec("modules/mqttsn/client")};`, part: ["/mqttsn/client.ts", "/mqttsn/session.ts", "/mqttsn/codec.ts", "/mqttsn/outbox.ts", "/mqttsn/constants.ts"] }]);
  if (b.xsb !== null) fixedResult({ name: "mqttsn size: XS bytecode, the client as one bundle (rollup, tree-shaken)", unit: "bytes", value: b.xsb, notes: `with what it imports (UTF-8, storage bounds); the mqttsn modules' part alone: ${b.partXsb} B; minified JS ${b.minified} B, gzip ${b.gzip} B` });
} else fixedResult({ name: "mqttsn size: XS bytecode skipped", unit: "bytes", value: NaN, notes: xsc.reason });

const cases: BenchCase[] = [];
export default cases;
