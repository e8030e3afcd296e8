/**
 * A small jest-compatible test harness for the bare XS engine (xsnap), used by
 * host-tests/xs/run.js. Importing this module installs the globals describe, it, test,
 * beforeEach, afterEach, beforeAll, afterAll and expect; `runTests()` then runs what the
 * test file registered, one test at a time, and prints the results with `print`.
 *
 * Supported, and nothing else (a test file using more fails on XS, loudly):
 * - describe(name, fn), describe.each(table)(name, fn); it/test(name, fn), it.each/test.each
 *   (array table; a row that is an array is spread into the arguments; title placeholders
 *   %s %d %i %f %p %j %o %# %%); hooks beforeEach/afterEach/beforeAll/afterAll, scoped to
 *   their describe block; async tests and hooks (a returned promise is awaited). No `done`
 *   callbacks, no skip/only/todo, no jest.fn, no fake timers, no snapshots.
 * - expect(x) with .not and: toBe, toEqual, toStrictEqual, toBeTruthy, toBeFalsy, toBeNull,
 *   toBeUndefined, toBeDefined, toBeNaN, toThrow(string|RegExp|ErrorClass|Error),
 *   toBeGreaterThan, toBeGreaterThanOrEqual, toBeLessThan, toBeLessThanOrEqual,
 *   toBeCloseTo(n, digits = 2), toContain, toHaveLength, toMatch, toBeInstanceOf,
 *   toHaveProperty(path, value?), and expect(promise).rejects.<matcher> /
 *   .resolves.<matcher> (return or await them).
 * - Deep equality (toEqual/toStrictEqual): primitives by Object.is, arrays, typed arrays,
 *   DataView, ArrayBuffer, plain objects and class instances (own enumerable keys; toEqual
 *   ignores undefined-valued properties, toStrictEqual also checks prototypes and array
 *   holes), Map, Set, Date, RegExp, Error (name and message), boxed primitives, cycles.
 *
 * Output protocol (one line each, read by run.js):
 *   ##xs start\t<full name>         before a test runs
 *   ##xs pass\t<full name>\t<ms>
 *   ##xs fail\t<full name>\t<ms>
 *   ##xs msg\t<text>                the failure's message, one line per line
 *   XS-TESTS-DONE <passed> <failed> after the last test; missing means the run did not end
 */

declare function print(...args: unknown[]): void;

type Fn = () => unknown;

interface TestCase {
  name: string;
  fn: Fn;
  suite: Suite;
}

interface Suite {
  name: string;
  parent: Suite | null;
  children: (Suite | TestCase)[];
  beforeAll: Fn[];
  afterAll: Fn[];
  beforeEach: Fn[];
  afterEach: Fn[];
  error?: unknown; // thrown while collecting the describe body
}

function newSuite(name: string, parent: Suite | null): Suite {
  return { name, parent, children: [], beforeAll: [], afterAll: [], beforeEach: [], afterEach: [] };
}

const root = newSuite("", null);
let current: Suite = root;
let running = false;

function fullName(suite: Suite, name: string): string {
  const parts: string[] = [name];
  for (let s: Suite | null = suite; s && s.parent; s = s.parent) parts.unshift(s.name);
  return parts.join(" > ");
}

// ---------------------------------------------------------------- formatting

function typedName(v: object): string {
  const ctor = (v as { constructor?: { name?: string } }).constructor;
  return ctor && typeof ctor.name === "string" ? ctor.name : "Object";
}

/** Pretty-prints a value for titles (%p) and failure messages. */
export function format(v: unknown, depth = 0, seen: unknown[] = []): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return String(v) + "n";
  if (typeof v === "number") return Object.is(v, -0) ? "-0" : String(v);
  if (typeof v === "symbol") return v.toString();
  if (typeof v === "function") return "[Function " + (v.name || "anonymous") + "]";
  if (v === null || typeof v !== "object") return String(v);
  if (seen.indexOf(v) >= 0) return "[Circular]";
  if (depth > 4) return "[" + typedName(v) + "]";
  seen = seen.concat([v]);
  const f = (x: unknown) => format(x, depth + 1, seen);
  const list = (items: string[], open: string, close: string) => {
    const shown = items.length > 50 ? items.slice(0, 50).concat(["... " + (items.length - 50) + " more"]) : items;
    return open + shown.join(", ") + close;
  };
  if (Array.isArray(v)) return list(v.map(f), "[", "]");
  if (v instanceof Error) return typedName(v) + ": " + v.message;
  if (v instanceof Date) return "Date(" + (isNaN(+v) ? "Invalid" : v.toISOString()) + ")";
  if (v instanceof RegExp) return String(v);
  if (v instanceof Map) return list(Array.from(v, ([k, x]) => f(k) + " => " + f(x)), "Map {", "}");
  if (v instanceof Set) return list(Array.from(v, f), "Set {", "}");
  if (v instanceof ArrayBuffer) return list(Array.from(new Uint8Array(v), String), "ArrayBuffer [", "]");
  if (ArrayBuffer.isView(v)) {
    if (v instanceof DataView) return list(Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), String), "DataView [", "]");
    return list(Array.from(v as unknown as ArrayLike<unknown>, f), typedName(v) + " [", "]");
  }
  const keys = Object.keys(v);
  const name = typedName(v);
  return list(
    keys.map((k) => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)) + ": " + f((v as Record<string, unknown>)[k])),
    (name === "Object" ? "" : name + " ") + "{",
    "}",
  );
}

function formatTitle(title: string, args: unknown[], index: number): string {
  let i = 0;
  return title.replace(/%([sdifpjo#%])/g, (m: string, c: string) => {
    if (c === "%") return "%";
    if (c === "#") return String(index);
    if (i >= args.length) return m;
    const a = args[i++];
    switch (c) {
      case "s":
        return typeof a === "string" ? a : format(a);
      case "d":
        return String(Number(a));
      case "i":
        return String(Math.trunc(Number(a)));
      case "f":
        return String(parseFloat(String(a)));
      case "j":
        try {
          return JSON.stringify(a);
        } catch {
          return "[Circular]";
        }
      default:
        return format(a);
    }
  });
}

// ---------------------------------------------------------------- registration

function checkNotRunning(what: string): void {
  if (running) throw new Error(what + "() cannot be called while tests run (nested inside a test or hook)");
}

function checkFn(what: string, fn: unknown): void {
  if (typeof fn !== "function") throw new TypeError(what + "() needs a function");
  if ((fn as Fn).length > 0) {
    throw new Error(what + "(): `done` callbacks are not supported on XS; return a promise instead");
  }
}

function describe(name: string, fn: Fn): void {
  checkNotRunning("describe");
  checkFn("describe", fn);
  const suite = newSuite(String(name), current);
  current.children.push(suite);
  const saved = current;
  current = suite;
  try {
    const r = fn();
    if (r && typeof (r as Promise<unknown>).then === "function") {
      throw new Error("describe() callback must not return a promise");
    }
  } catch (e) {
    suite.error = e;
  } finally {
    current = saved;
  }
}

function test(name: string, fn: Fn): void {
  checkNotRunning("it");
  checkFn("it", fn);
  current.children.push({ name: String(name), fn, suite: current });
}

function each(register: (name: string, fn: Fn) => void, what: string) {
  return (table: unknown[]) => {
    if (!Array.isArray(table)) throw new TypeError(what + ".each() takes an array table on XS");
    return (title: string, fn: (...args: unknown[]) => unknown) => {
      if (typeof fn !== "function") throw new TypeError(what + ".each()() needs a function");
      table.forEach((row, index) => {
        const args = Array.isArray(row) ? row : [row];
        register(formatTitle(String(title), args, index), () => fn(...args));
      });
    };
  };
}

(test as unknown as { each: unknown }).each = each(test, "it");
(describe as unknown as { each: unknown }).each = each(describe, "describe");

function hook(kind: "beforeAll" | "afterAll" | "beforeEach" | "afterEach") {
  return (fn: Fn) => {
    checkNotRunning(kind);
    checkFn(kind, fn);
    current[kind].push(fn);
  };
}

// ---------------------------------------------------------------- equality

function tagOf(v: unknown): string {
  return Object.prototype.toString.call(v);
}

function ownKeys(o: object, strict: boolean): (string | symbol)[] {
  const keys: (string | symbol)[] = Object.keys(o);
  for (const s of Object.getOwnPropertySymbols(o)) {
    if (Object.prototype.propertyIsEnumerable.call(o, s)) keys.push(s);
  }
  if (strict) return keys;
  return keys.filter((k) => (o as Record<string | symbol, unknown>)[k] !== undefined);
}

function bytesOf(v: ArrayBuffer | ArrayBufferView): Uint8Array {
  return v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** Deep equality with jest's toEqual (strict = false) or toStrictEqual (strict = true) rules. */
export function equals(a: unknown, b: unknown, strict = false, aSeen: unknown[] = [], bSeen: unknown[] = []): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  const tag = tagOf(a);
  if (tag !== tagOf(b)) return false;
  if (strict && Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const ia = aSeen.indexOf(a);
  if (ia >= 0) return bSeen[ia] === b;
  aSeen = aSeen.concat([a]);
  bSeen = bSeen.concat([b]);
  const eq = (x: unknown, y: unknown) => equals(x, y, strict, aSeen, bSeen);

  if (a instanceof Date) return Object.is(+a, +(b as Date));
  if (a instanceof RegExp) return a.source === (b as RegExp).source && a.flags === (b as RegExp).flags;
  if (a instanceof Error) {
    const e = b as Error;
    if (a.name !== e.name || a.message !== e.message) return false;
  }
  if (a instanceof Number || a instanceof String || a instanceof Boolean) {
    return Object.is(a.valueOf(), (b as Number).valueOf());
  }
  if (a instanceof ArrayBuffer || a instanceof DataView) {
    const x = bytesOf(a);
    const y = bytesOf(b as ArrayBuffer);
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  }
  if (ArrayBuffer.isView(a)) {
    const x = a as unknown as ArrayLike<unknown>;
    const y = b as unknown as ArrayLike<unknown>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    return true;
  }
  if (a instanceof Map) {
    const m = b as Map<unknown, unknown>;
    if (a.size !== m.size) return false;
    outer: for (const [k, v] of a) {
      if (m.has(k)) {
        if (eq(v, m.get(k))) continue;
        return false;
      }
      for (const [k2, v2] of m) if (eq(k, k2) && eq(v, v2)) continue outer;
      return false;
    }
    return true;
  }
  if (a instanceof Set) {
    const s = b as Set<unknown>;
    if (a.size !== s.size) return false;
    outer: for (const v of a) {
      if (s.has(v)) continue;
      for (const v2 of s) if (eq(v, v2)) continue outer;
      return false;
    }
    return true;
  }
  if (Array.isArray(a)) {
    const y = b as unknown[];
    if (a.length !== y.length) return false;
    for (let i = 0; i < a.length; i++) {
      if (strict && i in a !== i in y) return false;
      if (!eq(a[i], y[i])) return false;
    }
    // Extra non-index properties count too, like jest.
    const ka = ownKeys(a, strict).filter((k) => typeof k !== "string" || !/^\d+$/.test(k));
    const kb = ownKeys(y, strict).filter((k) => typeof k !== "string" || !/^\d+$/.test(k));
    if (ka.length !== kb.length) return false;
    for (const k of ka) if (!eq((a as any)[k], (y as any)[k])) return false;
    return true;
  }
  const ka = ownKeys(a, strict);
  const kb = ownKeys(b, strict);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!eq((a as any)[k], (b as any)[k])) return false;
  }
  return true;
}

// ---------------------------------------------------------------- expect

class AssertionError extends Error {
  constructor(message: string) {
    super(message);
  }
}
// On the prototype: `this.name = ...` throws where the intrinsics are frozen, as on a device (host-tests/xs/lockdown.ts).
Object.defineProperty(AssertionError.prototype, "name", { value: "AssertionError", writable: true, configurable: true });

interface Result {
  pass: boolean;
  message: string; // describes what was expected in the non-negated form
}

type Matcher = (received: unknown, args: unknown[], viaPromise: boolean) => Result;

function show(label: string, v: unknown): string {
  return label + format(v);
}

function cmp(op: string, test: (a: number, b: number) => boolean): Matcher {
  return (received, [expected]) => {
    if ((typeof received !== "number" && typeof received !== "bigint") || (typeof expected !== "number" && typeof expected !== "bigint")) {
      return { pass: false, message: "needs numbers: received " + format(received) + ", expected " + format(expected) };
    }
    return {
      pass: test(received as number, expected as number),
      message: show("Expected: " + op + " ", expected) + "\n" + show("Received:   ", received),
    };
  };
}

function errorMessage(e: unknown): string {
  if (e && typeof e === "object" && "message" in e) return String((e as Error).message);
  return String(e);
}

const matchers: Record<string, Matcher> = {
  toBe: (r, [e]) => ({ pass: Object.is(r, e), message: show("Expected: ", e) + "\n" + show("Received: ", r) }),
  toEqual: (r, [e]) => ({ pass: equals(r, e, false), message: show("Expected: ", e) + "\n" + show("Received: ", r) }),
  toStrictEqual: (r, [e]) => ({ pass: equals(r, e, true), message: show("Expected: ", e) + "\n" + show("Received: ", r) }),
  toBeTruthy: (r) => ({ pass: !!r, message: show("Expected a truthy value, received ", r) }),
  toBeFalsy: (r) => ({ pass: !r, message: show("Expected a falsy value, received ", r) }),
  toBeNull: (r) => ({ pass: r === null, message: show("Expected null, received ", r) }),
  toBeUndefined: (r) => ({ pass: r === undefined, message: show("Expected undefined, received ", r) }),
  toBeDefined: (r) => ({ pass: r !== undefined, message: show("Expected a defined value, received ", r) }),
  toBeNaN: (r) => ({ pass: typeof r === "number" && isNaN(r), message: show("Expected NaN, received ", r) }),
  toBeGreaterThan: cmp(">", (a, b) => a > b),
  toBeGreaterThanOrEqual: cmp(">=", (a, b) => a >= b),
  toBeLessThan: cmp("<", (a, b) => a < b),
  toBeLessThanOrEqual: cmp("<=", (a, b) => a <= b),
  toBeCloseTo: (r, [e, digits]) => {
    const d = digits === undefined ? 2 : (digits as number);
    const pass =
      typeof r === "number" && typeof e === "number" &&
      ((r === Infinity && e === Infinity) || (r === -Infinity && e === -Infinity) || Math.abs(r - e) < Math.pow(10, -d) / 2);
    return { pass, message: show("Expected: ", e) + " (to " + d + " digits)\n" + show("Received: ", r) };
  },
  toContain: (r, [e]) => {
    let pass = false;
    if (typeof r === "string") pass = typeof e === "string" && r.indexOf(e) >= 0;
    else if (r !== null && r !== undefined && typeof (r as Iterable<unknown>)[Symbol.iterator] === "function") {
      for (const x of r as Iterable<unknown>) if (x === e) pass = true;
    } else return { pass: false, message: show("toContain needs a string or an iterable, received ", r) };
    return { pass, message: show("Expected to contain: ", e) + "\n" + show("Received: ", r) };
  },
  toHaveLength: (r, [n]) => {
    const len = r !== null && r !== undefined ? (r as { length?: unknown }).length : undefined;
    if (typeof len !== "number") return { pass: false, message: show("toHaveLength needs a value with a length, received ", r) };
    return { pass: len === n, message: "Expected length: " + format(n) + "\nReceived length: " + len + show("\nReceived: ", r) };
  },
  toMatch: (r, [e]) => {
    if (typeof r !== "string") return { pass: false, message: show("toMatch needs a string, received ", r) };
    // Not `new RegExp(e.source, ...)`: XS 13.3 returns a wrong `source` for an escaped
    // slash (/\// gives "\\/"), so a rebuilt pattern no longer matches. Run the pattern
    // itself, with lastIndex reset for global and sticky ones.
    let pass: boolean;
    if (e instanceof RegExp) {
      const saved = e.lastIndex;
      e.lastIndex = 0;
      pass = e.global || e.sticky ? r.search(e) >= 0 : e.test(r);
      e.lastIndex = saved;
    } else pass = r.indexOf(String(e)) >= 0;
    return { pass, message: show("Expected pattern: ", e) + "\n" + show("Received: ", r) };
  },
  toBeInstanceOf: (r, [C]) => {
    if (typeof C !== "function") return { pass: false, message: "toBeInstanceOf needs a constructor" };
    return { pass: r instanceof (C as new () => unknown), message: "Expected an instance of " + (C.name || "anonymous") + show("\nReceived: ", r) };
  },
  toHaveProperty: (r, args) => {
    const [path, value] = args;
    const parts = Array.isArray(path) ? path.map(String) : String(path).split(".");
    let o: unknown = r;
    let found = true;
    for (const p of parts) {
      if (o === null || o === undefined || !(p in Object(o))) {
        found = false;
        break;
      }
      o = (o as Record<string, unknown>)[p];
    }
    const pass = found && (args.length < 2 || equals(o, value));
    return {
      pass,
      message:
        "Expected property " + format(path) + (args.length >= 2 ? show(" with value ", value) : "") +
        (found ? show("\nFound value: ", o) : "\nNo such property") + show("\nReceived: ", r),
    };
  },
  toThrow: (r, [expected], viaPromise) => {
    let thrown = false;
    let error: unknown;
    if (viaPromise) {
      thrown = true;
      error = r;
    } else {
      if (typeof r !== "function") return { pass: false, message: show("toThrow needs a function, received ", r) };
      try {
        (r as Fn)();
      } catch (e) {
        thrown = true;
        error = e;
      }
    }
    let pass = thrown;
    let what = "to throw";
    if (thrown && expected !== undefined) {
      if (typeof expected === "string") {
        pass = errorMessage(error).indexOf(expected) >= 0;
        what = "to throw an error whose message contains " + format(expected);
      } else if (expected instanceof RegExp) {
        pass = expected.test(errorMessage(error));
        what = "to throw an error whose message matches " + String(expected);
      } else if (typeof expected === "function") {
        pass = error instanceof (expected as new () => unknown);
        what = "to throw an instance of " + ((expected as Fn).name || "anonymous");
      } else if (expected instanceof Error) {
        pass = errorMessage(error) === expected.message;
        what = "to throw an error with message " + format(expected.message);
      } else {
        return { pass: false, message: "toThrow takes a string, RegExp, error class or error" };
      }
    }
    return { pass, message: "Expected " + what + (thrown ? show("\nThrown: ", error) : "\nNothing was thrown") };
  },
};
(matchers as Record<string, Matcher>).toThrowError = matchers.toThrow;

// expect() runs in hot test loops and XS does not JIT: build nothing per call but one small
// object. The matcher methods live on prototypes made once; .not/.resolves/.rejects are
// getters that make their object only when used.

interface Expectation {
  received: unknown;
  negate: boolean;
  viaPromise: boolean;
  label: string;
}

function ExpectationImpl(this: Expectation, received: unknown, negate: boolean, viaPromise: boolean, label: string) {
  this.received = received;
  this.negate = negate;
  this.viaPromise = viaPromise;
  this.label = label;
}

interface Promised {
  received: unknown;
  which: "resolves" | "rejects";
  negate: boolean;
}

function PromisedImpl(this: Promised, received: unknown, which: "resolves" | "rejects", negate: boolean) {
  this.received = received;
  this.which = which;
  this.negate = negate;
}

type Ctor<T> = new (...args: any[]) => T;
const Exp = ExpectationImpl as unknown as Ctor<Expectation>;
const Prom = PromisedImpl as unknown as Ctor<Promised>;

function check(e: Expectation, name: string, args: unknown[]): void {
  const { pass, message } = matchers[name](e.received, args, e.viaPromise);
  if (pass === e.negate) {
    throw new AssertionError(
      "expect(received)" + e.label + (e.negate ? ".not." : ".") + name + "(" + args.map((a) => format(a)).join(", ") + ")\n" +
        (e.negate ? "Expected the opposite.\n" : "") + message,
    );
  }
}

function settle(p: Promised, name: string, args: unknown[]): Promise<void> {
  const { received, which, negate } = p;
  if (!received || typeof (received as Promise<unknown>).then !== "function") {
    return Promise.reject(new AssertionError("expect(received)." + which + "." + name + "(): received " + format(received) + ", not a promise"));
  }
  return (received as Promise<unknown>).then(
    (value) => {
      if (which === "rejects") throw new AssertionError("expect(received).rejects." + name + "(): the promise resolved" + show(" with ", value));
      check(new Exp(value, negate, false, ".resolves"), name, args);
    },
    (reason) => {
      if (which === "resolves") throw new AssertionError("expect(received).resolves." + name + "(): the promise rejected" + show(" with ", reason));
      check(new Exp(reason, negate, true, ".rejects"), name, args);
    },
  );
}

for (const name of Object.keys(matchers)) {
  Object.defineProperty(Exp.prototype, name, {
    value: function (this: Expectation, ...args: unknown[]) {
      check(this, name, args);
    },
  });
  Object.defineProperty(Prom.prototype, name, {
    value: function (this: Promised, ...args: unknown[]) {
      return settle(this, name, args);
    },
  });
}
Object.defineProperty(Exp.prototype, "not", {
  get(this: Expectation) {
    return new Exp(this.received, !this.negate, this.viaPromise, this.label);
  },
});
Object.defineProperty(Exp.prototype, "resolves", {
  get(this: Expectation) {
    return new Prom(this.received, "resolves", false);
  },
});
Object.defineProperty(Exp.prototype, "rejects", {
  get(this: Expectation) {
    return new Prom(this.received, "rejects", false);
  },
});
Object.defineProperty(Prom.prototype, "not", {
  get(this: Promised) {
    return new Prom(this.received, this.which, !this.negate);
  },
});

function expect(received: unknown): unknown {
  return new Exp(received, false, false, "");
}

// ---------------------------------------------------------------- running

function now(): number {
  return typeof performance === "object" && performance && typeof performance.now === "function" ? performance.now() : Date.now();
}

function emit(line: string): void {
  print(line);
}

function describeError(e: unknown): string {
  if (e instanceof AssertionError) return e.message;
  if (e instanceof Error) {
    const head = (e.name || "Error") + ": " + e.message;
    const stack = typeof e.stack === "string" ? e.stack.split("\n").filter((l) => /\S/.test(l) && l.indexOf(e.message) < 0 && !/^\s*at \(\)\s*$/.test(l)) : [];
    return [head].concat(stack.slice(0, 8)).join("\n");
  }
  return "thrown: " + format(e);
}

let passed = 0;
let failed = 0;

function report(kind: "pass" | "fail", name: string, ms: number, error?: unknown): void {
  if (kind === "pass") passed++;
  else failed++;
  emit("##xs " + kind + "\t" + name.replace(/[\t\n]/g, " ") + "\t" + ms.toFixed(1));
  if (error !== undefined) for (const line of describeError(error).split("\n")) emit("##xs msg\t" + line);
}

async function call(fn: Fn): Promise<void> {
  await fn();
}

function chain(suite: Suite | null, key: "beforeEach" | "afterEach"): Fn[] {
  const suites: Suite[] = [];
  for (let s = suite; s; s = s.parent) suites.unshift(s);
  const fns: Fn[] = [];
  for (const s of suites) fns.push(...s[key]);
  return key === "afterEach" ? fns.reverse() : fns;
}

function countTests(suite: Suite): TestCase[] {
  const out: TestCase[] = [];
  for (const c of suite.children) {
    if ("fn" in c) out.push(c);
    else out.push(...countTests(c));
  }
  return out;
}

async function runTest(t: TestCase): Promise<void> {
  const name = fullName(t.suite, t.name);
  emit("##xs start\t" + name.replace(/[\t\n]/g, " "));
  const started = now();
  let error: unknown = undefined;
  let failedHere = false;
  try {
    for (const h of chain(t.suite, "beforeEach")) await call(h);
    await call(t.fn);
  } catch (e) {
    failedHere = true;
    error = e;
  }
  for (const h of chain(t.suite, "afterEach")) {
    try {
      await call(h);
    } catch (e) {
      if (!failedHere) {
        failedHere = true;
        error = e;
      }
    }
  }
  // A preloaded module's buffer written during the test (host-tests/xs/preload.ts): the device would have thrown.
  const problems = preloadProblems();
  if (problems.length && !failedHere) {
    failedHere = true;
    error = new Error(problems.join("\n"));
  }
  report(failedHere ? "fail" : "pass", name, now() - started, failedHere ? (error === undefined ? new Error("thrown: undefined") : error) : undefined);
}

function preloadProblems(): string[] {
  const verify = (globalThis as unknown as { __xsPreloadVerify?: () => string[] }).__xsPreloadVerify;
  return typeof verify === "function" ? verify() : [];
}

async function runSuite(suite: Suite): Promise<void> {
  if (suite.error !== undefined) {
    report("fail", fullName(suite.parent || root, suite.name) + " (describe body threw)", 0, suite.error);
    return;
  }
  let setupError: unknown = undefined;
  let setupFailed = false;
  for (const h of suite.beforeAll) {
    try {
      await call(h);
    } catch (e) {
      setupFailed = true;
      setupError = e;
      break;
    }
  }
  if (setupFailed) {
    for (const t of countTests(suite)) report("fail", fullName(t.suite, t.name) + " (beforeAll failed)", 0, setupError);
  } else {
    for (const child of suite.children) {
      if ("fn" in child) await runTest(child);
      else await runSuite(child);
    }
  }
  for (const h of suite.afterAll) {
    try {
      await call(h);
    } catch (e) {
      report("fail", fullName(suite, "afterAll"), 0, e);
    }
  }
}

/**
 * Runs every registered test in order, then prints `XS-TESTS-DONE <passed> <failed>`.
 * A file that registers no test is a failure (a run that tests nothing proves nothing).
 */
export function runTests(): Promise<void> {
  running = true;
  return runSuite(root).then(
    () => {
      if (passed + failed === 0) report("fail", "(no tests registered)", 0, new Error("the file registered no test"));
      emit("XS-TESTS-DONE " + passed + " " + failed);
    },
    (e) => {
      report("fail", "(harness)", 0, e);
      emit("XS-TESTS-DONE " + passed + " " + failed);
    },
  );
}

const g = globalThis as unknown as Record<string, unknown>;
g.describe = describe;
g.it = test;
g.test = test;
g.beforeEach = hook("beforeEach");
g.afterEach = hook("afterEach");
g.beforeAll = hook("beforeAll");
g.afterAll = hook("afterAll");
g.expect = expect;
