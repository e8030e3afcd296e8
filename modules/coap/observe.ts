/*
 * Observe (RFC 7641) bookkeeping of CoapServer:
 *  - ObserverList: the server's bounded list of observers (§4.1), keyed by
 *    client endpoint and token, with a per-resource and a global limit.
 *  - ObserveSequence: the server's 24-bit Observe numbers (§4.4).
 * The client's §3.4 freshness rule (observeIsNewer, NotificationOrder) is in observe-order.ts,
 * used by CoapUriClient (hosts and tests; the firmware observes nothing).
 */
import { OBSERVE_MAX, hex } from "./options";
import { setting } from "./constants";

/** One entry in the list of observers (RFC 7641 §4.1). */
export interface ObserverEntry<R> {
  /** address|port#token */
  key: string;
  address: string;
  port: number;
  token: Uint8Array;
  /** The resource observed. */
  resource: R;
}


export function observerKey(address: string, port: number, token: Uint8Array): string {
  return address + "|" + port + "#" + hex(token);
}

/**
 * Observers of every resource of a server, bounded: at most `perResource`
 * entries per resource and `total` in all. A registration that does not fit
 * is refused, and the GET is then answered as usual, without Observe (§4.1).
 */
export class ObserverList<R, E extends ObserverEntry<R>> {
  declare readonly perResource: number;
  declare readonly total: number;
  /** By key, in the order added (one map: at most maxObservers entries, 32 by default, so a resource's are found by a walk). */
  declare private _byKey: Map<string, E>;

  constructor(perResource: number, total: number) {
    this._byKey = new Map();
    this.perResource = setting(perResource, 0, 0, Infinity, "maxObserversPerResource");
    this.total = setting(total, 0, 0, Infinity, "maxObservers");
  }

  get size(): number {
    return this._byKey.size;
  }

  get(key: string): E | undefined {
    return this._byKey.get(key);
  }

  /** Observers of one resource (a copy, safe to iterate while removing). */
  of(resource: R): E[] {
    return this.all().filter((e) => e.resource === resource);
  }

  count(resource: R): number {
    return this.of(resource).length;
  }

  /** Can `entry` be added (or replace the entry with its key, §4.1)? */
  canAdd(key: string, resource: R): boolean {
    const existing = this._byKey.get(key);
    if (existing && existing.resource === resource) return true;
    const total = this._byKey.size - (existing ? 1 : 0);
    return total < this.total && this.count(resource) < this.perResource;
  }

  /** Adds or replaces (same endpoint and token, §4.1). Returns the replaced entry. */
  add(entry: E): E | undefined {
    const old = this._byKey.get(entry.key);
    this._byKey.delete(entry.key);
    this._byKey.set(entry.key, entry);
    return old;
  }

  remove(entry: E): boolean {
    return this._byKey.get(entry.key) === entry && this._byKey.delete(entry.key);
  }

  all(): E[] {
    return Array.from(this._byKey.values());
  }
}

/** A resource's Observe numbers: 24-bit, incremented for every notification (RFC 7641 §4.4). */
export class ObserveSequence {
  declare private _value: number;
  constructor(start = 2) {
    this._value = start & OBSERVE_MAX;
  }
  get current(): number {
    return this._value;
  }
  next(): number {
    this._value = (this._value + 1) & OBSERVE_MAX;
    return this._value;
  }
}
