/* Helpers for the Node-only simulator suites (not portable). */
import * as net from "node:net";

export function waitFor(condition: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const check = () => {
      if (condition()) return resolve();
      if (Date.now() - start > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(check, 2);
    };
    check();
  });
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A 127.0.0.1 TCP server that records connections and what they send. */
export async function startServer(onConnection?: (socket: net.Socket) => void) {
  const sockets: net.Socket[] = [];
  const received: Buffer[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on("data", (d) => received.push(d));
    socket.on("error", () => {});
    onConnection?.(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    server,
    port,
    sockets,
    received,
    bytes: () => Buffer.concat(received),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 with nothing listening (bound then released). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface TestCerts {
  dir: string;
  /** A self-signed certificate for localhost / 127.0.0.1 and its key (PEM). */
  selfCert: string;
  selfKey: string;
  selfDer: Buffer;
  /** A test CA (PEM and DER) and a server certificate it signed for localhost / 127.0.0.1. */
  caPem: string;
  caDer: Buffer;
  serverCert: string;
  serverKey: string;
}

/** Generates throw-away certificates with the openssl CLI in a temporary directory. */
export function makeTestCerts(): TestCerts {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xs-iot-tls-"));
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  const san = "subjectAltName=DNS:localhost,IP:127.0.0.1";
  run("req", "-x509", ...key, "-keyout", "self.key", "-out", "self.pem", "-days", "2", "-subj", "/CN=localhost", "-addext", san);
  run("x509", "-in", "self.pem", "-outform", "DER", "-out", "self.der");
  run("req", "-x509", ...key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=xs-iot test CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  run("x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der");
  run("req", ...key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost");
  fs.writeFileSync(path.join(dir, "ext.cnf"), `${san}\n`);
  run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf");
  const read = (f: string) => fs.readFileSync(path.join(dir, f));
  return {
    dir,
    selfCert: read("self.pem").toString(),
    selfKey: read("self.key").toString(),
    selfDer: read("self.der"),
    caPem: read("ca.pem").toString(),
    caDer: read("ca.der"),
    serverCert: read("server.pem").toString(),
    serverKey: read("server.key").toString(),
  };
}
