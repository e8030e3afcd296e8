/*
 * The CoAP message codec (RFC 7252 §3): pure functions, no IO, no time.
 *
 * decode() never throws: it returns a message or a typed error that carries
 * what could be read (type, code, message ID, token) so the messaging layer can
 * answer with RST, 4.02 or 4.00 (see `rejection`). It never allocates from a
 * length field: token, option values and payload are views into the datagram.
 *
 * encode() writes into an exactly-sized buffer (or into the caller's buffer
 * with encodeInto) and throws RangeError/TypeError for a message it must not send.
 */
import {
  COAP_EMPTY,
  COAP_MESSAGE,
  COAP_RESPONSE,
  COAP_VERSION,
  isRequestCode,
  type CoapMessageType,
} from "./constants";
import { STANDARD_OPTIONS, type CoapOption, type OptionRegistry } from "./options";

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
 * Why a datagram was not accepted, and what we could read of it.
 *  - "version": version != 1; RFC 7252 §3: silently ignored.
 *  - "format": message format error (§3, §3.1, §4.1), or a reserved code
 *    class (§4.2 rejects both alike).
 *  - "bad-option": an unrecognized critical option (§5.4.1), including a
 *    critical option with a length out of range (§5.4.3) or repeated when not
 *    repeatable (§5.4.5).
 *  - "bad-request": a Block option with SZX 7 (RFC 7959 §2.2: 4.00 in a request).
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
  /** The options this endpoint recognizes (default: STANDARD_OPTIONS). */
  registry?: OptionRegistry;
}

const EMPTY: Uint8Array = new Uint8Array(0);

// The hot paths below use numeric literals, named in comments, rather than the imported
// constants: on Node, code compiled to CommonJS (tsx, ts-jest) reads an imported binding
// through two getters per access, which cost about half of the decode time (CPU profile of
// bench/coap-codec-cases.ts); on XS a literal is also the cheapest operand.

/**
 * An option read from a datagram: its value is a view into the datagram, made on first
 * use and then kept (creating typed-array views is the main cost of decoding). Plain
 * fields, one shape for every instance, so `.value` stays a monomorphic load.
 */
class DecodedOption implements CoapOption {
  number: number;
  /** The datagram until the view is made; undefined after. */
  #bytes: Uint8Array | undefined;
  #start: number;
  #end: number;
  #value: Uint8Array | undefined;

  constructor(number: number, bytes: Uint8Array, start: number, end: number) {
    this.number = number;
    this.#bytes = bytes;
    this.#start = start;
    this.#end = end;
    this.#value = undefined;
  }

  get value(): Uint8Array {
    let v = this.#value;
    if (v === undefined) {
      const start = this.#start;
      const end = this.#end;
      v = start === end ? EMPTY : this.#bytes!.subarray(start, end);
      this.#value = v;
      this.#bytes = undefined;
    }
    return v;
  }

  set value(v: Uint8Array) {
    this.#value = v;
    this.#bytes = undefined;
  }
}

function fail(kind: CoapDecodeError["kind"], reason: string, bytes: Uint8Array, token?: Uint8Array, option?: number): DecodeResult {
  const error: CoapDecodeError = { kind, reason };
  if (bytes.length >= 4) {
    error.type = ((bytes[0] >> 4) & 3) as CoapMessageType;
    error.code = bytes[1];
    error.messageId = (bytes[2] << 8) | bytes[3];
  }
  if (token) error.token = token;
  if (option !== undefined) error.option = option;
  return { ok: false, error };
}

/** Decodes one datagram. Accepts a Uint8Array or an ArrayBuffer; never throws. */
export function decode(datagram: Uint8Array | ArrayBuffer, options?: DecodeOptions): DecodeResult {
  let bytes: Uint8Array;
  if (datagram instanceof Uint8Array) bytes = datagram;
  else
    try {
      bytes = new Uint8Array(datagram);
    } catch {
      return { ok: false, error: { kind: "format", reason: "not a byte buffer" } };
    }
  const registry = options === undefined || options.registry === undefined ? STANDARD_OPTIONS : options.registry;
  const len = bytes.length;
  if (len < 4) return fail("format", "shorter than the 4-byte header (RFC 7252 §3)", bytes);
  const b0 = bytes[0];
  if (b0 >> 6 !== 1) return fail("version", `unknown version ${b0 >> 6} (RFC 7252 §3: silently ignored)`, bytes); // COAP_VERSION
  const type = ((b0 >> 4) & 3) as CoapMessageType;
  const tkl = b0 & 15;
  const code = bytes[1];
  const messageId = (bytes[2] << 8) | bytes[3];
  if (tkl > 8) return fail("format", `token length ${tkl} is reserved (RFC 7252 §3)`, bytes);
  if (code === 0 && len !== 4) return fail("format", "Empty message (0.00) with bytes after the Message ID (RFC 7252 §4.1)", bytes); // COAP_EMPTY
  if (4 + tkl > len) return fail("format", "datagram ends inside the token (RFC 7252 §3)", bytes);
  const token = tkl ? bytes.subarray(4, 4 + tkl) : EMPTY;
  const cls = code >> 5;
  if (cls === 1 || cls === 6 || cls === 7) return fail("format", `code class ${cls} is reserved (RFC 7252 §4.2, §12.1)`, bytes, token); // isReservedCodeClass

  const opts: CoapOption[] = [];
  let payload = EMPTY;
  let pos = 4 + tkl;
  let number = 0;
  let lastNumber = -1;
  let badOption = -1;
  let badBlock = -1;
  while (pos < len) {
    const b = bytes[pos++];
    if (b === 0xff) {
      // COAP_PAYLOAD_MARKER
      if (pos === len) return fail("format", "payload marker followed by a zero-length payload (RFC 7252 §3)", bytes, token);
      payload = bytes.subarray(pos);
      break;
    }
    let delta = b >> 4;
    let length = b & 15;
    if (delta === 15) return fail("format", "option delta nibble 15 outside a payload marker (RFC 7252 §3.1)", bytes, token);
    if (length === 15) return fail("format", "option length nibble 15 is reserved (RFC 7252 §3.1)", bytes, token);
    if (delta >= 13) {
      if (delta === 13) {
        if (pos + 1 > len) return fail("format", "datagram ends inside an extended option delta (RFC 7252 §3.1)", bytes, token);
        delta = bytes[pos++] + 13;
      } else {
        if (pos + 2 > len) return fail("format", "datagram ends inside an extended option delta (RFC 7252 §3.1)", bytes, token);
        delta = ((bytes[pos] << 8) | bytes[pos + 1]) + 269;
        pos += 2;
      }
    }
    if (length >= 13) {
      if (length === 13) {
        if (pos + 1 > len) return fail("format", "datagram ends inside an extended option length (RFC 7252 §3.1)", bytes, token);
        length = bytes[pos++] + 13;
      } else {
        if (pos + 2 > len) return fail("format", "datagram ends inside an extended option length (RFC 7252 §3.1)", bytes, token);
        length = ((bytes[pos] << 8) | bytes[pos + 1]) + 269;
        pos += 2;
      }
    }
    if (pos + length > len) return fail("format", `option value (${length} bytes) runs past the end of the datagram (RFC 7252 §3.1)`, bytes, token);
    number += delta;
    if (number > 65535) return fail("format", `option number ${number} exceeds 65535 (RFC 7252 §3.1)`, bytes, token);
    const start = pos;
    pos += length;
    const repeated = number === lastNumber;
    lastNumber = number;
    const d = registry.get(number);
    // An option we do not recognize, a supernumerary occurrence (§5.4.5) or a
    // length out of range (§5.4.3) is "unrecognized": elective ones are
    // silently ignored, critical ones (odd numbers, §5.4.6) reject the message (§5.4.1).
    if (d === undefined || (repeated && !d.repeatable) || length < d.minLength || length > d.maxLength) {
      if ((number & 1) !== 0 && badOption < 0) badOption = number;
      continue;
    }
    // Block1 (27), Block2 (23): SZX 7 is reserved (RFC 7959 §2.2).
    if ((number === 27 || number === 23) && length > 0 && (bytes[pos - 1] & 7) === 7 && badBlock < 0) badBlock = number;
    opts.push(new DecodedOption(number, bytes, start, pos));
  }
  // Format errors found anywhere take precedence over option errors (checked above, by returning early).
  if (badOption >= 0) {
    const d = registry.get(badOption);
    return fail("bad-option", `${d ? "unacceptable" : "unrecognized"} critical option ${badOption} (RFC 7252 §5.4.1)`, bytes, token, badOption);
  }
  if (badBlock >= 0) return fail("bad-request", `Block${badBlock === 27 ? 1 : 2} SZX 7 is reserved (RFC 7959 §2.2)`, bytes, token, badBlock);
  return { ok: true, message: { type, code, messageId, token, options: opts, payload } };
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
 *  - bad-option (or bad-request) in a CON request: 4.02 (or 4.00) piggybacked
 *    (§5.4.1, RFC 7959 §2.2); in a CON response: RST (§5.4.1, §4.2);
 *    in a NON: reject (policy, §5.4.1, §4.3).
 */
export function rejection(error: CoapDecodeError, policy?: RejectionPolicy): Rejection {
  if (error.kind === "version" || error.type === undefined || error.messageId === undefined) return { action: "ignore" };
  const type = error.type;
  if (type === COAP_MESSAGE.ACK || type === COAP_MESSAGE.RST) return { action: "ignore" };
  const isCon = type === COAP_MESSAGE.CON;
  if (error.kind === "format") {
    if (isCon) return { action: "rst", messageId: error.messageId };
    return policy?.nonFormat === "rst" ? { action: "rst", messageId: error.messageId } : { action: "ignore" };
  }
  const request = error.code !== undefined && isRequestCode(error.code);
  if (request && (isCon || policy?.nonRequest === "respond"))
    return {
      action: "respond",
      code: error.kind === "bad-option" ? COAP_RESPONSE.BAD_OPTION : COAP_RESPONSE.BAD_REQUEST,
      messageId: error.messageId,
      token: error.token ?? EMPTY,
      type: isCon ? COAP_MESSAGE.ACK : COAP_MESSAGE.NON,
      diagnostic: error.reason,
    };
  if (isCon) return { action: "rst", messageId: error.messageId };
  // A NON message is rejected (§5.4.1, §4.3): silently, or with a Reset where the policy asks.
  const rst = request ? policy?.nonRequest === "rst" : policy?.nonFormat === "rst";
  return rst ? { action: "rst", messageId: error.messageId } : { action: "ignore" };
}

// --- Encoding ----------------------------------------------------------------------

function extSize(n: number): number {
  return n < 13 ? 0 : n < 269 ? 1 : 2;
}

function optionsSorted(opts: readonly CoapOption[]): boolean {
  for (let i = 1; i < opts.length; i++) if (opts[i].number < opts[i - 1].number) return false;
  return true;
}

/** Options in ascending number order, stable for repeated options (RFC 7252 §3.1). */
function sortedOptions(opts: readonly CoapOption[]): readonly CoapOption[] {
  if (optionsSorted(opts)) return opts;
  const idx = opts.map((o, i) => i);
  idx.sort((a, b) => opts[a].number - opts[b].number || a - b);
  return idx.map((i) => opts[i]);
}

function check(msg: CoapMessage): void {
  if (!msg || typeof msg !== "object") throw new TypeError("coap: message must be an object");
  const { type, code, messageId, token, options, payload } = msg;
  if (type !== 0 && type !== 1 && type !== 2 && type !== 3) throw new RangeError(`coap: type must be 0..3, got ${type}`);
  if (!Number.isInteger(code) || code < 0 || code > 255) throw new RangeError(`coap: code must be 0..255, got ${code}`);
  if (!Number.isInteger(messageId) || messageId < 0 || messageId > 0xffff) throw new RangeError(`coap: messageId must be 0..65535, got ${messageId}`);
  if (token !== undefined && !(token instanceof Uint8Array)) throw new TypeError("coap: token must be a Uint8Array");
  if (token && token.length > 8) throw new RangeError(`coap: token is ${token.length} bytes; at most 8 (RFC 7252 §3)`);
  if (payload !== undefined && !(payload instanceof Uint8Array)) throw new TypeError("coap: payload must be a Uint8Array");
  if (options !== undefined && !Array.isArray(options)) throw new TypeError("coap: options must be an array");
  if (code === 0 /* COAP_EMPTY */ && ((token && token.length) || (options && options.length) || (payload && payload.length)))
    throw new RangeError("coap: an Empty message (0.00) carries no token, options or payload (RFC 7252 §4.1)");
  if (options)
    for (const o of options) {
      if (!o || !Number.isInteger(o.number) || o.number < 0 || o.number > 65535) throw new RangeError(`coap: option number must be 0..65535, got ${o && o.number}`);
      if (!(o.value instanceof Uint8Array)) throw new TypeError(`coap: option ${o.number} value must be a Uint8Array`);
      if (o.value.length > 65535 + 269) throw new RangeError(`coap: option ${o.number} value is too long (${o.value.length} bytes)`);
    }
}

/** Exact encoded size of a message in bytes. */
export function encodedLength(msg: CoapMessage): number {
  check(msg);
  return sizeOf(msg, sortedOptions(msg.options ?? []));
}

function sizeOf(msg: CoapMessage, opts: readonly CoapOption[]): number {
  let n = 4 + (msg.token ? msg.token.length : 0);
  let prev = 0;
  for (let i = 0; i < opts.length; i++) {
    const o = opts[i];
    const l = o.value.length;
    n += 1 + extSize(o.number - prev) + extSize(l) + l;
    prev = o.number;
  }
  const p = msg.payload ? msg.payload.length : 0;
  if (p) n += 1 + p;
  return n;
}

/** Encodes into a new, exactly-sized Uint8Array. */
export function encode(msg: CoapMessage): Uint8Array {
  check(msg);
  const opts = sortedOptions(msg.options ?? []);
  const out = new Uint8Array(sizeOf(msg, opts));
  write(msg, opts, out, 0);
  return out;
}

/** Encodes into `buffer` at `offset`; returns the number of bytes written. Throws RangeError when it does not fit (nothing useful is written then). */
export function encodeInto(msg: CoapMessage, buffer: Uint8Array, offset = 0): number {
  check(msg);
  const opts = sortedOptions(msg.options ?? []);
  const n = sizeOf(msg, opts);
  if (offset < 0 || offset + n > buffer.length) throw new RangeError(`coap: message needs ${n} bytes, buffer has ${buffer.length - offset}`);
  write(msg, opts, buffer, offset);
  return n;
}

function write(msg: CoapMessage, opts: readonly CoapOption[], out: Uint8Array, offset: number): number {
  const token = msg.token;
  const tkl = token ? token.length : 0;
  let p = offset;
  out[p++] = 0x40 /* COAP_VERSION << 6 */ | (msg.type << 4) | tkl;
  out[p++] = msg.code;
  out[p++] = msg.messageId >> 8;
  out[p++] = msg.messageId & 0xff;
  if (tkl) {
    out.set(token, p);
    p += tkl;
  }
  let prev = 0;
  for (let i = 0; i < opts.length; i++) {
    const o = opts[i];
    const v = o.value;
    const l = v.length;
    const d = o.number - prev;
    prev = o.number;
    const head = p++;
    let hd: number, hl: number;
    if (d < 13) hd = d;
    else if (d < 269) {
      hd = 13;
      out[p++] = d - 13;
    } else {
      hd = 14;
      out[p++] = (d - 269) >> 8;
      out[p++] = (d - 269) & 0xff;
    }
    if (l < 13) hl = l;
    else if (l < 269) {
      hl = 13;
      out[p++] = l - 13;
    } else {
      hl = 14;
      out[p++] = (l - 269) >> 8;
      out[p++] = (l - 269) & 0xff;
    }
    out[head] = (hd << 4) | hl;
    if (l === 1) out[p++] = v[0];
    else if (l) {
      out.set(v, p);
      p += l;
    }
  }
  const payload = msg.payload;
  if (payload && payload.length) {
    out[p++] = 0xff; // COAP_PAYLOAD_MARKER
    out.set(payload, p);
    p += payload.length;
  }
  return p - offset;
}

// --- Building messages ----------------------------------------------------------------

/** An Empty message (0.00): an empty ACK, a RST, or a CON ping (RFC 7252 §4.1, §4.3). */
export function emptyMessage(type: CoapMessageType, messageId: number): CoapMessage {
  return { type, code: COAP_EMPTY, messageId, token: EMPTY, options: [], payload: EMPTY };
}

/** Encodes an Empty message straight to its 4 bytes. */
export function encodeEmpty(type: CoapMessageType, messageId: number): Uint8Array {
  return Uint8Array.of((COAP_VERSION << 6) | (type << 4), 0, (messageId >> 8) & 0xff, messageId & 0xff);
}

export function isEmptyMessage(msg: CoapMessage): boolean {
  return msg.code === COAP_EMPTY;
}

