/*
 * A simulated ROHM BH1750FVI: one-byte instructions, the MTreg, one-time and
 * continuous modes with the datasheet's typical measurement times (H 120 ms,
 * L 16 ms, scaled by MTreg / 69), a 16-bit data register that holds the last
 * result (the chip has no busy indication), raw = lux * 1.2 * MTreg / 69
 * (twice that in H-resolution mode2), saturating at 0xFFFF.
 * Portable (no Node API).
 */
import { commandLogLimit, logCommand } from "./command-log";
import { I2cNackError, type I2cPeripheral } from "../i2c";
import type { Environment } from "../environment";
import type { SimClock } from "./sht3x";

/** Read-only tables are frozen at load (a preloaded module's unfrozen object is aliased into RAM). */
const MODES: Readonly<Record<number, Readonly<{ continuous: boolean; res: "high" | "high2" | "low" }>>> = Object.freeze({
  0x10: Object.freeze({ continuous: true, res: "high" }), 0x11: Object.freeze({ continuous: true, res: "high2" }), 0x13: Object.freeze({ continuous: true, res: "low" }),
  0x20: Object.freeze({ continuous: false, res: "high" }), 0x21: Object.freeze({ continuous: false, res: "high2" }), 0x23: Object.freeze({ continuous: false, res: "low" }),
});

export class Bh1750Sim implements I2cPeripheral {
  #commands: number[] | undefined;
  /** How many commands `commands` keeps (default 256; 0: none). */
  commandLogLimit: number;
  powered = false;
  /** The measurement time register (an own field: a driver may set it, and one set after construction would go to a property array). */
  mtreg = 69;
  data = 0;
  #clock: SimClock;
  #env: Environment;
  #mode: { continuous: boolean; res: "high" | "high2" | "low" } | undefined;
  #start = 0;
  #done = -1;
  #mtHigh = 69 >> 5;

  constructor(options: { clock: SimClock; environment: Environment; commandLogLimit?: number }) {
    this.commandLogLimit = commandLogLimit(options.commandLogLimit, "Bh1750Sim");
    this.#clock = options.clock;
    this.#env = options.environment;
  }

  measurementTime(): number {
    return ((this.#mode?.res === "low" ? 16 : 120) * this.mtreg) / 69;
  }

  /** Commands received, newest last (for tests; created with the first one kept). */
  get commands(): number[] {
    return (this.#commands ??= []);
  }

  write(data: Uint8Array, _stop: boolean): void {
    Bh1750Sim.#update(this);
    if (data.length !== 1) throw new I2cNackError("data", "BH1750: instructions are one byte");
    const cmd = data[0];
    if (this.commandLogLimit > 0 || this.#commands) logCommand(this.commands, cmd, this.commandLogLimit);
    const now = this.#clock.now();
    if (cmd === 0x00) {
      this.powered = false;
      this.#mode = undefined;
    } else if (cmd === 0x01) this.powered = true;
    else if (cmd === 0x07) {
      if (this.powered) this.data = 0; // not accepted in power down (instruction set note)
    } else if ((cmd & 0xf8) === 0x40) this.#mtHigh = cmd & 0x07;
    else if ((cmd & 0xe0) === 0x60) this.mtreg = (this.#mtHigh << 5) | (cmd & 0x1f);
    else if (MODES[cmd]) {
      this.powered = true;
      this.#mode = MODES[cmd];
      this.#start = now;
      this.#done = -1;
    } else throw new I2cNackError("data", `BH1750: unknown instruction 0x${cmd.toString(16)}`);
  }

  read(count: number, _stop: boolean): Uint8Array {
    Bh1750Sim.#update(this);
    const out = new Uint8Array(count);
    if (count > 0) out[0] = this.data >> 8;
    if (count > 1) out[1] = this.data & 0xff;
    return out;
  }

  // Internals are static private methods given the instance: a private instance
  // method gives every instance a brand field (8 B; a simulated fleet has a thousand).
  static #update(self: Bh1750Sim): void {
    const mode = self.#mode;
    if (!mode) return;
    const now = self.#clock.now();
    const t = self.measurementTime();
    const k = Math.floor((now - self.#start) / t) - 1; // index of the newest completed measurement
    if (k < 0 || k === self.#done) return;
    if (!mode.continuous) {
      Bh1750Sim.#convert(self, self.#start + t, mode.res);
      self.#mode = undefined;
      self.powered = false; // one time modes power down by themselves
      return;
    }
    self.#done = k;
    Bh1750Sim.#convert(self, self.#start + (k + 1) * t, mode.res);
  }

  static #convert(self: Bh1750Sim, at: number, res: "high" | "high2" | "low"): void {
    const counts = self.#env.light(at) * 1.2 * (self.mtreg / 69) * (res === "high2" ? 2 : 1);
    self.data = Math.min(0xffff, Math.max(0, Math.floor(res === "low" ? Math.floor(counts / 4) * 4 : counts)));
  }
}
