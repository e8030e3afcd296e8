/*
 * CoAP constants, named as the RFC tables name them (libcoap style).
 *
 * RFC 7252 §3 (message types), §12.1 (codes), §12.2 + §5.10 Table 4 (options),
 * §12.3 (Content-Formats), §4.8 Table 2 (transmission parameters);
 * RFC 7641 §2 (Observe), RFC 7959 §2.1 + §4 (Block1/Block2/Size2),
 * RFC 8132 §6 (FETCH/PATCH/iPATCH), RFC 8428 §12.5 (SenML Content-Formats).
 */

// --- Message types (RFC 7252 §3, the 2-bit T field) -------------------------
export const enum COAP_MESSAGE {
  CON = 0,
  NON = 1,
  ACK = 2,
  RST = 3,
}
export type CoapMessageType = COAP_MESSAGE;

// --- Codes (RFC 7252 §5.2 Figure 9, §12.1): class << 5 | detail --------------
// COAP_CODE(c, dd), a code from its "c.dd" notation, is in option-helpers.ts (hosts and tests).
/** "c.dd" notation of a code, e.g. "4.04" (RFC 7252 §3). */
export function codeString(code: number): string {
  const d = code & 31;
  return `${code >> 5}.${d < 10 ? "0" : ""}${d}`;
}

// Method codes (RFC 7252 §12.1.1, RFC 8132 §6)
export const enum COAP_REQUEST {
  GET = 0x01,
  POST = 0x02,
  PUT = 0x03,
  DELETE = 0x04,
  FETCH = 0x05,
  PATCH = 0x06,
  IPATCH = 0x07,
}
// Response codes (RFC 7252 §12.1.2, RFC 7959 §2.9)
export const enum COAP_RESPONSE {
  CREATED = 0x41, // 2.01
  DELETED = 0x42, // 2.02
  VALID = 0x43, // 2.03
  CHANGED = 0x44, // 2.04
  CONTENT = 0x45, // 2.05
  CONTINUE = 0x5f, // 2.31 (RFC 7959)
  BAD_REQUEST = 0x80, // 4.00
  UNAUTHORIZED = 0x81, // 4.01
  BAD_OPTION = 0x82, // 4.02
  FORBIDDEN = 0x83, // 4.03
  NOT_FOUND = 0x84, // 4.04
  METHOD_NOT_ALLOWED = 0x85, // 4.05
  NOT_ACCEPTABLE = 0x86, // 4.06
  REQUEST_ENTITY_INCOMPLETE = 0x88, // 4.08 (RFC 7959)
  PRECONDITION_FAILED = 0x8c, // 4.12
  REQUEST_ENTITY_TOO_LARGE = 0x8d, // 4.13
  UNSUPPORTED_CONTENT_FORMAT = 0x8f, // 4.15
  INTERNAL_SERVER_ERROR = 0xa0, // 5.00
  NOT_IMPLEMENTED = 0xa1, // 5.01
  BAD_GATEWAY = 0xa2, // 5.02
  SERVICE_UNAVAILABLE = 0xa3, // 5.03
  GATEWAY_TIMEOUT = 0xa4, // 5.04
  PROXYING_NOT_SUPPORTED = 0xa5, // 5.05
}

/** Class 0 with a non-zero detail (RFC 7252 §5.1). */
export function isRequestCode(code: number): boolean {
  return code !== 0 && code >> 5 === 0;
}
/** 2.00-5.31 (RFC 7252 §12.1: the whole range indicates a response, class 3 included). */
export function isResponseCode(code: number): boolean {
  const c = code >> 5;
  return c >= 2 && c <= 5;
}
// --- Option numbers (RFC 7252 §5.10 Table 4, §12.2; RFC 7641; RFC 7959) -------
export const enum COAP_OPTION {
  IF_MATCH = 1,
  URI_HOST = 3,
  ETAG = 4,
  IF_NONE_MATCH = 5,
  OBSERVE = 6, // RFC 7641 §2
  URI_PORT = 7,
  LOCATION_PATH = 8,
  URI_PATH = 11,
  CONTENT_FORMAT = 12,
  MAX_AGE = 14,
  URI_QUERY = 15,
  ACCEPT = 17,
  LOCATION_QUERY = 20,
  BLOCK2 = 23, // RFC 7959 §2.1
  BLOCK1 = 27, // RFC 7959 §2.1
  SIZE2 = 28, // RFC 7959 §4
  PROXY_URI = 35,
  PROXY_SCHEME = 39,
  SIZE1 = 60,
}

// --- Content-Formats (RFC 7252 §12.3, RFC 8428 §12.5, RFC 7049/8949, RFC 7396) --
export const enum COAP_MEDIATYPE {
  TEXT_PLAIN = 0, // text/plain;charset=utf-8
  APPLICATION_LINK_FORMAT = 40,
  APPLICATION_XML = 41,
  APPLICATION_OCTET_STREAM = 42,
  APPLICATION_EXI = 47,
  APPLICATION_JSON = 50,
  APPLICATION_MERGE_PATCH_JSON = 52,
  APPLICATION_CBOR = 60,
  APPLICATION_SENML_JSON = 110,
  APPLICATION_SENSML_JSON = 111,
  APPLICATION_SENML_CBOR = 112,
  APPLICATION_SENSML_CBOR = 113,
  APPLICATION_SENML_EXI = 114,
  APPLICATION_SENSML_EXI = 115,
  APPLICATION_SENML_XML = 310,
  APPLICATION_SENSML_XML = 311,
}

/**
 * A setting or its default, checked: a number from `min` to `max`, an integer unless `real`;
 * otherwise RangeError("coap: <name>"). The layers' constructors check their options with it.
 */
export function setting(value: number | undefined, fallback: number, min: number, max: number, name: string, real?: boolean): number {
  const v = value ?? fallback;
  if (!(v >= min && v <= max) || (!real && v % 1)) throw new RangeError("coap: " + name);
  return v;
}

// --- Transmission parameters (RFC 7252 §4.8 Table 2), milliseconds ------------

export interface TransmissionParameters {
  ACK_TIMEOUT: number;
  ACK_RANDOM_FACTOR: number;
  MAX_RETRANSMIT: number;
  NSTART: number;
  DEFAULT_LEISURE: number;
  /** Bytes per second. */
  PROBING_RATE: number;
  /** RFC 7252 §4.8.2: assumed worst-case one-way latency. */
  MAX_LATENCY: number;
  /** RFC 7252 §4.8.2: assumed equal to ACK_TIMEOUT. */
  PROCESSING_DELAY: number;
}

export interface DerivedParameters extends TransmissionParameters {
  MAX_TRANSMIT_SPAN: number;
  MAX_TRANSMIT_WAIT: number;
  MAX_RTT: number;
  EXCHANGE_LIFETIME: number;
  NON_LIFETIME: number;
}

/**
 * The defaults of RFC 7252 §4.8 Table 2 with `overrides`, and the derived time values of
 * §4.8.2 (all in milliseconds; PROCESSING_DELAY follows ACK_TIMEOUT unless given). Throws
 * RangeError ("coap: parameters") for a value that is not a finite number >= 0, an
 * ACK_RANDOM_FACTOR below 1.0 (§4.8.1), an ACK_TIMEOUT or PROBING_RATE of 0, an NSTART that
 * is not an integer >= 1 or a MAX_RETRANSMIT that is not an integer 0..20.
 */
export function transmissionParameters(overrides?: Partial<TransmissionParameters>): DerivedParameters {
  const p = { ACK_TIMEOUT: 2000, ACK_RANDOM_FACTOR: 1.5, MAX_RETRANSMIT: 4, NSTART: 1, DEFAULT_LEISURE: 5000, PROBING_RATE: 1, MAX_LATENCY: 100000, PROCESSING_DELAY: -1 } as DerivedParameters;
  for (const k in overrides) {
    const v = overrides[k as keyof TransmissionParameters];
    if (v != null) {
      if (typeof v != "number" || !(v >= 0 && v < Infinity)) throw new RangeError("coap: parameters");
      p[k as keyof TransmissionParameters] = v;
    }
  }
  if (p.PROCESSING_DELAY < 0) p.PROCESSING_DELAY = p.ACK_TIMEOUT;
  const r = p.MAX_RETRANSMIT;
  if (p.ACK_RANDOM_FACTOR < 1 || !(p.ACK_TIMEOUT > 0 && p.PROBING_RATE > 0 && p.NSTART >= 1 && r <= 20) || p.NSTART % 1 || r % 1) throw new RangeError("coap: parameters");
  // RFC 7252 §4.8.2
  const span = p.ACK_TIMEOUT * (2 ** r - 1) * p.ACK_RANDOM_FACTOR;
  p.MAX_TRANSMIT_SPAN = span;
  p.MAX_TRANSMIT_WAIT = p.ACK_TIMEOUT * (2 ** (r + 1) - 1) * p.ACK_RANDOM_FACTOR;
  p.MAX_RTT = 2 * p.MAX_LATENCY + p.PROCESSING_DELAY;
  p.EXCHANGE_LIFETIME = span + 2 * p.MAX_LATENCY + p.PROCESSING_DELAY;
  p.NON_LIFETIME = span + p.MAX_LATENCY;
  return p;
}
