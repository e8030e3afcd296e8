// @xs
/*
 * Commands while the device sleeps, over CoAP (virtual time, sim/udp-network.ts): the app
 * (src/app.ts) on a board with one SHT3x is reachable for sleep.awakeWindowS after each wake
 * and wakes telemetry.intervalS after the previous boot (docs/app.md); a CON request sent
 * while it sleeps is retransmitted (RFC 7252 §4.2) until one copy lands in the window, and is
 * answered then. A sleep/prevent keeps it awake.
 */
import { SimDevice } from "../../sim/device";
import { VirtualClock } from "../../sim/virtual-clock";
import { SimNetwork } from "../../sim/udp-network";
import { FlashStore } from "../../sim/flash-store";
import { Prng } from "../../sim/prng";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { CoapClient, type CoapResponse } from "../../modules/coap/client";
import { createSimHardware } from "../../sim/hardware";
import { startApp, type App } from "../../src/app";
import { signCommand } from "../../modules/config/auth";
import { hmacSha256 } from "../../modules/platform/sha256";
import { simBoard } from "../../boards/sim";
import type { BoardDefinition } from "../../boards/types";
import { cheapLinks } from "../support/cheap-board";

/**
 * One quick chip (the first reading comes in ms), and a power profile in which booting and
 * connecting cost almost nothing, so that the app's sleep planner deep-sleeps between wakes
 * (as in host-tests/app/deep-sleep.test.ts: the mechanics are under test here, the planner's
 * choices on real figures are in host-tests/scheduler).
 */
const board: BoardDefinition = cheapLinks({
  ...simBoard,
  sensors: [{ chip: "sht3x", address: 0x44 }],
  battery: undefined,
});
import { KEY } from "./helpers";

async function flush(): Promise<void> {
  for (let i = 0; i < 8; i++) await Promise.resolve();
}

function setup(window: number, sleepS: number) {
  const clock = new VirtualClock();
  const network = new SimNetwork({ clock, seed: 3, latencyMs: 5 });
  const device = new SimDevice({
    clock,
    flash: new FlashStore(),
    board,
    io: { ...createSimHardware(board, clock).io, UDP: network.host("10.0.0.2").UDP as never },
    app: (platform) => startApp({ platform, board, deviceId: "sleepy", key: KEY, provisioned: { protocol: "coap", "sleep.mode": "deep", "sleep.awakeWindowS": window, "sampling.intervalS": sleepS, "telemetry.intervalS": sleepS, "telemetry.qos": 0 } }),
  });
  device.start();
  const scheduler = new Scheduler({ clock });
  const rng = new Prng(9);
  const client = new CoapClient({ socket: { io: network.host("10.0.0.9").UDP as never, port: 5683 }, scheduler, random: (b) => rng.fill(b) });
  let ctr = 1;
  const send = (command: string, body: unknown = null): Promise<CoapResponse> => {
    const c = ctr++;
    return client.request({ method: "POST", address: "10.0.0.2", port: 5683, path: "cmd/" + command, payload: body === null ? undefined : JSON.stringify(body), contentFormat: body === null ? undefined : 50, query: [`ctr=${c}`, `mac=${signCommand(hmacSha256, KEY, "sleepy", command, c, body)}`] });
  };
  async function settle<T>(p: Promise<T>, maxMs = 120000): Promise<{ value?: T; error?: unknown; at: number }> {
    let done: { value?: T; error?: unknown } | undefined;
    p.then((value) => (done = { value }), (error) => (done = { error }));
    for (let t = 0; t < maxMs && !done; t += 50) {
      clock.advance(50);
      await flush();
    }
    return { ...(done ?? { error: new Error("never settled") }), at: clock.now() };
  }
  return { clock, device, client, send, settle, node: () => device.instance as unknown as App };
}

describe("CoAP commands and deep sleep", () => {
  it("the device sleeps after its awake window and wakes at the telemetry time", async () => {
    const t = setup(5, 30);
    t.clock.advance(4900);
    expect(t.device.state).toBe("awake");
    t.clock.advance(101);
    expect(t.device.state).toBe("asleep");
    t.clock.advance(24_900); // 29.9 s after boot
    expect(t.device.state).toBe("asleep");
    t.clock.advance(200); // the wake at telemetry.intervalS after the first boot
    expect(t.device.state).toBe("awake");
    expect(t.device.boots).toBe(2);
  });

  it("a request in the awake window is answered at once", async () => {
    const t = setup(5, 30);
    t.clock.advance(1000);
    const r = await t.settle(t.send("ping"));
    expect(r.value?.status).toBe("2.04");
    expect(r.at).toBeLessThan(1500);
  });

  it("a CON sent while asleep is answered in the next awake window (retransmission, RFC 7252 §4.2)", async () => {
    // Awake 0..10 s, asleep 10..25 s, awake 25..35 s (the wake 25 s after the first boot).
    // Sent at 11 s, copies go at 11 + {0, 1, 3, 7, 15} x T0 with T0 in [2, 3] s: the one at
    // 7 x T0 (25..32 s) lands in the window.
    const t = setup(10, 25);
    t.clock.advance(11000);
    expect(t.device.state).toBe("asleep");
    const sentAt = t.clock.now();
    const r = await t.settle(t.send("config/patch", { telemetry: { intervalS: 25 } }));
    if (r.error) throw r.error;
    expect(r.value?.status).toBe("2.04");
    expect(r.at).toBeGreaterThanOrEqual(25000); // the wake 25 s after the first boot
    expect(r.at - sentAt).toBeLessThan(93000); // within MAX_TRANSMIT_WAIT
    expect(t.node().core.config.telemetry.intervalS).toBe(25);
    expect(t.device.boots).toBe(2);
  });

  it("sleep/prevent keeps the device awake and reachable; sleep/allow lets it sleep", async () => {
    const t = setup(3, 30);
    t.clock.advance(500);
    expect((await t.settle(t.send("sleep/prevent", { forS: 60 }))).value?.status).toBe("2.04");
    t.clock.advance(20000);
    expect(t.device.state).toBe("awake");
    expect((await t.settle(t.send("ping"))).value?.status).toBe("2.04");
    expect((await t.settle(t.send("sleep/allow"))).value?.status).toBe("2.04");
    // The planner lets go at its next decision: after the reading due at 30 s and the 3 s
    // command window (it does not re-plan the moment sleep/allow arrives).
    let asleepAt = NaN;
    for (let ms = 0; ms < 15_000 && asleepAt !== asleepAt; ms += 100) {
      t.clock.advance(100);
      if (t.device.state === "asleep") asleepAt = t.clock.now();
    }
    expect(asleepAt).toBeGreaterThan(30_000);
    expect(asleepAt).toBeLessThan(34_000);
    expect(t.device.boots).toBe(1); // it stayed up (prevented) through the first cycle's wake time
  });
});
