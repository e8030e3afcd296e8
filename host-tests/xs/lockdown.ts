/**
 * Freezes the JavaScript intrinsics before a test file's modules load, as a Moddable build
 * has them: everything the XS linker preloads, the built-ins included, lives in flash and is
 * read-only. There, assigning a property that a frozen prototype holds as a data property
 * fails in strict code (the "override mistake", ECMA-262 OrdinarySet step 2.a): for example
 * `this.name = "MyError"` in an Error subclass's constructor throws "set name: not writable"
 * because Error.prototype.name is frozen. xsnap leaves the intrinsics writable, so without
 * this the XS tests would not see what the device sees.
 *
 * Deep: every object reachable from the standard globals through own properties (values,
 * getters and setters) and prototypes is frozen, including the prototypes only reachable that
 * way (%TypedArray%, iterator and generator prototypes). globalThis itself stays extensible
 * (the harness and the host add globals), as it is on a device.
 *
 * What a device module itself holds is frozen after its body ran, by host-tests/xs/preload.ts.
 */
import { alreadyFrozen } from "./preload";

const STANDARD = [
  "Object", "Function", "Array", "Number", "String", "Boolean", "Symbol", "BigInt", "Math", "JSON", "Reflect",
  "Promise", "Map", "Set", "WeakMap", "WeakSet", "WeakRef", "FinalizationRegistry", "ArrayBuffer", "DataView",
  "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array",
  "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array", "Date", "RegExp", "Proxy",
  "Error", "EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError", "URIError", "AggregateError",
  "TextEncoder", "TextDecoder",
];

function harden(root: unknown): number {
  const seen = new Set<object>();
  const todo: unknown[] = [root];
  while (todo.length) {
    const v = todo.pop();
    if ((typeof v !== "object" && typeof v !== "function") || v === null || seen.has(v)) continue;
    seen.add(v);
    Object.freeze(v);
    todo.push(Object.getPrototypeOf(v));
    for (const key of Reflect.ownKeys(v)) {
      const d = Object.getOwnPropertyDescriptor(v, key)!;
      if ("value" in d) todo.push(d.value);
      else todo.push(d.get, d.set);
    }
  }
  alreadyFrozen(seen);
  return seen.size;
}

const g = globalThis as unknown as Record<string, unknown>;
const roots: unknown[] = [];
for (const name of STANDARD) if (g[name] !== undefined) roots.push(g[name]);
// Prototypes reachable only from syntax: generators, async functions and generators, iterators.
roots.push(function* () {}, async function () {}, async function* () {}, [][Symbol.iterator](), new Map().entries(), "".matchAll(/x/g));
export const frozenIntrinsics = harden(roots);
