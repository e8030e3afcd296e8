/*
 * Decoding command messages into CommandRequests, and results into bytes.
 * Shared by the MQTT and CoAP bindings; never throws.
 *
 * MQTT payload (JSON, or CBOR when the 5.0 Content Type is application/cbor):
 *   {"ctr": 17, "mac": "<64 hex>", "body": <the command's body, optional>}
 * CoAP: the body is the payload (JSON 50, merge-patch+json 52, CBOR 60), and
 * ctr / mac are Uri-Query arguments (`?ctr=17&mac=...`).
 */
import { decodeCbor, encodeCbor } from "../cbor/cbor";
import { decodeUtf8, encodeUtf8New, utf8Invalid } from "../bytes/utf8";
import { isPlainObject } from "./schema";
import type { CommandResult } from "./core";

export type BodyFormat = "json" | "cbor";

export type Decoded = { ok: true; value: unknown } | { ok: false; reason: string };

/** A JSON or CBOR body; an empty payload is `undefined`. */
export function decodeBody(bytes: Uint8Array, format: BodyFormat): Decoded {
  if (bytes.length === 0) return { ok: true, value: undefined };
  if (format === "cbor") {
    const r = decodeCbor(bytes, { maxDepth: 12, maxItems: 1024 });
    return r.ok ? { ok: true, value: r.value } : { ok: false, reason: `body: invalid CBOR at byte ${r.error.offset}: ${r.error.reason}` };
  }
  const bad = utf8Invalid(bytes);
  if (bad >= 0) return { ok: false, reason: `body: invalid UTF-8 at byte ${bad}` };
  const text = decodeUtf8(bytes);
  if (nestingDepth(text) > 12) return { ok: false, reason: "body: JSON nested deeper than 12" };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, reason: "body: invalid JSON: " + String((e as Error)?.message ?? e).slice(0, 100) };
  }
}

/** Bracket depth of JSON text outside strings (a cheap bound before JSON.parse recurses). */
function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) max = depth;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

export interface Envelope {
  counter: unknown;
  mac: unknown;
  body: unknown;
}

/** The MQTT command envelope. */
export function decodeEnvelope(bytes: Uint8Array, format: BodyFormat): { ok: true; envelope: Envelope } | { ok: false; reason: string } {
  if (bytes.length === 0) return { ok: false, reason: "payload: empty (expected {ctr, mac, body})" };
  const d = decodeBody(bytes, format);
  if (!d.ok) return { ok: false, reason: d.reason.replace(/^body:/, "payload:") };
  const v = d.value;
  if (!isPlainObject(v)) return { ok: false, reason: "payload: must be an object {ctr, mac, body}" };
  for (const k of Object.keys(v)) if (k !== "ctr" && k !== "mac" && k !== "body") return { ok: false, reason: `payload.${k.slice(0, 40)}: unknown key (the envelope has ctr, mac, body)` };
  return { ok: true, envelope: { counter: v.ctr, mac: v.mac, body: v.body } };
}

/** A result as JSON or CBOR bytes (the `silent` flag is not sent). */
export function encodeResult(result: CommandResult, format: BodyFormat): Uint8Array {
  const copy: { [k: string]: unknown } = {};
  for (const k of Object.keys(result)) if (k !== "silent" && result[k] !== undefined) copy[k] = result[k];
  return format === "cbor" ? encodeCbor(copy) : encodeUtf8New(JSON.stringify(copy));
}

export function encodeDocument(doc: unknown, format: BodyFormat): Uint8Array {
  return format === "cbor" ? encodeCbor(doc) : encodeUtf8New(JSON.stringify(doc));
}
