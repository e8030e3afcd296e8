/*
 * ECMA-419 §10 "TCP socket" and "TCP listener socket" over Node's `net`, for
 * the desktop simulator. Node-only.
 *
 * Faithful to the device where it matters to protocol code:
 * - write() is all-or-nothing against a bounded output buffer (default 8 KB,
 *   `outputBufferSize`): data that does not fit throws and nothing is written
 *   (ECMA-419 §9 write); it returns the space left. onWritable fires first on
 *   connect (§10 TCP onWritable) and again whenever written bytes leave the
 *   buffer (coalesced to one call per event-loop turn).
 * - read() never waits (§10 TCP read): no argument = everything buffered,
 *   a number = up to that many bytes, a Byte Buffer = fill it and return the count;
 *   undefined when nothing is buffered. Input is bounded too (`inputBufferSize`,
 *   default 16 KB): past it the socket stops reading from the kernel, so a slow
 *   reader gets TCP back-pressure as on lwIP.
 * - onError on connection refused, reset, or the remote end closing (§10 TCP
 *   onError: "an error occurs or the TCP socket disconnects"). Bytes that
 *   arrived before it can still be read.
 * - Callbacks are never invoked from inside a method call or the constructor
 *   (ECMA-419 §8 Callbacks): they come from Node events or setImmediate.
 * - After close() no callback is invoked (§8 close, synchronous), every method
 *   but close() throws, and close() may be called again.
 */
import * as net from "node:net";
import { toUint8Array } from "../io-buffers";
import type { ByteBuffer, TcpOptions, TcpSocket, TcpWriteOptions } from "../../modules/platform/io";

export const DEFAULT_OUTPUT_BUFFER = 8192;
export const DEFAULT_INPUT_BUFFER = 16384;

/** Host extensions of the simulator's TCP options. */
export interface NodeTcpOptions extends Omit<TcpOptions, "port"> {
  /** Required unless `from` is given. */
  port?: number;
  /** ECMA-419 §10 TCP `from`: take over the connection of a socket returned by Listener.read(). */
  from?: TcpSocket;
  /** Bytes write() accepts before it throws (default 8192). */
  outputBufferSize?: number;
  /** Bytes held unread before the socket stops reading (default 16384). */
  inputBufferSize?: number;
}

const ACCEPTED = Symbol("accepted");
/** The input queue of every socket with nothing unread (only #received adds to a queue, and never to this one). */
const NO_INPUT: Uint8Array[] = [];
/** The TCP that owns a Node socket, on the socket. */
const OWNER = Symbol("TCP.owner");
type OwnedSocket = net.Socket & { [OWNER]: TCP };

type Callback = ((...args: any[]) => void) | undefined;

function checkCallback(options: any, name: string): Callback {
  const fn = options[name];
  if (fn === undefined || fn === null) return undefined;
  if (typeof fn !== "function") throw new TypeError(`TCP: ${name} must be a function`);
  return fn;
}

function checkSize(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1)
    throw new RangeError(`TCP: ${name} must be a positive integer, got ${String(value)}`);
  return value;
}

/**
 * A socket error the device can print on one line. OpenSSL's messages (TLS) run over several
 * lines with the library's internals ("802C...:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13
 * alert certificate required:../deps/openssl/...:SSL alert number 116\n"): "TLS: tlsv13 alert
 * certificate required", its reason; the same error object otherwise (code kept).
 */
function oneLine(error: Error): Error {
  const reason = (error as { reason?: unknown }).reason;
  const m = typeof reason === "string" && reason ? "TLS: " + reason : error.message.indexOf("\n") >= 0 ? error.message.trim().split(/\s*\n\s*/).join("; ") : undefined;
  if (m === undefined) return error;
  const e = new Error(m) as Error & { code?: unknown };
  e.code = (error as { code?: unknown }).code;
  return e;
}

export class TCP implements TcpSocket {
  target: unknown;
  #socket: net.Socket | undefined;
  /** Unread chunks, oldest first; NO_INPUT (shared, never written) when there are none. */
  #input: Uint8Array[] = NO_INPUT;
  #inputBytes = 0;
  #inputLimit: number;
  #paused = false;
  #outputSize: number;
  #queued = 0;
  #connected = false;
  #closed = false;
  #failed = false;
  #writableScheduled = false;
  #onReadable: Callback;
  #onWritable: Callback;
  #onError: Callback;
  #remoteAddress: string | undefined;
  #remotePort: number | undefined;

  constructor(options: NodeTcpOptions) {
    // ECMA-419 §8 constructor: validate every option before allocating anything.
    if (!options || typeof options !== "object") throw new TypeError("TCP: options object required");
    const accepted = (options as any)[ACCEPTED] as net.Socket | undefined;
    const from = options.from;
    if (from !== undefined && !(from instanceof TCP)) throw new TypeError("TCP: from must be a TCP socket from Listener.read()");
    if (!accepted && !from) {
      const { address, host, port } = options;
      if (address !== undefined && (typeof address !== "string" || !net.isIP(address)))
        throw new TypeError(`TCP: address must be an IP address string, got ${String(address)}`);
      if (address === undefined && (typeof host !== "string" || !host.length))
        throw new TypeError("TCP: address (or the host extension `host`) is required");
      if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535)
        throw new RangeError(`TCP: port must be an integer in 1..65535, got ${String(port)}`);
    }
    if (options.noDelay !== undefined && typeof options.noDelay !== "boolean") throw new TypeError("TCP: noDelay must be a boolean");
    if (options.keepAlive !== undefined && !(typeof options.keepAlive === "number" && options.keepAlive > 0))
      throw new RangeError(`TCP: keepAlive must be a positive number of ms, got ${String(options.keepAlive)}`);
    if (options.format !== undefined && options.format !== "buffer") throw new Error(`TCP: unsupported format "${options.format}"`);
    this.#onReadable = checkCallback(options, "onReadable");
    this.#onWritable = checkCallback(options, "onWritable");
    this.#onError = checkCallback(options, "onError");
    this.#outputSize = checkSize(options.outputBufferSize, "outputBufferSize", DEFAULT_OUTPUT_BUFFER);
    this.#inputLimit = checkSize(options.inputBufferSize, "inputBufferSize", DEFAULT_INPUT_BUFFER);
    this.target = options.target;

    if (from) {
      (from as TCP).#handOver(this);
    } else if (accepted) {
      this.#adopt(accepted, true);
    } else {
      this.#remoteAddress = options.address;
      this.#remotePort = options.port;
      const socket = this.openSocket(options);
      this.#adopt(socket, false);
    }
    if (options.noDelay) this.#socket?.setNoDelay(true);
    if (options.keepAlive) this.#socket?.setKeepAlive(true, options.keepAlive);
  }

  /** Opens the Node socket (TLS overrides this). Called once, from the constructor, after validation. */
  protected openSocket(options: NodeTcpOptions): net.Socket {
    return net.connect({ host: options.address ?? options.host, port: options.port! });
  }

  /** The Node event that means "connected and writable". */
  protected get connectEvent(): string {
    return "connect";
  }

  get format(): string {
    return "buffer";
  }

  set format(value: string) {
    if (value !== "buffer") throw new Error(`TCP: unsupported format "${value}"`);
  }

  get remoteAddress(): string | undefined {
    return this.#remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.#remotePort;
  }

  /** Host extension: bytes that write() would accept now. */
  get writable(): number {
    return this.#connected && !this.#failed ? this.#outputSize - this.#queued : 0;
  }

  /** Host extension: bytes buffered for read(). */
  get readable(): number {
    return this.#inputBytes;
  }

  read(): ArrayBuffer | undefined;
  read(byteLength: number): ArrayBuffer | undefined;
  read(buffer: ByteBuffer): number | undefined;
  read(what?: number | ByteBuffer): ArrayBuffer | number | undefined {
    this.#checkOpen();
    let target: Uint8Array | undefined;
    let count = this.#inputBytes;
    if (typeof what === "number") {
      if (!Number.isInteger(what) || what < 0) throw new RangeError(`TCP read: invalid byte count ${what}`);
      count = Math.min(what, count);
    } else if (what !== undefined) {
      target = toUint8Array(what, "TCP read");
      count = Math.min(target.length, count);
    }
    if (!this.#inputBytes) return undefined;
    const out = target ?? new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const head = this.#input[0];
      const take = Math.min(head.length, count - filled);
      out.set(take === head.length ? head : head.subarray(0, take), filled);
      filled += take;
      if (take === head.length) this.#input.shift();
      else this.#input[0] = head.subarray(take);
    }
    this.#inputBytes -= count;
    // Drained: back to the shared empty queue (shift() kept the array's 17 slots, ~180 B a socket).
    if (!this.#inputBytes) this.#input = NO_INPUT;
    if (this.#paused && this.#inputBytes < this.#inputLimit) {
      this.#paused = false;
      this.#socket?.resume();
    }
    return target ? count : (out.buffer as ArrayBuffer);
  }

  write(data: ByteBuffer, options?: TcpWriteOptions): number {
    this.#checkOpen();
    const bytes = toUint8Array(data, "TCP write");
    if (options !== undefined && (options === null || typeof options !== "object")) throw new TypeError("TCP write: options must be an object");
    if (this.#failed) throw new Error("TCP write: the connection has failed (onError); only close() is allowed");
    if (!this.#connected) throw new Error("TCP write: not connected yet (wait for onWritable)");
    const space = this.#outputSize - this.#queued;
    if (bytes.length > space)
      throw new Error(`TCP write: ${bytes.length} bytes do not fit in the output buffer (${space} of ${this.#outputSize} free); nothing written`);
    if (!bytes.length) return space;
    // Copy: the caller may reuse its buffer as soon as write() returns.
    const chunk = Buffer.from(bytes);
    this.#queued += chunk.length;
    this.#socket!.write(chunk, () => {
      this.#queued -= chunk.length;
      this.#scheduleWritable();
    });
    return this.#outputSize - this.#queued;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#input = NO_INPUT;
    this.#inputBytes = 0;
    const socket = this.#socket;
    this.#socket = undefined;
    if (!socket) return;
    socket.removeAllListeners();
    socket.on("error", () => {}); // nothing may reach the app after close (ECMA-419 §8)
    if (this.#connected && !this.#failed) {
      // Graceful: what was written is sent, then FIN (lwIP tcp_close). A peer
      // that never closes its side does not keep the process alive.
      socket.end();
      socket.on("close", () => clearTimeout(timer));
      const timer = setTimeout(() => socket.destroy(), 2000);
      timer.unref();
    } else socket.destroy();
  }

  // -- internals -------------------------------------------------------------

  #checkOpen(): void {
    if (this.#closed) throw new Error("TCP: socket is closed");
  }

  /*
   * The Node socket's listeners are the same three functions for every socket
   * (Node calls them with the socket as `this`; the socket names its TCP under
   * OWNER): a simulated fleet holds a thousand sockets, and four closures and
   * their context cost each ~300 B. No 'end' listener: net.Socket has its own,
   * so a second one made an array of listeners per socket (64 B); the remote
   * end's FIN ends our side too (allowHalfOpen false) and 'close' follows, which
   * tells it by readableEnded.
   */
  static #sockData = function (this: OwnedSocket, chunk: Buffer): void {
    this[OWNER].#received(chunk);
  };
  static #sockError = function (this: OwnedSocket, error: Error): void {
    this[OWNER].#fail(oneLine(error));
  };
  static #sockClose = function (this: OwnedSocket): void {
    this[OWNER].#fail(new Error(this.readableEnded ? "TCP: connection closed by the remote endpoint" : "TCP: connection closed"));
  };
  static #sockConnect = function (this: OwnedSocket): void {
    const tcp = this[OWNER];
    tcp.#connected = true;
    // Connected to an address: the peer is that address and port. Asking Node
    // (remoteAddress) would make it keep a _peername object per socket (~90 B a
    // device in a fleet), so only a connection made by host name asks.
    if (tcp.#remoteAddress === undefined) {
      tcp.#remoteAddress = this.remoteAddress;
      tcp.#remotePort = this.remotePort ?? tcp.#remotePort;
    }
    tcp.#scheduleWritable();
  };

  #adopt(socket: net.Socket, connected: boolean): void {
    this.#socket = socket;
    (socket as OwnedSocket)[OWNER] = this;
    socket.on("data", TCP.#sockData);
    socket.on("error", TCP.#sockError);
    socket.on("close", TCP.#sockClose);
    if (connected) {
      this.#connected = true;
      this.#remoteAddress = socket.remoteAddress;
      this.#remotePort = socket.remotePort;
      this.#scheduleWritable();
    } else socket.once(this.connectEvent, TCP.#sockConnect);
  }

  /** Moves the connection (and any unread bytes) of this socket to `to`; this one ends closed. */
  #handOver(to: TCP): void {
    if (this.#closed || !this.#socket) throw new Error("TCP: from socket is closed");
    const socket = this.#socket;
    socket.removeAllListeners();
    const input = this.#input;
    const bytes = this.#inputBytes;
    this.#socket = undefined;
    this.#closed = true;
    this.#input = NO_INPUT;
    this.#inputBytes = 0;
    to.#input = input;
    to.#inputBytes = bytes;
    to.#adopt(socket, true);
    const failed = this.#failed;
    setImmediate(() => {
      if (bytes) to.#notifyReadable();
      if (failed) to.#fail(new Error("TCP: connection closed before it was taken over"));
    });
  }

  #received(chunk: Buffer): void {
    if (this.#closed) return;
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.#input === NO_INPUT) this.#input = [bytes];
    else this.#input.push(bytes);
    this.#inputBytes += chunk.length;
    if (this.#inputBytes >= this.#inputLimit && !this.#paused) {
      this.#paused = true;
      this.#socket?.pause();
    }
    this.#notifyReadable();
  }

  #notifyReadable(): void {
    if (this.#closed || !this.#inputBytes) return;
    this.#onReadable?.call(this, this.#inputBytes);
  }

  #scheduleWritable(): void {
    if (this.#writableScheduled) return;
    this.#writableScheduled = true;
    setImmediate(() => {
      this.#writableScheduled = false;
      if (this.#closed || this.#failed || !this.#connected) return;
      this.#onWritable?.call(this, this.#outputSize - this.#queued);
    });
  }

  #fail(error: Error): void {
    if (this.#closed || this.#failed) return;
    this.#failed = true;
    this.#onError?.call(this, error);
  }

  /** @internal used by Listener */
  static accept(socket: net.Socket): TCP {
    return new TCP({ [ACCEPTED]: socket } as unknown as NodeTcpOptions);
  }
}

export interface ListenerOptions {
  port?: number;
  /** Interface to bind (default 127.0.0.1: the simulator never listens on the network). */
  address?: string;
  onReadable?(this: Listener, requests: number): void;
  onError?(this: Listener, error?: Error): void;
  /** Host extension: the port is bound (Node binds asynchronously). */
  onListening?(this: Listener, port: number): void;
  target?: unknown;
}

/** ECMA-419 §10 "TCP listener socket" over net.Server. */
export class Listener {
  target: unknown;
  #server: net.Server | undefined;
  #queue: TCP[] = [];
  #port: number | undefined;
  #onReadable: Callback;
  #onError: Callback;
  #onListening: Callback;

  constructor(options: ListenerOptions = {}) {
    if (!options || typeof options !== "object") throw new TypeError("Listener: options object required");
    const port = options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`Listener: invalid port ${port}`);
    const address = options.address ?? "127.0.0.1";
    if (!net.isIP(address)) throw new TypeError(`Listener: address must be an IP address, got ${address}`);
    this.#onReadable = checkCallback(options, "onReadable");
    this.#onError = checkCallback(options, "onError");
    this.#onListening = checkCallback(options, "onListening");
    this.target = options.target;
    const server = net.createServer((socket) => {
      if (!this.#server) return void socket.destroy();
      this.#queue.push(TCP.accept(socket));
      this.#onReadable?.call(this, this.#queue.length);
    });
    this.#server = server;
    server.on("error", (error) => {
      if (this.#server) this.#onError?.call(this, error);
    });
    server.listen(port, address, () => {
      if (!this.#server) return;
      this.#port = (server.address() as net.AddressInfo).port;
      this.#onListening?.call(this, this.#port);
    });
  }

  get format(): string {
    return "socket/tcp";
  }

  set format(value: string) {
    if (value !== "socket/tcp") throw new Error(`Listener: unsupported format "${value}"`);
  }

  /** The bound port, once listening. */
  get port(): number | undefined {
    return this.#port;
  }

  /** The oldest pending connection as a TCP socket with no callbacks; pass it to `new TCP({from})`. */
  read(): TCP | undefined {
    if (!this.#server) throw new Error("Listener: closed");
    return this.#queue.shift();
  }

  write(): never {
    throw new Error("Listener: write is not supported");
  }

  close(): void {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    for (const socket of this.#queue) socket.close();
    this.#queue.length = 0;
    server.removeAllListeners();
    server.on("error", () => {});
    server.close();
  }
}
