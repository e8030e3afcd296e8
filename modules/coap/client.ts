/*
 * CoapClient: requests by URI on top of the sans-IO CoapEndpoint.
 *
 *  - GET/POST/PUT/DELETE (RFC 7252 §5.8) and FETCH/PATCH/iPATCH (RFC 8132),
 *    CON or NON, `coap://host:port/path?query` decomposed as RFC 7252 §6.4 says.
 *    A request resolves with the response whatever its code (like fetch());
 *    it rejects with CoapRequestError on timeout, Reset or a broken block-wise transfer.
 *  - Block2 downloads (RFC 7959 §2.4): further blocks are asked for with the
 *    server's block size until M=0, checking the ETag stays the same; early
 *    negotiation of a smaller size with `block2Size` (§2.4). The body is bounded
 *    by `maxBodySize`.
 *  - Block1 uploads (§2.5): a body larger than `block1Size` goes in blocks with
 *    Size1 on the first (§4); a 2.31 with a smaller SZX shrinks the following
 *    blocks (the next NUM counted in the new size); a 4.13 with a smaller SZX, or
 *    a 4.13 to a request sent whole whose Size1 allows the body, restarts the
 *    upload block-wise (§2.9.3). A final response with Block2 is downloaded (§2.6).
 *  - Observe (RFC 7641): registration (§3.1), the §3.4 freshness rule
 *    (NotificationOrder), re-registration with the same token when no
 *    notification came within Max-Age (§3.3.1), proactive cancellation with
 *    Observe 1 (§3.6) or reactive (forget: the next CON notification gets a
 *    RST), and the rest of a large notification fetched by Block2 (RFC 7959 §3.4).
 */
import {
  COAP_OPTION,
  COAP_REQUEST,
  COAP_RESPONSE,
  codeString,
  isRequestCode,
  type CoapMessageType,
  type TransmissionParameters,
} from "./constants";
import type { CoapMessage } from "./codec";
import type { ClientExchange, CoapEndpoint, FailReason } from "./messaging";
import {
  blockOption,
  blockSize,
  emptyOption,
  getBlock,
  getOption,
  getStrings,
  getUint,
  opaqueOption,
  stringOption,
  uintOption,
  type CoapOption,
} from "./options";
import { parseCoapUri } from "./uri";
import { concat, szxForSize } from "./block";
import { NotificationOrder } from "./observe";
import { openUdpEndpoint, type CoapSocketOptions, type UdpEndpoint } from "./udp-endpoint";
import type { Job, Scheduler } from "../scheduler/scheduler";
import { utf8Decode, utf8Encode } from "./options";

const EMPTY: Uint8Array = new Uint8Array(0);

export type CoapMethod = "GET" | "POST" | "PUT" | "DELETE" | "FETCH" | "PATCH" | "iPATCH";

const METHODS: Record<CoapMethod, number> = {
  GET: COAP_REQUEST.GET,
  POST: COAP_REQUEST.POST,
  PUT: COAP_REQUEST.PUT,
  DELETE: COAP_REQUEST.DELETE,
  FETCH: COAP_REQUEST.FETCH,
  PATCH: COAP_REQUEST.PATCH,
  iPATCH: COAP_REQUEST.IPATCH,
};

export class CoapRequestError extends Error {
  /** timeout / reset / cancelled / closed (messaging), or block-wise trouble. */
  readonly reason: FailReason | "block" | "too-large" | "uri";
  constructor(reason: CoapRequestError["reason"], message: string) {
    super(message);
    this.reason = reason;
  }
}
// On the prototype: `this.name = ...` throws where the intrinsics are frozen, as on a device (host-tests/xs/lockdown.ts).
Object.defineProperty(CoapRequestError.prototype, "name", { value: "CoapRequestError", writable: true, configurable: true });

/** A response, with a block-wise body already reassembled. */
export interface CoapResponse {
  code: number;
  /** "2.05" */
  status: string;
  /** A 2.xx code. */
  ok: boolean;
  type: CoapMessageType;
  /** Options of the (last) response message. */
  options: CoapOption[];
  /** The whole body. */
  payload: Uint8Array;
  contentFormat: number | undefined;
  etag: Uint8Array | undefined;
  /** Seconds; 60 when absent (RFC 7252 §5.10.5). */
  maxAge: number;
  /** The Observe value of a notification. */
  observe: number | undefined;
  /** "/a/b" from Location-Path, "" when none. */
  locationPath: string;
  locationQuery: string[];
  /** Messages the body came in (1, or the number of Block2 blocks). */
  blocks: number;
  message: CoapMessage;
  address: string;
  port: number;
  text(): string;
}

export interface CoapRequestInit {
  method?: CoapMethod | number;
  /** coap://host[:port]/path?query ... */
  uri?: string;
  /** ... or the parts: */
  address?: string;
  port?: number;
  path?: string;
  query?: string | readonly string[];
  payload?: Uint8Array | string;
  contentFormat?: number;
  accept?: number;
  etag?: Uint8Array | readonly Uint8Array[];
  ifMatch?: Uint8Array | readonly Uint8Array[];
  ifNoneMatch?: boolean;
  /** Further options (not Block1/Block2/Observe; those are the client's). */
  options?: CoapOption[];
  /** CON (default) or NON. */
  confirmable?: boolean;
  /** Ask the server for blocks of at most this size (early negotiation, RFC 7959 §2.4). */
  block2Size?: number;
  /** Send bodies larger than this in Block1 blocks of this size (default: the client's). */
  block1Size?: number;
  /** Time to wait for each response after its first transmission (ms). */
  timeout?: number;
}

export interface CoapObserveInit extends CoapRequestInit {
  /** Each fresh notification (the first response included), body reassembled. */
  onNotify(response: CoapResponse): void;
  /** The observation ended (the server refused or ended it, or it could not be re-registered). */
  onEnd?(reason: string, response?: CoapResponse): void;
  /** Transient trouble (a failed re-registration attempt, a broken block fetch). */
  onError?(error: unknown): void;
  /** Extra wait after Max-Age before re-registering (ms, default 2000, RFC 7641 §3.3.1). */
  reregisterMargin?: number;
}

export interface CoapClientOptions {
  endpoint?: CoapEndpoint;
  /** Or open one: `{io: UDP}` (then scheduler and random are required). */
  socket?: CoapSocketOptions;
  scheduler?: Scheduler;
  random?(buffer: Uint8Array): Uint8Array;
  parameters?: Partial<TransmissionParameters>;
  /** Block1 block size for large bodies (16..1024, default 1024). */
  block1Size?: number;
  /** Largest body accepted from Block2 transfers (default 65536 bytes). */
  maxBodySize?: number;
  /** Host names to addresses (there is no DNS here); IP literals need none. */
  resolve?(host: string): string | undefined;
  onError?(error: unknown): void;
}

interface Target {
  address: string;
  port: number;
  /** Uri-Host/Uri-Port/Uri-Path/Uri-Query. */
  options: CoapOption[];
}

function isUint8(x: unknown): x is Uint8Array {
  return x instanceof Uint8Array;
}

function many<T>(v: T | readonly T[] | undefined, one: (x: unknown) => x is T): T[] {
  if (v === undefined) return [];
  return one(v) ? [v] : [...(v as readonly T[])];
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Builds a CoapResponse from a message and a full body. */
export function toResponse(msg: CoapMessage, payload: Uint8Array, blocks: number, address: string, port: number): CoapResponse {
  const path = getStrings(msg, COAP_OPTION.LOCATION_PATH);
  return {
    code: msg.code,
    status: codeString(msg.code),
    ok: msg.code >> 5 === 2,
    type: msg.type,
    options: msg.options,
    payload,
    contentFormat: getUint(msg, COAP_OPTION.CONTENT_FORMAT),
    etag: getOption(msg, COAP_OPTION.ETAG)?.value,
    maxAge: getUint(msg, COAP_OPTION.MAX_AGE) ?? 60,
    observe: getUint(msg, COAP_OPTION.OBSERVE),
    locationPath: path.length ? "/" + path.join("/") : "",
    locationQuery: getStrings(msg, COAP_OPTION.LOCATION_QUERY),
    blocks,
    message: msg,
    address,
    port,
    text: () => utf8Decode(payload),
  };
}

/** What one request needs, resolved. */
interface Plan {
  code: number;
  target: Target;
  /** Options without Block1/Block2/Size1/Observe. */
  options: CoapOption[];
  payload: Uint8Array;
  confirmable: boolean;
  block2Szx: number | undefined;
  block1Szx: number;
  timeout: number | undefined;
}

export class CoapClient {
  readonly endpoint: CoapEndpoint;
  readonly scheduler: Scheduler;
  #udp: UdpEndpoint | undefined;
  #block1Szx: number;
  #maxBodySize: number;
  #resolve: ((host: string) => string | undefined) | undefined;
  #observations = new Set<CoapObservation>();

  constructor(options: CoapClientOptions) {
    if (!options) throw new TypeError("coap: CoapClient options are required");
    const b1 = options.block1Size ?? 1024;
    if (!Number.isInteger(b1) || b1 < 16 || b1 > 1024) throw new RangeError("coap: block1Size must be 16..1024");
    const maxBody = options.maxBodySize ?? 65536;
    if (!Number.isInteger(maxBody) || maxBody < 1) throw new RangeError("coap: maxBodySize must be an integer >= 1");
    if (options.endpoint) this.endpoint = options.endpoint;
    else {
      if (!options.socket || !options.scheduler || !options.random) throw new TypeError("coap: CoapClient needs an endpoint, or a socket with a scheduler and a random source");
      this.#udp = openUdpEndpoint({ socket: options.socket, scheduler: options.scheduler, random: options.random, parameters: options.parameters, onError: options.onError });
      this.endpoint = this.#udp.endpoint;
    }
    this.scheduler = this.endpoint.scheduler;
    this.#block1Szx = szxForSize(b1);
    this.#maxBodySize = maxBody;
    this.#resolve = options.resolve;
  }

  get socket() {
    return this.#udp?.socket;
  }

  get(uri: string, init: CoapRequestInit = {}): Promise<CoapResponse> {
    return this.request({ ...init, method: "GET", uri });
  }
  post(uri: string, payload?: Uint8Array | string, init: CoapRequestInit = {}): Promise<CoapResponse> {
    return this.request({ ...init, method: "POST", uri, payload });
  }
  put(uri: string, payload?: Uint8Array | string, init: CoapRequestInit = {}): Promise<CoapResponse> {
    return this.request({ ...init, method: "PUT", uri, payload });
  }
  delete(uri: string, init: CoapRequestInit = {}): Promise<CoapResponse> {
    return this.request({ ...init, method: "DELETE", uri });
  }
  fetch(uri: string, payload?: Uint8Array | string, init: CoapRequestInit = {}): Promise<CoapResponse> {
    return this.request({ ...init, method: "FETCH", uri, payload });
  }
  patch(uri: string, payload?: Uint8Array | string, init: CoapRequestInit = {}): Promise<CoapResponse> {
    return this.request({ ...init, method: "PATCH", uri, payload });
  }
  ipatch(uri: string, payload?: Uint8Array | string, init: CoapRequestInit = {}): Promise<CoapResponse> {
    return this.request({ ...init, method: "iPATCH", uri, payload });
  }

  /** CoAP ping (RFC 7252 §4.3): resolves true on the RST, false on timeout. */
  ping(address: string, port = 5683): Promise<boolean> {
    return new Promise((resolve) => {
      try {
        this.endpoint.ping(address, port, { onPong: () => resolve(true), onFail: () => resolve(false) });
      } catch {
        resolve(false);
      }
    });
  }

  /** Sends a request; block-wise transfers in either direction are handled. */
  request(init: CoapRequestInit): Promise<CoapResponse> {
    let plan: Plan;
    try {
      plan = this.#plan(init);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#run(plan);
  }

  /** Registers an observation (RFC 7641 §3.1). */
  observe(init: CoapObserveInit): CoapObservation {
    if (!init || typeof init.onNotify !== "function") throw new TypeError("coap: observe needs an onNotify callback");
    const plan = this.#plan({ ...init, method: "GET" });
    const obs = new CoapObservation(this, plan, init);
    this.#observations.add(obs);
    obs._register();
    return obs;
  }

  /** Ends observations and, when the client opened it, the endpoint and socket. */
  close(): void {
    for (const o of [...this.#observations]) o.forget();
    this.#udp?.close();
  }

  // --- internals ---------------------------------------------------------------------

  /** @internal */
  _forgetObservation(o: CoapObservation): void {
    this.#observations.delete(o);
  }

  #target(init: CoapRequestInit): Target {
    if (init.uri !== undefined) {
      let parsed;
      try {
        parsed = parseCoapUri(init.uri);
      } catch (error) {
        throw new CoapRequestError("uri", (error as Error).message);
      }
      if (parsed.scheme !== "coap") throw new CoapRequestError("uri", "coaps:// needs DTLS, which this client does not have");
      let address = parsed.host;
      let options = parsed.options;
      if (!parsed.hostIsIp) {
        const resolved = this.#resolve?.(parsed.host);
        if (!resolved) throw new CoapRequestError("uri", `cannot resolve host "${parsed.host}" (give options.resolve or an IP address)`);
        address = resolved;
      } else options = options.filter((o) => o.number !== 3); // no Uri-Host for an IP literal (§6.4 step 5)
      return { address, port: init.port ?? parsed.port, options };
    }
    if (typeof init.address !== "string") throw new TypeError("coap: a request needs a uri or an address");
    const options: CoapOption[] = [];
    if (init.path) for (const seg of init.path.replace(/^\/+/, "").split("/")) if (seg !== "") options.push(stringOption(COAP_OPTION.URI_PATH, seg));
    const query = init.query === undefined ? [] : typeof init.query === "string" ? init.query.replace(/^\?/, "").split("&").filter((q) => q !== "") : [...init.query];
    for (const q of query) options.push(stringOption(COAP_OPTION.URI_QUERY, q));
    return { address: init.address, port: init.port ?? 5683, options };
  }

  #plan(init: CoapRequestInit): Plan {
    if (!init || typeof init !== "object") throw new TypeError("coap: request init must be an object");
    const m = init.method ?? "GET";
    const code = typeof m === "number" ? m : METHODS[m];
    if (code === undefined || !isRequestCode(code)) throw new RangeError(`coap: unknown method ${String(m)}`);
    const target = this.#target(init);
    const options = target.options.slice();
    for (const e of many(init.ifMatch, isUint8)) options.push(opaqueOption(COAP_OPTION.IF_MATCH, e));
    for (const e of many(init.etag, isUint8)) options.push(opaqueOption(COAP_OPTION.ETAG, e));
    if (init.ifNoneMatch) options.push(emptyOption(COAP_OPTION.IF_NONE_MATCH));
    if (init.contentFormat !== undefined) options.push(uintOption(COAP_OPTION.CONTENT_FORMAT, init.contentFormat));
    if (init.accept !== undefined) options.push(uintOption(COAP_OPTION.ACCEPT, init.accept));
    if (init.options)
      for (const o of init.options) {
        if (o.number === COAP_OPTION.BLOCK1 || o.number === COAP_OPTION.BLOCK2 || o.number === COAP_OPTION.OBSERVE) throw new RangeError("coap: Block1, Block2 and Observe are set by the client");
        options.push(o);
      }
    const payload = typeof init.payload === "string" ? utf8Encode(init.payload) : init.payload ?? EMPTY;
    if (!(payload instanceof Uint8Array)) throw new TypeError("coap: payload must be a string or a Uint8Array");
    let block2Szx: number | undefined;
    if (init.block2Size !== undefined) {
      if (!Number.isInteger(init.block2Size) || init.block2Size < 16 || init.block2Size > 1024) throw new RangeError("coap: block2Size must be 16..1024");
      block2Szx = szxForSize(init.block2Size);
    }
    let block1Szx = this.#block1Szx;
    if (init.block1Size !== undefined) {
      if (!Number.isInteger(init.block1Size) || init.block1Size < 16 || init.block1Size > 1024) throw new RangeError("coap: block1Size must be 16..1024");
      block1Szx = szxForSize(init.block1Size);
    }
    return { code, target, options, payload, confirmable: init.confirmable !== false, block2Szx, block1Szx, timeout: init.timeout };
  }

  /** One request/response exchange. */
  _exchange(plan: Plan, extra: CoapOption[], payload: Uint8Array, code = plan.code): Promise<CoapMessage> {
    return new Promise((resolve, reject) => {
      try {
        this.endpoint.request({ code, options: plan.options.concat(extra), payload, confirmable: plan.confirmable }, plan.target.address, plan.target.port, {
          responseTimeout: plan.timeout,
          onResponse: (r) => resolve(r),
          onFail: (reason) => reject(new CoapRequestError(reason, `coap: ${reason === "timeout" ? "no response" : reason} from ${plan.target.address}:${plan.target.port}`)),
        });
      } catch (error) {
        reject(error);
      }
    });
  }

  async #run(plan: Plan): Promise<CoapResponse> {
    const size = blockSize(plan.block1Szx);
    let msg: CoapMessage;
    if (plan.payload.length > size) msg = await this.#upload(plan, plan.block1Szx);
    else {
      const extra = plan.block2Szx !== undefined ? [blockOption(COAP_OPTION.BLOCK2, { num: 0, more: false, szx: plan.block2Szx })] : [];
      msg = await this._exchange(plan, extra, plan.payload);
      if (msg.code === COAP_RESPONSE.REQUEST_ENTITY_TOO_LARGE && plan.payload.length > 16 && !getOption(msg, COAP_OPTION.BLOCK1)) {
        // RFC 7959 §2.9.3: a 4.13 to a request without Block1 is a hint to try Block1, if Size1 allows the body.
        const limit = getUint(msg, COAP_OPTION.SIZE1);
        if (limit === undefined || limit >= plan.payload.length) msg = await this.#upload(plan, Math.min(plan.block1Szx, szxForSize(plan.payload.length >> 1)));
      }
    }
    return this._complete(plan, msg, []);
  }

  /** Block1 upload (RFC 7959 §2.5). Returns the final response message. */
  async #upload(plan: Plan, startSzx: number): Promise<CoapMessage> {
    const body = plan.payload;
    let szx = startSzx;
    let offset = 0;
    let restarts = 0;
    for (;;) {
      const size = blockSize(szx);
      const num = offset / size;
      const end = Math.min(body.length, offset + size);
      const more = end < body.length;
      const extra = [blockOption(COAP_OPTION.BLOCK1, { num, more, szx })];
      if (num === 0) extra.push(uintOption(COAP_OPTION.SIZE1, body.length)); // §4
      if (plan.block2Szx !== undefined && !more) extra.push(blockOption(COAP_OPTION.BLOCK2, { num: 0, more: false, szx: plan.block2Szx }));
      const msg = await this._exchange(plan, extra, body.subarray(offset, end));
      const b1 = getBlock(msg, COAP_OPTION.BLOCK1);
      if (msg.code === COAP_RESPONSE.REQUEST_ENTITY_TOO_LARGE) {
        // §2.9.3: a smaller SZX in Block1 is a hint to start over with that size.
        if (b1 && b1.szx < szx && restarts < 3) {
          restarts++;
          szx = b1.szx;
          offset = 0;
          continue;
        }
        return msg;
      }
      const carryOn = msg.code === COAP_RESPONSE.CONTINUE || (msg.code >> 5 === 2 && more && !!b1);
      if (!more || !carryOn) return msg;
      offset = end;
      // §2.5: use the server's preferred (smaller) size from now on; the next NUM counts in it.
      if (b1 && b1.szx < szx) szx = b1.szx;
    }
  }

  /** Downloads the rest of a Block2 body (RFC 7959 §2.4) after `first`. */
  async _complete(plan: Plan, first: CoapMessage, extraBase: CoapOption[], code = plan.code): Promise<CoapResponse> {
    const b2 = getBlock(first, COAP_OPTION.BLOCK2);
    if (!b2 || !b2.more || first.code >> 5 !== 2) return toResponse(first, first.payload, 1, plan.target.address, plan.target.port);
    let szx = b2.szx;
    const etag = getOption(first, COAP_OPTION.ETAG)?.value;
    const total = getUint(first, COAP_OPTION.SIZE2);
    if (total !== undefined && total > this.#maxBodySize) throw new CoapRequestError("too-large", `representation of ${total} bytes exceeds maxBodySize ${this.#maxBodySize}`);
    const chunks = [first.payload];
    let received = b2.num * blockSize(szx) + first.payload.length;
    if (b2.num !== 0) throw new CoapRequestError("block", `first Block2 response has NUM ${b2.num}`);
    let last = first;
    let blocks = 1;
    // §2.6: the continuation of a POST/PUT body answer keeps the method; the request body is not repeated.
    const payload = plan.code === COAP_REQUEST.FETCH ? plan.payload : EMPTY;
    if (first.payload.length !== blockSize(szx)) throw new CoapRequestError("block", "Block2 block with M=1 is not full-size (RFC 7959 §2.3)");
    for (;;) {
      const num = received / blockSize(szx);
      if (!Number.isInteger(num)) throw new CoapRequestError("block", "Block2 blocks do not line up");
      const msg = await this._exchange(plan, extraBase.concat([blockOption(COAP_OPTION.BLOCK2, { num, more: false, szx })]), payload, code);
      if (msg.code >> 5 !== 2) return toResponse(msg, msg.payload, blocks + 1, plan.target.address, plan.target.port);
      const b = getBlock(msg, COAP_OPTION.BLOCK2);
      if (!b || b.num * blockSize(b.szx) !== received) throw new CoapRequestError("block", `expected the block at offset ${received}`);
      const e = getOption(msg, COAP_OPTION.ETAG)?.value;
      if (etag && e && !sameBytes(etag, e)) throw new CoapRequestError("block", "the representation changed during the block-wise transfer (ETag differs, RFC 7959 §2.4)");
      if (b.more && msg.payload.length !== blockSize(b.szx)) throw new CoapRequestError("block", "Block2 block with M=1 is not full-size (RFC 7959 §2.3)");
      received += msg.payload.length;
      if (received > this.#maxBodySize) throw new CoapRequestError("too-large", `body exceeds maxBodySize ${this.#maxBodySize}`);
      chunks.push(msg.payload);
      blocks++;
      last = msg;
      if (!b.more) break;
      // the server may only shrink the size (§2.4); the next NUM counts in the new size
      if (b.szx > szx) throw new CoapRequestError("block", "server grew the block size");
      szx = b.szx;
      if (msg.payload.length === 0) throw new CoapRequestError("block", "empty block with M=1");
    }
    const body = concat(chunks, received);
    const r = toResponse(first, body, blocks, plan.target.address, plan.target.port);
    r.options = last.options;
    return r;
  }
}

/** A running observation. */
export class CoapObservation {
  readonly client: CoapClient;
  /** Still registered (as far as the client knows). */
  active = true;
  /** The last notification delivered. */
  last: CoapResponse | undefined;
  /** Notifications delivered, and dropped as stale (§3.4). */
  delivered = 0;
  stale = 0;
  /** Re-registrations sent (§3.3.1). */
  reregistrations = 0;
  #plan: Plan;
  #init: CoapObserveInit;
  #order = new NotificationOrder();
  #exchange: ClientExchange | undefined;
  #token: Uint8Array | undefined;
  #job: Job | undefined;
  #fetching = 0;

  /** @internal */
  constructor(client: CoapClient, plan: Plan, init: CoapObserveInit) {
    this.client = client;
    this.#plan = plan;
    this.#init = init;
  }

  get token(): Uint8Array | undefined {
    return this.#token;
  }

  #call(fn: ((...a: any[]) => void) | undefined, ...args: unknown[]): void {
    if (!fn) return;
    try {
      fn(...args);
    } catch (error) {
      if (this.#init.onError && fn !== this.#init.onError) this.#call(this.#init.onError, error);
    }
  }

  /** @internal sends the registration (or re-registration with the same token, §3.3.1) */
  _register(): void {
    const plan = this.#plan;
    const endpoint = this.client.endpoint;
    const options = plan.options.concat([uintOption(COAP_OPTION.OBSERVE, 0)]);
    if (plan.block2Szx !== undefined) options.push(blockOption(COAP_OPTION.BLOCK2, { num: 0, more: false, szx: plan.block2Szx }));
    this.#exchange?.cancel();
    try {
      this.#exchange = endpoint.request({ code: COAP_REQUEST.GET, options, confirmable: plan.confirmable, token: this.#token }, plan.target.address, plan.target.port, {
        multiple: true,
        responseTimeout: plan.timeout,
        onResponse: (msg) => this.#onResponse(msg),
        onFail: (reason) => this.#onFail(reason),
      });
    } catch (error) {
      this.#end("could not register: " + (error as Error).message);
      return;
    }
    this.#token = this.#exchange.token;
    this.#arm(60);
  }

  #arm(maxAge: number): void {
    // §3.3.1: no fresh notification within Max-Age: re-register.
    const margin = this.#init.reregisterMargin ?? 2000;
    const at = this.client.scheduler.now() + maxAge * 1000 + margin;
    // §3.3.1 asks a client to wait a random 5 to 15 s after Max-Age before re-registering: the
    // scheduler may put the refresh anywhere in those 10 s to share a wake.
    const latest = at + 10_000;
    if (this.#job) this.#job.reschedule(at, { latest });
    else
      this.#job = this.client.scheduler.schedule({
        name: "coap-observe-refresh",
        deadline: at,
        latest,
        radio: true,
        run: () => {
          if (!this.active) return;
          this.reregistrations++;
          this._register();
        },
      });
  }

  #onFail(reason: FailReason): void {
    if (!this.active) return;
    // the registration (or a re-registration) got no answer: try again at the next refresh
    this.#call(this.#init.onError, new CoapRequestError(reason, `coap: observe registration ${reason}`));
    if (reason === "reset" || reason === "closed") this.#end(reason);
  }

  #onResponse(msg: CoapMessage): void {
    if (!this.active) return;
    const plan = this.#plan;
    const now = this.client.scheduler.now();
    const observe = getUint(msg, COAP_OPTION.OBSERVE);
    if (msg.code >> 5 !== 2 || observe === undefined) {
      // §3.2 / §3.1: an error or a response without Observe ends (or never began) the observation.
      const done = () => {
        this.#end(msg.code >> 5 !== 2 ? "error response " + codeString(msg.code) : "the server did not accept the registration", this.last);
      };
      if (msg.code >> 5 === 2) {
        this.client._complete(plan, msg, []).then(
          (r) => {
            this.last = r;
            this.delivered++;
            this.#call(this.#init.onNotify, r);
            done();
          },
          (error) => {
            this.#call(this.#init.onError, error);
            done();
          },
        );
      } else {
        this.last = toResponse(msg, msg.payload, 1, plan.target.address, plan.target.port);
        this.#call(this.#init.onNotify, this.last);
        done();
      }
      return;
    }
    // §3.4: only a fresher notification replaces the state.
    if (!this.#order.accept(observe, now)) {
      this.stale++;
      return;
    }
    this.#arm(getUint(msg, COAP_OPTION.MAX_AGE) ?? 60);
    const b2 = getBlock(msg, COAP_OPTION.BLOCK2);
    if (b2 && b2.more) {
      // RFC 7959 §3.4: GET the rest without Observe; a newer notification abandons this fetch.
      const gen = ++this.#fetching;
      this.client._complete(plan, msg, []).then(
        (r) => {
          if (gen !== this.#fetching || !this.active) return;
          r.observe = observe;
          this.#deliver(r);
        },
        (error) => {
          if (gen === this.#fetching) this.#call(this.#init.onError, error);
        },
      );
      return;
    }
    this.#fetching++;
    this.#deliver(toResponse(msg, msg.payload, 1, plan.target.address, plan.target.port));
  }

  #deliver(r: CoapResponse): void {
    this.last = r;
    this.delivered++;
    this.#call(this.#init.onNotify, r);
  }

  #end(reason: string, response?: CoapResponse): void {
    if (!this.active) return;
    this.active = false;
    this.#job?.cancel();
    this.#exchange?.cancel();
    this.client._forgetObservation(this);
    this.#call(this.#init.onEnd, reason, response);
  }

  /**
   * Reactive cancellation (§3.6): forget the observation locally; the next CON
   * notification is answered with RST and the server drops us.
   */
  forget(): void {
    this.#end("cancelled");
  }

  /** Proactive cancellation (§3.6): a GET with Observe 1 and the same token. Resolves with the response (or undefined on timeout). */
  cancel(): Promise<CoapResponse | undefined> {
    const token = this.#token;
    const wasActive = this.active;
    this.#end("cancelled");
    if (!wasActive || !token) return Promise.resolve(undefined);
    const plan = this.#plan;
    return new Promise((resolve) => {
      try {
        this.client.endpoint.request({ code: COAP_REQUEST.GET, options: plan.options.concat([uintOption(COAP_OPTION.OBSERVE, 1)]), confirmable: plan.confirmable, token }, plan.target.address, plan.target.port, {
          responseTimeout: plan.timeout,
          onResponse: (msg) => resolve(toResponse(msg, msg.payload, 1, plan.target.address, plan.target.port)),
          onFail: () => resolve(undefined),
        });
      } catch {
        resolve(undefined);
      }
    });
  }
}
