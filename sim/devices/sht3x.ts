/*
 * A simulated Sensirion SHT3x at the byte level (SHT3x-DIS datasheet §4):
 * 16-bit commands, single-shot with clock stretching disabled (the read
 * header is NACKed until the measurement is done), periodic mode with fetch
 * (NACK when no new data), break, soft reset, heater, status register, serial
 * number, CRC-8 on every word. Measurement durations are the datasheet's
 * typical values (Table 4); values come from an Environment at the instant the
 * measurement completes.
 *
 * Not modelled: clock-stretching commands, alert mode, ART, the ~1 ms a
 * reset or break takes before the next command is accepted.
 *
 * Portable (no Node API).
 */
import { commandLogLimit, logCommand } from "./command-log";
import { I2cNackError, type I2cPeripheral } from "../i2c";
import type { Environment } from "../environment";

export interface SimClock {
  now(): number;
}

export interface SensirionFaults {
  /** Measurements never complete: reads are NACKed forever. */
  stuckBusy: boolean;
  /** Every CRC byte sent is wrong (XOR 0xFF). */
  crcError: boolean;
  /** Only this word index gets a wrong CRC (for "one field bad" tests). */
  crcErrorWord?: number;
}

/** Typical measurement durations (ms), SHT3x datasheet Table 4. */
const DURATION_TYP: Readonly<Record<number, number>> = Object.freeze({
  0x2400: 12.5, 0x240b: 4.5, 0x2416: 2.5,
});
/** Built and frozen at load (preloaded: in flash, read only). */
const PERIODIC: Readonly<Record<number, Readonly<{ mps: number; duration: number }>>> = periodicCommands();

function periodicCommands(): Readonly<Record<number, Readonly<{ mps: number; duration: number }>>> {
  const table: Record<number, Readonly<{ mps: number; duration: number }>> = {};
  for (const [mps, cmds] of [[0.5, [0x2032, 0x2024, 0x202f]], [1, [0x2130, 0x2126, 0x212d]], [2, [0x2236, 0x2220, 0x222b]], [4, [0x2334, 0x2322, 0x2329]], [10, [0x2737, 0x2721, 0x272a]]] as const) {
    table[cmds[0]] = Object.freeze({ mps, duration: 12.5 });
    table[cmds[1]] = Object.freeze({ mps, duration: 4.5 });
    table[cmds[2]] = Object.freeze({ mps, duration: 2.5 });
  }
  return Object.freeze(table);
}

/** How much the on-chip heater raises the sensed temperature (°C). A model, not a datasheet figure. */
export const SHT3X_HEATER_OFFSET = 3;

export function encodeTemperature(celsius: number): number {
  return Math.min(65535, Math.max(0, Math.round(((celsius + 45) * 65535) / 175)));
}
export function encodeHumidity(percent: number): number {
  return Math.min(65535, Math.max(0, Math.round((percent * 65535) / 100)));
}

/**
 * The CRC-8 a Sensirion chip sends after a 16-bit word (SHT3x §4.12: polynomial 0x31, initial
 * value 0xFF, no reflection, no final XOR; 0xBEEF -> 0x92). The chip's side, computed here as
 * the remainder of the word (its top byte XORed with the initial value) times x^8 divided by
 * x^8 + x^5 + x^4 + 1: apart from the drivers' check (modules/sensors/crc8.ts), so that a fault
 * in one is not hidden by the other.
 */
export function sensirionCrc8(word: number): number {
  let r = ((word ^ 0xff00) & 0xffff) * 256;
  for (let bit = 23; bit >= 8; bit--) if (r & (1 << bit)) r ^= 0x131 << (bit - 8);
  return r;
}

/** Encodes 16-bit words as the chips send them: MSB, LSB, CRC for each word (the drivers only check: modules/sensors/crc8.ts). */
export function encodeWords(words: readonly number[]): Uint8Array {
  const out = new Uint8Array(words.length * 3);
  for (let i = 0; i < words.length; i++) {
    const w = words[i] & 0xffff;
    out[i * 3] = w >> 8;
    out[i * 3 + 1] = w & 0xff;
    out[i * 3 + 2] = sensirionCrc8(w);
  }
  return out;
}

export function corruptCrc(bytes: Uint8Array, faults: SensirionFaults | undefined): Uint8Array {
  if (!faults) return bytes;
  for (let w = 0; w * 3 + 2 < bytes.length; w++) {
    if (faults.crcError || faults.crcErrorWord === w) bytes[w * 3 + 2] ^= 0xff;
  }
  return bytes;
}

/*
 * Memory: a simulated fleet holds a chip per device, so the chip keeps as few
 * fields as its state needs. The measurement's start and its command are
 * fields, its times are derived from the command's datasheet durations (a
 * fractional time such as now + 12.5 ms in a field is a 16-byte heap number);
 * the heater is the status register's bit 13; the default serial number is on
 * the prototype (own only when set); no private methods (they add a brand
 * field to every instance).
 */
export class Sht3xSim implements I2cPeripheral {
  #faults: SensirionFaults | undefined;
  /** The serial number (0x1a2b3c4d unless given or set). */
  declare serial: number;
  #commands: number[] | undefined;
  /** How many commands `commands` keeps (default 256; 0: none). */
  commandLogLimit: number;
  status = 0x8010; // alert pending + reset detected after power-up (§4.11)

  #clock: SimClock;
  #env: Environment;
  #mode: "idle" | "single" | "periodic" = "idle";
  /** The command of the measurement under way (single shot) or of the periodic mode. */
  #cmd = 0;
  /** When that command was received (clock ms). */
  #start = 0;
  #lastFetched = -1;
  #response: Uint8Array | undefined;

  constructor(options: { clock: SimClock; environment: Environment; serial?: number; commandLogLimit?: number }) {
    this.commandLogLimit = commandLogLimit(options.commandLogLimit, "Sht3xSim");
    this.#clock = options.clock;
    this.#env = options.environment;
    if (options.serial !== undefined) this.serial = options.serial;
  }

  /** The heater is on (status bit 13, §4.11). */
  get heater(): boolean {
    return (this.status & 0x2000) !== 0;
  }
  set heater(on: boolean) {
    this.status = on ? this.status | 0x2000 : this.status & ~0x2000;
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
    if (this.#mode === "single" && (this.#faults?.stuckBusy || now < this.#start + DURATION_TYP[this.#cmd])) throw new I2cNackError("address", "SHT3x busy measuring");
    if (data.length !== 2) {
      this.status |= 0x0002;
      throw new I2cNackError("data", `SHT3x: ${data.length}-byte command not understood`);
    }
    const cmd = (data[0] << 8) | data[1];
    if (this.commandLogLimit > 0 || this.#commands) logCommand(this.commands, cmd, this.commandLogLimit);
    this.#response = undefined;
    if (this.#mode === "periodic" && ![0xe000, 0x3093, 0x30a2, 0xf32d, 0x3041, 0x306d, 0x3066].includes(cmd)) {
      this.status |= 0x0002;
      throw new I2cNackError("data", `SHT3x: command 0x${cmd.toString(16)} not allowed in periodic mode`);
    }
    this.status &= ~0x0002;
    if (DURATION_TYP[cmd] !== undefined) {
      this.#mode = "single";
      this.#cmd = cmd;
      this.#start = now;
      return;
    }
    if (PERIODIC[cmd]) {
      this.#mode = "periodic";
      this.#cmd = cmd;
      this.#start = now;
      this.#lastFetched = -1;
      return;
    }
    switch (cmd) {
      case 0xe000: {
        if (this.#mode !== "periodic" || this.#faults?.stuckBusy) return; // the read header will be NACKed
        const { mps, duration } = PERIODIC[this.#cmd];
        const period = 1000 / mps;
        const k = Math.floor((now - this.#start - duration) / period);
        if (k < 0 || k === this.#lastFetched) return;
        this.#lastFetched = k;
        this.#response = measurement(this, this.#env, this.#faults, this.#start + k * period + duration);
        return;
      }
      case 0x3093:
        this.#mode = "idle";
        return;
      case 0x30a2:
        this.#mode = "idle";
        this.status = 0x8010; // heater off
        return;
      case 0x306d:
        this.status |= 0x2000;
        return;
      case 0x3066:
        this.status &= ~0x2000;
        return;
      case 0xf32d:
        this.#response = corruptCrc(encodeWords([this.status]), this.#faults);
        return;
      case 0x3041:
        this.status &= ~(0x8000 | 0x0800 | 0x0400 | 0x0010);
        return;
      case 0x3780:
        this.#response = corruptCrc(encodeWords([this.serial >>> 16, this.serial & 0xffff]), this.#faults);
        return;
      default:
        this.status |= 0x0002;
        throw new I2cNackError("data", `SHT3x: unknown command 0x${cmd.toString(16)}`);
    }
  }

  read(count: number, _stop: boolean): Uint8Array {
    const now = this.#clock.now();
    if (this.#mode === "single") {
      const doneAt = this.#start + DURATION_TYP[this.#cmd];
      if (this.#faults?.stuckBusy || now < doneAt) throw new I2cNackError("address", "SHT3x measurement not finished");
      this.#mode = "idle";
      this.#response = measurement(this, this.#env, this.#faults, doneAt);
    }
    const response = this.#response;
    if (!response) throw new I2cNackError("address", "SHT3x: no data to read");
    this.#response = undefined;
    const out = new Uint8Array(count).fill(0xff);
    out.set(response.subarray(0, Math.min(count, response.length)));
    return out;
  }
}
Sht3xSim.prototype.serial = 0x1a2b3c4d;

/** The measurement response (T, RH words with CRCs) for the instant `at`. */
function measurement(chip: Sht3xSim, env: Environment, faults: SensirionFaults | undefined, at: number): Uint8Array {
  const t = env.temperature(at) + (chip.heater ? SHT3X_HEATER_OFFSET : 0);
  const rh = env.humidity(at);
  return corruptCrc(encodeWords([encodeTemperature(t), encodeHumidity(rh)]), faults);
}
