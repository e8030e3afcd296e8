/*
 * Chip power figures shared by the board files. Module/chip level at 3.3 V from
 * the Espressif datasheets; a board adds its regulator, USB-UART bridge and
 * LEDs on top (noted per board).
 *
 * lightSleepWifiMa is ESP-IDF's measured average for automatic light sleep with the
 * association kept at DTIM 3 (ESP-IDF Programming Guide, API Guides, "Introduction to Low
 * Power Mode in Wi-Fi Scenarios", summary table per chip). The connection costs (wifiConnectMs,
 * roundTripMs, tlsHandshakeMs) depend on the access point and the network more than on the
 * chip: they are our estimates for a home LAN, to be measured on the device, and the planner's
 * decisions only compare them with sleep currents (docs/scheduler.md, "Energy model").
 */
import type { PowerProfile } from "./types";

/** Our estimates, the same for every chip (see the header). */
const LINK_COSTS = {
  wakeMs: 1, // light-sleep wake-up under 1 ms (ESP32-C3 book §12.2.2 "Light-sleep Mode")
  wifiConnectMs: 1200, // estimate: association + DHCP renewal with a stored channel/BSSID
  roundTripMs: 30, // estimate: one round trip on a LAN, radio on
};
const IDF_WIFI_SOURCE = "ESP-IDF Programming Guide, API Guides, Low Power Mode in Wi-Fi Scenarios: summary table (Auto Light-sleep, DTIM3 average current)";

/** ESP32 Series Datasheet §5 "Electrical Characteristics", RF power-consumption table and "Power consumption by power modes". */
export const ESP32_POWER: PowerProfile = {
  activeRadioMa: 100, // Rx 802.11b/g/n: 95-100 mA
  txPeakMa: 240, // Tx 802.11b, 1 Mbps, 19.5 dBm
  modemSleepMa: 30, // 80 MHz: 20-31 mA (240 MHz: 30-68 mA)
  lightSleepWifiMa: 2.33, // ESP-IDF: Auto Light-sleep, DTIM3
  lightSleepMa: 0.8,
  deepSleepMa: 0.01, // RTC timer + RTC memory: 10 µA
  bootToReadyMs: 300, // estimate: ROM + 2nd stage bootloader + app image load + XS start
  tlsHandshakeMs: 1500, // estimate: ECDHE-ECDSA P-256 with the hardware MPI, 240 MHz
  ...LINK_COSTS,
  sources: ["ESP32 Series Datasheet, Espressif, §5 Electrical Characteristics (power consumption by power modes; RF current)", IDF_WIFI_SOURCE],
  notes: "bootToReadyMs and the connection costs are our estimates, not datasheet figures; measure them on the device.",
};

/** ESP32-C3 Series Datasheet §5 "Electrical Characteristics", current consumption tables. */
export const ESP32C3_POWER: PowerProfile = {
  activeRadioMa: 84, // Rx 802.11n HT20
  txPeakMa: 335, // Tx 802.11b, 1 Mbps, 21 dBm
  modemSleepMa: 20, // 160 MHz, peripherals clock-gated, typical
  lightSleepWifiMa: 0.62, // ESP-IDF: Auto Light-sleep, DTIM3
  lightSleepMa: 0.13, // 130 µA
  deepSleepMa: 0.005, // RTC timer + RTC memory: 5 µA
  bootToReadyMs: 250,
  tlsHandshakeMs: 1000, // estimate: ECDHE-ECDSA P-256 with the hardware RSA/ECC accelerator, 160 MHz
  ...LINK_COSTS,
  sources: ["ESP32-C3 Series Datasheet, Espressif, §5 Electrical Characteristics (current consumption)", IDF_WIFI_SOURCE],
  notes: "bootToReadyMs and the connection costs are our estimates, not datasheet figures; measure them on the device.",
};

/** ESP32-S3 Series Datasheet §5 "Electrical Characteristics", current consumption tables. */
export const ESP32S3_POWER: PowerProfile = {
  activeRadioMa: 91, // Rx 802.11n HT20
  txPeakMa: 340, // Tx 802.11b, 1 Mbps, 21 dBm
  modemSleepMa: 40, // one core at 160 MHz, typical (range ~27 mA at 40 MHz to >100 mA at 240 MHz dual core)
  lightSleepWifiMa: 1.33, // ESP-IDF: Auto Light-sleep, DTIM3
  lightSleepMa: 0.24, // 240 µA
  deepSleepMa: 0.007, // RTC timer + RTC memory: 7-8 µA
  bootToReadyMs: 300,
  tlsHandshakeMs: 800, // estimate: ECDHE-ECDSA P-256 with the hardware accelerators, 240 MHz
  ...LINK_COSTS,
  sources: ["ESP32-S3 Series Datasheet, Espressif, §5 Electrical Characteristics (current consumption)", IDF_WIFI_SOURCE],
  notes: "bootToReadyMs and the connection costs are our estimates, not datasheet figures; measure them on the device.",
};

export function withNotes(base: PowerProfile, notes: string): PowerProfile {
  return { ...base, sources: base.sources.slice(), notes: base.notes ? `${base.notes} ${notes}` : notes };
}
