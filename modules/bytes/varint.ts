/**
 * MQTT Variable Byte Integer (MQTT 5.0 §1.5.5, MQTT 3.1.1 §2.2.3 "Remaining Length").
 *
 * Seven data bits per byte, least significant group first; the top bit of a byte says
 * another byte follows. At most four bytes, so the largest value is 268,435,455
 * (0xFF 0xFF 0xFF 0x7F).
 *
 * Allocation-free API:
 * - `encodeVarint(value, out, offset)` writes the bytes and returns the offset after them.
 * - `decodeVarint(bytes, offset, end?)` returns the value (>= 0), which took
 *   `varintSize(value)` bytes (only the minimal form is accepted); or a negative status:
 *   - `VARINT_INCOMPLETE` (-1): every byte up to `end` has the continuation bit set and
 *     fewer than four bytes were seen: wait for more bytes and call again from the same
 *     offset. Incremental codecs use this to accept input in any chunking.
 *   - `VARINT_MALFORMED` (-2): a fifth byte would be needed ([MQTT-1.5.5-1]: at most four).
 *   - `VARINT_NON_MINIMAL` (-3): a well-formed value that does not use the minimum number of
 *     bytes (e.g. 0x80 0x00 for 0), which [MQTT-1.5.5-1] forbids. A strict receiver treats
 *     it as a Malformed Packet; callers that want leniency can call `decodeVarintLenient`,
 *     whose value took `varintLength(bytes, offset)` bytes.
 * No side channel: a module-level "last length" object would be state shared by every caller
 * and cannot be written once preloaded (docs/moddable.md, "Preloading").
 */

/** Largest value a Variable Byte Integer can carry (MQTT 5.0 §1.5.5 Table 1-1). */
export const VARINT_MAX = 268435455;
/** Returned by decodeVarint when the input ends inside the integer. */
export const VARINT_INCOMPLETE = -1;
/** Returned by decodeVarint when the integer would take more than four bytes ([MQTT-1.5.5-1]). */
export const VARINT_MALFORMED = -2;
/** Returned by decodeVarint when the integer is not in its shortest form ([MQTT-1.5.5-1]). */
export const VARINT_NON_MINIMAL = -3;

function checkValue(value: number): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > VARINT_MAX) {
    throw new RangeError("varint: value must be an integer in 0.." + VARINT_MAX + ", got " + String(value));
  }
}

/** Number of bytes (1–4) that `value` takes; RangeError outside 0..268435455. */
export function varintSize(value: number): number {
  checkValue(value);
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  return 4;
}

/**
 * Writes `value` at `out[offset]` and returns the offset after the last byte written.
 * RangeError (and nothing written) if the value is out of range or does not fit in `out`.
 */
export function encodeVarint(value: number, out: Uint8Array, offset: number): number {
  const size = varintSize(value);
  if (!(offset >= 0) || offset + size > out.length) {
    throw new RangeError("varint: " + size + " byte(s) do not fit at offset " + offset + " of " + out.length);
  }
  // MQTT 5.0 §1.5.5 encoding algorithm: X MOD 128, continuation bit while X > 0.
  let x = value;
  while (x >= 0x80) {
    out[offset++] = (x & 0x7f) | 0x80;
    x >>>= 7;
  }
  out[offset++] = x;
  return offset;
}

function decode(bytes: Uint8Array, offset: number, end: number, strict: boolean): number {
  if (end > bytes.length) end = bytes.length;
  let value = 0;
  let shift = 0;
  for (let i = 0; i < 4; i++) {
    const at = offset + i;
    if (at >= end) return VARINT_INCOMPLETE;
    const b = bytes[at];
    value += (b & 0x7f) * (1 << shift);
    if ((b & 0x80) === 0) {
      // A last byte of 0 after at least one other byte adds nothing: a shorter form exists.
      if (strict && b === 0 && i > 0) return VARINT_NON_MINIMAL; // [MQTT-1.5.5-1]
      return value;
    }
    shift += 7;
  }
  return VARINT_MALFORMED; // [MQTT-1.5.5-1] the fourth byte had the continuation bit set
}

/**
 * Decodes the Variable Byte Integer at `bytes[offset]`, reading no further than `end`
 * (default `bytes.length`). Returns the value, which took varintSize(value) bytes, or a
 * negative status (VARINT_INCOMPLETE, VARINT_MALFORMED, VARINT_NON_MINIMAL). Never throws.
 */
export function decodeVarint(bytes: Uint8Array, offset: number, end: number = bytes.length): number {
  return decode(bytes, offset, end, true);
}

/** As decodeVarint, but accepts non-minimal encodings (never returns VARINT_NON_MINIMAL). */
export function decodeVarintLenient(bytes: Uint8Array, offset: number, end: number = bytes.length): number {
  return decode(bytes, offset, end, false);
}

/** Bytes taken by the integer a decode at `bytes[offset]` returned a value for (1-4): through its first byte without the continuation bit. */
export function varintLength(bytes: Uint8Array, offset: number): number {
  let n = 1;
  while (n < 4 && bytes[offset + n - 1] & 0x80) n++;
  return n;
}
