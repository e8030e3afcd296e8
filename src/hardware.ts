/*
 * The board's sensor IO on a device: the platform's own I2C and analog input
 * (ECMA-419 embedded:io/i2c and embedded:io/analog). The Moddable lin build
 * replaces this module with src/hardware-lin.ts (manifest.json, platforms.lin).
 */
import type { BoardDefinition } from "../boards/types";
import type { Platform, PlatformIo } from "../modules/platform/platform";

export const HARDWARE = "board";

export function boardIo(platform: Platform, _board: BoardDefinition): PlatformIo {
  return platform.io;
}
