/*
 * An MQTT-SN 1.2 gateway for the host: transparent (§4.1), one MQTT.js connection to the
 * broker per client, so wills and sessions are per client and any MQTT 3.1.1 or 5.0 broker
 * works. A development and small-site gateway (docs/mqttsn.md says where it fits).
 *
 * - UDP through an ECMA-419 socket constructor (`udp.io`): Node's (sim/node/udp.ts) for the
 *   command line, or a simulated network's (sim/udp-network.ts) in tests with loss.
 * - Per-client topic registry (§7.3), pre-defined topic ids for everyone (§6.7), short names.
 * - QoS −1 from any address (§6.8), on its own broker connection (§7.1), made at start.
 * - ADVERTISE every `advertise` seconds (§6.1) to `broadcast`; SEARCHGW answered with GWINFO.
 * - Sleeping clients (§6.14): messages for an asleep client are buffered (bounded); on the
 *   awake PINGREQ (found by its ClientId, from whatever address it now uses) they are sent,
 *   REGISTER first where needed, each QoS 1/2 message acknowledged before the next; PINGRESP
 *   only after the last is acknowledged. A client that CONNECTs instead of waking gets them
 *   too. No PUBLISH to a client before its REGACK.
 * - Client -> broker: a QoS 1 PUBACK or QoS 2 PUBREC goes to the client only once the broker
 *   has acknowledged the message; a QoS 2 message is forwarded once whatever the retries.
 * - Keep-alive and sleep timers supervised with the tolerance of §7.2; a lost client's broker
 *   connection is dropped without DISCONNECT, so the broker publishes its will.
 * - Bounded: clients, topics per client, buffered messages per client (a full buffer holds the
 *   broker's acknowledgement back, so the broker keeps the rest), datagram size.
 * - Every step is logged in one readable line (`log`).
 */
import * as mqtt from "mqtt";
import type { UdpConstructor, UdpSocket } from "../../modules/platform/io";
import { MqttSnCodecError, decode, encode, shortTopicId, shortTopicName, type MqttSnMessage } from "../../modules/mqttsn/codec";
import { msgTypeName } from "../../modules/mqttsn/constants";
import { checkTopicFilter, checkTopicName } from "../../modules/mqtt/topic";

export interface MqttSnGatewayOptions {
  udp: { io: UdpConstructor; port?: number; address?: string; [extra: string]: unknown };
  /** mqtt://host:port (or mqtts://, ws://: whatever MQTT.js takes). */
  broker: string;
  /** MQTT version to the broker (default 4 = 3.1.1). */
  protocolVersion?: 4 | 5;
  /** Extra MQTT.js options (username, password, TLS, ...). */
  brokerOptions?: mqtt.IClientOptions;
  gwId?: number;
  /** §6.7: topic name -> pre-defined topic id, for every client. */
  predefined?: Record<string, number>;
  /** ADVERTISE period in seconds (§6.1); 0 or absent: none. */
  advertise?: number;
  /** Where ADVERTISE (and a copy of each GWINFO) goes. */
  broadcast?: { address: string; port: number };
  /** Tretry / Nretry toward clients (default 10 s, 4; §7.2). */
  retryMs?: number;
  maxRetries?: number;
  maxClients?: number;
  maxTopics?: number;
  /** Messages buffered per client (default 100). */
  maxBuffered?: number;
  /** Largest datagram accepted (default 1280). */
  maxDatagram?: number;
  /** How long a lost client with a persistent session keeps its buffered messages for a reconnection (default 1 h). */
  keepLostMs?: number;
  /** Timer resolution in ms (default 100). */
  tickMs?: number;
  log?: (line: string) => void;
}

/** "lost": keep-alive or sleep timer expired with a persistent session; kept for its reconnection (`keepLostMs`). */
type State = "will-topic" | "will-msg" | "connecting" | "active" | "asleep" | "awake" | "lost";

interface Pending {
  topic: string;
  /** Registered again once after "invalid topic ID" (§6.10). */
  again?: boolean;
  payload: Uint8Array;
  qos: 0 | 1 | 2;
  retain: boolean;
  /**
   * The broker's acknowledgement, held while the buffer was full (MQTT.js reads nothing more from
   * that connection until it is called): `true` gives it; `false` lets the message go
   * unacknowledged, so the broker keeps it (a persistent session gets it again on its next connection).
   */
  ack?: (give: boolean) => void;
}

/** The gateway's open exchange toward a client: a REGISTER or a PUBLISH awaiting its ack. */
interface Outgoing {
  bytes: Uint8Array;
  expect: number;
  msgId: number;
  tries: number;
  at: number;
  pending: Pending;
  /** The message went out after its REGISTER; undefined while registering. */
  published: boolean;
}

interface Client {
  id: string;
  address: string;
  port: number;
  state: State;
  clean: boolean;
  keepAlive: number;
  sleepMs: number;
  heard: number;
  willFlag: boolean;
  will: mqtt.IClientOptions["will"];
  willTopic: { topic: string; qos: 0 | 1 | 2; retain: boolean } | undefined;
  broker: mqtt.MqttClient | undefined;
  /** Normal topic ids (§7.3: per client). */
  ids: Map<string, number>;
  names: Map<number, string>;
  /** Names whose id the client knows (it registered them, a SUBACK named the id, or it acknowledged our REGISTER). */
  known: Set<string>;
  nextTopic: number;
  /** Subscriptions made: filter -> the TopicIdType the client used (2: short, 1: pre-defined). */
  subs: Map<string, number>;
  queue: Pending[];
  out: Outgoing | undefined;
  /** Delivery stopped after Nretry (the open exchange kept); resumes on the client's next message. */
  stalled: boolean;
  /** Awake (§6.14): messages still to send before PINGRESP. */
  awakeLeft: number;
  /** Inbound QoS 2 MsgIds: forwarded (or being forwarded) to the broker, PUBREL not yet received. */
  qos2: Map<number, boolean>;
  nextMsgId: number;
  connectWaiting: boolean;
  /** The broker connection to open once the previous one has ended (the latest asked for wins; none once the client is gone). */
  reopen: (() => void) | undefined;
}

const ANSWERS: Record<number, string> = { 0: "accepted", 1: "rejected: congestion", 2: "rejected: invalid topic ID", 3: "rejected: not supported" };

export class MqttSnGateway {
  readonly options: MqttSnGatewayOptions;
  readonly clients = new Map<string, Client>();
  readonly stats = { received: 0, sent: 0, malformed: 0, dropped: 0, forwarded: 0, delivered: 0 };
  socket: UdpSocket | undefined;
  #byId = new Map<string, Client>();
  #pre = new Map<string, number>();
  #preById = new Map<number, string>();
  #qosM1: mqtt.MqttClient | undefined;
  #tick: ReturnType<typeof setInterval> | undefined;
  #adv: ReturnType<typeof setInterval> | undefined;
  #log: (line: string) => void;
  #closed = false;

  constructor(options: MqttSnGatewayOptions) {
    this.options = options;
    this.#log = options.log ?? (() => {});
    for (const [name, id] of Object.entries(options.predefined ?? {})) {
      if (!(Number.isInteger(id) && id > 0 && id < 0xffff)) throw new RangeError(`gateway: pre-defined id of "${name}" must be 1-65534`);
      if (checkTopicName(name, 4)) throw new RangeError(`gateway: pre-defined topic "${name}" is not a topic name`);
      this.#pre.set(name, id);
      this.#preById.set(id, name);
    }
  }

  get gwId(): number {
    return this.options.gwId ?? 1;
  }

  /** Opens the UDP socket and the QoS −1 broker connection (§7.1); resolves with the bound port. */
  async start(): Promise<number> {
    const o = this.options;
    const { io: UDP, ...udp } = o.udp;
    const self = this;
    let bound: (port: number) => void;
    let failed: (e: Error) => void;
    const ready = new Promise<number>((res, rej) => ((bound = res), (failed = rej)));
    let isBound = false;
    this.socket = new UDP({
      address: "127.0.0.1",
      ...udp,
      onReadable(this: UdpSocket) {
        for (let p; (p = this.read()); ) self.#receive(new Uint8Array(p), p.address, p.port);
      },
      onWritable(port: number) {
        isBound = true;
        bound(port);
      },
      onError(e?: Error) {
        if (!isBound) failed(e ?? new Error("UDP error"));
        else self.#log(`gateway: UDP error: ${e?.message}`);
      },
    } as never);
    const s = this.socket as { port?: number };
    // A socket that binds synchronously (the simulated network) has its port already.
    const port = typeof s.port === "number" ? s.port : await ready;
    this.#qosM1 = this.#connectBroker("xs-iot-gw-qos-1-" + port, true, 60, undefined);
    let told = false;
    this.#qosM1.on("error", (e) => told || ((told = true), this.#log(`gateway: QoS -1 broker connection: ${e.message} (retrying every second)`)));
    this.#qosM1.on("connect", () => (told = false));
    const tick = o.tickMs ?? 100;
    this.#tick = setInterval(() => this.#timers(), tick);
    if (o.advertise) {
      this.#advertise();
      this.#adv = setInterval(() => this.#advertise(), o.advertise * 1000);
    }
    this.#log(`gateway: listening on udp://${udp.address ?? "127.0.0.1"}:${port}, broker ${o.broker}, GwId ${this.gwId}` + (this.#pre.size ? `, ${this.#pre.size} pre-defined topics` : "") + (o.advertise ? `, ADVERTISE every ${o.advertise} s` : ""));
    return port;
  }

  /** Stops: every broker connection ends with DISCONNECT (no will), the socket closes. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#tick);
    clearInterval(this.#adv);
    const ends: Promise<void>[] = [];
    const end = (c: mqtt.MqttClient | undefined) => c && ends.push(new Promise<void>((r) => c.end(false, {}, () => r())));
    for (const c of this.#byId.values()) {
      c.reopen = undefined;
      this.#releaseHeld(c);
      end(c.broker);
    }
    end(this.#qosM1);
    this.clients.clear();
    this.#byId.clear();
    this.socket?.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all(ends), new Promise((r) => (timer = setTimeout(r, 2000)))]);
    clearTimeout(timer); // nothing of ours outlives close()
  }

  // -- datagrams in ------------------------------------------------------------------

  #receive(bytes: Uint8Array, address: string, port: number): void {
    this.stats.received++;
    const from = `${address}:${port}`;
    if (bytes.length > (this.options.maxDatagram ?? 1280)) return this.#dropped(from, `${bytes.length}-octet datagram, over the ${this.options.maxDatagram ?? 1280} accepted`);
    const m: any = decode(bytes);
    if (m instanceof MqttSnCodecError) {
      this.stats.malformed++;
      this.#dropped(from, m.message);
      // A CONNECT the gateway cannot accept (ProtocolId, ClientId) is refused, not ignored (§6.2).
      if (m.msgType === 0x04) this.#send(encode({ type: 0x05, returnCode: 3 }), address, port);
      return;
    }
    try {
      this.#handle(m, address, port, from);
    } catch (e) {
      this.#dropped(from, `${msgTypeName(m.type)}: ${(e as Error).message}`);
    }
  }

  #handle(m: any, address: string, port: number, from: string): void {
    const t: number = m.type;
    if (t === 0x01) {
      // §6.1: GWINFO to the searcher (on IP, broadcast reaches only who listens on its port), and broadcast.
      this.#log(`gateway: ${from} SEARCHGW radius ${m.radius} -> GWINFO ${this.gwId}`);
      const g = encode({ type: 0x02, gwId: this.gwId, gwAdd: undefined });
      this.#send(g, address, port);
      if (this.options.broadcast) this.#send(g, this.options.broadcast.address, this.options.broadcast.port);
      return;
    }
    if (t === 0x0c && m.qos === -1) return this.#qosMinusOne(m, from);
    if (t === 0x04) return this.#connect(m, address, port, from);
    let c = this.clients.get(from);
    if (t === 0x16 && m.clientId !== undefined) {
      // §6.14: the awake PINGREQ names the client, whatever address it comes from now.
      const byId = this.#byId.get(m.clientId);
      if (byId && (byId.state === "asleep" || byId.state === "awake")) {
        this.#move(byId, address, port);
        c = byId;
      } else if (!byId || byId !== c) {
        this.#log(`gateway: ${from} PINGREQ from "${m.clientId}", not asleep here -> DISCONNECT`);
        return this.#send(encode({ type: 0x18, duration: undefined }), address, port);
      }
    }
    if (!c || c.state === "lost") {
      // §6.12: a message the gateway cannot map to a client is answered with DISCONNECT.
      if (t === 0x00 || t === 0x02 || t === 0x18) return this.#dropped(from, `${msgTypeName(t)} from an unknown client`);
      this.#log(`gateway: ${from} ${msgTypeName(t)} from an unknown client -> DISCONNECT (§6.12)`);
      this.stats.dropped++;
      return this.#send(encode({ type: 0x18, duration: undefined }), address, port);
    }
    c.heard = Date.now();
    if (c.stalled && c.state === "active") this.#resume(c);
    switch (t) {
      case 0x07: // WILLTOPIC (§6.2)
        if (c.state !== "will-topic" && c.state !== "will-msg") return this.#dropped(from, "WILLTOPIC while not asked for");
        c.willTopic = m.willTopic ? { topic: m.willTopic, qos: m.qos, retain: m.retain } : undefined;
        if (!c.willTopic) return this.#connectBrokerFor(c); // the empty WILLTOPIC: no will (§6.3)
        if (checkTopicName(m.willTopic, 4)) return this.#refuse(c, 3, `will topic "${m.willTopic}" is not a topic name`);
        c.state = "will-msg";
        return this.#send(encode({ type: 0x08 }), c.address, c.port);
      case 0x09: // WILLMSG
        if (c.state === "active" && c.willFlag && c.will) {
          // §6.13: the client sends WILLMSG again until the CONNACK that ends the dialogue comes
          // (§6.2, Fig. 3); ours was lost: the same CONNACK again, on the connection it names.
          this.#log(`gateway: ${c.id} WILLMSG again (the CONNACK lost) -> CONNACK accepted`);
          return this.#send(encode({ type: 0x05, returnCode: 0 }), c.address, c.port);
        }
        if (c.state !== "will-msg" || !c.willTopic) return this.#dropped(from, "WILLMSG while not asked for");
        c.will = { topic: c.willTopic.topic, payload: Buffer.from(m.willMsg), qos: c.willTopic.qos, retain: c.willTopic.retain };
        return this.#connectBrokerFor(c);
    }
    if (c.state !== "active" && c.state !== "awake" && !(c.state === "asleep" && (t === 0x16 || t === 0x18))) return this.#dropped(from, `${msgTypeName(t)} from ${c.id} while ${c.state}`);
    switch (t) {
      case 0x0a: // REGISTER (§6.5)
        return this.#register(c, m);
      case 0x0c:
        return this.#publish(c, m);
      case 0x10: // PUBREL: the QoS 2 exchange ends (§6.6)
        c.qos2.delete(m.msgId);
        return this.#send(encode({ type: 0x0e, msgId: m.msgId }), c.address, c.port);
      case 0x12:
      case 0x14:
        return this.#subscribe(c, m);
      case 0x16: // PINGREQ (§6.11); the awake one (§6.14)
        if (c.state === "asleep" || c.state === "awake") return this.#awake(c);
        return this.#send(encode({ type: 0x17 }), c.address, c.port);
      case 0x17:
        return;
      case 0x18:
        return this.#disconnect(c, m.duration);
      case 0x1a: // WILLTOPICUPD (§6.4)
        if (m.willTopic && checkTopicName(m.willTopic, 4)) return this.#send(encode({ type: 0x1b, returnCode: 3 }), c.address, c.port);
        c.willTopic = m.willTopic ? { topic: m.willTopic, qos: m.qos, retain: m.retain } : undefined;
        c.will = c.willTopic ? { topic: c.willTopic.topic, payload: (c.will?.payload as Buffer) ?? Buffer.alloc(0), qos: c.willTopic.qos, retain: c.willTopic.retain } : undefined;
        return this.#renewWill(c, 0x1b);
      case 0x1c: // WILLMSGUPD
        if (!c.will) return this.#send(encode({ type: 0x1d, returnCode: 3 }), c.address, c.port);
        c.will = { ...c.will, payload: Buffer.from(m.willMsg) };
        return this.#renewWill(c, 0x1d);
      case 0x0b: // REGACK
      case 0x0d: // PUBACK
      case 0x0f: // PUBREC
      case 0x0e: // PUBCOMP
        return this.#ack(c, m);
    }
    this.#dropped(from, `${msgTypeName(t)} is not for a gateway`);
  }

  // -- connection ----------------------------------------------------------------------

  #connect(m: any, address: string, port: number, from: string): void {
    let c = this.clients.get(from);
    const old = this.#byId.get(m.clientId);
    if (c && c.id !== m.clientId) {
      this.#lost(c, `address reused by "${m.clientId}"`);
      // Kept (lost, with its session): found by its ClientId from now on, not by this address.
      if (this.clients.get(from) === c) this.clients.delete(from);
      c = undefined;
    }
    if (!c && old) {
      this.#move(old, address, port); // the same client from a new address takes its session along
      c = old;
    }
    if (c && c.state === "lost") this.#log(`gateway: ${c.id} back after being lost (${c.queue.length + (c.out ? 1 : 0)} messages kept)`);
    else if (c && (c.state === "connecting" || c.state === "will-topic" || c.state === "will-msg") && c.willFlag === m.will) {
      // A retransmitted CONNECT: the dialogue goes on.
      if (c.state === "will-topic") this.#send(encode({ type: 0x06 }), c.address, c.port);
      return;
    }
    if (!c && this.#byId.size >= (this.options.maxClients ?? 100)) {
      this.#log(`gateway: ${from} CONNECT "${m.clientId}": ${this.#byId.size} clients already -> CONNACK congestion`);
      return this.#send(encode({ type: 0x05, returnCode: 1 }), address, port);
    }
    this.#log(`gateway: ${from} CONNECT "${m.clientId}" keep-alive ${m.duration} s${m.cleanSession ? ", clean session" : ""}${m.will ? ", will" : ""}`);
    if (!c) {
      c = {
        id: m.clientId, address, port, state: "connecting", clean: m.cleanSession, keepAlive: m.duration, sleepMs: 0, heard: Date.now(),
        willFlag: m.will, will: undefined, willTopic: undefined, broker: undefined, ids: new Map(), names: new Map(), known: new Set(), nextTopic: 1,
        subs: new Map(), queue: [], out: undefined, stalled: false, awakeLeft: 0, qos2: new Map(), nextMsgId: 1, connectWaiting: false, reopen: undefined,
      };
      this.clients.set(from, c);
      this.#byId.set(c.id, c);
    }
    const resume = !m.cleanSession && c.broker !== undefined && !m.will && c.clean === false;
    c.clean = m.cleanSession;
    c.keepAlive = m.duration;
    c.willFlag = m.will;
    c.heard = Date.now();
    c.stalled = false;
    if (m.cleanSession) {
      c.out = undefined;
      // §6.3: a clean session drops subscriptions, registrations and the will.
      c.ids.clear();
      c.names.clear();
      c.known.clear();
      c.subs.clear();
      c.will = undefined;
      c.qos2.clear();
      for (const p of c.queue) p.ack?.(true);
      c.queue.length = 0;
    }
    if (m.will) {
      c.state = "will-topic";
      return this.#send(encode({ type: 0x06 }), c.address, c.port);
    }
    if (resume && c.broker!.connected) {
      // §6.14: from asleep or awake back to active on the same broker session; buffered messages follow.
      c.state = "active";
      this.#log(`gateway: ${c.id} resumes its session (${c.queue.length} buffered)`);
      this.#send(encode({ type: 0x05, returnCode: 0 }), c.address, c.port);
      return this.#resume(c);
    }
    this.#connectBrokerFor(c);
  }

  /** The broker connection with the client's will; CONNACK to the client when the broker's comes. */
  #connectBrokerFor(c: Client): void {
    c.state = "connecting";
    this.#replaceBroker(c, () => {
      const b = this.#connectBroker(c.id, c.clean, Math.max(c.keepAlive, 10), c.will);
      c.broker = b;
      let answered = false;
      b.on("connect", () => {
        if (c.broker !== b) return;
        if (!answered) {
          answered = true;
          c.state = "active";
          this.#log(`gateway: ${c.id} connected to the broker${c.will ? ` (will on "${c.will.topic}")` : ""} -> CONNACK accepted`);
          this.#send(encode({ type: 0x05, returnCode: 0 }), c.address, c.port);
          this.#resume(c);
        }
      });
      b.on("error", (e: Error & { code?: number }) => {
        if (c.broker !== b) return;
        this.#log(`gateway: ${c.id} broker connection: ${e.message}`);
        if (!answered && c.state === "connecting") {
          answered = true;
          const rc = e.code === 3 || e.code === undefined ? 1 : 3;
          this.#send(encode({ type: 0x05, returnCode: rc }), c.address, c.port);
          this.#forget(c, true);
        }
      });
      b.on("close", () => {
        if (c.broker === b && !answered && c.state === "connecting") {
          answered = true;
          this.#log(`gateway: ${c.id} broker unreachable -> CONNACK congestion`);
          this.#send(encode({ type: 0x05, returnCode: 1 }), c.address, c.port);
          this.#forget(c, true);
        }
      });
      b.handleMessage = (packet, done) => this.#fromBroker(c, b, packet as mqtt.IPublishPacket, done);
    });
  }

  /**
   * Ends the client's broker connection normally (DISCONNECT: its will is not published) and,
   * once it has ended, opens the next with `open`. Asked again meanwhile (a retransmitted will
   * update, a second CONNECT), only the latest `open` runs, on the same ending; none when the
   * client is gone or lost by then. So a client never has two broker connections, and none is
   * opened for a client the gateway no longer knows.
   */
  #replaceBroker(c: Client, open: () => void): void {
    const waiting = c.reopen !== undefined;
    c.reopen = open;
    if (waiting) return;
    const previous = c.broker;
    c.broker = undefined;
    const next = () => {
      const f = c.reopen;
      c.reopen = undefined;
      if (f && !this.#closed && this.#byId.get(c.id) === c && c.state !== "lost") f();
    };
    if (!previous) return next();
    this.#releaseHeld(c);
    // A connection that is down has nothing to say DISCONNECT on, and MQTT.js would wait for ever for its unacknowledged publications.
    previous.end(!previous.connected, {}, next);
  }

  /**
   * Before a client's broker connection ends: a message whose acknowledgement is held leaves the
   * buffer unacknowledged (the broker keeps it); MQTT.js reads on, so the connection can end
   * (it waits for the broker's answers to our publications), and nothing reaches MQTT.js once
   * the connection is closed (its stores are gone then: it would throw).
   */
  #releaseHeld(c: Client): void {
    for (let i = c.queue.length - 1; i >= 0; i--) {
      const ack = c.queue[i].ack;
      if (!ack) continue;
      c.queue.splice(i, 1);
      ack(false);
    }
  }

  #connectBroker(clientId: string, clean: boolean, keepalive: number, will: mqtt.IClientOptions["will"]): mqtt.MqttClient {
    const o = this.options;
    return mqtt.connect(o.broker, {
      clientId,
      clean,
      keepalive,
      will,
      protocolVersion: o.protocolVersion ?? 4,
      reconnectPeriod: 1000,
      connectTimeout: 10000,
      ...o.brokerOptions,
    });
  }

  /**
   * After a will update (§6.4) the broker connection is made again with the new will (MQTT
   * carries the will only in CONNECT): the old one ends with DISCONNECT (its will is not
   * published), the new one has the same clean flag; a clean one subscribes again.
   */
  #renewWill(c: Client, answer: 0x1b | 0x1d): void {
    this.#log(`gateway: ${c.id} ${answer === 0x1b ? "WILLTOPICUPD" : "WILLMSGUPD"} -> a new broker connection with the new will`);
    this.#replaceBroker(c, () => {
      const b = this.#connectBroker(c.id, c.clean, Math.max(c.keepAlive, 10), c.will);
      c.broker = b;
      b.handleMessage = (packet, done) => this.#fromBroker(c, b, packet as mqtt.IPublishPacket, done);
      b.once("connect", () => {
        if (c.clean) for (const [filter] of c.subs) b.subscribe(filter, { qos: 2 });
        this.#send(encode({ type: answer, returnCode: 0 }), c.address, c.port);
      });
      b.on("error", (e) => this.#log(`gateway: ${c.id} broker connection: ${e.message}`));
    });
  }

  #disconnect(c: Client, duration: number | undefined): void {
    if (duration !== undefined) {
      // §6.14: asleep; messages are buffered until it wakes.
      c.state = "asleep";
      c.sleepMs = duration * 1000;
      // The open exchange stays open, paused: sent again when the client wakes or reconnects (#resume).
      if (c.out) c.out.at = Infinity;
      this.#log(`gateway: ${c.id} DISCONNECT: asleep for ${duration} s (${c.queue.length} buffered)`);
      return this.#send(encode({ type: 0x18, duration: undefined }), c.address, c.port);
    }
    this.#log(`gateway: ${c.id} DISCONNECT -> DISCONNECT; broker connection closed without will`);
    this.#send(encode({ type: 0x18, duration: undefined }), c.address, c.port);
    this.#forget(c, false);
  }

  /** §6.14: awake; buffered messages first, PINGRESP once they are acknowledged. */
  #awake(c: Client): void {
    if (c.state === "awake") return; // a retransmitted PINGREQ: the delivery goes on
    c.state = "awake";
    c.awakeLeft = c.queue.length + (c.out ? 1 : 0);
    this.#log(`gateway: ${c.id} awake (PINGREQ), ${c.awakeLeft} buffered`);
    this.#resume(c);
  }

  /** Delivery goes on: the open exchange (kept through a stall or a reconnection) again, else the next message. */
  #resume(c: Client): void {
    c.stalled = false;
    const o = c.out;
    if (!o) return this.#pump(c);
    o.tries = 0;
    o.at = Date.now();
    this.#send(o.bytes, c.address, c.port);
  }

  #move(c: Client, address: string, port: number): void {
    const from = `${c.address}:${c.port}`;
    const to = `${address}:${port}`;
    if (this.clients.get(to) === c) return;
    const other = this.clients.get(to);
    if (other && other !== c) this.#forget(other, true);
    // A lost client may have left this address to another client meanwhile: only its own entry goes.
    if (this.clients.get(from) === c) this.clients.delete(from);
    c.address = address;
    c.port = port;
    this.clients.set(to, c);
    this.#log(`gateway: ${c.id} now at ${to}`);
  }

  #refuse(c: Client, rc: number, why: string): void {
    this.#log(`gateway: ${c.id} ${why} -> CONNACK ${ANSWERS[rc]}`);
    this.#send(encode({ type: 0x05, returnCode: rc }), c.address, c.port);
    this.#forget(c, false);
  }

  /**
   * The client is gone (§6.14 "lost"): its broker connection drops without DISCONNECT, so the
   * broker publishes the will. With a persistent session what the gateway holds for it (already
   * acknowledged to the broker) waits for its reconnection, `keepLostMs` at most.
   */
  #lost(c: Client, why: string): void {
    this.#log(`gateway: ${c.id} lost (${why})${c.will ? `: will "${c.will.topic}" published by the broker` : ""}`);
    if (c.clean || (!c.queue.length && !c.out)) return this.#forget(c, true);
    const b = c.broker;
    c.broker = undefined;
    c.reopen = undefined;
    this.#releaseHeld(c);
    c.state = "lost";
    c.heard = Date.now();
    b?.end(true);
  }

  #forget(c: Client, abrupt: boolean): void {
    const key = `${c.address}:${c.port}`;
    if (this.clients.get(key) === c) this.clients.delete(key);
    if (this.#byId.get(c.id) === c) this.#byId.delete(c.id);
    const b = c.broker;
    c.broker = undefined;
    c.reopen = undefined;
    this.#releaseHeld(c);
    c.queue.length = 0;
    if (b) b.end(abrupt);
  }

  // -- topics and publications from the client ------------------------------------------

  #register(c: Client, m: any): void {
    const name: string = m.topicName;
    let id = c.ids.get(name);
    let rc = 0;
    if (checkTopicName(name, 4)) rc = 3;
    else if (id === undefined) {
      if (c.ids.size >= (this.options.maxTopics ?? 1000)) rc = 1;
      else id = this.#newTopic(c, name);
    }
    if (!rc) c.known.add(name);
    this.#log(`gateway: ${c.id} REGISTER "${name}" -> REGACK ${rc ? ANSWERS[rc] : `topic id ${id}`}`);
    this.#send(encode({ type: 0x0b, topicId: rc ? 0 : id!, msgId: m.msgId, returnCode: rc }), c.address, c.port);
  }

  #newTopic(c: Client, name: string): number {
    while (c.names.has(c.nextTopic) || this.#preById.has(c.nextTopic)) c.nextTopic = c.nextTopic >= 0xfffe ? 1 : c.nextTopic + 1;
    const id = c.nextTopic;
    c.nextTopic = id >= 0xfffe ? 1 : id + 1;
    c.ids.set(name, id);
    c.names.set(id, name);
    return id;
  }

  /** The topic name a client's PUBLISH names, or undefined (§6.6, §6.7). */
  #topicOf(c: Client | undefined, type: number, id: number): string | undefined {
    if (type === 1) return this.#preById.get(id);
    if (type === 2) return shortTopicName(id);
    return c?.names.get(id);
  }

  #qosMinusOne(m: any, from: string): void {
    // §6.8 / §7.1: from anyone, on the gateway's own broker connection; nothing is answered.
    const topic = this.#topicOf(undefined, m.topicIdType, m.topicId);
    if (topic === undefined || checkTopicName(topic, 4)) return this.#dropped(from, `QoS -1 PUBLISH to unknown ${m.topicIdType === 1 ? "pre-defined" : "short"} topic id ${m.topicId}`);
    this.#log(`gateway: ${from} QoS -1 PUBLISH "${topic}" (${m.data.length} octets)`);
    this.stats.forwarded++;
    this.#qosM1?.publish(topic, Buffer.from(m.data), { qos: 0, retain: m.retain });
  }

  #publish(c: Client, m: any): void {
    if (c.state !== "active") return this.#dropped(`${c.address}:${c.port}`, `PUBLISH from ${c.id} while ${c.state}`);
    let topic = this.#topicOf(c, m.topicIdType, m.topicId);
    if (m.topicIdType === 0 && topic !== undefined && !c.known.has(topic)) {
      // A normal id of ours the client has not acknowledged (our REGISTER unanswered, §6.10): its
      // PUBLISH with that id means another topic, an id it kept from a session we lost (a restart).
      this.#log(`gateway: ${c.id} PUBLISH to topic id ${m.topicId}, which the client has not acknowledged for "${topic}"`);
      topic = undefined;
    }
    if (topic === undefined || checkTopicName(topic, 4)) {
      // §6.6: "rejected: invalid topic ID" (for a normal id the client registers again).
      this.#log(`gateway: ${c.id} PUBLISH to unknown topic id ${m.topicId} -> PUBACK invalid topic ID`);
      return this.#send(encode({ type: 0x0d, topicId: m.topicId, msgId: m.msgId, returnCode: 2 }), c.address, c.port);
    }
    const b = c.broker;
    if (!b) return;
    const qos: 0 | 1 | 2 = m.qos;
    if (qos === 2 && c.qos2.has(m.msgId)) {
      // Forwarded already (the client did not get our PUBREC): PUBREC again once the broker has it.
      if (c.qos2.get(m.msgId)) this.#send(encode({ type: 0x0f, msgId: m.msgId }), c.address, c.port);
      return;
    }
    if (qos === 2) c.qos2.set(m.msgId, false);
    this.stats.forwarded++;
    this.#log(`gateway: ${c.id} PUBLISH "${topic}" QoS ${qos}${m.retain ? " retained" : ""}${m.dup ? " DUP" : ""} (${m.data.length} octets) -> broker`);
    b.publish(topic, Buffer.from(m.data), { qos, retain: m.retain }, (error) => {
      if (qos === 0) return;
      if (error) {
        c.qos2.delete(m.msgId);
        const code = (error as { code?: unknown }).code;
        // The connection closed first: no answer, the client sends it again (and it is forwarded again).
        if (!(typeof code === "number" && code >= 0x80)) return this.#log(`gateway: ${c.id} "${topic}" not acknowledged by the broker: ${error.message}`);
        // An MQTT 5 refusal: "not supported".
        this.#log(`gateway: ${c.id} broker refused "${topic}": ${error.message} -> PUBACK not supported`);
        return this.#send(encode({ type: 0x0d, topicId: m.topicId, msgId: m.msgId, returnCode: 3 }), c.address, c.port);
      }
      if (qos === 1) this.#send(encode({ type: 0x0d, topicId: m.topicId, msgId: m.msgId, returnCode: 0 }), c.address, c.port);
      else if (c.qos2.has(m.msgId)) {
        c.qos2.set(m.msgId, true);
        this.#send(encode({ type: 0x0f, msgId: m.msgId }), c.address, c.port);
      }
    });
  }

  #subscribe(c: Client, m: any): void {
    const sub = m.type === 0x12;
    let filter: string | undefined = m.topicIdType === 0 ? m.topicName : m.topicIdType === 1 ? this.#preById.get(m.topicId) : shortTopicName(m.topicId);
    const bad = filter === undefined || checkTopicFilter(filter, 4) !== undefined || (m.topicIdType === 2 && /[+#]/.test(filter));
    if (!sub) {
      if (filter !== undefined) {
        c.subs.delete(filter);
        if (!bad) c.broker?.unsubscribe(filter);
      }
      this.#log(`gateway: ${c.id} UNSUBSCRIBE "${filter ?? m.topicId}" -> UNSUBACK`);
      return this.#send(encode({ type: 0x15, msgId: m.msgId }), c.address, c.port);
    }
    const reply = (rc: number, qos: 0 | 1 | 2, topicId: number) =>
      this.#send(encode({ type: 0x13, dup: false, qos, retain: false, will: false, cleanSession: false, topicIdType: 0, topicId, msgId: m.msgId, returnCode: rc }), c.address, c.port);
    if (bad) {
      this.#log(`gateway: ${c.id} SUBSCRIBE to ${filter === undefined ? `unknown topic id ${m.topicId}` : `bad filter "${filter}"`} -> SUBACK ${filter === undefined ? "invalid topic ID" : "not supported"}`);
      return reply(filter === undefined ? 2 : 3, 0, 0);
    }
    filter = filter!;
    const max = this.options.maxTopics ?? 1000;
    // A name without wildcards gets a topic id in the SUBACK (§5.4.16): none left is congestion too.
    const needsId = m.topicIdType === 0 && !/[+#]/.test(filter) && !c.ids.has(filter);
    if ((!c.subs.has(filter) && c.subs.size >= max) || (needsId && c.ids.size >= max)) {
      this.#log(`gateway: ${c.id} SUBSCRIBE "${filter}": ${needsId && c.ids.size >= max ? `registry full (${c.ids.size} topic ids)` : `${c.subs.size} subscriptions already`} -> SUBACK congestion`);
      return reply(1, 0, 0);
    }
    c.subs.set(filter, m.topicIdType);
    c.broker?.subscribe(filter, { qos: m.qos }, (error, granted) => {
      const g = granted?.[0]?.qos;
      if (error || g === undefined || g > 2) {
        this.#log(`gateway: ${c.id} SUBSCRIBE "${filter}": broker refused -> SUBACK not supported`);
        c.subs.delete(filter!);
        return reply(3, 0, 0);
      }
      // §5.4.16: the topic id for a name without wildcards; 0 for a wildcard or a short name (REGISTER comes later, §6.10).
      let topicId = 0;
      if (m.topicIdType === 1) topicId = m.topicId;
      else if (m.topicIdType === 0 && !/[+#]/.test(filter!)) {
        if (!c.ids.has(filter!) && c.ids.size >= (this.options.maxTopics ?? 1000)) {
          // The registry filled while the broker answered: the subscription stands, its messages are dropped as above.
          this.#log(`gateway: ${c.id} SUBSCRIBE "${filter}": registry full, no topic id`);
        } else {
          topicId = c.ids.get(filter!) ?? this.#newTopic(c, filter!);
          c.known.add(filter!);
        }
      }
      this.#log(`gateway: ${c.id} SUBSCRIBE "${filter}" QoS ${m.qos} -> SUBACK QoS ${g}${topicId ? `, topic id ${topicId}` : ""}`);
      reply(0, g as 0 | 1 | 2, topicId);
    });
  }

  // -- publications to the client -----------------------------------------------------

  /** MQTT.js hands every incoming message here; `done` acknowledges it to the broker. */
  #fromBroker(c: Client, b: mqtt.MqttClient, packet: mqtt.IPublishPacket, done: (error?: Error) => void): void {
    // From a connection being replaced or ended: not acknowledged, so the broker keeps it.
    if (c.broker !== b || this.#byId.get(c.id) !== c) return done(new Error("gateway: not taken"));
    const p: Pending = { topic: packet.topic, payload: new Uint8Array(packet.payload as Buffer), qos: packet.qos as 0 | 1 | 2, retain: !!packet.retain };
    const max = this.options.maxBuffered ?? 100;
    if (c.queue.length >= max) {
      if (p.qos === 0) {
        this.#log(`gateway: ${c.id} buffer full (${max}): QoS 0 message on "${p.topic}" dropped`);
        this.stats.dropped++;
        return done();
      }
      // Full: hold the broker's acknowledgement; it keeps the rest until we take this one.
      p.ack = (give) => done(give ? undefined : new Error("gateway: not taken"));
      this.#log(`gateway: ${c.id} buffer full (${max}): the broker's acknowledgement is held`);
    }
    c.queue.push(p);
    if (!p.ack) done();
    if (c.state === "active") this.#pump(c);
  }

  /** Sends the next buffered message when nothing is open, REGISTER first where needed (§6.10). */
  #pump(c: Client): void {
    if (c.out || c.stalled || (c.state !== "active" && c.state !== "awake")) return;
    const p = c.state === "awake" && c.awakeLeft <= 0 ? undefined : c.queue.shift();
    if (!p) {
      if (c.state === "awake") {
        // §6.14: everything delivered and acknowledged: PINGRESP, asleep again.
        c.state = "asleep";
        c.heard = Date.now();
        this.#log(`gateway: ${c.id} buffer delivered -> PINGRESP, asleep`);
        this.#send(encode({ type: 0x17 }), c.address, c.port);
      }
      return;
    }
    this.#takeHeld(c);
    const t = this.#topicIdFor(c, p.topic);
    if (t < 0 && !c.ids.has(p.topic) && c.ids.size >= (this.options.maxTopics ?? 1000)) {
      // No room for another topic id (maxTopics counts ours as well as the client's, §7.3): not
      // deliverable, as when a client rejects our REGISTER (§6.10). A topic id is never reused
      // for another name: the client may publish with the ids it learned from us.
      this.#log(`gateway: ${c.id} registry full (${c.ids.size} topic ids): message on "${p.topic}" dropped`);
      this.stats.dropped++;
      this.#delivered(c);
      return this.#pump(c);
    }
    if (t < 0) {
      const id = c.ids.get(p.topic) ?? this.#newTopic(c, p.topic);
      const msgId = this.#msgId(c);
      this.#log(`gateway: ${c.id} <- REGISTER "${p.topic}" topic id ${id}`);
      return this.#open(c, encode({ type: 0x0a, topicId: id, msgId, topicName: p.topic }), 0x0b, msgId, p, false);
    }
    this.#publishTo(c, p, t);
  }

  /** TopicIdType << 16 | id to publish `topic` to `c` with, or −1 when it needs a REGISTER. */
  #topicIdFor(c: Client, topic: string): number {
    const pre = this.#pre.get(topic);
    if (pre !== undefined) return 0x10000 | pre;
    if (c.subs.get(topic) === 2) return 0x20000 | shortTopicId(topic);
    return c.known.has(topic) ? c.ids.get(topic)! : -1;
  }

  #publishTo(c: Client, p: Pending, t: number): void {
    const msgId = p.qos ? this.#msgId(c) : 0;
    const bytes = encode({ type: 0x0c, dup: false, qos: p.qos, retain: p.retain, will: false, cleanSession: false, topicIdType: (t >> 16) as 0, topicId: t & 0xffff, msgId, data: p.payload });
    this.stats.delivered++;
    this.#log(`gateway: ${c.id} <- PUBLISH "${p.topic}" QoS ${p.qos} (${p.payload.length} octets)`);
    if (!p.qos) {
      this.#send(bytes, c.address, c.port);
      this.#delivered(c);
      return this.#pump(c);
    }
    this.#open(c, bytes, p.qos === 1 ? 0x0d : 0x0f, msgId, p, true);
  }

  #open(c: Client, bytes: Uint8Array, expect: number, msgId: number, p: Pending, published: boolean): void {
    c.out = { bytes, expect, msgId, tries: 0, at: Date.now(), pending: p, published };
    this.#send(bytes, c.address, c.port);
  }

  /** REGACK, PUBACK, PUBREC, PUBCOMP from the client for our open exchange. */
  #ack(c: Client, m: any): void {
    const o = c.out;
    if (!o || m.msgId !== o.msgId || !(m.type === o.expect || (m.type === 0x0d && o.expect === 0x0f))) {
      if (m.type === 0x0d && m.returnCode === 2) {
        // §6.10: the client does not know that topic id: forget it, REGISTER again next time.
        const name = c.names.get(m.topicId);
        if (name !== undefined) c.known.delete(name);
      }
      return this.#dropped(`${c.address}:${c.port}`, `${msgTypeName(m.type)} ${m.msgId} from ${c.id} matches nothing sent`);
    }
    const p = o.pending;
    if (m.type === 0x0b) {
      c.out = undefined;
      if (m.returnCode) {
        // §6.10: a rejected REGISTER is an unsubscribe of that name.
        this.#log(`gateway: ${c.id} REGACK ${ANSWERS[m.returnCode] ?? m.returnCode} for "${p.topic}": message dropped`);
        this.#delivered(c);
        return this.#pump(c);
      }
      c.known.add(p.topic);
      return this.#publishTo(c, p, c.ids.get(p.topic)!);
    }
    if (m.type === 0x0f) {
      // PUBREC: PUBREL until PUBCOMP.
      o.bytes = encode({ type: 0x10, msgId: o.msgId });
      o.expect = 0x0e;
      o.tries = 0;
      o.at = Date.now();
      return this.#send(o.bytes, c.address, c.port);
    }
    c.out = undefined;
    if (m.type === 0x0d && m.returnCode === 2 && !p.again) {
      // §6.10: the client does not know that topic id (it lost its registry): REGISTER, then PUBLISH again.
      this.#log(`gateway: ${c.id} PUBACK rejected: invalid topic ID for "${p.topic}" -> REGISTER again`);
      c.known.delete(p.topic);
      p.again = true;
      c.queue.unshift(p);
      return this.#pump(c);
    }
    this.#delivered(c);
    this.#pump(c);
  }

  #delivered(c: Client): void {
    if (c.state === "awake" && c.awakeLeft > 0) c.awakeLeft--;
  }

  /** A message whose broker acknowledgement was held moves into the freed place. */
  #takeHeld(c: Client): void {
    const held = c.queue.find((x) => x.ack);
    if (held && c.queue.indexOf(held) < (this.options.maxBuffered ?? 100)) {
      const ack = held.ack!;
      held.ack = undefined;
      ack(true);
    }
  }

  #msgId(c: Client): number {
    const id = c.nextMsgId;
    c.nextMsgId = id >= 0xffff ? 1 : id + 1;
    return id;
  }

  // -- time ------------------------------------------------------------------------------

  #timers(): void {
    const now = Date.now();
    const retry = this.options.retryMs ?? 10000;
    const tries = this.options.maxRetries ?? 4;
    // Every client: a lost one whose address another client took is known by its ClientId only.
    for (const c of [...this.#byId.values()]) {
      if (c.state === "lost") {
        if (now - c.heard > (this.options.keepLostMs ?? 3600000)) this.#forget(c, true);
        continue;
      }
      // §7.2: the keep-alive and sleep timers with 10% tolerance above a minute, 50% below.
      const period = c.state === "asleep" || c.state === "awake" ? c.sleepMs : c.keepAlive * 1000;
      if (period > 0 && now - c.heard > period * (period > 60000 ? 1.1 : 1.5)) {
        this.#lost(c, c.state === "asleep" ? `no word within its sleep duration of ${period / 1000} s` : `silent past its keep-alive of ${period / 1000} s`);
        continue;
      }
      if ((c.state === "will-topic" || c.state === "will-msg") && now - c.heard > retry * (tries + 1)) {
        this.#forget(c, true);
        continue;
      }
      const o = c.out;
      if (o && now - o.at >= retry) {
        if (o.tries >= tries) {
          // Not acknowledged: kept open (same MsgId) for later: the next message from the client, or its next wake.
          this.#log(`gateway: ${c.id} no answer to ${msgTypeName(o.bytes[1])} after ${tries} retries: delivery paused`);
          c.stalled = true;
          o.at = Infinity;
          if (c.state === "awake") c.state = "asleep";
          continue;
        }
        o.tries++;
        o.at = now;
        if (o.bytes[1] === 0x0c) o.bytes[2] |= 0x80; // DUP
        this.#send(o.bytes, c.address, c.port);
      }
    }
  }

  #advertise(): void {
    const b = this.options.broadcast;
    if (!b || this.#closed) return;
    this.#send(encode({ type: 0x00, gwId: this.gwId, duration: this.options.advertise! }), b.address, b.port);
  }

  // -- output ----------------------------------------------------------------------------

  #send(bytes: Uint8Array, address: string, port: number): void {
    if (this.#closed || !this.socket) return;
    try {
      this.socket.write(bytes, address, port);
      this.stats.sent++;
    } catch (e) {
      this.#log(`gateway: cannot send to ${address}:${port}: ${(e as Error).message}`);
    }
  }

  #dropped(from: string, why: string): void {
    this.stats.dropped++;
    this.#log(`gateway: ${from} dropped: ${why}`);
  }
}
