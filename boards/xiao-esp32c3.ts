import { ESP32C3_POWER, withNotes } from "./power";
import type { BoardDefinition } from "./types";

/** Seeed Studio XIAO ESP32C3. */
export const xiaoEsp32c3: BoardDefinition = {
  name: "xiao-esp32c3",
  title: "Seeed Studio XIAO ESP32C3",
  soc: "esp32c3",
  moddableTarget: "esp32/xiao_esp32c3",
  i2c: {
    data: 6,
    clock: 7,
    hz: 100_000,
    source:
      "Seeed XIAO ESP32C3 pin list: D4 = GPIO6 = SDA, D5 = GPIO7 = SCL (Seeed wiki pinout; arduino-esp32 variants/XIAO_ESP32C3: SDA 6, SCL 7). Note: Moddable's esp32/xiao_esp32c3 target defines i2c sda_pin 5 / scl_pin 6, which does not match the silkscreen; we pass our pins explicitly to the I2C constructor.",
  },
  // Assumption: an SHT3x + BME280 breakout on D4/D5.
  sensors: [
    { chip: "sht3x", address: 0x44 },
    { chip: "bme280", address: 0x76 },
  ],
  sensorsAssumed: true,
  battery: {
    pin: 2,
    dividerRatio: 2,
    reference: 2.5,
    resolution: 12,
    source:
      "Assumption: the XIAO ESP32C3 charges a LiPo on its BAT pads but has no divider to an ADC; we assume the external 1:2 divider (two equal resistors, e.g. 2 x 220 kOhm) from BAT to A0 = GPIO2 that Seeed's wiki suggests. reference 2.5 V: the ESP32-C3 SAR ADC's usable range with 11 dB attenuation (ESP32-C3 datasheet, ADC characteristics).",
  },
  power: withNotes(ESP32C3_POWER, "The XIAO has no USB-UART bridge (native USB), so board deep sleep stays close to the chip figure plus the LDO."),
};
