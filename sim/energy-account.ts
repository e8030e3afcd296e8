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
import { EnergyMeter, type EnergyTotals, type PowerFigures } from "../modules/scheduler/energy";

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
    if (!keepWifi) this.#associated = false;
    this.meter.enter(keepWifi ? "light-wifi" : "light", at, keepWifi ? "light sleep, Wi-Fi kept" : "light sleep, radio off");
  }

  /** App code runs (a timer, an IO callback): the chip is awake. */
  activity(at: number): void {
    this.#settle(at);
    if (this.#asleep) {
      this.#asleep = false;
      this.meter.enter("cpu", at, "wake");
    } else if (this.meter.state !== "radio") this.meter.enter("cpu", at);
  }

  /** A job starts (Power.note). */
  note(at: number, what: string): void {
    this.#doing = what;
    this.activity(at);
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

  /** The radio's tail ended before `at`: back to "cpu" at its end. */
  #settle(at: number): void {
    if (this.#radioUntil >= 0 && at >= this.#radioUntil && this.meter.state === "radio") {
      this.meter.enter("cpu", this.#radioUntil);
      this.#radioUntil = -1;
      this.#doing = "";
    }
  }
}
