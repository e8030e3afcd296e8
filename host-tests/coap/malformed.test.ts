// @xs
/*
 * Malformed and unacceptable datagrams, each with the answer RFC 7252 (and
 * RFC 7959) requires: decode()'s verdict, rejection()'s action, and what a
 * CoapEndpoint actually puts on the wire.
 */
import { COAP_RESPONSE } from "../../modules/coap/constants";
import { decode, rejection } from "../../modules/coap/codec";
import { CoapEndpoint } from "../../modules/coap/messaging";
import { getOptions } from "../../modules/coap/options";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { VirtualClock } from "../../sim/virtual-clock";
import { Prng } from "../../sim/prng";

type Verdict = "ok" | "version" | "format" | "bad-option" | "bad-request";
type Answer = "ignore" | "rst" | "4.02" | "4.00" | "2.05";

const H = (t: number, tkl = 0) => 0x40 | (t << 4) | tkl; // version 1 header byte
const CON = 0, NON = 1, ACK = 2, RST = 3;
const GET = 1;
const MID = [0x12, 0x34];

// [name, datagram, decode verdict, answer]
const CASES: [string, number[], Verdict, Answer][] = [
  ["empty datagram (§3)", [], "format", "ignore"],
  ["1 byte: truncated header (§3)", [0x40], "format", "ignore"],
  ["3 bytes: truncated header (§3)", [0x40, GET, 0x12], "format", "ignore"],
  ["version 0 (§3: silently ignored)", [0x00, GET, ...MID], "version", "ignore"],
  ["version 2 CON (§3)", [0x80, GET, ...MID], "version", "ignore"],
  ["version 3 CON (§3)", [0xc0, GET, ...MID], "version", "ignore"],
  ["TKL 9 in a CON (§3: format error -> RST)", [H(CON, 9), GET, ...MID, 1, 2, 3, 4, 5, 6, 7, 8, 9], "format", "rst"],
  ["TKL 15 in a CON (§3)", [H(CON, 15), GET, ...MID], "format", "rst"],
  ["TKL 12 in a NON (§3, §4.3: silently rejected)", [H(NON, 12), GET, ...MID], "format", "ignore"],
  ["token truncated", [H(CON, 4), GET, ...MID, 0xaa, 0xbb], "format", "rst"],
  ["option delta nibble 15, not a marker (§3.1)", [H(CON), GET, ...MID, 0xf1, 0x00], "format", "rst"],
  ["option length nibble 15 (§3.1)", [H(CON), GET, ...MID, 0xbf, 0x61], "format", "rst"],
  ["option value runs past the end", [H(CON), GET, ...MID, 0xb5, 0x61, 0x62], "format", "rst"],
  ["extended delta (13) truncated", [H(CON), GET, ...MID, 0xd0], "format", "rst"],
  ["extended delta (14) truncated", [H(CON), GET, ...MID, 0xe0, 0x00], "format", "rst"],
  ["extended length (13) truncated", [H(CON), GET, ...MID, 0xbd], "format", "rst"],
  ["extended length (14) truncated", [H(CON), GET, ...MID, 0xbe, 0x01], "format", "rst"],
  ["payload marker with no payload (§3)", [H(CON), GET, ...MID, 0xff], "format", "rst"],
  ["payload marker with no payload after an option (§3)", [H(CON), GET, ...MID, 0xb1, 0x61, 0xff], "format", "rst"],
  ["option number past 65535", [H(CON), GET, ...MID, 0xe0, 0xff, 0xff, 0xe0, 0xff, 0xff], "format", "rst"],
  ["format error after an unknown critical option: format wins", [H(CON), GET, ...MID, 0x90, 0xf1], "format", "rst"],
  ["Empty CON with a token (§4.1)", [H(CON, 1), 0, ...MID, 0xaa], "format", "rst"],
  ["Empty CON with a payload (§4.1)", [H(CON), 0, ...MID, 0xff, 0x01], "format", "rst"],
  ["Empty ACK with an option (§4.1; ACK never answered §4.2)", [H(ACK), 0, ...MID, 0xb0], "format", "ignore"],
  ["Empty RST with a token (§4.1)", [H(RST, 2), 0, ...MID, 1, 2], "format", "ignore"],
  ["reserved code class 1 in a CON (§4.2)", [H(CON), 0x20, ...MID], "format", "rst"],
  ["reserved code class 6 in a CON (§4.2)", [H(CON), 0xc0, ...MID], "format", "rst"],
  ["reserved code class 7 in a NON (§4.3)", [H(NON), 0xe1, ...MID], "format", "ignore"],
  ["reserved code class 7 in an ACK (§4.2)", [H(ACK), 0xe0, ...MID], "format", "ignore"],
  ["unknown critical option 9 in a CON request (§5.4.1: 4.02)", [H(CON, 1), GET, ...MID, 0xaa, 0x90], "bad-option", "4.02"],
  ["unknown critical option 2049 in a CON request (§5.4.1)", [H(CON), GET, ...MID, 0xe1, 0x06, 0xf4, 0x00], "bad-option", "4.02"],
  ["unknown critical option in a NON request (§5.4.1: rejected)", [H(NON), GET, ...MID, 0x90], "bad-option", "ignore"],
  ["unknown critical option in a CON response (§5.4.1: RST)", [H(CON, 1), 0x45, ...MID, 0xaa, 0x90], "bad-option", "rst"],
  ["unknown critical option in a piggybacked response (ACK ignored)", [H(ACK, 1), 0x45, ...MID, 0xaa, 0x90], "bad-option", "ignore"],
  ["duplicate non-repeatable critical Uri-Host (§5.4.5: 4.02)", [H(CON), GET, ...MID, 0x31, 0x61, 0x01, 0x62], "bad-option", "4.02"],
  ["duplicate non-repeatable critical If-None-Match (§5.4.5)", [H(CON), GET, ...MID, 0x50, 0x00], "bad-option", "4.02"],
  ["duplicate non-repeatable elective Content-Format (§5.4.5: ignored)", [H(CON), GET, ...MID, 0xc1, 0x00, 0x01, 0x32], "ok", "2.05"],
  ["Uri-Port (critical uint 0-2) with 3 bytes (§5.4.3: 4.02)", [H(CON), GET, ...MID, 0x73, 0, 0x16, 0x33], "bad-option", "4.02"],
  ["Content-Format (elective uint 0-2) with 3 bytes (§5.4.3: ignored)", [H(CON), GET, ...MID, 0xc3, 0, 0, 0x32], "ok", "2.05"],
  ["Max-Age (elective uint 0-4) with 5 bytes (ignored)", [H(CON), GET, ...MID, 0xd5, 14 - 13, 0, 0, 0, 0, 1], "ok", "2.05"],
  ["If-None-Match with a value (empty format, §5.4.3)", [H(CON), GET, ...MID, 0x51, 0x00], "bad-option", "4.02"],
  ["Uri-Host of zero length (1-255, §5.4.3)", [H(CON), GET, ...MID, 0x30], "bad-option", "4.02"],
  ["Proxy-Uri of zero length (1-1034)", [H(CON), GET, ...MID, 0xd0, 35 - 13], "bad-option", "4.02"],
  ["ETag of 9 bytes (elective 1-8: ignored)", [H(CON), GET, ...MID, 0x49, 1, 2, 3, 4, 5, 6, 7, 8, 9], "ok", "2.05"],
  ["Block2 SZX 7 in a CON request (RFC 7959 §2.2: 4.00)", [H(CON, 1), GET, ...MID, 0x77, 0xd1, 23 - 13, 0x07], "bad-request", "4.00"],
  ["Block1 SZX 7 in a CON request (RFC 7959 §2.2: 4.00)", [H(CON), 0x02, ...MID, 0xd1, 27 - 13, 0x17, 0xff, 0x61], "bad-request", "4.00"],
  ["Block1 of 4 bytes, a huge block number (critical 0-3: 4.02)", [H(CON), 0x02, ...MID, 0xd4, 27 - 13, 1, 0, 0, 0x06], "bad-option", "4.02"],
  ["Block2 SZX 7 in a CON response (rejected: RST)", [H(CON, 1), 0x45, ...MID, 0x77, 0xd1, 23 - 13, 0x07], "bad-request", "rst"],
  ["Observe of 4 bytes (elective 0-3: ignored)", [H(CON), GET, ...MID, 0x64, 1, 2, 3, 4], "ok", "2.05"],
  ["unknown elective option 258 (§5.4.1: ignored)", [H(CON), GET, ...MID, 0xd1, 258 - 13, 0x01], "ok", "2.05"],
  ["RST that is not Empty (§4.2: silently ignored)", [H(RST), 0x45, ...MID], "ok", "ignore"],
  ["ACK carrying a request (§4.2: silently ignored)", [H(ACK), GET, ...MID], "ok", "ignore"],
  ["Empty NON (§4.3: rejected)", [H(NON), 0, ...MID], "ok", "ignore"],
  ["Empty CON: CoAP ping (§4.3: RST)", [H(CON), 0, ...MID], "ok", "rst"],
  ["CON response nobody asked for (§5.3.2: RST)", [H(CON, 2), 0x45, ...MID, 9, 9], "ok", "rst"],
  ["NON response nobody asked for (§5.3.2, §4.3: ignored)", [H(NON, 2), 0x45, ...MID, 9, 9], "ok", "ignore"],
  ["ACK for a message never sent (§4.2: ignored)", [H(ACK), 0, ...MID], "ok", "ignore"],
];

function setup() {
  const clock = new VirtualClock();
  const scheduler = new Scheduler({ clock });
  const rng = new Prng(7);
  const sent: Uint8Array[] = [];
  const requests: number[] = [];
  const errors: unknown[] = [];
  const ep = new CoapEndpoint({
    send: (b) => sent.push(b.slice()),
    scheduler,
    random: (buf) => rng.fill(buf),
    onError: (e) => errors.push(e),
    onRequest: (req) => {
      requests.push(req.code);
      req.respond({ code: COAP_RESPONSE.CONTENT });
    },
  });
  return { ep, sent, requests, errors };
}

function answerOf(sent: Uint8Array[]): Answer | string {
  if (sent.length === 0) return "ignore";
  if (sent.length > 1) return `${sent.length} datagrams`;
  const r = decode(sent[0]);
  if (!r.ok) return "undecodable answer";
  const m = r.message;
  if (m.type === RST && m.code === 0) return "rst";
  const c = m.code;
  return `${c >> 5}.${(c & 31) < 10 ? "0" : ""}${c & 31}`;
}

describe("malformed and unacceptable datagrams", () => {
  it("has at least 30 distinct malformed datagrams", () => {
    const malformed = CASES.filter((c) => c[2] !== "ok");
    expect(malformed.length).toBeGreaterThanOrEqual(30);
    const distinct = new Set(CASES.map((c) => c[1].join(",")));
    expect(distinct.size).toBe(CASES.length);
  });

  it.each(CASES)("%s", (_name, bytes, verdict, answer) => {
    const datagram = Uint8Array.from(bytes);
    const r = decode(datagram);
    expect(r.ok ? "ok" : r.error.kind).toBe(verdict);
    if (!r.ok) {
      const rej = rejection(r.error);
      const expected = answer === "rst" ? "rst" : answer === "4.02" || answer === "4.00" ? "respond" : "ignore";
      expect(rej.action).toBe(expected);
    }
    const { ep, sent, requests, errors } = setup();
    ep.receive(datagram, "10.0.0.9", 5683);
    expect(answerOf(sent)).toBe(answer);
    expect(errors).toEqual([]);
    if (answer !== "2.05") expect(requests).toEqual([]);
    else expect(requests.length).toBe(1);
    if (sent.length === 1 && answer !== "ignore") {
      const reply = decode(sent[0]);
      expect(reply.ok).toBe(true);
      if (reply.ok) {
        // The answer echoes the Message ID (§4.2); a 4.xx also echoes the token (§5.3.1) in an ACK for a CON.
        expect(reply.message.messageId).toBe(0x1234);
        if (answer === "4.02" || answer === "4.00") {
          expect(reply.message.type).toBe(ACK);
          const tkl = bytes[0] & 15;
          expect(Array.from(reply.message.token)).toEqual(bytes.slice(4, 4 + tkl));
          expect(reply.message.payload.length).toBeGreaterThan(0); // diagnostic payload (§5.5.2)
        }
      }
    }
  });

  it("the elective duplicate keeps only the first occurrence (§5.4.5)", () => {
    const r = decode(Uint8Array.from([H(CON), GET, ...MID, 0xc1, 0x00, 0x01, 0x32]));
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(getOptions(r.message, 12).length).toBe(1);
      expect(r.message.options[0].value[0]).toBe(0);
    }
  });

  it("errors carry what could be read: message ID, type, code and token", () => {
    const r = decode(Uint8Array.from([H(CON, 2), GET, ...MID, 0xab, 0xcd, 0x90]));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.messageId).toBe(0x1234);
      expect(r.error.type).toBe(CON);
      expect(r.error.code).toBe(GET);
      expect(Array.from(r.error.token!)).toEqual([0xab, 0xcd]);
      expect(r.error.option).toBe(9);
    }
  });

  it("a NON request with a bad option gets a NON 4.02 when the policy asks for it", () => {
    const r = decode(Uint8Array.from([H(NON, 1), GET, ...MID, 0x55, 0x90]));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      const rej = rejection(r.error, { nonRequest: "respond" });
      expect(rej.action).toBe("respond");
      if (rej.action === "respond") {
        expect(rej.type).toBe(NON);
        expect(rej.code).toBe(0x82);
      }
      expect(rejection(r.error, { nonRequest: "rst" }).action).toBe("rst");
    }
  });

  it("never throws on random garbage (10,000 datagrams)", () => {
    const rng = new Prng(42);
    let ok = 0;
    for (let i = 0; i < 10000; i++) {
      const n = rng.int(0, 40);
      const b = rng.fill(new Uint8Array(n));
      if (i & 1) b[0] = (b[0] & 0x3f) | 0x40; // mostly version 1
      const r = decode(b);
      if (r.ok) ok++;
      else expect(typeof r.error.reason).toBe("string");
    }
    expect(ok).toBeGreaterThan(0);
  });
});
