/*
 * The app over MQTT-SN as a user runs it: `xs-iot sim --protocol mqttsn` (a gateway in the
 * process, bridging to the embedded broker) and `--gateway udp://...` (our `xs-iot gateway`
 * in front of mosquitto); telemetry at the broker, the retained state, and configuration
 * commands through the printed `configure` line. Node only.
 */
import * as mqtt from "mqtt";
import { describeWithPeer, startMosquitto, type MosquittoPeer } from "../support/peers";
import { runCli } from "../cli/run-cli";
import { startGateway } from "./interop-support";
import { mqttsnClientId } from "../../src/mqttsn-link";
import type { UdpConstructor } from "../../modules/platform/io";
import { UDP } from "../../sim/node/udp";

function configure(line: string, ...command: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // The banner's line, as printed, with another command instead of "get" when asked.
  const args = line.trim().replace(/^configure\s+npx xs-iot /, "").split(/\s+/);
  if (command.length) args.splice(args.length - 1, 1, ...command);
  return runCli(args, { timeoutMs: 30000 });
}

describe("xs-iot sim --protocol mqttsn", () => {
  it("with the gateway in the process: telemetry and state reach the embedded broker; config get and patch work over MQTT-SN", async () => {
    let banner = "";
    const got: string[] = [];
    let sub: mqtt.MqttClient | undefined;
    let getOut = "";
    let patchOut = "";
    let readingsAfter = 0;
    let stopAt = Infinity;
    const r = await runCli(["sim", "--protocol", "mqttsn", "--interval", "0.5", "--duration", "60"], {
      timeoutMs: 90000,
      onLine(line) {
        banner += line + "\n";
        if (line.startsWith("  configure")) {
          const url = /--via (mqtt:\/\/[\d.:]+)/.exec(line)![1];
          sub = mqtt.connect(url);
          sub.on("message", (t, p) => got.push(t + " " + p.toString().slice(0, 20)));
          sub.subscribe("xs-iot/xs-iot-sim/#");
          (async () => {
            await new Promise((res) => setTimeout(res, 2000));
            getOut = (await configure(line)).stdout;
            patchOut = (await configure(line, "patch", "telemetry.intervalS=2")).stdout;
            readingsAfter = got.filter((g) => g.includes("/tele")).length;
            stopAt = Date.now() + 4000;
          })();
        }
        return Date.now() > stopAt;
      },
    });
    sub?.end();
    expect(r.code).toBe(0);
    expect(banner).toMatch(/gateway +udp:\/\/127\.0\.0\.1:\d+ \(MQTT-SN 1\.2, in this process, bridging to mqtt:\/\/127\.0\.0\.1:\d+\)/);
    expect(banner).toMatch(/mqttsn to 127\.0\.0\.1:\d+/);
    expect(got.some((g) => g.startsWith("xs-iot/xs-iot-sim/state online"))).toBe(true);
    expect(got.filter((g) => g.includes("/tele")).length).toBeGreaterThanOrEqual(4);
    expect(JSON.parse(getOut)).toMatchObject({ status: "ok", command: "config/get", config: { protocol: "mqttsn" } });
    expect(JSON.parse(patchOut)).toMatchObject({ status: "ok", command: "config/patch" });
    // after the patch, telemetry goes every 2 s instead of every 0.5 s: fewer messages than readings
    const tele = got.filter((g) => g.includes("/tele")).length;
    expect(tele - readingsAfter).toBeLessThan(6);
    expect(r.stdout).toMatch(/stopped: \d+ readings from 1 device\(s\)/);
  }, 100000);

  it("--readings 3 --json exits 0 with every reading acknowledged", async () => {
    const r = await runCli(["sim", "--protocol", "mqttsn", "--readings", "3", "--interval", "0.3", "--json"], { timeoutMs: 60000 });
    const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(r.code).toBe(0);
    expect(events.find((e) => e.event === "start")).toMatchObject({ event: "start", protocol: "mqttsn", embeddedGateway: true });
    expect(events.some((e) => e.event === "gateway" && /REGISTER "xs-iot\/xs-iot-sim\/tele"/.test(e.line))).toBe(true);
    const done = events.find((e) => e.event === "done");
    expect(done).toMatchObject({ code: 0, readings: 3, sent: 3, acked: 3 });
  }, 70000);

  it("a device id over MQTT-SN's 23 characters: the derived ClientId connects, topics keep the whole id (§5.3.1)", async () => {
    const id = "a-device-id-of-thirty-two-chars0";
    expect(id.length).toBe(32);
    const r = await runCli(["sim", "--protocol", "mqttsn", "--id", id, "--readings", "2", "--interval", "0.3", "--json"], { timeoutMs: 60000 });
    const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(r.code).toBe(0);
    const lines = events.filter((e) => e.event === "gateway").map((e) => e.line as string);
    expect(lines.some((l) => l.includes(`CONNECT "${mqttsnClientId(id)}"`))).toBe(true);
    expect(mqttsnClientId(id)).toMatch(/^a-device-id-of-[0-9a-f]{8}$/);
    expect(lines.some((l) => l.includes(`REGISTER "xs-iot/${id}/tele"`))).toBe(true);
    expect(events.find((e) => e.event === "done")).toMatchObject({ code: 0, readings: 2, acked: 2 });
  }, 70000);

  it("refuses --gateway without mqttsn, and --gateway with --broker", async () => {
    const a = await runCli(["sim", "--gateway", "udp://127.0.0.1:1884"]);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--gateway is for --protocol mqttsn/);
    const b = await runCli(["sim", "--protocol", "mqttsn", "--gateway", "udp://127.0.0.1:1884", "--broker", "mqtt://127.0.0.1:1883"]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--gateway and --broker/);
  });
});

describeWithPeer("mosquitto", "xs-iot sim --protocol mqttsn --gateway (our gateway in front of mosquitto)", () => {
  let broker: MosquittoPeer;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it("readings at QoS 2 arrive at an MQTT.js subscriber of mosquitto through the gateway", async () => {
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const { gateway, port } = await startGateway({ broker: url, retryMs: 1000 });
    const sub = mqtt.connect(url);
    const got: string[] = [];
    sub.on("message", (t, p) => t.endsWith("/tele") && got.push(p.toString()));
    await sub.subscribeAsync("xs-iot/gw-dev/#", { qos: 2 });
    const r = await runCli(["sim", "--protocol", "mqttsn", "--gateway", `udp://127.0.0.1:${port}`, "--id", "gw-dev", "--qos", "2", "--readings", "4", "--interval", "0.3"], { timeoutMs: 60000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/gateway +udp:\/\/127\.0\.0\.1:\d+ \(MQTT-SN 1\.2\)/);
    expect(r.stdout).toMatch(/done: \d+ readings from 1 device\(s\), \d+ sent, \d+ acknowledged/);
    await new Promise((res) => setTimeout(res, 300));
    const seqs = got.map((p) => JSON.parse(p).length);
    expect(seqs.length).toBeGreaterThanOrEqual(4);
    await sub.endAsync();
    await gateway.close();
  }, 70000);

  it("pre-defined topic ids from the configuration (mqtt.snPredefined, the gateway's --predefined): telemetry goes with no REGISTER (§6.7)", async () => {
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const lines: string[] = [];
    const { gateway, port } = await startGateway({ broker: url, predefined: { "xs-iot/pre-dev/tele": 21 } }, lines);
    const sub = mqtt.connect(url);
    const got: string[] = [];
    sub.on("message", (t) => got.push(t));
    await sub.subscribeAsync("xs-iot/pre-dev/tele", { qos: 1 });
    let key = "";
    let patch: Promise<{ stdout: string }> | undefined;
    let atPatch = -1;
    let ackedAfter = 0;
    const r = await runCli(["sim", "--protocol", "mqttsn", "--gateway", `udp://127.0.0.1:${port}`, "--id", "pre-dev", "--interval", "0.5", "--duration", "50", "--json"], {
      timeoutMs: 70000,
      onLine(line) {
        const e = JSON.parse(line);
        if (e.event === "start") key = e.key;
        if (e.event === "acked" && !patch)
          patch = runCli(["config", "--device", "pre-dev", "--via", url, "--key", key, "patch", 'mqtt.snPredefined={"xs-iot/pre-dev/tele":21}'], { timeoutMs: 40000 }).then((p) => {
            atPatch = lines.length;
            return p;
          });
        if (e.event === "acked" && atPatch >= 0) ackedAfter++;
        return ackedAfter >= 3;
      },
    });
    const answer = JSON.parse((await patch!).stdout);
    expect(answer).toMatchObject({ status: "ok", command: "config/patch" });
    expect(r.stdout).toMatch(/"event":"done"/);
    const before = lines.slice(0, atPatch);
    const after = lines.slice(atPatch);
    // Before: the topic registered; after the change (a new connection, safe apply): PUBLISHes with no REGISTER.
    expect(before.some((l) => l.includes('pre-dev REGISTER "xs-iot/pre-dev/tele"'))).toBe(true);
    expect(after.filter((l) => l.includes('pre-dev PUBLISH "xs-iot/pre-dev/tele"')).length).toBeGreaterThanOrEqual(3);
    expect(after.some((l) => l.includes('REGISTER "xs-iot/pre-dev/tele"'))).toBe(false);
    // Two sessions (the change is a connectivity one: a new client, tried and kept), the topic registered by the first only.
    expect(lines.filter((l) => l.includes('CONNECT "pre-dev"')).length).toBe(2);
    expect(lines.filter((l) => l.includes('REGISTER "xs-iot/pre-dev/tele"')).length).toBe(1);
    expect(got.length).toBeGreaterThanOrEqual(4);
    await sub.endAsync();
    await gateway.close();
  }, 80000);
});

describeWithPeer("mosquitto", "xs-iot sim --protocol mqttsn: the gateway restarted while the device runs", () => {
  let broker: MosquittoPeer;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  // A gateway that keeps no session across its restart (its broker sessions are clean, as a
  // gateway with no persistence): what the device subscribed is gone, and MQTT-SN's CONNACK
  // cannot say so (§5.4.5 has no session-present flag).
  const CLEAN = { clean: true };
  it("a command sent after the restart is applied: the subscriptions go again after every CONNACK (MQTT-SN 1.2 §5.4.5: no session-present flag)", async () => {
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const first = await startGateway({ broker: url, brokerOptions: CLEAN });
    const lines: string[] = [];
    let second: Awaited<ReturnType<typeof startGateway>> | undefined;
    let key = "";
    let restarted = false;
    let answer: Promise<{ code: number | null; stdout: string; stderr: string }> | undefined;
    let telemetryAfter = 0;
    let answered = false;
    const r = await runCli(["sim", "--protocol", "mqttsn", "--gateway", `udp://127.0.0.1:${first.port}`, "--id", "rs-dev", "--interval", "0.5", "--duration", "60", "--json"], {
      timeoutMs: 80000,
      onLine(line) {
        const e = JSON.parse(line);
        if (e.event === "start") key = e.key;
        if (e.event === "acked" && !restarted) {
          restarted = true;
          (async () => {
            await first.gateway.close();
            second = await startGateway({ broker: url, brokerOptions: CLEAN, udp: { io: UDP as unknown as UdpConstructor, port: first.port } }, lines);
          })();
        }
        if (e.event === "acked" && second && lines.some((l) => /rs-dev connected to the broker/.test(l))) telemetryAfter++;
        // two readings acknowledged through the restarted gateway: the device is back; then the command
        if (telemetryAfter === 2 && !answer)
          answer = runCli(["config", "--device", "rs-dev", "--via", url, "--key", key, "patch", "telemetry.intervalS=2"], { timeoutMs: 30000 }).then((a) => ((answered = true), a));
        return answered;
      },
    });
    const a = await answer!;
    await second?.gateway.close();
    expect(r.code).toBe(0);
    expect(a.stderr).toBe("");
    expect(JSON.parse(a.stdout)).toMatchObject({ status: "ok", command: "config/patch" });
    expect(r.stdout).toMatch(/config\/patch applied \(telemetry\.intervalS\)/);
    // the restarted gateway got the subscription again after its CONNACK
    expect(lines.some((l) => l.includes('rs-dev SUBSCRIBE "xs-iot/rs-dev/cmd/#"'))).toBe(true);
  }, 90000);
});
