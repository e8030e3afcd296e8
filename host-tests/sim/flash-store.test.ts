// @xs
import { StorageError } from "../../modules/platform/storage";
import { FlashStore, PowerLossError, StorageFullError, entryCost } from "../../sim/flash-store";

function bytes(...values: number[]): ArrayBuffer {
  return new Uint8Array(values).buffer;
}

describe("FlashStore: NVS semantics", () => {
  it("stores int32, string, boolean and ArrayBuffer values per namespace", () => {
    const store = new FlashStore();
    store.set("net", "port", 1883);
    store.set("net", "host", "broker.local");
    store.set("net", "tls", true);
    store.set("keys", "psk", bytes(1, 2, 3));
    expect(store.get("net", "port")).toBe(1883);
    expect(store.get("net", "host")).toBe("broker.local");
    expect(store.get("net", "tls")).toBe(true);
    expect(Array.from(new Uint8Array(store.get("keys", "psk") as ArrayBuffer))).toEqual([1, 2, 3]);
    expect(store.get("net", "missing")).toBeUndefined();
    expect(store.keys("net")).toEqual(["host", "port", "tls"]);
    expect(store.keys("empty")).toEqual([]);
    expect(store.namespaces()).toEqual(["keys", "net"]);
  });

  it("copies ArrayBuffers in and out (no aliasing)", () => {
    const store = new FlashStore();
    const original = new Uint8Array([9, 9, 9]);
    store.set("k", "blob", original.buffer);
    original[0] = 1;
    const out = new Uint8Array(store.get("k", "blob") as ArrayBuffer);
    expect(out[0]).toBe(9);
    out[1] = 2;
    expect(new Uint8Array(store.get("k", "blob") as ArrayBuffer)[1]).toBe(9);
  });

  it.each([
    ["a namespace longer than 15 characters", "namespace_is_16c", "k", 1, "longer than 15"],
    ["a key longer than 15 characters", "ns", "key_is_sixteen_c", 1, "longer than 15"],
    ["an empty key", "ns", "", 1, "non-empty"],
    ["a non-integer", "ns", "k", 1.5, "32-bit integer"],
    ["an integer beyond int32", "ns", "k", 2147483648, "32-bit integer"],
    ["null", "ns", "k", null, "got null"],
    ["an object", "ns", "k", { a: 1 }, "got Object"],
    ["a Uint8Array (views are not stored)", "ns", "k", new Uint8Array(2), "got Uint8Array"],
    ["a string over 4000 bytes", "ns", "k", "x".repeat(4001), "longer than 4000"],
    ["an ArrayBuffer over 4000 bytes", "ns", "k", new ArrayBuffer(4001), "longer than 4000"],
  ])("rejects %s with a StorageError and changes nothing", (_what, ns, key, value, message) => {
    const store = new FlashStore();
    store.set("ns", "k", 7);
    const writes = store.writes;
    expect(() => store.set(ns as string, key as string, value as never)).toThrow(StorageError);
    expect(() => store.set(ns as string, key as string, value as never)).toThrow(message as string);
    expect(store.get("ns", "k")).toBe(7);
    expect(store.writes).toBe(writes);
  });

  it("accepts the limits exactly: 15-character names, 4000-byte values, int32 bounds", () => {
    const store = new FlashStore();
    store.set("fifteen_chars_n", "fifteen_chars_k", -2147483648);
    store.set("ns", "max", 2147483647);
    store.set("ns", "s", "y".repeat(4000));
    store.set("ns", "b", new ArrayBuffer(4000));
    expect(store.get("fifteen_chars_n", "fifteen_chars_k")).toBe(-2147483648);
    expect((store.get("ns", "s") as string).length).toBe(4000);
  });

  it("counts a multi-byte UTF-8 string by its bytes", () => {
    const store = new FlashStore();
    expect(() => store.set("ns", "k", "é".repeat(2001))).toThrow("longer than 4000");
    store.set("ns", "k", "é".repeat(2000));
  });

  it("delete removes a key; deleting a missing key is not an error", () => {
    const store = new FlashStore();
    store.set("ns", "a", 1);
    store.delete("ns", "a");
    store.delete("ns", "a");
    store.delete("other", "x");
    expect(store.get("ns", "a")).toBeUndefined();
    expect(store.erases).toBe(1);
    expect(store.used).toBe(0);
  });

  it("a namespace whose last key is deleted is gone (listing, image, its entry's bytes) and comes back when written again", () => {
    const store = new FlashStore();
    store.set("a", "k", 1);
    store.set("b", "k", 2);
    const withBoth = store.used;
    store.delete("a", "k");
    expect(store.namespaces()).toEqual(["b"]);
    expect(Object.keys(store.image())).toEqual(["b"]);
    expect(store.keys("a")).toEqual([]);
    expect(store.used).toBe(withBoth - 64); // the key's entry and the namespace's
    store.set("a", "j", 3);
    expect(store.namespaces()).toEqual(["a", "b"]);
    expect(store.image()).toEqual({ a: { j: 3 }, b: { k: 2 } });
    expect(store.used).toBe(withBoth);
  });

  it("namespace and key names that are Object.prototype keys or digits are ordinary names, in the image too", () => {
    const store = new FlashStore();
    for (const ns of ["__proto__", "constructor", "0", "toString"]) store.set(ns, "k", ns);
    store.set("ns", "__proto__", 7);
    expect(store.image().ns).toEqual({ ["__proto__"]: 7 });
    expect(store.namespaces()).toEqual(["0", "__proto__", "constructor", "ns", "toString"]);
    expect(store.get("__proto__", "k")).toBe("__proto__");
    expect(store.get("hasOwnProperty", "k")).toBeUndefined();
    const copy = new FlashStore();
    copy.load(store.image());
    expect(copy.get("constructor", "k")).toBe("constructor");
    expect(copy.namespaces()).toEqual(store.namespaces());
    expect(copy.get("ns", "__proto__")).toBe(7);
  });
});

describe("FlashStore: a namespace's keys (a small array, a Map past eight keys)", () => {
  it("a namespace grows past eight keys and shrinks back with every value, listing and byte count right", () => {
    const store = new FlashStore();
    for (let i = 0; i < 12; i++) store.set("big", "k" + i, i * 10);
    expect(store.keys("big")).toEqual(Array.from({ length: 12 }, (_, i) => "k" + i).sort());
    for (let i = 0; i < 12; i++) expect(store.get("big", "k" + i)).toBe(i * 10);
    expect(store.used).toBe(32 * 13);
    for (let i = 0; i < 11; i++) store.delete("big", "k" + i);
    expect(store.keys("big")).toEqual(["k11"]);
    expect(store.get("big", "k3")).toBeUndefined();
    store.delete("big", "k11");
    expect(store.namespaces()).toEqual([]);
    expect(store.used).toBe(0);
  });

  it("a string value equal to another key's name is a value, not a key (set, get, delete, image)", () => {
    const store = new FlashStore();
    store.set("ns", "a", "b");
    store.set("ns", "b", "a");
    store.set("ns", "a", "c");
    expect(store.get("ns", "a")).toBe("c");
    expect(store.get("ns", "b")).toBe("a");
    store.delete("ns", "b");
    expect(store.keys("ns")).toEqual(["a"]);
    expect(store.get("ns", "a")).toBe("c");
    store.set("ns", "x", "a");
    store.delete("ns", "a");
    expect(store.image()).toEqual({ ns: { x: "a" } });
  });

  it("keeps the order keys were first set in the image; load() of a large namespace round-trips", () => {
    const store = new FlashStore();
    store.set("ns", "z", 1);
    store.set("ns", "a", 2);
    store.set("ns", "z", 3);
    expect(Object.keys(store.image().ns)).toEqual(["z", "a"]);
    const image: { [k: string]: number } = {};
    for (let i = 0; i < 20; i++) image["key" + i] = i;
    const other = new FlashStore();
    other.load({ ns: image });
    expect(other.image()).toEqual({ ns: image });
    expect(other.get("ns", "key19")).toBe(19);
  });
});

describe("FlashStore: capacity", () => {
  it("charges NVS 32-byte entries: one per namespace and scalar, header + data for strings and blobs", () => {
    expect(entryCost(5)).toBe(32);
    expect(entryCost(true)).toBe(32);
    expect(entryCost("")).toBe(64);
    expect(entryCost("x".repeat(31))).toBe(64);
    expect(entryCost("x".repeat(32))).toBe(96);
    expect(entryCost(new ArrayBuffer(32))).toBe(64);
    const store = new FlashStore();
    store.set("ns", "a", 1);
    expect(store.used).toBe(64);
    store.set("ns", "b", "hello");
    expect(store.used).toBe(128);
  });

  it("throws a StorageFullError when a write does not fit, and keeps the old value", () => {
    const store = new FlashStore({ capacity: 32 * 10 });
    store.set("ns", "blob", new ArrayBuffer(32 * 7)); // 1 ns + 8 entries = 288 bytes
    expect(() => store.set("ns", "more", 1 + 1)).not.toThrow(); // 320: exactly full
    expect(() => store.set("ns", "x", 3)).toThrow(StorageFullError);
    expect(() => store.set("ns", "x", 3)).toThrow("flash store full");
    expect(store.get("ns", "x")).toBeUndefined();
    // replacing a value with a larger one counts only the difference
    expect(() => store.set("ns", "blob", new ArrayBuffer(32 * 8))).toThrow(StorageFullError);
    expect((store.get("ns", "blob") as ArrayBuffer).byteLength).toBe(224);
    store.delete("ns", "more");
    store.set("ns", "x", 3);
    expect(store.used).toBe(320);
  });

  it("rejects a bad capacity", () => {
    expect(() => new FlashStore({ capacity: 0 })).toThrow(RangeError);
    expect(() => new FlashStore({ capacity: 1.5 })).toThrow(RangeError);
  });
});

describe("FlashStore: power-loss injection", () => {
  it("failAfter(n): n mutations pass, the next throws PowerLossError without applying it", () => {
    const store = new FlashStore();
    store.failAfter(2);
    store.set("cfg", "a", 1);
    store.set("cfg", "b", 2);
    expect(() => store.set("cfg", "c", 3)).toThrow(PowerLossError);
    store.powerOn();
    expect(store.get("cfg", "a")).toBe(1);
    expect(store.get("cfg", "b")).toBe(2);
    expect(store.get("cfg", "c")).toBeUndefined();
    expect(store.powerLosses).toBe(1);
  });

  it("with apply: true the failing write reaches flash but the caller still sees the power loss", () => {
    const store = new FlashStore();
    store.failAfter(0, { apply: true });
    expect(() => store.set("cfg", "a", 1)).toThrow(PowerLossError);
    store.powerOn();
    expect(store.get("cfg", "a")).toBe(1);
  });

  it("counts deletes as mutations too", () => {
    const store = new FlashStore();
    store.set("cfg", "a", 1);
    store.failAfter(0);
    expect(() => store.delete("cfg", "a")).toThrow(PowerLossError);
    store.powerOn();
    expect(store.get("cfg", "a")).toBe(1);
  });

  it("refuses every operation while powered off, until powerOn()", () => {
    const store = new FlashStore();
    store.failAfter(0);
    expect(() => store.set("cfg", "a", 1)).toThrow(PowerLossError);
    expect(store.powered).toBe(false);
    expect(() => store.get("cfg", "a")).toThrow("powered off");
    expect(() => store.keys("cfg")).toThrow(PowerLossError);
    expect(() => store.delete("cfg", "a")).toThrow(PowerLossError);
    expect(() => store.set("cfg", "a", 1)).toThrow(PowerLossError);
    store.powerOn();
    expect(store.powered).toBe(true);
    store.set("cfg", "a", 1);
    expect(store.get("cfg", "a")).toBe(1);
  });

  it("invalid input does not consume the failure budget", () => {
    const store = new FlashStore();
    store.failAfter(1);
    expect(() => store.set("cfg", "k", 1.5)).toThrow(StorageError);
    store.set("cfg", "a", 1);
    expect(() => store.set("cfg", "b", 2)).toThrow(PowerLossError);
  });

  it("cancelFailure() disarms it; failAfter rejects a bad count", () => {
    const store = new FlashStore();
    store.failAfter(0);
    store.cancelFailure();
    store.set("cfg", "a", 1);
    expect(() => store.failAfter(-1)).toThrow(RangeError);
  });
});

describe("FlashStore: wear counter, image", () => {
  it("counts writes and skips rewriting an identical value (as NVS does)", () => {
    const store = new FlashStore();
    store.set("ns", "a", 1);
    store.set("ns", "a", 1);
    store.set("ns", "a", 2);
    store.set("ns", "b", bytes(1, 2));
    store.set("ns", "b", bytes(1, 2));
    expect(store.writes).toBe(3);
  });

  it("a store never written to reads empty everywhere; erase() then set() works again", () => {
    const store = new FlashStore();
    expect(store.get("ns", "k")).toBeUndefined();
    expect(store.keys("ns")).toEqual([]);
    expect(store.namespaces()).toEqual([]);
    expect(store.image()).toEqual({});
    store.delete("ns", "k");
    expect(store.erases).toBe(0);
    store.set("ns", "k", 1);
    store.erase();
    expect(store.namespaces()).toEqual([]);
    expect(store.used).toBe(0);
    store.set("ns", "k", 2);
    expect(store.get("ns", "k")).toBe(2);
    expect(store.used).toBe(64); // namespace entry + integer entry
  });

  it("image() and load() round-trip; load validates everything first", () => {
    const a = new FlashStore();
    a.set("ns", "n", 5);
    a.set("ns", "blob", bytes(4, 5));
    const b = new FlashStore();
    b.set("old", "k", 1);
    b.load(a.image());
    expect(b.get("ns", "n")).toBe(5);
    expect(Array.from(new Uint8Array(b.get("ns", "blob") as ArrayBuffer))).toEqual([4, 5]);
    expect(b.get("old", "k")).toBeUndefined();
    expect(b.used).toBe(a.used);
    expect(() => b.load({ ns: { k: 1.5 } })).toThrow(StorageError);
    expect(b.get("ns", "n")).toBe(5);
  });
});
