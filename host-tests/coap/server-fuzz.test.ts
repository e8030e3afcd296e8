// @xs
/*
 * CoapServer (modules/coap/server.ts) on its CoapEndpoint (messaging.ts) fuzzed: a stateful,
 * seeded, generative test (docs/testing.md, "Seeded fuzz of a protocol end"). Each of SEEDS makes
 * one server with small bounds on a sans-IO endpoint and a VirtualClock, and drives it for STEPS
 * random steps mixing:
 *   - requests from several client addresses (one of them refused by `authorize` for PUT) and from
 *     40 source ports of one more (peers, kept responses), CON,
 *     NON, ACK and RST with fresh, recent and random Message IDs, tokens of 0-8 octets, every
 *     method, unknown method codes, response codes and Empty messages; options right and wrong
 *     (Uri-Path to resources that exist and not, Observe register/deregister, ETag, If-Match,
 *     If-None-Match, Content-Format, Accept, Uri-Query, Size1, Proxy-Uri; unknown critical and
 *     elective options; repeated non-repeatable options; lengths out of range; Block2 with random
 *     NUM and SZX; Block1 uploads in order, out of order, with SZX changing, short blocks);
 *   - tokens of 9-15 octets (TKL), option nibbles of 15, and mutated datagrams (bit flips,
 *     truncation, trailing octets, random octets);
 *   - the same datagram again (a duplicate, RFC 7252 §4.5), at once or later;
 *   - ACK and RST to the server's notifications and separate responses (RFC 7641 §3.6), from the
 *     right address and from another;
 *   - the resources changing (notify()), and time advanced to the next deadline or by up to
 *     300 s (past EXCHANGE_LIFETIME: retransmissions, notification pacing, ack delay, expiry).
 * After every step (fail() names the seed, the step and the last steps):
 *   - nothing escaped receive() or a job: no error reported by the endpoint or the scheduler, and
 *     the server reports only the handler's own deliberate failure;
 *   - every datagram sent decodes with the project's codec, goes to an address that sent us
 *     something, and a response (other than an ACK) carries a token that address used;
 *   - a CON answered within its deduplication entry's life is answered with the very same ACK or
 *     RST again, and nothing is passed up twice while the entry lives (§4.5); whether an entry
 *     lives is our own model of the cache docs/coap.md describes (capacity, expiry, the oldest
 *     evicted), which the endpoint must agree with; a CON refused by the codec gets its RST or
 *     4.02/4.00 (§4.2, §5.4.1), a ping its RST (§4.3), and the same answer again when repeated;
 *   - a large POST's response is kept for its Block2 continuation (RFC 7959 §2.6), at most 4;
 *   - every CON request passed up is acknowledged within ackDelay (§5.2.2), every request passed
 *     up is answered within the slow handler's delay (no response lost);
 *   - the configuration resource changes only in its PUT handler, and only for a request then
 *     answered 2.04; its handler never sees a request the server must refuse (unauthorized, a
 *     Content-Format it does not take, a body over its limit);
 *   - Observe numbers to one observer increase (RFC 7641 §4.4), a RST to a notification removes
 *     its observer (§3.6);
 *   - bounded: deduplication cache, peers, tracked NONs (maxNonTracked) and transmissions,
 *     observers (in all and per resource), Block1 transfers, kept §2.6 responses, scheduler jobs,
 *     datagrams per advance.
 * Each invariant was shown able to fail by breaking the code once (17 breaks, each caught; the
 * commit that added this file lists them). A last test checks what the seeds together reached
 * (the counts it prints are the same on Node and XS: the PRNG is ours).
 *
 * What it found (fixed in server.ts, each reproduced under "found by the fuzz" below): a PUT with
 * Block1 and a Block2 NUM past the end was enacted and answered 4.02; a registration answered
 * 4.02 (Block2 NUM past the end) added an observer; a RST to a registration's separate response
 * (its first notification) left the observer in place.
 */
import { COAP_MEDIATYPE, COAP_MESSAGE, COAP_OPTION, COAP_REQUEST, COAP_RESPONSE } from "../../modules/coap/constants";
import { decode, encode, type CoapMessage } from "../../modules/coap/codec";
import { CoapEndpoint, type IncomingRequest } from "../../modules/coap/messaging";
import { getOption, getUint, hex, opaqueOption, sameBytes, stringOption, uintOption, type CoapOption } from "../../modules/coap/options";
import { CoapServer } from "../../modules/coap/server";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { VirtualClock } from "../../sim/virtual-clock";
import { prng, Tally } from "../support/fuzz";
import { ascii, show, text } from "./helpers";

const SEEDS = Array.from({ length: 16 }, (_, i) => 11 + i * 7919);
const STEPS = 600;

const PORT = 5683;
const REFUSED = "10.9.9.9"; // authorize() refuses its PUTs
const CLIENTS = [
  { address: "10.0.0.2", port: PORT },
  { address: "10.0.0.3", port: 40001 },
  { address: "10.0.0.3", port: 40002 },
  { address: REFUSED, port: PORT },
];
const PATHS = ["config", "config", "config", "sensors/temp", "sensors/temp", "big", "slow", "slowobs", "boom", ".well-known/core", "nope", "config/x", ""];
const LIMITS = { dedup: 12, peers: 6, nonTracked: 4, observers: 5, perResource: 3, uploads: 2, body: 256, configBody: 40 };
const ACK_DELAY = 1000;
const SLOW_MAX = 3000;
const EMPTY: Uint8Array = new Uint8Array(0);

const tally = new Tally();
const { reached, count } = tally;

interface Client {
  address: string;
  port: number;
}

interface Sent {
  to: string;
  port: number;
  bytes: Uint8Array;
  m: CoapMessage;
}

interface Datagram {
  from: Client;
  bytes: Uint8Array;
  at: number;
  /** The first answer (ACK/RST with its Message ID) to a CON that made no deduplication entry (refused by the codec, a ping). */
  answer?: string;
  noEntry?: boolean;
}

/** The deduplication cache as docs/coap.md describes it: capacity entries; an addition drops the expired ones, then the oldest while full. */
class DedupModel {
  map = new Map<string, number>();
  constructor(readonly capacity: number) {}
  live(key: string, now: number): boolean {
    const e = this.map.get(key);
    if (e != null && e <= now) this.map.delete(key);
    return e != null && e > now;
  }
  add(key: string, expires: number, now: number): void {
    const map = this.map;
    map.delete(key);
    map.forEach((e, k) => e <= now && map.delete(k));
    while (map.size >= this.capacity) map.delete(map.keys().next().value as string);
    map.set(key, expires);
  }
}

class Fuzz {
  r: () => number;
  clock = new VirtualClock();
  scheduler: Scheduler;
  ep: CoapEndpoint;
  server: CoapServer;
  step = 0;
  trace: string[] = [];
  out: Sent[] = [];
  errors: string[] = [];
  config = "a=1";
  temp = 20;
  bigSize = 2000;
  dedup = new DedupModel(LIMITS.dedup);
  /** Recent datagrams we sent (to send again). */
  recent: Datagram[] = [];
  /** Next Message ID per client. */
  mids = new Map<string, number>();
  /** The server's CON/NON we may ACK or RST. */
  theirs: Sent[] = [];
  /** Tokens each client used ("address|port" -> hex tokens). */
  tokens = new Map<string, Set<string>>();
  /** Tokens of registrations (to reuse). */
  obsTokens: { c: Client; token: Uint8Array }[] = [];
  /** ETags the server gave. */
  etags: Uint8Array[] = [];
  /** Upload state per client and path: the next block. */
  uploads = new Map<string, { num: number; szx: number; body: Uint8Array }>();
  /** "address|port#mid": the type of the message that made the live entry, and the first ACK/RST to it. */
  entryType = new Map<string, number>();
  answers = new Map<string, string>();
  /** Requests passed up, waiting for their ACK (CON) and response: key -> deadlines. */
  owedAck = new Map<string, number>();
  owedResponse = new Map<string, { at: number; token: string; mid: number; con: boolean }>();
  /** Passed up during this step: dedup keys. */
  passedUp: string[] = [];
  /** The config PUT handler's changes in this step: the request's key. */
  configChanges: { key: string; token: string; mid: number; con: boolean }[] = [];
  /** The datagrams sent within EXCHANGE_LIFETIME (address|port and hex -> when), to tell a retransmission or a duplicate's answer. */
  lastSent = new Map<string, number>();
  /** The last response with each token to each client (address|port#token). */
  lastByToken = new Map<string, Sent>();
  /** Last Observe number per observer key (address|port#token). */
  observeSeq = new Map<string, number>();

  constructor(readonly seed: number) {
    this.r = prng(seed);
    this.scheduler = new Scheduler({ clock: this.clock, onError: (e) => this.errors.push("scheduler: " + String((e as Error)?.stack ?? e)) });
    let rnd = seed;
    this.ep = new CoapEndpoint({
      scheduler: this.scheduler,
      random: (b) => {
        for (let i = 0; i < b.length; i++) b[i] = (rnd = (Math.imul(rnd, 1103515245) + 12345) | 0) >>> 24;
        return b;
      },
      send: (bytes, to, port) => this.sent(bytes, to, port),
      onError: (e) => this.errors.push("endpoint: " + String((e as Error)?.stack ?? e)),
      dedupCapacity: LIMITS.dedup,
      maxPeers: LIMITS.peers,
      maxNonTracked: LIMITS.nonTracked,
      ackDelay: ACK_DELAY,
    });
    this.server = new CoapServer({
      endpoint: this.ep,
      maxObservers: LIMITS.observers,
      maxObserversPerResource: LIMITS.perResource,
      maxBlock1Transfers: LIMITS.uploads,
      maxBodySize: LIMITS.body,
      blockSize: 256,
      confirmEvery: 3,
      notificationInterval: 1000,
      authorize: (req) => !(req.address === REFUSED && req.method === COAP_REQUEST.PUT),
      onError: (e) => {
        if (!(e instanceof Error && /^boom/.test(e.message))) this.errors.push("server: " + String((e as Error)?.stack ?? e));
      },
    });
    const inner = this.ep.onRequest!;
    this.ep.onRequest = (req: IncomingRequest) => {
      const key = req.address + "|" + req.port + "#" + req.message.messageId;
      this.passedUp.push(key);
      if (req.confirmable) this.owedAck.set(key, this.clock.now() + ACK_DELAY);
      this.owedResponse.set(key, { at: this.clock.now() + SLOW_MAX + ACK_DELAY, token: hex(req.token), mid: req.message.messageId, con: req.confirmable });
      inner(req);
    };
    const s = this.server;
    s.add("config", {
      ct: COAP_MEDIATYPE.TEXT_PLAIN,
      accepts: [COAP_MEDIATYPE.TEXT_PLAIN],
      maxBodySize: LIMITS.configBody,
      observable: true,
      get: () => ({ payload: this.config, etag: Uint8Array.of(this.config.length, this.config.charCodeAt(2) | 0) }),
      put: (req) => {
        if (req.address === REFUSED) this.fail("config PUT handler ran for an unauthorized client");
        if (req.contentFormat != null && req.contentFormat !== COAP_MEDIATYPE.TEXT_PLAIN) this.fail("config PUT handler ran with Content-Format " + req.contentFormat);
        if (req.payload.length > LIMITS.configBody) this.fail("config PUT handler ran with a body of " + req.payload.length);
        const t = req.text();
        if (!/^[a-z]=[0-9]+$/.test(t)) return { code: COAP_RESPONSE.BAD_REQUEST };
        if (t !== this.config) {
          this.config = t;
          this.configChanges.push({ key: req.address + "|" + req.port, token: hex(req.message.token), mid: req.message.messageId, con: req.confirmable });
          s.resource("config")!.notify();
        }
      },
      post: (req) => ({ payload: "posted " + req.payload.length + " " + "p".repeat(req.payload.length * 20) }),
    });
    s.add("sensors/temp", {
      ct: [COAP_MEDIATYPE.TEXT_PLAIN, COAP_MEDIATYPE.APPLICATION_JSON],
      observable: true,
      autoEtag: true,
      maxAge: 30,
      get: (req) => (req.accept === COAP_MEDIATYPE.APPLICATION_JSON ? { payload: '{"t":' + this.temp + "}", contentFormat: COAP_MEDIATYPE.APPLICATION_JSON } : { payload: "t".repeat(this.temp % 400), contentFormat: COAP_MEDIATYPE.TEXT_PLAIN }),
    });
    s.add("big", { observable: true, confirmableNotifications: true, get: () => ({ payload: bytes(this.bigSize, this.temp) }), fetch: (req) => ({ payload: bytes(req.payload.length * 7, 1) }) });
    s.add("slow", {
      get: () => new Promise((resolve) => this.scheduler.after(this.int(SLOW_MAX), () => resolve({ payload: "late" }))),
      post: () => new Promise((resolve, reject) => this.scheduler.after(this.int(SLOW_MAX), () => (this.r() < 0.5 ? resolve({ code: COAP_RESPONSE.CHANGED }) : reject(new Error("boom (async)"))))),
    });
    s.add("slowobs", {
      observable: true,
      get: () => (this.r() < 0.5 ? { payload: "now " + this.temp } : new Promise((resolve) => this.scheduler.after(this.int(SLOW_MAX), () => resolve({ payload: "later " + this.temp })))),
    });
    s.add("boom", {
      observable: true,
      get: () => {
        if (this.temp % 3 === 0) throw new Error("boom");
        return { payload: "ok" };
      },
    });
  }

  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }

  fail(what: string): never {
    throw new Error("seed " + this.seed + " step " + this.step + ": " + what + "\n  last steps:\n  " + this.trace.slice(-14).join("\n  "));
  }
  note(what: string): void {
    this.trace.push(this.step + " @" + this.clock.now() + " " + what);
    if (this.trace.length > 40) this.trace.shift();
  }

  // -- output -------------------------------------------------------------------------------

  sent(bytes: Uint8Array, to: string, port: number): void {
    const d = decode(bytes);
    if (!d.ok) this.fail("sent a datagram our codec refuses (" + d.error.reason + "): " + hex(bytes));
    const m = d.message;
    const peer = to + "|" + port;
    if (!this.tokens.has(peer)) this.fail("sent to " + peer + ", which never sent us anything");
    const s: Sent = { to, port, bytes: bytes.slice(), m };
    this.out.push(s);
    const key = peer + "#" + m.messageId;
    if (m.type >= COAP_MESSAGE.ACK) {
      // the first ACK/RST to a CON is its answer
      if (!this.answers.has(key) && this.entryType.get(key) === COAP_MESSAGE.CON) this.answers.set(key, hex(bytes));
      this.owedAck.delete(key);
    }
    if (m.code >> 5 >= 2) {
      if (m.type < COAP_MESSAGE.ACK && !this.tokens.get(peer)!.has(hex(m.token))) this.fail("a response with token " + hex(m.token) + " that " + peer + " never used");
      const tk = hex(m.token);
      this.owedResponse.forEach((o, k) => {
        if (k.startsWith(peer + "#") && o.token === tk && (m.type === COAP_MESSAGE.ACK ? o.mid === m.messageId : m.type < COAP_MESSAGE.ACK)) this.owedResponse.delete(k);
      });
      this.lastByToken.set(peer + "#" + tk, s);
      if (m.type < COAP_MESSAGE.ACK) {
        this.theirs.push(s);
        if (this.theirs.length > 12) this.theirs.shift();
      }
      // §4.4: Observe numbers to one observer increase (24-bit serial arithmetic); a retransmission
      // or the answer to a duplicate is the same datagram again
      const obs = getUint(m, COAP_OPTION.OBSERVE);
      const h = peer + " " + hex(bytes);
      const now = this.clock.now();
      const repeat = (this.lastSent.get(h) ?? -Infinity) > now - this.ep.parameters.EXCHANGE_LIFETIME;
      if (!repeat) this.lastSent.set(h, now);
      if (this.lastSent.size > 256) this.lastSent.forEach((t, k) => t <= now - this.ep.parameters.EXCHANGE_LIFETIME && this.lastSent.delete(k));
      if (obs != null && !repeat) {
        const ok = peer + "#" + tk;
        const last = this.observeSeq.get(ok);
        if (last != null && !(((obs - last) & 0xffffff) > 0 && ((obs - last) & 0xffffff) < 0x800000)) this.fail("Observe " + obs + " after " + last + " to " + ok);
        this.observeSeq.set(ok, obs);
        count("notifications and registrations");
      }
      const e = getOption(m, COAP_OPTION.ETAG);
      if (e && !this.etags.some((x) => sameBytes(x, e.value))) {
        this.etags.push(e.value.slice());
        if (this.etags.length > 6) this.etags.shift();
      }
      count("response " + (m.code >> 5) + ".xx");
      count((m.type === COAP_MESSAGE.ACK ? "piggybacked " : "separate ") + (m.code >> 5) + "." + ((m.code & 31) < 10 ? "0" : "") + (m.code & 31));
    }
  }

  // -- invariants -------------------------------------------------------------------------------

  check(outBefore: number): void {
    if (this.errors.length) this.fail("error reported: " + this.errors[0]);
    const s = this.server;
    const ep = this.ep;
    const now = this.clock.now();
    if (ep.dedup.size > LIMITS.dedup) this.fail("deduplication cache of " + ep.dedup.size);
    if (ep.messageIds().length > LIMITS.peers) this.fail("peer table of " + ep.messageIds().length);
    // NONs tracked (at most maxNonTracked) and CONs awaiting an ACK: notifications (one outstanding per observer, §4.5.1) and separate responses
    let non = 0;
    (ep as unknown as { _transmissions: Map<string, { confirmable: boolean }> })._transmissions.forEach((t) => t.confirmable || non++);
    if (non > LIMITS.nonTracked || ep.inFlight > LIMITS.nonTracked + LIMITS.observers + 32) this.fail("tracked transmissions " + ep.inFlight + ", " + non + " NON");
    if (non === LIMITS.nonTracked) count("NONs tracked: 4");
    if (s.observerCount > LIMITS.observers) this.fail("observers " + s.observerCount);
    ["config", "sensors/temp", "big", "boom", "slowobs"].forEach((p) => {
      const n = s.resource(p)!.observerCount;
      if (n > LIMITS.perResource) this.fail("observers of " + p + ": " + n);
    });
    if (s.pendingUploads === LIMITS.uploads) count("Block1 transfers: 2 held");
    if (s.pendingUploads > LIMITS.uploads) this.fail("Block1 transfers " + s.pendingUploads);
    const kept = (s as unknown as { _responses: { size: number } })._responses.size;
    if (kept > 4) this.fail("kept §2.6 responses " + kept);
    if (kept === 4) count("kept §2.6 responses: 4");
    if (this.scheduler.size > 64) this.fail("scheduler jobs " + this.scheduler.size);
    // every request passed up is acknowledged within ackDelay, answered within the slow handler's delay
    this.owedAck.forEach((at, k) => at < now && this.fail("CON request " + k + " not acknowledged by " + at));
    this.owedResponse.forEach((o, k) => o.at < now && this.fail("request " + k + " (token " + o.token + ") never answered"));
    // the configuration changes only for a request answered 2.04
    for (const c of this.configChanges) {
      const res = this.out.slice(outBefore).filter((x) => x.to + "|" + x.port === c.key && hex(x.m.token) === c.token && x.m.code >> 5 >= 2 && (x.m.type === COAP_MESSAGE.ACK ? x.m.messageId === c.mid : x.m.type < 2));
      if (!res.length || res[0].m.code !== COAP_RESPONSE.CHANGED) this.fail("config changed to " + this.config + " by a request answered " + (res.length ? res[0].m.code.toString(16) : "nothing"));
      count("config changed");
    }
    this.configChanges = [];
  }

  // -- steps ------------------------------------------------------------------------------------

  async run(steps: number): Promise<void> {
    for (this.step = 1; this.step <= steps; this.step++) {
      const outBefore = this.out.length;
      this.passedUp = [];
      const x = this.r() * 100;
      if (x < 40) this.deliver(this.pick(CLIENTS), this.request());
      else if (x < 45) this.deliver({ address: "10.0.0.9", port: 50000 + this.int(40) }, this.request()); // many source ports
      else if (x < 48) this.deliver(this.r() < 0.5 ? this.pick(CLIENTS) : { address: "10.0.0.9", port: 50000 + this.int(40) }, this.largePost());
      else if (x < 52) this.deliver(this.pick(CLIENTS), this.malformed());
      else if (x < 57) {
        const c = this.pick(CLIENTS);
        this.deliver(c, this.mutate(this.request()));
      } else if (x < 72 && this.recent.length) this.again(this.pick(this.recent.slice(-8)));
      else if (x < 80) this.toTheirs();
      else if (x < 86) this.change();
      else this.advance();
      await flush();
      this.check(outBefore);
    }
  }

  /** Time to the next deadline (most often) or by up to 300 s, running what falls due. */
  advance(): void {
    const next = this.clock.nextTimerAt();
    const to = next != null && this.r() < 0.6 ? Math.max(next, this.clock.now()) : this.clock.now() + (this.r() < 0.2 ? 100000 + this.int(200000) : this.int(5000));
    this.note("advance to " + to);
    const before = this.out.length;
    this.clock.advanceTo(to);
    if (this.out.length - before > 64) this.fail("sent " + (this.out.length - before) + " datagrams in one advance");
  }

  change(): void {
    this.temp = this.int(1000);
    this.bigSize = 1 + this.int(3000);
    const p = this.pick(["sensors/temp", "big", "config", "boom", "slowobs"]);
    this.note("notify " + p + " (temp " + this.temp + ")");
    this.server.resource(p)!.notify();
  }

  /** A datagram from a client: nothing may escape receive(); duplicates are answered alike. */
  deliver(c: Client, bytes: Uint8Array, again?: Datagram): void {
    const peer = c.address + "|" + c.port;
    if (!this.tokens.has(peer)) this.tokens.set(peer, new Set());
    const d = decode(bytes);
    const now = this.clock.now();
    const mid = bytes.length >= 4 ? (bytes[2] << 8) | bytes[3] : -1;
    const key = peer + "#" + mid;
    const con = bytes.length >= 4 && bytes[0] >> 6 === 1 && ((bytes[0] >> 4) & 3) === COAP_MESSAGE.CON;
    this.note((again ? "again " : "") + "from " + peer + " " + show(d, bytes));
    if (d.ok) {
      this.tokens.get(peer)!.add(hex(d.message.token));
      // a registration (GET with Observe 0) starts a new sequence of Observe numbers for its token
      if (d.message.code === COAP_REQUEST.GET && getUint(d.message, COAP_OPTION.OBSERVE) === 0 && d.message.type < 2) this.observeSeq.delete(peer + "#" + hex(d.message.token));
    }
    else if (!d.ok && d.error.token) this.tokens.get(peer)!.add(hex(d.error.token));
    // Is a deduplication entry live for this Message ID (§4.5)? Our own model of the documented
    // bounded cache (docs/coap.md: each new entry first drops the expired ones, then the oldest while
    // full), which the endpoint's must agree with (a lookup drops an expired entry, as receive would)
    const kept = d.ok && d.message.type < COAP_MESSAGE.ACK && d.message.code !== 0;
    const entry = kept && this.dedup.live(key, now);
    if (kept && entry !== !!this.ep.dedup.get(key, now)) this.fail("deduplication entry " + key + ": " + (entry ? "live" : "none") + " by the documented policy, " + (entry ? "none" : "live") + " in the endpoint");
    if (kept && !entry) {
      const p = this.ep.parameters;
      this.dedup.add(key, now + (con ? p.EXCHANGE_LIFETIME : p.NON_LIFETIME), now);
      this.entryType.set(key, d.message.type);
      this.answers.delete(key);
    }
    const outBefore = this.out.length;
    try {
      this.ep.receive(bytes, c.address, c.port);
    } catch (e) {
      this.fail("receive() threw " + (e as Error)?.message);
    }
    if (this.errors.length) this.fail("error reported: " + this.errors[0]);
    const answers = this.out.slice(outBefore).filter((x) => x.to === c.address && x.port === c.port && x.m.type >= COAP_MESSAGE.ACK && x.m.messageId === mid);
    if (answers.length > 1) this.fail(answers.length + " ACK/RST to one datagram");
    // a CON the codec refuses is answered RST or 4.02/4.00 (RFC 7252 §4.2, §5.4.1), a ping RST (§4.3)
    if (con && (d.ok ? !d.message.code : d.error.kind !== "version") && answers.length !== 1) this.fail("a " + (d.ok ? "ping" : "CON refused (" + (d as { error: { reason: string } }).error.reason + ")") + " got no ACK/RST with its Message ID");
    const got = answers.length ? hex(answers[0].bytes) : "";
    if (entry) {
      count("duplicates with a live entry");
      // §4.5: passed up once; a CON answered with the same ACK/RST (the empty ACK while still processing); a NON's or an ACK's entry: nothing
      if (this.passedUp.length) this.fail("a duplicate (entry live) passed up again");
      if (con && this.entryType.get(key) === COAP_MESSAGE.CON) {
        const want = this.answers.get(key) ?? hex(Uint8Array.of(0x60, 0, mid >> 8, mid & 255));
        if (got !== want) this.fail("duplicate CON " + key + " answered " + (got || "nothing") + ", first " + want);
        count("duplicate CONs answered alike");
      } else if (got) this.fail("a duplicate " + (con ? "CON (entry of a NON)" : "NON") + " answered " + got);
    } else if (again && again.noEntry && con && (!d.ok || !d.message.code)) {
      if (got !== again.answer) this.fail("the same refused CON or ping answered " + (got || "nothing") + ", before " + (again.answer || "nothing"));
      count("refused CONs answered alike");
    }
    if (!again) {
      const rec: Datagram = { from: c, bytes, at: now };
      if (con && (!d.ok || !d.message.code)) {
        rec.noEntry = true;
        rec.answer = got;
      }
      this.recent.push(rec);
      if (this.recent.length > 24) this.recent.shift();
    }
  }

  again(d: Datagram): void {
    if (this.clock.now() - d.at > 200000) return;
    this.deliver(d.from, d.bytes, d);
  }

  /** An ACK or RST to one of the server's CON/NON, from its address or another; a RST to a notification still tracked removes its observer (RFC 7641 §3.6). */
  toTheirs(): void {
    const t = this.theirs.length ? this.pick(this.theirs) : undefined;
    if (!t) return;
    const right = this.r() < 0.85;
    const c = right ? { address: t.to, port: t.port } : this.pick(CLIENTS);
    const type = t.m.type === COAP_MESSAGE.CON && this.r() < 0.5 ? COAP_MESSAGE.ACK : COAP_MESSAGE.RST;
    const peer = t.to + "|" + t.port;
    const okey = peer + "#" + hex(t.m.token);
    // the notification is the last message with its token to that client, the endpoint still tracks it, and its observer is there
    const tracked = (this.ep as unknown as { _transmissions: Map<string, { bytes: Uint8Array }> })._transmissions.get(peer + "#" + t.m.messageId);
    const bound = right && type === COAP_MESSAGE.RST && t.m.code >> 5 === 2 && getOption(t.m, COAP_OPTION.OBSERVE) && this.lastByToken.get(okey) === t && tracked && sameBytes(tracked.bytes, t.bytes) && snapshotObservers(this.server).has(okey);
    this.deliver(c, encode({ type, code: 0, messageId: t.m.messageId, token: EMPTY, options: [], payload: EMPTY }));
    if (bound) {
      if (snapshotObservers(this.server).has(okey)) this.fail("a RST to notification " + t.m.messageId + " did not remove observer " + okey);
      count("observer removed by RST");
    }
  }

  nextMid(c: Client): number {
    const k = c.address + "|" + c.port;
    const x = this.r();
    if (x < 0.08) return this.int(0x10000);
    const n = ((this.mids.get(k) ?? 0x1000 * (1 + CLIENTS.indexOf(c))) + 1) & 0xffff;
    if (x < 0.15) return (n - 1 - this.int(5)) & 0xffff; // a recent one
    this.mids.set(k, n);
    return n;
  }

  token(): Uint8Array {
    if (this.obsTokens.length && this.r() < 0.2) return this.pick(this.obsTokens).token;
    const t = new Uint8Array(this.int(9));
    for (let i = 0; i < t.length; i++) t[i] = this.int(4); // few values: tokens collide at times
    return t;
  }

  /** A request (or another message) from a client, encoded (encode checks little: options may be wrong). */
  request(): Uint8Array {
    const c = this.pick(CLIENTS);
    const y = this.r();
    const type = y < 0.6 ? COAP_MESSAGE.CON : y < 0.88 ? COAP_MESSAGE.NON : y < 0.95 ? COAP_MESSAGE.ACK : COAP_MESSAGE.RST;
    const z = this.r();
    let code = z < 0.86 ? this.pick([1, 1, 1, 2, 3, 3, 3, 4, 5, 6, 7]) : z < 0.9 ? 8 + this.int(24) : z < 0.94 ? this.pick([0x45, 0x44, 0x84, 0x5f]) : 0;
    // (bodies mostly to the resources that take them: config PUT/POST, slow POST, big FETCH)
    const path = code >= 2 && code < 8 && code !== 4 && this.r() < 0.8 ? this.pick(["config", "slow", "big"]) : this.pick(PATHS);
    const options: CoapOption[] = [];
    let payload: Uint8Array = EMPTY;
    path.split("/").forEach((p) => p && options.push(stringOption(COAP_OPTION.URI_PATH, p)));
    const token = code ? this.token() : EMPTY;
    if (code === 1 && this.r() < 0.4) {
      options.push(uintOption(COAP_OPTION.OBSERVE, this.r() < 0.7 ? 0 : this.pick([1, 2, 0xffffff])));
      if (this.r() < 0.5) this.obsTokens.push({ c, token });
      if (this.obsTokens.length > 8) this.obsTokens.shift();
    }
    if (this.r() < 0.2) options.push(uintOption(COAP_OPTION.ACCEPT, this.pick([0, 50, 40, 60, 9999])));
    if (this.r() < 0.15 && this.etags.length) options.push(opaqueOption(COAP_OPTION.ETAG, this.pick(this.etags)));
    if (this.r() < 0.15) options.push(uintOption(COAP_OPTION.BLOCK2, (this.r() < 0.7 ? this.int(12) : this.int(0xfffff)) * 16 + this.int(7)));
    if (path === ".well-known/core" && this.r() < 0.5) options.push(stringOption(COAP_OPTION.URI_QUERY, this.pick(["rt=temperature*", "href=/c*", "obs", "ct=0", "%zz=1", "title"])));
    if (this.r() < 0.05) options.push(opaqueOption(COAP_OPTION.IF_MATCH, this.r() < 0.5 ? EMPTY : Uint8Array.of(1, 2)));
    if (this.r() < 0.05) options.push(opaqueOption(COAP_OPTION.IF_NONE_MATCH, EMPTY));
    if (this.r() < 0.03) options.push(stringOption(COAP_OPTION.PROXY_URI, "coap://10.1.1.1/x"));
    // bodies: PUT/POST/FETCH/PATCH/iPATCH, whole or in Block1 blocks
    if (code >= 2 && code !== 4 && code < 8) {
      if (this.r() < 0.7) options.push(uintOption(COAP_OPTION.CONTENT_FORMAT, this.pick([0, 0, 0, 50, 60])));
      if (this.r() < 0.7) payload = this.block1(c, path, code, options);
      else payload = this.r() < 0.75 ? ascii(this.pick(["a=" + this.int(100), "b=" + this.int(100), "c=" + this.int(9), "c=x", "", "z=" + "9".repeat(this.int(60))])) : bytes(this.int(400), this.step);
      if (this.r() < 0.1) options.push(uintOption(COAP_OPTION.SIZE1, this.int(600)));
    }
    // options that are wrong
    const w = this.r() * 1.5;
    if (w < 0.04) options.push(opaqueOption(this.pick([9, 2049, 65001, 13]), Uint8Array.of(1))); // unknown critical: 4.02
    else if (w < 0.08) options.push(opaqueOption(this.pick([2048, 65000, 16]), Uint8Array.of(1))); // unknown elective: ignored
    else if (w < 0.12) {
      const n = this.pick([COAP_OPTION.CONTENT_FORMAT, COAP_OPTION.ACCEPT, COAP_OPTION.OBSERVE, COAP_OPTION.BLOCK2, COAP_OPTION.URI_HOST]);
      options.push(uintOption(n, 1), uintOption(n, 2)); // repeated, not repeatable
    } else if (w < 0.16) options.push(opaqueOption(this.pick([COAP_OPTION.ACCEPT, COAP_OPTION.CONTENT_FORMAT, COAP_OPTION.BLOCK2, COAP_OPTION.BLOCK1, COAP_OPTION.OBSERVE, COAP_OPTION.ETAG, COAP_OPTION.URI_HOST, COAP_OPTION.IF_NONE_MATCH]), new Uint8Array(this.pick([0, 3, 4, 5, 9])))); // lengths out of range
    if (!code) {
      options.length = 0;
      payload = EMPTY;
    }
    if (type === COAP_MESSAGE.ACK && code > 0 && code < 32) code = 0x45; // (an ACK carrying a request: sometimes kept)
    return encode({ type, code: type === COAP_MESSAGE.RST && this.r() < 0.8 ? 0 : code, messageId: this.nextMid(c), token: type === COAP_MESSAGE.RST ? EMPTY : token, options: type === COAP_MESSAGE.RST ? [] : options, payload: type === COAP_MESSAGE.RST ? EMPTY : payload });
  }

  /** A POST to config answered with more than a block (kept for its Block2 continuation, RFC 7959 §2.6), or that continuation. */
  largePost(): Uint8Array {
    const more = this.r() < 0.4;
    const options = [stringOption(COAP_OPTION.URI_PATH, "config")];
    if (more) options.push(uintOption(COAP_OPTION.BLOCK2, (1 + this.int(3)) * 16 + this.pick([3, 4, 4])));
    const type = this.r() < 0.7 ? COAP_MESSAGE.CON : COAP_MESSAGE.NON;
    return encode({ type, code: COAP_REQUEST.POST, messageId: this.int(0x10000), token: this.token(), options, payload: more ? EMPTY : ascii("k=" + "7".repeat(18 + this.int(20))) });
  }

  /** The next Block1 block of an upload (sometimes out of order, another size, short, or a new upload). */
  block1(c: Client, path: string, code: number, options: CoapOption[]): Uint8Array {
    const k = c.address + "|" + c.port + "|" + code + "|" + path;
    let u = this.uploads.get(k);
    if (!u || this.r() < 0.08) {
      const szx = this.int(3);
      const body = this.r() < 0.6 ? ascii("q=" + "7".repeat(this.int(path === "config" ? 44 : 80))) : bytes(this.int(600), this.step);
      u = { num: 0, szx, body };
      this.uploads.set(k, u);
    }
    const x = this.r();
    if (x < 0.04) u.num += 1 + this.int(3); // a gap
    else if (x < 0.07 && u.num) u.num--; // again
    else if (x < 0.1) u.szx = this.int(7); // another size (6: 1024)
    const size = 16 << u.szx;
    const start = u.num * size;
    const end = Math.min(u.body.length, start + size);
    const more = end < u.body.length;
    let p = start < u.body.length ? u.body.subarray(start, end) : EMPTY;
    if (this.r() < 0.05 && p.length > 1) p = p.subarray(1); // short
    options.push(uintOption(COAP_OPTION.BLOCK1, u.num * 16 + (more ? 8 : 0) + u.szx));
    if (!u.num && this.r() < 0.5) options.push(uintOption(COAP_OPTION.SIZE1, u.body.length));
    u.num++;
    if (!more) this.uploads.delete(k);
    return p;
  }

  /** Datagrams the codec refuses: TKL 9-15, nibble 15, truncated, Empty with content, marker without payload. */
  malformed(): Uint8Array {
    const c = this.pick(CLIENTS);
    const mid = this.nextMid(c);
    const type = this.pick([0, 0, 1, 2, 3]);
    const base = [0x40 | (type << 4), this.pick([1, 2, 3, 0x45]), mid >> 8, mid & 255];
    switch (this.int(7)) {
      case 0:
        return Uint8Array.from([base[0] | (9 + this.int(7)), base[1], base[2], base[3], 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
      case 1:
        return Uint8Array.from(base.concat([this.pick([0xf1, 0x1f, 0xff - 0xf0 + 0xd0 + 0x0f, 0xbf]), 1, 2]));
      case 2:
        return Uint8Array.from(base.concat([0xd1])); // extended delta truncated
      case 3:
        return Uint8Array.from([0x40 | (type << 4), 0, base[2], base[3], 0xff, 1]); // Empty with content
      case 4:
        return Uint8Array.from(base.concat([0xb4, 0x63, 0x6f, 0x6e, 0x66, 0xff])); // marker, no payload
      case 5:
        return Uint8Array.from(base.concat([0xe0, 0xff, 0xff, 0x00])); // option number over 65535
      default:
        return Uint8Array.from([base[0] & 0x3f, base[1], base[2], base[3]]); // version 0
    }
  }

  mutate(b: Uint8Array): Uint8Array {
    switch (this.int(4)) {
      case 0: {
        b = b.slice();
        for (let n = 1 + this.int(3); n > 0; n--) b[this.int(b.length)] ^= 1 << this.int(8);
        return b;
      }
      case 1:
        return b.slice(0, this.int(b.length));
      case 2: {
        const c = new Uint8Array(b.length + 1 + this.int(4));
        c.set(b);
        for (let i = b.length; i < c.length; i++) c[i] = this.int(256);
        return c;
      }
      default: {
        const c = new Uint8Array(this.int(24));
        for (let i = 0; i < c.length; i++) c[i] = this.int(256);
        if (c.length && this.r() < 0.7) c[0] = 0x40 | (c[0] & 0x3f);
        return c;
      }
    }
  }

  /** After the steps: every observer of the server is one the clients registered; a clean GET works. */
  async finish(): Promise<void> {
    this.step++;
    this.clock.advance(400000); // past EXCHANGE_LIFETIME and every retransmission
    await flush();
    this.check(this.out.length);
    const c = CLIENTS[0];
    const before = this.out.length;
    this.deliver(c, encode({ type: COAP_MESSAGE.CON, code: COAP_REQUEST.GET, messageId: 7, token: Uint8Array.of(9, 9), options: [stringOption(COAP_OPTION.URI_PATH, "config")], payload: EMPTY }));
    const r = this.out.slice(before);
    if (r.length !== 1 || r[0].m.type !== COAP_MESSAGE.ACK || r[0].m.code !== COAP_RESPONSE.CONTENT || text(r[0].m.payload) !== this.config) this.fail("a clean GET of config was answered " + JSON.stringify(r.map((x) => [x.m.type, x.m.code, text(x.m.payload)])));
    count("seeds");
  }
}

function snapshotObservers(s: CoapServer): Set<string> {
  const set = new Set<string>();
  s.observations().forEach((o) => {
    const d = decode(o.request);
    if (d.ok) set.add(o.address + "|" + o.port + "#" + hex(d.message.token));
  });
  return set;
}

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + seed) & 0xff;
  return out;
}
async function flush(): Promise<void> {
  for (let i = 0; i < 4; i++) await Promise.resolve();
}

describe("CoapServer fuzz: " + SEEDS.length + " seeds x " + STEPS + " steps", () => {
  it.each(SEEDS)("seed %i: invariants hold after every step, and a clean GET works after", async (seed) => {
    const z = new Fuzz(seed);
    await z.run(STEPS);
    await z.finish();
  });

  it("the seeds together reached what the fuzz is for", () => {
    tally.print("server fuzz");
    expect(reached.seeds).toBe(SEEDS.length);
    for (const k of ["duplicate CONs answered alike", "refused CONs answered alike", "duplicates with a live entry", "config changed", "observer removed by RST", "notifications and registrations", "Block1 transfers: 2 held", "kept §2.6 responses: 4", "NONs tracked: 4", "piggybacked 2.31", "separate 2.05", "piggybacked 4.08", "piggybacked 4.13", "piggybacked 4.15", "piggybacked 4.01", "piggybacked 4.02", "piggybacked 2.03", "response 4.xx", "response 5.xx", "response 2.xx"]) expect([k, (reached[k] ?? 0) > 0]).toEqual([k, true]);
  });
});

/*
 * What the fuzz found, each as a deterministic reproduction: a server on a sans-IO endpoint and a
 * VirtualClock, the datagrams written by hand.
 */
function oneServer(get?: () => unknown) {
  const clock = new VirtualClock();
  const errors: unknown[] = [];
  const scheduler = new Scheduler({ clock, onError: (e) => errors.push(e) });
  const sent: CoapMessage[] = [];
  let n = 1;
  const ep = new CoapEndpoint({
    scheduler,
    random: (b) => b.fill(n++),
    send: (b) => {
      const d = decode(b);
      if (d.ok) sent.push(d.message);
    },
    onError: (e) => errors.push(e),
  });
  const server = new CoapServer({ endpoint: ep, onError: (e) => errors.push(e) });
  const state = { config: "a=1" };
  server.add("config", {
    put: (req) => {
      state.config = req.text();
    },
    get: () => ({ payload: state.config }),
  });
  server.add("temp", { observable: true, get: (get ?? (() => ({ payload: "21" }))) as () => { payload: string } });
  const from = (m: Partial<CoapMessage>) =>
    ep.receive(encode({ type: COAP_MESSAGE.CON, code: COAP_REQUEST.GET, messageId: 1, token: Uint8Array.of(7), options: [], payload: EMPTY, ...m }), "10.0.0.2", PORT);
  return { clock, scheduler, ep, server, sent, errors, state, from };
}

describe("found by the fuzz", () => {
  it("a PUT with Block1 and a Block2 NUM past the end is not enacted and then answered 4.02 (RFC 7959 §2.3, Figure 10: a request with Block2 NUM > 0 asks for the rest of a response, RFC 7252 §5.9.2.3)", () => {
    const s = oneServer();
    // Block1 0/0/16 (the whole body in block 0), Block2 5/0/16: seed 182148 step 137 of the fuzz
    s.from({ code: COAP_REQUEST.PUT, options: [stringOption(COAP_OPTION.URI_PATH, "config"), uintOption(COAP_OPTION.BLOCK2, 5 << 4), uintOption(COAP_OPTION.BLOCK1, 0)], payload: ascii("b=2") });
    expect(s.sent.map((m) => [m.type, m.code.toString(16)])).toEqual([[COAP_MESSAGE.ACK, "88"]]); // 4.08: no kept response to continue (§2.6)
    expect(s.state.config).toBe("a=1");
    expect(s.errors).toEqual([]);
  });

  it("a registration with a Block2 NUM past the end, answered 4.02, adds no observer (RFC 7641 §3.1, §4.1: only a success response registers)", () => {
    const s = oneServer();
    s.from({ options: [uintOption(COAP_OPTION.OBSERVE, 0), stringOption(COAP_OPTION.URI_PATH, "temp"), uintOption(COAP_OPTION.BLOCK2, 9 << 4)] });
    expect(s.sent.map((m) => [m.type, m.code.toString(16), getUint(m, COAP_OPTION.OBSERVE)])).toEqual([[COAP_MESSAGE.ACK, "82", undefined]]);
    expect(s.server.observerCount).toBe(0);
  });

  it("a RST to the registration's separate response (its first notification) removes the observer (RFC 7641 §3.6, §4.5: MUST)", async () => {
    let later: (v: { payload: string }) => void = () => undefined;
    const s = oneServer(() => new Promise((resolve) => (later = resolve)));
    s.from({ options: [uintOption(COAP_OPTION.OBSERVE, 0), stringOption(COAP_OPTION.URI_PATH, "temp")] });
    s.clock.advance(1000); // the empty ACK (§5.2.2)
    later({ payload: "21" });
    await flush();
    expect(s.sent.map((m) => [m.type, m.code.toString(16), getUint(m, COAP_OPTION.OBSERVE) != null])).toEqual([
      [COAP_MESSAGE.ACK, "0", false],
      [COAP_MESSAGE.CON, "45", true],
    ]);
    expect(s.server.observerCount).toBe(1);
    s.ep.receive(encode({ type: COAP_MESSAGE.RST, code: 0, messageId: s.sent[1].messageId, token: EMPTY, options: [], payload: EMPTY }), "10.0.0.2", PORT);
    expect(s.server.observerCount).toBe(0);
    // and a NON registration's NON response likewise
    s.from({ type: COAP_MESSAGE.NON, messageId: 2, options: [uintOption(COAP_OPTION.OBSERVE, 0), stringOption(COAP_OPTION.URI_PATH, "temp")] });
    later({ payload: "22" });
    await flush();
    const res = s.sent[s.sent.length - 1];
    expect([res.type, res.code.toString(16), s.server.observerCount]).toEqual([COAP_MESSAGE.NON, "45", 1]);
    s.ep.receive(encode({ type: COAP_MESSAGE.RST, code: 0, messageId: res.messageId, token: EMPTY, options: [], payload: EMPTY }), "10.0.0.2", PORT);
    expect(s.server.observerCount).toBe(0);
    expect(s.errors).toEqual([]);
  });
});
