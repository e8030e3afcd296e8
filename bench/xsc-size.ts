/**
 * Code-size measurement for the Node bench files (Node only: fs, zlib, child_process).
 *
 *   measureSizes([{ name, entry }])  ->  [{ name, bundled, minified, gzip, xsb, xsbMinified }]
 *
 * - bundled:  rollup, tree-shaken, ES module output (TypeScript transpiled to ES2022, as the
 *             XS test pipeline does), bytes of JS source;
 * - minified: that bundle through terser (compress + mangle, module mode), bytes;
 * - gzip:     the minified text gzipped at level 9, bytes;
 * - xsb:      XS bytecode: the bundle compiled by an EXISTING xsc (the Moddable SDK's compiler,
 *             `$MODDABLE/build/bin/lin/release/xsc`, release flags `-e`, no `-d`), bytes of
 *             the .xsb; null when there is no xsc (see findXsc). This file never builds the SDK.
 *
 * Minified JS and XS bytecode are different measures: the device stores bytecode (in flash,
 * in the archive mcconfig builds), never the JS text; a minifier shortens identifiers and
 * whitespace that bytecode does not carry anyway, so the two do not scale together.
 *
 * rollup is asynchronous and bench files are loaded synchronously (bench/node-entry.ts), so
 * measureSizes runs this same file as a child process (`--size-worker`) and waits for it.
 *
 * fixedResult() prints a bench result line for a figure that is measured once, not timed
 * (bytes), in the `##bench` format of bench/harness.ts, honouring the case filters that
 * bench/run.js passes to node-entry.ts.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import { execFileSync } from "child_process";

const ROOT = path.resolve(__dirname, "..");

export interface SizeEntry {
  name: string;
  /** ES module source whose imports are absolute paths; its exports are kept. */
  entry: string;
  /**
   * Module specifiers left as imports instead of being bundled, matched by suffix (e.g.
   * "/sensor" keeps `import ... from "./sensor"`): to size one module alone, as mcconfig
   * compiles each module of a manifest on its own.
   */
  external?: string[];
  /**
   * Module path suffixes (e.g. "/mqtt/outbox.ts"): also measure the code these modules have
   * in the bundle (rollup's rendered code of each, tree-shaken), put together and compiled
   * as one unit; see SizeResult.partXsb.
   */
  part?: string[];
}

export interface SizeResult {
  name: string;
  bundled: number;
  minified: number;
  gzip: number;
  /** XS bytecode of the bundle, or null without xsc. */
  xsb: number | null;
  /** XS bytecode of the minified bundle, or null without xsc. */
  xsbMinified: number | null;
  /**
   * With `part`: XS bytecode of those modules' code as it is in the bundle (no unused export,
   * names shared among them but not with the rest), or null without xsc or `part`.
   */
  partXsb: number | null;
  /** With `part`: the modules that matched, as path suffixes relative to the project. */
  partModules: string[];
}

/** The xsc binary of a local Moddable SDK build, or null with the reason. Only uses what exists. */
export function findXsc(): { path: string | null; reason: string } {
  const sdk = process.env.MODDABLE;
  if (!sdk) return { path: null, reason: "MODDABLE is not set: no XS bytecode sizes (set it to a built Moddable SDK)" };
  const xsc = path.join(sdk, "build", "bin", "lin", "release", "xsc");
  if (!fs.existsSync(xsc)) return { path: null, reason: `no xsc at ${xsc}: no XS bytecode sizes (the SDK's tools are not built)` };
  return { path: xsc, reason: "" };
}

/** Compiles one ES module source with xsc (release: `-e`, no debug info) and returns the .xsb size. */
export function xscSize(xsc: string, code: string, name: string): number {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xsc-size-"));
  try {
    const src = path.join(dir, name + ".js");
    fs.writeFileSync(src, code);
    execFileSync(xsc, [src, "-e", "-o", dir, "-r", name], { stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
    return fs.statSync(path.join(dir, name + ".xsb")).size;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Import specifier for an absolute path inside an entry source. */
export function spec(file: string): string {
  return JSON.stringify(path.resolve(ROOT, file));
}

/** Bundles, minifies, gzips and (with xsc) compiles each entry. Synchronous (a child process). */
export function measureSizes(entries: SizeEntry[]): SizeResult[] {
  const out = execFileSync(process.execPath, ["--import", "tsx", __filename, "--size-worker"], {
    cwd: ROOT,
    input: JSON.stringify(entries),
    maxBuffer: 16 * 1024 * 1024,
    timeout: 10 * 60_000,
  });
  return JSON.parse(out.toString()) as SizeResult[];
}

let filters: string[] | null = null;
function caseFilters(): string[] {
  if (filters === null) {
    filters = [];
    try {
      const o = JSON.parse(process.argv[3] || "{}") as { filters?: string[] };
      if (Array.isArray(o.filters)) filters = o.filters;
    } catch {
      filters = [];
    }
  }
  return filters;
}

/**
 * Prints one measured-once figure as a bench result. `ratio` for sizes is peer / ours, so
 * that above 1 still means "ours is better" (smaller); say so in the notes.
 */
export function fixedResult(r: { name: string; unit: string; value: number; peer?: string; peerValue?: number; notes?: string }): void {
  const f = caseFilters();
  if (f.length && !f.some((s) => r.name.includes(s))) return;
  const hasPeer = r.peer !== undefined && r.peerValue !== undefined;
  const line = {
    name: r.name,
    unit: r.unit,
    value: r.value,
    peer: hasPeer ? r.peer : null,
    peerValue: hasPeer ? r.peerValue : null,
    ratio: hasPeer ? (r.peerValue as number) / r.value : null,
    engine: "node",
    notes: r.notes || "",
  };
  process.stdout.write("##bench " + JSON.stringify(line) + "\n");
}

// --- the worker (runs in a child process) ----------------------------------------------------

async function bundleEsm(entryCode: string, external: string[]): Promise<{ code: string; modules: Record<string, string> }> {
  const { rollup } = await import("rollup");
  const { nodeResolve } = await import("@rollup/plugin-node-resolve");
  const ts = await import("typescript");
  const VIRTUAL = "\0size-entry";
  const build = await rollup({
    input: VIRTUAL,
    treeshake: true,
    external: (id: string) => external.some((x) => id.endsWith(x) || id.endsWith(x + ".ts")),
    onwarn() {},
    plugins: [
      {
        name: "size-entry",
        resolveId: (id: string) => (id === VIRTUAL ? VIRTUAL : null),
        load: (id: string) => (id === VIRTUAL ? entryCode : null),
      },
      nodeResolve({ extensions: [".ts", ".mjs", ".js", ".json"], rootDir: ROOT, preferBuiltins: false }),
      {
        name: "size-typescript",
        transform(code: string, id: string) {
          if (!/\.[cm]?ts$/.test(id) || id.endsWith(".d.ts")) return null;
          const r = ts.transpileModule(code, {
            fileName: id,
            reportDiagnostics: false,
            compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, isolatedModules: true, useDefineForClassFields: true },
          });
          return { code: r.outputText, map: null };
        },
      },
    ],
  });
  try {
    const { output } = await build.generate({ format: "es", sourcemap: false });
    const chunk = output[0];
    const modules: Record<string, string> = {};
    for (const id of Object.keys(chunk.modules)) modules[id] = chunk.modules[id].code || "";
    return { code: chunk.code, modules };
  } finally {
    await build.close();
  }
}

async function worker(): Promise<void> {
  const entries = JSON.parse(fs.readFileSync(0, "utf8")) as SizeEntry[];
  const { minify } = await import("terser");
  const xsc = findXsc().path;
  const results: SizeResult[] = [];
  for (const e of entries) {
    const { code: bundled, modules } = await bundleEsm(e.entry, e.external || []);
    const partIds = e.part ? Object.keys(modules).filter((id) => e.part!.some((x) => id.endsWith(x))) : [];
    const min = await minify(bundled, { module: true, ecma: 2020, compress: { passes: 2 }, mangle: true, format: { comments: false } });
    const minified = min.code || "";
    const name = e.name.replace(/\W+/g, "_");
    results.push({
      name: e.name,
      bundled: Buffer.byteLength(bundled),
      minified: Buffer.byteLength(minified),
      gzip: zlib.gzipSync(minified, { level: 9 }).length,
      xsb: xsc ? xscSize(xsc, bundled, name) : null,
      xsbMinified: xsc ? xscSize(xsc, minified, name + "_min") : null,
      partXsb: xsc && partIds.length ? xscSize(xsc, partIds.map((id) => modules[id]).join("\n"), name + "_part") : null,
      partModules: partIds.map((id) => path.relative(ROOT, id)),
    });
  }
  process.stdout.write(JSON.stringify(results));
}

if (process.argv[2] === "--size-worker") {
  worker().catch((e) => {
    process.stderr.write(String(e && e.stack ? e.stack : e) + "\n");
    process.exit(1);
  });
}
