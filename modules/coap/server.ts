/*
 * CoapServer: a tree of resources with method handlers on top of the sans-IO
 * CoapEndpoint (messaging.ts).
 *
 *  - Dispatch: 4.04 for an unknown path, 4.05 for a method the resource has no
 *    handler for (CoAP has no Allow option, RFC 7252 §5.9.2.6), 4.01 when the
 *    `authorize` hook refuses, 4.06 when Accept names a format the resource does
 *    not offer (§5.10.4), 4.15 for a Content-Format it does not take (§5.9.2.10),
 *    5.00 when a handler throws or its promise rejects (never a crash).
 *  - Default success codes: GET/FETCH 2.05, POST 2.04 (2.01 when the handler
 *    gives a location), PUT/PATCH/iPATCH 2.04, DELETE 2.02 (§5.8).
 *  - ETag and Max-Age (§5.10.5, §5.10.6): a GET whose ETag matches the
 *    response's is answered 2.03 Valid without payload (§5.10.6.2).
 *  - /.well-known/core in link format with rt, if, ct, sz, obs, title and any
 *    other attribute, filtered by query (RFC 6690 §4, §4.1).
 *  - Observe (RFC 7641): a bounded list of observers (§4.1), notifications with
 *    increasing Observe numbers (§4.4), at most one outstanding notification
 *    per observer and NON notifications rate-limited (§4.5.1), the latest state
 *    sent once the outstanding one completes (§4.5.2), a CON notification at
 *    least every `confirmInterval` ms or `confirmEvery` notifications (§4.5),
 *    observers dropped on RST (§3.6) or CON timeout (§4.5), deregistration
 *    by GET with Observe 1 (§3.6), a non-2.xx notification ends it (§3.2).
 *  - Block-wise (RFC 7959): Block2 slices of large representations (§2.4, with
 *    an ETag so clients can check consistency, and Size2 on block 0, §4);
 *    Block1 bodies reassembled before the handler runs (atomic, §2.5) with 2.31
 *    Continue, 4.08, 4.13 + Size1, and the server's block size preference.
 *    A large notification carries its first block (RFC 7959 §3.4 / RFC 7641).
 *
 * Handlers get a CoapServerRequest and return a CoapServerResponse (or a
 * promise of one: the endpoint then sends an empty ACK and a separate response,
 * RFC 7252 §5.2.2).
 */
import { COAP_MEDIATYPE, COAP_MESSAGE, COAP_OPTION, COAP_REQUEST, COAP_RESPONSE, setting, type TransmissionParameters } from "./constants";
import { decode, encode, type CoapMessage } from "./codec";
import { DedupCache, openUdpEndpoint, type CoapEndpoint, type CoapSocketOptions, type IncomingRequest, type MessageCallbacks, type UdpEndpoint, type UdpEndpointOptions } from "./messaging";
import {
  Block1Store,
  OBSERVE_MAX,
  blockOption,
  etagOf,
  getBlock,
  getOption,
  getOptions,
  getStrings,
  getUint,
  hex,
  observeOption,
  opaqueOption,
  pushStrings,
  sameBytes,
  sliceBlock2,
  szxForSize,
  uintOption,
  utf8Decode,
  utf8Encode,
  type BlockValue,
  type CoapOption,
} from "./options";
import type { Job, Scheduler } from "../scheduler/scheduler";

const EMPTY: Uint8Array = new Uint8Array(0);

export type CoapMethodName = "GET" | "POST" | "PUT" | "DELETE" | "FETCH" | "PATCH" | "iPATCH";

/** The method names by code (RFC 7252 §12.1.1, RFC 8132 §6: 0.01 GET ... 0.07 iPATCH); a handler's key is the name in lower case. */
// (one string split at load: an array literal costs ~10 B of bytecode per element; "" for code 0)
const METHOD_NAMES = " GET POST PUT DELETE FETCH PATCH iPATCH".split(" ") as readonly CoapMethodName[];

/** What a handler sees. */
export interface CoapServerRequest {
  readonly method: number;
  readonly methodName: CoapMethodName;
  /** Uri-Path segments joined with "/", no leading slash ("" for the root). */
  readonly path: string;
  /** Uri-Query arguments in order ("first=1"). */
  readonly query: readonly string[];
  /** The whole request body (reassembled from Block1 blocks when block-wise). */
  readonly payload: Uint8Array;
  readonly contentFormat: number | undefined;
  readonly accept: number | undefined;
  /** ETag options of the request (§5.10.6.2). */
  readonly etags: readonly Uint8Array[];
  /** If-Match values (§5.10.8.1); an empty value matches any current representation. */
  readonly ifMatch: readonly Uint8Array[];
  /** If-None-Match present (§5.10.8.2). */
  readonly ifNoneMatch: boolean;
  /** The Observe value of the request (0 register, 1 deregister), if any. */
  readonly observe: number | undefined;
  /** True while building an Observe notification (no request is on the wire). */
  readonly notification: boolean;
  readonly address: string;
  readonly port: number;
  readonly confirmable: boolean;
  /** The (last) request message as received. */
  readonly message: CoapMessage;
  /** The payload as UTF-8 text. */
  text(): string;
  /** The value of the first Uri-Query argument `name=value`, or undefined. */
  queryParam(name: string): string | undefined;
}

/** What a handler returns (all fields optional). */
export interface CoapServerResponse {
  /** Response code; defaults by method (see the file header). */
  code?: number;
  payload?: Uint8Array | string;
  contentFormat?: number;
  etag?: Uint8Array;
  /** Seconds (RFC 7252 §5.10.5); 60 is the default and is not sent. */
  maxAge?: number;
  /** "/a/b" → Location-Path options (§5.10.7). */
  locationPath?: string;
  /** "x=1&y=2" → Location-Query options. */
  locationQuery?: string;
  /** Any further options. */
  options?: CoapOption[];
}

export type CoapHandler = (request: CoapServerRequest) => CoapServerResponse | void | Promise<CoapServerResponse | void>;

export interface CoapHandlers {
  get?: CoapHandler;
  post?: CoapHandler;
  put?: CoapHandler;
  delete?: CoapHandler;
  fetch?: CoapHandler;
  patch?: CoapHandler;
  ipatch?: CoapHandler;
}

export interface CoapResourceOptions extends CoapHandlers {
  /** Link attributes for /.well-known/core (RFC 6690 §3, RFC 7252 §7.2). */
  title?: string;
  rt?: string | readonly string[];
  if?: string | readonly string[];
  /** Content-Formats the resource offers: listed as ct, and an Accept outside them gets 4.06. */
  ct?: number | readonly number[];
  /** Estimated size (sz, RFC 6690 §3.3). */
  sz?: number;
  /** Other link attributes. */
  attributes?: LinkAttributes;
  /** Left out of /.well-known/core. */
  hidden?: boolean;
  /** GET with Observe 0 registers an observer (RFC 7641); listed with `obs`. */
  observable?: boolean;
  /** Every notification is sent CON. */
  confirmableNotifications?: boolean;
  /** Content-Formats accepted in request bodies; others get 4.15. Absent: any. */
  accepts?: readonly number[];
  /** Max-Age in seconds for responses that do not set one. */
  maxAge?: number;
  /** Largest request body (Block1 reassembled or not); more gets 4.13 with Size1. */
  maxBodySize?: number;
  /** Compute an ETag for every 2.05 response that has none (GET then answers 2.03 on a match). */
  autoEtag?: boolean;
}

// --- CoRE Link Format (RFC 6690) ----------------------------------------------------------
// Serializing resource descriptions for /.well-known/core (§2, §4) and query filtering (§4.1),
// what a server needs; here rather than in a module of its own (a module costs ~260 B of XS
// bytecode in imports, exports and symbols). Parsing a link-format document (clients doing
// resource discovery) is in link-parse.ts, for hosts and tests: the firmware leaves it out.
// Pure functions, no IO. Attribute values are kept as strings; the relation-type attributes rt,
// if and rel may hold several space-separated values (§3.1-§3.2), each matched separately by a
// filter (§4.1).

export interface LinkAttributes {
  [name: string]: string | number | boolean | readonly (string | number)[] | undefined;
}

export interface Link {
  /** The URI-reference between "<" and ">", e.g. "/sensors/temp". */
  href: string;
  /**
   * Target attributes. Strings are written quoted (`rt="temperature"`), numbers
   * as ptokens (`ct=0`, `sz=1280`), `true` as a bare name (`obs`), arrays as
   * space-separated quoted values (`rt="a b"`) or, for ct, as `ct="0 41"`.
   */
  attributes?: LinkAttributes;
}

/** Writes a link-format document: link-values (RFC 6690 §2) separated by commas. */
export function formatLinks(links: readonly Link[]): string {
  return links
    .map((link) => {
      let s = "<" + link.href + ">";
      const attrs = link.attributes || {};
      Object.keys(attrs).forEach((name) => {
        let v = attrs[name];
        // a list: its values space-separated in one quoted string (`rt="a b"`, `ct="0 41"`), a
        // single number as a ptoken (`ct=0`); an empty list is left out, as undefined and false are
        if (Array.isArray(v)) v = v.length > 1 || typeof v[0] === "string" ? v.join(" ") : v[0];
        if (v === true) s += ";" + name;
        // quoted-string (RFC 2616 §2.2, RFC 6690 §2): JSON's string syntax escapes the double
        // quote and the backslash with a backslash as quoted-pair does (it also escapes control
        // characters, which qdtext does not allow)
        else if (v != null && v !== false) s += ";" + name + "=" + (typeof v === "number" ? v : JSON.stringify(String(v)));
      });
      return s;
    })
    .join(",");
}

/**
 * Percent-decodes a query value (RFC 6690 §4.1: Value Strings are percent-decoded before
 * matching; the octets are UTF-8, RFC 3986 §2.5). A malformed escape leaves the value as sent.
 */
function percentDecodeString(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * The links that match a /.well-known/core query (RFC 6690 §4.1; all of them for no query): one
 * name=value pair, a trailing "*" making the value a prefix; with several Uri-Query options only
 * the first is used (the URI Template allows one pair); a query without "=" filters on the
 * attribute's presence. A Value String matches only an attribute that exists.
 */
export function filterLinks(links: readonly Link[], queries: readonly string[]): Link[] {
  const q = queries[0];
  if (q == null) return links.slice();
  const eq = q.indexOf("=");
  const name = percentDecodeString(eq < 0 ? q : q.slice(0, eq));
  let value = eq < 0 ? "*" : q.slice(eq + 1);
  const prefix = value.endsWith("*");
  value = percentDecodeString(prefix ? value.slice(0, -1) : value);
  return links.filter((link) => {
    const v = name === "href" ? link.href : link.attributes?.[name];
    if (v == null || v === false) return false;
    if (v === true) return prefix && !value;
    const whole = Array.isArray(v) ? v.join(" ") : String(v);
    // each value of a list or of an attribute whose value is a space-separated list (rt, if,
    // rel, rev; ct, RFC 7252 §7.2.1), and the attribute as a whole (rt="a b" against rt=a b)
    const values = Array.isArray(v) || " rt if rel rev ct ".includes(" " + name + " ") ? whole.split(" ") : [];
    values.push(whole);
    return values.some((one) => one !== "" && (prefix ? one.startsWith(value) : one === value));
  });
}

/** A resource in the tree; notify() sends its current state to every observer. */
export class CoapResource {
  declare readonly path: string;
  declare readonly options: CoapResourceOptions;
  /** @internal */ declare server: CoapServer;
  /** @internal The latest Observe number: 24-bit, incremented for every notification (RFC 7641 §4.4). */
  declare seq: number;
  /** @internal */ declare job: Job | undefined;

  /** @internal */
  constructor(server: CoapServer, path: string, options: CoapResourceOptions) {
    this.seq = 2;
    this.server = server;
    this.path = path;
    this.options = options;
  }

  /** The resource changed: notify observers (coalesced: several calls in one turn send once). */
  notify(): void {
    this.server._notify(this);
  }

  get observerCount(): number {
    return this.server._of(this).length;
  }
}

export interface CoapServerOptions {
  /** An endpoint to serve on (shared with a CoapClient if you like)... */
  endpoint?: CoapEndpoint;
  /** ...or a socket to open one on: `{io: UDP, port: 5683}` (then scheduler and random are required). */
  socket?: CoapSocketOptions;
  scheduler?: Scheduler;
  random?(buffer: Uint8Array): Uint8Array;
  parameters?: Partial<TransmissionParameters>;
  /** Largest block this server sends or asks for, in bytes (16..1024, default 1024, RFC 7959 §2.2). */
  blockSize?: number;
  /** Default request body limit (default 8192 bytes). */
  maxBodySize?: number;
  /** Block1 transfers in progress at once (default 4). */
  maxBlock1Transfers?: number;
  /** Observers in all (default 32) and per resource (default 8), RFC 7641 §4.1. */
  maxObservers?: number;
  maxObserversPerResource?: number;
  /** A CON notification at least this often per observer (ms, default 24 h, RFC 7641 §4.5). */
  confirmInterval?: number;
  /** ... and at least every this many notifications (default 20; 0 disables). */
  confirmEvery?: number;
  /** Least time between two NON notifications to one observer (ms, default 3000, RFC 7641 §4.5.1). */
  notificationInterval?: number;
  /** Serve /.well-known/core (default true). */
  discovery?: boolean;
  /** Return false to answer 4.01 Unauthorized. */
  authorize?(request: CoapServerRequest): boolean;
  /** Exceptions from handlers (answered 5.00) and other errors. */
  onError?(error: unknown): void;
}

/** An observation (CoapServer.observations), kept across a deep sleep. */
export interface ObservationRecord {
  address: string;
  port: number;
  /** The registration (RFC 7641 §3.1), encoded: its token, path, query and Accept. */
  request: Uint8Array;
  /** Block size of its notifications (SZX). */
  szx: number;
  /** Notifications since the last CON (§4.5). */
  sinceCon: number;
  /** The resource's latest Observe number (§4.4). */
  observe: number;
}

/**
 * One entry in the server's list of observers (RFC 7641 §4.1), keyed by client endpoint and token
 * (`key`: address|port#token); the list is bounded per resource and in all.
 */
interface Observer {
  key: string;
  address: string;
  port: number;
  token: Uint8Array;
  resource: CoapResource;
  request: ServerRequest;
  /** Block size for notifications (the registration's Block2 SZX, or the server's). */
  szx: number;
  /** A notification is outstanding (CON unacknowledged, or the NON interval running). */
  busy?: boolean;
  /** The state changed while busy: send the latest once free (§4.5.2). */
  pending?: boolean;
  lastCon: number;
  sinceCon: number;
  hold?: Job;
}

class ServerRequest implements CoapServerRequest {
  declare method: number;
  declare methodName: CoapMethodName;
  declare path: string;
  declare query: string[];
  declare payload: Uint8Array;
  declare contentFormat: number | undefined;
  declare accept: number | undefined;
  declare etags: Uint8Array[];
  declare ifMatch: Uint8Array[];
  declare ifNoneMatch: boolean;
  declare observe: number | undefined;
  declare notification: boolean;
  declare address: string;
  declare port: number;
  declare confirmable: boolean;
  declare message: CoapMessage;

  constructor(msg: CoapMessage, address: string, port: number) {
    this.notification = false;
    this.message = msg;
    this.method = msg.code;
    this.methodName = METHOD_NAMES[msg.code]!;
    this.path = getStrings(msg, COAP_OPTION.URI_PATH).join("/");
    this.query = getStrings(msg, COAP_OPTION.URI_QUERY);
    this.payload = msg.payload;
    this.contentFormat = getUint(msg, COAP_OPTION.CONTENT_FORMAT);
    this.accept = getUint(msg, COAP_OPTION.ACCEPT);
    this.etags = getOptions(msg, COAP_OPTION.ETAG).map((o) => o.value);
    this.ifMatch = getOptions(msg, COAP_OPTION.IF_MATCH).map((o) => o.value);
    this.ifNoneMatch = !!getOption(msg, COAP_OPTION.IF_NONE_MATCH);
    this.observe = getUint(msg, COAP_OPTION.OBSERVE);
    this.address = address;
    this.port = port;
    this.confirmable = msg.type === COAP_MESSAGE.CON;
  }

  text(): string {
    return utf8Decode(this.payload);
  }

  queryParam(name: string): string | undefined {
    const p = name + "=";
    const q = this.query.find((q) => q.startsWith(p) || q === name);
    return q?.slice(p.length);
  }

  /** @internal An observer's key: the client endpoint and the token (RFC 7641 §4.1). */
  observerKey(): string {
    return this.address + "|" + this.port + "#" + hex(this.message.token);
  }

  /** @internal The client endpoint, method and path: what a Block1 transfer and a kept §2.6 response are filed under. */
  key(): string {
    return this.address + "|" + this.port + "|" + this.method + "|" + this.path;
  }
}


function normalizePath(path: string): string {
  if (typeof path !== "string") throw new TypeError("coap: path");
  return path.replace(/^\/+|\/+$/g, ""); // leading and trailing slashes (a RegExp made per call: none at load, preload-safe)
}

function list<T>(v: T | readonly T[] | undefined): T[] {
  return v == null ? [] : Array.isArray(v) ? (v as T[]) : [v as T];
}

/** A response ready to send: code, options, full payload. */
interface Built {
  code: number;
  options: CoapOption[];
  payload: Uint8Array;
}

/**
 * RFC 7959 §2.4: block `num` of `payload` (blocks of 16 << szx bytes), adding Block2 to
 * `options`, Size2 on block 0 (§4) and, to a 2.05 without one, an ETag so that the client can
 * tell the blocks belong together; undefined when NUM is past the end (and the payload is not
 * empty with NUM 0).
 */
function inBlocks(options: CoapOption[], code: number, payload: Uint8Array, num: number, szx: number): Uint8Array | undefined {
  if (!payload.length && !num) return payload;
  const slice = sliceBlock2(payload, num, szx); // none for NUM past the end (an empty payload's NUM > 0 too)
  if (!slice) return;
  // (its ETag and Content-Format, when it has them, are among the options)
  const r = { options };
  if (code === COAP_RESPONSE.CONTENT && !getOption(r, COAP_OPTION.ETAG)) options.push(opaqueOption(COAP_OPTION.ETAG, etagOf(payload, getUint(r, COAP_OPTION.CONTENT_FORMAT))));
  options.push(blockOption(COAP_OPTION.BLOCK2, slice.block));
  if (!num) options.push(uintOption(COAP_OPTION.SIZE2, payload.length));
  return slice.payload;
}

export class CoapServer {
  declare readonly endpoint: CoapEndpoint;
  declare readonly scheduler: Scheduler;
  declare private _udp: UdpEndpoint | undefined;
  declare private _resources: Map<string, CoapResource>;
  declare private _szx: number;
  declare private _maxBodySize: number;
  declare private _block1: Block1Store;
  /**
   * Large responses to POST/PUT/... kept for their Block2 continuation (RFC 7959 §2.6): at most 4,
   * for EXCHANGE_LIFETIME, the oldest dropped first (the bounded expiring map of deduplication).
   */
  declare private _responses: DedupCache;
  /** The observers by key, in the order added (at most maxObservers, 32 by default: a resource's are found by a walk). */
  declare private _observers: Map<string, Observer>;
  declare private _perResource: number;
  declare private _maxObservers: number;
  declare private _confirmInterval: number;
  declare private _confirmEvery: number;
  declare private _notificationInterval: number;
  declare private _authorize: ((request: CoapServerRequest) => boolean) | undefined;
  declare private _onError: ((error: unknown) => void) | undefined;
  declare private _closed: boolean;

  constructor(options: CoapServerOptions) {
    if (!options) throw new TypeError("coap: options");
    this._closed = false;
    this._responses = new DedupCache(4);
    this._resources = new Map();
    this._observers = new Map();
    // the settings are checked before a socket is opened; each is read by its name, which also
    // names it in the RangeError (one name in the module instead of a property and a string)
    const get = (name: keyof CoapServerOptions, fallback: number, min: number, max = Infinity, real?: boolean) => setting(options[name] as number | undefined, fallback, min, max, name, real);
    this._szx = szxForSize(get("blockSize", 1024, 16, 1024));
    const maxBodySize = (this._maxBodySize = get("maxBodySize", 8192, 1));
    this._confirmInterval = get("confirmInterval", 24 * 3600 * 1000, 0, Infinity, true);
    this._confirmEvery = get("confirmEvery", 20, 0);
    this._notificationInterval = get("notificationInterval", 3000, 0, Infinity, true);
    this._perResource = get("maxObserversPerResource", 8, 0);
    this._maxObservers = get("maxObservers", 32, 0);
    this._onError = options.onError;
    this._authorize = options.authorize;
    // no endpoint: one on the socket; openUdpEndpoint and CoapEndpoint check socket, scheduler and
    // random, and take this server's options as theirs (none of the names is theirs but those)
    const endpoint = options.endpoint || (this._udp = openUdpEndpoint(options as UdpEndpointOptions)).endpoint;
    this.endpoint = endpoint;
    this.scheduler = endpoint.scheduler;
    this._block1 = new Block1Store(options.maxBlock1Transfers ?? 4, maxBodySize, endpoint.parameters.EXCHANGE_LIFETIME);
    endpoint.onRequest = (req) => this._onRequest(req);
    // RFC 6690 §4: /.well-known/core is a resource of the server's own (hidden, it is not listed;
    // add() one at that path to replace it): every other resource not hidden, in link format,
    // filtered by the query (§4.1); the request path does the rest (4.05 but for GET, 4.06 for an
    // Accept other than 40, Block2)
    if (options.discovery !== false)
      this.add(".well-known/core", {
        hidden: true,
        ct: COAP_MEDIATYPE.APPLICATION_LINK_FORMAT,
        get: (req) => {
          const links: Link[] = [];
          this._resources.forEach((r) => {
            const o = r.options;
            // formatLinks and filterLinks skip what is undefined, false or an empty list
            if (!o.hidden) links.push({ href: "/" + r.path, attributes: Object.assign({ title: o.title, rt: o.rt, if: o.if, ct: o.ct, sz: o.sz, obs: o.observable }, o.attributes) });
          });
          return { payload: formatLinks(filterLinks(links, req.query)), contentFormat: COAP_MEDIATYPE.APPLICATION_LINK_FORMAT };
        },
      });
  }

  /** The UDP socket when the server opened one (its `port` is the bound port). */
  get socket() {
    return this._udp?.socket;
  }

  /** Adds (or replaces) the resource at `path` ("/sensors/temp"). */
  add(path: string, options: CoapResourceOptions): CoapResource {
    const p = normalizePath(path);
    if (!options || typeof options !== "object") throw new TypeError("coap: options");
    for (let i = 1; i < 8; i++) {
      const k = METHOD_NAMES[i]!.toLowerCase() as keyof CoapHandlers;
      if (options[k] != null && typeof options[k] !== "function") throw new TypeError("coap: handler " + k);
    }
    this.remove(p); // one there before: replaced (its observers get 4.04)
    const r = new CoapResource(this, p, options);
    this._resources.set(p, r);
    return r;
  }

  /** Removes a resource; its observers get a 4.04 notification and are dropped (RFC 7641 §3.2). */
  remove(path: string): boolean {
    const p = normalizePath(path);
    const r = this._resources.get(p);
    if (!r) return false;
    this._resources.delete(p);
    r.job?.cancel();
    this._of(r).forEach((o) => this._sendFinal(o, { code: COAP_RESPONSE.NOT_FOUND }));
    return true;
  }

  resource(path: string): CoapResource | undefined {
    return this._resources.get(normalizePath(path));
  }

  get observerCount(): number {
    return this._observers.size;
  }

  /** Block1 bodies being reassembled. */
  get pendingUploads(): number {
    return this._block1.size;
  }

  /**
   * The observations, to keep across a deep sleep (RAM is lost; the observers are not told).
   * Given back to the next boot's server (restoreObservations), its observers get the next
   * notification without registering again, with Observe numbers going on from these (RFC 7641
   * §4.4: a client takes a notification whose number is not newer only after 128 s).
   */
  observations(): ObservationRecord[] {
    return Array.from(this._observers.values(), (o) => ({ address: o.address, port: o.port, request: encode(o.request.message), szx: o.szx, sinceCon: o.sinceCon, observe: o.resource.seq }));
  }

  /**
   * Observers of a previous boot (observations()) for the resources this server has, within
   * its limits (§4.1); a record that does not decode to a GET with Observe 0 of an observable
   * resource is skipped. Returns how many were taken.
   */
  restoreObservations(records: readonly ObservationRecord[]): number {
    return records.filter((r) => {
      if (this._closed || !(r.request instanceof Uint8Array)) return false;
      const d = decode(r.request);
      if (!d.ok) return false;
      const req = new ServerRequest(d.message, r.address, r.port);
      const resource = this._resources.get(req.path);
      const key = req.observerKey();
      if (!resource || !resource.options.observable || req.method !== COAP_REQUEST.GET || req.observe !== 0 || this._observers.get(key) || !this._canAdd(key, resource)) return false;
      // §4.4: the numbers go on from the newest (24-bit serial arithmetic)
      const ahead = (r.observe - resource.seq) & OBSERVE_MAX;
      if (ahead > 0 && ahead < 0x800000) resource.seq = r.observe & OBSERVE_MAX;
      this._observe(key, resource, req, r.szx >= 0 && r.szx <= this._szx ? r.szx : this._szx, r.sinceCon | 0);
      return true;
    }).length;
  }

  /** Stops serving; observers are forgotten; an endpoint the server opened is closed. */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    this._observers.forEach((o) => this._drop(o));
    this._resources.forEach((r) => r.job?.cancel());
    this._block1.clear();
    this._responses.clear();
    this.endpoint.onRequest = undefined;
    this._udp?.close();
  }

  // --- requests --------------------------------------------------------------------

  private _report(error: unknown): void {
    try {
      this._onError?.(error);
    } catch {
      // a reporter that throws must not break the server
    }
  }

  private _send(ireq: IncomingRequest, code: number, options?: CoapOption[], payload?: Uint8Array, handlers?: MessageCallbacks): void {
    try {
      ireq.respond({ code, options, payload }, handlers);
    } catch (error) {
      this._report(error);
    }
  }

  private _onRequest(ireq: IncomingRequest): void {
    const msg = ireq.message;
    const req = new ServerRequest(msg, ireq.address, ireq.port);
    const m = req.method;
    if (!req.methodName) return this._send(ireq, COAP_RESPONSE.METHOD_NOT_ALLOWED);
    const block2 = getBlock(msg, COAP_OPTION.BLOCK2) as BlockValue | undefined;
    const block1 = getBlock(msg, COAP_OPTION.BLOCK1) as BlockValue | undefined;
    // (a malformed Block option never gets here: the codec refuses SZX 7 with 4.00 and a value
    // over 3 bytes with 4.02, RFC 7959 §2.2, so getBlock gives no null)
    // RFC 7252 §5.10.2: we are no forward-proxy: 5.05 for Proxy-Uri / Proxy-Scheme.
    if (getOption(msg, COAP_OPTION.PROXY_URI) || getOption(msg, COAP_OPTION.PROXY_SCHEME)) return this._send(ireq, COAP_RESPONSE.PROXYING_NOT_SUPPORTED);

    // RFC 7959 §2.6: the rest of a large response to a POST/PUT/... (Block2 NUM > 0, no body); with
    // a Block1 too, the request is not enacted either (§2.3, Figure 10: a request with Block2 NUM > 0
    // asks for a block of a response and carries no body; the handler ran before and a 4.02 followed)
    if (block2?.num && m !== COAP_REQUEST.GET && m !== COAP_REQUEST.FETCH) {
      const kept = this._responses.get(req.key(), this.scheduler.now());
      // (no diagnostic payload: the code says it, RFC 7252 §5.5.2 makes one optional)
      if (!kept) return this._send(ireq, COAP_RESPONSE.REQUEST_ENTITY_INCOMPLETE);
      return this._finishResponse(ireq, req, kept.reply as Built, block2);
    }

    const resource = this._resources.get(req.path);
    if (!resource) return this._send(ireq, COAP_RESPONSE.NOT_FOUND);
    const o = resource.options;
    const handler = o[req.methodName.toLowerCase() as keyof CoapHandlers];
    if (!handler) return this._send(ireq, COAP_RESPONSE.METHOD_NOT_ALLOWED);
    if (this._authorize) {
      let ok = false;
      try {
        ok = this._authorize(req) === true;
      } catch (error) {
        this._report(error);
      }
      if (!ok) return this._send(ireq, COAP_RESPONSE.UNAUTHORIZED);
    }
    // RFC 7252 §5.10.4: an Accept the resource cannot satisfy gets 4.06.
    const offered = list(o.ct);
    if (req.accept != null && offered.length && offered.indexOf(req.accept) < 0 && (m === COAP_REQUEST.GET || m === COAP_REQUEST.FETCH))
      return this._send(ireq, COAP_RESPONSE.NOT_ACCEPTABLE);
    // the methods that carry a body (Content-Format checked, Block1 accepted): all but GET and DELETE
    if (m !== COAP_REQUEST.GET && m !== COAP_REQUEST.DELETE) {
      // RFC 7252 §5.9.2.10: 4.15 for a Content-Format the resource does not take.
      if (o.accepts && req.contentFormat != null && o.accepts.indexOf(req.contentFormat) < 0) return this._send(ireq, COAP_RESPONSE.UNSUPPORTED_CONTENT_FORMAT);
      const limit = o.maxBodySize ?? this._maxBodySize;
      const size1 = getUint(msg, COAP_OPTION.SIZE1);
      // RFC 7959 §2.5: reassemble, then run the handler once with the whole body; a body sent
      // whole is checked against the limit (§2.9.3: a 4.13 hints the client to use Block1)
      const outcome = block1
        ? this._block1.receive(req.key(), block1, msg.payload, req.contentFormat, this.scheduler.now(), size1, limit)
        : msg.payload.length > limit || (size1 ?? 0) > limit
          ? COAP_RESPONSE.REQUEST_ENTITY_TOO_LARGE
          : null;
      if (typeof outcome === "number") {
        // §2.9.3: Size1 tells the largest body we take, the Block1 echoes the client's SZX (a
        // smaller one would hint to retry with smaller blocks, which would not help here); §2.5:
        // 2.31 for non-final blocks, with our block size preference (the smaller one). A Block
        // option's value is NUM << 4 | M << 3 | SZX (§2.2); block1 came decoded, so in range.
        const options = outcome === COAP_RESPONSE.REQUEST_ENTITY_TOO_LARGE ? [uintOption(COAP_OPTION.SIZE1, limit)] : [];
        if (block1 && (outcome === COAP_RESPONSE.REQUEST_ENTITY_TOO_LARGE || outcome === COAP_RESPONSE.CONTINUE))
          options.push(uintOption(COAP_OPTION.BLOCK1, block1.num * 16 + (outcome === COAP_RESPONSE.CONTINUE ? 8 + Math.min(block1.szx, this._szx) : block1.szx)));
        return this._send(ireq, outcome, options);
      }
      if (outcome) {
        req.payload = outcome.body;
        req.contentFormat = outcome.contentFormat;
      }
    }

    // RFC 7641 §3.6 / §4.1: deregistration, or a plain GET reusing an observer's token.
    const isGet = m === COAP_REQUEST.GET;
    const okey = req.observerKey();
    if (isGet && req.observe !== 0 && !block2?.num) this._drop(this._observers.get(okey));
    const register = isGet && req.observe === 0 && o.observable && !this._closed;

    this._handle(handler, resource, req, (built) => {
      if (!built) return this._send(ireq, COAP_RESPONSE.INTERNAL_SERVER_ERROR);
      let observe: number | undefined;
      if (register && built.code >> 5 === 2 && this._canAdd(okey, resource)) {
        // §4.1: add (or replace) the entry keyed by endpoint and token.
        this._drop(this._observers.get(okey));
        this._observe(okey, resource, req, block2 ? Math.min(block2.szx, this._szx) : this._szx, 0);
        // §4.4: every notification, the registration's response included, gets a fresh, larger number.
        observe = resource.seq = (resource.seq + 1) & OBSERVE_MAX;
      }
      this._finishResponse(ireq, req, built, block2, block1, observe);
    });
  }

  /**
   * Runs a handler and builds its response (a promise's too): code defaults, options. `done` gets
   * the response, or undefined when the handler threw or rejected or its result does not build
   * (reported: the caller answers 5.00, never a crash).
   */
  private _handle(handler: CoapHandler, resource: CoapResource, req: ServerRequest, done: (built?: Built) => void): void {
    const fail = (error: unknown) => {
      this._report(error);
      done();
    };
    const go = (r: CoapServerResponse | void) => {
      const o = resource.options;
      const res: CoapServerResponse = r ?? {};
      let built: Built;
      try {
        // §5.8: GET/FETCH 2.05, DELETE 2.02, POST 2.01 with a location else 2.04, PUT/PATCH/iPATCH 2.04
        const m = req.method;
        let code = res.code ?? (m === COAP_REQUEST.GET || m === COAP_REQUEST.FETCH ? COAP_RESPONSE.CONTENT : m === COAP_REQUEST.DELETE ? COAP_RESPONSE.DELETED : m === COAP_REQUEST.POST && res.locationPath != null ? COAP_RESPONSE.CREATED : COAP_RESPONSE.CHANGED);
        if (!(code >> 5 >= 2 && code >> 5 <= 5) || code % 1) throw new RangeError("coap: not a response code");
        const ok = code >> 5 === 2;
        let payload = typeof res.payload === "string" ? utf8Encode(res.payload) : res.payload ?? EMPTY;
        if (!(payload instanceof Uint8Array)) throw new TypeError("coap: payload");
        let contentFormat = res.contentFormat;
        const offered = list(o.ct);
        if (contentFormat == null && payload.length && ok && offered.length === 1) contentFormat = offered[0];
        // §5.10.4: the representation must be in the Accept format.
        if (req.accept != null && code === COAP_RESPONSE.CONTENT && contentFormat != null && contentFormat !== req.accept) code = COAP_RESPONSE.NOT_ACCEPTABLE;
        const options: CoapOption[] = [];
        if (code === COAP_RESPONSE.NOT_ACCEPTABLE) payload = EMPTY;
        else {
          let etag = res.etag;
          if (!etag && o.autoEtag && code === COAP_RESPONSE.CONTENT) etag = etagOf(payload, contentFormat);
          if (etag) options.push(opaqueOption(COAP_OPTION.ETAG, etag));
          if (contentFormat != null && (payload.length || ok)) options.push(uintOption(COAP_OPTION.CONTENT_FORMAT, contentFormat));
          // §5.10.5: the resource's Max-Age is a 2.xx representation's freshness; one the handler
          // gives goes on any answer (§5.9.3.4: a 5.03's Max-Age is the seconds after which to retry).
          const maxAge = res.maxAge ?? (ok ? o.maxAge : null);
          if (maxAge != null && maxAge !== 60) options.push(uintOption(COAP_OPTION.MAX_AGE, maxAge));
          if (res.locationPath != null) pushStrings(options, COAP_OPTION.LOCATION_PATH, normalizePath(res.locationPath).split("/"));
          if (res.locationQuery != null) pushStrings(options, COAP_OPTION.LOCATION_QUERY, res.locationQuery.replace(/^\?/, "").split("&"));
          if (res.options) res.options.forEach((x) => options.push(x));
        }
        built = { code, options, payload };
      } catch (error) {
        return fail(error);
      }
      done(built);
    };
    let result: CoapServerResponse | void | Promise<CoapServerResponse | void>;
    try {
      result = handler(req);
    } catch (error) {
      return fail(error);
    }
    if (result && typeof (result as Promise<unknown>).then === "function") (result as Promise<CoapServerResponse | void>).then(go, fail);
    else go(result as CoapServerResponse | void);
  }

  /** A new observer (RFC 7641 §4.1): of a registration, or of a previous boot. */
  private _observe(key: string, resource: CoapResource, request: ServerRequest, szx: number, sinceCon: number): void {
    this._observers.set(key, { key, address: request.address, port: request.port, token: request.message.token.slice(), resource, request, szx, lastCon: this.scheduler.now(), sinceCon });
  }

  /** ETag validation, Block2 slicing, Observe number, Block1 echo; then sends. */
  private _finishResponse(ireq: IncomingRequest, req: ServerRequest, built: Built, block2: BlockValue | undefined, block1?: BlockValue, observe?: number): void {
    let code = built.code;
    let payload = built.payload;
    let options = built.options.slice();
    // RFC 7252 §5.10.6.2: the client's ETag is current: 2.03 Valid without payload.
    const e = getOption(built, COAP_OPTION.ETAG);
    if (code === COAP_RESPONSE.CONTENT && e && req.method === COAP_REQUEST.GET) {
      if (req.etags.some((x) => sameBytes(x, e.value))) {
        code = COAP_RESPONSE.VALID;
        options = options.filter((x) => x.number === COAP_OPTION.ETAG || x.number === COAP_OPTION.MAX_AGE);
        payload = EMPTY;
      }
    }
    if (observe != null) options.push(observeOption(observe));
    if (block1 && code >> 5 === 2) options.push(uintOption(COAP_OPTION.BLOCK1, block1.num * 16 + Math.min(block1.szx, this._szx)));
    const szx = block2 ? Math.min(block2.szx, this._szx) : this._szx;
    const num = block2 ? block2.num : 0;
    if (num === 0 && payload.length > 1 << (szx + 4) && req.method !== COAP_REQUEST.GET && req.method !== COAP_REQUEST.FETCH) {
      // RFC 7959 §2.6: keep the whole response for the client's Block2 requests for the rest.
      const now = this.scheduler.now();
      this._responses.add(req.key(), { expires: now + this.endpoint.parameters.EXCHANGE_LIFETIME, reply: built }, now);
    }
    const p = payload.length > 16 << szx || block2 ? inBlocks(options, code, payload, num, szx) : payload;
    // the observer this registration added: RFC 7641 §3.6, §4.5, a RST to its response (the first
    // notification) or the CON's timing out removes it; §3.1, a refused registration adds none
    const o = observe != null ? this._observers.get(req.observerKey()) : null;
    const drop = () => this._drop(o);
    if (!p) {
      drop();
      return this._send(ireq, COAP_RESPONSE.BAD_OPTION); // NUM past the end (RFC 7959 §2.2)
    }
    this._send(ireq, code, options, p, o ? { onReset: drop, onFail: drop } : {});
  }

  // --- Observe -------------------------------------------------------------------------

  /** @internal The observers of one resource (a copy, safe to iterate while removing). */
  _of(r: CoapResource): Observer[] {
    return Array.from(this._observers.values()).filter((o) => o.resource === r);
  }

  /** Is there room for the observer `key` of `r` (RFC 7641 §4.1: or does it replace its own entry)? */
  private _canAdd(key: string, r: CoapResource): boolean {
    const existing = this._observers.get(key);
    if (existing && existing.resource === r) return true;
    return this._observers.size - (existing ? 1 : 0) < this._maxObservers && this._of(r).length < this._perResource;
  }

  /** @internal coalesces notify() calls made in one turn into one job */
  _notify(r: CoapResource): void {
    if (this._closed || this._resources.get(r.path) !== r || r.job?.scheduled || !this._of(r).length) return;
    r.job = this.scheduler.schedule({
      name: "coap-notify",
      deadline: this.scheduler.now(),
      radio: true,
      run: () => this._of(r).forEach((o) => (o.busy ? (o.pending = true) : this._notifyOne(o))),
    });
  }

  /** Removes the observer (none: nothing), its NON pacing job cancelled. */
  private _drop(o: Observer | null | undefined): void {
    if (!o) return;
    o.hold?.cancel();
    if (this._observers.get(o.key) === o) this._observers.delete(o.key);
  }

  /** Removes the observer and sends a final notification with a code other than 2.xx (RFC 7641 §3.2). */
  private _sendFinal(o: Observer, r: { code: number; options?: CoapOption[]; payload?: Uint8Array }): void {
    this._drop(o);
    try {
      this.endpoint.sendMessage({ type: COAP_MESSAGE.CON, code: r.code, token: o.token, options: r.options, payload: r.payload }, o.address, o.port);
    } catch (error) {
      this._report(error);
    }
  }

  private _notifyOne(o: Observer): void {
    const r = o.resource;
    const get = r.options.get;
    if (!get || this._observers.get(o.key) !== o) return;
    o.busy = true;
    o.pending = false;
    const req = o.request;
    req.notification = true;
    this._handle(get, r, req, (built) => {
      if (this._observers.get(o.key) !== o) return; // dropped meanwhile
      // §3.2: a notification with a non-2.xx code ends the observation (a GET handler that
      // fails: 5.00).
      if (!built || built.code >> 5 !== 2) return this._sendFinal(o, built || { code: COAP_RESPONSE.INTERNAL_SERVER_ERROR });
      const now = this.scheduler.now();
      o.sinceCon++;
      // §4.5: CON at least every confirmInterval (24 h) or every confirmEvery notifications.
      const con = r.options.confirmableNotifications || now - o.lastCon >= this._confirmInterval || (this._confirmEvery > 0 && o.sinceCon >= this._confirmEvery);
      if (con) {
        o.lastCon = now;
        o.sinceCon = 0;
      }
      const options = built.options;
      options.push(observeOption((r.seq = (r.seq + 1) & OBSERVE_MAX)));
      let payload = built.payload;
      // RFC 7959 §3.4 (Observe + Block2): the first block; the client GETs the rest.
      if (payload.length > 16 << o.szx) payload = inBlocks(options, built.code, payload, 0, o.szx)!;
      // (an observer dropped meanwhile: _notifyOne does nothing)
      const free = () => {
        o.busy = false;
        if (o.pending) this._notifyOne(o);
      };
      const drop = () => this._drop(o);
      try {
        this.endpoint.sendMessage(
          { type: con ? COAP_MESSAGE.CON : COAP_MESSAGE.NON, code: built.code, token: o.token, options, payload },
          o.address,
          o.port,
          // §3.6: a RST to a notification removes the observer; §4.5: so does a CON notification
          // that times out; a CON's ACK frees the observer for the next one
          con ? { onAck: free, onReset: drop, onFail: drop } : { onReset: drop },
        );
      } catch (error) {
        this._report(error);
        return drop();
      }
      if (!con) {
        // §4.5.1: at most one NON notification per notificationInterval.
        if (this._notificationInterval <= 0) free();
        else o.hold = this.scheduler.schedule({ name: "coap-notify-hold", deadline: now + this._notificationInterval, run: free });
      }
    });
  }
}


