/*
 * CoAP error answers in words, for `xs-iot config --via coap://...`: one line with the code,
 * its name (RFC 7252 §5.9 and §12.1.2 Table 6; 4.08 RFC 7959 §2.9.2; 4.09 and 4.22 RFC 8132
 * §3.4; 4.29 RFC 8516) and what it means for a configuration command, with the server's
 * diagnostic payload (§5.5.2) and, for 5.03 and 4.29, when to ask again (Max-Age, §5.9.3.4).
 * Node only (the firmware answers with codes; names cost bytecode it does not need).
 */
import type { CoapResponse } from "../../modules/coap/client";

/** Code -> [name, what it means to a configuration command]. */
const MEANINGS: { [code: number]: [string, string] } = {
  0x80: ["Bad Request", "the server refused the request as malformed (a device says why in its reasons)"],
  0x81: ["Unauthorized", "the command's signature was refused: check --key and --device (a device tells an unauthenticated sender nothing more)"],
  0x82: ["Bad Option", "the server did not understand a critical option of the request"],
  0x83: ["Forbidden", "the server does not allow this request"],
  0x84: ["Not Found", "there is no such resource there: is this the device's CoAP port (the CoAP line of its banner)?"],
  0x85: ["Method Not Allowed", "the resource does not take this method"],
  0x86: ["Not Acceptable", "the server cannot answer in the format asked for (JSON, or CBOR with --cbor)"],
  0x88: ["Request Entity Incomplete", "the server did not get every block of the request"],
  0x89: ["Conflict", "the change conflicts with the resource's current state"],
  0x8c: ["Precondition Failed", "a precondition of the request did not hold"],
  0x8d: ["Request Entity Too Large", "the command is larger than the server takes"],
  0x8f: ["Unsupported Content-Format", "the server does not take the request's format (try with or without --cbor)"],
  0x96: ["Unprocessable Entity", "the server understood the request but cannot apply it"],
  0x9d: ["Too Many Requests", "the server takes fewer requests from this client"],
  0xa0: ["Internal Server Error", "the server failed to carry out the request (a device: its storage failed)"],
  0xa1: ["Not Implemented", "the server does not implement this method"],
  0xa2: ["Bad Gateway", "a proxy got a bad answer from the server behind it"],
  0xa3: ["Service Unavailable", "the server cannot answer now (a device: more commands than its rate limit lets through)"],
  0xa4: ["Gateway Timeout", "a proxy got no answer in time from the server behind it"],
  0xa5: ["Proxying Not Supported", "the server is not a proxy for that URI"],
};

/** Max-Age (RFC 7252 §5.10.5), option 14, when the answer has one. */
const MAX_AGE = 14;

/**
 * "5.03 Service Unavailable ("busy"): the server cannot answer now (...); ask again in 7 s (Max-Age)"
 * for a 4.xx or 5.xx answer; undefined for a success. A diagnostic payload is quoted when it is
 * text (no Content-Format, §5.5.2), on one line and at most 120 characters.
 */
export function coapErrorLine(res: Pick<CoapResponse, "code" | "status" | "ok" | "options" | "maxAge" | "contentFormat" | "payload">): string | undefined {
  if (res.ok || res.code >> 5 < 4) return undefined;
  const known = MEANINGS[res.code];
  let line = res.status + " " + (known ? known[0] : res.code >> 5 === 4 ? "(a client error)" : "(a server error)");
  if (res.contentFormat === undefined && res.payload.length) {
    const text = new TextDecoder("utf-8", { fatal: false }).decode(res.payload).replace(/\s+/g, " ").trim();
    if (text) line += ` ("${text.length > 120 ? text.slice(0, 117) + "..." : text}")`;
  }
  if (known) line += ": " + known[1];
  if ((res.code === 0xa3 || res.code === 0x9d) && res.options.some((o) => o.number === MAX_AGE)) line += `; ask again in ${res.maxAge} s (Max-Age)`;
  return line;
}
