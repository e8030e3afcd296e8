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
 * - 5.0 properties are read by the properties codec given in the options (`properties`,
 *   ./properties.ts `properties5`); without it a 5.0 packet with no property still decodes,
 *   and one with a property is refused with 0x84.
 * - CONNECT, SUBSCRIBE and UNSUBSCRIBE (what only a client sends) are decoded only by the
 *   `clientPackets` function given in the options (a server's, a test broker's:
 *   host-tests/support/mqtt-codec.ts); without it they are refused with 0x82, as a client's
 *   session would refuse them anyway. A client build carries none of that code.
 */
import { MqttCodecError, malformed, protocolError } from "./errors";
import { checkConnack, checkHeader, checkId, checkListCode, checkNotEmpty, checkReason, no5 } from "./rules";
import type { MqttPacket, MqttVersion, PingreqPacket, PingrespPacket, PropertiesCodec, PublishPacket, QoS } from "./packets";
import type { MqttProperties } from "./properties";
import { PacketType, packetName } from "./packets";
import { decodeMqttString, Reader } from "./wire";

/** Largest packet MQTT can express: 1 + 4 + 268,435,455 bytes (§2.1.4, §1.5.5). */
export const MAX_PACKET_SIZE = 268435460;

/**
 * Decodes the body of a CONNECT, SUBSCRIBE or UNSUBSCRIBE (`type`) at the decoder's cursor
 * (a server's job); for CONNECT it sets `d.version` to the packet's Protocol Level.
 */
export type ClientPacketDecoder = (d: MqttDecoder, type: number) => MqttPacket;

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
  /** The 5.0 properties codec (./properties.ts `properties5`). */
  properties?: PropertiesCodec;
  /** Decoding of what only a client sends, for a server (see ClientPacketDecoder). */
  clientPackets?: ClientPacketDecoder;
}

const PINGREQ: PingreqPacket = Object.freeze({ type: PacketType.PINGREQ }) as PingreqPacket;
const PINGRESP: PingrespPacket = Object.freeze({ type: PacketType.PINGRESP }) as PingrespPacket;
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

export class MqttDecoder extends Reader {
  declare maximumPacketSize: number;
  declare copyPayload: boolean;
  /** Set when decoding stopped on bad input; then next() returns undefined until reset(). */
  declare error: MqttCodecError | undefined;

  // (Fields are assigned in the constructor: class field initializers cost XS bytecode.)
  /** The 5.0 properties codec, if any. */
  declare readonly properties: PropertiesCodec | undefined;
  private declare readonly clientPackets: ClientPacketDecoder | undefined;
  /** @internal The fed bytes not parsed yet; undefined when drained (no reference kept to a chunk). */
  declare input: Uint8Array | undefined;
  private declare inPos: number;
  /** @internal 0: between packets, 1: in the Remaining Length, 2: in the body. */
  declare state: number;
  private declare header: number;
  private declare rl: number;
  private declare lengthBytes: number;
  /** A packet spread over chunks, assembled here (state 2). */
  private declare partial: Uint8Array | undefined;
  private declare filled: number;
  /** Made with the first Topic Name it keeps (one field, not four, per decoder until then). */
  private declare cache: TopicCache | undefined;

  constructor(options?: MqttDecoderOptions) {
    super();
    const v = options?.version ?? 5;
    if (v !== 4 && v !== 5) throw new RangeError("MqttDecoder: version 4 or 5");
    const max = options?.maximumPacketSize ?? MAX_PACKET_SIZE;
    if (!(max >= 2)) throw new RangeError("MqttDecoder: maximumPacketSize < 2");
    // The most used fields first: XS finds an own property by walking the object's list. The
    // others are made when first needed (a packet over several chunks, a topic cached, a codec
    // given): fewer slots for a connection that only ever sees small packets.
    this.input = undefined;
    this.inPos = this.state = this.pos = this.end = this.header = 0;
    this.buf = undefined as unknown as Uint8Array;
    this.version = v;
    this.error = undefined;
    this.maximumPacketSize = max;
    if (options?.copyPayload) this.copyPayload = true;
    if (options?.properties) this.properties = options.properties;
    if (options?.clientPackets) this.clientPackets = options.clientPackets;
  }

  /** Forgets any partial packet, pending input and error (a new Network Connection). */
  override reset(version?: MqttVersion): void {
    this.drained();
    if (this.partial) this.partial = undefined;
    this.state = 0;
    this.error = undefined;
    if (version === 4 || version === 5) this.version = version;
  }

  /** Keeps no reference to the last chunk (nor does the cursor): a quiet connection holds no buffer. */
  private drained(): void {
    this.input = this.buf = undefined as unknown as Uint8Array;
    this.inPos = 0;
  }

  /** Bytes fed but not yet returned as packets (pending input plus the partial packet). */
  get buffered(): number {
    return (this.input ? this.input.length - this.inPos : 0) + (this.state === 2 ? this.filled : 0) + (this.state !== 0 ? 1 + this.lengthBytes : 0);
  }

  /** Reads a Property Length and the properties of packet `type` (0: Will Properties), 5.0. */
  props(type: number): MqttProperties | undefined {
    const c = this.properties;
    if (c) return c.read(this, type);
    if (this.varint() !== 0) throw no5();
    return undefined;
  }

  /** Hands the decoder more bytes. Call next() until it returns undefined. Never throws. */
  feed(chunk: Uint8Array): void {
    if (this.error !== undefined || !(chunk instanceof Uint8Array) || chunk.length === 0) return;
    const input = this.input;
    const left = input ? input.length - this.inPos : 0;
    if (left === 0) {
      this.input = chunk;
      this.inPos = 0;
    } else {
      // The caller fed again before draining: keep the unread bytes in front.
      const joined = new Uint8Array(left + chunk.length);
      joined.set((input as Uint8Array).subarray(this.inPos), 0);
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
      // Decoding stops here: the rest of the input is dropped with the state (reset()).
      this.reset();
      this.error = e instanceof MqttCodecError ? e : malformed("decoder failure: " + String(e), "§4.13");
      return undefined;
    }
  }

  private step(): MqttPacket | undefined {
    const input = this.input;
    if (input === undefined) return undefined;
    const n = input.length;
    let pos = this.inPos;
    if (this.state === 0 && pos + 1 < n) {
      // The usual case: a whole packet with a one-byte Remaining Length at the cursor (every
      // acknowledgement, a short PUBLISH), parsed in place without going through the states.
      const h = input[pos];
      const rl = input[pos + 1];
      if (rl < 0x80 && pos + 2 + rl <= n) {
        checkHeader(h, this.version);
        if (2 + rl > this.maximumPacketSize) {
          throw new MqttCodecError(0x95, packetName(h >> 4) + " of " + (2 + rl) + " B > Maximum Packet Size", "[MQTT-3.1.2-24]");
        }
        this.header = h;
        this.inPos = pos + 2 + rl;
        return this.parse(input, pos + 2, pos + 2 + rl);
      }
    }
    for (;;) {
      if (this.state === 0) {
        if (pos >= n) break;
        const h = input[pos++];
        this.header = h;
        checkHeader(h, this.version);
        this.state = 1;
        this.rl = 0;
        this.lengthBytes = 0;
      }
      if (this.state === 1) {
        let done = false;
        while (pos < n) {
          const b = input[pos++];
          this.rl += (b & 0x7f) << (7 * this.lengthBytes++); // at most 0x7f << 21
          if ((b & 0x80) === 0) {
            if (b === 0 && this.lengthBytes > 1 && this.version === 5) {
              throw malformed("Remaining Length not minimal", "[MQTT-1.5.5-1]");
            }
            done = true;
            break;
          }
          if (this.lengthBytes === 4) {
            throw malformed("Remaining Length over 4 bytes", this.version === 5 ? "[MQTT-1.5.5-1]" : "§2.2.3");
          }
        }
        if (!done) break;
        const size = 1 + this.lengthBytes + this.rl;
        if (size > this.maximumPacketSize) {
          // Checked before a single body byte is buffered or any buffer allocated.
          throw new MqttCodecError(
            0x95,
            packetName(this.header >> 4) + " of " + size + " B > Maximum Packet Size",
            "[MQTT-3.1.2-24]",
          );
        }
        const rl = this.rl;
        if (n - pos >= rl) {
          // Whole body in this chunk: parse in place.
          this.state = 0;
          this.inPos = pos + rl;
          return this.parse(input, pos, pos + rl);
        }
        this.partial = new Uint8Array(rl);
        this.filled = 0;
        this.state = 2;
      }
      // 2
      const body = this.partial as Uint8Array;
      const need = this.rl - this.filled;
      const avail = n - pos;
      if (avail < need) {
        if (avail > 0) body.set(pos === 0 && avail === n ? input : input.subarray(pos, n), this.filled);
        this.filled += avail;
        pos = n;
        break;
      }
      body.set(input.subarray(pos, pos + need), this.filled);
      pos += need;
      this.inPos = pos;
      this.partial = undefined;
      this.state = 0;
      return this.parse(body, 0, body.length);
    }
    this.inPos = pos;
    if (pos >= n) this.drained();
    return undefined;
  }

  private parse(buf: Uint8Array, start: number, end: number): MqttPacket {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    const type = this.header >> 4;
    if (type === PacketType.PUBLISH) return this.publish(this.header);
    let p: MqttPacket;
    if (type === PacketType.CONNECT || type === PacketType.SUBSCRIBE || type === PacketType.UNSUBSCRIBE) {
      // Only a client sends these: decoded when the options gave a server's decoder.
      const d = this.clientPackets;
      if (!d) throw protocolError(packetName(type) + " not decoded here", "§2.1.2");
      p = d(this, type);
    } else p = this.body(type);
    if (this.pos !== end) throw malformed(packetName(type) + " too long", type === PacketType.PINGREQ || type === PacketType.PINGRESP ? "§3." + type : "§2.1.4");
    return p;
  }

  /** PUBLISH (§3.3): the hot path. */
  private publish(h: number): PublishPacket {
    const v = this.version;
    const qos = ((h >> 1) & 3) as QoS;
    const topic = this.topicName();
    let packetId = 0;
    if (qos !== 0) {
      packetId = checkId(this.u16(), PacketType.PUBLISH, v);
    }
    let properties;
    if (v === 5) {
      if (this.pos < this.end && this.buf[this.pos] === 0) this.pos++;
      else properties = this.props(PacketType.PUBLISH);
    }
    if (topic === "") {
      if (v === 4) throw malformed("empty Topic Name", "[MQTT-4.7.3-1]");
      if (properties === undefined || properties.topicAlias === undefined) {
        throw protocolError("empty Topic Name, no Topic Alias", "§3.3.2.1");
      }
    }
    return {
      type: PacketType.PUBLISH,
      topic,
      // A view of the fed chunk, or a copy with copyPayload.
      payload: this.copyPayload ? this.buf.slice(this.pos, this.end) : this.buf.subarray(this.pos, this.end),
      qos,
      retain: (h & 1) !== 0,
      dup: (h & 8) !== 0,
      packetId,
      properties,
    };
  }

  /** Reads a PUBLISH Topic Name, through the cache; validates it [MQTT-3.3.2-2]. */
  private topicName(): string {
    const len = this.u16();
    const start = this.pos;
    const stop = start + len;
    if (stop > this.end) throw this.truncated();
    this.pos = stop;
    if (len === 0) return "";
    const buf = this.buf;
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
    const topic = decodeMqttString(buf, start, stop, this.version);
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

  /**
   * Every packet but CONNECT and PUBLISH, by family: CONNACK; PUBACK, PUBREC, PUBREL, PUBCOMP,
   * DISCONNECT, AUTH ([Packet Identifier] [Reason Code [properties]]); SUBSCRIBE, SUBACK,
   * UNSUBSCRIBE, UNSUBACK (Packet Identifier, properties, a list); PINGREQ, PINGRESP.
   */
  private body(t: number): MqttPacket {
    const r = this;
    const v = r.version;
    const props = this.properties;
    let rc = 0;
    let properties;
    if (t === PacketType.CONNACK) {
      const f = r.u8();
      if (f & 0xfe) throw malformed("CONNACK reserved flags", v === 5 ? "[MQTT-3.2.2-1]" : "§3.2.2.1");
      rc = r.u8();
      checkConnack(f === 1, rc, v, props, "[MQTT-3.2.2-8]");
      // A missing Property Length (Remaining Length 2) is read as no properties.
      if (v === 5 && r.remaining() > 0) properties = r.props(PacketType.CONNACK);
      return { type: PacketType.CONNACK, sessionPresent: f === 1, reasonCode: rc, properties };
    }
    if (t === PacketType.PINGREQ || t === PacketType.PINGRESP) return t === PacketType.PINGREQ ? PINGREQ : PINGRESP; // parse() refuses a body
    const packetId = t < PacketType.PINGREQ ? checkId(r.u16(), t, v) : 0;
    if (t < PacketType.SUBSCRIBE || t > PacketType.UNSUBACK) {
      if (v === 5 && r.remaining() > 0) {
        // §3.4.2.1, §3.14.2.1: Reason Code absent means 0x00; Property Length absent means none.
        rc = r.u8();
        checkReason(props, t, rc, "[MQTT-3." + t + ".2-1]");
        if (r.remaining() > 0) properties = r.props(t);
      }
      if (t > PacketType.UNSUBACK) return { type: t as PacketType.DISCONNECT, reasonCode: rc, properties };
      return { type: t as PacketType.PUBACK, packetId, reasonCode: rc, properties };
    }
    // SUBACK, UNSUBACK (SUBSCRIBE and UNSUBSCRIBE: the options' clientPackets).
    if (v === 5) properties = r.props(t);
    const list: number[] = [];
    if (t !== PacketType.UNSUBACK || v === 5) {
      while (r.remaining() > 0) {
        const c = r.u8();
        checkListCode(t, c, v, props);
        list.push(c);
      }
      checkNotEmpty(list.length, t, v);
    }
    return { type: t as PacketType.SUBACK, packetId, reasonCodes: list, properties };
  }
}
