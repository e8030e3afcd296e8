/**
 * XS bytecode of each device module as the firmware ships it (Node only: fs, child_process).
 *
 *   deviceXsb(files?)  ->  [{ module: "modules/coap/codec", xsb: 8590 }, ...]
 *
 * Mirrors what `mcconfig -m -p lin manifest.json` does with a module of ours (read in the
 * makefile it writes): tsc compiles the module with the rest of the program in view (so a
 * `const enum` member becomes its number, as in a whole-program build), target ES2025, module
 * "preserve"; then the SDK's xsc compiles the JS with `-c -e` (release: no debug information)
 * to `<name>.xsb`. The sizes match the lin release build's .xsb files byte for byte
 * (docs/moddable.md, "Bytecode"). Needs a built Moddable SDK ($MODDABLE, its xsc); never
 * builds it.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { execFileSync } from "child_process";
import * as ts from "typescript";
import { findXsc } from "./xsc-size";

const ROOT = path.resolve(__dirname, "..");

export interface ModuleXsb {
  /** The module's specifier in the firmware: its path without ".ts" (docs/moddable.md, "Specifiers"). */
  module: string;
  xsb: number;
}

/** Every .ts (not .d.ts) under modules/, src/ and boards/, as the manifest's wildcards take them. */
export function deviceSources(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(p);
    }
  };
  for (const d of ["modules", "src", "boards"]) walk(path.join(ROOT, d));
  return out.sort();
}

/** Compiles `files` (absolute .ts paths; default deviceSources()) as mcconfig does and returns each module's .xsb size. */
export function deviceXsb(files: string[] = deviceSources()): ModuleXsb[] {
  const xsc = findXsc();
  if (!xsc.path) throw new Error(xsc.reason);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "device-xsb-"));
  try {
    const program = ts.createProgram(files, {
      target: ts.ScriptTarget.ES2025,
      module: ts.ModuleKind.Preserve,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ["lib.es2025.d.ts"],
      types: [],
      noEmitOnError: false,
      skipLibCheck: true,
      outDir: path.join(dir, "js"),
      rootDir: ROOT,
    });
    const wanted = new Set(files.map((f) => path.resolve(f)));
    const emitted: { module: string; js: string }[] = [];
    for (const sf of program.getSourceFiles()) {
      if (!wanted.has(path.resolve(sf.fileName))) continue;
      program.emit(sf, (name, text) => {
        if (!name.endsWith(".js")) return;
        fs.mkdirSync(path.dirname(name), { recursive: true });
        fs.writeFileSync(name, text);
        emitted.push({ module: path.relative(ROOT, sf.fileName).replace(/\.ts$/, "").split(path.sep).join("/"), js: name });
      });
    }
    const out: ModuleXsb[] = [];
    for (const e of emitted) {
      const name = path.basename(e.module);
      const to = path.join(dir, "xsb", path.dirname(e.module));
      fs.mkdirSync(to, { recursive: true });
      execFileSync(xsc.path, [e.js, "-c", "-e", "-o", to, "-r", name], { stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
      out.push({ module: e.module, xsb: fs.statSync(path.join(to, name + ".xsb")).size });
    }
    return out.sort((a, b) => (a.module < b.module ? -1 : a.module > b.module ? 1 : 0));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Sizes of the .xsb files of a real lin build (mcconfig -o DIR: DIR/tmp/lin/mc/release/<app>/modules), by specifier. */
export function linBuildXsb(modulesDir: string): Map<string, number> {
  const sizes = new Map<string, number>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".xsb")) sizes.set(path.relative(modulesDir, p).replace(/\.xsb$/, "").split(path.sep).join("/"), fs.statSync(p).size);
    }
  };
  walk(modulesDir);
  return sizes;
}

/** The .xsb size of one JavaScript module file compiled as mcconfig compiles it (`xsc -c -e`; `-c` allows the SDK's `@ "native"` syntax). */
export function xsbOfFile(file: string): number {
  const xsc = findXsc();
  if (!xsc.path) throw new Error(xsc.reason);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "device-xsb-"));
  try {
    const name = path.basename(file).replace(/\.js$/, "");
    execFileSync(xsc.path, [file, "-c", "-e", "-o", dir, "-r", name], { stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
    return fs.statSync(path.join(dir, name + ".xsb")).size;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

