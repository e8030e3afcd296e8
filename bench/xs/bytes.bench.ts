/** Byte helpers on XS (xsnap): against xsnap's native TextEncoder/TextDecoder. */
import { varintCases, utf8Cases } from "../bytes-cases";
import type { BenchCase } from "../harness";

const codecs =
  typeof TextEncoder === "function" && typeof TextDecoder === "function" ? ({ TextEncoder, TextDecoder } as never) : null;

const cases: BenchCase[] = [...varintCases(), ...utf8Cases(codecs)];
for (const c of cases) if (c.name.startsWith("varint")) c.notes = "no native peer on XS";
export default cases;
