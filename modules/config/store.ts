/*
 * The configuration in flash, written atomically on top of a key-value store
 * whose single set() is atomic but whose several set()s are not
 * (modules/platform/storage.ts, ESP-IDF NVS semantics).
 *
 * Layout, namespace "xscfg":
 *   a0, a1, ...  slot A: the UTF-8 JSON of the configuration in chunks of at
 *                most 4000 bytes (one ArrayBuffer each)
 *   b0, b1, ...  slot B, likewise
 *   commit       the commit record (32 bytes, below), written LAST
 *   ctr          a decimal copy of the last accepted command counter, written
 *                after the commit record (only read when the record is corrupt)
 *   key          the device's 32-byte command key (provisioning; kept by a
 *                factory reset)
 *   config       version 1 firmware kept its JSON here (migrated, then deleted)
 *
 * Commit record (big-endian):
 *   0  'X' 'C'  magic            2  format = 1      3  slot: 0 = A, 1 = B, 255 = none
 *   4  sequence (u32, +1 per record)
 *   8  last accepted command counter (u32 high, u32 low; up to 2^53 - 1)
 *   16 data length (u32)         20 CRC-32 of the data
 *   24 reserved (0)              28 CRC-32 of bytes 0..27
 *
 * save(config, counter): write every chunk of the slot the record does NOT point
 * to, then the record pointing to it. A power loss before the record's set()
 * leaves the old record, which points to the untouched old slot: the old
 * config. After it: the new one. The record's set() is atomic, so there is no
 * third case. Chunks left over from a longer earlier config are deleted after
 * the commit (harmless if that is interrupted: the length says what counts).
 * The command counter rides in the same record, so a config change and the
 * acceptance of the command that made it are one atomic step.
 *
 * load(): no record -> defaults ("defaults"; a first write interrupted before its
 * commit lands here too); a record or slot that fails its checks, JSON that does
 * not parse, or a document the current rules refuse -> defaults, status
 * "corrupt" with the reason (the caller logs it and raises a status flag).
 */
import type { KeyValueStore } from "../platform/storage";
import { decodeUtf8, encodeUtf8New } from "../bytes/utf8";
import { defaultConfig, validateConfig, type ConfigContext, type DeviceConfig } from "./schema";

export const CONFIG_NAMESPACE = "xscfg";
export const CHUNK_BYTES = 4000;
const RECORD_BYTES = 32;
const SLOT_NONE = 255;
const SLOT_PREFIX = ["a", "b"];

export type BootStatus = "stored" | "defaults" | "migrated" | "corrupt";

export interface LoadResult {
  config: DeviceConfig;
  status: BootStatus;
  /** Why, for "corrupt", "migrated" and "defaults". */
  message?: string;
  /** Last accepted command counter. */
  counter: number;
}

interface CommitRecord {
  slot: number;
  sequence: number;
  counter: number;
  length: number;
  crc: number;
}

/** CRC-32 table, made when the module loads (at build time when preloaded: then it is in flash). */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320). */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function encodeRecord(r: CommitRecord): ArrayBuffer {
  const b = new Uint8Array(RECORD_BYTES);
  const v = new DataView(b.buffer);
  b[0] = 0x58;
  b[1] = 0x43;
  b[2] = 1;
  b[3] = r.slot;
  v.setUint32(4, r.sequence >>> 0);
  v.setUint32(8, Math.floor(r.counter / 0x100000000));
  v.setUint32(12, r.counter >>> 0);
  v.setUint32(16, r.length);
  v.setUint32(20, r.crc);
  v.setUint32(28, crc32(b, 0, 28));
  return b.buffer;
}

function decodeRecord(value: unknown): CommitRecord | string {
  if (!(value instanceof ArrayBuffer)) return "commit record is not a byte string";
  if (value.byteLength !== RECORD_BYTES) return `commit record has ${value.byteLength} bytes, not ${RECORD_BYTES}`;
  const b = new Uint8Array(value);
  const v = new DataView(value);
  if (b[0] !== 0x58 || b[1] !== 0x43) return "commit record has a bad magic";
  if (b[2] !== 1) return `commit record format ${b[2]} is unknown`;
  if (v.getUint32(28) !== crc32(b, 0, 28)) return "commit record checksum mismatch";
  const slot = b[3];
  if (slot !== 0 && slot !== 1 && slot !== SLOT_NONE) return `commit record names slot ${slot}`;
  const hi = v.getUint32(8);
  if (hi >= 0x200000) return "commit record counter out of range";
  return { slot, sequence: v.getUint32(4), counter: hi * 0x100000000 + v.getUint32(12), length: v.getUint32(16), crc: v.getUint32(20) };
}

export interface ConfigStoreOptions {
  storage: KeyValueStore;
  context?: ConfigContext;
  namespace?: string;
  /** Bytes per flash entry (default and maximum 4000, the NVS limit); tests use less. */
  chunkBytes?: number;
}

function isPowerLoss(e: unknown): boolean {
  return (e as Error)?.name === "PowerLossError";
}

export class ConfigStore {
  readonly storage: KeyValueStore;
  readonly namespace: string;
  readonly context: ConfigContext;
  readonly chunkBytes: number;
  #record: CommitRecord | undefined;
  #counter = 0;

  constructor(options: ConfigStoreOptions) {
    if (!options || !options.storage) throw new TypeError("ConfigStore: options.storage is required");
    this.storage = options.storage;
    this.namespace = options.namespace ?? CONFIG_NAMESPACE;
    this.context = options.context ?? {};
    const cb = options.chunkBytes ?? CHUNK_BYTES;
    if (!Number.isInteger(cb) || cb < 16 || cb > CHUNK_BYTES) throw new RangeError(`ConfigStore: chunkBytes must be 16..${CHUNK_BYTES}`);
    this.chunkBytes = cb;
  }

  /** Last accepted command counter (0 when none). */
  get counter(): number {
    return this.#counter;
  }

  /** Reads the stored configuration; never throws for bad content (only when the store itself fails). */
  load(): LoadResult {
    const ns = this.namespace;
    const raw = this.storage.get(ns, "commit");
    this.#record = undefined;
    if (raw === undefined) {
      this.#counter = 0;
      const legacy = this.storage.get(ns, "config");
      if (legacy !== undefined) return this.#migrateLegacy(legacy);
      return { config: defaultConfig(this.context), status: "defaults", message: "no stored configuration: defaults", counter: 0 };
    }
    const rec = decodeRecord(raw);
    if (typeof rec === "string") {
      this.#counter = this.#mirrorCounter();
      return this.#corrupt(rec);
    }
    this.#record = rec;
    this.#counter = rec.counter;
    if (rec.slot === SLOT_NONE) return { config: defaultConfig(this.context), status: "defaults", message: "defaults (never changed)", counter: rec.counter };
    const data = this.#readSlot(rec.slot, rec.length);
    if (typeof data === "string") return this.#corrupt(data);
    if (crc32(data) !== rec.crc) return this.#corrupt(`slot ${SLOT_PREFIX[rec.slot].toUpperCase()} checksum mismatch`);
    let doc: unknown;
    try {
      doc = JSON.parse(decodeUtf8(data));
    } catch (e) {
      return this.#corrupt("stored JSON does not parse: " + String((e as Error)?.message ?? e));
    }
    const v = validateConfig(doc, this.context);
    if (!v.ok) return this.#corrupt("stored configuration breaks the rules: " + v.errors.map((e) => e.message).join("; "));
    return { config: v.config, status: "stored", counter: rec.counter };
  }

  /** Writes `config` and the counter atomically (see the file comment). */
  save(config: DeviceConfig, counter = this.#counter): void {
    const data = encodeUtf8New(JSON.stringify(config));
    const slot = this.#record && this.#record.slot === 0 ? 1 : 0;
    const prefix = SLOT_PREFIX[slot];
    const size = this.chunkBytes;
    const chunks = Math.ceil(data.length / size);
    if (chunks > 99) throw new RangeError("config: document too large for the store");
    for (let i = 0; i < chunks; i++) this.storage.set(this.namespace, prefix + i, data.slice(i * size, (i + 1) * size).buffer);
    this.#commit({ slot, sequence: (this.#record?.sequence ?? 0) + 1, counter: Math.max(counter, this.#counter), length: data.length, crc: crc32(data) });
    // Leftovers of a longer earlier document in this slot.
    this.#tidy(() => {
      for (const k of this.storage.keys(this.namespace)) {
        if (k.charAt(0) === prefix && /^[ab]\d+$/.test(k) && Number(k.slice(1)) >= chunks) this.storage.delete(this.namespace, k);
      }
    });
  }

  /** Persists a newly accepted counter without changing the configuration (one atomic set). */
  acceptCounter(counter: number): void {
    if (!(counter > this.#counter)) throw new RangeError(`config: counter ${counter} is not above ${this.#counter}`);
    const r = this.#record;
    this.#commit({ slot: r ? r.slot : SLOT_NONE, sequence: (r?.sequence ?? 0) + 1, counter, length: r ? r.length : 0, crc: r ? r.crc : 0 });
  }

  /**
   * Back to the defaults: the record says "no slot" (one atomic set), the slots
   * are erased afterwards. The device key and the counter stay: a factory
   * reset must not make old commands replayable.
   */
  factoryReset(counter = this.#counter): DeviceConfig {
    const r = this.#record;
    this.#commit({ slot: SLOT_NONE, sequence: (r?.sequence ?? 0) + 1, counter: Math.max(counter, this.#counter), length: 0, crc: 0 });
    this.#tidy(() => {
      for (const k of this.storage.keys(this.namespace)) if (/^[ab]\d+$/.test(k) || k === "config") this.storage.delete(this.namespace, k);
    });
    return defaultConfig(this.context);
  }

  /** The provisioned command key, or undefined. Never logged. */
  key(): Uint8Array | undefined {
    const k = this.storage.get(this.namespace, "key");
    return k instanceof ArrayBuffer && k.byteLength >= 16 ? new Uint8Array(k) : undefined;
  }

  /** Factory provisioning of the command key (16 to 64 bytes; 32 recommended). */
  provisionKey(key: Uint8Array): void {
    if (!(key instanceof Uint8Array) || key.length < 16 || key.length > 64) throw new RangeError("config: the device key must be 16 to 64 bytes");
    this.storage.set(this.namespace, "key", key.slice().buffer);
  }

  #commit(r: CommitRecord): void {
    this.storage.set(this.namespace, "commit", encodeRecord(r));
    this.#record = r;
    const previous = this.#counter;
    this.#counter = r.counter;
    if (r.counter !== previous) this.#tidy(() => this.storage.set(this.namespace, "ctr", String(r.counter)));
  }

  /** Work after a commit: its failure does not undo the commit. A power loss still stops everything. */
  #tidy(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (isPowerLoss(e)) throw e;
    }
  }

  #mirrorCounter(): number {
    try {
      const v = this.storage.get(this.namespace, "ctr");
      const n = typeof v === "string" && /^\d{1,16}$/.test(v) ? Number(v) : 0;
      return n <= 9007199254740991 ? n : 0;
    } catch (e) {
      if (isPowerLoss(e)) throw e;
      return 0;
    }
  }

  #readSlot(slot: number, length: number): Uint8Array | string {
    const prefix = SLOT_PREFIX[slot];
    const size = this.chunkBytes;
    const chunks = Math.ceil(length / size);
    const out = new Uint8Array(length);
    for (let i = 0; i < chunks; i++) {
      const c = this.storage.get(this.namespace, prefix + i);
      const want = Math.min(size, length - i * size);
      if (!(c instanceof ArrayBuffer)) return `slot ${prefix.toUpperCase()} chunk ${i} is missing`;
      if (c.byteLength !== want) return `slot ${prefix.toUpperCase()} chunk ${i} has ${c.byteLength} bytes, not ${want}`;
      out.set(new Uint8Array(c), i * size);
    }
    return out;
  }

  #corrupt(reason: string): LoadResult {
    return { config: defaultConfig(this.context), status: "corrupt", message: `stored configuration unusable (${reason}): running on defaults`, counter: this.#counter };
  }

  #migrateLegacy(legacy: unknown): LoadResult {
    let doc: unknown;
    try {
      doc = typeof legacy === "string" ? JSON.parse(legacy) : undefined;
    } catch {
      doc = undefined;
    }
    if (!doc || (doc as { version?: unknown }).version !== 1) return this.#corrupt('the version 1 "config" entry does not parse');
    const v = validateConfig(doc, this.context);
    if (!v.ok) return this.#corrupt("version 1 configuration cannot be migrated: " + v.errors.map((e) => e.message).join("; "));
    // Write the migrated document in the new layout, then drop the old entry.
    this.save(v.config, 0);
    this.#tidy(() => this.storage.delete(this.namespace, "config"));
    return { config: v.config, status: "migrated", message: "configuration migrated from version 1 to 2", counter: this.#counter };
  }
}
