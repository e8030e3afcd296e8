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
 * 2. XS bytecode the firmware ships for the client: the files of modules/mqttsn in the app's
 *    import closure, each compiled on its own as mcconfig does (TypeScript to an ES module,
 *    then the SDK's xsc -e), beside the full-featured client (the core and every part) and
 *    the client before the split (git, compiled in the same run). Needs $MODDABLE (a built
 *    SDK); skipped without.
 */
import * as fs from "fs";
import * as path from "path";
import type { BenchCase } from "./harness";
import { execFileSync } from "child_process";
import { findXsc, fixedResult, xscSize } from "./xsc-size";
import { importClosure } from "../host-tests/support/import-closure";
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
// Each module compiled on its own as mcconfig compiles it (TypeScript to an ES module, then the
// SDK's xsc -e): what the app ships is the files of modules/mqttsn in src/main.ts's import
// closure (the same closure host-tests/mqttsn/imports.test.ts checks against manifest.json);
// the full-featured client is the core with every part; the baseline is the client before the
// split (BASELINE: every file of modules/mqttsn then, the "today"), read from git and
// compiled in this run by the same xsc.
const BASELINE = "555021e";
const PARTS = ["will-update.ts", "short-topics.ts", "qos2.ts", "discovery.ts", "qos-minus1.ts", "sleep-update.ts"];
const xsc = findXsc();
if (xsc.path) {
  const ts = require("typescript");
  const ROOT = path.join(__dirname, "..");
  const rel = (f: string) => path.relative(ROOT, f);
  const compile = (file: string, source: string) =>
    xscSize(xsc.path!, ts.transpileModule(source, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, isolatedModules: true, useDefineForClassFields: true } }).outputText, "sz_" + file.replace(/\W/g, "_"));
  const size = new Map<string, number>();
  const of = (file: string) => size.get(file) ?? (size.set(file, compile(file, fs.readFileSync(path.join(ROOT, file), "utf8"))), size.get(file)!);
  const sum = (files: string[]) => files.reduce((n, f) => n + of(f), 0);
  const list = (files: string[]) => files.map((f) => `${path.basename(f)} ${of(f)}`).join(", ");
  const closure = (entry: string) => [...importClosure(path.join(ROOT, entry))].map(rel);
  const shipped = closure("src/main.ts").filter((f) => f.startsWith("modules/mqttsn/")).sort();
  const full = [...new Set(closure("modules/mqttsn/session.ts").concat(PARTS.map((p) => "modules/mqttsn/" + p)))].filter((f) => f.startsWith("modules/mqttsn/")).sort();
  let before = NaN;
  let beforeNotes = `git show ${BASELINE} failed: the baseline is the figure measured then, 34,246 B`;
  try {
    const names = execFileSync("git", ["ls-tree", "--name-only", BASELINE, "modules/mqttsn/"], { cwd: ROOT }).toString().trim().split("\n");
    const each = names.map((f) => [f, compile("base_" + f, execFileSync("git", ["show", `${BASELINE}:${f}`], { cwd: ROOT }).toString())] as const);
    before = each.reduce((n, [, b]) => n + b, 0);
    beforeNotes = each.map(([f, b]) => `${path.basename(f)} ${b}`).join(", ");
  } catch {
    before = 34246;
  }
  const target = "issue 18's target: <= 10,240 B";
  fixedResult({ name: "mqttsn size: what the app ships (modules/mqttsn in src/main.ts's import closure, each file as mcconfig compiles it)", unit: "bytes", value: sum(shipped), peer: `the client before the split (${BASELINE}, every file)`, peerValue: before, notes: `${list(shipped)}; ${target}; before: ${beforeNotes}; ratio before/now` });
  fixedResult({ name: "mqttsn size: the full-featured client (the core and every part)", unit: "bytes", value: sum(full), peer: `the client before the split (${BASELINE}, every file)`, peerValue: before, notes: `${list(full)}; ratio before/now` });
  for (const p of PARTS) if (!shipped.includes("modules/mqttsn/" + p)) fixedResult({ name: `mqttsn size: part ${p} (not in the app's firmware)`, unit: "bytes", value: of("modules/mqttsn/" + p) });
  fixedResult({ name: "mqttsn size: the app's link, src/mqttsn-link.ts (app code, beside the client)", unit: "bytes", value: of("src/mqttsn-link.ts"), notes: "the part of MqttClient the app uses, over MqttSnClient; not counted in the client's figures" });
  fixedResult({ name: "mqttsn size: the codec (modules/mqttsn/codec.ts + constants.ts: the gateway's and the tests', not in the firmware)", unit: "bytes", value: sum(["modules/mqttsn/codec.ts", "modules/mqttsn/constants.ts"]) });
} else fixedResult({ name: "mqttsn size: XS bytecode skipped", unit: "bytes", value: NaN, notes: xsc.reason });

const cases: BenchCase[] = [];
export default cases;
