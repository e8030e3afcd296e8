export type * from "./io";
export type { Clock, TimerHandle } from "./clock";
export type { KeyValueStore, StoredValue } from "./storage";
export { StorageError, checkStorageEntry, MAX_NAME_LENGTH, MAX_VALUE_BYTES } from "./storage";
export type { RtcMemory, Power, WakeCause, Crypto } from "./system";
export type { Platform, PlatformIo } from "./platform";
