// @xs
/*
 * The app's CoAP state across deep sleeps (issue 19; src/coap-state.ts), on the virtual clock
 * and the simulated UDP network: the device (protocol coap, sleep.mode deep) wakes every 30 s,
 * sends its reading to a gateway (NON POST) and deep-sleeps. An observer registered once in the
 * first awake window gets a notification on every wake without registering again, with
 * Observe numbers that keep increasing (RFC 7641 §4.4), and the device's Message IDs to the
 * gateway and to the observer go on by one across the boots instead of starting at random
 * (RFC 7252 §4.4: none reused with the same endpoint within EXCHANGE_LIFETIME, 247 s).
 */
import { SimDevice } from "../../sim/device";
import { VirtualClock } from "../../sim/virtual-clock";
import { SimNetwork } from "../../sim/udp-network";
import { FlashStore } from "../../sim/flash-store";
import { Prng } from "../../sim/prng";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { CoapUriClient, type CoapResponse } from "../../modules/coap/uri-client";
import { CoapServer } from "../../modules/coap/server";
import { COAP_MESSAGE, COAP_REQUEST } from "../../modules/coap/constants";
import { decode } from "../../modules/coap/codec";
import { createSimHardware } from "../../sim/hardware";
import { startApp } from "../../src/app";
import { decodeCoapKept, encodeCoapKept } from "../../src/coap-state";
import { simBoard } from "../../boards/sim";
import type { BoardDefinition } from "../../boards/types";
import { cheapLinks } from "../support/cheap-board";

// One quick chip; booting and connecting cost almost nothing, so the planner deep-sleeps
// between readings 30 s apart (as in host-tests/config/asleep.test.ts).
const board: BoardDefinition = cheapLinks({
  ...simBoard,
  sensors: [{ chip: "sht3x", address: 0x44 }],
  battery: undefined,
});

async function flush(): Promise<void> {
  for (let i = 0; i < 8; i++) await Promise.resolve();
}

async function run(clock: VirtualClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 50) {
    clock.advance(50);
    await flush();
  }
}

describe("the app's CoAP state across deep sleeps", () => {
  it("an observer registered once is notified on every wake with increasing Observe numbers; Message IDs go on by one across boots", async () => {
    const clock = new VirtualClock();
    const network = new SimNetwork({ clock, seed: 5, latencyMs: 5 });
    // What the device sends, decoded.
    const fromDevice: { to: string; type: number; code: number; mid: number }[] = [];
    const UDP = network.host("10.0.0.2").UDP as any;
    const Tapped = class extends UDP {
      write(data: Uint8Array, address: string, port: number) {
        const d = decode(new Uint8Array(data));
        if (d.ok) fromDevice.push({ to: address, type: d.message.type, code: d.message.code, mid: d.message.messageId });
        super.write(data, address, port);
      }
    };
    const device = new SimDevice({
      clock,
      flash: new FlashStore(),
      board,
      io: { ...createSimHardware(board, clock).io, UDP: Tapped as never },
      app: (platform) => startApp({ platform, board, deviceId: "observed", provisioned: { protocol: "coap", "coap.gatewayHost": "10.0.0.5", "coap.gatewayPort": 5683, "sleep.mode": "deep", "sleep.awakeWindowS": 2, "sampling.intervalS": 30, "telemetry.intervalS": 30, "telemetry.qos": 0 } }),
    });
    const scheduler = new Scheduler({ clock });
    const rng = new Prng(21);
    const random = (b: Uint8Array) => rng.fill(b);
    const gateway = new CoapServer({ socket: { io: network.host("10.0.0.5").UDP as never, port: 5683 }, scheduler, random });
    let posts = 0;
    gateway.add("tele", { post: () => (posts++, { code: 0x44 }) });
    device.start();
    await run(clock, 200);
    // The observer registers once, in the first awake window.
    let gets = 0;
    const ObserverUDP = network.host("10.0.0.9").UDP as any;
    const CountingGets = class extends ObserverUDP {
      write(data: Uint8Array, address: string, port: number) {
        const d = decode(new Uint8Array(data));
        if (d.ok && d.message.code === COAP_REQUEST.GET) gets++;
        super.write(data, address, port);
      }
    };
    const client = new CoapUriClient({ socket: { io: CountingGets as never, port: 5683 }, scheduler, random });
    const got: CoapResponse[] = [];
    client.observe({ uri: "coap://10.0.0.2:5683/sensors/temperature", onNotify: (r) => got.push(r), reregisterMargin: 20_000 });
    await run(clock, 1_000);
    expect(got.length).toBe(1);
    await run(clock, 3 * 30_000 + 1_000);
    expect(device.sleeps).toBeGreaterThanOrEqual(3);
    expect(device.boots).toBeGreaterThanOrEqual(4);
    // A notification on every wake, without a new registration: Observe numbers increase.
    expect(got.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < got.length; i++) expect(got[i].observe!).toBeGreaterThan(got[i - 1].observe!);
    expect(gets).toBe(1);
    // Message IDs to each peer: one after the other across the boots (a random start per boot would jump).
    for (const peer of ["10.0.0.5", "10.0.0.9"]) {
      const mids = fromDevice.filter((m) => m.to === peer && m.type !== COAP_MESSAGE.ACK && m.type !== COAP_MESSAGE.RST).map((m) => m.mid);
      expect(mids.length).toBeGreaterThanOrEqual(peer === "10.0.0.5" ? 4 : 3);
      for (let i = 1; i < mids.length; i++) expect(mids[i]).toBe((mids[i - 1] + 1) & 0xffff);
    }
    expect(fromDevice.filter((m) => m.to === "10.0.0.5" && m.code === COAP_REQUEST.POST).length).toBe(posts);
    device.stop();
  });

  it("the RTC record: what is kept comes back; zeros, garbage and a record cut short give nothing", () => {
    const request = new Uint8Array([0x41, 0x01, 0x12, 0x34, 0xaa, 0x60]);
    const kept = {
      peers: [{ address: "10.0.0.5", port: 5683, next: 4660 }, { address: "fe80::1", port: 5683, next: 1 }, { address: "10.0.0.9", port: 40000, next: 65535 }],
      observations: [{ address: "10.0.0.9", port: 5683, request, szx: 6, sinceCon: 3, observe: 0x123456 }],
    };
    const bytes = encodeCoapKept(kept, 448);
    expect(decodeCoapKept(bytes)).toEqual({ peers: [kept.peers[0], kept.peers[2]], observations: kept.observations }); // IPv6 left out
    expect(decodeCoapKept(new Uint8Array(448))).toBeUndefined();
    expect(decodeCoapKept(bytes.subarray(0, bytes.length - 2))).toBeUndefined();
    // Too small a region: the observation is left out, the peers kept.
    expect(decodeCoapKept(encodeCoapKept(kept, 24))).toEqual({ peers: [kept.peers[0], kept.peers[2]], observations: [] });
  });
});
