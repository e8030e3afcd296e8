// Shared XS plumbing for host-tests/xs/run.js and bench/run.js:
// - bundle(): rollup + a tiny TypeScript plugin (typescript.transpileModule) +
//   @rollup/plugin-node-resolve (extensionless relative imports) -> one IIFE script, because
//   xsnap in module mode prints nothing on a top-level throw.
// - runXsnap(): runs a script file on xsnap with a time limit (SIGKILL when it expires) and
//   returns { code, signal, timedOut, stdout, stderr, ms }.
"use strict";

const fs = require("fs");
const path = require("path");
const { spawn } = require("child_process");

const ROOT = path.resolve(__dirname, "..");
const STDBUF = "/usr/bin/stdbuf";

let ts; // loaded lazily: typescript is big
/**
 * TypeScript one file at a time (transpileModule). A `const enum` cannot be inlined that way
 * across files (isolatedModules: it is emitted as an object and `E.A` stays a property read),
 * where the device build (tsc on the whole program) writes the number in place. So each
 * const enum's name is noted here and renderChunk writes its members' values in place of
 * `E.A` in the bundle: the XS tests and benches then run what the device runs.
 */
function typescriptPlugin() {
  const constEnums = new Set();
  return {
    name: "xs-typescript",
    transform(code, id) {
      if (!/\.[cm]?ts$/.test(id) || id.endsWith(".d.ts")) return null;
      ts = ts || require("typescript");
      for (const m of code.matchAll(/\bconst\s+enum\s+([A-Za-z_$][\w$]*)/g)) constEnums.add(m[1]);
      const out = ts.transpileModule(code, {
        fileName: id,
        reportDiagnostics: false,
        compilerOptions: {
          target: ts.ScriptTarget.ES2022,
          module: ts.ModuleKind.ESNext,
          sourceMap: true,
          inlineSources: false,
          isolatedModules: true,
          useDefineForClassFields: true,
        },
      });
      return { code: out.outputText, map: out.sourceMapText ? JSON.parse(out.sourceMapText) : null };
    },
    renderChunk(code) {
      return constEnums.size ? { code: inlineConstEnums(code, constEnums), map: null } : null;
    },
  };
}

/**
 * Writes the members of the const enums named in `names` in place of `E.A` (rollup may have
 * renamed E to E$1: each emitted declaration has its own values). A member whose value is
 * not a literal is left as a property read.
 */
function inlineConstEnums(code, names) {
  const values = new Map(); // emitted name -> Map(member -> literal)
  const decl = /\(function \(([\w$]+)\) \{([\s\S]*?)\}\)\(([\w$]+) \|\| \(\3 = \{\}\)\);/g;
  for (const m of code.matchAll(decl)) {
    const emitted = m[3];
    if (!names.has(emitted.replace(/\$\d+$/, ""))) continue;
    const e = m[1].replace(/\$/g, "\\$");
    const members = new Map();
    const num = new RegExp(e + "\\[" + e + '\\["([\\w$]+)"\\] = (-?\\d+(?:\\.\\d+)?)\\] = "\\1";', "g");
    for (const k of m[2].matchAll(num)) members.set(k[1], k[2]);
    const str = new RegExp(e + '\\["([\\w$]+)"\\] = ("(?:[^"\\\\]|\\\\.)*");', "g");
    for (const k of m[2].matchAll(str)) if (!members.has(k[1])) members.set(k[1], k[2]);
    if (members.size) values.set(emitted, members);
  }
  for (const [emitted, members] of values) {
    const use = new RegExp("(?<![\\w$.])" + emitted.replace(/\$/g, "\\$") + "\\.([\\w$]+)\\b(?!\\s*=[^=])", "g");
    code = code.replace(use, (all, member) => (members.has(member) ? "(" + members.get(member) + ")" : all));
  }
  return code;
}

/**
 * With `preload`: appends to every device module (tools/check-preload.js: modules/, src/,
 * boards/, the exempt folders left out) a call that hands its own top-level bindings to
 * `globalThis.__xsPreload` (host-tests/xs/preload.ts), which freezes what they hold as a
 * Moddable build that preloads the module does. Runs after the TypeScript transform, on plain JS.
 */
function preloadPlugin() {
  const { isDeviceFile, isExempt } = require("./check-preload");
  return {
    name: "xs-preload",
    transform(code, id) {
      const rel = path.relative(ROOT, id).split(path.sep).join("/");
      // host-tests/xs/fixtures/device/: device modules made for the preload check's own tests.
      if ((!isDeviceFile(rel) || isExempt(rel)) && !rel.startsWith("host-tests/xs/fixtures/device/")) return null;
      const names = [];
      const addPattern = (p) => {
        if (!p) return;
        if (p.type === "Identifier") names.push(p.name);
        else if (p.type === "ObjectPattern") for (const q of p.properties) addPattern(q.type === "RestElement" ? q.argument : q.value);
        else if (p.type === "ArrayPattern") for (const q of p.elements) addPattern(q && q.type === "RestElement" ? q.argument : q);
        else if (p.type === "AssignmentPattern") addPattern(p.left);
      };
      const addDeclaration = (d) => {
        if (!d) return;
        if (d.type === "VariableDeclaration") for (const v of d.declarations) addPattern(v.id);
        else if ((d.type === "FunctionDeclaration" || d.type === "ClassDeclaration") && d.id) names.push(d.id.name);
      };
      for (const st of this.parse(code).body) {
        if (st.type === "ExportNamedDeclaration" || st.type === "ExportDefaultDeclaration") addDeclaration(st.declaration);
        else addDeclaration(st);
      }
      if (!names.length) return null;
      const call = `\n;if (typeof globalThis.__xsPreload === "function") globalThis.__xsPreload(${JSON.stringify(rel)}, ${JSON.stringify(names)}, [${names.join(", ")}]);\n`;
      return { code: code + call, map: null };
    },
  };
}

const VIRTUAL = "\0xs-entry";

/**
 * Bundles `entryCode` (ES module source; its imports are absolute paths or relative to
 * ROOT) into one IIFE script and returns its text. `plugins`: rollup plugins run before the
 * module resolution (e.g. to map a host module specifier to a file of ours). `preload: true`
 * adds preloadPlugin().
 */
async function bundle(entryCode, { name = "xs-entry", plugins = [], preload = false } = {}) {
  const { rollup } = require("rollup");
  const { nodeResolve } = require("@rollup/plugin-node-resolve");
  const warnings = [];
  const build = await rollup({
    input: VIRTUAL,
    treeshake: false, // run exactly what the test or bench says (an empty loop stays a loop)
    onwarn(w) {
      if (w.code === "CIRCULAR_DEPENDENCY" || w.code === "EMPTY_BUNDLE") return;
      warnings.push(w.message);
    },
    plugins: [
      {
        name: "xs-virtual-entry",
        resolveId(id) {
          return id === VIRTUAL ? VIRTUAL : null;
        },
        load(id) {
          return id === VIRTUAL ? entryCode : null;
        },
      },
      ...plugins,
      nodeResolve({ extensions: [".ts", ".mjs", ".js", ".json"], rootDir: ROOT, preferBuiltins: false }),
      typescriptPlugin(),
      ...(preload ? [preloadPlugin()] : []),
    ],
  });
  try {
    const { output } = await build.generate({ format: "iife", name: name.replace(/\W/g, "_"), sourcemap: false });
    return { code: output[0].code, warnings };
  } finally {
    await build.close();
  }
}

/** Import specifier for an absolute path, usable inside the virtual entry. */
function spec(file) {
  return JSON.stringify(path.resolve(file));
}

/**
 * Runs `scriptFile` on xsnap. Kills it (SIGKILL) after `timeoutMs`. Never rejects on the
 * child's own failure: the caller judges code, signal, timedOut and the output.
 */
function runXsnap(binary, scriptFile, { timeoutMs = 60000, args = [] } = {}) {
  return new Promise((resolve) => {
    const started = Date.now();
    // xsnap's print() goes through stdio, fully buffered into a pipe: a killed run would lose
    // the lines that say which test hung. stdbuf (coreutils) makes it line-buffered; it execs
    // xsnap in place, so the PID we kill is xsnap's.
    const argv = [...args, "-s", scriptFile];
    const child = fs.existsSync(STDBUF)
      ? spawn(STDBUF, ["-oL", "-eL", binary, ...argv], { stdio: ["ignore", "pipe", "pipe"] })
      : spawn(binary, argv, { stdio: ["ignore", "pipe", "pipe"] });
    const out = [];
    const err = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.on("data", (b) => out.push(b));
    child.stderr.on("data", (b) => err.push(b));
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ code: -1, signal: null, timedOut, stdout: "", stderr: String(e.message), ms: Date.now() - started });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        timedOut,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        ms: Date.now() - started,
      });
    });
  });
}

/** Writes `code` to .cache/xs-bundles/<name>.js and returns the path. */
function writeBundle(name, code) {
  const dir = path.join(ROOT, ".cache", "xs-bundles");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name.replace(/[^\w.-]+/g, "_") + ".js");
  fs.writeFileSync(file, code);
  return file;
}

module.exports = { ROOT, bundle, spec, runXsnap, writeBundle };
