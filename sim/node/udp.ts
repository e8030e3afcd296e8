/*
 * ECMA-419 §10 "UDP socket" over Node's `dgram` (IPv4), for the desktop
 * simulator. Node-only; the portable in-process network is ../udp-network.ts.
 *
 * - read() returns one whole datagram as an ArrayBuffer carrying `address` and
 *   `port` of the sender, or undefined; read(buffer) copies into it and returns
 *   the count (throws when the buffer is too small, ECMA-419 §10 UDP read).
 * - write(buffer, address, port) sends one datagram.
 * - onReadable(packets) with the number of datagrams waiting. The receive queue
 *   is bounded (`receiveQueue`, default 16, like lwIP's mailbox); datagrams
 *   beyond it are dropped and counted in `dropped`.
 * - Binding: `port` (0 or absent = any) and `address` (default 127.0.0.1: a simulated
 *   device lives on loopback, so nothing it serves is reachable from outside). Node
 *   binds asynchronously: `port` reads undefined until then, and the host
 *   extension `onWritable()` (listed in ECMA-419 Annex A's UDP options) is
 *   invoked once the socket is bound. Writes before that are queued by Node.
 * - Callbacks never run inside a method call (ECMA-419 §8); none after close().
 */
import * as dgram from "node:dgram";
import * as net from "node:net";
import type { ByteBuffer, UdpOptions, UdpPacket, UdpSocket } from "../../modules/platform/io";
import { readDatagramInto, toUint8Array } from "../io-buffers";

export interface NodeUdpOptions extends UdpOptions {
  /** Invoked once the socket is bound (host extension), with the bound port. */
  onWritable?(this: UDP, port: number): void;
  /** Datagrams held unread before new ones are dropped (default 16). */
  receiveQueue?: number;
  /** Host extension: may send to broadcast addresses (SO_BROADCAST), e.g. MQTT-SN's ADVERTISE. */
  broadcast?: boolean;
}

type Callback = ((...args: any[]) => void) | undefined;

function callback(options: any, name: string): Callback {
  const fn = options[name];
  if (fn === undefined || fn === null) return undefined;
  if (typeof fn !== "function") throw new TypeError(`UDP: ${name} must be a function`);
  return fn;
}

export class UDP implements UdpSocket {
  target: unknown;
  /** Datagrams dropped because the receive queue was full. */
  dropped = 0;
  #socket: dgram.Socket | undefined;
  #queue: UdpPacket[] = [];
  #limit: number;
  #port: number | undefined;
  #onReadable: Callback;
  #onError: Callback;
  #onWritable: Callback;

  constructor(options: NodeUdpOptions = {}) {
    if (!options || typeof options !== "object") throw new TypeError("UDP: options object required");
    const port = options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`UDP: invalid port ${options.port}`);
    const address = options.address ?? "127.0.0.1";
    if (net.isIP(address) !== 4) throw new TypeError(`UDP: address must be an IPv4 address, got ${address}`);
    const limit = options.receiveQueue ?? 16;
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`UDP: receiveQueue must be a positive integer, got ${limit}`);
    this.#onReadable = callback(options, "onReadable");
    this.#onError = callback(options, "onError");
    this.#onWritable = callback(options, "onWritable");
    this.#limit = limit;
    this.target = options.target;
    const socket = dgram.createSocket({ type: "udp4" });
    this.#socket = socket;
    socket.on("message", (msg, rinfo) => {
      if (this.#queue.length >= this.#limit) {
        this.dropped++;
        return;
      }
      const packet = msg.buffer.slice(msg.byteOffset, msg.byteOffset + msg.byteLength) as UdpPacket;
      packet.address = rinfo.address;
      packet.port = rinfo.port;
      this.#queue.push(packet);
      this.#onReadable?.call(this, this.#queue.length);
    });
    socket.on("error", (error) => this.#onError?.call(this, error));
    socket.bind(port, address, () => {
      if (options.broadcast) socket.setBroadcast(true);
      this.#port = socket.address().port;
      this.#onWritable?.call(this, this.#port);
    });
  }

  get format(): string {
    return "buffer";
  }

  set format(value: string) {
    if (value !== "buffer") throw new Error(`UDP: unsupported format "${value}"`);
  }

  /** The bound local port (undefined until bound). */
  get port(): number | undefined {
    return this.#port;
  }

  read(): UdpPacket | undefined;
  read(buffer: ByteBuffer): number | undefined;
  read(buffer?: ByteBuffer): UdpPacket | number | undefined {
    this.#check();
    if (buffer === undefined) return this.#queue.shift();
    return readDatagramInto(this.#queue, buffer);
  }

  write(data: ByteBuffer, address: string, port: number): void {
    const socket = this.#check();
    const bytes = toUint8Array(data, "UDP write");
    if (typeof address !== "string" || net.isIP(address) !== 4) throw new TypeError(`UDP write: address must be an IPv4 address, got ${address}`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`UDP write: invalid port ${port}`);
    if (bytes.length > 65507) throw new RangeError(`UDP write: ${bytes.length}-byte datagram is larger than UDP allows`);
    // Copied now: the caller may reuse its buffer at once.
    socket.send(Buffer.from(bytes), port, address, (error) => {
      if (error && this.#socket) this.#onError?.call(this, error);
    });
  }

  close(): void {
    const socket = this.#socket;
    if (!socket) return;
    this.#socket = undefined;
    this.#queue.length = 0;
    socket.removeAllListeners();
    socket.on("error", () => {});
    try {
      socket.close();
    } catch {
      // not yet bound or already closed
    }
  }

  #check(): dgram.Socket {
    if (!this.#socket) throw new Error("UDP: socket is closed");
    return this.#socket;
  }
}
