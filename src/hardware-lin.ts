/*
 * The board's sensor IO in Moddable's simulator (lin), which has no I2C bus and
 * no analog input: the portable simulated chips of our desktop simulator
 * (sim/devices: SHT3x, BME280, BH1750, SCD4x and the battery divider) on a
 * simulated I2C bus, sensing the `indoorDay` environment (sim/scenarios.ts),
 * compiled into the lin build only. The drivers (modules/sensors) run
 * unchanged against them: the same bytes on the same bus as on the board.
 */
import type { BoardDefinition } from "../boards/types";
import type { Platform, PlatformIo } from "../modules/platform/platform";
import { createSimHardware } from "../sim/hardware";
import { indoorDay } from "../sim/scenarios";

export const HARDWARE = "simulated I2C chips (sim/devices) on a simulated bus, indoor-day environment";

export function boardIo(platform: Platform, board: BoardDefinition): PlatformIo {
  const hardware = createSimHardware(board, platform.clock, indoorDay(1));
  return { ...platform.io, ...hardware.io } as PlatformIo;
}
