/*
 * `xs-iot gateway` as a user runs it: a child process on a free port, our client through it
 * to mosquitto, the log lines, SIGINT, and usage errors. Node only.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describeWithPeer, startMosquitto, type MosquittoPeer } from "../support/peers";
import { runCli } from "../cli/run-cli";
import { makeClient, subscriber } from "./interop-support";
import { readPredefined } from "../../sim/node/cli-gateway";

describeWithPeer("mosquitto", "xs-iot gateway", () => {
  let broker: MosquittoPeer;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it("listens, bridges a client's QoS 1 PUBLISH on a pre-defined topic to the broker, logs it, stops on SIGINT", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xs-iot-gw-"));
    const file = path.join(dir, "predefined.json");
    fs.writeFileSync(file, JSON.stringify({ "cli/tele": 7 }));
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const sub = await subscriber(url, ["cli/#"]);
    let client: ReturnType<typeof makeClient> | undefined;
    const result = await runCli(["gateway", "--port", "0", "--broker", url, "--predefined", file], {
      timeoutMs: 30000,
      onLine(line) {
        const m = /listening on udp:\/\/127\.0\.0\.1:(\d+)/.exec(line);
        if (m) {
          client = makeClient({ clientId: "cli-dev", gateways: [{ address: "127.0.0.1", port: Number(m[1]) }], predefined: { "cli/tele": 7 } });
          client.client.connect();
          client.next("connected").then(() => client!.client.publish("cli/tele", "21.5", 1));
        }
        return line.includes('PUBLISH "cli/tele" QoS 1');
      },
    });
    client?.close();
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/1 pre-defined topics/);
    expect(result.stdout).toMatch(/CONNECT "cli-dev"/);
    expect(result.stdout).toMatch(/gateway: stopping \(SIGINT\)/);
    await new Promise((r) => setTimeout(r, 200));
    expect(sub.got.map((m) => [m.topic, m.payload])).toEqual([["cli/tele", "21.5"]]);
    await sub.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("refuses bad flags with exit code 2 and a message naming the flag", async () => {
    const a = await runCli(["gateway", "--port", "70000"]);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--port must be an integer from 0 to 65535/);
    const b = await runCli(["gateway", "--advertise", "10"]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--advertise needs --broadcast/);
    const c = await runCli(["gateway", "--broker", "http://x"]);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/--broker: scheme must be one of/);
  });

  it("reads pre-defined topics as JSON, as 'topic,id' lines and as Paho's '*,topic,id' lines", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xs-iot-gw-"));
    const a = path.join(dir, "a.conf");
    fs.writeFileSync(a, "# comment\n*,pre/a,1\npre/b, 2\n\n");
    expect(readPredefined(a)).toEqual({ "pre/a": 1, "pre/b": 2 });
    fs.writeFileSync(a, "pre/a,0\n");
    expect(() => readPredefined(a)).toThrow(/line 1: a topic and an id from 1 to 65534/);
    fs.writeFileSync(a, "{bad json");
    expect(() => readPredefined(a)).toThrow(/not valid JSON/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
