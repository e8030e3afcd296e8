/*
 * The app over MQTT-SN through chaos, end to end: the real app (src/app.ts, protocol "mqttsn",
 * telemetry at QoS 1, a reading every 2 s) on a SimDevice, our gateway
 * (sim/node/mqttsn-gateway.ts) in front of mosquitto, and between device and gateway a seeded
 * simulated UDP network (sim/udp-network.ts) that loses 20-30% of the datagrams, duplicates,
 * reorders and delays them, and is cut twice for longer than Tretry × (Nretry + 1) (§6.13: the
 * session is given up and CONNECTs again); the gateway is restarted once (a new one on the same
 * port that knows nothing of the device: DISCONNECT, §6.12, then CONNECT and the topics
 * registered again, §6.6). Signed configuration commands (ping, config/patch, config/get) go to
 * the device's command topic during the chaos (one in each cut, one while the gateway is down);
 * after it, one answered command is sent again byte for byte (a replay).
 *
 * Asserted, per seed: every reading the app counted acknowledged is at an MQTT.js subscriber of
 * the broker; every reading taken is there, or was thinned out by the app's bounded buffer
 * (docs/app.md, "Telemetry under pressure": counted in app.thinned and reported); none failed;
 * nothing made up; every command answered ok once (the same answer at most delivered again:
 * QoS 1; a copy delivered again to the device refused as a replay), the replay refused as one
 * (the counter rule, docs/config.md); no JavaScript error in the device's report or log lines or
 * the gateway's, no crash, no answer the config binding could not publish; the app's buffer, the
 * MQTT-SN outbox, its request queue and the link's callbacks within their bounds throughout
 * (sampled every 5 ms); and after the chaos ends the device is online within Tretry + the link's
 * 5 s refusal wait + 5 s for the handshake through the gateway to the broker (20 s of device time).
 *
 * Not answered, and allowed here only for them: the commands the first gateway had taken from the
 * broker and not yet delivered when it stopped (heldCommands). The gateway acknowledges a QoS 1
 * message to the broker when it takes it (MQTT.js processes nothing more from a connection until
 * it does), so what it holds for a client dies with it. An open fault of the gateway, not of the
 * device: 2-3 of the 7 commands a seed.
 *
 * What the runs found, reproduced one by one below (each fails before its fix): a CONNACK lost
 * after the will dialogue cost 50 s and a new CONNECT (the gateway dropped the WILLMSG sent
 * again); and after the restart the device's retained configuration was published on the command
 * topic (a retransmitted PUBLISH kept a TopicId the new gateway had given to that topic; the
 * gateway took a PUBLISH on an id the client had not acknowledged).
 *
 * Time: the device, its network and its sensors run on a clock RATE times faster than real
 * time, so the app keeps its own settings (Tretry 10 s, Nretry 4, keep-alive 60 s, the 5 s wait
 * after a refusal) and a cut of 60 s takes 2.4 s; the gateway, MQTT.js and mosquitto run in
 * real time (a loopback round trip of a few ms is some 100 ms of device time, far below Tretry).
 * Node, real broker. XSIOT_CHAOS_DUMP=/tmp/x writes each seed's lines and datagrams to /tmp/x-<seed>.txt.
 */
import { writeFileSync } from "node:fs";
import * as mqtt from "mqtt";
import { getBoard } from "../../boards/index";
import { signCommand } from "../../modules/config/auth";
import { hmacSha256 } from "../../modules/platform/sha256";
import type { Clock, TimerHandle } from "../../modules/platform/clock";
import type { UdpConstructor } from "../../modules/platform/io";
import { ACTIVE, type MqttSnClient } from "../../modules/mqttsn/session";
import { SimNetwork, type LinkConditions } from "../../sim/udp-network";
import { Prng } from "../../sim/prng";
import { RealClock } from "../../sim/node/real-clock";
import { MqttSnGateway } from "../../sim/node/mqttsn-gateway";
import type { App } from "../../src/app";
import { describeWithPeer, startMosquitto, type MosquittoPeer } from "../support/peers";
import { F, Harness } from "../mqttsn/helpers";
import { RawSnClient, startGateway } from "../mqttsn/interop-support";
import { bootAppDevice, waitFor, watchDevice } from "./node-device";

/** Device time runs this many times faster than real time. */
const RATE = 25;
/** The app's MQTT-SN link: the session's defaults (modules/mqttsn/session.ts), §6.13. */
const TRETRY_MS = 10_000;
const NRETRY = 4;
/** src/mqttsn-link.ts: a refused CONNECT is tried again after this. */
const REFUSED_RETRY_MS = 5_000;
/** After the chaos, online within: the next CONNECT or its retransmission (Tretry), or the wait after a refusal, then the handshake (real ms at the gateway and broker). */
const ONLINE_BOUND_MS = TRETRY_MS + REFUSED_RETRY_MS + 5_000;
const SAMPLING_MS = 2_000;
const MAX_BUFFERED = 32; // AppOptions.maxBuffered's default
const KEY = new Uint8Array(32).map((_, i) => (i * 7 + 3) & 0xff);
const GATEWAY = "10.0.0.1";
const DEVICE = "10.0.0.2";
const JS_ERROR = /TypeError|RangeError|ReferenceError|SyntaxError|is not a function|Cannot read prop|undefined \(reading/;

/** A Clock whose time runs `rate` times faster than the host's (its timers fire that much sooner). */
class FastClock implements Clock {
  readonly #real = new RealClock();
  readonly #t0 = performance.now();
  readonly #e0 = Date.now();
  constructor(readonly rate: number) {}
  now(): number {
    return Math.floor((performance.now() - this.#t0) * this.rate);
  }
  epoch(): number {
    return this.#e0 + this.now();
  }
  setTimer(callback: () => void, delayMs: number): TimerHandle {
    return this.#real.setTimer(callback, delayMs / this.rate);
  }
  clearTimer(handle: TimerHandle): void {
    this.#real.clearTimer(handle);
  }
  clearAll(): void {
    this.#real.clearAll();
  }
}

interface Answer {
  topic: string;
  text: string;
  status: string;
  ctr?: number;
  reasons?: string[];
  lastCtr?: number;
}

/** What one seed's run saw. */
interface ChaosRun {
  seed: number;
  taken: Map<number, number>; // seq -> reading time (ms)
  acked: Set<number>;
  failed: number;
  received: Set<number>;
  records: number;
  thinned: number;
  answers: Answer[];
  sentCommands: { name: string; ctr: number }[];
  /** The counter of the command sent again after the chaos. */
  replayed: number;
  /** Commands the first gateway had taken from the broker (acknowledged) and not delivered when it stopped. */
  heldAtRestart: number[];
  reports: string[];
  log: string[];
  onlineAfterMs: number;
  most: { buffered: number; outbox: number; outboxBytes: number; queued: number; callbacks: number };
  reconnects: number;
  /** Nretry used up (§6.13): a connection lost, or a connecting given up. */
  sessionsLost: number;
  net: SimNetwork["counters"];
  gatewayLines: string[];
  crashes: unknown[];
}

/**
 * The counters of the commands `gateway` holds for device `id` (its buffer and the exchange open
 * toward the device): it acknowledged them to the broker when it took them (QoS 1), so they are
 * lost when it stops, whatever the device does.
 */
function heldCommands(gateway: MqttSnGateway, id: string): number[] {
  const out: number[] = [];
  for (const c of gateway.clients.values() as Iterable<{ id: string; queue: { topic: string; payload: Uint8Array }[]; out?: { pending?: { topic: string; payload: Uint8Array } } }>) {
    if (c.id !== id) continue;
    for (const p of [...(c.out?.pending ? [c.out.pending] : []), ...c.queue])
      if (p.topic.includes("/cmd/")) out.push(JSON.parse(Buffer.from(p.payload).toString()).ctr);
  }
  return out;
}

describeWithPeer("mosquitto", "the app over MQTT-SN through loss, duplicates, reordering, cuts and a gateway restart", () => {
  let broker: MosquittoPeer;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  async function chaos(seed: number, longCutMs: number): Promise<ChaosRun> {
    const rng = new Prng(seed);
    const clock = new FastClock(RATE);
    const net = new SimNetwork({ clock, seed });
    const id = `snx-${seed.toString(16)}-${Date.now() % 100000}`;
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const gatewayLines: string[] = [];
    const newGateway = async () => {
      const g = new MqttSnGateway({ udp: { io: net.host(GATEWAY).UDP as unknown as UdpConstructor, port: 1884, address: GATEWAY }, broker: url, retryMs: 300, maxRetries: 4, tickMs: 10, log: (l) => gatewayLines.push(process.env.XSIOT_CHAOS_DUMP ? `${clock.now()} ${l}` : l) });
      await g.start();
      return g;
    };
    let gateway = await newGateway();
    if (process.env.XSIOT_CHAOS_DUMP) {
      const send = net.send.bind(net);
      net.send = (from, fp, to, tp, bytes) => {
        const before = { ...net.counters };
        send(from, fp, to, tp, bytes);
        const fate = net.counters.dropped > before.dropped ? "LOST" : net.counters.duplicated > before.duplicated ? "DUP2" : "";
        gatewayLines.push(`${clock.now()} ${from === DEVICE ? "  dev>" : "  <gw "} type 0x${(bytes[0] === 1 ? bytes[3] : bytes[1]).toString(16)} len ${bytes.length} ${fate}`);
      };
    }
    const watch = await watchDevice(broker.port, id);
    const commander = await mqtt.connectAsync({ host: "127.0.0.1", port: broker.port, reconnectPeriod: 0 });
    const answers: Answer[] = [];
    commander.on("message", (topic, payload) => {
      const text = payload.toString();
      answers.push({ topic, text, ...JSON.parse(text) });
    });
    await commander.subscribeAsync(`xs-iot/${id}/res/#`, { qos: 1 });
    const sentCommands: { name: string; ctr: number }[] = [];
    const signed = new Map<number, { name: string; text: string }>();
    let ctr = 0;
    const command = async (name: string, body: unknown) => {
      const c = ++ctr;
      const text = JSON.stringify({ ctr: c, mac: signCommand(hmacSha256, KEY, id, name, c, body), body });
      signed.set(c, { name, text });
      sentCommands.push({ name, ctr: c });
      await commander.publishAsync(`xs-iot/${id}/cmd/${name}`, text, { qos: 1 });
    };
    const commands: Array<() => Promise<void>> = [
      () => command("ping", null),
      () => command("config/patch", { telemetry: { maxBatch: rng.int(2, 8) } }),
      () => command("config/get", null),
    ];
    const nextCommand = () => commands[ctr % commands.length]();

    const taken = new Map<number, number>();
    const acked = new Set<number>();
    const reports: string[] = [];
    const log: string[] = [];
    let failed = 0;
    // The schedule, drawn first (device ms from the first connection): sampling ends 40 s after it.
    const d = {
      a1: rng.int(20_000, 40_000), a2: rng.int(10_000, 20_000),
      cut1a: rng.int(5_000, 20_000), cut1b: rng.int(TRETRY_MS * (NRETRY + 1) + 10_000, TRETRY_MS * (NRETRY + 1) + 40_000),
      b1: rng.int(15_000, 30_000), gwDown: rng.int(5_000, 20_000), b2: rng.int(20_000, 40_000),
      c1: rng.int(10_000, 25_000), c2: rng.int(5_000, 15_000), c3: rng.int(10_000, 20_000),
    };
    const total = Object.values(d).reduce((x, y) => x + y, 0) + longCutMs;
    const maxReadings = Math.ceil((total + 40_000) / SAMPLING_MS);
    const dev = bootAppDevice(
      getBoard("sim"),
      seed,
      {
        deviceId: id,
        key: KEY,
        provisioned: { protocol: "mqttsn", "mqtt.host": GATEWAY, "mqtt.port": 1884, "telemetry.qos": 1 },
        // maxReadings: sampling ends some 40 s after the chaos, so that every reading can be accounted for.
        overrides: { samplingMs: SAMPLING_MS, coapServer: false, maxReadings },
        onReading: (r) => taken.set(r.seq, Math.round(r.time)),
        onAcked: (e) => e.seqs.forEach((s) => acked.add(s)),
        onFailed: (e) => (failed += e.seqs.length),
        onError: (m) => reports.push(process.env.XSIOT_CHAOS_DUMP ? `${clock.now()} ${m}` : m),
      },
      (l) => log.push(l),
      { clock, UDP: net.host(DEVICE).UDP },
    );
    const app = (): App => dev.app();
    const sn = (): MqttSnClient | undefined => (app().mqtt as unknown as { sn?: MqttSnClient } | undefined)?.sn;
    const most = { buffered: 0, outbox: 0, outboxBytes: 0, queued: 0, callbacks: 0 };
    const bounds = setInterval(() => {
      const a = dev.app();
      if (!a) return;
      const link = a.mqtt as unknown as { sn?: MqttSnClient; callbacks?: Map<number, unknown> } | undefined;
      most.buffered = Math.max(most.buffered, a.buffered);
      if (link?.sn) {
        most.outbox = Math.max(most.outbox, link.sn.outbox.count);
        most.outboxBytes = Math.max(most.outboxBytes, link.sn.outbox.bytes);
        most.queued = Math.max(most.queued, link.sn.ops.length);
        most.callbacks = Math.max(most.callbacks, link.callbacks?.size ?? 0);
      }
    }, 5);
    /** Until device time `at` (ms). */
    const until = (at: number) => waitFor(() => clock.now() >= at, (at - clock.now()) / RATE + 5_000, `device time ${at}`);
    const chaotic = (): LinkConditions => ({ loss: 0.2 + rng.next() * 0.1, duplicate: 0.05 + rng.next() * 0.1, reorder: 0.1 + rng.next() * 0.1, latencyMs: rng.int(5, 40), jitterMs: rng.int(50, 400) });
    const more = () => ({ state: app().state, readings: app().readings, acked: app().acked, buffered: app().buffered, outbox: sn()?.outbox.count, reports: reports.slice(-6), gateway: gatewayLines.slice(-6) });
    const mark = (what: string) => process.env.XSIOT_CHAOS_DUMP && gatewayLines.push(`${clock.now()} ==== ${what}`);
    let replayed = 0;
    let heldAtRestart: number[] = [];
    let onlineAfterMs = NaN;
    try {
      await waitFor(() => app()?.state === "online", 10_000, "online", more);
      let t = clock.now();
      // Phase A: a chaotic link, two commands.
      net.setConditions(chaotic());
      mark("chaos");
      await until((t += d.a1));
      await nextCommand();
      mark(`command ${ctr}`);
      await until((t += d.a2));
      await nextCommand();
      mark(`command ${ctr}`);
      // The first cut, longer than Tretry × (Nretry + 1): the session is given up; a command meanwhile.
      net.setConditions({ down: true });
      mark("cut");
      await until((t += d.cut1a));
      await nextCommand();
      mark(`command ${ctr}`);
      await until((t += d.cut1b));
      // Phase B: chaos again; the gateway restarted on the same port, a command while it is down.
      net.setConditions(chaotic());
      mark("chaos");
      await until((t += d.b1));
      heldAtRestart = heldCommands(gateway, id);
      await gateway.close();
      mark("gateway closed");
      await nextCommand();
      mark(`command ${ctr}`);
      await until((t += d.gwDown));
      gateway = await newGateway();
      await until((t += d.b2));
      await nextCommand();
      mark(`command ${ctr}`);
      // The second cut: `longCutMs` (on the third seed longer than the outbox and the buffer hold: 48 readings, 96 s).
      net.setConditions({ down: true });
      mark("cut");
      await until((t += longCutMs / 2));
      await nextCommand();
      mark(`command ${ctr}`);
      await until((t += longCutMs / 2));
      // Phase C: chaos, one more command.
      net.setConditions(chaotic());
      mark("chaos");
      await until((t += d.c1));
      await until((t += d.c2));
      await nextCommand();
      mark(`command ${ctr}`);
      await until((t += d.c3));
      // The end of the chaos.
      net.setConditions({});
      const end = clock.now();
      await waitFor(() => app().state === "online" && sn()?.state === ACTIVE, ONLINE_BOUND_MS / RATE + 5_000, "online after the chaos", more);
      onlineAfterMs = clock.now() - end;
      // Sampling ends (maxReadings): then everything can be accounted for.
      await waitFor(() => app().readings >= maxReadings, (total + 60_000) / RATE, `${maxReadings} readings`, more);
      const answered = (c: number) => answers.some((a) => a.ctr === c && a.status === "ok");
      const settle = () => app().buffered === 0 && (sn()?.outbox.count ?? 1) === 0 && sentCommands.every((c) => answered(c.ctr) || heldAtRestart.includes(c.ctr));
      await waitFor(settle, (3 * TRETRY_MS) / RATE + 10_000, "the buffer and the outbox empty, every command answered", more);
      // What the broker has for us arrives (the subscriber's own round trip).
      const settledAcked = [...acked].map((s) => taken.get(s)!);
      await waitFor(() => settledAcked.every((t) => watch.times.has(t)), 5_000, "every acknowledged reading at the subscriber", () => settledAcked.filter((t) => !watch.times.has(t)).length);
      // A replay: a command the device answered, sent again byte for byte.
      const again = signed.get(answers.find((a) => a.status === "ok")!.ctr!)!;
      replayed = JSON.parse(again.text).ctr;
      await commander.publishAsync(`xs-iot/${id}/cmd/${again.name}`, again.text, { qos: 1 });
      await waitFor(() => answers.some((a) => a.ctr === replayed && a.status !== "ok"), 5_000, "the replay's answer", more);
      await new Promise((r) => setTimeout(r, 300)); // answers delivered again, if any
      return {
        seed,
        taken,
        acked,
        failed,
        received: new Set(watch.times),
        records: watch.records,
        thinned: app().thinned,
        answers,
        sentCommands,
        replayed,
        heldAtRestart,
        reports,
        log,
        onlineAfterMs,
        most,
        reconnects: app().reconnects,
        sessionsLost: reports.filter((r) => r.includes("lost (MQTT-SN: no reply)") || r.includes("gave up, MQTT-SN 1.2 §6.13 Nretry")).length,
        net: { ...net.counters },
        gatewayLines,
        crashes: [...dev.device.crashes],
      };
    } finally {
      if (process.env.XSIOT_CHAOS_DUMP) writeFileSync(`${process.env.XSIOT_CHAOS_DUMP}-${seed.toString(16)}.txt`, [...reports.map((l) => "R " + l), ...log.map((l) => "L " + l), ...gatewayLines.map((l) => "G " + l), ...answers.map((a) => "A " + a.topic + " " + a.text)].join("\n"));
      clearInterval(bounds);
      dev.stop();
      await watch.end();
      await commander.endAsync();
      await gateway.close();
    }
  }

  function check(r: ChaosRun, expectThinned: boolean): void {
    const readings = r.taken.size;
    const dup = r.records - r.received.size;
    const ok = r.answers.filter((a) => a.status === "ok").length;
    console.log(
      `seed ${r.seed}: ${readings} readings taken, ${r.acked.size} acknowledged, ${r.received.size} at the subscriber (${dup} more than once), ${r.thinned} thinned, ${r.failed} failed; ` +
        `${r.sentCommands.length} commands + 1 replay, ${r.answers.length} answers (${ok} ok), ${r.heldAtRestart.length} held by the gateway when it stopped (${r.heldAtRestart.filter((c) => !r.answers.some((a) => a.ctr === c && a.status === "ok")).length} of them never answered); ${r.reconnects} reconnects, ${r.sessionsLost} sessions lost after Nretry; online ${r.onlineAfterMs} ms after the chaos; ` +
        `network: ${r.net.sent} sent, ${r.net.dropped} dropped, ${r.net.duplicated} duplicated, ${r.net.reordered} reordered, ${r.net.unreachable} unreachable; most: ${JSON.stringify(r.most)}`,
    );
    // The chaos did what it says.
    expect(r.net.dropped).toBeGreaterThan(20);
    expect(r.net.duplicated).toBeGreaterThan(0);
    expect(r.net.reordered).toBeGreaterThan(0);
    // Both cuts ended the session (§6.13: after Nretry, connected or connecting), and the device
    // CONNECTed to the second gateway (the restart: its DISCONNECT to the unknown client, §6.12).
    expect(r.sessionsLost).toBeGreaterThanOrEqual(2);
    const second = r.gatewayLines.findIndex((l, i) => i > 0 && l.includes("gateway: listening on"));
    expect(second).toBeGreaterThan(0);
    expect(r.gatewayLines.slice(second).some((l) => l.includes(" CONNECT \""))).toBe(true);
    expect(r.reconnects).toBeGreaterThanOrEqual(1);
    // Readings: every acknowledged one at the subscriber; every one taken there or thinned (counted); none made up.
    expect(readings).toBeGreaterThan(100);
    const timeOf = (s: number) => r.taken.get(s)!;
    expect([...r.acked].filter((s) => !r.received.has(timeOf(s)))).toEqual([]);
    const known = new Set(r.taken.values());
    expect([...r.received].filter((t) => !known.has(t))).toEqual([]);
    const missing = [...r.taken.keys()].filter((s) => !r.received.has(timeOf(s)));
    expect(r.failed).toBe(0);
    expect(missing.length).toBe(r.thinned);
    expect(r.acked.size).toBe(readings - r.thinned);
    if (expectThinned) expect(r.thinned).toBeGreaterThan(0);
    // Thinned readings are reported (docs/app.md, "Telemetry under pressure").
    expect(r.log.concat(r.reports).some((l) => l.includes("reading(s) thinned out so far"))).toBe(r.thinned > 0);
    // Commands: each answered ok, with one answer (delivered again at most, byte for byte); the replay
    // refused as one. Not answered: only commands the first gateway held when it stopped (see heldCommands).
    for (const { name, ctr } of r.sentCommands) {
      const mine = r.answers.filter((a) => a.ctr === ctr && a.topic.endsWith(`/res/${name}`));
      const oks = new Set(mine.filter((a) => a.status === "ok").map((a) => a.text));
      if (r.heldAtRestart.includes(ctr)) expect(oks.size).toBeLessThanOrEqual(1);
      else expect([name, ctr, oks.size]).toEqual([name, ctr, 1]);
      for (const a of mine.filter((a) => a.status !== "ok")) {
        expect(a.status).toBe("unauthorized");
        expect(a.reasons?.join(" ")).toContain("is not above the last accepted counter");
      }
    }
    const refused = r.answers.filter((a) => a.ctr === r.replayed && a.status === "unauthorized");
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(refused[0].lastCtr).toBeGreaterThanOrEqual(r.replayed);
    expect(r.answers.filter((a) => a.ctr === undefined || a.ctr > r.sentCommands.length)).toEqual([]);
    // Nothing thrown, nothing lost by the config binding.
    expect(r.crashes).toEqual([]);
    expect(r.reports.concat(r.log).filter((l) => JS_ERROR.test(l))).toEqual([]);
    expect(r.reports.concat(r.log).filter((l) => l.includes("cannot publish"))).toEqual([]);
    expect(r.gatewayLines.filter((l) => JS_ERROR.test(l))).toEqual([]);
    // Bounded throughout.
    expect(r.most.buffered).toBeLessThanOrEqual(MAX_BUFFERED);
    expect(r.most.outbox).toBeLessThanOrEqual(16);
    expect(r.most.outboxBytes).toBeLessThanOrEqual(8192);
    expect(r.most.queued).toBeLessThanOrEqual(16);
    expect(r.most.callbacks).toBeLessThanOrEqual(16);
    // Online again within the bound.
    expect(r.onlineAfterMs).toBeLessThanOrEqual(ONLINE_BOUND_MS);
  }

  // Found by the runs below: a CONNACK lost after the will dialogue cost the client Nretry × Tretry
  // (50 s) and a new CONNECT, since its WILLMSG sent again (§6.13) was dropped as "not asked for".
  it("reproduction: a WILLMSG sent again because the gateway's CONNACK was lost (§6.2, §6.13) is answered with the CONNACK again, on the same broker connection", async () => {
    const lines: string[] = [];
    const { gateway, port } = await startGateway({ broker: `mqtt://127.0.0.1:${broker.port}` }, lines);
    const raw = new RawSnClient(port);
    await raw.bind();
    const willMsg = { type: 0x09, willMsg: new TextEncoder().encode("offline") };
    try {
      raw.send({ type: 0x04, ...F, will: true, protocolId: 1, duration: 30, clientId: "rep-willmsg" });
      await raw.next(0x06); // WILLTOPICREQ
      raw.send({ type: 0x07, ...F, qos: 1, retain: true, willTopic: "rep-willmsg/state" });
      await raw.next(0x08); // WILLMSGREQ
      raw.send(willMsg);
      expect((await raw.next(0x05)).returnCode).toBe(0);
      // That CONNACK lost: Tretry later the client sends its WILLMSG again.
      raw.send(willMsg);
      expect((await raw.next(0x05)).returnCode).toBe(0);
      expect(lines.filter((l) => l.includes("rep-willmsg connected to the broker")).length).toBe(1);
      raw.send({ type: 0x18, duration: undefined });
      await raw.next(0x18);
    } finally {
      await raw.close();
      await gateway.close();
    }
  });

  // Found by the runs below (seed 0x5eed0103, one run in three): after the gateway's restart the
  // device's retained configuration went to the broker on ".../cmd/config/patch", where the device
  // read it as a command ("invalid": payload.version) and mosquitto kept it retained. The device
  // kept its topic ids (cleanSession false, §6.3) and published "config" with id 2 from the first
  // gateway; the second had just given id 2 to the command topic (its REGISTER, §6.10). Two faults:
  it("reproduction (the session): a PUBLISH retransmitted after the gateway REGISTERed its TopicId for another name goes to its topic's REGISTER first, not to that name (§6.10, §6.13)", () => {
    const h = new Harness().connected();
    h.call((s, now) => s.publish("dev1/config", "{}", 1, true, now));
    const reg = h.sent.filter((x) => x.m.type === 0x0a).pop()!.m;
    expect(h.gw({ type: 0x0b, topicId: 2, msgId: reg.msgId, returnCode: 0 }).map((m) => [m.type, m.topicId])).toEqual([[0x0c, 2]]);
    // The gateway (restarted: it no longer knows our id 2) gives 2 to a command topic.
    expect(h.gw({ type: 0x0a, topicId: 2, msgId: 9, topicName: "dev1/cmd/config/patch" })).toEqual([{ type: 0x0b, topicId: 2, msgId: 9, returnCode: 0 }]);
    // Tretry: the message is not sent again with id 2 (now the command topic's); its topic is registered again.
    const again = h.advance(1000);
    expect(again.map((m) => [m.type, m.topicName ?? m.topicId])).toEqual([[0x0a, "dev1/config"]]);
    expect(h.gw({ type: 0x0b, topicId: 3, msgId: again[0].msgId, returnCode: 0 }).map((m) => [m.type, m.topicId, m.dup])).toEqual([[0x0c, 3, true]]);
  });

  it("reproduction (the gateway): a client's PUBLISH on a topic id the client has not acknowledged (our REGISTER unanswered) is answered 'invalid topic ID', not published to that id's topic", async () => {
    const lines: string[] = [];
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const { gateway, port } = await startGateway({ broker: url }, lines);
    const watcher = await mqtt.connectAsync({ host: "127.0.0.1", port: broker.port, reconnectPeriod: 0 });
    const seen: string[] = [];
    watcher.on("message", (topic, payload) => seen.push(`${topic} ${payload}`));
    await watcher.subscribeAsync("rep-reuse/#", { qos: 1 });
    const raw = new RawSnClient(port);
    await raw.bind();
    try {
      raw.send({ type: 0x04, ...F, protocolId: 1, duration: 30, clientId: "rep-reuse" });
      expect((await raw.next(0x05)).returnCode).toBe(0);
      raw.send({ type: 0x12, ...F, qos: 1, msgId: 1, topicName: "rep-reuse/cmd/#" });
      expect((await raw.next(0x13)).returnCode).toBe(0);
      await watcher.publishAsync("rep-reuse/cmd/patch", "a command", { qos: 1 });
      const register = await raw.next(0x0a); // not answered: lost on the way, or the client is busy
      // The client publishes with that same id, which it holds for another topic from a session the gateway lost.
      raw.send({ type: 0x0c, ...F, qos: 1, retain: true, topicId: register.topicId, msgId: 2, data: new TextEncoder().encode("the configuration") });
      const puback = await raw.next(0x0d);
      expect([puback.msgId, puback.returnCode]).toEqual([2, 2]);
      await new Promise((r) => setTimeout(r, 200));
      expect(seen).toEqual(["rep-reuse/cmd/patch a command"]);
      raw.send({ type: 0x18, duration: undefined });
      await raw.next(0x18);
    } finally {
      await raw.close();
      await watcher.endAsync();
      await gateway.close();
    }
  });

  it.each([
    [0x5eed0101, 70_000, false],
    [0x5eed0102, 80_000, false],
    [0x5eed0103, 130_000, true],
  ])("seed %s, second cut %s ms: every acknowledged reading at the broker, the rest thinned and counted; every command answered once; bounded; online again within the bound", async (seed, longCut, thin) => {
    check(await chaos(seed, longCut), thin);
  }, 60_000);
});
