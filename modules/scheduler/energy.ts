/*
 * The energy model the sleep planner decides by and the simulator accounts with
 * (docs/scheduler.md, "Energy model").
 *
 * A device is always in one power state; each state draws a current from the board's power
 * profile (boards/power.ts, which cites the datasheet or the ESP-IDF page of every figure):
 *
 *   boot         reset or deep-sleep wake until the app runs (ROM, bootloader, XS), CPU on
 *   cpu          CPU running, radio off or idle between DTIM beacons (modem sleep)
 *   radio        CPU and radio on: associating, a handshake, a request and its answer
 *   light-wifi   automatic light sleep with the Wi-Fi association kept (wakes for DTIM beacons)
 *   light        light sleep with the radio off: RAM kept, wake in under a millisecond
 *   deep         deep sleep: RTC timer and RTC memory only; the wake is a boot
 *
 * Charge is current x time; what is sent also costs its airtime at the transmit peak on top
 * of the receive current (802.11b at 1 Mb/s: 8 µs a byte, the slowest rate, so an upper bound).
 *
 * EnergyMeter integrates a device's states over time and keeps a bounded timeline of them
 * (for the simulator's report and SVG); the planner uses chargeOf() for its estimates.
 * Portable (XS): no Node API, no module-level mutable state.
 */

/** Currents in mA at 3.3 V and times in ms, what the planner and the meter need of a board's power profile. */
export interface PowerFigures {
  /** Radio on and listening (Wi-Fi RX), CPU active. */
  activeRadioMa: number;
  /** Peak while transmitting (802.11b, highest power). */
  txPeakMa: number;
  /** CPU running, radio off between DTIM beacons. */
  modemSleepMa: number;
  /** Automatic light sleep keeping the Wi-Fi association (DTIM 3). */
  lightSleepWifiMa: number;
  /** Light sleep, radio off. */
  lightSleepMa: number;
  /** RTC timer + RTC memory kept. */
  deepSleepMa: number;
  /** Reset or deep-sleep wake until our app runs (bootloader + XS start), Wi-Fi not included. */
  bootToReadyMs: number;
  /** Light-sleep wake until the CPU runs again. */
  wakeMs: number;
  /** Bringing Wi-Fi back after it was off: association and an address (DHCP or a kept lease). */
  wifiConnectMs: number;
  /** One network round trip: TCP SYN/SYN-ACK, MQTT CONNECT/CONNACK, CoAP CON/ACK, MQTT-SN PINGREQ/PINGRESP. */
  roundTripMs: number;
  /** A TLS handshake (ECDHE), CPU and radio on. */
  tlsHandshakeMs: number;
}

export type PowerState = "boot" | "cpu" | "radio" | "light-wifi" | "light" | "deep";

export const POWER_STATES: readonly PowerState[] = Object.freeze(["boot", "cpu", "radio", "light-wifi", "light", "deep"] as PowerState[]);

/** Airtime of one byte at 802.11b 1 Mb/s, ms. */
export const AIRTIME_MS_PER_BYTE = 0.008;

/** The current (mA) a state draws. */
export function currentOf(power: PowerFigures, state: PowerState): number {
  switch (state) {
    case "boot":
    case "cpu":
      return power.modemSleepMa;
    case "radio":
      return power.activeRadioMa;
    case "light-wifi":
      return power.lightSleepWifiMa;
    case "light":
      return power.lightSleepMa;
    case "deep":
      return power.deepSleepMa;
  }
  throw new RangeError(`energy: unknown power state "${state}"`);
}

/** Charge in µAh of `ms` in `state`. */
export function chargeOf(power: PowerFigures, state: PowerState, ms: number): number {
  return (currentOf(power, state) * ms) / 3600;
}

/** Extra charge in µAh of transmitting `bytes` (airtime at the transmit peak above the receive current). */
export function txChargeOf(power: PowerFigures, bytes: number): number {
  return ((power.txPeakMa - power.activeRadioMa) * bytes * AIRTIME_MS_PER_BYTE) / 3600;
}

/** One stretch of the timeline: a state from `from` to `to` (ms) and why (job names, "sleep", "reconnect"...). */
export interface EnergySegment {
  state: PowerState;
  from: number;
  to: number;
  why: string;
}

export interface EnergyMeterOptions {
  /** Segments kept for the timeline (the first ones; default 0: none). */
  timeline?: number;
}

export interface EnergyTotals {
  /** Time covered, ms (spent costs not included: they take no simulated time). */
  ms: number;
  /** Charge, mAh. */
  mAh: number;
  /** Wake-ups from light or deep sleep. */
  wakes: number;
  /** Of which boots from deep sleep. */
  deepWakes: number;
  /** Time in state "radio", ms. */
  radioOnMs: number;
  /** Radio episodes: stretches of "radio" not joined to the previous one. */
  radioWakes: number;
  bytesSent: number;
  bytesReceived: number;
  /** ms per state. */
  stateMs: { [state in PowerState]: number };
  /** mAh per state (transmit airtime counted under "radio"). */
  stateMAh: { [state in PowerState]: number };
}

function perState(): { [state in PowerState]: number } {
  return { boot: 0, cpu: 0, radio: 0, "light-wifi": 0, light: 0, deep: 0 };
}

/**
 * Integrates a device's power states. `enter(state, at, why)` closes the current stretch at
 * `at` and opens the next; `totals(at)` reads the figures up to `at` without closing.
 */
export class EnergyMeter {
  readonly power: PowerFigures;
  readonly segments: EnergySegment[] = [];
  #limit: number;
  #state: PowerState;
  #since: number;
  #why: string;
  #stateMs = perState();
  #stateUah = perState();
  #wakes = 0;
  #deepWakes = 0;
  #radioWakes = 0;
  #sent = 0;
  #received = 0;
  #start: number;

  constructor(power: PowerFigures, start: number, state: PowerState = "boot", options: EnergyMeterOptions = {}) {
    if (!power || !(power.activeRadioMa > 0)) throw new TypeError("EnergyMeter: a power profile is required");
    checkAt("start", start);
    this.power = power;
    this.#limit = options.timeline ?? 0;
    this.#state = state;
    this.#since = start;
    this.#start = start;
    this.#why = state;
    if (state === "radio") this.#radioWakes++;
  }

  get state(): PowerState {
    return this.#state;
  }

  /**
   * Moves to `state` at `at` (not before the current stretch began). Same state: only `why` is
   * appended. Leaving light or deep sleep counts a wake unless `countWake` is false (a packet
   * that wakes the CPU for a moment, not a planned wake).
   */
  enter(state: PowerState, at: number, why = "", countWake = true): void {
    checkAt("at", at);
    if (at < this.#since) throw new RangeError(`EnergyMeter: time went back (${at} < ${this.#since})`);
    currentOf(this.power, state); // throws on an unknown state before anything changes
    const previous = this.#state;
    if (state === previous) {
      if (why && this.#why.indexOf(why) < 0) this.#why = this.#why ? this.#why + ", " + why : why;
      return;
    }
    this.#close(at);
    if (countWake && (previous === "light" || previous === "light-wifi" || previous === "deep") && state !== "light" && state !== "light-wifi" && state !== "deep") {
      this.#wakes++;
      if (previous === "deep") this.#deepWakes++;
    }
    if (state === "radio") this.#radioWakes++;
    this.#state = state;
    this.#since = at;
    this.#why = why;
  }

  /**
   * Charges `ms` in `state` at `at` without moving the current stretch: a modelled cost whose
   * time the simulator does not spend (a boot, a Wi-Fi association). It appears in the timeline
   * as a segment [at, at + ms].
   */
  spend(state: PowerState, at: number, ms: number, why: string): void {
    checkAt("at", at);
    currentOf(this.power, state);
    if (!(ms >= 0 && ms < Infinity)) throw new RangeError(`EnergyMeter: spend ms must be finite and >= 0, got ${ms}`);
    this.#stateMs[state] += ms;
    this.#stateUah[state] += chargeOf(this.power, state, ms);
    if (state === "radio" && this.#state !== "radio") this.#radioWakes++;
    const segments = this.segments;
    if (segments.length < this.#limit) segments.push({ state, from: at, to: at + ms, why });
  }

  /** Bytes sent (their airtime is charged at the transmit peak) and received. */
  traffic(sent: number, received = 0): void {
    if (!(sent >= 0) || !(received >= 0)) throw new RangeError("EnergyMeter: byte counts must be >= 0");
    this.#sent += sent;
    this.#received += received;
    this.#stateUah.radio += txChargeOf(this.power, sent);
  }

  /** The figures from the start up to `at`. */
  totals(at: number): EnergyTotals {
    checkAt("at", at);
    const stateMs = { ...this.#stateMs };
    const stateMAh = perState();
    const open = Math.max(0, at - this.#since);
    stateMs[this.#state] += open;
    let uAh = 0;
    for (const s of POWER_STATES) {
      const v = this.#stateUah[s] + (s === this.#state ? chargeOf(this.power, s, open) : 0);
      stateMAh[s] = v / 1000;
      uAh += v;
    }
    return {
      ms: at - this.#start,
      mAh: uAh / 1000,
      wakes: this.#wakes,
      deepWakes: this.#deepWakes,
      radioOnMs: stateMs.radio,
      radioWakes: this.#radioWakes,
      bytesSent: this.#sent,
      bytesReceived: this.#received,
      stateMs,
      stateMAh,
    };
  }

  #close(at: number): void {
    const ms = at - this.#since;
    if (ms <= 0) return;
    this.#stateMs[this.#state] += ms;
    this.#stateUah[this.#state] += chargeOf(this.power, this.#state, ms);
    const segments = this.segments;
    if (segments.length < this.#limit) segments.push({ state: this.#state, from: this.#since, to: at, why: this.#why });
  }
}

function checkAt(what: string, t: number): void {
  if (typeof t !== "number" || !Number.isFinite(t)) throw new RangeError(`EnergyMeter: ${what} must be a finite time in ms, got ${t}`);
}

/** Days a battery of `capacityMAh` lasts at `mAhPerDay` (self-discharge and the cut-off voltage not modelled). */
export function batteryDays(capacityMAh: number, mAhPerDay: number): number {
  return mAhPerDay > 0 ? capacityMAh / mAhPerDay : Infinity;
}
