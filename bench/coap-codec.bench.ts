/**
 * CoAP codec on Node against coap-packet, node-coap's codec (issue 4: encode >= 3x, decode >= 1x),
 * plus bytes on the wire for one NON sensor reading against the RFC 7252 minimum.
 */
import type { BenchCase } from "./harness";
import { sameBytes } from "./harness";
import { allCases, caseList, nonReading, rfcMinimumSize, PAYLOAD, type MessageCases } from "./coap-codec-cases";
import { fixedResult } from "./xsc-size";
import { encode, type CoapMessage } from "../modules/coap/codec";
import { CoapEndpoint } from "../modules/coap/messaging";
import { optionName } from "../modules/coap/option-helpers";
import { COAP_MESSAGE, COAP_OPTION, COAP_REQUEST } from "../modules/coap/constants";
import { Scheduler } from "../modules/scheduler/scheduler";
import { VirtualClock } from "../sim/virtual-clock";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const coapPacket = require("coap-packet");

function codeText(code: number): string {
  const d = code & 31;
  return `${code >> 5}.${d < 10 ? "0" : ""}${d}`;
}

/** The same message as a coap-packet packet object (Buffers prepared once, as ours are). */
function toPacket(m: CoapMessage) {
  return {
    messageId: m.messageId,
    token: Buffer.from(m.token),
    code: codeText(m.code),
    confirmable: m.type === COAP_MESSAGE.CON,
    ack: m.type === COAP_MESSAGE.ACK,
    reset: m.type === COAP_MESSAGE.RST,
    options: m.options.map((o) => ({ name: optionName(o.number), value: Buffer.from(o.value) })),
    payload: Buffer.from(m.payload),
  };
}

function withPeer(c: MessageCases): void {
  const packet = toPacket(c.message);
  const wire = Buffer.from(c.wire);
  const generate = () => coapPacket.generate(packet);
  const parse = () => coapPacket.parse(wire);
  for (const e of [c.encodeNew, c.encodeInto]) {
    e.peer = "coap-packet generate";
    e.peerRun = generate;
    e.check = () => sameBytes(encode(c.message), generate(), e.name);
  }
  c.encodeNew.notes = "a new Uint8Array per message; coap-packet allocates a Buffer per message";
  c.encodeInto.notes = "encode() then a copy into one reused buffer (a host helper since issue 17: the firmware encodes with encode() only); coap-packet has no such call";
  c.decode.peer = "coap-packet parse";
  c.decode.peerRun = parse;
  const ours = c.decode.check!;
  c.decode.check = () => {
    ours();
    const p = parse();
    if (p.messageId !== c.message.messageId || p.options.length !== c.message.options.length || p.payload.length !== c.message.payload.length) throw new Error("coap-packet parse check failed");
  };
  c.decode.notes = "ours leaves option values as lazy views; coap-packet makes a Buffer per option";
  c.decodeRead.peer = "coap-packet parse";
  c.decodeRead.peerRun = parse;
  c.decodeRead.notes = "ours reads every option value after decoding (the fair comparison); coap-packet's parse already materializes them";
}

const all = allCases();
withPeer(all.request);
withPeer(all.response);

// --- Bytes on the wire for one NON sensor reading ---------------------------------------------
// What our endpoint actually sends for a NON POST of the reading (captured from CoapEndpoint's
// send), against the RFC 7252 minimum for the same content: Uri-Path "tele", Content-Format 110,
// the 40-byte payload, and a 0-byte token (RFC 7252 §5.3.1 allows a zero-length token; nothing
// smaller is possible).
function sentBytes(token?: Uint8Array): number {
  const clock = new VirtualClock();
  const scheduler = new Scheduler({ clock });
  let sent = -1;
  const ep = new CoapEndpoint({
    send: (bytes) => {
      sent = bytes.length;
    },
    scheduler,
    random: (b) => b.fill(0x42),
  });
  const reading = nonReading(token ?? new Uint8Array(0));
  ep.request({ code: COAP_REQUEST.POST, confirmable: false, options: reading.options, payload: reading.payload, token }, "192.0.2.1", 5683);
  ep.close();
  return sent;
}
const minimum = rfcMinimumSize(0, [{ number: COAP_OPTION.URI_PATH, length: 4 }, { number: COAP_OPTION.CONTENT_FORMAT, length: 1 }], PAYLOAD.length);
fixedResult({
  name: "coap bytes on the wire, one NON sensor reading, 0-byte token",
  unit: "bytes",
  value: sentBytes(new Uint8Array(0)),
  peer: "RFC 7252 minimum",
  peerValue: minimum,
  notes: "NON POST Uri-Path tele, Content-Format 110, 40 B SenML; minimum = 4 header + 0 token + (1+4) + (1+1) options + 1 marker + 40 payload; ratio = minimum / ours (1 = no overhead)",
});
fixedResult({
  name: "coap bytes on the wire, one NON sensor reading, default 4-byte token",
  unit: "bytes",
  value: sentBytes(),
  peer: "RFC 7252 minimum (0-byte token)",
  peerValue: minimum,
  notes: "as CoapEndpoint sends it by default (random 4-byte token, RFC 7252 §5.3.1 recommends >= 32 bits when not on a secured link); pass token: new Uint8Array(0) to send the minimum",
});

const cases: BenchCase[] = caseList(all);
export default cases;
