/*
 * The MQTT-SN outbox: outbound QoS 1 and 2 messages until their exchange ends (PUBACK, or
 * PUBREC-PUBREL-PUBCOMP), kept in the store so that they survive deep sleep and reboot
 * (ARCHITECTURE.md principle 5). Sans-IO like the session: it never writes flash itself,
 * it pushes store operations onto the session's queue, which the binding applies (in order,
 * before any datagram of the same step goes out, so a message is stored before it is sent).
 *
 * Records (namespace chosen by the binding, default "mqttsn"):
 *   o<MsgId>   state (1: PUBLISH awaiting PUBACK/PUBREC, 2: PUBREL awaiting PUBCOMP),
 *              QoS | Retain << 2, sequence number (4 octets), topic length (2), topic
 *              (UTF-8), payload (state 1 only). One set() per step: atomic.
 * The topic is kept by name, not id: ids belong to a gateway and a session (§6.5). An entry
 * keeps its record; add() and load() read it the same way. State 2 is written by the QoS 2
 * part (./qos2.ts, its only user; the firmware without it does not carry that code).
 *
 * Bounded by `maxMessages` and `maxBytes` (topic + payload octets). Policy when full:
 * add() throws and the caller keeps its message; nothing held is ever dropped to make room.
 * Messages leave in the order they came (§6.6: one QoS 1/2 exchange at a time).
 */
import { MAX_VALUE_BYTES } from "../platform/storage";
import { decodeUtf8, encodeUtf8New } from "../bytes/utf8";

/** A store operation: set `key` to `value`, or delete it when `value` is undefined. */
export interface StoreOp {
  key: string;
  value: ArrayBuffer | undefined;
}

export interface OutboxEntry {
  msgId: number;
  /** The record as stored (see above). */
  rec: Uint8Array;
  seq: number;
  qos: 1 | 2;
  retain: boolean;
  topic: string;
  /** The payload (a view of the record); empty once the PUBREC came (state 2). */
  data: Uint8Array;
  state: number;
  /** Sent at least once: DUP on the next send (after a reboot: assumed). */
  sent: boolean;
  /** Times the topic was registered again after "invalid topic ID" (§6.6). */
  rereg: number;
}

export class MqttSnOutbox {
  declare readonly maxMessages: number;
  declare readonly maxBytes: number;
  /** Topic and payload octets held. */
  declare bytes: number;
  declare readonly st: StoreOp[];
  /** Oldest first. */
  declare readonly list: OutboxEntry[];
  declare seq: number;

  constructor(store: StoreOp[], maxMessages: number, maxBytes: number) {
    if (!(maxMessages >= 1 && maxMessages <= 1000) || !(maxBytes >= 64)) throw new RangeError("mqttsn: outbox bounds");
    this.st = store;
    this.maxMessages = maxMessages;
    this.maxBytes = maxBytes;
    this.list = [];
    this.bytes = this.seq = 0;
  }

  get count(): number {
    return this.list.length;
  }

  /** The oldest message: the one to send (or finish) next. */
  next(): OutboxEntry | undefined {
    return this.list[0];
  }

  get(msgId: number): OutboxEntry | undefined {
    const l = this.list;
    for (let i = 0; i < l.length; i++) if (l[i].msgId === msgId) return l[i];
  }

  /** Adds a message and stores it. Throws RangeError, nothing changed, when the outbox is full or the record too large. */
  add(topic: string, data: Uint8Array, qos: 1 | 2, retain: boolean, msgId: number): OutboxEntry {
    const t = encodeUtf8New(topic);
    const n = t.length + data.length;
    if (this.list.length >= this.maxMessages || this.bytes + n > this.maxBytes || n + 8 > MAX_VALUE_BYTES) throw new RangeError("mqttsn: outbox full");
    const s = ++this.seq;
    const b = new Uint8Array(8 + n);
    b.set(Uint8Array.of(1, qos | (retain ? 4 : 0), s >>> 24, s >> 16, s >> 8, s, t.length >> 8, t.length));
    b.set(t, 8);
    b.set(data, 8 + t.length);
    return this.load("o" + msgId, b, false)!;
  }

  remove(e: OutboxEntry): void {
    const i = this.list.indexOf(e);
    if (i < 0) return;
    this.list.splice(i, 1);
    this.bytes -= e.rec.length - 8;
    this.st.push({ key: "o" + e.msgId, value: undefined });
  }

  /**
   * Takes record `b` of key `o<MsgId>`: a stored one at restore (`sent`: assumed sent, so
   * DUP), or a new one from add() (stored now). Undefined, nothing changed, when it does not
   * parse or the MsgId is held already.
   */
  load(key: string, b: Uint8Array, sent = true): OutboxEntry | undefined {
    const msgId = +key.slice(1);
    const n = 8 + ((b[6] << 8) | b[7]);
    if (!(msgId > 0 && msgId <= 0xffff && n <= b.length && (b[0] === 1 || b[0] === 2)) || this.get(msgId)) return;
    let topic: string;
    try {
      topic = decodeUtf8(b, 8, n);
    } catch {
      return;
    }
    const seq = b[2] * 0x1000000 + ((b[3] << 16) | (b[4] << 8) | b[5]);
    const e: OutboxEntry = { msgId, rec: b, seq, qos: (b[1] & 3) === 2 ? 2 : 1, retain: (b[1] & 4) !== 0, topic, data: b.subarray(n), state: b[0], sent, rereg: 0 };
    this.list.push(e);
    this.bytes += b.length - 8;
    if (seq > this.seq) this.seq = seq;
    if (!sent) this.st.push({ key, value: b.buffer as ArrayBuffer });
    return e;
  }

  /** After loading: oldest first. */
  sort(): void {
    this.list.sort((a, b) => a.seq - b.seq);
  }
}
