/*
 * Node-only helpers for the CoAP interop suites: our CoapServer / CoapClient
 * on real UDP sockets (sim/node/udp.ts) with a real clock, and
 * coap-client-notls run asynchronously (our server lives in this process, so
 * a synchronous spawn would starve it).
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CoapServer, type CoapServerOptions } from "../../modules/coap/server";
import { CoapUriClient, type CoapUriClientOptions } from "../../modules/coap/uri-client";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { RealClock } from "../../sim/node/real-clock";
import { UDP } from "../../sim/node/udp";
import { nodeCrypto } from "../../sim/node/crypto";
import { findPeer } from "../support/peers";

export interface NodeStack {
  clock: RealClock;
  scheduler: Scheduler;
  errors: unknown[];
  close(): void;
}

function stack(): NodeStack & { random: (b: Uint8Array) => Uint8Array } {
  const errors: unknown[] = [];
  const clock = new RealClock({ onError: (e) => errors.push(e) });
  const scheduler = new Scheduler({ clock, onError: (e) => errors.push(e) });
  return {
    clock,
    scheduler,
    errors,
    random: (b) => nodeCrypto.randomFill(b),
    close() {
      scheduler.clear();
      clock.clearAll();
    },
  };
}

/** Our server on 127.0.0.1:port (port 0: any); resolves once bound. */
export async function startOurServer(port = 0, options: Partial<CoapServerOptions> = {}): Promise<NodeStack & { server: CoapServer; port: number }> {
  const s = stack();
  let bound!: (p: number) => void;
  const ready = new Promise<number>((r) => (bound = r));
  class BoundUDP extends UDP {
    constructor(o: any) {
      super({ ...o, onWritable: (p: number) => bound(p) });
    }
  }
  const server = new CoapServer({ socket: { io: BoundUDP as any, port, address: "127.0.0.1" }, scheduler: s.scheduler, random: s.random, onError: (e) => s.errors.push(e), ...options });
  const actual = await ready;
  const close = s.close;
  return {
    ...s,
    server,
    port: actual,
    close() {
      server.close();
      close();
    },
  };
}

/** Our client on an ephemeral 127.0.0.1 port. */
export function startOurClient(options: Partial<CoapUriClientOptions> = {}): NodeStack & { client: CoapUriClient } {
  const s = stack();
  const client = new CoapUriClient({ socket: { io: UDP as any, address: "127.0.0.1" }, scheduler: s.scheduler, random: s.random, onError: (e) => s.errors.push(e), ...options });
  const close = s.close;
  return {
    ...s,
    client,
    close() {
      client.close();
      close();
    },
  };
}

export interface ClientRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Message lines logged with -v 7 ("v:1 t:ACK c:2.05 i:... {token} [ options ] :: 'payload'"), first line of each. */
  lines: string[];
  /** The payload received (coap-client-notls -o), whole after block-wise transfers. */
  body: string;
}

let runs = 0;

/** Runs coap-client-notls with -v 7 (every message traced), the payload to a file, and a bounded wait. */
export function coapClientAsync(args: string[], timeoutMs = 20000): Promise<ClientRun> {
  const binary = findPeer("coap-client-notls");
  if (!binary) return Promise.reject(new Error("coap-client-notls is not installed (apt-get install libcoap3-bin)"));
  const out = path.join(os.tmpdir(), `xs-iot-coap-client-${process.pid}-${++runs}.out`);
  return new Promise((resolve) => {
    execFile(binary, ["-v", "7", "-o", out, ...args], { encoding: "utf8", timeout: timeoutMs, maxBuffer: 8 << 20 }, (error, stdout, stderr) => {
      const all = (stdout || "") + "\n" + (stderr || "");
      const lines = all.split("\n").map((l) => l.replace(/^.*?(v:1 t:)/, "$1")).filter((l) => l.startsWith("v:1 t:"));
      let body = "";
      try {
        body = fs.readFileSync(out, "utf8");
        fs.rmSync(out, { force: true });
      } catch {
        // nothing received
      }
      resolve({ status: error ? ((error as any).code ?? 1) : 0, stdout: stdout || "", stderr: stderr || "", lines, body });
    });
  });
}

/** The payload received. */
export function printed(run: ClientRun): string {
  return run.body;
}

/**
 * "ACK 2.05"-style type and code of each message traced, sent or received, once per
 * type + code + Message ID (libcoap logs some messages twice, e.g. a NON request and
 * the reassembled end of a block-wise transfer).
 */
export function types(run: ClientRun): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const l of run.lines) {
    const m = /^v:1 t:(\w+) c:([\w.]+) i:([0-9a-f]+)/.exec(l);
    if (!m) continue;
    const key = m[1] + m[2] + m[3];
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(`${m[1]} ${m[2]}`);
  }
  return out;
}
