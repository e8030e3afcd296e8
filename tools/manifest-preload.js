#!/usr/bin/env node
// Writes manifest.json's "preload" lists: every module the manifest maps, except the entry
// (src/main runs the app when it loads, so it cannot run at build time), one name each since
// mcconfig matches a `*` in "preload" against JavaScript modules only, never TypeScript ones.
// The common list from "modules", each platform's own from its "modules" and the manifests it
// includes. docs/moddable.md, "Preloading"; host-tests/boards/manifest.test.ts checks the lists.
//
//   node tools/manifest-preload.js          rewrite manifest.json
//   node tools/manifest-preload.js --check  exit 1 (and say what differs) when it is not up to date
//
// As a module: { preloadLists(manifest) -> { common, platforms: {name: list} } }.
"use strict";

const fs = require("fs");
const path = require("path");

const ROOT = path.resolve(__dirname, "..");
const MANIFEST = path.join(ROOT, "manifest.json");
const ENTRY = "src/main";

/** Module names a "modules" map gives, its `*` entries expanded over the .ts/.js files of the folder (relative to `base`). */
function expand(map, base) {
  const out = [];
  for (const [name, target] of Object.entries(map || {})) {
    if (!name.endsWith("*")) {
      out.push(name);
      continue;
    }
    const dir = path.join(ROOT, base, [target].flat()[0].slice(0, -1));
    for (const f of fs.readdirSync(dir).sort()) {
      if (!fs.statSync(path.join(dir, f)).isFile() || f.endsWith(".d.ts") || !/\.(ts|js)$/.test(f)) continue;
      out.push(name.slice(0, -1) + f.replace(/\.(ts|js)$/, ""));
    }
  }
  return out;
}

function preloadLists(manifest) {
  const common = [...new Set(expand(manifest.modules, ""))].filter((m) => m !== ENTRY).sort();
  const platforms = {};
  for (const [name, p] of Object.entries(manifest.platforms || {})) {
    if (name === "...") continue;
    const own = new Set(expand(p.modules, ""));
    for (const inc of [p.include || []].flat()) {
      if (inc.includes("$(")) continue;
      const sub = JSON.parse(fs.readFileSync(path.join(ROOT, inc), "utf8"));
      for (const m of Object.keys(sub.modules || {})) own.add(m);
    }
    platforms[name] = [...own].filter((m) => m !== ENTRY && !common.includes(m)).sort();
  }
  return { common, platforms };
}

/** The manifest with its lists replaced, "preload" right after "modules" (key order kept otherwise). */
function withLists(manifest, lists) {
  const place = (obj, list) => {
    const out = {};
    for (const [k, v] of Object.entries(obj)) {
      if (k === "preload") continue;
      out[k] = v;
      if (k === "modules") out.preload = list;
    }
    if (!("preload" in out)) out.preload = list;
    return out;
  };
  const m = place(manifest, lists.common);
  m.platforms = { ...m.platforms };
  for (const [name, list] of Object.entries(lists.platforms)) m.platforms[name] = place(m.platforms[name], list);
  return m;
}

module.exports = { preloadLists, withLists };

if (require.main === module) {
  const text = fs.readFileSync(MANIFEST, "utf8");
  const manifest = JSON.parse(text);
  const next = JSON.stringify(withLists(manifest, preloadLists(manifest)), null, 2) + "\n";
  if (process.argv.includes("--check")) {
    if (next !== text) {
      process.stdout.write("manifest.json's preload lists are not up to date: run node tools/manifest-preload.js\n");
      process.exit(1);
    }
    process.stdout.write("manifest.json's preload lists are up to date\n");
  } else {
    fs.writeFileSync(MANIFEST, next);
    process.stdout.write(`manifest.json: ${preloadLists(manifest).common.length} modules preloaded on every platform, plus each platform's own\n`);
  }
}
