/*
 * Issue 15, "the first hour": what a new user meets, each defect checked through the real
 * command line (bin/xs-iot.js in a child process) against the embedded broker (aedes) and
 * against mosquitto. The numbers in the test names are the defects. Node only.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as mqtt from "mqtt";
import { FIELDS } from "../../modules/config/schema";
import { formatStatus } from "../../sim/node/status";
import { describeWithPeer, freePort, startMosquitto, type MosquittoPeer } from "../support/peers";
import { BIN, jsonEvents, runCli } from "./run-cli";

const ROOT = path.join(__dirname, "../..");

/** A running `xs-iot sim`: its stdout lines as they come; stop() is Ctrl-C. */
class Sim {
  readonly lines: string[] = [];
  readonly child: ChildProcess;
  readonly closed: Promise<number | null>;
  #waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  #partial = "";
  stderr = "";
  constructor(args: string[]) {
    this.child = spawn(process.execPath, [BIN, "sim", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout!.on("data", (d) => {
      this.#partial += d;
      let i;
      while ((i = this.#partial.indexOf("\n")) >= 0) {
        const line = this.#partial.slice(0, i);
        this.#partial = this.#partial.slice(i + 1);
        this.lines.push(line);
        this.#waiters = this.#waiters.filter((w) => (w.re.test(line) ? (w.resolve(line), false) : true));
      }
    });
    this.child.stderr!.on("data", (d) => (this.stderr += d));
    this.closed = new Promise((resolve) => this.child.on("close", (code) => resolve(code)));
  }
  /** The first line (already printed or to come) matching `re`. */
  waitFor(re: RegExp, timeoutMs = 30_000): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms; got:\n${this.lines.slice(-15).join("\n")}\n${this.stderr}`)), timeoutMs);
      this.#waiters.push({ re, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  }
  events(): any[] {
    return jsonEvents(this.lines.join("\n"));
  }
  async stop(): Promise<number | null> {
    this.child.kill("SIGINT");
    return this.closed;
  }
}

/** The xs-iot command line, to completion. */
function xsIot(args: string[], timeout = 60_000) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: "utf8", timeout });
  let json: any;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    json = undefined;
  }
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json };
}

/**
 * A printed line, through the shell, as a user pastes it (`until(out)`: Ctrl-C it once its output
 * has paused for 300 ms, as a person reading it would: tools/quickstart.js says why).
 */
function shell(line: string, until?: (out: string) => boolean, timeoutMs = 30_000): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn("bash", ["-c", line], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let out = "";
    let err = "";
    let stopped = false;
    let pause: ReturnType<typeof setTimeout> | undefined;
    child.stdout.on("data", (d) => {
      out += d;
      if (!until || stopped || !until(out)) return;
      clearTimeout(pause);
      pause = setTimeout(() => {
        stopped = true;
        process.kill(-child.pid!, "SIGINT");
      }, 300);
    });
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      clearTimeout(pause);
      resolve({ code, out, err });
    });
  });
}

const banner = (sim: Sim, label: string) => sim.waitFor(new RegExp(`^  ${label} {2,}`)).then((l) => l.replace(new RegExp(`^  ${label} +`), ""));

function gaps(events: any[]): number[] {
  const t = events.filter((e) => e.event === "reading").map((e) => Date.parse(e.time));
  return t.slice(1).map((x, i) => x - t[i]);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

describe("1. every line the banner prints works as printed", () => {
  it("the configure line against the embedded broker (MQTT 3.1.1 only): exit 0 and the configuration", async () => {
    const sim = new Sim(["--interval", "1"]);
    try {
      const line = await banner(sim, "configure");
      expect(line).toMatch(/^npx xs-iot config --device xs-iot-sim --via mqtt:\/\/127\.0\.0\.1:\d+ --key [0-9a-f]{64} get$/);
      const r = await shell(line);
      expect(r.err).not.toMatch(/Unacceptable protocol version|\n\s+at /);
      expect(r.code).toBe(0);
      const answer = JSON.parse(r.out);
      expect(answer.status).toBe("ok");
      expect(answer.config.deviceId).toBe("xs-iot-sim");
    } finally {
      expect(await sim.stop()).toBe(0);
    }
  }, 60_000);

  it("a refused or unreachable broker is one line on stderr and exit 1, never a stack trace", async () => {
    const port = await freePort();
    const r = xsIot(["config", "--device", "d", "--via", `mqtt://127.0.0.1:${port}`, "--key", "ab".repeat(32), "get"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^xs-iot config: cannot connect to mqtt://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
    const v3 = xsIot(["config", "--device", "d", "--via", `coap://127.0.0.1:${port}`, "--key", "ab".repeat(32), "--timeout", "1", "get"]);
    expect(v3.code).toBe(1);
    expect(v3.stderr.trim().split("\n")).toHaveLength(1);
    expect(v3.stderr).not.toMatch(/\n\s+at /);
  });
});

describeWithPeer("mosquitto", "1. (mosquitto) the configure line against a broker that speaks MQTT 5", () => {
  let broker: MosquittoPeer;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });
  it("exit 0 with the device's configuration", async () => {
    const sim = new Sim(["--broker", `mqtt://127.0.0.1:${broker.port}`, "--id", "fh-mosq", "--interval", "1"]);
    try {
      const line = await banner(sim, "configure");
      const r = await shell(line);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out).config.mqtt.port).toBe(broker.port);
    } finally {
      expect(await sim.stop()).toBe(0);
    }
  }, 60_000);
});

describe("2. a configuration change is applied, kept, and reported as in force", () => {
  it.each([["mqtt"], ["coap"]])("over %s: --interval is the initial value, a patch of sampling.intervalS wins, survives a reboot, and get reports it", async (via) => {
    const sim = new Sim([...(via === "coap" ? ["--protocol", "coap"] : []), "--interval", "1", "--json"]);
    try {
      await sim.waitFor(/"event":"reading".*"seq":3\b/);
      const start = sim.events()[0];
      const url = via === "coap" ? start.coap : start.broker;
      const base = ["config", "--device", "xs-iot-sim", "--via", url, "--key", start.key];
      const before = xsIot([...base, "get"]);
      expect(before.code).toBe(0);
      expect(before.json.config.sampling.intervalS).toBe(1); // what the device runs with, not the default 10
      const patched = xsIot([...base, "patch", "sampling.intervalS=0.25"]);
      expect(patched.code).toBe(0);
      expect(patched.json.applied).toBe("direct");
      const n = sim.events().filter((e) => e.event === "reading").length;
      await sim.waitFor(new RegExp(`"event":"reading".*"seq":${n + 8}\\b`));
      const all = gaps(sim.events());
      // Readings 1 s apart before the change, a quarter of a second after (the device's clock).
      expect(median(all.slice(0, 2))).toBeGreaterThanOrEqual(800);
      expect(median(all.slice(n + 1))).toBeLessThan(500);
      expect(xsIot([...base, "get"]).json.config.sampling.intervalS).toBe(0.25);
      // Kept in flash: a reboot does not bring the flag's value back.
      expect(xsIot([...base, "reboot"]).code).toBe(0);
      await sim.waitFor(/"line":"\[xs-iot-sim #2 .*sampling every 0\.25 s/);
      expect(xsIot([...base, "get"]).json.config.sampling.intervalS).toBe(0.25);
    } finally {
      expect(await sim.stop()).toBe(0);
    }
  }, 90_000);
});

describe("3. one reading per interval; --readings N takes N", () => {
  it("--readings 2 --interval 1 takes 2 readings; the SCD4x warming up does not hold the first back", async () => {
    const r = await runCli(["sim", "--readings", "2", "--interval", "1", "--json"]);
    expect(r.code).toBe(0);
    const events = jsonEvents(r.stdout);
    const readings = events.filter((e) => e.event === "reading");
    expect(readings.map((e) => e.seq)).toEqual([1, 2]);
    // The SCD4x's first result comes 5 s after it starts: the first reading has the others' values, without CO2.
    expect(readings[0].sample.thermometer.temperature).toBeGreaterThan(15);
    expect(readings[0].sample.carbonDioxideDetector).toBeUndefined();
    expect(events[events.length - 1]).toMatchObject({ event: "done", code: 0, readings: 2, acked: 2 });
  });

  it("--readings 20 --interval 0.1 takes 20 readings", async () => {
    const r = await runCli(["sim", "--readings", "20", "--interval", "0.1", "--json"]);
    expect(r.code).toBe(0);
    expect(jsonEvents(r.stdout).filter((e) => e.event === "reading")).toHaveLength(20);
    expect(jsonEvents(r.stdout).pop()).toMatchObject({ event: "done", readings: 20, acked: 20, failed: 0, thinned: 0 });
  });

  it("under pressure (broker down, QoS 1) the buffer is thinned, nothing counted sent, and the output says so", async () => {
    const port = await freePort();
    const r = await runCli(["sim", "--broker", `mqtt://127.0.0.1:${port}`, "--interval", "0.02", "--duration", "3"], { timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    const done = /^duration reached: (\d+) readings from 1 device\(s\), (\d+) sent, (\d+) acknowledged, (\d+) thinned out \(outbox full or not connected\), (\d+) never sent \(no connection\), (\d+) still on the device \(not sent, or unanswered\)$/m.exec(r.stdout);
    expect(done).not.toBeNull();
    const [readings, sent, , thinned, queued, buffered] = done!.slice(1).map(Number);
    expect(sent).toBe(0); // nothing reached a socket
    expect(thinned).toBeGreaterThan(0);
    expect(queued).toBe(32); // what the outbox (32 messages) took
    expect(buffered).toBeGreaterThan(0); // the rest waits, thinned, in the buffer
    expect(readings).toBe(queued + thinned + buffered); // every reading accounted for
    expect(r.stdout).toMatch(/telemetry: cannot go out as fast as readings come \(MQTT outbox full\): \d+ reading\(s\) thinned out so far, 32 kept/);
  });

  it("the status line says what was thinned, queued and retried, and that it waits for the first reading", () => {
    const base = { devices: 1, online: 0, readings: 0, sent: 0, acked: 0, failed: 0, reconnects: 0, state: "connecting" };
    expect(formatStatus(base)).toBe("[connecting] readings 0, sent 0, acknowledged 0, reconnects 0; waiting for the first reading");
    expect(formatStatus({ ...base, readings: 90, queued: 32, thinned: 26, failedAttempts: 4, nextAttemptInMs: 3250 })).toBe(
      "[connecting] readings 90, queued 32, sent 0, acknowledged 0, thinned 26 (telemetry slower than readings), reconnects 0; 4 failed connection attempt(s), next in 3.3 s",
    );
    expect(formatStatus({ ...base, readings: 1, gaveUp: 1, failedAttempts: 1 })).toMatch(/; gave up connecting$/);
    expect(formatStatus({ ...base, readings: 0, gaveUp: 1, failedAttempts: 1 })).toMatch(/; gave up connecting$/); // not "waiting for the first reading"
  });
});

describeWithPeer("mosquitto", "3./4. (mosquitto) a broker with Maximum Packet Size 256", () => {
  let broker: MosquittoPeer;
  beforeAll(async () => {
    broker = await startMosquitto({ extraConfig: ["max_packet_size 256"] });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  // 0.3 s: the readings after the SCD4x's first result (5 s) carry CO2 too and no longer fit one PUBLISH.
  it("--readings 20 --interval 0.3: 20 readings, the full ones split, 20 acknowledged, none lost; the retained configuration in parts", async () => {
    const sub = mqtt.connect(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 5, clean: true });
    const got: { topic: string; payload: Buffer }[] = [];
    sub.on("message", (topic, payload) => got.push({ topic, payload }));
    await new Promise<void>((resolve, reject) => sub.once("connect", () => sub.subscribe(["xs-iot/mps/config", "xs-iot/mps/config/#"], { qos: 1 }, (e) => (e ? reject(e) : resolve()))));
    try {
      const r = await runCli(["sim", "--broker", `mqtt://127.0.0.1:${broker.port}`, "--protocol", "mqtt5", "--id", "mps", "--readings", "20", "--interval", "0.3", "--json"]);
      expect(r.code).toBe(0);
      const events = jsonEvents(r.stdout);
      expect(events.filter((e) => e.event === "reading")).toHaveLength(20);
      expect(events.pop()).toMatchObject({ event: "done", readings: 20, sent: 20, acked: 20, failed: 0, thinned: 0 });
      expect(events.some((e) => e.event === "sent" && e.messages > 1)).toBe(true);
      expect(r.stdout).not.toMatch(/Maximum Packet Size|packet-too-large/);
      await new Promise((res) => setTimeout(res, 300));
      // 4. The configuration: .../config with the top-level values and "parts", each part retained on its own topic.
      const byTopic = new Map(got.map((g) => [g.topic, JSON.parse(g.payload.toString())]));
      const top = byTopic.get("xs-iot/mps/config");
      expect(top.deviceId).toBe("mps");
      expect(top.parts).toEqual(expect.arrayContaining(["mqtt", "coap", "sampling", "telemetry", "sensors"]));
      for (const part of top.parts) expect(byTopic.has(`xs-iot/mps/config/${part}`)).toBe(true);
      expect(byTopic.get("xs-iot/mps/config/mqtt").port).toBe(broker.port);
      expect(byTopic.get("xs-iot/mps/config/sampling").intervalS).toBe(0.3);
      for (const g of got) expect(g.payload.length + "xs-iot/mps/config/telemetry".length + 10).toBeLessThanOrEqual(256);
    } finally {
      sub.end(true);
    }
  }, 60_000);

  // The answers to get and patch carry the configuration (~750 B): cut to fit, the configuration
  // read back from where the device retains it in parts; a command that cannot fit is said at once.
  it("config get and patch answer at once (the configuration read from the retained parts); set, which cannot fit, is one line at once", async () => {
    const sim = new Sim(["--broker", `mqtt://127.0.0.1:${broker.port}`, "--protocol", "mqtt5", "--id", "mps-cfg", "--interval", "1"]);
    try {
      const line = await banner(sim, "configure");
      await sim.waitFor(/\] online$/);
      const get = await shell(line.replace(/ get$/, " --timeout 20 get"));
      expect(get.err).toMatch(/^xs-iot config: the device's answer \(\d+ B\) is over the broker's Maximum Packet Size; its configuration was read from xs-iot\/mps-cfg\/config \(retained\)\n$/);
      expect(get.code).toBe(0);
      const answer = JSON.parse(get.out);
      expect(answer).toMatchObject({ status: "ok", command: "config/get", config: { deviceId: "mps-cfg", protocol: "mqtt5", mqtt: { port: broker.port }, sampling: { intervalS: 1 } } });
      expect(answer.config.parts).toBeUndefined();
      expect(answer.cut).toBeUndefined();
      expect(Object.keys(answer.config.sensors)).toEqual(expect.arrayContaining(["sht3x", "bme280", "scd4x"]));
      const patch = await shell(line.replace(/ get$/, " --timeout 20 patch telemetry.intervalS=3"));
      expect(patch.code).toBe(0);
      expect(JSON.parse(patch.out)).toMatchObject({ status: "ok", command: "config/patch", changed: ["telemetry.intervalS"], config: { telemetry: { intervalS: 3 } } });
      // set sends the whole document (~700 B): refused before it is sent, with what works instead
      const set = await shell(line.replace(/ get$/, " --timeout 20 set telemetry.intervalS=4"));
      expect(set.code).toBe(1);
      expect(set.err.trim().split("\n").pop()).toMatch(/^xs-iot config: the command \(\d+ B of payload\) is over the broker's Maximum Packet Size of 256 B \(room for \d+ B on xs-iot\/mps-cfg\/cmd\/config\/set\): use patch with the keys that change$/);
    } finally {
      expect(await sim.stop()).toBe(0);
    }
  }, 90_000);
});

describeWithPeer("mosquitto_sub", "5. the fleet banner's watch line", () => {
  it("is a valid filter that mosquitto_sub takes, and shows the fleet's messages", async () => {
    const sim = new Sim(["--devices", "2", "--id", "fleet", "--interval", "0.3"]);
    try {
      const watch = await banner(sim, "watch");
      expect(watch).toMatch(/^mosquitto_sub -h 127\.0\.0\.1 -p \d+ -v -t 'xs-iot\/\+\/#'$/);
      const r = await shell(watch, (out) => /xs-iot\/fleet-00[12]\/tele \[/.test(out));
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
    } finally {
      expect(await sim.stop()).toBe(0);
    }
  }, 60_000);
});

describe("6. a broker that is down: attempts, next retry and give-up are reported; sent counts what a socket took", () => {
  it("an unreachable broker: each failed attempt and when the next one comes; sent 0, queued", async () => {
    const port = await freePort();
    const r = await runCli(["sim", "--broker", `mqtt://127.0.0.1:${port}`, "--readings", "2", "--interval", "0.5", "--timeout", "5", "--json"]);
    expect(r.code).toBe(1);
    const events = jsonEvents(r.stdout);
    const errors = events.filter((e) => e.event === "error").map((e) => e.message);
    // One line per failed attempt, with the reason and when the next one comes; nothing else (the socket's error is in it).
    // The first back-off is 1 s; the line says what is left of it when printed, a turn after the
    // attempt failed (0.9 s on a loaded machine: a real clock).
    const first = /^(.*); next attempt in ([\d.]+) s$/.exec(errors[0]);
    expect(first?.[1]).toBe(`mqtt: cannot connect to 127.0.0.1:${port} (attempt 1 failed: connect ECONNREFUSED 127.0.0.1:${port})`);
    expect(Number(first?.[2])).toBeGreaterThanOrEqual(0.5);
    expect(Number(first?.[2])).toBeLessThanOrEqual(1);
    errors.forEach((m, i) => expect(m).toMatch(new RegExp(`^mqtt: cannot connect to 127\\.0\\.0\\.1:${port} \\(attempt ${i + 1} failed: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\); next attempt in \\d+(\\.\\d)? s$`)));
    expect(errors.length).toBeGreaterThanOrEqual(2);
    const done = events.pop();
    expect(done).toMatchObject({ event: "done", code: 1, readings: 2, sent: 0, acked: 0, queued: 2, reconnects: 0 });
    // (the last attempt's line comes a turn after it fails: the run may end in between)
    expect(done.failedAttempts - errors.length).toBeGreaterThanOrEqual(0);
    expect(done.failedAttempts - errors.length).toBeLessThanOrEqual(1);
    expect(events.some((e) => e.event === "sent")).toBe(false);
  });

  it("the human output: one line per failed attempt, no 'offline' for a device that was never online", async () => {
    const port = await freePort();
    const r = await runCli(["sim", "--broker", `mqtt://127.0.0.1:${port}`, "--id", "never", "--readings", "1", "--interval", "0.5", "--timeout", "3"]);
    expect(r.code).toBe(1);
    const said = r.stdout.split("\n").filter((l) => /^\[never[\] ]/.test(l) && !/\] #\d+ |xs-iot never on sim|\] stopped$/.test(l));
    expect(said.length).toBeGreaterThanOrEqual(2);
    said.forEach((l, i) => expect(l).toMatch(new RegExp(`^\\[never\\] mqtt: cannot connect to 127\\.0\\.0\\.1:${port} \\(attempt ${i + 1} failed: connect ECONNREFUSED [^)]*\\); next attempt in [\\d.]+ s$`)));
  });

  /** aedes (what the embedded broker runs) in a child process on `port` (an ES module: not in jest's VM); stop() kills it by its PID. */
  async function aedes(port: number): Promise<{ stop(): Promise<void> }> {
    const code = `import { Aedes } from "aedes"; import net from "node:net";
      const b = await Aedes.createBroker(); const s = net.createServer(b.handle);
      s.listen(${port}, "127.0.0.1", () => console.log("LISTENING")); setTimeout(() => process.exit(0), 60000);`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", code], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", (d) => String(d).includes("LISTENING") && resolve());
      void exited.then(() => reject(new Error("aedes exited")));
    });
    return { stop: () => (child.exitCode === null && child.kill("SIGKILL"), exited) };
  }

  // The broker goes away under a connected device and comes back on the same port.
  it("the embedded broker stopped and started again: the lost connection and each failed attempt on one line, reconnects 1, sent only on a socket", async () => {
    const port = await freePort();
    let broker = await aedes(port);
    const sim = new Sim(["--broker", `mqtt://127.0.0.1:${port}`, "--protocol", "mqtt311", "--id", "down-up", "--readings", "8", "--interval", "0.5", "--json"]);
    try {
      await sim.waitFor(/"event":"acked"/);
      await broker.stop();
      const lost = JSON.parse(await sim.waitFor(/"event":"error".*connection to/)).message;
      expect(lost).toMatch(new RegExp(`^mqtt: connection to 127\\.0\\.0\\.1:${port} lost \\(.+\\); next attempt in [\\d.]+ s$`));
      const first = JSON.parse(await sim.waitFor(/"event":"error".*attempt 1 failed/)).message;
      expect(first).toMatch(new RegExp(`^mqtt: cannot connect to 127\\.0\\.0\\.1:${port} \\(attempt 1 failed: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\); next attempt in [\\d.]+ s$`));
      const sentBefore = sim.events().filter((e) => e.event === "sent").length;
      broker = await aedes(port);
      expect(await sim.closed).toBe(0);
      const events = sim.events();
      const from = events.findIndex((e) => e.event === "error" && e.message === lost);
      // (the CONNACK: what was queued is sent on it, then "online")
      const back = events.findIndex((e, i) => i > from && e.event === "log" && /mqtt: connected after \d+ failed attempt\(s\)$/.test(e.line));
      expect(back).toBeGreaterThan(from);
      // Between the loss and the reconnection: only the attempt lines, and nothing counted sent.
      const between = events.slice(from + 1, back);
      expect(between.filter((e) => e.event === "sent")).toEqual([]);
      for (const e of between.filter((e) => e.event === "error")) expect(e.message).toMatch(/^mqtt: cannot connect to .* \(attempt \d+ failed: .+\); next attempt in [\d.]+ s$/);
      expect(events.filter((e, i) => i < from && e.event === "sent").length).toBe(sentBefore);
      expect(events.pop()).toMatchObject({ event: "done", code: 0, readings: 8, sent: 8, acked: 8, queued: 0, reconnects: 1, failedAttempts: 0 });
    } finally {
      if (sim.child.exitCode === null) await sim.stop();
      await broker.stop();
    }
  }, 60_000);
});

describeWithPeer("mosquitto", "6. (mosquitto) a broker that refuses the device for good", () => {
  let broker: MosquittoPeer;
  beforeAll(async () => {
    broker = await startMosquitto({ extraConfig: ["allow_anonymous false"] });
  });
  afterAll(async () => {
    await broker?.stop();
  });
  it("the give-up is said once, with the reason; sent counts on connection", async () => {
    const r = await runCli(["sim", "--broker", `mqtt://127.0.0.1:${broker.port}`, "--id", "refused", "--readings", "1", "--interval", "0.5", "--timeout", "3", "--json"]);
    expect(r.code).toBe(1);
    const events = jsonEvents(r.stdout);
    // the reason by name (the device's message carries the code and its section, §3.2.2.2)
    const gaveUp = events.filter((e) => e.event === "error" && /^mqtt: gave up connecting to 127\.0\.0\.1:\d+: connection refused: 0x87 Not authorized \(/.test(e.message));
    expect(gaveUp).toHaveLength(1);
    // (it stops at the give-up, maybe before its reading: what it took is queued, none sent)
    const done = events.pop();
    expect(done).toMatchObject({ event: "done", sent: 0, queued: done.readings });
  });

  // The default --timeout (60 s + 3 x N x interval) is not waited for: nothing more can be acknowledged.
  it("--readings N: once every device has given up, exit 1 at once with the reason on one line and the status line", async () => {
    const one = await runCli(["sim", "--broker", `mqtt://127.0.0.1:${broker.port}`, "--id", "refused-1", "--readings", "3", "--interval", "0.5"], { timeoutMs: 30_000 });
    expect(one.code).toBe(1);
    const lines = one.stdout.trim().split("\n");
    expect(lines.pop()).toMatch(/^gave up connecting to 127\.0\.0\.1:\d+: connection refused: 0x87 Not authorized: \d+ readings from 1 device\(s\), 0 sent, 0 acknowledged/);
    expect(lines.some((l) => /^\[offline\] readings \d+.*, sent 0, acknowledged 0, reconnects 0; gave up connecting$/.test(l))).toBe(true);
    const fleet = await runCli(["sim", "--broker", `mqtt://127.0.0.1:${broker.port}`, "--id", "refused-f", "--devices", "3", "--readings", "3", "--interval", "0.5", "--json"], { timeoutMs: 30_000 });
    expect(fleet.code).toBe(1);
    expect(jsonEvents(fleet.stdout).pop()).toMatchObject({ event: "done", code: 1, devices: 3, sent: 0, reason: expect.stringMatching(/^every device gave up connecting \(the first: connection refused: 0x87/) });
  }, 70_000);
});

describe("7. --clock virtual --readings 100", () => {
  it("takes exactly 100 readings and stops", async () => {
    const r = await runCli(["sim", "--clock", "virtual", "--readings", "100", "--json"], { timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    const events = jsonEvents(r.stdout);
    expect(events.filter((e) => e.event === "reading")).toHaveLength(100);
    expect(events.pop()).toMatchObject({ event: "done", readings: 100, acked: 100 });
  }, 130_000);
});

describe("8. command authentication: nothing for the unauthenticated, a way back for the owner", () => {
  it("a wrong key learns only 'unauthorized'; a high --counter does not lock the default counter out", async () => {
    const sim = new Sim(["--interval", "1", "--json"]);
    try {
      await sim.waitFor(/"event":"state".*"online"/);
      const start = sim.events()[0];
      const base = ["config", "--device", "xs-iot-sim", "--via", start.broker];
      expect(xsIot([...base, "--key", start.key, "--counter", "1900000000000", "ping"]).code).toBe(0);
      const wrong = xsIot([...base, "--key", "ee".repeat(32), "ping"]);
      expect(wrong.code).toBe(1);
      expect(wrong.json.status).toBe("unauthorized");
      expect(wrong.json.reasons).toEqual(["unauthorized"]);
      expect(wrong.stdout + wrong.stderr).not.toContain("1900000000000");
      // The owner's default counter (the clock) is below the accepted one: resynchronised, authenticated.
      const again = xsIot([...base, "--key", start.key, "ping"]);
      expect(again.code).toBe(0);
      expect(again.json.status).toBe("ok");
      expect(again.stderr).toContain("the device has accepted counter 1900000000000, above this clock's; signing again with 1900000000001");
      // An explicit --counter below it is told what to use instead.
      const low = xsIot([...base, "--key", start.key, "--counter", "5", "ping"]);
      expect(low.code).toBe(1);
      expect(low.stderr).toContain("give --counter 1900000000002 or more");
    } finally {
      expect(await sim.stop()).toBe(0);
    }
  }, 60_000);
});

describe("9. small things a user notices", () => {
  it("--protocol coap: the device's start line comes before 'online'", async () => {
    const r = await runCli(["sim", "--protocol", "coap", "--readings", "1", "--interval", "0.5", "--json"]);
    expect(r.code).toBe(0);
    const events = jsonEvents(r.stdout);
    const startLine = events.findIndex((e) => e.event === "log" && / xs-iot xs-iot-sim on sim: /.test(e.line));
    const online = events.findIndex((e) => e.event === "state" && e.state === "online");
    expect(startLine).toBeGreaterThan(0);
    expect(online).toBeGreaterThan(startLine);
  });

  it("--home-assistant says what discovery it published", async () => {
    const r = await runCli(["sim", "--home-assistant", "--readings", "1", "--interval", "0.5"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/homeassistant: 6 discovery config\(s\) published, retained: homeassistant\/sensor\/xs-iot-sim\/\{temperature,humidity,pressure,illuminance,co2,battery\}\/config/);
  });

  it("--id takes the 32 characters a deviceId takes (fewer in a fleet, by the suffix)", () => {
    const id32 = "a".repeat(32);
    const ok = xsIot(["sim", "--id", id32, "--readings", "1", "--clock", "virtual", "--json"]);
    expect(ok.code).toBe(0);
    expect(jsonEvents(ok.stdout)[0].telemetryTopic).toBe(`xs-iot/${id32}/tele`);
    expect(xsIot(["sim", "--id", id32 + "b"]).stderr).toMatch(/--id must be 1 to 32 letters/);
    const fleet = xsIot(["sim", "--id", "f".repeat(29), "--devices", "2"]);
    expect(fleet.code).toBe(2);
    expect(fleet.stderr).toMatch(/--id must be 1 to 28 letters, digits, "-" or "_" \(a device id has at most 32 and --devices 2 appends 4 characters, "-001"\)/);
  });

  it.each([["sim", "--broker"], ["sim", "--server"], ["config", "--via"]])("%s %s with port 99999 names the range", (command, flag) => {
    const url = flag === "--server" ? "coap://127.0.0.1:99999/x" : flag === "--via" ? "mqtt://127.0.0.1:99999" : "mqtt://127.0.0.1:99999";
    const extra = command === "config" ? ["--device", "d", "--key", "ab".repeat(32), "get"] : flag === "--server" ? ["--protocol", "coap"] : [];
    const r = xsIot([command, flag, url, ...extra]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${flag}: port must be from 1 to 65535, got 99999`);
  });

  it("package.json does not claim MQTT-SN for the app before the app speaks it", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
    // MQTT-SN: until the app speaks it (a "mqttsn" protocol in the configuration), the description says so.
    const protocols = FIELDS.find((f) => f.key === "protocol")!.kind as { values: readonly string[] };
    if (!protocols.values.includes("mqttsn")) expect(pkg.description).toMatch(/MQTT-SN[^,]*\((planned|in progress|[^)]*not yet an app protocol)\)/);
    expect(pkg.description).toMatch(/MQTT 3\.1\.1\/5/);
  });

  it("docs: config.md's Limits describe the app as it is, app.md the start-up and the thinning", () => {
    const config = fs.readFileSync(path.join(ROOT, "docs/config.md"), "utf8");
    const limits = config.slice(config.indexOf("## Limits"));
    expect(limits).not.toMatch(/has its own ConnectivityHook/);
    // Every file a Limits item names exists.
    for (const m of limits.matchAll(/`((?:src|modules|sim)\/[\w/.-]+\.ts)`/g)) expect(fs.existsSync(path.join(ROOT, m[1]))).toBe(true);
    const app = fs.readFileSync(path.join(ROOT, "docs/app.md"), "utf8");
    expect(app).toMatch(/### Start-up/);
    expect(app).toMatch(/### Telemetry under pressure/);
  });
});

describe("10. installs", () => {
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, "package-lock.json"), "utf8"));
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));

  it("every package with an install script is decided in allowScripts (npm 11's advisory, npm 12's block)", () => {
    const withScripts = Object.entries(lock.packages as Record<string, any>)
      .filter(([, v]) => v.hasInstallScript)
      .map(([k]) => k.replace(/^.*node_modules\//, ""));
    expect(withScripts.length).toBeGreaterThan(0);
    for (const name of withScripts) expect(typeof pkg.allowScripts?.[name]).toBe("boolean");
  });

  it("nothing in the lock needs a newer Node than package.json's engines (no EBADENGINE on Node 20)", () => {
    const bad = Object.entries(lock.packages as Record<string, any>).filter(([, v]) => typeof v.engines?.node === "string" && /^>=\s*2[2-9]/.test(v.engines.node));
    expect(bad.map(([k]) => k)).toEqual([]);
  });

  it("the lock records every platform's optional packages (npm ci refuses a lock without them)", () => {
    for (const parent of ["node_modules/rollup", "node_modules/esbuild"]) {
      const optional = Object.keys(lock.packages[parent].optionalDependencies ?? {});
      expect(optional.length).toBeGreaterThan(5);
      for (const name of optional) expect(lock.packages[`node_modules/${name}`]).toBeDefined();
    }
  });

  it("the README says which install commands are supported", () => {
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    const quick = readme.slice(readme.indexOf("## Quickstart"), readme.indexOf("## The simulator"));
    expect(quick).toMatch(/npm ci/);
    expect(quick).toMatch(/npm install/);
  });
});
