/*
 * The CRC-8 Sensirion puts after every 16-bit word (SHT3x datasheet §4.12,
 * SHT4x datasheet §4.4, SCD4x datasheet §3.11): polynomial 0x31
 * (x^8 + x^5 + x^4 + 1), initial value 0xFF, no reflection, no final XOR.
 * Check value: the word 0xBEEF has the CRC 0x92 (the datasheets' example).
 *
 * The drivers only check it. The simulated chips compute it on their own
 * (sim/devices/sht3x.ts sensirionCrc8), so a fault in one is not hidden by
 * the other.
 */

/**
 * Words `first` .. `first + count - 1` of a MSB, LSB, CRC stream as one number (big-endian:
 * two words make a 32-bit serial number, three a 48-bit one), or -1 when a word's CRC does not
 * match (the caller reports it and leaves the affected field out).
 */
export function sensirionWords(bytes: Uint8Array, first: number, count = 1): number {
  let value = 0;
  for (let o = first * 3; o < (first + count) * 3; o += 3) {
    let crc = 0xff;
    for (let i = o; i < o + 2; i++) {
      crc ^= bytes[i];
      for (let bit = 0; bit < 8; bit++) crc = (crc << 1) ^ (crc & 0x80 ? 0x131 : 0);
    }
    if (crc !== bytes[o + 2]) return -1;
    value = value * 65536 + ((bytes[o] << 8) | bytes[o + 1]);
  }
  return value;
}
