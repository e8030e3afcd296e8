/**
 * The runtime half of the preload check: the XS runner makes every device module's objects
 * what a Moddable build that preloads it makes them, right after the module's body ran, so a
 * test that drives the module afterwards meets what the device meets.
 *
 * What preloading does (the XS linker, xs/tools/xsl.c and xslSlot.c of the Moddable SDK 8.2,
 * and documentation/xs/preload.md, "XS linker warnings.md"): the modules run at build time and
 * what they hold goes to flash. Then
 *  - every function, class constructors included, and every class's `prototype` are frozen
 *    (so a prototype or a static property cannot change after load);
 *  - Map, Set, WeakMap, WeakSet, ArrayBuffer, DataView and typed arrays are read-only: `set`,
 *    `add`, `delete`, `clear` throw ("read-only WeakMap instance"), and so does any write to
 *    a buffer ("read-only buffer");
 *  - other objects and module variables are "aliased": their first change copies them to RAM
 *    (4 bytes of RAM apiece even unchanged; the linker warns "not frozen" / "no const");
 *    JSON.stringify refuses a preloaded object ("read only value").
 *
 * Here, for each module's own top-level bindings (host-tests/xs/run.js appends the call to every
 * device module, tools/check-preload.js says which), everything reachable is:
 *  - frozen, deeply: functions, prototypes, plain objects and arrays alike. Stricter than the
 *    device for plain objects, which it would alias; the project's rule (no module-level mutable
 *    state, docs/conventions.md) wants them unchanged, and the static check cannot see every write;
 *  - for Map/Set/WeakMap/WeakSet: their mutators throw TypeError "read-only <Kind> instance";
 *  - for buffers (xsnap cannot make one read-only): their bytes are copied, and after every test
 *    the harness compares (verifyPreloaded): a buffer written fails that test with "read-only
 *    buffer", naming the module and the binding;
 *  - plain objects and arrays get a non-enumerable toJSON that throws "read only value", as
 *    JSON.stringify does with a preloaded object on the device (not a class's prototype: the
 *    instances made at run time would inherit it, where the device stringifies them).
 * Not reachable from here: objects held only in private fields (#x) of a module-level instance
 * (no reflection reaches them; the device makes them read-only too). Module `let`s cannot be
 * frozen at run time; tools/check-preload.js refuses them.
 */

type Hook = (module: string, names: string[], values: unknown[]) => void;

interface Snapshot {
  where: string;
  bytes: Uint8Array;
  copy: Uint8Array;
}

const done = new WeakSet<object>();
const snapshots: Snapshot[] = [];

const READ_ONLY: [new (...a: any[]) => object, string, string[]][] = [
  [Map, "Map", ["set", "delete", "clear"]],
  [WeakMap, "WeakMap", ["set", "delete"]],
  [Set, "Set", ["add", "delete", "clear"]],
  [WeakSet, "WeakSet", ["add", "delete"]],
];

function readOnly(kind: string): () => never {
  return function readOnlyInstance(): never {
    throw new TypeError("read-only " + kind + " instance (preloaded)");
  };
}

function refuseJson(): never {
  throw new TypeError("read only value (JSON.stringify of a preloaded object)");
}

function bytesOf(v: object): Uint8Array | undefined {
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return undefined;
}

/** Marks the objects of intrinsics (already frozen by lockdown.ts) as done, so they are not walked again. */
export function alreadyFrozen(values: Iterable<object>): void {
  for (const v of values) done.add(v);
}

function harden(root: unknown, where: string): void {
  const todo: [unknown, string][] = [[root, where]];
  while (todo.length) {
    const [v, at] = todo.pop()!;
    if ((typeof v !== "object" && typeof v !== "function") || v === null || done.has(v) || v === globalThis) continue;
    done.add(v);
    const bytes = bytesOf(v);
    if (bytes) {
      snapshots.push({ where: at, bytes, copy: bytes.slice() });
      Object.preventExtensions(v); // a non-empty typed array cannot be frozen in standard JS
      continue;
    }
    for (const [ctor, kind, methods] of READ_ONLY) {
      if (v instanceof ctor) for (const m of methods) Object.defineProperty(v, m, { value: readOnly(kind) });
    }
    const proto = Object.getPrototypeOf(v);
    // Not on a class's prototype: its instances, made at run time in RAM, would inherit it, and XS
    // refuses only an object itself in flash (xsJSON.c: the XS_MARK_FLAG of the instance).
    const ctor = Object.prototype.hasOwnProperty.call(v, "constructor") ? (v as { constructor: unknown }).constructor : undefined;
    const classPrototype = typeof ctor === "function" && ctor.prototype === v;
    if (typeof v === "object" && (Array.isArray(v) || proto === Object.prototype || proto === null) && !classPrototype && !Object.isFrozen(v)) {
      Object.defineProperty(v, "toJSON", { value: refuseJson });
    }
    Object.freeze(v);
    todo.push([proto, at + ".__proto__"]);
    for (const key of Reflect.ownKeys(v)) {
      const d = Object.getOwnPropertyDescriptor(v, key)!;
      const name = at + (typeof key === "symbol" ? "[" + String(key) + "]" : "." + key);
      if ("value" in d) todo.push([d.value, name]);
      else todo.push([d.get, name], [d.set, name]);
    }
  }
}

/** Hardens the top-level bindings of one module (called at the end of its body). */
export const preloaded: Hook = (module, names, values) => {
  for (let i = 0; i < names.length; i++) harden(values[i], module + ": " + names[i]);
};

/**
 * Problems since the last call: every preloaded buffer whose bytes changed (then its copy is
 * refreshed, so the next test is judged on its own).
 */
export function verifyPreloaded(): string[] {
  const out: string[] = [];
  for (const s of snapshots) {
    const { bytes, copy } = s;
    let i = 0;
    while (i < copy.length && bytes[i] === copy[i]) i++;
    if (i < copy.length || bytes.length !== copy.length) {
      out.push(`read-only buffer: ${s.where} was written (byte ${i}) after load; preloaded on the device this write throws`);
      s.copy = bytes.slice();
    }
  }
  return out;
}

const g = globalThis as unknown as { __xsPreload?: Hook; __xsPreloadVerify?: () => string[] };
g.__xsPreload = preloaded;
g.__xsPreloadVerify = verifyPreloaded;
