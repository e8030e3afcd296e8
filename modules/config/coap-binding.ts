/*
 * The configuration core over CoAP (RFC 7252), on a CoapServer (modules/coap/server.ts):
 *
 *   GET    /config            the configuration, secrets left out; observable (RFC 7641)
 *   PUT    /config?ctr=&mac=  config/set: the whole document
 *   PATCH  /config?ctr=&mac=  config/patch: a JSON merge patch (RFC 7396) ...
 *   iPATCH /config?ctr=&mac=  ... the same: a merge patch is idempotent, so iPATCH (RFC 8132 §3.1) fits
 *   POST   /cmd/<command>?ctr=&mac=   any command; the payload is its body
 *
 * Formats: requests in application/json (50), application/merge-patch+json (52,
 * for PATCH/iPATCH) or application/cbor (60); answers in the Accept format when
 * given (50 or 60, else 4.06), otherwise in the request's format, otherwise JSON.
 *
 * Codes: 2.05 Content (GET), 2.04 Changed (PUT, PATCH, iPATCH, POST; also for a
 * "pending" safe apply), 4.00 Bad Request (undecodable body, rule broken),
 * 4.01 Unauthorized (MAC, counter, key), 4.04 Not Found (unknown command),
 * 4.06 Not Acceptable, 4.13 Request Entity Too Large (with Size1, from the
 * server), 4.15 Unsupported Content-Format, 5.03 Service Unavailable with
 * Max-Age = retry time (rate limit, RFC 7252 §5.9.3.4), 5.00 (storage failure).
 * The payload of every non-GET answer is the command result {status, reasons?, ...}.
 *
 * No DTLS here: anyone on the network can send to the port; what protects the
 * device is the MAC (docs/security.md).
 */
import {
  COAP_MEDIATYPE,
  COAP_RESPONSE,
} from "../coap/constants";
import type { CoapResource, CoapServer, CoapServerRequest, CoapServerResponse } from "../coap/server";
import { COMMANDS, type CommandResult, type CommandStatus, type ConfigCore } from "./core";
import { decodeBody, encodeDocument, encodeResult, type BodyFormat } from "./envelope";
import { redactConfig, type DeviceConfig } from "./schema";

export const MAX_COAP_BODY = 4096;

const CODES: { [s in CommandStatus]: number } = {
  ok: COAP_RESPONSE.CHANGED,
  pending: COAP_RESPONSE.CHANGED,
  "rolled-back": COAP_RESPONSE.CHANGED,
  invalid: COAP_RESPONSE.BAD_REQUEST,
  unauthorized: COAP_RESPONSE.UNAUTHORIZED,
  "not-found": COAP_RESPONSE.NOT_FOUND,
  "too-large": COAP_RESPONSE.REQUEST_ENTITY_TOO_LARGE,
  busy: COAP_RESPONSE.SERVICE_UNAVAILABLE,
  failed: COAP_RESPONSE.INTERNAL_SERVER_ERROR,
};

function answerFormat(req: CoapServerRequest): BodyFormat {
  if (req.accept === COAP_MEDIATYPE.APPLICATION_CBOR) return "cbor";
  if (req.accept === COAP_MEDIATYPE.APPLICATION_JSON) return "json";
  return req.contentFormat === COAP_MEDIATYPE.APPLICATION_CBOR ? "cbor" : "json";
}

function contentFormatOf(f: BodyFormat): number {
  return f === "cbor" ? COAP_MEDIATYPE.APPLICATION_CBOR : COAP_MEDIATYPE.APPLICATION_JSON;
}

/** "17" -> 17; anything else is passed on as text for the core to refuse with a reason. */
function counterFrom(q: string | undefined): unknown {
  if (q === undefined) return undefined;
  return /^[1-9]\d{0,15}$/.test(q) ? Number(q) : q;
}

export interface ConfigCoapBindingOptions {
  core: ConfigCore;
  server: CoapServer;
}

export class ConfigCoapBinding {
  readonly core: ConfigCore;
  readonly server: CoapServer;
  readonly resource: CoapResource;
  #off: () => void;

  constructor(options: ConfigCoapBindingOptions) {
    this.core = options.core;
    this.server = options.server;
    const formats = [COAP_MEDIATYPE.APPLICATION_JSON, COAP_MEDIATYPE.APPLICATION_CBOR];
    this.resource = this.server.add("config", {
      title: "device configuration",
      rt: "xs-iot.config",
      ct: formats,
      accepts: [COAP_MEDIATYPE.APPLICATION_JSON, COAP_MEDIATYPE.APPLICATION_MERGE_PATCH_JSON, COAP_MEDIATYPE.APPLICATION_CBOR],
      observable: true,
      maxBodySize: MAX_COAP_BODY,
      get: (req) => {
        const f = answerFormat(req);
        return { code: COAP_RESPONSE.CONTENT, payload: encodeDocument(redactConfig(this.core.current as DeviceConfig), f), contentFormat: contentFormatOf(f) };
      },
      put: (req) => this.#command("config/set", req),
      patch: (req) => this.#command("config/patch", req),
      ipatch: (req) => this.#command("config/patch", req),
    });
    for (const name of COMMANDS) {
      this.server.add("cmd/" + name, {
        title: name,
        rt: "xs-iot.cmd",
        ct: formats,
        accepts: formats,
        maxBodySize: MAX_COAP_BODY,
        post: (req) => this.#command(name, req),
      });
    }
    this.#off = this.core.on((e) => {
      if (e.type === "change") this.resource.notify();
    });
  }

  detach(): void {
    this.#off();
    this.server.remove("config");
    for (const name of COMMANDS) this.server.remove("cmd/" + name);
  }

  #command(command: string, req: CoapServerRequest): CoapServerResponse {
    // RFC 7252 §5.10.4: an answer format we cannot produce is 4.06, before the command runs.
    if (req.accept !== undefined && req.accept !== COAP_MEDIATYPE.APPLICATION_JSON && req.accept !== COAP_MEDIATYPE.APPLICATION_CBOR) return { code: COAP_RESPONSE.NOT_ACCEPTABLE };
    const f = answerFormat(req);
    const body = decodeBody(req.payload, req.contentFormat === COAP_MEDIATYPE.APPLICATION_CBOR ? "cbor" : "json");
    const result: CommandResult = this.core.execute({
      command,
      counter: counterFrom(req.queryParam("ctr")),
      mac: req.queryParam("mac"),
      body: body.ok ? body.value : undefined,
      size: req.payload.length,
      via: "coap",
      malformed: body.ok ? undefined : body.reason,
    });
    const response: CoapServerResponse = { code: CODES[result.status] ?? COAP_RESPONSE.INTERNAL_SERVER_ERROR, payload: encodeResult(result, f), contentFormat: contentFormatOf(f) };
    if (result.status === "busy" && result.retryAfterMs) response.maxAge = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
    return response;
  }
}
