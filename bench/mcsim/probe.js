/*
 * Memory probe for the runs of tools/mcsim-memory.js in Moddable's simulator (lin, built with
 * `mcconfig -i`). Every PERIOD_MS it prints what the SDK's instrumentation (modules/base/
 * instrumentation) says the machine uses, garbage not yet collected included:
 *
 *   ##mem t=<ms> slots=<bytes> chunks=<bytes> stack=<bytes> keys=<n>
 *
 * and every LIVE_EVERY-th time it first collects garbage (the SDK's `debug` module, Debug.gc()),
 * so that line says what was live then:
 *
 *   ##live t=<ms> slots=<bytes> chunks=<bytes> stack=<bytes> keys=<n>
 *
 * The forced collections only take garbage earlier than the app's own would; they make no
 * object live. Not preload-safe and not meant to be: the bench build does not preload it, and
 * the firmware never includes it.
 */
import Instrumentation from "instrumentation";
import Debug from "debug";
import Timer from "timer";

const PERIOD_MS = 1000;
const LIVE_EVERY = 5;

export function startProbe() {
  const slots = Instrumentation.map("XS Slot Heap Used");
  const chunks = Instrumentation.map("XS Chunk Heap Used");
  const stack = Instrumentation.map("XS Stack Used");
  const keys = Instrumentation.map("XS Keys Used");
  const start = Date.now();
  let n = 0;
  const sample = () => {
    const live = n++ % LIVE_EVERY === 0;
    if (live) Debug.gc();
    trace(
      (live ? "##live t=" : "##mem t=") + (Date.now() - start) +
        " slots=" + Instrumentation.get(slots) +
        " chunks=" + Instrumentation.get(chunks) +
        " stack=" + Instrumentation.get(stack) +
        " keys=" + Instrumentation.get(keys) + "\n",
    );
  };
  sample();
  Timer.repeat(sample, PERIOD_MS);
}
