/*
 * `xs-iot config --via coap://...` and CoAP error answers (issue 15): the code is said on one
 * line, with its name and what it means (RFC 7252 §5.9, §12.1.2), never as a stack trace. A
 * device's own error answer (4.01 for a wrong key, 5.03 over its rate limit) keeps its result
 * as JSON on stdout; an answer that is not a device's (another CoAP server, a proxy) is that
 * line alone. The device is the real CLI's (`xs-iot sim --protocol coap`), the other servers
 * libcoap's coap-server-notls and node-coap. Node only.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as dgram from "node:dgram";
import * as path from "node:path";
import * as coap from "coap";
import { coapErrorLine } from "../../sim/node/coap-codes";
import { describeWithPeer, freePort, startCoapServer, type Peer } from "../support/peers";
import { BIN, runCli } from "./run-cli";

const ROOT = path.join(__dirname, "../..");
const WRONG_KEY = "cd".repeat(32);

/** stderr's lines, and that none is a stack frame. */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
  return lines[0];
}

describe("a device's CoAP error answers (xs-iot sim --protocol coap)", () => {
  let sim: ChildProcess;
  let port = 0;
  let key = "";
  beforeAll(async () => {
    port = await freePort();
    sim = spawn(process.execPath, [BIN, "sim", "--protocol", "coap", "--coap-port", String(port), "--id", "coap-err", "--interval", "1", "--duration", "120"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    key = await new Promise<string>((resolve, reject) => {
      let out = "";
      sim.stdout!.on("data", (d) => {
        out += d;
        const m = / --key ([0-9a-f]{64}) get/.exec(out);
        if (m && /^\[coap-err[ \]]/m.test(out)) resolve(m[1]);
      });
      sim.once("exit", (code) => reject(new Error(`xs-iot sim exited ${code}: ${out}`)));
    });
  }, 30_000);
  afterAll(async () => {
    if (sim && sim.exitCode === null) {
      const closed = new Promise((r) => sim.once("close", r));
      sim.kill("SIGINT");
      await closed;
    }
  });

  it("4.01 (a wrong key): the result on stdout, the code in words on stderr, exit 1", async () => {
    const r = await runCli(["config", "--device", "coap-err", "--via", `coap://127.0.0.1:${port}`, "--key", WRONG_KEY, "get"], { cwd: ROOT });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: "unauthorized", coap: "4.01" });
    expect(oneLine(r.stderr)).toBe(
      `xs-iot config: coap://127.0.0.1:${port} answered 4.01 Unauthorized: the command's signature was refused: check --key and --device (a device tells an unauthenticated sender nothing more)`,
    );
  });

  it("5.03 (over the device's rate limit, RFC 7252 §5.9.3.4): named, with when to ask again", async () => {
    // Unsigned POSTs, 100 a second, while the CLI asks: the rate limit (a burst of 10, 2 a second) is checked before anything else.
    const flood = dgram.createSocket("udp4");
    let mid = 1;
    const post = () => {
      const path = (s: string, delta: number) => Buffer.concat([Buffer.from([(delta << 4) | s.length]), Buffer.from(s)]);
      // NON POST /cmd/config/get (RFC 7252 §3: Ver 1, T 1, TKL 0; Uri-Path is option 11)
      const msg = Buffer.concat([Buffer.from([0x50, 0x02, (mid >> 8) & 0xff, mid++ & 0xff]), path("cmd", 11), path("config", 0), path("get", 0)]);
      flood.send(msg, port, "127.0.0.1");
    };
    // The device's answers to the flood, as they are on the wire: each 5.03's Max-Age (option 14), or null without one.
    const maxAges: (number | null)[] = [];
    flood.on("message", (m) => {
      if (m[1] !== 0xa3) return; // 5.03 (RFC 7252 §3: Code 5.03 = 0xa3)
      let i = 4 + (m[0] & 15);
      let number = 0;
      let maxAge: number | null = null;
      while (i < m.length && m[i] !== 0xff) {
        let delta = m[i] >> 4;
        let len = m[i++] & 15;
        // §3.1: 13 and 14 extend the delta or the length by one or two bytes
        if (delta === 13) delta = m[i++] + 13;
        else if (delta === 14) (delta = m.readUInt16BE(i) + 269), (i += 2);
        if (len === 13) len = m[i++] + 13;
        else if (len === 14) (len = m.readUInt16BE(i) + 269), (i += 2);
        number += delta;
        if (number === 14) maxAge = len ? m.readUIntBE(i, len) : 0;
        i += len;
      }
      maxAges.push(maxAge);
    });
    for (let i = 0; i < 12; i++) post();
    const timer = setInterval(post, 10);
    try {
      // A token comes back every 0.5 s and the next flood POST takes it: the CLI's command can
      // slip in between (about 1 in 50); it is asked again then, up to 5 times.
      let r = await runCli(["config", "--device", "coap-err", "--via", `coap://127.0.0.1:${port}`, "--key", key, "get"], { cwd: ROOT });
      for (let i = 0; i < 4 && r.code === 0; i++) r = await runCli(["config", "--device", "coap-err", "--via", `coap://127.0.0.1:${port}`, "--key", key, "get"], { cwd: ROOT });
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ status: "busy", coap: "5.03" });
      expect(oneLine(r.stderr)).toMatch(
        new RegExp(`^xs-iot config: coap://127\\.0\\.0\\.1:${port} answered 5\\.03 Service Unavailable: the server cannot answer now \\(a device: more commands than its rate limit lets through\\); ask again in \\d+ s \\(Max-Age\\)$`),
      );
      // RFC 7252 §5.9.3.4: a 5.03 carries Max-Age, the seconds after which to retry (the rate limit's
      // next token: 1 s at 2 a second; not the default 60 s, which goes without the option, §5.10.5).
      expect(maxAges.length).toBeGreaterThan(0);
      for (const a of maxAges) expect(a).toBe(1);
    } finally {
      clearInterval(timer);
      flood.close();
    }
  });
});

describeWithPeer("coap-server-notls", "a CoAP server that is not the device (libcoap)", () => {
  let server: Peer;
  beforeAll(async () => {
    server = await startCoapServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("its error answer is one line on stderr, nothing on stdout, exit 1", async () => {
    const r = await runCli(["config", "--device", "d", "--via", `coap://127.0.0.1:${server.port}`, "--key", WRONG_KEY, "--timeout", "3", "get"], { cwd: ROOT });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(oneLine(r.stderr)).toMatch(new RegExp(`^xs-iot config: coap://127\\.0\\.0\\.1:${server.port} answered 4\\.0[45] (Not Found|Method Not Allowed)( \\(".*"\\))?: .+`));
  });
});

describe("a server or proxy that answers 5.03 or 4.01 with a diagnostic payload (node-coap)", () => {
  let server: coap.Server;
  let port = 0;
  let answer: { code: string; payload: string; maxAge?: number } = { code: "5.03", payload: "" };
  beforeAll(async () => {
    port = await freePort();
    server = coap.createServer();
    server.on("request", (_req: coap.IncomingMessage, res: coap.OutgoingMessage) => {
      res.code = answer.code;
      if (answer.maxAge !== undefined) res.setOption("Max-Age", answer.maxAge);
      res.end(answer.payload || undefined);
    });
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it.each([
    [{ code: "5.03", payload: "overloaded,\nback soon", maxAge: 7 }, 'answered 5.03 Service Unavailable ("overloaded, back soon"): the server cannot answer now (a device: more commands than its rate limit lets through); ask again in 7 s (Max-Age)'],
    [{ code: "4.01", payload: "" }, "answered 4.01 Unauthorized: the command's signature was refused: check --key and --device (a device tells an unauthenticated sender nothing more)"],
    [{ code: "5.04", payload: "" }, "answered 5.04 Gateway Timeout: a proxy got no answer in time from the server behind it"],
  ])("%j: one line naming the code and what it means", async (a, said) => {
    answer = a;
    const r = await runCli(["config", "--device", "d", "--via", `coap://127.0.0.1:${port}`, "--key", WRONG_KEY, "--timeout", "3", "patch", "sampling.intervalS=2"], { cwd: ROOT });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(oneLine(r.stderr)).toBe(`xs-iot config: coap://127.0.0.1:${port} ${said}`);
  });
});

describe("coapErrorLine", () => {
  const res = (code: number, extra: { payload?: string; contentFormat?: number } = {}) => ({
    code,
    status: `${code >> 5}.${String(code & 31).padStart(2, "0")}`,
    ok: code >> 5 === 2,
    options: [],
    maxAge: 60,
    contentFormat: extra.contentFormat,
    payload: new TextEncoder().encode(extra.payload ?? ""),
  });
  it("a success is no error; a code with no name says its class; a payload with a Content-Format is not a diagnostic", () => {
    expect(coapErrorLine(res(0x45))).toBeUndefined();
    expect(coapErrorLine(res(0x9f))).toBe("4.31 (a client error)");
    expect(coapErrorLine(res(0xbe))).toBe("5.30 (a server error)");
    expect(coapErrorLine(res(0x80, { payload: '{"status":"invalid"}', contentFormat: 50 }))).toBe("4.00 Bad Request: the server refused the request as malformed (a device says why in its reasons)");
    expect(coapErrorLine(res(0x8d, { payload: "x".repeat(300) }))).toBe(`4.13 Request Entity Too Large ("${"x".repeat(117)}..."): the command is larger than the server takes`);
  });
});
