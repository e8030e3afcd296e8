/*
 * The simulated hardware of one board: an I2C bus with the board's chips on it,
 * an ADC with the battery behind its divider, and the environment they sense.
 * The hardware outlives the app (it is not reset by deep sleep), so it runs on
 * the raw simulator clock, not on a boot's clock. Portable (no Node API).
 */
import type { BoardDefinition } from "../boards/types";
import type { Clock } from "../modules/platform/clock";
import type { PlatformIo } from "../modules/platform/platform";
import { SimAdc } from "./devices/analog";
import { populateBus } from "./devices/index";
import { Environment, type EnvironmentSpec, type SignalSet } from "./environment";
import { I2cBus } from "./i2c";

export interface SimHardware {
  bus: I2cBus;
  adc: SimAdc | undefined;
  environment: Environment;
  /** The IO constructors to hand a SimDevice. */
  io: Partial<PlatformIo>;
}

export interface SimHardwareOptions {
  /**
   * I2C transactions the bus keeps in `bus.log` (default 0: none). The log is a
   * debugging aid (tests of a driver read it); a simulated device that runs for
   * hours, or a fleet of a thousand, should not carry 256 transactions each.
   */
  i2cLogLimit?: number;
  /**
   * Commands each simulated chip keeps in its `commands` list (default 0: none),
   * for the same reason: a chip polled every second for a day would keep 86,400.
   */
  chipCommandLogLimit?: number;
}

/**
 * The voltage at the ADC pin behind the battery's divider: a pin source of two
 * fields (a bound function and its arguments cost a simulated device ~80 B).
 */
class DividedBattery {
  constructor(
    readonly environment: Environment,
    readonly dividerRatio: number,
  ) {}
  volts(timeMs: number): number {
    return this.environment.battery(timeMs) / this.dividerRatio;
  }
}

export function createSimHardware(board: BoardDefinition, clock: Clock, environment: Environment | EnvironmentSpec | SignalSet = {}, options: SimHardwareOptions = {}): SimHardware {
  const env = environment instanceof Environment ? environment : new Environment(environment);
  const bus = new I2cBus({ logLimit: options.i2cLogLimit ?? 0 });
  populateBus(bus, board.sensors, { clock, environment: env, commandLogLimit: options.chipCommandLogLimit ?? 0 });
  let adc: SimAdc | undefined;
  const battery = board.battery;
  if (battery) {
    adc = new SimAdc({
      clock,
      reference: battery.reference,
      resolution: battery.resolution,
      pins: { [String(battery.pin)]: new DividedBattery(env, battery.dividerRatio) },
    });
  }
  return { bus, adc, environment: env, io: adc ? { I2C: bus.I2C, Analog: adc.Analog } : { I2C: bus.I2C } };
}
