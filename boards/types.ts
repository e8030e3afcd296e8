/*
 * The shape of a board definition: which I2C pins and speed, which sensors
 * are fitted where, the battery divider, and a power profile for the sleep
 * planner. Data only; boards/index.ts lists them and checks them.
 */
import type { SensorChip } from "../modules/sensors/discover";

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

/** Currents in mA at 3.3 V, times in ms. */
export interface PowerProfile {
  /** Radio on and listening (Wi-Fi RX), CPU active. */
  activeRadioMa: number;
  /** Peak while transmitting (802.11b, highest power). */
  txPeakMa: number;
  /** CPU running, radio off between DTIM beacons. */
  modemSleepMa: number;
  lightSleepMa: number;
  /** RTC timer + RTC memory kept. */
  deepSleepMa: number;
  /** Reset or deep-sleep wake until our app runs (bootloader + XS start), Wi-Fi not included. */
  bootToReadyMs: number;
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
