import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as tls from "node:tls";
import { TLS, certificateToPem } from "../../sim/node/tls";
import { makeTestCerts, waitFor } from "./node-helpers";
import type { TestCerts } from "./node-helpers";

async function startTlsServer(key: string, cert: string) {
  const sockets: tls.TLSSocket[] = [];
  const server = tls.createServer({ key, cert }, (socket) => {
    sockets.push(socket);
    socket.on("data", (d) => socket.write(Buffer.from(d.toString().toUpperCase())));
    socket.on("error", () => {});
  });
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("sim/node TLS: ECMA-419 §10 TLS Client socket over Node tls", () => {
  let certs: TestCerts;
  let selfSigned: Awaited<ReturnType<typeof startTlsServer>>;
  let caSigned: Awaited<ReturnType<typeof startTlsServer>>;
  const open: TLS[] = [];

  beforeAll(async () => {
    certs = makeTestCerts();
    selfSigned = await startTlsServer(certs.selfKey, certs.selfCert);
    caSigned = await startTlsServer(certs.serverKey, certs.serverCert);
  });

  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });

  afterAll(async () => {
    await selfSigned?.close();
    await caSigned?.close();
    if (certs) fs.rmSync(certs.dir, { recursive: true, force: true });
  });

  function connect(port: number, settings: ConstructorParameters<typeof TLS>[0]["tls"]) {
    const events: string[] = [];
    const errors: Error[] = [];
    const received: string[] = [];
    const socket = new TLS({
      address: "127.0.0.1",
      port,
      tls: settings,
      onWritable() {
        if (!events.includes("writable")) this.write(Buffer.from("ping"));
        events.push("writable");
      },
      onReadable() {
        received.push(Buffer.from(this.read()!).toString());
      },
      onError(e) {
        events.push("error");
        errors.push(e!);
      },
    });
    open.push(socket);
    return { socket, events, errors, received };
  }

  it("rejects a self-signed server certificate by default (verification is on)", async () => {
    const { events, errors } = connect(selfSigned.port, { host: "localhost" });
    await waitFor(() => errors.length > 0);
    expect(events).toEqual(["error"]);
    expect((errors[0] as NodeJS.ErrnoException).code).toBe("DEPTH_ZERO_SELF_SIGNED_CERT");
  });

  it("accepts the self-signed certificate when it is given as the CA, in DER (ECMA-419 format)", async () => {
    const { received, events } = connect(selfSigned.port, { host: "localhost", ca: new Uint8Array(certs.selfDer) });
    await waitFor(() => received.join("") === "PING");
    expect(events[0]).toBe("writable");
    expect(events).not.toContain("error");
  });

  it("accepts a CA in PEM too, and an array of CAs", async () => {
    const pem = new TextEncoder().encode(certs.caPem);
    const { received } = connect(caSigned.port, { host: "localhost", ca: [new Uint8Array(certs.selfDer), pem] });
    await waitFor(() => received.join("") === "PING");
  });

  it("verifies a server certificate issued by the given CA (DER)", async () => {
    const { received } = connect(caSigned.port, { host: "localhost", ca: certs.caDer.buffer.slice(certs.caDer.byteOffset, certs.caDer.byteOffset + certs.caDer.byteLength) as ArrayBuffer });
    await waitFor(() => received.join("") === "PING");
  });

  it("rejects a certificate whose name does not match tls.host", async () => {
    const { errors, events } = connect(caSigned.port, { host: "broker.example", ca: new Uint8Array(certs.caDer) });
    await waitFor(() => errors.length > 0);
    expect(events).toEqual(["error"]);
    expect((errors[0] as NodeJS.ErrnoException).code).toBe("ERR_TLS_CERT_ALTNAME_INVALID");
  });

  it("rejects a server certificate from a CA that was not given", async () => {
    const { errors } = connect(caSigned.port, { host: "localhost", ca: new Uint8Array(certs.selfDer) });
    await waitFor(() => errors.length > 0);
    expect((errors[0] as NodeJS.ErrnoException).code).toBe("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
  });

  it("connects to a self-signed peer only with the explicit verify: false", async () => {
    const { received } = connect(selfSigned.port, { host: "localhost", verify: false });
    await waitFor(() => received.join("") === "PING");
  });

  it("keeps the bounded, all-or-nothing write of TCP", async () => {
    const writable: number[] = [];
    const socket = new TLS({
      address: "127.0.0.1",
      port: caSigned.port,
      outputBufferSize: 8,
      tls: { host: "localhost", ca: new Uint8Array(certs.caDer) },
      onWritable: (n) => writable.push(n),
    });
    open.push(socket);
    await waitFor(() => writable.length > 0);
    expect(writable[0]).toBe(8);
    expect(() => socket.write(new Uint8Array(9))).toThrow("do not fit");
    expect(socket.write(new Uint8Array(8))).toBe(0);
  });

  it.each([
    ["no tls object", undefined],
    ["no tls.host", {}],
    ["a non-boolean verify", { host: "localhost", verify: "no" }],
    ["an unknown version", { host: "localhost", minimumVersion: "TLSv1.0" }],
  ])("the constructor rejects %s", (_what, settings) => {
    expect(() => new TLS({ address: "127.0.0.1", port: 1, tls: settings as never })).toThrow();
  });

  it("certificateToPem wraps DER and keeps PEM", () => {
    const pem = certificateToPem(new Uint8Array(certs.selfDer));
    expect(pem.startsWith("-----BEGIN CERTIFICATE-----\n")).toBe(true);
    expect(new X509Certificate(pem).subject).toContain("CN=localhost");
    expect(certificateToPem(new TextEncoder().encode(certs.caPem))).toBe(certs.caPem);
    expect(() => certificateToPem(new Uint8Array(0))).toThrow("empty");
  });
});
