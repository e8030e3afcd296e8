/*
 * Block-wise transfer helpers (RFC 7959) shared by CoapServer and CoapClient:
 * slicing a representation into Block2 blocks (§2.4), and the server's bounded
 * store of Block1 request bodies being reassembled (§2.5, atomic fashion).
 */
import { blockSize, type BlockValue } from "./options";
import { setting } from "./constants";

const EMPTY: Uint8Array = new Uint8Array(0);

/** SZX for a block size limit: the largest power of two 16..1024 not above `bytes`. */
export function szxForSize(bytes: number): number {
  let szx = 6;
  while (szx > 0 && blockSize(szx) > bytes) szx--;
  return szx;
}

export interface Block2Slice {
  /** The block's bytes (a view into the representation). */
  payload: Uint8Array;
  block: BlockValue;
}

/**
 * Block `num` of size 2^(szx+4) of `body` (RFC 7959 §2.4). Returns undefined
 * when the block starts beyond the end (a NUM out of range: 4.02 Bad Option,
 * RFC 7959 §2.2 lets the server treat a Block2 it cannot honour like an unrecognized option).
 */
export function sliceBlock2(body: Uint8Array, num: number, szx: number): Block2Slice | undefined {
  const size = blockSize(szx);
  const start = num * size;
  if (start > body.length || (start === body.length && num > 0)) return undefined;
  const end = Math.min(body.length, start + size);
  return { payload: start === end ? EMPTY : body.subarray(start, end), block: { num, more: end < body.length, szx } };
}

/** A Block1 body being reassembled (RFC 7959 §2.5). */
export interface Block1Transfer {
  /** Bytes received so far, in order. */
  chunks: Uint8Array[];
  received: number;
  /** Content-Format of block 0 (later blocks must agree). */
  contentFormat: number | undefined;
  /** Absolute time after which the partial body is discarded. */
  expires: number;
}

/**
 * What a Block1 block comes to: the whole body once the final block arrived, or the code to
 * answer: 2.31 Continue (more blocks expected, §2.9.1), 4.08 Request Entity Incomplete (a block
 * out of sequence, without its predecessors or with another Content-Format, §2.9.2), 4.13
 * Request Entity Too Large (over the size limit or no room for another transfer, §2.9.3) or
 * 4.00 Bad Request (a non-final block that is not exactly the block size, §2.3, §2.5).
 */
export type Block1Outcome = number | { body: Uint8Array; contentFormat: number | undefined };

/**
 * The server's partial Block1 bodies, keyed by client endpoint and target
 * (RFC 7959 §2.4 / §2.5 identify a transfer by endpoint and URI). Bounded twice:
 * at most `maxTransfers` at once, each at most `maxBodySize` bytes; a partial
 * body is dropped `lifetime` ms after its last block (EXCHANGE_LIFETIME, §2.5).
 */
export class Block1Store {
  declare readonly maxTransfers: number;
  declare readonly maxBodySize: number;
  declare readonly lifetime: number;
  declare private _map: Map<string, Block1Transfer>;

  constructor(maxTransfers: number, maxBodySize: number, lifetime: number) {
    this._map = new Map();
    this.maxTransfers = setting(maxTransfers, 0, 1, Infinity, "maxBlock1Transfers");
    this.maxBodySize = setting(maxBodySize, 0, 1, Infinity, "maxBodySize");
    this.lifetime = lifetime;
  }

  get size(): number {
    return this._map.size;
  }

  clear(): void {
    this._map.clear();
  }

  /**
   * Takes one Block1 block. `limit` overrides maxBodySize for this resource;
   * `declaredSize` is the request's Size1 (§4), checked up front.
   */
  receive(key: string, block: BlockValue, payload: Uint8Array, contentFormat: number | undefined, now: number, declaredSize?: number, limit = this.maxBodySize): Block1Outcome {
    const map = this._map;
    map.forEach((t, k) => t.expires <= now && map.delete(k));
    const size = blockSize(block.szx);
    const offset = block.num * size;
    let t = map.get(key);
    map.delete(key);
    if ((block.more && payload.length !== size) || payload.length > size) return 0x80; // 4.00
    if ((declaredSize !== undefined && declaredSize > limit) || offset + payload.length > limit) return 0x8d; // 4.13
    if (!block.num) {
      if (!block.more) return { body: payload, contentFormat };
      if (map.size >= this.maxTransfers) return 0x8d; // 4.13
      t = { chunks: [], received: 0, contentFormat, expires: 0 };
    } else if (!t || offset !== t.received || contentFormat !== t.contentFormat) return 0x88; // 4.08
    t.chunks.push(payload.slice());
    t.received += payload.length;
    t.expires = now + this.lifetime;
    if (block.more) {
      map.set(key, t);
      return 0x5f; // 2.31
    }
    return { body: concat(t.chunks, t.received), contentFormat: t.contentFormat };
  }
}

/** The `chunks` one after the other in one array of `total` bytes (their lengths' sum). */
export function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  for (let i = 0, o = 0; i < chunks.length; o += chunks[i++].length) out.set(chunks[i], o);
  return out;
}

/** A 4-byte ETag from the representation's bytes (FNV-1a 32), for block-wise consistency (RFC 7959 §2.4). */
export function etagOf(body: Uint8Array, contentFormat?: number): Uint8Array {
  let h = 0x811c9dc5;
  for (let i = 0; i < body.length; i++) {
    h ^= body[i];
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  if (contentFormat !== undefined) {
    h ^= contentFormat & 0xffff;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return Uint8Array.of(h >>> 24, (h >>> 16) & 0xff, (h >>> 8) & 0xff, h & 0xff);
}
