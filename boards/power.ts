/*
 * Chip power figures shared by the board files. Module/chip level at 3.3 V from
 * the Espressif datasheets; a board adds its regulator, USB-UART bridge and
 * LEDs on top (noted per board).
 */
import type { PowerProfile } from "./types";

/** ESP32 Series Datasheet §5 "Electrical Characteristics", RF power-consumption table and "Power consumption by power modes". */
export const ESP32_POWER: PowerProfile = {
  activeRadioMa: 100, // Rx 802.11b/g/n: 95-100 mA
  txPeakMa: 240, // Tx 802.11b, 1 Mbps, 19.5 dBm
  modemSleepMa: 30, // 80 MHz: 20-31 mA (240 MHz: 30-68 mA)
  lightSleepMa: 0.8,
  deepSleepMa: 0.01, // RTC timer + RTC memory: 10 µA
  bootToReadyMs: 300, // estimate: ROM + 2nd stage bootloader + app image load + XS start
  sources: ["ESP32 Series Datasheet, Espressif, §5 Electrical Characteristics (power consumption by power modes; RF current)"],
  notes: "bootToReadyMs is our estimate, not a datasheet figure; measure it on the device.",
};

/** ESP32-C3 Series Datasheet §5 "Electrical Characteristics", current consumption tables. */
export const ESP32C3_POWER: PowerProfile = {
  activeRadioMa: 84, // Rx 802.11n HT20
  txPeakMa: 335, // Tx 802.11b, 1 Mbps, 21 dBm
  modemSleepMa: 20, // 160 MHz, peripherals clock-gated, typical
  lightSleepMa: 0.13, // 130 µA
  deepSleepMa: 0.005, // RTC timer + RTC memory: 5 µA
  bootToReadyMs: 250,
  sources: ["ESP32-C3 Series Datasheet, Espressif, §5 Electrical Characteristics (current consumption)"],
  notes: "bootToReadyMs is our estimate, not a datasheet figure; measure it on the device.",
};

/** ESP32-S3 Series Datasheet §5 "Electrical Characteristics", current consumption tables. */
export const ESP32S3_POWER: PowerProfile = {
  activeRadioMa: 91, // Rx 802.11n HT20
  txPeakMa: 340, // Tx 802.11b, 1 Mbps, 21 dBm
  modemSleepMa: 40, // one core at 160 MHz, typical (range ~27 mA at 40 MHz to >100 mA at 240 MHz dual core)
  lightSleepMa: 0.24, // 240 µA
  deepSleepMa: 0.007, // RTC timer + RTC memory: 7-8 µA
  bootToReadyMs: 300,
  sources: ["ESP32-S3 Series Datasheet, Espressif, §5 Electrical Characteristics (current consumption)"],
  notes: "bootToReadyMs is our estimate, not a datasheet figure; measure it on the device.",
};

export function withNotes(base: PowerProfile, notes: string): PowerProfile {
  return { ...base, sources: base.sources.slice(), notes: base.notes ? `${base.notes} ${notes}` : notes };
}
