/*
 * A simulated IP network carrying UDP, in process, on a Clock (a VirtualClock
 * for deterministic tests, or a real clock). Hosts are addresses; each host gets
 * its own ECMA-419 §10 "UDP socket" constructor (`network.host("10.0.0.2").UDP`)
 * that protocol code receives as `{socket: {io: UDP}}` just like
 * `embedded:io/socket/udp` on the device.
 *
 * Between hosts the network loses, duplicates, reorders and delays datagrams,
 * globally or per directed link, from a seeded PRNG: the same seed and the same
 * sequence of sends give exactly the same deliveries on every run and host.
 * Counters say what happened to every datagram.
 *
 * Portable (no Node API): the XS suites use it.
 */
import type { Clock } from "../modules/platform/clock";
import type { ByteBuffer, UdpOptions, UdpPacket, UdpSocket } from "../modules/platform/io";
import { readDatagramInto, toUint8Array } from "./io-buffers";
import { Prng } from "./prng";

export interface LinkConditions {
  /** Probability (0..1) that a datagram is lost. */
  loss?: number;
  /** Probability (0..1) that a datagram is delivered twice. */
  duplicate?: number;
  /** Probability (0..1) that a datagram is held back by `reorderDelayMs`, so later ones overtake it. */
  reorder?: number;
  /** Extra delay of a reordered datagram (default: 2 × latency + jitter, at least 10 ms). */
  reorderDelayMs?: number;
  /** One-way delay in ms (default 0). */
  latencyMs?: number;
  /** Uniform extra delay in [0, jitterMs) per datagram, in whole ms. */
  jitterMs?: number;
  /** The link is cut: everything is lost. */
  down?: boolean;
}

export interface SimNetworkOptions extends LinkConditions {
  clock: Clock;
  /** PRNG seed (default 1). */
  seed?: number;
  /** Largest UDP payload accepted by write() (default 1472: a 1500-byte MTU less IP and UDP headers). */
  maxPayload?: number;
  /** Datagrams a socket holds unread before it drops new ones (default 16, lwIP's receive mailbox). */
  receiveQueue?: number;
}

export interface NetworkCounters {
  /** write() calls accepted. */
  sent: number;
  /** Datagrams handed to a socket's receive queue. */
  delivered: number;
  /** Lost on a link (loss probability or link down). */
  dropped: number;
  /** Extra copies made. */
  duplicated: number;
  /** Datagrams held back to be overtaken. */
  reordered: number;
  /** Arrived at a host or port where no socket listens. */
  unreachable: number;
  /** Dropped because the receiving socket's queue was full. */
  overflow: number;
}

export type PacketFate = "delivered" | "dropped" | "duplicated" | "unreachable" | "overflow";

export interface PacketTrace {
  at: number;
  from: string;
  fromPort: number;
  to: string;
  toPort: number;
  byteLength: number;
  fate: PacketFate;
}

function zeroCounters(): NetworkCounters {
  return { sent: 0, delivered: 0, dropped: 0, duplicated: 0, reordered: 0, unreachable: 0, overflow: 0 };
}

function checkProbability(name: string, p: number | undefined): void {
  if (p !== undefined && !(typeof p === "number" && p >= 0 && p <= 1))
    throw new RangeError(`network: ${name} must be a probability in [0, 1], got ${p}`);
}

function checkConditions(c: LinkConditions): void {
  checkProbability("loss", c.loss);
  checkProbability("duplicate", c.duplicate);
  checkProbability("reorder", c.reorder);
  for (const name of ["latencyMs", "jitterMs", "reorderDelayMs"] as const) {
    const v = c[name];
    if (v !== undefined && !(typeof v === "number" && v >= 0 && v < Infinity))
      throw new RangeError(`network: ${name} must be a finite number >= 0, got ${v}`);
  }
}

function pickConditions(c: LinkConditions): LinkConditions {
  const { loss, duplicate, reorder, reorderDelayMs, latencyMs, jitterMs, down } = c;
  const out: LinkConditions = {};
  if (loss !== undefined) out.loss = loss;
  if (duplicate !== undefined) out.duplicate = duplicate;
  if (reorder !== undefined) out.reorder = reorder;
  if (reorderDelayMs !== undefined) out.reorderDelayMs = reorderDelayMs;
  if (latencyMs !== undefined) out.latencyMs = latencyMs;
  if (jitterMs !== undefined) out.jitterMs = jitterMs;
  if (down !== undefined) out.down = down;
  return out;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function checkAddress(address: unknown, what: string): string {
  if (typeof address !== "string" || !address.length) throw new TypeError(`${what}: address must be a non-empty string`);
  const m = IPV4.exec(address);
  if (m && m.slice(1).some((part) => Number(part) > 255)) throw new RangeError(`${what}: invalid IPv4 address "${address}"`);
  return address;
}

function checkPort(port: unknown, what: string, allowZero: boolean): number {
  if (typeof port !== "number" || !Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535)
    throw new RangeError(`${what}: invalid port ${port}`);
  return port;
}


interface Endpoint {
  deliver(bytes: Uint8Array, from: string, fromPort: number): "delivered" | "overflow";
}

/** A UDP socket on a simulated host (ECMA-419 §10 UDP plus the bound address and queue length). */
export interface SimUdpSocket extends UdpSocket {
  read(): UdpPacket | undefined;
  /** Copies the next datagram into `buffer` and returns its length; throws when it does not fit. */
  read(buffer: ByteBuffer): number | undefined;
  readonly port: number;
  readonly address: string;
  /** Datagrams waiting to be read. */
  readonly pending: number;
}

export interface SimHost {
  readonly address: string;
  /** ECMA-419 UDP constructor whose sockets live on this host. */
  readonly UDP: new (options?: UdpOptions) => SimUdpSocket;
  /** Ports bound on this host. */
  ports(): number[];
}

export class SimNetwork {
  readonly clock: Clock;
  readonly counters: NetworkCounters = zeroCounters();
  readonly maxPayload: number;
  readonly receiveQueue: number;
  /** Set to an array to record every datagram's fate (for debugging and tests). */
  trace: PacketTrace[] | undefined;
  #global: LinkConditions;
  #links = new Map<string, { conditions: LinkConditions; counters: NetworkCounters }>();
  #hosts = new Map<string, { host: SimHost; sockets: Map<number, Endpoint>; nextPort: number }>();
  #rng: Prng;
  #inFlight = new Set<unknown>();

  constructor(options: SimNetworkOptions) {
    if (!options || !options.clock) throw new TypeError("SimNetwork: options.clock is required");
    checkConditions(options);
    this.clock = options.clock;
    this.#global = pickConditions(options);
    this.#rng = new Prng(options.seed ?? 1);
    this.maxPayload = options.maxPayload ?? 1472;
    this.receiveQueue = options.receiveQueue ?? 16;
    if (!Number.isInteger(this.maxPayload) || this.maxPayload < 1 || this.maxPayload > 65507)
      throw new RangeError(`SimNetwork: maxPayload must be an integer in 1..65507, got ${options.maxPayload}`);
    if (!Number.isInteger(this.receiveQueue) || this.receiveQueue < 1)
      throw new RangeError(`SimNetwork: receiveQueue must be a positive integer, got ${options.receiveQueue}`);
  }

  /** Replaces the conditions of every link without its own. */
  setConditions(conditions: LinkConditions): void {
    checkConditions(conditions);
    this.#global = pickConditions(conditions);
  }

  /**
   * Conditions for datagrams from `from` to `to` (one direction; pass
   * `{both: true}` for the reverse too). They replace the global ones on that link.
   */
  link(from: string, to: string, conditions: LinkConditions, options?: { both?: boolean }): void {
    checkAddress(from, "link");
    checkAddress(to, "link");
    checkConditions(conditions);
    const key = `${from}>${to}`;
    const existing = this.#links.get(key);
    this.#links.set(key, { conditions: pickConditions(conditions), counters: existing?.counters ?? zeroCounters() });
    if (options?.both) this.link(to, from, conditions);
  }

  /** Removes a link's own conditions (the global ones apply again). */
  unlink(from: string, to: string): void {
    this.#links.delete(`${from}>${to}`);
  }

  /** Counters of one directed link that has its own conditions. */
  linkCounters(from: string, to: string): NetworkCounters | undefined {
    const c = this.#links.get(`${from}>${to}`)?.counters;
    return c ? { ...c } : undefined;
  }

  /** Datagrams on their way. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** The host with this address, created on first use. */
  host(address: string): SimHost {
    checkAddress(address, "SimNetwork.host");
    const existing = this.#hosts.get(address);
    if (existing) return existing.host;
    const entry = { host: undefined as unknown as SimHost, sockets: new Map<number, Endpoint>(), nextPort: 49152 };
    entry.host = { address, UDP: this.#makeUdp(address, entry), ports: () => [...entry.sockets.keys()].sort((a, b) => a - b) };
    this.#hosts.set(address, entry);
    return entry.host;
  }

  #conditions(from: string, to: string): { conditions: LinkConditions; counters?: NetworkCounters } {
    const link = this.#links.get(`${from}>${to}`);
    return link ? link : { conditions: this.#global };
  }

  #note(counters: NetworkCounters | undefined, name: keyof NetworkCounters): void {
    this.counters[name]++;
    if (counters) counters[name]++;
  }

  #record(from: string, fromPort: number, to: string, toPort: number, byteLength: number, fate: PacketFate): void {
    if (this.trace) this.trace.push({ at: this.clock.now(), from, fromPort, to, toPort, byteLength, fate });
  }

  /** @internal a socket sent a datagram */
  send(from: string, fromPort: number, to: string, toPort: number, bytes: Uint8Array): void {
    const { conditions: c, counters } = this.#conditions(from, to);
    this.#note(counters, "sent");
    const rng = this.#rng;
    // The draws happen in a fixed order so a given seed replays exactly.
    const lost = c.down || rng.chance(c.loss ?? 0);
    if (lost) {
      this.#note(counters, "dropped");
      this.#record(from, fromPort, to, toPort, bytes.length, "dropped");
      return;
    }
    const copies = rng.chance(c.duplicate ?? 0) ? 2 : 1;
    if (copies === 2) {
      this.#note(counters, "duplicated");
      this.#record(from, fromPort, to, toPort, bytes.length, "duplicated");
    }
    for (let i = 0; i < copies; i++) {
      let delay = (c.latencyMs ?? 0) + (c.jitterMs ? Math.floor(rng.next() * c.jitterMs) : 0);
      if (rng.chance(c.reorder ?? 0)) {
        this.#note(counters, "reordered");
        delay += c.reorderDelayMs ?? Math.max(10, 2 * (c.latencyMs ?? 0) + (c.jitterMs ?? 0));
      }
      const copy = bytes.slice();
      const handle: { timer?: unknown } = {};
      this.#inFlight.add(handle);
      handle.timer = this.clock.setTimer(() => {
        this.#inFlight.delete(handle);
        this.#arrive(from, fromPort, to, toPort, copy, counters);
      }, delay);
    }
  }

  #arrive(from: string, fromPort: number, to: string, toPort: number, bytes: Uint8Array, counters?: NetworkCounters): void {
    const endpoint = this.#hosts.get(to)?.sockets.get(toPort);
    if (!endpoint) {
      this.#note(counters, "unreachable");
      this.#record(from, fromPort, to, toPort, bytes.length, "unreachable");
      return;
    }
    const fate = endpoint.deliver(bytes, from, fromPort);
    this.#note(counters, fate);
    this.#record(from, fromPort, to, toPort, bytes.length, fate);
  }

  #makeUdp(hostAddress: string, entry: { sockets: Map<number, Endpoint>; nextPort: number }) {
    const network = this;
    return class SimUDP implements UdpSocket {
      readonly address: string;
      readonly port: number;
      target: unknown;
      #queue: UdpPacket[] = [];
      #closed = false;
      #onReadable: ((this: UdpSocket, packets: number) => void) | undefined;

      constructor(options: UdpOptions = {}) {
        // ECMA-419 §8: validate every option before taking any resource.
        if (!options || typeof options !== "object") throw new TypeError("UDP: options object required");
        const { port, address, onReadable } = options;
        if (port !== undefined) checkPort(port, "UDP", true);
        if (address !== undefined && address !== hostAddress && address !== "0.0.0.0")
          throw new Error(`UDP: cannot bind to ${address}, this host is ${hostAddress}`);
        if (onReadable !== undefined && onReadable !== null && typeof onReadable !== "function")
          throw new TypeError("UDP: onReadable must be a function");
        let bound = port ?? 0;
        if (bound === 0) {
          for (let tries = 0; ; tries++) {
            if (tries > 16384) throw new Error("UDP: no free ephemeral port");
            const candidate = entry.nextPort;
            entry.nextPort = candidate >= 65535 ? 49152 : candidate + 1;
            if (!entry.sockets.has(candidate)) {
              bound = candidate;
              break;
            }
          }
        } else if (entry.sockets.has(bound)) throw new Error(`UDP: port ${bound} already in use on ${hostAddress}`);
        this.address = hostAddress;
        this.port = bound;
        this.target = options.target;
        this.#onReadable = onReadable ?? undefined;
        entry.sockets.set(bound, {
          deliver: (bytes, from, fromPort) => {
            if (this.#queue.length >= network.receiveQueue) return "overflow";
            const packet = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as UdpPacket;
            packet.address = from;
            packet.port = fromPort;
            this.#queue.push(packet);
            // Called from the network's timer, never from inside one of our methods (ECMA-419 §8).
            if (this.#onReadable) this.#onReadable.call(this, this.#queue.length);
            return "delivered";
          },
        });
      }

      get format(): string {
        return "buffer";
      }

      set format(value: string) {
        if (value !== "buffer") throw new Error(`UDP: unsupported format "${value}"`);
      }

      /** Datagrams waiting (host extension). */
      get pending(): number {
        return this.#queue.length;
      }

      read(): UdpPacket | undefined;
      read(buffer: ByteBuffer): number | undefined;
      read(buffer?: ByteBuffer): UdpPacket | number | undefined {
        this.#check();
        if (buffer === undefined) return this.#queue.shift();
        return readDatagramInto(this.#queue, buffer);
      }

      write(data: ByteBuffer, address: string, port: number): void {
        this.#check();
        const bytes = toUint8Array(data, "UDP write");
        checkAddress(address, "UDP write");
        checkPort(port, "UDP write", false);
        if (bytes.length > network.maxPayload)
          throw new RangeError(`UDP write: ${bytes.length}-byte datagram exceeds the ${network.maxPayload}-byte maximum payload`);
        network.send(hostAddress, this.port, address, port, bytes);
      }

      close(): void {
        if (this.#closed) return;
        this.#closed = true;
        this.#queue.length = 0;
        this.#onReadable = undefined;
        entry.sockets.delete(this.port);
      }

      #check(): void {
        if (this.#closed) throw new Error("UDP: socket is closed");
      }
    };
  }
}
