/*
 * Board IO for ESP32 targets: the ECMA-419 I2C and analog input classes
 * Moddable provides there. The manifest maps this specifier to
 * lin/board-io.ts for the simulator, which has neither.
 */
import HostI2C from "embedded:io/i2c";
import HostAnalog from "embedded:io/analog";
import type { AnalogConstructor, I2cConstructor } from "../io";

export const I2C: I2cConstructor | undefined = HostI2C as unknown as I2cConstructor;
export const Analog: AnalogConstructor | undefined = HostAnalog as unknown as AnalogConstructor;
