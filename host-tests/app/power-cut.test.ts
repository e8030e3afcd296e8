/*
 * QoS 1 and 2 exactly as promised across deep sleeps with the power cut at random points
 * (issue 19), against mosquitto. Two devices run the app (src/app.ts) with sleep.mode deep:
 * one sends its readings at QoS 2 over MQTT 5, one at QoS 1 over MQTT 3.1.1, a reading per wake,
 * deep sleep in between. At every boot each device draws from its own seeded generator where
 * this boot loses its power: with its k-th packet (before it leaves, or right after: the bytes
 * are out, the answer never read), in the middle of its j-th flash write (FlashStore.failAfter: the write made
 * or not, the caller never told), at a moment of the wake or of the sleep after it
 * (SimDevice.powerOff: no DISCONNECT, no sleep path, RTC memory lost), or not at all; the power
 * comes back a little later (a cold boot). An MQTT.js subscriber at QoS 2 counts every reading:
 * what the device promised (written to the broker, reported by onSent) arrives; at QoS 2 exactly
 * once, at QoS 1 at least once ([MQTT-4.3.2-*], [MQTT-4.3.3-*], [MQTT-4.4.0-1]: unacknowledged
 * messages sent again from flash on the next connection, a QoS 2 one released only once).
 *
 * The cut points are seeded per device and per boot, counted in packets and flash writes, so a
 * run cuts at the same places of the same exchanges whatever the machine's load; only the timed
 * cuts land where the real clock puts them. The run is a fixed number of boots, not a duration.
 * The control keeps the MQTT outbox in RAM (lost at every boot) instead of flash: the same cuts
 * lose promised readings there, so the first test can fail.
 * Node, real sockets, real clock.
 */
import * as mqtt from "mqtt";
import { getBoard } from "../../boards/index";
import { FlashStore, PowerLossError } from "../../sim/flash-store";
import { SimDevice } from "../../sim/device";
import { TCP } from "../../sim/node/tcp";
import { RealClock } from "../../sim/node/real-clock";
import { nodeCrypto } from "../../sim/node/crypto";
import { createSimHardware } from "../../sim/hardware";
import { indoorDay } from "../../sim/scenarios";
import { Prng } from "../../sim/prng";
import type { KeyValueStore, StoredValue } from "../../modules/platform/storage";
import { startApp } from "../../src/app";
import { describeWithPeer, startMosquitto, type MosquittoPeer } from "../support/peers";
import { waitFor } from "./node-device";
import { cheapLinks } from "../support/cheap-board";

// Booting and connecting cost almost nothing on this board: the planner deep-sleeps between
// readings half a second apart (as in ./deep-sleep.test.ts).
const base = getBoard("esp32-devkitc");
const board = cheapLinks(base);
const SEED = 19;
/** The MQTT outbox's namespace in the device's storage (src/link.ts). */
const OUTBOX_NAMESPACE = "xsmqtt";

/**
 * The device's flash. When a write loses the power (FlashStore.failAfter) the device is off
 * before the caller goes on; once the device is off nothing reaches flash (the app's code that
 * was running when the power went may still try). With `ram`, the MQTT outbox's namespace lives
 * in RAM instead and is lost at every boot (the control).
 */
class CutFlash implements KeyValueStore {
  device: SimDevice | undefined = undefined;
  cuts = 0;
  constructor(
    readonly flash: FlashStore,
    readonly ram: Map<string, StoredValue> | undefined,
  ) {}
  get(ns: string, key: string): StoredValue | undefined {
    this.#alive();
    if (this.ram && ns === OUTBOX_NAMESPACE) return copy(this.ram.get(key));
    return this.flash.get(ns, key);
  }
  keys(ns: string): string[] {
    this.#alive();
    if (this.ram && ns === OUTBOX_NAMESPACE) return [...this.ram.keys()];
    return this.flash.keys(ns);
  }
  set(ns: string, key: string, value: StoredValue): void {
    this.#alive();
    if (this.ram && ns === OUTBOX_NAMESPACE) this.ram.set(key, copy(value)!);
    else this.#guard(() => this.flash.set(ns, key, value));
  }
  delete(ns: string, key: string): void {
    this.#alive();
    if (this.ram && ns === OUTBOX_NAMESPACE) this.ram.delete(key);
    else this.#guard(() => this.flash.delete(ns, key));
  }
  powerOn(): void {
    this.flash.powerOn();
  }
  #alive(): void {
    if (this.device?.state === "off") throw new PowerLossError("the device is off");
  }
  #guard(write: () => void): void {
    try {
      write();
    } catch (e) {
      if ((e as Error)?.name === "PowerLossError" && this.device?.state !== "off") {
        this.cuts++;
        this.device?.powerOff();
      }
      throw e;
    }
  }
}

function copy(v: StoredValue | undefined): StoredValue | undefined {
  return v instanceof ArrayBuffer ? v.slice(0) : v;
}

interface Counted {
  id: string;
  qos: 1 | 2;
  device: SimDevice;
  flash: CutFlash;
  clock: RealClock;
  rng: Prng;
  /** Cuts are drawn at each boot while this is set. */
  cutting: boolean;
  /** The packet of this boot the power goes with (1: the first; 0: no packet cut). */
  packetsLeft: number;
  /** The power goes before that packet leaves (it is lost), else right after (it is out, its answer never read). */
  packetLost: boolean;
  /** Reading time (ms) by boot and sequence number. */
  times: Map<string, number>;
  /** Times of the readings the device promised (onSent). */
  promised: Set<number>;
  /** Deliveries per reading time at the subscriber. */
  received: Map<number, number>;
  packetCuts: number;
  timedCuts: number;
  errors: string[];
}

interface Run {
  devices: Counted[];
  /** Schedules `fn` in `ms` (cleared at the end of the run). */
  later(ms: number, fn: () => void): void;
}

/** A cut of this boot, drawn from the device's generator; the power comes back 50-300 ms after any cut. */
function planBoot(run: Run, c: Counted): void {
  c.flash.flash.cancelFailure();
  c.packetsLeft = 0;
  if (c.flash.ram) c.flash.ram.clear(); // RAM does not survive a boot (deep sleep or power cut)
  if (!c.cutting) return;
  const r = c.rng.next();
  const k = c.rng.int(1, 6);
  const apply = c.rng.chance(0.5);
  const delayMs = c.rng.int(0, 450); // within the wake or the sleep after it (readings 500 ms apart)
  if (r < 0.3) {
    c.packetsLeft = k;
    c.packetLost = apply;
  }
  else if (r < 0.55) c.flash.flash.failAfter(k - 1, { apply });
  else if (r < 0.75) {
    const boot = c.device.boots;
    run.later(delayMs, () => {
      // Still this boot, awake or in the sleep that followed it.
      if (c.device.boots === boot && c.device.state !== "off") {
        c.timedCuts++;
        c.device.powerOff();
      }
    });
  }
}

/** Powers a device that lost its power back on 50..300 ms later (drawn from its generator). */
function reviveLater(run: Run, c: Counted): void {
  run.later(c.rng.int(50, 300), () => {
    if (c.device.state === "off") c.device.start();
  });
}

function bootDevice(run: Run, port: number, id: string, qos: 1 | 2, protocol: "mqtt311" | "mqtt5", seed: number, ramOutbox: boolean): Counted {
  const clock = new RealClock();
  const hardware = createSimHardware(board, clock, indoorDay(seed));
  const flash = new CutFlash(new FlashStore(), ramOutbox ? new Map() : undefined);
  const c: Counted = {
    id,
    qos,
    device: undefined as never,
    flash,
    clock,
    rng: new Prng(SEED * 1000 + seed),
    cutting: true,
    packetsLeft: 0,
    packetLost: false,
    times: new Map(),
    promised: new Set(),
    received: new Map(),
    packetCuts: 0,
    timedCuts: 0,
    errors: [],
  };
  /** The device's TCP: the power goes with the packet this boot's plan names, before it leaves or right after. */
  class CutTcp extends TCP {
    override write(...args: Parameters<TCP["write"]>): number {
      if (c.packetsLeft > 0 && --c.packetsLeft === 0) {
        c.packetCuts++;
        if (c.packetLost) {
          c.device.powerOff(); // what the app does after this call no longer matters
          return 0;
        }
        const left = super.write(...args);
        c.device.powerOff();
        return left;
      }
      return super.write(...args);
    }
  }
  const device = new SimDevice({
    clock,
    flash,
    crypto: nodeCrypto,
    board,
    io: { ...hardware.io, TCP: CutTcp as never },
    log: () => undefined,
    onEvent: (e) => {
      if (e.type === "power-loss") reviveLater(run, c);
    },
    app: (platform) => {
      planBoot(run, c);
      return startApp({
        platform,
        board,
        deviceId: id,
        provisioned: { "mqtt.host": "127.0.0.1", "mqtt.port": port, protocol, "telemetry.qos": 1, "sleep.mode": "deep", "sleep.awakeWindowS": 0 },
        overrides: { samplingMs: 500, coapServer: false, qos },
        onReading: (r) => c.times.set(device.boots + ":" + r.seq, r.time),
        onSent: (e) => {
          for (const s of e.seqs) {
            const t = c.times.get(device.boots + ":" + s);
            if (t !== undefined) c.promised.add(t);
          }
        },
        onError: (m) => c.errors.push(m),
      });
    },
  });
  flash.device = device;
  c.device = device;
  return c;
}

/** The readings a device promised that the subscriber has not received. */
function missing(d: Counted): number {
  return [...d.promised].filter((t) => !d.received.has(t)).length;
}

/**
 * Two devices boot `boots` times each with cuts, then run on with the power kept: `settle`
 * waits for what they promised. Returns the devices and the subscriber's counts.
 */
async function powerCutRun(port: number, ramOutbox: boolean, boots: number, settle: (devices: Counted[]) => Promise<void>): Promise<Counted[]> {
  const timers = new Set<NodeJS.Timeout>();
  const run: Run = {
    devices: [],
    later: (ms, fn) => {
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, ms);
      timers.add(t);
    },
  };
  const tag = `${ramOutbox ? "ram" : "flash"}-${Date.now() % 100000}`;
  const devices = (run.devices = [bootDevice(run, port, `cut2-${tag}`, 2, "mqtt5", 1, ramOutbox), bootDevice(run, port, `cut1-${tag}`, 1, "mqtt311", 2, ramOutbox)]);
  const sub = await mqtt.connectAsync({ host: "127.0.0.1", port, reconnectPeriod: 0, clean: true });
  sub.on("message", (topic, payload) => {
    const d = devices.find((x) => topic === `xs-iot/${x.id}/tele`);
    if (!d) return;
    let bt = 0;
    for (const r of JSON.parse(payload.toString()) as { bt?: number; t?: number; n: string }[]) {
      if (r.bt !== undefined) bt = r.bt;
      if (r.n === "temperature") {
        const t = Math.round((bt + (r.t ?? 0)) * 1000);
        d.received.set(t, (d.received.get(t) ?? 0) + 1);
      }
    }
  });
  await sub.subscribeAsync(devices.map((d) => `xs-iot/${d.id}/tele`), { qos: 2 });
  try {
    for (const d of devices) d.device.start();
    for (const d of devices)
      void waitFor(() => d.device.boots >= boots, 120_000, "boots").then(
        () => (d.cutting = false), // the boots after this one keep their power
        () => undefined,
      );
    await waitFor(() => devices.every((d) => !d.cutting && d.device.boots > boots), 120_000, `${boots} boots with cuts`, () => devices.map((d) => ({ id: d.id, boots: d.device.boots, state: d.device.state })));
    await waitFor(() => devices.every((d) => d.device.state !== "off"), 5_000, "power back");
    await settle(devices);
    return devices;
  } finally {
    for (const d of devices) d.cutting = false;
    for (const t of timers) clearTimeout(t);
    for (const d of devices) {
      if (d.device.state !== "off") d.device.stop();
      d.clock.clearAll();
    }
    await sub.endAsync();
  }
}

function summary(d: Counted): string {
  const dup = [...d.received.values()].filter((n) => n > 1).length;
  return `${d.id} (QoS ${d.qos}): ${d.device.sleeps} deep sleeps, ${d.device.boots} boots, ${d.packetCuts + d.flash.cuts + d.timedCuts} power cuts (${d.packetCuts} with a packet, ${d.flash.cuts} in a flash write, ${d.timedCuts} at a moment); readings ${d.times.size} taken, ${d.promised.size} promised, ${d.received.size} received (${missing(d)} promised missing), ${dup} more than once`;
}

const BOOTS = 40;

describeWithPeer("mosquitto", "QoS 1/2 across deep sleeps with the power cut at random points", () => {
  let broker: MosquittoPeer;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it(`seed ${SEED}, ${BOOTS} boots a device: every promised reading arrives, QoS 2 exactly once and QoS 1 at least once`, async () => {
    const devices = await powerCutRun(broker.port, false, BOOTS, (ds) =>
      waitFor(() => ds.every((d) => missing(d) === 0), 30_000, "every promised reading", () => ds.map((d) => ({ id: d.id, promised: d.promised.size, missing: missing(d), state: d.device.state, errors: d.errors.slice(-3) }))),
    );
    for (const d of devices) {
      console.log(summary(d));
      // The run did what it says: many sleeps, cuts of every kind, many readings promised.
      expect(d.device.sleeps).toBeGreaterThanOrEqual(10);
      expect(d.packetCuts).toBeGreaterThanOrEqual(3);
      expect(d.flash.cuts).toBeGreaterThanOrEqual(3);
      expect(d.timedCuts).toBeGreaterThanOrEqual(2);
      expect(d.promised.size).toBeGreaterThanOrEqual(10);
      expect(d.device.crashes).toEqual([]);
      expect(missing(d)).toBe(0);
      if (d.qos === 2) expect([...d.received.values()].filter((n) => n > 1).length).toBe(0); // exactly once
      // Every delivery is one of this device's readings (none made up).
      const taken = new Set(d.times.values());
      for (const t of d.received.keys()) expect(taken.has(t)).toBe(true);
    }
  }, 150_000);

  it("the control: with the MQTT outbox in RAM instead of flash, the same cuts lose promised readings", async () => {
    const devices = await powerCutRun(broker.port, true, BOOTS, async (ds) => {
      // Five planned deep sleeps with the power kept: each waited for its acknowledgements.
      const after = ds.map((d) => d.device.sleeps + 5);
      await waitFor(() => ds.every((d, i) => d.device.sleeps >= after[i]), 30_000, "five sleeps with the power kept");
    });
    for (const d of devices) console.log("RAM outbox: " + summary(d));
    expect(devices.reduce((n, d) => n + missing(d), 0)).toBeGreaterThan(0);
  }, 150_000);
});
