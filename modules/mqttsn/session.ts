/*
 * MqttSnSession: the MQTT-SN 1.2 client (sans-IO). It never touches a socket, a timer or
 * flash. In: datagrams and time (`receive(bytes, address, port, now)`, `handleTimeout(now)`)
 * and the app's requests (connect, publish, subscribe, sleep, ...). Out, polled by the
 * binding (./client.ts) after every call: datagrams to send (`pollTransmit`), events for
 * the app (`pollEvent`), operations for its store (`pollStore`), and the next deadline with
 * its window (`timeout`).
 *
 * What it implements, by section of MQTT-SN 1.2:
 * - §6.1 discovery: SEARCHGW after a random delay (cancelled by another client's identical
 *   SEARCHGW), repeated with exponentially growing intervals; GWINFO from gateways and from
 *   clients (GwAdd: IPv4 + port, 6 octets); a client's own GWINFO answer after a random delay,
 *   cancelled by any GWINFO heard; ADVERTISE tracking, a gateway that misses `advertiseMisses`
 *   advertisements is dropped from the table.
 * - §6.2-6.4 CONNECT with the will dialogue, clean session and resumption; WILLTOPICUPD /
 *   WILLMSGUPD.
 * - §6.5, §6.7, §6.10 topics: REGISTER / REGACK both ways, pre-defined topic ids, short
 *   topic names (every two-octet name); a normal id rejected by PUBACK is registered again.
 *   The registry is kept in the store, so it survives deep sleep.
 * - §6.6, §6.8 PUBLISH at QoS −1, 0, 1, 2 both ways; QoS 1/2 outbound kept in the store
 *   (bounded; when full, publish() throws and nothing is dropped), one at a time (§6.6).
 * - §6.9 SUBSCRIBE / UNSUBSCRIBE by name (wildcards), pre-defined id or short name; one
 *   transaction open at a time (§6.5, §6.9), resubscribed after a clean (re)connection.
 * - §6.11 keep-alive; §6.12 an unsolicited DISCONNECT is answered by a new CONNECT;
 *   §6.13 Tretry / Nretry on everything that expects a reply, then failover to another
 *   gateway, the former one last; "rejected: congestion" waits TWAIT.
 * - §6.14 sleeping client: DISCONNECT with a duration, asleep, awake with PINGREQ carrying
 *   the ClientId, messages received until PINGRESP, back to asleep.
 */
import { decodeUtf8, encodeUtf8New } from "../bytes/utf8";
import { MqttSnCodecError, decode, encode, shortTopicId, shortTopicName, type MqttSnMessage } from "./codec";
import { msgTypeName, type SnQoS } from "./constants";
import { MqttSnOutbox, type OutboxEntry, type StoreOp } from "./outbox";

export type { StoreOp } from "./outbox";

export interface SnWill {
  topic: string;
  payload: Uint8Array | string;
  qos?: 0 | 1 | 2;
  retain?: boolean;
}

export interface SnGatewayAddress {
  address: string;
  port: number;
  gwId?: number;
}

export interface MqttSnSessionOptions {
  /** §5.3.1: 1-23 characters. */
  clientId: string;
  /** Keep Alive in seconds (§5.4.4 Duration); 0 = none. Default 60. */
  keepAlive?: number;
  /** Default true. */
  cleanSession?: boolean;
  will?: SnWill;
  /** Gateways known in advance (tried in this order before any search). */
  gateways?: SnGatewayAddress[];
  /** §6.7: topic name -> pre-defined topic id, as the gateway has them. */
  predefined?: Record<string, number>;
  /** §6.13 Tretry in ms (default 10,000; §7.2 recommends 10-15 s). */
  retryMs?: number;
  /** §6.13 Nretry (default 4; §7.2: 3-5). */
  maxRetries?: number;
  /** TWAIT in ms after "rejected: congestion" (default 300,000; §7.2: more than 5 minutes). */
  waitMs?: number;
  /** TSEARCHGW in ms: the random delay before a SEARCHGW (default 5,000, §7.2). */
  searchDelayMs?: number;
  /** TGWINFO in ms: the random delay before a client's GWINFO (default 5,000, §7.2). */
  gwInfoDelayMs?: number;
  /** SEARCHGW radius (default 1, §6.1). */
  radius?: number;
  /** NADV: advertisements missed before a gateway is dropped (default 3; §7.2: 2-3). */
  advertiseMisses?: number;
  /** Most normal topic ids kept (default 32); the oldest goes first. */
  maxTopics?: number;
  /** Outbox bounds: QoS 1/2 messages (default 16) and bytes of topic + payload (default 8192). */
  maxMessages?: number;
  maxBytes?: number;
  /** Requests queued (QoS 0 messages waiting for their topic's registration, subscriptions, ...; default 16). */
  maxQueued?: number;
  /** Random numbers in [0, 1) for the discovery delays (default Math.random). */
  random?: () => number;
}

/** A datagram to send: to `address`:`port`, or broadcast with `radius` when `address` is undefined (§6.1). */
export interface SnDatagram {
  data: Uint8Array;
  address: string | undefined;
  port: number;
  radius: number;
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
  | { type: "will-updated"; returnCode: number }
  | { type: "dropped"; reason: string };

/** Session states. */
export const DISCONNECTED = 0;
export const SEARCHING = 1;
export const CONNECTING = 2;
export const ACTIVE = 3;
export const ASLEEP = 4;
export const AWAKE = 5;

interface Gateway {
  gwId: number;
  address: string;
  port: number;
  /** ADVERTISE Duration in ms (0: never advertised). */
  adv: number;
  /** When last heard from (ms). */
  seen: number;
  /** When a connection to it last failed (ms), -1 never. */
  failed: number;
}

// Queued requests (Op.k).
const OP_PUB0 = 1;
const OP_SUB = 2;
const OP_UNSUB = 3;
const OP_WILLTOPIC = 4;
const OP_WILLMSG = 5;
const OP_SLEEP = 6;
const OP_DISC = 7;

interface Op {
  k: number;
  topic: string;
  qos: number;
  data: Uint8Array | undefined;
  retain: boolean;
}

/** The one exchange awaiting the gateway's reply (§6.5, §6.6, §6.9: one at a time). */
interface Exchange {
  bytes: Uint8Array;
  /** The MsgType that ends it. */
  expect: number;
  msgId: number;
  tries: number;
  at: number;
  /** What it is for: an Op, an outbox entry, a topic being registered, or nothing (CONNECT, PINGREQ). */
  op: Op | undefined;
  entry: OutboxEntry | undefined;
  topic: string | undefined;
}

function bad(what: string): TypeError {
  return new TypeError("mqttsn: " + what);
}

export class MqttSnSession {
  state = DISCONNECTED;
  readonly clientId: string;
  readonly outbox: MqttSnOutbox;
  #o: MqttSnSessionOptions;
  #keepMs: number;
  #retryMs: number;
  #maxRetries: number;
  #waitMs: number;
  #random: () => number;
  #will: SnWill | undefined;
  #pre = new Map<string, number>();
  #preById = new Map<number, string>();
  /** Normal topic ids, both ways (§6.5, §6.10). */
  #ids = new Map<string, number>();
  #names = new Map<number, string>();
  /** The app's subscriptions: filter -> requested QoS (sent again after a clean connection). */
  #subs = new Map<string, number>();
  #gws: Gateway[] = [];
  #gw: Gateway | undefined = undefined;
  /** The gateway ("address:port") the registry and the inbound QoS 2 ids belong to. */
  #regOf = "";
  #ops: Op[] = [];
  #cur: Exchange | undefined = undefined;
  #tx: SnDatagram[] = [];
  #ev: SnEvent[] = [];
  #st: StoreOp[] = [];
  #nextId = 1;
  #lastSent = 0;
  /** TWAIT after "rejected: congestion" ends here (0: no wait). */
  #waitUntil = 0;
  #sleepS = 0;
  /** CONNECTs answered with DISCONNECT in a row. */
  #refusals = 0;
  #searchAt = Infinity;
  #searchGap = 0;
  #gwInfoAt = Infinity;
  #gwInfoRadius = 0;
  /** Inbound QoS 2 MsgIds: PUBREC sent, PUBREL not yet received. */
  #inq: number[] = [];

  constructor(options: MqttSnSessionOptions) {
    const o = options;
    if (!o || typeof o.clientId !== "string" || !o.clientId || o.clientId.length > 23) throw bad("clientId must be 1-23 characters (§5.3.1)");
    this.#o = o;
    this.clientId = o.clientId;
    this.#keepMs = (o.keepAlive ?? 60) * 1000;
    this.#retryMs = o.retryMs ?? 10000;
    this.#maxRetries = o.maxRetries ?? 4;
    this.#waitMs = o.waitMs ?? 300000;
    this.#random = o.random ?? Math.random;
    if (!(this.#keepMs >= 0 && this.#keepMs <= 65535000) || !(this.#retryMs > 0) || !(this.#maxRetries >= 0)) throw bad("bad keepAlive, retryMs or maxRetries");
    if (o.will) checkWill(o.will);
    this.#will = o.will;
    for (const name in o.predefined ?? {}) {
      const id = o.predefined![name];
      if (!(id > 0 && id < 0xffff && (id | 0) === id)) throw bad("pre-defined id of " + name + " must be 1-65534 (§5.3.11)");
      this.#pre.set(name, id);
      this.#preById.set(id, name);
    }
    for (const g of o.gateways ?? []) this.#addGateway(g.gwId ?? -1, g.address, g.port, 0, 0, false);
    this.outbox = new MqttSnOutbox(this.#st, o.maxMessages ?? 16, o.maxBytes ?? 8192);
  }

  // -- the app's requests ---------------------------------------------------------------

  /** Connects to the current gateway, else the best known one, else searches (§6.1, §6.2). */
  connect(now: number): void {
    if (this.state === CONNECTING || this.state === ACTIVE) return;
    const g = this.#gw ?? this.#best();
    if (g) this.#connectTo(g, now);
    else this.search(now);
  }

  /** §6.1: SEARCHGW after a random delay in [0, TSEARCHGW), then at growing intervals until a gateway answers. */
  search(now: number): void {
    this.state = SEARCHING;
    this.#cur = undefined;
    this.#searchGap = this.#o.searchDelayMs ?? 5000;
    this.#searchAt = now + Math.floor(this.#random() * this.#searchGap);
  }

  /** §6.12: DISCONNECT, once the queued requests and the outbox have gone. */
  disconnect(now: number): void {
    if (this.state === ACTIVE) this.#queue(OP_DISC, "", 0, undefined, false, now);
    else this.#down("disconnect");
  }

  /** §6.14: sleep for `seconds` (DISCONNECT with a Duration), once the requests and the outbox have gone; from asleep, a new duration. */
  sleep(seconds: number, now: number): void {
    if (!(seconds > 0 && seconds <= 0xffff && (seconds | 0) === seconds)) throw bad("sleep duration must be 1-65535 s (§5.3.3)");
    const op: Op = { k: OP_SLEEP, topic: "", qos: seconds, data: undefined, retain: false };
    if (this.state === ACTIVE) {
      this.#ops.push(op);
      this.#pump(now);
    } else if (this.state === ASLEEP && this.#gw) this.#send({ type: 0x18, duration: seconds }, 0x18, 0, now, op, undefined, undefined);
    else throw bad("sleep needs a connection");
  }

  /** §6.14: from asleep, PINGREQ with the ClientId; buffered messages arrive until PINGRESP. */
  wake(now: number): void {
    if (this.state !== ASLEEP || !this.#gw) throw bad("wake needs the asleep state");
    this.state = AWAKE;
    this.#send({ type: 0x16, clientId: this.clientId }, 0x17, 0, now, undefined, undefined, undefined);
  }

  /**
   * Publishes. QoS −1 (§6.8) goes at once to the gateway, connected or not, on a pre-defined
   * or short topic; QoS 0 needs a connection; QoS 1 and 2 go to the outbox, then to the
   * gateway when connected. Returns the MsgId of a QoS 1/2 message (its "published" or
   * "publish-failed" event names it), else 0. Throws when the topic, payload or state does
   * not allow it, or the outbox is full (the caller keeps its message).
   */
  publish(topic: string, payload: Uint8Array | string, qos: SnQoS, retain: boolean, now: number): number {
    if (typeof topic !== "string" || !topic || /[+#\u0000]/.test(topic)) throw bad("topic name must be non-empty, without wildcards or U+0000");
    const data = typeof payload === "string" ? encodeUtf8New(payload) : payload;
    if (!(data instanceof Uint8Array)) throw bad("payload must be a Uint8Array or a string");
    const t = this.#topic(topic);
    if (qos === -1) {
      const g = this.#gw ?? this.#gws[0];
      if (t < 0x10000) throw bad("QoS -1 needs a pre-defined or short topic (§6.8)");
      if (!g) throw bad("QoS -1 needs a known gateway (§6.8)");
      this.#out(this.#publishMessage(t, -1, retain, false, 0, data), g, now);
      return 0;
    }
    if (qos === 0) {
      if (this.state !== ACTIVE) throw bad("QoS 0 needs a connection");
      if (t >= 0 && !this.#ops.length) this.#out(this.#publishMessage(t, 0, retain, false, 0, data), this.#gw!, now);
      else this.#queue(OP_PUB0, topic, 0, data.slice(), retain, now);
      return 0;
    }
    if (qos !== 1 && qos !== 2) throw bad("QoS must be -1, 0, 1 or 2");
    const e = this.outbox.add(topic, data, qos, retain, this.#newId());
    this.#pump(now);
    return e.msgId;
  }

  /** §6.9: subscribes to a topic filter, a pre-defined topic (by its name) or a short topic name. */
  subscribe(topic: string, qos: 0 | 1 | 2, now: number): void {
    if (typeof topic !== "string" || !topic || !(qos === 0 || qos === 1 || qos === 2)) throw bad("subscribe: a topic and QoS 0-2");
    this.#subs.set(topic, qos);
    if (this.state === ACTIVE) this.#queue(OP_SUB, topic, qos, undefined, false, now);
  }

  unsubscribe(topic: string, now: number): void {
    this.#subs.delete(topic);
    if (this.state === ACTIVE) this.#queue(OP_UNSUB, topic, 0, undefined, false, now);
  }

  /** §6.4: WILLTOPICUPD and WILLMSGUPD; no will: the empty WILLTOPICUPD, which deletes it. */
  updateWill(will: SnWill | undefined, now: number): void {
    if (will) checkWill(will);
    this.#will = will;
    if (this.state !== ACTIVE) return;
    this.#queue(OP_WILLTOPIC, "", 0, undefined, false, now);
    if (will) this.#queue(OP_WILLMSG, "", 0, undefined, false, now);
  }

  /** The gateway in use (or restored from the store), if any. */
  get gateway(): SnGatewayAddress | undefined {
    const g = this.#gw;
    return g ? { address: g.address, port: g.port, gwId: g.gwId } : undefined;
  }

  // -- input -------------------------------------------------------------------------

  /** A datagram from `address`:`port`. Malformed or unexpected ones are dropped, with a "dropped" event. */
  receive(bytes: Uint8Array, address: string, port: number, now: number): void {
    const m: any = decode(bytes);
    if (m instanceof MqttSnCodecError) return this.#drop(m.message);
    const t: number = m.type;
    if (t === 0x00 || t === 0x02) {
      // §6.1: ADVERTISE and GWINFO fill the gateway table.
      let a = address;
      let p = port;
      if (t === 0x02) {
        this.#gwInfoAt = Infinity; // §6.1: any GWINFO heard cancels ours
        const ga: Uint8Array | undefined = m.gwAdd;
        if (ga) {
          if (ga.length !== 6) return this.#drop("GWINFO with a GwAdd that is not IPv4 + port");
          a = ga[0] + "." + ga[1] + "." + ga[2] + "." + ga[3];
          p = (ga[4] << 8) | ga[5];
        }
      }
      const g = this.#addGateway(m.gwId, a, p, t === 0x00 ? m.duration * 1000 : -1, now, true);
      if (this.state === SEARCHING) this.#connectTo(g, now);
      return;
    }
    if (t === 0x01) {
      // §6.1: another client's identical SEARCHGW stands for ours; a client that knows a gateway answers for it.
      if (this.state === SEARCHING && this.#searchAt > now && m.radius === (this.#o.radius ?? 1)) this.#searchAt = now + this.#searchGap;
      const g = this.#gw ?? this.#gws[0];
      if (g && g.gwId >= 0 && this.#gwInfoAt === Infinity && this.state !== SEARCHING) {
        this.#gwInfoAt = now + Math.floor(this.#random() * (this.#o.gwInfoDelayMs ?? 5000));
        this.#gwInfoRadius = m.radius;
      }
      return;
    }
    const g = this.#gw;
    // A gateway heard from an unspecified source (0.0.0.0: a multicast GWINFO on loopback) answers from its real one.
    if (g && g.address === "0.0.0.0" && g.port === port) g.address = address;
    if (!g || g.address !== address || g.port !== port) return this.#drop("not from the gateway");
    g.seen = now;
    const c = this.#cur;
    const s = this.state;
    if (s === AWAKE && c && t !== 0x17) {
      // §6.14: every message but PINGRESP restarts Tretry while awake.
      c.at = now;
      c.tries = 0;
    }
    switch (t) {
      case 0x06: // WILLTOPICREQ (§6.2)
      case 0x08: // WILLMSGREQ
        if (s !== CONNECTING || !c) return this.#drop("will request while not connecting");
        c.bytes = encode(t === 0x06 ? this.#willTopicMessage(0x07) : { type: 0x09, willMsg: this.#willData() });
        c.tries = 0;
        c.at = now;
        return this.#out(c.bytes, g, now);
      case 0x05: // CONNACK
        if (s !== CONNECTING || !c) return this.#drop("CONNACK while not connecting");
        this.#cur = undefined;
        return this.#connack(m.returnCode, now);
      case 0x0a: // REGISTER from the gateway (§6.10)
        if (s !== ACTIVE && s !== AWAKE) return this.#drop("REGISTER while not connected");
        this.#register(m.topicId, m.topicName);
        return this.#out(encode({ type: 0x0b, topicId: m.topicId, msgId: m.msgId, returnCode: 0 }), g, now);
      case 0x0c:
        if (s !== ACTIVE && s !== AWAKE) return this.#drop("PUBLISH while not connected");
        return this.#onPublish(m, g, now);
      case 0x10: {
        // PUBREL: the inbound QoS 2 message is released.
        const i = this.#inq.indexOf(m.msgId);
        if (i >= 0) {
          this.#inq.splice(i, 1);
          this.#saveInbound();
        }
        return this.#out(encode({ type: 0x0e, msgId: m.msgId }), g, now);
      }
      case 0x16: // §6.11: PINGREQ from the gateway
        return this.#out(encode({ type: 0x17 }), g, now);
      case 0x18:
        if (c && c.expect === 0x18) return this.#disconnected(c);
        this.#cur = undefined;
        this.#ev.push({ type: "disconnected", reason: "DISCONNECT from the gateway" });
        // §6.12: an unsolicited DISCONNECT: while connected, connect again.
        if (s === ACTIVE) this.#connectTo(g, now);
        else if (s === CONNECTING) this.#refused(g, now); // a refusal of our CONNECT: paced, never a tight loop
        else this.#down("");
        return;
    }
    if (!c || !(c.expect === t || (t === 0x0d && c.expect === 0x0f)) || (m.msgId ?? c.msgId) !== c.msgId) {
      if (t === 0x0d && !m.msgId) return this.#qos0Rejected(m);
      if (t === 0x0f) {
        // A PUBREC again: our PUBREL was lost; PUBREL again.
        const e = this.outbox.get(m.msgId);
        if (e && e.state === 2) return this.#out(encode({ type: 0x10, msgId: e.msgId }), g, now);
      }
      return this.#drop("unexpected " + msgTypeName(t));
    }
    this.#reply(c, m, now);
  }

  /** Runs what is due at `now`: retransmissions, keep-alive, discovery, advertisement checks. */
  handleTimeout(now: number): void {
    const c = this.#cur;
    if (c && now >= c.at + this.#retryMs) {
      if (c.tries >= this.#maxRetries) this.#gaveUp(c, now);
      else {
        // §6.13: retransmit; DUP on a PUBLISH or SUBSCRIBE (§5.3.4; the Flags follow the header).
        c.tries++;
        const h = c.bytes[0] === 1 ? 3 : 1;
        if (c.bytes[h] === 0x0c || c.bytes[h] === 0x12) c.bytes[h + 1] |= 0x80;
        c.at = now;
        this.#out(c.bytes, this.#gw!, now);
      }
    }
    if (this.#waitUntil && now >= this.#waitUntil) {
      this.#waitUntil = 0;
      if (this.state === CONNECTING && !this.#cur) this.#connectTo(this.#gw!, now);
    }
    if (this.state === ACTIVE && !this.#cur) {
      this.#pump(now);
      // §6.11: PINGREQ when nothing else went out for (half) the keep-alive period.
      if (this.#keepMs && !this.#cur && now >= this.#lastSent + this.#keepMs / 2) this.#send({ type: 0x16, clientId: undefined }, 0x17, 0, now, undefined, undefined, undefined);
    }
    if (now >= this.#searchAt) {
      // §6.1: SEARCHGW, again at exponentially growing intervals.
      const r = this.#o.radius ?? 1;
      this.#tx.push({ data: encode({ type: 0x01, radius: r }), address: undefined, port: 0, radius: r });
      this.#searchAt = now + this.#searchGap;
      this.#searchGap = Math.min(this.#searchGap * 2, this.#waitMs);
    }
    if (now >= this.#gwInfoAt) {
      this.#gwInfoAt = Infinity;
      const g = this.#gw ?? this.#gws[0];
      if (g) {
        const a = g.address.split(".");
        const add = new Uint8Array([+a[0], +a[1], +a[2], +a[3], g.port >> 8, g.port & 0xff]);
        this.#tx.push({ data: encode({ type: 0x02, gwId: g.gwId, gwAdd: add }), address: undefined, port: 0, radius: this.#gwInfoRadius });
      }
    }
    // §6.1: a gateway silent for NADV advertisement periods is gone.
    const misses = (this.#o.advertiseMisses ?? 3) + 0.5;
    for (let i = this.#gws.length - 1; i >= 0; i--) {
      const g = this.#gws[i];
      if (g.adv > 0 && now >= g.seen + g.adv * misses) {
        this.#gws.splice(i, 1);
        this.#ev.push({ type: "gateway-lost", gwId: g.gwId, address: g.address, port: g.port });
        if (g === this.#gw && (this.state === ACTIVE || this.state === CONNECTING)) this.#lost(now);
      }
    }
  }

  // -- output ------------------------------------------------------------------------

  pollTransmit(): SnDatagram | undefined {
    return this.#tx.shift();
  }

  pollEvent(): SnEvent | undefined {
    return this.#ev.shift();
  }

  pollStore(): StoreOp | undefined {
    return this.#st.shift();
  }

  /**
   * The next deadline and its window, or undefined when nothing is due. The keep-alive may
   * run from half the period on (earliest) and must by the whole period (latest = deadline);
   * everything else is due at its deadline.
   */
  timeout(): { deadline: number; earliest: number; latest: number } | undefined {
    let d = Infinity;
    let e = Infinity;
    const c = this.#cur;
    if (c) d = c.at + this.#retryMs;
    else if (this.state === ACTIVE && this.#keepMs) {
      d = this.#lastSent + this.#keepMs;
      e = this.#lastSent + this.#keepMs / 2;
    }
    if (this.#waitUntil && this.#waitUntil < d) d = this.#waitUntil;
    if (this.#searchAt < d) d = this.#searchAt;
    if (this.#gwInfoAt < d) d = this.#gwInfoAt;
    const misses = (this.#o.advertiseMisses ?? 3) + 0.5;
    for (const g of this.#gws) if (g.adv > 0 && g.seen + g.adv * misses < d) d = g.seen + g.adv * misses;
    return d === Infinity ? undefined : { deadline: d, earliest: e < d ? e : d, latest: d };
  }

  // -- persistence -------------------------------------------------------------------

  /**
   * Restores what the store kept (every key and value of the session's namespace), before
   * any other call: the outbox, the inbound QoS 2 ids, the topic registry and, after a deep
   * sleep, the asleep state and its gateway (§6.14). A record that does not parse is deleted.
   */
  restore(records: [string, unknown][]): void {
    for (const [key, value] of records) {
      const b = value instanceof ArrayBuffer ? new Uint8Array(value) : undefined;
      if (b && key === "meta" && b.length > 8) {
        // state, gwId, port (2), next MsgId (2), sleep duration (2), address (ASCII)
        this.#gw = this.#addGateway(b[1] === 255 ? -1 : b[1], ascii(b, 8, b.length), (b[2] << 8) | b[3], -1, 0, false);
        this.#nextId = ((b[4] << 8) | b[5]) || 1;
        this.#sleepS = (b[6] << 8) | b[7];
        if (b[0] === ASLEEP) this.state = ASLEEP;
      } else if (b && key === "reg" && b.length >= 1 && b.length > b[0]) {
        // the gateway's "address:port" (length-prefixed), then id (2) + length (1) + UTF-8 name per topic
        this.#regOf = ascii(b, 1, 1 + b[0]);
        for (let i = 1 + b[0]; i + 3 <= b.length; i += 3 + b[i + 2]) {
          try {
            this.#register((b[i] << 8) | b[i + 1], decodeUtf8(b, i + 3, i + 3 + b[i + 2]), true);
          } catch {
            break;
          }
        }
      } else if (b && key === "in") {
        for (let i = 0; i + 1 < b.length; i += 2) this.#inq.push((b[i] << 8) | b[i + 1]);
      } else if (!(b && key.charCodeAt(0) === 0x6f /* o */ && this.outbox.load(key, b))) this.#st.push({ key, value: undefined });
    }
    this.outbox.sort();
  }

  // -- internals ---------------------------------------------------------------------

  #willTopicMessage(type: 0x07 | 0x1a): MqttSnMessage {
    const w = this.#will;
    return { type, dup: false, qos: w?.qos ?? 0, retain: !!w?.retain, will: false, cleanSession: false, topicIdType: 0, willTopic: w ? w.topic : "" };
  }

  #willData(): Uint8Array {
    const p = this.#will?.payload ?? "";
    return typeof p === "string" ? encodeUtf8New(p) : p;
  }

  #drop(reason: string): void {
    this.#ev.push({ type: "dropped", reason });
  }

  #newId(): number {
    for (;;) {
      const id = this.#nextId;
      this.#nextId = id >= 0xffff ? 1 : id + 1;
      if (!this.outbox.get(id)) return id;
    }
  }

  /** TopicIdType << 16 | TopicId of a topic we can publish on now (0 normal, 1 pre-defined, 2 short; §6.7), or −1. */
  #topic(name: string): number {
    const p = this.#pre.get(name);
    if (p !== undefined) return 0x10000 | p;
    const s = shortTopicId(name);
    if (s >= 0) return 0x20000 | s;
    return this.#ids.get(name) ?? -1;
  }

  #publishMessage(t: number, qos: SnQoS, retain: boolean, dup: boolean, msgId: number, data: Uint8Array): Uint8Array {
    return encode({ type: 0x0c, dup, qos, retain, will: false, cleanSession: false, topicIdType: (t >> 16) as 0, topicId: t & 0xffff, msgId, data });
  }

  #addGateway(gwId: number, address: string, port: number, adv: number, now: number, announce: boolean): Gateway {
    let g = this.#gws.find((x) => x.address === address && x.port === port);
    if (!g) {
      g = { gwId, address, port, adv: 0, seen: now, failed: -1 };
      if (this.#gws.length >= 8) this.#gws.splice(this.#gws.findIndex((x) => x !== this.#gw), 1);
      this.#gws.push(g);
      if (announce) this.#ev.push({ type: "gateway", gwId, address, port });
    }
    if (gwId >= 0) g.gwId = gwId;
    if (adv >= 0) g.adv = adv;
    g.seen = now;
    return g;
  }

  /** §6.13: a gateway that never failed, else the one that failed longest ago; the former one comes last. */
  #best(): Gateway | undefined {
    let best: Gateway | undefined;
    for (const g of this.#gws) if (!best || g.failed < best.failed) best = g;
    return best;
  }

  #queue(k: number, topic: string, qos: number, data: Uint8Array | undefined, retain: boolean, now: number): void {
    if (this.#ops.length >= (this.#o.maxQueued ?? 16)) throw bad("too many requests queued");
    this.#ops.push({ k, topic, qos, data, retain });
    this.#pump(now);
  }

  #out(bytes: Uint8Array, g: { address: string; port: number }, now: number): void {
    this.#tx.push({ data: bytes, address: g.address, port: g.port, radius: 0 });
    this.#lastSent = now;
  }

  /** Sends `m` as the one open exchange, ended by `expect` (with `msgId` when not 0). */
  #send(m: MqttSnMessage, expect: number, msgId: number, now: number, op: Op | undefined, entry: OutboxEntry | undefined, topic: string | undefined): void {
    this.#sendBytes(encode(m), expect, msgId, now, op, entry, topic);
  }

  #sendBytes(bytes: Uint8Array, expect: number, msgId: number, now: number, op: Op | undefined, entry: OutboxEntry | undefined, topic: string | undefined): void {
    this.#cur = { bytes, expect, msgId, tries: 0, at: now, op, entry, topic };
    this.#out(bytes, this.#gw!, now);
  }

  #connectTo(g: Gateway, now: number): void {
    this.#gw = g;
    this.state = CONNECTING;
    this.#searchAt = Infinity;
    const o = this.#o;
    this.#send(
      { type: 0x04, dup: false, qos: 0, retain: false, will: !!this.#will, cleanSession: o.cleanSession !== false, topicIdType: 0, protocolId: 1, duration: this.#keepMs / 1000, clientId: this.clientId },
      0x05,
      0,
      now,
      undefined,
      undefined,
      undefined,
    );
  }

  #connack(rc: number, now: number): void {
    const g = this.#gw!;
    if (rc === 1) {
      this.#waitUntil = now + this.#waitMs; // §6.2 congestion: CONNECT again after TWAIT
      return;
    }
    if (rc) {
      // Refused: a gateway that has not failed yet, if there is one.
      this.#ev.push({ type: "disconnected", reason: "CONNACK return code " + rc });
      g.failed = now;
      const next = this.#best();
      if (next && next.failed < 0) this.#connectTo(next, now);
      else this.state = DISCONNECTED;
      return;
    }
    this.#refusals = 0;
    this.state = ACTIVE;
    g.failed = -1;
    const here = g.address + ":" + g.port;
    if (this.#o.cleanSession !== false || this.#regOf !== here) {
      // §6.3: a clean session, or another gateway: no topic id, subscription or QoS 2 state carries over.
      this.#ids.clear();
      this.#names.clear();
      this.#regOf = here;
      this.#saveRegistry();
      if (this.#inq.length) {
        this.#inq.length = 0;
        this.#saveInbound();
      }
      const ops: Op[] = [];
      this.#subs.forEach((qos, topic) => ops.push({ k: OP_SUB, topic, qos, data: undefined, retain: false }));
      this.#ops = ops.concat(this.#ops.filter((op) => op.k !== OP_SUB));
    }
    this.#saveMeta(ACTIVE);
    this.#ev.push({ type: "connected", address: g.address, port: g.port, gwId: g.gwId });
    this.#pump(now);
  }

  /** Starts the next exchange when none is open (§6.5, §6.6, §6.9: one at a time). */
  #pump(now: number): void {
    while (this.state === ACTIVE && !this.#cur && !this.#waitUntil) {
      const op = this.#ops[0];
      const k = op ? op.k : 0;
      const e = this.outbox.next();
      if (e && (!op || k === OP_SLEEP || k === OP_DISC)) {
        // QoS 1/2 messages go before sleeping or disconnecting.
        if (e.state === 2) return this.#send({ type: 0x10, msgId: e.msgId }, 0x0e, e.msgId, now, undefined, e, undefined);
        const t = this.#topic(e.topic);
        if (t < 0) return this.#registerTopic(e.topic, now, undefined, e);
        const dup = e.sent;
        e.sent = true;
        return this.#sendBytes(this.#publishMessage(t, e.qos, e.retain, dup, e.msgId, e.data), e.qos === 1 ? 0x0d : 0x0f, e.msgId, now, undefined, e, undefined);
      }
      if (!op) return;
      if (k === OP_PUB0) {
        const t = this.#topic(op.topic);
        if (t < 0) return this.#registerTopic(op.topic, now, op, undefined);
        this.#ops.shift();
        this.#out(this.#publishMessage(t, 0, op.retain, false, 0, op.data!), this.#gw!, now);
        continue;
      }
      if (k === OP_SUB || k === OP_UNSUB) {
        const id = this.#newId();
        const t = this.#topic(op.topic);
        const type = (t < 0 ? 0 : t >> 16) as 0;
        this.#send(
          { type: k === OP_SUB ? 0x12 : 0x14, dup: false, qos: op.qos as 0, retain: false, will: false, cleanSession: false, topicIdType: type, msgId: id, topicName: type ? undefined : op.topic, topicId: type ? t & 0xffff : 0 },
          k === OP_SUB ? 0x13 : 0x15,
          id,
          now,
          op,
          undefined,
          undefined,
        );
      } else if (k === OP_WILLTOPIC) this.#send(this.#willTopicMessage(0x1a), 0x1b, 0, now, op, undefined, undefined);
      else if (k === OP_WILLMSG) this.#send({ type: 0x1c, willMsg: this.#willData() }, 0x1d, 0, now, op, undefined, undefined);
      else this.#send({ type: 0x18, duration: k === OP_SLEEP ? op.qos : undefined }, 0x18, 0, now, op, undefined, undefined);
      return;
    }
  }

  /** §6.5: REGISTER a topic name before its first PUBLISH. */
  #registerTopic(topic: string, now: number, op: Op | undefined, entry: OutboxEntry | undefined): void {
    const id = this.#newId();
    this.#send({ type: 0x0a, topicId: 0, msgId: id, topicName: topic }, 0x0b, id, now, op, entry, topic);
  }

  /** The reply `m` ends the open exchange `c`. */
  #reply(c: Exchange, m: any, now: number): void {
    const rc: number = m.returnCode ?? 0;
    const t: number = m.type;
    this.#cur = undefined;
    if (rc === 1) {
      // "rejected: congestion": the same request again after TWAIT (§6.5, §6.6, §6.9).
      this.#waitUntil = now + this.#waitMs;
      return;
    }
    const op = c.op;
    const e = c.entry;
    if (op && this.#ops[0] === op && (t !== 0x0b || rc)) this.#ops.shift();
    if (c.topic !== undefined) {
      // REGACK (§6.5)
      if (!rc) this.#register(m.topicId, c.topic);
      else if (e) this.#fail(e, "REGACK return code " + rc);
      else if (op) this.#ev.push({ type: "publish-failed", msgId: 0, topic: op.topic, reason: "REGACK return code " + rc });
    } else if (e) {
      if (t === 0x0f && !rc) {
        // PUBREC: PUBREL until PUBCOMP (state 2 is stored first).
        this.outbox.released(e);
        return this.#send({ type: 0x10, msgId: e.msgId }, 0x0e, e.msgId, now, undefined, e, undefined);
      }
      if (rc === 2 && this.#topic(e.topic) < 0x10000 && e.rereg++ < 2) this.#unregister(e.topic); // §6.6: register again, then publish again
      else if (rc) this.#fail(e, "PUBACK return code " + rc);
      else {
        this.outbox.remove(e);
        this.#ev.push({ type: "published", msgId: e.msgId });
      }
    } else if (t === 0x13) {
      const topic = op!.topic;
      if (!rc && m.topicId && !/[+#]/.test(topic) && this.#topic(topic) < 0) this.#register(m.topicId, topic);
      this.#ev.push({ type: "subscribed", topic, qos: m.qos, returnCode: rc });
    } else if (t === 0x15) this.#ev.push({ type: "unsubscribed", topic: op!.topic });
    else if (t === 0x1b || t === 0x1d) this.#ev.push({ type: "will-updated", returnCode: rc });
    else if (t === 0x17 && this.state === AWAKE) {
      // §6.14: PINGRESP ends the awake state.
      this.state = ASLEEP;
      this.#ev.push({ type: "asleep", duration: this.#sleepS });
    }
    this.#pump(now);
  }

  /** The gateway's DISCONNECT answered ours: asleep (§6.14) or disconnected (§6.12). */
  #disconnected(c: Exchange): void {
    this.#cur = undefined;
    const op = c.op;
    if (op && this.#ops[0] === op) this.#ops.shift();
    if (op && op.k === OP_SLEEP) {
      this.#sleepS = op.qos;
      this.state = ASLEEP;
      this.#saveMeta(ASLEEP);
      this.#ev.push({ type: "asleep", duration: op.qos });
    } else this.#down("disconnect");
  }

  #down(reason: string): void {
    this.state = DISCONNECTED;
    this.#cur = undefined;
    this.#searchAt = Infinity;
    this.#saveMeta(DISCONNECTED);
    if (reason) this.#ev.push({ type: "disconnected", reason });
  }

  /** §6.13: no reply after Nretry retransmissions. */
  #gaveUp(c: Exchange, now: number): void {
    this.#cur = undefined;
    if (this.state === AWAKE) {
      // §6.14: back to sleep when the PINGREQ retries are used up.
      this.state = ASLEEP;
      this.#ev.push({ type: "wake-failed" });
    } else if (c.op?.k === OP_DISC) this.#disconnected(c);
    else if (this.state !== ASLEEP) this.#lost(now);
  }

  /** Our CONNECT was answered with DISCONNECT: another gateway, else this one again after a wait that doubles (Tretry up to TWAIT). */
  #refused(g: Gateway, now: number): void {
    g.failed = now;
    const next = this.#best();
    if (next && next !== g) return this.#connectTo(next, now);
    this.#waitUntil = now + Math.min(this.#retryMs * 2 ** this.#refusals++, this.#waitMs);
  }

  /** The connection is gone: another gateway, else the same one again (§6.13), else search. */
  #lost(now: number): void {
    const g = this.#gw;
    if (g) g.failed = now;
    this.#ev.push({ type: "disconnected", reason: "no reply from the gateway" });
    const next = this.#best();
    if (next) this.#connectTo(next, now);
    else this.search(now);
  }

  #onPublish(m: { dup: boolean; qos: SnQoS; retain: boolean; topicIdType: number; topicId: number; msgId: number; data: Uint8Array }, g: Gateway, now: number): void {
    const id = m.topicId;
    const tt = m.topicIdType;
    const topic = tt === 0 ? this.#names.get(id) : tt === 1 ? this.#preById.get(id) : shortTopicName(id);
    if (topic === undefined) {
      // §6.10, §6.7: an unknown topic id is answered "rejected: invalid topic ID".
      this.#out(encode({ type: 0x0d, topicId: id, msgId: m.msgId, returnCode: 2 }), g, now);
      return this.#drop("PUBLISH to unknown topic id " + id);
    }
    if (m.qos === 2) {
      if (this.#inq.indexOf(m.msgId) < 0) {
        if (this.#inq.length >= 16) return this.#drop("16 QoS 2 messages unreleased"); // the gateway sends it again
        this.#inq.push(m.msgId);
        this.#saveInbound();
        this.#deliver(topic, m);
      }
      return this.#out(encode({ type: 0x0f, msgId: m.msgId }), g, now);
    }
    this.#deliver(topic, m);
    if (m.qos === 1) this.#out(encode({ type: 0x0d, topicId: id, msgId: m.msgId, returnCode: 0 }), g, now);
  }

  #deliver(topic: string, m: { dup: boolean; qos: SnQoS; retain: boolean; data: Uint8Array }): void {
    this.#ev.push({ type: "message", topic, payload: m.data.slice(), qos: m.qos, retain: m.retain, dup: m.dup });
  }

  /** A PUBACK with MsgId 0 rejects a QoS 0 PUBLISH: forget that topic id; the next PUBLISH registers again. */
  #qos0Rejected(m: { topicId: number; returnCode: number }): void {
    const name = this.#names.get(m.topicId);
    if (m.returnCode === 2 && name !== undefined) this.#unregister(name);
    this.#drop("QoS 0 PUBLISH rejected, return code " + m.returnCode);
  }

  #fail(e: OutboxEntry, reason: string): void {
    this.outbox.remove(e);
    this.#ev.push({ type: "publish-failed", msgId: e.msgId, topic: e.topic, reason });
  }

  #register(id: number, name: string, restoring?: boolean): void {
    const old = this.#names.get(id);
    if (old !== undefined) this.#ids.delete(old);
    this.#ids.delete(name);
    if (this.#ids.size >= (this.#o.maxTopics ?? 32)) {
      // Bounded: the oldest id goes; a PUBLISH to it is answered "invalid topic ID" (§6.10) and the gateway registers again.
      const first = this.#ids.keys().next().value as string;
      this.#names.delete(this.#ids.get(first)!);
      this.#ids.delete(first);
    }
    this.#ids.set(name, id);
    this.#names.set(id, name);
    if (!restoring) this.#saveRegistry();
  }

  #unregister(name: string): void {
    const id = this.#ids.get(name);
    if (id === undefined) return;
    this.#ids.delete(name);
    this.#names.delete(id);
    this.#saveRegistry();
  }

  /** "reg": the gateway's "address:port", then id (2) + length (1) + UTF-8 name per topic; at most 4000 octets. */
  #saveRegistry(): void {
    const parts: number[] = [this.#regOf.length];
    for (let i = 0; i < this.#regOf.length; i++) parts.push(this.#regOf.charCodeAt(i));
    this.#ids.forEach((id, name) => {
      const b = encodeUtf8New(name);
      if (b.length > 255 || parts.length + 3 + b.length > 4000) return;
      parts.push(id >> 8, id & 0xff, b.length);
      for (let i = 0; i < b.length; i++) parts.push(b[i]);
    });
    this.#st.push({ key: "reg", value: new Uint8Array(parts).buffer });
  }

  #saveInbound(): void {
    const b = new Uint8Array(this.#inq.length * 2);
    this.#inq.forEach((id, i) => {
      b[2 * i] = id >> 8;
      b[2 * i + 1] = id & 0xff;
    });
    this.#st.push({ key: "in", value: b.buffer });
  }

  /** "meta": state, gwId, port (2), next MsgId (2), sleep duration (2), gateway address (ASCII). */
  #saveMeta(state: number): void {
    const g = this.#gw;
    if (!g) return;
    const b = new Uint8Array(8 + g.address.length);
    b.set([state, g.gwId < 0 ? 255 : g.gwId, g.port >> 8, g.port & 0xff, this.#nextId >> 8, this.#nextId & 0xff, this.#sleepS >> 8, this.#sleepS & 0xff]);
    for (let i = 0; i < g.address.length; i++) b[8 + i] = g.address.charCodeAt(i);
    this.#st.push({ key: "meta", value: b.buffer });
  }
}

function checkWill(w: SnWill): void {
  if (typeof w.topic !== "string" || !w.topic || /[+#\u0000]/.test(w.topic)) throw bad("will topic must be a topic name");
}

function ascii(b: Uint8Array, from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i++) s += String.fromCharCode(b[i]);
  return s;
}
