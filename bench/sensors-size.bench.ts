/**
 * Code size of each sensor driver (issue 5, Benchmarks): bundled with rollup (tree-shaken),
 * minified with terser, gzipped; and XS bytecode compiled by a local Moddable SDK's xsc when
 * $MODDABLE points at a built SDK (skipped with a note otherwise). Sizes are measured once,
 * not timed: they are printed as result lines by fixedResult (bench/xsc-size.ts) and this
 * file has no timed cases.
 *
 * Two scopes:
 *  - "bundle": the driver with everything it imports (the shared base sensor.ts, crc8.ts, the
 *    BMx280 compensation), i.e. what one driver alone costs on a device;
 *  - "module alone": the driver's own module with its imports left external, as mcconfig
 *    compiles each module of a manifest separately; the shared base is paid once per firmware
 *    and has its own row.
 * The Moddable SDK's own SHT3x driver (modules/drivers/sensors/sht3x/sht3x.js, one
 * self-contained module) compiled by the same xsc is the peer of the SHT3x bytecode rows;
 * ratio = peer / ours, above 1 means ours is smaller.
 */
import * as fs from "fs";
import * as path from "path";
import type { BenchCase } from "./harness";
import { findXsc, fixedResult, measureSizes, spec, xscSize, type SizeEntry } from "./xsc-size";

const DRIVERS: { label: string; file: string; exports: string }[] = [
  { label: "SHT3x", file: "modules/sensors/sht3x", exports: "Sht3x" },
  { label: "SHT4x", file: "modules/sensors/sht4x", exports: "Sht4x" },
  { label: "BME280/BMP280", file: "modules/sensors/bmx280", exports: "Bme280, Bmp280, Bmx280" },
  { label: "BH1750", file: "modules/sensors/bh1750", exports: "Bh1750" },
  { label: "SCD4x", file: "modules/sensors/scd4x", exports: "Scd4x" },
  { label: "Battery", file: "modules/sensors/battery", exports: "Battery" },
  { label: "discovery", file: "modules/sensors/discover", exports: "discoverSensors, toBoardSensors" },
];
const SHARED = ["/sensor", "/crc8"];

const entries: SizeEntry[] = [];
for (const d of DRIVERS) {
  const entry = `export { ${d.exports} } from ${spec(d.file)};`;
  entries.push({ name: d.label + " bundle", entry });
  // the driver's own files (bmx280.ts + bmx280-compensation.ts), the shared base left as imports
  entries.push({ name: d.label + " module alone", entry, external: SHARED });
}
entries.push({ name: "shared base (sensor.ts + crc8.ts)", entry: `export * from ${spec("modules/sensors/sensor")};\nexport * from ${spec("modules/sensors/crc8")};` });

const xsc = findXsc();
let moddableSht3x: number | undefined;
if (xsc.path) {
  const src = path.join(process.env.MODDABLE as string, "modules", "drivers", "sensors", "sht3x", "sht3x.js");
  if (fs.existsSync(src)) moddableSht3x = xscSize(xsc.path, fs.readFileSync(src, "utf8"), "moddable_sht3x");
}

const XS_NOTE = "XS bytecode from xsc -e (release, no debug info); a different measure from minified JS: bytecode carries no whitespace or identifier length";
for (const r of measureSizes(entries)) {
  const base = "sensors size " + r.name;
  fixedResult({ name: base + ": minified JS", unit: "bytes", value: r.minified, notes: `rollup (tree-shaken) ${r.bundled} B, terser ${r.minified} B, gzip ${r.gzip} B` });
  fixedResult({ name: base + ": minified + gzip", unit: "bytes", value: r.gzip });
  if (r.xsb !== null) {
    const isSht3x = r.name.startsWith("SHT3x");
    fixedResult({
      name: base + ": XS bytecode (xsc)",
      unit: "bytes",
      value: r.xsb,
      peer: isSht3x && moddableSht3x !== undefined ? "Moddable SDK sht3x.js (xsc)" : undefined,
      peerValue: isSht3x ? moddableSht3x : undefined,
      notes: XS_NOTE + `; the minified bundle compiles to ${r.xsbMinified} B` + (isSht3x ? "; ratio = peer / ours (above 1: ours smaller)" : ""),
    });
  }
}
if (!xsc.path) fixedResult({ name: "sensors size: XS bytecode (xsc) skipped", unit: "bytes", value: NaN, notes: xsc.reason });

const cases: BenchCase[] = [];
export default cases;
