/*
 * The flash store of ../flash-store.ts persisted to a JSON file, so a
 * simulated device keeps its configuration across runs of the simulator. Every
 * change that reaches "flash" rewrites the file atomically: write a temporary
 * file, fsync it, rename it over the old one (rename is atomic on POSIX), so a
 * crash of the simulator leaves the old or the new content, never half.
 *
 * File format (version 1):
 *   {"format":"xs-iot-flash","version":1,"capacity":20480,
 *    "namespaces":{"ns":{"key":{"t":"i","v":42}}}}
 * with t = "i" (int32), "s" (string), "b" (boolean), "a" (ArrayBuffer, v in base64).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { FlashStore } from "../flash-store";
import type { FlashImage, FlashStoreOptions } from "../flash-store";
import type { StoredValue } from "../../modules/platform/storage";
import { StorageError } from "../../modules/platform/storage";

type Encoded = { t: "i" | "s" | "b" | "a"; v: number | string | boolean };

function encode(value: StoredValue): Encoded {
  if (value instanceof ArrayBuffer) return { t: "a", v: Buffer.from(value).toString("base64") };
  if (typeof value === "number") return { t: "i", v: value };
  if (typeof value === "boolean") return { t: "b", v: value };
  return { t: "s", v: value };
}

function decode(e: Encoded, where: string): StoredValue {
  if (!e || typeof e !== "object") throw new StorageError(`flash file: bad entry at ${where}`);
  switch (e.t) {
    case "i":
      if (typeof e.v === "number") return e.v;
      break;
    case "s":
      if (typeof e.v === "string") return e.v;
      break;
    case "b":
      if (typeof e.v === "boolean") return e.v;
      break;
    case "a":
      if (typeof e.v === "string") {
        const b = Buffer.from(e.v, "base64");
        return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
      }
      break;
  }
  throw new StorageError(`flash file: bad entry at ${where}`);
}

export class FileFlashStore extends FlashStore {
  readonly file: string;
  /** Times the file was rewritten. */
  fileWrites = 0;

  /** Opens `file` (created on the first write if absent). A corrupt file throws a StorageError. */
  constructor(file: string, options: FlashStoreOptions = {}) {
    super(options);
    this.file = path.resolve(file);
    let text: string | undefined;
    try {
      text = fs.readFileSync(this.file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    if (text !== undefined) this.load(FileFlashStore.parse(text, this.file));
  }

  static parse(text: string, file = "flash file"): FlashImage {
    let doc: any;
    try {
      doc = JSON.parse(text);
    } catch (error) {
      throw new StorageError(`${file}: not valid JSON (${(error as Error).message})`);
    }
    if (!doc || doc.format !== "xs-iot-flash" || doc.version !== 1 || typeof doc.namespaces !== "object" || !doc.namespaces)
      throw new StorageError(`${file}: not an xs-iot flash image (format/version)`);
    const image: FlashImage = {};
    for (const ns of Object.keys(doc.namespaces)) {
      image[ns] = {};
      for (const key of Object.keys(doc.namespaces[ns])) image[ns][key] = decode(doc.namespaces[ns][key], `${ns}/${key}`);
    }
    return image;
  }

  protected override commit(): void {
    const image = this.image();
    const namespaces: { [ns: string]: { [key: string]: Encoded } } = {};
    for (const ns of Object.keys(image)) {
      namespaces[ns] = {};
      for (const key of Object.keys(image[ns])) namespaces[ns][key] = encode(image[ns][key]);
    }
    const text = JSON.stringify({ format: "xs-iot-flash", version: 1, capacity: this.capacity, namespaces });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const fd = fs.openSync(tmp, "w");
    try {
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
    this.fileWrites++;
  }
}
