/** Byte helpers on Node: against TextEncoder/TextDecoder, Buffer and MQTT.js's mqtt-packet. */
import type { BenchCase } from "./harness";
import { sameBytes } from "./harness";
import { varintCases, utf8Cases, VARINTS, TOPIC, PAYLOAD_MIXED } from "./bytes-cases";
import { encodeVarint, decodeVarint, varintSize } from "../modules/bytes/varint";
import { encodeUtf8, decodeUtf8, encodeUtf8New, utf8Length } from "../modules/bytes/utf8";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const numbers = require("mqtt-packet/numbers");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const mqttPacket = require("mqtt-packet");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const BufferList = require("bl");

const [varEnc, varDec] = varintCases();
varEnc.peer = "mqtt-packet genBufVariableByteInt";
varEnc.notes = "the peer allocates a Buffer per value";
varEnc.peerRun = () => {
  let n = 0;
  for (let i = 0; i < VARINTS.length; i++) n += numbers.genBufVariableByteInt(VARINTS[i]).length;
  return n;
};
varEnc.check = () => {
  const out = new Uint8Array(8);
  for (const v of VARINTS) sameBytes(out.subarray(0, encodeVarint(v, out, 0)), numbers.genBufVariableByteInt(v), "varint " + v);
};

// mqtt-packet decodes varints inside its Parser from a BufferList (internal method).
const encoded = Buffer.concat(VARINTS.map((v) => numbers.genBufVariableByteInt(v)));
const parser = mqttPacket.parser();
parser._list = new BufferList([encoded]);
varDec.peer = "mqtt-packet Parser._parseVarByteNum";
varDec.notes = "peer reads through a BufferList, as its parser does";
varDec.peerRun = () => {
  let sum = 0;
  parser._pos = 0;
  while (parser._pos < encoded.length) {
    const r = parser._parseVarByteNum(true);
    sum += r.value;
    parser._pos += r.bytes;
  }
  return sum;
};
varDec.check = () => {
  let o = 0;
  for (const v of VARINTS) {
    if (decodeVarint(encoded, o) !== v) throw new Error("varint decode differs at " + v);
    o += varintSize(v);
  }
};

const buf = Buffer.alloc(4096);
const mixedBytes = encodeUtf8New(PAYLOAD_MIXED);
const mixedBuffer = Buffer.from(mixedBytes);

const bufferCases: BenchCase[] = [
  {
    name: "utf8 encode topic, ASCII, 41 B",
    unit: "MB/s",
    perOp: TOPIC.length / 1e6,
    run: () => encodeUtf8(TOPIC, buf, 0),
    peer: "Buffer.write",
    peerRun: () => buf.write(TOPIC, 0, "utf8"),
  },
  {
    name: "utf8 encode payload, mixed, " + mixedBytes.length + " B",
    unit: "MB/s",
    perOp: mixedBytes.length / 1e6,
    run: () => encodeUtf8(PAYLOAD_MIXED, buf, 0),
    peer: "Buffer.write",
    peerRun: () => buf.write(PAYLOAD_MIXED, 0, "utf8"),
  },
  {
    name: "utf8 decode (strict) payload, mixed, " + mixedBytes.length + " B",
    unit: "MB/s",
    perOp: mixedBytes.length / 1e6,
    run: () => decodeUtf8(mixedBuffer, 0, mixedBuffer.length),
    peer: "Buffer.toString (lenient)",
    peerRun: () => mixedBuffer.toString("utf8", 0, mixedBuffer.length),
    notes: "Buffer.toString replaces ill-formed input instead of refusing it",
  },
  {
    name: "utf8Length mixed " + mixedBytes.length + " B",
    unit: "MB/s",
    perOp: mixedBytes.length / 1e6,
    run: () => utf8Length(PAYLOAD_MIXED),
    peer: "Buffer.byteLength",
    peerRun: () => Buffer.byteLength(PAYLOAD_MIXED, "utf8"),
  },
];

const cases: BenchCase[] = [varEnc, varDec, ...utf8Cases({ TextEncoder, TextDecoder } as never), ...bufferCases];
export default cases;
