/*
 * Gives an instance its own value for a property whose default lives on its class's
 * prototype (a field less per chip for the common case). A plain assignment would throw once
 * the prototype is frozen, as preloading freezes it in a Moddable build ("not writable": the
 * inherited property is read-only); defining the property on the instance does not.
 * Portable (no Node API).
 */
export function setOwn<T extends object, K extends keyof T>(target: T, key: K, value: T[K]): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}
