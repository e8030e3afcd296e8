/*
 * JSON Merge Patch (RFC 7396 §2): the MergePatch function of the RFC's
 * pseudocode, on plain JS values (from JSON or from CBOR). Pure: neither the
 * target nor the patch is modified; the result shares no object with either.
 */
import { isPlainObject } from "./schema";

function copy(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(copy);
  if (isPlainObject(v)) {
    const o: { [k: string]: unknown } = {};
    for (const k of Object.keys(v)) define(o, k, copy(v[k]));
    return o;
  }
  return v;
}

/** A data property even for "__proto__" (never the prototype). */
function define(o: { [k: string]: unknown }, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** RFC 7396 §2 MergePatch(Target, Patch). */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return copy(patch); // "if Patch is an Object ... else return Patch"
  const out: { [k: string]: unknown } = {};
  if (isPlainObject(target)) for (const k of Object.keys(target)) define(out, k, copy(target[k])); // else Target = {}
  for (const name of Object.keys(patch)) {
    const value = patch[name];
    if (value === null) delete out[name]; // "if Value is null: remove the Name/Value pair"
    else define(out, name, mergePatch(Object.prototype.hasOwnProperty.call(out, name) ? out[name] : undefined, value));
  }
  return out;
}
