/*
 * Message deduplication memory (RFC 7252 §4.5), bounded.
 *
 * One entry per received CON/NON (source endpoint + Message ID), kept for
 * EXCHANGE_LIFETIME (CON) or NON_LIFETIME (NON). An entry keeps only what
 * duplicate detection needs: its expiry and, for a CON, what answers a
 * duplicate: the owner's request while it is being processed, then the reply
 * bytes alone (the owner replaces the one by the other, so a kept entry does
 * not hold the decoded request). Every insertion first drops the expired
 * entries; the cache has a fixed capacity and, when still full, the OLDEST
 * entry is evicted, even if it has not expired. A duplicate arriving after its
 * entry was evicted or expired is treated as a new message; size the capacity
 * for the expected message rate (capacity / EXCHANGE_LIFETIME messages per
 * second are fully deduplicated). No timers: expiry is checked on lookup and
 * at insertion. CoapServer keeps its RFC 7959 §2.6 responses in one too (the response as `reply`).
 */
import { setting } from "./constants";

export interface DedupEntry {
  /** Absolute time (ms) after which the entry no longer counts. */
  expires: number;
  /**
   * What answers a duplicate CON: the bytes we answered with (ACK, piggybacked
   * response or RST), or, until they exist, the owner's state (the messaging
   * layer's request being processed). Nothing for a NON (a duplicate is ignored).
   */
  reply?: Uint8Array | object;
}

export class DedupCache {
  declare readonly capacity: number;
  declare private _map: Map<string, DedupEntry>;
  /** Entries dropped because the cache was full (not expired): a measure of undersizing. */
  declare evictions: number;

  constructor(capacity: number) {
    this.evictions = 0;
    this._map = new Map();
    this.capacity = setting(capacity, 0, 1, Infinity, "dedupCapacity");
  }

  get size(): number {
    return this._map.size;
  }

  /** The live entry for `key`, or undefined (an expired entry is dropped). */
  get(key: string, now: number): DedupEntry | undefined {
    const e = this._map.get(key);
    if (e && e.expires <= now) {
      this._map.delete(key);
      return;
    }
    return e;
  }

  /** Adds an entry after dropping every expired one, then evicts the oldest while full. */
  add(key: string, entry: DedupEntry, now: number): DedupEntry {
    const map = this._map;
    map.delete(key);
    map.forEach((e, k) => e.expires <= now && map.delete(k));
    while (map.size >= this.capacity) {
      map.delete(map.keys().next().value as string);
      this.evictions++;
    }
    map.set(key, entry);
    return entry;
  }

  clear(): void {
    this._map.clear();
  }
}
