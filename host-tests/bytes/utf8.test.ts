// @xs
import { Utf8Error, utf8Length, encodeUtf8, encodeUtf8New, decodeUtf8, utf8Invalid } from "../../modules/bytes/utf8";
import {
  checkMqttUtf8,
  checkMqttString,
  MQTT_STRING_OK,
  MQTT_STRING_ILL_FORMED,
  MQTT_STRING_NULL,
  MQTT_STRING_CONTROL,
  MQTT_STRING_NONCHARACTER,
  MQTT_STRING_TOO_LONG,
} from "../support/mqtt-string";

const bytes = (a: number[]) => new Uint8Array(a);

/** Reference encoding of one code point, written from RFC 3629 §3's table, not from the module. */
function refEncode(cp: number, out: number[]): void {
  if (cp <= 0x7f) out.push(cp);
  else if (cp <= 0x7ff) out.push(0xc0 + Math.floor(cp / 64), 0x80 + (cp % 64));
  else if (cp <= 0xffff) out.push(0xe0 + Math.floor(cp / 4096), 0x80 + (Math.floor(cp / 64) % 64), 0x80 + (cp % 64));
  else
    out.push(
      0xf0 + Math.floor(cp / 262144),
      0x80 + (Math.floor(cp / 4096) % 64),
      0x80 + (Math.floor(cp / 64) % 64),
      0x80 + (cp % 64),
    );
}

// One path on every engine: the module uses no TextEncoder/TextDecoder (the firmware's XS has
// neither); where the engine has them the round trip below cross-checks against them.
describe("UTF-8", () => {
  describe("UTF-8 known vectors (RFC 3629, MQTT 5.0 §1.5.4)", () => {
    const vectors: [string, string, number[]][] = [
      ["MQTT 5.0 §1.5.4 Figure 1-2 example A U+2A6D4", "A\u{2A6D4}", [0x41, 0xf0, 0xaa, 0x9b, 0x94]],
      ["empty string", "", []],
      ["ASCII", "MQTT", [0x4d, 0x51, 0x54, 0x54]],
      ["U+00E9 (2 bytes)", "\u00e9", [0xc3, 0xa9]],
      ["U+07FF (largest 2-byte)", "\u07ff", [0xdf, 0xbf]],
      ["U+0800 (smallest 3-byte)", "\u0800", [0xe0, 0xa0, 0x80]],
      ["U+20AC euro sign", "\u20ac", [0xe2, 0x82, 0xac]],
      ["U+D7FF (below surrogates)", "\ud7ff", [0xed, 0x9f, 0xbf]],
      ["U+E000 (above surrogates)", "\ue000", [0xee, 0x80, 0x80]],
      ["U+FFFF", "\uffff", [0xef, 0xbf, 0xbf]],
      ["U+10000 (smallest 4-byte)", "\u{10000}", [0xf0, 0x90, 0x80, 0x80]],
      ["U+10FFFF (largest)", "\u{10ffff}", [0xf4, 0x8f, 0xbf, 0xbf]],
      ["[MQTT-1.5.4-3] U+FEFF is kept", "\ufeffA", [0xef, 0xbb, 0xbf, 0x41]],
      ["U+0000 is valid UTF-8", "a\u0000", [0x61, 0x00]],
    ];

    it.each(vectors)("%s: encodes", (_name, s, expected) => {
      expect(utf8Length(s)).toBe(expected.length);
      expect(Array.from(encodeUtf8New(s))).toEqual(expected);
      const out = new Uint8Array(expected.length + 2).fill(0xee);
      expect(encodeUtf8(s, out, 1)).toBe(expected.length + 1);
      expect(Array.from(out.subarray(1, expected.length + 1))).toEqual(expected);
      expect(out[0]).toBe(0xee);
      expect(out[expected.length + 1]).toBe(0xee);
    });

    it.each(vectors)("%s: decodes", (_name, s, encoded) => {
      expect(decodeUtf8(bytes(encoded))).toBe(s);
      expect(utf8Invalid(bytes(encoded))).toBe(-1);
      const framed = bytes([0x7b, ...encoded, 0x7d]);
      expect(decodeUtf8(framed, 1, encoded.length + 1)).toBe(s);
    });
  });

  describe("UTF-8 ill-formed input is refused (Unicode §3.9 Table 3-7)", () => {
    const malformed: [string, number[], number][] = [
      ["overlong U+0000 C0 80", [0xc0, 0x80], 0],
      ["overlong C1 BF", [0xc1, 0xbf], 0],
      ["overlong 3-byte E0 80 80", [0xe0, 0x80, 0x80], 0],
      ["overlong 3-byte E0 9F BF", [0xe0, 0x9f, 0xbf], 0],
      ["overlong 4-byte F0 80 80 80", [0xf0, 0x80, 0x80, 0x80], 0],
      ["overlong 4-byte F0 8F BF BF", [0xf0, 0x8f, 0xbf, 0xbf], 0],
      ["[MQTT-1.5.4-1] encoded U+D800", [0xed, 0xa0, 0x80], 0],
      ["[MQTT-1.5.4-1] encoded U+DFFF", [0xed, 0xbf, 0xbf], 0],
      ["[MQTT-1.5.4-1] encoded surrogate pair (CESU-8)", [0xed, 0xa0, 0xbd, 0xed, 0xb2, 0xa9], 0],
      ["above U+10FFFF F4 90 80 80", [0xf4, 0x90, 0x80, 0x80], 0],
      ["lead byte F5", [0xf5, 0x80, 0x80, 0x80], 0],
      ["byte FE", [0x41, 0xfe], 1],
      ["byte FF", [0xff], 0],
      ["stray continuation 80", [0x41, 0x42, 0x80], 2],
      ["stray continuation BF after a full sequence", [0xc3, 0xa9, 0xbf], 2],
      ["lead byte followed by ASCII", [0xc3, 0x41], 0],
      ["3-byte lead with a bad second continuation", [0xe2, 0x82, 0x41], 0],
      ["truncated 2-byte", [0x41, 0xc3], 1],
      ["truncated 3-byte", [0xe2, 0x82], 0],
      ["truncated 4-byte", [0x41, 0xf0, 0xaa, 0x9b], 1],
    ];

    it.each(malformed)("%s", (_name, input, at) => {
      const b = bytes(input);
      expect(() => decodeUtf8(b)).toThrow(Utf8Error);
      let offset = -1;
      try {
        decodeUtf8(b);
      } catch (e) {
        expect(e).toBeInstanceOf(Utf8Error);
        offset = (e as Utf8Error).offset;
      }
      expect(offset).toBe(at);
      expect(utf8Invalid(b)).toBe(at);
      expect(checkMqttUtf8(b)).toBe(MQTT_STRING_ILL_FORMED);
    });

    it("a truncated sequence cut by `end` is refused though the array holds the rest", () => {
      const b = bytes([0x41, 0xe2, 0x82, 0xac]);
      expect(decodeUtf8(b, 0, 4)).toBe("A\u20ac");
      expect(() => decodeUtf8(b, 0, 3)).toThrow(/truncated/);
      expect(utf8Invalid(b, 0, 3)).toBe(1);
    });

    it("a range outside the array is a RangeError", () => {
      const b = bytes([0x41, 0x42]);
      expect(() => decodeUtf8(b, 1, 3)).toThrow(RangeError);
      expect(() => decodeUtf8(b, -1, 1)).toThrow(RangeError);
      expect(() => decodeUtf8(b, 2, 1)).toThrow(RangeError);
      expect(decodeUtf8(b, 2, 2)).toBe("");
    });
  });

  describe("UTF-8 encoding errors", () => {
    it.each([["\ud800"], ["a\udc00"], ["\ud83d"], ["\ud83dx"], ["\ude00\ud83d"]])(
      "a lone surrogate in %j is a Utf8Error",
      (s) => {
        expect(() => utf8Length(s)).toThrow(Utf8Error);
        expect(() => encodeUtf8New(s)).toThrow(/lone surrogate/);
        expect(() => encodeUtf8(s, new Uint8Array(16), 0)).toThrow(Utf8Error);
      },
    );

    it("finds every lone surrogate among all strings of up to 4 units from a, D800, DBFF, DC00, DFFF", () => {
      const unitsSet = [0x61, 0xd800, 0xdbff, 0xdc00, 0xdfff];
      // Reference: an index loop over code units, written independently of the module.
      const lone = (u: number[]) => {
        for (let i = 0; i < u.length; i++) {
          const hi = u[i] >= 0xd800 && u[i] <= 0xdbff;
          const lo = u[i] >= 0xdc00 && u[i] <= 0xdfff;
          if (hi) {
            if (i + 1 < u.length && u[i + 1] >= 0xdc00 && u[i + 1] <= 0xdfff) i++;
            else return true;
          } else if (lo) return true;
        }
        return false;
      };
      let checked = 0;
      let wrong = "";
      const visit = (u: number[]) => {
        const s = String.fromCharCode.apply(null, u);
        const expectLone = lone(u);
        let threw = false;
        try {
          encodeUtf8New(s);
        } catch (e) {
          threw = e instanceof Utf8Error;
        }
        const status = checkMqttString(s);
        if (threw !== expectLone || (status === MQTT_STRING_ILL_FORMED) !== expectLone) {
          wrong += u.map((x) => x.toString(16)).join(" ") + "; ";
        }
        checked++;
        if (u.length < 4) for (const x of unitsSet) visit(u.concat([x]));
      };
      visit([]);
      expect(wrong).toBe("");
      expect(checked).toBe(1 + 5 + 25 + 125 + 625);
    });

    it("refuses a string that does not fit, before writing anything", () => {
      const out = new Uint8Array(5).fill(7);
      expect(() => encodeUtf8("A\u20ac\u20ac", out, 0)).toThrow(RangeError);
      expect(() => encodeUtf8("abc", out, 3)).toThrow(/do not fit/);
      expect(() => encodeUtf8("", out, 6)).toThrow(RangeError);
      expect(Array.from(out)).toEqual([7, 7, 7, 7, 7]);
      // Exactly fitting works even though 3 bytes per unit would not.
      expect(encodeUtf8("A\u20ac", out, 1)).toBe(5);
      expect(Array.from(out)).toEqual([7, 0x41, 0xe2, 0x82, 0xac]);
    });
  });

  describe("UTF-8 round trip over every code point", () => {
    const BLOCK = 0x4000;
    const blocks: [number][] = [];
    for (let from = 0; from <= 0x10ffff; from += BLOCK) blocks.push([from]);

    it.each(blocks)("code points from %i in one block of 16384", (from) => {
      const cps: number[] = [];
      const expected: number[] = [];
      for (let cp = from; cp < from + BLOCK && cp <= 0x10ffff; cp++) {
        if (cp >= 0xd800 && cp <= 0xdfff) continue; // not scalar values: not encodable
        cps.push(cp);
        refEncode(cp, expected);
      }
      let s = "";
      for (let i = 0; i < cps.length; i += 1024) s += String.fromCodePoint.apply(null, cps.slice(i, i + 1024));
      const encoded = encodeUtf8New(s);
      expect(encoded.length).toBe(expected.length);
      expect(utf8Length(s)).toBe(expected.length);
      for (let i = 0; i < expected.length; i++) {
        if (encoded[i] !== expected[i]) throw new Error("byte " + i + " differs in block " + from);
      }
      if (typeof TextEncoder === "function") {
        // Cross-check against the engine's own encoder where it has one (Node, xsnap).
        const native = new TextEncoder().encode(s);
        expect(native.length).toBe(encoded.length);
        for (let i = 0; i < native.length; i++) {
          if (native[i] !== encoded[i]) throw new Error("TextEncoder differs at byte " + i + " in block " + from);
        }
      }
      expect(utf8Invalid(encoded)).toBe(-1);
      expect(decodeUtf8(encoded) === s).toBe(true);
      if (typeof TextDecoder === "function") expect(new TextDecoder("utf-8", { fatal: true }).decode(encoded) === s).toBe(true);
    });

    it("every lead byte and second byte pair is accepted exactly when Table 3-7 allows it", () => {
      // For each lead 0x00..0xFF and second byte 0x00..0xFF, pad with valid continuations and
      // compare the decoder's verdict with the table.
      let mismatches = 0;
      for (let b0 = 0; b0 < 256; b0++) {
        for (let b1 = 0; b1 < 256; b1++) {
          const seq = bytes([b0, b1, 0x80, 0x80]);
          const len = b0 < 0x80 ? 1 : b0 < 0xe0 ? 2 : b0 < 0xf0 ? 3 : 4;
          let ok: boolean;
          if (b0 < 0x80) ok = true;
          else if (b0 < 0xc2 || b0 > 0xf4) ok = false;
          else {
            let lo = 0x80;
            let hi = 0xbf;
            if (b0 === 0xe0) lo = 0xa0;
            if (b0 === 0xed) hi = 0x9f;
            if (b0 === 0xf0) lo = 0x90;
            if (b0 === 0xf4) hi = 0x8f;
            ok = b1 >= lo && b1 <= hi;
          }
          const verdict = utf8Invalid(seq, 0, len);
          if ((verdict === -1) !== ok) mismatches++;
        }
      }
      expect(mismatches).toBe(0);
    });

    it("decodes a long mixed string across internal chunk boundaries", () => {
      let s = "";
      for (let i = 0; i < 3000; i++) s += i % 3 === 0 ? "\u{1F600}" : i % 3 === 1 ? "x" : "\u00e9";
      const encoded = encodeUtf8New(s);
      expect(decodeUtf8(encoded)).toBe(s);
      // Offsets shifted by one put a surrogate pair across every chunk edge at least once.
      const shifted = encodeUtf8New("a" + s);
      expect(decodeUtf8(shifted, 1)).toBe(s);
    });
    it("decodes ASCII runs and other characters of every length around the 64-unit chunk, in any order", () => {
      // The decoder takes an ASCII run from the bytes and other characters through a small array,
      // each flushed at 64 units: every length from 0 to 140 of each, in turn, at two offsets.
      for (const other of ["\u00e9", "\u20ac", "\u{1F600}"]) {
        for (let a = 0; a <= 140; a += a < 70 ? 1 : 7) {
          for (const o of [1, 62, 63, 64, 65, 129]) {
            const s = "x".repeat(a) + other.repeat(o) + "y".repeat(o) + other + "z".repeat(a);
            const encoded = encodeUtf8New(s);
            const got = decodeUtf8(encoded);
            if (got !== s) throw new Error(`ascii ${a}, other ${JSON.stringify(other)} x${o}: decoded ${got.length} units, expected ${s.length}`);
            const framed = new Uint8Array(encoded.length + 2);
            framed.set(encoded, 1);
            if (decodeUtf8(framed, 1, encoded.length + 1) !== s) throw new Error(`framed: ascii ${a}, other x${o}`);
          }
        }
      }
      expect(decodeUtf8(encodeUtf8New("a".repeat(64)))).toBe("a".repeat(64));
      expect(decodeUtf8(encodeUtf8New("a".repeat(65)))).toBe("a".repeat(65));
    });
  });

  describe("MQTT UTF-8 Encoded String rules (MQTT 5.0 §1.5.4, 3.1.1 §1.5.3)", () => {
    it("accepts an ordinary string, bytes and JS form alike", () => {
      expect(checkMqttString("sensors/\u00e9t\u00e9/\u{1F321}")).toBe(MQTT_STRING_OK);
      expect(checkMqttUtf8(encodeUtf8New("sensors/\u00e9t\u00e9/\u{1F321}"))).toBe(MQTT_STRING_OK);
      expect(checkMqttString("")).toBe(MQTT_STRING_OK);
    });

    it("[MQTT-1.5.4-2] U+0000 is refused", () => {
      expect(checkMqttString("a\u0000b")).toBe(MQTT_STRING_NULL);
      expect(checkMqttUtf8(bytes([0x61, 0x00, 0x62]))).toBe(MQTT_STRING_NULL);
    });

    it("[MQTT-1.5.4-1] surrogates are refused", () => {
      expect(checkMqttString("a\ud800")).toBe(MQTT_STRING_ILL_FORMED);
      expect(checkMqttString("\udfff")).toBe(MQTT_STRING_ILL_FORMED);
      expect(checkMqttUtf8(bytes([0xed, 0xa0, 0x80]))).toBe(MQTT_STRING_ILL_FORMED);
    });

    it.each([[0x01], [0x0a], [0x1f], [0x7f], [0x80], [0x9f]])(
      "control U+%i passes by default and is flagged on request (SHOULD NOT)",
      (cp) => {
        const s = "x" + String.fromCharCode(cp);
        expect(checkMqttString(s)).toBe(MQTT_STRING_OK);
        expect(checkMqttString(s, { controls: true })).toBe(MQTT_STRING_CONTROL);
        expect(checkMqttUtf8(encodeUtf8New(s))).toBe(MQTT_STRING_OK);
        expect(checkMqttUtf8(encodeUtf8New(s), 0, undefined, { controls: true })).toBe(MQTT_STRING_CONTROL);
        expect(checkMqttString(s, { noncharacters: true })).toBe(MQTT_STRING_OK);
      },
    );

    it.each([[0x20], [0x7e], [0xa0], [0xfdcf], [0xfdf0], [0xfffd]])("U+%i is never flagged", (cp) => {
      const s = String.fromCodePoint(cp);
      const all = { controls: true, noncharacters: true };
      expect(checkMqttString(s, all)).toBe(MQTT_STRING_OK);
      expect(checkMqttUtf8(encodeUtf8New(s), 0, undefined, all)).toBe(MQTT_STRING_OK);
    });

    it.each([[0xfdd0], [0xfdef], [0xfffe], [0xffff], [0x1fffe], [0x10ffff]])(
      "non-character U+%i is flagged on request (SHOULD NOT)",
      (cp) => {
        const s = String.fromCodePoint(cp);
        expect(checkMqttString(s)).toBe(MQTT_STRING_OK);
        expect(checkMqttString(s, { noncharacters: true })).toBe(MQTT_STRING_NONCHARACTER);
        expect(checkMqttUtf8(encodeUtf8New(s), 0, undefined, { noncharacters: true })).toBe(
          MQTT_STRING_NONCHARACTER,
        );
      },
    );

    it("§1.5.4 a string longer than 65,535 bytes is refused", () => {
      const max = "a".repeat(0xffff);
      expect(checkMqttString(max)).toBe(MQTT_STRING_OK);
      expect(checkMqttString(max + "a")).toBe(MQTT_STRING_TOO_LONG);
      expect(checkMqttString("\u00e9".repeat(0x8000))).toBe(MQTT_STRING_TOO_LONG);
      expect(checkMqttUtf8(new Uint8Array(0x10000).fill(0x61))).toBe(MQTT_STRING_TOO_LONG);
      expect(checkMqttUtf8(new Uint8Array(0xffff).fill(0x61))).toBe(MQTT_STRING_OK);
    });
  });
});
