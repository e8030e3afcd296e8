/*
 * Sensirion SCD4x (SCD40, SCD41) CO2, temperature and humidity sensor, I2C
 * address 0x62.
 *
 * From the SCD4x datasheet (v1.4, 2023), §3 "Digital interface description":
 *  16-bit commands; responses are 16-bit words each followed by a CRC-8
 *  (poly 0x31, init 0xFF, §3.11); the sensor does not answer (NACK) while a
 *  command executes. Execution times (max): start_periodic_measurement
 *  (0x21B1) -, start_low_power_periodic_measurement (0x21AC) -,
 *  read_measurement (0xEC05) 1 ms, stop_periodic_measurement (0x3F86) 500 ms,
 *  get_data_ready_status (0xE4B8) 1 ms (ready when the low 11 bits are not 0),
 *  get_serial_number (0x3682) 1 ms, measure_single_shot (0x219D, SCD41 only)
 *  5000 ms. Periodic measurement: a new result every 5 s (low power: 30 s).
 *  Conversion (§3.6.2): CO2 [ppm] = word 0; T = -45 + 175 * word 1 / 65535;
 *  RH = 100 * word 2 / 65535.
 *
 * Every exchange needs a wait between the command and the read, so reads run
 * only inside measure() (on the scheduler). sample() returns the newest result
 * measure() obtained while it is within one measurement interval, then
 * undefined: never an older value. In periodic modes measure() reads a new
 * result when the chip has one (data ready), returns that same newest result
 * when the chip has none yet and it is still within its interval, and waits
 * for the next result otherwise.
 */
import { decodeWord } from "./crc8";
import { I2cSensor, type Measurement, type Sample, type SensorOptions } from "./sensor";

export type Scd4xMode = "idle" | "periodic" | "low-power" | "single";

export interface Scd4xConfiguration {
  /** "scd41" adds single-shot measurement. Default "scd40" (the common subset). */
  variant?: "scd40" | "scd41";
  mode?: Scd4xMode;
}

export const SCD4X_ADDRESSES = [0x62] as const;
export const SCD4X = {
  startPeriodic: 0x21b1,
  startLowPower: 0x21ac,
  readMeasurement: 0xec05,
  stopPeriodic: 0x3f86,
  dataReady: 0xe4b8,
  serialNumber: 0x3682,
  singleShot: 0x219d,
  reinit: 0x3646,
} as const;
/** Execution times (ms, datasheet §3.5-3.10). */
export const SCD4X_TIMES = { stop: 500, read: 1, single: 5000, interval: 5000, lowPowerInterval: 30000 } as const;

export class Scd4x extends I2cSensor<Sample> {
  readonly variant: "scd40" | "scd41";
  #mode: Scd4xMode = "idle";
  #busyUntil = 0;
  #periodicStart = -1;
  #startJob: { cancel(): void } | undefined;
  // The newest result as the chip's raw words (-1: none; datasheet §3.5.2 conversions in
  // #sampleOf): three small integers instead of a Sample of three objects and boxed doubles,
  // ~0.2 KB less per driver in a simulated fleet (issue 7).
  #co2Word = -1;
  #tWord = -1;
  #rhWord = -1;
  #latestAt = 0;

  constructor(options: SensorOptions & Scd4xConfiguration) {
    super("SCD4x", options, SCD4X_ADDRESSES);
    const variant = options.variant ?? "scd40";
    if (variant !== "scd40" && variant !== "scd41") throw new RangeError(`SCD4x: variant must be "scd40" or "scd41", got ${variant}`);
    this.variant = variant;
    // ECMA-419 §13 constructor: stop whatever a previous instance started (500 ms)
    if (this.write("stop periodic measurement", this.#cmd(SCD4X.stopPeriodic))) this.#busyUntil = this.now() + SCD4X_TIMES.stop;
    this.configure(options);
  }

  get mode(): Scd4xMode {
    return this.#mode;
  }

  get interval(): number {
    return this.#mode === "low-power" ? SCD4X_TIMES.lowPowerInterval : SCD4X_TIMES.interval;
  }

  configure(options: Scd4xConfiguration = {}): void {
    const mode = options.mode ?? this.#mode;
    if (!["idle", "periodic", "low-power", "single"].includes(mode)) throw new RangeError(`SCD4x: mode must be idle, periodic, low-power or single, got ${mode}`);
    if (mode === "single" && this.variant !== "scd41") throw new RangeError("SCD4x: single-shot measurement needs an SCD41 (variant: \"scd41\")");
    if (mode === this.#mode) return;
    this.#startJob?.cancel();
    this.#startJob = undefined;
    const wasPeriodic = this.#mode === "periodic" || this.#mode === "low-power";
    this.#mode = mode;
    this.#forget();
    this.#periodicStart = -1;
    const start = () => {
      this.#startJob = undefined;
      if (wasPeriodic && this.write("stop periodic measurement", this.#cmd(SCD4X.stopPeriodic))) {
        this.#busyUntil = this.now() + SCD4X_TIMES.stop;
        if (mode === "periodic" || mode === "low-power") {
          this.#startJob = this.scheduler.after(SCD4X_TIMES.stop, () => this.#start(), { name: "SCD4x start" });
        }
        return;
      }
      if (mode === "periodic" || mode === "low-power") this.#start();
    };
    const wait = this.#busyUntil - this.now();
    if (wait > 0 && (mode === "periodic" || mode === "low-power" || wasPeriodic)) {
      this.#startJob = this.scheduler.after(wait, start, { name: "SCD4x start" });
    } else start();
  }

  #start(): void {
    this.#startJob = undefined;
    const mode = this.#mode;
    if (mode !== "periodic" && mode !== "low-power") return;
    if (this.write("start periodic measurement", this.#cmd(mode === "periodic" ? SCD4X.startPeriodic : SCD4X.startLowPower))) this.#periodicStart = this.now();
  }

  /** The newest result measure() obtained, while it is at most one interval old. */
  sample(): Sample | undefined {
    if (this.#co2Word < 0 && this.#tWord < 0 && this.#rhWord < 0) return undefined;
    if (this.now() - this.#latestAt > this.interval) {
      this.#forget();
      return undefined;
    }
    return this.#sampleOf(this.#co2Word, this.#tWord, this.#rhWord);
  }

  /** When the newest result due by `time` was due: the start of periodic measurement plus whole intervals (the start itself before the first). */
  #dueBy(time: number): number {
    const start = this.#periodicStart;
    return start + Math.floor((time - start) / this.interval) * this.interval;
  }

  #forget(): void {
    this.#co2Word = this.#tWord = this.#rhWord = -1;
  }

  /** Datasheet §3.5.2 (read_measurement): CO2 in ppm as is, T = -45 + 175 * word / 2^16-1, RH = 100 * word / 2^16-1; a word < 0 was not read. */
  #sampleOf(co2: number, t: number, rh: number): Sample {
    const out: Sample = {};
    if (co2 >= 0) out.carbonDioxideDetector = { CO2: co2 };
    if (t >= 0) out.thermometer = { temperature: -45 + (175 * t) / 65535 };
    if (rh >= 0) out.hygrometer = { humidity: (100 * rh) / 65535 };
    return out;
  }

  protected *measurement(): Measurement<Sample> {
    const mode = this.#mode;
    if (mode === "idle") {
      this.fail("measure", "sensor is idle: configure({mode}) first");
      return {};
    }
    while (this.now() < this.#busyUntil || this.#startJob) yield Math.max(1, this.#busyUntil - this.now());
    if (mode === "single") {
      if (!this.write("measure single shot", this.#cmd(SCD4X.singleShot))) return {};
      yield SCD4X_TIMES.single;
    } else {
      if (this.#periodicStart < 0) {
        this.fail("measure", "periodic measurement is not running");
        return {};
      }
      // One result per interval (§3.6.2, 5 s; 30 s low power): while the result after the
      // kept one is not yet due, the kept one is the chip's current value, and asking
      // data-ready (a command, a 1 ms wait and a read) cannot find anything newer.
      const kept = this.sample();
      if (kept && this.now() < this.#dueBy(this.#latestAt) + this.interval) return kept;
      // poll data-ready; give up after two intervals past the first expected result
      const deadline = Math.max(this.now(), this.#periodicStart + this.interval) + 2 * this.interval;
      for (;;) {
        const asked = this.now();
        if (!this.write("get data ready status", this.#cmd(SCD4X.dataReady))) return {};
        yield SCD4X_TIMES.read;
        const status = this.read("get data ready status", 3);
        if (!status) return {};
        const word = decodeWord(status, 0);
        if (typeof word === "string") {
          this.fail("get data ready status", word);
          return {};
        }
        if (word & 0x07ff) break; // §3.8.2: ready when the 11 least significant bits are not 0
        // No new result yet, but the last one is still within its interval: it is the chip's
        // current value (what sample() returns), so a caller sampling faster than the chip
        // measures gets it at once instead of waiting up to a whole interval for the next.
        const fresh = this.sample();
        if (fresh) return fresh;
        if (this.now() >= deadline) {
          this.fail("measure", `no data ready ${Math.round(this.now() - this.#periodicStart)} ms after the start (stuck?)`);
          return {};
        }
        // A result came due between the status question and now (the kept one went stale while
        // the read waited): ask again at once rather than sleep through a whole interval, which
        // under a late-running scheduler stacked a fleet device's sampling passes for 5 s.
        const due = this.#dueBy(this.now());
        if (due > this.#periodicStart && asked < due) continue;
        yield Math.max(10, due + this.interval - this.now() + 5);
      }
    }
    if (!this.write("read measurement", this.#cmd(SCD4X.readMeasurement))) return {};
    yield SCD4X_TIMES.read;
    const bytes = this.read("read measurement", 9);
    if (!bytes) return {};
    // All three words before any report: the bytes are the driver's buffer, which a read made by an onError handler would refill (I2cSensor.read).
    const co2 = decodeWord(bytes, 0);
    const t = decodeWord(bytes, 1);
    const rh = decodeWord(bytes, 2);
    if (typeof co2 === "string") this.fail("read CO2", co2);
    if (typeof t === "string") this.fail("read temperature", t);
    if (typeof rh === "string") this.fail("read humidity", rh);
    this.#co2Word = typeof co2 === "number" ? co2 : -1;
    this.#tWord = typeof t === "number" ? t : -1;
    this.#rhWord = typeof rh === "number" ? rh : -1;
    this.#latestAt = this.now();
    return this.#sampleOf(this.#co2Word, this.#tWord, this.#rhWord);
  }

  /** The 48-bit serial number (only when idle), through the scheduler (1 ms between command and read). */
  readSerialNumber(callback: (serial: number | undefined) => void): void {
    const deliver = (serial: number | undefined) => {
      try {
        callback(serial);
      } catch (error) {
        this.fail("serial number callback", error);
      }
    };
    const wait = Math.max(0, this.#busyUntil - this.now());
    this.scheduler.after(wait, () => {
      if (!this.write("get serial number", this.#cmd(SCD4X.serialNumber))) return deliver(undefined);
      this.scheduler.after(SCD4X_TIMES.read, () => {
        const bytes = this.read("get serial number", 9);
        if (!bytes) return deliver(undefined);
        let serial = 0;
        for (let i = 0; i < 3; i++) {
          const w = decodeWord(bytes, i);
          if (typeof w === "string") {
            this.fail("get serial number", w);
            return deliver(undefined);
          }
          serial = serial * 65536 + w;
        }
        deliver(serial);
      }, { name: "SCD4x serial" });
    }, { name: "SCD4x serial" });
  }

  override close(): void {
    this.#startJob?.cancel();
    this.#startJob = undefined;
    super.close();
  }

  #cmd(command: number): number[] {
    return [command >> 8, command & 0xff];
  }
}
