/*
 * TCP and TLS client sockets on Moddable, in the shapes of modules/platform/io.ts
 * (ECMA-419 §10 "TCP socket" and "TLS Client socket").
 *
 * Moddable's `embedded:io/socket/tcp` takes an IP `address` only. Our TcpOptions
 * also accept `host`: this wrapper resolves it with Moddable's `net` module
 * (Net.resolve: getaddrinfo through GLib on Linux, lwIP's resolver on ESP32)
 * and opens the host socket when the address arrives. A failed lookup is
 * reported through onError, as a failed connect is (ECMA-419 §10: errors after
 * construction go to onError). Until the socket is open, read() returns
 * undefined and write() throws (nothing is writable before the first
 * onWritable).
 *
 * The wrapper is also what callbacks see as `this` (Moddable's TLS socket calls
 * them with another `this`), and it serves read(byteLength) from a small
 * pending buffer, because not every host socket honours a count.
 */
import HostTCP from "embedded:io/socket/tcp";
import HostTLS from "embedded:io/socket/tcp/tls";
import Net from "net";
import type { ByteBuffer, TcpOptions, TcpSocket, TcpWriteOptions, TlsOptions } from "../io";

/** What we use of a Moddable TCP or TLS socket (typings differ between SDK releases). */
interface HostStream {
  read(): ArrayBuffer | undefined;
  write(data: ByteBuffer): number | undefined;
  close(): void;
  readonly remoteAddress?: string;
  readonly remotePort?: number;
}

type HostOptions = Record<string, unknown> & {
  address: string;
  port: number;
  onReadable(count: number): void;
  onWritable(count: number): void;
  onError(error?: unknown): void;
};

type HostFactory = (options: HostOptions, request: TcpOptions) => HostStream;

export type ResolveFunction = (host: string, callback: (name: string, address?: string) => void) => void;

/** Told of an exception thrown by an application callback (it does not escape into the host). */
export type CallbackErrorReporter = (error: unknown, where: string) => void;

// Made when called: a preloaded RegExp crashes XS (tools/check-preload.js, rule 4).
const IPV4 = (): RegExp => /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function checkOptions(options: TcpOptions): string | undefined {
  if (!options || typeof options !== "object") throw new TypeError("socket: options object required");
  const { port, address, host } = options;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`socket: invalid port ${port}`);
  if (address !== undefined) {
    if (typeof address !== "string" || !IPV4().test(address)) throw new TypeError(`socket: invalid address ${address}`);
    return address;
  }
  if (typeof host !== "string" || host.length === 0 || host.length > 253)
    throw new TypeError("socket: options need an address or a host name");
  if (host === "localhost") return "127.0.0.1";
  return IPV4().test(host) ? host : undefined;
}

class HostNameSocket implements TcpSocket {
  format = "buffer";
  target: unknown;
  #request: TcpOptions;
  #factory: HostFactory;
  #report: CallbackErrorReporter;
  #socket: HostStream | undefined;
  #pending: Uint8Array | undefined;
  #closed = false;

  constructor(options: TcpOptions, factory: HostFactory, resolve: ResolveFunction, report: CallbackErrorReporter) {
    const address = checkOptions(options);
    this.target = options.target;
    this.#request = options;
    this.#factory = factory;
    this.#report = report;
    if (address !== undefined) {
      this.#open(address); // a bad address throws here, from the constructor (ECMA-419 §9)
      return;
    }
    const host = options.host as string;
    resolve(host, (_name, resolved) => {
      if (this.#closed) return;
      if (typeof resolved !== "string" || !IPV4().test(resolved)) {
        this.#fail(new Error(`socket: cannot resolve host "${host}"`));
        return;
      }
      try {
        this.#open(resolved);
      } catch (error) {
        this.#fail(error);
      }
    });
  }

  get remoteAddress(): string | undefined {
    return this.#socket?.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.#socket?.remotePort;
  }

  read(byteLength?: number): ArrayBuffer | undefined {
    if (!this.#socket) return undefined;
    let pending = this.#pending;
    if (!pending || pending.byteLength === 0) {
      const fresh = this.#socket.read();
      if (!fresh || fresh.byteLength === 0) return undefined;
      if (byteLength === undefined || byteLength >= fresh.byteLength) return fresh;
      pending = new Uint8Array(fresh);
    }
    const n = byteLength === undefined ? pending.byteLength : Math.min(byteLength, pending.byteLength);
    const out = pending.slice(0, n).buffer;
    this.#pending = n < pending.byteLength ? pending.subarray(n) : undefined;
    return out;
  }

  write(data: ByteBuffer, _options?: TcpWriteOptions): number {
    if (!this.#socket) throw new Error("socket: not connected yet (wait for onWritable)");
    const left = this.#socket.write(data);
    return typeof left === "number" ? left : 0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const socket = this.#socket;
    this.#socket = undefined;
    this.#pending = undefined;
    socket?.close();
  }

  #open(address: string): void {
    const request = this.#request;
    const self = this;
    this.#socket = this.#factory(
      {
        address,
        port: request.port,
        onReadable(count: number) {
          self.#call("onReadable", count);
        },
        onWritable(count: number) {
          self.#call("onWritable", count);
        },
        onError(error?: unknown) {
          self.#fail(error);
        },
      },
      request,
    );
  }

  #call(name: "onReadable" | "onWritable", count: number): void {
    if (this.#closed) return;
    const callback = this.#request[name];
    if (!callback) return;
    try {
      callback.call(this, count);
    } catch (error) {
      this.#report(error, name);
    }
  }

  #fail(error?: unknown): void {
    if (this.#closed) return;
    const onError = this.#request.onError;
    if (!onError) return;
    try {
      onError.call(this, error instanceof Error ? error : new Error(error === undefined ? "socket error" : String(error)));
    } catch (thrown) {
      this.#report(thrown, "onError");
    }
  }
}

/** Net.resolve as a ResolveFunction. */
export const netResolve: ResolveFunction = (host, callback) => {
  (Net as unknown as { resolve: ResolveFunction }).resolve(host, callback);
};

type HostConstructor = new (options: Record<string, unknown>) => HostStream;

/** A TcpConstructor over `embedded:io/socket/tcp` that also takes host names. */
export function makeTcp(resolve: ResolveFunction, report: CallbackErrorReporter) {
  const Host = HostTCP as unknown as HostConstructor;
  const factory: HostFactory = (options, request) =>
    new Host({ ...options, format: "buffer", ...(request.noDelay !== undefined ? { nodelay: request.noDelay } : {}) });
  return class ModdableTcp extends HostNameSocket {
    constructor(options: TcpOptions) {
      super(options, factory, resolve, report);
    }
  };
}

/**
 * The TCP socket under the SDK's TLS socket, with its callbacks guarded. The TLS socket runs
 * the handshake and the record layer inside the TCP socket's onReadable; an exception there
 * (a TLSError: a handshake the SDK cannot complete, a bad record) is not caught by it and
 * aborts the XS machine ("XS abort: unhandled exception", seen in mcsim with a broker that
 * requests a client certificate). Here it is reported, the TCP socket closed and the TLS
 * socket's onError called, so the MQTT client sees a lost connection and its back-off runs.
 */
function guardedTcp(report: CallbackErrorReporter) {
  const Tcp = HostTCP as unknown as new (options: HostOptions) => HostStream;
  return function GuardedTcp(options: HostOptions): HostStream {
    const { onReadable, onWritable, onError } = options;
    let socket: HostStream | undefined;
    let failed = false;
    const fail = (error: unknown, where: string) => {
      if (failed) return;
      failed = true;
      report(error, "tls " + where);
      try {
        socket?.close();
      } catch {
        // already closed
      }
      onError.call(socket, error);
    };
    const guard = (f: (count: number) => void, where: string) =>
      function (this: unknown, count: number): void {
        if (failed) return;
        try {
          f.call(this, count);
        } catch (error) {
          fail(error, where);
        }
      };
    socket = new Tcp({
      ...options,
      onReadable: guard(onReadable, "onReadable"),
      onWritable: guard(onWritable, "onWritable"),
      onError(error?: unknown) {
        if (!failed) onError.call(this, error);
      },
    });
    return socket;
  };
}

function first(v: ByteBuffer | ByteBuffer[]): ByteBuffer {
  return Array.isArray(v) ? v[0] : v;
}

/** The bytes of `v` as an ArrayBuffer of exactly their length (a view's bytes are copied). */
function derBuffer(v: ByteBuffer): ArrayBuffer {
  if (v instanceof ArrayBuffer) return v;
  const view = v as ArrayBufferView;
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice().buffer;
}

/**
 * A TlsConstructor over `embedded:io/socket/tcp/tls` (Moddable's TLS 1.2 client
 * over the TCP socket above). Certificates are DER. `tls.host` is the server name
 * for SNI and verification; `verify: false` is only for test peers.
 */
export function makeTls(resolve: ResolveFunction, report: CallbackErrorReporter) {
  const Host = HostTLS as unknown as HostConstructor;
  const factory: HostFactory = (options, request) => {
    const tls = (request as TlsOptions).tls;
    const secure: Record<string, unknown> = { serverName: tls.host };
    // What the SDK's TLS (modules/crypt/ssl/ssl_cert.js, SDK 8.2) takes: `certificate` is ONE
    // CA certificate (registered as is), `clientCertificates` a list (it reads [0]),
    // `clientKey` one PKCS#8 DER key (PKCS8.parse), and the client key must be RSA (its
    // CertificateVerify signs with PKCS#1 v1.5 only). All as exact ArrayBuffers.
    if (tls.ca !== undefined) secure.certificate = derBuffer(first(tls.ca));
    if (tls.clientCertificate !== undefined) secure.clientCertificates = (Array.isArray(tls.clientCertificate) ? tls.clientCertificate : [tls.clientCertificate]).map(derBuffer);
    if (tls.clientKey !== undefined) secure.clientKey = derBuffer(first(tls.clientKey));
    if (tls.verify === false) secure.verify = false;
    if (tls.applicationLayerProtocol !== undefined) secure.applicationLayerProtocolNegotiation = tls.applicationLayerProtocol;
    return new Host({ ...options, host: tls.host, secure, TCP: { io: guardedTcp(report) } });
  };
  return class ModdableTls extends HostNameSocket {
    constructor(options: TlsOptions) {
      if (!options || !options.tls || typeof options.tls.host !== "string" || !options.tls.host)
        throw new TypeError("tls: options.tls.host (the server name) is required");
      super(options, factory, resolve, report);
    }

    /**
     * The SDK's TLS write() answers the TCP space left less 32 bytes for the next record's
     * overhead, but a CBC record takes up to 69 (5 header, 16 IV, 32 HMAC-SHA256, 16
     * padding). A caller that fills the space it was given (the MQTT client does, sending a
     * stored outbox right after CONNACK) had the TCP write throw "would block" after the
     * record was encrypted: the record was lost, the next one carried the wrong sequence
     * number, and mosquitto closed with "bad record mac" (mcsim). Answering 40 bytes less
     * keeps every record within the TCP space; the rest waits for onWritable.
     */
    override write(data: ByteBuffer, options?: TcpWriteOptions): number {
      const left = super.write(data, options);
      return left > TLS_RECORD_MARGIN ? left - TLS_RECORD_MARGIN : 0;
    }
  };
}

/** 32 (the SDK's reserve) + 40 >= 69, the largest record overhead of the SDK's suites. */
const TLS_RECORD_MARGIN = 40;
