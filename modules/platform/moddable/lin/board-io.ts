/*
 * Board IO for the Moddable simulator on Linux: it has no I2C bus and no
 * analog input (Moddable's lin IO manifest offers sockets only). The I2C
 * class here fails at construction with a message that says so, so a driver
 * started in the simulator reports a clear error instead of a missing module.
 */
import type { AnalogConstructor, I2cConstructor, I2cOptions } from "../../io";

class NoI2C {
  constructor(options: I2cOptions) {
    const address = options && typeof options.address === "number" ? `0x${options.address.toString(16)}` : "?";
    throw new Error(`I2C: no I2C bus in the Moddable simulator (device ${address})`);
  }
}

export const I2C: I2cConstructor | undefined = NoI2C as unknown as I2cConstructor;
export const Analog: AnalogConstructor | undefined = undefined;
