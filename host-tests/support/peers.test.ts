/** Tests for the peer helpers: real mosquitto and libcoap processes on 127.0.0.1. */
import { spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as dgram from "dgram";
import * as os from "os";
import * as path from "path";
import * as mqtt from "mqtt";
import * as coap from "coap";
import {
  freePort,
  findPeer,
  requirePeer,
  describeWithPeer,
  startMosquitto,
  startCoapServer,
  coapClient,
  pidAlive,
  MosquittoPeer,
  Peer,
} from "./peers";
import { makeTlsFixture } from "./tls";

describe("freePort", () => {
  it("returns a port that is free for TCP and UDP on 127.0.0.1", async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const srv = net.createServer();
    await new Promise<void>((resolve, reject) => {
      srv.once("error", reject);
      srv.listen(port, "127.0.0.1", resolve);
    });
    await new Promise<void>((resolve) => srv.close(() => resolve()));
    const sock = dgram.createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(port, "127.0.0.1", resolve);
    });
    await new Promise<void>((resolve) => sock.close(() => resolve()));
  });
});

describe("requirePeer", () => {
  const missing = "no-such-peer-binary" as unknown as "mosquitto";

  it("returns null for a missing binary outside CI (the tests then skip)", () => {
    const warn = jest.spyOn(console, "warn").mockImplementation(() => {});
    expect(requirePeer(missing, { CI: "false" })).toBeNull();
    expect(warn.mock.calls[0][0]).toContain("skipping tests that need no-such-peer-binary");
    warn.mockRestore();
  });

  it("throws for a missing binary when CI=true", () => {
    expect(() => requirePeer(missing, { CI: "true" })).toThrow(/peer missing in CI/);
  });

  it("returns the path of an installed binary", () => {
    const sh = findPeer("openssl");
    if (sh) expect(requirePeer("openssl", { CI: "true" })).toBe(sh);
    else expect(() => requirePeer("openssl", { CI: "true" })).toThrow();
  });
});

async function waitGone(pid: number): Promise<void> {
  for (let i = 0; i < 100 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 20));
}

describeWithPeer("mosquitto", "startMosquitto", () => {
  let broker: MosquittoPeer | null = null;
  afterEach(async () => {
    if (broker) await broker.stop();
    broker = null;
  });

  it("starts a broker that MQTT.js can publish and subscribe through, then stops it by PID", async () => {
    broker = await startMosquitto();
    expect(pidAlive(broker.pid)).toBe(true);
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 5, reconnectPeriod: 0 });
    try {
      const got = new Promise<string>((resolve) => client.on("message", (_t, payload) => resolve(payload.toString())));
      await client.subscribeAsync("xs-iot/test", { qos: 1 });
      await client.publishAsync("xs-iot/test", "hello", { qos: 1 });
      expect(await got).toBe("hello");
    } finally {
      await client.endAsync();
    }
    const pid = broker.pid;
    await broker.stop();
    broker = null;
    await waitGone(pid);
    expect(pidAlive(pid)).toBe(false);
  });

  it("stop() is idempotent and the port is closed afterwards", async () => {
    broker = await startMosquitto();
    const { port } = broker;
    await Promise.all([broker.stop(), broker.stop()]);
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(false);
      });
      s.once("error", () => resolve(true));
    });
    expect(refused).toBe(true);
    broker = null;
  });

  it("serves TLS with the test CA and keeps persistence in the given directory", async () => {
    const tls = makeTlsFixture();
    const persistenceDir = fs.mkdtempSync(path.join(os.tmpdir(), "xs-iot-persist-"));
    try {
      broker = await startMosquitto({ tls, persistenceDir });
      expect(broker.tlsPort).toBeGreaterThan(0);
      const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${broker.tlsPort}`, {
        ca: tls.ca,
        reconnectPeriod: 0,
        clientId: "persisted-session",
        clean: false,
      });
      await client.subscribeAsync("keep/me", { qos: 1 });
      await client.endAsync();
      // Wrong CA: the handshake must fail.
      const other = makeTlsFixture();
      await expect(
        mqtt.connectAsync(`mqtts://127.0.0.1:${broker.tlsPort}`, { ca: other.ca, reconnectPeriod: 0, connectTimeout: 3000 }),
      ).rejects.toThrow();
      other.cleanup();
      await broker.stop();
      broker = null;
      // mosquitto writes its store on shutdown: the persistent session is in it.
      expect(fs.readdirSync(persistenceDir)).toContain("mosquitto.db");
    } finally {
      tls.cleanup();
      fs.rmSync(persistenceDir, { recursive: true, force: true });
    }
  });

  it("is killed by its guard, config removed, when the process that started it dies by SIGKILL", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(__dirname, "guard-child.ts")], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const line = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (b) => {
        out += b.toString();
        if (out.includes("\n")) resolve(out.trim());
      });
      child.once("exit", () => reject(new Error("child exited: " + out)));
    });
    const m = /^PEER (\d+) (\S+)$/.exec(line);
    expect(m).not.toBeNull();
    const pid = Number(m![1]);
    expect(pidAlive(pid)).toBe(true);
    child.kill("SIGKILL");
    for (let i = 0; i < 200 && (pidAlive(pid) || fs.existsSync(m![2])); i++) await new Promise((r) => setTimeout(r, 25));
    expect(pidAlive(pid)).toBe(false);
    expect(fs.existsSync(m![2])).toBe(false);
  }, 20000);

  it("cleans up its generated config when stopped", async () => {
    broker = await startMosquitto();
    const conf = broker.configFile;
    expect(fs.readFileSync(conf, "utf8")).toContain(`listener ${broker.port} 127.0.0.1`);
    await broker.stop();
    broker = null;
    expect(fs.existsSync(conf)).toBe(false);
  });
});

describeWithPeer("coap-server-notls", "startCoapServer", () => {
  let server: Peer | null = null;
  afterEach(async () => {
    if (server) await server.stop();
    server = null;
  });

  it("answers GET /.well-known/core from coap-client-notls (RFC 6690 §4)", async () => {
    requirePeer("coap-client-notls");
    server = await startCoapServer();
    const r = coapClient(["-m", "get", "-B", "5", `coap://127.0.0.1:${server.port}/.well-known/core`]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/<\/[^>]*>/); // a CoRE Link Format list
    const pid = server.pid;
    await server.stop();
    server = null;
    await waitGone(pid);
    expect(pidAlive(pid)).toBe(false);
  });

  it("answers GET /.well-known/core from node-coap", async () => {
    server = await startCoapServer();
    const agent = new coap.Agent({ type: "udp4" });
    try {
      const payload = await new Promise<string>((resolve, reject) => {
        const req = coap.request({ hostname: "127.0.0.1", port: server!.port, pathname: "/.well-known/core", agent });
        req.on("response", (res: coap.IncomingMessage) => {
          expect(res.code).toBe("2.05");
          resolve(res.payload.toString());
        });
        req.on("error", reject);
        req.end();
      });
      expect(payload).toContain("</");
    } finally {
      agent.close();
    }
  });
});
