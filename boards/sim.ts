import { ESP32C3_POWER, withNotes } from "./power";
import type { BoardDefinition } from "./types";

/** The desktop simulator's board: every driver we have, a battery, and ESP32-C3 power figures. */
export const simBoard: BoardDefinition = {
  name: "sim",
  title: "xs-iot simulated board",
  soc: "host",
  moddableTarget: "lin",
  i2c: { data: 21, clock: 22, hz: 400_000, source: "Simulated bus (sim/i2c.ts); the pin numbers are labels only." },
  sensors: [
    { chip: "sht3x", address: 0x44 },
    { chip: "bme280", address: 0x76 },
    { chip: "bh1750", address: 0x23 },
    { chip: "scd4x", address: 0x62 },
  ],
  sensorsAssumed: false,
  battery: { pin: 2, dividerRatio: 2, reference: 3.3, resolution: 12, source: "Simulated ADC (sim/devices/analog.ts)." },
  power: withNotes(ESP32C3_POWER, "The simulator accounts energy with the ESP32-C3 figures."),
  notes: ["Moddable desktop simulator target: lin (mac/win on those hosts)."],
};
