/*
 * ECMA-419 §10 "TLS Client socket" over Node's `tls`: the TCP socket of
 * ./tcp.ts (same buffering, callbacks and errors) with a TLS session.
 *
 * - `tls.host` is required (ECMA-419 §10 TLS options): it is the SNI name and the
 *   name the server certificate must match.
 * - The certificate is verified by default. `tls.ca` (DER per ECMA-419, or PEM
 *   for convenience; one or an array) replaces the trusted roots, as on the
 *   device, where only the given CAs are trusted. Without `ca`, Node's bundled
 *   roots are used. `tls.verify: false` (host extension) turns verification off
 *   for tests against self-signed peers; nothing else does.
 * - A verification failure is an onError like any connect failure.
 * - clientKey / clientCertificate (DER or PEM) for mutual TLS, min/max version,
 *   ALPN.
 */
import * as net from "node:net";
import * as tls from "node:tls";
import { createPrivateKey } from "node:crypto";
import type { ByteBuffer, TlsSettings } from "../../modules/platform/io";
import { toUint8Array } from "../io-buffers";
import { TCP } from "./tcp";
import type { NodeTcpOptions } from "./tcp";

export interface NodeTlsOptions extends NodeTcpOptions {
  tls: TlsSettings;
}

function list(value: ByteBuffer | ByteBuffer[] | undefined): ByteBuffer[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function isPem(bytes: Uint8Array): boolean {
  const head = "-----BEGIN";
  for (let i = 0; i < head.length; i++) if (bytes[i] !== head.charCodeAt(i)) return false;
  return true;
}

/** A certificate as PEM text: PEM input is kept, DER is wrapped. */
export function certificateToPem(data: ByteBuffer): string {
  const bytes = toUint8Array(data, "TLS certificate");
  if (!bytes.length) throw new TypeError("TLS: empty certificate");
  if (isPem(bytes)) return Buffer.from(bytes).toString("latin1");
  const b64 = Buffer.from(bytes).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`;
}

function keyToPem(data: ByteBuffer): string {
  const bytes = toUint8Array(data, "TLS clientKey");
  if (isPem(bytes)) return Buffer.from(bytes).toString("latin1");
  for (const type of ["pkcs8", "pkcs1", "sec1"] as const) {
    try {
      return createPrivateKey({ key: Buffer.from(bytes), format: "der", type }).export({ format: "pem", type: "pkcs8" }) as string;
    } catch {
      // try the next encoding
    }
  }
  throw new TypeError("TLS: clientKey is neither PEM nor a DER PKCS#8, PKCS#1 or SEC1 key");
}

const VERSIONS = ["TLSv1.2", "TLSv1.3"];

export class TLS extends TCP {
  constructor(options: NodeTlsOptions) {
    super(options);
  }

  protected override get connectEvent(): string {
    return "secureConnect";
  }

  protected override openSocket(options: NodeTcpOptions): net.Socket {
    const settings = (options as NodeTlsOptions).tls;
    // Validated here, still before any resource is taken (ECMA-419 §8).
    if (!settings || typeof settings !== "object") throw new TypeError("TLS: options.tls object is required");
    if (typeof settings.host !== "string" || !settings.host.length) throw new TypeError("TLS: tls.host is required");
    if (settings.verify !== undefined && typeof settings.verify !== "boolean") throw new TypeError("TLS: tls.verify must be a boolean");
    for (const name of ["minimumVersion", "maximumVersion"] as const) {
      const v = settings[name];
      if (v !== undefined && !VERSIONS.includes(v)) throw new RangeError(`TLS: unsupported ${name} "${v}"`);
    }
    const ca = list(settings.ca).map(certificateToPem);
    const cert = list(settings.clientCertificate).map(certificateToPem);
    const key = list(settings.clientKey).map(keyToPem);
    const alpn = settings.applicationLayerProtocol;
    const connectOptions: tls.ConnectionOptions = {
      host: options.address ?? options.host,
      port: options.port,
      servername: net.isIP(settings.host) ? undefined : settings.host,
      rejectUnauthorized: settings.verify !== false,
      checkServerIdentity: (_host, peer) => tls.checkServerIdentity(settings.host, peer),
      minVersion: settings.minimumVersion,
      maxVersion: settings.maximumVersion,
    };
    if (ca.length) connectOptions.ca = ca;
    if (cert.length) connectOptions.cert = cert;
    if (key.length) connectOptions.key = key;
    if (alpn !== undefined) connectOptions.ALPNProtocols = Array.isArray(alpn) ? alpn : [alpn];
    return tls.connect(connectOptions);
  }
}
