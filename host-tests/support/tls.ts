/**
 * Throwaway TLS material for tests (Node only): a self-signed CA and a server certificate for
 * 127.0.0.1 and localhost, signed by that CA, made with the `openssl` command in a temp dir.
 * ECDSA P-256 keys (what ESP32 mbedTLS handles well; quick to generate). Optionally a client
 * certificate for mutual TLS.
 *
 *   const tls = makeTlsFixture();           // { dir, caFile, certFile, keyFile, ca, ... }
 *   ... startMosquitto({ tls }) ... mqtt.connect(`mqtts://127.0.0.1:${port}`, { ca: tls.ca })
 *   tls.cleanup();
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { findPeer } from "./peers";

export interface TlsFixture {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Client certificate and key signed by the same CA (for require_certificate tests). */
  clientCertFile: string;
  clientKeyFile: string;
  /** PEM texts of the files above. */
  ca: string;
  cert: string;
  key: string;
  clientCert: string;
  clientKey: string;
  cleanup(): void;
}

function openssl(bin: string, dir: string, args: string[]): void {
  const r = spawnSync(bin, args, { cwd: dir, encoding: "utf8" });
  if (r.status !== 0) {
    throw new Error(`openssl ${args.join(" ")} failed (${r.status}):\n${r.stderr || r.error}`);
  }
}

/** Makes a CA, a server cert (CN=localhost, SAN DNS:localhost, IP:127.0.0.1) and a client cert. */
export function makeTlsFixture(days = 2): TlsFixture {
  const bin = findPeer("openssl");
  if (!bin) throw new Error("openssl is not installed (apt-get install openssl)");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xs-iot-tls-"));
  try {
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    fs.writeFileSync(
      path.join(dir, "server.ext"),
      [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
      ].join("\n") + "\n",
    );
    fs.writeFileSync(
      path.join(dir, "client.ext"),
      ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=clientAuth"].join("\n") + "\n",
    );
    openssl(bin, dir, ["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", String(days), "-subj", "/CN=xs-iot test CA",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    openssl(bin, dir, ["req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
    openssl(bin, dir, ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
      "-out", "server.crt", "-days", String(days), "-extfile", "server.ext"]);
    openssl(bin, dir, ["req", ...ec, "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=xs-iot test device"]);
    openssl(bin, dir, ["x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
      "-out", "client.crt", "-days", String(days), "-extfile", "client.ext"]);
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const file = (n: string) => path.join(dir, n);
  const read = (n: string) => fs.readFileSync(file(n), "utf8");
  return {
    dir,
    caFile: file("ca.crt"),
    certFile: file("server.crt"),
    keyFile: file("server.key"),
    clientCertFile: file("client.crt"),
    clientKeyFile: file("client.key"),
    ca: read("ca.crt"),
    cert: read("server.crt"),
    key: read("server.key"),
    clientCert: read("client.crt"),
    clientKey: read("client.key"),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
