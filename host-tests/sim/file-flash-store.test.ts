import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { StorageError } from "../../modules/platform/storage";
import { PowerLossError, StorageFullError } from "../../sim/flash-store";
import { FileFlashStore } from "../../sim/node/file-flash-store";

describe("FileFlashStore: the flash store persisted to a file", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "xs-iot-flash-"));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("keeps every value type across re-opening", () => {
    const file = path.join(dir, "nvs.json");
    const a = new FileFlashStore(file);
    a.set("cfg", "n", -5);
    a.set("cfg", "s", "héllo");
    a.set("cfg", "b", false);
    a.set("keys", "psk", Uint8Array.of(0, 255, 7).buffer);
    const b = new FileFlashStore(file);
    expect(b.get("cfg", "n")).toBe(-5);
    expect(b.get("cfg", "s")).toBe("héllo");
    expect(b.get("cfg", "b")).toBe(false);
    expect(Array.from(new Uint8Array(b.get("keys", "psk") as ArrayBuffer))).toEqual([0, 255, 7]);
    expect(b.used).toBe(a.used);
  });

  it("writes atomically through a temporary file and rename (no temp file left)", () => {
    const file = path.join(dir, "sub", "nvs.json");
    const store = new FileFlashStore(file);
    store.set("cfg", "a", 1);
    store.delete("cfg", "a");
    expect(fs.readdirSync(path.dirname(file))).toEqual(["nvs.json"]);
    expect(store.fileWrites).toBe(2);
    expect(JSON.parse(fs.readFileSync(file, "utf8"))).toEqual({ format: "xs-iot-flash", version: 1, capacity: store.capacity, namespaces: {} });
  });

  it("does not touch the file for a rejected write or an identical rewrite", () => {
    const file = path.join(dir, "nvs.json");
    const store = new FileFlashStore(file, { capacity: 128 });
    store.set("cfg", "a", 1);
    const before = fs.readFileSync(file, "utf8");
    expect(() => store.set("cfg", "b", "x".repeat(100))).toThrow(StorageFullError);
    expect(() => store.set("cfg", "c", 0.5)).toThrow(StorageError);
    store.set("cfg", "a", 1);
    expect(fs.readFileSync(file, "utf8")).toBe(before);
    expect(store.fileWrites).toBe(1);
  });

  it("power loss before applying leaves the file as it was; after applying, the file has the write", () => {
    const file = path.join(dir, "nvs.json");
    const store = new FileFlashStore(file);
    store.set("cfg", "a", 1);
    store.failAfter(0);
    expect(() => store.set("cfg", "a", 2)).toThrow(PowerLossError);
    expect(new FileFlashStore(file).get("cfg", "a")).toBe(1);
    store.powerOn();
    store.failAfter(0, { apply: true });
    expect(() => store.set("cfg", "a", 3)).toThrow(PowerLossError);
    expect(new FileFlashStore(file).get("cfg", "a")).toBe(3);
  });

  it("refuses a corrupt or foreign file with a clear StorageError", () => {
    const file = path.join(dir, "nvs.json");
    fs.writeFileSync(file, "{not json");
    expect(() => new FileFlashStore(file)).toThrow("not valid JSON");
    fs.writeFileSync(file, JSON.stringify({ format: "other" }));
    expect(() => new FileFlashStore(file)).toThrow("not an xs-iot flash image");
    fs.writeFileSync(file, JSON.stringify({ format: "xs-iot-flash", version: 1, namespaces: { cfg: { k: { t: "i", v: "x" } } } }));
    expect(() => new FileFlashStore(file)).toThrow(StorageError);
    fs.writeFileSync(file, JSON.stringify({ format: "xs-iot-flash", version: 1, namespaces: { cfg: { k: { t: "i", v: 1.5 } } } }));
    expect(() => new FileFlashStore(file)).toThrow("32-bit integer");
  });
});
