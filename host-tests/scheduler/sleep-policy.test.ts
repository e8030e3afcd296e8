// @xs
import { ESP32C3_POWER } from "../../boards/power";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { SleepPolicy, type SleepHost } from "../../modules/scheduler/sleep-policy";
import { linkCost, type LinkCost } from "../../modules/scheduler/sleep-planner";
import type { Platform } from "../../modules/platform/platform";
import { SimDevice } from "../../sim/device";
import { DeviceEnergy } from "../../sim/energy-account";
import { VirtualClock } from "../../sim/virtual-clock";

const power = ESP32C3_POWER;
const MIN = 60_000;
const HOUR = 60 * MIN;

/** A link that takes `connectMs` to come up (or never), as the app's MQTT link would. */
class FakeHost implements SleepHost {
  up = false;
  ready = false;
  opens = 0;
  closes: Array<{ sleepMs: number; deep: boolean; at: number; until: number | undefined }> = [];
  announcements: Array<{ ms: number; until: number | undefined; at: number }> = [];
  saved: number[] = [];
  prevent = false;
  constructor(
    readonly scheduler: Scheduler,
    readonly platform: Platform,
    readonly link: LinkCost,
    readonly connectMs: number | undefined,
  ) {}
  links(): readonly LinkCost[] {
    return [this.link];
  }
  linksUp(): boolean {
    return this.up;
  }
  linksReady(): boolean {
    return this.ready;
  }
  busy(): boolean {
    return this.up && !this.ready;
  }
  prevented(): boolean {
    return this.prevent;
  }
  openLinks(): void {
    this.up = true;
    this.opens++;
    if (this.connectMs !== undefined) this.scheduler.after(this.connectMs, () => (this.ready = true), { name: "connack" });
  }
  prepare(_deep: boolean): boolean {
    return false;
  }
  announced = 0;
  announce(ms: number, until: number | undefined): boolean {
    this.announced++;
    this.announcements.push({ ms, until, at: this.scheduler.now() });
    return true;
  }
  closeLinks(sleepMs: number, until: number | undefined, deep: boolean): void {
    this.up = this.ready = false;
    this.closes.push({ sleepMs, deep, at: this.scheduler.now(), until });
  }
  beforeDeepSleep(_ms: number, attempts: number): void {
    this.saved.push(attempts);
    this.platform.rtc.write(0, new Uint8Array([attempts]));
  }
  attempts(): number {
    return this.platform.power.wakeCause === "power-on" ? 0 : this.platform.rtc.read(0, 1)[0];
  }
}

interface Run {
  device: SimDevice;
  clock: VirtualClock;
  hosts: FakeHost[];
  reports: number[];
  energy: DeviceEnergy;
}

/** A device whose app reports every `periodMs` (a radio job) and samples every `sampleMs` (optional, ± 10 % with `sampleWindow`). */
function boot(o: { periodMs: number; sampleMs?: number; sampleWindow?: boolean; mode?: "none" | "light" | "deep"; connectMs?: number | undefined; prevent?: boolean; link?: LinkCost }): Run {
  const clock = new VirtualClock();
  const energy = new DeviceEnergy(power, 0);
  const hosts: FakeHost[] = [];
  const reports: number[] = [];
  const device = new SimDevice({
    clock,
    energy,
    app: (platform) => {
      const scheduler = new Scheduler({ clock: platform.clock });
      const host = new FakeHost(scheduler, platform, o.link ?? linkCost("mqtt5", power, { sessionExpiryS: 86_400 }), "connectMs" in o ? o.connectMs : 100);
      host.prevent = !!o.prevent;
      hosts.push(host);
      new SleepPolicy({ scheduler, power: platform.power, figures: power, host, mode: o.mode ?? "deep", commandWindowMs: 1000 });
      const p = o.periodMs;
      scheduler.schedule({ name: "report", deadline: platform.clock.now(), latest: platform.clock.now() + p / 10, radio: true, run: (_now, job) => {
        reports.push(clock.now());
        job.reschedule(job.deadline + p, { earliest: job.deadline + p * 0.9, latest: job.deadline + p * 1.1 });
      } });
      const q = o.sampleMs ?? 0;
      const w = o.sampleWindow ? q / 10 : 0;
      if (q) scheduler.schedule({ name: "sample", deadline: platform.clock.now() + q, earliest: platform.clock.now() + q - w, latest: platform.clock.now() + q + w, run: (_n, job) => job.reschedule(job.deadline + q, { earliest: job.deadline + q - w, latest: job.deadline + q + w }) });
    },
  });
  device.start();
  return { device, clock, hosts, reports, energy };
}

describe("SleepPolicy on a simulated device (deep sleep = reboot, light sleep = the clock jumps)", () => {
  it("one report an hour: wakes, opens the link, waits for CONNACK and the command window, closes it and deep-sleeps to the next report", () => {
    const r = boot({ periodMs: HOUR });
    r.clock.advance(5 * HOUR + MIN);
    expect(r.device.boots).toBe(6);
    expect(r.device.sleeps).toBe(6); // each boot ends in deep sleep
    expect(r.reports.length).toBe(6);
    for (let i = 1; i < r.reports.length; i++) expect(Math.abs(r.reports[i] - r.reports[i - 1] - HOUR)).toBeLessThan(HOUR / 10);
    for (const h of r.hosts) {
      expect(h.opens).toBe(1);
      expect(h.closes.length).toBe(1);
      expect(h.closes[0].deep).toBe(true);
      expect(h.announced).toBe(1); // "asleep" said once before closing
      expect(h.saved).toEqual([0]); // no give-up
    }
    // a deep sleep's figure is its wake (a boot, which hands what is pending over before its own deep sleep)
    const slept = r.device.events.filter((e) => e.type === "sleep").map((e) => e.durationMs);
    expect(r.hosts.map((h) => h.closes[0].sleepMs)).toEqual(slept);
    // the energy account: deep sleep nearly all the time, one boot and one association per hour
    const t = r.energy.totals(r.clock.now());
    expect(t.deepWakes).toBe(6);
    expect(t.stateMs.deep).toBeGreaterThan(5 * HOUR - 10 * 1000);
    expect(t.mAh).toBeLessThan(0.1);
  });

  it("a radio obligation every minute: light sleep with Wi-Fi kept, the link never closed, no deep sleep", () => {
    const r = boot({ periodMs: MIN, sampleMs: 20_000 });
    r.clock.advance(30 * MIN);
    expect(r.device.sleeps).toBe(0);
    expect(r.device.boots).toBe(1);
    expect(r.hosts[0].closes).toEqual([]);
    expect(r.reports.length).toBeGreaterThanOrEqual(30);
    const t = r.energy.totals(r.clock.now());
    expect(t.stateMs["light-wifi"]).toBeGreaterThan(29 * MIN);
  });

  it("sleep/prevent: never lets the link go, even for an hour's gap", () => {
    const r = boot({ periodMs: HOUR, prevent: true });
    r.clock.advance(2 * HOUR);
    expect(r.device.sleeps).toBe(0);
    expect(r.hosts[0].closes).toEqual([]);
  });

  it("mode none: never sleeps; mode light: lets the link go into light sleep with the radio off, never deep", () => {
    const none = boot({ periodMs: HOUR, mode: "none" });
    none.clock.advance(2 * HOUR);
    expect(none.device.sleeps).toBe(0);
    expect(none.energy.totals(none.clock.now()).stateMs.cpu).toBeGreaterThan(HOUR);
    const light = boot({ periodMs: HOUR, mode: "light" });
    light.clock.advance(2 * HOUR + MIN);
    expect(light.device.sleeps).toBe(0);
    expect(light.hosts[0].closes.map((c) => c.deep)).toEqual([false, false, false]);
    expect(light.energy.totals(light.clock.now()).stateMs.light).toBeGreaterThan(HOUR);
  });

  it("light sleep with readings between reports (radio off): 'asleep' and the close announce the time to the next report, not to the next reading; every report comes within it", () => {
    // A report every 10 min (± 1 min, a radio job), a reading every minute (no radio), MQTT-SN's
    // sleeping client: the links go after each report and the readings between run with them
    // closed, so the sleep Duration the gateway gets (§6.14) must reach the next report.
    const r = boot({ periodMs: 10 * MIN, sampleMs: MIN, sampleWindow: true, mode: "light", link: linkCost("mqttsn", power) });
    r.clock.advance(40 * MIN + 30_000);
    const h = r.hosts[0];
    expect(r.device.boots).toBe(1);
    expect(r.reports.length).toBe(5);
    expect(h.closes.length).toBe(5); // after each report
    expect(h.announcements.length).toBe(5);
    for (let i = 0; i < 4; i++) {
      const c = h.closes[i];
      const a = h.announcements[i];
      const next = r.reports[i + 1]; // the next radio wake (the links open for it)
      expect(c.deep).toBe(false);
      expect(c.sleepMs).toBeGreaterThan(8 * MIN); // before: ~1 min, the next reading
      expect(c.at + c.sleepMs).toBeGreaterThanOrEqual(next);
      expect(c.until).toBe(c.at + c.sleepMs);
      expect(a.at + a.ms).toBeGreaterThanOrEqual(next);
      expect(a.until).toBe(a.at + a.ms);
      // not past the report's window (its latest with the drift margin): 11 min after the one before
      expect(c.at + c.sleepMs).toBeLessThanOrEqual(r.reports[i] + 11 * MIN);
    }
    // the readings between ran with the links closed: light sleeps with the radio off, no open but the reports'
    expect(h.opens).toBe(5);
  });

  it("give-up: a link that never comes up is given up after 30 s; deep sleep with a back-off that doubles per failed wake (counted in RTC memory)", () => {
    const r = boot({ periodMs: 10_000, connectMs: undefined });
    r.clock.advance(31_000);
    expect(r.device.sleeps).toBe(1);
    expect(r.hosts[0].saved).toEqual([1]);
    r.clock.advance(60_000 + 31_000); // back-off 60 s, then another 30 s try
    expect(r.device.sleeps).toBe(2);
    expect(r.hosts[1].saved).toEqual([2]);
    const events = r.device.events.filter((e) => e.type === "sleep").map((e) => e.durationMs);
    expect(events).toEqual([60_000, 120_000]);
    // an hourly report: the next report is later than the back-off, so the device sleeps to it
    const hourly = boot({ periodMs: HOUR, connectMs: undefined });
    hourly.clock.advance(31_000);
    const [slept] = hourly.device.events.filter((e) => e.type === "sleep").map((e) => e.durationMs ?? 0);
    expect(slept).toBeGreaterThan(59 * MIN);
    expect(slept).toBeLessThanOrEqual(HOUR);
  });
});
