/*
 * Where the MQTT outbox keeps what must survive a reboot or a deep sleep (ARCHITECTURE.md
 * principle 5; MQTT 5.0 §4.1 Session State, [MQTT-4.4.0-1]): the OutboxStore interface the
 * outbox writes through, and its implementation on the platform KeyValueStore (flash, NVS).
 * The client binding makes the store and hands it to the outbox; the session and the outbox
 * never see flash.
 *
 * Layout in the KeyValueStore (namespace of at most 15 characters, default "mqtt"):
 *   m<id>        a message awaiting PUBACK / PUBREC: a 16-byte header (format, state,
 *                protocol level, part count, sequence number, creation time) then the
 *                PUBLISH as it was encoded (first part);
 *   x<id>.<n>    further parts when the record passes the 4000-byte value limit;
 *   r<id>        a QoS 2 message whose PUBREC came (PUBREL sent, awaiting PUBCOMP): its
 *                sequence number only, the payload is no longer needed;
 *   i<id>        an inbound QoS 2 Packet Identifier: PUBREC sent, PUBREL not yet received
 *                ([MQTT-4.3.3-10]: do not deliver that message again);
 *   hw           highest sequence number handed to the network (DUP and expiry after a reboot);
 *   cid          the Client Identifier the server assigned (§3.2.2.3.7).
 *
 * Crash safety: a single set() is atomic, so each step writes one commit key.
 *   save:     parts x<id>.<n> first, then m<id> (the commit); a failed save removes the parts
 *             it wrote. The caller is told "accepted" only after m<id>.
 *   release:  r<id> first, then m<id> is deleted; on load r<id> wins over m<id>.
 *   remove:   m<id> (or r<id>) deleted first, then its parts; parts without an m<id> are
 *             deleted on load.
 * A reboot between any two steps leaves each message either wholly stored (sent again: a
 * duplicate at QoS 1, as the spec allows) or in its next state; never half-written, never
 * gone before its acknowledgement.
 */
import type { KeyValueStore, StoredValue } from "../platform/storage";
import { MAX_NAME_LENGTH, MAX_VALUE_BYTES } from "../platform/storage";
import { MqttError } from "./session-error";

/** A stored message awaiting PUBACK / PUBREC, as load() gives it back. */
export interface StoredMessage {
  id: number;
  seq: number;
  /** Wall-clock ms at acceptance, NaN when the host had no time. */
  createdAt: number;
  /** Protocol Level the PUBLISH is encoded in (4 or 5). */
  version: number;
  /** The PUBLISH as it was encoded (not yet checked). */
  bytes: Uint8Array;
}

/** What a store holds, read back once when the outbox is made. */
export interface StoredSession {
  messages: StoredMessage[];
  /** QoS 2 messages past PUBREC: packet identifier and sequence number, pairs in one array. */
  released: number[];
  /** Inbound QoS 2 identifiers awaiting PUBREL. */
  inbound: number[];
  /** Highest sequence number handed to the network. */
  highWater: number;
  /** Records that could not be read and were dropped. */
  errors: string[];
}

/**
 * The outbox's persistent store. Every method commits before it returns, or throws (an
 * MqttError "storage") having changed nothing the next load() would misread.
 */
export interface OutboxStore {
  load(): StoredSession;
  /** Commits a new message (the outbox tells the publisher "accepted" after this). */
  save(id: number, seq: number, createdAt: number, version: number, bytes: Uint8Array): void;
  /** QoS 2 past PUBREC: the message becomes its identifier and sequence number. */
  release(id: number, seq: number): void;
  /** The message is done; `released`: it was past PUBREC. */
  remove(id: number, released: boolean): void;
  /** Messages up to `seq` have been handed to the network. */
  sent(seq: number): void;
  /** Adds (`add`) or removes an inbound QoS 2 identifier. */
  inbound(id: number, add: boolean): void;
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string | undefined): void;
}

const HEADER = 16;
/** Record format 2: byte 2 is the protocol level of the PUBLISH. Format 1 (earlier builds): always 5.0 form. */
const FORMAT = 2;

/** The packet identifier of key `k` (prefix letter, then 1..65535), or 0. */
function keyId(k: string): number {
  const id = Number(k.slice(1));
  return Number.isInteger(id) && id >= 1 && id <= 65535 ? id : 0;
}

/** An OutboxStore on the platform KeyValueStore (flash through NVS on a device). */
export class KvOutboxStore implements OutboxStore {
  declare readonly kv: KeyValueStore;
  declare readonly namespace: string;

  constructor(kv: KeyValueStore, namespace = "mqtt") {
    if (typeof namespace !== "string" || namespace.length === 0 || namespace.length > MAX_NAME_LENGTH) {
      throw new MqttError("invalid", "MqttOutbox: namespace 1.." + MAX_NAME_LENGTH + " chars");
    }
    this.kv = kv;
    this.namespace = namespace;
  }

  /** Writes `value` at `key`, or deletes the key when undefined; a failure becomes MqttError "storage". */
  private w(key: string, value?: StoredValue): void {
    try {
      if (value === undefined) this.kv.delete(this.namespace, key);
      else this.kv.set(this.namespace, key, value);
    } catch (e) {
      throw new MqttError("storage", "MQTT outbox: storage failed: " + String((e as Error)?.message ?? e), undefined, undefined, e);
    }
  }

  save(id: number, seq: number, createdAt: number, version: number, bytes: Uint8Array): void {
    const total = HEADER + bytes.length;
    const parts = total <= MAX_VALUE_BYTES ? 1 : 1 + Math.ceil((total - MAX_VALUE_BYTES) / MAX_VALUE_BYTES);
    if (parts > 255) throw new MqttError("outbox-full", "MQTT outbox: " + bytes.length + " B too large to persist");
    const record = new Uint8Array(total);
    record[0] = FORMAT;
    record[1] = 1;
    record[2] = version;
    record[3] = parts;
    const dv = new DataView(record.buffer);
    dv.setUint32(4, seq);
    dv.setFloat64(8, createdAt);
    record.set(bytes, HEADER);
    let n = 1;
    try {
      // Parts first, the head (commit) last.
      for (; n < parts; n++) {
        const start = n * MAX_VALUE_BYTES;
        this.w("x" + id + "." + n, record.slice(start, start + MAX_VALUE_BYTES).buffer);
      }
      this.w("m" + id, record.slice(0, MAX_VALUE_BYTES).buffer);
    } catch (e) {
      for (let k = 1; k < n; k++) {
        try {
          this.w("x" + id + "." + k);
        } catch {
          // the load-time sweep removes orphan parts
        }
      }
      throw e;
    }
  }

  release(id: number, seq: number): void {
    this.w("r" + id, seq); // commit of the new state
    this.remove(id, false);
  }

  remove(id: number, released: boolean): void {
    let parts = 1;
    if (!released) {
      const head = this.kv.get(this.namespace, "m" + id);
      if (head instanceof ArrayBuffer && head.byteLength >= HEADER) parts = new Uint8Array(head)[3];
    }
    this.w((released ? "r" : "m") + id); // the commit key goes first
    for (let n = 1; n < parts; n++) this.w("x" + id + "." + n);
  }

  sent(seq: number): void {
    this.w("hw", seq);
  }

  inbound(id: number, add: boolean): void {
    this.w("i" + id, add ? true : undefined);
  }

  getMeta(key: string): string | undefined {
    const v = this.kv.get(this.namespace, key);
    return typeof v === "string" ? v : undefined;
  }

  setMeta(key: string, value: string | undefined): void {
    this.w(key, value);
  }

  /** Reads every record back; drops (and reports) unreadable ones, sweeps orphans and superseded heads. */
  load(): StoredSession {
    const kv = this.kv;
    const ns = this.namespace;
    const out: StoredSession = { messages: [], released: [], inbound: [], highWater: 0, errors: [] };
    let keys: string[];
    try {
      keys = kv.keys(ns);
    } catch (e) {
      out.errors.push("keys: " + String(e));
      return out;
    }
    const hw = kv.get(ns, "hw");
    if (typeof hw === "number") out.highWater = hw;
    const released: number[] = [];
    const partsUsed: string[] = [];
    for (let j = 0; j < keys.length; j++) {
      const k = keys[j];
      const c = k.charCodeAt(0);
      const id = keyId(k);
      if (!id) continue;
      if (c === 0x69 /* i */) out.inbound.push(id);
      else if (c === 0x72 /* r */) {
        const v = kv.get(ns, k);
        if (typeof v === "number") {
          released.push(id);
          out.released.push(id, v);
        }
      }
    }
    for (let j = 0; j < keys.length; j++) {
      const k = keys[j];
      const id = keyId(k);
      if (k.charCodeAt(0) !== 0x6d /* m */ || !id) continue;
      if (released.indexOf(id) >= 0) {
        // A reboot between writing r<id> and deleting m<id>: the PUBREL state wins.
        this.sweep(k);
        continue;
      }
      const m = this.read(id, kv.get(ns, k), partsUsed, out.errors);
      if (m) out.messages.push(m);
      else this.sweep(k);
    }
    // Orphan parts (a reboot during save before the commit, or during remove after it).
    for (let j = 0; j < keys.length; j++) {
      const k = keys[j];
      if (k.charCodeAt(0) === 0x78 /* x */ && partsUsed.indexOf(k) < 0) this.sweep(k);
    }
    return out;
  }

  /** Deletes `key`, leaving it for the next load if the store refuses. */
  private sweep(key: string): void {
    try {
      this.kv.delete(this.namespace, key);
    } catch {
      // left for the next load
    }
  }

  private read(id: number, head: unknown, partsUsed: string[], errors: string[]): StoredMessage | undefined {
    if (!(head instanceof ArrayBuffer) || head.byteLength < HEADER) {
      errors.push("m" + id + ": no record");
      return undefined;
    }
    const h = new Uint8Array(head);
    if ((h[0] !== 1 && h[0] !== FORMAT) || h[1] !== 1) {
      errors.push("m" + id + ": format " + h[0]);
      return undefined;
    }
    const parts = h[3];
    let record = h;
    for (let n = 1; n < parts; n++) {
      const key = "x" + id + "." + n;
      const v = this.kv.get(this.namespace, key);
      if (!(v instanceof ArrayBuffer)) {
        errors.push("m" + id + ": part " + n + " missing");
        return undefined;
      }
      partsUsed.push(key);
      const joined = new Uint8Array(record.length + v.byteLength);
      joined.set(record, 0);
      joined.set(new Uint8Array(v), record.length);
      record = joined;
    }
    const dv = new DataView(record.buffer);
    return { id, seq: dv.getUint32(4), createdAt: dv.getFloat64(8), version: h[0] === 1 ? 5 : h[2], bytes: record.subarray(HEADER) };
  }
}
