/*
 * The sleep planner (docs/scheduler.md, "Sleep planner"): between two wakes, how to spend the
 * time. Pure: it reads the scheduler's job table, the board's power figures and what each
 * protocol's link costs, and returns a plan; the sleep policy (./sleep-policy.ts) carries it
 * out and the simulator's model (sim/sleep-model.ts) replays days of it.
 *
 *   stay awake   the gap is shorter than going to sleep and back costs
 *   modem sleep  CPU on, radio between DTIM beacons: links kept (where light sleep is not available)
 *   light sleep  RAM kept; either with the Wi-Fi association kept (automatic light sleep, the
 *                links stay open and their keep-alives run) or with the radio off
 *   deep sleep   only RTC memory and flash survive; the wake is a boot
 *
 * Keeping the links or letting them go is decided over the horizon up to the next radio
 * obligation (a radio job that is not a liveness job): keeping costs the light-sleep current
 * with the association plus the keep-alive exchanges; letting go costs the sleep current plus
 * bringing Wi-Fi and every link back (association, TCP, TLS, CONNECT; an MQTT-SN awake
 * PINGREQ; nothing for CoAP). A link whose peer would drop the session before the horizon
 * (an MQTT 5 Session Expiry shorter than the sleep, a clean session) is kept, and so are all
 * of them while sleep/prevent holds. Letting go, deep sleep wins over light sleep when the gap
 * to the next wake saves more than a boot costs.
 *
 * Drift: a sleep timed by the RTC may end late by driftPpm of its length, so every job's
 * latest is taken that much earlier when the wake is planned.
 *
 * Letting the links go, the plan also says by when the next radio obligation has run (radioAt,
 * radioMs): the wakes before it take a reading with the radio off, so that, not the next wake, is
 * what a sleep announced to a peer must cover (the policy passes it to SleepHost.announce and
 * closeLinks).
 *
 * Portable (XS): no Node API, no module-level mutable state.
 */
import { chargeOf, type PowerFigures } from "./energy";
import { wakeOf, type WindowedJob } from "./scheduler";

export type SleepMode = "awake" | "modem" | "light" | "deep";

/** What one protocol's link costs to keep and to bring back (linkCost() makes one per protocol). */
export interface LinkCost {
  /** For the log: "mqtt311", "mqtt5", "mqttsn", "coap". */
  name: string;
  /** Radio-on ms to open the link again once Wi-Fi is up: TCP (+ TLS) + CONNECT; an MQTT-SN awake PINGREQ (and, to send, CONNECT: snConnect); 0 for CoAP. */
  reopenMs: number;
  /** How long the peer keeps the session once the link is let go, ms (Infinity: as long as we like; 0: not at all). */
  sessionKeptMs: number;
  /** While the link is kept and nothing else is sent, a keep-alive exchange this often, ms (0: none). */
  livenessMs: number;
}

export type LinkProtocol = "mqtt311" | "mqtt5" | "mqttsn" | "coap";

export interface LinkCostOptions {
  /** MQTT over TLS. */
  tls?: boolean;
  /** MQTT / MQTT-SN Keep Alive, s (default 60). */
  keepAliveS?: number;
  /**
   * MQTT 5 Session Expiry Interval, s (default 0: absent, the session ends with the network
   * connection; 0xFFFFFFFF: it never expires; MQTT 5.0 §3.1.2.11.2). MQTT 3.1.1 with Clean
   * Session 0 keeps the session as long as the broker does; with `cleanSession` it is lost on
   * disconnect.
   */
  sessionExpiryS?: number;
  cleanSession?: boolean;
  /**
   * MQTT 5: the DISCONNECT before a sleep carries a Session Expiry Interval covering the sleep
   * (§3.14.2.2.2), so the session outlives the CONNECT's own expiry. Not allowed after a
   * CONNECT with 0 [MQTT-3.14.2-2]: the session then ends with the connection all the same.
   */
  expiryOnDisconnect?: boolean;
  /**
   * MQTT-SN: what a wake does after the awake PINGREQ (§6.14). A client that sends returns to the
   * active state by CONNECT, with the Will dialogue when it has a will (§6.2: CONNECT,
   * WILLTOPICREQ/WILLTOPIC, WILLMSGREQ/WILLMSG, CONNACK: 3 round trips, else 1), and its
   * SUBSCRIBEs again (one round trip each: the CONNACK has no session-present flag, §5.4.5).
   * Default: the app's (src/mqttsn-link.ts: a will, one subscription); false: the awake PINGREQ only.
   */
  snConnect?: { will: boolean; subscriptions: number } | false;
}

/** The link costs of a protocol on a board. */
export function linkCost(protocol: LinkProtocol, power: PowerFigures, o: LinkCostOptions = {}): LinkCost {
  const rtt = power.roundTripMs;
  const keepAlive = (o.keepAliveS ?? 60) * 1000;
  switch (protocol) {
    case "mqtt311":
    case "mqtt5": {
      // TCP handshake + (TLS) + CONNECT/CONNACK. §3.1.2.10: the keep-alive while connected.
      const reopenMs = rtt + (o.tls ? power.tlsHandshakeMs : 0) + rtt;
      let kept = Infinity;
      if (o.cleanSession) kept = 0; // [MQTT-3.1.2-6] / 5.0 Clean Start with expiry 0: the session ends with the connection
      else if (protocol === "mqtt5") {
        const s = o.sessionExpiryS ?? 0;
        // 5.0 §3.1.2.11.2: absent = 0; 0xFFFFFFFF never expires; §3.14.2.2.2: DISCONNECT may lengthen a non-zero one
        kept = s === 0xffffffff || (s > 0 && o.expiryOnDisconnect) ? Infinity : s * 1000;
      }
      return { name: protocol, reopenMs, sessionKeptMs: kept, livenessMs: keepAlive };
    }
    case "mqttsn": {
      // MQTT-SN 1.2 §6.14: a sleeping client wakes by a PINGREQ with its ClientId; the gateway
      // sends what it buffered, then PINGRESP. The sleep duration it announced keeps the session.
      // To send, CONNECT back to active (snConnect).
      const c = o.snConnect ?? { will: true, subscriptions: 1 };
      const connect = c ? (c.will ? 3 : 1) + c.subscriptions : 0;
      return { name: protocol, reopenMs: rtt * (1 + connect), sessionKeptMs: Infinity, livenessMs: keepAlive };
    }
    case "coap":
      // RFC 7252: no connection, no session, nothing to keep alive.
      return { name: protocol, reopenMs: 0, sessionKeptMs: Infinity, livenessMs: 0 };
  }
  throw new RangeError(`linkCost: unknown protocol "${protocol}"`);
}

export interface SleepPlannerOptions {
  power: PowerFigures;
  links: readonly LinkCost[];
  /** The links are open now (false after a boot from deep sleep until a radio job opens them). */
  linksUp: boolean;
  /** RTC drift to allow for, ppm (default 0). */
  driftPpm?: number;
  /** sleep/prevent is in force: stay reachable (keep the links). */
  prevent?: boolean;
  /** The platform can deep-sleep and the app can save what must survive (default true). */
  deepSleep?: boolean;
  /** The platform can light-sleep (default true); without it the planner keeps the CPU on (modem sleep). */
  lightSleep?: boolean;
  /** Horizon when no radio obligation is scheduled, ms (default 24 h). */
  idleHorizonMs?: number;
}

export interface SleepPlan {
  mode: SleepMode;
  /** The links (and the Wi-Fi association) stay open through the sleep. */
  keepLinks: boolean;
  /** When to be up again (clock ms), the drift margin taken off; undefined when nothing is scheduled. */
  wakeAt: number | undefined;
  /** wakeAt - now (Infinity when nothing is scheduled). */
  sleepMs: number;
  /**
   * By when the next radio obligation (a radio job that is not a liveness job) has run at the
   * latest, clock ms: the smallest `latest` among them, taken driftPpm of its distance earlier as
   * the wake is planned; undefined when none is scheduled. The wakes before it (a sampling
   * reading) run with the radio off when the links go, so this, not wakeAt, is when the device is
   * reachable again: what a sleep announced to a peer must cover (an MQTT-SN sleep Duration,
   * MQTT 5's Session Expiry). Its latest, not its deadline: the scheduler may run a radio job
   * anywhere in its window, later than its deadline to save a wake (docs/scheduler.md, "Wakes
   * by windows"). Never before wakeAt.
   */
  radioAt: number | undefined;
  /** radioAt - now (Infinity when no radio obligation is scheduled); unlike horizonMs, no idle default. */
  radioMs: number;
  /** How much earlier than the plain plan the wake comes for drift, ms. */
  marginMs: number;
  /** Up to the next radio obligation (ms from now), the estimates it was decided by, µAh. */
  horizonMs: number;
  keepUah: number;
  dropUah: number;
  /** One line on why (for the log and the simulator's timeline). */
  reason: string;
}

/** Below this a sleep is not worth entering (wake latency there and back, and a margin). */
function minSleepMs(power: PowerFigures): number {
  return 2 * power.wakeMs + 2;
}

/**
 * The wake for `jobs` with each latest moved `driftPpm` of its distance earlier (what a late
 * RTC could cost), as wakeOf() plans it. `shifted` is scratch the caller owns (no allocation
 * per call in a steady state).
 */
function wakeWithDrift(now: number, jobs: ArrayLike<WindowedJob>, ignoreLiveness: boolean, driftPpm: number, shifted: WindowedJob[]): number | undefined {
  if (!(driftPpm > 0)) return wakeOf(jobs, ignoreLiveness);
  shifted.length = 0;
  for (let i = 0; i < jobs.length; i++) {
    const j = jobs[i];
    const latest = driftLatest(now, j.latest, driftPpm);
    // the window must still hold its deadline: the wake comes earlier, the job may run early
    shifted.push({ deadline: Math.min(j.deadline, latest), earliest: Math.min(j.earliest, latest), latest, radio: j.radio, liveness: j.liveness });
  }
  return wakeOf(shifted, ignoreLiveness);
}

/** A job's latest taken `driftPpm` of its distance from `now` earlier (what a late RTC could cost). */
function driftLatest(now: number, latest: number, driftPpm: number): number {
  const ahead = latest - now;
  return ahead > 0 && ahead !== Infinity ? latest - Math.ceil((ahead * driftPpm) / 1e6) : latest;
}

/** Radio obligations only (left in `scratch`): radio jobs that are not there just to keep a link alive. */
function nextRadioObligation(jobs: ArrayLike<WindowedJob>, scratch: WindowedJob[]): number | undefined {
  scratch.length = 0;
  for (let i = 0; i < jobs.length; i++) if (jobs[i].radio && !jobs[i].liveness) scratch.push(jobs[i]);
  return wakeOf(scratch, false);
}

/** By when one of `obligations` (nextRadioObligation's) has run at the latest (SleepPlan.radioAt): the smallest of their latests, with the drift margin; Infinity when there is none. */
function radioObligationBy(now: number, obligations: readonly WindowedJob[], driftPpm: number): number {
  let by = Infinity;
  for (let i = 0; i < obligations.length; i++) if (obligations[i].latest < by) by = obligations[i].latest;
  return driftLatest(now, by, driftPpm);
}

/**
 * Plans the time from `now` to the next wake. `jobs` is the scheduler's table
 * (Scheduler.plan(), or the live heap: anything with the windows and the radio/liveness flags).
 */
export function planSleep(now: number, jobs: ArrayLike<WindowedJob>, o: SleepPlannerOptions): SleepPlan {
  const power = o.power;
  if (!power) throw new TypeError("planSleep: options.power is required");
  const drift = o.driftPpm ?? 0;
  if (!(drift >= 0 && drift < 1e5)) throw new RangeError(`planSleep: driftPpm must be in [0, 100000), got ${drift}`);
  const scratch: WindowedJob[] = [];
  const links = o.links;
  const linksUp = o.linksUp && links.length > 0;

  // The horizon: the next radio obligation (liveness jobs vanish when the links go).
  const radioAt = nextRadioObligation(jobs, scratch);
  const horizon = Math.max(0, radioAt === undefined ? (o.idleHorizonMs ?? 86_400_000) : radioAt - now);
  // By when it has run at the latest (the scheduler may run it late in its window to save a
  // wake): what a peer must keep the session for, and what the sleep is announced for.
  const radioBy = radioObligationBy(now, scratch, drift); // scratch: the obligations, before wakeWithDrift reuses it
  const reach = radioBy === Infinity ? horizon : Math.max(horizon, radioBy - now);

  // Keeping the links over the horizon: associated light sleep plus keep-alive exchanges.
  const exchange = chargeOf(power, "radio", power.roundTripMs);
  let keep = chargeOf(power, o.lightSleep === false ? "cpu" : "light-wifi", horizon);
  let reopen = power.wifiConnectMs;
  let mustKeep = !!o.prevent;
  for (const l of links) {
    if (l.livenessMs > 0) keep += Math.floor(horizon / l.livenessMs) * exchange;
    reopen += l.reopenMs;
    if (l.sessionKeptMs < reach) mustKeep = true;
  }
  // Letting them go: the radio off (the cheaper of the sleep currents it allows) and everything back at the end.
  const offState = o.deepSleep === false ? (o.lightSleep === false ? "cpu" : "light") : "deep";
  const drop = chargeOf(power, offState, horizon) + chargeOf(power, "radio", reopen);

  const keepLinks = linksUp && (mustKeep || keep <= drop);
  const plain = wakeOf(jobs, !keepLinks);
  const wake = wakeWithDrift(now, jobs, !keepLinks, drift, scratch);
  const sleepMs = wake === undefined ? Infinity : Math.max(0, wake - now);
  const marginMs = plain !== undefined && wake !== undefined ? Math.max(0, plain - wake) : 0;
  const why = !linksUp
    ? "links closed"
    : keepLinks
      ? o.prevent
        ? "sleep/prevent: links kept"
        : mustKeep
          ? "a peer would drop the session: links kept"
          : "keeping the links is cheaper"
      : "letting the links go is cheaper";

  let mode: SleepMode;
  if (sleepMs < minSleepMs(power)) mode = "awake";
  else if (keepLinks) mode = o.lightSleep === false ? "modem" : "light";
  else {
    // Deep when the gap saves more over light sleep than a boot costs.
    const boot = chargeOf(power, "boot", power.bootToReadyMs);
    const saved = sleepMs === Infinity ? Infinity : chargeOf(power, "light", sleepMs) - chargeOf(power, "deep", sleepMs);
    if (o.deepSleep !== false && (saved > boot || o.lightSleep === false)) mode = "deep";
    else mode = o.lightSleep === false ? "modem" : "light";
  }
  return {
    mode,
    keepLinks: keepLinks || mode === "awake" ? linksUp : false,
    wakeAt: wake === undefined ? undefined : Math.max(now, wake),
    sleepMs,
    radioAt: radioBy === Infinity ? undefined : Math.max(now, radioBy),
    radioMs: Math.max(0, radioBy - now),
    marginMs,
    horizonMs: horizon,
    keepUah: keep,
    dropUah: drop,
    reason: `${mode}${mode === "light" ? (keepLinks ? " (Wi-Fi kept)" : " (radio off)") : ""}: ${why}`,
  };
}
