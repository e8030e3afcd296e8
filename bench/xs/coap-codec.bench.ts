/** CoAP codec on XS (xsnap): ours only; coap-packet needs Node's Buffer and there is no CoAP codec native to XS. */
import { allCases, caseList } from "../coap-codec-cases";
import type { BenchCase } from "../harness";

const cases: BenchCase[] = caseList(allCases());
for (const c of cases) c.notes = (c.notes ? c.notes + "; " : "") + "no peer on XS: coap-packet needs Node's Buffer";
export default cases;
