/*
 * A simulated Sensirion SHT4x (SHT4x datasheet §4.5): one-byte commands,
 * measurement durations from Table 6 (typical), NACK of the read header while
 * measuring and when there is nothing to read, CRC-8 on every word,
 * RH encoded as S_RH = (RH + 6) * 65535 / 125 (§4.6 inverted).
 * The heater pulse raises the sensed temperature by power/20 °C at the final
 * measurement (a model, not a datasheet figure).
 * A multi-byte write is refused (data NACK on the second byte), as is an
 * unknown command. Portable (no Node API).
 */
import { commandLogLimit, logCommand } from "./command-log";
import { I2cNackError, type I2cPeripheral } from "../i2c";
import type { Environment } from "../environment";
import { corruptCrc, encodeTemperature, encodeWords, type SensirionFaults, type SimClock } from "./sht3x";

const MEASURE: Readonly<Record<number, number>> = Object.freeze({ 0xfd: 6.9, 0xf6: 3.7, 0xe0: 1.3 });
const HEATER: Readonly<Record<number, Readonly<{ power: number; duration: number }>>> = Object.freeze({
  0x39: Object.freeze({ power: 200, duration: 1000 }), 0x32: Object.freeze({ power: 200, duration: 100 }),
  0x2f: Object.freeze({ power: 110, duration: 1000 }), 0x24: Object.freeze({ power: 110, duration: 100 }),
  0x1e: Object.freeze({ power: 20, duration: 1000 }), 0x15: Object.freeze({ power: 20, duration: 100 }),
});

export function encodeSht4xHumidity(percent: number): number {
  return Math.min(65535, Math.max(0, Math.round(((percent + 6) * 65535) / 125)));
}

export class Sht4xSim implements I2cPeripheral {
  #faults: SensirionFaults | undefined;
  /** The serial number (0x0bad_cafe unless given or set: the default is on the prototype, a field less per chip). */
  declare serial: number;
  #commands: number[] | undefined;
  /** How many commands `commands` keeps (default 256; 0: none). */
  commandLogLimit: number;
  #clock: SimClock;
  #env: Environment;
  #busyUntil = -1;
  #measureAt = 0;
  #heat = 0;
  #measuring = false;
  #response: Uint8Array | undefined;

  constructor(options: { clock: SimClock; environment: Environment; serial?: number; commandLogLimit?: number }) {
    this.commandLogLimit = commandLogLimit(options.commandLogLimit, "Sht4xSim");
    this.#clock = options.clock;
    this.#env = options.environment;
    if (options.serial !== undefined) this.serial = options.serial;
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
    if (this.#measuring && (this.#faults?.stuckBusy || now < this.#busyUntil)) throw new I2cNackError("address", "SHT4x busy measuring");
    if (data.length === 0) return;
    if (data.length > 1) throw new I2cNackError("data", "SHT4x: commands are one byte");
    const cmd = data[0];
    if (this.commandLogLimit > 0 || this.#commands) logCommand(this.commands, cmd, this.commandLogLimit);
    this.#response = undefined;
    this.#measuring = false;
    if (MEASURE[cmd] !== undefined || HEATER[cmd]) {
      const heater = HEATER[cmd];
      const duration = heater ? heater.duration + 6.9 : MEASURE[cmd];
      this.#heat = heater ? heater.power / 20 : 0;
      this.#measuring = true;
      this.#busyUntil = now + duration;
      this.#measureAt = now + duration;
      return;
    }
    if (cmd === 0x89) {
      this.#response = corruptCrc(encodeWords([this.serial >>> 16, this.serial & 0xffff]), this.#faults);
      return;
    }
    if (cmd === 0x94) return;
    throw new I2cNackError("data", `SHT4x: unknown command 0x${cmd.toString(16)}`);
  }

  read(count: number, _stop: boolean): Uint8Array {
    if (this.#measuring) {
      if (this.#faults?.stuckBusy || this.#clock.now() < this.#busyUntil) throw new I2cNackError("address", "SHT4x measurement not finished");
      this.#measuring = false;
      const at = this.#measureAt;
      const t = this.#env.temperature(at) + this.#heat;
      this.#response = corruptCrc(encodeWords([encodeTemperature(t), encodeSht4xHumidity(this.#env.humidity(at))]), this.#faults);
    }
    const response = this.#response;
    if (!response) throw new I2cNackError("address", "SHT4x: no data to read");
    this.#response = undefined;
    const out = new Uint8Array(count).fill(0xff);
    out.set(response.subarray(0, Math.min(count, response.length)));
    return out;
  }
}
Sht4xSim.prototype.serial = 0x0bad_cafe;
