/*
 * Entry of the memory runs' build (tools/mcsim-memory.js): the probe starts before the
 * firmware's own entry (src/main) is evaluated, so boot is measured too; then the firmware
 * runs exactly as it does from its own manifest.
 */
import { startProbe } from "./probe";

startProbe();
const boot = import("../../src/main");
boot.then(undefined, (e) => trace("##mem-error " + e + "\n"));
