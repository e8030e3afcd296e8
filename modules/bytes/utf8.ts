/**
 * UTF-8 (RFC 3629; Unicode §3.9 Table 3-7 well-formed byte sequences) in plain JavaScript,
 * without TextEncoder, TextDecoder or Buffer: the firmware's XS has neither codec (the
 * manifest includes none), so this is what a device runs, and Node and xsnap run the same.
 *
 * Error policy (chosen once, used everywhere here):
 * - Encoding a JS string that holds a lone surrogate (not a valid code point sequence)
 *   throws Utf8Error. We do not substitute U+FFFD as TextEncoder does: a protocol string
 *   must reach the peer as the application wrote it, or not at all.
 * - decodeUtf8 THROWS Utf8Error (with the byte offset) on ill-formed input: overlong forms,
 *   encoded surrogates (U+D800..U+DFFF), code points above U+10FFFF, stray continuation
 *   bytes, truncated sequences. No U+FFFD substitution either.
 * - utf8Invalid returns the offset instead of throwing, so a codec can refuse a Malformed
 *   Packet without try/catch.
 * - A BOM (0xEF 0xBB 0xBF) is an ordinary U+FEFF: never skipped or stripped ([MQTT-1.5.4-3]).
 *
 * Two loops, each shared by two exports (one function's bytecode instead of two on XS):
 * encode() measures (utf8Length) and writes (encodeUtf8, encodeUtf8New); scan() validates
 * (utf8Invalid) and decodes (decodeUtf8). The MQTT UTF-8 Encoded String checks of earlier
 * versions (checkMqttUtf8, checkMqttString) are host-side helpers now
 * (host-tests/support/mqtt-string.ts): no firmware used them, each MQTT rule is checked
 * where the codec reads or writes the field.
 */

/** Ill-formed UTF-8 input, or a string that cannot be encoded (lone surrogate). */
export class Utf8Error extends Error {
  /** Byte offset (decoding) or UTF-16 index (encoding) of the first offending unit. */
  declare readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.offset = offset;
  }
}
// On the prototype: `this.name = ...` throws where the intrinsics are frozen, as on a device (host-tests/xs/lockdown.ts).
Object.defineProperty(Utf8Error.prototype, "name", { value: "Utf8Error", writable: true, configurable: true });

/**
 * The one loop over the code points of `s`: with `out`, writes their UTF-8 bytes from `o`;
 * without, only counts them. Returns `o` plus the bytes. Throws Utf8Error on a lone surrogate
 * (bytes already written stay written).
 *
 * The ASCII head (all of a topic, of most JSON) goes by `charCodeAt(i)`: on the device's XS
 * (8.2.3) it takes half the time of `for...of` (24 characters on xst: 3.3 µs against 6.0 µs).
 * The rest goes by `for...of`, which steps by code point (a surrogate pair is one step) in
 * O(1) on every XS, where `charCodeAt(i)` walks the string from its start on older ones
 * (xsnap: 16,000 characters ~760 ms against ~3 ms).
 */
function encode(s: string, out: Uint8Array | undefined, o: number): number {
  const n = s.length;
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) break;
    if (out !== undefined) out[o + i] = c;
  }
  o += i;
  if (i === n) return o;
  for (const ch of s.slice(i)) {
    const c = ch.codePointAt(0) as number; // a lone surrogate comes as itself
    if (c >= 0xd800 && c <= 0xdfff) throw new Utf8Error("utf8: lone surrogate at index " + i, i);
    // k continuation bytes (RFC 3629 §3): U+0000..007F 0, ..07FF 1, ..FFFF 2, ..10FFFF 3.
    let k = c < 0x80 ? 0 : c < 0x800 ? 1 : c < 0x10000 ? 2 : 3;
    if (out === undefined) o += k + 1;
    else if (k === 0) out[o++] = c;
    else {
      out[o++] = (0xff ^ (0xff >> (k + 1))) | (c >> (6 * k)); // lead: 110xxxxx, 1110xxxx, 11110xxx
      while (k > 0) out[o++] = 0x80 | ((c >> (6 * --k)) & 0x3f);
    }
    i += ch.length;
  }
  return o;
}

/** Number of bytes the UTF-8 encoding of `s` takes. Throws Utf8Error on a lone surrogate. */
export function utf8Length(s: string): number {
  return encode(s, undefined, 0);
}

/**
 * Writes the UTF-8 encoding of `s` into `out` at `offset` and returns the offset after it.
 * Allocates nothing of its own. RangeError if it does not fit (checked before writing);
 * Utf8Error on a lone surrogate (bytes after `offset` may then have been overwritten).
 */
export function encodeUtf8(s: string, out: Uint8Array, offset: number): number {
  const room = out.length - offset;
  // Worst case 3 bytes per UTF-16 unit: only when that may not fit is the string measured.
  if (!(offset >= 0 && room >= 0) || (room < s.length * 3 && room < utf8Length(s))) {
    throw new RangeError("utf8: " + s.length + " units do not fit at offset " + offset + " of " + out.length);
  }
  return encode(s, out, offset);
}

/** The UTF-8 encoding of `s` in a new Uint8Array of exactly the right length. */
export function encodeUtf8New(s: string): Uint8Array {
  const out = new Uint8Array(utf8Length(s));
  encode(s, out, 0);
  return out;
}

// String.fromCharCode.apply takes its arguments on the stack, a slot each: text is built CHUNK
// code units at a time from a Uint16Array, so a decode puts at most CHUNK arguments on the stack
// and makes no array of numbers (a slot an element), whatever its length. (At 512 through an
// array of numbers, a 705-octet command allocated 24 KB of XS chunks on lin and put 512 arguments
// on a stack of 672 slots, the esp32c3's: docs/moddable.md, "What the runs found".)
const CHUNK = 64;

/**
 * The one loop over UTF-8 bytes [i, end): checks every sequence against Unicode Table 3-7
 * and, given `parts`, appends the decoded text to it in strings of at most CHUNK units, each
 * made from a Uint16Array of CHUNK code units (no array of numbers: a typed array holds a unit
 * in 2 octets, not a slot). Returns -1 when all is well-formed, else the offset of the first
 * byte of the first ill-formed or truncated sequence. RangeError on a range outside `b`.
 */
function scan(b: Uint8Array, i: number, end: number, parts: string[] | undefined): number {
  if (!(i >= 0 && end <= b.length && i <= end)) throw new RangeError("utf8: range " + i + ".." + end + " outside 0.." + b.length);
  const units = parts && new Uint16Array(CHUNK);
  let n = 0;
  while (i < end) {
    const at = i;
    let c = b[i++];
    if (c >= 0x80) {
      // Table 3-7: C2..DF one continuation byte, E0..EF two, F0..F4 three; 80..C1 and F5..FF
      // never lead. The second byte's range is narrower after E0 (overlong), ED (U+D800..DFFF,
      // [MQTT-1.5.4-1]), F0 (overlong) and F4 (above U+10FFFF).
      let k = c < 0xc2 ? 0 : c < 0xe0 ? 1 : c < 0xf0 ? 2 : c < 0xf5 ? 3 : 0;
      if (k === 0) return at;
      let lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
      let hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
      c &= 0x3f >> k;
      for (; k > 0; k--) {
        const d = i < end ? b[i++] : -1; // -1: truncated by `end`
        if (d < lo || d > hi) return at;
        lo = 0x80;
        hi = 0xbf;
        c = (c << 6) | (d & 0x3f);
      }
    }
    if (units === undefined) continue;
    if (c < 0x10000) units[n++] = c;
    else {
      units[n++] = 0xd7c0 + (c >> 10); // a surrogate pair
      units[n++] = 0xdc00 | (c & 0x3ff);
    }
    if (n >= CHUNK - 1 || i === end) {
      parts!.push(String.fromCharCode.apply(null, units.subarray(0, n) as unknown as number[]));
      n = 0;
    }
  }
  return -1;
}

/**
 * Decodes `bytes[start..end)` (defaults: the whole array) as strict UTF-8.
 * Throws Utf8Error (with `.offset`) on ill-formed input; RangeError on a bad range.
 */
export function decodeUtf8(bytes: Uint8Array, start: number = 0, end: number = bytes.length): string {
  // Short ASCII (a topic, a key): the bytes are the code units, one call, no array made.
  if (end - start <= CHUNK && start >= 0 && end <= bytes.length) {
    let i = start;
    while (i < end && bytes[i] < 0x80) i++;
    if (i === end) return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  }
  const parts: string[] = [];
  const bad = scan(bytes, start, end, parts);
  if (bad >= 0) throw new Utf8Error("utf8: ill-formed or truncated sequence at byte " + bad, bad);
  return parts.length === 1 ? parts[0] : parts.join("");
}

/**
 * Returns -1 when `bytes[start..end)` is well-formed UTF-8, else the offset of the first
 * byte of the first ill-formed (or truncated) sequence. Never throws on content.
 */
export function utf8Invalid(bytes: Uint8Array, start: number = 0, end: number = bytes.length): number {
  return scan(bytes, start, end, undefined);
}
