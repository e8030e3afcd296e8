/*
 * A simulated Sensirion SCD40 / SCD41 (SCD4x datasheet §3): 16-bit commands,
 * NACK while a command executes (stop 500 ms, single shot 5 s, reinit 20 ms),
 * periodic (5 s) and low-power periodic (30 s) measurement with a one-result
 * buffer emptied by read_measurement (NACK when empty), get_data_ready_status,
 * serial number, commands refused (data NACK) during periodic measurement
 * except the ones §3.5 allows, measure_single_shot on the SCD41 only.
 * Values: CO2 in ppm clamped to the 0..40000 output range, T and RH encoded as
 * §3.6.2 inverted. The 1 ms execution time of read commands is not modelled
 * (the response can be read at once).
 * Portable (no Node API).
 */
import { commandLogLimit, logCommand } from "./command-log";
import { I2cNackError, type I2cPeripheral } from "../i2c";
import { setOwn } from "./own";
import type { Environment } from "../environment";
import { corruptCrc, encodeHumidity, encodeTemperature, encodeWords, type SensirionFaults, type SimClock } from "./sht3x";

const ALLOWED_IN_PERIODIC: readonly number[] = Object.freeze([0xec05, 0xe4b8, 0x3f86, 0xe000]);

export class Scd4xSim implements I2cPeripheral {
  /** "scd41" unless given (the default is on the prototype: a field less per chip). */
  declare readonly variant: "scd40" | "scd41";
  #faults: SensirionFaults | undefined;
  #commands: number[] | undefined;
  /** How many commands `commands` keeps (default 256; 0: none). */
  commandLogLimit: number;
  /** The serial number (0x1234_5678_9abc unless given or set: the default is on the prototype, a field less per chip). */
  declare serial: number;
  #clock: SimClock;
  #env: Environment;
  #busyUntil = -1;
  #mode: "idle" | "periodic" | "low-power" = "idle";
  #start = 0;
  #lastRead = -1;
  #single: number | undefined; // completion time of a single shot
  #singleRead = true;
  #response: Uint8Array | undefined;

  constructor(options: { clock: SimClock; environment: Environment; variant?: "scd40" | "scd41"; serial?: number; commandLogLimit?: number }) {
    this.commandLogLimit = commandLogLimit(options.commandLogLimit, "Scd4xSim");
    this.#clock = options.clock;
    this.#env = options.environment;
    if (options.variant !== undefined && options.variant !== "scd41") setOwn(this, "variant", options.variant);
    if (options.serial !== undefined) setOwn(this, "serial", options.serial);
  }

  get mode(): string {
    return this.#mode;
  }

  /** Commands received, newest last (for tests; created with the first one kept). */
  get commands(): number[] {
    return (this.#commands ??= []);
  }

  /** Injected faults (created on first use). */
  get faults(): SensirionFaults {
    return (this.#faults ??= { stuckBusy: false, crcError: false });
  }

  write(data: Uint8Array, _stop: boolean): void {
    const now = this.#clock.now();
    if (now < this.#busyUntil || (this.#faults?.stuckBusy && this.#single !== undefined && !this.#singleRead))
      throw new I2cNackError("address", "SCD4x busy executing a command");
    if (data.length !== 2 && data.length !== 5) throw new I2cNackError("data", "SCD4x: commands are 2 bytes (5 with an argument)");
    const cmd = (data[0] << 8) | data[1];
    if (this.commandLogLimit > 0 || this.#commands) logCommand(this.commands, cmd, this.commandLogLimit);
    this.#response = undefined;
    if (this.#mode !== "idle" && !ALLOWED_IN_PERIODIC.includes(cmd))
      throw new I2cNackError("data", `SCD4x: command 0x${cmd.toString(16)} not allowed during periodic measurement`);
    switch (cmd) {
      case 0x21b1:
      case 0x21ac:
        this.#mode = cmd === 0x21b1 ? "periodic" : "low-power";
        this.#start = now;
        this.#lastRead = -1;
        this.#single = undefined;
        return;
      case 0x3f86:
        this.#mode = "idle";
        this.#busyUntil = now + 500;
        return;
      case 0xe4b8:
        this.#response = corruptCrc(encodeWords([Scd4xSim.#ready(this, now) !== undefined ? 0x8006 : 0x8000]), this.#faults);
        return;
      case 0xec05: {
        const at = Scd4xSim.#ready(this, now);
        if (at === undefined) return; // the read will be NACKed: buffer empty
        if (this.#mode === "idle") this.#singleRead = true;
        else this.#lastRead = Scd4xSim.#index(this, now);
        const co2 = Math.min(40000, Math.max(0, Math.round(this.#env.co2(at))));
        this.#response = corruptCrc(encodeWords([co2, encodeTemperature(this.#env.temperature(at)), encodeHumidity(this.#env.humidity(at))]), this.#faults);
        return;
      }
      case 0x3682:
        this.#response = corruptCrc(encodeWords([Math.floor(this.serial / 2 ** 32) & 0xffff, Math.floor(this.serial / 65536) & 0xffff, this.serial & 0xffff]), this.#faults);
        return;
      case 0x219d:
        if (this.variant !== "scd41") throw new I2cNackError("data", "SCD40: measure_single_shot not supported");
        this.#busyUntil = now + 5000;
        this.#single = now + 5000;
        this.#singleRead = false;
        return;
      case 0x3646:
        this.#busyUntil = now + 20;
        return;
      case 0xe000: // set_ambient_pressure: accepted, not modelled
        return;
      default:
        throw new I2cNackError("data", `SCD4x: unknown command 0x${cmd.toString(16)}`);
    }
  }

  read(count: number, _stop: boolean): Uint8Array {
    if (this.#clock.now() < this.#busyUntil) throw new I2cNackError("address", "SCD4x busy executing a command");
    const response = this.#response;
    if (!response) throw new I2cNackError("address", "SCD4x: nothing to read");
    this.#response = undefined;
    const out = new Uint8Array(count).fill(0xff);
    out.set(response.subarray(0, Math.min(count, response.length)));
    return out;
  }

  // Internals are static private methods given the instance: a private instance
  // method gives every instance a brand field (8 B; a simulated fleet has a thousand).
  static #interval(self: Scd4xSim): number {
    return self.#mode === "low-power" ? 30000 : 5000;
  }

  static #index(self: Scd4xSim, now: number): number {
    return Math.floor((now - self.#start) / Scd4xSim.#interval(self)) - 1;
  }

  /** Completion time of the unread buffered measurement, or undefined. */
  static #ready(self: Scd4xSim, now: number): number | undefined {
    if (self.#faults?.stuckBusy) return undefined;
    if (self.#mode === "idle") return self.#single !== undefined && !self.#singleRead && now >= self.#single ? self.#single : undefined;
    const k = Scd4xSim.#index(self, now);
    if (k < 0 || k === self.#lastRead) return undefined;
    return self.#start + (k + 1) * Scd4xSim.#interval(self);
  }
}
Object.assign(Scd4xSim.prototype, { serial: 0x1234_5678_9abc, variant: "scd41" });
