/**
 * The firmware's XS bytecode, module by module, as the lin release build ships it (issue 17,
 * "a budget for the rest of the firmware's bytecode"): each device module compiled as mcconfig
 * compiles it (bench/device-xsb.ts: tsc over the whole program, then the SDK's `xsc -c -e`),
 * beside the figure at the start of issue 17 (commit 6991595, a real `mcconfig -m -p lin`
 * build) and the budget where the issue sets one:
 *   - CoAP client + server (every module of modules/coap the firmware ships) <= 40 KB;
 *   - each sensor driver <= 2x the Moddable SDK's driver for the same chip (its .js compiled by
 *     the same xsc; the SDK's BMP280 does its compensation in C, which bytecode does not count);
 *   - the shared sensor base (sensor.ts + crc8.ts) <= 3 KB.
 * Totals: every module of ours (modules/, src/, boards/; the lin build adds the simulated
 * chips of sim/), and, when XSIOT_LIN_BUILD names a lin build's modules folder
 * (`<mcconfig -o DIR>/tmp/lin/mc/release/<app>/modules`), the whole firmware there, the SDK's
 * modules included. Measured once, printed by fixedResult; `value` is bytes, `peerValue` the
 * SDK driver or the budget, ratio = peer / ours (above 1: within).
 */
import * as fs from "fs";
import * as path from "path";
import type { BenchCase } from "./harness";
import { deviceXsb, linBuildXsb, xsbOfFile } from "./device-xsb";
import { fixedResult } from "./xsc-size";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { preloadLists } = require("../tools/manifest-preload");

/** The lin release build of commit 6991595 (the start of issue 17), .xsb bytes per module. */
const BEFORE: { [module: string]: number } = {
  "modules/coap/block": 3669, "modules/coap/client": 15229, "modules/coap/codec": 8590, "modules/coap/constants": 5305,
  "modules/coap/dedup": 1085, "modules/coap/link-format": 3750, "modules/coap/messaging": 14918, "modules/coap/observe": 2265,
  "modules/coap/options": 7811, "modules/coap/plugtest": 7466, "modules/coap/server": 17948, "modules/coap/udp-endpoint": 1063,
  "modules/coap/uri": 5068,
  "modules/sensors/battery": 2079, "modules/sensors/bh1750": 2663, "modules/sensors/bmx280-compensation": 4377, "modules/sensors/bmx280": 6274,
  "modules/sensors/crc8": 893, "modules/sensors/discover": 4134, "modules/sensors/scd4x": 5159, "modules/sensors/sensor": 5247,
  "modules/sensors/sht3x": 4383, "modules/sensors/sht4x": 2765,
  "modules/telemetry/homeassistant": 3771, "modules/telemetry/senml": 15365, "modules/telemetry/split": 4309,
  "modules/cbor/cbor": 10702, "modules/bytes/index": 900, "modules/bytes/utf8": 5951, "modules/bytes/varint": 1330,
};
/** Totals of that build: our modules (modules/, src/, boards/), and the whole firmware (with sim/ and the SDK's). */
const BEFORE_OURS = 377598;
const BEFORE_FIRMWARE = 498647;

const KB = 1024;

function note(before: number | undefined): string {
  return before === undefined ? "new since 6991595" : `6991595: ${before} B`;
}

/** What the lin build ships of ours: every module manifest.json maps for lin (its preload lists, and the entry). */
const lists = preloadLists(JSON.parse(fs.readFileSync(path.join(__dirname, "..", "manifest.json"), "utf8")));
const shipped = new Set<string>([...lists.common, ...lists.platforms.lin, "src/main"]);

const sizes = deviceXsb();
const by = new Map(sizes.map((m) => [m.module, m.xsb]));
const sum = (mods: string[]) => mods.reduce((n, m) => n + (by.get(m) ?? 0), 0);
const sumBefore = (mods: string[]) => mods.reduce((n, m) => n + (BEFORE[m] ?? 0), 0);

// one row per module of the areas with a budget, and of telemetry, CBOR and bytes
const AREAS = ["modules/coap/", "modules/sensors/", "modules/telemetry/", "modules/cbor/", "modules/bytes/"];
const listed = new Set([...sizes.map((m) => m.module), ...Object.keys(BEFORE)]);
for (const m of [...listed].sort()) {
  if (!AREAS.some((a) => m.startsWith(a))) continue;
  const now = by.get(m);
  const where = now === undefined ? "gone; " : shipped.has(m) ? "" : "not in the firmware (host and tests only); ";
  fixedResult({ name: `firmware xsb ${m}`, unit: "bytes", value: now ?? 0, notes: where + note(BEFORE[m]) });
}

// CoAP: the modules the firmware ships, against 40 KB
const coap = sizes.map((m) => m.module).filter((m) => m.startsWith("modules/coap/") && shipped.has(m));
const coapBefore = Object.keys(BEFORE).filter((m) => m.startsWith("modules/coap/"));
fixedResult({
  name: "firmware xsb CoAP client + server (modules/coap/*)",
  unit: "bytes",
  value: sum(coap),
  peer: "issue 17 budget (40 KB)",
  peerValue: 40 * KB,
  notes: `the ${coap.length} modules the firmware ships; 6991595: ${sumBefore(coapBefore)} B in ${coapBefore.length} modules (the plugtest fixture included)`,
});

// Sensors: the shared base, and each driver against the SDK's driver for its chip
const base = ["modules/sensors/sensor", "modules/sensors/crc8"];
fixedResult({ name: "firmware xsb sensor base (sensor.ts + crc8.ts)", unit: "bytes", value: sum(base), peer: "issue 17 budget (3 KB)", peerValue: 3 * KB, notes: `6991595: ${sumBefore(base)} B` });

function sdkDriver(rel: string): number | undefined {
  const file = path.join(process.env.MODDABLE as string, "modules", "drivers", "sensors", rel);
  return fs.existsSync(file) ? xsbOfFile(file) : undefined;
}
const DRIVERS: { label: string; modules: string[]; sdk?: string }[] = [
  { label: "SHT3x", modules: ["modules/sensors/sht3x"], sdk: "sht3x/sht3x.js" },
  { label: "BME280/BMP280", modules: ["modules/sensors/bmx280", "modules/sensors/bmx280-compensation"], sdk: "bmp280/bmp280.js" },
  { label: "SHT4x", modules: ["modules/sensors/sht4x"] },
  { label: "BH1750", modules: ["modules/sensors/bh1750"] },
  { label: "SCD4x", modules: ["modules/sensors/scd4x"] },
  { label: "Battery", modules: ["modules/sensors/battery"] },
];
for (const d of DRIVERS) {
  const sdk = d.sdk ? sdkDriver(d.sdk) : undefined;
  fixedResult({
    name: `firmware xsb ${d.label} driver (${d.modules.map((m) => path.basename(m)).join(" + ")})`,
    unit: "bytes",
    value: sum(d.modules),
    peer: sdk !== undefined ? `2x the Moddable SDK's ${d.sdk} (xsc -c -e)` : undefined,
    peerValue: sdk !== undefined ? 2 * sdk : undefined,
    notes:
      `6991595: ${sumBefore(d.modules)} B` +
      (sdk !== undefined ? `; the SDK's driver: ${sdk} B` + (d.sdk!.startsWith("bmp280") ? " of JS (its compensation is C, not counted)" : "") : "; no SDK driver for this chip"),
  });
}

// Totals
const ours = sizes.filter((m) => /^(modules|src|boards)\//.test(m.module) && shipped.has(m.module));
fixedResult({ name: "firmware xsb all our modules (modules/, src/, boards/)", unit: "bytes", value: sum(ours.map((m) => m.module)), notes: `${ours.length} modules the lin build ships; 6991595: ${BEFORE_OURS} B (lin build)` });
const lin = process.env.XSIOT_LIN_BUILD;
if (lin && fs.existsSync(lin)) {
  const all = linBuildXsb(lin);
  let total = 0;
  let mine = 0;
  for (const [m, n] of all) {
    total += n;
    if (/^(modules|src|boards)\//.test(m)) mine += n;
  }
  fixedResult({ name: "firmware xsb lin release build: whole firmware", unit: "bytes", value: total, notes: `${all.size} .xsb in ${lin}; ours (modules/, src/, boards/) ${mine} B; 6991595: ${BEFORE_FIRMWARE} B` });
} else {
  fixedResult({ name: "firmware xsb lin release build: skipped", unit: "bytes", value: NaN, notes: "set XSIOT_LIN_BUILD to a lin build's modules folder for the whole firmware's total" });
}

const cases: BenchCase[] = [];
export default cases;
