/**
 * Real peers for interoperability tests, on Node only (not portable: never import from an
 * `// @xs` file): mosquitto (Debian `mosquitto`, /usr/sbin/mosquitto) and libcoap's
 * `coap-server-notls` (Debian `libcoap3-bin`).
 *
 * - startMosquitto() / startCoapServer() start the peer on a free 127.0.0.1 port, wait until
 *   it answers, and return { port, pid, stop() }. stop() sends SIGTERM, then SIGKILL after a
 *   grace period, and resolves once the process is gone.
 * - A peer never outlives the test process: every running peer is killed on process exit,
 *   and a tiny guard process (`sh`, reading our stdin pipe) kills it should this process die
 *   without running exit handlers (SIGKILL, a crashed jest worker).
 * - requirePeer(name) / describeWithPeer(name, ...): a missing binary skips the tests locally,
 *   with a message saying what to install, but fails them when CI=true.
 * - freePort() finds a port free for both TCP and UDP on 127.0.0.1.
 */
import { spawn, spawnSync, ChildProcess } from "child_process";
import * as dgram from "dgram";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";

// ------------------------------------------------------------------ binaries

export type PeerName = "mosquitto" | "mosquitto_pub" | "mosquitto_sub" | "coap-server-notls" | "coap-client-notls" | "openssl";

const DEBIAN_PACKAGE: Record<PeerName, string> = {
  mosquitto: "mosquitto",
  mosquitto_pub: "mosquitto-clients",
  mosquitto_sub: "mosquitto-clients",
  "coap-server-notls": "libcoap3-bin",
  "coap-client-notls": "libcoap3-bin",
  openssl: "openssl",
};

const SEARCH_DIRS = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin", "/bin"];

/** Absolute path of a peer binary, or null when it is not installed. */
export function findPeer(name: PeerName): string | null {
  const dirs = SEARCH_DIRS.concat((process.env.PATH || "").split(path.delimiter).filter(Boolean));
  for (const dir of dirs) {
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return null;
}

const warned = new Set<string>();

/**
 * The peer's path when installed. When it is missing: with CI=true (in `env`, default
 * process.env) throws, so the suite fails; otherwise warns once and returns null.
 */
export function requirePeer(name: PeerName, env: NodeJS.ProcessEnv = process.env): string | null {
  const found = findPeer(name);
  if (found) return found;
  const hint = `${name} is not installed (Debian: apt-get install ${DEBIAN_PACKAGE[name]})`;
  if (env.CI === "true") throw new Error(`peer missing in CI: ${hint}`);
  if (!warned.has(name)) {
    warned.add(name);
    // eslint-disable-next-line no-console
    console.warn(`skipping tests that need ${name}: ${hint}`);
  }
  return null;
}

/** describe() when the peer is installed; describe.skip() with a reason locally; throws in CI. */
export function describeWithPeer(name: PeerName, title: string, fn: () => void): void {
  if (requirePeer(name)) describe(title, fn);
  else describe.skip(`${title} (skipped: ${name} not installed)`, fn);
}

// ------------------------------------------------------------------ ports

function tryBindTcp(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen({ port, host: "127.0.0.1", exclusive: true }, () => {
      const got = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(got));
    });
  });
}

function tryBindUdp(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket("udp4");
    sock.once("error", (e) => {
      sock.close();
      reject(e);
    });
    sock.bind({ port, address: "127.0.0.1", exclusive: true }, () => {
      const got = sock.address().port;
      sock.close(() => resolve(got));
    });
  });
}

/** A port on 127.0.0.1 that is free for both TCP and UDP right now. */
export async function freePort(): Promise<number> {
  let lastError: unknown = null;
  for (let i = 0; i < 50; i++) {
    try {
      const port = await tryBindTcp(0);
      await tryBindUdp(port);
      return port;
    } catch (e) {
      lastError = e;
    }
  }
  throw new Error("freePort: no port free for TCP and UDP: " + String(lastError));
}

// ------------------------------------------------------------------ processes

export interface Peer {
  /** The main port (MQTT over TCP, CoAP over UDP). */
  port: number;
  pid: number;
  /** Everything the peer printed so far (stdout and stderr). */
  logs(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

interface Running {
  child: ChildProcess;
  guard: ChildProcess | null;
}

const running = new Set<Running>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const r of running) {
      try {
        if (r.child.pid) process.kill(r.child.pid, "SIGKILL");
      } catch {
        // already gone
      }
      try {
        if (r.guard && r.guard.pid) process.kill(r.guard.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
}

/** True while a process with this PID exists (signal 0 probes without signalling). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Starts `binary args` with a guard. Resolves once `ready()` succeeds; rejects (and kills the
 * process) if it exits first or `ready()` keeps failing for `timeoutMs`.
 */
async function startProcess(
  label: string,
  binary: string,
  args: string[],
  port: number,
  ready: () => Promise<boolean>,
  cleanup: () => void,
  tempDir: string | null,
  timeoutMs = 10000,
): Promise<Peer> {
  installExitHook();
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (b) => (output += b.toString()));
  child.stderr!.on("data", (b) => (output += b.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
  });
  const spawnError = new Promise<Error>((resolve) => child.once("error", (e) => resolve(e)));

  // The guard: when our end of its stdin closes (this process died), it kills the peer.
  let guard: ChildProcess | null = null;
  if (child.pid) {
    guard = spawn(
      "/bin/sh",
      [
        "-c",
        `read _ ; kill -TERM ${child.pid} 2>/dev/null; sleep 2; kill -KILL ${child.pid} 2>/dev/null; ` +
          (tempDir ? `rm -rf '${tempDir.replace(/'/g, "")}'; ` : "") +
          "exit 0",
      ],
      { stdio: ["pipe", "ignore", "ignore"] },
    );
    guard.on("error", () => {});
    guard.unref();
    (guard.stdin as unknown as { unref?: () => void }).unref?.();
  }
  const entry: Running = { child, guard };
  running.add(entry);

  let stopping: Promise<void> | null = null;
  const stop = (graceMs = 3000): Promise<void> => {
    if (stopping) return stopping;
    stopping = (async () => {
      if (!hasExited && child.pid) {
        try {
          process.kill(child.pid, "SIGTERM");
        } catch {
          // gone already
        }
        const timer = setTimeout(() => {
          try {
            if (child.pid) process.kill(child.pid, "SIGKILL");
          } catch {
            // gone already
          }
        }, graceMs);
        await exited;
        clearTimeout(timer);
      }
      if (guard && guard.pid) {
        try {
          process.kill(guard.pid, "SIGKILL");
        } catch {
          // gone already
        }
      }
      running.delete(entry);
      cleanup();
    })();
    return stopping;
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const early = await Promise.race([
      spawnError,
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 0)),
    ]);
    if (early) {
      await stop();
      throw new Error(`${label}: cannot start ${binary}: ${early.message}`);
    }
    if (hasExited) {
      await stop();
      throw new Error(`${label} exited during start (code ${child.exitCode}):\n${output}`);
    }
    if (await ready().catch(() => false)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${label} did not answer on port ${port} within ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, pid: child.pid!, logs: () => output, stop };
}

function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: "127.0.0.1" });
    s.setTimeout(500);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("timeout", () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", () => resolve(false));
  });
}

/** One CoAP CON GET /.well-known/core (RFC 7252 §3, RFC 6690 §4); true if anything answers. */
function coapAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket("udp4");
    const mid = Math.floor(Math.random() * 0xffff);
    const wk = Buffer.from(".well-known");
    const core = Buffer.from("core");
    // Ver 1, CON, TKL 0 | code 0.01 GET | message ID | Uri-Path (11) ".well-known" | Uri-Path "core"
    const msg = Buffer.concat([
      Buffer.from([0x40, 0x01, mid >> 8, mid & 0xff, 0xb0 | wk.length]),
      wk,
      Buffer.from([0x00 | core.length]),
      core,
    ]);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 300);
    sock.on("message", (m) => done(m.length >= 4 && m.readUInt16BE(2) === mid));
    sock.on("error", () => done(false));
    sock.send(msg, port, "127.0.0.1");
  });
}

// ------------------------------------------------------------------ mosquitto

export interface MosquittoOptions {
  /** Also listen with TLS on another free port (files from host-tests/support/tls.ts). */
  tls?: { certFile: string; keyFile: string; caFile?: string; requireClientCert?: boolean };
  /** Enable persistence in this directory (mosquitto.db is written there on shutdown). */
  persistenceDir?: string;
  /** Extra mosquitto.conf lines, appended after the listeners. */
  extraConfig?: string[];
}

export interface MosquittoPeer extends Peer {
  /** The TLS listener's port when `tls` was given. */
  tlsPort?: number;
  configFile: string;
}

/** Starts mosquitto on 127.0.0.1 (anonymous access allowed) and waits until it accepts. */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<MosquittoPeer> {
  const binary = findPeer("mosquitto");
  if (!binary) throw new Error("mosquitto is not installed (apt-get install mosquitto)");
  let lastError: unknown = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const tlsPort = options.tls ? await freePort() : undefined;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xs-iot-mosquitto-"));
    const configFile = path.join(dir, "mosquitto.conf");
    const lines = [
      "# generated by host-tests/support/peers.ts",
      `user ${os.userInfo().username}`, // run as ourselves: no privilege drop to 'mosquitto'
      "per_listener_settings false",
      "allow_anonymous true",
      "log_dest stderr",
      "log_type error",
      "log_type warning",
      "log_type notice",
      "log_type information",
      "connection_messages true",
      `persistence ${options.persistenceDir ? "true" : "false"}`,
    ];
    if (options.persistenceDir) {
      fs.mkdirSync(options.persistenceDir, { recursive: true });
      lines.push(`persistence_location ${options.persistenceDir.replace(/\/?$/, "/")}`);
    }
    lines.push(`listener ${port} 127.0.0.1`);
    if (options.tls && tlsPort) {
      lines.push(`listener ${tlsPort} 127.0.0.1`, `certfile ${options.tls.certFile}`, `keyfile ${options.tls.keyFile}`);
      if (options.tls.caFile) lines.push(`cafile ${options.tls.caFile}`);
      if (options.tls.requireClientCert) lines.push("require_certificate true");
    }
    lines.push(...(options.extraConfig || []));
    fs.writeFileSync(configFile, lines.join("\n") + "\n");
    try {
      const peer = await startProcess(
        "mosquitto",
        binary,
        ["-c", configFile],
        port,
        async () => (await tcpAccepts(port)) && (tlsPort === undefined || (await tcpAccepts(tlsPort))),
        () => fs.rmSync(dir, { recursive: true, force: true }),
        dir,
      );
      return { ...peer, tlsPort, configFile };
    } catch (e) {
      lastError = e;
      // A port taken between freePort() and mosquitto's bind: try other ports.
      if (!/Address already in use|did not answer/.test(String(e))) break;
    }
  }
  throw lastError;
}

// ------------------------------------------------------------------ libcoap

export interface CoapServerOptions {
  /** Extra coap-server-notls arguments (e.g. ["-e"] to echo PUT payloads, ["-v", "7"]). */
  args?: string[];
}

/** Starts libcoap's coap-server-notls on 127.0.0.1 (UDP and TCP on one free port). */
export async function startCoapServer(options: CoapServerOptions = {}): Promise<Peer> {
  const binary = findPeer("coap-server-notls");
  if (!binary) throw new Error("coap-server-notls is not installed (apt-get install libcoap3-bin)");
  let lastError: unknown = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      return await startProcess(
        "coap-server-notls",
        binary,
        ["-A", "127.0.0.1", "-p", String(port), ...(options.args || [])],
        port,
        () => coapAnswers(port),
        () => {},
        null,
      );
    } catch (e) {
      lastError = e;
    }
  }
  throw lastError;
}

/** Runs coap-client-notls synchronously (for tests): returns its exit status and output. */
export function coapClient(args: string[], timeoutMs = 10000): { status: number | null; stdout: string; stderr: string } {
  const binary = findPeer("coap-client-notls");
  if (!binary) throw new Error("coap-client-notls is not installed (apt-get install libcoap3-bin)");
  const r = spawnSync(binary, args, { encoding: "utf8", timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout || "", stderr: r.stderr || "" };
}
