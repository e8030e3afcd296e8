import { ESP32_POWER, withNotes } from "./power";
import type { BoardDefinition } from "./types";

/** M5Stack ATOM Lite (ESP32-PICO-D4). */
export const m5stackAtomLite: BoardDefinition = {
  name: "m5stack-atom-lite",
  title: "M5Stack ATOM Lite",
  soc: "esp32",
  moddableTarget: "esp32/m5atom_lite",
  i2c: {
    data: 26,
    clock: 32,
    hz: 100_000,
    source:
      "M5Stack Atom-Lite docs, HY2.0-4P (Grove) PORT.CUSTOM: GND, 5V, G26, G32; arduino-esp32 variants/m5stack_atom: SDA = 26, SCL = 32. (G21/G25 is the internal I2C of other ATOM models; the Lite has none fitted.)",
  },
  // Assumption: an M5Stack ENV II unit on the Grove port: SHT30 at 0x44 and BMP280 at 0x76.
  sensors: [
    { chip: "sht3x", address: 0x44 },
    { chip: "bmp280", address: 0x76 },
  ],
  sensorsAssumed: true,
  power: withNotes(ESP32_POWER, "Board level adds the USB-serial bridge, the 5V-to-3.3V LDO and the SK6812 LED's idle current."),
  notes: ["USB-C powered: no battery divider fitted."],
};
