/*
 * The CoAP message codec (RFC 7252 §3): pure functions, no IO, no time.
 *
 * decode() never throws: it returns a message or a typed error that carries what could be
 * read (type, code, Message ID, token) so the endpoint can answer with RST, 4.02 or 4.00
 * (see `rejection`). It never allocates from a length field: token, option values and
 * payload are views into the datagram. The error's `reason` is a short code;
 * option-helpers.ts DECODE_REASONS has the sentence for each (kept out of the firmware).
 *
 * encode() writes into an exactly-sized buffer and throws RangeError/TypeError for a message it
 * must not send (encodedLength and encodeInto, which hosts use, are in option-helpers.ts).
 *
 * The hot paths use numeric literals, named in comments, rather than imported constants: on
 * Node, code compiled to CommonJS (tsx, ts-jest) reads an imported binding through getters,
 * which cost about half of the decode time (docs/coap.md, "Codec speed"); on XS a literal is
 * also the cheapest operand.
 */
import { isRequestCode, type CoapMessageType } from "./constants";
import { standardLimits, type CoapOption, type OptionLimits } from "./options";

export interface CoapMessage {
  type: CoapMessageType;
  /** 8-bit code, class << 5 | detail (RFC 7252 §3). */
  code: number;
  messageId: number;
  /** 0-8 bytes. */
  token: Uint8Array;
  /** Sorted by option number (decode guarantees it; encode sorts when needed, stably). */
  options: CoapOption[];
  payload: Uint8Array;
}

/**
 * Why a datagram was not accepted, and what could be read of it.
 *  - "version": version != 1; RFC 7252 §3: silently ignored.
 *  - "format": a message format error (§3, §3.1, §4.1) or a reserved code class (§4.2
 *    rejects both alike). `reason`: "bytes" (not a byte buffer), "short" (under 4 bytes),
 *    "tkl" (TKL 9-15), "empty" (an Empty message with bytes after the Message ID, §4.1),
 *    "token" (the datagram ends in the token), "class" (class 1, 6 or 7), "nibble" (a delta
 *    or length nibble of 15 outside a payload marker, §3.1), "end" (an extended delta or
 *    length, or a value, runs past the end), "number" (an option number over 65535),
 *    "marker" (a payload marker with no payload).
 *  - "bad-option" (`reason` "option"): an unrecognized critical option (§5.4.1), including
 *    a critical option with a length out of range (§5.4.3) or repeated when not repeatable
 *    (§5.4.5).
 *  - "bad-request" (`reason` "szx"): a Block option with SZX 7 (RFC 7959 §2.2: 4.00 in a request).
 */
export interface CoapDecodeError {
  kind: "version" | "format" | "bad-option" | "bad-request";
  reason: string;
  /** Present when the header could be read (4 bytes or more). */
  type?: CoapMessageType;
  code?: number;
  messageId?: number;
  /** Present when the token could be read. */
  token?: Uint8Array;
  /** For "bad-option" and "bad-request": the option number at fault. */
  option?: number;
}

export type DecodeResult = { ok: true; message: CoapMessage } | { ok: false; error: CoapDecodeError };

export interface DecodeOptions {
  /** The options this endpoint recognizes (default: options.ts standardLimits). */
  registry?: OptionLimits;
}

const EMPTY: Uint8Array = new Uint8Array(0);

/**
 * An option read from a datagram: its value is a view into the datagram, made on first use
 * and then kept (making typed-array views is the main cost of decoding).
 */
class DecodedOption implements CoapOption {
  declare number: number;
  /** The datagram, and where the value is in it (plain fields: a `#` field costs XS bytecode per name). */
  declare private b: Uint8Array;
  declare private s: number;
  declare private e: number;
  /** The view, once made. */
  declare private v: Uint8Array | undefined;

  constructor(number: number, bytes: Uint8Array, start: number, end: number) {
    this.number = number;
    this.b = bytes;
    this.s = start;
    this.e = end;
  }

  get value(): Uint8Array {
    return (this.v ??= this.s === this.e ? EMPTY : this.b.subarray(this.s, this.e));
  }
}

function fail(bytes: Uint8Array, kind: CoapDecodeError["kind"], reason: string, token?: Uint8Array, option?: number): DecodeResult {
  const error: CoapDecodeError = { kind, reason };
  if (bytes.length > 3) {
    error.type = ((bytes[0] >> 4) & 3) as CoapMessageType;
    error.code = bytes[1];
    error.messageId = (bytes[2] << 8) | bytes[3];
  }
  if (token) error.token = token;
  if (option != null) error.option = option;
  return { ok: false, error };
}

/** Decodes one datagram. Accepts a Uint8Array or an ArrayBuffer; never throws. */
export function decode(datagram: Uint8Array | ArrayBuffer, options?: DecodeOptions): DecodeResult {
  let bytes: Uint8Array;
  try {
    bytes = datagram instanceof Uint8Array ? datagram : new Uint8Array(datagram);
  } catch {
    return fail(EMPTY, "format", "bytes");
  }
  const limits = options?.registry ?? standardLimits;
  const len = bytes.length;
  const b0 = bytes[0];
  const tkl = b0 & 15;
  const code = bytes[1];
  // the header, in this order: 4 bytes, version 1 (RFC 7252 §3), TKL 0-8, an Empty message is the
  // header alone (§4.1), the token is there
  const head = len < 4 ? "short" : b0 >> 6 !== 1 ? "version" : tkl > 8 ? "tkl" : code === 0 && len !== 4 ? "empty" : 4 + tkl > len ? "token" : "";
  if (head) return fail(bytes, head === "version" ? head : "format", head);
  const token = tkl ? bytes.subarray(4, 4 + tkl) : EMPTY;
  const cls = code >> 5;
  if (cls === 1 || cls > 5) return fail(bytes, "format", "class", token); // §4.2, §12.1: reserved classes 1, 6, 7

  const opts: CoapOption[] = [];
  let payload = EMPTY;
  let pos = 4 + tkl;
  let number = 0;
  let last = -1;
  let bad = -1;
  let badBlock = -1;
  while (pos < len) {
    const b = bytes[pos++];
    if (b === 0xff) {
      // the payload marker (§3)
      if (pos === len) return fail(bytes, "format", "marker", token);
      payload = bytes.subarray(pos);
      break;
    }
    let delta = b >> 4;
    let length = b & 15;
    if (delta === 15 || length === 15) return fail(bytes, "format", "nibble", token); // §3.1
    // §3.1: 13 = one extended byte (+13), 14 = two (+269). A truncated one reads NaN or moves
    // pos past the end, which the check below refuses.
    if (delta > 12) delta = delta === 13 ? bytes[pos++] + 13 : ((bytes[pos++] << 8) | bytes[pos++]) + 269;
    if (length > 12) length = length === 13 ? bytes[pos++] + 13 : ((bytes[pos++] << 8) | bytes[pos++]) + 269;
    if (!(pos + length <= len)) return fail(bytes, "format", "end", token);
    number += delta;
    if (number > 65535) return fail(bytes, "format", "number", token);
    const start = pos;
    pos += length;
    const d = limits(number);
    // An option not recognized, a supernumerary occurrence (§5.4.5) or a length out of range
    // (§5.4.3) is "unrecognized": elective ones (even numbers, §5.4.6) are silently ignored,
    // critical ones reject the message (§5.4.1).
    if (d < 0 || (number === last && !(d & 1)) || length < ((d >> 1) & 1) || length > d >> 2) {
      if (number & 1 && bad < 0) bad = number;
    } else {
      // Block2 (23), Block1 (27): SZX 7 is reserved (RFC 7959 §2.2).
      if ((number === 23 || number === 27) && length && (bytes[pos - 1] & 7) === 7 && badBlock < 0) badBlock = number;
      opts.push(new DecodedOption(number, bytes, start, pos));
    }
    last = number;
  }
  // Format errors found anywhere take precedence over option errors (returned above).
  if (bad >= 0) return fail(bytes, "bad-option", "option", token, bad);
  if (badBlock >= 0) return fail(bytes, "bad-request", "szx", token, badBlock);
  return { ok: true, message: { type: ((b0 >> 4) & 3) as CoapMessageType, code, messageId: (bytes[2] << 8) | bytes[3], token, options: opts, payload } };
}

// --- The right answer to a rejected datagram -----------------------------------

export type Rejection =
  | { action: "ignore" }
  | { action: "rst"; messageId: number }
  /** Answer with this response code (4.02 or 4.00), piggybacked in an ACK for a CON. */
  | { action: "respond"; code: number; messageId: number; token: Uint8Array; type: CoapMessageType; diagnostic: string };

export interface RejectionPolicy {
  /**
   * RFC 7252 §5.4.1: a NON message with an unrecognized critical option MUST be
   * rejected ("ignore", the default; or "rst", §4.3 allows a Reset). "respond"
   * answers a NON request with a NON 4.02 / 4.00 instead, as some stacks do.
   */
  nonRequest?: "ignore" | "rst" | "respond";
  /** RFC 7252 §4.3: rejecting a NON message MAY involve a Reset (default "ignore"). */
  nonFormat?: "ignore" | "rst";
}

/**
 * What an endpoint answers to a datagram that decode() refused:
 *  - version: ignore (§3);
 *  - ACK or RST: ignore, never answer them (§4.2);
 *  - format error / reserved class: RST for a CON (§4.2), ignore a NON (§4.3);
 *  - bad-option (or bad-request) in a CON request: 4.02 (or 4.00) piggybacked with a
 *    diagnostic payload, e.g. "option 9" (§5.4.1, §5.5.2, RFC 7959 §2.2); in a CON response:
 *    RST (§5.4.1, §4.2); in a NON: reject (policy, §5.4.1, §4.3).
 */
export function rejection(error: CoapDecodeError, policy?: RejectionPolicy): Rejection {
  const type = error.type;
  const messageId = error.messageId!;
  const kind = error.kind;
  if (kind === "version" || type == null || type > 1) return { action: "ignore" };
  const con = type === 0; // CON
  const request = kind !== "format" && isRequestCode(error.code!);
  const p = request ? policy?.nonRequest : policy?.nonFormat;
  if (request && (con || p === "respond"))
    return { action: "respond", code: kind === "bad-option" ? 0x82 : 0x80, messageId, token: error.token ?? EMPTY, type: con ? 2 : 1, diagnostic: error.reason + " " + error.option };
  return con || p === "rst" ? { action: "rst", messageId } : { action: "ignore" };
}

// --- Encoding ----------------------------------------------------------------------

/**
 * Encodes into a new, exactly-sized Uint8Array. Throws TypeError/RangeError for what must not be
 * sent: a type, code or Message ID out of range, a token over 8 bytes (§3), an Empty message with
 * content (§4.1), an option number over 65535 or a value over 65804 bytes (§3.1). The options go
 * out in ascending number order (sorted stably when they are not, §3.1).
 *
 * One writer runs twice: first into an empty array, where typed-array writes past the end are
 * ignored, only to count the bytes; then into the exactly-sized result (one loop instead of a
 * sizing function and a writing function, issue 17). The empty array is a new one per call, not
 * the module's EMPTY: a preloaded module's buffers are read-only in flash, and XS refuses any
 * write to one ("read-only buffer"), even past its end (docs/moddable.md, "Preloading").
 */
export function encode(m: CoapMessage): Uint8Array {
  const t = m.token ?? EMPTY;
  const y = m.payload ?? EMPTY;
  const c = m.code;
  const id = m.messageId;
  let o = m.options ?? [];
  if (!(t instanceof Uint8Array) || !(y instanceof Uint8Array) || !Array.isArray(o)) throw new TypeError("coap: message");
  // §3: type, code, Message ID; a token of at most 8 bytes
  if ((m.type & 3) !== m.type || (c & 255) !== c || (id & 0xffff) !== id || t.length > 8) throw new RangeError("coap: header");
  // §4.1: an Empty message (0.00) is the 4-byte header alone
  if (!c && t.length + o.length + y.length) throw new RangeError("coap: Empty message with content");
  let sorted = true;
  for (let i = 0; i < o.length; i++) {
    const x = o[i];
    if (!x || (x.number & 0xffff) !== x.number || !(x.value instanceof Uint8Array) || x.value.length > 65804) throw new RangeError("coap: option");
    if (i && x.number < o[i - 1].number) sorted = false;
  }
  if (!sorted) o = o.slice().sort((a, b) => a.number - b.number); // Array.prototype.sort is stable
  let out = new Uint8Array(0);
  let p = 0;
  for (let pass = 0; pass < 2; pass++) {
    if (pass) out = new Uint8Array(p);
    out[0] = 0x40 | (m.type << 4) | t.length; // version 1
    out[1] = c;
    out[2] = id >> 8;
    out[3] = id;
    if (pass) out.set(t, 4);
    p = 4 + t.length;
    let prev = 0;
    for (let i = 0; i < o.length; i++) {
      const v = o[i].value;
      const head = p++;
      let h = 0;
      // §3.1: the delta, then the length, each a nibble 0-12, or 13 and one extended byte (-13),
      // or 14 and two (-269); a Uint8Array keeps the low 8 bits of what is stored
      for (let k = 0, x = o[i].number - prev; k < 2; k++, x = v.length) {
        const e = x < 13 ? x : x < 269 ? 13 : 14;
        if (e === 14) {
          out[p++] = (x - 269) >> 8;
          out[p++] = x - 269;
        } else if (e === 13) out[p++] = x - 13;
        h = (h << 4) | e;
      }
      out[head] = h;
      prev = o[i].number;
      if (pass) out.set(v, p);
      p += v.length;
    }
    if (y.length) {
      out[p++] = 0xff; // the payload marker
      if (pass) out.set(y, p);
      p += y.length;
    }
  }
  return out;
}

/** An Empty message's 4 bytes: an empty ACK, a RST, or a CON ping (RFC 7252 §4.1, §4.3). */
export function encodeEmpty(type: CoapMessageType, messageId: number): Uint8Array {
  return Uint8Array.of(0x40 | (type << 4), 0, messageId >> 8, messageId & 255);
}
