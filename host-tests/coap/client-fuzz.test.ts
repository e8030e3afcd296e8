// @xs
/*
 * CoapUriClient / CoapClient (modules/coap/uri-client.ts, client.ts) on their CoapEndpoint
 * (messaging.ts) fuzzed: a stateful, seeded, generative test (docs/testing.md, "Seeded fuzz of a
 * protocol end"). Each of SEEDS makes one client (block1Size 64, maxBodySize 4096, maxQueue 4) on
 * a sans-IO endpoint and a VirtualClock; the test plays the servers and drives it for STEPS random
 * steps mixing:
 *   - the app's calls: request() with every method, CON and NON, bodies whole and in Block1
 *     blocks, early Block2 negotiation, short timeouts; observe() and its cancel() and forget();
 *     ping(); the endpoint's request() with handlers, and cancel();
 *   - the servers' answers to the client's open requests: piggybacked (the right token, or
 *     another), an empty ACK and a separate CON or NON response later, RST, 2.05/2.04/2.03/4.04/
 *     5.00, Block2 bodies (RFC 7959 §2.4) in order or with gaps, another ETag, short blocks, a
 *     growing SZX, Size2 over the limit, Block1 answers (2.31 with the same or a smaller SZX, 4.13
 *     with Size1, 4.08, the final answer), Observe notifications (RFC 7641) in order, out of order
 *     (§3.4), far apart, after 128 s, with and without Max-Age, ending with 4.04;
 *   - answers that match nothing: another Message ID, another token, another address; the same
 *     datagram again (a duplicate); mutated datagrams and random octets;
 *   - time to the next deadline or by up to 200 s.
 * After every step (fail() names the seed, the step and the last steps):
 *   - nothing escaped receive() or a job: no error reported by the endpoint or the scheduler;
 *   - every datagram the client sends decodes with our codec and goes to a server the app named
 *     or answers (ACK/RST, by Message ID) a datagram from the address it goes to;
 *   - every request settles at most once (a promise can only; the endpoint's handlers are
 *     counted: onResponse or onFail, once, none after cancel()), and with what the servers
 *     sent: a response carries a token the client sent to that address, a body reassembled from
 *     blocks is exactly the body the server had for that ETag, a rejection is a CoapRequestError
 *     with a documented reason (or the documented RangeError "coap: queue full");
 *   - an observation delivers only notifications fresher than the last one delivered (RFC 7641
 *     §3.4, with the times the test sent them), nothing after its end, its end once;
 *   - bounded: exchanges, queued requests, tracked transmissions, peers, scheduler jobs.
 *   - an exchange ends within its timeout of its first transmission: the endpoint holds no more
 *     exchanges than the requests first sent within MAX_TRANSMIT_WAIT, those queued and the
 *     observations.
 * At the end the servers fall silent: within the longest timeout every request has settled and,
 * with the observations forgotten, the endpoint holds no exchange, no transmission and no job.
 * A failure inside a callback that catches (onNotify, a promise's then) is kept and thrown by the
 * next check. Each invariant was shown able to fail by breaking the code once (the commit that
 * added this file lists the breaks). A last test checks what the seeds reached (Node and XS print
 * the same counts: the PRNG is ours).
 *
 * What it found (fixed in uri-client.ts, reproduced under "found by the fuzz" below): a
 * notification's Block2 fetch abandoned for a fresher notification went on asking for blocks,
 * ahead of the fresh fetch, which then failed.
 */
import { COAP_MESSAGE, COAP_OPTION, COAP_REQUEST, COAP_RESPONSE } from "../../modules/coap/constants";
import { decode, encode, type CoapMessage } from "../../modules/coap/codec";
import { CoapEndpoint, type ClientExchange } from "../../modules/coap/messaging";
import { getBlock, getOption, getUint, hex, opaqueOption, sameBytes, uintOption, type CoapOption } from "../../modules/coap/options";
import { CoapRequestError, CoapUriClient, type CoapObservation, type CoapResponse } from "../../modules/coap/uri-client";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { VirtualClock } from "../../sim/virtual-clock";
import { prng, Tally } from "../support/fuzz";
import { ascii, show, text } from "./helpers";

const SEEDS = Array.from({ length: 32 }, (_, i) => 5 + i * 7919);
const STEPS = 600;

const SERVERS = [
  { address: "10.0.0.1", port: 5683 },
  { address: "10.0.0.5", port: 5684 },
];
const STRANGER = { address: "10.6.6.6", port: 5683 };
const PATHS = ["big", "small", "up", "obs", "x/y"];
const MAX_BODY = 4096;
const MAX_QUEUE = 4;
const EMPTY: Uint8Array = new Uint8Array(0);
const REASONS = ["timeout", "reset", "cancelled", "closed", "block", "too-large", "uri"];

const tally = new Tally();
const { reached, count } = tally;

interface Peer {
  address: string;
  port: number;
}
interface Out {
  to: string;
  port: number;
  bytes: Uint8Array;
  m: CoapMessage;
  at: number;
}
/** A request the client sent that a server may answer. */
interface Open {
  q: Out;
  /** An empty ACK was sent: the response goes separately. */
  acked?: boolean;
}
interface AppRequest {
  id: number;
  what: string;
  to: Peer;
  settled: number;
  done?: boolean;
}
interface Obs {
  o: CoapObservation;
  to: Peer;
  path: string;
  last?: { v: number; t: number };
  ended: number;
  forgotten?: boolean;
}

class Fuzz {
  r: () => number;
  clock = new VirtualClock();
  scheduler: Scheduler;
  ep: CoapEndpoint;
  client: CoapUriClient;
  step = 0;
  trace: string[] = [];
  errors: string[] = [];
  out: Out[] = [];
  open: Open[] = [];
  /** Tokens the client sent, by "address|port". */
  tokens = new Map<string, Set<string>>();
  /** Who sent the client something, with the Message IDs ("address|port#mid"). */
  inbound = new Set<string>();
  /** The servers' bodies by ETag (hex): a reassembled body must be one of them. */
  bodies = new Map<string, Uint8Array>();
  /** The current body of each server path. */
  current = new Map<string, { etag: Uint8Array; body: Uint8Array }>();
  requests: AppRequest[] = [];
  raws: { ex: ClientExchange; calls: number; cancelled: boolean; what: string }[] = [];
  observations: Obs[] = [];
  observeNext = new Map<string, number>();
  recent: { to: Peer; bytes: Uint8Array }[] = [];
  /** When the client first sent each of its requests. */
  firstSent: number[] = [];
  /** The client's requests by address and Message ID (a retransmission is not a new one). */
  lastSent = new Set<string>();
  serverMid = 0x7000;
  nextId = 1;
  maxTimeout = 0;

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
      tokenLength: 2,
      maxQueue: MAX_QUEUE,
    });
    this.client = new CoapUriClient({ endpoint: this.ep, block1Size: 64, maxBodySize: MAX_BODY });
    this.maxTimeout = this.ep.parameters.MAX_TRANSMIT_WAIT;
  }

  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
  /** The first failure: kept, as it may be thrown inside a callback that catches (onNotify, a promise's then). */
  failed: string | undefined;
  fail(what: string): never {
    this.failed ??= "seed " + this.seed + " step " + this.step + ": " + what + "\n  last steps:\n  " + this.trace.slice(-14).join("\n  ");
    throw new Error(this.failed);
  }
  note(what: string): void {
    this.trace.push(this.step + " @" + this.clock.now() + " " + what);
    if (this.trace.length > 40) this.trace.shift();
  }

  // -- the client's output ----------------------------------------------------------------

  sent(bytes: Uint8Array, to: string, port: number): void {
    const d = decode(bytes);
    if (!d.ok) this.fail("the client sent a datagram our codec refuses (" + d.error.reason + "): " + hex(bytes));
    const m = d.message;
    const peer = to + "|" + port;
    const named = SERVERS.some((s) => s.address === to && s.port === port);
    // an ACK or RST answers a datagram from that address with its Message ID (RFC 7252 §4.2, §4.3); a
    // request goes to a server the app named; a response (the endpoint's 4.04: it serves nothing) to
    // an address that sent a request with its token
    if (m.type >= COAP_MESSAGE.ACK ? !this.inbound.has(peer + "#" + m.messageId) : m.code >> 5 ? !this.inbound.has(peer + " token " + hex(m.token)) : !named) this.fail("the client sent " + ["CON", "NON", "ACK", "RST"][m.type] + " " + m.messageId + " to " + peer + (m.type >= 2 ? ", which sent it no such message" : m.code >> 5 ? ", which sent no request with token " + hex(m.token) : ", no server the app named"));
    const o: Out = { to, port, bytes: bytes.slice(), m, at: this.clock.now() };
    this.out.push(o);
    if (this.out.length > 200) this.out.shift();
    if (m.type < COAP_MESSAGE.ACK && m.code >= 1 && m.code < 32) {
      if (!this.tokens.has(peer)) this.tokens.set(peer, new Set());
      this.tokens.get(peer)!.add(hex(m.token));
      // a retransmission is the same request
      if (!this.open.some((x) => x.q.to === to && x.q.port === port && x.q.m.messageId === m.messageId)) this.open.push({ q: o });
      if (!this.lastSent.has(peer + "#" + m.messageId)) {
        this.lastSent.add(peer + "#" + m.messageId);
        this.firstSent.push(this.clock.now());
      }
      if (this.open.length > 12) this.open.shift();
    }
  }

  // -- invariants ---------------------------------------------------------------------------

  check(): void {
    if (this.failed) throw new Error(this.failed);
    if (this.errors.length) this.fail("error reported: " + this.errors[0]);
    const ep = this.ep as unknown as { _exchanges: Map<string, unknown>; _peers: Map<string, unknown> };
    // An exchange ends within its timeout of its first transmission (MAX_TRANSMIT_WAIT at most), but
    // an observation's: at most the requests first sent within it, those queued, and the observations
    const now = this.clock.now();
    this.firstSent = this.firstSent.filter((t) => now - t <= this.maxTimeout);
    const live = this.firstSent.length + this.observations.filter((o) => !o.ended).length + SERVERS.reduce((n, s) => n + this.ep.queued(s.address, s.port), 0);
    if (ep._exchanges.size > live) this.fail("the endpoint holds " + ep._exchanges.size + " exchanges; requests first sent within " + this.maxTimeout + " ms, queued, and observations: " + live);
    SERVERS.forEach((s) => {
      if (this.ep.queued(s.address, s.port) > MAX_QUEUE) this.fail("queue of " + this.ep.queued(s.address, s.port));
      if (this.ep.outstanding(s.address, s.port) > this.ep.parameters.NSTART) this.fail("outstanding " + this.ep.outstanding(s.address, s.port));
    });
    if (this.ep.inFlight > 40) this.fail("tracked transmissions " + this.ep.inFlight);
    if (ep._peers.size > 16) this.fail("peers " + ep._peers.size);
    if (this.scheduler.size > 80) this.fail("scheduler jobs " + this.scheduler.size);
    for (const x of this.raws) if (x.calls > 1 || (x.cancelled && x.calls > (x as { before?: number }).before!)) this.fail("exchange " + x.what + ": " + x.calls + " callbacks" + (x.cancelled ? " (cancelled)" : ""));
  }

  // -- steps --------------------------------------------------------------------------------

  async run(steps: number): Promise<void> {
    for (this.step = 1; this.step <= steps; this.step++) {
      const x = this.r() * 100;
      if (x < 18) this.app();
      else if (x < 55) this.answer();
      else if (x < 63) this.notify();
      else if (x < 70 && this.recent.length) this.again();
      else if (x < 76) this.stray();
      else this.advance();
      await flush();
      this.check();
    }
  }

  advance(): void {
    const next = this.clock.nextTimerAt();
    const to = next != null && this.r() < 0.6 ? Math.max(next, this.clock.now()) : this.clock.now() + (this.r() < 0.15 ? 130000 + this.int(70000) : this.int(5000));
    this.note("advance to " + to);
    this.clock.advanceTo(to);
  }

  // -- the app --------------------------------------------------------------------------------

  app(): void {
    const to = this.pick(SERVERS);
    const x = this.r();
    const active = this.requests.filter((q) => !q.done).length;
    if (x < 0.55 && active < 10) {
      const method = this.pick(["GET", "GET", "GET", "POST", "PUT", "DELETE", "FETCH", "PATCH", "iPATCH"] as const);
      const path = this.pick(PATHS);
      const size = this.r() < 0.5 ? this.int(40) : this.int(400);
      const payload = method === "GET" || method === "DELETE" ? undefined : bytes(size, this.step);
      const init = {
        method,
        address: to.address,
        port: to.port,
        path,
        payload,
        confirmable: this.r() < 0.75,
        block2Size: this.r() < 0.2 ? this.pick([16, 32, 64, 1024]) : undefined,
        timeout: this.r() < 0.5 ? 3000 + this.int(30000) : undefined,
      };
      const q: AppRequest = { id: this.nextId++, what: method + " /" + path + " " + (payload ? payload.length + " B" : "") + (init.confirmable ? " CON" : " NON"), to, settled: 0 };
      this.note("app request #" + q.id + " " + q.what + " to " + to.address);
      this.requests.push(q);
      count("app requests");
      this.client.request(init).then(
        (r) => this.settle(q, r),
        (e) => this.settle(q, undefined, e),
      ).catch(() => undefined); // (a failure is kept and thrown by the next check)
    } else if (x < 0.7 && this.observations.filter((o) => !o.ended).length < 3) {
      if (this.observations.length > 8) this.observations = this.observations.filter((o) => !o.ended || this.r() < 0.5);
      const path = this.pick(["obs", "big", "small"]);
      const ob: Obs = { o: undefined!, to, path, ended: 0 };
      this.note("app observe /" + path + " at " + to.address);
      ob.o = this.client.observe({
        address: to.address,
        port: to.port,
        path,
        confirmable: this.r() < 0.6,
        onNotify: (r) => this.notified(ob, r),
        onEnd: (why) => {
          ob.ended++;
          if (ob.ended > 1) this.fail("observation /" + path + " ended twice (" + why + ")");
          count("observation ended");
        },
        onError: () => count("observation error"),
      });
      this.observations.push(ob);
      count("observations");
    } else if (x < 0.73 && this.observations.length) {
      const ob = this.pick(this.observations);
      if (this.r() < 0.5) {
        this.note("app forget /" + ob.path);
        ob.forgotten = true;
        ob.o.forget();
      } else {
        this.note("app cancel /" + ob.path);
        ob.forgotten = true;
        const id = this.nextId++;
        const q: AppRequest = { id, what: "cancel /" + ob.path, to: ob.to, settled: 0 };
        this.requests.push(q);
        ob.o.cancel().then(
          (r) => this.settle(q, r),
          (e) => this.settle(q, undefined, e),
        ).catch(() => undefined);
      }
    } else if (x < 0.86) {
      this.note("app ping " + to.address);
      const q: AppRequest = { id: this.nextId++, what: "ping", to, settled: 0 };
      this.requests.push(q);
      this.client.ping(to.address, to.port).then(
        () => this.settle(q),
        (e) => this.settle(q, undefined, e),
      ).catch(() => undefined); // (a failure is kept and thrown by the next check)
    } else if (x < 0.95) {
      const what = "raw GET /" + this.pick(PATHS);
      this.note("app " + what);
      const rec = { ex: undefined as unknown as ClientExchange, calls: 0, cancelled: false, what };
      try {
        rec.ex = this.ep.request({ code: COAP_REQUEST.GET, options: [{ number: COAP_OPTION.URI_PATH, value: ascii(what.slice(9)) }], confirmable: this.r() < 0.7 }, to.address, to.port, {
          responseTimeout: 10000,
          onResponse: () => rec.calls++,
          onFail: () => rec.calls++,
        });
      } catch (e) {
        if (!(e instanceof RangeError && e.message === "coap: queue full")) this.fail(what + " threw " + (e as Error).message);
        return;
      }
      this.raws.push(rec);
      if (this.raws.length > 24) this.raws.shift();
    } else {
      const rec = this.raws.find((x) => !x.cancelled && !x.calls);
      if (rec) {
        this.note("app cancel " + rec.what);
        rec.cancelled = true;
        (rec as { before?: number }).before = rec.calls;
        rec.ex.cancel();
      }
    }
  }

  settle(q: AppRequest, r?: CoapResponse, e?: unknown): void {
    q.settled++;
    q.done = true;
    if (q.settled > 1) this.fail("request #" + q.id + " " + q.what + " settled twice");
    if (e !== undefined) {
      const ok = (e instanceof CoapRequestError && REASONS.indexOf(e.reason) >= 0) || (e instanceof RangeError && e.message === "coap: queue full");
      if (!ok) this.fail("request #" + q.id + " " + q.what + " rejected with " + String((e as Error)?.stack ?? e));
      count("rejected " + (e instanceof CoapRequestError ? e.reason : "queue full"));
      return;
    }
    if (!r) return count("settled");
    // a response from the server the request went to, with a token the client sent it
    if (r.address !== q.to.address || r.port !== q.to.port) this.fail("request #" + q.id + " resolved with a response from " + r.address);
    if (!this.tokens.get(q.to.address + "|" + q.to.port)?.has(hex(r.message.token))) this.fail("request #" + q.id + " resolved with token " + hex(r.message.token) + ", never sent to " + q.to.address);
    if (r.ok && r.blocks > 1) {
      const body = r.etag && this.bodies.get(hex(r.etag));
      if (!body || !sameBytes(body, r.payload)) this.fail("request #" + q.id + " " + q.what + " reassembled " + r.payload.length + " B in " + r.blocks + " blocks, not the body of ETag " + (r.etag ? hex(r.etag) : "none") + " (" + (body ? body.length : "unknown") + " B)");
      count("bodies reassembled");
    }
    count("resolved " + r.status);
  }

  notified(ob: Obs, r: CoapResponse): void {
    if (ob.ended || ob.forgotten) this.fail("observation /" + ob.path + " delivered after its end");
    count("notifications delivered");
    const v = r.observe;
    if (v == null) return;
    // RFC 7641 §3.4: what is delivered is the freshest notification taken so far (a block-wise one
    // completed later: no fresher one was taken meanwhile)
    const a = ob.last;
    if (!a || a.v !== v) this.fail("observation /" + ob.path + " delivered Observe " + v + "; the freshest notification received is " + (a ? a.v + " (at " + a.t + ")" : "none"));
  }

  // -- the servers ---------------------------------------------------------------------------

  from(p: Peer, m: CoapMessage | Uint8Array, what?: string): void {
    let b: Uint8Array;
    if (m instanceof Uint8Array) b = m;
    else {
      try {
        b = encode(m);
      } catch {
        return;
      }
    }
    const d = decode(b);
    this.note("from " + p.address + " " + (what ? what + " " : "") + show(d, b));
    if (b.length >= 4) this.inbound.add(p.address + "|" + p.port + "#" + ((b[2] << 8) | b[3]));
    if (d.ok && d.message.code && d.message.code < 32) this.inbound.add(p.address + "|" + p.port + " token " + hex(d.message.token));
    // Our model of RFC 7641 §3.4: a notification for a live observation, from its server, that the
    // endpoint passes up (an ACK to its pending CON; a CON/NON not a duplicate, §4.5, matching its
    // exchange by token, §5.3.2) is taken when it is fresher than the freshest taken so far: by
    // 24-bit serial arithmetic or 128 s later (our own `newer` below)
    const v = d.ok && d.message.code >> 5 === 2 ? getUint(d.message, COAP_OPTION.OBSERVE) : undefined;
    const ob = v == null ? undefined : this.observations.find((o) => !o.ended && !o.forgotten && o.o.token && sameBytes(o.o.token, d.ok ? d.message.token : EMPTY) && o.to.address === p.address && o.to.port === p.port);
    if (ob && d.ok && v != null) {
      const key = p.address + "|" + p.port;
      const ep = this.ep as unknown as { _transmissions: Map<string, { token?: Uint8Array }>; _exchanges: Map<string, { state: string }> };
      const t = ep._transmissions.get(key + "#" + d.message.messageId);
      const ex = ep._exchanges.get(key + "#" + d.message.token);
      const now = this.clock.now();
      const passed = d.message.type === COAP_MESSAGE.ACK ? !!t?.token && sameBytes(t.token, d.message.token) : !this.ep.dedup.get(key + "#" + d.message.messageId, now) && !!ex && ex.state !== "queued";
      if (passed && (!ob.last || newer(ob.last.v, ob.last.t, v, now))) ob.last = { v, t: now };
    }
    this.recent.push({ to: p, bytes: b });
    if (this.recent.length > 16) this.recent.shift();
    try {
      this.ep.receive(b, p.address, p.port);
    } catch (e) {
      this.fail("receive() threw " + (e as Error)?.message);
    }
  }

  mid(): number {
    return (this.serverMid = (this.serverMid + 1 + (this.r() < 0.1 ? this.int(100) : 0)) & 0xffff);
  }

  body(path: string, fresh: boolean): { etag: Uint8Array; body: Uint8Array } {
    let c = this.current.get(path);
    if (!c || fresh) {
      const body = bytes(path === "big" ? 65 + this.int(this.r() < 0.1 ? 6000 : 500) : this.int(60), this.int(256));
      const etag = Uint8Array.of(this.int(256), this.int(256), this.int(256));
      c = { etag, body };
      this.current.set(path, c);
      this.bodies.set(hex(etag), body);
    }
    return c;
  }

  /** The answer a server gives to request q (code, options, payload). */
  reply(q: CoapMessage): { code: number; options: CoapOption[]; payload: Uint8Array } {
    const path = q.options.filter((o) => o.number === COAP_OPTION.URI_PATH).map((o) => text(o.value)).join("/");
    const options: CoapOption[] = [];
    const b1 = getBlock(q, COAP_OPTION.BLOCK1);
    const x = this.r();
    if (x < 0.06) return { code: this.pick([COAP_RESPONSE.NOT_FOUND, COAP_RESPONSE.INTERNAL_SERVER_ERROR, COAP_RESPONSE.BAD_REQUEST]), options, payload: EMPTY };
    if (b1 && b1.more) {
      // RFC 7959 §2.5: 2.31 (the same or a smaller SZX), or 4.13 / 4.08
      const y = this.r();
      if (y < 0.1) return { code: COAP_RESPONSE.REQUEST_ENTITY_TOO_LARGE, options: [uintOption(COAP_OPTION.SIZE1, this.int(2000)), uintOption(COAP_OPTION.BLOCK1, b1.num * 16 + Math.max(0, b1.szx - this.int(2)))], payload: EMPTY };
      if (y < 0.16) return { code: COAP_RESPONSE.REQUEST_ENTITY_INCOMPLETE, options, payload: EMPTY };
      options.push(uintOption(COAP_OPTION.BLOCK1, b1.num * 16 + 8 + (this.r() < 0.15 ? Math.max(0, b1.szx - 1) : b1.szx)));
      return { code: COAP_RESPONSE.CONTINUE, options, payload: EMPTY };
    }
    if (b1) options.push(uintOption(COAP_OPTION.BLOCK1, b1.num * 16 + b1.szx));
    if (x < 0.12 && !q.payload.length && q.code !== COAP_REQUEST.GET) return { code: COAP_RESPONSE.REQUEST_ENTITY_TOO_LARGE, options: [uintOption(COAP_OPTION.SIZE1, this.int(500))], payload: EMPTY };
    if (q.code !== COAP_REQUEST.GET && q.code !== COAP_REQUEST.FETCH && this.r() < 0.6) return { code: q.code === COAP_REQUEST.DELETE ? COAP_RESPONSE.DELETED : COAP_RESPONSE.CHANGED, options, payload: EMPTY };
    // a representation: whole, or the block asked for (RFC 7959 §2.4), sometimes off
    const obs = getUint(q, COAP_OPTION.OBSERVE);
    const c = this.body(path, this.r() < 0.05);
    if (obs === 0 && this.r() < 0.8) options.push(uintOption(COAP_OPTION.OBSERVE, this.observeValue(hex(q.token), true)));
    const b2 = getBlock(q, COAP_OPTION.BLOCK2);
    if (b2 || c.body.length > 64) {
      let szx = Math.min(b2 ? b2.szx : 2, 2);
      let num = b2 ? (szx === b2.szx ? b2.num : (b2.num << b2.szx) >> szx) : 0;
      const y = this.r();
      if (y < 0.01) num += 1; // a gap
      else if (y < 0.02) szx = Math.min(6, szx + 1); // a larger block
      const size = 16 << szx;
      const start = num * size;
      let end = Math.min(c.body.length, start + size);
      const more = end < c.body.length;
      // a short block but the last (which no client can tell: Size2 is an estimate, RFC 7959 §4)
      if (y >= 0.02 && y < 0.03 && more) end--;
      options.push(opaqueOption(COAP_OPTION.ETAG, y >= 0.03 && y < 0.04 ? Uint8Array.of(0xee) : c.etag));
      options.push(uintOption(COAP_OPTION.BLOCK2, num * 16 + (more ? 8 : 0) + szx));
      if (!num) options.push(uintOption(COAP_OPTION.SIZE2, y >= 0.04 && y < 0.06 ? MAX_BODY + 1 : c.body.length));
      return { code: COAP_RESPONSE.CONTENT, options, payload: start < c.body.length ? c.body.subarray(start, end) : EMPTY };
    }
    options.push(opaqueOption(COAP_OPTION.ETAG, c.etag));
    if (this.r() < 0.1) options.push(uintOption(COAP_OPTION.MAX_AGE, this.int(5)));
    return { code: this.r() < 0.05 ? COAP_RESPONSE.VALID : COAP_RESPONSE.CONTENT, options, payload: c.body };
  }

  observeValue(token: string, register: boolean): number {
    let v = this.observeNext.get(token) ?? (register ? this.int(0x1000000) : 2);
    const y = this.r();
    // in order, or older (reordered, §3.4), or far ahead, or wrapping
    if (y < 0.7) v = (v + 1 + this.int(3)) & 0xffffff;
    else if (y < 0.85) v = (v - 1 - this.int(5)) & 0xffffff;
    else v = (v + this.pick([0x7fffff, 0x800001, 0xfffff0])) & 0xffffff;
    if (y < 0.7 || y >= 0.85) this.observeNext.set(token, v);
    return v;
  }

  /** A server answers one of the client's open requests. */
  answer(): void {
    // (requests the client gave up are not answered: most of the time)
    if (this.r() < 0.9) this.open = this.open.filter((o) => this.clock.now() - o.q.at < 60000);
    if (!this.open.length) return;
    const i = this.r() < 0.6 ? this.open.length - 1 : this.int(this.open.length);
    const o = this.open[i];
    const q = o.q.m;
    const p = { address: o.q.to, port: o.q.port };
    const con = q.type === COAP_MESSAGE.CON;
    const x = this.r();
    const token = this.r() < 0.08 ? Uint8Array.of(this.int(4), this.int(4)) : q.token;
    if (x < 0.07) {
      this.open.splice(i, 1);
      return this.from(p, { type: COAP_MESSAGE.RST, code: 0, messageId: q.messageId, token: EMPTY, options: [], payload: EMPTY }, "RST");
    }
    if (con && !o.acked && x < 0.25) {
      o.acked = true;
      return this.from(p, { type: COAP_MESSAGE.ACK, code: 0, messageId: q.messageId, token: EMPTY, options: [], payload: EMPTY }, "empty ACK");
    }
    const r = this.reply(q);
    if (this.r() < 0.85 || getUint(q, COAP_OPTION.OBSERVE) !== 0) this.open.splice(i, 1);
    if (con && !o.acked && this.r() < 0.85) this.from(p, { type: COAP_MESSAGE.ACK, code: r.code, messageId: this.r() < 0.05 ? this.mid() : q.messageId, token, options: r.options, payload: r.payload }, "piggybacked");
    else this.from(p, { type: this.r() < 0.6 ? COAP_MESSAGE.CON : COAP_MESSAGE.NON, code: r.code, messageId: this.mid(), token, options: r.options, payload: r.payload }, "separate");
  }

  /** A burst of notifications to an observation, in and out of order (the right server, sometimes not), or its end. */
  notify(): void {
    const active = this.observations.filter((o) => !o.ended);
    const ob = active.length && this.r() < 0.9 ? this.pick(active) : this.observations.length ? this.pick(this.observations) : undefined;
    if (!ob || !ob.o.token) return;
    for (let n = 1 + this.int(4); n > 0; n--) this.notification(ob);
  }

  notification(ob: Obs): void {
    if (!ob.o.token) return;
    const tk = hex(ob.o.token);
    const p = this.r() < 0.9 ? ob.to : STRANGER;
    const x = this.r();
    const options: CoapOption[] = [];
    let code: number = COAP_RESPONSE.CONTENT;
    let payload = EMPTY;
    if (x < 0.02) code = COAP_RESPONSE.NOT_FOUND;
    else {
      options.push(uintOption(COAP_OPTION.OBSERVE, this.observeValue(tk, false)));
      const c = this.body(ob.path, this.r() < 0.3);
      options.push(opaqueOption(COAP_OPTION.ETAG, c.etag));
      if (c.body.length > 64) {
        options.push(uintOption(COAP_OPTION.BLOCK2, 8 + 2), uintOption(COAP_OPTION.SIZE2, c.body.length)); // the first block (RFC 7959 §2.6)
        payload = c.body.subarray(0, 64);
      } else payload = c.body;
      if (this.r() < 0.2) options.push(uintOption(COAP_OPTION.MAX_AGE, this.int(10)));
    }
    this.from(p, { type: this.r() < 0.5 ? COAP_MESSAGE.CON : COAP_MESSAGE.NON, code, messageId: this.mid(), token: ob.o.token, options, payload }, "notification");
    count("notifications sent");
  }

  again(): void {
    const d = this.pick(this.recent);
    this.from(d.to, d.bytes, "again");
  }

  /** Something that matches nothing, or is not CoAP. */
  stray(): void {
    const p = this.r() < 0.7 ? this.pick(SERVERS) : STRANGER;
    const x = this.r();
    if (x < 0.3) {
      const c = new Uint8Array(this.int(20));
      for (let i = 0; i < c.length; i++) c[i] = this.int(256);
      if (c.length && this.r() < 0.7) c[0] = 0x40 | (c[0] & 0x3f);
      return this.from(p, c, "random");
    }
    if (x < 0.5 && this.recent.length) {
      const b = this.pick(this.recent).bytes.slice();
      for (let n = 1 + this.int(3); n > 0 && b.length; n--) b[this.int(b.length)] ^= 1 << this.int(8);
      return this.from(p, this.r() < 0.3 ? b.subarray(0, this.int(b.length)) : b, "mutated");
    }
    const type = this.pick([0, 1, 2, 3]);
    this.from(p, { type, code: type === 3 || this.r() < 0.2 ? 0 : this.pick([0x45, 0x44, 0x84, 0x01]), messageId: this.r() < 0.5 ? this.mid() : this.int(0x10000), token: type === 3 ? EMPTY : Uint8Array.of(this.int(4), this.int(4)), options: [], payload: EMPTY }, "unmatched");
  }

  /** The servers fall silent: everything settles within the longest timeout; nothing is left held. */
  async finish(): Promise<void> {
    this.step++;
    this.note("silence");
    this.observations.forEach((ob) => ob.o.forget());
    // every exchange of a block-wise transfer waits at most its timeout; one exchange at a time per request
    for (let t = 0; t < 8 && this.requests.some((q) => !q.done); t++) {
      this.clock.advance(this.maxTimeout + 1000);
      await flush();
    }
    this.clock.advance(400000);
    await flush();
    this.check();
    const open = this.requests.filter((q) => !q.done);
    if (open.length) this.fail(open.length + " requests never settled: " + open.map((q) => "#" + q.id + " " + q.what).join(", "));
    const lost = this.raws.filter((x) => !x.cancelled && x.calls !== 1);
    if (lost.length) this.fail(lost.length + " endpoint exchanges never ended: " + lost.map((x) => x.what).join(", "));
    const ep = this.ep as unknown as { _exchanges: Map<string, unknown> };
    if (ep._exchanges.size || this.ep.inFlight || this.scheduler.size) this.fail("after silence: " + ep._exchanges.size + " exchanges, " + this.ep.inFlight + " transmissions, " + this.scheduler.size + " jobs (" + this.scheduler.plan().map((j) => j.name).join(", ") + ")");
    count("seeds");
  }
}

/** RFC 7641 §3.4, written out here (not the module's observeIsNewer). */
function newer(v1: number, t1: number, v2: number, t2: number): boolean {
  return (v1 < v2 && v2 - v1 < 1 << 23) || (v1 > v2 && v1 - v2 > 1 << 23) || t2 > t1 + 128000;
}

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 13 + seed) & 0xff;
  return out;
}
async function flush(): Promise<void> {
  for (let i = 0; i < 6; i++) await Promise.resolve();
}

describe("CoapUriClient fuzz: " + SEEDS.length + " seeds x " + STEPS + " steps", () => {
  it.each(SEEDS)("seed %i: invariants hold after every step, and everything settles when the servers fall silent", async (seed) => {
    const z = new Fuzz(seed);
    await z.run(STEPS);
    await z.finish();
  });

  it("the seeds together reached what the fuzz is for", () => {
    tally.print("client fuzz");
    expect(reached.seeds).toBe(SEEDS.length);
    for (const k of ["bodies reassembled", "notifications delivered", "observation ended", "rejected timeout", "rejected reset", "rejected block", "resolved 2.05", "resolved 2.04", "resolved 4.04"]) expect([k, (reached[k] ?? 0) > 0]).toEqual([k, true]);
  });
});

/*
 * What the fuzz found, as deterministic reproductions: a client on a sans-IO endpoint and a
 * VirtualClock, the server's datagrams written by hand.
 */
describe("found by the fuzz", () => {
  it("an observation ended while the body of a registration's answer without Observe is fetched delivers nothing after its end (RFC 7641 §3.1, §3.6)", async () => {
    const clock = new VirtualClock();
    const scheduler = new Scheduler({ clock });
    const sent: CoapMessage[] = [];
    let n = 1;
    const ep = new CoapEndpoint({ scheduler, random: (b) => b.fill(n++), send: (b) => sent.push((decode(b) as { message: CoapMessage }).message) });
    const client = new CoapUriClient({ endpoint: ep });
    const events: string[] = [];
    const S = "10.0.0.1";
    const o = client.observe({ address: S, port: 5683, path: "big", onNotify: (r) => events.push("notify " + r.payload.length), onEnd: (why) => events.push("end " + why), onError: (e) => events.push("error " + (e as Error).message) });
    const reg = sent[0];
    const from = (m: Partial<CoapMessage>) => ep.receive(encode({ type: COAP_MESSAGE.ACK, code: COAP_RESPONSE.CONTENT, messageId: 1, token: EMPTY, options: [], payload: EMPTY, ...m }), S, 5683);
    // the server does not register us (no Observe) and answers with the first of 2 blocks; the client GETs block 1
    from({ messageId: reg.messageId, token: reg.token, options: [opaqueOption(COAP_OPTION.ETAG, Uint8Array.of(1)), uintOption(COAP_OPTION.BLOCK2, 8)], payload: new Uint8Array(16) });
    await flush();
    const b1 = sent[sent.length - 1];
    expect(getBlock(b1, COAP_OPTION.BLOCK2)?.num).toBe(1);
    o.forget();
    from({ messageId: b1.messageId, token: b1.token, options: [opaqueOption(COAP_OPTION.ETAG, Uint8Array.of(1)), uintOption(COAP_OPTION.BLOCK2, 1 << 4)], payload: new Uint8Array(5) });
    await flush();
    clock.advance(100000);
    await flush();
    expect(events).toEqual(["end cancelled"]); // before: also "notify 21" after the end
  });

  it("a notification's Block2 fetch abandoned for a newer notification asks for no further block (RFC 7641 §3.4, RFC 7959 §2.6)", async () => {
    const clock = new VirtualClock();
    const scheduler = new Scheduler({ clock });
    const sent: CoapMessage[] = [];
    let n = 1;
    const ep = new CoapEndpoint({ scheduler, random: (b) => b.fill(n++), send: (b) => sent.push((decode(b) as { message: CoapMessage }).message) });
    const client = new CoapUriClient({ endpoint: ep });
    const got: number[] = [];
    const errors: unknown[] = [];
    const S = "10.0.0.1";
    client.observe({ address: S, port: 5683, path: "big", onNotify: (r) => got.push(r.payload.length), onError: (e) => errors.push(e) });
    const reg = sent[0];
    const from = (m: Partial<CoapMessage>) => ep.receive(encode({ type: COAP_MESSAGE.ACK, code: COAP_RESPONSE.CONTENT, messageId: 1, token: EMPTY, options: [], payload: EMPTY, ...m }), S, 5683);
    from({ messageId: reg.messageId, token: reg.token, options: [uintOption(COAP_OPTION.OBSERVE, 1)], payload: ascii("small") });
    await flush();
    const block = (etag: number, num: number, more: boolean) => [opaqueOption(COAP_OPTION.ETAG, Uint8Array.of(etag)), uintOption(COAP_OPTION.BLOCK2, num * 16 + (more ? 8 : 0))];
    // notification A (Observe 2): the first of 4 blocks of 16; the client GETs block 1
    from({ type: COAP_MESSAGE.NON, messageId: 100, token: reg.token, options: [uintOption(COAP_OPTION.OBSERVE, 2), ...block(0xa, 0, true)], payload: new Uint8Array(16) });
    await flush();
    const a1 = sent[sent.length - 1];
    expect([getBlock(a1, COAP_OPTION.BLOCK2)?.num, getUint(a1, COAP_OPTION.OBSERVE)]).toEqual([1, undefined]);
    // notification B (Observe 3), newer: A's fetch is abandoned; B's GET of block 1 waits for A's (NSTART 1)
    from({ type: COAP_MESSAGE.NON, messageId: 101, token: reg.token, options: [uintOption(COAP_OPTION.OBSERVE, 3), ...block(0xb, 0, true)], payload: new Uint8Array(16) });
    await flush();
    const before = sent.length;
    // A's block 1 arrives: nothing more is asked for A; B's block 1 goes out
    from({ messageId: a1.messageId, token: a1.token, options: block(0xa, 1, true), payload: new Uint8Array(16) });
    await flush();
    // the block GETs (not the re-registration, RFC 7641 §3.3.1, which comes after Max-Age)
    const gets = () => sent.slice(before).filter((m) => m.type === COAP_MESSAGE.CON && m.code === COAP_REQUEST.GET && getUint(m, COAP_OPTION.OBSERVE) == null);
    expect(gets().map((m) => [getBlock(m, COAP_OPTION.BLOCK2)?.num, getOption(m, COAP_OPTION.ETAG)])).toEqual([[1, undefined]]);
    // B's blocks 1 to 3 (ETag 0xb), each answered as it is asked for: B is delivered at once, and no
    // GET was for A's block 2 (before the fix, A's block 2 went out before B's, got B's answer, and B
    // waited behind it and failed: "no response", the observation went on without B's state)
    for (let num = 1; num < 4; num++) {
      const q = gets().filter((m) => getBlock(m, COAP_OPTION.BLOCK2)?.num === num).pop()!;
      if (!q) break;
      from({ messageId: q.messageId, token: q.token, options: block(0xb, num, num < 3), payload: new Uint8Array(16) });
      await flush();
    }
    expect([got, clock.now()]).toEqual([[5, 64], 0]);
    clock.advance(100000);
    await flush();
    expect(gets().map((m) => getBlock(m, COAP_OPTION.BLOCK2)?.num)).toEqual([1, 2, 3]);
    expect([got, errors]).toEqual([[5, 64], []]);
  });
});
