/*
 * Sensor discovery: probes the addresses our drivers know on one I2C bus and
 * identifies what answers, in a form a board definition starts from
 * (`{chip, address}` entries, see boards/types.ts).
 *
 *  0x44/0x45  SHT3x: read status (0xF32D) returns a word with a valid CRC
 *             (SHT3x datasheet §4.11); otherwise SHT4x: read serial (0x89),
 *             wait 1 ms, two words with valid CRCs (SHT4x datasheet §4.5).
 *             An SHT4x refuses the two-byte status command (commands are one
 *             byte), an SHT3x the one-byte 0x89.
 *  0x46       SHT4x-C only.
 *  0x76/0x77  BME280 vs BMP280 by the id register 0xD0 (0x60 / 0x58).
 *  0x23/0x5C  BH1750: accepts power on (0x01); we power it down again (0x00).
 *  0x62       SCD4x: get_serial_number (0x3682), 1 ms, three words with valid
 *             CRCs; if refused (periodic measurement running), stop it
 *             (0x3F86), wait 500 ms and ask again.
 *
 * Probing writes commands: run it before the drivers are created. It is
 * asynchronous (the waits run on the scheduler) and reports once.
 */
import type { I2cConstructor, I2cDevice, PinSpecifier, PortSpecifier } from "../platform/io";
import type { Scheduler } from "../scheduler/scheduler";
import { sensirionWords } from "./crc8";

export type SensorChip = "sht3x" | "sht4x" | "bme280" | "bmp280" | "bh1750" | "scd4x";

export interface DiscoveredSensor {
  chip: SensorChip;
  address: number;
  /** Serial number where the chip has one (SHT3x, SHT4x, SCD4x). */
  serial?: number;
}

export interface DiscoveryResult {
  found: DiscoveredSensor[];
  /** Known addresses that acknowledged but did not identify as a chip we support (e.g. a BME680 at 0x77). */
  unidentified: { address: number; detail: string }[];
}

export interface DiscoveryOptions {
  io: I2cConstructor;
  data?: PinSpecifier;
  clock?: PinSpecifier;
  hz?: number;
  port?: PortSpecifier;
  scheduler: Scheduler;
  /** Limit the probe to these addresses (default: all known ones). */
  addresses?: number[];
}

export const KNOWN_ADDRESSES = [0x23, 0x44, 0x45, 0x46, 0x5c, 0x62, 0x76, 0x77] as const;

type Probe = Generator<number, DiscoveredSensor | string | undefined, void>;

/** `count` CRC-checked words of what was read, as one number; -1 when nothing was read or a CRC fails. */
function words(bytes: Uint8Array | undefined, count: number): number {
  return bytes ? sensirionWords(bytes, 0, count) : -1;
}

class Prober {
  device: I2cDevice | undefined;
  constructor(readonly address: number, options: DiscoveryOptions) {
    const o: any = { address, hz: options.hz ?? 100_000 };
    if (options.data !== undefined) o.data = options.data;
    if (options.clock !== undefined) o.clock = options.clock;
    if (options.port !== undefined) o.port = options.port;
    try {
      this.device = new options.io(o);
    } catch {
      this.device = undefined;
    }
  }
  write(bytes: number[], stop = true): boolean {
    try {
      this.device!.write(Uint8Array.from(bytes), stop);
      return true;
    } catch {
      return false;
    }
  }
  read(count: number): Uint8Array | undefined {
    try {
      return new Uint8Array(this.device!.read(count) as ArrayBuffer);
    } catch {
      return undefined;
    }
  }
  close(): void {
    try {
      this.device?.close();
    } catch {
      // nothing
    }
  }
}

function* probeSht(p: Prober, allowSht3x: boolean): Probe {
  let acked = false;
  if (allowSht3x && p.write([0xf3, 0x2d])) {
    acked = true;
    if (words(p.read(3), 1) >= 0) {
      const w = p.write([0x37, 0x80]) ? words(p.read(6), 2) : -1;
      return { chip: "sht3x", address: p.address, serial: w < 0 ? undefined : w };
    }
  }
  if (p.write([0x89])) {
    yield 1;
    const w = words(p.read(6), 2);
    if (w >= 0) return { chip: "sht4x", address: p.address, serial: w };
    acked = true;
  }
  return acked ? "answers but is neither an SHT3x nor an SHT4x (bad CRC or unknown chip)" : undefined;
}

function* probeBmx(p: Prober): Probe {
  if (!p.write([0xd0], false)) return undefined;
  const id = p.read(1);
  if (!id) return "acknowledged the register write but not the read";
  if (id[0] === 0x60) return { chip: "bme280", address: p.address };
  if (id[0] === 0x58) return { chip: "bmp280", address: p.address };
  return `chip id 0x${id[0].toString(16)} (not a BME280/BMP280)`;
  yield 0;
}

function* probeBh1750(p: Prober): Probe {
  if (!p.write([0x01])) return undefined;
  p.write([0x00]);
  return { chip: "bh1750", address: p.address };
  yield 0;
}

function* probeScd4x(p: Prober): Probe {
  for (let attempt = 0; attempt < 2; attempt++) {
    if (p.write([0x36, 0x82])) {
      yield 1;
      const w = words(p.read(9), 3);
      if (w >= 0) return { chip: "scd4x", address: p.address, serial: w };
    }
    if (attempt === 0) {
      if (!p.write([0x3f, 0x86])) {
        // not even the stop command: nothing there (or busy); one more look after 500 ms
      }
      yield 500;
    }
  }
  return undefined;
}

/** Probes the bus and calls `callback` once with what was found. */
export function discoverSensors(options: DiscoveryOptions, callback: (result: DiscoveryResult) => void): void {
  if (!options || typeof options.io !== "function") throw new TypeError("discoverSensors: options.io must be an I2C constructor");
  if (!options.scheduler || typeof options.scheduler.after !== "function") throw new TypeError("discoverSensors: options.scheduler required");
  if (typeof callback !== "function") throw new TypeError("discoverSensors: callback required");
  const addresses = (options.addresses ?? KNOWN_ADDRESSES.slice()).filter((a) => (KNOWN_ADDRESSES as readonly number[]).includes(a));
  const result: DiscoveryResult = { found: [], unidentified: [] };

  function* all(): Generator<number, void, void> {
    for (const address of addresses) {
      const p = new Prober(address, options);
      if (!p.device) continue;
      let probe: Probe;
      if (address === 0x44 || address === 0x45) probe = probeSht(p, true);
      else if (address === 0x46) probe = probeSht(p, false);
      else if (address === 0x76 || address === 0x77) probe = probeBmx(p);
      else if (address === 0x23 || address === 0x5c) probe = probeBh1750(p);
      else probe = probeScd4x(p);
      let r = probe.next();
      while (!r.done) {
        yield r.value;
        r = probe.next();
      }
      p.close();
      if (typeof r.value === "string") result.unidentified.push({ address, detail: r.value });
      else if (r.value) result.found.push(r.value);
    }
  }

  const steps = all();
  const step = () => {
    let r: IteratorResult<number, void>;
    try {
      r = steps.next();
    } catch {
      r = { done: true, value: undefined };
    }
    if (r.done) {
      try {
        callback(result);
      } catch {
        // a throwing callback must not escape the scheduler job
      }
      return;
    }
    options.scheduler.after(r.value, step, { name: "sensor discovery" });
  };
  options.scheduler.after(0, step, { name: "sensor discovery" });
}

/** The found sensors as board-definition entries. */
export function toBoardSensors(result: DiscoveryResult): { chip: SensorChip; address: number }[] {
  return result.found.map((s) => ({ chip: s.chip, address: s.address }));
}
