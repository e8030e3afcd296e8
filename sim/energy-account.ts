/*
 * Energy accounting for a simulated device (docs/simulator.md, "Energy"): SimDevice tells it
 * what the device does (boots, sleeps, wakes, IO callbacks, bytes on its sockets, the job
 * running), and it keeps an EnergyMeter (modules/scheduler/energy.ts) in the power state the
 * chip would be in, with the board's currents:
 *
 *   boot           a boot costs bootToReadyMs in state "boot" (the simulator boots in no time)
 *   awake          "cpu" while the app runs (a callback, a job)
 *   light sleep    "light-wifi" (association kept) or "light" (radio off) from
 *                  Power.lightSleep() until the next callback
 *   deep sleep     "deep" until the wake
 *   radio          each packet sent or received keeps the radio on for half a round trip
 *                  ("radio", why = the job running, or "receive"); the first packet after a
 *                  boot or a sleep with the radio off costs a Wi-Fi association
 *
 * The simulator's time for these costs is not spent on the clock: they are charged where they
 * happen (EnergyMeter.spend) and appear in the timeline at that time.
 * Portable (XS): no Node API.
 */
import { EnergyMeter, type EnergyTotals, type PowerFigures, type PowerState } from "../modules/scheduler/energy";

/** CPU time a callback is charged (the simulator runs it in no time), ms. */
const CALLBACK_MS = 1;

export interface DeviceEnergyOptions {
  /** Timeline segments to keep (default 20,000). */
  timeline?: number;
}

export class DeviceEnergy {
  readonly meter: EnergyMeter;
  readonly power: PowerFigures;
  /** The Wi-Fi association is up (lost by a boot, deep sleep and light sleep with the radio off). */
  #associated = false;
  /** The radio stays on until then (ms, the device clock). */
  #radioUntil = -1;
  /** What runs now (a job's name), for the timeline. */
  #doing = "";
  #asleep = false;
  #packets = 0;
  /** Where the chip goes when it is idle: the last light sleep the app asked for; undefined: it stays awake. */
  #idle: PowerState | undefined = undefined;
  /** After a callback the CPU stays on until then (ms), then goes back to #idle. */
  #cpuUntil = -1;

  constructor(power: PowerFigures, start: number, options: DeviceEnergyOptions = {}) {
    this.power = power;
    this.meter = new EnergyMeter(power, start, "deep", { timeline: options.timeline ?? 20_000 });
  }

  /** Packets counted (sent and received). */
  get packets(): number {
    return this.#packets;
  }

  boot(at: number): void {
    this.#settle(at);
    this.#asleep = false;
    this.#associated = false;
    this.#idle = undefined;
    this.meter.spend("boot", at, this.power.bootToReadyMs, "boot");
    this.meter.enter("cpu", at, "boot");
  }

  deepSleep(at: number): void {
    this.#settle(at);
    this.#finishRadio(at);
    this.#asleep = true;
    this.#associated = false;
    this.meter.enter("deep", at, "deep sleep");
  }

  lightSleep(at: number, keepWifi: boolean): void {
    this.#settle(at);
    this.#finishRadio(at);
    this.#asleep = true;
    this.#idle = keepWifi ? "light-wifi" : "light";
    this.#cpuUntil = -1;
    if (!keepWifi) this.#associated = false;
    this.meter.enter(keepWifi ? "light-wifi" : "light", at, keepWifi ? "light sleep, Wi-Fi kept" : "light sleep, radio off");
  }

  /**
   * App code runs: a timer (`timer`, a planned wake when the chip sleeps) or an IO callback (a
   * packet woke it). The CPU is charged CALLBACK_MS, then the chip goes back to the light sleep
   * the app last asked for (automatic light sleep when idle), or stays awake if it never asked.
   */
  activity(at: number, timer = true): void {
    this.#settle(at);
    if (this.#asleep) {
      this.#asleep = false;
      this.meter.enter("cpu", at, timer ? "wake" : "receive", timer);
    } else if (this.meter.state !== "radio") this.meter.enter("cpu", at);
    if (this.#idle) this.#cpuUntil = Math.max(this.#cpuUntil, at + CALLBACK_MS);
  }

  /** A job starts (Power.note). */
  note(at: number, what: string): void {
    this.#doing = what;
    this.activity(at, true);
  }

  /** A packet of `bytes` sent (or received). */
  traffic(at: number, bytes: number, sent: boolean): void {
    this.#settle(at);
    this.#asleep = false;
    this.#packets++;
    const why = sent ? this.#doing || "send" : "receive";
    if (!this.#associated) {
      this.#associated = true;
      this.meter.spend("radio", at, this.power.wifiConnectMs, "Wi-Fi association for " + why);
    }
    this.meter.enter("radio", at, why);
    this.#radioUntil = Math.max(this.#radioUntil, at + this.power.roundTripMs / 2);
    if (sent) this.meter.traffic(bytes, 0);
    else this.meter.traffic(0, bytes);
  }

  totals(at: number): EnergyTotals {
    this.#settle(at);
    return this.meter.totals(at);
  }

  /** Going to sleep with packets still on the air: their tail is charged before the sleep. */
  #finishRadio(at: number): void {
    if (this.#radioUntil > at && this.meter.state === "radio") this.meter.spend("radio", at, this.#radioUntil - at, this.#doing || "send");
    this.#radioUntil = -1;
  }

  /** The radio's tail, then the callback's CPU time, ended before `at`: back to "cpu", then to the idle sleep, at their ends. */
  #settle(at: number): void {
    if (this.#radioUntil >= 0 && at >= this.#radioUntil && this.meter.state === "radio") {
      this.meter.enter("cpu", this.#radioUntil);
      this.#cpuUntil = Math.max(this.#cpuUntil, this.#radioUntil);
      this.#radioUntil = -1;
      this.#doing = "";
    }
    const idle = this.#idle;
    if (idle && this.#cpuUntil >= 0 && at >= this.#cpuUntil && this.meter.state === "cpu" && this.#radioUntil < 0) {
      this.meter.enter(idle, this.#cpuUntil, "idle");
      this.#asleep = true;
      this.#cpuUntil = -1;
    }
  }
}
