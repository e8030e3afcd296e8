// @xs
/*
 * MqttSession (modules/mqtt/session.ts, with mqtt5.ts and outbox.ts) fuzzed: a stateful, seeded,
 * generative test (docs/testing.md "Seeded fuzz of a protocol end"; the model is
 * host-tests/mqttsn/session-fuzz.test.ts). Each of SEEDS makes one session, 3.1.1 or 5.0 in turn
 * (5.0 with or without enhanced authentication), its outbox on a simulated flash (KvOutboxStore on
 * FlashStore, small bounds), and drives it for STEPS random steps mixing:
 *   - the broker's packets, well-formed (the test support's encoder) with random fields: CONNACK
 *     with every return / reason code, Session Present either way and random limits (Receive
 *     Maximum, Maximum Packet Size, Topic Alias Maximum, Maximum QoS, Retain Available, Server
 *     Keep Alive, Assigned Client Identifier, Authentication Method); PUBLISH at QoS 0/1/2 with
 *     packet ids new, repeated or random, Topic Aliases valid and not, properties; PUBACK, PUBREC,
 *     PUBREL, PUBCOMP with ids that match or not and reason codes; SUBACK, UNSUBACK with the right
 *     count or not; PINGRESP; DISCONNECT (5.0) with reason codes; AUTH; a client's packet; and the
 *     broker's proper answer to what the session has open (its acknowledgements in order);
 *   - mutated bytes: bit flips, truncation, a wrong Remaining Length, random bytes, several
 *     packets concatenated, a stream split across chunks at random boundaries;
 *   - the app's calls: publish at QoS 0/1/2 (and 3) with good and bad topics, payloads and
 *     properties, subscribe, unsubscribe, disconnect, connect, reauthenticate; the answer to an
 *     Auth event;
 *   - another module writing to the flash the outbox shares (at times to the brim: every third
 *     seed has a flash of 1.5-3.3 KB), or freeing it;
 *   - the connection lost, a new connection on the same outbox and store; a reboot (a new outbox
 *     and session restored from the store; at times as the other protocol level, the stored
 *     messages converted; every fifth seed has room for messages stored in several parts); time
 *     to the next deadline (inside its window) or on by a random amount, running every deadline
 *     on the way.
 * After every step (fail() names the seed, the step and the last steps):
 *   - nothing escapes receive(), handleTimeout(), connectionLost(), connect(), authenticate();
 *     an app call throws only a documented refusal (MqttError invalid, not-connected,
 *     packet-too-large, outbox-full, storage; and the UTF-8 encoder's error for a text payload
 *     that is not UTF-8) and then changed nothing;
 *   - every element of tx is exactly one well-formed packet of the session's protocol level, a
 *     Client's packet (the broker's decoder reads it), sent only on an open connection; after a
 *     5.0 CONNACK within the server's Maximum Packet Size [MQTT-3.2.2-15], Maximum QoS
 *     [MQTT-3.2.2-11], Retain Available [MQTT-3.2.2-14] and Topic Alias Maximum [MQTT-3.2.2-17],
 *     an empty Topic Name only with an alias the broker knows on this connection (§3.3.2.3.4); a
 *     new PUBLISH, SUBSCRIBE or UNSUBSCRIBE never reuses a Packet Identifier the broker holds
 *     open [MQTT-2.2.1-3]; a QoS 2 PUBLISH never sent again after its PUBREL, on any connection or
 *     after a reboot [MQTT-4.3.3-6]; at most the quota of QoS > 0 PUBLISH in flight (§4.9);
 *   - every event is of a documented kind; a Delivered event is for a message publish() accepted
 *     and not reported yet, once, with its token;
 *   - every QoS 1/2 message publish() accepted and not reported is in the outbox with its store
 *     record (m<id> or r<id>), across reconnects and reboots; nothing else is in the outbox;
 *   - an inbound QoS 2 message is delivered once per Packet Identifier until its PUBREL
 *     [MQTT-4.3.3-10..12] (also across reboots);
 *   - bounded: outbox (count, bytes), inbound QoS 2 identifiers (5.0: our Receive Maximum),
 *     topic alias tables, pending requests, output per step;
 *   - the deadline: while connecting or connected with a keep alive, latest is finite and
 *     earliest <= latest; handleTimeout() never asks to run again at the same instant without end.
 * After the steps (the other modules' data deleted) a cooperative broker brings the session back (connected, every message
 * reported, the outbox and its records empty) and a scripted QoS 1 exchange works. A last test
 * prints what the seeds reached (the same on Node and XS: the PRNG is ours).
 *
 * Each invariant was shown able to fail by breaking the code on purpose once (16 breaks, each
 * caught by 4 to 48 seeds: a decoder error thrown out of receive(), PUBREL without its flags, a
 * PUBREC that drops the message, a PUBREL though its release was not stored, a PUBACK that leaves
 * the message, QoS 2 delivered without the id check, the outbox's two count checks together (either
 * alone is covered by the other), an id of a pending SUBSCRIBE reused, no pingAt, latest -1 while
 * waiting for PINGRESP, a refusal after the request was remembered, the quota off by one, released
 * messages dropped unreported on Session Present 0, Maximum QoS ignored, an alias over the
 * maximum, aliases kept across connections).
 *
 * What it found (each reproduced in session.test.ts, "found by the fuzz"; fixed in modules/mqtt):
 * a PUBLISH that fitted the server's Maximum Packet Size went out over it with the Topic Alias
 * added at send time (seed 253409); SUBSCRIBE and UNSUBSCRIBE were sent over the server's Maximum
 * Packet Size (seeds 47515, 142543, 269247), both [MQTT-3.2.2-15]; once lone surrogates were among
 * the app's filters and properties, subscribe() / unsubscribe() threw the encoder's MqttCodecError
 * instead of the MqttError "invalid" publish() gives (47 of 48 seeds), and disconnect() did so for
 * a bad Reason String, User Property or reason code with the connection left up, which left
 * MqttClient.end() half done: ended, socket open, never to reconnect (client.test.ts); with a
 * small flash other modules fill, a PUBREC whose released state could not be stored still got its
 * PUBREL, and the PUBLISH was sent again after it on the next connection [MQTT-4.3.3-6] (8 seeds,
 * e.g. 269247 step 52).
 */
import { MqttDecoder, encodePacket } from "../support/mqtt-codec";
import type { MqttPacket, MqttProperties, MqttVersion, PublishPacket, Subscription } from "../support/mqtt-codec";
import { Mqtt5 } from "../../modules/mqtt/mqtt5";
import type { MqttOutbox } from "../../modules/mqtt/outbox";
import { MqttError, MqttEvent, MqttSession, SessionState } from "../../modules/mqtt/session";
import type { MqttSessionOptions } from "../../modules/mqtt/session";
import { FlashStore } from "../../sim/flash-store";
import { makeOutbox } from "./session-harness";
import { prng, Tally } from "../support/fuzz";

const SEEDS = Array.from({ length: 48 }, (_, i) => 1 + i * 7919);
const STEPS = 600;

const STATE_NAMES = ["disconnected", "connecting", "connected"];
const REFUSALS = ["invalid", "not-connected", "packet-too-large", "outbox-full", "storage"];
const CONNACK_5 = [0, 0, 0, 0, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f];
const CONNACK_4 = [0, 0, 0, 0, 1, 2, 3, 4, 5];
const ACK_RC = [0, 0, 0, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x92, 0x97, 0x99];
const SUB_RC = [0, 1, 2, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2];
const DISC_RC = [0, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x93, 0x94, 0x95, 0x97, 0x98, 0x9c, 0x9d, 0x9f];
const LONG = "long/" + "x".repeat(60) + "/topic";
/** Topic Names the app passes: good ones (short, long enough for an alias, non-ASCII, long) and not names (empty, wildcards, U+0000, a lone surrogate). */
const TOPICS = ["a/1", "a/2", "tele/dev/sensor", "tele/dev/state", "cmd", "é/ü/ß", LONG, "a/1", "tele/dev/sensor", "", "a/+", "a/#", "a\u0000b", "a\ud800"];
/** Filters the app passes: bad ones (lone surrogates, bad shares, empty, misplaced wildcards, U+0000) and good ones. */
const FILTERS = ["a\udc00/#", "$share/\ud800/x", "$share/g/", "$share//x", "$share/g+/x", "a/+", "a/#", "#", "cmd", "tele/dev/+", "$share/g/a/1", LONG + "/#", "", "a/#/b", "a+", "a\u0000"];
/** Inbound topics. */
const IN_TOPICS = ["a/1", "a/2", "cmd", "tele/other/x", "é", "$SYS/x", ""];

/** Totals over every seed: steps spent in each state, and what was reached. */
const tally = new Tally();
const { reached, count } = tally;

/** A pending (accepted, not reported) QoS 1/2 message. */
interface Pending {
  topic: string;
  qos: number;
  token: unknown;
}

class Fuzz {
  r: () => number;
  version: MqttVersion;
  auth: boolean;
  opts: MqttSessionOptions;
  v5opts: Record<string, unknown>;
  outboxOpts: { maxMessages: number; maxBytes: number };
  store: FlashStore;
  s!: MqttSession;
  now = 1000;
  step = 0;
  trace: string[] = [];
  /** QoS 1/2 messages publish() accepted and not yet reported: packet id -> message. */
  pending = new Map<number, Pending>();
  /** Inbound QoS 2 packet ids delivered and not released. */
  delivered2 = new Set<number>();
  /** The broker's view of the connection: ids it holds open (kind: 1 PUBLISH QoS 1, 2 QoS 2, 3 PUBREL, 8 SUBSCRIBE, 10 UNSUBSCRIBE), counts of filters. */
  open = new Map<number, { kind: number; n: number }>();
  /** The broker's order of what to answer (ids, oldest first). */
  order: number[] = [];
  /** Packet ids whose PUBREL the session sent, until their message is reported (on any connection, across reboots). */
  released = new Set<number>();
  /** PINGREQ seen, not answered. */
  ping = false;
  /** The broker's limits of this connection (5.0), from the CONNACK it sent. */
  limits: MqttProperties | undefined;
  /** Outbound aliases the broker knows on this connection (alias -> topic). */
  aliases: string[] = [];
  /** Inbound QoS 2 PUBLISHes lately sent (sent again at times). */
  in2: PublishPacket[] = [];
  /** Inbound ids lately used. */
  inIds: number[] = [];
  /** Inbound aliases the broker has set on this connection. */
  inAliases: number[] = [];
  /** The state before the current call. */
  connected = false;
  /** Per step: packets sent, events. */
  stepPackets = 0;
  stepEvents = 0;
  tokens = 0;
  /** Inbound QoS 2 ids the outbox held after the last step. */
  inbound2 = 0;
  requests = 0;

  constructor(readonly seed: number) {
    // Every third seed a small flash (1.5-3.3 KB), which other modules' writes fill at times.
    this.store = seed % 3 === 0 ? new FlashStore({ capacity: 1500 + (seed % 7) * 300 }) : new FlashStore();
    this.r = prng(seed);
    this.version = seed % 2 ? 5 : 4;
    this.auth = this.version === 5 && seed % 6 === 1;
    const clean = this.r() < 0.3;
    this.opts = {
      clientId: this.version === 5 && this.r() < 0.2 ? "" : "fz" + seed,
      clean: clean || undefined,
      keepAlive: [0, 5, 30][this.int(3)],
      maxInflight: this.r() < 0.5 ? 1 + this.int(4) : undefined,
      connectTimeoutMs: 10000,
    };
    if (this.opts.clientId === "" && this.version === 4) this.opts.clean = true;
    this.v5opts = { receiveMaximum: 2 + this.int(4), topicAliasMaximum: this.int(4), sessionExpiryInterval: clean ? 0 : 3600 };
    if (this.auth) this.v5opts.auth = { method: "SCRAM-FZ", data: Uint8Array.of(1, 2) };
    // (Every fifth seed: room for a message over NVS's 4000-byte value, stored in parts.)
    this.outboxOpts = { maxMessages: 3 + this.int(6), maxBytes: seed % 5 === 0 ? 12000 : 300 + this.int(700) };
    this.boot();
  }

  int(n: number): number {
    return Math.floor(this.r() * n);
  }

  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }

  /** A new outbox and session over the store (a reboot keeps the store and nothing in RAM). */
  boot(): void {
    const outbox: MqttOutbox = makeOutbox(this.store, this.version, this.outboxOpts, this.now);
    const v5 = this.version === 5 ? new Mqtt5(this.v5opts) : undefined;
    const clock = { epoch: () => 1.7e12 + this.now };
    this.s = new MqttSession({ ...this.opts, v5 }, outbox, clock);
    if (outbox.loadErrors.length) this.fail("load errors: " + outbox.loadErrors.join("; "));
    // Tokens are the binding's, in RAM: none after a reboot.
    this.pending.forEach((p) => (p.token = undefined));
    this.newConnection();
    this.checkOutbox();
  }

  /** The broker's view of a new connection (or none). */
  newConnection(): void {
    this.open.clear();
    this.order = [];
    this.ping = false;
    this.limits = undefined;
    this.aliases = [];
    this.inAliases = [];
  }

  fail(what: string): never {
    throw new Error("seed " + this.seed + " (v" + this.version + (this.auth ? " auth" : "") + ") step " + this.step + ": " + what + "\n  last steps:\n  " + this.trace.slice(-24).join("\n  "));
  }

  note(what: string): void {
    this.trace.push(this.step + " [" + STATE_NAMES[this.s.state] + "] " + what);
    if (this.trace.length > 40) this.trace.shift();
  }

  // -- output ---------------------------------------------------------------------------

  /** Takes the session's output: packets read by the broker, events handled as a binding does. */
  collect(): void {
    const s = this.s;
    for (let guard = 0; ; guard++) {
      if (guard > 50) this.fail("events without end");
      const tx = s.tx.splice(0, s.tx.length);
      for (let i = 0; i < tx.length; i++) this.packet(tx[i]);
      if (!s.events.length) break;
      const ev = s.events.splice(0, s.events.length);
      for (let i = 0; i < ev.length; i += 4) this.event(ev[i] as number, ev[i + 1], ev[i + 2], ev[i + 3]);
    }
  }

  /** One element of tx: exactly one well-formed Client packet of our level, within the broker's limits. */
  packet(b: Uint8Array): void {
    this.stepPackets++;
    if (!(b instanceof Uint8Array)) this.fail("tx holds " + String(b));
    const d = new MqttDecoder({ version: this.version, maximumPacketSize: 268435460 });
    d.feed(b);
    const p = d.next();
    if (p === undefined || d.error) this.fail("sent a malformed packet (" + (d.error ? d.error.message : "incomplete") + "): " + hex(b));
    if (d.next() !== undefined || d.state !== 0 || d.input !== undefined) this.fail("one tx element holds more than one packet: " + hex(b));
    const t = p.type;
    count("sent " + t);
    if (t === 2 || t === 9 || t === 11 || t === 13) this.fail("sent a Server's packet " + t);
    if (t === 1) {
      if (p.protocolVersion !== this.version) this.fail("CONNECT of level " + p.protocolVersion);
      this.newConnection();
      return;
    }
    // (After a CONNACK a mutation made, what the session read of it.)
    const lim = this.limits ?? (this.version === 5 && this.s.state === SessionState.Connected ? this.s.v5!.serverProperties ?? {} : undefined);
    if (lim) {
      const mps = lim.maximumPacketSize;
      if (mps !== undefined && b.length > mps) this.fail("sent packet " + t + " of " + b.length + " B > the server's Maximum Packet Size " + mps + " [MQTT-3.2.2-15]");
    }
    switch (t) {
      case 3: {
        const q = p as PublishPacket;
        if (lim) {
          if (q.qos > (lim.maximumQoS ?? 2)) this.fail("PUBLISH QoS " + q.qos + " > Maximum QoS [MQTT-3.2.2-11]");
          if (q.retain && lim.retainAvailable === 0) this.fail("retained PUBLISH, Retain Available 0 [MQTT-3.2.2-14]");
        }
        const alias = q.properties?.topicAlias;
        if (alias !== undefined) {
          if (!lim || alias < 1 || alias > (lim.topicAliasMaximum ?? 0)) this.fail("Topic Alias " + alias + " > the server's " + lim?.topicAliasMaximum + " [MQTT-3.2.2-17]");
          if (q.topic !== "") this.aliases[alias] = q.topic;
          else if (this.aliases[alias] === undefined) this.fail("empty Topic Name with alias " + alias + " unknown to the broker on this connection");
          else count("alias used");
        } else if (q.topic === "") this.fail("empty Topic Name without alias");
        if (q.qos > 0) {
          const id = q.packetId!;
          const o = this.open.get(id);
          if (o && !q.dup) this.fail("new PUBLISH (DUP 0) with Packet Identifier " + id + " the broker holds open (kind " + o.kind + ") [MQTT-2.2.1-3]");
          if (o && o.kind !== q.qos) this.fail("PUBLISH " + id + " QoS " + q.qos + " again as kind " + o.kind);
          if (q.dup) count("DUP sent");
          if (q.qos === 2 && this.released.has(id)) this.fail("PUBLISH " + id + " sent again after its PUBREL [MQTT-4.3.3-6]");
          if (!o) {
            this.open.set(id, { kind: q.qos, n: 0 });
            this.order.push(id);
          }
        }
        return;
      }
      case 7:
        // The session took a PUBREL (perhaps one a mutation left readable): the id is released.
        this.delivered2.delete(p.packetId);
        return;
      case 4:
      case 5:
        return; // our acknowledgements of the broker's messages
      case 6: {
        this.released.add(p.packetId);
        const o = this.open.get(p.packetId);
        if (!o) {
          this.open.set(p.packetId, { kind: 3, n: 0 });
          this.order.push(p.packetId);
        } else o.kind = 3;
        count("PUBREL sent");
        return;
      }
      case 8:
      case 10: {
        const id = p.packetId;
        if (this.open.has(id)) this.fail((t === 8 ? "SUBSCRIBE" : "UNSUBSCRIBE") + " with Packet Identifier " + id + " the broker holds open [MQTT-2.2.1-3]");
        this.open.set(id, { kind: t, n: t === 8 ? p.subscriptions.length : p.topicFilters.length });
        this.order.push(id);
        return;
      }
      case 12:
        this.ping = true;
        return;
      case 14:
        count("DISCONNECT sent");
        return;
      case 15:
        count("AUTH sent");
        return;
    }
  }

  event(k: number, a: unknown, b: unknown, c: unknown): void {
    this.stepEvents++;
    switch (k) {
      case MqttEvent.Connect: {
        const info = a as { sessionPresent: boolean };
        count(info.sessionPresent ? "connected (session present)" : "connected (no session)");
        if (!info.sessionPresent) this.delivered2.clear(); // [MQTT-3.2.2-5]: the broker's QoS 2 state is gone too
        return;
      }
      case MqttEvent.Message: {
        const m = a as { qos: number; packetId: number; topic: string };
        if (typeof m.topic !== "string" || m.topic === "") this.fail("message without a topic");
        count("message QoS " + m.qos);
        if (m.qos === 2) {
          if (this.delivered2.has(m.packetId)) this.fail("QoS 2 message " + m.packetId + " delivered twice before its PUBREL [MQTT-4.3.3-10]");
          this.delivered2.add(m.packetId);
        }
        return;
      }
      case MqttEvent.Delivered: {
        const r = a as { packetId: number; qos: number; reasonCode: number };
        const p = this.pending.get(r.packetId);
        if (!p) this.fail("Delivered " + r.packetId + ": not a message publish() accepted and not yet reported");
        if (p.token !== undefined && p.token !== c) this.fail("Delivered " + r.packetId + " with another message's token");
        if (r.qos !== p.qos) this.fail("Delivered " + r.packetId + " QoS " + r.qos + ", published at " + p.qos);
        if (b !== undefined && !(b instanceof MqttError)) this.fail("Delivered with a non-MqttError");
        count(b ? "delivered (" + (b as MqttError).code + ")" : "delivered");
        this.pending.delete(r.packetId);
        this.released.delete(r.packetId);
        return;
      }
      case MqttEvent.Subscribed:
        count(b ? "subscribe failed" : "subscribed");
        return;
      case MqttEvent.Error:
        if (!(a instanceof MqttError)) this.fail("Error event with " + String(a));
        count("error " + (a as MqttError).code);
        return;
      case MqttEvent.Disconnect:
        count("server DISCONNECT");
        return;
      case MqttEvent.Auth: {
        count("auth");
        const x = this.r();
        const data = x < 0.15 ? undefined : Uint8Array.of(this.int(256));
        this.note("authenticate " + (data ? "data" : "abandon"));
        try {
          this.s.authenticate(data, this.now);
        } catch (e) {
          this.fail("authenticate() threw " + (e as Error)?.message);
        }
        return;
      }
      case MqttEvent.Close:
        count("close");
        return;
    }
    this.fail("undocumented event " + k);
  }

  // -- invariants -----------------------------------------------------------------------

  checkOutbox(): void {
    const ob = this.s.outbox;
    let bytes = 0;
    let n = 0;
    for (let e = ob.head; e; e = e.next) {
      if (++n > ob.maxMessages) this.fail("outbox list longer than maxMessages");
      if (!this.pending.has(e.packetId)) this.fail("outbox holds " + e.packetId + ", not a pending message");
      if (e.bytes) bytes += e.bytes.length;
    }
    this.pending.forEach((p, id) => {
      const e = ob.get(id);
      // (A released QoS 2 message's record r<id> keeps its sequence only: after a reboot its topic is "".)
      if (!e || (e.topic !== p.topic && !(e.bytes === undefined && e.topic === ""))) this.fail("message " + id + " (" + p.topic + ") vanished: not reported, not in the outbox");
      if (this.store.get("mqtt", "m" + id) === undefined && this.store.get("mqtt", "r" + id) === undefined) this.fail("message " + id + " has no store record");
    });
    // (maxBytes + a byte a message: a 3.1.1 record loaded by a 5.0 session gains its Property Length; nothing is dropped for it)
    if (n !== ob.count || ob.count > ob.maxMessages || ob.bytes > ob.maxBytes + ob.count || ob.bytes !== bytes) this.fail("outbox " + ob.count + " messages (listed " + n + "), " + ob.bytes + " B (counted " + bytes + ")");
    // Store records: the outbox's messages, released ones, inbound QoS 2 ids, hw, cid.
    const keys = this.store.keys("mqtt");
    let m = 0;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      if (k[0] === "m" || k[0] === "r") {
        m++;
        if (!this.pending.has(Number(k.slice(1)))) this.fail("store record " + k + " of no pending message");
      } else if (k[0] === "x") {
        if (!this.pending.has(Number(k.slice(1, k.indexOf("."))))) this.fail("store part " + k + " of no pending message");
      } else if (k[0] === "i") {
        if (!ob.hasInbound(Number(k.slice(1)))) this.fail("store record " + k + ", not an inbound id the outbox holds");
      } else if (k !== "hw" && k !== "cid") this.fail("store record " + k);
    }
    if (m !== this.pending.size) this.fail(m + " message records for " + this.pending.size + " pending messages");
  }

  check(): void {
    const s = this.s;
    if (s.state !== 0 && s.state !== 1 && s.state !== 2) this.fail("state " + s.state);
    count(STATE_NAMES[s.state]);
    this.checkOutbox();
    if (s.tx.length || s.events.length) this.fail("output left");
    // In flight: the entries before the cursor, within the quota (§4.9).
    if (s.state !== SessionState.Disconnected) {
      let n = 0;
      for (let e = s.outbox.head; e && e !== s.outbox.cursor; e = e.next) n++;
      if (s.inflight !== n) this.fail("inflight " + s.inflight + ", " + n + " entries before the cursor");
      if (s.inflight < 0 || (s.state === SessionState.Connected && s.inflight > s.quota)) this.fail("inflight " + s.inflight + " > quota " + s.quota);
    }
    // Bounded: inbound QoS 2 ids, alias tables, pending requests.
    const rm = (this.v5opts.receiveMaximum as number) ?? 16;
    const most = "most inbound QoS 2 ids v" + this.version;
    if (s.outbox.inboundCount > (reached[most] ?? 0)) reached[most] = s.outbox.inboundCount;
    // (5.0: none taken over our Receive Maximum [MQTT-3.3.4-9]; ids taken under 3.1.1 before a reboot to 5.0 may be over it.)
    const n2 = s.outbox.inboundCount;
    if (n2 > (this.version === 5 ? rm : 65535) && n2 > this.inbound2) this.fail("inbound QoS 2 ids " + n2 + " > Receive Maximum " + rm);
    this.inbound2 = n2;
    const al = (s.v5 as unknown as { aliases?: { of: Map<string, number>; topic: string[]; inbound: string[] } } | undefined)?.aliases;
    if (al) {
      const max = s.v5!.topicAliasMaximum;
      if (al.of.size > max || al.topic.length > max + 1) this.fail("outbound aliases " + al.of.size + " > " + max);
      if (al.inbound.length > (this.v5opts.topicAliasMaximum as number) + 1) this.fail("inbound aliases " + al.inbound.length);
    }
    const pend = (s.pending ?? []) as unknown[];
    if (pend.length % 4 || pend.length > 4 * this.requests) this.fail("pending requests " + pend.length / 4 + " of " + this.requests);
    if (s.state === SessionState.Disconnected && pend.length) this.fail("pending requests while disconnected");
    // The deadline.
    const l = s.latest;
    const e = s.earliest;
    if (s.state === SessionState.Connecting || (s.state === SessionState.Connected && s.keepAlive > 0)) {
      if (!(l >= 0 && l < Infinity)) this.fail("latest " + l + " while " + STATE_NAMES[s.state]);
      if (!(e <= l)) this.fail("earliest " + e + " > latest " + l);
    } else if (l !== -1) this.fail("latest " + l + " while " + STATE_NAMES[s.state] + " keepAlive " + s.keepAlive);
    if (this.stepPackets > 40 || this.stepEvents > 60) this.fail("output of one step: " + this.stepPackets + " packets, " + this.stepEvents + " events");
  }

  // -- steps ----------------------------------------------------------------------------

  run(steps: number): void {
    for (this.step = 1; this.step <= steps; this.step++) this.once();
  }

  once(): void {
    const s = this.s;
    this.stepPackets = this.stepEvents = 0;
    const x = this.r() * 100;
    if (s.state === SessionState.Disconnected && x < 30) {
      this.note("app connect");
      s.connect(this.now);
    } else if (x < 30 || (s.state === SessionState.Connecting && x < 50)) this.answer(this.r() < 0.85);
    else if (x < 44) this.broker(this.message());
    else if (x < 50) this.mutated();
    else if (x < 78) this.app();
    else if (x < 79) this.lose();
    else if (x < 81) this.flash();
    else if (x < 98) this.advance(this.r() < 0.75);
    else {
      count("reboot");
      if (this.opts.clientId !== "" && this.r() < 0.15) {
        // The app updated to the other protocol level: the stored messages are converted on load.
        this.version = this.version === 5 ? 4 : 5;
        this.auth = this.version === 5 && this.v5opts.auth !== undefined;
        count("reboot as v" + this.version);
      }
      this.note("reboot" + (this.version === 5 ? " (5.0)" : " (3.1.1)"));
      this.boot();
    }
    this.collect();
    this.check();
  }

  /** Bytes from the broker: nothing may escape receive(). */
  deliver(b: Uint8Array, what: string): void {
    const s = this.s;
    this.note("broker " + what);
    // A stream split at random boundaries, at times.
    const chunks: Uint8Array[] = [];
    if (b.length > 1 && this.r() < 0.25) {
      let o = 0;
      while (o < b.length) {
        const n = 1 + this.int(Math.min(8, b.length - o));
        chunks.push(b.subarray(o, o + n));
        o += n;
      }
      count("split");
    } else chunks.push(b);
    for (let i = 0; i < chunks.length; i++) {
      try {
        s.receive(chunks[i], this.now);
      } catch (e) {
        this.fail("receive() threw " + (e as Error)?.message);
      }
      this.collect();
    }
  }

  /** A well-formed packet from the broker (skipped when the support's encoder refuses it: the mutations cover those). */
  broker(p: MqttPacket | undefined, also?: MqttPacket[]): void {
    if (!p) return;
    let b: Uint8Array;
    const all = [p].concat(also ?? []);
    try {
      const parts = all.map((q) => encodePacket(q, this.version));
      let n = 0;
      for (let i = 0; i < parts.length; i++) n += parts[i].length;
      b = new Uint8Array(n);
      n = 0;
      for (let i = 0; i < parts.length; i++) {
        b.set(parts[i], n);
        n += parts[i].length;
      }
    } catch {
      count("not encodable");
      return;
    }
    for (let i = 0; i < all.length; i++) this.before(all[i]);
    // After a mutation the session's decoder may be inside a packet: it reads these bytes as part of it.
    const desync = this.midPacket();
    this.deliver(b, all.map((q) => describe2(q)).join(" + ") + (desync ? " (the stream out of step)" : ""));
    if (desync) this.prune();
    else for (let i = 0; i < all.length; i++) this.after(all[i]);
  }

  /** The session's decoder holds part of a packet. */
  midPacket(): boolean {
    const d = this.s.decoder;
    return d.state !== 0 || d.input !== undefined;
  }

  /** The broker cannot tell what the session made of its bytes: it forgets what the session no longer holds. */
  prune(): void {
    const s = this.s;
    this.order.slice().forEach((id) => {
      const o = this.open.get(id)!;
      if (o.kind < 8 ? !s.outbox.get(id) : !(s.pending ?? []).some((x, i) => i % 4 === 0 && x === id)) this.close(id);
    });
    if (s.state !== SessionState.Connected) this.newConnection();
    else if (this.version === 5 && !this.limits) this.limits = s.v5!.serverProperties ?? {}; // a CONNACK made by the mutation
  }

  /** The broker's bookkeeping before sending `p`. */
  before(p: MqttPacket): void {
    // The limits the session must keep to from its CONNACK on (before the session reads it: it sends at once).
    if (p.type === 2 && p.reasonCode === 0 && this.s.state === SessionState.Connecting) this.limits = this.version === 5 ? p.properties ?? {} : undefined;
    if (p.type === 3 && p.qos === 2) {
      this.in2.push(p);
      if (this.in2.length > 4) this.in2.shift();
    }
    if (p.type === 3 && p.qos > 0) {
      this.inIds.push(p.packetId!);
      if (this.inIds.length > 6) this.inIds.shift();
    }
  }

  /** After the session read `p`: what the broker now holds open. */
  after(p: MqttPacket): void {
    switch (p.type) {
      case 4:
      case 7:
      case 9:
      case 11:
        this.close(p.packetId);
        break;
      case 5:
        // A failure ends a QoS 2 message not yet released (a released one's PUBREL is sent again).
        if ((p.reasonCode ?? 0) >= 0x80 && this.open.get(p.packetId)?.kind === 2) this.close(p.packetId);
        break;
      case 13:
        this.ping = false;
        break;
    }
  }

  close(id: number): void {
    if (!this.open.delete(id)) return;
    const i = this.order.indexOf(id);
    if (i >= 0) this.order.splice(i, 1);
  }

  /** The broker answers what the session has open (coop: properly, in order; else fields at random). */
  answer(coop: boolean): void {
    const s = this.s;
    if (s.state === SessionState.Connecting) {
      this.broker(this.connack(coop));
      return;
    }
    if (s.state !== SessionState.Connected) return;
    if (!this.order.length) {
      if (this.ping || !coop) this.broker({ type: 13 });
      return;
    }
    // The oldest open exchange (coop: in order, [MQTT-4.6.0-2..4]), or any.
    const id = coop ? this.order[0] : this.pick(this.order);
    const o = this.open.get(id)!;
    const rc = coop || this.r() < 0.7 ? 0 : this.pick(ACK_RC);
    let p: MqttPacket;
    switch (o.kind) {
      case 1:
        p = { type: 4, packetId: id, reasonCode: rc };
        break;
      case 2:
        p = { type: 5, packetId: id, reasonCode: rc };
        break;
      case 3:
        p = { type: 7, packetId: id, reasonCode: coop ? 0 : this.pick([0, 0, 0x92]) };
        break;
      case 8:
        p = { type: 9, packetId: id, reasonCodes: Array.from({ length: coop || this.r() < 0.8 ? o.n : this.int(4) }, () => (coop ? this.int(3) : this.pick(SUB_RC))) };
        break;
      default:
        p = { type: 11, packetId: id, reasonCodes: this.version === 5 ? Array.from({ length: coop || this.r() < 0.8 ? o.n : this.int(4) }, () => (coop ? 0 : this.pick([0, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91]))) : [] };
    }
    if (this.version === 4 && p.type !== 9 && p.type !== 11) delete (p as { reasonCode?: number }).reasonCode;
    // At times with more in the same chunk (the broker's packets back to back on the stream).
    const more = this.r() < 0.2 ? this.message() : undefined;
    this.broker(p, more ? [more] : undefined);
  }

  connack(coop: boolean): MqttPacket {
    const v5 = this.version === 5;
    const rc = coop ? 0 : this.pick(v5 ? CONNACK_5 : CONNACK_4);
    const sp = coop ? !this.opts.clean && this.r() < 0.8 : this.r() < 0.5;
    let properties: MqttProperties | undefined;
    if (v5) {
      properties = {};
      const x = () => this.r() < (coop ? 0.3 : 0.5);
      if (x()) properties.receiveMaximum = 1 + this.int(4);
      if (x()) properties.maximumPacketSize = this.pick([24, 40, 64, 128, 1000]);
      if (this.r() < 0.6) properties.topicAliasMaximum = this.int(4);
      if (x()) properties.maximumQoS = this.int(2);
      if (x()) properties.retainAvailable = 0;
      if (x()) properties.serverKeepAlive = this.pick([0, 1, 5, 60]);
      if (x()) properties.wildcardSubscriptionAvailable = 0;
      if (x()) properties.subscriptionIdentifiersAvailable = 0;
      if (this.opts.clientId === "" || x()) properties.assignedClientIdentifier = "as" + this.int(100);
      if (this.auth && (coop || this.r() < 0.8)) properties.authenticationMethod = coop || this.r() < 0.8 ? "SCRAM-FZ" : "OTHER";
      if (rc === 0x9c || rc === 0x9d) properties.serverReference = "other:1883";
      if (rc >= 0x80 && this.r() < 0.5) properties.reasonString = "no";
    }
    return { type: 2, sessionPresent: rc ? false : sp, reasonCode: rc, properties };
  }

  inId(): number {
    const x = this.r();
    if (x < 0.4 && this.inIds.length) return this.pick(this.inIds);
    if (x < 0.8) return 1 + this.int(8);
    return 1 + this.int(65535);
  }

  /** An id for a broker's acknowledgement: one the session has open, or not. */
  outId(): number {
    const x = this.r();
    if (x < 0.6 && this.order.length) return this.pick(this.order);
    if (x < 0.8) return 1 + this.int(10);
    return 1 + this.int(65535);
  }

  /** A well-formed packet from the broker with random fields. */
  message(): MqttPacket | undefined {
    const v5 = this.version === 5;
    const rc = v5 && this.r() < 0.3 ? this.pick(ACK_RC) : 0;
    switch (this.int(16)) {
      case 0:
      case 1:
      case 2:
      case 3: {
        if (this.in2.length && this.r() < 0.2) {
          count("QoS 2 again");
          return { ...this.pick(this.in2), dup: true };
        }
        const qos = this.pick([0, 1, 2, 2] as const);
        let topic = this.pick(IN_TOPICS);
        let properties: MqttProperties | undefined;
        if (v5) {
          properties = {};
          const y = this.r();
          const max = this.v5opts.topicAliasMaximum as number;
          if (y < 0.35) {
            // an alias: set with a topic, or used with an empty one; valid or not
            const alias = this.r() < 0.8 ? 1 + this.int(Math.max(1, max)) : this.pick([0, max + 1, 65535]);
            properties.topicAlias = alias;
            if (this.r() < 0.5 && this.inAliases.length) topic = "";
            else if (topic === "") topic = "a/1";
            if (topic !== "") this.inAliases.push(alias);
            count("inbound alias");
          }
          if (this.r() < 0.2) properties.userProperties = [["k", "v" + this.int(9)]];
          if (this.r() < 0.1) properties.payloadFormatIndicator = 1;
          if (this.r() < 0.1) properties.messageExpiryInterval = this.int(100);
          if (this.r() < 0.1) properties.subscriptionIdentifiers = [1 + this.int(5)];
          if (this.r() < 0.1) properties.contentType = "text/plain";
          if (this.r() < 0.1) properties.responseTopic = "resp/1";
        } else if (topic === "") topic = "a/2";
        return { type: 3, topic, payload: Uint8Array.of(this.int(256), 0x41), qos, retain: this.r() < 0.2, dup: qos > 0 && this.r() < 0.15, packetId: qos ? this.inId() : undefined, properties };
      }
      case 4:
        return { type: 4, packetId: this.outId(), reasonCode: rc };
      case 5:
        return { type: 5, packetId: this.outId(), reasonCode: rc };
      case 6:
      case 7:
        // PUBREL: for a message delivered, or not
        return { type: 6, packetId: this.delivered2.size && this.r() < 0.7 ? this.pick([...this.delivered2]) : this.inId(), reasonCode: v5 && this.r() < 0.2 ? 0x92 : 0 };
      case 8:
        return { type: 7, packetId: this.outId(), reasonCode: v5 && this.r() < 0.2 ? 0x92 : 0 };
      case 9:
        return { type: 9, packetId: this.outId(), reasonCodes: Array.from({ length: 1 + this.int(3) }, () => this.pick(SUB_RC)) };
      case 10:
        return { type: 11, packetId: this.outId(), reasonCodes: v5 ? [this.pick([0, 0x11, 0x80])] : [] };
      case 11:
        return { type: 13 };
      case 12:
        if (!v5) return this.connack(this.r() < 0.5);
        return { type: 14, reasonCode: this.pick(DISC_RC), properties: this.r() < 0.2 ? { sessionExpiryInterval: 10 } : this.r() < 0.3 ? { serverReference: "other:1883", reasonString: "move" } : undefined };
      case 13:
        if (!v5) return { type: 12 };
        return { type: 15, reasonCode: this.pick([0, 0x18, 0x18, 0x19]), properties: { authenticationMethod: this.r() < 0.8 ? "SCRAM-FZ" : "OTHER", authenticationData: Uint8Array.of(9) } };
      case 14:
        return this.connack(this.r() < 0.5);
      default:
        return this.pick([{ type: 12 }, { type: 10, packetId: 1, topicFilters: ["a"] }] as MqttPacket[]);
    }
  }

  /** Mutated bytes: one to three packets, concatenated, then bit flips, truncation, a wrong Remaining Length, or random bytes. */
  mutated(): void {
    const list: Uint8Array[] = [];
    for (let n = 1 + this.int(3); n > 0; n--) {
      const p = this.r() < 0.5 ? this.message() : undefined;
      try {
        list.push(p ? encodePacket(p, this.version) : Uint8Array.of(0x40, 2, 0, 1 + this.int(8)));
      } catch {
        list.push(Uint8Array.of(0xd0, 0));
      }
    }
    let n = 0;
    for (let i = 0; i < list.length; i++) n += list[i].length;
    let b = new Uint8Array(n);
    n = 0;
    for (let i = 0; i < list.length; i++) {
      b.set(list[i], n);
      n += list[i].length;
    }
    let what: string;
    switch (this.int(5)) {
      case 0:
        for (let k = 1 + this.int(3); k > 0; k--) b[this.int(b.length)] ^= 1 << this.int(8);
        what = "bit flips";
        break;
      case 1:
        b = b.slice(0, this.int(b.length));
        what = "truncated";
        break;
      case 2:
        if (b.length > 1) b[1] = this.int(256);
        what = "Remaining Length";
        break;
      case 3:
        b = new Uint8Array(1 + this.int(16));
        for (let i = 0; i < b.length; i++) b[i] = this.int(256);
        what = "random";
        break;
      default:
        what = "concatenated " + list.length;
    }
    count("mutated");
    this.deliver(b, what + " " + hex(b));
    this.prune();
  }

  /** An app call: only the documented refusals may be thrown, and then nothing changed. */
  app(): void {
    const s = this.s;
    const now = this.now;
    const v5 = this.version === 5;
    const x = this.int(100);
    let what: string;
    let f: () => unknown;
    let utf8 = false;
    if (x < 8 || (s.state === SessionState.Disconnected && x < 35)) {
      what = "connect";
      f = () => s.connect(now);
    } else if (x < 12) {
      const rc = v5 ? this.pick([0, 0, 4, 0x80, 0x81, 0x05]) : 0;
      what = "disconnect " + rc;
      f = () => s.disconnect(rc, v5 && this.r() < 0.3 ? { reasonString: this.pick(["bye".repeat(1 + this.int(30)), "\ud800"]), userProperties: [["a", this.pick(["b", "\udc00"])]] } : undefined, now);
    } else if (x < 70) {
      const topic = this.pick(TOPICS);
      const qos = this.pick([0, 1, 1, 1, 2, 2, 2, 3]);
      const y = this.r();
      const payload = y < 0.02 ? new Uint8Array(4000 + this.int(1000)) : y < 0.08 ? new Uint8Array(200 + this.int(400)) : y < 0.1 ? "a\udc00" : y < 0.35 ? "text " + this.step : Uint8Array.of(this.step & 255, this.int(256));
      const retain = this.r() < 0.2;
      let properties: MqttProperties | undefined;
      if (v5 && this.r() < 0.35) {
        properties = {};
        const z = this.int(9);
        if (z === 0) properties.topicAlias = 1;
        else if (z === 1) properties.subscriptionIdentifiers = [1];
        else if (z === 2) properties.responseTopic = this.pick(["resp/1", "resp/#"]);
        else if (z === 3) {
          properties.payloadFormatIndicator = 1;
          if (typeof payload !== "string") payload[0] = 0xff;
        } else if (z < 6) properties.messageExpiryInterval = 1 + this.int(20);
        else if (z === 6) properties.userProperties = [["u", this.pick(["" + this.step, "\ud800", "a\u0000"])]];
        else properties.contentType = this.pick(["c", "\udfff"]);
      }
      what = "publish " + short(topic) + " QoS " + qos + (retain ? " retained" : "") + (typeof payload === "string" ? " " + JSON.stringify(payload) : " " + payload.length + " B") + (properties ? " " + JSON.stringify(properties) : "");
      utf8 = typeof payload === "string" && /[\ud800-\udfff]/.test(payload);
      const token = { n: ++this.tokens };
      f = () => {
        const id = s.publish(topic, payload, { qos: qos as 0, retain, properties }, token, now);
        if (qos > 0) {
          if (!(id > 0 && id < 65536) || this.pending.has(id)) this.fail("publish returned Packet Identifier " + id);
          this.pending.set(id, { topic, qos, token });
          count("accepted QoS " + qos);
          if (this.store.get("mqtt", "x" + id + ".1") !== undefined) count("stored in parts");
        } else if (id !== 0) this.fail("publish at QoS 0 returned " + id);
      };
    } else if (x < 85) {
      const subs: Subscription[] = [];
      for (let n = 1 + this.int(2); n > 0; n--) subs.push({ topicFilter: this.pick(FILTERS), qos: this.pick([0, 1, 2, 2, 3]) as 0, noLocal: this.r() < 0.1 });
      const options = v5 && this.r() < 0.3 ? (this.r() < 0.5 ? { subscriptionIdentifier: this.pick([0, 1, 7, 268435456]) } : { userProperties: [["k", this.pick(["v", "\ud800"])]] as [string, string][] }) : undefined;
      what = "subscribe " + JSON.stringify(subs) + (options ? " " + JSON.stringify(options) : "");
      f = () => {
        s.subscribe(subs, options, undefined, now);
        this.requests++;
      };
    } else if (x < 93) {
      const filters = [this.pick(FILTERS)];
      what = "unsubscribe " + JSON.stringify(filters);
      f = () => {
        s.unsubscribe(filters, undefined, undefined, now);
        this.requests++;
      };
    } else if (x < 97 && this.auth) {
      what = "reauthenticate";
      f = () => s.v5!.reauthenticate(s, Uint8Array.of(7), now);
    } else {
      what = "connect";
      f = () => s.connect(now);
    }
    this.note("app " + what);
    const before = snapshot(this);
    try {
      f();
    } catch (e) {
      const ok = (e instanceof MqttError && REFUSALS.indexOf(e.code) >= 0) || (utf8 && e instanceof Error && /lone surrogate|utf8/i.test(e.message));
      if (!ok) this.fail(what + " threw " + (e as Error)?.message + " (" + (e as MqttError)?.code + "), not a documented refusal");
      const after = snapshot(this);
      if (after !== before) this.fail(what + " refused (" + (e as Error).message + ") but changed the session: " + before + " -> " + after);
      count("refused " + ((e as MqttError).code ?? "utf8"));
    }
  }

  /** Another module writes or frees some of the flash the outbox shares. */
  flash(): void {
    const k = "k" + this.int(6);
    // at times to the brim: 0-160 B left, room for a small record or none
    const room = this.store.capacity - this.store.used - 96 - this.int(160);
    const n = this.r() < 0.5 && room > 0 ? Math.min(room, 3900) : 64 + this.int(700);
    this.note("flash: app/" + k + (this.r() < 0.6 ? " " + n + " B" : " deleted"));
    try {
      if (this.trace[this.trace.length - 1].endsWith("deleted")) this.store.delete("app", k);
      else this.store.set("app", k, new ArrayBuffer(n));
    } catch {
      count("flash full");
    }
  }

  /** The connection dies. */
  lose(): void {
    this.note("connection lost");
    try {
      this.s.connectionLost(this.now, this.r() < 0.5 ? new Error("reset") : undefined);
    } catch (e) {
      this.fail("connectionLost() threw " + (e as Error)?.message);
    }
    this.collect();
    this.newConnection();
  }

  /** Time goes on: to the next deadline (inside its window), or by a random amount, running every deadline on the way. */
  advance(toDeadline: boolean): void {
    const s = this.s;
    const l = s.latest;
    let end: number;
    if (toDeadline) {
      if (l < 0) return;
      const e = Math.max(this.now, s.earliest);
      end = Math.max(this.now, e + this.int(Math.max(0, l - e) + 1));
    } else end = this.now + this.int(this.r() < 0.2 ? 100000 : 10000);
    this.note("advance to " + end + " (window " + s.earliest + ".." + l + ")");
    let same = 0;
    for (;;) {
      const d = s.latest;
      const at = toDeadline ? end : Math.max(this.now, d);
      if (d < 0 && !toDeadline) break;
      if (at > end) break;
      if (at === this.now && ++same > 5) this.fail("handleTimeout() asks to run again at " + at + " without end");
      if (at !== this.now) same = 0;
      this.now = at;
      try {
        s.handleTimeout(this.now);
      } catch (e) {
        this.fail("handleTimeout() threw " + (e as Error)?.message);
      }
      this.collect();
      if (s.state === SessionState.Disconnected) this.newConnection();
      if (toDeadline) break;
    }
    this.now = Math.max(this.now, end);
  }

  // -- after the fuzz ---------------------------------------------------------------------

  /** A cooperative broker: connected, every message reported, the outbox empty. */
  settle(): void {
    const s = this.s;
    // (and the other modules' data gone: a full flash holds a QoS 2 message before its PUBREL)
    const other = this.store.keys("app");
    for (let i = 0; i < other.length; i++) this.store.delete("app", other[i]);
    for (let i = 0; i < 400; i++) {
      this.stepPackets = this.stepEvents = 0;
      if (s.state === SessionState.Connected && this.pending.size === 0 && !this.order.length && !this.midPacket()) {
        if (!this.s.v5 || this.s.v5.maximumQoS === 2) return;
        s.disconnect(0, undefined, this.now); // a connection without the fuzz's Maximum QoS, for the scripted exchange
        this.collect();
        continue;
      }
      if (s.state !== SessionState.Disconnected && this.midPacket()) {
        // A stream a mutation left out of step: the broker closes the connection.
        this.note("settle: connection lost (the stream out of step)");
        s.connectionLost(this.now);
        this.collect();
        this.newConnection();
      } else if (s.state === SessionState.Disconnected) {
        this.note("settle: connect");
        s.connect(this.now);
        this.collect();
      } else if (s.state === SessionState.Connecting) this.broker(i < 200 ? this.connack(true) : { type: 2, sessionPresent: !this.opts.clean, reasonCode: 0 });
      else if (this.order.length) this.answer(true);
      else {
        // Connected, nothing open, messages held back (quota): nothing should be left.
        this.fail("connected with " + this.pending.size + " pending and nothing open toward the broker: " + dump(this));
      }
      this.check();
    }
    this.fail("a cooperative broker did not bring the session back: " + STATE_NAMES[s.state] + ", " + this.pending.size + " pending: " + dump(this) + ", flash " + this.store.used + " of " + this.store.capacity + " B used");
  }
}

function short(t: string): string {
  return JSON.stringify(t.length > 24 ? t.slice(0, 8) + "... (" + t.length + ")" : t);
}

function hex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length && i < 24; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
  return s + (b.length > 24 ? "...(" + b.length + ")" : "");
}

function describe2(p: MqttPacket): string {
  return JSON.stringify(p, (k, v) => (v instanceof Uint8Array ? "<" + v.length + " B>" : v));
}

/** The session's outbox and the broker's view, for a failure's message. */
function dump(z: Fuzz): string {
  const s = z.s;
  const out: string[] = [];
  for (let e = s.outbox.head; e; e = e.next) out.push(e.packetId + (e.bytes ? "/q" + ((e.bytes[0] >> 1) & 3) : "/rel") + (e.sent ? "/sent" : "") + (e === s.outbox.cursor ? "/cursor" : ""));
  const open: string[] = [];
  z.open.forEach((o, id) => open.push(id + ":" + o.kind));
  return "outbox [" + out.join(" ") + "], inflight " + s.inflight + " quota " + s.quota + ", broker open [" + open.join(" ") + "]";
}

/** What a refused app call must leave as it was. */
function snapshot(z: Fuzz): string {
  const s = z.s;
  return [s.state, s.outbox.count, s.outbox.bytes, s.tx.length, s.events.length, s.inflight, (s.pending ?? []).length, z.store.keys("mqtt").join(" "), s.outbox.cursor?.packetId].join(",");
}

describe("MqttSession fuzz: " + SEEDS.length + " seeds x " + STEPS + " steps, 3.1.1 and 5.0", () => {
  it.each(SEEDS)("seed %i: invariants hold after every step, and a clean exchange works after", (seed) => {
    const z = new Fuzz(seed);
    z.run(STEPS);
    z.settle();
    expect(z.pending.size).toBe(0);
    // A clean scripted exchange: PUBLISH QoS 1, PUBACK, Delivered.
    const s = z.s;
    z.step++;
    const token = {};
    const id = s.publish("z/final", "done", { qos: 1 }, token, z.now);
    z.pending.set(id, { topic: "z/final", qos: 1, token });
    z.collect();
    expect(z.open.get(id)).toEqual({ kind: 1, n: 0 });
    z.broker({ type: 4, packetId: id, reasonCode: 0 });
    z.check();
    if (z.pending.size) z.fail("the final PUBACK left " + dump(z));
    expect(s.outbox.count).toBe(0);
    count("seeds");
  });

  it("the seeds together reached every state, both levels, reconnects, resends, reboots and every packet", () => {
    tally.print("mqtt session fuzz");
    expect(reached.seeds).toBe(SEEDS.length); // (every seed ran: this test reads what they counted)
    const want = [
      ...STATE_NAMES, "reboot", "split", "mutated", "connected (session present)", "connected (no session)", "DUP sent", "PUBREL sent", "alias used", "inbound alias",
      "message QoS 0", "message QoS 1", "message QoS 2", "QoS 2 again", "delivered", "delivered (publish-refused)", "subscribed", "subscribe failed",
      "error protocol", "error connect-refused", "error keep-alive-timeout", "server DISCONNECT", "auth", "AUTH sent", "DISCONNECT sent",
      "refused invalid", "refused not-connected", "refused outbox-full", "refused packet-too-large", "accepted QoS 1", "accepted QoS 2",
      "reboot as v4", "reboot as v5", "stored in parts", "flash full", "error storage", "refused storage",
      "sent 1", "sent 3", "sent 4", "sent 5", "sent 6", "sent 7", "sent 8", "sent 10", "sent 12", "sent 14",
    ];
    for (const k of want) expect([k, (reached[k] ?? 0) > 0]).toEqual([k, true]);
  });
});

