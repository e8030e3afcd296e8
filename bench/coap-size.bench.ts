/**
 * Code size of the CoAP modules (issue 4, Benchmarks): bundled with rollup (tree-shaken),
 * minified with terser, gzipped, and XS bytecode through a local Moddable SDK's xsc when
 * $MODDABLE points at a built SDK (skipped with a note otherwise). Measured once, printed by
 * fixedResult (bench/xsc-size.ts); no timed cases. Each row is a bundle of what that layer
 * needs from below (the client and server include messaging, codec, options...).
 */
import type { BenchCase } from "./harness";
import { findXsc, fixedResult, measureSizes, spec, type SizeEntry } from "./xsc-size";

const LAYERS: { label: string; entry: string }[] = [
  { label: "codec (encode + decode + options)", entry: `export { encode, decode, rejection } from ${spec("modules/coap/codec")};\nexport * from ${spec("modules/coap/options")};` },
  { label: "messaging (CoapEndpoint)", entry: `export { CoapEndpoint } from ${spec("modules/coap/messaging")};` },
  { label: "client (CoapClient)", entry: `export { CoapClient } from ${spec("modules/coap/client")};` },
  { label: "server (CoapServer)", entry: `export { CoapServer } from ${spec("modules/coap/server")};` },
  { label: "client + server", entry: `export { CoapClient } from ${spec("modules/coap/client")};\nexport { CoapServer } from ${spec("modules/coap/server")};` },
];

const entries: SizeEntry[] = LAYERS.map((l) => ({ name: l.label, entry: l.entry }));
const xsc = findXsc();
for (const r of measureSizes(entries)) {
  const base = "coap size " + r.name;
  fixedResult({ name: base + ": minified JS", unit: "bytes", value: r.minified, notes: `rollup (tree-shaken) ${r.bundled} B, terser ${r.minified} B, gzip ${r.gzip} B` });
  fixedResult({ name: base + ": minified + gzip", unit: "bytes", value: r.gzip });
  if (r.xsb !== null) {
    fixedResult({
      name: base + ": XS bytecode (xsc)",
      unit: "bytes",
      value: r.xsb,
      notes: `xsc -e (release, no debug info) of the bundle; the minified bundle compiles to ${r.xsbMinified} B; bytecode and minified JS are different measures`,
    });
  }
}
if (!xsc.path) fixedResult({ name: "coap size: XS bytecode (xsc) skipped", unit: "bytes", value: NaN, notes: xsc.reason });

const cases: BenchCase[] = [];
export default cases;
