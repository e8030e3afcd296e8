import { ESP32C3_POWER, withNotes } from "./power";
import type { BoardDefinition } from "./types";

/** Espressif ESP32-C3-DevKitM-1 (ESP32-C3-MINI-1 module). */
export const esp32C3DevkitM1: BoardDefinition = {
  name: "esp32-c3-devkitm-1",
  title: "Espressif ESP32-C3-DevKitM-1",
  soc: "esp32c3",
  moddableTarget: "esp32/esp32c3",
  i2c: {
    data: 2,
    clock: 3,
    hz: 100_000,
    source:
      "Espressif's ESP32-C3-DevKitM-1 user guide designates no I2C pins (any GPIO via the matrix) and puts the RGB LED on GPIO8 and the Boot button on GPIO9, so the arduino-esp32 default (SDA 8 / SCL 9) collides with both. We use GPIO2 SDA / GPIO3 SCL (header J1 pins 4 and 5), the pins Moddable's esp32/esp32c3 target defines (build/devices/esp32/targets/esp32c3/manifest.json: i2c sda_pin 2, scl_pin 3). GPIO2 is a strapping pin that must be high at reset; the I2C pull-ups keep it high.",
  },
  // Assumption: SHT3x + BME280 breakouts on those pins.
  sensors: [
    { chip: "sht3x", address: 0x44 },
    { chip: "bme280", address: 0x76 },
  ],
  sensorsAssumed: true,
  power: withNotes(ESP32C3_POWER, "Board level adds the LDO, the power LED and the RGB LED's quiescent current."),
  notes: ["USB powered: no battery divider fitted."],
};
