import * as fs from "node:fs";
import * as path from "node:path";
import { boards } from "../../boards/index";

// Node-only: reads manifest.json. The manifest maps each Moddable platform target to its
// board (issue 5); this keeps the two from drifting apart.
const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, "../../manifest.json"), "utf8"));

describe("manifest.json and boards/ agree", () => {
  it.each(Object.values(boards).map((b) => [b.name, b] as const))("%s: its Moddable target names it, with its I2C pins", (_name, board) => {
    const platform = manifest.platforms[board.moddableTarget];
    expect(platform).toBeDefined();
    const xsiot = platform.config.xsiot;
    expect(xsiot.board).toBe(board.name);
    if (board.soc !== "host") {
      expect(xsiot.i2c).toEqual({ data: board.i2c.data, clock: board.i2c.clock, hz: board.i2c.hz });
    }
  });

  it("declares no ESP32 target without a board definition", () => {
    const targets = new Set(Object.values(boards).map((b) => b.moddableTarget));
    for (const key of Object.keys(manifest.platforms)) {
      if (key === "...") continue;
      expect(targets.has(key)).toBe(true);
    }
  });
});

// mcconfig compiles only the modules the manifest maps, and a module that imports one it does
// not map builds fine and then aborts at boot ("XS abort: unhandled exception", seen in the
// lin simulator when sim/i2c.ts started importing sim/io-buffers). So: from src/main, follow
// every relative import (not `import type`, which tsc erases) the way XS resolves it (against
// the importing module's NAME, docs/conventions.md), and require each module to be mapped,
// for every platform of the manifest.
describe("manifest.json maps every module the app imports", () => {
  const ROOT = path.join(__dirname, "../..");
  function mapped(map: { [name: string]: string }, name: string): string | undefined {
    if (map[name]) return map[name];
    const dir = name.slice(0, name.lastIndexOf("/") + 1);
    const wild = map[dir + "*"];
    return wild ? wild.slice(0, -1) + name.slice(dir.length) : undefined;
  }
  function imports(file: string): string[] {
    const text = fs.readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
    const out: string[] = [];
    const re = /^\s*(import|export)\s+(type\s+)?[^;]*?\bfrom\s+"([^"]+)"|^\s*import\s+"([^"]+)"/gm;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text))) {
      if (m[2]) continue; // `import type` / `export type`: erased
      const spec = m[3] ?? m[4];
      if (spec.startsWith(".")) out.push(spec);
    }
    return out;
  }
  const platforms = Object.keys(manifest.platforms).filter((k) => k !== "...");
  it.each(platforms)("%s", (platform) => {
    const map: { [name: string]: string } = { ...manifest.modules, ...(manifest.platforms[platform].modules ?? {}) };
    // the platform's own manifests (ours, not $(MODDABLE)'s) map modules too, relative to their folder
    for (const inc of [manifest.platforms[platform].include ?? []].flat() as string[]) {
      if (inc.includes("$(")) continue;
      const sub = JSON.parse(fs.readFileSync(path.join(ROOT, inc), "utf8"));
      for (const [name, targets] of Object.entries(sub.modules ?? {})) {
        const list = ([targets].flat() as string[]).map((t) => "./" + path.posix.join(path.posix.dirname(inc), t));
        map[name] = list.find((t) => fs.existsSync(path.join(ROOT, t + ".ts"))) ?? list[0];
      }
    }
    const missing: string[] = [];
    const seen = new Set<string>();
    const queue = ["src/main"];
    while (queue.length) {
      const name = queue.shift()!;
      if (seen.has(name)) continue;
      seen.add(name);
      const target = mapped(map, name);
      if (!target) continue;
      const file = path.join(ROOT, target + ".ts");
      if (!fs.existsSync(file)) {
        // a native module's JavaScript half (native.js + native.c): mapped, nothing to follow
        expect(fs.existsSync(path.join(ROOT, target + ".js"))).toBe(true);
        continue;
      }
      for (const spec of imports(file)) {
        const dep = path.posix.normalize(path.posix.join(path.posix.dirname(name), spec));
        if (!mapped(map, dep)) missing.push(`${dep} (imported by ${name})`);
        queue.push(dep);
      }
    }
    expect(missing).toEqual([]);
    // the walk reached the app and its protocol modules
    expect(seen.has("src/app")).toBe(true);
    expect(seen.has("modules/mqtt/client")).toBe(true);
  });
});

// Moddable apps preload their modules (docs/moddable.md, "Preloading"): their code and objects
// are prepared at build time and live in flash. mcconfig matches a `*` in "preload" against
// JavaScript modules only, never TypeScript ones, so the lists name each module; this keeps them
// complete: every module a platform's build maps is preloaded, except the entry (src/main runs
// the app when it loads, so it cannot run at build time). After adding or removing a module:
// `node tools/manifest-preload.js` rewrites the lists.
describe("manifest.json preloads every module it maps but the entry", () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { preloadLists } = require("../../tools/manifest-preload");
  const lists = preloadLists(manifest);
  const platforms = Object.keys(manifest.platforms).filter((k) => k !== "...");
  it.each(platforms)("%s (if not: node tools/manifest-preload.js)", (platform) => {
    const p = manifest.platforms[platform];
    const preloaded = [...manifest.preload, ...(p.preload ?? [])];
    expect(new Set(preloaded).size).toBe(preloaded.length); // each once
    expect([...preloaded].sort()).toEqual([...lists.common, ...lists.platforms[platform]].sort());
    expect(preloaded).not.toContain("src/main");
    expect(preloaded).toContain("src/app");
  });
});
