/*
 * Node only: byte-exact cross-check of our codec against coap-packet
 * (node-coap's codec), on fixed vectors and on 500 seeded random messages.
 */
import * as coapPacket from "coap-packet";
import { decode, encode, type CoapMessage } from "../../modules/coap/codec";
import { type CoapOption } from "../../modules/coap/options";
import { STANDARD_OPTION_DEFINITIONS, optionName } from "../../modules/coap/option-helpers";
import { COAP_MESSAGE } from "../../modules/coap/constants";
import { Prng } from "../../sim/prng";

function codeText(code: number): string {
  const d = code & 31;
  return `${code >> 5}.${d < 10 ? "0" : ""}${d}`;
}

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

function typeOf(p: { confirmable: boolean; ack: boolean; reset: boolean }): number {
  return p.confirmable ? COAP_MESSAGE.CON : p.ack ? COAP_MESSAGE.ACK : p.reset ? COAP_MESSAGE.RST : COAP_MESSAGE.NON;
}

function randomMessage(rng: Prng): CoapMessage {
  const type = rng.int(0, 2) as 0 | 1 | 2;
  const code = rng.chance(0.5) ? rng.int(1, 7) : [0x41, 0x44, 0x45, 0x84, 0x82, 0xa0][rng.int(0, 5)];
  const token = rng.fill(new Uint8Array(rng.int(0, 8)));
  const options: CoapOption[] = [];
  const n = rng.int(0, 6);
  for (let i = 0; i < n; i++) {
    const d = STANDARD_OPTION_DEFINITIONS[rng.int(0, STANDARD_OPTION_DEFINITIONS.length - 1)];
    if (!d.repeatable && options.some((o) => o.number === d.number)) continue;
    const max = Math.min(d.maxLength, rng.chance(0.2) ? 400 : 20);
    const len = rng.int(d.minLength, Math.max(d.minLength, max));
    const value = rng.fill(new Uint8Array(len));
    if (d.format === "uint" && len > 0) value[0] = value[0] || 1; // minimal encoding: no leading zero
    if ((d.number === 23 || d.number === 27) && len > 0 && (value[len - 1] & 7) === 7) value[len - 1] &= ~1; // SZX 7 is reserved
    options.push({ number: d.number, value });
  }
  options.sort((a, b) => a.number - b.number);
  const payload = rng.chance(0.3) ? new Uint8Array(0) : rng.fill(new Uint8Array(rng.int(1, rng.chance(0.1) ? 600 : 60)));
  return { type, code, messageId: rng.int(0, 0xffff), token, options, payload };
}

describe("byte-exact agreement with coap-packet", () => {
  it("a GET with Uri-Path and Uri-Query", () => {
    const packet = coapPacket.generate({ messageId: 0x7d34, token: Buffer.from([0x11, 0x22]), code: "0.01", confirmable: true, options: [{ name: "Uri-Path", value: Buffer.from("temperature") }, { name: "Uri-Query", value: Buffer.from("unit=C") }] });
    const ours = encode({ type: COAP_MESSAGE.CON, code: 1, messageId: 0x7d34, token: Uint8Array.of(0x11, 0x22), options: [{ number: 11, value: Buffer.from("temperature") }, { number: 15, value: Buffer.from("unit=C") }], payload: new Uint8Array(0) });
    expect(Buffer.from(ours).equals(packet)).toBe(true);
  });

  it("500 random messages: same bytes, and each side parses the other's output", () => {
    const rng = new Prng(2024);
    for (let i = 0; i < 500; i++) {
      const m = randomMessage(rng);
      const ours = encode(m);
      const theirs = coapPacket.generate(toPacket(m), 65535);
      expect(Buffer.from(ours).toString("hex")).toBe(theirs.toString("hex"));
      const parsed = coapPacket.parse(Buffer.from(ours));
      expect(parsed.messageId).toBe(m.messageId);
      expect(typeOf(parsed)).toBe(m.type);
      expect(parsed.code).toBe(codeText(m.code));
      expect(parsed.token.toString("hex")).toBe(Buffer.from(m.token).toString("hex"));
      expect(parsed.payload.toString("hex")).toBe(Buffer.from(m.payload).toString("hex"));
      expect(parsed.options.length).toBe(m.options.length);
      const r = decode(theirs);
      expect(r.ok ? "ok" : r.error.reason).toBe("ok");
      if (r.ok) {
        expect(r.message.options.map((o) => o.number)).toEqual(m.options.map((o) => o.number));
        expect(r.message.options.map((o) => Buffer.from(o.value).toString("hex"))).toEqual(m.options.map((o) => Buffer.from(o.value).toString("hex")));
        expect(Buffer.from(r.message.payload).equals(Buffer.from(m.payload))).toBe(true);
      }
    }
  });
});
