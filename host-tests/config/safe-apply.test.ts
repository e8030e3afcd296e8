/*
 * Safe apply end to end (Node, real sockets, real clock): a SimDevice running the app
 * (src/app.ts, with the simulated board's chips) is moved by signed config/patch commands to a broker it
 * cannot reach, to a working second mosquitto, to a broker that refuses its credentials,
 * and (over CoAP) to settings it cannot use. Issue 6: "a change that affects connectivity
 * (broker, credentials, protocol, endpoints) is tried, and rolled back automatically when
 * the device cannot reconnect with it within a configurable time; the result says which."
 * Results are read with MQTT.js (an independent client) on the res/<command> topic, and
 * through the `xs-iot config` CLI; the stored configuration is read from the device's flash.
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
import { ConfigStore } from "../../modules/config/store";
import { signCommand } from "../../modules/config/auth";
import { simBoard } from "../../boards/sim";
import { configCommand } from "../../sim/node/cli-config";
import * as dgram from "node:dgram";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { describeWithPeer, freePort, startMosquitto, type MosquittoPeer } from "../support/peers";

const KEY_HEX = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const KEY = Uint8Array.from(Buffer.from(KEY_HEX, "hex"));

async function waitFor(cond: () => boolean, ms = 10000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The app on a SimDevice. Its CoAP server listens on 127.0.0.1 at a free port unless the test
 * gives one, and CoAP telemetry goes to a free port where nothing listens (the default gateway,
 * localhost:5683, may be another test's server on a shared host).
 */
async function bootDevice(provisioned: { [k: string]: unknown }, deviceId: string) {
  const clock = new RealClock();
  const flash = new FlashStore();
  const logs: string[] = [];
  const prov = {
    "sampling.intervalS": 1,
    "telemetry.intervalS": 1,
    "safeApply.timeoutS": 5,
    "coap.listenPort": await freePort(),
    "coap.gatewayHost": "127.0.0.1",
    "coap.gatewayPort": await freePort(),
    ...provisioned,
  };
  const hardware = createSimHardware(simBoard, clock, indoorDay(5));
  const device = new SimDevice({
    clock,
    flash,
    crypto: nodeCrypto,
    board: simBoard,
    io: { ...hardware.io, TCP, UDP: UDP as never },
    log: (l) => logs.push(l),
    restartDelayMs: 50,
    app: (platform) => startApp({ platform, board: simBoard, deviceId, key: KEY, provisioned: prov, coapListenAddress: "127.0.0.1" }),
  });
  device.start();
  const node = () => device.instance as unknown as App;
  /** The configuration in flash, as the next boot would load it. */
  const stored = () => new ConfigStore({ storage: flash, context: { board: simBoard, deviceId, provisioned: prov } }).load().config;
  return { clock, flash, device, node, logs, stored };
}

// Counters above any the CLI used before (it signs with the wall clock in ms).
let ctr = 0;
function envelope(deviceId: string, command: string, body: unknown): string {
  const c = (ctr = Math.max(ctr + 1, Date.now()));
  return JSON.stringify({ ctr: c, mac: signCommand(nodeCrypto.hmacSha256, KEY, deviceId, command, c, body), body });
}

/** An MQTT.js watcher on one broker: telemetry times and results of one device. */
async function watch(port: number, id: string) {
  const client = await mqtt.connectAsync({ host: "127.0.0.1", port, reconnectPeriod: 0 });
  const tele: number[] = [];
  const results: any[] = [];
  client.on("message", (t, p) => {
    if (t.endsWith("/tele")) tele.push(Date.now());
    else if (t.includes("/res/")) results.push(JSON.parse(p.toString()));
  });
  await client.subscribeAsync([`xs-iot/${id}/tele`, `xs-iot/${id}/res/#`], { qos: 1 });
  return {
    client,
    tele,
    results,
    finals: (c: number) => results.filter((r) => r.ctr === c && r.status !== "pending"),
    publish: (command: string, body: unknown) => {
      const payload = envelope(id, command, body);
      const c = JSON.parse(payload).ctr as number;
      return client.publishAsync(`xs-iot/${id}/cmd/${command}`, payload, { qos: 1 }).then(() => c);
    },
    end: () => client.endAsync(),
  };
}

/** Runs `xs-iot config` in-process; its JSON answer (stdout) and its notes (stderr). */
async function cli(args: string[]): Promise<{ code: number; out: any; text: string; notes: string }> {
  const lines: string[] = [];
  const notes: string[] = [];
  const log = console.log;
  const err = console.error;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  console.error = (...a: unknown[]) => notes.push(a.join(" "));
  try {
    const code = await configCommand(args);
    const text = lines.join("\n");
    let out: any;
    try {
      out = JSON.parse(text);
    } catch {
      out = undefined;
    }
    return { code, out, text, notes: notes.join("\n") };
  } finally {
    console.log = log;
    console.error = err;
  }
}

type Dev = Awaited<ReturnType<typeof bootDevice>>;
function stopDevice(d: Dev): void {
  d.device.stop();
  d.clock.clearAll();
}
const brokerPort = (d: Dev) => d.node()?.core.current.mqtt.port;

describeWithPeer("mosquitto", "safe apply over MQTT with real brokers", () => {
  let a: MosquittoPeer;
  beforeAll(async () => {
    a = await startMosquitto();
  });
  afterAll(async () => {
    await a?.stop();
  });

  it("a move to an unreachable broker port is tried, rolled back to the old broker after safeApply.timeoutS, and the result says so", async () => {
    const id = "sa-unreach";
    const dead = await freePort(); // free: nothing listens there
    const d = await bootDevice({ "mqtt.host": "127.0.0.1", "mqtt.port": a.port }, id);
    const w = await watch(a.port, id);
    try {
      await waitFor(() => !!d.node()?.mqtt?.isConnected, 10000, "first connection");
      await waitFor(() => w.tele.length >= 1, 5000, "telemetry on A");
      const sentAt = Date.now();
      // Sent by the CLI with --timeout 2, shorter than the trial: on "pending" it waits for the final result.
      const running = cli(["--device", id, "--via", `mqtt://127.0.0.1:${a.port}`, "--key", KEY_HEX, "--timeout", "2", "patch", `mqtt.port=${dead}`]);
      // The "pending" answer goes out on A before the device leaves it.
      await waitFor(() => w.results.some((r) => r.status === "pending"), 3000, "pending on A");
      const pending = w.results.find((r) => r.status === "pending");
      const c = pending.ctr as number;
      expect([pending.applied, pending.timeoutS, pending.config.mqtt.port]).toEqual(["trial", 5, dead]);
      await waitFor(() => brokerPort(d) === dead && !d.node().mqtt!.isConnected, 2000, "the trial on the dead port");
      expect(d.stored().mqtt.port).toBe(a.port); // not stored while being tried

      await waitFor(() => w.finals(c).length > 0, 12000, "final result on A");
      const took = Date.now() - sentAt;
      const final = w.finals(c)[0];
      expect(final.status).toBe("rolled-back");
      expect(final.applied).toBe("rolled-back");
      expect(final.changed).toEqual(["mqtt.port"]);
      expect(final.reasons[0]).toContain("no connection with the new settings within 5 s");
      expect(final.reasons[0]).toContain("ECONNREFUSED");
      expect(final.config.mqtt.port).toBe(a.port);
      expect(took).toBeGreaterThanOrEqual(4900); // it did try for the configured time...
      expect(took).toBeLessThan(9000); // ...and no longer
      // Exactly one final answer, and the command was not delivered again (a replay would be refused).
      expect(w.results.filter((r) => r.ctr === c && r.status !== "pending")).toHaveLength(1);
      // The CLI: exit 1, the same result with its reason, printed as JSON.
      const r = await running;
      expect(r.code).toBe(1);
      expect([r.out.status, r.out.ctr, r.out.reasons]).toEqual(["rolled-back", c, final.reasons]);
      expect(r.notes).toContain("trying the change (up to 5 s)");

      // Back on A, running and storing the old configuration, telemetry flowing to A.
      expect(brokerPort(d)).toBe(a.port);
      expect(d.stored().mqtt.port).toBe(a.port);
      await waitFor(() => !!d.node().mqtt?.isConnected, 3000, "reconnection to A");
      const n = w.tele.length;
      await waitFor(() => w.tele.length >= n + 2, 4000, "telemetry on A after the rollback");
      expect(d.logs.join("\n")).toContain("rolled back");
    } finally {
      await w.end();
      stopDevice(d);
    }
  }, 20000);

  it("a move to a working second broker is kept: the CLI follows it to B, telemetry goes to B, and it survives a reboot", async () => {
    const id = "sa-move";
    const b = await startMosquitto();
    const d = await bootDevice({ "mqtt.host": "127.0.0.1", "mqtt.port": a.port }, id);
    const wa = await watch(a.port, id);
    const wb = await watch(b.port, id);
    try {
      await waitFor(() => !!d.node()?.mqtt?.isConnected, 10000, "first connection");
      await waitFor(() => wa.tele.length >= 1, 5000, "telemetry on A");
      const r = await cli(["--device", id, "--via", `mqtt://127.0.0.1:${a.port}`, "--key", KEY_HEX, "--timeout", "5", "patch", `mqtt.port=${b.port}`]);
      if (r.code !== 0) throw new Error("CLI: " + r.text + "\n" + r.notes + "\n" + d.logs.slice(-10).join("\n"));
      expect(r.out.status).toBe("ok");
      expect(r.out.applied).toBe("kept");
      expect(r.out.config.mqtt.port).toBe(b.port);
      // The CLI says a trial ran: "trying the change" when A's "pending" comes first, or "tried
      // the change and kept it" when B's final result overtakes it (two brokers, no order).
      expect(r.notes).toMatch(/trying the change|tried the change and kept it/);
      // The final result was published on B (where the device is now), read there with MQTT.js too.
      await waitFor(() => wb.finals(r.out.ctr).length > 0, 3000, "final result on B");
      expect(wb.finals(r.out.ctr)[0].status).toBe("ok");
      expect(wa.finals(r.out.ctr)).toEqual([]);
      expect(wa.results.some((x) => x.ctr === r.out.ctr && x.status === "pending")).toBe(true);
      // Saved, and telemetry now arrives at B, not A.
      expect(d.stored().mqtt.port).toBe(b.port);
      const na = wa.tele.length;
      await waitFor(() => wb.tele.length >= 2, 4000, "telemetry on B");
      await new Promise((res) => setTimeout(res, 300));
      expect(wa.tele.length).toBe(na);

      // A reboot (commanded on B) comes back on B.
      const boots = d.device.boots;
      await wb.publish("reboot", null);
      await waitFor(() => d.device.boots === boots + 1 && !!d.node()?.mqtt?.isConnected, 8000, "reboot and reconnection").catch((e) => {
        throw new Error(e.message + ` boots ${d.device.boots} (was ${boots}) ` + JSON.stringify(wb.results.slice(-3)) + "\n" + d.logs.slice(-15).join("\n"));
      });
      expect(d.node().core.bootStatus).toBe("stored");
      expect(brokerPort(d)).toBe(b.port);
      const nb = wb.tele.length;
      await waitFor(() => wb.tele.length >= nb + 1, 4000, "telemetry on B after the reboot");
      expect(wa.tele.length).toBe(na);
    } finally {
      await wa.end();
      await wb.end();
      stopDevice(d);
      await b.stop();
    }
  }, 20000);

  it("wrong credentials for a broker that requires them: rolled back at once; the CLI exits 1 with the reason; the right ones are kept", async () => {
    const id = "sa-creds";
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xs-iot-sa-"));
    const pwfile = path.join(dir, "passwd");
    // Debian's mosquitto package ships mosquitto_passwd next to the broker's tools.
    const made = spawnSync("mosquitto_passwd", ["-b", "-c", pwfile, "dev", "s3cret"], { encoding: "utf8", env: { ...process.env, PATH: `${process.env.PATH}:/usr/bin:/usr/sbin` } });
    if (made.status !== 0) throw new Error("mosquitto_passwd failed: " + made.stderr + String(made.error ?? ""));
    const c = await startMosquitto({ extraConfig: ["allow_anonymous false", `password_file ${pwfile}`] });
    const d = await bootDevice({ "mqtt.host": "127.0.0.1", "mqtt.port": a.port }, id);
    const w = await watch(a.port, id);
    try {
      // The broker really does refuse anonymous clients and accept the right password.
      await expect(mqtt.connectAsync({ host: "127.0.0.1", port: c.port, reconnectPeriod: 0 })).rejects.toThrow(/Not authorized|Bad user/i);
      const ok = await mqtt.connectAsync({ host: "127.0.0.1", port: c.port, username: "dev", password: "s3cret", reconnectPeriod: 0 });
      await ok.endAsync();

      await waitFor(() => !!d.node()?.mqtt?.isConnected, 10000, "first connection");
      const via = ["--device", id, "--via", `mqtt://127.0.0.1:${a.port}`, "--key", KEY_HEX, "--timeout", "5"];
      const t0 = Date.now();
      const bad = await cli([...via, "patch", `mqtt.port=${c.port}`, "mqtt.username=dev", "mqtt.password=wrong"]);
      expect(bad.code).toBe(1);
      expect(bad.out.status).toBe("rolled-back");
      // named on the host (the device sends the code and its section): "0x86 Bad user name or password" [MQTT 5.0 §3.2.2.2]
      expect(bad.out.reasons[0]).toMatch(/MQTT gave up: connection refused: (0x86 Bad user name or password|0x87 Not authorized)$/);
      expect(bad.text).not.toContain("wrong"); // the password is never echoed
      expect(Date.now() - t0).toBeLessThan(4000); // a refusal is final: no waiting for the trial time
      expect(w.finals(bad.out.ctr)[0]?.status).toBe("rolled-back");
      expect(d.stored().mqtt.port).toBe(a.port);
      expect(d.stored().mqtt.password).toBe("");
      await waitFor(() => brokerPort(d) === a.port && !!d.node().mqtt?.isConnected, 4000, "back on A");

      const good = await cli([...via, "patch", `mqtt.port=${c.port}`, "mqtt.username=dev", "mqtt.password=s3cret"]);
      if (good.code !== 0) throw new Error("CLI: " + good.text + "\n" + good.notes);
      expect([good.out.status, good.out.applied]).toEqual(["ok", "kept"]);
      expect(d.stored().mqtt.password).toBe("s3cret");
      expect(d.stored().mqtt.port).toBe(c.port);
    } finally {
      await w.end();
      stopDevice(d);
      await c.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 20000);
});

describe("safe apply over CoAP (real UDP)", () => {
  it("a listen port already in use: the server cannot bind there, so the change is rolled back; the CLI finds the result and exits 1", async () => {
    const id = "sa-coap-busy";
    const port = await freePort();
    const busy = await freePort();
    const squatter = dgram.createSocket("udp4");
    await new Promise<void>((res) => squatter.bind(busy, "127.0.0.1", () => res()));
    const d = await bootDevice({ protocol: "coap", "coap.listenPort": port }, id);
    try {
      await waitFor(() => !!d.node()?.coap, 5000, "CoAP server");
      const r = await cli(["--device", id, "--via", `coap://127.0.0.1:${port}`, "--key", KEY_HEX, "--timeout", "3", "patch", `coap.listenPort=${busy}`]);
      expect(r.code).toBe(1);
      expect(r.out.status).toBe("rolled-back");
      expect(r.out.reasons[0]).toContain(`cannot open the CoAP server on UDP port ${busy}`);
      expect(r.notes).toContain("trying the change");
      expect(d.stored().coap.listenPort).toBe(port);
      expect(d.node().core.current.coap.listenPort).toBe(port);
      // Still reachable where it was.
      const g = await cli(["--device", id, "--via", `coap://127.0.0.1:${port}`, "--key", KEY_HEX, "get"]);
      expect(g.code).toBe(0);
      expect(g.out.trial.status).toBe("rolled-back");
    } finally {
      stopDevice(d);
      squatter.close();
    }
  }, 20000);

  it("a switch from CoAP to an unreachable MQTT broker is rolled back after safeApply.timeoutS; the CoAP server comes back", async () => {
    const id = "sa-coap-mqtt";
    const port = await freePort();
    const dead = await freePort();
    const d = await bootDevice({ protocol: "coap", "coap.listenPort": port }, id);
    try {
      await waitFor(() => !!d.node()?.coap, 5000, "CoAP server");
      const t0 = Date.now();
      const r = await cli(["--device", id, "--via", `coap://127.0.0.1:${port}`, "--key", KEY_HEX, "--timeout", "4", "patch", "protocol=mqtt5", "mqtt.host=127.0.0.1", `mqtt.port=${dead}`]);
      expect(r.code).toBe(1);
      expect(r.out.status).toBe("rolled-back");
      expect(r.out.changed).toEqual(expect.arrayContaining(["protocol", "mqtt.host", "mqtt.port"]));
      expect(r.out.reasons[0]).toContain("no connection with the new settings within 5 s");
      expect(Date.now() - t0).toBeGreaterThanOrEqual(4900);
      expect(d.stored().protocol).toBe("coap");
      expect(d.node().core.current.protocol).toBe("coap");
      expect(d.node().mqtt).toBeUndefined();
      expect(d.node().coap).toBeDefined();
    } finally {
      stopDevice(d);
    }
  }, 20000);

  it("a move to a free listen port is kept: the CLI finds the result on the new port", async () => {
    const id = "sa-coap-move";
    const port = await freePort();
    const next = await freePort();
    const d = await bootDevice({ protocol: "coap", "coap.listenPort": port }, id);
    try {
      await waitFor(() => !!d.node()?.coap, 5000, "CoAP server");
      const t0 = Date.now();
      const r = await cli(["--device", id, "--via", `coap://127.0.0.1:${port}`, "--key", KEY_HEX, "--timeout", "3", "patch", `coap.listenPort=${next}`]);
      if (r.code !== 0) throw new Error("CLI: " + r.text + "\n" + r.notes);
      expect([r.out.status, r.out.applied]).toEqual(["ok", "kept"]);
      expect(r.out.via).toBe(`coap://127.0.0.1:${next}`);
      expect(Date.now() - t0).toBeLessThan(2000); // found soon after the switch, not after the trial time
      expect(d.stored().coap.listenPort).toBe(next);
      const p = await cli(["--device", id, "--via", `coap://127.0.0.1:${next}`, "--key", KEY_HEX, "ping"]);
      expect(p.code).toBe(0);
    } finally {
      stopDevice(d);
    }
  }, 20000);
});
