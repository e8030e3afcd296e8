/*
 * RtcMemory, Power and Crypto on Moddable, over our native module (./native:
 * esp32/native.c on the device, lin/native.c in the simulator) and Moddable's
 * `crypt` Digest for SHA-256.
 */
import { Digest } from "crypt";
import { deepSleep, lightSleep, randomFill, restart, rtcByteLength, rtcRead, rtcWrite, setWakePins, wakeCause } from "./native";
import type { Crypto, LightSleepEnd, Power, RtcMemory, WakeCause } from "../system";

const WAKE_CAUSES: readonly string[] = ["power-on", "deep-sleep", "restart", "watchdog", "external"];

function checkRange(what: string, offset: number, length: number, size: number): void {
  if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > size)
    throw new RangeError(`rtc ${what}: [${offset}, ${offset}+${length}) is outside the ${size}-byte region`);
}

export class NativeRtcMemory implements RtcMemory {
  readonly byteLength: number = rtcByteLength();

  read(offset: number, length: number): Uint8Array {
    checkRange("read", offset, length, this.byteLength);
    const out = new Uint8Array(length);
    if (length) rtcRead(offset, out);
    return out;
  }

  write(offset: number, data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) throw new TypeError("rtc write: data must be a Uint8Array");
    checkRange("write", offset, data.byteLength, this.byteLength);
    if (data.byteLength) rtcWrite(offset, data);
  }
}

export class NativePower implements Power {
  readonly wakeCause: WakeCause;

  constructor() {
    const cause = wakeCause();
    this.wakeCause = (WAKE_CAUSES.indexOf(cause) >= 0 ? cause : "power-on") as WakeCause;
  }

  deepSleep(durationMs: number): never {
    if (typeof durationMs !== "number" || !(durationMs > 0) || !Number.isFinite(durationMs))
      throw new RangeError(`deepSleep: duration must be a positive number of milliseconds, got ${durationMs}`);
    return deepSleep(Math.ceil(durationMs * 1000));
  }

  restart(): never {
    return restart();
  }

  /**
   * With `keepWifi` nothing to do here: the chip light-sleeps by itself between DTIM beacons
   * when the app is idle (ESP-IDF automatic light sleep: CONFIG_PM_ENABLE and
   * esp_pm_configure with light_sleep_enable, a build setting; docs/moddable.md). Without,
   * the native module stops Wi-Fi, sleeps, starts it again: the app has closed its links.
   */
  lightSleep(durationMs: number, keepWifi: boolean): LightSleepEnd {
    if (typeof durationMs !== "number" || !(durationMs >= 0) || !Number.isFinite(durationMs))
      throw new RangeError(`lightSleep: duration must be a finite number of milliseconds >= 0, got ${durationMs}`);
    if (keepWifi) return "kept";
    if (durationMs < 1) return "timer";
    const end = lightSleep(Math.ceil(durationMs * 1000));
    return end === "pin" || end === "deferred" ? end : "timer";
  }

  setWakePins(pins: readonly number[], level: 0 | 1): void {
    if (level !== 0 && level !== 1) throw new RangeError("setWakePins: level must be 0 or 1");
    let low = 0;
    let high = 0;
    for (const p of pins) {
      if (!Number.isInteger(p) || p < 0 || p > 63) throw new RangeError(`setWakePins: ${p} is not a GPIO number`);
      if (p < 32) low |= 1 << p;
      else high |= 1 << (p - 32);
    }
    setWakePins(low >>> 0, high >>> 0, level);
  }
}

/** Bytes of a Uint8Array as an ArrayBuffer of exactly that range (Digest.write takes ArrayBuffers). */
function exactBuffer(bytes: Uint8Array): ArrayBuffer {
  const buffer = bytes.buffer as ArrayBuffer;
  return bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength
    ? buffer
    : buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
}

const SHA256_BLOCK = 64;

export class ModdableCrypto implements Crypto {
  #digest = new Digest("SHA256");

  randomFill(buffer: Uint8Array): Uint8Array {
    if (!(buffer instanceof Uint8Array)) throw new TypeError("randomFill: buffer must be a Uint8Array");
    if (buffer.byteLength) randomFill(buffer);
    return buffer;
  }

  /** RFC 2104 §2: H(K XOR opad, H(K XOR ipad, text)), B = 64 bytes for SHA-256. */
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
    if (!(key instanceof Uint8Array) || !(data instanceof Uint8Array))
      throw new TypeError("hmacSha256: key and data must be Uint8Arrays");
    const digest = this.#digest;
    // RFC 2104 §2: keys longer than B are hashed first.
    let k = key;
    if (k.byteLength > SHA256_BLOCK) {
      digest.reset();
      digest.write(exactBuffer(k));
      k = new Uint8Array(digest.close());
    }
    const pad = new Uint8Array(SHA256_BLOCK);
    pad.set(k);
    for (let i = 0; i < SHA256_BLOCK; i++) pad[i] ^= 0x36; // ipad
    digest.reset();
    digest.write(pad.buffer);
    digest.write(exactBuffer(data));
    const inner = digest.close();
    for (let i = 0; i < SHA256_BLOCK; i++) pad[i] ^= 0x36 ^ 0x5c; // ipad -> opad
    digest.reset();
    digest.write(pad.buffer);
    digest.write(inner);
    return new Uint8Array(digest.close());
  }
}
