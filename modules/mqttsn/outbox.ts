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
 * The topic is kept by name, not id: ids belong to a gateway and a session (§6.5).
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
  seq: number;
  qos: 1 | 2;
  retain: boolean;
  topic: string;
  /** Empty once the PUBREC came (state 2). */
  data: Uint8Array;
  state: 1 | 2;
  /** Sent at least once: DUP on the next send (after a reboot: assumed). */
  sent: boolean;
  /** Times the topic was registered again after "invalid topic ID" (§6.6). */
  rereg: number;
}

export class MqttSnOutbox {
  readonly maxMessages: number;
  readonly maxBytes: number;
  #st: StoreOp[];
  #list: OutboxEntry[] = [];
  #seq = 0;
  #bytes = 0;

  constructor(store: StoreOp[], maxMessages: number, maxBytes: number) {
    if (!(maxMessages >= 1 && maxMessages <= 1000) || !(maxBytes >= 64)) throw new RangeError("mqttsn outbox: maxMessages 1-1000, maxBytes >= 64");
    this.#st = store;
    this.maxMessages = maxMessages;
    this.maxBytes = maxBytes;
  }

  get count(): number {
    return this.#list.length;
  }

  /** Topic and payload octets held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The oldest message: the one to send (or finish) next. */
  next(): OutboxEntry | undefined {
    return this.#list[0];
  }

  get(msgId: number): OutboxEntry | undefined {
    return this.#list.find((e) => e.msgId === msgId);
  }

  /** Adds a message and stores it. Throws RangeError when the outbox is full or the record too large. */
  add(topic: string, data: Uint8Array, qos: 1 | 2, retain: boolean, msgId: number): OutboxEntry {
    const size = topic.length + data.length;
    if (this.#list.length >= this.maxMessages || this.#bytes + size > this.maxBytes) throw new RangeError("mqttsn: outbox full");
    const e: OutboxEntry = { msgId, seq: ++this.#seq, qos, retain, topic, data: data.slice(), state: 1, sent: false, rereg: 0 };
    const record = this.#record(e);
    if (record.byteLength > MAX_VALUE_BYTES) throw new RangeError("mqttsn: message too large to store");
    this.#st.push({ key: "o" + msgId, value: record });
    this.#list.push(e);
    this.#bytes += size;
    return e;
  }

  /** PUBREC came: only PUBREL-PUBCOMP is left, the payload is no longer needed. */
  released(e: OutboxEntry): void {
    this.#bytes -= e.data.length;
    e.data = e.data.subarray(0, 0);
    e.state = 2;
    this.#st.push({ key: "o" + e.msgId, value: this.#record(e) });
  }

  remove(e: OutboxEntry): void {
    const i = this.#list.indexOf(e);
    if (i < 0) return;
    this.#list.splice(i, 1);
    this.#bytes -= e.topic.length + e.data.length;
    this.#st.push({ key: "o" + e.msgId, value: undefined });
  }

  /** Takes a stored record back (restore); false when it does not parse. */
  load(key: string, b: Uint8Array): boolean {
    const msgId = +key.slice(1);
    if (!(msgId > 0 && msgId <= 0xffff) || b.length < 8 || (b[0] !== 1 && b[0] !== 2) || this.get(msgId)) return false;
    const n = (b[6] << 8) | b[7];
    if (8 + n > b.length) return false;
    let topic: string;
    try {
      topic = decodeUtf8(b, 8, 8 + n);
    } catch {
      return false;
    }
    const seq = ((b[2] << 24) >>> 0) + (b[3] << 16) + (b[4] << 8) + b[5];
    const e: OutboxEntry = { msgId, seq, qos: (b[1] & 3) === 2 ? 2 : 1, retain: (b[1] & 4) !== 0, topic, data: b.slice(8 + n), state: b[0] as 1, sent: true, rereg: 0 };
    this.#list.push(e);
    this.#bytes += topic.length + e.data.length;
    if (seq > this.#seq) this.#seq = seq;
    return true;
  }

  /** After loading: oldest first. */
  sort(): void {
    this.#list.sort((a, b) => a.seq - b.seq);
  }

  #record(e: OutboxEntry): ArrayBuffer {
    const t = encodeUtf8New(e.topic);
    const b = new Uint8Array(8 + t.length + e.data.length);
    b[0] = e.state;
    b[1] = e.qos | (e.retain ? 4 : 0);
    b[2] = e.seq >>> 24;
    b[3] = (e.seq >> 16) & 0xff;
    b[4] = (e.seq >> 8) & 0xff;
    b[5] = e.seq & 0xff;
    b[6] = t.length >> 8;
    b[7] = t.length & 0xff;
    b.set(t, 8);
    b.set(e.data, 8 + t.length);
    return b.buffer;
  }
}
