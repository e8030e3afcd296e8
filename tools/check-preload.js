#!/usr/bin/env node
// The static half of the preload check (docs/moddable.md, "Preloading"): refuses, in device
// code, what a Moddable build that preloads its modules would freeze and the code would then
// try to change. On the device the objects a module creates while it loads live in flash:
// functions and class prototypes are frozen; Map, Set, WeakMap, WeakSet, ArrayBuffer, DataView
// and typed arrays are read-only ("read-only buffer", "read-only WeakMap instance"); module
// variables and plain objects are "aliased" into RAM on their first change, at 4 bytes apiece
// (the XS linker warns "no const" / "not frozen"), and JSON.stringify refuses them. So device
// code keeps its state in instances or takes it as an argument, and this check refuses:
//
//   1. a module-level `let` or `var`;
//   2. a module-level Map, Set, WeakMap, WeakSet, ArrayBuffer, DataView or typed array, unless
//      it is empty (`new Uint8Array(0)`), or every use of it inside a function only reads it
//      (`T[i]`, `.length`, `.get()`, `.has()`, ...), or its comment says `@preloadReadOnly`
//      (passed on to code that only reads it; the XS runner fails a test that writes it): once
//      it is passed on, the check cannot tell that nobody writes it;
//   3. inside a function (that is, after load), a change to an object held by a module-level
//      binding or an import: an assignment, `++`/`--` or `delete` of a property reached from it
//      (`CACHE[k] = v`, `Foo.prototype.bar = f`, `Foo.count++`), a mutating method called on it
//      (`push`, `splice`, `sort`, `fill`, `set`, `add`, `delete`, `clear`, `setUint8`...),
//      `Object.assign/defineProperty/defineProperties/setPrototypeOf` on it, and `this.x = ...`
//      in a static method (a preloaded class's static properties are read-only); also such a
//      change through a local that may hold a module-level collection or buffer
//      (`let out = EMPTY; ... out[0] = x`: XS refuses even a write past a preloaded buffer's end);
//   4. a RegExp made at load (a module-level literal, one in a module-level table, `new RegExp`):
//      the Moddable SDK 8.2.3's XS runs a preloaded RegExp with match data it takes from malloc
//      (xsre.c fxAllocateRegExpData) but marks as a chunk when a collection comes during the
//      match: heap corruption, SIGSEGV in fx_RegExp_prototype_exec (mcsim), and the data is never
//      freed (a leak of the system heap per test). A literal inside a function is compiled when
//      it is evaluated, with its data in the chunk heap (docs/moddable.md, "Preloading").
//
// What a module does while it loads (top-level statements, static initialisers) is allowed:
// preloading runs it at build time. The runtime half is host-tests/xs/preload.ts: the XS runner
// freezes each module's bindings after its body ran, as preloading does.
//
//   node tools/check-preload.js [files...]      exit 1 and one line per finding, file:line
//   (no files: every device file; `npm test` runs it)
//
// As a module: { check(files?) -> findings, deviceFiles(), EXEMPT, isDeviceFile(rel) }.
"use strict";

const fs = require("fs");
const path = require("path");

const ROOT = path.resolve(__dirname, "..");

/** Folders whose files run on the device: modules/, src/, boards/. */
const DEVICE_DIRS = ["modules", "src", "boards"];

/**
 * Folders not held to the rule yet, each with the reason. Their owners empty this list as they
 * make them preload-safe (the XS runner reads it too: their modules are not frozen there).
 */
const EXEMPT = [];

const MUTABLE_TYPES = new Set([
  "Map", "Set", "WeakMap", "WeakSet", "ArrayBuffer", "SharedArrayBuffer", "DataView",
  "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array",
  "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array",
]);
const TYPED = new Set([...MUTABLE_TYPES].filter((n) => n.endsWith("Array") || n.endsWith("ArrayBuffer")));

/** Methods that change their receiver (arrays, typed arrays, Map/Set, DataView, Date). */
const MUTATORS = new Set([
  "push", "pop", "shift", "unshift", "splice", "sort", "reverse", "fill", "copyWithin",
  "set", "add", "delete", "clear",
  "setInt8", "setUint8", "setInt16", "setUint16", "setInt32", "setUint32", "setFloat32", "setFloat64", "setBigInt64", "setBigUint64",
  "setTime", "setFullYear", "setMonth", "setDate", "setHours", "setMinutes", "setSeconds", "setMilliseconds",
]);
/** Uses of a module-level collection or buffer that only read it. */
const READERS = new Set([
  "length", "byteLength", "byteOffset", "size", "get", "has", "at", "indexOf", "lastIndexOf", "includes",
  "slice", "forEach", "map", "filter", "reduce", "some", "every", "find", "findIndex", "join", "keys", "values", "entries",
  "getInt8", "getUint8", "getInt16", "getUint16", "getInt32", "getUint32", "getFloat32", "getFloat64", "getBigInt64", "getBigUint64",
]);
const OBJECT_MUTATORS = new Set(["assign", "defineProperty", "defineProperties", "setPrototypeOf"]);

function rel(file) {
  return path.relative(ROOT, file).split(path.sep).join("/");
}

function isDeviceFile(relPath) {
  return DEVICE_DIRS.some((d) => relPath.startsWith(d + "/")) && /\.ts$/.test(relPath) && !relPath.endsWith(".d.ts");
}

function isExempt(relPath) {
  return EXEMPT.some((d) => relPath.startsWith(d));
}

/** Every device file (.ts, not .d.ts) under modules/, src/, boards/, exempt folders left out. */
function deviceFiles() {
  const out = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (isDeviceFile(rel(p)) && !isExempt(rel(p))) out.push(p);
    }
  };
  for (const d of DEVICE_DIRS) if (fs.existsSync(path.join(ROOT, d))) walk(path.join(ROOT, d));
  return out.sort();
}

/**
 * Checks `files` (absolute paths; default every device file) and returns the findings,
 * `{ file, line, rule, message }`, sorted by file and line.
 */
function check(files = deviceFiles()) {
  const ts = require("typescript");
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ["lib.es2022.d.ts"],
    types: [],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    allowJs: false,
  });
  const checker = program.getTypeChecker();
  const findings = [];
  const wanted = new Set(files.map((f) => path.resolve(f)));

  for (const sf of program.getSourceFiles()) {
    if (!wanted.has(path.resolve(sf.fileName))) continue;
    const file = rel(sf.fileName);
    const report = (node, rule, message) => {
      const { line } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
      findings.push({ file, line: line + 1, rule, message });
    };

    // ---- 1 and 2: the module's own top-level bindings
    for (const st of sf.statements) {
      if (!ts.isVariableStatement(st)) continue;
      if (st.modifiers && st.modifiers.some((m) => m.kind === ts.SyntaxKind.DeclareKeyword)) continue;
      const flags = st.declarationList.flags;
      const isConst = (flags & ts.NodeFlags.Const) !== 0;
      for (const d of st.declarationList.declarations) {
        if (!isConst) {
          report(d, "let", `module-level \`${flags & ts.NodeFlags.Let ? "let" : "var"} ${d.name.getText(sf)}\`: a module variable is state shared by every instance, aliased into RAM when preloaded; keep it in an instance or use const`);
          continue;
        }
        if (!ts.isIdentifier(d.name)) continue;
        const kind = collectionKind(ts, checker, d);
        if (!kind || isEmptyBuffer(ts, d, kind) || markedReadOnly(ts, sf, st)) continue;
        const escape = firstNonReadUse(ts, checker, sf, d.name);
        if (escape) {
          const { line } = sf.getLineAndCharacterOfPosition(escape.getStart(sf));
          report(d, "collection", `module-level ${kind} \`${d.name.text}\` is ${escape.__written ? "written" : "passed on"} after load (line ${line + 1}: \`${shorten(escape.parent.getText(sf))}\`); preloaded it is read-only ("read-only ${TYPED.has(kind) || kind === "DataView" ? "buffer" : kind + " instance"}"): keep it in an instance`);
        }
      }
    }

    // ---- 3: changes after load to what a module-level binding or an import holds
    // ---- 4: a RegExp made at load
    const visit = (node) => {
      if (node.kind === ts.SyntaxKind.RegularExpressionLiteral || (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === "RegExp")) {
        if (!insideFunction(ts, node)) report(node, "regexp", `RegExp \`${shorten(node.getText(sf))}\` made at load: a preloaded RegExp crashes XS 8.2.3 when it runs (its match data comes from malloc and the collector takes it for a chunk: SIGSEGV in fx_RegExp_prototype_exec) and leaks that data each time; write the literal inside the function that uses it`);
      }
      if (insideFunction(ts, node)) {
        let target;
        let what;
        if (ts.isBinaryExpression(node) && isAssignment(ts, node.operatorToken.kind)) {
          target = node.left;
          what = "assignment to";
        } else if ((ts.isPrefixUnaryExpression(node) || ts.isPostfixUnaryExpression(node)) && (node.operator === ts.SyntaxKind.PlusPlusToken || node.operator === ts.SyntaxKind.MinusMinusToken)) {
          target = node.operand;
          what = "increment of";
        } else if (ts.isDeleteExpression(node)) {
          target = node.expression;
          what = "delete of";
        } else if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
          const callee = node.expression;
          if (MUTATORS.has(callee.name.text) && isBuiltinCollection(checker, callee.expression)) {
            target = callee.expression;
            what = `\`${callee.name.text}()\` on`;
            // `x.set(...)` on a property access chain: only when the chain starts at a module-level binding
            if (!isPropertyChain(ts, target) && !ts.isIdentifier(target)) target = undefined;
            else if (ts.isIdentifier(target)) target = { __whole: target };
          } else if (ts.isIdentifier(callee.expression) && callee.expression.text === "Object" && OBJECT_MUTATORS.has(callee.name.text) && node.arguments.length) {
            const a = node.arguments[0];
            target = ts.isIdentifier(a) ? { __whole: a } : a;
            what = `\`Object.${callee.name.text}()\` on`;
          }
        }
        if (target) {
          const whole = target.__whole;
          const expr = whole || target;
          // a bare identifier on the left of `=` is a variable write (rule 1 covers module lets)
          if (whole || !ts.isIdentifier(expr)) {
            const root = rootOf(ts, expr);
            if (root && root.kind === ts.SyntaxKind.ThisKeyword) {
              if (inStaticMethod(ts, node) && !whole) report(node, "static", `${what} \`${shorten(expr.getText(sf))}\` in a static method: a preloaded class's static properties are read-only`);
            } else if (root && ts.isIdentifier(root) && isModuleLevel(ts, checker, root)) {
              report(node, "mutation", `${what} \`${shorten(expr.getText(sf))}\` after load: \`${root.text}\` is module-level (preloaded: frozen or read-only); keep the state in an instance`);
            } else if (root && ts.isIdentifier(root)) {
              const held = moduleBufferHeld(ts, checker, root);
              if (held) report(node, "mutation", `${what} \`${shorten(expr.getText(sf))}\` after load: \`${root.text}\` may hold the module-level ${held.kind} \`${held.name}\`, which is read-only when preloaded ("read-only buffer", even a write past its end); give the local a new one`);
            }
          }
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  findings.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line));
  return findings;
}

function shorten(s) {
  s = s.replace(/\s+/g, " ");
  return s.length > 60 ? s.slice(0, 57) + "..." : s;
}

function isAssignment(ts, kind) {
  return kind >= ts.SyntaxKind.FirstAssignment && kind <= ts.SyntaxKind.LastAssignment;
}

function isPropertyChain(ts, e) {
  return ts.isPropertyAccessExpression(e) || ts.isElementAccessExpression(e);
}

/** The identifier (or `this`) a property-access chain starts from, through parentheses and casts. */
function rootOf(ts, e) {
  for (;;) {
    if (ts.isPropertyAccessExpression(e) || ts.isElementAccessExpression(e)) e = e.expression;
    else if (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isNonNullExpression(e) || ts.isTypeAssertionExpression(e) || (ts.isSatisfiesExpression && ts.isSatisfiesExpression(e))) e = e.expression;
    else if (ts.isCallExpression(e) && ts.isPropertyAccessExpression(e.expression) && e.expression.name.text === "subarray") e = e.expression.expression;
    else break;
  }
  return ts.isIdentifier(e) || e.kind === ts.SyntaxKind.ThisKeyword ? e : undefined;
}

/** True inside a function, method, accessor, constructor or instance field initialiser: code that runs after load. */
function insideFunction(ts, node) {
  for (let n = node.parent; n; n = n.parent) {
    if (ts.isFunctionLike(n) && !ts.isTypeNode(n) && n.kind !== ts.SyntaxKind.IndexSignature) {
      if (isInvokedAtOnce(ts, n)) continue; // `(function () { ... })()` runs where it stands
      return true;
    }
    if (ts.isPropertyDeclaration(n) && !(ts.getCombinedModifierFlags(n) & ts.ModifierFlags.Static)) return true;
    if (ts.isClassStaticBlockDeclaration && ts.isClassStaticBlockDeclaration(n)) return false;
    if (ts.isSourceFile(n)) return false;
  }
  return false;
}

/** A function expression called where it is written (an IIFE). */
function isInvokedAtOnce(ts, fn) {
  if (!ts.isFunctionExpression(fn) && !ts.isArrowFunction(fn)) return false;
  let e = fn;
  while (ts.isParenthesizedExpression(e.parent)) e = e.parent;
  return ts.isCallExpression(e.parent) && e.parent.expression === e;
}

/** Inside a static method whose `this` is the class (not one declared `this: Instance`, called on instances). */
function inStaticMethod(ts, node) {
  for (let n = node.parent; n; n = n.parent) {
    if (ts.isArrowFunction(n)) continue; // arrows keep the method's `this`
    if (ts.isMethodDeclaration(n) || ts.isGetAccessor(n) || ts.isSetAccessor(n)) {
      const explicitThis = n.parameters.length > 0 && ts.isIdentifier(n.parameters[0].name) && n.parameters[0].name.text === "this";
      return (ts.getCombinedModifierFlags(n) & ts.ModifierFlags.Static) !== 0 && !explicitThis;
    }
    if (ts.isFunctionLike(n) || ts.isSourceFile(n)) return false;
  }
  return false;
}

/** True when `e` is typed as an array, typed array, Map, Set, WeakMap, WeakSet, DataView or Date (host classes with a `set()` are not). */
function isBuiltinCollection(checker, e) {
  const type = checker.getTypeAtLocation(e);
  if (!type) return false;
  const types = type.isUnion() ? type.types : [type];
  return types.some((t) => {
    const sym = t.aliasSymbol || t.getSymbol();
    const name = sym && sym.getName();
    return !!name && (MUTABLE_TYPES.has(name) || name === "Array" || name === "Date");
  });
}

/** True when `id` names a binding declared at the top of a module, or an import. */
function isModuleLevel(ts, checker, id) {
  const sym = checker.getSymbolAtLocation(id);
  if (!sym || !sym.declarations || !sym.declarations.length) return false;
  const d = sym.declarations[0];
  if (ts.isImportSpecifier(d) || ts.isImportClause(d) || ts.isNamespaceImport(d)) return true;
  if (ts.isVariableDeclaration(d)) return ts.isVariableDeclarationList(d.parent) && ts.isVariableStatement(d.parent.parent) && ts.isSourceFile(d.parent.parent.parent);
  if (ts.isFunctionDeclaration(d) || ts.isClassDeclaration(d) || ts.isEnumDeclaration(d)) return ts.isSourceFile(d.parent);
  return false;
}

/**
 * Rule 3 through a local: `let out = EMPTY; ... out[0] = x` writes the module's buffer when `out`
 * still holds it (XS refuses a write to a preloaded buffer even past its end, where a typed array
 * would otherwise ignore it). For a local variable `id`, the module-level const collection or
 * buffer its initialiser or an assignment to it in the same function may give it (through `??`,
 * `||`, `? :` and parentheses), as { name, kind }; undefined when none may.
 */
function moduleBufferHeld(ts, checker, id) {
  const sym = checker.getSymbolAtLocation(id);
  const d = sym && sym.declarations && sym.declarations[0];
  if (!d || !ts.isVariableDeclaration(d) || isModuleLevel(ts, checker, id)) return undefined;
  let fn = d.parent;
  while (fn && !ts.isFunctionLike(fn) && !ts.isSourceFile(fn)) fn = fn.parent;
  const sources = [];
  if (d.initializer) sources.push(d.initializer);
  const walk = (n) => {
    if (ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.EqualsToken && ts.isIdentifier(n.left) && checker.getSymbolAtLocation(n.left) === sym) sources.push(n.right);
    ts.forEachChild(n, walk);
  };
  if (fn) walk(fn);
  const held = (e) => {
    while (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isNonNullExpression(e)) e = e.expression;
    if (ts.isConditionalExpression(e)) return held(e.whenTrue) || held(e.whenFalse);
    if (ts.isBinaryExpression(e) && (e.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken || e.operatorToken.kind === ts.SyntaxKind.BarBarToken)) return held(e.left) || held(e.right);
    if (!ts.isIdentifier(e) || !isModuleLevel(ts, checker, e)) return undefined;
    const s2 = checker.getSymbolAtLocation(e);
    const d2 = s2 && s2.declarations && s2.declarations[0];
    const kind = d2 && ts.isVariableDeclaration(d2) ? collectionKind(ts, checker, d2) : undefined;
    return kind ? { name: e.text, kind } : undefined;
  };
  for (const e of sources) {
    const h = held(e);
    if (h) return h;
  }
  return undefined;
}

/** "Map", "Uint8Array", ... when the const holds a mutable built-in collection or buffer. */
function collectionKind(ts, checker, d) {
  const init = d.initializer;
  if (init) {
    let e = init;
    while (ts.isAsExpression(e) || ts.isParenthesizedExpression(e) || ts.isNonNullExpression(e)) e = e.expression;
    if (ts.isNewExpression(e) && ts.isIdentifier(e.expression) && MUTABLE_TYPES.has(e.expression.text)) return e.expression.text;
    if (ts.isCallExpression(e) && ts.isPropertyAccessExpression(e.expression) && ts.isIdentifier(e.expression.expression) && TYPED.has(e.expression.expression.text)) return e.expression.expression.text;
  }
  const type = checker.getTypeAtLocation(d.name);
  const sym = type && (type.aliasSymbol || type.getSymbol());
  if (sym && MUTABLE_TYPES.has(sym.getName())) return sym.getName();
  return undefined;
}

/**
 * `@preloadReadOnly` in the comment before the declaration: the author says every receiver only
 * reads it (a constant payload handed to an encoder). Preloaded it lives in flash, which is the
 * point; the runtime check (host-tests/xs/preload.ts) fails a test that writes it.
 */
function markedReadOnly(ts, sf, st) {
  const ranges = ts.getLeadingCommentRanges(sf.text, st.pos) || [];
  return ranges.some((r) => sf.text.slice(r.pos, r.end).includes("@preloadReadOnly"));
}

function isEmptyBuffer(ts, d, kind) {
  if (!TYPED.has(kind)) return false;
  let e = d.initializer;
  while (e && (ts.isAsExpression(e) || ts.isParenthesizedExpression(e))) e = e.expression;
  return !!e && ts.isNewExpression(e) && e.arguments && e.arguments.length === 1 && ts.isNumericLiteral(e.arguments[0]) && Number(e.arguments[0].text) === 0;
}

/** The first use of `name` inside a function that is not a plain read, or undefined. */
function firstNonReadUse(ts, checker, sf, name) {
  const sym = checker.getSymbolAtLocation(name);
  let found;
  const visit = (node) => {
    if (found) return;
    if (ts.isIdentifier(node) && node !== name && node.text === name.text && checker.getSymbolAtLocation(node) === sym && insideFunction(ts, node)) {
      const p = node.parent;
      let ok = false;
      if (ts.isElementAccessExpression(p) && p.expression === node) {
        const g = p.parent;
        const written =
          (ts.isBinaryExpression(g) && g.left === p && isAssignment(ts, g.operatorToken.kind)) ||
          ((ts.isPrefixUnaryExpression(g) || ts.isPostfixUnaryExpression(g)) && (g.operator === ts.SyntaxKind.PlusPlusToken || g.operator === ts.SyntaxKind.MinusMinusToken)) ||
          ts.isDeleteExpression(g);
        ok = !written;
        if (written) node.__written = true;
      } else if (ts.isPropertyAccessExpression(p) && p.expression === node) {
        ok = READERS.has(p.name.text);
        if (MUTATORS.has(p.name.text)) node.__written = true;
      }
      if (!ok) found = node;
      return;
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

module.exports = { check, deviceFiles, isDeviceFile, isExempt, EXEMPT, DEVICE_DIRS };

if (require.main === module) {
  const args = process.argv.slice(2);
  const files = args.length ? args.map((a) => path.resolve(a)) : deviceFiles();
  const t0 = Date.now();
  const findings = check(files);
  for (const f of findings) process.stdout.write(`${f.file}:${f.line}: [${f.rule}] ${f.message}\n`);
  process.stdout.write(
    `preload check: ${files.length} device file(s), ${findings.length} finding(s) in ${((Date.now() - t0) / 1000).toFixed(1)} s` +
      (EXEMPT.length ? `; not checked yet: ${EXEMPT.join(", ")} (tools/check-preload.js EXEMPT)` : "") +
      "\n",
  );
  process.exit(findings.length ? 1 : 0);
}
