/*
 * A broker restart in the middle of a QoS 1 and a QoS 2 stream loses and duplicates
 * nothing (QoS 2 exactly once; QoS 1 at least once, duplicates only of messages in flight at
 * the restart, as §4.3.2 allows): mosquitto with persistence is stopped (SIGTERM, it saves its database) and
 * started again on the same port while our publisher keeps publishing into its outbox.
 * Every message is counted end to end at our subscriber. Node only.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { describeWithPeer, findPeer, freePort } from "../support/peers";
import { probe, text, until } from "./interop-helpers";
import type { Probe } from "./interop-helpers";

jest.setTimeout(60000);

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: "127.0.0.1" });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

async function startBroker(config: string, port: number): Promise<ChildProcess> {
  const child = spawn(findPeer("mosquitto")!, ["-c", config], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr!.on("data", (d) => (log += d));
  const start = Date.now();
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() - start > 10000) throw new Error("mosquitto did not start: " + log);
    await new Promise((r) => setTimeout(r, 50));
  }
  return child;
}

async function stopBroker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const gone = new Promise<void>((r) => child.once("exit", () => r()));
  process.kill(child.pid!, "SIGTERM");
  await gone;
}

describeWithPeer("mosquitto", "broker restart in the middle of QoS 1 and QoS 2 streams", () => {
  let dir: string;
  let broker: ChildProcess | undefined;
  const probes: Probe[] = [];
  afterEach(async () => {
    while (probes.length) probes.pop()!.stop();
    if (broker) await stopBroker(broker);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test.each([4, 5] as const)("MQTT %s: no message lost; QoS 2 exactly once; QoS 1 repeats only what was in flight", async (version) => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "xs-iot-restart-"));
    const port = await freePort();
    const config = path.join(dir, "mosquitto.conf");
    fs.writeFileSync(
      config,
      [
        `user ${os.userInfo().username}`,
        "allow_anonymous true",
        "persistence true",
        `persistence_location ${dir}/`,
        "max_queued_messages 10000",
        `listener ${port} 127.0.0.1`,
      ].join("\n") + "\n",
    );
    broker = await startBroker(config, port);
    const session = { clean: false, sessionExpiryInterval: 3600, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } };
    const sub = probe({ port, version, clientId: "restart-sub-" + version, ...session, receiveMaximum: 64 });
    probes.push(sub);
    await sub.connected();
    let granted = 0;
    sub.client.subscribe("rs/q1", { qos: 1 }, undefined, () => granted++);
    sub.client.subscribe("rs/q2", { qos: 2 }, undefined, () => granted++);
    await until(() => granted === 2, "SUBACKs");
    const pub = probe({ port, version, clientId: "restart-pub-" + version, ...session, outbox: { maxMessages: 1000, maxBytes: 100000 } });
    probes.push(pub);
    await pub.connected();

    const N = 150;
    let refused = 0;
    for (let i = 0; i < N; i++) {
      try {
        pub.client.publish("rs/q1", "a" + i, { qos: 1 });
        pub.client.publish("rs/q2", "b" + i, { qos: 2 });
      } catch {
        refused++;
      }
      if (i === 60) {
        await stopBroker(broker);
        broker = await startBroker(config, port);
      }
      await new Promise((r) => setTimeout(r, 3));
    }
    expect(refused).toBe(0);
    await until(() => pub.client.outbox.count === 0, "the publisher's outbox to drain", 30000);
    const count = (prefix: string) => {
      const seen = new Map<string, number>();
      for (const m of sub.messages) {
        const t = text(m.payload);
        if (t[0] === prefix) seen.set(t, (seen.get(t) ?? 0) + 1);
      }
      return seen;
    };
    await until(() => count("a").size === N && count("b").size === N, "every message at the subscriber", 30000).catch((e) => {
      throw new Error(e.message + `: QoS 1 ${count("a").size}/${N}, QoS 2 ${count("b").size}/${N}`);
    });
    await new Promise((r) => setTimeout(r, 300)); // late duplicates would show up here
    const dup1 = Array.from(count("a").values()).filter((n) => n > 1).length;
    const dup2 = Array.from(count("b").values()).filter((n) => n > 1).length;
    expect(sub.connects.length).toBeGreaterThanOrEqual(2); // it did reconnect across the restart
    expect(pub.connects.length).toBeGreaterThanOrEqual(2);
    // QoS 2 is exactly once [MQTT-4.3.3]: no duplicate at all.
    expect(dup2).toBe(0);
    // QoS 1 is at least once (§4.3.2): a message whose PUBACK the restart swallowed is sent
    // again with DUP [MQTT-4.4.0-1] and the broker, which keeps no QoS 1 state, forwards it
    // again. Only those in flight at the restart may repeat: at most the broker's quota.
    const quota = pub.client.session.v5 ? pub.client.session.v5.receiveMaximum : 65535;
    expect(dup1).toBeLessThanOrEqual(quota < 20 ? quota : 20);
    // eslint-disable-next-line no-console
    console.log(`MQTT ${version} restart: QoS 1 ${count("a").size}/${N} delivered, ${dup1} duplicate(s); QoS 2 ${count("b").size}/${N}, ${dup2} duplicate(s)`);
    expect(count("a").size).toBe(N);
    expect(count("b").size).toBe(N);
  });
});
