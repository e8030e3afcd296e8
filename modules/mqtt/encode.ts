/*
 * Encoders of the packets a Client sends (MQTT 5.0 §3, 3.1.1 §3) that a 3.1.1 session needs:
 * CONNECT, PUBLISH from its checked parts (publishFrom), SUBSCRIBE, UNSUBSCRIBE, PINGREQ. The
 * rest: ./encode-packets.ts (the PUBACK family, DISCONNECT and AUTH with their Reason
 * Codes; imported by the 5.0 part and the tools) and ./encode-publish.ts (PUBLISH from a
 * packet object; the tools only). Each packet type sizes
 * and writes itself in one function: its sizes are locals of that call, nothing is kept
 * between calls, and every encoder returns a new Uint8Array of exactly the packet's size
 * (the outbox keeps a PUBLISH as it was encoded; ECMA-419 write() copies the others).
 *
 * `v` is the Protocol Level (4: 3.1.1, 5: 5.0). `props` is the 5.0 properties codec
 * (./properties.ts `properties5`): a 5.0 caller passes it; without it a 5.0 packet can still
 * be written as long as it carries no property (Property Length 0).
 *
 * An encoder refuses what a receiver would have to reject (MqttCodecError naming the
 * statement; nothing is returned): QoS 3, DUP with QoS 0, a missing Packet Identifier, a bad
 * topic or filter, an empty SUBSCRIBE, a property or reason code the packet may not carry.
 * The packets only a Server sends (CONNACK, SUBACK, UNSUBACK, PINGRESP) and the decoding of
 * what a Client sends live with the test broker (host-tests/support/mqtt-codec.ts).
 */
import { MqttCodecError, malformed } from "./errors";
import { PacketType, packetName } from "./packets";
import type {
  ConnectPacket,
  MqttVersion,
  PropertiesCodec,
  SubscribePacket,
  Subscription,
  UnsubscribePacket,
} from "./packets";
import type { MqttProperties } from "./properties";
import { checkClientId, checkConnectFlags, checkId, checkNotEmpty, checkOptions, firstByte, no5 } from "./rules";
import { checkTopicFilter, checkTopicName } from "./topic";
import type { PreparedTopic } from "./topic";
import { mqttStringLength, varintLength, writeBinary, writeMqttString, writeVarint } from "./wire";

/** Largest Remaining Length (§1.5.5, §2.1.4). */
const MAX_REMAINING = 268435455;

/**
 * A packet of Remaining Length `rl` with fixed header byte `first`: the new array, fixed
 * header written. The body starts at `out.length - rl`.
 */
export function frame(first: number, rl: number, type: number): Uint8Array {
  if (rl > MAX_REMAINING) throw new MqttCodecError(0x95, packetName(type) + " of " + rl + " B too large", "§2.1.4");
  const out = new Uint8Array(1 + varintLength(rl) + rl);
  out[0] = first;
  writeVarint(out, 1, rl);
  return out;
}

/** Byte length of the properties `p` for packet `type` (0: Will Properties), validated; 0 for none. */
export function propsLength(props: PropertiesCodec | undefined, p: MqttProperties | undefined, type: number): number {
  if (props) return props.length(p, type);
  if (p && Object.keys(p).length) throw no5();
  return 0;
}

/** Writes a Property Length `n` (from propsLength) and the properties `p`. */
export function propsWrite(props: PropertiesCodec | undefined, out: Uint8Array, o: number, p: MqttProperties | undefined, n: number): number {
  if (props) return props.write(out, o, p, n);
  out[o] = 0;
  return o + 1;
}

function binaryLength(b: unknown, what: string): number {
  if (!(b instanceof Uint8Array)) throw malformed(what + " must be a Uint8Array", "§1.5.6");
  if (b.length > 0xffff) throw malformed(what + " over 65,535 bytes", "§1.5.6");
  return b.length;
}

/** CONNECT (§3.1), in the version `p.protocolVersion` names. */
export function encodeConnect(p: ConnectPacket, props?: PropertiesCodec): Uint8Array {
  const v = p.protocolVersion;
  if (v !== 4 && v !== 5) throw new MqttCodecError(0x84, "protocol version " + v, "§3.1.2.2");
  const k = p.keepAlive;
  if (!(k >= 0 && k <= 0xffff && (k | 0) === k)) throw malformed("Keep Alive " + k, "§1.5.2");
  const w = p.will;
  const pw = p.password;
  let flags = p.clean ? 2 : 0;
  if (w !== undefined) {
    const wq = w.qos === 0 || w.qos === 1 || w.qos === 2 ? w.qos : 3;
    flags |= 4 | (wq << 3) | (w.retain ? 0x20 : 0);
  }
  if (pw !== undefined) flags |= 0x40;
  if (p.username !== undefined) flags |= 0x80;
  checkConnectFlags(flags, v);
  checkClientId(p.clientId, p.clean, v, "[MQTT-3.1.3-7]");
  const pl = v === 5 ? propsLength(props, p.properties, PacketType.CONNECT) : -1;
  const idl = mqttStringLength(p.clientId, "Client Identifier");
  // "MQTT" (6) + level + flags + Keep Alive (2) + Client Identifier
  let rl = 10 + (pl < 0 ? 0 : varintLength(pl) + pl) + 2 + idl;
  let wpl = -1;
  let wtl = 0;
  if (w !== undefined) {
    const bad = checkTopicName(w.topic, v);
    if (bad !== undefined) throw bad;
    if (v === 5) {
      wpl = propsLength(props, w.properties, 0);
      rl += varintLength(wpl) + wpl;
    }
    wtl = mqttStringLength(w.topic, "Will Topic");
    rl += 4 + wtl + binaryLength(w.payload, "Will Payload");
  }
  const ul = p.username !== undefined ? mqttStringLength(p.username, "User Name") : 0;
  if (p.username !== undefined) rl += 2 + ul;
  // A password given as a string is sent as its UTF-8 bytes.
  const pwl = typeof pw === "string" ? mqttStringLength(pw, "Password") : pw !== undefined ? binaryLength(pw, "Password") : 0;
  if (pw !== undefined) rl += 2 + pwl;
  const out = frame(0x10, rl, PacketType.CONNECT);
  let o = out.length - rl;
  out[o++] = 0;
  out[o++] = 4;
  out[o++] = 0x4d; // M
  out[o++] = 0x51; // Q
  out[o++] = 0x54; // T
  out[o++] = 0x54; // T
  out[o++] = v;
  out[o++] = flags;
  out[o++] = k >> 8;
  out[o++] = k & 0xff;
  if (pl >= 0) o = propsWrite(props, out, o, p.properties, pl);
  o = writeMqttString(out, o, p.clientId, idl); // [MQTT-3.1.3-3]
  if (w !== undefined) {
    if (wpl >= 0) o = propsWrite(props, out, o, w.properties, wpl);
    o = writeMqttString(out, o, w.topic, wtl);
    o = writeBinary(out, o, w.payload);
  }
  if (p.username !== undefined) o = writeMqttString(out, o, p.username, ul);
  if (typeof pw === "string") writeMqttString(out, o, pw, pwl);
  else if (pw !== undefined) writeBinary(out, o, pw);
  return out;
}

/**
 * A PUBLISH from its parts, checking nothing but the properties: fixed header byte `first`
 * (type and flags), the topic (prepared, or a string measured and encoded here), the Packet
 * Identifier (0: none, QoS 0), the payload, and in 5.0 the properties (with `props`, the
 * properties codec). What the session calls once it has checked the rest.
 */
export function publishFrom(first: number, topic: PreparedTopic | string, id: number, v: number, payload: Uint8Array, props?: PropertiesCodec, properties?: MqttProperties): Uint8Array {
  // Each typed array length is read once and each byte written once: on XS these are native calls.
  const tb = typeof topic === "string" ? undefined : topic.bytes;
  const tl = tb ? tb.length : 2 + mqttStringLength(topic as string, "Topic Name");
  const pl = v === 5 ? (properties === undefined ? 0 : propsLength(props, properties, PacketType.PUBLISH)) : -1;
  const n = payload.length;
  const rl = tl + (id ? 2 : 0) + (pl < 0 ? 0 : pl === 0 ? 1 : varintLength(pl) + pl) + n;
  if (rl > MAX_REMAINING) throw new MqttCodecError(0x95, "PUBLISH of " + rl + " B too large", "§2.1.4");
  const o0 = rl < 0x80 ? 2 : 1 + varintLength(rl);
  const out = new Uint8Array(o0 + rl);
  out[0] = first;
  if (o0 === 2) out[1] = rl;
  else writeVarint(out, 1, rl);
  if (tb) out.set(tb, o0);
  else writeMqttString(out, o0, topic as string, tl - 2);
  let o = o0 + tl;
  if (id) {
    out[o] = id >> 8;
    out[o + 1] = id & 0xff;
    o += 2;
  }
  // pl 0: a Property Length of 0 [MQTT-2.2.2-1], already there (a new array is zero-filled)
  if (pl > 0) propsWrite(props, out, o, properties, pl);
  out.set(payload, o0 + rl - n);
  return out;
}

/** PINGREQ (§3.12). */
export function encodePingreq(): Uint8Array {
  return Uint8Array.of(0xc0, 0);
}

/** Subscription Options byte of `s` (5.0 §3.8.3.1; 3.1.1: the QoS); fields out of range make a 3 the rules refuse. */
function options(s: Subscription, v: number): number {
  const q = s.qos === 0 || s.qos === 1 || s.qos === 2 ? s.qos : 3;
  if (v === 4) return q;
  const r = s.retainHandling === undefined ? 0 : s.retainHandling;
  const rh = r === 0 || r === 1 || r === 2 ? r : 3;
  return q | (s.noLocal ? 4 : 0) | (s.retainAsPublished ? 8 : 0) | (rh << 4);
}

/**
 * SUBSCRIBE (§3.8: Topic Filter and options per entry) or UNSUBSCRIBE (§3.10: Topic
 * Filters): Packet Identifier, properties (5.0), the list.
 */
function filterList(type: number, id: number, filters: string[], subs: Subscription[] | undefined, properties: MqttProperties | undefined, v: MqttVersion, props: PropertiesCodec | undefined): Uint8Array {
  checkId(id, type, v);
  const n = filters.length;
  checkNotEmpty(n, type, v); // [MQTT-3.8.3-2], [MQTT-3.10.3-2]
  const pl = v === 5 ? propsLength(props, properties, type) : -1;
  let rl = 2 + (pl < 0 ? 0 : varintLength(pl) + pl);
  const lengths: number[] = [];
  for (let i = 0; i < n; i++) {
    const f = filters[i];
    const bad = checkTopicFilter(f, v);
    if (bad !== undefined) throw bad;
    if (subs) checkOptions(options(subs[i], v), f, v);
    const l = mqttStringLength(f, "Topic Filter");
    lengths.push(l);
    rl += 2 + l + (subs ? 1 : 0);
  }
  const out = frame(firstByte(type), rl, type); // [MQTT-3.8.1-1], [MQTT-3.10.1-1]
  let o = out.length - rl;
  out[o++] = id >> 8;
  out[o++] = id & 0xff;
  if (pl >= 0) o = propsWrite(props, out, o, properties, pl);
  for (let i = 0; i < n; i++) {
    o = writeMqttString(out, o, filters[i], lengths[i]);
    if (subs) out[o++] = options(subs[i], v); // bits 7-6 reserved [MQTT-3.8.3-5]
  }
  return out;
}

/** SUBSCRIBE (§3.8). 3.1.1 cannot carry the 5.0 subscription options: they are left out. */
export function encodeSubscribe(p: SubscribePacket, v: MqttVersion, props?: PropertiesCodec): Uint8Array {
  const subs = p.subscriptions;
  const filters: string[] = [];
  for (let i = 0; Array.isArray(subs) && i < subs.length; i++) filters.push(subs[i].topicFilter);
  return filterList(PacketType.SUBSCRIBE, p.packetId, filters, subs, p.properties, v, props);
}

/** UNSUBSCRIBE (§3.10). */
export function encodeUnsubscribe(p: UnsubscribePacket, v: MqttVersion, props?: PropertiesCodec): Uint8Array {
  return filterList(PacketType.UNSUBSCRIBE, p.packetId, Array.isArray(p.topicFilters) ? p.topicFilters : [], undefined, p.properties, v, props);
}
