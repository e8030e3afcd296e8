/*
 * Puts simulated chips on a simulated bus from a list of `{chip, address}`
 * entries (a board definition's `sensors`, or a discovery result).
 * Portable (no Node API).
 */
import type { I2cBus, I2cPeripheral } from "../i2c";
import type { Environment } from "../environment";
import { Bh1750Sim } from "./bh1750";
import { Bmx280Sim } from "./bmx280";
import { Scd4xSim } from "./scd4x";
import { Sht3xSim, type SimClock } from "./sht3x";
import { Sht4xSim } from "./sht4x";

export { Bh1750Sim, Bmx280Sim, Scd4xSim, Sht3xSim, Sht4xSim };

/** What every simulated chip is built from; `commandLogLimit` bounds the chips' `commands` lists (default 256). */
export interface ChipOptions {
  clock: SimClock;
  environment: Environment;
  commandLogLimit?: number;
}

export function createChip(chip: string, options: ChipOptions): I2cPeripheral {
  switch (chip) {
    case "sht3x": return new Sht3xSim(options);
    case "sht4x": return new Sht4xSim(options);
    case "bme280": return new Bmx280Sim({ clock: options.clock, environment: options.environment, variant: "bme280" });
    case "bmp280": return new Bmx280Sim({ clock: options.clock, environment: options.environment, variant: "bmp280" });
    case "bh1750": return new Bh1750Sim(options);
    case "scd4x": return new Scd4xSim(options);
    default: throw new RangeError(`no simulated chip "${chip}"`);
  }
}

/** Attaches one simulated chip per entry; returns them by address. */
export function populateBus(bus: I2cBus, sensors: readonly { chip: string; address: number }[], options: ChipOptions): Map<number, I2cPeripheral> {
  const chips = new Map<number, I2cPeripheral>();
  for (const s of sensors) {
    const chip = createChip(s.chip, options);
    bus.attach(s.address, chip);
    chips.set(s.address, chip);
  }
  return chips;
}
