/*
 * The CRC-8 Sensirion puts after every 16-bit word (SHT3x datasheet §4.12,
 * SHT4x datasheet §4.4, SCD4x datasheet §3.11): polynomial 0x31
 * (x^8 + x^5 + x^4 + 1), initial value 0xFF, no reflection, no final XOR.
 * Check value: crc8([0xBE, 0xEF]) = 0x92 (the datasheets' example).
 *
 * Shared by the drivers (which verify it) and the simulated chips (which
 * compute it as the chip does).
 */

/** CRC-8 over `length` bytes of `bytes` starting at `offset`. */
export function sensirionCrc8(bytes: ArrayLike<number>, offset = 0, length = bytes.length - offset): number {
  let crc = 0xff;
  for (let i = offset; i < offset + length; i++) {
    crc ^= bytes[i] & 0xff;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x80 ? ((crc << 1) ^ 0x31) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

/** Encodes 16-bit words as the chips send them: MSB, LSB, CRC for each word. */
export function encodeWords(words: readonly number[]): Uint8Array {
  const out = new Uint8Array(words.length * 3);
  for (let i = 0; i < words.length; i++) {
    const w = words[i] & 0xffff;
    out[i * 3] = w >> 8;
    out[i * 3 + 1] = w & 0xff;
    out[i * 3 + 2] = sensirionCrc8(out, i * 3, 2);
  }
  return out;
}

/**
 * Decodes word `index` of a MSB/LSB/CRC stream. Returns the word, or a string
 * naming the CRC mismatch (the caller turns it into an error and leaves the
 * affected field out).
 */
export function decodeWord(bytes: Uint8Array, index: number): number | string {
  const o = index * 3;
  if (o + 3 > bytes.length) return `word ${index} missing (${bytes.length} bytes received)`;
  const crc = sensirionCrc8(bytes, o, 2);
  if (crc !== bytes[o + 2])
    return `CRC mismatch in word ${index} (received 0x${hex2(bytes[o + 2])}, computed 0x${hex2(crc)})`;
  return (bytes[o] << 8) | bytes[o + 1];
}

function hex2(n: number): string {
  return (n < 16 ? "0" : "") + n.toString(16);
}
