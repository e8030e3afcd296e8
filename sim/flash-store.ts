/*
 * A simulated flash key-value store with the semantics of ESP-IDF NVS as
 * modules/platform/storage.ts describes them: namespaces and keys of at most 15
 * characters, values that are int32, strings, booleans or ArrayBuffers of at
 * most 4000 bytes, each set() atomic, nothing transactional across keys.
 *
 * On top of that it models what the real flash does to firmware:
 * - a capacity: NVS stores 32-byte entries; a namespace costs one entry, an
 *   integer or boolean one, a string or blob one header entry plus its bytes
 *   (strings with their NUL) rounded up to 32. A set() that would exceed the
 *   capacity throws StorageFullError and changes nothing.
 * - power loss: failAfter(n) lets n mutating calls through, then the next one
 *   throws PowerLossError, either before applying it (the default: the write
 *   never reached flash) or after (it did, but the caller never learned). From
 *   then on every call throws PowerLossError until powerOn(), as a dead chip
 *   would. This is how modules/config proves its multi-key writes atomic.
 * - wear: `writes` counts entries written (a set of an identical value is
 *   skipped, as NVS does), `erases` counts deletes of existing keys.
 *
 * ArrayBuffers are copied in and out: a caller can never alias stored bytes.
 * Portable (no Node API); sim/node/file-flash-store.ts persists it to a file.
 */
import { StorageError, checkStorageEntry } from "../modules/platform/storage";
import type { KeyValueStore, StoredValue } from "../modules/platform/storage";

export class StorageFullError extends StorageError {
  constructor(message: string) {
    super(message);
  }
}
// On the prototype: `this.name = ...` throws where the intrinsics are frozen, as on a device (host-tests/xs/lockdown.ts).
Object.defineProperty(StorageFullError.prototype, "name", { value: "StorageFullError", writable: true, configurable: true });

/** The simulated device lost power during (or right after) a flash operation. */
export class PowerLossError extends Error {
  constructor(message: string) {
    super(message);
  }
}
// On the prototype: `this.name = ...` throws where the intrinsics are frozen, as on a device (host-tests/xs/lockdown.ts).
Object.defineProperty(PowerLossError.prototype, "name", { value: "PowerLossError", writable: true, configurable: true });

export const NVS_ENTRY_BYTES = 32;
/** ESP-IDF's default 24 KB NVS partition less the page NVS keeps free for compaction. */
export const DEFAULT_FLASH_CAPACITY = 20 * 1024;

export interface FlashStoreOptions {
  /** Usable bytes (multiples of 32 make sense); default DEFAULT_FLASH_CAPACITY. */
  capacity?: number;
}

export interface FailAfterOptions {
  /** Apply the failing operation before losing power (default false: it is lost). */
  apply?: boolean;
}

/** A serializable image of the store (what file-backed stores persist). */
export type FlashImage = { [namespace: string]: { [key: string]: StoredValue } };

function utf8Bytes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Bytes of flash one entry occupies (NVS entry model, see the file comment). */
export function entryCost(value: StoredValue): number {
  if (typeof value === "string") return NVS_ENTRY_BYTES * (1 + Math.ceil((utf8Bytes(value) + 1) / NVS_ENTRY_BYTES));
  if (value instanceof ArrayBuffer) return NVS_ENTRY_BYTES * (1 + Math.ceil(value.byteLength / NVS_ENTRY_BYTES));
  return NVS_ENTRY_BYTES;
}

function copyValue<T extends StoredValue>(value: T): T {
  return (value instanceof ArrayBuffer ? value.slice(0) : value) as T;
}

function sameValue(a: StoredValue, b: StoredValue): boolean {
  if (a instanceof ArrayBuffer && b instanceof ArrayBuffer) {
    if (a.byteLength !== b.byteLength) return false;
    const x = new Uint8Array(a);
    const y = new Uint8Array(b);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  }
  return a === b;
}

/** Sets an own property even for a name like "__proto__" (which `o[name] = v` would take as the prototype). */
function own(o: object, name: string, value: unknown): void {
  Object.defineProperty(o, name, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * A namespace's keys and values: up to SMALL_SPACE keys as one flat array of
 * exact size, [key0, value0, key1, value1, ...] in the order they were first
 * set; a Map past that. A device's namespaces hold a key or two (a Map and its
 * table cost ~184 B, a two-slot array 64 B; a simulated fleet has a thousand).
 */
type Space = (string | StoredValue)[] | Map<string, StoredValue>;

const SMALL_SPACE = 8;

function spaceGet(space: Space | undefined, key: string): StoredValue | undefined {
  if (!space) return undefined;
  if (space instanceof Map) return space.get(key);
  for (let i = 0; i < space.length; i += 2) if (space[i] === key) return space[i + 1] as StoredValue;
  return undefined;
}

/** Sets `key`; returns the space to keep (a new array or a Map when it grows). */
function spaceSet(space: Space | undefined, key: string, value: StoredValue): Space {
  if (space instanceof Map) return space.set(key, value);
  if (!space) return [key, value];
  for (let i = 0; i < space.length; i += 2) {
    if (space[i] === key) {
      space[i + 1] = value;
      return space;
    }
  }
  if (space.length < 2 * SMALL_SPACE) return space.concat([key, value]); // exact size (a push reserves 17 slots)
  const map = new Map<string, StoredValue>();
  for (let i = 0; i < space.length; i += 2) map.set(space[i] as string, space[i + 1] as StoredValue);
  return map.set(key, value);
}

/** Removes `key` (present); returns the space to keep, undefined when it is empty. */
function spaceDelete(space: Space, key: string): Space | undefined {
  if (space instanceof Map) {
    space.delete(key);
    return space.size ? space : undefined;
  }
  let i = 0;
  while (space[i] !== key) i += 2; // keys at even indexes only (a value may equal a key)
  if (space.length === 2) return undefined;
  return space.slice(0, i).concat(space.slice(i + 2));
}

/** The keys and values, in the order they were first set. */
function spaceEntries(space: Space): [string, StoredValue][] {
  if (space instanceof Map) return [...space];
  const out: [string, StoredValue][] = [];
  for (let i = 0; i < space.length; i += 2) out.push([space[i] as string, space[i + 1] as StoredValue]);
  return out;
}

export class FlashStore implements KeyValueStore {
  readonly capacity: number;
  /**
   * The namespaces under "n<name>" keys of a plain object, created with the
   * first (a device that never writes keeps none). A Map cost each simulated
   * device ~180 B; the object has one shape for every device with the same
   * namespaces. An emptied namespace reads undefined (a delete would turn the
   * object into a dictionary). Each namespace is a Space (see spaceSet).
   */
  #spaces: { [key: string]: Space | undefined } | undefined;
  #used = 0;
  #failIn: number | undefined;
  #failApply = false;
  #off = false;
  /** Entries written (wear statistics); identical rewrites are skipped and not counted. */
  writes = 0;
  /** Existing keys erased by delete(). */
  erases = 0;
  /** Times power was lost through failAfter(). */
  powerLosses = 0;

  constructor(options: FlashStoreOptions = {}) {
    const capacity = options.capacity ?? DEFAULT_FLASH_CAPACITY;
    if (!Number.isInteger(capacity) || capacity < NVS_ENTRY_BYTES)
      throw new RangeError(`FlashStore: capacity must be an integer >= ${NVS_ENTRY_BYTES}, got ${capacity}`);
    this.capacity = capacity;
  }

  /** Bytes in use under the NVS entry model. */
  get used(): number {
    return this.#used;
  }

  /** False after a simulated power loss, until powerOn(). */
  get powered(): boolean {
    return !this.#off;
  }

  get(namespace: string, key: string): StoredValue | undefined {
    FlashStore.#checkPower(this);
    checkStorageEntry(namespace, key);
    const value = spaceGet(FlashStore.#space(this, namespace), key);
    return value === undefined ? undefined : copyValue(value);
  }

  set(namespace: string, key: string, value: StoredValue): void {
    FlashStore.#checkPower(this);
    checkStorageEntry(namespace, key, value);
    const space = FlashStore.#space(this, namespace);
    const old = spaceGet(space, key);
    const delta = entryCost(value) - (old === undefined ? 0 : entryCost(old)) + (space ? 0 : NVS_ENTRY_BYTES);
    if (this.#used + delta > this.capacity)
      throw new StorageFullError(
        `flash store full: "${namespace}/${key}" needs ${delta} more bytes, ${this.capacity - this.#used} of ${this.capacity} free`,
      );
    const stored = copyValue(value);
    FlashStore.#mutate(this, () => {
      if (old !== undefined && sameValue(old, stored)) return false;
      const next = spaceSet(space, key, stored);
      if (next !== space) (this.#spaces ??= {})["n" + namespace] = next;
      this.#used += delta;
      this.writes++;
      return true;
    });
  }

  delete(namespace: string, key: string): void {
    FlashStore.#checkPower(this);
    checkStorageEntry(namespace, key);
    FlashStore.#mutate(this, () => {
      const space = FlashStore.#space(this, namespace);
      const old = spaceGet(space, key);
      if (!space || old === undefined) return false;
      const next = spaceDelete(space, key);
      this.#used -= entryCost(old);
      if (next !== space) this.#spaces!["n" + namespace] = next;
      if (!next) this.#used -= NVS_ENTRY_BYTES;
      this.erases++;
      return true;
    });
  }

  keys(namespace: string): string[] {
    FlashStore.#checkPower(this);
    checkStorageEntry(namespace, "k");
    const space = FlashStore.#space(this, namespace);
    return space ? spaceEntries(space).map(([k]) => k).sort() : [];
  }

  /** Namespaces that hold at least one key. */
  namespaces(): string[] {
    FlashStore.#checkPower(this);
    return FlashStore.#entries(this)
      .map(([ns]) => ns)
      .sort();
  }

  /**
   * Power-loss injection: the next `n` mutating calls (set/delete that pass
   * validation) succeed; the one after throws PowerLossError, applied or not per
   * `options.apply`, and the store is dead until powerOn(). failAfter(0) fails
   * the very next mutation. cancelFailure() disarms it.
   */
  failAfter(n: number, options: FailAfterOptions = {}): void {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`failAfter: n must be an integer >= 0, got ${n}`);
    this.#failIn = n;
    this.#failApply = !!options.apply;
  }

  cancelFailure(): void {
    this.#failIn = undefined;
  }

  /** Power comes back: the content is what reached flash before the loss. An armed failAfter() stays armed. */
  powerOn(): void {
    this.#off = false;
  }

  /** Erases everything (like `idf.py erase-flash`); not counted as a power event. */
  erase(): void {
    this.#spaces = undefined;
    this.#used = 0;
    this.commit();
  }

  /** A deep copy of the content. */
  image(): FlashImage {
    const out: FlashImage = {};
    for (const [ns, space] of FlashStore.#entries(this)) {
      const o: { [key: string]: StoredValue } = {};
      for (const [k, v] of spaceEntries(space)) own(o, k, copyValue(v));
      own(out, ns, o);
    }
    return out;
  }

  /** Replaces the content with `image` (validated whole first; nothing changes if any entry is bad or it does not fit). */
  load(image: FlashImage): void {
    const spaces: { [key: string]: Space } = {};
    let used = 0;
    for (const ns of Object.keys(image)) {
      let space: Space | undefined;
      for (const k of Object.keys(image[ns])) {
        const v = image[ns][k];
        checkStorageEntry(ns, k, v);
        space = spaceSet(space, k, copyValue(v));
        used += entryCost(v);
      }
      if (space) {
        spaces["n" + ns] = space;
        used += NVS_ENTRY_BYTES;
      }
    }
    if (used > this.capacity) throw new StorageFullError(`flash image needs ${used} bytes, capacity is ${this.capacity}`);
    this.#spaces = spaces;
    this.#used = used;
  }

  /** Called after every change that reached flash; file-backed stores persist here. */
  protected commit(): void {}

  // Internals are static private methods given the instance: a private instance
  // method gives every instance a brand field (8 B; a simulated fleet has a thousand).
  static #space(self: FlashStore, namespace: string): Space | undefined {
    return self.#spaces?.["n" + namespace];
  }

  /** The namespaces that hold keys, with their maps. */
  static #entries(self: FlashStore): [string, Space][] {
    const out: [string, Space][] = [];
    const spaces = self.#spaces;
    if (spaces) for (const k of Object.keys(spaces)) if (spaces[k]) out.push([k.slice(1), spaces[k]!]);
    return out;
  }

  static #checkPower(self: FlashStore): void {
    if (self.#off) throw new PowerLossError("flash store is powered off after a simulated power loss; call powerOn()");
  }

  static #mutate(self: FlashStore, apply: () => boolean): void {
    if (self.#failIn !== undefined && self.#failIn-- <= 0) {
      self.#failIn = undefined;
      if (self.#failApply && apply()) self.commit();
      self.#off = true;
      self.powerLosses++;
      throw new PowerLossError(`simulated power loss during a flash write (${self.#failApply ? "applied" : "not applied"})`);
    }
    if (apply()) self.commit();
  }
}
