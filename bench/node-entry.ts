/**
 * Runs one Node bench file: node --import tsx bench/node-entry.ts <file> <options JSON>
 * Prints `##bench` lines (see harness.ts) on stdout. Used by bench/run.js.
 */
import * as path from "path";
import { pathToFileURL } from "url";
import { runAll, defaultOptions, BenchCase } from "./harness";

async function main(): Promise<void> {
  const [file, json] = process.argv.slice(2);
  const opts = JSON.parse(json || "{}") as { sliceMs?: number; rounds?: number; filters?: string[] };
  const mod = await import(pathToFileURL(path.resolve(file)).href);
  let cases: unknown = mod.default;
  if (cases && !Array.isArray(cases) && Array.isArray((cases as { default?: unknown }).default)) {
    cases = (cases as { default: unknown }).default;
  }
  if (!Array.isArray(cases)) throw new Error(file + ": the default export must be an array of bench cases");
  const filters = opts.filters || [];
  runAll(
    cases as BenchCase[],
    "node",
    (line) => process.stdout.write(line + "\n"),
    { ...defaultOptions, sliceMs: opts.sliceMs || defaultOptions.sliceMs, rounds: opts.rounds || defaultOptions.rounds },
    filters.length ? (name) => filters.some((f) => name.includes(f)) : undefined,
  );
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + "\n");
  process.exit(1);
});
