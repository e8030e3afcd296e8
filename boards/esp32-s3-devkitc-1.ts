import { ESP32S3_POWER, withNotes } from "./power";
import type { BoardDefinition } from "./types";

/** Espressif ESP32-S3-DevKitC-1 (ESP32-S3-WROOM-1 module). */
export const esp32S3DevkitC1: BoardDefinition = {
  name: "esp32-s3-devkitc-1",
  title: "Espressif ESP32-S3-DevKitC-1",
  soc: "esp32s3",
  moddableTarget: "esp32/esp32s3",
  i2c: {
    data: 4,
    clock: 5,
    hz: 100_000,
    source:
      "Espressif's ESP32-S3-DevKitC-1 user guide designates no I2C pins (GPIO matrix); GPIO4 / GPIO5 are on header J1. We use GPIO4 SDA / GPIO5 SCL as Moddable's esp32/esp32s3 target defines them (build/devices/esp32/targets/esp32s3/manifest.json: i2c sda_pin 4, scl_pin 5). (arduino-esp32's esp32s3 variant uses SDA 8 / SCL 9 instead.) The RGB LED is GPIO48 (v1.0) or GPIO38 (v1.1).",
  },
  // Assumption: SHT3x + BME280 breakouts on those pins.
  sensors: [
    { chip: "sht3x", address: 0x44 },
    { chip: "bme280", address: 0x76 },
  ],
  sensorsAssumed: true,
  power: withNotes(ESP32S3_POWER, "Board level adds the LDO, the USB-UART bridge and the LEDs."),
  notes: ["USB powered: no battery divider fitted."],
};
