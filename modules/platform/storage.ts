/*
 * Key-value storage with the semantics of flash through ESP-IDF NVS, as
 * Moddable's `preference` module exposes it: a namespace and a key of at most
 * 15 characters each, and values that are integers, strings, booleans or
 * ArrayBuffers of at most 4000 bytes. One `set` is atomic (NVS writes an entry
 * whole or not at all); several `set`s are not, so callers that need a multi-key
 * transaction build it themselves (see modules/config).
 */
import { utf8Length } from "../bytes/utf8";

export type StoredValue = number | string | boolean | ArrayBuffer;

export interface KeyValueStore {
  get(namespace: string, key: string): StoredValue | undefined;
  /** Throws StorageError for a bad name, a bad value, or when the store is full. */
  set(namespace: string, key: string, value: StoredValue): void;
  /** Deleting a missing key is not an error. */
  delete(namespace: string, key: string): void;
  keys(namespace: string): string[];
}

export const MAX_NAME_LENGTH = 15;
export const MAX_VALUE_BYTES = 4000;

export class StorageError extends Error {}
// On the prototype: `this.name = ...` throws where the intrinsics are frozen, as on a device (host-tests/xs/lockdown.ts).
Object.defineProperty(StorageError.prototype, "name", { value: "StorageError", writable: true, configurable: true });

/**
 * Validates a namespace, key and value as flash would, throwing a StorageError
 * that names what is wrong. Shared by every KeyValueStore so they reject alike.
 */
export function checkStorageEntry(namespace: unknown, key: unknown, value?: unknown): void {
  let bad = "";
  // The namespace, then the key: non-empty strings of at most MAX_NAME_LENGTH characters.
  for (let i = 0; i < 2 && !bad; i++) {
    const name = i === 0 ? namespace : key;
    if (typeof name !== "string" || name.length === 0) bad = (i ? "key" : "namespace") + " must be a non-empty string";
    else if (name.length > MAX_NAME_LENGTH) bad = (i ? "key" : "namespace") + ' "' + name + '" is longer than ' + MAX_NAME_LENGTH + " characters";
  }
  if (!bad && arguments.length > 2) {
    const t = typeof value;
    const v = value as number;
    if (t === "number") {
      if (!(Number.isInteger(v) && v >= -2147483648 && v <= 2147483647)) bad = "must be a 32-bit integer, got " + v;
    } else if (t === "string" || value instanceof ArrayBuffer) {
      let n = 0;
      try {
        n = t === "string" ? utf8Length(value as string) : (value as ArrayBuffer).byteLength;
      } catch {
        bad = "is not valid Unicode (lone surrogate)";
      }
      if (n > MAX_VALUE_BYTES) bad = "is longer than " + MAX_VALUE_BYTES + " bytes";
    } else if (t !== "boolean") {
      bad = "must be an integer, string, boolean or ArrayBuffer, got " + (value === null ? "null" : t === "object" ? ((value as object).constructor?.name ?? "object") : t);
    }
    if (bad) bad = 'value for "' + String(key) + '" ' + bad;
  }
  if (bad) throw new StorageError(bad);
}
