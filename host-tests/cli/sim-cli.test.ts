/*
 * `xs-iot sim` end to end in a child process, with the peers it runs itself:
 * the embedded broker (aedes) and the embedded CoAP sink. Flags and exit codes
 * are a contract (issue 7). Node only.
 */
import { spawnSync } from "node:child_process";
import { BIN, jsonEvents, runCli } from "./run-cli";

function run(args: string[], timeout = 60_000) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("xs-iot sim with its embedded peers", () => {
  it("--readings 5 with the embedded broker: every reading published at QoS 1 and acknowledged, exit 0", async () => {
    const r = await runCli(["sim", "--readings", "5", "--interval", "0.5", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const events = jsonEvents(r.stdout);
    const start = events[0];
    expect(start).toMatchObject({ event: "start", protocol: "mqtt311", embeddedBroker: true, telemetryTopic: "xs-iot/xs-iot-sim/tele" });
    expect(start.broker).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    expect(start.coap).toMatch(/^coap:\/\/127\.0\.0\.1:\d+$/);
    const acked = new Set(events.filter((e) => e.event === "acked").flatMap((e) => e.seqs));
    for (let seq = 1; seq <= 5; seq++) expect(acked.has(seq)).toBe(true);
    const done = events[events.length - 1];
    expect(done).toMatchObject({ event: "done", reason: "done", code: 0 });
    expect(done.acked).toBeGreaterThanOrEqual(5);
    expect(events.some((e) => e.event === "state" && e.state === "online")).toBe(true);
  });

  it("prints where to look: broker URL, topics, a mosquitto_sub line and a coap-client-notls line", async () => {
    const r = await runCli(["sim", "--readings", "1", "--interval", "0.5"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/broker +mqtt:\/\/127\.0\.0\.1:\d+ \(embedded aedes/);
    expect(r.stdout).toMatch(/telemetry +xs-iot\/xs-iot-sim\/tele/);
    expect(r.stdout).toMatch(/mosquitto_sub -h 127\.0\.0\.1 -p \d+ -v -t 'xs-iot\/xs-iot-sim\/#'/);
    expect(r.stdout).toMatch(/coap-client-notls -m get coap:\/\/127\.0\.0\.1:\d+\/sensors\/temperature/);
    expect(r.stdout).toMatch(/#1 temperature \d+\.\d\d °C {2}humidity \d+\.\d %RH {2}pressure \d+ Pa/);
    expect(r.stdout).toMatch(/done: \d+ readings from 1 device\(s\), \d+ sent, \d+ acknowledged/);
  });

  it("stops cleanly on SIGINT: the device says offline, the broker closes, exit 0", async () => {
    let readings = 0;
    const r = await runCli(["sim", "--interval", "0.2", "--json"], { onLine: (l) => l.includes('"event":"acked"') && ++readings >= 2 });
    expect(r.code).toBe(0);
    const events = jsonEvents(r.stdout);
    expect(events.some((e) => e.event === "state" && e.state === "stopped")).toBe(true);
    expect(events[events.length - 1]).toMatchObject({ event: "done", reason: "stopped", code: 0 });
  });

  it("the device's CoAP server answers while it runs (libcoap's coap-client-notls, when installed)", async () => {
    const { findPeer } = await import("../support/peers");
    const client = findPeer("coap-client-notls");
    let answer = "";
    let coapUrl = "";
    const r = await runCli(["sim", "--interval", "0.3", "--json"], {
      timeoutMs: 40_000,
      onLine: (l) => {
        const e = JSON.parse(l);
        if (e.event === "start") coapUrl = e.coap;
        if (e.event === "acked" && coapUrl && !answer) {
          if (!client) return true;
          const got = spawnSync(client, ["-m", "get", "-A", "110", `${coapUrl}/sensors/temperature`], { encoding: "utf8", timeout: 10_000 });
          answer = got.stdout || "(no answer)";
          return true;
        }
      },
    });
    expect(r.code).toBe(0);
    if (!client) return; // peers.ts policy: a missing peer is a skip locally (CI installs it)
    const pack = JSON.parse(answer.trim());
    expect(pack[0].bn).toBe("xs-iot-sim:");
    expect(pack[0].n).toBe("temperature");
    expect(pack[0].u).toBe("Cel");
    expect(pack[0].v).toBeGreaterThan(15);
  });

  it("--protocol coap without --server: the embedded sink receives CON POSTs of SenML and prints them", async () => {
    const r = await runCli(["sim", "--protocol", "coap", "--readings", "3", "--interval", "0.5", "--json"]);
    expect(r.code).toBe(0);
    const events = jsonEvents(r.stdout);
    const got = events.filter((e) => e.event === "coap-received");
    expect(got.length).toBeGreaterThanOrEqual(3);
    expect(got[0].confirmable).toBe(true);
    expect(got[0].contentFormat).toBe(110);
    expect(got[0].senml[0].bn).toBe("xs-iot-sim:");
  });

  it("--protocol coap --qos 0 --format cbor: NON POSTs of SenML CBOR (Content-Format 112)", async () => {
    const r = await runCli(["sim", "--protocol", "coap", "--qos", "0", "--format", "cbor", "--readings", "2", "--interval", "0.5", "--json"]);
    expect(r.code).toBe(0);
    const got = jsonEvents(r.stdout).filter((e) => e.event === "coap-received");
    expect(got.length).toBeGreaterThanOrEqual(2);
    expect(got[0].confirmable).toBe(false);
    expect(got[0].contentFormat).toBe(112);
    expect(got[0].senml[0]["-2"]).toBe("xs-iot-sim:"); // bn is label -2 (RFC 8428 §6)
  });

  it("runs to --readings N on a virtual clock: readings exactly --interval apart", () => {
    const r = run(["sim", "--readings", "3", "--interval", "2", "--clock", "virtual", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const events = jsonEvents(r.stdout);
    const readings = events.filter((e) => e.event === "reading");
    expect(readings.length).toBeGreaterThanOrEqual(3);
    for (const e of readings) {
      expect(e.device).toBe("xs-iot-sim");
      expect(e.sample.thermometer.temperature).toBeGreaterThan(15);
      expect(e.sample.thermometer.temperature).toBeLessThan(30);
    }
    const t = readings.map((e) => Date.parse(e.time));
    expect(t[2] - t[1]).toBe(2000);
    expect(events[events.length - 1]).toMatchObject({ event: "done", code: 0 });
  });

  it("runs several independent devices, each with its own id", () => {
    const r = run(["sim", "--devices", "3", "--readings", "2", "--interval", "0.5", "--json", "--id", "fleet"]);
    expect(r.code).toBe(0);
    const ids = new Set(jsonEvents(r.stdout).filter((e) => e.event === "acked").map((e) => e.device));
    expect([...ids].sort()).toEqual(["fleet-001", "fleet-002", "fleet-003"]);
  });

  it("exits non-zero when --readings cannot be reached (broker unreachable) within --timeout", () => {
    const r = run(["sim", "--broker", "mqtt://127.0.0.1:9", "--readings", "1", "--interval", "0.5", "--timeout", "3", "--json"]);
    expect(r.code).toBe(1);
    const events = jsonEvents(r.stdout);
    expect(events[events.length - 1]).toMatchObject({ event: "done", code: 1 });
    expect(events[events.length - 1].reason).toMatch(/timeout/);
  });

  it.each([
    [["sim", "--bogus"], /Unknown option '--bogus'/],
    [["sim", "--interval", "0"], /--interval must be a number above 0/],
    [["sim", "--interval", "abc"], /--interval must be a number/],
    [["sim", "--devices", "1.5"], /--devices must be an integer/],
    [["sim", "--clock", "fast"], /--clock must be one of real, virtual/],
    [["sim", "--board", "nope"], /--board must be one of/],
    [["sim", "--id", "has space"], /--id must be/],
    [["sim", "--readings"], /argument missing|requires a value|--readings/],
    [["sim", "--protocol", "http"], /--protocol must be one of mqtt311, mqtt5, coap/],
    [["sim", "--protocol", "mqtt5"], /--protocol mqtt5 needs --broker/],
    [["sim", "--broker", "ftp://x"], /--broker: scheme must be one of mqtt:\/\/, mqtts:\/\//],
    [["sim", "--broker", "not a url"], /--broker must be a URL/],
    [["sim", "--server", "coap://127.0.0.1/tele"], /--server is for --protocol coap/],
    [["sim", "--protocol", "coap", "--broker", "mqtt://127.0.0.1"], /--broker is for --protocol mqtt311 or mqtt5/],
    [["sim", "--qos", "3"], /--qos must be one of 0, 1, 2/],
    [["sim", "--coap-port", "0"], /--coap-port must be an integer from 1 to 65535/],
    [["sim", "--coap-port", "65535", "--devices", "2"], /leaves no room for 2 devices/],
    [["sim", "--format", "xml"], /--format must be one of json, cbor/],
    [["sim", "extra"], /unexpected argument "extra"/],
    [["sim", "--tls-ca", "package.json"], /--tls-ca needs --broker mqtts:\/\/host:port/],
    [["sim", "--broker", "mqtt://127.0.0.1", "--tls-ca", "package.json"], /--tls-ca needs --broker mqtts:\/\/host:port/],
    [["sim", "--broker", "mqtts://127.0.0.1", "--tls-cert", "package.json"], /--tls-cert and --tls-key go together/],
    [["sim", "--broker", "mqtts://127.0.0.1", "--tls-ca", "/no/such/file.pem"], /--tls-ca: cannot read "\/no\/such\/file.pem"/],
    [["sim", "--broker", "mqtts://127.0.0.1", "--tls-ca", "package-lock.json"], /--tls-ca: "package-lock.json" must hold 1 to 4000 bytes/],
    [["nosuchcommand"], /unknown command "nosuchcommand"/],
  ])("refuses %j with a clear message and exit code 2", (args, message) => {
    const r = run(args as string[]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message as RegExp);
    expect(r.stdout).not.toMatch(/reading/);
  });

  it("prints help for --help and exits 0", () => {
    const r = run(["sim", "--help"]);
    expect(r.code).toBe(0);
    for (const flag of ["--protocol", "--broker", "--tls-ca", "--tls-cert", "--tls-key", "--server", "--id", "--board", "--devices", "--interval", "--qos", "--readings", "--duration", "--clock", "--coap-port", "--json"]) expect(r.stdout).toContain(flag);
  });
});
