/*
 * CoapClient: requests on top of the sans-IO CoapEndpoint; what the firmware ships.
 *
 *  - GET/POST/PUT/DELETE (RFC 7252 §5.8) and FETCH/PATCH/iPATCH (RFC 8132),
 *    CON or NON, to an address, port, path and query (the Uri-Path and Uri-Query
 *    options of RFC 7252 §6.4's decomposition). A request resolves with the response
 *    whatever its code (like fetch()); it rejects with CoapRequestError on timeout,
 *    Reset or a broken block-wise transfer.
 *  - Block2 downloads (RFC 7959 §2.4): further blocks are asked for with the
 *    server's block size until M=0, checking the ETag stays the same; early
 *    negotiation of a smaller size with `block2Size` (§2.4). The body is bounded
 *    by `maxBodySize`.
 *  - Block1 uploads (§2.5): a body larger than `block1Size` goes in blocks with
 *    Size1 on the first (§4); a 2.31 with a smaller SZX shrinks the following
 *    blocks (the next NUM counted in the new size); a 4.13 with a smaller SZX, or
 *    a 4.13 to a request sent whole whose Size1 allows the body, restarts the
 *    upload block-wise (§2.9.3). A final response with Block2 is downloaded (§2.6).
 *
 * `coap://` URIs, the get/post/... shorthands, ping and Observe (RFC 7641) are
 * CoapUriClient's (./uri-client.ts): the firmware POSTs its telemetry to an address
 * and needs none of them, so they are not in its build (issue 17, docs/coap.md).
 */
import {
  COAP_OPTION,
  COAP_REQUEST,
  COAP_RESPONSE,
  codeString,
  isRequestCode,
  setting,
  type CoapMessageType,
  type TransmissionParameters,
} from "./constants";
import type { CoapMessage } from "./codec";
import type { CoapEndpoint, FailReason } from "./messaging";
import {
  blockOption,
  blockSize,
  getBlock,
  getOption,
  getStrings,
  getUint,
  opaqueOption,
  pushStrings,
  stringOption,
  uintOption,
  type CoapOption,
} from "./options";
import { openUdpEndpoint, type CoapSocketOptions, type UdpEndpoint, type UdpEndpointOptions } from "./messaging";
import type { Scheduler } from "../scheduler/scheduler";
import { concat, sameBytes, szxForSize, utf8Decode, utf8Encode } from "./options";

const EMPTY: Uint8Array = new Uint8Array(0);

export type CoapMethod = "GET" | "POST" | "PUT" | "DELETE" | "FETCH" | "PATCH" | "iPATCH";

/** The method names in code order, 0.01 GET to 0.07 iPATCH (RFC 7252 §12.1.1, RFC 8132 §6): a string, not an object, costs the least XS bytecode. */
const METHODS = "GET POST PUT DELETE FETCH PATCH iPATCH";

export class CoapRequestError extends Error {
  /** timeout / reset / cancelled / closed (messaging), or block-wise trouble. */
  declare readonly reason: FailReason | "block" | "too-large" | "uri";
  constructor(reason: CoapRequestError["reason"], message: string) {
    super(message);
    this.reason = reason;
  }
}
// On the prototype: `this.name = ...` throws where the intrinsics are frozen, as on a device (host-tests/xs/lockdown.ts).
Object.defineProperty(CoapRequestError.prototype, "name", { value: "CoapRequestError" });

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
  onError?(error: unknown): void;
}

export interface Target {
  address: string;
  port: number;
  /** Uri-Host/Uri-Port/Uri-Path/Uri-Query. */
  options: CoapOption[];
}

/** One opaque option per value (ETag, If-Match): a Uint8Array or a list of them. */
function pushOpaque(options: CoapOption[], number: number, v: Uint8Array | readonly Uint8Array[] | undefined): void {
  if (v) (v instanceof Uint8Array ? [v] : v).forEach((e) => options.push(opaqueOption(number, e)));
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
export interface Plan {
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
  declare readonly endpoint: CoapEndpoint;
  declare readonly scheduler: Scheduler;
  declare private _udp: UdpEndpoint | undefined;
  /** Bytes (16..1024). */
  declare private _block1Size: number;
  declare private _maxBodySize: number;

  constructor(options: CoapClientOptions) {
    if (!options) throw new TypeError("coap: options");
    // checked before an endpoint is opened
    this._block1Size = setting(options.block1Size, 1024, 16, 1024, "block1Size");
    this._maxBodySize = setting(options.maxBodySize, 65536, 1, Infinity, "maxBodySize");
    if (options.endpoint) this.endpoint = options.endpoint;
    else {
      // the endpoint checks socket, scheduler and random (TypeError); it reads none of the client's own options
      this._udp = openUdpEndpoint(options as UdpEndpointOptions);
      this.endpoint = this._udp.endpoint;
    }
    this.scheduler = this.endpoint.scheduler;
  }

  get socket() {
    return this._udp?.socket;
  }

  /** Ends the endpoint and socket when the client opened them. */
  close(): void {
    this._udp?.close();
  }

  /** Sends a request; block-wise transfers in either direction are handled. */
  async request(init: CoapRequestInit): Promise<CoapResponse> {
    // async: a bad init rejects the promise (it does not throw)
    return this._run(this._plan(init));
  }

  /**
   * Where a request goes: `address` (an IP address; no DNS here), `port`, `path`, `query`.
   * CoapUriClient (./uri-client.ts) adds `coap://` URIs.
   */
  protected target(init: CoapRequestInit): Target {
    if (typeof init.address !== "string") throw new TypeError(init.uri != null ? "coap: uri needs CoapUriClient" : "coap: address");
    const options: CoapOption[] = [];
    if (init.path) pushStrings(options, COAP_OPTION.URI_PATH, init.path.split("/"));
    const q = init.query;
    // a string's empty arguments are left out; a list is taken as it is
    if (typeof q === "string") pushStrings(options, COAP_OPTION.URI_QUERY, q.replace(/^\?/, "").split("&"));
    else if (q) q.forEach((x) => options.push(stringOption(COAP_OPTION.URI_QUERY, x)));
    return { address: init.address, port: init.port ?? 5683, options };
  }

  /** @internal What one request needs, checked and resolved. */
  _plan(init: CoapRequestInit): Plan {
    if (!init || typeof init !== "object") throw new TypeError("coap: init");
    const m = init.method ?? "GET";
    const code = typeof m === "number" ? m : METHODS.split(" ").indexOf(m) + 1;
    if (!isRequestCode(code)) throw new RangeError("coap: method");
    const target = this.target(init);
    const options = target.options.slice();
    pushOpaque(options, COAP_OPTION.IF_MATCH, init.ifMatch);
    pushOpaque(options, COAP_OPTION.ETAG, init.etag);
    if (init.ifNoneMatch) options.push(opaqueOption(COAP_OPTION.IF_NONE_MATCH, EMPTY)); // an empty value (§5.10.8.2)
    if (init.contentFormat != null) options.push(uintOption(COAP_OPTION.CONTENT_FORMAT, init.contentFormat));
    if (init.accept != null) options.push(uintOption(COAP_OPTION.ACCEPT, init.accept));
    if (init.options)
      init.options.forEach((o) => {
        if (o.number === COAP_OPTION.BLOCK1 || o.number === COAP_OPTION.BLOCK2 || o.number === COAP_OPTION.OBSERVE) throw new RangeError("coap: Block1, Block2 and Observe are set by the client");
        options.push(o);
      });
    const payload = typeof init.payload === "string" ? utf8Encode(init.payload) : init.payload ?? EMPTY;
    if (!(payload instanceof Uint8Array)) throw new TypeError("coap: payload");
    let block2Szx;
    if (init.block2Size != null) block2Szx = szxForSize(setting(init.block2Size, 0, 16, 1024, "block2Size"));
    const block1Szx = szxForSize(setting(init.block1Size, this._block1Size, 16, 1024, "block1Size"));
    return { code, target, options, payload, confirmable: init.confirmable !== false, block2Szx, block1Szx, timeout: init.timeout };
  }

  /** One request/response exchange. */
  _exchange(plan: Plan, extra: CoapOption[], payload: Uint8Array): Promise<CoapMessage> {
    // what request() throws rejects the promise (the executor's exceptions do)
    return new Promise((resolve, reject) => {
      this.endpoint.request({ code: plan.code, options: plan.options.concat(extra), payload, confirmable: plan.confirmable }, plan.target.address, plan.target.port, {
        responseTimeout: plan.timeout,
        onResponse: resolve,
        onFail: (reason) => reject(new CoapRequestError(reason, `coap: ${reason === "timeout" ? "no response" : reason} from ${plan.target.address}:${plan.target.port}`)),
      });
    });
  }

  /**
   * The request, whole or in Block1 blocks (RFC 7959 §2.5), then the rest of a Block2 answer
   * (§2.6, _complete). One loop for both ways of sending the body: a body that fits in a block
   * goes whole, without Block1, and a 4.13 to it can turn it into a block-wise upload.
   */
  async _run(plan: Plan): Promise<CoapResponse> {
    const body = plan.payload;
    const length = body.length;
    let szx = plan.block1Szx;
    let whole = length <= blockSize(szx);
    let offset = 0;
    let restarts = 0;
    for (;;) {
      const size = blockSize(szx);
      const end = whole ? length : Math.min(length, offset + size);
      const more = end < length;
      const extra: CoapOption[] = [];
      if (!whole) {
        extra.push(blockOption(COAP_OPTION.BLOCK1, { num: offset / size, more, szx }));
        if (!offset) extra.push(uintOption(COAP_OPTION.SIZE1, length)); // §4
      }
      // §2.4: early negotiation of the Block2 size, with the (last) request block
      if (plan.block2Szx != null && !more) extra.push(blockOption(COAP_OPTION.BLOCK2, { num: 0, more: false, szx: plan.block2Szx }));
      const msg = await this._exchange(plan, extra, body.subarray(offset, end));
      const b1 = getBlock(msg, COAP_OPTION.BLOCK1);
      if (msg.code === COAP_RESPONSE.REQUEST_ENTITY_TOO_LARGE) {
        // §2.9.3: a 4.13 to a request without Block1 is a hint to try Block1, if Size1 allows the
        // body (blocks of at most half of it); a smaller SZX in Block1 is a hint to start over
        // with that size (three times at most).
        if (whole ? length > 16 && !getOption(msg, COAP_OPTION.BLOCK1) && !(getUint(msg, COAP_OPTION.SIZE1)! < length) : b1 && b1.szx < szx && restarts++ < 3) {
          szx = whole ? Math.min(szx, szxForSize(length >> 1)) : b1!.szx;
          whole = false;
          offset = 0;
          continue;
        }
      } else if (more && (msg.code === COAP_RESPONSE.CONTINUE || (msg.code >> 5 === 2 && b1))) {
        offset = end;
        // §2.5: use the server's preferred (smaller) size from now on; the next NUM counts in it.
        if (b1 && b1.szx < szx) szx = b1.szx;
        continue;
      }
      return this._complete(plan, msg);
    }
  }

  /**
   * The whole answer: after a `first` message with Block2 and M=1 (RFC 7959 §2.4), the further
   * blocks are asked for in the server's block size until M=0; the ETag must stay the same, every
   * block but the last is full-size (§2.3), the size may only shrink, the body stays within
   * maxBodySize (and Size2, §4, with it).
   */
  async _complete(plan: Plan, first: CoapMessage): Promise<CoapResponse> {
    const t = plan.target;
    const max = this._maxBodySize;
    const etag = getOption(first, COAP_OPTION.ETAG)?.value;
    // §2.6: the continuation of a POST/PUT body answer keeps the method; the request body is not
    // repeated (FETCH's is: it selects what is fetched).
    const payload = plan.code === COAP_REQUEST.FETCH ? plan.payload : EMPTY;
    const chunks: Uint8Array[] = [];
    let received = 0;
    let szx = 6;
    let msg = first;
    for (;;) {
      const b = getBlock(msg, COAP_OPTION.BLOCK2);
      // an answer in one message, or an error answer to a further block
      if (msg.code >> 5 !== 2 || (msg === first && !(b && b.more))) return toResponse(msg, msg.payload, chunks.length + 1, t.address, t.port);
      const n = msg.payload.length;
      const e = getOption(msg, COAP_OPTION.ETAG)?.value;
      if ((getUint(msg, COAP_OPTION.SIZE2) ?? 0) > max || received + n > max) throw new CoapRequestError("too-large", "body over maxBodySize");
      const why = !b || b.num * blockSize(b.szx) !== received ? "blocks do not line up" : b.more && b.szx > szx ? "block size grew" : b.more && n !== blockSize(b.szx) ? "short block" : etag && e && !sameBytes(etag, e) ? "ETag differs" : "";
      if (why) throw new CoapRequestError("block", why);
      received += n;
      chunks.push(msg.payload);
      if (!b!.more) break;
      // the next NUM counts in the server's size: every block so far was full and at least as large
      szx = b!.szx;
      msg = await this._exchange(plan, [blockOption(COAP_OPTION.BLOCK2, { num: received / blockSize(szx), more: false, szx })], payload);
    }
    const r = toResponse(first, concat(chunks, received), chunks.length, t.address, t.port);
    r.options = msg.options;
    return r;
  }
}

