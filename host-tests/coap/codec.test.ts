// @xs
import {
  COAP_MESSAGE,
  COAP_OPTION,
  COAP_REQUEST,
  COAP_RESPONSE,
  COAP_MEDIATYPE,
  codeString,
  transmissionParameters,
} from "../../modules/coap/constants";
import { decode, encode, encodeEmpty, type CoapMessage } from "../../modules/coap/codec";
import { blockOption, decodeUint, encodeUint, getBlock, getStrings, getUint, stringOption, uintOption, blockSize, standardLimits } from "../../modules/coap/options";
import { COAP_CODE, decodeBlockValue, encodeBlockValue, encodeInto, encodedLength, STANDARD_OPTION_DEFINITIONS, STANDARD_OPTIONS, OptionRegistry, getString, getUriPath, isCritical, isNoCacheKey, isReservedCodeClass, isUnsafe, option, uriPathOptions, blockSzx } from "../../modules/coap/option-helpers";
import { observeIsNewer } from "../../modules/coap/observe-order";
import { utf8Decode, utf8Encode } from "../../modules/coap/options";

const u8 = (...b: number[]) => Uint8Array.from(b);
const ascii = (s: string) => utf8Encode(s);
const toArr = (b: Uint8Array) => Array.from(b);

function msg(partial: Partial<CoapMessage>): CoapMessage {
  return { type: COAP_MESSAGE.CON, code: COAP_REQUEST.GET, messageId: 0x1234, token: new Uint8Array(0), options: [], payload: new Uint8Array(0), ...partial };
}

function roundTrip(m: CoapMessage): CoapMessage {
  const r = decode(encode(m));
  if (!r.ok) throw new Error("decode failed: " + r.error.reason);
  return r.message;
}

describe("CoAP header (RFC 7252 §3)", () => {
  it("encodes version 1, type, TKL, code and message ID byte-exactly", () => {
    const bytes = encode(msg({ type: COAP_MESSAGE.NON, code: COAP_RESPONSE.CONTENT, messageId: 0xbeef, token: u8(0xaa, 0xbb) }));
    expect(toArr(bytes)).toEqual([0x52, 0x45, 0xbe, 0xef, 0xaa, 0xbb]);
  });
  it.each([[0], [1], [2], [3]])("round-trips message type %i", (type) => {
    const m = roundTrip(msg({ type: type as 0, code: type === 3 ? 0 : COAP_RESPONSE.CONTENT, token: type === 3 ? new Uint8Array(0) : u8(1) }));
    expect(m.type).toBe(type);
  });
  it.each([[0], [1], [4], [8]])("round-trips a %i-byte token", (n) => {
    const token = new Uint8Array(n).map((_, i) => i + 1);
    expect(toArr(roundTrip(msg({ token })).token)).toEqual(toArr(token));
  });
  it("refuses to encode a 9-byte token (§3)", () => {
    expect(() => encode(msg({ token: new Uint8Array(9) }))).toThrow(RangeError);
  });
  it("refuses to encode an Empty message with a token (§4.1)", () => {
    expect(() => encode(msg({ code: 0, token: u8(1) }))).toThrow(/Empty/);
    expect(() => encode(msg({ code: 0, payload: u8(1) }))).toThrow(RangeError);
  });
  it("encodes an Empty ACK as exactly 4 bytes", () => {
    expect(toArr(encodeEmpty(COAP_MESSAGE.ACK, 0x0102))).toEqual([0x60, 0, 1, 2]);
    expect(toArr(encode(msg({ type: COAP_MESSAGE.RST, code: 0, messageId: 7 })))).toEqual([0x70, 0, 0, 7]);
  });
  it("writes c.dd codes (§5.2 Figure 9)", () => {
    expect(COAP_CODE(4, 4)).toBe(0x84);
    expect(codeString(0x84)).toBe("4.04");
    expect(codeString(COAP_RESPONSE.CONTENT)).toBe("2.05");
    expect(isReservedCodeClass(COAP_CODE(1, 0))).toBe(true);
    expect(isReservedCodeClass(COAP_CODE(6, 0))).toBe(true);
    expect(isReservedCodeClass(COAP_CODE(7, 31))).toBe(true);
    expect(isReservedCodeClass(COAP_CODE(3, 0))).toBe(false);
  });
  it("payload follows a 0xFF marker; no marker when there is no payload (§3)", () => {
    expect(toArr(encode(msg({ payload: ascii("hi") })))).toEqual([0x40, 1, 0x12, 0x34, 0xff, 0x68, 0x69]);
    expect(encode(msg({})).length).toBe(4);
    expect(toArr(roundTrip(msg({ payload: ascii("hi") })).payload)).toEqual([0x68, 0x69]);
  });
  it("encodedLength and encodeInto agree with encode", () => {
    const m = msg({ token: u8(1, 2, 3), options: [stringOption(11, "sensors"), uintOption(12, 50)], payload: ascii("{}") });
    const e = encode(m);
    expect(encodedLength(m)).toBe(e.length);
    const buf = new Uint8Array(64);
    expect(encodeInto(m, buf, 5)).toBe(e.length);
    expect(toArr(buf.subarray(5, 5 + e.length))).toEqual(toArr(e));
    expect(() => encodeInto(m, new Uint8Array(e.length - 1))).toThrow(RangeError);
  });
  it("decode accepts an ArrayBuffer and returns views, not copies", () => {
    const e = encode(msg({ token: u8(9), payload: ascii("abc") }));
    const r = decode(e.buffer as ArrayBuffer);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.message.payload.buffer).toBe(e.buffer);
  });
});

describe("option delta and length encoding (RFC 7252 §3.1)", () => {
  it("uses a 4-bit delta below 13, 1 extended byte for 13..268, 2 bytes from 269", () => {
    expect(toArr(encode(msg({ options: [{ number: 12, value: new Uint8Array(0) }] })).subarray(4))).toEqual([0xc0]);
    expect(toArr(encode(msg({ options: [{ number: 13, value: new Uint8Array(0) }] })).subarray(4))).toEqual([0xd0, 0x00]);
    expect(toArr(encode(msg({ options: [{ number: 268, value: new Uint8Array(0) }] })).subarray(4))).toEqual([0xd0, 0xff]);
    expect(toArr(encode(msg({ options: [{ number: 269, value: new Uint8Array(0) }] })).subarray(4))).toEqual([0xe0, 0x00, 0x00]);
    expect(toArr(encode(msg({ options: [{ number: 65000, value: new Uint8Array(0) }] })).subarray(4))).toEqual([0xe0, (65000 - 269) >> 8, (65000 - 269) & 255]);
  });
  it("uses a 4-bit length below 13, 1 extended byte for 13..268, 2 bytes from 269", () => {
    for (const [len, head] of [[12, [0x8c]], [13, [0x8d, 0]], [268, [0x8d, 255]], [269, [0x8e, 0, 0]], [1034, [0x8e, (1034 - 269) >> 8, (1034 - 269) & 255]]] as [number, number[]][]) {
      const e = encode(msg({ options: [{ number: 8, value: new Uint8Array(len) }] }));
      expect(toArr(e.subarray(4, 4 + head.length))).toEqual(head);
      expect(e.length).toBe(4 + head.length + len);
    }
  });
  it("sorts options by number, keeping repeated options in order", () => {
    const m = roundTrip(msg({ options: [stringOption(15, "b=2"), stringOption(11, "x"), stringOption(15, "a=1"), stringOption(11, "y"), uintOption(7, 5683)] }));
    expect(m.options.map((o) => o.number)).toEqual([7, 11, 11, 15, 15]);
    expect(getStrings(m, 11)).toEqual(["x", "y"]);
    expect(getStrings(m, 15)).toEqual(["b=2", "a=1"]);
  });
  it("round-trips a Proxy-Uri of the maximum 1034 bytes", () => {
    const uri = "coap://h/" + "p".repeat(1025);
    const m = roundTrip(msg({ options: [stringOption(35, uri)] }));
    expect(getString(m, 35)).toBe(uri);
  });
});

// A representative value for every option of RFC 7252 §5.10 Table 4, RFC 7641 and RFC 7959.
const SAMPLE: Record<string, number | string | Uint8Array | null> = {
  "If-Match": u8(1, 2, 3, 4),
  "Uri-Host": "example.org",
  ETag: u8(0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4),
  "If-None-Match": null,
  Observe: 0x123456,
  "Uri-Port": 61616,
  "Location-Path": "created",
  "Uri-Path": "temperature",
  "Content-Format": COAP_MEDIATYPE.APPLICATION_SENML_JSON,
  "Max-Age": 0xffffffff,
  "Uri-Query": "unit=C",
  Accept: 60,
  "Location-Query": "id=7",
  Block2: encodeBlockValue({ num: 5, more: true, szx: 6 }),
  Block1: encodeBlockValue({ num: 0xfffff, more: false, szx: 2 }),
  Size2: 123456,
  "Proxy-Uri": "coap://proxy.example/x",
  "Proxy-Scheme": "coap",
  Size1: 4096,
};

describe("every registered option round-trips (RFC 7252 §5.10, RFC 7641 §2, RFC 7959 §2.1, §4)", () => {
  it.each(STANDARD_OPTION_DEFINITIONS.map((d) => [d.name, d.number]))("%s (%i)", (name, number) => {
    const value = SAMPLE[name as string];
    expect(value === undefined).toBe(false);
    const o = option(number as number, value);
    const m = roundTrip(msg({ options: [o] }));
    expect(m.options.length).toBe(1);
    expect(m.options[0].number).toBe(number);
    if (typeof value === "number") expect(getUint(m, number as number)).toBe(value);
    else if (typeof value === "string") expect(getString(m, number as number)).toBe(value);
    else if (value === null) expect(m.options[0].value.length).toBe(0);
    else expect(toArr(m.options[0].value)).toEqual(toArr(value));
  });
  it("option() refuses a value outside the option's length range (§5.4.3)", () => {
    expect(() => option(COAP_OPTION.ETAG, new Uint8Array(9))).toThrow(RangeError);
    expect(() => option(3, "")).toThrow(/Uri-Host/);
    expect(() => option(COAP_OPTION.CONTENT_FORMAT, 70000)).toThrow(RangeError);
  });
});

describe("option properties from the number (RFC 7252 §5.4.6)", () => {
  it.each([
    [1, true, false, false],
    [3, true, true, false],
    [4, false, false, false],
    [6, false, true, false],
    [11, true, true, false],
    [28, false, false, true],
    [60, false, false, true],
    [14, false, true, false],
    [258, false, true, false],
  ])("option %i: critical=%p unsafe=%p noCacheKey=%p", (n, c, u, nck) => {
    expect(isCritical(n as number)).toBe(c);
    expect(isUnsafe(n as number)).toBe(u);
    expect(isNoCacheKey(n as number)).toBe(nck);
  });
});

describe("uint values (RFC 7252 §3.2)", () => {
  it.each([
    [0, []],
    [1, [1]],
    [255, [255]],
    [256, [1, 0]],
    [65535, [255, 255]],
    [65536, [1, 0, 0]],
    [0xffffff, [255, 255, 255]],
    [0x1000000, [1, 0, 0, 0]],
    [0xffffffff, [255, 255, 255, 255]],
  ])("encodes %i minimally", (v, bytes) => {
    expect(toArr(encodeUint(v as number))).toEqual(bytes);
    expect(decodeUint(Uint8Array.from(bytes as number[]))).toBe(v);
  });
  it("decodes values with leading zero bytes", () => {
    expect(decodeUint(u8(0, 0, 1))).toBe(1);
    expect(decodeUint(u8(0, 0, 0, 0, 0, 2))).toBe(2);
  });
  it("rejects negative, fractional and too large values", () => {
    expect(() => encodeUint(-1)).toThrow(RangeError);
    expect(() => encodeUint(1.5)).toThrow(RangeError);
    expect(() => encodeUint(2 ** 32)).toThrow(RangeError);
  });
});

describe("Block options (RFC 7959 §2.2)", () => {
  it("packs NUM, M and SZX", () => {
    expect(encodeBlockValue({ num: 0, more: false, szx: 0 })).toBe(0);
    expect(encodeBlockValue({ num: 1, more: true, szx: 6 })).toBe(0x1e);
    expect(decodeBlockValue(0x1e)).toEqual({ num: 1, more: true, szx: 6 });
    expect(toArr(blockOption(COAP_OPTION.BLOCK2, { num: 0, more: false, szx: 0 }).value)).toEqual([]);
    expect(blockSize(6)).toBe(1024);
    expect(blockSzx(64)).toBe(2);
    expect(blockSzx(100)).toBe(-1);
  });
  it("SZX 7 is reserved", () => {
    expect(decodeBlockValue(0x17)).toBeUndefined();
    expect(() => encodeBlockValue({ num: 0, more: false, szx: 7 })).toThrow(RangeError);
  });
  it("NUM is at most 2^20-1 (3-byte value)", () => {
    expect(() => encodeBlockValue({ num: 0x100000, more: false, szx: 0 })).toThrow(RangeError);
    const m = roundTrip(msg({ options: [blockOption(COAP_OPTION.BLOCK1, { num: 0xfffff, more: true, szx: 6 })] }));
    expect(getBlock(m, COAP_OPTION.BLOCK1)).toEqual({ num: 0xfffff, more: true, szx: 6 });
    expect(getBlock(m, COAP_OPTION.BLOCK2)).toBeUndefined();
  });
});

describe("Observe (RFC 7641)", () => {
  it("sequence numbers are 24-bit", () => {
    const m = roundTrip(msg({ options: [uintOption(COAP_OPTION.OBSERVE, 0xffffff)] }));
    expect(getUint(m, COAP_OPTION.OBSERVE)).toBe(0xffffff);
  });
  it("orders notifications by 24-bit serial arithmetic or 128 s (§3.4)", () => {
    expect(observeIsNewer(1, 0, 2, 0)).toBe(true);
    expect(observeIsNewer(2, 0, 1, 0)).toBe(false);
    expect(observeIsNewer(0xffffff, 0, 0, 0)).toBe(true); // wrap-around
    expect(observeIsNewer(5, 0, 4, 128001)).toBe(true);
  });
});

describe("helpers", () => {
  it("uriPathOptions and getUriPath", () => {
    const m = roundTrip(msg({ options: uriPathOptions("/sensors/temp/") }));
    expect(getUriPath(m)).toBe("sensors/temp");
    expect(m.options.every((o) => o.number === COAP_OPTION.URI_PATH)).toBe(true);
  });
  it("UTF-8 strings round-trip (§3.2 string)", () => {
    const s = "température/𝄞";
    expect(utf8Decode(utf8Encode(s))).toBe(s);
    expect(getString(roundTrip(msg({ options: [stringOption(11, s)] })), 11)).toBe(s);
  });
  it("UTF-8: a lone surrogate is sent as U+FFFD, an ill-formed received sequence reads as one U+FFFD; neither throws", () => {
    expect(toArr(utf8Encode("a\ud800b"))).toEqual([0x61, 0xef, 0xbf, 0xbd, 0x62]);
    expect(toArr(utf8Encode("\udc00\ud83d"))).toEqual([0xef, 0xbf, 0xbd, 0xef, 0xbf, 0xbd]);
    expect(toArr(utf8Encode("\ud834\udd1e"))).toEqual([0xf0, 0x9d, 0x84, 0x9e]); // a pair is one code point
    expect(utf8Decode(u8(0x61, 0xe2, 0x82, 0x62))).toBe("a\ufffdb"); // truncated 3-byte sequence
    expect(utf8Decode(u8(0x80, 0x61, 0xc0, 0xaf))).toBe("\ufffda\ufffd\ufffd"); // stray continuation, overlong lead
    expect(utf8Decode(u8(0x61, 0x62, 0xf0, 0x9f), 1)).toBe("b\ufffd");
  });
  it("a registry can recognize extra options; a least length over 1 is refused (OptionLimits packs it as one bit)", () => {
    expect(() => new OptionRegistry().define({ number: 2049, minLength: 2, maxLength: 2, repeatable: false })).toThrow(RangeError);
    const reg = new OptionRegistry().define({ number: 9, name: "OSCORE", format: "opaque", minLength: 0, maxLength: 255, repeatable: false });
    const e = encode(msg({ options: [{ number: 9, value: u8(1) }] }));
    expect(decode(e).ok).toBe(false);
    expect(decode(e, { registry: reg.limits }).ok).toBe(true);
  });
  it("the firmware's table of the standard options (options.ts standardLimits) agrees with their definitions", () => {
    for (const n of [...Array(300).keys(), 2049, 65000, 65535]) expect(standardLimits(n)).toBe(STANDARD_OPTIONS.limits(n));
    expect(standardLimits(11)).toBe((255 << 2) | 1); // Uri-Path: 0-255, repeatable
    expect(standardLimits(35)).toBe((1034 << 2) | 2); // Proxy-Uri: 1-1034
    expect(standardLimits(9)).toBe(-1);
  });
});

describe("transmission parameters (RFC 7252 §4.8, §4.8.2)", () => {
  it("derives the Table 3 values from the defaults", () => {
    const p = transmissionParameters();
    expect(p.ACK_TIMEOUT).toBe(2000);
    expect(p.MAX_TRANSMIT_SPAN).toBe(45000);
    expect(p.MAX_TRANSMIT_WAIT).toBe(93000);
    expect(p.MAX_RTT).toBe(202000);
    expect(p.EXCHANGE_LIFETIME).toBe(247000);
    expect(p.NON_LIFETIME).toBe(145000);
  });
  it("follows changed parameters and refuses ACK_RANDOM_FACTOR < 1 (§4.8.1)", () => {
    const p = transmissionParameters({ ACK_TIMEOUT: 1000, MAX_RETRANSMIT: 2 });
    expect(p.MAX_TRANSMIT_WAIT).toBe(1000 * 7 * 1.5);
    expect(p.PROCESSING_DELAY).toBe(1000);
    expect(() => transmissionParameters({ ACK_RANDOM_FACTOR: 0.9 })).toThrow(RangeError);
    expect(() => transmissionParameters({ NSTART: 0 })).toThrow(RangeError);
  });
});

describe("encode input checks", () => {
  it.each([
    ["type 4", { type: 4 as 0 }],
    ["code 256", { code: 256 }],
    ["messageId 65536", { messageId: 65536 }],
    ["option number -1", { options: [{ number: -1, value: new Uint8Array(0) }] }],
    ["option value not bytes", { options: [{ number: 11, value: "x" as unknown as Uint8Array }] }],
  ])("throws for %s", (_name, partial) => {
    expect(() => encode(msg(partial as Partial<CoapMessage>))).toThrow();
  });
  it("a POST with SenML payload encodes the same as built by hand", () => {
    const payload = ascii('[{"n":"t","v":21.5}]');
    const e = encode(msg({ type: COAP_MESSAGE.NON, code: COAP_REQUEST.POST, messageId: 1, token: u8(7), options: [stringOption(11, "tele"), uintOption(12, 110)], payload }));
    expect(toArr(e)).toEqual([0x51, 0x02, 0, 1, 7, 0xb4, 0x74, 0x65, 0x6c, 0x65, 0x11, 110, 0xff, ...toArr(payload)]);
    expect(COAP_MESSAGE.CON).toBe(0);
  });
});
