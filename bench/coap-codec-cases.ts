/**
 * CoAP codec benchmark cases shared by Node (bench/coap-codec.bench.ts, against coap-packet)
 * and XS (bench/xs/coap-codec.bench.ts, no peer). Portable: no Node API.
 *
 * Two typical sensor messages (issue 4, Benchmarks):
 *  - a CON POST of a reading: 4-byte token, Uri-Path "tele", Content-Format 110
 *    (application/senml+json), a 40-byte SenML payload;
 *  - a piggybacked 2.05 Content answer to an observation: the same token, ETag (4 bytes),
 *    Observe, Content-Format 110, Max-Age 60, the same payload.
 */
import type { BenchCase } from "./harness";
import { decode, encode, type CoapMessage } from "../modules/coap/codec";
import { encodeInto } from "../modules/coap/option-helpers";
import { opaqueOption, stringOption, uintOption, type CoapOption } from "../modules/coap/options";
import {
  COAP_MEDIATYPE,
  COAP_MESSAGE,
  COAP_OPTION,
  COAP_REQUEST,
  COAP_RESPONSE,
} from "../modules/coap/constants";

/** 40 bytes of SenML JSON (RFC 8428 §5). */
export const SENML = '[{"n":"temperature","u":"Cel","v":23.5}]';
export const PAYLOAD = new Uint8Array(SENML.length);
for (let i = 0; i < SENML.length; i++) PAYLOAD[i] = SENML.charCodeAt(i); // ASCII
export const TOKEN = Uint8Array.of(0x5a, 0x17, 0xc3, 0x08);
export const ETAG = Uint8Array.of(0x9e, 0x21, 0x4b, 0x70);
export const MESSAGE_ID = 0x7d34;
export const OBSERVE_SEQUENCE = 12345;
export const MAX_AGE = 60;

/** The reading options, sorted by number: Uri-Path (11), Content-Format (12). */
export function readingOptions(): CoapOption[] {
  return [stringOption(COAP_OPTION.URI_PATH, "tele"), uintOption(COAP_OPTION.CONTENT_FORMAT, COAP_MEDIATYPE.APPLICATION_SENML_JSON)];
}

export function postReading(): CoapMessage {
  return { type: COAP_MESSAGE.CON, code: COAP_REQUEST.POST, messageId: MESSAGE_ID, token: TOKEN, options: readingOptions(), payload: PAYLOAD };
}

/** ETag (4), Observe (6), Content-Format (12), Max-Age (14). */
export function contentResponse(): CoapMessage {
  return {
    type: COAP_MESSAGE.ACK,
    code: COAP_RESPONSE.CONTENT,
    messageId: MESSAGE_ID,
    token: TOKEN,
    options: [
      opaqueOption(COAP_OPTION.ETAG, ETAG),
      uintOption(COAP_OPTION.OBSERVE, OBSERVE_SEQUENCE),
      uintOption(COAP_OPTION.CONTENT_FORMAT, COAP_MEDIATYPE.APPLICATION_SENML_JSON),
      uintOption(COAP_OPTION.MAX_AGE, MAX_AGE),
    ],
    payload: PAYLOAD,
  };
}

/** A NON POST of the reading with the given token (bytes on the wire). */
export function nonReading(token: Uint8Array): CoapMessage {
  return { type: COAP_MESSAGE.NON, code: COAP_REQUEST.POST, messageId: MESSAGE_ID, token, options: readingOptions(), payload: PAYLOAD };
}

/**
 * The smallest datagram RFC 7252 allows for given content, computed from the format rules
 * alone (not by our encoder): the 4-byte header (§3), the token, each option as one header
 * byte plus its extended delta/length bytes (§3.1: 13..268 one byte, 269.. two) plus its value,
 * and the payload marker plus the payload when there is one (§3).
 */
export function rfcMinimumSize(tokenLength: number, options: readonly { number: number; length: number }[], payloadLength: number): number {
  const ext = (v: number) => (v < 13 ? 0 : v < 269 ? 1 : 2);
  let n = 4 + tokenLength;
  let prev = 0;
  for (const o of options) {
    n += 1 + ext(o.number - prev) + ext(o.length) + o.length;
    prev = o.number;
  }
  return n + (payloadLength > 0 ? 1 + payloadLength : 0);
}

/** Fields checked after a decode of either message. */
export function checkDecoded(m: CoapMessage, expect: CoapMessage, what: string): void {
  if (m.type !== expect.type || m.code !== expect.code || m.messageId !== expect.messageId) throw new Error(what + ": header differs");
  if (m.token.length !== expect.token.length || m.payload.length !== expect.payload.length) throw new Error(what + ": token or payload length differs");
  if (m.options.length !== expect.options.length) throw new Error(what + ": option count " + m.options.length);
  for (let i = 0; i < m.options.length; i++) {
    const a = m.options[i];
    const b = expect.options[i];
    if (a.number !== b.number || a.value.length !== b.value.length) throw new Error(what + ": option " + i + " differs");
    for (let k = 0; k < a.value.length; k++) if (a.value[k] !== b.value[k]) throw new Error(what + ": option " + a.number + " value differs");
  }
}

/** Reads every option value and the payload (what a handler does), returns a checksum. */
function touchAll(m: CoapMessage): number {
  let sum = m.payload.length + m.token.length;
  const opts = m.options;
  for (let i = 0; i < opts.length; i++) sum += opts[i].value.length;
  return sum;
}

export interface MessageCases {
  /** decode(), options left as lazy views. */
  decode: BenchCase;
  /** decode() then read every option value and the payload. */
  decodeRead: BenchCase;
  /** encode(): a new exact Uint8Array per message. */
  encodeNew: BenchCase;
  /** encodeInto() (option-helpers.ts, hosts): encode() and a copy into the caller's reused buffer. */
  encodeInto: BenchCase;
  message: CoapMessage;
  wire: Uint8Array;
}

/** The four cases for one message; `peer*` fields are filled in by the Node file. */
export function messageCases(label: string, message: CoapMessage): MessageCases {
  const wire = encode(message);
  const out = new Uint8Array(256);
  const size = " (" + wire.length + " B)";
  return {
    message,
    wire,
    decode: {
      name: "coap decode " + label + size,
      run: () => decode(wire),
      check: () => {
        const r = decode(wire);
        if (!r.ok) throw new Error("decode check: " + r.error.reason);
        checkDecoded(r.message, message, "decode " + label);
      },
      notes: "option values stay lazy views until read",
    },
    decodeRead: {
      name: "coap decode + read all options " + label + size,
      run: () => {
        const r = decode(wire);
        return r.ok ? touchAll(r.message) : -1;
      },
    },
    encodeNew: {
      name: "coap encode " + label + ", new exact array (encode)",
      run: () => encode(message),
    },
    encodeInto: {
      name: "coap encode " + label + ", caller's buffer (encodeInto)",
      run: () => encodeInto(message, out, 0),
    },
  };
}

export function allCases(): { request: MessageCases; response: MessageCases } {
  return {
    request: messageCases("CON POST reading", postReading()),
    response: messageCases("ACK 2.05 ETag/Observe/Max-Age", contentResponse()),
  };
}

/** Case order used by both engines. */
export function caseList(c: { request: MessageCases; response: MessageCases }): BenchCase[] {
  const out: BenchCase[] = [];
  for (const m of [c.request, c.response]) out.push(m.decode, m.decodeRead, m.encodeNew, m.encodeInto);
  return out;
}
