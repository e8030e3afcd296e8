/*
 * Incremental MQTT packet decoder for 3.1.1 and 5.0 (MQTT 5.0 §2, §3; 3.1.1 §2, §3).
 *
 *   const d = new MqttDecoder({ version: 5, maximumPacketSize: 4096 });
 *   d.feed(bytes);                       // any chunking, down to one byte
 *   let p; while ((p = d.next()) !== undefined) handle(p);
 *   if (d.error) disconnect(d.error.reasonCode);
 *
 * - Pull API: feed() stores a reference to the chunk, next() returns one packet at a time,
 *   so no callback, closure or array is made per packet.
 * - The fixed header is checked as soon as its first byte arrives (reserved flags, QoS 3,
 *   packet type), and the Maximum Packet Size as soon as the Remaining Length is known:
 *   before any byte of the body is buffered or any buffer allocated.
 * - A packet that lies whole in one chunk is parsed in place; its payload and binary
 *   fields are views (subarray) of that chunk, unless `copyPayload` is set. So the caller
 *   must not overwrite a chunk after feeding it (the ECMA-419 socket read() returns a fresh
 *   buffer each time, which is fine). A packet split across chunks is assembled into one
 *   buffer of exactly its Remaining Length.
 * - Nothing escapes: malformed or forbidden input ends decoding with `error` set to an
 *   MqttCodecError {reasonCode, message, statement}; the bad packet is not returned and
 *   further input is ignored (the session closes the connection, §4.13). reset() starts over.
 * - Version-aware: 3.1.1 (4) or 5.0 (5). Decoding a CONNECT switches the decoder to the
 *   CONNECT's Protocol Level; a client sets `version` to what it sent.
 */
import { MqttCodecError, malformed, protocolError } from "./errors";
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  MqttPacket,
  MqttVersion,
  PingreqPacket,
  PingrespPacket,
  PubAckPacket,
  PublishPacket,
  QoS,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  WillMessage,
} from "./packets";
import { packetName } from "./packets";
import { propsRead as readProperties, reasonAllowed as isReasonCodeAllowed } from "./props-hook";
import { checkTopicFilter, checkTopicName } from "./topic";
import { decodeMqttString, Reader } from "./wire";

/** Largest packet MQTT can express: 1 + 4 + 268,435,455 bytes (§2.1.4, §1.5.5). */
export const MAX_PACKET_SIZE = 268435460;

export interface MqttDecoderOptions {
  /** Protocol version of the connection: 4 (3.1.1) or 5 (5.0). Default 5. */
  version?: MqttVersion;
  /**
   * Largest packet accepted, fixed header included (the Maximum Packet Size this side
   * announced, §3.1.2.11.4 / §3.2.2.3.6). Default MAX_PACKET_SIZE.
   */
  maximumPacketSize?: number;
  /** Copy payloads and binary fields out of the fed chunks instead of viewing them. */
  copyPayload?: boolean;
}

const PINGREQ: PingreqPacket = Object.freeze({ type: 12 /* PINGREQ */ }) as PingreqPacket;
const PINGRESP: PingrespPacket = Object.freeze({ type: 13 /* PINGRESP */ }) as PingrespPacket;

const EMPTY = new Uint8Array(0);

// Decoder states.
const S_HEADER = 0;
const S_LENGTH = 1;
const S_BODY = 2;

// Small per-decoder cache of recently decoded Topic Names: a device sees few topics, so the
// usual PUBLISH reuses a string instead of building one (and skips re-validation).
const TOPIC_CACHE_SLOTS = 4;
const TOPIC_CACHE_MAX = 64;

function stmt(version: MqttVersion, v5: string, v311: string): string {
  return version === 5 ? v5 : v311;
}

export class MqttDecoder {
  /** 4 (3.1.1) or 5 (5.0); changes when a CONNECT is decoded. */
  version: MqttVersion;
  maximumPacketSize: number;
  copyPayload: boolean;
  /** Set when decoding stopped on bad input; then next() returns undefined until reset(). */
  error: MqttCodecError | undefined = undefined;

  private input: Uint8Array = EMPTY;
  private inPos = 0;
  private state = S_HEADER;
  private header = 0;
  private remaining = 0;
  private lengthBytes = 0;
  private multiplier = 1;
  private body: Uint8Array = EMPTY;
  private filled = 0;
  private readonly r = new Reader();
  private readonly cacheBytes = new Uint8Array(TOPIC_CACHE_SLOTS * TOPIC_CACHE_MAX);
  private readonly cacheLen: number[] = [-1, -1, -1, -1];
  private readonly cacheStr: string[] = ["", "", "", ""];
  private cacheNext = 0;

  constructor(options?: MqttDecoderOptions) {
    const v = options !== undefined && options.version !== undefined ? options.version : 5;
    if (v !== 4 && v !== 5) throw new RangeError("MqttDecoder: version must be 4 or 5");
    this.version = v;
    const max = options !== undefined && options.maximumPacketSize !== undefined ? options.maximumPacketSize : MAX_PACKET_SIZE;
    if (!(max >= 2)) throw new RangeError("MqttDecoder: maximumPacketSize must be at least 2");
    this.maximumPacketSize = max;
    this.copyPayload = options !== undefined && options.copyPayload === true;
  }

  /** Forgets any partial packet, pending input and error (a new Network Connection). */
  reset(version?: MqttVersion): void {
    this.input = EMPTY;
    this.inPos = 0;
    this.state = S_HEADER;
    this.body = EMPTY;
    this.filled = 0;
    this.error = undefined;
    if (version === 4 || version === 5) this.version = version;
  }

  /** Bytes fed but not yet returned as packets (pending input plus the partial packet). */
  get buffered(): number {
    return this.input.length - this.inPos + (this.state === S_BODY ? this.filled : 0) + (this.state !== S_HEADER ? 1 + this.lengthBytes : 0);
  }

  /** Hands the decoder more bytes. Call next() until it returns undefined. Never throws. */
  feed(chunk: Uint8Array): void {
    if (this.error !== undefined || !(chunk instanceof Uint8Array) || chunk.length === 0) return;
    const left = this.input.length - this.inPos;
    if (left === 0) {
      this.input = chunk;
      this.inPos = 0;
    } else {
      // The caller fed again before draining: keep the unread bytes in front.
      const joined = new Uint8Array(left + chunk.length);
      joined.set(this.input.subarray(this.inPos), 0);
      joined.set(chunk, left);
      this.input = joined;
      this.inPos = 0;
    }
  }

  /**
   * The next complete packet, or undefined when more input is needed or decoding
   * stopped (then `error` is set). Never throws.
   */
  next(): MqttPacket | undefined {
    if (this.error !== undefined) return undefined;
    try {
      return this.step();
    } catch (e) {
      this.fail(e instanceof MqttCodecError ? e : malformed("decoder failure: " + String(e), "§4.13"));
      return undefined;
    }
  }

  private fail(e: MqttCodecError): void {
    this.error = e;
    this.input = EMPTY;
    this.inPos = 0;
    this.body = EMPTY;
    this.state = S_HEADER;
  }

  private step(): MqttPacket | undefined {
    const input = this.input;
    const n = input.length;
    let pos = this.inPos;
    for (;;) {
      if (this.state === S_HEADER) {
        if (pos >= n) break;
        const h = input[pos++];
        this.header = h;
        this.checkFixedHeader(h);
        this.state = S_LENGTH;
        this.remaining = 0;
        this.lengthBytes = 0;
        this.multiplier = 1;
      }
      if (this.state === S_LENGTH) {
        let done = false;
        while (pos < n) {
          const b = input[pos++];
          this.remaining += (b & 0x7f) * this.multiplier;
          this.lengthBytes++;
          if ((b & 0x80) === 0) {
            if (b === 0 && this.lengthBytes > 1 && this.version === 5) {
              this.inPos = pos;
              throw malformed("Remaining Length not in its shortest form", "[MQTT-1.5.5-1]");
            }
            done = true;
            break;
          }
          if (this.lengthBytes === 4) {
            this.inPos = pos;
            throw malformed("Remaining Length longer than four bytes", stmt(this.version, "[MQTT-1.5.5-1]", "§2.2.3"));
          }
          this.multiplier *= 128;
        }
        if (!done) break;
        const size = 1 + this.lengthBytes + this.remaining;
        if (size > this.maximumPacketSize) {
          // Checked before a single body byte is buffered or any buffer allocated.
          this.inPos = pos;
          throw new MqttCodecError(
            0x95,
            packetName(this.header >> 4) + " of " + size + " bytes exceeds the Maximum Packet Size " + this.maximumPacketSize,
            "[MQTT-3.1.2-24]",
          );
        }
        const rl = this.remaining;
        if (n - pos >= rl) {
          // Whole body in this chunk: parse in place.
          this.state = S_HEADER;
          this.inPos = pos + rl;
          return this.parse(input, pos, pos + rl);
        }
        this.body = new Uint8Array(rl);
        this.filled = 0;
        this.state = S_BODY;
      }
      // S_BODY
      const need = this.remaining - this.filled;
      const avail = n - pos;
      if (avail < need) {
        if (avail > 0) this.body.set(pos === 0 && avail === n ? input : input.subarray(pos, n), this.filled);
        this.filled += avail;
        pos = n;
        break;
      }
      this.body.set(input.subarray(pos, pos + need), this.filled);
      pos += need;
      this.inPos = pos;
      const body = this.body;
      this.body = EMPTY;
      this.state = S_HEADER;
      return this.parse(body, 0, body.length);
    }
    this.inPos = pos;
    if (pos >= n) {
      this.input = EMPTY;
      this.inPos = 0;
    }
    return undefined;
  }

  /** Fixed header byte 1 (§2.1.2, §2.1.3 Table 2-2; 3.1.1 §2.2.1, §2.2.2 Table 2.2). */
  private checkFixedHeader(h: number): void {
    const type = h >> 4;
    const flags = h & 0x0f;
    const v = this.version;
    if (type === 0) throw malformed("reserved packet type 0", stmt(v, "§2.1.2", "§2.2.1"));
    if (type === 15 /* AUTH */ && v === 4) {
      throw malformed("packet type 15 (AUTH) is reserved in 3.1.1", "§2.2.1 (3.1.1 Table 2.1)");
    }
    if (type === 3 /* PUBLISH */) {
      const qos = (flags >> 1) & 3;
      if (qos === 3) throw malformed("PUBLISH with QoS 3", "[MQTT-3.3.1-4]");
      if (qos === 0 && (flags & 0x08) !== 0) throw protocolError("PUBLISH QoS 0 with DUP set", "[MQTT-3.3.1-2]");
      return;
    }
    const expected = type === 6 /* PUBREL */ || type === 8 /* SUBSCRIBE */ || type === 10 /* UNSUBSCRIBE */ ? 2 : 0;
    if (flags !== expected) {
      let s = stmt(v, "[MQTT-2.1.3-1]", "[MQTT-2.2.2-1]");
      if (type === 6 /* PUBREL */) s = "[MQTT-3.6.1-1]";
      else if (type === 8 /* SUBSCRIBE */) s = "[MQTT-3.8.1-1]";
      else if (type === 10 /* UNSUBSCRIBE */) s = "[MQTT-3.10.1-1]";
      throw malformed(packetName(type) + " with reserved flags 0x" + flags.toString(16) + " (must be " + expected + ")", s);
    }
  }

  private parse(buf: Uint8Array, start: number, end: number): MqttPacket {
    const r = this.r;
    r.reset(buf, start, end, this.version);
    const type = this.header >> 4;
    let p: MqttPacket;
    switch (type) {
      case 3 /* PUBLISH */:
        return this.publish(r, this.header);
      case 1 /* CONNECT */:
        p = this.connect(r);
        break;
      case 2 /* CONNACK */:
        p = connack(r);
        break;
      case 4 /* PUBACK */:
      case 5 /* PUBREC */:
      case 6 /* PUBREL */:
      case 7 /* PUBCOMP */:
        p = ack(r, type);
        break;
      case 8 /* SUBSCRIBE */:
        p = subscribe(r);
        break;
      case 9 /* SUBACK */:
        p = suback(r);
        break;
      case 10 /* UNSUBSCRIBE */:
        p = unsubscribe(r);
        break;
      case 11 /* UNSUBACK */:
        p = unsuback(r);
        break;
      case 12 /* PINGREQ */:
      case 13 /* PINGRESP */:
        if (end !== start) throw malformed(packetName(type) + " with a Remaining Length of " + (end - start), type === 12 /* PINGREQ */ ? "§3.12" : "§3.13");
        return type === 12 /* PINGREQ */ ? PINGREQ : PINGRESP;
      case 14 /* DISCONNECT */:
        p = disconnect(r);
        break;
      default:
        p = auth(r);
    }
    if (r.pos !== end) {
      throw malformed((end - r.pos) + " unexpected byte(s) at the end of " + packetName(type), "§2.1.4");
    }
    return p;
  }

  private view(buf: Uint8Array, start: number, end: number): Uint8Array {
    return this.copyPayload ? buf.slice(start, end) : buf.subarray(start, end);
  }

  /** PUBLISH (§3.3): the hot path. */
  private publish(r: Reader, h: number): PublishPacket {
    const v = r.version;
    const qos = ((h >> 1) & 3) as QoS;
    const topic = this.topicName(r);
    let packetId = 0;
    if (qos !== 0) {
      packetId = r.u16();
      if (packetId === 0) throw protocolError("PUBLISH with Packet Identifier 0", stmt(v, "[MQTT-2.2.1-3]", "[MQTT-2.3.1-1]"));
    }
    let properties;
    if (v === 5) {
      if (r.pos < r.end && r.buf[r.pos] === 0) r.pos++;
      else properties = readProperties(r, 3 /* PUBLISH */);
    }
    if (topic === "") {
      if (v === 4) throw malformed("empty Topic Name", "[MQTT-4.7.3-1]");
      if (properties === undefined || properties.topicAlias === undefined) {
        throw protocolError("empty Topic Name without a Topic Alias", "§3.3.2.1");
      }
    }
    return {
      type: 3 /* PUBLISH */,
      topic,
      payload: this.view(r.buf, r.pos, r.end),
      qos,
      retain: (h & 1) !== 0,
      dup: (h & 8) !== 0,
      packetId,
      properties,
    };
  }

  /** Reads a PUBLISH Topic Name, through the cache; validates it [MQTT-3.3.2-2]. */
  private topicName(r: Reader): string {
    const len = r.u16();
    const start = r.pos;
    const stop = start + len;
    if (stop > r.end) throw r.truncated();
    r.pos = stop;
    if (len === 0) return "";
    const buf = r.buf;
    const cb = this.cacheBytes;
    if (len <= TOPIC_CACHE_MAX) {
      for (let k = 0; k < TOPIC_CACHE_SLOTS; k++) {
        if (this.cacheLen[k] !== len) continue;
        const base = k * TOPIC_CACHE_MAX;
        let i = 0;
        while (i < len && cb[base + i] === buf[start + i]) i++;
        if (i === len) return this.cacheStr[k];
      }
    }
    const topic = decodeMqttString(buf, start, stop, r.version);
    // Wildcards are ASCII, so a byte scan finds them in any UTF-8 topic.
    for (let i = start; i < stop; i++) {
      const c = buf[i];
      if (c === 0x23 || c === 0x2b) {
        throw malformed("PUBLISH Topic Name \"" + topic + "\" contains a wildcard", "[MQTT-3.3.2-2]");
      }
    }
    if (len <= TOPIC_CACHE_MAX) {
      const k = this.cacheNext;
      this.cacheNext = (k + 1) % TOPIC_CACHE_SLOTS;
      cb.set(buf.subarray(start, stop), k * TOPIC_CACHE_MAX);
      this.cacheLen[k] = len;
      this.cacheStr[k] = topic;
    }
    return topic;
  }

  /** CONNECT (§3.1). Switches the decoder to the packet's Protocol Level. */
  private connect(r: Reader): ConnectPacket {
    const name = r.string();
    const level = r.u8();
    if (name !== "MQTT") {
      throw new MqttCodecError(0x84, "Protocol Name \"" + name + "\" is not \"MQTT\"", stmt(this.version, "[MQTT-3.1.2-1]", "[MQTT-3.1.2-1]"));
    }
    if (level !== 4 && level !== 5) {
      throw new MqttCodecError(0x84, "unsupported Protocol Level " + level, "[MQTT-3.1.2-2]");
    }
    const v = level as MqttVersion;
    r.version = v;
    const flags = r.u8();
    if ((flags & 1) !== 0) throw malformed("CONNECT reserved flag set", "[MQTT-3.1.2-3]");
    const willFlag = (flags & 0x04) !== 0;
    const willQos = (flags >> 3) & 3;
    const willRetain = (flags & 0x20) !== 0;
    if (!willFlag && willQos !== 0) throw malformed("Will QoS without Will Flag", stmt(v, "[MQTT-3.1.2-11]", "[MQTT-3.1.2-13]"));
    if (!willFlag && willRetain) throw malformed("Will Retain without Will Flag", stmt(v, "[MQTT-3.1.2-13]", "[MQTT-3.1.2-15]"));
    if (willQos === 3) throw malformed("Will QoS 3", stmt(v, "[MQTT-3.1.2-12]", "[MQTT-3.1.2-14]"));
    const hasUser = (flags & 0x80) !== 0;
    const hasPassword = (flags & 0x40) !== 0;
    if (v === 4 && hasPassword && !hasUser) throw malformed("Password Flag without User Name Flag", "[MQTT-3.1.2-22]");
    const clean = (flags & 0x02) !== 0;
    const keepAlive = r.u16();
    const properties = v === 5 ? readProperties(r, 1 /* CONNECT */) : undefined;
    const clientId = r.string(); // [MQTT-3.1.3-3]
    if (v === 4 && clientId === "" && !clean) {
      throw new MqttCodecError(0x85, "zero-byte ClientId with CleanSession 0", "[MQTT-3.1.3-8]");
    }
    let will: WillMessage | undefined;
    if (willFlag) {
      // [MQTT-3.1.2-9]: Will Properties, Will Topic and Will Payload present.
      const willProperties = v === 5 ? readProperties(r, 0) : undefined;
      const topic = r.string();
      const bad = checkTopicName(topic, v);
      if (bad !== undefined) throw bad;
      const len = r.u16();
      if (r.pos + len > r.end) throw r.truncated();
      const payload = this.view(r.buf, r.pos, r.pos + len);
      r.pos += len;
      will = { topic, payload, qos: willQos as QoS, retain: willRetain, properties: willProperties };
    }
    const username = hasUser ? r.string() : undefined; // [MQTT-3.1.2-17]
    let password: Uint8Array | undefined;
    if (hasPassword) {
      const len = r.u16(); // [MQTT-3.1.2-19]
      if (r.pos + len > r.end) throw r.truncated();
      password = this.view(r.buf, r.pos, r.pos + len);
      r.pos += len;
    }
    this.version = v;
    return { type: 1 /* CONNECT */, protocolVersion: v, clean, keepAlive, clientId, will, username, password, properties };
  }
}

/** CONNACK (§3.2). */
function connack(r: Reader): ConnackPacket {
  const v = r.version;
  const flags = r.u8();
  if ((flags & 0xfe) !== 0) throw malformed("CONNACK reserved flags set", stmt(v, "[MQTT-3.2.2-1]", "§3.2.2.1"));
  const sessionPresent = flags === 1;
  const reasonCode = r.u8();
  let properties;
  if (v === 4) {
    if (reasonCode > 5) throw protocolError("reserved Connect Return code " + reasonCode, "§3.2.2.3");
    if (sessionPresent && reasonCode !== 0) throw protocolError("Session Present with a non-zero return code", "[MQTT-3.2.2-4]");
  } else {
    if (!isReasonCodeAllowed(2 /* CONNACK */, reasonCode)) {
      throw protocolError(
        reasonCode + " is not a Connect Reason Code" + (reasonCode <= 5 && r.remaining() === 0 ? " (a 3.1.1 CONNACK?)" : ""),
        "[MQTT-3.2.2-8]",
      );
    }
    if (sessionPresent && reasonCode !== 0) throw protocolError("Session Present with a non-zero Reason Code", "[MQTT-3.2.2-6]");
    // A missing Property Length (Remaining Length 2) is read as no properties.
    if (r.remaining() > 0) properties = readProperties(r, 2 /* CONNACK */);
  }
  return { type: 2 /* CONNACK */, sessionPresent, reasonCode, properties };
}

function packetId(r: Reader, type: number): number {
  const id = r.u16();
  if (id === 0) throw protocolError(packetName(type) + " with Packet Identifier 0", stmt(r.version, "[MQTT-2.2.1-3]", "[MQTT-2.3.1-1]"));
  return id;
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP (§3.4–§3.7). */
function ack(r: Reader, type: number): PubAckPacket {
  const id = packetId(r, type);
  let reasonCode = 0;
  let properties;
  if (r.version === 5 && r.remaining() > 0) {
    // §3.4.2.1: Reason Code absent means 0x00; Property Length absent means none.
    reasonCode = r.u8();
    if (!isReasonCodeAllowed(type, reasonCode)) {
      throw protocolError(reasonCode + " is not a " + packetName(type) + " Reason Code", "[MQTT-3." + (type) + ".2-1]");
    }
    if (r.remaining() > 0) properties = readProperties(r, type);
  }
  return { type: type as 4 | 5 | 6 | 7, packetId: id, reasonCode, properties };
}

/** SUBSCRIBE (§3.8). */
function subscribe(r: Reader): SubscribePacket {
  const v = r.version;
  const id = packetId(r, 8 /* SUBSCRIBE */);
  const properties = v === 5 ? readProperties(r, 8 /* SUBSCRIBE */) : undefined;
  const subscriptions: Subscription[] = [];
  while (r.remaining() > 0) {
    const topicFilter = r.string();
    const opts = r.u8();
    const qos = opts & 3;
    if (v === 4) {
      if ((opts & 0xfc) !== 0 || qos === 3) throw malformed("reserved bits or QoS 3 in Requested QoS", "[MQTT-3-8.3-4]");
    } else {
      if ((opts & 0xc0) !== 0) throw malformed("reserved Subscription Options bits set", "[MQTT-3.8.3-5]");
      if (qos === 3) throw protocolError("Maximum QoS 3 in Subscription Options", "§3.8.3.1");
      if ((opts & 0x30) === 0x30) throw protocolError("Retain Handling 3", "§3.8.3.1");
    }
    const bad = checkTopicFilter(topicFilter, v);
    if (bad !== undefined) throw bad;
    const noLocal = (opts & 0x04) !== 0;
    if (v === 5 && noLocal && topicFilter.startsWith("$share/")) {
      throw protocolError("No Local on a Shared Subscription", "[MQTT-3.8.3-4]");
    }
    subscriptions.push(
      v === 5
        ? { topicFilter, qos: qos as QoS, noLocal, retainAsPublished: (opts & 0x08) !== 0, retainHandling: ((opts >> 4) & 3) as 0 | 1 | 2 }
        : { topicFilter, qos: qos as QoS },
    );
  }
  if (subscriptions.length === 0) {
    throw protocolError("SUBSCRIBE without a Topic Filter", stmt(v, "[MQTT-3.8.3-2]", "[MQTT-3.8.3-3]"));
  }
  return { type: 8 /* SUBSCRIBE */, packetId: id, subscriptions, properties };
}

/** SUBACK (§3.9). */
function suback(r: Reader): SubackPacket {
  const v = r.version;
  const id = packetId(r, 9 /* SUBACK */);
  const properties = v === 5 ? readProperties(r, 9 /* SUBACK */) : undefined;
  const reasonCodes: number[] = [];
  while (r.remaining() > 0) {
    const c = r.u8();
    const ok = v === 5 ? isReasonCodeAllowed(9 /* SUBACK */, c) : c <= 2 || c === 0x80;
    if (!ok) throw protocolError(c + " is not a SUBACK Reason Code", "[MQTT-3.9.3-2]");
    reasonCodes.push(c);
  }
  if (reasonCodes.length === 0) throw protocolError("SUBACK without Reason Codes", stmt(v, "[MQTT-3.8.4-6]", "[MQTT-3.8.4-5]"));
  return { type: 9 /* SUBACK */, packetId: id, reasonCodes, properties };
}

/** UNSUBSCRIBE (§3.10). */
function unsubscribe(r: Reader): UnsubscribePacket {
  const v = r.version;
  const id = packetId(r, 10 /* UNSUBSCRIBE */);
  const properties = v === 5 ? readProperties(r, 10 /* UNSUBSCRIBE */) : undefined;
  const topicFilters: string[] = [];
  while (r.remaining() > 0) {
    const f = r.string(); // [MQTT-3.10.3-1]
    const bad = checkTopicFilter(f, v);
    if (bad !== undefined) throw bad;
    topicFilters.push(f);
  }
  if (topicFilters.length === 0) throw protocolError("UNSUBSCRIBE without a Topic Filter", "[MQTT-3.10.3-2]");
  return { type: 10 /* UNSUBSCRIBE */, packetId: id, topicFilters, properties };
}

/** UNSUBACK (§3.11). */
function unsuback(r: Reader): UnsubackPacket {
  const v = r.version;
  const id = packetId(r, 11 /* UNSUBACK */);
  const reasonCodes: number[] = [];
  let properties;
  if (v === 5) {
    properties = readProperties(r, 11 /* UNSUBACK */);
    while (r.remaining() > 0) {
      const c = r.u8();
      if (!isReasonCodeAllowed(11 /* UNSUBACK */, c)) throw protocolError(c + " is not an UNSUBACK Reason Code", "[MQTT-3.11.3-2]");
      reasonCodes.push(c);
    }
    if (reasonCodes.length === 0) throw protocolError("UNSUBACK without Reason Codes", "[MQTT-3.11.3-1]");
  }
  return { type: 11 /* UNSUBACK */, packetId: id, reasonCodes, properties };
}

/** DISCONNECT (§3.14). */
function disconnect(r: Reader): DisconnectPacket {
  let reasonCode = 0;
  let properties;
  if (r.version === 5 && r.remaining() > 0) {
    reasonCode = r.u8();
    if (!isReasonCodeAllowed(14 /* DISCONNECT */, reasonCode)) {
      throw protocolError(reasonCode + " is not a DISCONNECT Reason Code", "[MQTT-3.14.2-1]");
    }
    if (r.remaining() > 0) properties = readProperties(r, 14 /* DISCONNECT */);
  }
  return { type: 14 /* DISCONNECT */, reasonCode, properties };
}

/** AUTH (§3.15), 5.0 only (the fixed header check refuses it in 3.1.1). */
function auth(r: Reader): AuthPacket {
  let reasonCode = 0;
  let properties;
  if (r.remaining() > 0) {
    reasonCode = r.u8();
    if (!isReasonCodeAllowed(15 /* AUTH */, reasonCode)) {
      throw protocolError(reasonCode + " is not an Authenticate Reason Code", "[MQTT-3.15.2-1]");
    }
    if (r.remaining() > 0) properties = readProperties(r, 15 /* AUTH */);
  }
  return { type: 15 /* AUTH */, reasonCode, properties };
}
