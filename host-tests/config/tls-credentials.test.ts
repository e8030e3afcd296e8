// @xs
/*
 * The device's TLS credentials (modules/config/tls-credentials.ts): factory-provisioned into
 * their own flash namespace, each only when absent, checked before anything is written; read
 * back for the MQTT link; untouched by a configuration factory reset.
 */
import { FlashStore } from "../../sim/flash-store";
import { provisionTlsCredentials, tlsCredentials, TLS_NAMESPACE } from "../../modules/config/tls-credentials";
import { ConfigStore } from "../../modules/config/store";
import { simBoard } from "../../boards/sim";

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

describe("TLS credentials", () => {
  it("an empty store has none", () => {
    expect(tlsCredentials(new FlashStore())).toEqual({});
  });

  it("round trip: each field in its own entry, read back as copies", () => {
    const store = new FlashStore();
    const ca = bytes(600, 1);
    const cert = bytes(500, 2);
    const key = bytes(121, 3);
    expect(provisionTlsCredentials(store, { ca, clientCertificate: cert, clientKey: key })).toEqual(["ca", "clientCertificate", "clientKey"]);
    expect(store.keys(TLS_NAMESPACE).sort()).toEqual(["ca", "cert", "key"]);
    ca[0] = 99; // the caller's array is not kept
    const got = tlsCredentials(store);
    expect(Array.from(got.ca!)).toEqual(Array.from(bytes(600, 1)));
    expect(Array.from(got.clientCertificate!)).toEqual(Array.from(cert));
    expect(Array.from(got.clientKey!)).toEqual(Array.from(key));
  });

  it("a CA alone (server verification only) is fine", () => {
    const store = new FlashStore();
    expect(provisionTlsCredentials(store, { ca: bytes(10, 7) })).toEqual(["ca"]);
    const got = tlsCredentials(store);
    expect(got.ca!.length).toBe(10);
    expect(got.clientCertificate).toBeUndefined();
    expect(got.clientKey).toBeUndefined();
  });

  it("provisioning writes only what the flash does not hold (as the command key): a later boot keeps the first", () => {
    const store = new FlashStore();
    provisionTlsCredentials(store, { ca: bytes(10, 1) });
    expect(provisionTlsCredentials(store, { ca: bytes(10, 2), clientCertificate: bytes(5, 3), clientKey: bytes(5, 4) })).toEqual(["clientCertificate", "clientKey"]);
    const got = tlsCredentials(store);
    expect(got.ca![0]).toBe(1);
    expect(got.clientCertificate![0]).toBe(3);
  });

  it.each([
    [{ ca: "pem text" }, TypeError, /tls.ca must be a Uint8Array/],
    [{ ca: new Uint8Array(0) }, RangeError, /tls.ca must be 1 to 4000 bytes, got 0/],
    [{ ca: new Uint8Array(4001) }, RangeError, /tls.ca must be 1 to 4000 bytes, got 4001/],
    [{ ca: new Uint8Array(5), clientCertificate: new Uint8Array(5) }, TypeError, /clientCertificate and clientKey go together/],
    [{ ca: new Uint8Array(5), clientKey: new Uint8Array(5) }, TypeError, /clientCertificate and clientKey go together/],
    [null, TypeError, /credentials must be an object/],
  ])("refuses %p with a clear error and writes nothing", (credentials, type, message) => {
    const store = new FlashStore();
    let threw: unknown;
    try {
      provisionTlsCredentials(store, credentials as never);
    } catch (e) {
      threw = e;
    }
    expect(threw).toBeInstanceOf(type as never);
    expect(String((threw as Error).message)).toMatch(message as RegExp);
    expect(store.keys(TLS_NAMESPACE)).toEqual([]);
  });

  it("a configuration factory reset leaves them", () => {
    const store = new FlashStore();
    provisionTlsCredentials(store, { ca: bytes(8, 1), clientCertificate: bytes(8, 2), clientKey: bytes(8, 3) });
    const config = new ConfigStore({ storage: store, context: { board: simBoard, deviceId: "dev-1" } });
    config.factoryReset();
    expect(Object.keys(tlsCredentials(store)).sort()).toEqual(["ca", "clientCertificate", "clientKey"]);
  });
});
