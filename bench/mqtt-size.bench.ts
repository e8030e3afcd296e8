/*
 * Code size of the MQTT modules: bundled (rollup, tree-shaken, ES module) and minified
 * (@rollup/plugin-terser), with gzip for reference. Two bundles: the whole client
 * (client + session + outbox + back-off + codec) and the session alone (session + outbox +
 * codec, no socket binding). The target is the Moddable SDK's 3.1.1 client plus its
 * reconnecting wrapper, about 18.9 KB of XS bytecode; minified JS and XS bytecode are
 * different measures (bytecode is usually somewhat larger than minified source for the
 * same code), so the comparison is indicative only. Where $MODDABLE is set and
 * tools/xsc-size.js exists, that script's bytecode figure is reported too.
 *
 * The timed case (client construction) only carries the size figures into the results.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import type { BenchCase } from "./harness";
import { MqttSession } from "../modules/mqtt/session";
import { Scheduler } from "../modules/scheduler/scheduler";
import { VirtualClock } from "../sim/virtual-clock";

const ROOT = path.resolve(__dirname, "..");

const SCRIPT = `
const path = require("path"), zlib = require("zlib");
const ts = require("typescript");
const { rollup } = require("rollup");
const { nodeResolve } = require("@rollup/plugin-node-resolve");
const terser = require("@rollup/plugin-terser");
const ROOT = process.argv[1];
async function size(entry) {
  const build = await rollup({
    input: "\\0entry",
    onwarn() {},
    plugins: [
      { name: "entry", resolveId: (id) => (id === "\\0entry" ? id : null), load: (id) => (id === "\\0entry" ? entry : null) },
      nodeResolve({ extensions: [".ts", ".js"], rootDir: ROOT }),
      { name: "ts", transform(code, id) { if (!id.endsWith(".ts")) return null;
        const out = ts.transpileModule(code, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext }, fileName: id });
        return { code: out.outputText, map: null }; } },
      (terser.default || terser)({ ecma: 2020, module: true, compress: { passes: 2 } }),
    ],
  });
  const { output } = await build.generate({ format: "es" });
  await build.close();
  const code = output[0].code;
  return { bytes: Buffer.byteLength(code), gzip: zlib.gzipSync(code, { level: 9 }).length };
}
(async () => {
  const m = (f) => JSON.stringify(path.join(ROOT, "modules/mqtt", f));
  const client = await size("export { MqttClient } from " + m("client.ts") + ";");
  const session = await size("export { MqttSession } from " + m("session.ts") + "; export { MqttOutbox } from " + m("outbox.ts") + ";");
  const codec = await size("export * from " + m("codec.ts") + ";");
  process.stdout.write(JSON.stringify({ client, session, codec }));
})().catch((e) => { process.stderr.write(String(e.stack || e)); process.exit(1); });
`;

interface Sizes {
  client: { bytes: number; gzip: number };
  session: { bytes: number; gzip: number };
  codec: { bytes: number; gzip: number };
}

const sizes = JSON.parse(execFileSync(process.execPath, ["-e", SCRIPT, ROOT], { cwd: ROOT, encoding: "utf8" })) as Sizes;

let bytecode = "";
const xscSize = path.join(ROOT, "tools/xsc-size.js");
if (process.env.MODDABLE && fs.existsSync(xscSize)) {
  try {
    bytecode = execFileSync(process.execPath, [xscSize, path.join(ROOT, "modules/mqtt")], { cwd: ROOT, encoding: "utf8" }).trim();
  } catch (e) {
    bytecode = "xsc-size failed: " + String((e as Error).message);
  }
}

const TARGET = 18.9 * 1024;
const kb = (n: number) => (n / 1024).toFixed(1) + " KB";
process.stderr.write(
  `mqtt-size: client bundle ${sizes.client.bytes} B min (${kb(sizes.client.bytes)}), ${sizes.client.gzip} B gzip; ` +
    `session+outbox+codec ${sizes.session.bytes} B min, ${sizes.session.gzip} B gzip; codec alone ${sizes.codec.bytes} B min; target ~${kb(TARGET)} XS bytecode` +
    (bytecode ? "; xsc: " + bytecode : "; no $MODDABLE/xsc: bytecode not measured") + "\n",
);

const clock = new VirtualClock();
const scheduler = new Scheduler({ clock });

const cases: BenchCase[] = [
  {
    name: `MQTT client bundled+minified ${kb(sizes.client.bytes)} (${sizes.client.gzip} B gzip); session+outbox+codec ${kb(sizes.session.bytes)} [timed: session construction]`,
    unit: "ops/s",
    run: () => new MqttSession({ scheduler, clientId: "x", version: 5 }),
    notes:
      `client ${sizes.client.bytes} B minified JS / ${sizes.client.gzip} B gzip; session+outbox+codec ${sizes.session.bytes} B / ${sizes.session.gzip} B gzip; codec alone ${sizes.codec.bytes} B; ` +
      `issue target: < ~18.9 KB XS bytecode (Moddable 3.1.1 client + reconnecting wrapper); minified JS is not bytecode` +
      (bytecode ? "; xsc: " + bytecode : ""),
  },
];

export default cases;
