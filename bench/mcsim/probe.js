/*
 * Memory probe for the runs of tools/mcsim-memory.js in Moddable's simulator (lin, built with
 * `mcconfig -i`): every PERIOD_MS it reads the SDK's instrumentation (modules/base/
 * instrumentation: the machine's slots and chunk bytes in use, XS stack peak, keys, garbage
 * collections) and prints one line the tool parses:
 *
 *   ##mem t=<ms> slots=<bytes> chunks=<bytes> stack=<bytes> keys=<n> gc=<n> promises=<n>
 *
 * "In use" counts what was allocated since the last collection too; the line after the
 * collection count moved is the closest to what was live at that collection (the tool keeps
 * those apart). The probe never forces a collection: the app collects when its fixed heap is
 * full, as on the device. Not preload-safe and not meant to be: the bench build never preloads
 * it, and the firmware never includes it.
 */
import Instrumentation from "instrumentation";
import Timer from "timer";

const PERIOD_MS = 200;

export function startProbe() {
  const slots = Instrumentation.map("XS Slot Heap Used");
  const chunks = Instrumentation.map("XS Chunk Heap Used");
  const stack = Instrumentation.map("XS Stack Used");
  const keys = Instrumentation.map("XS Keys Used");
  const gc = Instrumentation.map("XS Garbage Collection Count");
  const promises = Instrumentation.map("XS Promises Settled");
  const start = Date.now();
  const sample = () => {
    trace(
      "##mem t=" + (Date.now() - start) +
        " slots=" + Instrumentation.get(slots) +
        " chunks=" + Instrumentation.get(chunks) +
        " stack=" + Instrumentation.get(stack) +
        " keys=" + Instrumentation.get(keys) +
        " gc=" + Instrumentation.get(gc) +
        " promises=" + Instrumentation.get(promises) + "\n",
    );
  };
  sample();
  Timer.repeat(sample, PERIOD_MS);
}
