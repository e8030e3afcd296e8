/*
 * The layers of docs/conventions.md ("Where code lives"), checked on the import graph of the
 * tree: every import specifier of every .ts file under modules/, src/, boards/ and sim/ is
 * resolved and held against the rules of its layer. (Node globals such as Buffer, process
 * or setTimeout in the same code are refused by `npm run typecheck`: tsconfig.json compiles
 * it with no Node types.)
 */
import * as fs from "fs";
import * as path from "path";
import { builtinModules } from "module";

const ROOT = path.resolve(__dirname, "../..");

export interface ImportEdge {
  /** The importing file, relative to the repository, with "/" separators. */
  from: string;
  specifier: string;
  /** The imported file relative to the repository ("" for a bare specifier). */
  to: string;
}

/** The import and export-from specifiers of a TypeScript source (type-only ones too: a layer may not even name another's types). */
export function specifiers(source: string): string[] {
  const out: string[] = [];
  const re = /(?:^|[\s;}])(?:import|export)\s*(?:type\s+)?(?:[\w*${}\s,]+?\s+from\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;
  const text = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1");
  for (let m; (m = re.exec(text)); ) out.push(m[1] ?? m[2]);
  return out;
}

function resolveRelative(from: string, spec: string): string {
  const base = path.posix.join(path.posix.dirname(from), spec);
  for (const candidate of [base + ".ts", base + "/index.ts", base + ".js", base]) if (fs.existsSync(path.join(ROOT, candidate))) return candidate;
  return base;
}

/** Which rule a file's imports must keep, by where it lives. */
export function layerOf(file: string): "moddable" | "modules" | "src" | "boards" | "sim" | "sim-node" | undefined {
  if (file.startsWith("modules/platform/moddable/")) return "moddable";
  if (file.startsWith("modules/")) return "modules";
  if (file.startsWith("src/")) return "src";
  if (file.startsWith("boards/")) return "boards";
  if (file.startsWith("sim/node/")) return "sim-node";
  if (file.startsWith("sim/")) return "sim";
  return undefined;
}

const NODE_BUILTINS = new Set(builtinModules);

function isNodeBuiltin(spec: string): boolean {
  return spec.startsWith("node:") || NODE_BUILTINS.has(spec.split("/")[0]);
}

/** Why `edge` breaks its layer's rule, or undefined when it keeps it. */
export function violation(edge: ImportEdge): string | undefined {
  const layer = layerOf(edge.from);
  const { specifier: spec, to } = edge;
  if (!layer || layer === "sim-node") return undefined;
  // The Moddable binding's host modules ("net", "timer", "embedded:io/...") share some Node names.
  if (isNodeBuiltin(spec) && layer !== "moddable") return "imports a Node API";
  if (!to) {
    // Bare specifiers: host modules of the Moddable SDK, only where the binding or the entry is.
    if (layer === "moddable" || (edge.from === "src/main.ts" && spec === "mc/config")) return undefined;
    return `imports the package or host module "${spec}"`;
  }
  const area = to.split("/")[0];
  if (to.startsWith("sim/node/")) return "imports from the Node-only simulator (sim/node/)";
  if (area !== "modules" && area !== "src" && area !== "boards" && area !== "sim") return `imports ${area}/ (host code)`;
  switch (layer) {
    case "modules":
    case "moddable":
      if (area !== "modules") return `imports ${area}/: modules/ is below the app, the boards and the simulator`;
      if (layer === "modules" && to.startsWith("modules/platform/moddable/")) return "imports the Moddable binding (only src/main.ts may)";
      return undefined;
    case "boards":
      return area === "modules" || area === "boards" ? undefined : `imports ${area}/: boards are data over modules/ only`;
    case "src":
      if (area === "sim" && edge.from !== "src/hardware-lin.ts") return "imports sim/: only src/hardware-lin.ts (the lin build's simulated chips) may";
      return undefined;
    case "sim":
      return area === "src" ? "imports src/: the simulator runs the app, the app does not need it" : undefined;
  }
}

function walk(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = dir + "/" + e.name;
    if (e.isDirectory()) walk(rel, out);
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(rel);
  }
  return out;
}

export function importEdges(files: string[]): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const from of files) {
    for (const specifier of specifiers(fs.readFileSync(path.join(ROOT, from), "utf8"))) {
      edges.push({ from, specifier, to: specifier.startsWith(".") ? resolveRelative(from, specifier) : "" });
    }
  }
  return edges;
}

const FILES = ["modules", "src", "boards", "sim"].flatMap((d) => walk(d));
const EDGES = importEdges(FILES);

describe("layers (docs/conventions.md)", () => {
  it("reads the imports of every source file", () => {
    expect(FILES.length).toBeGreaterThan(100);
    expect(EDGES.filter((e) => e.from === "src/hardware-lin.ts").map((e) => e.to)).toEqual(expect.arrayContaining(["sim/hardware.ts", "sim/scenarios.ts"]));
    expect(EDGES.some((e) => e.from === "sim/node/cli-sim.ts" && e.specifier === "node:fs")).toBe(true);
  });

  it("every import keeps its layer's rule", () => {
    const broken = EDGES.map((e) => ({ e, why: violation(e) })).filter((x) => x.why).map(({ e, why }) => `${e.from}: "${e.specifier}" ${why}`);
    expect(broken).toEqual([]);
  });

  it("every relative import resolves to a file (a moved file leaves no stale path behind)", () => {
    const missing = EDGES.filter((e) => e.to && !fs.existsSync(path.join(ROOT, e.to))).map((e) => `${e.from}: "${e.specifier}"`);
    expect(missing).toEqual([]);
  });

  it("the portable simulator (sim/ outside sim/node/) imports no Node API and nothing of sim/node/", () => {
    const portable = FILES.filter((f) => layerOf(f) === "sim");
    expect(portable).toEqual(expect.arrayContaining(["sim/device.ts", "sim/hardware.ts", "sim/i2c.ts", "sim/devices/sht3x.ts", "sim/virtual-clock.ts"]));
    expect(EDGES.filter((e) => layerOf(e.from) === "sim" && (isNodeBuiltin(e.specifier) || e.to.startsWith("sim/node/")))).toEqual([]);
  });

  it("refuses what the rules forbid", () => {
    const edge = (from: string, specifier: string, to = "") => violation({ from, specifier, to });
    expect(edge("sim/i2c.ts", "node:events")).toBe("imports a Node API");
    expect(edge("sim/devices/sht3x.ts", "events")).toBe("imports a Node API");
    expect(edge("sim/hardware.ts", "./node/tcp", "sim/node/tcp.ts")).toMatch(/Node-only/);
    expect(edge("src/hardware-lin.ts", "../sim/node/udp", "sim/node/udp.ts")).toMatch(/Node-only/);
    expect(edge("src/app.ts", "../sim/hardware", "sim/hardware.ts")).toMatch(/only src\/hardware-lin/);
    expect(edge("modules/config/schema.ts", "../../boards/types", "boards/types.ts")).toMatch(/modules\/ is below/);
    expect(edge("modules/config/core.ts", "../../src/link", "src/link.ts")).toMatch(/modules\/ is below/);
    expect(edge("modules/mqtt/client.ts", "../platform/moddable/sockets", "modules/platform/moddable/sockets.ts")).toMatch(/Moddable binding/);
    expect(edge("modules/mqtt/client.ts", "timer")).toMatch(/host module/);
    expect(edge("src/app.ts", "../host-tests/support/peers", "host-tests/support/peers.ts")).toMatch(/host code/);
    expect(edge("boards/sim.ts", "../src/app", "src/app.ts")).toMatch(/boards are data/);
    // Allowed:
    expect(edge("src/hardware-lin.ts", "../sim/hardware", "sim/hardware.ts")).toBeUndefined();
    expect(edge("src/main.ts", "mc/config")).toBeUndefined();
    expect(edge("modules/platform/moddable/clock.ts", "timer")).toBeUndefined();
    expect(edge("modules/platform/moddable/sockets.ts", "net")).toBeUndefined(); // Moddable's, not Node's
    expect(edge("sim/node/tcp.ts", "node:net")).toBeUndefined();
    expect(edge("sim/device.ts", "../modules/platform/sha256", "modules/platform/sha256.ts")).toBeUndefined();
  });

  it("finds imports in their every form", () => {
    const src = `import type { A } from "./a";\nimport { B,\n  C } from '../b';\nimport "./side";\nexport { D } from "./d";\nexport * from "./e";\nconst f = await import("./f");\n// import { G } from "./g";\n/* import { H } from "./h"; */\n`;
    expect(specifiers(src)).toEqual(["./a", "../b", "./side", "./d", "./e", "./f"]);
  });
});
