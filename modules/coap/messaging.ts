/*
 * The CoAP messaging layer (RFC 7252 §4, §5.2, §5.3), sans-IO.
 *
 * A CoapEndpoint is given `send(bytes, address, port)`, the Scheduler (every
 * retransmission and timeout is a scheduler job; transmissions are radio jobs),
 * and a random source (the platform's crypto randomFill). Datagrams go in
 * through `receive(bytes, address, port)`; requests come out through
 * `onRequest`, responses through the callbacks given to `request()`.
 *
 * What it does:
 *  - CON with retransmission and exponential back-off (§4.2), NON (§4.3),
 *    ACK/RST matching by Message ID and endpoint (§4.4), the RST to a CoAP ping (§4.3; a
 *    ping is sendMessage() of an Empty CON, its RST comes to onReset).
 *  - Bounded deduplication (§4.5, DedupCache below): a duplicate CON gets the same
 *    ACK / piggybacked response / RST again; no duplicate is passed up twice.
 *  - NSTART outstanding interactions per peer (§4.7); the rest wait in a
 *    bounded queue. NON requests hold their slot until a response arrives or
 *    for size / PROBING_RATE (§4.7), whichever comes first.
 *  - Message IDs per peer from a random start (§4.4); random tokens (§5.3.1). The peer table
 *    is bounded (maxPeers): many source ports (a flood) cannot grow it.
 *  - Piggybacked and separate responses (§5.2.1, §5.2.2), response matching
 *    by token and endpoint (§5.3.2), rejection of unexpected responses.
 *  - Bad datagrams answered as `rejection()` in codec.ts says (RST, 4.02, 4.00, silence).
 *
 * The client / server / observe / block-wise layers sit on top: they use
 * `request()` (with `multiple` for observations), `onRequest` + the
 * IncomingRequest's `respond()`, and `sendMessage()` for notifications.
 */
import type { Job, Scheduler } from "../scheduler/scheduler";
import type { UdpConstructor, UdpSocket } from "../platform/io";
import {
  COAP_MESSAGE,
  COAP_RESPONSE,
  isRequestCode,
  isResponseCode,
  setting,
  transmissionParameters,
  type CoapMessageType,
  type DerivedParameters,
  type TransmissionParameters,
} from "./constants";
import { decode, encode, encodeEmpty, rejection, type CoapMessage, type RejectionPolicy } from "./codec";
import type { CoapOption, OptionLimits } from "./options";
import { sameBytes, utf8Encode } from "./options";

export type FailReason = "timeout" | "reset" | "cancelled" | "closed";

export interface CoapEndpointOptions {
  /** Puts one datagram on the wire. Exceptions are caught and reported to onError. */
  send(bytes: Uint8Array, address: string, port: number): void;
  scheduler: Scheduler;
  /** Fills the buffer with random bytes (platform Crypto.randomFill) and returns it. */
  random(buffer: Uint8Array): Uint8Array;
  /** RFC 7252 §4.8 parameters; the derived values of §4.8.2 follow from them. */
  parameters?: Partial<TransmissionParameters>;
  /** Deduplication entries kept (default 32; DedupCache below). */
  dedupCapacity?: number;
  /** Random token length for requests, 1..8 (default 4: 32 bits, RFC 7252 §5.3.1). */
  tokenLength?: number;
  /** Requests waiting for an NSTART slot, per peer (default 16). */
  maxQueue?: number;
  /**
   * Peers whose next Message ID is kept (default 16). A peer without a request of ours in flight is
   * dropped after EXCHANGE_LIFETIME idle; at the cap the idle-longest such peer makes room.
   */
  maxPeers?: number;
  /**
   * NON messages we sent kept to match a RST (default 8, RFC 7252 §4.3). At the cap the oldest NON
   * with no onReset goes (a NON response: a RST to it changes nothing), else the oldest NON (an
   * observe notification, RFC 7641 §3.6): a flood answered NON cannot grow the table. A CON awaiting
   * its ACK is never dropped.
   */
  maxNonTracked?: number;
  /** How long a server waits for the handler before an empty ACK (separate response, §5.2.2). Default ACK_TIMEOUT / 2. */
  ackDelay?: number;
  /** Default time to wait for a response after the first transmission (default MAX_TRANSMIT_WAIT). */
  responseTimeout?: number;
  /** The options this endpoint recognizes (default options.ts standardLimits). */
  registry?: OptionLimits;
  /** How to reject NON messages (see codec.ts RejectionPolicy). */
  rejectionPolicy?: RejectionPolicy;
  /** A request arrived (already deduplicated). Answer with request.respond(). */
  onRequest?(request: IncomingRequest): void;
  /** Exceptions from callbacks and from `send`; the endpoint carries on. */
  onError?(error: unknown): void;
  /**
   * A datagram was refused or ignored (diagnostics). `reason`: a codec.ts decode reason ("short",
   * "tkl", "option" ...), or "ack-request" (an ACK carrying a request, RFC 7252 §4.2),
   * "ack-unmatched" (no CON of ours has its Message ID, §4.4), "rst-not-empty" (§4.2),
   * "rst-unmatched" (§4.4), "empty-non" (§4.3), "duplicate" (§4.5), "response-unmatched" (no
   * request has its token, §5.3.2), "token" (a piggybacked response with another token, §5.3.2).
   */
  onDrop?(reason: string, address: string, port: number): void;
}

/** A peer's next Message ID (CoapEndpoint.messageIds), kept across a deep sleep. */
export interface MessageIdRecord {
  address: string;
  port: number;
  next: number;
}

export interface OutgoingRequest {
  /** A method code (0.01 GET ...). */
  code: number;
  options?: CoapOption[];
  payload?: Uint8Array;
  /** CON (default) or NON. */
  confirmable?: boolean;
  /** Use this token instead of a random one (e.g. to re-register an observation). */
  token?: Uint8Array;
}

export interface RequestHandlers {
  /** A response matched this request (§5.3.2). */
  onResponse?(response: CoapMessage, exchange: ClientExchange): void;
  /** The CON was acknowledged by an empty ACK: a separate response will follow (§5.2.2). */
  onAck?(exchange: ClientExchange): void;
  /** The exchange ended without a (further) response. Not called after cancel(). */
  onFail?(reason: FailReason, exchange: ClientExchange): void;
  /** Keep the exchange open after a response (observations, RFC 7641); end it with cancel(). */
  multiple?: boolean;
  /** Overrides the endpoint's responseTimeout for this request (ms after the first transmission). */
  responseTimeout?: number;
}

export interface OutgoingResponse {
  /** A response code (2.05 Content ...). */
  code: number;
  options?: CoapOption[];
  payload?: Uint8Array;
  /** For a separate response: CON (default when the request was CON) or NON. */
  confirmable?: boolean;
}

export interface MessageCallbacks {
  /** The peer acknowledged our CON (ack is the ACK message). */
  onAck?(ack: CoapMessage): void;
  /** The peer answered with RST (§4.2, §4.3): for a notification this cancels the observation (RFC 7641 §3.6). */
  onReset?(): void;
  /** MAX_RETRANSMIT reached without ACK (§4.2), or the endpoint closed. */
  onFail?(reason: FailReason): void;
}

/**
 * A CON or NON we sent and may retransmit, matched by Message ID (§4.4): a plain object for a
 * message (sendMessage; a class costs bytecode), the ClientExchange itself for a request (one
 * record for both, issue 17). Its callbacks are called through _call (what they throw goes to onError).
 */
interface Transmission {
  /** The peer's key and the Message ID ("address|port#id"), once sent. */
  key: string;
  peer: Peer;
  messageId: number;
  /** Encoded with Message ID 0; the ID is patched in when it is sent. */
  bytes: Uint8Array;
  confirmable: boolean;
  /** Retransmissions so far (-1 before the first transmission). */
  retransmits: number;
  timeout: number;
  /** The retransmission (CON) or the end of the NON lifetime. */
  job: Job | undefined;
  onAck?: (ack: CoapMessage) => void;
  onReset?: () => void;
  onFail?: (reason: FailReason) => void;
}

interface Peer {
  key: string;
  address: string;
  port: number;
  nextMessageId: number;
  /** Outstanding interactions (§4.7). */
  active: number;
  queue: ClientExchange[];
  /** When a Message ID was last taken (scheduler time). */
  seen: number;
}

/** A request we send: queued, in flight, acknowledged, or done; also the record of its transmission. */
export class ClientExchange implements Transmission {
  declare readonly endpoint: CoapEndpoint;
  declare readonly address: string;
  declare readonly port: number;
  declare readonly token: Uint8Array;
  declare readonly confirmable: boolean;
  /** The Message ID of the (first) transmission, once sent (-1 before). */
  declare messageId: number;
  declare state: "queued" | "sent" | "acked" | "done";
  /** Responses received so far. */
  declare responses: number;
  /** @internal */ declare peer: Peer;
  /** @internal */ declare bytes: Uint8Array;
  /** @internal */ declare handlers: RequestHandlers;
  /** @internal */ declare key: string;
  /** @internal */ declare retransmits: number;
  /** @internal */ declare timeout: number;
  /** @internal */ declare job: Job | undefined;
  /** @internal */ declare onAck?: (ack: CoapMessage) => void;
  /** @internal */ declare onReset?: () => void;
  /** @internal */ declare onFail?: (reason: FailReason) => void;
  /** @internal */ declare holdsSlot: boolean;
  /** @internal */ declare timer: Job | undefined;
  /** @internal */ declare holdTimer: Job | undefined;
  /** @internal */ declare tokenKey: string;

  /** @internal */
  constructor(endpoint: CoapEndpoint, peer: Peer, token: Uint8Array, confirmable: boolean, bytes: Uint8Array, handlers: RequestHandlers) {
    this.endpoint = endpoint;
    this.peer = peer;
    this.address = peer.address;
    this.port = peer.port;
    this.token = token;
    this.tokenKey = peer.key + "#" + token; // a Uint8Array reads as its bytes in decimal, joined by commas: one key per token
    this.confirmable = confirmable;
    this.bytes = bytes;
    this.handlers = handlers;
    this.messageId = -1;
    this.state = "queued";
    this.responses = 0;
    this.holdsSlot = false;
  }

  /** Stops retransmitting and waiting; no callback follows. Safe to call more than once. */
  cancel(): void {
    this.endpoint._finish(this, "cancelled");
  }
}

/** A request we received, with the means to answer it. */
export class IncomingRequest {
  declare readonly message: CoapMessage;
  declare readonly address: string;
  declare readonly port: number;
  /** The message's type is CON; its code; its token. */
  declare readonly confirmable: boolean;
  declare readonly code: number;
  declare readonly token: Uint8Array;
  /** @internal */ declare endpoint: CoapEndpoint;
  /** @internal */ declare entry: DedupEntry;
  /** @internal */ declare ackJob: Job | undefined;
  /** An ACK (empty or piggybacked) has been sent for this CON request. */
  declare acknowledged: boolean;
  declare responded: boolean;

  /** @internal */
  constructor(endpoint: CoapEndpoint, message: CoapMessage, address: string, port: number, entry: DedupEntry) {
    this.endpoint = endpoint;
    this.message = message;
    this.address = address;
    this.port = port;
    this.entry = entry;
    this.confirmable = message.type === COAP_MESSAGE.CON;
    this.code = message.code;
    this.token = message.token;
    this.acknowledged = false;
    this.responded = false;
  }

  /**
   * Sends the response: piggybacked in the ACK when the request is a CON not
   * yet acknowledged (§5.2.1), otherwise as a separate CON/NON (§5.2.2, §5.2.3).
   * Throws when already responded or the code is not a response code.
   */
  respond(response: OutgoingResponse, handlers?: MessageCallbacks): void {
    const endpoint = this.endpoint;
    if (this.responded) throw new Error("coap: answered");
    if (!response || !isResponseCode(response.code)) throw new RangeError("coap: not a response code");
    if (endpoint._closed) throw new Error("coap: closed");
    // §5.2.1: piggybacked in the ACK of a CON not yet acknowledged, echoing Message ID and token;
    // else §5.2.2 / §5.2.3: a separate response, NON for a NON request unless asked otherwise.
    const ack = this.confirmable && !this.acknowledged;
    const m = { type: ack ? COAP_MESSAGE.ACK : (response.confirmable ?? this.confirmable) ? COAP_MESSAGE.CON : COAP_MESSAGE.NON, code: response.code, messageId: this.message.messageId, token: this.token, options: response.options!, payload: response.payload! };
    if (ack) {
      const bytes = encode(m);
      this.responded = true;
      return endpoint._ack(this, bytes);
    }
    endpoint.sendMessage(m, this.address, this.port, handlers);
    this.responded = true;
  }

  /** Sends the empty ACK now: the response will be separate (§5.2.2). No-op for NON or when already acknowledged. */
  accept(): void {
    this.endpoint._ack(this);
  }
}

export class CoapEndpoint {
  declare readonly parameters: DerivedParameters;
  declare readonly dedup: DedupCache;
  declare readonly scheduler: Scheduler;
  /** The options as given: send, random, registry (read by decode), rejectionPolicy, onError and onDrop are read from them. */
  declare private _o: CoapEndpointOptions;
  declare private _tokenLength: number;
  declare private _maxQueue: number;
  declare private _maxPeers: number;
  declare private _maxNon: number;
  declare private _ackDelay: number;
  declare private _responseTimeout: number;
  declare onRequest: ((request: IncomingRequest) => void) | undefined;
  declare private _peers: Map<string, Peer>;
  declare private _transmissions: Map<string, Transmission>;
  declare private _exchanges: Map<string, ClientExchange>;
  /** @internal */ declare _closed: boolean;
  declare private _rand2: Uint8Array;

  constructor(options: CoapEndpointOptions) {
    if (!options || typeof options.send !== "function" || typeof options.random !== "function" || typeof options.scheduler?.schedule !== "function") throw new TypeError("coap: needs send, scheduler and random");
    const p = (this.parameters = transmissionParameters(options.parameters));
    this._tokenLength = setting(options.tokenLength, 4, 1, 8, "tokenLength");
    this._maxQueue = setting(options.maxQueue, 16, 0, Infinity, "maxQueue");
    this._maxPeers = setting(options.maxPeers, 16, 1, Infinity, "maxPeers");
    this._maxNon = setting(options.maxNonTracked, 8, 1, Infinity, "maxNonTracked");
    this._ackDelay = setting(options.ackDelay, p.ACK_TIMEOUT / 2, 0, Infinity, "ackDelay", true);
    this._responseTimeout = setting(options.responseTimeout, p.MAX_TRANSMIT_WAIT, Number.MIN_VALUE, Infinity, "responseTimeout", true);
    this.dedup = new DedupCache(options.dedupCapacity ?? 32);
    this.scheduler = options.scheduler;
    this._o = options;
    this.onRequest = options.onRequest;
    this._peers = new Map();
    this._transmissions = new Map();
    this._exchanges = new Map();
    this._closed = false;
    this._rand2 = new Uint8Array(2);
  }

  // --- public API -------------------------------------------------------------

  /**
   * Sends a request (CON by default) to address:port. It goes out now when the
   * peer has fewer than NSTART outstanding interactions, otherwise it waits in
   * the peer's queue (§4.7). Throws (and changes nothing) for a bad request or a full queue.
   */
  request(req: OutgoingRequest, address: string, port: number, handlers: RequestHandlers = {}): ClientExchange {
    if (this._closed) throw new Error("coap: closed");
    if (!req || !isRequestCode(req.code)) throw new RangeError("coap: not a method code");
    checkAddress(address, port);
    const peer = this._peer(address, port);
    let token = req.token;
    if (token != null) {
      if (!(token instanceof Uint8Array) || token.length > 8) throw new RangeError("coap: token");
      token = token.slice();
      if (this._exchanges.has(peer.key + "#" + token)) throw new Error("coap: token in use"); // §5.3.1
    } else {
      // §5.3.1: a random token, not one in use with this peer (16 tries)
      for (let i = 0; !token || this._exchanges.has(peer.key + "#" + token); i++) {
        if (i > 15) throw new Error("coap: random");
        token = this._o.random(new Uint8Array(this._tokenLength));
        if (!(token instanceof Uint8Array) || token.length !== this._tokenLength) throw new TypeError("coap: random");
      }
    }
    const confirmable = req.confirmable !== false;
    const wait = peer.active >= this.parameters.NSTART;
    if (wait && peer.queue.length >= this._maxQueue) throw new RangeError("coap: queue full");
    // Encoded once, with Message ID 0; the ID is patched in at dispatch.
    const bytes = encode({ type: confirmable ? COAP_MESSAGE.CON : COAP_MESSAGE.NON, code: req.code, messageId: 0, token, options: req.options!, payload: req.payload! });
    const ex = new ClientExchange(this, peer, token, confirmable, bytes, handlers);
    // registered before anything is sent: a synchronous link may answer at once
    this._exchanges.set(ex.tokenKey, ex);
    if (wait) peer.queue.push(ex);
    else this._dispatch(ex);
    return ex;
  }

  /**
   * Sends one CON or NON message (a request or response the layers above
   * build, e.g. an observe notification) with a fresh Message ID, retransmitting
   * a CON until ACK/RST or MAX_RETRANSMIT (§4.2). Not subject to NSTART.
   * Returns the Message ID.
   */
  sendMessage(msg: { type: CoapMessageType; code: number; token?: Uint8Array; options?: CoapOption[]; payload?: Uint8Array }, address: string, port: number, handlers: MessageCallbacks = {}): number {
    if (this._closed) throw new Error("coap: closed");
    if (msg.type !== COAP_MESSAGE.CON && msg.type !== COAP_MESSAGE.NON) throw new RangeError("coap: CON or NON");
    checkAddress(address, port);
    const bytes = encode({ type: msg.type, code: msg.code, messageId: 0, token: msg.token!, options: msg.options!, payload: msg.payload! });
    // without onReset a NON is the first dropped at the maxNonTracked cap
    const t = { peer: this._peer(address, port), bytes, confirmable: msg.type === COAP_MESSAGE.CON, onAck: handlers.onAck, onReset: handlers.onReset, onFail: handlers.onFail } as Transmission;
    this._transmit(t);
    return t.messageId;
  }

  /**
   * Each peer's next Message ID. Kept across a deep sleep and handed to the next boot's
   * endpoint (resumeMessageIds), a rebooted device does not reuse an ID with the same peer
   * within EXCHANGE_LIFETIME (RFC 7252 §4.4); a fresh random start only makes that unlikely.
   */
  messageIds(): MessageIdRecord[] {
    return Array.from(this._peers.values(), (p) => ({ address: p.address, port: p.port, next: p.nextMessageId }));
  }

  /** Goes on from a previous boot's Message IDs (messageIds()); a peer this endpoint already has keeps its own. */
  resumeMessageIds(peers: readonly MessageIdRecord[]): void {
    peers.forEach((r) => {
      if (!this._closed && Number.isInteger(r.next)) this._peer(r.address, r.port, r.next & 0xffff);
    });
  }

  /** Feeds one received datagram. Never throws. */
  receive(bytes: Uint8Array | ArrayBuffer, address: string, port: number): void {
    if (this._closed) return;
    try {
      this._receive(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes), address, port);
    } catch (error) {
      this._report(error);
    }
  }

  /** Outstanding interactions with a peer (§4.7). */
  outstanding(address: string, port: number): number {
    return this._peers.get(address + "|" + port)?.active ?? 0;
  }
  /** Requests waiting for an NSTART slot with a peer. */
  queued(address: string, port: number): number {
    return this._peers.get(address + "|" + port)?.queue.length ?? 0;
  }
  /** CON/NON messages we sent still tracked for ACK/RST. */
  get inFlight(): number {
    return this._transmissions.size;
  }

  /** Cancels every job and exchange; exchanges and messages get onFail("closed"). */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    this._transmissions.forEach((t) => {
      t.job?.cancel();
      this._call(t.onFail, "closed");
    });
    this._transmissions.clear();
    // every exchange, queued or not, is in _exchanges until it is finished (Map.forEach visits each once while _finish deletes)
    this._exchanges.forEach((ex) => this._finish(ex, "closed"));
    this._peers.clear();
    this.dedup.clear();
  }

  // --- client side ---------------------------------------------------------------

  private _dispatch(ex: ClientExchange): void {
    const peer = ex.peer;
    const now = this.scheduler.now();
    peer.active++;
    ex.holdsSlot = true;
    ex.state = "sent";
    ex.onReset = () => this._finish(ex, "reset");
    if (ex.confirmable) {
      ex.onAck = (ack) => {
        // §5.3.2 rule 2: a piggybacked response must carry the request's token.
        if (ack.code && sameBytes(ack.token, ex.token)) return this._deliver(ex, ack);
        if (ack.code) this._drop("token", ex.address, ex.port);
        // §5.2.2: an empty ACK promises a separate response; the interaction is no longer outstanding (§4.7).
        ex.state = "acked";
        this._release(ex);
        if (!ack.code) this._call(ex.handlers.onAck, ex);
      };
      ex.onFail = (reason) => this._finish(ex, reason);
    } else {
      // §4.7: do not exceed PROBING_RATE towards a peer that does not respond.
      ex.holdTimer = this.scheduler.schedule({ name: "coap-non-hold", deadline: now + (ex.bytes.length / this.parameters.PROBING_RATE) * 1000, run: () => this._release(ex) });
    }
    ex.timer = this.scheduler.schedule({ name: "coap-exchange-timeout", deadline: now + (ex.handlers.responseTimeout ?? this._responseTimeout), run: () => this._finish(ex, "timeout") });
    this._transmit(ex);
  }

  private _deliver(ex: ClientExchange, response: CoapMessage): void {
    ex.responses++;
    // A response also ends the request's retransmission (§5.2.2 implementation note).
    this._forget(ex);
    if (ex.handlers.multiple) {
      ex.state = "acked";
      ex.timer?.cancel();
      this._release(ex);
    } else this._finish(ex);
    this._call(ex.handlers.onResponse, response, ex);
  }

  /** Frees the exchange's NSTART slot and sends what waits for it. */
  private _release(ex: ClientExchange): void {
    ex.holdTimer?.cancel();
    if (!ex.holdsSlot) return;
    ex.holdsSlot = false;
    const peer = ex.peer;
    peer.active--;
    while (peer.active < this.parameters.NSTART && peer.queue.length && !this._closed) this._dispatch(peer.queue.shift()!);
  }

  /** @internal Ends an exchange (queued or not); calls onFail when `reason` is given (except for cancel). */
  _finish(ex: ClientExchange, reason?: FailReason): void {
    if (ex.state === "done") return;
    ex.state = "done";
    this._forget(ex);
    ex.timer?.cancel();
    if (this._exchanges.get(ex.tokenKey) === ex) this._exchanges.delete(ex.tokenKey);
    const queue = ex.peer.queue;
    const i = queue.indexOf(ex);
    if (i >= 0) queue.splice(i, 1);
    this._release(ex);
    if (reason && reason !== "cancelled") this._call(ex.handlers.onFail, reason, ex);
  }

  // --- transmissions (message layer) ------------------------------------------------

  /**
   * The peer at address:port, made when new: its Message IDs from `next` (a previous boot's), or
   * from a random start (§4.4 implementation note). The table is bounded: a new peer drops every
   * peer with no request of ours active or queued (§4.7) idle for EXCHANGE_LIFETIME (a new random
   * start then cannot reuse an ID within EXCHANGE_LIFETIME, §4.4), and at the cap (maxPeers, a
   * flood from many ports) the idle-longest such peer (its next contact starts from a random ID
   * again). A transmission keeps its own Peer object and key, and _nextMessageId skips IDs still in
   * flight, so neither is lost.
   */
  private _peer(address: string, port: number, next?: number): Peer {
    const key = address + "|" + port;
    const now = this.scheduler.now();
    const peers = this._peers;
    let peer = peers.get(key);
    if (!peer) {
      let oldest: Peer | undefined;
      peers.forEach((p) => {
        if (p.active || p.queue.length) return;
        if (now - p.seen >= this.parameters.EXCHANGE_LIFETIME) peers.delete(p.key);
        else if (!oldest || p.seen < oldest.seen) oldest = p;
      });
      if (oldest && peers.size >= this._maxPeers) peers.delete(oldest.key);
      if (next == null) {
        const r = this._o.random(this._rand2);
        next = (r[0] << 8) | r[1];
      }
      peer = { key, address, port, nextMessageId: next, active: 0, queue: [], seen: now };
      peers.set(key, peer);
    }
    peer.seen = now;
    return peer;
  }

  private _nextMessageId(peer: Peer): number {
    // Skip IDs still awaiting ACK/RST (never reuse one in flight, §4.4).
    for (let i = 0; i < 0x10000; i++) {
      const id = peer.nextMessageId;
      peer.nextMessageId = (id + 1) & 0xffff;
      if (!this._transmissions.has(peer.key + "#" + id)) return id;
    }
    throw new Error("coap: no free Message ID");
  }

  /**
   * Sends a CON/NON under a fresh Message ID (patched into its bytes), registered for ACK/RST
   * matching first (a synchronous link may answer at once): a CON is retransmitted (_retransmit),
   * a NON is tracked only to match a RST (§4.3), forgotten after NON_LIFETIME or at the
   * maxNonTracked cap: the oldest without onReset, else the oldest (insertion order).
   */
  private _transmit(t: Transmission): void {
    const peer = t.peer;
    const id = this._nextMessageId(peer);
    t.bytes[2] = id >> 8;
    t.bytes[3] = id;
    t.messageId = id;
    t.key = peer.key + "#" + id;
    t.retransmits = -1;
    if (t.confirmable) {
      this._transmissions.set(t.key, t);
      return this._retransmit(t, this.scheduler.now());
    }
    let n = 0;
    let v: Transmission | undefined;
    this._transmissions.forEach((o) => {
      if (o.confirmable) return;
      n++;
      if (!v || (v.onReset && !o.onReset)) v = o;
    });
    if (n >= this._maxNon) this._forget(v!);
    this._transmissions.set(t.key, t);
    t.job = this.scheduler.schedule({ name: "coap-non-lifetime", deadline: this.scheduler.now() + this.parameters.NON_LIFETIME, run: () => this._transmissions.delete(t.key) });
    this._sendBytes(t.bytes, peer.address, peer.port);
  }

  /**
   * A CON's first transmission (retransmits -1) and each retransmission (§4.2): the first timeout
   * is random in [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR] and doubles with each
   * retransmission; after MAX_RETRANSMIT the sender gives up (onFail "timeout"). Any timeout in
   * that range, doubled per retransmission, is one the sender may pick: the scheduler may move
   * the retransmission within it to share a wake (the random pick stays the deadline).
   */
  private _retransmit(t: Transmission, now: number): void {
    const p = this.parameters;
    if (t.retransmits < 0) {
      const r = this._o.random(this._rand2);
      t.timeout = p.ACK_TIMEOUT * (1 + (((r[0] << 8) | r[1]) / 65535) * (p.ACK_RANDOM_FACTOR - 1));
    } else {
      if (this._transmissions.get(t.key) !== t) return;
      if (t.retransmits >= p.MAX_RETRANSMIT) {
        // §4.2: give up; the application is informed of failure.
        this._forget(t);
        return this._call(t.onFail, "timeout");
      }
      t.timeout *= 2;
    }
    const base = p.ACK_TIMEOUT * 2 ** ++t.retransmits;
    // min/max: the pick stays inside even where floating point rounds the product differently
    const w = { earliest: now + Math.min(base, t.timeout), latest: now + Math.max(base * p.ACK_RANDOM_FACTOR, t.timeout) };
    if (t.job) t.job.reschedule(now + t.timeout, w);
    else t.job = this.scheduler.schedule(Object.assign(w, { name: "coap-retransmit", deadline: now + t.timeout, radio: true, run: (at: number) => this._retransmit(t, at) }));
    this._sendBytes(t.bytes, t.peer.address, t.peer.port);
  }

  /** Ends a transmission's retransmission or NON lifetime and its ACK/RST matching (an evicted NON's key may since be another's). */
  private _forget(t: Transmission): void {
    t.job?.cancel();
    if (this._transmissions.get(t.key) === t) this._transmissions.delete(t.key);
  }

  // --- receiving ------------------------------------------------------------------------

  private _receive(bytes: Uint8Array, address: string, port: number): void {
    const result = decode(bytes, this._o); // its registry
    if (!result.ok) {
      const error = result.error;
      const r = rejection(error, this._o.rejectionPolicy);
      this._drop(error.reason, address, port);
      if (r.action === "rst") this._sendBytes(encodeEmpty(COAP_MESSAGE.RST, r.messageId), address, port);
      else if (r.action === "respond") {
        // §5.4.1: 4.02 with a diagnostic payload (§5.5.2); RFC 7959 §2.2: 4.00.
        const messageId = r.type === COAP_MESSAGE.ACK ? r.messageId : this._nextMessageId(this._peer(address, port));
        this._sendBytes(encode({ type: r.type, code: r.code, messageId, token: r.token, options: [], payload: utf8Encode(r.diagnostic) }), address, port);
      }
      return;
    }
    const msg = result.message;
    const key = address + "|" + port;
    const con = msg.type === COAP_MESSAGE.CON;
    if (msg.type > 1) {
      // ACK or RST, matched by Message ID and endpoint (§4.4); an ACK only to a CON. §4.2: an ACK
      // carrying a request and a RST that is not Empty are silently ignored.
      const ack = msg.type === COAP_MESSAGE.ACK;
      if (ack ? isRequestCode(msg.code) : msg.code) return this._drop(ack ? "ack-request" : "rst-not-empty", address, port);
      const t = this._transmissions.get(key + "#" + msg.messageId);
      if (!t || (ack && !t.confirmable)) return this._drop(ack ? "ack-unmatched" : "rst-unmatched", address, port);
      this._forget(t);
      return ack ? this._call(t.onAck, msg) : this._call(t.onReset);
    }
    // CON or NON
    if (msg.code === 0 /* Empty */) {
      // §4.3 Table 1: an empty CON elicits a RST ("CoAP ping"); §4.2 rejects it.
      if (con) return this._sendBytes(encodeEmpty(COAP_MESSAGE.RST, msg.messageId), address, port);
      return this._drop("empty-non", address, port);
    }
    const now = this.scheduler.now();
    const dkey = key + "#" + msg.messageId;
    const seen = this.dedup.get(dkey, now);
    if (seen) {
      // §4.5: acknowledge each duplicate CON with the same ACK/RST, process only once; ignore duplicate NON.
      // A CON request still being processed (kept until its ACK replaces it): the empty ACK now, the
      // response will be separate (§5.2.2).
      const r = con && seen.reply;
      if (r instanceof IncomingRequest) this._ack(r);
      else if (r) this._sendBytes(r as Uint8Array, address, port);
      return this._drop("duplicate", address, port);
    }
    const p = this.parameters;
    const entry = this.dedup.add(dkey, { expires: now + (con ? p.EXCHANGE_LIFETIME : p.NON_LIFETIME) }, now);
    if (isRequestCode(msg.code)) {
      const req = new IncomingRequest(this, msg, address, port, entry);
      // §4.5: only a duplicate CON is answered; its request is kept until the ACK replaces it (_ack)
      if (con) entry.reply = req;
      if (!this.onRequest) return req.respond({ code: COAP_RESPONSE.NOT_FOUND });
      try {
        this.onRequest(req);
      } catch (error) {
        this._report(error);
        if (!req.responded) req.respond({ code: COAP_RESPONSE.INTERNAL_SERVER_ERROR });
        return;
      }
      // §5.2.2: answer with an empty ACK before the client retransmits.
      if (!req.responded && con && !req.acknowledged) req.ackJob = this.scheduler.schedule({ name: "coap-ack-delay", deadline: now + this._ackDelay, radio: true, run: () => this._ack(req) });
      return;
    }
    // a response (decode refuses the reserved classes 1, 6 and 7)
    const ex = this._exchanges.get(key + "#" + msg.token);
    const matched = ex && ex.state !== "queued";
    // §5.2.2: a CON response is acknowledged with an Empty ACK; §5.3.2: an unexpected response is
    // rejected: RST for a CON (§4.2), silence for a NON (§4.3).
    if (con) this._sendBytes((entry.reply = encodeEmpty(matched ? COAP_MESSAGE.ACK : COAP_MESSAGE.RST, msg.messageId)), address, port);
    if (matched) this._deliver(ex, msg);
    else this._drop("response-unmatched", address, port);
  }

  // --- server side -------------------------------------------------------------------------

  /**
   * @internal Sends the ACK of a CON request, kept for its duplicates (§4.5): `bytes` (the response
   * piggybacked, §5.2.1), else the empty ACK (§5.2.2), or once acknowledged the same ACK again.
   * The ACK delay is over. Nothing is sent for a NON, or once the endpoint is closed.
   */
  _ack(req: IncomingRequest, bytes?: Uint8Array): void {
    req.ackJob?.cancel();
    if (!req.confirmable || this._closed) return;
    bytes ??= req.acknowledged ? (req.entry.reply as Uint8Array) : encodeEmpty(COAP_MESSAGE.ACK, req.message.messageId);
    req.acknowledged = true;
    req.entry.reply = bytes;
    this._sendBytes(bytes, req.address, req.port);
  }

  // --- plumbing -------------------------------------------------------------------------------

  private _sendBytes(bytes: Uint8Array, address: string, port: number): void {
    try {
      this._o.send(bytes, address, port);
    } catch (error) {
      this._report(error);
    }
  }

  private _drop(reason: string, address: string, port: number): void {
    this._call(this._o.onDrop, reason, address, port);
  }

  private _report(error: unknown): void {
    try {
      this._o.onError?.(error);
    } catch {
      // an error reporter that throws must not break the endpoint
    }
  }

  /** Calls a callback, if there is one, with up to three arguments (no rest parameters: they cost XS bytecode); what it throws goes to onError. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private _call(fn: ((a: any, b: any, c: any) => void) | undefined, a?: unknown, b?: unknown, c?: unknown): void {
    try {
      if (fn) fn(a, b, c);
    } catch (error) {
      this._report(error);
    }
  }
}

function checkAddress(address: string, port: number): void {
  if (typeof address !== "string" || address.length === 0) throw new TypeError("coap: address");
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError("coap: port");
}

// --- The UDP binding ---------------------------------------------------------------------------
/*
 * openUdpEndpoint, the binding between the sans-IO CoapEndpoint and an ECMA-419 UDP socket
 * (ECMA-419 §10 "UDP socket"): the socket constructor is injected
 * (`{socket: {io: UDP, port}}`), datagrams read in onReadable go to
 * endpoint.receive(), endpoint output goes to socket.write(). Time comes from
 * the scheduler the caller hands in; nothing here arms a timer.
 */
//
// Here, not a module of its own: the firmware always ships it with the endpoint, and a module
// costs its import/export records and its own symbol table (issue 17). CoapEndpoint stays sans-IO.

export interface CoapSocketOptions {
  /** The ECMA-419 UDP constructor (the host's, the simulator's, or sim/udp-network's). */
  io: UdpConstructor;
  /** Local port (0 or absent: any free port). */
  port?: number;
  /** Local address to bind. */
  address?: string;
  /** Extra constructor options for host extensions (e.g. receiveQueue). */
  [extra: string]: unknown;
}

export type UdpEndpointOptions = Omit<CoapEndpointOptions, "send"> & { socket: CoapSocketOptions };

export interface UdpEndpoint {
  endpoint: CoapEndpoint;
  socket: UdpSocket;
  /** Closes the endpoint (pending exchanges fail with "closed") and the socket. */
  close(): void;
}

/** Opens a UDP socket and a CoapEndpoint on it. Throws (and opens nothing) on bad options. */
export function openUdpEndpoint(options: UdpEndpointOptions): UdpEndpoint {
  const socket = options && options.socket;
  // Checked here too, not left to the endpoint: a client or server handed neither an endpoint nor
  // a whole socket/scheduler/random set learns what it needs (send is ours, not theirs, to give).
  if (!socket || typeof socket.io !== "function" || typeof options.random !== "function" || typeof options.scheduler?.schedule !== "function") throw new TypeError("coap: needs endpoint, or socket.io, scheduler and random");
  const onError = options.onError;
  // The endpoint first, so that bad options throw before a socket is open; its options are the
  // caller's (their socket is not read) with send, which writes to the socket opened next.
  let s: UdpSocket;
  const endpoint = new CoapEndpoint(Object.assign({}, options, { send: (bytes: Uint8Array, address: string, port: number) => s.write(bytes, address, port) }));
  // the socket's options without io (Object.assign and delete: a rest or a spread costs XS bytecode)
  const udpOptions = Object.assign({}, socket, {
    onReadable(this: UdpSocket) {
      // ECMA-419 §10: read whole datagrams until none is left (endpoint.receive never throws).
      try {
        for (let packet; (packet = this.read()); ) endpoint.receive(packet, packet.address, packet.port);
      } catch (error) {
        if (onError) onError(error);
      }
    },
    onError(error?: Error) {
      if (onError) onError(error ?? new Error("coap: UDP socket error"));
    },
  }) as Partial<CoapSocketOptions>;
  delete udpOptions.io;
  s = new socket.io(udpOptions as never);
  return {
    endpoint,
    socket: s,
    close() {
      endpoint.close();
      s.close();
    },
  };
}

// --- Deduplication memory (RFC 7252 §4.5), bounded: was dedup.ts (a module of its own costs ~250 B of XS bytecode) ---
/*
 * Message deduplication memory (RFC 7252 §4.5), bounded.
 *
 * One entry per received CON/NON (source endpoint + Message ID), kept for
 * EXCHANGE_LIFETIME (CON) or NON_LIFETIME (NON). An entry keeps only what
 * duplicate detection needs: its expiry and, for a CON, what answers a
 * duplicate: the owner's request while it is being processed, then the reply
 * bytes alone (the owner replaces the one by the other, so a kept entry does
 * not hold the decoded request). Every insertion first drops the expired
 * entries; the cache has a fixed capacity and, when still full, the OLDEST
 * entry is evicted, even if it has not expired. A duplicate arriving after its
 * entry was evicted or expired is treated as a new message; size the capacity
 * for the expected message rate (capacity / EXCHANGE_LIFETIME messages per
 * second are fully deduplicated). No timers: expiry is checked on lookup and
 * at insertion. CoapServer keeps its RFC 7959 §2.6 responses in one too (the response as `reply`).
 */

export interface DedupEntry {
  /** Absolute time (ms) after which the entry no longer counts. */
  expires: number;
  /**
   * What answers a duplicate CON: the bytes we answered with (ACK, piggybacked
   * response or RST), or, until they exist, the owner's state (the messaging
   * layer's request being processed). Nothing for a NON (a duplicate is ignored).
   */
  reply?: Uint8Array | object;
}

export class DedupCache {
  declare readonly capacity: number;
  declare private _map: Map<string, DedupEntry>;
  /** Entries dropped because the cache was full (not expired): a measure of undersizing. */
  declare evictions: number;

  constructor(capacity: number) {
    this.evictions = 0;
    this._map = new Map();
    this.capacity = setting(capacity, 0, 1, Infinity, "dedupCapacity");
  }

  get size(): number {
    return this._map.size;
  }

  /** The live entry for `key`, or undefined (an expired entry is dropped). */
  get(key: string, now: number): DedupEntry | undefined {
    const e = this._map.get(key);
    if (e && e.expires <= now) {
      this._map.delete(key);
      return;
    }
    return e;
  }

  /** Adds an entry after dropping every expired one, then evicts the oldest while full. */
  add(key: string, entry: DedupEntry, now: number): DedupEntry {
    const map = this._map;
    map.delete(key);
    map.forEach((e, k) => e.expires <= now && map.delete(k));
    while (map.size >= this.capacity) {
      map.delete(map.keys().next().value as string);
      this.evictions++;
    }
    map.set(key, entry);
    return entry;
  }

  clear(): void {
    this._map.clear();
  }
}
