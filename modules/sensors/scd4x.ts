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
import { sensirionWords } from "./crc8";
import { I2cSensor, type Measurement, type Sample, type SensorOptions } from "./sensor";

export type Scd4xMode = "idle" | "periodic" | "low-power" | "single";

export interface Scd4xConfiguration {
  /** "scd41" adds single-shot measurement. Default "scd40" (the common subset). */
  variant?: "scd40" | "scd41";
  mode?: Scd4xMode;
}

export const SCD4X_ADDRESSES = [0x62] as const;

/** Commands (§3.5-3.10) and their execution times (ms). */
const enum Command {
  START_PERIODIC = 0x21b1,
  START_LOW_POWER = 0x21ac,
  READ_MEASUREMENT = 0xec05,
  STOP_PERIODIC = 0x3f86,
  DATA_READY = 0xe4b8,
  SERIAL_NUMBER = 0x3682,
  SINGLE_SHOT = 0x219d,
  STOP_MS = 500,
  SINGLE_MS = 5000,
}

const MODES = ["idle", "periodic", "low-power", "single"];
const VARIANTS = ["scd40", "scd41"];

export class Scd4x extends I2cSensor<Sample> {
  declare readonly variant: "scd40" | "scd41";
  declare mode: Scd4xMode;
  /** The chip executes a command until then (it NACKs meanwhile). */
  declare private busyUntil: number;
  /** When periodic measurement started, -1 while it is not running. */
  declare private periodicStart: number;
  /** The job that starts (or stops) periodic measurement once the chip is free. */
  declare private starter: { cancel(): void } | undefined;
  // The newest result as the chip's raw words (-1: none; datasheet §3.5.2 conversions in
  // kept()): three small integers instead of a Sample of three objects and boxed doubles,
  // ~0.2 KB less per driver in a simulated fleet (issue 7).
  declare private co2: number;
  declare private t: number;
  declare private rh: number;
  declare private latestAt: number;

  constructor(options: SensorOptions & Scd4xConfiguration) {
    super("SCD4x", options, SCD4X_ADDRESSES);
    const variant = options.variant ?? "scd40";
    this.option(VARIANTS, variant, "variant");
    this.variant = variant;
    this.mode = "idle";
    this.periodicStart = this.co2 = this.t = this.rh = -1;
    // ECMA-419 §13 constructor: stop whatever a previous instance started (500 ms)
    this.busyUntil = this.write("stop periodic measurement", Command.STOP_PERIODIC) ? this.now() + Command.STOP_MS : 0;
    this.configure(options);
  }

  /** The periodic modes' measurement interval (§3.5, §3.7): 5 s, 30 s in low power. */
  interval(): number {
    return this.mode === "low-power" ? 30_000 : 5_000;
  }

  configure(options: Scd4xConfiguration = {}): void {
    const mode = options.mode ?? this.mode;
    this.option(MODES, mode, "mode");
    if (mode === "single" && this.variant !== "scd41") throw new RangeError("SCD4x: single shot needs an SCD41 (variant scd41)");
    if (mode === this.mode) return;
    this.starter?.cancel();
    const was = this.mode === "periodic" || this.mode === "low-power";
    this.mode = mode;
    this.co2 = this.t = this.rh = this.periodicStart = -1;
    // once the chip is free: stop a running periodic measurement (500 ms), then start the new one
    const start = (stop: boolean) => {
      this.starter = undefined;
      if (stop && this.write("stop periodic measurement", Command.STOP_PERIODIC)) {
        this.busyUntil = this.now() + Command.STOP_MS;
        this.starter = this.scheduler.after(Command.STOP_MS, () => start(false), { name: "SCD4x start" });
      } else if ((mode === "periodic" || mode === "low-power") && this.write("start periodic measurement", mode === "periodic" ? Command.START_PERIODIC : Command.START_LOW_POWER))
        this.periodicStart = this.now();
    };
    const wait = this.busyUntil - this.now();
    if (wait > 0) this.starter = this.scheduler.after(wait, () => start(was), { name: "SCD4x start" });
    else start(was);
  }

  /** The newest result measure() obtained, while it is at most one interval old. */
  sample(): Sample | undefined {
    if (this.co2 < 0 && this.t < 0 && this.rh < 0) return undefined;
    if (this.now() - this.latestAt > this.interval()) {
      this.co2 = this.t = this.rh = -1;
      return undefined;
    }
    // Datasheet §3.5.2 (read_measurement): CO2 in ppm as is, T = -45 + 175 * word / 2^16-1, RH = 100 * word / 2^16-1
    const out: Sample = {};
    if (this.co2 >= 0) out.carbonDioxideDetector = { CO2: this.co2 };
    if (this.t >= 0) out.thermometer = { temperature: -45 + (175 * this.t) / 65535 };
    if (this.rh >= 0) out.hygrometer = { humidity: (100 * this.rh) / 65535 };
    return out;
  }

  /** When the newest result due by `time` was due: the start of periodic measurement plus whole intervals (the start itself before the first). */
  private dueBy(time: number): number {
    const start = this.periodicStart;
    const interval = this.interval();
    return start + Math.floor((time - start) / interval) * interval;
  }

  protected override *measurement(): Measurement<Sample> {
    const mode = this.mode;
    if (mode === "idle") return this.fail("measure", "sensor is idle: configure({mode}) first");
    while (this.now() < this.busyUntil || this.starter) yield Math.max(1, this.busyUntil - this.now());
    if (mode === "single") {
      if (!this.write("measure single shot", Command.SINGLE_SHOT)) return;
      yield Command.SINGLE_MS;
    } else {
      if (this.periodicStart < 0) return this.fail("measure", "periodic measurement is not running");
      const interval = this.interval();
      // One result per interval (§3.6.2, 5 s; 30 s low power): while the result after the
      // kept one is not yet due, the kept one is the chip's current value, and asking
      // data-ready (a command, a 1 ms wait and a read) cannot find anything newer.
      const kept = this.sample();
      if (kept && this.now() < this.dueBy(this.latestAt) + interval) return kept;
      // poll data-ready; give up after two intervals past the first expected result
      const deadline = Math.max(this.now(), this.periodicStart + interval) + 2 * interval;
      for (;;) {
        const asked = this.now();
        if (!this.write("get data ready status", Command.DATA_READY)) return;
        yield 1;
        const b = this.read("get data ready status", 3);
        if (!b) return;
        const word = sensirionWords(b, 0);
        if (word < 0) return this.fail("get data ready status", "CRC mismatch");
        if (word & 0x07ff) break; // §3.8.2: ready when the 11 least significant bits are not 0
        // No new result yet, but the last one is still within its interval: it is the chip's
        // current value (what sample() returns), so a caller sampling faster than the chip
        // measures gets it at once instead of waiting up to a whole interval for the next.
        const fresh = this.sample();
        if (fresh) return fresh;
        if (this.now() >= deadline) return this.fail("measure", "no data ready " + Math.round(this.now() - this.periodicStart) + " ms after the start (stuck?)");
        // A result came due between the status question and now (the kept one went stale while
        // the read waited): ask again at once rather than sleep through a whole interval, which
        // under a late-running scheduler stacked a fleet device's sampling passes for 5 s.
        const due = this.dueBy(this.now());
        if (due > this.periodicStart && asked < due) continue;
        yield Math.max(10, due + interval - this.now() + 5);
      }
    }
    if (!this.write("read measurement", Command.READ_MEASUREMENT)) return;
    yield 1;
    const b = this.read("read measurement", 9);
    if (!b) return;
    // All three words before any report: the bytes are the driver's buffer, which a read made by an onError handler would refill.
    const co2 = (this.co2 = sensirionWords(b, 0));
    const t = (this.t = sensirionWords(b, 1));
    const rh = (this.rh = sensirionWords(b, 2));
    this.latestAt = this.now();
    if (co2 < 0) this.fail("read CO2", "CRC mismatch");
    if (t < 0) this.fail("read temperature", "CRC mismatch");
    if (rh < 0) this.fail("read humidity", "CRC mismatch");
    return this.sample();
  }

  /** The 48-bit serial number (only when idle), through the scheduler (1 ms between command and read). */
  readSerialNumber(callback: (serial: number | undefined) => void): void {
    this.scheduler.after(Math.max(0, this.busyUntil - this.now()), () => {
      const sent = this.write("get serial number", Command.SERIAL_NUMBER);
      this.scheduler.after(sent ? 1 : 0, () => {
        const b = sent && this.read("get serial number", 9);
        const w = b ? sensirionWords(b, 0, 3) : -2; // -2: not sent or not read (reported)
        if (w === -1) this.fail("get serial number", "CRC mismatch");
        this.answer(callback, w < 0 ? undefined : w, "serial number callback");
      }, { name: "SCD4x serial" });
    }, { name: "SCD4x serial" });
  }

  override close(): void {
    this.starter?.cancel();
    this.starter = undefined;
    super.close();
  }
}
