/*
 * KeyValueStore over Moddable's `preference` module (ESP-IDF NVS on ESP32, a
 * JSON file in the simulator). Every entry is validated first with
 * checkStorageEntry, so a bad name or value fails here exactly as it does in
 * the desktop simulator, before the host sees it; host failures (NVS full,
 * flash error) become StorageError too.
 */
import Preference from "preference";
import { StorageError, checkStorageEntry } from "../storage";
import type { KeyValueStore, StoredValue } from "../storage";

function hostError(what: string, namespace: string, key: string, error: unknown): StorageError {
  const detail = error instanceof Error ? error.message : String(error);
  return new StorageError(`${what} ${namespace}/${key} failed: ${detail}`);
}

export class PreferenceStore implements KeyValueStore {
  get(namespace: string, key: string): StoredValue | undefined {
    checkStorageEntry(namespace, key);
    const value = Preference.get(namespace, key);
    return value === null ? undefined : (value as StoredValue | undefined);
  }

  set(namespace: string, key: string, value: StoredValue): void {
    checkStorageEntry(namespace, key, value);
    try {
      Preference.set(namespace, key, value);
    } catch (error) {
      throw hostError("set", namespace, key, error);
    }
  }

  delete(namespace: string, key: string): void {
    checkStorageEntry(namespace, key);
    try {
      Preference.delete(namespace, key);
    } catch (error) {
      // ESP32 NVS reports a missing key as an error; deleting a missing key is not one for us.
      if (Preference.get(namespace, key) !== undefined) throw hostError("delete", namespace, key, error);
    }
  }

  keys(namespace: string): string[] {
    checkStorageEntry(namespace, "keys");
    try {
      return Preference.keys(namespace);
    } catch {
      return []; // an NVS namespace that was never written does not exist yet
    }
  }
}
