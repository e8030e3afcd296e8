/*
 * The MQTT outbox: outbound QoS 1 / QoS 2 messages not yet acknowledged, the QoS 2
 * "PUBREL sent" state, and the inbound QoS 2 packet identifiers awaiting PUBREL (MQTT 5.0
 * §4.1 Session State), written through an OutboxStore (./outbox-store.ts) so that they
 * survive a reboot and a deep sleep. Pure: the store is handed in by the client binding.
 *
 * - A message is kept as the PUBLISH it was encoded into, once, at publish(): the session
 *   sends those bytes as they are, setting DUP in place on a resend (and, in 5.0, deriving
 *   the topic-alias form and the remaining expiry from them).
 * - Every operation is O(1): entries sit in an array indexed by packet identifier modulo a
 *   power of two (the session picks identifiers whose place is free, so lookups never
 *   collide), at most half full: it starts at 4 places and doubles as the outbox fills, up to
 *   the first power of two at least `maxMessages` (a device with one or two messages in flight
 *   keeps 4 places); and in a doubly linked list in acceptance order, the order
 *   of resending [MQTT-4.6.0-1]. `cursor` is the first entry not yet sent on the current
 *   connection: sending goes forward from it, an acknowledgement unlinks its entry.
 * - Bounded by `maxMessages` and `maxBytes` (encoded PUBLISH sizes). Policy when full:
 *   add() throws MqttError "outbox-full" and the caller keeps its message; nothing already
 *   in the outbox is ever dropped to make room.
 */
import { MqttError } from "./session-error";
import type { OutboxStore } from "./outbox-store";
import { frame } from "./encode";
import { decodeMqttString, varintAt } from "./wire";

/**
 * One message. Its QoS is in its PUBLISH's first byte (2 once released, when no bytes are
 * kept); it is in flight on the current connection when it comes before `cursor` (sending
 * goes in list order from the oldest after restart()): neither is a field of its own.
 */
export interface OutboxEntry {
  packetId: number;
  /** Order of acceptance; resends go in this order ([MQTT-4.6.0-1]). */
  seq: number;
  /**
   * The encoded PUBLISH (DUP set in place on a resend), awaiting PUBACK / PUBREC; none once
   * released (QoS 2: PUBREC received, PUBREL sent, awaiting PUBCOMP).
   */
  bytes: Uint8Array | undefined;
  topic: string;
  /** Handed to the network at least once (persisted through the store's high-water mark). */
  sent: boolean;
  /** The publisher's token, given back when the message is done (in memory only). */
  token: unknown;
  prev: OutboxEntry | undefined;
  next: OutboxEntry | undefined;
  /** Wall-clock ms at acceptance, NaN without a clock; kept only for 5.0 message expiry. */
  createdAt?: number;
  /** Monotonic ms at acceptance (or at load, after a reboot); for 5.0 message expiry. */
  createdMono?: number;
  /** 5.0: the Message Expiry Interval sent (s); absent when none; -1 until looked up (loaded after a reboot). */
  expiry?: number;
}

export interface MqttOutboxOptions {
  /** Where records live; without it the outbox is RAM only (lost on reboot). */
  store?: OutboxStore;
  /** Most messages held (default 32). */
  maxMessages?: number;
  /** Most bytes of encoded PUBLISH packets held (default 16384). */
  maxBytes?: number;
  /** Protocol Level of the session (4 or 5, default 5): stored messages in the other form are converted on load. */
  version?: number;
  /** Monotonic time (the scheduler's clock), for the creation time of loaded messages. */
  now?: number;
}

function invalid(message: string): MqttError {
  return new MqttError("invalid", "MqttOutbox: " + message);
}

export class MqttOutbox {
  // Every field is assigned in the constructor (`declare`: class field initializers cost XS bytecode).
  declare readonly maxMessages: number;
  declare readonly maxBytes: number;
  declare readonly store: OutboxStore | undefined;
  /** Problems met while loading, made with the first (corrupt records were dropped and are listed there). */
  private declare errors: string[] | undefined;
  /** Messages held (both states). */
  declare count: number;
  /** Bytes of encoded PUBLISH packets held. */
  declare bytes: number;
  /** Oldest and newest entries (acceptance order). */
  declare head: OutboxEntry | undefined;
  declare tail: OutboxEntry | undefined;
  /** The first entry not sent on the current connection. */
  declare cursor: OutboxEntry | undefined;
  /** @internal Entries by packet identifier & (size - 1): made with the first entry and kept (read by the session's allocateId). */
  declare table: (OutboxEntry | undefined)[] | undefined;
  /** @internal */
  declare size: number;
  /** Inbound QoS 2 identifiers awaiting PUBREL (made with the first: most devices never get QoS 2). */
  private declare inbound: number[] | undefined;
  private declare nextSeq: number;
  private declare highWater: number;

  constructor(options: MqttOutboxOptions = {}) {
    const maxMessages = options.maxMessages ?? 32;
    const maxBytes = options.maxBytes ?? 16384;
    if (!(maxMessages >= 1 && maxMessages <= 65535)) throw invalid("maxMessages 1..65535");
    if (!(maxBytes >= 64)) throw invalid("maxBytes < 64");
    // The table, the list, the inbound identifiers and the load errors are made when first
    // needed: an outbox that holds nothing has few slots.
    this.size = 4;
    this.count = this.bytes = 0;
    this.nextSeq = 1;
    this.highWater = 0;
    this.maxMessages = maxMessages;
    this.maxBytes = maxBytes;
    // Assigned even when undefined: every message reads it, and a property an object lacks is
    // looked for along its whole prototype chain on XS.
    this.store = options.store;
    if (this.store) this.load(options.version ?? 5, options.now ?? 0);
  }

  /** The entry of `packetId`, if held. */
  get(packetId: number): OutboxEntry | undefined {
    const t = this.table;
    const e = t && t[packetId & (this.size - 1)];
    return e && e.packetId === packetId ? e : undefined;
  }

  has(packetId: number): boolean {
    return this.get(packetId) !== undefined;
  }

  /** Problems met while loading (corrupt records were dropped and are listed here). */
  get loadErrors(): string[] {
    return this.errors ?? [];
  }

  /** Every entry in acceptance order (diagnostics and tests; the session walks the list itself). */
  list(): OutboxEntry[] {
    const out: OutboxEntry[] = [];
    for (let e = this.head; e; e = e.next) out.push(e);
    return out;
  }

  /** Would a message of `bytes` be accepted now? Returns the reason when not. */
  refusal(bytes: number): MqttError | undefined {
    if (this.count >= this.maxMessages || this.bytes + bytes > this.maxBytes) {
      return new MqttError("outbox-full", "MQTT outbox full: " + this.count + " messages, " + this.bytes + " + " + bytes + " B");
    }
    return undefined;
  }

  /**
   * Accepts a QoS 1/2 PUBLISH encoded as `bytes` (identifier `packetId`, whose place is
   * free) and commits it to the store before returning. Throws MqttError "outbox-full" or
   * "storage"; then nothing was kept.
   */
  add(packetId: number, topic: string, bytes: Uint8Array, version: number, createdAt: number, token: unknown): OutboxEntry {
    const n = bytes.length; // read once: a typed array's length is a native getter on XS
    if (this.count >= this.maxMessages || this.bytes + n > this.maxBytes) throw this.refusal(n);
    let t = this.table;
    const at = packetId & (this.size - 1);
    if (t && t[at] !== undefined) throw invalid("packet identifier " + packetId + " in use");
    const seq = this.nextSeq;
    if (this.store) this.store.save(packetId, seq, createdAt, version, bytes);
    this.nextSeq = seq + 1;
    // A new entry at the tail of the list and in the table (made with the first entry and
    // kept: made and dropped with every message, it cost more than the rest of the outbox's
    // work with one message at a time in flight). The table doubles when more than half full
    // (a free place is then found in two tries on average), up to maxMessages places. Written
    // out here and in load(): a call costs on XS, and a publisher comes here for every message.
    const tail = this.tail;
    const e: OutboxEntry = { packetId, bytes, sent: false, next: undefined, prev: tail, seq, topic, token };
    (t || (this.table = t = new Array(this.size)))[at] = e;
    if (tail) tail.next = e;
    else this.head = e;
    this.tail = e;
    if (!this.cursor) this.cursor = e;
    if (++this.count * 2 > this.size && this.size < this.maxMessages) this.grow();
    this.bytes += n;
    return e;
  }

  /** QoS 2: PUBREC received, PUBREL about to be sent: the bytes go (released). */
  release(e: OutboxEntry): void {
    const b = e.bytes;
    if (!b) return;
    if (this.store) this.store.release(e.packetId, e.seq);
    this.bytes -= b.length;
    e.bytes = undefined;
  }

  /** The message is done (PUBACK, PUBCOMP, refused or expired): forget it (unlinked even if the store fails). */
  remove(e: OutboxEntry): void {
    const t = this.table;
    const at = e.packetId & (this.size - 1);
    if (!t || t[at] !== e) return;
    t[at] = undefined;
    const next = e.next;
    const prev = e.prev;
    if (this.cursor === e) this.cursor = next;
    if (prev) prev.next = next;
    else this.head = next;
    if (next) next.prev = prev;
    else this.tail = prev;
    e.prev = e.next = undefined;
    const b = e.bytes;
    if (b) this.bytes -= b.length;
    this.count--;
    if (this.store) this.store.remove(e.packetId, !b);
  }

  /** Records that `e` is handed to the network (persisted before it leaves). */
  markSent(e: OutboxEntry): void {
    if (e.sent) return;
    e.sent = true;
    if (e.seq > this.highWater) {
      this.highWater = e.seq;
      if (this.store) this.store.sent(e.seq);
    }
  }

  /** A new connection: nothing is in flight, sending starts again from the oldest. */
  restart(): void {
    if (this.cursor !== this.head) this.cursor = this.head;
  }

  // -- inbound QoS 2 ------------------------------------------------------------

  get inboundCount(): number {
    return this.inbound ? this.inbound.length : 0;
  }

  hasInbound(packetId: number): boolean {
    return this.inbound !== undefined && this.inbound.indexOf(packetId) >= 0;
  }

  /** Persists an inbound QoS 2 identifier before the message is delivered. */
  addInbound(packetId: number): void {
    if (this.hasInbound(packetId)) return;
    if (this.store) this.store.inbound(packetId, true);
    (this.inbound || (this.inbound = [])).push(packetId);
  }

  removeInbound(packetId: number): boolean {
    const list = this.inbound;
    const i = list ? list.indexOf(packetId) : -1;
    if (i < 0) return false;
    list!.splice(i, 1);
    if (!list!.length) this.inbound = undefined;
    if (this.store) this.store.inbound(packetId, false);
    return true;
  }

  /** The server has no session (sessionPresent 0): its half of the exchanges is gone. */
  clearInbound(): void {
    while (this.inbound) this.removeInbound(this.inbound[0]);
  }

  // -- internals --------------------------------------------------------------------

  /** Reads the store back (constructor), in sequence order. Unreadable records are dropped and listed in loadErrors. */
  private load(version: number, now: number): void {
    const s = this.store!.load();
    const errors: string[] = s.errors;
    this.highWater = s.highWater;
    this.inbound = s.inbound.length ? s.inbound : undefined;
    // Sequence order, merging messages and released ones (few: sort once, at boot).
    const all: [number, number, Uint8Array | undefined, string, number][] = [];
    for (let j = 0; j < s.released.length; j += 2) all.push([s.released[j + 1], s.released[j], undefined, "", NaN]);
    for (let j = 0; j < s.messages.length; j++) {
      const m = s.messages[j];
      const bytes = m.version === version ? m.bytes : convert(m.bytes, m.id, m.version);
      const topic = bytes && publishTopic(bytes, m.id, version);
      if (topic === undefined) {
        errors.push("m" + m.id + ": bad PUBLISH");
        try {
          this.store!.remove(m.id, false);
        } catch {
          // left for the next load
        }
        continue;
      }
      all.push([m.seq, m.id, bytes, topic, m.createdAt]);
    }
    if (errors.length) this.errors = errors;
    all.sort((a, b) => a[0] - b[0]);
    let maxSeq = this.highWater;
    for (let j = 0; j < all.length; j++) {
      // indexed, not destructured: array destructuring runs the iterator protocol (XS bytecode)
      const r = all[j];
      const seq = r[0];
      const id = r[1];
      const bytes = r[2];
      // Its place taken by another identifier: the table grows until they part.
      let t = this.table;
      while (t && t[id & (this.size - 1)] !== undefined && t[id & (this.size - 1)]!.packetId !== id) {
        this.grow();
        t = this.table;
      }
      if (this.get(id) !== undefined) continue; // the same identifier twice: keep the first
      const tail = this.tail;
      const e: OutboxEntry = { packetId: id, bytes, sent: !bytes || seq <= this.highWater, next: undefined, prev: tail, seq, topic: r[3], token: undefined };
      (t || (this.table = t = new Array(this.size)))[id & (this.size - 1)] = e;
      if (tail) tail.next = e;
      else this.head = e;
      this.tail = e;
      if (!this.cursor) this.cursor = e;
      if (++this.count * 2 > this.size && this.size < this.maxMessages) this.grow();
      if (bytes) this.bytes += bytes.length;
      if (version === 5 && bytes) {
        e.createdAt = r[4];
        e.createdMono = now;
        e.expiry = -1; // looked up in the bytes when first sent (Mqtt5.outgoing)
      }
      if (seq > maxSeq) maxSeq = seq;
    }
    this.nextSeq = maxSeq + 1;
  }

  /** Doubles the table: the outbox fills, or loaded identifiers collide (at boot). */
  private grow(): void {
    const old = this.table!;
    this.size *= 2;
    const t: (OutboxEntry | undefined)[] = new Array(this.size);
    for (let i = 0; i < old.length; i++) if (old[i]) t[old[i]!.packetId & (this.size - 1)] = old[i];
    this.table = t;
  }
}

/**
 * The layout of a stored PUBLISH of `id`: the offsets of its Topic Name and of what follows
 * its Packet Identifier, when it is a QoS 1 or 2 PUBLISH without DUP whose Remaining Length
 * matches its size and whose identifier is `id`; undefined otherwise.
 */
function layout(b: Uint8Array, id: number): [number, number] | undefined {
  const h = b[0];
  const qos = (h >> 1) & 3;
  if (h >> 4 !== 3 || (h & 8) !== 0 || qos === 0 || qos === 3) return undefined;
  const v = varintAt(b, 1);
  const o = v[1];
  if (v[0] !== b.length - o) return undefined;
  const t = o + 2 + ((b[o] << 8) | b[o + 1]);
  if (t + 2 > b.length || ((b[t] << 8) | b[t + 1]) !== id) return undefined;
  return [o, t + 2];
}

/** The Topic Name of a stored PUBLISH of `id` in version `v` (layout checked, 5.0 Property Length inside the packet), or undefined. */
function publishTopic(b: Uint8Array, id: number, v: number): string | undefined {
  const l = layout(b, id);
  if (!l) return undefined;
  if (v === 5) {
    // the Property Length (its value, the offset after it) must fit: not named v, which is the version used below
    const p = varintAt(b, l[1]);
    if (p[0] < 0 || p[1] + p[0] > b.length) return undefined;
  }
  try {
    return decodeMqttString(b, l[0] + 2, l[1] - 2, v as 4 | 5);
  } catch {
    return undefined;
  }
}

/**
 * A stored PUBLISH of `id` re-written for the other protocol level (the app switched between
 * 3.1.1 and 5.0 across a reboot): a 3.1.1 one gets an empty Property Length, a 5.0 one loses
 * its properties. Undefined when the layout is not a PUBLISH's.
 */
function convert(b: Uint8Array, id: number, from: number): Uint8Array | undefined {
  const l = layout(b, id);
  if (!l) return undefined;
  const head = b.subarray(l[0], l[1]); // Topic Name and Packet Identifier
  let rest = l[1]; // a 3.1.1 payload starts here
  if (from === 5) {
    const v = varintAt(b, l[1]);
    if (v[0] < 0 || v[1] + v[0] > b.length) return undefined;
    rest = v[1] + v[0];
  }
  const tail = b.subarray(rest);
  const n = head.length + (from === 4 ? 1 : 0) + tail.length;
  const out = frame(b[0], n, 3);
  const o = out.length - n;
  out.set(head, o);
  out.set(tail, out.length - tail.length); // a 3.1.1 one gets Property Length 0 (the zero left in between)
  return out;
}
