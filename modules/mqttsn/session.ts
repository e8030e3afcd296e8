/*
 * MqttSnSession: the MQTT-SN 1.2 client (sans-IO). It never touches a socket, a timer or
 * flash. In: datagrams and time (`receive(bytes, address, port, now)`, `handleTimeout(now)`)
 * and the app's requests (connect, publish, subscribe, ...). Out, taken by the binding
 * (MqttSnClient, below) after every call, oldest first: datagrams to send (the queue `tx`),
 * operations for its store (`st`), events for the app (`ev`), and the next deadline with its
 * window (`timeout()`). MqttSnClient (below) binds it to a UDP socket, a store and the scheduler.
 *
 * The core is what a sensor needs, by section of MQTT-SN 1.2:
 * - §6.2, §6.3 CONNECT / CONNACK to its gateway, clean session or resumption; "rejected:
 *   congestion" waits TWAIT; a DISCONNECT in answer to CONNECT is a refusal, tried again
 *   after a wait that doubles (Tretry up to TWAIT), never at once.
 * - §6.5, §6.10 REGISTER / REGACK both ways (bounded: the oldest id goes); a normal id
 *   rejected by PUBACK is registered again.
 * - §6.6 PUBLISH at QoS 0 and 1 both ways; QoS 1 (and 2) outbound kept in the store
 *   (MqttSnOutbox, below; bounded: full, publish() throws and nothing is dropped), one exchange at a
 *   time, in order.
 * - §6.9 SUBSCRIBE / UNSUBSCRIBE by name (wildcards), one at a time, sent again after
 *   every CONNACK (§5.4.5 has no session-present flag).
 * - §6.11 keep-alive; §6.12 DISCONNECT, an unsolicited one answered by a new CONNECT;
 *   §6.13 Tretry / Nretry on everything that expects a reply (DUP on a retransmitted PUBLISH
 *   or SUBSCRIBE), then CONNECT again.
 *
 * The rest comes in parts the app passes in, by composition as modules/mqtt's 5.0 part: a
 * build carries only the parts its app imports, and no module installs anything when loaded.
 *   will: SnWill (below)                     the will dialogue (§6.2); SnWillUpdates (./will-update.ts): §6.4
 *   topics: SnTopicIds (below)               pre-defined topic ids (§6.7);
 *           SnShortTopicIds (./short-topics.ts) adds short topic names (§6.7)
 *   qosMinus1: SnQosMinus1 (./qos-minus1.ts) QoS −1 (§6.8) on those topics
 *   qos2: SnQos2 (./qos2.ts)                 QoS 2 both ways (§6.6, §6.7 Fig. 6)
 *   registry: SnRegistryStore (below)        the topic registry kept in the store (§6.5, §6.10)
 *   sleep: SnSleep (below)                   the sleeping client (§6.14), its state kept in the store;
 *          SnSleepUpdates (./sleep-update.ts) adds a new Duration while asleep
 *   discovery: SnDiscovery (./discovery.ts)  SEARCHGW / GWINFO / ADVERTISE (§6.1), a gateway
 *                                            table and failover to another gateway (§6.13)
 * The four the app ships (will, topics, registry, sleep) are in this file, the others are modules of their own.
 * A part keeps its own state and calls the core through the members marked "for the parts";
 * what a feature costs in bytecode is in docs/mqttsn.md.
 *
 * Datagrams are built (`frame`) and read here, octet by octet: the device carries the
 * client's half of the format only. The whole codec (every message both ways, with each
 * refusal named by section) is ./codec.ts, for the gateway, the tests and host tools.
 *
 * The layers this file holds (docs/conventions.md, "Files and layers on XS"), in the order a
 * datagram goes through them: MqttSnClient (the binding: socket, store, scheduler) ->
 * MqttSnSession (sans-IO: `frame` and `receive` build and read the client's half of the
 * format) -> the parts the app ships (SnWill, SnTopicIds, SnSleep, SnRegistryStore) -> MqttSnOutbox (the QoS
 * 1/2 messages and their store records).
 */
import { decodeUtf8, encodeUtf8, encodeUtf8New, utf8Length } from "../bytes/utf8";
import type { SnQoS } from "./constants";
import type { UdpConstructor, UdpSocket } from "../platform/io";
import type { KeyValueStore } from "../platform/storage";
import type { Job, Scheduler } from "../scheduler/scheduler";
import type { SnDiscovery } from "./discovery";
import type { SnQos2 } from "./qos2";
import type { SnQosMinus1 } from "./qos-minus1";

export interface SnGatewayAddress {
  address: string;
  port: number;
  gwId?: number;
}

/** A gateway the session talks to (the discovery part keeps more about each). */
export interface SnGateway {
  address: string;
  port: number;
  /** -1 when not known (a gateway given by address). */
  gwId: number;
  /** When last heard from (ms). */
  seen: number;
  /** When a connection to it last failed (ms; set by the discovery part, which chooses by it, §6.13), -1 never or since a CONNACK. */
  failed: number;
}

export interface MqttSnSessionOptions {
  /** §5.3.1: 1-23 characters. */
  clientId: string;
  /** Keep Alive in seconds (§5.4.4 Duration); 0 = none. Default 60. */
  keepAlive?: number;
  /** Default true. */
  cleanSession?: boolean;
  /** The gateway. Without the discovery part, the only one; with it, the first one tried. */
  gateway?: SnGatewayAddress;
  /** §6.13 Tretry in ms (default 10,000; §7.2 recommends 10-15 s). */
  retryMs?: number;
  /** §6.13 Nretry (default 4; §7.2: 3-5). */
  maxRetries?: number;
  /** TWAIT in ms after "rejected: congestion" (default 300,000; §7.2: more than 5 minutes). */
  waitMs?: number;
  /** Most normal topic ids kept (default 32); the oldest goes first. */
  maxTopics?: number;
  /** Outbox bounds: QoS 1/2 messages (default 16) and bytes of topic + payload (default 8192). */
  maxMessages?: number;
  maxBytes?: number;
  /** Requests queued (QoS 0 messages waiting for their topic's registration, subscriptions, ...; default 16). */
  maxQueued?: number;
  // The parts (see the top of this file).
  will?: SnWill;
  topics?: SnTopicIds;
  qos2?: SnQos2;
  registry?: SnRegistryStore;
  sleep?: SnSleep;
  discovery?: SnDiscovery;
  qosMinus1?: SnQosMinus1;
}

/** A datagram to send: to `address`:`port`, or broadcast with `radius` when `address` is undefined (§6.1). */
export interface SnDatagram {
  data: Uint8Array;
  address: string | undefined;
  port: number;
  /** A broadcast's (§6.1); a datagram to the gateway has none. */
  radius?: number;
}

export type SnEvent =
  | { type: "connected"; address: string; port: number; gwId: number }
  | { type: "disconnected"; reason: string }
  | { type: "message"; topic: string; payload: Uint8Array; qos: SnQoS; retain: boolean; dup: boolean }
  | { type: "published"; msgId: number }
  | { type: "publish-failed"; msgId: number; topic: string; reason: string }
  | { type: "subscribed"; topic: string; qos: SnQoS; returnCode: number }
  | { type: "unsubscribed"; topic: string }
  | { type: "gateway"; gwId: number; address: string; port: number }
  | { type: "gateway-lost"; gwId: number; address: string; port: number }
  | { type: "asleep"; duration: number }
  | { type: "wake-failed" }
  /** §6.13: no reply to our CONNECT (or the will dialogue's answer) in Tretry: sent again; `tries` retransmissions so far. */
  | { type: "retry"; tries: number }
  | { type: "will-updated"; returnCode: number }
  | { type: "dropped"; reason: string };

/** Session states. */
export const DISCONNECTED = 0;
export const SEARCHING = 1;
export const CONNECTING = 2;
export const ACTIVE = 3;
export const ASLEEP = 4;
export const AWAKE = 5;

// Queued requests (SnOp.k): 1 OP_PUB0 (a QoS 0 PUBLISH), 2 OP_SUB, 3 OP_UNSUB, 4 OP_PART, 5
// OP_DISC (DISCONNECT), 6 OP_PART_LAST (the sleep part's DISCONNECT with a Duration). From 5 on, a
// request waits until the outbox is empty, and is a DISCONNECT the session sends itself (§5.4.21:
// with the Duration `qos` unless it is -1). The kinds used only in this file are written as
// numbers with their name in a comment (a module constant costs XS bytecode: ~24 B and ~3 B a use).
/** A part's request that does not wait for the outbox (a will update). */
export const OP_PART = 4;

/** A part that queues requests: it sends each when its turn comes (a DISCONNECT, from OP_DISC on: the session) and takes its reply. */
export interface SnOpPart {
  send?(s: MqttSnSession, op: SnOp, now: number): void;
  /** The reply of MsgType `t` (return code `rc`) ended the exchange; `t` is -1 when Nretry ran out while awake. */
  reply(s: MqttSnSession, op: SnOp, t: number, rc: number): void;
}

export interface SnOp {
  k: number;
  topic: string;
  /** QoS of a subscription; a QoS 0 message's PUBLISH Flags (Retain); a part's number (a sleep duration, a MsgType). */
  qos: number;
  /** A QoS 0 message's payload. */
  data?: Uint8Array;
  /** The part that sends it and takes its reply. */
  part?: SnOpPart;
}

/** The one exchange awaiting the gateway's reply (§6.5, §6.6, §6.9: one at a time). */
export interface SnExchange {
  bytes: Uint8Array;
  /** The MsgType that ends it. */
  expect: number;
  msgId: number;
  tries: number;
  at: number;
  /**
   * What it is for: the request (SUBSCRIBE, a part's, DISCONNECT) or the outbox entry
   * (PUBLISH, PUBREL) it sends; for a REGISTER, what waits for the topic id (a QoS 0 request
   * or an entry, each with its `topic`); nothing for CONNECT and PINGREQ.
   */
  x: SnOp | OutboxEntry | undefined;
}

/** An error for a request the session refuses (nothing changed). */
export function bad(what: string): TypeError {
  return new TypeError("mqttsn: " + what);
}

/**
 * One message (§5.2): Length (1 octet, or 0x01 and 2 octets above 255, §5.2.1), MsgType,
 * then each of `f` (one octet), `a` and `b` (two octets each: their low 16 bits) that is given
 * and not -1 (`undefined >= 0` is false: trailing fields are left out, inner ones are -1), then
 * `tail` (octets: a name, a payload, or a ReturnCode as [rc]). Throws (nothing else done) above
 * 65,535 octets. One encoder for every message the client sends: a table of each MsgType's fields
 * would save the inner -1s (13 of them, 3 B each) but cost more in the table and its loop.
 */
export function frame(type: number, f?: number, a?: number, b?: number, tail?: ArrayLike<number>): Uint8Array {
  const h: number[] = [type];
  if (f! >= 0) h.push(f!);
  if (a! >= 0) h.push(a! >> 8, a!); // a Uint8Array keeps the low octet
  if (b! >= 0) h.push(b! >> 8, b!);
  let n = h.length + (tail ? tail.length : 0) + 1;
  if (n > 255) n += 2;
  if (n > 0xffff) throw bad("over 65535 octets");
  // The Length in front of the header: n, or 0x01 and n in two octets.
  h.unshift(n);
  if (n > 255) h.unshift(1, n >> 8);
  const m = new Uint8Array(n);
  m.set(h);
  if (tail) m.set(tail, h.length);
  return m;
}

/**
 * The TopicName of a PUBLISH or will, or (`filter`) a topic filter of SUBSCRIBE or UNSUBSCRIBE or a
 * §5.3.1 ClientId (where + and # are characters like any other): non-empty (§5.3), no wildcard but in a filter (§6.10), UTF-8 (§5.3.12: no lone
 * surrogate, which has none; no U+0000, MQTT's rule), and short enough for its REGISTER, WILLTOPIC or
 * SUBSCRIBE to fit one message: at most 21,842 UTF-16 units, each at most 3 octets in UTF-8 (65,526 +
 * a header of 8 <= 65,535, §5.2.1). Else it would be sent malformed, or make frame() or the UTF-8
 * encoder throw later, inside receive() or handleTimeout(), where no caller can take it.
 */
function isTopicName(t: unknown, filter?: boolean): t is string {
  return typeof t === "string" && t.length <= 21842 && !/^$|[\0\ud800-\udfff]/u.test(t) && (filter || !/[+#]/.test(t));
}


export class MqttSnSession {
  declare state: number;
  declare readonly clientId: string;
  declare readonly outbox: MqttSnOutbox;
  // For the parts: the options, the gateway in use, the open exchange, the queue, the output, ...
  declare readonly o: MqttSnSessionOptions;
  declare gw: SnGateway | undefined;
  declare cur: SnExchange | undefined;
  declare ops: SnOp[];
  /** The output, taken (shift()) by whoever drives the session: datagrams, events, store operations (no poll methods: each costs XS bytecode). */
  declare tx: SnDatagram[];
  declare ev: SnEvent[];
  declare st: StoreOp[];
  declare readonly keepMs: number;
  /** §6.13 Tretry (ms). */
  declare retryMs: number;
  /** TWAIT after "rejected: congestion", or a refusal's wait, ends here (0: no wait). */
  declare waitUntil: number;
  /** The topic registry (§6.5, §6.10): name -> normal topic id, and id -> name. */
  declare reg: Map<string | number, any>;
  /** The gateway ("address:port") the registry belongs to. */
  declare regOf: string;
  declare nextId: number;
  declare lastSent: number;
  /** The app's subscriptions: filter -> requested QoS (sent again after every CONNACK). */
  declare subs: Map<string, number>;
  /** CONNECTs answered with DISCONNECT in a row. */
  declare refusals: number;

  constructor(o: MqttSnSessionOptions) {
    // §5.3.1: 1-23 characters.
    if (!isTopicName(o?.clientId, true) || o.clientId.length > 23) throw bad("clientId: 1-23 characters");
    const k = (this.keepMs = (o.keepAlive ?? 60) * 1000);
    const maxMessages = o.maxMessages ?? 16;
    const maxBytes = o.maxBytes ?? 8192;
    // Every option checked here, once (the outbox has no constructor of its own).
    if (!(k >= 0 && k <= 65535000) || !((this.retryMs = o.retryMs ?? 10000) > 0) || !(maxMessages >= 1 && maxMessages <= 1000) || !(maxBytes >= 64))
      throw bad("keepAlive, retryMs, maxMessages (1-1000), maxBytes (64 on)");
    this.o = o;
    this.clientId = o.clientId;
    const g = o.gateway;
    this.gw = g && { address: g.address, port: g.port, gwId: g.gwId ?? -1, seen: 0, failed: -1 };
    this.state = this.waitUntil = this.lastSent = this.refusals = 0;
    this.nextId = 1;
    this.regOf = "";
    // (new Array(): some 4 B less XS bytecode than [] each)
    this.ops = new Array();
    this.tx = new Array();
    this.ev = new Array();
    this.reg = new Map();
    this.subs = new Map();
    this.st = new Array();
    this.outbox = { maxMessages, maxBytes, bytes: 0, seq: 0, list: new Array(), get count() { return this.list.length; }, get(msgId: number) { return this.list.find((e) => e.msgId === msgId); } };
    o.discovery?.attach(this);
  }

  // -- the app's requests ---------------------------------------------------------------

  /** Connects to the gateway (with the discovery part: the best known one, else it searches; §6.1, §6.2). */
  connect(now: number): void {
    const d = this.o.discovery;
    if ((12 >> this.state) & 1) return; // CONNECTING or ACTIVE (bits 2 and 3 of the mask)
    if (d) d.connect(this, now);
    else if (this.gw) this.connectTo(this.gw, now);
    else throw bad("no gateway");
  }

  /** §6.12: DISCONNECT, once the queued requests and the outbox have gone. */
  disconnect(now: number): void {
    if (this.state === 3 /* ACTIVE */) this.queue(5 /* OP_DISC */, "", -1, now); // no Duration
    else this.down("disconnect");
  }

  /**
   * Publishes. QoS 0 needs a connection; QoS 1 (and 2, with the qos2 part) go to the outbox,
   * then to the gateway when connected; QoS −1 (§6.8, the qosMinus1 part) goes at once to the
   * gateway on a pre-defined or short topic, connected or not. Returns the MsgId of a QoS
   * 1/2 message (its "published" or "publish-failed" event names it), else 0. Throws, with
   * nothing changed, when the topic, payload, QoS or state does not allow it or the outbox
   * is full.
   */
  publish(topic: string, payload: Uint8Array | string, qos: SnQoS, retain: boolean, now: number): number {
    const data = typeof payload === "string" ? encodeUtf8New(payload) : payload;
    const o = this.o;
    const r = retain ? 0x10 : 0; // Retain in the PUBLISH Flags (§5.3.4)
    if (!isTopicName(topic) || !(data instanceof Uint8Array) || data.length > 0xfff0) throw bad("topic, payload");
    if (qos === -1 && o.qosMinus1) return o.qosMinus1.publish(this, topic, data, r, now); // §6.8 (the QoS −1 part)
    if (qos === 0) {
      if (this.state !== 3 /* ACTIVE */) throw bad("not connected");
      this.queue(1 /* OP_PUB0 */, topic, r, now, undefined, data.slice()); // its Flags in place of a QoS
      return 0;
    }
    if (qos !== 1 && !(qos === 2 && o.qos2)) throw bad("QoS " + qos);
    // The outbox record (see MqttSnOutbox), stored by load(). Full: RangeError, nothing changed.
    // A record is one value of the store: at most 4,000 octets (MAX_VALUE_BYTES, ../platform/storage.ts:
    // NVS's limit; written as a number, an import costs 51 B of XS bytecode; a test ties the two).
    const ob = this.outbox;
    const t = encodeUtf8New(topic);
    const n = t.length + data.length;
    if (ob.list.length >= ob.maxMessages || ob.bytes + n > ob.maxBytes || n + 8 > 4000) throw new RangeError("mqttsn: outbox full");
    const q = ++ob.seq;
    const b = new Uint8Array(8 + n);
    b.set(Uint8Array.of(1, qos | (r >> 2), q >>> 24, q >> 16, q >> 8, q, t.length >> 8, t.length));
    b.set(t, 8);
    b.set(data, 8 + t.length);
    const e = this.load("o" + this.newId(), b, true)!;
    this.pump(now);
    return e.msgId;
  }

  /** §6.9: subscribes to a topic filter (with the topics part: a pre-defined topic, by its name, or a short topic name). */
  subscribe(topic: string, qos: 0 | 1 | 2, now: number): void {
    if (!isTopicName(topic, true) || !(qos === 0 || qos === 1 || (qos === 2 && this.o.qos2))) throw bad("subscribe");
    if (this.state === 3 /* ACTIVE */) this.queue(2 /* OP_SUB */, topic, qos, now); // else it goes with the next CONNACK
    this.subs.set(topic, qos);
  }

  unsubscribe(topic: string, now: number): void {
    if (!isTopicName(topic, true)) throw bad("unsubscribe");
    if (this.state === 3 /* ACTIVE */) this.queue(3 /* OP_UNSUB */, topic, 0, now);
    this.subs.delete(topic);
  }

  // -- input -------------------------------------------------------------------------

  /** A datagram from `address`:`port`. Malformed or unexpected ones are dropped, with a "dropped" event. */
  receive(b: Uint8Array, address: string, port: number, now: number): void {
    const o = this.o;
    const n = b.length;
    const h = b[0] === 1 ? 3 : 1; // §5.2.1: 0x01 announces the 3-octet Length
    const t = b[h];
    const size = n - h - 1;
    /*
     * SIZES, §5.4: the body octets (after MsgType) the client takes, by MsgType, as two characters
     * each: the least and the most ("~": no limit; "/": never, a message the client does not
     * take: a client's own, or reserved: its most, -1, is below any size). A local: a module
     * constant costs more XS bytecode.
     *   0 ADVERTISE 3  1 SEARCHGW 1  2 GWINFO 1-7 (1 or 7: the discovery part checks)  5 CONNACK 1
     *   6 WILLTOPICREQ 0  8 WILLMSGREQ 0  A REGISTER 5+  B REGACK 5  C PUBLISH 5+  D PUBACK 5
     *   E PUBCOMP, F PUBREC, 10 PUBREL 2  13 SUBACK 6  15 UNSUBACK 2  16 PINGREQ 0+
     *   17 PINGRESP 0  18 DISCONNECT 0-2  1B WILLTOPICRESP 1  1D WILLMSGRESP 1
     */
    const SIZES = "331117////1100//00//5~555~55222222////66//220~0002////11//11";
    const hi = SIZES.charCodeAt(2 * t + 1) - 48;
    let i = h + 1;
    // Bit t of a mask says whether MsgType t has the field (shifts take t mod 32: a MsgType from
    // 0x1E on, read as anything, is refused by the size check below).
    const f = (0x81000 >> t) & 1 ? b[i++] : 0; // Flags (§5.3.4): PUBLISH, SUBACK (0x0C, 0x13)
    let id = 0;
    let mid = 0;
    if ((0x83c00 >> t) & 1) {
      id = (b[i] << 8) | b[i + 1]; // TopicId: REGISTER, REGACK, PUBLISH, PUBACK, SUBACK (0x0A-0x0D, 0x13)
      i += 2;
    }
    if ((0x3ffc00 >> t) & 1) {
      mid = (b[i] << 8) | b[i + 1]; // MsgId: 0x0A-0x15 (0x11 is refused by the size table)
      i += 2;
    }
    // ReturnCode: the last octet of CONNACK, REGACK, PUBACK, SUBACK, WILLTOPICRESP, WILLMSGRESP.
    const rc = (0x28082820 >> t) & 1 ? b[n - 1] : 0;
    // §5.2.1: a Length that is not the datagram's; §5.4: a size the message cannot have; §5.3.10:
    // ReturnCode 0x04-0xFF reserved; a gateway's PUBLISH at QoS −1, or at QoS 1/2 with MsgId 0 (§5.3.7):
    // its QoS bits (0x60) above 0x40 (QoS −1) or, without a MsgId, above 0.
    if ((h === 3 ? (b[1] << 8) | b[2] : b[0]) !== n || !(size >= SIZES.charCodeAt(2 * t) - 48) /* NaN past the table (MsgType 0x1E on) */ || (size > hi && hi < 78) || rc > 3 || (t === 0x0c && (f & 0x60) > (mid ? 0x40 : 0)))
      return this.drop("malformed");
    // ADVERTISE, SEARCHGW, GWINFO: the discovery part's (without it: dropped below, "unexpected").
    if (t < 3 && o.discovery) return o.discovery.receive(this, t, b, i, address, port, now);
    const g = this.gw;
    // A gateway heard from an unspecified source (0.0.0.0: Paho's multicast GWINFO on loopback) answers from its real one.
    if (!g || g.port !== port || (g.address !== address && g.address !== "0.0.0.0")) return this.drop("not from the gateway");
    g.address = address;
    g.seen = now;
    const c = this.cur;
    const s = this.state;
    // §6.14: while awake, every message but PINGRESP restarts Tretry.
    if (s === 5 /* AWAKE */ && c && t !== 0x17) c.at = now;
    if (c && (0x140 >> t) & 1 /* WILLTOPICREQ, WILLMSGREQ */ && s === 2 /* CONNECTING */ && o.will) {
      // §6.2: WILLTOPICREQ -> WILLTOPIC, WILLMSGREQ -> WILLMSG, in place of the CONNECT (CONNACK still ends it).
      return this.out(o.will.message(t + 1), now, 0x05, 0);
    }
    if (c && c.expect === t && mid === c.msgId) {
      // The reply that ends the open exchange (CONNECT's CONNACK: only CONNECT expects it; a QoS 2
      // PUBLISH's PUBREC goes to the QoS 2 part, below).
      const x = c.x as OutboxEntry & SnOp;
      this.cur = undefined;
      // "rejected: congestion": the same request again after TWAIT (§6.2, §6.5, §6.6, §6.9).
      if (rc === 1) this.waitUntil = now + (o.waitMs ?? 300000);
      else if (t === 0x05) {
        // CONNACK (§6.2)
        if (rc) {
          // Refused: with the discovery part, a gateway that has not failed yet, if there is one.
          this.down("CONNACK " + rc);
          return o.discovery?.refused(this, now);
        }
        this.refusals = 0;
        this.state = 3 /* ACTIVE */;
        g.failed = -1;
        // §6.3: another gateway than the registry's ("address:port": the left operand reads the old
        // one, then it is replaced), or a clean session: no topic id or QoS 2 state carries over.
        if (this.regOf !== (this.regOf = g.address + ":" + g.port) || o.cleanSession !== false) {
          this.reg.clear();
          o.registry?.save(this);
          o.qos2?.clear(this);
        }
        // The app's subscriptions again after every CONNACK: it has no session-present flag
        // (§5.4.5), so a gateway that lost the session (restarted) cannot be told from one that
        // kept it. A topic id it no longer knows comes back as "invalid topic ID" and is registered
        // again (§6.6, the PUBACK below). One not already queued.
        this.subs.forEach((qos, topic) => this.ops.some((q) => q.k === 2 /* OP_SUB */ && q.topic === topic) || this.ops.push({ k: 2 /* OP_SUB */, topic, qos }));
        o.sleep?.save(this);
        this.emit({ type: "connected", address: g.address, port: g.port, gwId: g.gwId });
      } else if (t === 0x0b) {
        // REGACK (§6.5): the entry or QoS 0 request waiting for the topic id goes next; refused, it fails.
        if (!rc) this.register(id, x.topic);
        // (A QoS 0 message, MsgId 0 in its event, only while still queued: once its topic id came
        // otherwise, a gateway's REGISTER, it went, and the request behind it is not its to take.)
        else if (x.rec || (this.ops[0] === x && this.ops.shift())) this.done(x, "REGACK " + rc);
      } else if (!x) {
        // PINGRESP to the keep-alive's PINGREQ
      } else if (x.rec) {
        if (rc === 2 && this.topicId(x.topic) < 0x10000 && x.rereg++ < 2) this.register(-1, x.topic); // §6.6: register again, then publish again
        else this.done(x, (rc && "PUBACK " + rc) as string); // rc 0: published
      } else {
        // The request x ended: SUBACK, UNSUBACK, the gateway's DISCONNECT (ours, §6.12), or a part's reply.
        if (this.ops[0] === x) this.ops.shift();
        if (x.part) x.part.reply(this, x, t, rc);
        else if (t === 0x13) {
          // A name without wildcards (a topic name) gets the SUBACK's topic id; QoS 0b11 is −1 (§5.3.4).
          if (!rc && id && isTopicName(x.topic) && this.topicId(x.topic) < 0) this.register(id, x.topic);
          this.emit({ type: "subscribed", topic: x.topic, qos: ((((f >> 5) + 1) & 3) - 1) as SnQoS, returnCode: rc });
        } else if (t === 0x15) this.emit({ type: "unsubscribed", topic: x.topic });
        else return this.down("disconnect");
      }
      this.pump(now);
      return;
    }
    if ((0x1400 >> t) & (0x28 >> s) & 1 /* REGISTER (0x0A) or PUBLISH (0x0C), ACTIVE (3) or AWAKE (5) */) {
      // The gateway's REGISTER (§6.10), answered REGACK, or PUBLISH (§6.7), answered PUBACK at QoS 1:
      // the answer is the next MsgType, with ReturnCode a.
      let a = 0;
      if (t === 0x0a) {
        let name = "";
        try {
          name = decodeUtf8(b, i, n);
        } catch {}
        if (!isTopicName(name)) return this.drop("malformed");
        this.register(id, name);
      } else {
        // A topic id not known is answered "rejected: invalid topic ID" (§6.10).
        const topic = f & 3 ? o.topics?.name(f & 3, id) : this.reg.get(id); // by TopicIdType
        if (topic === undefined) {
          a = 2;
          this.drop("unknown topic id " + id);
        } else if (f & 0x40 && !(o.qos2 ? o.qos2.inbound(this, mid, now) : this.drop("QoS 2"))) return; // QoS 2: the part answers PUBREC, and says whether it is new
        else {
          this.emit({ type: "message", topic, payload: b.slice(i, n), qos: ((f >> 5) & 3) as SnQoS, retain: !!(f & 0x10), dup: !!(f & 0x80) });
          if (!(f & 0x20)) return;
        }
      }
      return this.out(frame(t + 1, -1, id, mid, [a]), now);
    }
    if (t === 0x16) return this.out(frame(0x17), now); // §6.11: PINGREQ from the gateway
    if (t === 0x18) {
      this.down("DISCONNECT");
      // §6.12: an unsolicited DISCONNECT: while connected, connect again.
      if (s === 3 /* ACTIVE */) return this.connectTo(g, now);
      if (s === 2 /* CONNECTING */) {
        // A refusal of our CONNECT (Paho #248 answers the will dialogue so): another gateway
        // (discovery), else this one again after a wait that doubles (Tretry up to TWAIT), never at once.
        this.state = 2 /* CONNECTING */;
        if (!o.discovery?.other(this, now)) this.waitUntil = now + Math.min(this.retryMs * 2 ** this.refusals++, o.waitMs ?? 300000);
      }
      return;
    }
    if (t === 0x0d && !mid && rc === 2) this.register(-1, id); // a QoS 0 PUBLISH rejected: its topic id forgotten, its next PUBLISH registers again
    // PUBREC (also the one that answers our QoS 2 PUBLISH), PUBREL: the QoS 2 part's.
    if (o.qos2 && (0x18000 >> t) & (0x28 >> s) & 1 /* PUBREC, PUBREL; ACTIVE, AWAKE */) return o.qos2.receive(this, t, mid, now);
    this.drop("unexpected " + t);
  }

  /** Runs what is due at `now`: retransmissions, keep-alive, and the parts' timers. */
  handleTimeout(now: number): void {
    const c = this.cur;
    if (c && now >= c.at + this.retryMs) {
      if (c.tries >= (this.o.maxRetries ?? 4)) {
        // §6.13: no reply after Nretry retransmissions.
        const x = c.x as SnOp;
        this.cur = undefined;
        if (this.state === 5 /* AWAKE */) x.part!.reply(this, x, -1, 0); // the awake PINGREQ (sleep part): wake-failed
        else if (x?.k === 5 /* OP_DISC */) {
          // our DISCONNECT unanswered: disconnected all the same
          this.ops.shift();
          this.down("disconnect");
        } else if (this.state !== 4 /* ASLEEP */) {
          // The connection is gone (§6.13): "disconnected", then another gateway (discovery part: also
          // when it finds the gateway lost, §6.1), else this one again.
          this.down("no reply");
          if (!this.o.discovery?.failover(this, now)) this.connectTo(this.gw!, now);
        }
      } else {
        // §6.13: retransmit; DUP on a PUBLISH or SUBSCRIBE (§5.3.4; the Flags follow the header).
        const h = c.bytes[0] === 1 ? 3 : 1;
        // A PUBLISH whose TopicId the gateway has meanwhile given to another name (its REGISTER,
        // §6.10; a gateway that lost our session reuses ids) is not sent again as it was, to that
        // name: pump() below registers its topic again (§6.5), then publishes it.
        if (c.bytes[h] === 0x0c && ((c.bytes[h + 2] << 8) | c.bytes[h + 3]) !== (this.topicId(c.x!.topic) & 0xffff)) this.cur = undefined;
        else {
          if ((0x41000 >> c.bytes[h]) & 1) c.bytes[h + 1] |= 0x80; // bits 0x0C and 0x12 of the mask
          c.tries++;
          c.at = now;
          this.out(c.bytes, now);
          if (this.state === 2 /* CONNECTING */) this.emit({ type: "retry", tries: c.tries });
        }
      }
    }
    if (this.waitUntil && now >= this.waitUntil) {
      this.waitUntil = 0;
      if (this.state === 2 /* CONNECTING */) this.connectTo(this.gw!, now); // after "congestion" or a refusal: CONNECT again
    }
    this.pump(now);
    // §6.11: PINGREQ when nothing else went out for (half) the keep-alive period.
    if (this.state === 3 /* ACTIVE */ && this.keepMs && !this.cur && now >= this.lastSent + this.keepMs / 2) this.out(frame(0x16), now, 0x17, 0);
    this.o.discovery?.handleTimeout(this, now);
  }

  // -- output ------------------------------------------------------------------------

  /**
   * The next deadline and its window, or undefined when nothing is due. The keep-alive may
   * run from half the period on (earliest) and must by the whole period (latest = deadline);
   * everything else is due at its deadline.
   */
  timeout(): { deadline: number; earliest: number; latest: number } | undefined {
    const c = this.cur;
    const k = !c && this.state === 3 /* ACTIVE */ && this.keepMs ? this.lastSent + this.keepMs : Infinity;
    const d = Math.min(c ? c.at + this.retryMs : k, this.waitUntil || Infinity, this.o.discovery?.deadline() ?? Infinity);
    if (d < Infinity) return { deadline: d, earliest: d === k ? k - this.keepMs / 2 : d, latest: d };
  }

  // -- persistence -------------------------------------------------------------------

  /**
   * Restores what the store kept (every key and value of the session's namespace), before
   * any other call: the outbox, and what the parts keep (the topic registry, inbound QoS 2
   * ids, the asleep state and its gateway). A record nobody takes is deleted.
   */
  restore(keys: string[], get: (key: string) => unknown): void {
    const o = this.o;
    // (forEach and find here and below: smaller XS bytecode than a for loop with its locals, for-in or for-of.)
    keys.forEach((key) => {
      const v = get(key);
      const b = new Uint8Array((v instanceof ArrayBuffer ? v : 0) as ArrayBuffer); // not an ArrayBuffer: empty
      let ok;
      // One catch for every record that does not parse (an outbox topic of ill-formed UTF-8, ...).
      try {
        ok = key[0] === "o" ? this.load(key, b) : o.registry?.restore(this, key, b) || o.qos2?.restore(key, b) || o.sleep?.restore(this, key, b);
      } catch {}
      if (!ok) this.st.push({ key }); // (no `value: undefined`: each read of the global costs XS bytecode)
    });
    this.outbox.list.sort((a, b) => a.seq - b.seq); // oldest first
  }

  // -- for the parts ----------------------------------------------------------------

  emit(e: SnEvent): void {
    this.ev.push(e);
  }

  drop(reason: string): void {
    this.emit({ type: "dropped", reason });
  }

  /**
   * Sends `bytes` to the gateway in use; with `expect`, as the one open exchange, ended by MsgType
   * `expect` (with `msgId` when not 0), for `x`.
   */
  out(bytes: Uint8Array, now: number, expect?: number, msgId?: number, x?: SnOp | OutboxEntry): void {
    const g = this.gw!;
    if (expect) this.cur = { bytes, expect, msgId: msgId!, tries: 0, at: now, x };
    this.tx.push({ data: bytes, address: g.address, port: g.port });
    this.lastSent = now;
  }

  /** Queues a request (it goes when the exchanges before it have ended). Throws, nothing queued, when the queue is full. */
  queue(k: number, topic: string, qos: number, now: number, part?: SnOpPart, data?: Uint8Array): void {
    if (this.ops.length >= (this.o.maxQueued ?? 16)) throw bad("queue full");
    this.ops.push({ k, topic, qos, data, part });
    this.pump(now);
  }

  /** §6.2: CONNECT to `g`, with the Will flag when the will part has a will. */
  connectTo(g: SnGateway, now: number): void {
    this.gw = g;
    this.state = 2 /* CONNECTING */;
    // Flags (Will, CleanSession) and ProtocolId 0x01 (§5.3.8), Duration, ClientId.
    this.out(frame(0x04, -1, ((this.o.will?.will ? 0x08 : 0) | (this.o.cleanSession !== false ? 0x04 : 0)) * 256 + 1, this.keepMs / 1000, encodeUtf8New(this.clientId)), now, 0x05, 0);
  }

  down(reason: string): void {
    this.state = 0 /* DISCONNECTED */;
    this.cur = undefined;
    this.o.sleep?.save(this);
    this.emit({ type: "disconnected", reason });
  }

  /** TopicIdType << 16 | TopicId of a topic we can publish on now (0 normal, 1 pre-defined, 2 short; §6.7), or −1. */
  topicId(name: string): number {
    const t = this.o.topics?.id(name);
    return t! >= 0 ? t! : this.reg.get(name) ?? -1; // (undefined >= 0 is false: no topics part)
  }

  /**
   * Takes record `b` of key `o<MsgId>`: a stored one at restore (assumed sent, so DUP), or a
   * `fresh` one from publish() (stored now). Undefined, nothing changed, when it does not
   * parse or the MsgId is held already.
   */
  load(key: string, b: Uint8Array, fresh?: boolean): OutboxEntry | undefined {
    const msgId = +key.slice(1);
    const n = 8 + ((b[6] << 8) | b[7]);
    // Only what the outbox writes: state 1 at QoS 1 or 2, state 2 (PUBREL) at QoS 2 (a corrupt state 2 at
    // QoS 1 would ask the QoS 2 part, maybe absent, for its PUBREL inside receive()).
    if (!(msgId > 0 && msgId <= 0xffff && n <= b.length && b[0] > 0 && b[0] <= (b[1] & 3) % 3) || this.outbox.get(msgId)) return;
    const topic = decodeUtf8(b, 8, n); // throws on ill-formed UTF-8: restore() catches it (publish()'s own record is well-formed)
    const seq = b[2] * 0x1000000 + ((b[3] << 16) | (b[4] << 8) | b[5]);
    const e: OutboxEntry = { msgId, rec: b, seq, f: (fresh ? 0 : 0x80) | ((b[1] & 3) === 2 ? 0x40 : 0x20) | ((b[1] & 4) << 2), topic, data: b.subarray(n), rereg: 0 };
    const ob = this.outbox;
    ob.list.push(e);
    ob.bytes += b.length - 8;
    if (seq > ob.seq) ob.seq = seq;
    if (fresh) this.st.push({ key, value: b.buffer as ArrayBuffer });
    return e;
  }

  /** The outbox entry `e` is done: published (no `reason`), or failed. */
  done(e: OutboxEntry, reason?: string): void {
    const ob = this.outbox;
    // An entry is done only as the oldest (pump() sends the oldest, one exchange at a time); a
    // QoS 0 request whose REGISTER was refused is not in the list.
    if (ob.list[0] === e) {
      ob.list.shift();
      ob.bytes -= e.rec.length - 8;
      this.st.push({ key: "o" + e.msgId });
    }
    this.emit(reason ? { type: "publish-failed", msgId: e.msgId | 0, topic: e.topic, reason } : { type: "published", msgId: e.msgId });
  }

  /** Starts the next exchange when none is open (§6.5, §6.6, §6.9: one at a time). */
  pump(now: number): void {
    while (this.state === 3 /* ACTIVE */ && !this.waitUntil) {
      const op = this.ops[0];
      const k = op ? op.k : 0;
      const e = this.outbox.list[0]; // the oldest message: the one to send (or finish) next
      // QoS 1/2 messages go before a DISCONNECT or a sleep; a QoS 0 one on a known topic needs no exchange.
      const x = e && (!op || k >= 5 /* OP_DISC */) ? e : op;
      const t = x ? this.topicId(x.topic) : -1;
      if (k === 1 /* OP_PUB0 */ && t >= 0) {
        this.ops.shift();
        // PUBLISH (§5.4.12): Flags (DUP, QoS, Retain; TopicIdType, t >> 16), TopicId, MsgId, Data. Written
        // out at its three places (here, below, the QoS −1 part's): a method of six parameters costs more.
        this.out(frame(0x0c, op.qos | (t >> 16), t, 0, op.data), now); // MsgId 0
        continue;
      }
      if (this.cur || !x) return;
      if (x === e) {
        if (e.f & 0x40 && !this.o.qos2) {
          this.done(e, "QoS 2");
          continue;
        }
        if (e.rec[0] === 2) return this.o.qos2!.release(this, e, now);
        if (t >= 0) {
          const f = e.f;
          e.f |= 0x80; // DUP on every later send (§6.13)
          return this.out(frame(0x0c, f | (t >> 16), t, e.msgId, e.data), now, 0x0d, e.msgId, e); // PUBACK ends it (QoS 2: PUBREC is the QoS 2 part's)
        }
      } else if (k >= 5 /* OP_DISC, OP_PART_LAST */) return this.out(frame(0x18, -1, op.qos), now, 0x18, 0, op);
      else if (op.part) return op.part.send!(this, op, now);
      const id = this.newId();
      // §6.5: REGISTER a topic name before its first PUBLISH (an outbox entry's or a QoS 0 one's).
      if (x === e || k === 1 /* OP_PUB0 */) return this.out(frame(0x0a, -1, 0, id, encodeUtf8New(x.topic)), now, 0x0b, id, x);
      // SUBSCRIBE / UNSUBSCRIBE (§5.4.15): by name, or by pre-defined id or short name (frame() keeps TopicId's 16 bits).
      const type = t < 0 ? 0 : t >> 16;
      return this.out(frame(2 * k + 0x0e /* SUBSCRIBE, UNSUBSCRIBE */, (op.qos << 5) | type, id, type ? t : -1, type ? undefined : encodeUtf8New(op.topic)), now, 2 * k + 0x0f /* SUBACK, UNSUBACK */, id, op);
    }
  }

  // -- internals ---------------------------------------------------------------------

  private newId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = (id % 0xffff) + 1; // 1-65535 (§5.3.6: not 0)
      if (!this.outbox.get(id)) return id;
    }
  }

  /** Topic `name` has normal topic id `id` (§6.5, §6.10), replacing what either had; `id` -1: `name` (a topic name or id) is forgotten with its counterpart (registered again when next used). */
  private register(id: number, name: string | number): void {
    const r = this.reg;
    this.forget(id);
    this.forget(name);
    // Bounded: the oldest goes (a PUBLISH to it is answered "invalid topic ID", §6.10, and the gateway registers it again).
    if (id >= 0) {
      if (r.size >= 2 * (this.o.maxTopics ?? 32)) this.forget(r.keys().next().value!);
      r.set(name, id).set(id, name);
    }
    this.o.registry?.save(this);
  }

  /** A topic name or id out of the registry, with its counterpart. */
  private forget(k: string | number): void {
    this.reg.delete(this.reg.get(k));
    this.reg.delete(k);
  }
}

/*
 * MqttSnClient (in this file with the session: the firmware always carries both, and a module of
 * its own costs some 300 B of XS bytecode; the session stays sans-IO, this class alone does IO):
 * the MqttSnSession bound to an ECMA-419 UDP socket (ECMA-419 §10 "UDP
 * socket"; the constructor is injected: `{socket: {io: UDP, port}}`), a KeyValueStore and
 * the scheduler. It owns one scheduler job, armed for the session's next deadline with its
 * window. After every call into the session it applies, in this order, the store
 * operations (so a QoS 1/2 message is in flash before it is on the air), the datagrams,
 * then the events. Broadcasts (SEARCHGW, a client's GWINFO; §6.1) go to `broadcast`
 * (a subnet broadcast or multicast address and port) when one is given.
 *
 * It extends the session rather than holding one (a client is its session, with IO): the
 * session's state, outbox, options and the members for the parts are the client's own, and
 * its requests (connect, disconnect, publish, subscribe, unsubscribe) take no time argument
 * here: the client reads the scheduler's clock and applies the output. Smaller on XS than a
 * `session` field (no forwarding getter for the state, no `this.session.` at every call, the
 * session's own queues read directly: 84 B). MqttSnSession itself stays sans-IO, tested alone.
 *
 * The session's parts (./session.ts) are options like any other; their requests go through
 * `run`: `client.run((s, now) => sleep.sleep(s, 300, now))`.
 */

export interface MqttSnClientOptions extends MqttSnSessionOptions {
  socket: { io: UdpConstructor; port?: number; address?: string; [extra: string]: unknown };
  scheduler: Scheduler;
  /** Where the outbox, topic registry and sleep state live (survives deep sleep); none: RAM only. */
  storage?: KeyValueStore;
  /** KeyValueStore namespace (default "mqttsn"). */
  namespace?: string;
  /** Where broadcasts go (§6.1). */
  broadcast?: { address: string; port: number };
  /** Every session event; an exception thrown here is reported as an "error" event's reason, never escapes. */
  onEvent?(event: SnEvent | { type: "error"; reason: string }): void;
}

export class MqttSnClient extends MqttSnSession {
  declare readonly socket: UdpSocket;
  declare readonly o: MqttSnClientOptions;
  declare readonly job: Job;
  /** flush() is running (an event handler's request is applied by the flush already running); close() was called. */
  declare busy?: boolean;
  declare closed?: boolean;
  /** The store's namespace. */
  declare readonly ns: string;

  constructor(o: MqttSnClientOptions) {
    if (typeof o?.socket?.io !== "function" || !o.scheduler) throw bad("socket.io, scheduler");
    super(o);
    const st = o.storage;
    const ns = (this.ns = o.namespace ?? "mqttsn");
    if (st) this.restore(st.keys(ns), st.get.bind(st, ns)); // get(key): the store's get in this namespace
    // ECMA-419: the socket takes the options it knows (port, address, ...) and ignores the others (io).
    this.socket = new o.socket.io({
      ...o.socket,
      onReadable: () => {
        // receive() never throws (a datagram it does not take is dropped, with an event).
        for (let p: any; (p = this.socket.read()); this.flush()) this.receive(new Uint8Array(p), p.address, p.port, this.now());
      },
      onError: (e?: Error) => {
        this.emit({ type: "error", reason: "socket: " + e?.message } as never);
        this.flush();
      },
    } as never);
    // The one job, made here once: the flush() below places it at the session's deadline with its
    // window, or cancels it (one schedule() call site, no job to test for in flush()). A liveness
    // job (which implies radio), as MQTT's: it only makes and keeps the connection, so the sleep
    // planner counts no obligation in it and may let the link go (asleep at the gateway, §6.14)
    // when the next real radio job is far; the sleep then lasts to that job (SleepPlan.radioAt).
    this.job = o.scheduler.schedule({ name: "mqttsn", deadline: 0, liveness: true, target: this, run: this.fire });
    this.flush();
  }

  override connect(): void {
    super.connect(this.now());
    this.flush();
  }

  override disconnect(): void {
    super.disconnect(this.now());
    this.flush();
  }

  /** Returns the MsgId of a QoS 1/2 message (0 for QoS −1/0); throws when refused (see MqttSnSession.publish). */
  override publish(topic: string, payload: Uint8Array | string, qos: SnQoS = 0, retain = false): number {
    const id = super.publish(topic, payload, qos, retain, this.now());
    this.flush();
    return id;
  }

  override subscribe(topic: string, qos: 0 | 1 | 2 = 0): void {
    super.subscribe(topic, qos, this.now());
    this.flush();
  }

  override unsubscribe(topic: string): void {
    super.unsubscribe(topic, this.now());
    this.flush();
  }

  close(): void {
    this.closed = true;
    this.job.cancel();
    this.socket.close();
  }

  /**
   * Calls `f` with the session (this client) and the time, then applies the session's output (also when `f`
   * throws: its exception is rethrown after). For the parts' requests, e.g.
   * `client.run((s, now) => sleep.wake(s, now))`. (The client's own requests need no such
   * care: a request the session refuses changes nothing.)
   */
  run<T>(f: (s: MqttSnSession, now: number) => T): T {
    try {
      return f(this, this.now());
    } finally {
      this.flush();
    }
  }

  /** @internal the scheduler job: the session's timers (never after close(): it cancels the job, and flush() keeps it cancelled). */
  fire(now: number): void {
    this.handleTimeout(now);
    this.flush();
  }

  private now(): number {
    if (this.closed) throw bad("closed");
    return this.o.scheduler.now();
  }

  /**
   * Applies the session's output: store operations before any datagram, then the events (one
   * at a time: an event handler's own requests are applied in turn); then the job is armed
   * for the session's next deadline. A store operation or a send that throws, or onEvent
   * throwing, is reported as an "error" event put first among the events still to come (one
   * thrown at an "error" event is not: no loop); the rest of the output is applied all the same.
   */
  private flush(): void {
    const o = this.o;
    if (this.busy) return;
    this.busy = true;
    for (let x: any, what: any; ; ) {
      try {
        if ((x = this.st.shift())) {
          what = "store: ";
          const st = o.storage;
          if (st) x.value ? st.set(this.ns, x.key, x.value) : st.delete(this.ns, x.key);
        } else if ((x = this.tx.shift())) {
          what = "send: ";
          const to = x.address ? x : o.broadcast;
          if (to && !this.closed) this.socket.write(x.data, to.address, to.port);
        } else if ((x = this.ev.shift())) {
          what = x.type !== "error" && "onEvent threw: ";
          o.onEvent?.(x);
        } else break;
      } catch (e) {
        if (what) this.ev.unshift({ type: "error", reason: what + (e as Error)?.message } as never);
      }
    }
    this.busy = false;
    const t = this.timeout();
    if (this.closed || !t) this.job.cancel();
    else this.job.reschedule(t.deadline, t);
  }
}

// -- the parts the app ships -------------------------------------------------------------
// The will, the pre-defined topic ids, the sleeping client and the registry store are parts
// (the session takes them as options; without them it connects with no will, registers every
// topic, does not sleep and keeps its topic ids only as long as the session object), but they
// live in this file, not a module each: the app's firmware carries all four (the registry
// store since 2bbf7e9), and a module of its own costs some 300 B of XS bytecode (its imports,
// exports and symbol table; measured: the five files apart 15,673 B, in one 14,504 B; the
// registry store apart 14,810 B, here 14,583 B). The other parts (discovery, QoS 2, QoS −1,
// short topic names, will updates, sleep updates) are modules of their own, which a firmware
// carries only when its app imports them.

/*
 * SnWill: the will of MQTT-SN 1.2 §6.2, a part the session is given
 * (`new MqttSnSession({ ..., will: new SnWill({ topic, payload, qos, retain }) })`): CONNECT
 * carries the Will flag, and the gateway's WILLTOPICREQ / WILLMSGREQ are answered with
 * WILLTOPIC / WILLMSG (Fig. 3). A session without it connects with no will (and drops a will
 * request). SnWillUpdates (./will-update.ts) adds changing it while connected (§6.4).
 */

export interface SnWillMessage {
  topic: string;
  payload: Uint8Array | string;
  qos?: 0 | 1 | 2;
  retain?: boolean;
}

export class SnWill {
  /** The will; undefined: none (the CONNECT has no Will flag; an update deletes it). */
  declare will: SnWillMessage | undefined;

  /** A will the session can send: a topic name (§6.10: no wildcard), QoS 0-2, a payload of bytes or text (UTF-8, §5.3.12: no lone surrogate, else WILLMSG could not be made); none: undefined. */
  constructor(w?: SnWillMessage) {
    if (w && (!isTopicName(w.topic) || !(typeof w.payload === "string" ? !/[\ud800-\udfff]/u.test(w.payload) : w.payload instanceof Uint8Array) || !((w.qos ?? 0) >= 0 && (w.qos ?? 0) <= 2))) throw bad("will");
    this.will = w;
  }

  /**
   * WILLTOPIC (0x07) or WILLTOPICUPD (0x1A): Flags (QoS, Retain) and the will topic, or only
   * the header when there is no will (§5.4.7: the empty form deletes it); WILLMSG (0x09) or
   * WILLMSGUPD (0x1C): the will payload.
   */
  message(type: number): Uint8Array {
    const w = this.will;
    if (!w) return frame(type);
    const m = type === 0x09 || type === 0x1c; // WILLMSG, WILLMSGUPD
    const p = m ? w.payload : w.topic;
    // (QoS undefined << 5 is 0.)
    return frame(type, m ? -1 : (w.qos! << 5) | (w.retain ? 0x10 : 0), -1, -1, typeof p === "string" ? encodeUtf8New(p) : p);
  }
}


/*
 * SnTopicIds: pre-defined topic ids (MQTT-SN 1.2 §6.7), a part the session
 * is given (`topics: new SnTopicIds({ "xs-iot/dev1/tele": 10 })`). The ids are the gateway's
 * (its configuration, e.g. `xs-iot gateway --predefined FILE`): a PUBLISH on such a topic
 * needs no REGISTER, a SUBSCRIBE goes by id, and with the QoS −1 part (./qos-minus1.ts) QoS −1
 * is possible (to the gateway known, connected or not). SnShortTopicIds (./short-topics.ts)
 * adds short topic names. A session without a topics part registers every topic (§6.5); a PUBLISH
 * from the gateway with a pre-defined or short id is then answered "rejected: invalid topic
 * ID" (§6.10).
 */

export class SnTopicIds {
  /** Name -> id and id -> name (a name is a string, an id a number: one Map holds both ways). */
  declare readonly ids: Map<string | number, any>;

  /** `predefined`: topic name -> id (1-65534, §5.3.11), as the gateway has them. */
  constructor(predefined: Record<string, number> = {}) {
    const m = (this.ids = new Map());
    Object.keys(predefined).forEach((name) => {
      const id = predefined[name];
      if (!(id > 0 && id < 0xffff && (id | 0) === id) || !name) throw bad("pre-defined id " + name);
      m.set(name, id).set(id, name);
    });
  }

  /** TopicIdType << 16 | TopicId for `name` (1: pre-defined, 2: short), or -1: registered as usual. */
  id(name: string): number {
    const p = this.ids.get(name);
    return p ? 0x10000 | p : -1; // an id is 1-65534
  }

  /** The topic of a TopicIdType (1 pre-defined, 2 short) and TopicId, or undefined: unknown. */
  name(type: number, id: number): string | undefined {
    return type === 1 ? this.ids.get(id) : undefined;
  }
}

/*
 * SnSleep: the sleeping client of MQTT-SN 1.2 §6.14, a part the session is given
 * (`new MqttSnSession({ ..., sleep: new SnSleep() })`):
 * - `sleep(session, seconds, now)`: DISCONNECT with a Duration once the queued requests and
 *   the outbox have gone; the gateway's DISCONNECT makes the session asleep (an "asleep"
 *   event). From asleep, a new Duration: SnSleepUpdates (./sleep-update.ts), outside the app's firmware.
 * - `wake(session, now)`: PINGREQ with the ClientId; the messages the gateway buffered arrive
 *   (every message but PINGRESP restarts Tretry), and PINGRESP makes it asleep again. When
 *   the PINGREQ retries are used up: "wake-failed", asleep.
 * - The state (asleep or not), the gateway, the next MsgId and the duration are kept in the
 *   store ("meta"), so a device back from deep sleep wakes without a new CONNECT. Pass the
 *   registry part (SnRegistryStore, below) too, so that the topic ids survive with it.
 * The durations are the app's (its sleep planner decides them). CONNECT from asleep returns
 * to active, with or without this part.
 */

export class SnSleep implements SnOpPart {
  /** The sleep duration in seconds (undefined, stored as 0, until the first sleep or a restore; a field initializer costs XS bytecode). */
  declare duration: number;

  /** §6.14: asleep for `seconds` (1-65535, §5.3.3) after the queue and the outbox (from asleep, a new duration: SnSleepUpdates, ./sleep-update.ts). */
  sleep(s: MqttSnSession, seconds: number, now: number): void {
    if (!(seconds > 0 && (seconds & 0xffff) === seconds)) throw bad("sleep: 1-65535 s"); // an integer: & keeps 16 bits of one
    if (s.state === 3 /* ACTIVE */) s.queue(6 /* OP_PART_LAST */, "", seconds, now, this);
    else throw bad("sleep: not connected");
  }

  /** §6.14: from asleep, PINGREQ with the ClientId; buffered messages arrive until PINGRESP. */
  wake(s: MqttSnSession, now: number): void {
    // (Asleep always has a gateway: reply() sets it after one's DISCONNECT, restore() with one.)
    if (s.state !== 4 /* ASLEEP */) throw bad("wake: not asleep");
    s.state = 5 /* AWAKE */;
    s.out(frame(0x16, -1, -1, -1, encodeUtf8New(s.clientId)), now, 0x17, 0, { k: 0, topic: "", qos: 0, part: this });
  }

  /** @internal the gateway's DISCONNECT (asleep), PINGRESP (asleep again), or no PINGRESP after Nretry (t -1). */
  reply(s: MqttSnSession, op: SnOp, t: number): void {
    s.state = 4 /* ASLEEP */;
    if (t === 0x18) {
      this.duration = op.qos;
      this.save(s);
    }
    s.emit(t < 0 ? { type: "wake-failed" } : { type: "asleep", duration: this.duration });
  }

  /**
   * @internal "meta": state, gwId, port, next MsgId, sleep duration, gateway address, as text
   * ("4,-1,1884,17,300,10.0.0.1"): one concatenation here and one split in restore() cost less
   * XS bytecode than octets written and read one by one (measured: -150 B).
   */
  save(s: MqttSnSession): void {
    const g = s.gw;
    if (g) s.st.push({ key: "meta", value: encodeUtf8New(s.state + "," + g.gwId + "," + g.port + "," + s.nextId + "," + this.duration + "," + g.address).buffer as ArrayBuffer });
  }

  /** @internal */
  restore(s: MqttSnSession, key: string, b: Uint8Array): boolean {
    if (key !== "meta") return false;
    // (`| 0`: a number, 0 for what is not one: a duration never set was stored as "undefined".)
    const v: any[] = decodeUtf8(b).split(","); // (ill-formed UTF-8 throws: restore() deletes the record)
    if (v.length !== 6) return false;
    s.gw = { address: v[5], port: v[2] | 0, gwId: v[1] | 0, seen: 0, failed: -1 };
    // With the discovery part: attached again, its table takes this gateway (as the session's
    // constructor did with the one of the options; the configured ones are already there).
    s.o.discovery?.attach(s);
    s.nextId = v[3] | 0 || 1;
    this.duration = v[4] | 0;
    if (v[0] === "4" /* ASLEEP */) s.state = 4 /* ASLEEP */;
    return true;
  }
}

/*
 * SnRegistryStore: the topic registry (MQTT-SN 1.2 §6.5, §6.10: the normal topic ids of a
 * gateway and a session) kept in the store, a part the session is given
 * (`registry: new SnRegistryStore()`), so that a device back from deep sleep or a reboot
 * publishes on the ids it had (cleanSession false) and reads the PUBLISHes a gateway buffered
 * for a sleeping client (§6.14). Without it, ids last as long as the session object, and a
 * rebooted device registers its topics again.
 *
 * Record "reg": the gateway's "address:port" (1 octet of length, ASCII), then per topic its
 * id (2 octets), the name's length (1) and the name (UTF-8); at most 4000 octets (names over
 * 255 octets or past the limit are not kept: they are registered again when needed).
 */
export class SnRegistryStore {
  /** @internal the registry changed. */
  save(s: MqttSnSession): void {
    // Two passes over the registry, the same topics kept by each: the first measures, the second
    // writes into one Uint8Array of the record's exact length. (Built as an array of numbers, the
    // record took an XS slot an octet, 16 B on the ESP32 and 32 B on lin, and each step of the
    // array's growth asked for a third more and copied: chunks of up to 20,112 B on lin for the
    // app's ~500-octet record, at every REGACK; docs/moddable.md, "Readings waiting", fault 3.)
    const head = 1 + s.regOf.length;
    let out: Uint8Array | undefined;
    let n = head;
    const put = (id: any, name: any) => {
      if (typeof name !== "string") return;
      const len = utf8Length(name);
      if (len > 255 || n + 3 + len > 4000) return;
      if (out) {
        out[n] = id >> 8;
        out[n + 1] = id & 0xff;
        out[n + 2] = len;
        encodeUtf8(name, out, n + 3);
      }
      n += 3 + len;
    };
    s.reg.forEach(put);
    const rec = (out = new Uint8Array(n));
    rec[0] = s.regOf.length;
    for (let i = 0; i < s.regOf.length; i++) rec[1 + i] = s.regOf.charCodeAt(i);
    n = head;
    s.reg.forEach(put);
    s.st.push({ key: "reg", value: rec.buffer });
  }

  /** @internal */
  restore(s: MqttSnSession, key: string, b: Uint8Array): boolean {
    if (key !== "reg" || b.length <= b[0]) return false;
    s.regOf = String.fromCharCode.apply(null, b.subarray(1, 1 + b[0]) as unknown as number[]);
    for (let i = 1 + b[0]; i + 3 <= b.length; i += 3 + b[i + 2]) {
      let name: string;
      try {
        name = decodeUtf8(b, i + 3, i + 3 + b[i + 2]);
      } catch {
        break;
      }
      const id = (b[i] << 8) | b[i + 1];
      s.reg.set(name, id).set(id, name);
    }
    return true;
  }
}

/*
 * The MQTT-SN outbox (in this file: it is part of every session, and a module of its own costs
 * some 300 B of XS bytecode): outbound QoS 1 and 2 messages until their exchange ends (PUBACK, or
 * PUBREC-PUBREL-PUBCOMP), kept in the store so that they survive deep sleep and reboot
 * (ARCHITECTURE.md principle 5). MqttSnOutbox holds them and their bounds; the session writes
 * and reads the records (publish(), load(), done(): each called from one place, so folded into
 * the session rather than methods of their own, which cost XS bytecode). Sans-IO: the session
 * never writes flash itself, it pushes store operations onto its queue, which the binding applies
 * (in order, before any datagram of the same step goes out, so a message is stored before it is sent).
 *
 * Records (namespace chosen by the binding, default "mqttsn"):
 *   o<MsgId>   state (1: PUBLISH awaiting PUBACK/PUBREC, 2: PUBREL awaiting PUBCOMP),
 *              QoS | Retain << 2, sequence number (4 octets), topic length (2), topic
 *              (UTF-8), payload (state 1 only). One set() per step: atomic.
 * The topic is kept by name, not id: ids belong to a gateway and a session (§6.5). An entry
 * keeps its record; publish() writes it and load() reads it, also for publish(). State 2 is written by the QoS 2
 * part (./qos2.ts, its only user; the firmware without it does not carry that code).
 *
 * Bounded by `maxMessages` and `maxBytes` (topic + payload octets). Policy when full:
 * publish() throws (RangeError) and the caller keeps its message; nothing held is ever dropped to make room.
 * Messages leave in the order they came (§6.6: one QoS 1/2 exchange at a time).
 */
/** A store operation: set `key` to `value`, or delete it when there is no `value`. */
export interface StoreOp {
  key: string;
  value?: ArrayBuffer;
}

export interface OutboxEntry {
  msgId: number;
  /** The record as stored (see above). */
  rec: Uint8Array;
  seq: number;
  /**
   * Its PUBLISH Flags (§5.3.4): QoS 1 (0x20) or 2 (0x40), Retain (0x10), and DUP (0x80) once
   * sent (after a reboot: assumed sent). Its state (1: PUBLISH, 2: PUBREL) is the record's first octet.
   */
  f: number;
  topic: string;
  /** The payload (a view of the record); empty once the PUBREC came (state 2). */
  data: Uint8Array;
  /** Times the topic was registered again after "invalid topic ID" (§6.6). */
  rereg: number;
}

/**
 * The outbox: a plain object the session makes (a class of its own, with a constructor and
 * methods, costs more XS bytecode: measured 51 B).
 */
export interface MqttSnOutbox {
  readonly maxMessages: number;
  readonly maxBytes: number;
  /** Topic and payload octets held. */
  bytes: number;
  /** Oldest first. */
  readonly list: OutboxEntry[];
  /** The last sequence number given (the records' order). */
  seq: number;
  readonly count: number;
  get(msgId: number): OutboxEntry | undefined;
}
