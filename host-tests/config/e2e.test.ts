/*
 * End to end (Node): a SimDevice running the app (src/app.ts, with the simulated board's chips)
 * on real sockets and a real clock; the `xs-iot config` CLI changes the telemetry
 * interval over MQTT (mosquitto) and over CoAP, the change takes effect, survives a
 * reboot, and a replayed command is refused. Also: a command sent while the device
 * deep-sleeps waits at the broker (persistent session, QoS 1) and is answered after
 * the wake.
 */
import * as mqtt from "mqtt";
import { SimDevice } from "../../sim/device";
import { FlashStore } from "../../sim/flash-store";
import { TCP } from "../../sim/node/tcp";
import { UDP } from "../../sim/node/udp";
import { RealClock } from "../../sim/node/real-clock";
import { nodeCrypto } from "../../sim/node/crypto";
import { createSimHardware } from "../../sim/hardware";
import { indoorDay } from "../../sim/scenarios";
import { startApp, type App } from "../../src/app";
import { configCommand } from "../../sim/node/cli-config";
import { simBoard } from "../../boards/sim";
import type { BoardDefinition } from "../../boards/types";
import { cheapLinks } from "../support/cheap-board";

/**
 * A board whose booting and connecting cost almost nothing, so that the app's sleep planner
 * deep-sleeps between readings seconds apart (as in host-tests/app/deep-sleep.test.ts).
 */
const sleeper: BoardDefinition = cheapLinks({
  ...simBoard,
  sensors: [{ chip: "sht3x", address: 0x44 }],
  battery: undefined,
});
import { describeWithPeer, freePort, startMosquitto, type MosquittoPeer } from "../support/peers";

const KEY_HEX = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const KEY = Uint8Array.from(Buffer.from(KEY_HEX, "hex"));

async function waitFor(cond: () => boolean, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function cli(args: string[]): Promise<{ code: number; out: any; text: string }> {
  const lines: string[] = [];
  const log = console.log;
  const err = console.error;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  console.error = () => undefined;
  try {
    const code = await configCommand(args);
    const text = lines.join("\n");
    let out: any;
    try {
      out = JSON.parse(text);
    } catch {
      out = undefined;
    }
    return { code, out, text };
  } finally {
    console.log = log;
    console.error = err;
  }
}

/**
 * The app on a SimDevice. Its CoAP server listens on 127.0.0.1 at a free port unless the test
 * gives one, and CoAP telemetry goes to a free port where nothing listens (the default gateway,
 * localhost:5683, may be another test's server on a shared host).
 */
async function bootDevice(given: { [k: string]: unknown }, deviceId: string, board: BoardDefinition = simBoard) {
  const provisioned = { "coap.listenPort": await freePort(), "coap.gatewayHost": "127.0.0.1", "coap.gatewayPort": await freePort(), ...given };
  const clock = new RealClock();
  const flash = new FlashStore();
  const logs: string[] = [];
  const hardware = createSimHardware(board, clock, indoorDay(3));
  const device = new SimDevice({
    clock,
    flash,
    crypto: nodeCrypto,
    board,
    io: { ...hardware.io, TCP, UDP: UDP as never },
    log: (l) => logs.push(l),
    restartDelayMs: 50,
    app: (platform) => startApp({ platform, board, deviceId, key: KEY, provisioned, coapListenAddress: "127.0.0.1" }),
  });
  device.start();
  const node = () => device.instance as unknown as App;
  return { clock, flash, device, node, logs };
}

describeWithPeer("mosquitto", "config over MQTT, end to end", () => {
  let broker: MosquittoPeer;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it.each([["5"], ["3.1.1"]])("CLI (MQTT %s) changes the telemetry interval; it takes effect, survives a reboot; a replay is refused", async (version) => {
    const id = "e2e-mqtt-" + version.replace(/\./g, "");
    const d = await bootDevice({ "mqtt.host": "127.0.0.1", "mqtt.port": broker.port, protocol: version === "5" ? "mqtt5" : "mqtt311", "sampling.intervalS": 1 }, id);
    const watcher = await mqtt.connectAsync({ host: "127.0.0.1", port: broker.port, reconnectPeriod: 0 });
    const tele: number[] = [];
    const retained: { [t: string]: string } = {};
    watcher.on("message", (t, p) => {
      if (t.endsWith("/tele")) tele.push(Date.now());
      else retained[t] = p.toString();
    });
    await watcher.subscribeAsync([`xs-iot/${id}/tele`, `xs-iot/${id}/config`, `xs-iot/${id}/state`], { qos: 1 });
    try {
      await waitFor(() => !!d.node()?.mqtt?.isConnected);
      await waitFor(() => retained[`xs-iot/${id}/state`] === "online");
      const via = ["--device", id, "--via", `mqtt://127.0.0.1:${broker.port}`, "--key", KEY_HEX, "--mqtt-version", version];
      const got = await cli([...via, "get"]);
      expect(got.code).toBe(0);
      expect(got.out.config.telemetry.intervalS).toBe(300);
      expect(got.out.config.mqtt.password).toBeUndefined();

      const counter = Date.now();
      const patched = await cli([...via, "--counter", String(counter), "patch", "telemetry.intervalS=1"]);
      expect(patched.code).toBe(0);
      expect(patched.out.status).toBe("ok");
      expect(patched.out.changed).toEqual(["telemetry.intervalS"]);
      // Takes effect: every reading (one a second) is sent as it comes now.
      expect(d.node().config.telemetry.intervalS).toBe(1);
      const from = tele.length;
      await waitFor(() => tele.length >= from + 3, 6000);
      const gaps = tele.slice(from + 1).map((t, i) => t - tele[from + i]);
      for (const g of gaps) expect(g).toBeLessThan(1600);
      await waitFor(() => JSON.parse(retained[`xs-iot/${id}/config`] ?? "{}").telemetry?.intervalS === 1);

      // Replay: the same signed bytes again.
      const replay = await cli([...via, "--counter", String(counter), "patch", "telemetry.intervalS=1"]);
      expect(replay.code).toBe(1);
      expect(replay.out.status).toBe("unauthorized");
      expect(replay.out.reasons[0]).toContain("not above the last accepted");

      // Survives a reboot.
      const boots = d.device.boots;
      const rb = await cli([...via, "reboot"]);
      expect(rb.code).toBe(0);
      await waitFor(() => d.device.boots === boots + 1 && !!d.node()?.mqtt?.isConnected);
      expect(d.node().core.config.telemetry.intervalS).toBe(1);
      expect(d.node().core.bootStatus).toBe("stored");

      // Rejection gives exit code 1.
      const bad = await cli([...via, "patch", "telemetry.intervalS=0"]);
      expect(bad.code).toBe(1);
      expect(bad.out.reasons[0]).toContain("telemetry.intervalS: must be a number of seconds from 0.01 to 86400");
      const wrongKey = await cli(["--device", id, "--via", `mqtt://127.0.0.1:${broker.port}`, "--key", "ff".repeat(32), "--mqtt-version", version, "ping"]);
      expect(wrongKey.code).toBe(1);
      expect(wrongKey.out.status).toBe("unauthorized");
    } finally {
      await watcher.endAsync();
      d.device.stop();
      d.clock.clearAll();
    }
  }, 60000);

  it("a command sent while the device deep-sleeps is queued at the broker and answered after the wake", async () => {
    const id = "e2e-sleeper";
    const d = await bootDevice({ "mqtt.host": "127.0.0.1", "mqtt.port": broker.port, "sleep.mode": "deep", "sleep.awakeWindowS": 1, "sampling.intervalS": 3, "telemetry.intervalS": 3 }, id, sleeper);
    try {
      await waitFor(() => !!d.node()?.mqtt?.isConnected);
      await waitFor(() => d.device.state === "asleep", 5000);
      const sentAt = Date.now();
      const r = await cli(["--device", id, "--via", `mqtt://127.0.0.1:${broker.port}`, "--key", KEY_HEX, "--timeout", "15", "patch", "sleep.awakeWindowS=2"]);
      if (r.code !== 0) throw new Error("CLI: " + r.text + "\n" + d.logs.slice(-15).join("\n") + JSON.stringify(d.device.events.slice(-8)));
      expect(r.out.status).toBe("ok");
      expect(d.device.sleeps).toBeGreaterThanOrEqual(1);
      expect(Date.now() - sentAt).toBeGreaterThan(50); // it waited for the wake
      expect(d.node() === undefined || d.node().core.config.sleep.awakeWindowS === 2).toBe(true);
    } finally {
      d.device.stop();
      d.clock.clearAll();
    }
  }, 40000);
});

describe("config over CoAP, end to end", () => {
  it("CLI changes the telemetry interval (JSON and CBOR); it takes effect, survives a reboot; a replay is refused", async () => {
    const port = await freePort();
    const id = "e2e-coap";
    const d = await bootDevice({ protocol: "coap", "coap.listenPort": port, "sampling.intervalS": 1 }, id);
    try {
      await waitFor(() => !!d.node()?.coap);
      const via = ["--device", id, "--via", `coap://127.0.0.1:${port}`, "--key", KEY_HEX];
      const got = await cli([...via, "get"]);
      expect(got.code).toBe(0);
      expect(got.out.coap).toBe("2.04");
      expect(got.out.config.telemetry.intervalS).toBe(300);
      const counter = Date.now();
      const p = await cli([...via, "--counter", String(counter), "patch", "telemetry.intervalS=2"]);
      expect(p.code).toBe(0);
      expect(p.out.coap).toBe("2.04");
      expect(d.node().config.telemetry.intervalS).toBe(2);
      const n0 = d.node().sent;
      await waitFor(() => d.node().sent >= n0 + 2, 6000);
      const replay = await cli([...via, "--counter", String(counter), "patch", "telemetry.intervalS=2"]);
      expect(replay.code).toBe(1);
      expect(replay.out.coap).toBe("4.01");
      const c = await cli([...via, "--cbor", "set", "telemetry.intervalS=5"]);
      expect(c.code).toBe(0);
      expect(d.node().core.config.telemetry.intervalS).toBe(5);
      const boots = d.device.boots;
      expect((await cli([...via, "reboot"])).code).toBe(0);
      await waitFor(() => d.device.boots === boots + 1 && !!d.node()?.coap);
      expect(d.node().core.config.telemetry.intervalS).toBe(5);
      const bad = await cli([...via, "patch", "mqtt.port=70000"]);
      expect(bad.code).toBe(1);
      expect(bad.out.coap).toBe("4.00");
    } finally {
      d.device.stop();
      d.clock.clearAll();
    }
  }, 60000);
});
