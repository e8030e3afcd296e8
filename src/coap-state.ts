/*
 * The CoAP state the app keeps across a deep sleep in RTC memory (src/app.ts, docs/app.md
 * "Sleep"): each peer's next Message ID (RFC 7252 §4.4: none reused with the same endpoint
 * within EXCHANGE_LIFETIME) and the server's observations with their Observe numbers (RFC 7641
 * §4.4), as CoapEndpoint.messageIds() and CoapServer.observations() give them.
 *
 * Layout, little endian: "COA1" (u32), then
 *   u8 peers; each: IPv4 (4 B), port (u16), next Message ID (u16)
 *   u8 observations; each: IPv4 (4 B), port (u16), SZX (u8), notifications since the last CON
 *     (u8), Observe number (u32), the registration's length (u8) and bytes
 * Peers with an IPv6 or host-name address are left out (the sockets here give IPv4), and so is
 * whatever does not fit the region: the newest peers first, up to 8, then observations in order.
 *
 * Portable (XS): no Node API, no module state.
 */
import type { MessageIdRecord } from "../modules/coap/messaging";
import type { ObservationRecord } from "../modules/coap/server";

export interface CoapKept {
  peers: MessageIdRecord[];
  observations: ObservationRecord[];
}

const MAGIC = 0x31414f43; // "COA1"
const MAX_PEERS = 8;

function ipv4(address: string): number[] | undefined {
  const parts = address.split(".");
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    const n = Number(p);
    if (!/^\d{1,3}$/.test(p) || n > 255) return undefined;
    out.push(n);
  }
  return out;
}

/** `kept` in at most `size` bytes (what does not fit is left out, as above). */
export function encodeCoapKept(kept: CoapKept, size: number): Uint8Array {
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, MAGIC, true);
  let o = 5;
  let n = 0;
  const peers = kept.peers;
  for (let i = peers.length - 1; i >= 0 && n < MAX_PEERS && o + 8 <= size - 1; i--) {
    const a = ipv4(peers[i].address);
    if (!a) continue;
    out.set(a, o);
    v.setUint16(o + 4, peers[i].port, true);
    v.setUint16(o + 6, peers[i].next & 0xffff, true);
    o += 8;
    n++;
  }
  out[4] = n;
  const countAt = o++;
  n = 0;
  for (const r of kept.observations) {
    const a = ipv4(r.address);
    if (!a || r.request.length > 255 || o + 13 + r.request.length > size || n === 255) continue;
    out.set(a, o);
    v.setUint16(o + 4, r.port, true);
    out[o + 6] = r.szx;
    out[o + 7] = Math.min(255, r.sinceCon);
    v.setUint32(o + 8, r.observe >>> 0, true);
    out[o + 12] = r.request.length;
    out.set(r.request, o + 13);
    o += 13 + r.request.length;
    n++;
  }
  out[countAt] = n;
  return out.subarray(0, o);
}

/** What encodeCoapKept wrote, or undefined for anything else (zeros after power-on, garbage). */
export function decodeCoapKept(bytes: Uint8Array): CoapKept | undefined {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 6 || v.getUint32(0, true) !== MAGIC) return undefined;
  const kept: CoapKept = { peers: [], observations: [] };
  let o = 5;
  for (let i = bytes[4]; i > 0; i--) {
    if (o + 8 > bytes.length) return undefined;
    kept.peers.unshift({ address: bytes.subarray(o, o + 4).join("."), port: v.getUint16(o + 4, true), next: v.getUint16(o + 6, true) });
    o += 8;
  }
  if (o >= bytes.length) return undefined;
  for (let i = bytes[o++]; i > 0; i--) {
    if (o + 13 > bytes.length || o + 13 + bytes[o + 12] > bytes.length) return undefined;
    const len = bytes[o + 12];
    kept.observations.push({ address: bytes.subarray(o, o + 4).join("."), port: v.getUint16(o + 4, true), szx: bytes[o + 6], sinceCon: bytes[o + 7], observe: v.getUint32(o + 8, true), request: bytes.slice(o + 13, o + 13 + len) });
    o += 13 + len;
  }
  return kept;
}
