/*
 * CoAP option helpers for hosts and tests, kept out of the firmware (the manifest maps
 * modules/coap file by file and leaves this one out; issue 17): the options' names and
 * formats (STANDARD_OPTION_DEFINITIONS; decoding needs only their lengths, options.ts
 * standardLimits), a registry of more options (OptionRegistry), the properties carried by the
 * option number (RFC 7252 §5.4.6), an option from a JS value by format, readers the firmware
 * does not use, and the sentences behind the codec's short decode reasons; codes from their
 * "c.dd" notation, and a message's encoded length or its encoding into a given buffer.
 */
import { COAP_OPTION } from "./constants";
import { encode, type CoapMessage } from "./codec";
import { blockOption, decodeUint, getOption, getStrings, opaqueOption, stringOption, uintOption, utf8Decode, type BlockValue, type CoapOption, type HasOptions, type OptionLimits } from "./options";

// --- Properties from the option number (RFC 7252 §5.4.6 Figure 11) ------------
export function isCritical(number: number): boolean {
  return (number & 1) !== 0;
}
export function isElective(number: number): boolean {
  return (number & 1) === 0;
}
export function isUnsafe(number: number): boolean {
  return (number & 2) !== 0;
}
export function isNoCacheKey(number: number): boolean {
  return (number & 0x1e) === 0x1c;
}

/** Classes 1, 6 and 7 are reserved (RFC 7252 §4.2, §12.1). */
export function isReservedCodeClass(code: number): boolean {
  const c = code >> 5;
  return c === 1 || c === 6 || c === 7;
}

/** RFC 7252 §3.2 option value formats. */
export type OptionFormat = "empty" | "opaque" | "uint" | "string";

export interface OptionDefinition {
  number: number;
  name?: string;
  format?: OptionFormat;
  /** Permitted value length in bytes (RFC 7252 §5.4.3). */
  minLength: number;
  maxLength: number;
  repeatable: boolean;
}

function def(number: number, name: string, format: OptionFormat, minLength: number, maxLength: number, repeatable: boolean): OptionDefinition {
  return { number, name, format, minLength, maxLength, repeatable };
}

/** The options this implementation recognizes by default (options.ts standardLimits has their lengths). */
export const STANDARD_OPTION_DEFINITIONS: readonly OptionDefinition[] = [
  def(COAP_OPTION.IF_MATCH, "If-Match", "opaque", 0, 8, true),
  def(COAP_OPTION.URI_HOST, "Uri-Host", "string", 1, 255, false),
  def(COAP_OPTION.ETAG, "ETag", "opaque", 1, 8, true),
  def(COAP_OPTION.IF_NONE_MATCH, "If-None-Match", "empty", 0, 0, false),
  def(COAP_OPTION.OBSERVE, "Observe", "uint", 0, 3, false), // RFC 7641 §2
  def(COAP_OPTION.URI_PORT, "Uri-Port", "uint", 0, 2, false),
  def(COAP_OPTION.LOCATION_PATH, "Location-Path", "string", 0, 255, true),
  def(COAP_OPTION.URI_PATH, "Uri-Path", "string", 0, 255, true),
  def(COAP_OPTION.CONTENT_FORMAT, "Content-Format", "uint", 0, 2, false),
  def(COAP_OPTION.MAX_AGE, "Max-Age", "uint", 0, 4, false),
  def(COAP_OPTION.URI_QUERY, "Uri-Query", "string", 0, 255, true),
  def(COAP_OPTION.ACCEPT, "Accept", "uint", 0, 2, false),
  def(COAP_OPTION.LOCATION_QUERY, "Location-Query", "string", 0, 255, true),
  def(COAP_OPTION.BLOCK2, "Block2", "uint", 0, 3, false), // RFC 7959 §2.1
  def(COAP_OPTION.BLOCK1, "Block1", "uint", 0, 3, false), // RFC 7959 §2.1
  def(COAP_OPTION.SIZE2, "Size2", "uint", 0, 4, false), // RFC 7959 §4
  def(COAP_OPTION.PROXY_URI, "Proxy-Uri", "string", 1, 1034, false),
  def(COAP_OPTION.PROXY_SCHEME, "Proxy-Scheme", "string", 1, 255, false),
  def(COAP_OPTION.SIZE1, "Size1", "uint", 0, 4, false),
];

/**
 * A set of options an endpoint recognizes (RFC 7252 §5.4.1: what is not here is
 * "unrecognized"): the standard ones, then those `define`d. `limits` is what decode() and
 * CoapEndpoint take as `registry` (options.ts OptionLimits).
 */
export class OptionRegistry {
  #defs = new Map<number, OptionDefinition>();

  constructor(definitions: readonly OptionDefinition[] = STANDARD_OPTION_DEFINITIONS) {
    for (const d of definitions) this.define(d);
  }

  define(d: OptionDefinition): this {
    if (!d || !Number.isInteger(d.number) || d.number < 0 || d.number > 65535) throw new RangeError(`coap: option number must be 0..65535`);
    // OptionLimits packs the least length as one bit (options.ts): 0 or 1, as for every standard option
    if (!(d.minLength >= 0 && d.minLength <= 1 && d.maxLength >= d.minLength && d.maxLength <= 65535 + 269)) throw new RangeError(`coap: bad length range for option ${d.number} (least length 0 or 1)`);
    this.#defs.set(d.number, d);
    return this;
  }

  get(number: number): OptionDefinition | undefined {
    return this.#defs.get(number);
  }

  /** The packed limits of an option (options.ts OptionLimits), or -1 when it is not defined here. */
  readonly limits: OptionLimits = (number) => {
    const d = this.#defs.get(number);
    return d ? (d.maxLength << 2) | (d.minLength ? 2 : 0) | (d.repeatable ? 1 : 0) : -1;
  };
}

export const STANDARD_OPTIONS = new OptionRegistry();

/** The name of an option number: the registry's, else the standard one's, else "Option-N". */
export function optionName(number: number, registry?: OptionRegistry): string {
  return registry?.get(number)?.name ?? STANDARD_OPTION_DEFINITIONS.find((d) => d.number === number)?.name ?? `Option-${number}`;
}

export function emptyOption(number: number): CoapOption {
  return { number, value: new Uint8Array(0) };
}

/** Builds an option from a JS value according to the registry's format for that number. */
export function option(number: number, value: number | string | Uint8Array | null | undefined, registry: OptionRegistry = STANDARD_OPTIONS): CoapOption {
  const d = registry.get(number);
  const name = optionName(number, registry);
  let o: CoapOption;
  if (value instanceof Uint8Array) o = opaqueOption(number, value);
  else if (typeof value === "number") o = uintOption(number, value);
  else if (typeof value === "string") o = stringOption(number, value);
  else if (value === null || value === undefined) o = emptyOption(number);
  else throw new TypeError(`coap: option ${number} value must be a number, string, Uint8Array or empty`);
  if (d && (o.value.length < d.minLength || o.value.length > d.maxLength))
    throw new RangeError(`coap: ${name} value length ${o.value.length} is outside ${d.minLength}..${d.maxLength} (RFC 7252 §5.4.3)`);
  return o;
}

export function hasOption(msg: HasOptions, number: number): boolean {
  return getOption(msg, number) !== undefined;
}

export function getString(msg: HasOptions, number: number): string | undefined {
  const o = getOption(msg, number);
  return o ? utf8Decode(o.value) : undefined;
}

/** The Uri-Path options joined with "/" (no leading slash), e.g. "sensors/temp". */
export function getUriPath(msg: HasOptions): string {
  return getStrings(msg, COAP_OPTION.URI_PATH).join("/");
}
/** Uri-Path options for "a/b/c" (leading and trailing slashes ignored; no percent-decoding). */
export function uriPathOptions(path: string): CoapOption[] {
  const out: CoapOption[] = [];
  const segs = path.split("/");
  let first = 0;
  let last = segs.length;
  if (segs.length && segs[0] === "") first = 1;
  if (last > first && segs[last - 1] === "") last--;
  for (let i = first; i < last; i++) out.push(stringOption(COAP_OPTION.URI_PATH, segs[i]));
  return out;
}

/** SZX for a block size of 16..1024 bytes (a power of two), or -1. */
export function blockSzx(size: number): number {
  for (let szx = 0; szx <= 6; szx++) if (1 << (szx + 4) === size) return szx;
  return -1;
}

/** Observe option values of a registration and a deregistration (RFC 7641 §2). */
export const OBSERVE_REGISTER = 0;
export const OBSERVE_DEREGISTER = 1;

/** What each short `reason` of a codec.ts CoapDecodeError means. */
export const DECODE_REASONS: { readonly [reason: string]: string } = {
  bytes: "not a byte buffer",
  short: "shorter than the 4-byte header (RFC 7252 §3)",
  version: "unknown version (RFC 7252 §3: silently ignored)",
  tkl: "token length 9-15 is reserved (RFC 7252 §3)",
  empty: "Empty message (0.00) with bytes after the Message ID (RFC 7252 §4.1)",
  token: "datagram ends inside the token (RFC 7252 §3)",
  class: "code class 1, 6 or 7 is reserved (RFC 7252 §4.2, §12.1)",
  nibble: "option delta or length nibble 15 outside a payload marker (RFC 7252 §3.1)",
  end: "an extended option delta or length, or an option value, runs past the end of the datagram (RFC 7252 §3.1)",
  number: "option number exceeds 65535 (RFC 7252 §3.1)",
  marker: "payload marker followed by a zero-length payload (RFC 7252 §3)",
  option: "unrecognized or unacceptable critical option (RFC 7252 §5.4.1, §5.4.3, §5.4.5)",
  szx: "Block1/Block2 SZX 7 is reserved (RFC 7959 §2.2)",
};

// --- Codes and encoding for hosts (the firmware needs only codec.ts encode) -------------

/** The uint value of a Block option (RFC 7959 §2.2). Throws RangeError for NUM > 2^20-1 or SZX outside 0..6 (7 is reserved). */
export function encodeBlockValue(b: BlockValue): number {
  return decodeUint(blockOption(0, b).value);
}

/** A Block option value parsed; undefined when SZX is 7 (reserved, RFC 7959 §2.2) or the value is out of range. */
export function decodeBlockValue(v: number): BlockValue | undefined {
  return v >= 0 && v <= 0xffffff && v % 1 === 0 && (v & 7) < 7 ? { num: v >>> 4, more: (v & 8) !== 0, szx: v & 7 } : undefined;
}

/** Builds a code from its "c.dd" notation: COAP_CODE(4, 4) is 4.04 (RFC 7252 §5.2, class << 5 | detail). */
export function COAP_CODE(cls: number, detail: number): number {
  return ((cls & 7) << 5) | (detail & 31);
}

/** Exact encoded size of a message in bytes (throws as encode does). */
export function encodedLength(msg: CoapMessage): number {
  return encode(msg).length;
}

/** Encodes into `buffer` at `offset`; returns the number of bytes written. Throws RangeError when it does not fit (nothing is written then). */
export function encodeInto(msg: CoapMessage, buffer: Uint8Array, offset = 0): number {
  const bytes = encode(msg);
  if (!(offset >= 0 && offset + bytes.length <= buffer.length)) throw new RangeError("coap: buffer");
  buffer.set(bytes, offset);
  return bytes.length;
}
