/** MQTT codec on XS (xsnap): ours only, there is no MQTT codec native to XS to compare with. */
import { publishCases, topicCases } from "../mqtt-codec-cases";
import type { BenchCase } from "../harness";

const cases: BenchCase[] = [...publishCases(4), ...publishCases(5), ...topicCases()];
for (const c of cases) c.notes = "no peer on XS";
export default cases;
