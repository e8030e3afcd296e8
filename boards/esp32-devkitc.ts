import { ESP32_POWER, withNotes } from "./power";
import type { BoardDefinition } from "./types";

/** Espressif ESP32-DevKitC (ESP32-WROOM-32 / -32E module). */
export const esp32DevkitC: BoardDefinition = {
  name: "esp32-devkitc",
  title: "Espressif ESP32-DevKitC",
  soc: "esp32",
  moddableTarget: "esp32",
  i2c: {
    data: 21,
    clock: 22,
    hz: 100_000,
    source:
      "The ESP32 has no fixed I2C pins (GPIO matrix); GPIO21 SDA / GPIO22 SCL is the ESP32 convention (arduino-esp32 variants/esp32/pins_arduino.h: SDA = 21, SCL = 22), both broken out on the DevKitC J3 header (ESP32-DevKitC V4 Getting Started Guide, header block).",
  },
  // Assumption: an SHT3x breakout (ADDR low) and a BME280 breakout (SDO low) on the default pins.
  sensors: [
    { chip: "sht3x", address: 0x44 },
    { chip: "bme280", address: 0x76 },
  ],
  sensorsAssumed: true,
  power: withNotes(ESP32_POWER, "Board level adds the AMS1117 LDO quiescent current, the USB-UART bridge and the power LED: several mA even in deep sleep."),
  notes: ["USB powered: no battery divider fitted."],
};
