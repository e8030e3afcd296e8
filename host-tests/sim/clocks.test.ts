import { Scheduler } from "../../modules/scheduler/scheduler";
import { SimDevice } from "../../sim/device";
import { FastForward } from "../../sim/node/fast-forward";
import { RealClock } from "../../sim/node/real-clock";
import { SimNetwork } from "../../sim/udp-network";
import { FIRES_TARGETS, VirtualClock } from "../../sim/virtual-clock";
import { delay } from "./node-helpers";

describe("RealClock", () => {
  it("now() is monotonic whole ms from construction; epoch() is Date.now()", async () => {
    const clock = new RealClock();
    const t0 = clock.now();
    expect(t0).toBeGreaterThanOrEqual(0);
    expect(t0).toBeLessThan(50);
    await delay(30);
    const t1 = clock.now();
    expect(t1 - t0).toBeGreaterThanOrEqual(25);
    expect(Number.isInteger(t1)).toBe(true);
    expect(Math.abs(clock.epoch() - Date.now())).toBeLessThan(5);
  });

  it("fires a timer after its delay, not before; clearTimer cancels", async () => {
    const clock = new RealClock();
    const fired: number[] = [];
    clock.setTimer(() => fired.push(clock.now()), 40);
    const cancelled = clock.setTimer(() => fired.push(-1), 20);
    clock.clearTimer(cancelled);
    expect(clock.pending).toBe(1);
    await delay(80);
    expect(fired).toHaveLength(1);
    expect(fired[0]).toBeGreaterThanOrEqual(38);
    expect(clock.pending).toBe(0);
  });

  it("drives the scheduler in real time", async () => {
    const clock = new RealClock();
    const scheduler = new Scheduler({ clock });
    const ran: number[] = [];
    scheduler.after(30, (now) => ran.push(now));
    await delay(70);
    expect(ran).toHaveLength(1);
    expect(ran[0]).toBeGreaterThanOrEqual(29);
  });

  it("reports a throwing callback to onError; clearAll cancels everything", async () => {
    const errors: unknown[] = [];
    const clock = new RealClock({ onError: (e) => errors.push(e), unref: true });
    clock.setTimer(() => {
      throw new Error("x");
    }, 1);
    let late = false;
    clock.setTimer(() => (late = true), 30);
    await delay(10);
    clock.clearAll();
    await delay(40);
    expect(errors).toHaveLength(1);
    expect(late).toBe(false);
  });
});

describe("timer targets: the simulator's clocks call target.fire() (no bound function per timer)", () => {
  class Target {
    fired: number[] = [];
    constructor(readonly clock: { now(): number }) {}
    fire(this: Target) {
      this.fired.push(this.clock.now());
    }
  }

  it("VirtualClock fires a target with itself as this, in order with function callbacks; cleared targets do not fire", () => {
    const clock = new VirtualClock();
    expect((clock as unknown as { [FIRES_TARGETS]: boolean })[FIRES_TARGETS]).toBe(true);
    const order: string[] = [];
    const a = new Target(clock);
    const b = new Target(clock);
    clock.setTimer(a as never, 20);
    clock.setTimer(() => order.push("fn@10"), 10);
    clock.clearTimer(clock.setTimer(b as never, 5));
    clock.advance(30);
    expect(a.fired).toEqual([20]);
    expect(b.fired).toEqual([]);
    expect(order).toEqual(["fn@10"]);
    expect(() => clock.setTimer({ fire: 1 } as never, 1)).toThrow(TypeError);
    expect(() => clock.setTimer({} as never, 1)).toThrow(TypeError);
  });

  it("RealClock fires a target with itself as this; a SimDevice on it arms no bound function per timer", async () => {
    const clock = new RealClock();
    expect((clock as unknown as { [FIRES_TARGETS]: boolean })[FIRES_TARGETS]).toBe(true);
    const t = new Target(clock);
    clock.setTimer(t as never, 5);
    expect(() => clock.setTimer(null as never, 1)).toThrow(TypeError);
    const ticks: number[] = [];
    const device = new SimDevice({ clock, app: (p) => void p.clock.setTimer(() => ticks.push(1), 10) });
    device.start();
    await delay(40);
    expect(t.fired).toHaveLength(1);
    expect(ticks).toEqual([1]);
    device.stop();
    clock.clearAll();
  });
});

describe("FastForward: virtual time as fast as possible", () => {
  const drivers: FastForward[] = [];
  const track = (d: FastForward) => (drivers.push(d), d);
  afterEach(() => drivers.splice(0).forEach((d) => d.stop()));

  it("runs a day of device life (deep sleep every 10 minutes) in well under a second of real time", async () => {
    const clock = new VirtualClock();
    const device = new SimDevice({
      clock,
      app: (p) => {
        const scheduler = new Scheduler({ clock: p.clock });
        scheduler.after(2000, () => p.power.deepSleep(598_000));
      },
    }).start();
    const driver = track(new FastForward({ clock }));
    const started = Date.now();
    await driver.runUntil(() => clock.now() >= 86_400_000);
    driver.stop();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(device.sleeps).toBe(144);
    expect(device.awakeMs).toBe(144 * 2000);
    expect(driver.jumps).toBeGreaterThanOrEqual(288);
  });

  it("delivers simulated-network traffic in virtual time (no holds needed)", async () => {
    const clock = new VirtualClock();
    const net = new SimNetwork({ clock, latencyMs: 150 });
    const got: number[] = [];
    const server = new (net.host("10.0.0.1").UDP)({
      port: 5683,
      onReadable() {
        const p = this.read()!;
        this.write(p, p.address, p.port);
      },
    });
    const client = new (net.host("10.0.0.2").UDP)({ onReadable: () => got.push(clock.now()) });
    const driver = track(new FastForward({ clock }));
    client.write(Uint8Array.of(1), "10.0.0.1", 5683);
    await driver.runUntil(() => got.length > 0);
    driver.stop();
    expect(got).toEqual([300]);
    server.close();
    client.close();
  });

  it("does not move time while a hold (real IO in flight) is outstanding", async () => {
    const clock = new VirtualClock();
    let fired = false;
    clock.setTimer(() => (fired = true), 1000);
    const driver = track(new FastForward({ clock }));
    const release = driver.hold();
    driver.start();
    await delay(30);
    expect(clock.now()).toBe(0);
    expect(fired).toBe(false);
    release();
    await delay(30);
    driver.stop();
    expect(fired).toBe(true);
    expect(clock.now()).toBe(1000);
  });

  it("waits for real IO between virtual timers (isBusy)", async () => {
    const clock = new VirtualClock();
    let busy = true;
    const driver = track(new FastForward({ clock, isBusy: () => busy }));
    clock.setTimer(() => {}, 10);
    driver.start();
    await delay(20);
    expect(clock.now()).toBe(0);
    busy = false;
    await delay(20);
    driver.stop();
    expect(clock.now()).toBe(10);
  });

  it("runFor advances exactly that far even with no timers; runUntil rejects past its limit", async () => {
    const clock = new VirtualClock();
    const driver = track(new FastForward({ clock }));
    try {
      let fired = 0;
      clock.setTimer(() => fired++, 3000);
      await driver.runFor(5000);
      expect(clock.now()).toBe(5000);
      expect(fired).toBe(1);
      await expect(driver.runUntil(() => false, 1000)).rejects.toThrow("virtual time limit");
      expect(clock.now()).toBe(6000);
    } finally {
      driver.stop();
    }
  });

  it("rejects bad options", () => {
    expect(() => new FastForward({} as never)).toThrow(TypeError);
    expect(() => new FastForward({ clock: new VirtualClock(), idleTurns: 0 })).toThrow(RangeError);
  });
});
