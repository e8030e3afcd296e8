/*
 * A day of a device's obligations on the virtual clock, replayed through the real Scheduler
 * and the real sleep planner, with the energy accounted per power state: the standard
 * scenarios of issue 19 and the model behind `npm run bench` (bench/sleep.bench.ts) and the
 * planner tests (docs/scheduler.md, "Benchmarks").
 *
 * A scenario is a job list: periodic jobs (sampling, telemetry: a deadline every period with
 * a window either side, drift-free) and relative jobs (an MQTT keep-alive, a CoAP observer's
 * freshness, a command window: due within `maxGapMs` of the last traffic on their link, not
 * before `minGapMs`). Traffic on a link (any radio job of it that runs) resets its relative
 * jobs: a PUBLISH replaces a PINGREQ [MQTT-3.1.2-23] ("the interval between Control Packets").
 *
 * Modes:
 *   planner  the jobs with their windows; after each wake the sleep planner chooses the sleep
 *   naive    independent timers and no planning: every job at its deadline (no window), a
 *            changed reading notified to the observer as it is sampled, the links kept and the
 *            chip in automatic light sleep between timers (what firmware without a planner does)
 *   optimum  the schedule of the offline optimum (sim/sleep-optimum.ts) replayed: every job at
 *            the times the search chose, the links kept all day or let go after every wake as
 *            the search assumed
 *
 * What a wake costs: a boot after deep sleep; Wi-Fi and the links brought back when a radio
 * job finds them closed; each job's CPU time and round trips; the bytes it sends at the
 * transmit peak. Wakes are instantaneous for the schedule (the clock moves on by what the
 * wake took before the next sleep is planned).
 *
 * Portable (XS): the planner tests run it on xsnap too.
 */
import { EnergyMeter, type EnergySegment, type PowerFigures, type PowerState } from "../modules/scheduler/energy";
import { Scheduler, type Job } from "../modules/scheduler/scheduler";
import { linkCost, planSleep, type LinkCost, type LinkCostOptions, type LinkProtocol, type SleepMode } from "../modules/scheduler/sleep-planner";
import { VirtualClock } from "./virtual-clock";

export interface ScenarioJob {
  name: string;
  kind: "periodic" | "relative";
  /** periodic: the period; relative: the longest gap after the last traffic on its link (its latest). */
  periodMs: number;
  /** periodic: how far either side of its deadline it may run. */
  windowMs?: number;
  /** periodic: the first deadline (default periodMs). */
  firstMs?: number;
  /** relative: not before this long after the last traffic (its earliest; default 0). */
  minGapMs?: number;
  radio: boolean;
  /** Only keeps its link alive (dropped when the link is let go). */
  liveness?: boolean;
  /** The link its traffic goes over (radio jobs). */
  link?: string;
  /** Round trips (radio on), bytes sent and received, CPU ms when it runs. */
  exchanges?: number;
  bytesOut?: number;
  bytesIn?: number;
  cpuMs?: number;
  /** Radio on this long after it runs (a command window), ms. */
  listenMs?: number;
  /** Naive mode: runs whenever this job runs instead of on a timer of its own (a notification on change). */
  naiveWith?: string;
}

export interface Scenario {
  name: string;
  protocol: LinkProtocol;
  durationMs: number;
  /** The protocol's link (its traffic resets relative jobs of the same link name). */
  link: string;
  linkOptions?: LinkCostOptions;
  /**
   * Radio on this long after the links are opened again, to receive what was queued meanwhile
   * (the command window; while the links are kept the device is reachable anyway).
   */
  commandWindowMs?: number;
  /** Other links the device keeps (the CoAP server for an observer over MQTT's Wi-Fi). */
  extraLinks?: LinkCost[];
  jobs: ScenarioJob[];
}

export type ScenarioMode = "planner" | "naive" | "optimum";

export interface ScenarioResult {
  scenario: string;
  protocol: LinkProtocol;
  mode: ScenarioMode;
  days: number;
  /** Per day. */
  wakes: number;
  radioWakes: number;
  deepWakes: number;
  mAh: number;
  radioOnS: number;
  bytes: number;
  /** Sleeps chosen, per mode, per day. */
  sleeps: { [mode in SleepMode]: number };
  /** Times each job ran, per day. */
  runs: { [job: string]: number };
  /** A job that ran outside its window (must stay empty). */
  violations: string[];
  /** The first segments of the timeline (when asked for). */
  segments: EnergySegment[];
}

export interface RunOptions {
  power: PowerFigures;
  /** Mode "optimum": the run times per job (OptimumResult.schedule) and whether the links are kept. */
  schedule?: { [job: string]: number[] };
  keepLinks?: boolean;
  /** RTC drift the planner allows for, ppm. */
  driftPpm?: number;
  /** Timeline segments to keep (default 0). */
  timeline?: number;
}

const DAY = 86_400_000;

/** Per-protocol wire sizes, bytes (headers of IP, TCP/UDP and 802.11 included, approximately: 74 B a TCP packet, 62 a UDP one). */
const TCP_OVERHEAD = 74;
const UDP_OVERHEAD = 62;

/** A reading in SenML JSON, bytes (six quantities). */
const READING_BYTES = 190;

function mqttSizes(protocol: LinkProtocol): { publish: number; puback: number; ping: number; connect: number; connack: number } {
  if (protocol === "mqttsn")
    // MQTT-SN 1.2 §5.4: PUBLISH with a registered TopicId (7 B header), PUBACK 7, PINGREQ 2 (14
    // with the ClientId when waking, §6.14), CONNECT 6 + ClientId, CONNACK 3; over UDP.
    return { publish: 7 + UDP_OVERHEAD, puback: 7 + UDP_OVERHEAD, ping: 2 + UDP_OVERHEAD, connect: 6 + 12 + UDP_OVERHEAD, connack: 3 + UDP_OVERHEAD };
  const five = protocol === "mqtt5";
  return {
    publish: 2 + 2 + 22 + 2 + (five ? 1 : 0) + TCP_OVERHEAD, // fixed header, topic length, topic, packet id, properties length
    puback: 4 + TCP_OVERHEAD,
    ping: 2 + TCP_OVERHEAD,
    connect: (five ? 44 : 38) + TCP_OVERHEAD,
    connack: (five ? 8 : 4) + TCP_OVERHEAD,
  };
}

/** A job sending `readings` readings as telemetry over the protocol's link: an MQTT PUBLISH and its PUBACK, or a CoAP CON POST and its ACK. */
function telemetryJob(name: string, protocol: LinkProtocol, o: { periodMs: number; windowMs: number; firstMs?: number; readings: number; cpuMs: number }): ScenarioJob {
  const mqtt = protocol !== "coap";
  const m = mqttSizes(protocol);
  const payload = o.readings * READING_BYTES;
  return {
    name,
    kind: "periodic",
    periodMs: o.periodMs,
    windowMs: o.windowMs,
    firstMs: o.firstMs,
    radio: true,
    link: mqtt ? "mqtt" : "coap",
    exchanges: 1,
    bytesOut: mqtt ? m.publish + payload : 4 + 2 + 12 + payload + UDP_OVERHEAD,
    bytesIn: mqtt ? m.puback : 4 + UDP_OVERHEAD,
    cpuMs: o.cpuMs,
  };
}

/** [MQTT-3.1.2-23]: a Control Packet within the Keep Alive (60 s); our job's window opens at half of it. */
function keepAliveJob(protocol: LinkProtocol): ScenarioJob {
  const ping = mqttSizes(protocol).ping;
  return { name: "keepalive", kind: "relative", periodMs: 60_000, minGapMs: 30_000, radio: true, liveness: true, link: "mqtt", exchanges: 1, bytesOut: ping, bytesIn: ping };
}

/**
 * Scenario (1): sampling every 30 s, telemetry every 5 min, MQTT keep-alive 60 s, one CoAP
 * observer (Max-Age 60 s) on the device's server. CoAP: telemetry as a CON POST, no keep-alive.
 */
export function scenarioSampling(protocol: LinkProtocol, durationMs = DAY): Scenario {
  const mqtt = protocol !== "coap";
  const jobs: ScenarioJob[] = [
    { name: "sample", kind: "periodic", periodMs: 30_000, windowMs: 3_000, firstMs: 0, radio: false, cpuMs: 20 },
    telemetryJob("telemetry", protocol, { periodMs: 300_000, windowMs: 30_000, readings: 10, cpuMs: 5 }),
    // RFC 7641 §4.3.1: a notification before the Max-Age of the last one runs out; a changed
    // reading may wait for it (Max-Age is the inconsistency the observer accepts).
    { name: "observe", kind: "relative", periodMs: 60_000, minGapMs: 30_000, radio: true, link: "coap-server", exchanges: 1, bytesOut: 4 + 2 + 3 + 2 + 2 + 60 + UDP_OVERHEAD, cpuMs: 2, naiveWith: "sample" },
  ];
  if (mqtt) jobs.push(keepAliveJob(protocol));
  return {
    name: "(1) sample 30 s, telemetry 5 min, keep-alive 60 s, one observer",
    protocol,
    durationMs,
    link: mqtt ? "mqtt" : "coap",
    linkOptions: { keepAliveS: 60, sessionExpiryS: 86_400 },
    extraLinks: [{ name: "coap-server", reopenMs: 0, sessionKeptMs: Infinity, livenessMs: 0 }],
    jobs,
  };
}

/**
 * Scenario (2): one report per hour (a reading and its telemetry), commands expected within the
 * hour: reachable at least hourly, with a command window after each reconnection (below).
 */
export function scenarioHourly(protocol: LinkProtocol, durationMs = DAY): Scenario {
  const mqtt = protocol !== "coap";
  const link = mqtt ? "mqtt" : "coap";
  const jobs: ScenarioJob[] = [
    telemetryJob("report", protocol, { periodMs: 3_600_000, windowMs: 180_000, firstMs: 0, readings: 1, cpuMs: 25 }),
    // Reachable at least once an hour; the window opens at half of it (as the keep-alive's does).
    { name: "command-window", kind: "relative", periodMs: 3_600_000, minGapMs: 1_800_000, radio: true, link, cpuMs: 1 },
  ];
  if (mqtt) jobs.push(keepAliveJob(protocol));
  // The command window after each reconnection: MQTT has no end-of-queue marker, so 1 s for what
  // the broker queued for the session; CoAP 1 s for requests; MQTT-SN 1.2 §6.14: the gateway
  // sends what it buffered before PINGRESP, so the awake PINGREQ's round trip is the window.
  const commandWindowMs = protocol === "mqttsn" ? 0 : 1_000;
  return { name: "(2) one report an hour, commands expected within the hour", protocol, durationMs, link, linkOptions: { keepAliveS: 60, sessionExpiryS: 86_400 }, commandWindowMs, jobs };
}

/** What the jobs of one wake asked for. */
class Pass {
  cpuMs = 0;
  exchanges = 0;
  listenMs = 0;
  bytesOut = 0;
  bytesIn = 0;
  radio = false;
  names: string[] = [];
  links: string[] = [];
  clear(): void {
    this.cpuMs = this.exchanges = this.listenMs = this.bytesOut = this.bytesIn = 0;
    this.radio = false;
    this.names.length = 0;
    this.links.length = 0;
  }
}

interface Entry {
  spec: ScenarioJob;
  job: Job | undefined;
  /** relative: last traffic on its link */
  last: number;
}

/** Runs one scenario in one mode; figures per day. */
export function runScenario(scenario: Scenario, mode: ScenarioMode, o: RunOptions): ScenarioResult {
  const power = o.power;
  const clock = new VirtualClock();
  const violations: string[] = [];
  const scheduler = new Scheduler({ clock, onError: (e, j) => violations.push(`${j.name} threw ${String((e as Error)?.message ?? e)}`) });
  const meter = new EnergyMeter(power, 0, "boot", { timeline: o.timeline ?? 0 });
  const links: LinkCost[] = [linkCost(scenario.protocol, power, scenario.linkOptions)].concat(scenario.extraLinks ?? []);
  const reopenMs = links.reduce((s, l) => s + l.reopenMs, 0);
  const naive = mode === "naive";
  const pass = new Pass();
  const runs: { [job: string]: number } = {};
  const sleeps = { awake: 0, modem: 0, light: 0, deep: 0 };
  const entries: Entry[] = [];
  let linksUp = false;
  let t = 0; // the device's time: the clock plus what the current wake took

  const record = (e: Entry, now: number) => {
    const s = e.spec;
    runs[s.name] = (runs[s.name] ?? 0) + 1;
    pass.names.push(s.name);
    pass.cpuMs += s.cpuMs ?? 0;
    if (s.radio) {
      pass.radio = true;
      pass.exchanges += s.exchanges ?? 0;
      pass.bytesOut += s.bytesOut ?? 0;
      pass.bytesIn += s.bytesIn ?? 0;
      pass.listenMs = Math.max(pass.listenMs, s.listenMs ?? 0);
      if (s.link && pass.links.indexOf(s.link) < 0) pass.links.push(s.link);
    }
    for (const w of entries) if (w.spec.naiveWith === s.name && naive) record(w, now);
  };

  const armRelative = (e: Entry, from: number) => {
    const s = e.spec;
    e.last = from;
    const deadline = from + s.periodMs;
    const earliest = naive ? deadline : from + (s.minGapMs ?? 0);
    if (e.job) e.job.reschedule(deadline, { earliest, latest: deadline });
    else e.job = scheduler.schedule({ name: s.name, deadline, earliest, latest: deadline, radio: s.radio, liveness: s.liveness, run: runRelative, target: e });
  };

  function runPeriodic(this: Entry, now: number, job: Job): void {
    if (now < job.earliest || now > job.latest) violations.push(`${job.name} ran at ${now} outside [${job.earliest}, ${job.latest}]`);
    record(this, now);
    const s = this.spec;
    const w = naive ? 0 : (s.windowMs ?? 0);
    const next = job.deadline + s.periodMs;
    job.reschedule(next, { earliest: next - w, latest: next + w });
  }

  function runRelative(this: Entry, now: number, job: Job): void {
    if (now < job.earliest || now > job.latest) violations.push(`${job.name} ran at ${now} outside [${job.earliest}, ${job.latest}]`);
    record(this, now);
  }

  const optimum = mode === "optimum";
  const schedule = o.schedule ?? {};
  if (optimum && !o.schedule) throw new TypeError("runScenario: mode optimum needs options.schedule");
  function runListed(this: Entry, now: number, job: Job): void {
    record(this, now);
    const times = schedule[this.spec.name];
    const next = times.find((x) => x > now);
    if (next !== undefined) job.reschedule(next, { earliest: next, latest: next });
  }
  for (const s of scenario.jobs) {
    const e: Entry = { spec: s, job: undefined, last: 0 };
    entries.push(e);
    if (optimum) {
      const first = schedule[s.name]?.[0];
      if (first !== undefined) e.job = scheduler.schedule({ name: s.name, deadline: first, radio: s.radio, liveness: s.liveness, run: runListed, target: e });
      continue;
    }
    if (naive && s.naiveWith) continue; // runs along with its partner
    if (s.kind === "periodic") {
      const d = s.firstMs ?? s.periodMs;
      const w = naive ? 0 : (s.windowMs ?? 0);
      e.job = scheduler.schedule({ name: s.name, deadline: d, earliest: d - w, latest: d + w, radio: s.radio, liveness: s.liveness, run: runPeriodic, target: e });
    } else if (!s.liveness) armRelative(e, 0);
  }

  /** Traffic on these links: their relative jobs count from now again. */
  const reset = (on: readonly string[], now: number) => {
    if (optimum) return; // the search chose every run
    for (const e of entries) {
      const s = e.spec;
      if (s.kind !== "relative" || !s.link || on.indexOf(s.link) < 0) continue;
      if (naive && s.naiveWith) continue;
      if (s.liveness && !linksUp) continue;
      armRelative(e, now);
    }
  };

  // Boot: the app starts, the links are opened.
  t = power.bootToReadyMs;
  const openLinks = (why: string) => {
    meter.enter("radio", t, why);
    t += power.wifiConnectMs + reopenMs + (scenario.commandWindowMs ?? 0);
    meter.traffic(scenario.protocol === "coap" ? 0 : mqttSizes(scenario.protocol).connect, scenario.protocol === "coap" ? 0 : mqttSizes(scenario.protocol).connack);
    linksUp = true;
    if (!optimum) for (const e of entries) if (e.spec.liveness) armRelative(e, t);
  };

  openLinks("connect");
  const end = scenario.durationMs;
  let guard = 0;
  for (;;) {
    if (++guard > 10_000_000) throw new Error("sleep model: no progress");
    // Run what is due at the device's time (the clock catches up with what the last wake took).
    pass.clear();
    if (t > clock.now()) clock.advanceTo(t);
    scheduler.runDue(t);
    if (pass.names.length) {
      const why = pass.names.join(", ");
      if (pass.radio) {
        if (!linksUp) openLinks("reconnect for " + why);
        meter.enter("radio", t, why);
        t += pass.exchanges * power.roundTripMs + pass.listenMs;
        meter.traffic(pass.bytesOut, pass.bytesIn);
        reset(pass.links, t);
      }
      meter.enter("cpu", t, why);
      t += pass.cpuMs;
      continue; // what came due meanwhile runs in the same wake
    }
    if (t >= end) break;
    // Naive: no planning; the links are kept and the chip sleeps between timers with the
    // association (ESP-IDF automatic light sleep), as firmware without a planner does.
    // The optimum's replay keeps the links all day or lets them go after every wake, as its search assumed.
    if (optimum && !o.keepLinks) linksUp = false;
    const plan = planSleep(t, scheduler.plan(), { power, links, linksUp, driftPpm: o.driftPpm, prevent: naive || (optimum && o.keepLinks) });
    if (!plan.keepLinks && linksUp) {
      linksUp = false;
      for (const e of entries) if (e.spec.liveness && e.job) e.job.cancel();
    }
    const wakeAt = Math.min(plan.wakeAt ?? end, end);
    if (wakeAt <= t) {
      // nothing to sleep for: the next job is due now (its window opened while this wake ran)
      t = Math.max(t, scheduler.nextWake() ?? t);
      if (t >= end) break;
      continue;
    }
    sleeps[plan.mode]++;
    const state: PowerState = plan.mode === "deep" ? "deep" : plan.mode === "light" ? (plan.keepLinks ? "light-wifi" : "light") : "cpu";
    meter.enter(state, t, plan.reason);
    t = wakeAt;
    if (t >= end) break;
    if (plan.mode === "deep") {
      meter.enter("boot", t, "boot");
      t += power.bootToReadyMs;
    }
  }
  const totals = meter.totals(end > t ? end : t);
  const days = totals.ms / DAY;
  // The model starts at a boot: that is the first wake of the day (the optimum counts it too).
  totals.wakes++;
  const perDay: { [job: string]: number } = {};
  for (const k of Object.keys(runs)) perDay[k] = runs[k] / days;
  return {
    scenario: scenario.name,
    protocol: scenario.protocol,
    mode,
    days,
    wakes: totals.wakes / days,
    radioWakes: totals.radioWakes / days,
    deepWakes: totals.deepWakes / days,
    mAh: totals.mAh / days,
    radioOnS: totals.radioOnMs / 1000 / days,
    bytes: (totals.bytesSent + totals.bytesReceived) / days,
    sleeps: { awake: sleeps.awake / days, modem: sleeps.modem / days, light: sleeps.light / days, deep: sleeps.deep / days },
    runs: perDay,
    violations,
    segments: meter.segments,
  };
}
