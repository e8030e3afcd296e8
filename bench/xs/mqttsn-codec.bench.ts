/** MQTT-SN codec on XS (xsnap): ours only (no MQTT-SN codec native to XS or on npm). */
import { codecCases } from "../mqttsn-cases";
import type { BenchCase } from "../harness";

const cases: BenchCase[] = codecCases();
export default cases;
