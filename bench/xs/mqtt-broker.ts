/*
 * An in-memory MQTT broker for the client bench (bench/xs/mqtt-*), reached through a socket
 * class in the shape of ECMA-419's TCP socket (§10): the constructor takes
 * {address|host, port, onReadable, onWritable, onError, target}; the first onWritable(count)
 * says the connection is up; write(data) takes all of a buffer or throws ("would block")
 * and answers the room left; read() answers every byte waiting as a new ArrayBuffer,
 * read(n) n of them, read(buffer) fills a buffer, and with `format = "number"` one byte as a
 * number; close(). Those are the calls Moddable's lwIP socket answers (modules/io/socket/
 * lwip/tcp.c), so both clients under test meet the socket they meet on a device. Portable.
 *
 * The broker side is just what the bench needs, kept cheap because it is timed with every
 * client operation: CONNECT -> CONNACK, SUBSCRIBE -> SUBACK (the QoS asked), PUBLISH counted
 * (QoS 1 -> PUBACK), PINGREQ -> PINGRESP, PUBACKs of what it delivered counted and checked in
 * order ([MQTT-4.6.0-2]), and deliver(count, qos) sends a client `count` PUBLISHes in one
 * chunk. Every PUBLISH a client sends is checked against the bench topic and payload: lengths
 * always, every byte while `verify` is on. Anything else counts as a problem (`problems`,
 * `firstProblem`), which the bench turns into a failure: nothing is dropped silently.
 *
 * 3.1.1 and 5.0 are both spoken (the protocol level of the CONNECT decides); the broker's
 * CONNACK carries no 5.0 properties, so a 5.0 client gets no topic aliases.
 */
import type { EventLoop } from "./mqtt-loop";

/** Bytes a socket takes before write() throws: ESP-IDF's default lwIP TCP_SND_BUF (CONFIG_LWIP_TCP_SND_BUF_DEFAULT). */
export const SOCKET_CAPACITY = 5744;

export interface MemorySocketOptions {
  address?: string;
  host?: string;
  port?: number;
  target?: unknown;
  format?: string;
  onReadable?(this: MemorySocket, count: number): void;
  onWritable?(this: MemorySocket, count: number): void;
  onError?(this: MemorySocket, error?: Error): void;
  [extra: string]: unknown;
}

export type MemorySocketConstructor = new (options: MemorySocketOptions) => MemorySocket;

function asciiBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7e || c < 0x20) throw new RangeError("bench topic must be printable ASCII");
    out[i] = c;
  }
  return out;
}

function sameBytes(a: Uint8Array, offset: number, b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (a[offset + i] !== b[i]) return false;
  return true;
}

export class MemoryBroker {
  readonly loop: EventLoop;
  /** The socket class clients are given as `socket.io`; its connections reach this broker. */
  readonly TCP: MemorySocketConstructor;
  readonly topic: Uint8Array;
  readonly payload: Uint8Array;
  /** Connections opened so far, and the last one (no list: the heap app measures what a connection costs). */
  opened = 0;
  last: MemorySocket | undefined = undefined;
  /** Check every byte of every PUBLISH received (else topic and payload lengths only). */
  verify = true;

  constructor(loop: EventLoop, topic: string, payload: Uint8Array) {
    this.loop = loop;
    this.topic = asciiBytes(topic);
    this.payload = payload.slice();
    const broker = this;
    this.TCP = class extends MemorySocket {
      constructor(options: MemorySocketOptions) {
        super(broker, options);
      }
    };
  }
}

export class MemorySocket {
  format = "buffer";
  target: unknown;
  readonly broker: MemoryBroker;
  readonly #onReadable: MemorySocketOptions["onReadable"];
  readonly #onWritable: MemorySocketOptions["onWritable"];
  #open = false;
  closed = false;
  // client -> broker: bytes written and not processed yet
  readonly #up = new Uint8Array(SOCKET_CAPACITY);
  #upLength = 0;
  #processPosted = false;
  // broker -> client: bytes not read yet
  #down = new Uint8Array(2048);
  #downStart = 0;
  #downEnd = 0;
  #readablePosted = false;
  readonly #process: () => void;
  readonly #notifyReadable: () => void;
  /** PUBLISH templates for deliver(), by QoS (made on first use). */
  #templates: (Uint8Array | undefined)[] = [undefined, undefined];
  #nextOutId = 0;
  /** Packet identifier of the next PUBACK expected for what deliver() sent, 0 when none is. */
  #expectAck = 0;
  #acksOwed = 0;

  // What the broker saw on this connection.
  /** Protocol level of the CONNECT (4: 3.1.1, 5: 5.0), 0 before it. */
  version = 0;
  connects = 0;
  subscribes = 0;
  published0 = 0;
  published1 = 0;
  /** PUBLISHes deliver() sent to the client. */
  sent = 0;
  pubacks = 0;
  pings = 0;
  disconnects = 0;
  problems = 0;
  firstProblem: string | undefined = undefined;

  constructor(broker: MemoryBroker, options: MemorySocketOptions) {
    this.broker = broker;
    this.target = options.target; // ECMA-419 §8: the target property
    if (options.format !== undefined) this.format = options.format;
    this.#onReadable = options.onReadable;
    this.#onWritable = options.onWritable;
    this.#process = () => this.#processInput();
    this.#notifyReadable = () => this.#readable();
    broker.opened++;
    broker.last = this;
    // The connection is up on a later turn: the first onWritable says so (ECMA-419 TCP).
    broker.loop.post(() => {
      if (this.closed) return;
      this.#open = true;
      this.#onWritable?.call(this, SOCKET_CAPACITY);
    });
  }

  write(data: ArrayBuffer | ArrayBufferView | number, _options?: unknown): number {
    if (!this.#open) throw new Error(this.closed ? "closed" : "not ready");
    let n: number;
    if (this.format === "number") {
      if (this.#upLength >= SOCKET_CAPACITY) throw new Error("would block");
      this.#up[this.#upLength] = data as number;
      n = 1;
    } else {
      const bytes =
        data instanceof Uint8Array
          ? data
          : ArrayBuffer.isView(data)
            ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
            : new Uint8Array(data as ArrayBuffer);
      n = bytes.length;
      if (n > SOCKET_CAPACITY - this.#upLength) throw new Error("would block");
      this.#up.set(bytes, this.#upLength);
    }
    this.#upLength += n;
    if (!this.#processPosted) {
      this.#processPosted = true;
      this.broker.loop.post(this.#process);
    }
    return SOCKET_CAPACITY - this.#upLength;
  }

  read(what?: number | ArrayBuffer | ArrayBufferView): ArrayBuffer | number | undefined {
    const start = this.#downStart;
    const available = this.#downEnd - start;
    if (this.format === "number") {
      if (available <= 0) return undefined;
      const byte = this.#down[start];
      this.#consumed(1);
      return byte;
    }
    if (what === undefined) {
      if (available <= 0) return undefined;
      const out = this.#down.slice(start, start + available).buffer;
      this.#consumed(available);
      return out;
    }
    if (typeof what === "number") {
      if (what <= 0 || what > available) throw new Error("invalid");
      const out = this.#down.slice(start, start + what).buffer;
      this.#consumed(what);
      return out;
    }
    const into = what instanceof Uint8Array ? what : ArrayBuffer.isView(what) ? new Uint8Array(what.buffer, what.byteOffset, what.byteLength) : new Uint8Array(what);
    const n = into.length;
    if (n <= 0 || n > available) throw new Error("invalid");
    into.set(this.#down.subarray(start, start + n));
    this.#consumed(n);
    return n;
  }

  close(): void {
    this.closed = true;
    this.#open = false;
  }

  /** Bytes waiting for the client to read. */
  get unread(): number {
    return this.#downEnd - this.#downStart;
  }

  /** PUBACKs the broker still waits for (of what deliver() sent at QoS 1). */
  get acksOwed(): number {
    return this.#acksOwed;
  }

  /** Sends the client `count` PUBLISHes of the bench topic and payload, in one chunk (one onReadable). */
  deliver(count: number, qos: 0 | 1): void {
    if (!this.#open || this.version === 0) throw new Error("deliver: no connected client");
    let t = this.#templates[qos];
    if (!t) t = this.#templates[qos] = this.#publishTemplate(qos);
    this.sent += count;
    const size = t.length;
    const idAt = 4 + this.broker.topic.length; // header (2) + topic length (2) + topic
    let at = this.#reserve(size * count);
    const d = this.#down;
    for (let i = 0; i < count; i++, at += size) {
      d.set(t, at);
      if (qos) {
        const id = (this.#nextOutId = (this.#nextOutId % 65535) + 1);
        d[at + idAt] = id >> 8;
        d[at + idAt + 1] = id & 0xff;
        if (this.#acksOwed++ === 0) this.#expectAck = id;
      }
    }
    this.#postReadable();
  }

  #publishTemplate(qos: 0 | 1): Uint8Array {
    const topic = this.broker.topic;
    const payload = this.broker.payload;
    const props = this.version === 5 ? 1 : 0;
    const remaining = 2 + topic.length + (qos ? 2 : 0) + props + payload.length;
    if (remaining > 127) throw new RangeError("bench PUBLISH must fit a 1-byte Remaining Length");
    const t = new Uint8Array(2 + remaining);
    let p = 0;
    t[p++] = qos ? 0x32 : 0x30;
    t[p++] = remaining;
    t[p++] = topic.length >> 8;
    t[p++] = topic.length & 0xff;
    t.set(topic, p);
    p += topic.length;
    if (qos) p += 2; // the Packet Identifier, written per message by deliver()
    if (props) t[p++] = 0; // 5.0: Property Length 0
    t.set(payload, p);
    return t;
  }

  #consumed(n: number): void {
    this.#downStart += n;
    if (this.#downStart >= this.#downEnd) this.#downStart = this.#downEnd = 0;
  }

  /** Room for `n` more bytes to the client; returns where they go. */
  #reserve(n: number): number {
    const end = this.#downEnd;
    if (end + n > this.#down.length) {
      const live = end - this.#downStart;
      const size = Math.max(this.#down.length, (live + n) * 2);
      const grown = size > this.#down.length ? new Uint8Array(size) : this.#down;
      grown.set(this.#down.subarray(this.#downStart, end));
      this.#down = grown;
      this.#downStart = 0;
      this.#downEnd = live;
    }
    const at = this.#downEnd;
    this.#downEnd += n;
    return at;
  }

  #send(b0: number, b1: number, b2?: number, b3?: number, b4?: number, b5?: number): void {
    const n = b2 === undefined ? 2 : b3 === undefined ? 3 : b4 === undefined ? 4 : b5 === undefined ? 5 : 6;
    const at = this.#reserve(n);
    const d = this.#down;
    d[at] = b0;
    d[at + 1] = b1;
    if (n > 2) d[at + 2] = b2 as number;
    if (n > 3) d[at + 3] = b3 as number;
    if (n > 4) d[at + 4] = b4 as number;
    if (n > 5) d[at + 5] = b5 as number;
  }

  #postReadable(): void {
    if (this.#readablePosted) return;
    this.#readablePosted = true;
    this.broker.loop.post(this.#notifyReadable);
  }

  #readable(): void {
    this.#readablePosted = false;
    const n = this.#downEnd - this.#downStart;
    if (n > 0 && !this.closed) this.#onReadable?.call(this, n);
  }

  #problem(what: string): void {
    this.problems++;
    if (this.firstProblem === undefined) this.firstProblem = what;
  }

  /** The broker's turn: every whole packet written so far, then room again for the client. */
  #processInput(): void {
    this.#processPosted = false;
    if (this.closed) return;
    const b = this.#up;
    const end = this.#upLength;
    let p = 0;
    while (end - p >= 2) {
      // Fixed header: type and flags, then the Remaining Length (§2.2.3 / 3.1.1 §2.2.3).
      let q = p + 1;
      let length = 0;
      let shift = 0;
      let byte = 0;
      do {
        if (q >= end) break;
        byte = b[q++];
        length += (byte & 0x7f) << shift;
        shift += 7;
      } while (byte & 0x80 && shift < 28);
      if (byte & 0x80 || end - q < length) break; // not whole yet
      this.#packet(b[p], q, length);
      p = q + length;
    }
    if (p > 0) {
      if (p < end) b.copyWithin(0, p, end);
      this.#upLength = end - p;
    }
    if (this.#downEnd > this.#downStart) this.#postReadable();
    // What was written has left: room again (lwIP calls onWritable as sent data is acknowledged).
    if (!this.closed) this.#onWritable?.call(this, SOCKET_CAPACITY - this.#upLength);
  }

  #packet(first: number, at: number, length: number): void {
    const b = this.#up;
    switch (first >> 4) {
      case 3: {
        // PUBLISH
        const qos = (first >> 1) & 3;
        const topicLength = (b[at] << 8) | b[at + 1];
        let r = at + 2 + topicLength;
        let id = 0;
        if (qos) {
          id = (b[r] << 8) | b[r + 1];
          r += 2;
        }
        if (this.version === 5) {
          if (b[r] & 0x80) return this.#problem("PUBLISH with 128+ bytes of properties");
          r += 1 + b[r];
        }
        const broker = this.broker;
        if (topicLength !== broker.topic.length || at + length - r !== broker.payload.length) {
          return this.#problem("PUBLISH: topic of " + topicLength + " B or payload of " + (at + length - r) + " B");
        }
        if (broker.verify && (!sameBytes(b, at + 2, broker.topic) || !sameBytes(b, r, broker.payload))) {
          return this.#problem("PUBLISH: topic or payload bytes differ");
        }
        if (qos === 0) this.published0++;
        else if (qos === 1 && id !== 0) {
          this.published1++;
          this.#send(0x40, 2, id >> 8, id & 0xff); // PUBACK (5.0: reason Success omitted, §3.4.2.1)
        } else this.#problem("PUBLISH QoS " + qos + " id " + id);
        return;
      }
      case 4: {
        // PUBACK of what deliver() sent
        const id = (b[at] << 8) | b[at + 1];
        if (this.#acksOwed === 0 || id !== this.#expectAck) return this.#problem("PUBACK " + id + ", expected " + (this.#acksOwed ? this.#expectAck : "none"));
        this.pubacks++;
        this.#acksOwed--;
        this.#expectAck = (id % 65535) + 1;
        return;
      }
      case 1: {
        // CONNECT: "MQTT", then the protocol level
        const level = b[at + 6];
        if (first !== 0x10 || b[at + 2] !== 0x4d || (level !== 4 && level !== 5)) return this.#problem("CONNECT level " + level);
        this.version = level;
        this.connects++;
        this.#templates = [undefined, undefined];
        if (level === 5) this.#send(0x20, 3, 0, 0, 0);
        else this.#send(0x20, 2, 0, 0);
        return;
      }
      case 8: {
        // SUBSCRIBE: grant the QoS asked (the last byte: options of the last filter)
        if (first !== 0x82) return this.#problem("SUBSCRIBE flags");
        const qos = b[at + length - 1] & 3;
        this.subscribes++;
        if (this.version === 5) this.#send(0x90, 4, b[at], b[at + 1], 0, qos);
        else this.#send(0x90, 3, b[at], b[at + 1], qos);
        return;
      }
      case 12:
        this.pings++;
        this.#send(0xd0, 0);
        return;
      case 14:
        this.disconnects++;
        return;
      default:
        this.#problem("unexpected packet 0x" + first.toString(16));
    }
  }
}
