/*
 * Portable test helpers for the CoAP suites: two (or more) CoapEndpoints on a
 * VirtualClock joined by a tiny link with a fixed latency and a drop filter.
 */
import { CoapEndpoint, type CoapEndpointOptions } from "../../modules/coap/messaging";
import { decode, encode, type CoapMessage } from "../../modules/coap/codec";
import { COAP_MESSAGE, COAP_REQUEST, COAP_RESPONSE } from "../../modules/coap/constants";
import { hex } from "../../modules/coap/options";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { VirtualClock } from "../../sim/virtual-clock";
import { Prng } from "../../sim/prng";

export interface Wire {
  at: number;
  from: string;
  to: string;
  bytes: Uint8Array;
  message: CoapMessage | undefined;
  dropped: boolean;
}

export interface Net {
  clock: VirtualClock;
  scheduler: Scheduler;
  wire: Wire[];
  /** Return true to drop a datagram. */
  drop: (w: Wire) => boolean;
  endpoint(address: string, options?: Partial<CoapEndpointOptions>): CoapEndpoint;
  errors: unknown[];
}

export const PORT = 5683;

export function makeNet(seed = 1, latencyMs = 10): Net {
  const clock = new VirtualClock();
  const errors: unknown[] = [];
  const scheduler = new Scheduler({ clock, onError: (e) => errors.push(e) });
  const rng = new Prng(seed);
  const endpoints = new Map<string, CoapEndpoint>();
  const net: Net = {
    clock,
    scheduler,
    wire: [],
    errors,
    drop: () => false,
    endpoint(address, options = {}) {
      const ep = new CoapEndpoint({
        scheduler,
        random: (buf) => rng.fill(buf),
        onError: (e) => errors.push(e),
        ...options,
        send: (bytes, to, port) => {
          const r = decode(bytes);
          const w: Wire = { at: clock.now(), from: address, to, bytes: bytes.slice(), message: r.ok ? r.message : undefined, dropped: false };
          w.dropped = net.drop(w);
          net.wire.push(w);
          if (w.dropped) return;
          clock.setTimer(() => endpoints.get(to)?.receive(w.bytes, address, PORT), latencyMs);
          void port;
        },
      });
      endpoints.set(address, ep);
      return ep;
    },
  };
  return net;
}

/** A datagram for a fuzz failure's trace: refused with the codec's reason, or type, code, MID, token, options, payload size. */
export function show(d: ReturnType<typeof decode>, b: Uint8Array): string {
  if (!d.ok) return "refused (" + d.error.reason + ") " + hex(b.subarray(0, 16)) + (b.length > 16 ? "..." : "");
  const m = d.message;
  return ["CON", "NON", "ACK", "RST"][m.type] + " " + (m.code >> 5) + "." + (m.code & 31) + " mid " + m.messageId + " tok " + hex(m.token) + " opts " + m.options.map((o) => o.number + ":" + hex(o.value)).join(",") + " payload " + m.payload.length;
}

export const u8 = (...b: number[]) => Uint8Array.from(b);
export function ascii(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
export function text(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

/** A datagram a lone endpoint sent (floodEndpoint). */
export interface SentDatagram {
  address: string;
  port: number;
  messageId: number;
  type: number;
}

/**
 * One endpoint on a VirtualClock that answers every request 2.05 (a NON request gets a NON
 * response, RFC 7252 §5.2.3, under a fresh Message ID for its peer, §4.4, tracked for a RST, §4.3)
 * and records what it sent, its errors and its drops: for floods from many source ports.
 */
export function floodEndpoint(seed: number, options: Partial<CoapEndpointOptions> = {}) {
  const clock = new VirtualClock();
  const scheduler = new Scheduler({ clock });
  const rng = new Prng(seed);
  const sent: SentDatagram[] = [];
  const errors: unknown[] = [];
  const drops: string[] = [];
  const ep = new CoapEndpoint({
    scheduler,
    random: (b) => rng.fill(b),
    ...options,
    onError: (e) => errors.push(e),
    onDrop: (reason) => drops.push(reason),
    send: (bytes, address, port) => {
      const r = decode(bytes);
      if (r.ok) sent.push({ address, port, messageId: r.message.messageId, type: r.message.type });
    },
    onRequest: (req) => req.respond({ code: COAP_RESPONSE.CONTENT, payload: u8(1) }),
  });
  return { clock, ep, sent, errors, drops };
}

/** A NON GET with Message ID `mid` (token 01 02), as a flood sends it. */
export const nonGet = (mid: number) =>
  encode({ type: COAP_MESSAGE.NON, code: COAP_REQUEST.GET, messageId: mid, token: u8(1, 2), options: [], payload: undefined! });
