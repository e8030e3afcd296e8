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
 * - CONNECT, SUBSCRIBE and UNSUBSCRIBE (what only a client sends) are decoded by
 *   ./decode-server.ts once it is imported (./codec.ts does); without it they are refused
 *   with 0x82, as a client's session would refuse them anyway. A client build carries none
 *   of that code.
 */
import { MqttCodecError, malformed, protocolError } from "./errors";
import { checkConnack, checkHeader, checkId, checkListCode, checkNotEmpty, checkReason } from "./rules";
import type { MqttPacket, MqttVersion, PingreqPacket, PingrespPacket, PublishPacket, QoS } from "./packets";
import { packetName } from "./packets";
import { propsRead as readProperties } from "./props-hook";
import { decodeMqttString, Reader } from "./wire";

/** Largest packet MQTT can express: 1 + 4 + 268,435,455 bytes (§2.1.4, §1.5.5). */
export const MAX_PACKET_SIZE = 268435460;

/**
 * Decoding of CONNECT, SUBSCRIBE and UNSUBSCRIBE, the packets only a client sends, set by
 * ./decode-server.ts when it is imported (./codec.ts does): a client's decoder never needs it.
 */
export const server: { d?: (r: Reader, type: number, copy: boolean) => MqttPacket } = {};

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
/**
 * The cursor of every decoder of the process: a packet is parsed in one synchronous call
 * that calls out to nothing, so one Reader serves all connections (not one each).
 */
const R = new Reader();
/** A decoder's topic cache: 4 slots of a Topic Name's bytes (64 each), byte length and string. */
interface TopicCache {
  bytes: Uint8Array;
  len: number[];
  str: string[];
  /** The slot the next new topic takes. */
  next: number;
}

// Decoder states (`state`): 0 fixed header byte 1, 1 Remaining Length, 2 body.
// A small per-decoder cache of recent Topic Names (4 slots of up to 64 bytes): a device sees
// few topics, so the usual PUBLISH reuses a string instead of building one (and skips
// re-validation).

export class MqttDecoder {
  /** 4 (3.1.1) or 5 (5.0); changes when a CONNECT is decoded. */
  declare version: MqttVersion;
  declare maximumPacketSize: number;
  declare copyPayload: boolean;
  /** Set when decoding stopped on bad input; then next() returns undefined until reset(). */
  declare error: MqttCodecError | undefined;

  // (Fields are assigned in the constructor: class field initializers cost XS bytecode.)
  private declare input: Uint8Array;
  private declare inPos: number;
  private declare state: number;
  private declare header: number;
  private declare remaining: number;
  private declare lengthBytes: number;
  private declare body: Uint8Array;
  private declare filled: number;
  /** Made with the first Topic Name it keeps (one field, not four, per decoder until then). */
  private declare cache: TopicCache | undefined;

  constructor(options?: MqttDecoderOptions) {
    const v = options?.version ?? 5;
    if (v !== 4 && v !== 5) throw new RangeError("MqttDecoder: version 4 or 5");
    const max = options?.maximumPacketSize ?? MAX_PACKET_SIZE;
    if (!(max >= 2)) throw new RangeError("MqttDecoder: maximumPacketSize < 2");
    this.maximumPacketSize = max;
    this.copyPayload = options?.copyPayload === true;
    this.header = this.remaining = this.lengthBytes = 0;
    // The cache is made with the first Topic Name it keeps: a device that is sent nothing
    // (most of a telemetry fleet) never pays its ~500 B.
    this.cache = undefined;
    this.reset(v);
  }

  /** Forgets any partial packet, pending input and error (a new Network Connection). */
  reset(version?: MqttVersion): void {
    this.input = EMPTY;
    this.inPos = 0;
    this.state = 0;
    this.body = EMPTY;
    this.filled = 0;
    this.error = undefined;
    if (version === 4 || version === 5) this.version = version;
  }

  /** Bytes fed but not yet returned as packets (pending input plus the partial packet). */
  get buffered(): number {
    return this.input.length - this.inPos + (this.state === 2 ? this.filled : 0) + (this.state !== 0 ? 1 + this.lengthBytes : 0);
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
    this.state = 0;
  }

  private step(): MqttPacket | undefined {
    const input = this.input;
    const n = input.length;
    let pos = this.inPos;
    for (;;) {
      if (this.state === 0) {
        if (pos >= n) break;
        const h = input[pos++];
        this.header = h;
        checkHeader(h, this.version);
        this.state = 1;
        this.remaining = 0;
        this.lengthBytes = 0;
      }
      if (this.state === 1) {
        let done = false;
        while (pos < n) {
          const b = input[pos++];
          this.remaining += (b & 0x7f) << (7 * this.lengthBytes++); // at most 0x7f << 21
          if ((b & 0x80) === 0) {
            if (b === 0 && this.lengthBytes > 1 && this.version === 5) {
              this.inPos = pos;
              throw malformed("Remaining Length not minimal", "[MQTT-1.5.5-1]");
            }
            done = true;
            break;
          }
          if (this.lengthBytes === 4) {
            this.inPos = pos;
            throw malformed("Remaining Length over 4 bytes", this.version === 5 ? "[MQTT-1.5.5-1]" : "§2.2.3");
          }
        }
        if (!done) break;
        const size = 1 + this.lengthBytes + this.remaining;
        if (size > this.maximumPacketSize) {
          // Checked before a single body byte is buffered or any buffer allocated.
          this.inPos = pos;
          throw new MqttCodecError(
            0x95,
            packetName(this.header >> 4) + " of " + size + " B > Maximum Packet Size",
            "[MQTT-3.1.2-24]",
          );
        }
        const rl = this.remaining;
        if (n - pos >= rl) {
          // Whole body in this chunk: parse in place.
          this.state = 0;
          this.inPos = pos + rl;
          return this.parse(input, pos, pos + rl);
        }
        this.body = new Uint8Array(rl);
        this.filled = 0;
        this.state = 2;
      }
      // 2
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
      this.state = 0;
      return this.parse(body, 0, body.length);
    }
    this.inPos = pos;
    if (pos >= n) {
      // Drained: keep no reference to the chunk (nor does the reader), so a quiet
      // connection does not hold its last packet's buffer.
      this.input = R.buf = EMPTY;
      this.inPos = 0;
    }
    return undefined;
  }

  private parse(buf: Uint8Array, start: number, end: number): MqttPacket {
    const r = R;
    r.reset(buf, start, end, this.version);
    const type = this.header >> 4;
    if (type === 3) return this.publish(r, this.header);
    let p: MqttPacket;
    if (type === 1 || type === 8 || type === 10) {
      // Only a client sends these: decoded when ./decode-server.ts is installed (codec.ts).
      const d = server.d;
      if (!d) throw protocolError(packetName(type) + " not decoded here", "§2.1.2");
      p = d(r, type, this.copyPayload);
      if (type === 1) this.version = r.version;
    } else p = body(r, type);
    if (r.pos !== end) throw malformed(packetName(type) + " too long", type === 12 || type === 13 ? "§3." + type : "§2.1.4");
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
      packetId = checkId(r.u16(), 3, v);
    }
    let properties;
    if (v === 5) {
      if (r.pos < r.end && r.buf[r.pos] === 0) r.pos++;
      else properties = readProperties(r, 3 /* PUBLISH */);
    }
    if (topic === "") {
      if (v === 4) throw malformed("empty Topic Name", "[MQTT-4.7.3-1]");
      if (properties === undefined || properties.topicAlias === undefined) {
        throw protocolError("empty Topic Name, no Topic Alias", "§3.3.2.1");
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
    let c = this.cache;
    if (c && len <= 64) {
      const cb = c.bytes;
      for (let k = 0; k < 4; k++) {
        if (c.len[k] !== len) continue;
        const base = k * 64;
        let i = 0;
        while (i < len && cb[base + i] === buf[start + i]) i++;
        if (i === len) return c.str[k];
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
    if (len <= 64) {
      if (!c) c = this.cache = { bytes: new Uint8Array(256), len: [-1, -1, -1, -1], str: ["", "", "", ""], next: 0 };
      const k = c.next;
      c.next = (k + 1) % 4;
      c.bytes.set(buf.subarray(start, stop), k * 64);
      c.len[k] = len;
      c.str[k] = topic;
    }
    return topic;
  }

}

/**
 * Every packet but CONNECT and PUBLISH, by family: CONNACK; PUBACK, PUBREC, PUBREL, PUBCOMP,
 * DISCONNECT, AUTH ([Packet Identifier] [Reason Code [properties]]); SUBSCRIBE, SUBACK,
 * UNSUBSCRIBE, UNSUBACK (Packet Identifier, properties, a list); PINGREQ, PINGRESP.
 */
function body(r: Reader, t: number): MqttPacket {
  const v = r.version;
  let rc = 0;
  let properties;
  if (t === 2) {
    const f = r.u8();
    if (f & 0xfe) throw malformed("CONNACK reserved flags", v === 5 ? "[MQTT-3.2.2-1]" : "§3.2.2.1");
    rc = r.u8();
    checkConnack(f === 1, rc, v, "[MQTT-3.2.2-8]");
    // A missing Property Length (Remaining Length 2) is read as no properties.
    if (v === 5 && r.remaining() > 0) properties = readProperties(r, 2);
    return { type: 2, sessionPresent: f === 1, reasonCode: rc, properties };
  }
  if (t === 12 || t === 13) return t === 12 ? PINGREQ : PINGRESP; // parse() refuses a body
  const packetId = t < 12 ? checkId(r.u16(), t, v) : 0;
  if (t < 8 || t > 11) {
    if (v === 5 && r.remaining() > 0) {
      // §3.4.2.1, §3.14.2.1: Reason Code absent means 0x00; Property Length absent means none.
      rc = r.u8();
      checkReason(t, rc, "[MQTT-3." + t + ".2-1]");
      if (r.remaining() > 0) properties = readProperties(r, t);
    }
    if (t > 11) return { type: t as 14, reasonCode: rc, properties };
    return { type: t as 4, packetId, reasonCode: rc, properties };
  }
  // SUBACK, UNSUBACK (SUBSCRIBE and UNSUBSCRIBE: ./decode-server.ts).
  if (v === 5) properties = readProperties(r, t);
  const list: number[] = [];
  if (t !== 11 || v === 5) {
    while (r.remaining() > 0) {
      const c = r.u8();
      checkListCode(t, c, v);
      list.push(c);
    }
    checkNotEmpty(list.length, t, v);
  }
  return { type: t as 9, packetId, reasonCodes: list, properties };
}
