/*
 * The shape of a board definition: which I2C pins and speed, which sensors
 * are fitted where, the battery divider, and a power profile for the sleep
 * planner. Data only; boards/index.ts lists them and checks them.
 */
import type { SensorChip } from "../modules/sensors/discover";
import type { PowerFigures } from "../modules/scheduler/energy";

export type Soc = "esp32" | "esp32c3" | "esp32s3" | "host";

export interface BoardSensor {
  chip: SensorChip;
  address: number;
}

export interface BatteryDivider {
  /** ADC-capable GPIO the divider midpoint is wired to. */
  pin: number;
  /** (R_top + R_bottom) / R_bottom. */
  dividerRatio: number;
  /** ADC full-scale voltage with the attenuation the binding uses. */
  reference: number;
  /** ADC resolution in bits. */
  resolution: number;
  source: string;
}

/**
 * Currents in mA at 3.3 V, times in ms: the figures the sleep planner and the simulator's
 * energy accounting use (modules/scheduler/energy.ts PowerFigures), with their sources.
 */
export interface PowerProfile extends PowerFigures {
  sources: string[];
  notes?: string;
}

export interface BoardDefinition {
  /** Our name for the board (the key in `boards`). */
  name: string;
  title: string;
  soc: Soc;
  /** The Moddable platform identifier for `mcconfig -p` (see the Moddable "esp32" device docs). */
  moddableTarget: string;
  i2c: { data: number; clock: number; hz: number; port?: number; source: string };
  sensors: BoardSensor[];
  /** True when `sensors` is our assumption (a breakout we expect), not something on the board itself. */
  sensorsAssumed: boolean;
  battery?: BatteryDivider;
  power: PowerProfile;
  notes?: string[];
}
