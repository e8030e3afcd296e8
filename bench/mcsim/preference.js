/*
 * `preference` for the memory runs of tools/mcsim-memory.js in Moddable's simulator: one file
 * per entry under the simulator's file root, read when asked for, nothing kept in the XS heap.
 *
 * Why: on an ESP32 the SDK's `preference` is NVS, entries in flash that cost the XS heap
 * nothing between calls. The lin `preference` keeps every entry in one object in the heap
 * (a binary value as a decimal string, four bytes of text per byte) and, at every change,
 * writes them all out as one JSON string: with the app's configuration, its TLS CA and its
 * MQTT outbox stored, that string alone is ~22 KB, one chunk ("Chunk allocation: 22736 bytes
 * failed" in a 78,848-byte heap), which the device never allocates. Measuring the app with
 * it would measure the simulator's storage. This module gives the lin build the NVS shape
 * (get/set/delete/keys by domain and key; numbers, strings, booleans and ArrayBuffers), so
 * what the run measures is the app's own memory. Not part of the firmware.
 *
 * A file holds one entry: a type letter (n number, s string, b boolean, a ArrayBuffer), then
 * the value (decimal text, the string, "1"/"0", or the raw bytes).
 */
import { File, Iterator, Directory } from "file";
import config from "mc/config";

const DIR = config.file.root + "xs-iot-mcsim-prefs/";

function path(domain, key) {
  return DIR + domain + "." + key;
}

export default class Preference {
  static set(domain, key, value) {
    const p = path(domain, key);
    Directory.create(DIR);
    if (File.exists(p)) File.delete(p);
    const f = new File(p, true);
    try {
      if (value instanceof ArrayBuffer) f.write("a", value);
      else if (typeof value === "string") f.write("s" + value);
      else if (typeof value === "number") f.write("n" + String(value));
      else if (typeof value === "boolean") f.write(value ? "b1" : "b0");
      else throw new TypeError("preference: unsupported value type " + typeof value);
    } finally {
      f.close();
    }
  }

  static get(domain, key) {
    const p = path(domain, key);
    if (!File.exists(p)) return undefined;
    const f = new File(p, false);
    try {
      const type = f.read(String, 1);
      const rest = f.length - 1;
      if (type === "a") return rest > 0 ? f.read(ArrayBuffer, rest) : new ArrayBuffer(0);
      const text = rest > 0 ? f.read(String, rest) : "";
      if (type === "s") return text;
      if (type === "n") return Number(text);
      if (type === "b") return text === "1";
      return undefined;
    } finally {
      f.close();
    }
  }

  static delete(domain, key) {
    const p = path(domain, key);
    if (File.exists(p)) File.delete(p);
  }

  static keys(domain) {
    const out = [];
    if (!File.exists(DIR)) return out;
    const prefix = domain + ".";
    // The SDK's lin iterator gives {name, length} per entry (length only for files).
    const entries = new Iterator(DIR);
    for (let e = entries.next(); e !== undefined; e = entries.next()) if (e.length !== undefined && e.name.startsWith(prefix)) out.push(e.name.slice(prefix.length));
    return out;
  }
}
