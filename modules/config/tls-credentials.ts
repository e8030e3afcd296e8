/*
 * The device's TLS credentials for MQTT over TLS (`mqtt.tls: true`):
 *   - `ca`: the certificate the broker's chain is verified against (a private broker's CA, or
 *     the public root a managed broker chains to);
 *   - `clientCertificate` and `clientKey`: the device's own certificate and private key, for
 *     brokers that authenticate devices by certificate (mutual TLS: AWS IoT Core, and any
 *     mosquitto with `require_certificate true`).
 *
 * DER or PEM bytes, as ECMA-419's TLS socket takes them (the key as PKCS#8, PKCS#1 or SEC1).
 * They are factory-provisioned into their own namespace of the platform store and are not
 * part of the configuration document: never sent in a `config/get` answer, never published,
 * kept by a factory reset (which erases the configuration slots only). Each value is one
 * flash entry, so at most MAX_VALUE_BYTES (4000, the NVS limit) each.
 */
import { MAX_VALUE_BYTES, type KeyValueStore } from "../platform/storage";

export const TLS_NAMESPACE = "xstls";

export interface TlsCredentials {
  ca?: Uint8Array;
  clientCertificate?: Uint8Array;
  clientKey?: Uint8Array;
}

/** Field of TlsCredentials -> key in TLS_NAMESPACE. */
const FIELDS: [keyof TlsCredentials, string][] = [
  ["ca", "ca"],
  ["clientCertificate", "cert"],
  ["clientKey", "key"],
];

/** The credentials in the store: an object with the fields present (none: an empty object). */
export function tlsCredentials(storage: KeyValueStore): TlsCredentials {
  const out: TlsCredentials = {};
  for (const [field, key] of FIELDS) {
    const v = storage.get(TLS_NAMESPACE, key);
    if (v instanceof ArrayBuffer && v.byteLength > 0) out[field] = new Uint8Array(v);
  }
  return out;
}

/**
 * Writes each given credential that the store does not hold yet (factory provisioning, as the
 * command key: a value already in flash is kept). Every given value is checked first: a
 * non-empty Uint8Array of at most 4000 bytes, and a client certificate only with its key;
 * a TypeError or RangeError names the first that is not, and nothing is written then.
 * Returns the fields written.
 */
export function provisionTlsCredentials(storage: KeyValueStore, credentials: TlsCredentials): (keyof TlsCredentials)[] {
  if (!credentials || typeof credentials !== "object") throw new TypeError("tls: credentials must be an object");
  for (const [field] of FIELDS) {
    const v = credentials[field];
    if (v === undefined) continue;
    if (!(v instanceof Uint8Array)) throw new TypeError(`tls.${field} must be a Uint8Array (DER or PEM bytes)`);
    if (v.length === 0 || v.length > MAX_VALUE_BYTES) throw new RangeError(`tls.${field} must be 1 to ${MAX_VALUE_BYTES} bytes, got ${v.length}`);
  }
  if ((credentials.clientCertificate === undefined) !== (credentials.clientKey === undefined)) {
    throw new TypeError("tls: clientCertificate and clientKey go together");
  }
  const written: (keyof TlsCredentials)[] = [];
  for (const [field, key] of FIELDS) {
    const v = credentials[field];
    if (v === undefined || storage.get(TLS_NAMESPACE, key) !== undefined) continue;
    storage.set(TLS_NAMESPACE, key, v.slice().buffer);
    written.push(field);
  }
  return written;
}
