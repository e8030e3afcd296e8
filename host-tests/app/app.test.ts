// @xs
/*
 * The firmware app (src/app.ts) on a simulated board and a simulated UDP
 * network, on a virtual clock: sampling, CoAP telemetry (RFC 7252 CON/NON,
 * SenML RFC 8428), the device's CoAP resources (RFC 6690 discovery, RFC 7641
 * Observe), configuration commands changing the app's behaviour.
 */
import { getBoard } from "../../boards/index";
import { CoapUriClient } from "../../modules/coap/uri-client";
import { CoapServer } from "../../modules/coap/server";
import { decodeCbor } from "../../modules/cbor/cbor";
import { decodeUtf8 } from "../../modules/bytes/utf8";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { signCommand } from "../../modules/config/auth";
import { hmacSha256 } from "../../modules/platform/sha256";
import { SimDevice } from "../../sim/device";
import { createSimHardware } from "../../sim/hardware";
import { Prng } from "../../sim/prng";
import { SimNetwork } from "../../sim/udp-network";
import { VirtualClock } from "../../sim/virtual-clock";
import { startApp, type App, type AppOverrides, type Reading, type TelemetryEvent } from "../../src/app";
import { encodeTelemetry, encodeWaiting, waitingReading, QUANTITIES, SenmlSplitError } from "../../src/senml";
import { roundTo as round } from "../../modules/telemetry/senml";

const ENV = { temperature: 23.25, humidity: 40, pressure: 99_000, light: 500, co2: 800, battery: 3.9 };
const DEVICE = "10.0.0.2";
const GATEWAY = "10.0.0.1";
const KEY = new Uint8Array(32).fill(7);

interface Received {
  confirmable: boolean;
  contentFormat: number | undefined;
  payload: Uint8Array;
}

function setup(options: { overrides?: AppOverrides; env?: typeof ENV; provisioned?: { [k: string]: unknown }; maxBuffered?: number } = {}) {
  const clock = new VirtualClock();
  const board = getBoard("sim");
  const hardware = createSimHardware(board, clock, options.env ?? ENV);
  const network = new SimNetwork({ clock });
  const prng = new Prng(9);
  const gwScheduler = new Scheduler({ clock });
  const received: Received[] = [];
  const sink = new CoapServer({ socket: { io: network.host(GATEWAY).UDP, port: 5683 }, scheduler: gwScheduler, random: (b) => prng.fill(b) });
  sink.add("tele", {
    post: (req) => {
      received.push({ confirmable: req.confirmable, contentFormat: req.contentFormat, payload: req.payload.slice() });
      return { code: 0x44 };
    },
  });
  const client = new CoapUriClient({ endpoint: sink.endpoint });
  const readings: Reading[] = [];
  const errors: string[] = [];
  const logs: string[] = [];
  const sent: TelemetryEvent[] = [];
  const acked: TelemetryEvent[] = [];
  let app: App | undefined;
  const device = new SimDevice({
    clock,
    log: (line) => logs.push(line),
    io: { ...hardware.io, UDP: network.host(DEVICE).UDP },
    app: (platform) => {
      app = startApp({
        platform,
        board,
        deviceId: "dev-1",
        key: KEY,
        provisioned: { protocol: "coap", "coap.gatewayHost": GATEWAY, "coap.gatewayPort": 5683, "coap.gatewayPath": "tele", "coap.listenPort": 5683, ...options.provisioned },
        overrides: options.overrides ?? { samplingMs: 10_000 },
        maxBuffered: options.maxBuffered,
        onReading: (r) => readings.push(r),
        onSent: (e) => sent.push(e),
        onAcked: (e) => acked.push(e),
        onError: (m) => errors.push(m),
      });
      return app;
    },
  });
  return { clock, hardware, readings, errors, logs, device, received, sent, acked, client, app: () => app!, sink, network };
}

/** Advances virtual time in steps, letting promise callbacks (CoAP responses, block-wise follow-ups) run between them. */
async function run(clock: VirtualClock, ms: number, step = 100): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(Math.min(step, ms - t));
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }
}

function senml(r: Received): { [k: string]: unknown }[] {
  if (r.contentFormat === 112) {
    const d = decodeCbor(r.payload);
    if (!d.ok) throw new Error("bad CBOR");
    const labels: { [k: number]: string } = { [-2]: "bn", [-3]: "bt", 0: "n", 1: "u", 2: "v", 6: "t" };
    return (d.value as Map<number, unknown>[]).map((m) => {
      const o: { [k: string]: unknown } = {};
      m.forEach((v, k) => (o[labels[k]] = v));
      return o;
    });
  }
  return JSON.parse(decodeUtf8(r.payload));
}

describe("the app on a simulated board", () => {
  it("samples every sensor of the board on the interval and reports what the environment holds", () => {
    const { clock, readings, errors, device } = setup();
    device.start();
    clock.advance(25_000);
    expect(errors).toEqual([]);
    expect(readings.length).toBe(3);
    expect(readings.map((r) => r.seq)).toEqual([1, 2, 3]);
    const s = readings[2].sample;
    expect(s.thermometer!.temperature).toBeCloseTo(23.25, 1);
    expect(s.hygrometer!.humidity).toBeCloseTo(40, 0);
    expect(Math.abs(s.barometer!.pressure - 99_000)).toBeLessThan(5);
    expect(Math.abs(s.lightmeter!.illuminance - 500)).toBeLessThan(2);
    expect(Math.abs(s.carbonDioxideDetector!.CO2 - 800)).toBeLessThan(2);
    expect(s.battery!.voltage).toBeCloseTo(3.9, 2);
  });

  it("keeps a drift-free period: readings start 10 s apart whatever the measurement time", () => {
    const { clock, readings, device } = setup();
    device.start();
    clock.advance(60_000);
    const times = readings.map((r) => r.time);
    for (let i = 2; i < times.length; i++) expect(times[i] - times[i - 1]).toBe(10_000);
  });

  it("samples faster than the BH1750's one-time conversion (180 ms) one reading per period, not in pairs: the app paces the drivers to its period", () => {
    const { clock, readings, errors, device } = setup({ overrides: { samplingMs: 100, telemetryMs: 10_000 } });
    device.start();
    clock.advance(6000); // past the SCD4x's first result (5 s after its 0.5 s stop)
    const perPeriod: number[] = [];
    for (let i = 0; i < 20; i++) {
      const before = readings.length;
      clock.advance(100);
      perPeriod.push(readings.length - before);
    }
    expect(perPeriod).toEqual(new Array(20).fill(1));
    expect(readings[readings.length - 1].sample.lightmeter!.illuminance).toBeCloseTo(500, 0);
    expect(errors).toEqual([]);
  });

  it("prefers the chip listed first on the board for a quantity two chips measure", () => {
    const { clock, readings, device } = setup();
    device.start();
    clock.advance(11_000);
    const r = readings[0];
    expect(r.sensors.map((x) => x.chip)).toEqual(["SHT3x", "BME280", "BH1750", "SCD4x", "Battery"]);
    expect(r.sample.hygrometer!.humidity).toBe(r.sensors[0].sample.hygrometer!.humidity);
    expect(r.sample.barometer!.pressure).toBe(r.sensors[1].sample.barometer!.pressure);
  });

  it("leaves out the field of a failing sensor and reports the error, never a stale value", () => {
    const { clock, hardware, readings, errors, device } = setup();
    device.start();
    clock.advance(15_000);
    expect(readings[readings.length - 1].sample.hygrometer).toBeDefined();
    hardware.bus.injectFault({ kind: "address-nack", address: 0x44, count: Infinity });
    clock.advance(10_000);
    const last = readings[readings.length - 1];
    const sht = last.sensors.find((r) => r.chip === "SHT3x")!;
    const bme = last.sensors.find((r) => r.chip === "BME280")!;
    expect(sht.sample.hygrometer).toBeUndefined();
    expect(sht.sample.thermometer).toBeUndefined();
    expect(errors.some((e) => /SHT3x at 0x44/.test(e))).toBe(true);
    expect(last.sample.hygrometer!.humidity).toBe(bme.sample.hygrometer!.humidity);
    expect(last.sample.thermometer!.temperature).toBe(bme.sample.thermometer!.temperature);
  });

  it("reports a board sensor whose chip is missing, and runs with the others", () => {
    const t = setup();
    t.hardware.bus.detach(0x76);
    t.device.start();
    t.clock.advance(11_000);
    expect(t.readings.length).toBeGreaterThan(0);
    expect(t.readings[0].sample.barometer).toBeUndefined();
    expect(t.readings[0].sample.hygrometer).toBeDefined();
    expect(t.errors.some((e) => /0x76/.test(e))).toBe(true);
  });

  it("latest: undefined before the first reading, then the last reading's merged sample, as a fresh object each time", () => {
    const t = setup();
    t.device.start();
    expect(t.app().latest).toBeUndefined();
    t.clock.advance(11_000);
    expect(t.app().latest).toEqual(t.readings[t.readings.length - 1].sample);
    const a = t.app().latest!;
    a.thermometer!.temperature = -273;
    expect(t.app().latest!.thermometer!.temperature).toBe(t.readings[t.readings.length - 1].sample.thermometer!.temperature);
    // a quantity no chip gives this time is left out, not carried over from the reading before
    t.hardware.bus.injectFault({ kind: "address-nack", address: 0x23, count: Infinity }); // BH1750
    t.clock.advance(10_000);
    expect(t.readings[t.readings.length - 1].sample.lightmeter).toBeUndefined();
    expect(t.app().latest!.lightmeter).toBeUndefined();
    expect(t.app().latest).toEqual(t.readings[t.readings.length - 1].sample);
  });

  it("stops: no reading, no datagram and no timer after stop()", () => {
    const { clock, readings, device, received } = setup();
    device.start();
    clock.advance(10_000);
    const n = readings.length;
    const m = received.length;
    device.stop();
    clock.advance(100_000);
    expect(readings.length).toBe(n);
    expect(received.length).toBe(m);
  });

  it.each([[0], [-5], [NaN]])("refuses a sampling period of %p with a RangeError", (ms) => {
    const clock = new VirtualClock();
    const board = getBoard("sim");
    let error: unknown;
    const device = new SimDevice({
      clock,
      io: createSimHardware(board, clock).io,
      app: (platform) => {
        try {
          startApp({ platform, board, overrides: { samplingMs: ms as number } });
        } catch (e) {
          error = e;
        }
      },
    });
    device.start();
    expect(error).toBeInstanceOf(RangeError);
  });
});

describe("CoAP telemetry (RFC 7252 POST, SenML RFC 8428)", () => {
  it("QoS 1: each reading is POSTed CON as SenML JSON with the device id in bn, and acknowledged", async () => {
    const t = setup({ overrides: { samplingMs: 10_000, qos: 1 } });
    t.device.start();
    await run(t.clock, 35_000);
    expect(t.readings.length).toBe(4);
    expect(t.received.length).toBe(4);
    expect(t.acked.map((e) => e.seqs[0])).toEqual([1, 2, 3, 4]);
    for (const r of t.received) {
      expect(r.confirmable).toBe(true); // RFC 7252 §4.2
      expect(r.contentFormat).toBe(110); // RFC 8428 §12.3 application/senml+json
    }
    const pack = senml(t.received[3]);
    expect(pack[0].bn).toBe("dev-1:");
    expect(pack[0].bt).toBe(Math.round(t.readings[3].time) / 1000);
    const byName: { [n: string]: { u: unknown; v: unknown } } = {};
    for (const r of pack) byName[r.n as string] = { u: r.u, v: r.v };
    const s = t.readings[3].sample;
    expect(byName.temperature).toEqual({ u: "Cel", v: round(s.thermometer!.temperature, 2) });
    expect(byName.humidity).toEqual({ u: "%RH", v: round(s.hygrometer!.humidity, 1) });
    expect(byName.pressure).toEqual({ u: "Pa", v: round(s.barometer!.pressure, 0) });
    expect(byName.illuminance).toEqual({ u: "lx", v: round(s.lightmeter!.illuminance, 1) });
    expect(byName.co2).toEqual({ u: "ppm", v: round(s.carbonDioxideDetector!.CO2, 0) });
    expect(byName.battery).toEqual({ u: "V", v: round(s.battery!.voltage, 3) });
    // and within the sensors' resolution of the simulated environment
    expect(Math.abs((byName.temperature.v as number) - ENV.temperature)).toBeLessThan(0.1);
    expect(Math.abs((byName.co2.v as number) - ENV.co2)).toBeLessThan(5);
  });

  it("QoS 0: NON POSTs (RFC 7252 §4.3), counted as sent without waiting for an answer", async () => {
    const t = setup({ overrides: { samplingMs: 10_000, qos: 0 } });
    t.device.start();
    await run(t.clock, 25_000);
    expect(t.received.length).toBe(3);
    for (const r of t.received) expect(r.confirmable).toBe(false);
    expect(t.sent.length).toBe(3);
    expect(t.app().sent).toBe(3);
  });

  it("SenML CBOR (RFC 8428 §6, Content-Format 112) with integer labels", async () => {
    const t = setup({ overrides: { samplingMs: 10_000, format: "cbor" } });
    t.device.start();
    await run(t.clock, 11_000);
    expect(t.received.length).toBe(2);
    expect(t.received[1].contentFormat).toBe(112);
    // The first reading does not wait for the SCD4x's first result (5 s after it starts): no CO2 in it.
    expect(senml(t.received[0]).map((r) => r.n)).toEqual(["temperature", "humidity", "pressure", "illuminance", "battery"]);
    const pack = senml(t.received[1]);
    expect(pack[0].bn).toBe("dev-1:");
    expect(pack.map((r) => r.n)).toEqual(["temperature", "humidity", "pressure", "illuminance", "co2", "battery"]);
  });

  it("a telemetry period longer than the sampling period batches readings in one pack with relative times (RFC 8428 §4.5.3)", async () => {
    const t = setup({ overrides: { samplingMs: 10_000, telemetryMs: 30_000 } });
    t.device.start();
    await run(t.clock, 31_000);
    expect(t.readings.length).toBe(4);
    expect(t.received.length).toBe(1);
    const pack = senml(t.received[0]);
    expect(t.sent[0].seqs).toEqual([1, 2, 3]);
    const times = pack.filter((r) => r.n === "temperature").map((r) => (r.t === undefined ? 0 : r.t));
    expect(times).toEqual([0, 10, 20]);
  });

  it("no gateway answer to a CON: one line per exhausted CON (RFC 7252 §4.2), its readings kept for the next request, not failed", async () => {
    const t = setup({ overrides: { samplingMs: 10_000, qos: 1 }, provisioned: { "coap.gatewayPort": 5999 } });
    t.device.start();
    await run(t.clock, 300_000);
    expect(t.received.length).toBe(0);
    expect(t.app().acked).toBe(0);
    expect(t.app().failed).toBe(0);
    // Issue 15: said, with what became of the readings; none counted sent, every one still on the device.
    const lines = t.errors.filter((m) => m.startsWith("coap: "));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const l of lines) expect(l).toMatch(/^coap: no answer from 10\.0\.0\.1:5999 in \d+ s \(CON, RFC 7252 §4\.2 MAX_RETRANSMIT\); \d+ reading\(s\) kept for the next request$/);
    expect(t.app().state).toBe("connecting");
    expect(t.app().sent).toBe(t.sent[t.sent.length - 1].seqs.length); // only the CON in flight
    expect(t.app().buffered + t.app().sent).toBe(t.app().readings);
  });

  it("a gateway that comes back gets the readings its silence kept: 'offline' while it was silent, then 'online', nothing lost", async () => {
    const t = setup({ overrides: { samplingMs: 10_000, qos: 1 } });
    t.device.start();
    await run(t.clock, 15_000); // answered: online
    expect(t.app().state).toBe("online");
    t.network.link(DEVICE, GATEWAY, { down: true }, { both: true });
    const before = t.app().acked;
    await run(t.clock, 120_000); // silent: at least one CON exhausted
    expect(t.errors.some((m) => /^coap: no answer from 10\.0\.0\.1:5683 in \d+ s \(CON, RFC 7252 §4\.2 MAX_RETRANSMIT\); \d+ reading\(s\) kept for the next request$/.test(m))).toBe(true);
    expect(t.app().state).toBe("offline");
    expect(t.app().acked).toBe(before);
    t.network.unlink(DEVICE, GATEWAY);
    t.network.unlink(GATEWAY, DEVICE);
    await run(t.clock, 200_000);
    expect(t.app().state).toBe("online");
    expect(t.app().failed).toBe(0);
    // Nothing lost: every reading up to the last acknowledged one was acknowledged (the kept ones at least once).
    const acked = new Set(t.acked.flatMap((e) => e.seqs));
    const last = Math.max(...acked);
    expect(last).toBeGreaterThan(25);
    expect(acked.size).toBe(last);
    expect(t.app().readings - last).toBeLessThanOrEqual(t.app().buffered + 1);
  });

  it("one CON in flight to the gateway (RFC 7252 §4.7, NSTART 1): readings taken while it waits go together in the next", async () => {
    const t = setup({ overrides: { samplingMs: 10_000, qos: 1 }, provisioned: { "coap.gatewayPort": 5999 } });
    t.device.start();
    await run(t.clock, 200_000);
    // A CON per reading kept up to 19 exchanges (and their payloads) alive at 10 s, each until
    // MAX_TRANSMIT_WAIT: the heap of a 4,928-slot target filled in a minute in mcsim.
    expect(t.app().readings).toBeGreaterThanOrEqual(19);
    expect(t.sent[0].seqs).toEqual([1]);
    expect(t.sent.length).toBeLessThanOrEqual(4);
    expect(t.sent[1].seqs.length).toBeGreaterThan(3);
    // Each unanswered CON's readings go again at the front of the next, with those taken meanwhile, in order.
    for (let i = 1; i < t.sent.length; i++) {
      expect(t.sent[i].seqs.slice(0, t.sent[i - 1].seqs.length)).toEqual(t.sent[i - 1].seqs);
      expect(t.sent[i].seqs).toEqual([...new Set(t.sent[i].seqs)].sort((x, y) => x - y));
    }
  });

  it("a gateway that answers gets every reading, one CON at a time", async () => {
    const t = setup({ overrides: { samplingMs: 1_000, qos: 1 } });
    t.device.start();
    await run(t.clock, 30_000);
    expect(t.errors).toEqual([]);
    expect(t.received.every((r) => r.confirmable)).toBe(true);
    const acked = t.acked.flatMap((e) => e.seqs);
    expect(acked.length).toBeGreaterThanOrEqual(t.app().readings - 2);
    expect(new Set(acked).size).toBe(acked.length);
  });
});

// Readings waiting for a long telemetry period are bounded (telemetry.maxBatch, docs/app.md
// "Readings waiting"): 25 readings waiting for a 120 s period took the esp32c3's XS block past
// its size in mcsim (docs/moddable.md). Before, the first POST came at 120 s with 24 readings.
describe("readings waiting for the telemetry period (telemetry.maxBatch)", () => {
  /** Runs `ms` of virtual time and returns the most readings the app held at any step. */
  async function runWatching(t: ReturnType<typeof setup>, ms: number): Promise<number> {
    let most = 0;
    for (let at = 0; at < ms; at += 1000) {
      await run(t.clock, 1000);
      most = Math.max(most, t.app().buffered);
    }
    return most;
  }

  it("5 s sampling, 120 s period: at most 8 readings wait (the default), each full batch goes at once, in order, nothing lost", async () => {
    const t = setup({ overrides: { samplingMs: 5_000, telemetryMs: 120_000, qos: 1 } });
    t.device.start();
    const most = await runWatching(t, 130_000);
    expect(t.app().config.telemetry.maxBatch).toBe(8);
    expect(most).toBeLessThanOrEqual(8);
    expect(most).toBeGreaterThanOrEqual(7); // they do wait (the 8th goes in the turn it comes)
    expect(t.app().readings).toBeGreaterThanOrEqual(25);
    // Three early batches of 8, not one of 24 at 120 s; the 120 s report then finds 3 waiting at most.
    expect(t.sent.slice(0, 3).map((e) => e.seqs)).toEqual([
      [1, 2, 3, 4, 5, 6, 7, 8],
      [9, 10, 11, 12, 13, 14, 15, 16],
      [17, 18, 19, 20, 21, 22, 23, 24],
    ]);
    for (const e of t.sent) expect(e.seqs.length).toBeLessThanOrEqual(8);
    // The batch's packs carry its 8 readings: 8 distinct times in the temperature records.
    const times = t.received.slice(0, t.sent[0].messages).flatMap((m) => {
      const pack = senml(m);
      return pack.filter((r) => r.n === "temperature").map((r) => (pack[0].bt as number) + ((r.t as number | undefined) ?? 0));
    });
    expect(times).toEqual(t.readings.slice(0, 8).map((r) => Math.round(r.time) / 1000));
    // Nothing lost: every reading was acknowledged or still waits; none thinned, none failed.
    const acked = t.acked.flatMap((e) => e.seqs);
    expect(new Set(acked).size).toBe(acked.length);
    expect(acked.length + t.app().buffered).toBe(t.app().readings);
    expect(acked).toEqual(acked.slice().sort((a, b) => a - b));
    expect(t.app().thinned).toBe(0);
    expect(t.app().failed).toBe(0);
  });

  it("the telemetry job (a radio job the sleep planner plans by) is due when the batch will be full, not at the period's end", async () => {
    const t = setup({ overrides: { samplingMs: 5_000, telemetryMs: 600_000, qos: 1 } });
    t.device.start();
    await run(t.clock, 11_000); // 3 readings (0, 5, 10 s)
    expect(t.app().buffered).toBe(3);
    const now = t.app().scheduler.now();
    const job = t.app().scheduler.plan().find((j) => j.name === "telemetry")!;
    expect(job.radio).toBe(true);
    // 5 more readings at 15..35 s; due half a period after the last (37.5 s), not at 600 s.
    expect(job.deadline).toBeGreaterThan(now + 20_000);
    expect(job.deadline).toBeLessThanOrEqual(now + 5 * 5_000 + 2_500);
    await run(t.clock, 30_000);
    expect(t.sent.map((e) => e.seqs.length)).toEqual([8]);
    // After the batch the period counts again; the next batch is planned the same way.
    const next = t.app().scheduler.plan().find((j) => j.name === "telemetry")!;
    expect(next.deadline).toBeLessThan(t.app().scheduler.now() + 45_000);
  });

  it("telemetry.maxBatch 3, provisioned: batches of 3 readings; the telemetry period counts from the early batch", async () => {
    const t = setup({ overrides: { samplingMs: 5_000, telemetryMs: 120_000, qos: 0 }, provisioned: { "telemetry.maxBatch": 3 } });
    t.device.start();
    const most = await runWatching(t, 61_000);
    expect(most).toBe(2); // the 3rd goes in the turn it comes
    expect(t.sent.map((e) => e.seqs)).toEqual([
      [1, 2, 3],
      [4, 5, 6],
      [7, 8, 9],
      [10, 11, 12],
    ]);
    expect(t.app().acked + t.app().buffered).toBe(t.app().readings);
  });

  it("a signed config/patch of telemetry.maxBatch over CoAP applies at the next reading; 0 and 33 are refused and change nothing", async () => {
    const t = setup({ overrides: { samplingMs: 5_000, telemetryMs: 120_000, qos: 0 } });
    t.device.start();
    await run(t.clock, 1_000);
    const patch = async (body: unknown, ctr: number) => {
      const mac = signCommand(hmacSha256, KEY, "dev-1", "config/patch", ctr, body);
      const p = t.client.request({ method: 0x06 as never, uri: `coap://${DEVICE}:5683/config?ctr=${ctr}&mac=${mac}`, payload: JSON.stringify(body), contentFormat: 50 });
      await run(t.clock, 1_000);
      return p;
    };
    for (const [bad, ctr] of [[0, 1], [33, 2]]) {
      const res = await patch({ telemetry: { maxBatch: bad } }, ctr);
      expect(res.status).toBe("4.00");
      expect(decodeUtf8(res.payload)).toContain("telemetry.maxBatch");
      expect(t.app().config.telemetry.maxBatch).toBe(8);
    }
    const res = await patch({ telemetry: { maxBatch: 2 } }, 3);
    expect(res.status).toBe("2.04");
    expect(t.app().config.telemetry.maxBatch).toBe(2);
    await run(t.clock, 25_000);
    expect(t.sent.length).toBeGreaterThan(0);
    for (const e of t.sent) expect(e.seqs.length).toBe(2);
    expect(t.app().buffered).toBeLessThanOrEqual(2);
  });

  it("a batch that cannot go waits; past maxBuffered the buffer is thinned, counted and reported, never grown", async () => {
    // No gateway at 5999: each CON goes unanswered (RFC 7252 §4.2), its readings are kept.
    const t = setup({ overrides: { samplingMs: 5_000, telemetryMs: 120_000, qos: 1 }, provisioned: { "coap.gatewayPort": 5999, "telemetry.maxBatch": 4 }, maxBuffered: 6 });
    t.device.start();
    const most = await runWatching(t, 400_000);
    expect(most).toBeLessThanOrEqual(6);
    expect(t.sent[0].seqs).toEqual([1, 2, 3, 4]);
    for (const e of t.sent) expect(e.seqs.length).toBeLessThanOrEqual(4);
    expect(t.app().thinned).toBeGreaterThan(0);
    expect(t.logs.some((m) => /\] telemetry: cannot go out as fast as readings come \(a CoAP request in flight\): \d+ reading\(s\) thinned out so far, 6 kept$/.test(m))).toBe(true);
    // Every reading is accounted for: waiting, in the CON in flight, or thinned (none failed, none silently gone).
    const inFlight = t.app().sent;
    expect(t.app().buffered + inFlight + t.app().thinned).toBe(t.app().readings);
    expect(t.app().failed).toBe(0);
  });
});

describe("the device's CoAP resources", () => {
  it("/.well-known/core lists one observable resource per quantity and /config (RFC 6690, RFC 7641)", async () => {
    const t = setup();
    t.device.start();
    const p = t.client.get(`coap://${DEVICE}:5683/.well-known/core`);
    await run(t.clock, 2_000);
    const res = await p;
    expect(res.status).toBe("2.05");
    const links = res.text();
    for (const q of QUANTITIES) expect(links).toContain(`</sensors/${q.name}>`);
    expect(links).toMatch(/<\/sensors\/temperature>;[^,]*obs/);
    expect(links).toContain("</config>");
  });

  it("GET /sensors/temperature: 5.03 before the first reading, then the latest value as SenML", async () => {
    const t = setup();
    t.device.start();
    const early = t.client.get(`coap://${DEVICE}:5683/sensors/temperature`);
    await run(t.clock, 100);
    expect((await early).status).toBe("5.03");
    await run(t.clock, 20_000);
    const p = t.client.get(`coap://${DEVICE}:5683/sensors/temperature`, { accept: 110 });
    await run(t.clock, 1_000);
    const res = await p;
    expect(res.status).toBe("2.05");
    expect(res.contentFormat).toBe(110);
    const pack = JSON.parse(res.text());
    expect(pack[0].n).toBe("temperature");
    expect(pack[0].v).toBe(round(t.readings[t.readings.length - 1].sample.thermometer!.temperature, 2));
  });

  it("an observer of /sensors/co2 is notified when the value changes (RFC 7641 §4.2)", async () => {
    const t = setup();
    t.device.start();
    await run(t.clock, 11_000);
    const values: number[] = [];
    const types: number[] = [];
    t.client.observe({
      uri: `coap://${DEVICE}:5683/sensors/co2`,
      onNotify: (r) => {
        values.push(JSON.parse(r.text())[0].v);
        types.push(r.type);
      },
    });
    await run(t.clock, 1_000);
    t.hardware.environment.set("co2", 1500);
    await run(t.clock, 30_000);
    expect(values.length).toBeGreaterThanOrEqual(2);
    // Notifications are CON (RFC 7641 §4.5), never NON: their state ends with the ACK. (The
    // answers to the registration and to the client's re-registration are piggybacked ACKs.)
    expect(types).toContain(0);
    expect(types).not.toContain(1);
    expect(Math.abs(values[0] - 800)).toBeLessThan(5);
    expect(Math.abs(values[values.length - 1] - 1500)).toBeLessThan(10);
  });

  it("a signed config/patch over CoAP changes the sampling period the app runs at", async () => {
    const t = setup({ overrides: { qos: 0 } });
    t.device.start();
    await run(t.clock, 1_000);
    const body = { sampling: { intervalS: 2 } };
    const mac = signCommand(hmacSha256, KEY, "dev-1", "config/patch", 1, body);
    const p = t.client.request({ method: 0x06 as never, uri: `coap://${DEVICE}:5683/config?ctr=1&mac=${mac}`, payload: JSON.stringify(body), contentFormat: 50 });
    await run(t.clock, 1_000);
    const res = await p;
    expect(res.status).toBe("2.04");
    expect(t.app().config.sampling.intervalS).toBe(2);
    const before = t.readings.length;
    await run(t.clock, 20_000);
    expect(t.readings.length - before).toBeGreaterThanOrEqual(9);
  });
});

describe("SenML packs (src/senml.ts)", () => {
  const sample = { thermometer: { temperature: 21.234 }, hygrometer: { humidity: 45.678 }, barometer: { pressure: 101325.04 } };
  it("splits readings over several packs no larger than the budget, each standing alone with bn and bt", () => {
    const readings = [0, 1, 2, 3, 4].map((i) => ({ time: 1_767_225_600_000 + i * 1000, sample }));
    const whole = encodeTelemetry("dev-1", readings, "json");
    expect(whole.length).toBe(1);
    const packs = encodeTelemetry("dev-1", readings, "json", 200);
    expect(packs.length).toBeGreaterThan(1);
    let records = 0;
    for (const p of packs) {
      expect(p.length).toBeLessThanOrEqual(200);
      const pack = JSON.parse(decodeUtf8(p));
      expect(pack[0].bn).toBe("dev-1:");
      expect(typeof pack[0].bt).toBe("number");
      records += pack.length;
    }
    expect(records).toBe(15);
  });

  it("throws when one record cannot fit, rather than break the limit", () => {
    expect(() => encodeTelemetry("dev-1", [{ time: 0, sample }], "json", 20)).toThrow(SenmlSplitError);
  });

  it("a waiting reading (one array of numbers) encodes to the same bytes as the reading it was made from", () => {
    const full = { thermometer: { temperature: 21.234 }, hygrometer: { humidity: 45.678 }, barometer: { pressure: 101325.04 }, lightmeter: { illuminance: 512.34 }, carbonDioxideDetector: { CO2: 812.4 }, battery: { voltage: 3.9123 } };
    const partial = { thermometer: { temperature: 19.5 }, barometer: { pressure: NaN } };
    const values = (s: { [g: string]: { [f: string]: number } }) => QUANTITIES.map((q) => (s[q.group] && typeof s[q.group][q.field] === "number" ? s[q.group][q.field] : NaN));
    const readings = [
      { time: 1_767_225_600_000, sample: full },
      { time: 1_767_225_605_000, sample: partial },
      { time: 1_767_225_610_250, sample: full },
    ];
    const waiting = readings.map((r, i) => waitingReading(i + 1, r.time, values(r.sample)));
    expect(waiting[0].length).toBe(2 + QUANTITIES.length);
    expect(waiting[1][0]).toBe(2);
    for (const format of ["json", "cbor"] as const)
      for (const budget of [Infinity, 200]) {
        const a = encodeWaiting("dev-1", waiting, format, budget);
        const b = encodeTelemetry("dev-1", readings, format, budget);
        expect(a.map((p) => Array.from(p))).toEqual(b.map((p) => Array.from(p)));
      }
  });

  it("waiting readings in groups: one pack per group of `per` readings, each standing alone; no reading split; every record once", () => {
    const full = { thermometer: { temperature: 21.234 }, hygrometer: { humidity: 45.678 }, barometer: { pressure: 101325.04 } };
    const waiting = [0, 1, 2, 3, 4, 5, 6].map((i) => waitingReading(i + 1, 1_767_225_600_000 + i * 5000, QUANTITIES.map((q) => (q.group in full ? (full as { [g: string]: { [f: string]: number } })[q.group][q.field] : NaN))));
    const packs = encodeWaiting("dev-1", waiting, "json", 1024, 3);
    expect(packs.length).toBe(3); // 3 + 3 + 1
    const times: number[] = [];
    for (const [i, p] of packs.entries()) {
      const pack = JSON.parse(decodeUtf8(p));
      expect(pack[0].bn).toBe("dev-1:");
      expect(pack[0].bt).toBe(1_767_225_600 + i * 15);
      expect(pack.length).toBe(i < 2 ? 9 : 3); // 3 records a reading
      for (const r of pack) if (r.n === "temperature") times.push(pack[0].bt + (r.t ?? 0));
    }
    expect(times).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => 1_767_225_600 + i * 5));
    // A group still over the budget is split as before: never a message over it.
    for (const p of encodeWaiting("dev-1", waiting, "cbor", 200, 4)) expect(p.length).toBeLessThanOrEqual(200);
  });

  it("leaves the time out when the host has no wall-clock time (epoch NaN)", () => {
    const [p] = encodeTelemetry("dev-1", [{ time: NaN, sample }], "json");
    const pack = JSON.parse(decodeUtf8(p));
    expect(pack[0].bt).toBeUndefined();
    expect(pack[0].v).toBe(21.23);
  });
});

describe("the app's sleep, planned (sleep.mode \"deep\": the scheduler's SleepPolicy, docs/scheduler.md)", () => {
  const DEEP = { "sleep.mode": "deep", "sleep.awakeWindowS": 8 };
  const TEN_MIN = 600_000;

  it("a reading every 10 min over CoAP: reachable sleep.awakeWindowS after the boot, then deep sleep to the next reading, again on every wake", async () => {
    const { clock, device, received, acked, errors } = setup({ provisioned: DEEP, overrides: { samplingMs: TEN_MIN } });
    device.start();
    await run(clock, 7_900);
    expect(device.state).toBe("awake"); // the command window
    expect(received.length).toBe(1); // the boot's reading (it waits for the SCD4x's first result at ~5.5 s)
    await run(clock, 300);
    expect(device.state).toBe("asleep");
    expect(device.sleeps).toBe(1);
    const [sleep] = device.events.filter((e) => e.type === "sleep");
    // to the next reading, TEN_MIN after the boot, less the drift margin (100 ppm)
    expect(sleep.durationMs!).toBeGreaterThan(TEN_MIN - 8_200 - 100);
    expect(sleep.durationMs!).toBeLessThanOrEqual(TEN_MIN - 8_000);
    await run(clock, TEN_MIN);
    expect(device.boots).toBe(2);
    expect(device.sleeps).toBe(2);
    expect(received.length).toBe(2);
    const [first, second] = received.map((r) => senml(r)[0].bt as number);
    expect(Math.abs(second - first - 600)).toBeLessThan(1); // SenML base times, seconds: a period apart
    expect(acked.length).toBe(2); // both CON POSTs acknowledged, one per boot
    expect(errors).toEqual([]);
  });

  it("a reading every 10 s: the association is kept (light sleep), no deep sleep; every reading sent", async () => {
    const { clock, device, received } = setup({ provisioned: DEEP });
    device.start();
    await run(clock, 60_000);
    expect(device.sleeps).toBe(0);
    expect(device.boots).toBe(1);
    expect(received.length).toBeGreaterThanOrEqual(5);
  });

  it("waits for its first reading when the awake window is shorter than the slowest sensor (the measurement is a job the planner sees)", async () => {
    const { clock, device, received } = setup({ provisioned: { ...DEEP, "sleep.awakeWindowS": 1 }, overrides: { samplingMs: TEN_MIN } });
    device.start();
    await run(clock, 5_000);
    expect(device.state).toBe("awake");
    expect(received.length).toBe(0);
    await run(clock, 2_000);
    expect(received.length).toBe(1);
    expect(device.state).toBe("asleep");
  });

  it("sleep.mode \"none\" (the default) never sleeps", async () => {
    const { clock, device, received } = setup();
    device.start();
    await run(clock, 40_000);
    expect(device.sleeps).toBe(0);
    expect(device.state).toBe("awake");
    expect(received.length).toBeGreaterThanOrEqual(3);
  });
});

describe("MQTT-SN: a gateway that never answers (issue 15, MQTT-SN 1.2 §6.13)", () => {
  it("one line per CONNECT that Tretry leaves unanswered, with when the next one goes; after Nretry the give-up as one line; the readings queued", async () => {
    // Nothing listens on the gateway's port 1884 of the simulated network: every CONNECT is lost.
    const t = setup({ overrides: { samplingMs: 10_000, qos: 1 }, provisioned: { protocol: "mqttsn", "mqtt.host": GATEWAY, "mqtt.port": 1884 } });
    t.device.start();
    await run(t.clock, 55_000);
    const lines = t.errors.filter((m) => m.startsWith("mqtt: "));
    // Tretry 10 s: the CONNECT and Nretry (4) retransmissions, each unanswered; the fifth ends the procedure (§6.13).
    expect(lines.slice(0, 4)).toEqual([1, 2, 3, 4].map((n) => `mqtt: cannot connect to ${GATEWAY}:1884 (attempt ${n} failed: no answer in 10 s, MQTT-SN 1.2 §6.13 Tretry; sent again now); next attempt in 10 s`));
    expect(lines[4]).toBe(`mqtt: cannot connect to ${GATEWAY}:1884 (attempt 5 failed: no answer to 5 tries: gave up, MQTT-SN 1.2 §6.13 Nretry; connecting again now); next attempt in 10 s`);
    expect(lines).toHaveLength(5);
    const app = t.app();
    expect(app.failedAttempts).toBe(5);
    expect(app.state).toBe("offline");
    // Nothing reached a connection: what was taken is queued in the outbox, none counted sent.
    expect(app.sent).toBe(0);
    expect(app.queued).toBe(app.readings);
    expect(app.readings).toBeGreaterThanOrEqual(5);
  });
});
