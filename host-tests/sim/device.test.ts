// @xs
import type { TcpOptions } from "../../modules/platform/io";
import { Prng } from "../../sim/prng";
import { FlashStore } from "../../sim/flash-store";
import { SimDevice, SleepSignal, createSimPlatform } from "../../sim/device";
import type { SimPlatform } from "../../sim/device";
import { I2cBus, RegisterPeripheral } from "../../sim/i2c";
import { SimRtcMemory } from "../../sim/rtc-memory";
import { SimNetwork } from "../../sim/udp-network";
import { VirtualClock } from "../../sim/virtual-clock";

/** A TCP stand-in whose callbacks the test fires by hand (like a socket event arriving late). */
class FakeTcp {
  static all: FakeTcp[] = [];
  options: TcpOptions;
  closed = false;
  closes = 0;
  format = "buffer";
  constructor(options: TcpOptions) {
    this.options = options;
    FakeTcp.all.push(this);
  }
  fireReadable(n: number) {
    this.options.onReadable?.call(this as never, n);
  }
  read() {
    return undefined;
  }
  write() {
    return 0;
  }
  close() {
    this.closed = true;
    this.closes++;
  }
}

function makeDevice(app: (p: SimPlatform) => unknown, extra: object = {}) {
  const clock = new VirtualClock();
  const flash = new FlashStore();
  const rtc = new SimRtcMemory(64);
  const device = new SimDevice({ app: app as never, clock, flash, rtc, io: { TCP: FakeTcp as never }, ...extra });
  return { clock, flash, rtc, device };
}

describe("SimDevice: boot", () => {
  it("boots the app with a fresh Platform and wakeCause power-on", () => {
    const seen: SimPlatform[] = [];
    const { device } = makeDevice((p) => void seen.push(p));
    device.start();
    expect(seen).toHaveLength(1);
    expect(seen[0].power.wakeCause).toBe("power-on");
    expect(seen[0].bootCount).toBe(1);
    expect(device.state).toBe("awake");
    expect(device.boots).toBe(1);
    expect(device.platform).toBe(seen[0]);
    expect(() => device.start()).toThrow("cannot start");
  });

  it("cold boot zeroes RTC memory but keeps flash", () => {
    const { device, rtc, flash } = makeDevice(() => {});
    rtc.write(0, Uint8Array.of(7));
    flash.set("ns", "k", 1);
    device.start();
    expect(rtc.read(0, 1)[0]).toBe(0);
    expect(flash.get("ns", "k")).toBe(1);
  });

  it("clock.now() counts from this boot, like the chip's tick counter", () => {
    const nows: number[] = [];
    const { device, clock } = makeDevice((p) => {
      nows.push(p.clock.now());
      if (p.power.wakeCause === "power-on") p.clock.setTimer(() => p.power.deepSleep(1000), 300);
    });
    clock.advance(50);
    device.start();
    clock.advance(2000);
    expect(nows).toEqual([0, 0]);
    expect(device.platform!.clock.now()).toBe(2050 - 1350);
  });

  it("logs through platform.log with the device name, boot number and uptime", () => {
    const lines: string[] = [];
    const { device, clock } = makeDevice((p) => p.clock.setTimer(() => p.log("hello"), 25), { name: "node-7", log: (l: string) => lines.push(l), logLimit: 10 });
    device.start();
    clock.advance(25);
    expect(lines).toEqual(["[node-7 #1 +25ms] hello"]);
    expect(device.logs).toEqual(lines);
  });

  it("keeps no log lines unless logLimit asks for them; then the newest logLimit", () => {
    const lines: string[] = [];
    const quiet = makeDevice((p) => p.clock.setTimer(() => ["a", "b", "c"].forEach((m) => p.log(m)), 5), { log: (l: string) => lines.push(l) });
    quiet.device.start();
    quiet.clock.advance(5);
    expect(lines).toHaveLength(3); // the sink gets every line
    expect(quiet.device.logLimit).toBe(0);
    expect(quiet.device.logs).toEqual([]);
    const kept = makeDevice((p) => p.clock.setTimer(() => ["a", "b", "c"].forEach((m) => p.log(m)), 5), { name: "k", logLimit: 2 });
    kept.device.start();
    kept.clock.advance(5);
    expect(kept.device.logs).toEqual(["[k #1 +5ms] b", "[k #1 +5ms] c"]);
  });

  it.each([[-1], [1.5], [NaN]])("rejects logLimit %p", (limit) => {
    expect(() => makeDevice(() => {}, { logLimit: limit })).toThrow(RangeError);
  });

  it("randomFill is deterministic for a seed; hmacSha256 is the portable one", () => {
    const draw = (seed: number) => {
      let bytes: Uint8Array | undefined;
      makeDevice((p) => void (bytes = p.crypto.randomFill(new Uint8Array(8))), { seed }).device.start();
      return Array.from(bytes!);
    };
    expect(draw(1)).toEqual(draw(1));
    expect(draw(1)).not.toEqual(draw(2));
    // the bytes of Prng(seed), across calls and for seeds past 2^31 and negative ones
    for (const seed of [1, 0x5eed, 0x9000_0001, -7, 2 ** 40 + 3]) expect(draw(seed)).toEqual(Array.from(new Prng(seed).fill(new Uint8Array(8))));
    let two: number[] = [];
    makeDevice((p) => void (two = [...p.crypto.randomFill(new Uint8Array(5)), ...p.crypto.randomFill(new Uint8Array(3))]), { seed: 9 }).device.start();
    const g = new Prng(9);
    expect(two).toEqual([...g.fill(new Uint8Array(5)), ...g.fill(new Uint8Array(3))]);
    const kit = createSimPlatform();
    expect(kit.platform.crypto.hmacSha256(new Uint8Array(1), new Uint8Array(1))).toHaveLength(32);
    expect(() => kit.platform.crypto.randomFill([] as never)).toThrow(TypeError);
  });

  it("reports a missing IO class clearly", () => {
    const { platform } = createSimPlatform();
    expect(() => new platform.io.TCP({ address: "10.0.0.1", port: 1 })).toThrow("no TCP");
  });
});

describe("SimDevice: deep sleep behaves like the chip", () => {
  function sleeper() {
    const log: string[] = [];
    const app = (p: SimPlatform) => {
      const ram = { counter: 0 }; // RAM: new on every boot
      const stored = (p.storage.get("app", "boots") as number | undefined) ?? 0;
      p.storage.set("app", "boots", stored + 1);
      const rtcCount = p.rtc.read(0, 1)[0];
      p.rtc.write(0, Uint8Array.of(rtcCount + 1));
      log.push(`${p.power.wakeCause} flash=${stored + 1} rtc=${rtcCount + 1} ram=${++ram.counter} t=${p.clock.now()}`);
      p.clock.setTimer(() => log.push("old timer fired"), 500);
      p.clock.setTimer(() => {
        p.power.deepSleep(10_000);
        log.push("code after deepSleep ran");
      }, 100);
    };
    return { log, app };
  }

  it("drops RAM, keeps flash and RTC memory, wakes after the duration with cause deep-sleep", () => {
    const { log, app } = sleeper();
    const { device, clock } = makeDevice(app);
    device.start();
    clock.advance(100);
    expect(device.state).toBe("asleep");
    clock.advance(9_999);
    expect(log).toHaveLength(1);
    clock.advance(1);
    expect(device.state).toBe("awake");
    expect(log).toEqual(["power-on flash=1 rtc=1 ram=1 t=0", "deep-sleep flash=2 rtc=2 ram=1 t=0"]);
    expect(device.sleeps).toBe(1);
    expect(device.boots).toBe(2);
  });

  it("the old instance's timers never fire and code after deepSleep() never runs", () => {
    const { log, app } = sleeper();
    const { device, clock } = makeDevice(app);
    device.start();
    clock.advance(100 + 10_000 + 99);
    expect(log.filter((l) => l === "old timer fired")).toEqual([]);
    expect(log.filter((l) => l === "code after deepSleep ran")).toEqual([]);
    expect(clock.pending).toBe(2); // only the second boot's two timers
  });

  it("deepSleep throws a SleepSignal out of the call", () => {
    const { platform, device } = createSimPlatform();
    let caught: unknown;
    try {
      platform.power.deepSleep(5);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(SleepSignal);
    expect((caught as SleepSignal).kind).toBe("deep-sleep");
    expect((caught as SleepSignal).isSleepSignal).toBe(true);
    expect(device.state).toBe("asleep");
  });

  it("closes the sockets and I2C instances the old instance opened; their late callbacks are no-ops", () => {
    FakeTcp.all = [];
    const bus = new I2cBus();
    bus.attach(0x44, new RegisterPeripheral());
    const readable: number[] = [];
    let i2c: { read(n: number): ArrayBuffer } | undefined;
    const { device, clock } = makeDevice(
      (p) => {
        new p.io.TCP({ address: "10.0.0.1", port: 1883, onReadable: (n) => readable.push(n) });
        i2c = new p.io.I2C({ data: 21, clock: 22, hz: 100000, address: 0x44 });
        if (p.power.wakeCause === "power-on") p.clock.setTimer(() => p.power.deepSleep(50), 10);
      },
      { io: { TCP: FakeTcp as never, I2C: bus.I2C } },
    );
    device.start();
    const [first] = FakeTcp.all;
    const firstI2c = i2c!;
    first.fireReadable(3);
    expect(readable).toEqual([3]);
    clock.advance(10);
    expect(first.closed).toBe(true);
    expect(() => firstI2c.read(1)).toThrow("closed");
    first.fireReadable(4); // a late event from the network stack
    expect(readable).toEqual([3]);
    clock.advance(50);
    expect(FakeTcp.all).toHaveLength(2);
    expect(FakeTcp.all[1].closed).toBe(false);
  });

  it("a UDP socket of the old instance is closed: datagrams to it are unreachable", () => {
    const clock = new VirtualClock();
    const network = new SimNetwork({ clock, latencyMs: 20 });
    const got: string[] = [];
    const { device } = createSimPlatform({ clock, network });
    void device;
    const device2 = new SimDevice({
      clock,
      io: { UDP: network.host("10.0.0.5").UDP },
      app: (p) => {
        new p.io.UDP({ port: 5683, onReadable: () => got.push(p.power.wakeCause) });
        if (p.power.wakeCause === "power-on") p.clock.setTimer(() => p.power.deepSleep(100), 5);
      },
    }).start();
    const peer = new (network.host("10.0.0.9").UDP)({});
    peer.write(Uint8Array.of(1), "10.0.0.5", 5683); // arrives at t=20, while asleep
    clock.advance(200);
    expect(got).toEqual([]);
    expect(network.counters.unreachable).toBe(1);
    peer.write(Uint8Array.of(2), "10.0.0.5", 5683); // the new boot bound the port again
    clock.advance(20);
    expect(got).toEqual(["deep-sleep"]);
    expect(device2.boots).toBe(2);
  });

  it("an old instance that swallowed the SleepSignal can arm no timer and open no IO", () => {
    let fired = false;
    let openError: unknown;
    const { device, clock } = makeDevice((p) => {
      if (p.power.wakeCause !== "power-on") return;
      try {
        p.power.deepSleep(1000);
      } catch {
        // a careless app
      }
      p.clock.setTimer(() => (fired = true), 10);
      try {
        new p.io.TCP({ address: "10.0.0.1", port: 1 });
      } catch (e) {
        openError = e;
      }
    });
    device.start();
    clock.advance(500);
    expect(fired).toBe(false);
    expect(openError).toBeInstanceOf(SleepSignal);
    expect(clock.pending).toBe(1); // only the wake-up
  });

  it("rejects a bad duration without sleeping", () => {
    const { platform, device } = createSimPlatform();
    expect(() => platform.power.deepSleep(-1)).toThrow(RangeError);
    expect(() => platform.power.deepSleep(NaN)).toThrow(RangeError);
    expect(device.state).toBe("awake");
  });

  it("wake() is an external wake-up before the timer", () => {
    const causes: string[] = [];
    const { device, clock } = makeDevice((p) => {
      causes.push(p.power.wakeCause);
      if (p.power.wakeCause === "power-on") p.clock.setTimer(() => p.power.deepSleep(60_000), 1);
    });
    device.start();
    clock.advance(1000);
    device.wake();
    expect(causes).toEqual(["power-on", "external"]);
    clock.advance(120_000);
    expect(causes).toEqual(["power-on", "external"]);
    expect(() => device.wake()).toThrow("cannot wake");
  });

  it("accounts time awake and asleep (for battery estimates)", () => {
    const { device, clock } = makeDevice((p) => p.clock.setTimer(() => p.power.deepSleep(900), 100));
    device.start();
    clock.advance(3000); // 3 cycles of 100 awake + 900 asleep
    expect(device.awakeMs).toBe(300);
    expect(device.asleepMs).toBe(2700);
    expect(device.sleeps).toBe(3);
    expect(device.events.filter((e) => e.type === "boot").map((e) => e.at)).toEqual([0, 1000, 2000, 3000]);
  });
});

describe("SimDevice: restart, crash, power loss, stop", () => {
  it("restart() reboots with cause restart and keeps RTC memory", () => {
    const causes: string[] = [];
    const { device, clock, rtc } = makeDevice((p) => {
      causes.push(p.power.wakeCause);
      if (p.power.wakeCause === "power-on") {
        p.rtc.write(0, Uint8Array.of(42));
        p.clock.setTimer(() => p.power.restart(), 10);
      }
    });
    device.start();
    clock.advance(10);
    expect(causes).toEqual(["power-on", "restart"]);
    expect(rtc.read(0, 1)[0]).toBe(42);
    expect(device.restarts).toBe(1);
  });

  it("an exception escaping a timer callback is a crash: recorded, and the device reboots (watchdog)", () => {
    const causes: string[] = [];
    const { device, clock } = makeDevice((p) => {
      causes.push(p.power.wakeCause);
      if (p.bootCount === 1) p.clock.setTimer(() => { throw new Error("boom"); }, 10);
    });
    device.start();
    clock.advance(10);
    expect(device.crashes).toHaveLength(1);
    expect(device.crashes[0].message).toBe("Error: boom");
    expect(device.crashes[0].bootCount).toBe(1);
    expect(causes).toEqual(["power-on", "watchdog"]);
    expect(device.state).toBe("awake");
  });

  it("a crash in an IO callback or in the app entry reboots too", () => {
    FakeTcp.all = [];
    const causes: string[] = [];
    const { device, clock } = makeDevice((p) => {
      causes.push(p.power.wakeCause);
      if (p.bootCount === 1) new p.io.TCP({ address: "10.0.0.1", port: 1, onReadable: () => { throw new TypeError("bad"); } });
      if (p.bootCount === 2) throw new Error("entry");
    }, { rebootDelayMs: 300 });
    device.start();
    FakeTcp.all[0].fireReadable(1);
    expect(device.state).toBe("rebooting");
    expect(FakeTcp.all[0].closed).toBe(true);
    clock.advance(300);
    clock.advance(300);
    expect(causes).toEqual(["power-on", "watchdog", "watchdog"]);
    expect(device.crashes.map((c) => c.message)).toEqual(["TypeError: bad", "Error: entry"]);
  });

  it("an async entry's rejection is a crash", async () => {
    const { device } = makeDevice(async (p: SimPlatform) => {
      await Promise.resolve();
      if (p.bootCount === 1) throw new Error("async");
    });
    device.start();
    await Promise.resolve();
    await Promise.resolve();
    await Promise.resolve();
    expect(device.crashes.map((c) => c.message)).toEqual(["Error: async"]);
  });

  it("halts after maxCrashes instead of crash-looping", () => {
    const { device, clock } = makeDevice(() => { throw new Error("always"); }, { maxCrashes: 5 });
    device.start();
    clock.runAll();
    expect(device.state).toBe("halted");
    expect(device.crashes).toHaveLength(5);
    expect(device.boots).toBe(5);
  });

  it("a PowerLossError from flash turns the device off; start() is a cold boot with the flash as it was", () => {
    const causes: string[] = [];
    const { device, clock, flash } = makeDevice((p) => {
      causes.push(p.power.wakeCause);
      p.clock.setTimer(() => {
        p.storage.set("cfg", "a", 1);
        p.storage.set("cfg", "b", 2);
      }, 10);
    });
    (flash as FlashStore).failAfter(1);
    device.start();
    clock.advance(10);
    expect(device.state).toBe("off");
    expect(device.crashes).toHaveLength(0);
    clock.advance(1000);
    expect(causes).toEqual(["power-on"]);
    device.start();
    expect(causes).toEqual(["power-on", "power-on"]);
    expect(flash.get("cfg", "a")).toBe(1);
    expect(flash.get("cfg", "b")).toBeUndefined();
  });

  it("stop() calls the instance's stop() and tears everything down", () => {
    let stopped = 0;
    let fired = false;
    const { device, clock } = makeDevice((p) => {
      p.clock.setTimer(() => (fired = true), 10);
      return { stop: () => stopped++ };
    });
    device.start();
    device.stop();
    clock.advance(100);
    expect(stopped).toBe(1);
    expect(fired).toBe(false);
    expect(device.state).toBe("off");
    expect(device.platform).toBeUndefined();
  });

  it("powerOff() inside the app's own call: nothing of that boot runs or stays open afterwards; start() is a cold boot", () => {
    const causes: string[] = [];
    let after = 0;
    let socket: FakeTcp | undefined;
    let closedInside: boolean | undefined;
    const { device, clock, rtc } = makeDevice((p) => {
      causes.push(p.power.wakeCause);
      p.rtc.write(0, Uint8Array.of(7));
      socket = new p.io.TCP!({ address: "10.0.0.9", port: 1883, onReadable() {} } as never) as never;
      p.clock.setTimer(() => {
        device.powerOff(); // the supply dies in the middle of this callback
        p.clock.setTimer(() => after++, 1); // a boot that is gone arms nothing
        closedInside = socket!.closed; // its socket is closed before the callback goes on
      }, 5);
      p.clock.setTimer(() => after++, 50);
    });
    device.start();
    clock.advance(5);
    expect(device.state).toBe("off");
    expect(device.events.map((e) => e.type)).toEqual(["boot", "power-loss"]);
    clock.advance(1000);
    expect(after).toBe(0);
    expect(closedInside).toBe(true);
    device.powerOff(); // already off: nothing
    device.start();
    expect(causes).toEqual(["power-on", "power-on"]);
    expect(rtc.read(0, 1)[0]).toBe(7); // written again by the new boot; the cold boot zeroed it first
    expect(device.crashes).toEqual([]);
  });

  it("powerCycle() is a cold boot from any state", () => {
    const causes: string[] = [];
    const { device, clock, rtc } = makeDevice((p) => {
      causes.push(p.power.wakeCause);
      p.rtc.write(0, Uint8Array.of(9));
      p.clock.setTimer(() => p.power.deepSleep(1000), 1);
    });
    device.start();
    clock.advance(1);
    device.powerCycle();
    expect(causes).toEqual(["power-on", "power-on"]);
    clock.advance(2000);
    expect(causes).toEqual(["power-on", "power-on", "deep-sleep"]);
    expect(rtc.read(0, 1)[0]).toBe(9);
  });

  it("rejects bad options", () => {
    expect(() => new SimDevice({} as never)).toThrow(TypeError);
    expect(() => new SimDevice({ app: () => {} } as never)).toThrow("clock");
    expect(() => new SimDevice({ app: () => {}, clock: new VirtualClock(), rebootDelayMs: -1 })).toThrow(RangeError);
  });
});

describe("SimDevice: the platform objects of a boot", () => {
  it("an IO instance the app closed is closed once: teardown does not close it again, and still closes the others", () => {
    FakeTcp.all = [];
    const { device, clock } = makeDevice((p) => {
      if (p.power.wakeCause !== "power-on") return;
      const a = new p.io.TCP({ address: "10.0.0.1", port: 1 });
      new p.io.TCP({ address: "10.0.0.1", port: 2 });
      a.close();
      p.clock.setTimer(() => p.power.deepSleep(50), 10);
    });
    device.start();
    const [a, b] = FakeTcp.all;
    expect(a.closes).toBe(1);
    expect(b.closes).toBe(0);
    clock.advance(10);
    expect(a.closes).toBe(1);
    expect(b.closes).toBe(1);
  });

  it("an IO instance that cannot be extended is still closed at teardown", () => {
    let closes = 0;
    class Frozen {
      constructor() {
        Object.freeze(this);
      }
      close() {
        closes++;
      }
    }
    const { device, clock } = makeDevice((p) => {
      if (p.power.wakeCause !== "power-on") return;
      new p.io.TCP({ address: "10.0.0.1", port: 1 });
      p.clock.setTimer(() => p.power.deepSleep(50), 10);
    }, { io: { TCP: Frozen as never } });
    device.start();
    clock.advance(10);
    expect(closes).toBe(1);
  });

  it("IO callbacks reach the app with the instance (or the options a Base calls them on) as this, and only while the boot lives", () => {
    const seen: unknown[] = [];
    const { device, clock } = makeDevice((p) => {
      if (p.power.wakeCause !== "power-on") return;
      const tcp = new p.io.TCP({
        address: "10.0.0.1",
        port: 1,
        onReadable(this: unknown, n: number) {
          seen.push([this === tcp ? "instance" : this === FakeTcp.all[FakeTcp.all.length - 1].options ? "options" : "other", n]);
        },
      });
      p.clock.setTimer(() => p.power.deepSleep(50), 10);
    });
    FakeTcp.all.length = 0;
    device.start();
    const fake = FakeTcp.all[0];
    fake.fireReadable(1);
    const guarded = fake.options.onReadable as unknown as (this: unknown, n: number) => void;
    guarded.call(fake.options, 2);
    expect(seen).toEqual([["instance", 1], ["options", 2]]);
    expect(() => guarded.call(undefined, 3)).toThrow("without its instance as this");
    expect(() => guarded.call({}, 3)).toThrow("ECMA-419");
    clock.advance(10); // deep sleep: the boot is gone
    fake.fireReadable(4);
    expect(seen).toHaveLength(2);
  });

  it("a frozen IO instance's callbacks are still guarded and it is still closed at teardown", () => {
    const got: number[] = [];
    let fire: ((n: number) => void) | undefined;
    let closes = 0;
    class FrozenTcp {
      constructor(options: TcpOptions) {
        fire = (n) => options.onReadable!.call(this as never, n);
        Object.freeze(this);
      }
      close() {
        closes++;
      }
    }
    const { device, clock } = makeDevice((p) => {
      if (p.power.wakeCause !== "power-on") return;
      new p.io.TCP({ address: "10.0.0.1", port: 1, onReadable: (n) => got.push(n) });
      p.clock.setTimer(() => p.power.deepSleep(50), 10);
    }, { io: { TCP: FrozenTcp as never } });
    device.start();
    fire!(1);
    clock.advance(10);
    expect(closes).toBe(1);
    fire!(2);
    expect(got).toEqual([1]);
  });

  it("an IO instance whose close() is its own property (not its class's) is closed through it, by the app or at teardown", () => {
    const closed: string[] = [];
    class OwnClose {
      close: () => void;
      constructor(options: { address: string }) {
        this.close = () => closed.push(options.address);
      }
    }
    const { device, clock } = makeDevice((p) => {
      if (p.power.wakeCause !== "power-on") return;
      new p.io.TCP({ address: "10.0.0.1", port: 1 }).close();
      new p.io.TCP({ address: "10.0.0.2", port: 1 });
      p.clock.setTimer(() => p.power.deepSleep(50), 10);
    }, { io: { TCP: OwnClose as never } });
    device.start();
    expect(closed).toEqual(["10.0.0.1"]);
    clock.advance(10);
    expect(closed).toEqual(["10.0.0.1", "10.0.0.2"]);
  });

  it("an IO constructor that throws leaves nothing tracked", () => {
    let made = 0;
    let closes = 0;
    class Picky {
      constructor(options: { port: number }) {
        if (options.port !== 1) throw new RangeError("bad port");
        made++;
      }
      close() {
        closes++;
      }
    }
    const { device } = makeDevice((p) => {
      expect(() => new p.io.TCP({ address: "10.0.0.1", port: 2 })).toThrow(RangeError);
      new p.io.TCP({ address: "10.0.0.1", port: 1 });
    }, { io: { TCP: Picky as never } });
    device.start();
    expect(made).toBe(1);
    device.stop();
    expect(device.state).toBe("off");
    expect(closes).toBe(1);
  });

  it("an IO constructor is the same function for the whole boot and a new one after a reboot; TLS and Analog read undefined when the device has none", () => {
    const { device } = makeDevice(() => {});
    device.start();
    const p = device.platform!;
    expect(p.io.TCP).toBe(p.io.TCP);
    expect(p.io.UDP).toBe(p.io.UDP);
    expect(p.io.TLS).toBeUndefined();
    expect(p.io.Analog).toBeUndefined();
    expect(() => new p.io.UDP({ port: 1 })).toThrow("no UDP");
    device.powerCycle();
    const q = device.platform!;
    expect(q.io.TCP).not.toBe(p.io.TCP);
    expect(() => new p.io.TCP({ address: "10.0.0.1", port: 1 })).toThrow(SleepSignal); // the old boot's constructor
    expect(q.io.TCP).toBe(q.io.TCP);
  });

  it("crashes and logs are empty lists before the first one", () => {
    const { device } = makeDevice(() => {});
    expect(device.crashes).toEqual([]);
    expect(device.logs).toEqual([]);
    expect(device.crashes).toBe(device.crashes);
  });

  it("IO constructors need new; the instance is the IO class's own", () => {
    FakeTcp.all = [];
    const { device } = makeDevice(() => {});
    device.start();
    const p = device.platform!;
    expect(() => (p.io.TCP as unknown as (o: object) => unknown)({ address: "10.0.0.1", port: 1 })).toThrow(TypeError);
    expect(FakeTcp.all).toHaveLength(0);
    const socket = new p.io.TCP({ address: "10.0.0.1", port: 1 });
    expect(socket).toBeInstanceOf(FakeTcp);
  });

  it("platform.log works detached from the platform; crypto is the device's for every boot and uses the caller's functions", () => {
    const lines: string[] = [];
    const seen: SimPlatform[] = [];
    const { device } = makeDevice((p) => {
      seen.push(p);
      const log = p.log;
      log("detached");
    }, { name: "n", log: (l: string) => lines.push(l), crypto: { randomFill: (b: Uint8Array) => b.fill(7) } });
    device.start();
    device.powerCycle();
    expect(lines).toEqual(["[n #1 +0ms] detached", "[n #2 +0ms] detached"]);
    expect(seen[0].crypto).toBe(seen[1].crypto);
    expect(seen[0].clock).not.toBe(seen[1].clock);
    expect(Array.from(seen[1].crypto.randomFill(new Uint8Array(3)))).toEqual([7, 7, 7]);
    expect(seen[1].crypto.hmacSha256(new Uint8Array(1), new Uint8Array(1))).toHaveLength(32);
    expect(Object.isFrozen(seen[1].clock) && Object.isFrozen(seen[1].power) && Object.isFrozen(seen[1].crypto)).toBe(true);
  });

  it("a boot's platform reads the device's name, board, flash, RTC memory and crypto and its own boot count; frozen", () => {
    const seen: SimPlatform[] = [];
    const board = { id: "b" };
    const { device, flash, rtc } = makeDevice((p) => void seen.push(p), { name: "dev-7", board });
    device.start();
    device.powerCycle();
    const [a, b] = seen;
    expect([a.name, a.board, a.storage, a.rtc, a.bootCount]).toEqual(["dev-7", board, flash, rtc, 1]);
    expect(a.storage).toBe(flash);
    expect(a.rtc).toBe(rtc);
    expect(b.bootCount).toBe(2);
    expect(b.board).toBe(board);
    expect(a.io).not.toBe(b.io);
    expect(Object.isFrozen(a) && Object.isFrozen(a.io)).toBe(true);
    expect(() => ((a as { log: unknown }).log = null)).toThrow(TypeError);
    expect(makeDevice((p) => void seen.push(p)).device.start().platform!.board).toBeUndefined();
  });

  it("timers: clearing one in the middle of many leaves the others; a foreign or cleared handle is ignored; teardown cancels the rest", () => {
    const fired: number[] = [];
    let handles: unknown[] = [];
    let foreign: unknown;
    const { device, clock } = makeDevice((p) => {
      if (p.power.wakeCause !== "power-on") return;
      handles = [1, 2, 3, 4, 5].map((n) => p.clock.setTimer(() => fired.push(n), n * 10));
      p.clock.clearTimer(handles[2]);
      p.clock.clearTimer(handles[2]); // twice: no effect
      p.clock.clearTimer(handles[0]); // the newest and the oldest ends of the list
      p.clock.clearTimer(handles[4]);
      p.clock.clearTimer({ raw: 1 } as never);
      p.clock.clearTimer(undefined as never);
      p.clock.clearTimer(foreign as never);
      p.clock.setTimer(() => p.power.deepSleep(1000), 25);
      p.clock.setTimer(() => fired.push(99), 30);
    });
    foreign = createSimPlatform({ clock: new VirtualClock() }).platform.clock.setTimer(() => {}, 1);
    device.start();
    clock.advance(100);
    expect(fired).toEqual([2]); // 4 (40 ms) and 99 (30 ms) died with the boot at 25 ms
    expect(device.state).toBe("asleep");
  });

  it("the first event alone, then more: events reads them all in order; eventLimit 0 keeps none; defaults from the prototype", () => {
    const { device, clock } = makeDevice((p) => {
      p.clock.setTimer(() => p.power.deepSleep(10), 5);
    });
    expect(device.eventLimit).toBe(1000);
    expect(device.logLimit).toBe(0);
    expect(device.sleeps).toBe(0);
    expect(device.restarts).toBe(0);
    expect(device.board).toBeUndefined();
    expect(device.events).toEqual([]);
    device.start();
    expect(device.events.map((e) => e.type)).toEqual(["boot"]);
    clock.advance(5);
    expect(device.events.map((e) => e.type)).toEqual(["boot", "sleep"]);
    expect(device.sleeps).toBe(1);
    device.eventLimit = 0;
    clock.advance(10);
    expect(device.events).toEqual([]);
    device.eventLimit = 2;
    clock.advance(15);
    expect(device.events.map((e) => `${e.type}#${e.bootCount}`)).toEqual(["sleep#2", "boot#3"]); // sleep at 20, boot at 30
    const other = makeDevice(() => undefined).device;
    expect(other.eventLimit).toBe(1000);
    expect(other.sleeps).toBe(0);
  });

  it("events are bounded by eventLimit, newest kept", () => {
    const { device, clock } = makeDevice((p) => {
      p.clock.setTimer(() => p.power.deepSleep(10), 5);
    });
    device.eventLimit = 4;
    device.start();
    clock.advance(1000);
    // boots every 15 ms (5 awake, 10 asleep): the last four are the boot at 975, its sleep, the boot at 990, its sleep
    expect(device.boots).toBe(67);
    expect(device.events.map((e) => `${e.type}@${e.at}#${e.bootCount}`)).toEqual(["boot@975#66", "sleep@980#66", "boot@990#67", "sleep@995#67"]);
  });

  it("a timer the raw clock refuses is not tracked: the boot goes on and its other timers fire", () => {
    const virtual = new VirtualClock();
    const picky = {
      now: () => virtual.now(),
      epoch: () => virtual.epoch(),
      setTimer(cb: () => void, ms: number) {
        if (Number.isNaN(ms)) throw new RangeError("bad delay");
        return virtual.setTimer(cb, ms);
      },
      clearTimer: (h: unknown) => virtual.clearTimer(h as never),
    };
    const fired: string[] = [];
    const device = new SimDevice({
      clock: picky,
      app: (p) => {
        expect(() => p.clock.setTimer(() => fired.push("nan"), NaN)).toThrow(RangeError);
        p.clock.setTimer(() => fired.push("a"), 10);
        const b = p.clock.setTimer(() => fired.push("b"), 20);
        p.clock.setTimer(() => p.clock.clearTimer(b), 15);
      },
    }).start();
    virtual.advance(100);
    expect(fired).toEqual(["a"]);
    expect(device.crashes).toHaveLength(0);
  });

  it("an event carries type, its detail, at and bootCount, and nothing undefined", () => {
    const { device, clock } = makeDevice((p) => {
      if (p.power.wakeCause === "power-on") p.clock.setTimer(() => p.power.deepSleep(10), 5);
    });
    device.start();
    clock.advance(20);
    expect(device.events).toStrictEqual([
      { type: "boot", cause: "power-on", at: 0, bootCount: 1 },
      { type: "sleep", durationMs: 10, at: 5, bootCount: 1 },
      { type: "boot", cause: "deep-sleep", at: 15, bootCount: 2 },
    ]);
    expect(Object.keys(device.events[1])).toEqual(["type", "durationMs", "at", "bootCount"]);
  });
});
