/*
 * The CRC-8 Sensirion puts after every 16-bit word (SHT3x datasheet §4.12,
 * SHT4x datasheet §4.4, SCD4x datasheet §3.11): polynomial 0x31
 * (x^8 + x^5 + x^4 + 1), initial value 0xFF, no reflection, no final XOR.
 * Check value: crc8([0xBE, 0xEF]) = 0x92 (the datasheets' example).
 *
 * Shared by the drivers (which verify it) and the simulated chips (which
 * compute it as the chip does; sim/devices/sht3x.ts encodeWords).
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

/**
 * Decodes word `index` of a MSB/LSB/CRC stream. Returns the word, or a string
 * naming the CRC mismatch (the caller turns it into an error and leaves the
 * affected field out).
 */
export function decodeWord(bytes: Uint8Array, index: number): number | string {
  const o = index * 3;
  if (o + 3 > bytes.length) return "word " + index + " missing";
  if (sensirionCrc8(bytes, o, 2) !== bytes[o + 2]) return "CRC mismatch in word " + index;
  return (bytes[o] << 8) | bytes[o + 1];
}
