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

export class StorageError extends Error {
  constructor(message: string) {
    super(message);
  }
}
// On the prototype: `this.name = ...` throws where the intrinsics are frozen, as on a device (host-tests/xs/lockdown.ts).
Object.defineProperty(StorageError.prototype, "name", { value: "StorageError", writable: true, configurable: true });

function checkName(kind: string, name: unknown): void {
  if (typeof name !== "string" || name.length === 0)
    throw new StorageError(`${kind} must be a non-empty string`);
  if (name.length > MAX_NAME_LENGTH)
    throw new StorageError(`${kind} "${name}" is longer than ${MAX_NAME_LENGTH} characters`);
}

/**
 * Validates a namespace, key and value as flash would, throwing a StorageError
 * that names what is wrong. Shared by every KeyValueStore so they reject alike.
 */
export function checkStorageEntry(namespace: unknown, key: unknown, value?: unknown): void {
  checkName("namespace", namespace);
  checkName("key", key);
  if (arguments.length < 3) return;
  switch (typeof value) {
    case "boolean":
      return;
    case "number":
      if (!Number.isInteger(value) || (value as number) < -2147483648 || (value as number) > 2147483647)
        throw new StorageError(`value for "${key}" must be a 32-bit integer, got ${value}`);
      return;
    case "string":
      let bytes: number;
      try {
        bytes = utf8Length(value as string);
      } catch {
        throw new StorageError(`string for "${key}" is not valid Unicode (lone surrogate)`);
      }
      if (bytes > MAX_VALUE_BYTES)
        throw new StorageError(`string for "${key}" is longer than ${MAX_VALUE_BYTES} bytes`);
      return;
    case "object":
      if (value instanceof ArrayBuffer) {
        if (value.byteLength > MAX_VALUE_BYTES)
          throw new StorageError(`ArrayBuffer for "${key}" is longer than ${MAX_VALUE_BYTES} bytes`);
        return;
      }
      break;
  }
  const what = value === null ? "null" : typeof value === "object" ? (value as object).constructor?.name ?? "object" : typeof value;
  throw new StorageError(`value for "${key}" must be an integer, string, boolean or ArrayBuffer, got ${what}`);
}
