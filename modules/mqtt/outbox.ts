/*
 * The MQTT outbox: outbound QoS 1 / QoS 2 messages not yet acknowledged, the QoS 2
 * "PUBREL sent" state, and the inbound QoS 2 packet identifiers awaiting PUBREL,
 * kept in the platform KeyValueStore so that they survive a reboot and a deep sleep
 * (ARCHITECTURE.md principle 5; MQTT 5.0 §4.1 Session State, [MQTT-4.4.0-1]).
 *
 * Layout in the store (namespace of at most 15 characters, default "mqtt"):
 *   m<id>        a message awaiting PUBACK / PUBREC: a 16-byte header (format, state,
 *                chunk count, sequence number, creation time) then the PUBLISH encoded
 *                in MQTT 5.0 form (topic, properties, payload), first part;
 *   x<id>.<n>    further parts when the record passes the 4000-byte value limit;
 *   r<id>        a QoS 2 message whose PUBREC came (PUBREL sent, awaiting PUBCOMP):
 *                its sequence number only, the payload is no longer needed;
 *   i<id>        an inbound QoS 2 Packet Identifier: PUBREC sent, PUBREL not yet
 *                received ([MQTT-4.3.3-10]: do not deliver that message again);
 *   hw           highest sequence number handed to the network (for DUP and expiry);
 *   cid          the Client Identifier the server assigned (§3.2.2.3.7).
 *
 * Crash safety: a single set() is atomic, so each step writes one commit key.
 *   add:      parts x<id>.<n> first, then m<id> (the commit); a failed add removes
 *             the parts it wrote. The caller is told "accepted" only after m<id>.
 *   PUBREC:   r<id> first, then m<id> is deleted; on load r<id> wins over m<id>.
 *   done:     m<id> (or r<id>) deleted first, then its parts; parts without an m<id>
 *             are deleted on load.
 * A reboot between any two steps therefore leaves the message either wholly in the
 * outbox (it is sent again: a duplicate at QoS 1, as the spec allows) or in its next
 * state; never half-written, never gone before its acknowledgement.
 *
 * Bounded by `maxMessages` and `maxBytes` (encoded PUBLISH sizes). Policy when full:
 * add() throws MqttError "outbox-full" and the caller keeps its message; nothing already
 * in the outbox is ever dropped to make room.
 */
import type { KeyValueStore } from "../platform/storage";
import { MAX_NAME_LENGTH, MAX_VALUE_BYTES } from "../platform/storage";
import { MqttDecoder } from "./decoder";
import { encodePublish } from "./encode";
import type { PropertiesCodec, PublishPacket, QoS } from "./packets";
import type { MqttProperties } from "./properties";
import { MqttError } from "./session-error";

/** Outbox entry state: 1 = PUBLISH awaiting PUBACK / PUBREC; 2 = PUBREL awaiting PUBCOMP. */
export type OutboxState = 1 | 2;

export interface OutboxEntry {
  packetId: number;
  /** Order of acceptance; resends go in this order ([MQTT-4.6.0-1]). */
  seq: number;
  state: OutboxState;
  qos: QoS;
  topic: string;
  payload: Uint8Array;
  retain: boolean;
  properties: MqttProperties | undefined;
  /** Wall-clock ms at acceptance, NaN when the host had no time. */
  createdAt: number;
  /** Monotonic ms at acceptance (or at load, after a reboot). */
  createdMono: number;
  /** Size of the encoded PUBLISH (what counts toward maxBytes); 0 in state 2. */
  bytes: number;
  /** Handed to the network at least once (persisted through the `hw` mark). */
  sent: boolean;
  /** Sent on the current network connection and not yet acknowledged (in memory only). */
  inflight: boolean;
  /** The publisher's callback for this message (in memory only: none after a reboot). */
  callback: Function | undefined;
}

export interface MqttOutboxOptions {
  /** Where records live; without it the outbox is RAM only (lost on reboot). */
  storage?: KeyValueStore;
  /** KeyValueStore namespace, at most 15 characters (default "mqtt"). */
  namespace?: string;
  /** Most messages held (default 32). */
  maxMessages?: number;
  /** Most bytes of encoded PUBLISH packets held (default 16384). */
  maxBytes?: number;
  /** Monotonic and wall-clock time (the scheduler's clock). */
  clock?: { now(): number; epoch(): number };
  /** The 5.0 properties codec, for messages with properties (a 3.1.1 build has none). */
  properties?: PropertiesCodec;
}

const HEADER = 16;
const FORMAT = 1;

function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) >>> 0) + (b[o + 1] << 16) + (b[o + 2] << 8) + b[o + 3];
}

/** loadErrors when there were none (read only). */
const NO_ERRORS: string[] = Object.freeze([]) as unknown as string[];

export class MqttOutbox {
  // Every field is assigned in the constructor (`declare`: class field initializers cost XS bytecode).
  declare readonly namespace: string;
  declare readonly maxMessages: number;
  declare readonly maxBytes: number;
  declare readonly storage: KeyValueStore | undefined;
  /** Problems met while loading (corrupt records were dropped and are listed here). */
  declare readonly loadErrors: string[];
  private declare readonly clock: { now(): number; epoch(): number } | undefined;
  private declare readonly properties: PropertiesCodec | undefined;
  /**
   * The messages held, by packet identifier: made with the first and dropped when the last
   * goes (at QoS 1 the outbox is empty between a PUBLISH and its PUBACK nearly always; an
   * empty Map kept ~190 B a device in a fleet).
   */
  private declare entries: Map<number, OutboxEntry> | undefined;
  /** Inbound QoS 2 identifiers awaiting PUBREL; created with the first (most devices never get QoS 2). */
  private declare inbound: Set<number> | undefined;
  private declare nextSeq: number;
  private declare highWater: number;
  private declare totalBytes: number;

  constructor(options: MqttOutboxOptions = {}) {
    const ns = options.namespace ?? "mqtt";
    if (typeof ns !== "string" || ns.length === 0 || ns.length > MAX_NAME_LENGTH) {
      throw invalid("namespace 1.." + MAX_NAME_LENGTH + " chars");
    }
    this.namespace = ns;
    this.loadErrors = [];
    this.entries = undefined;
    this.inbound = undefined;
    this.nextSeq = 1;
    this.highWater = this.totalBytes = 0;
    this.maxMessages = options.maxMessages ?? 32;
    this.maxBytes = options.maxBytes ?? 16384;
    if (!(this.maxMessages >= 1 && this.maxMessages <= 65535)) throw invalid("maxMessages 1..65535");
    if (!(this.maxBytes >= 64)) throw invalid("maxBytes < 64");
    this.storage = options.storage;
    this.clock = options.clock;
    this.properties = options.properties;
    if (this.storage) this.load();
    if (!this.loadErrors.length) this.loadErrors = NO_ERRORS; // none: a shared array, not one per outbox
  }

  /** Messages held (both states). */
  get count(): number {
    return this.entries ? this.entries.size : 0;
  }

  /** Bytes held (encoded PUBLISH packets awaiting PUBACK / PUBREC). */
  get bytes(): number {
    return this.totalBytes;
  }

  /** Inbound QoS 2 identifiers awaiting PUBREL. */
  get inboundCount(): number {
    return this.inbound ? this.inbound.size : 0;
  }

  has(packetId: number): boolean {
    return this.entries !== undefined && this.entries.has(packetId);
  }

  get(packetId: number): OutboxEntry | undefined {
    return this.entries && this.entries.get(packetId);
  }

  /** Every entry in acceptance order. */
  list(): OutboxEntry[] {
    const out: OutboxEntry[] = [];
    if (this.entries) this.entries.forEach((e) => out.push(e));
    out.sort((a, b) => a.seq - b.seq);
    return out;
  }

  /** Would a message of `bytes` be accepted now? Returns the reason when not. */
  refusal(bytes: number): MqttError | undefined {
    const n = this.count;
    if (n >= this.maxMessages || this.totalBytes + bytes > this.maxBytes) {
      return new MqttError("outbox-full", "MQTT outbox full: " + n + " messages, " + this.totalBytes + " + " + bytes + " B");
    }
    return undefined;
  }

  /**
   * Accepts a QoS 1/2 PUBLISH (with its packetId) and persists it before returning.
   * Throws MqttError "outbox-full" or "storage"; then nothing was kept.
   */
  add(packet: PublishPacket): OutboxEntry {
    const id = packet.packetId!;
    if (this.has(id)) throw invalid("packet identifier " + id + " in use");
    const encoded = encodePublish(
      { type: 3, topic: packet.topic, payload: packet.payload, qos: packet.qos, retain: packet.retain, dup: false, packetId: id, properties: packet.properties },
      5,
      this.properties,
    );
    const bad = this.refusal(encoded.length);
    if (bad) throw bad;
    const entry = this.entry(id, this.nextSeq, 1, packet, this.clock ? this.clock.epoch() : NaN, this.clock ? this.clock.now() : 0, encoded.length, false);
    if (this.storage) this.writeRecord(entry, encoded);
    this.nextSeq++;
    this.held().set(id, entry);
    this.totalBytes += entry.bytes;
    return entry;
  }

  /** QoS 2: PUBREC received, PUBREL about to be sent (state 2). */
  release(packetId: number): void {
    const e = this.get(packetId);
    if (!e || e.state === 2) return;
    if (this.storage) {
      this.guard(() => {
        this.storage!.set(this.namespace, "r" + packetId, e.seq); // commit of the new state
      });
      this.deleteRecord("m", packetId);
    }
    this.totalBytes -= e.bytes;
    e.bytes = 0;
    e.state = 2;
    e.payload = new Uint8Array(0);
  }

  /** The message is done (PUBACK, PUBCOMP, refused or expired): forget it. */
  remove(packetId: number): OutboxEntry | undefined {
    const e = this.get(packetId);
    if (!e) return undefined;
    this.entries!.delete(packetId);
    if (this.entries!.size === 0) this.entries = undefined;
    this.totalBytes -= e.bytes;
    if (this.storage) this.deleteRecord(e.state === 2 ? "r" : "m", packetId);
    return e;
  }

  /** Records that `entry` is handed to the network (persisted before it leaves). */
  markSent(entry: OutboxEntry): void {
    if (entry.sent) return;
    entry.sent = true;
    if (entry.seq > this.highWater) {
      this.highWater = entry.seq;
      if (this.storage) this.guard(() => this.storage!.set(this.namespace, "hw", entry.seq));
    }
  }

  // -- inbound QoS 2 ------------------------------------------------------------

  hasInbound(packetId: number): boolean {
    return this.inbound !== undefined && this.inbound.has(packetId);
  }

  /** Persists an inbound QoS 2 identifier before the message is delivered. */
  addInbound(packetId: number): void {
    if (this.hasInbound(packetId)) return;
    if (this.storage) this.guard(() => this.storage!.set(this.namespace, "i" + packetId, true));
    (this.inbound || (this.inbound = new Set())).add(packetId);
  }

  removeInbound(packetId: number): boolean {
    if (!this.hasInbound(packetId)) return false;
    this.inbound!.delete(packetId);
    if (this.storage) this.guard(() => this.storage!.delete(this.namespace, "i" + packetId));
    return true;
  }

  /** The server has no session (sessionPresent 0): its half of the exchanges is gone. */
  clearInbound(): void {
    const ids: number[] = [];
    if (this.inbound) this.inbound.forEach((id) => ids.push(id));
    for (let j = 0; j < ids.length; j++) this.removeInbound(ids[j]);
  }

  // -- small persistent values of the session -----------------------------------

  getMeta(key: "cid"): string | undefined {
    if (!this.storage) return undefined;
    const v = this.storage.get(this.namespace, key);
    return typeof v === "string" ? v : undefined;
  }

  setMeta(key: "cid", value: string | undefined): void {
    if (!this.storage) return;
    this.guard(() => {
      if (value === undefined) this.storage!.delete(this.namespace, key);
      else this.storage!.set(this.namespace, key, value);
    });
  }

  /** Drops everything (in RAM and in the store). */
  clear(): void {
    const ids: number[] = [];
    if (this.entries) this.entries.forEach((_e, id) => ids.push(id));
    for (let j = 0; j < ids.length; j++) this.remove(ids[j]);
    this.clearInbound();
  }

  /** The entries Map, made when the first message comes. */
  private held(): Map<number, OutboxEntry> {
    return this.entries || (this.entries = new Map());
  }

  // -- storage ----------------------------------------------------------------------

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      throw storage(e);
    }
  }

  private writeRecord(entry: OutboxEntry, encoded: Uint8Array): void {
    const total = HEADER + encoded.length;
    const headRoom = MAX_VALUE_BYTES;
    const parts = total <= headRoom ? 1 : 1 + Math.ceil((total - headRoom) / MAX_VALUE_BYTES);
    if (parts > 255) throw new MqttError("outbox-full", "MQTT outbox: " + encoded.length + " B too large to persist");
    const record = new Uint8Array(total);
    record[0] = FORMAT;
    record[1] = 1;
    record[2] = 0;
    record[3] = parts;
    const dv = new DataView(record.buffer);
    dv.setUint32(4, entry.seq);
    dv.setFloat64(8, entry.createdAt);
    record.set(encoded, HEADER);
    const ns = this.namespace;
    const id = entry.packetId;
    const written: string[] = [];
    try {
      // Parts first, the head (commit) last.
      for (let n = 1; n < parts; n++) {
        const start = headRoom + (n - 1) * MAX_VALUE_BYTES;
        const key = "x" + id + "." + n;
        this.storage!.set(ns, key, record.slice(start, Math.min(total, start + MAX_VALUE_BYTES)).buffer);
        written.push(key);
      }
      this.storage!.set(ns, "m" + id, record.slice(0, Math.min(total, headRoom)).buffer);
    } catch (e) {
      for (let j = 0; j < written.length; j++) {
        const key = written[j];
        try {
          this.storage!.delete(ns, key);
        } catch {
          // the load-time sweep removes orphan parts
        }
      }
      throw storage(e);
    }
  }

  private deleteRecord(prefix: "m" | "r", id: number): void {
    const ns = this.namespace;
    this.guard(() => {
      let parts = 1;
      if (prefix === "m") {
        const head = this.storage!.get(ns, "m" + id);
        if (head instanceof ArrayBuffer && head.byteLength >= HEADER) parts = new Uint8Array(head)[3];
      }
      this.storage!.delete(ns, prefix + id); // the commit key goes first
      for (let n = 1; n < parts; n++) this.storage!.delete(ns, "x" + id + "." + n);
    });
  }

  /** Reads every record back (constructor). Corrupt records are dropped and reported in loadErrors. */
  private load(): void {
    const s = this.storage!;
    const ns = this.namespace;
    let keys: string[];
    try {
      keys = s.keys(ns);
    } catch (e) {
      this.loadErrors.push("keys: " + String(e));
      return;
    }
    const hw = s.get(ns, "hw");
    if (typeof hw === "number") this.highWater = hw;
    const now = this.clock ? this.clock.now() : 0;
    const decoder = new MqttDecoder({ version: 5, copyPayload: true, properties: this.properties });
    const released = new Set<number>();
    const partsUsed = new Set<string>();
    let maxSeq = this.highWater;
    for (let j = 0; j < keys.length; j++) {
      const key = keys[j];
      const c = key.charCodeAt(0);
      const id = Number(key.slice(1));
      if ((c === 0x72 /* r */ || c === 0x69) /* i */ && Number.isInteger(id) && id >= 1 && id <= 65535) {
        const v = s.get(ns, key);
        if (c === 0x69) (this.inbound || (this.inbound = new Set())).add(id);
        else if (typeof v === "number") {
          released.add(id);
          this.held().set(id, this.entry(id, v, 2, undefined, NaN, now, 0, true));
          if (v > maxSeq) maxSeq = v;
        }
      }
    }
    for (let j = 0; j < keys.length; j++) {
      const key = keys[j];
      if (key.charCodeAt(0) !== 0x6d /* m */) continue;
      const id = Number(key.slice(1));
      if (!(Number.isInteger(id) && id >= 1 && id <= 65535)) continue;
      if (released.has(id)) {
        // A reboot between writing r<id> and deleting m<id>: the PUBREL state wins.
        try {
          this.deleteRecord("m", id);
        } catch {
          // left for the next load
        }
        continue;
      }
      const head = s.get(ns, key);
      const entry = this.readRecord(id, head, decoder, now, partsUsed);
      if (!entry) {
        try {
          s.delete(ns, key);
        } catch {
          // ignore
        }
        continue;
      }
      this.held().set(id, entry);
      this.totalBytes += entry.bytes;
      if (entry.seq > maxSeq) maxSeq = entry.seq;
    }
    // Orphan parts (a reboot during add before the commit, or during delete after it).
    for (let j = 0; j < keys.length; j++) {
      const key = keys[j];
      if (key.charCodeAt(0) === 0x78 /* x */ && !partsUsed.has(key)) {
        try {
          s.delete(ns, key);
        } catch {
          // ignore
        }
      }
    }
    this.nextSeq = maxSeq + 1;
  }

  /** An entry; `p` undefined: a released QoS 2 message (state 2) whose payload is gone. */
  private entry(id: number, seq: number, state: OutboxState, p: PublishPacket | undefined, createdAt: number, mono: number, bytes: number, sent: boolean): OutboxEntry {
    return {
      packetId: id,
      seq,
      state,
      qos: p ? p.qos : 2,
      topic: p ? p.topic : "",
      payload: p ? p.payload : new Uint8Array(0),
      retain: p ? p.retain : false,
      properties: p && p.properties,
      createdAt,
      createdMono: mono,
      bytes,
      sent,
      callback: undefined,
      inflight: false,
    };
  }

  private readRecord(id: number, head: unknown, decoder: MqttDecoder, now: number, partsUsed: Set<string>): OutboxEntry | undefined {
    if (!(head instanceof ArrayBuffer) || head.byteLength < HEADER) {
      this.loadErrors.push("m" + id + ": no record");
      return undefined;
    }
    const h = new Uint8Array(head);
    if (h[0] !== FORMAT || h[1] !== 1) {
      this.loadErrors.push("m" + id + ": format " + h[0]);
      return undefined;
    }
    const parts = h[3];
    const chunks: Uint8Array[] = [h];
    let total = h.length;
    for (let n = 1; n < parts; n++) {
      const key = "x" + id + "." + n;
      const v = this.storage!.get(this.namespace, key);
      if (!(v instanceof ArrayBuffer)) {
        this.loadErrors.push("m" + id + ": part " + n + " missing");
        return undefined;
      }
      partsUsed.add(key);
      chunks.push(new Uint8Array(v));
      total += v.byteLength;
    }
    const record = new Uint8Array(total);
    let o = 0;
    for (let j = 0; j < chunks.length; j++) {
      const c = chunks[j];
      record.set(c, o);
      o += c.length;
    }
    const dv = new DataView(record.buffer);
    const seq = u32(record, 4);
    const createdAt = dv.getFloat64(8);
    decoder.reset(5);
    decoder.feed(record.subarray(HEADER));
    const p = decoder.next();
    if (!p || p.type !== 3 || p.packetId !== id || decoder.buffered !== 0) {
      this.loadErrors.push("m" + id + ": bad PUBLISH" + (decoder.error ? " (" + decoder.error.message + ")" : ""));
      return undefined;
    }
    return this.entry(id, seq, 1, p, createdAt, now, total - HEADER, seq <= this.highWater);
  }
}

function invalid(message: string): MqttError {
  return new MqttError("invalid", "MqttOutbox: " + message);
}

function storage(e: unknown): MqttError {
  return new MqttError("storage", "MQTT outbox: storage failed: " + String((e as Error)?.message ?? e), undefined, undefined, e);
}
