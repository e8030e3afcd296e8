import { getBoard } from "../../boards/index";
import { createSimHardware } from "../../sim/hardware";
import { VirtualClock } from "../../sim/virtual-clock";

describe("createSimHardware: the I2C transaction log", () => {
  it("keeps no I2C transaction by default (a long-running or fleet device carries no trace)", () => {
    const hw = createSimHardware(getBoard("sim"), new VirtualClock());
    const address = hw.bus.scan()[0];
    const i2c = new hw.io.I2C!({ data: 21, clock: 22, hz: 100000, address });
    i2c.write(Uint8Array.of(0));
    expect(hw.bus.logLimit).toBe(0);
    expect(hw.bus.log).toHaveLength(0);
  });

  it("keeps up to i2cLogLimit transactions when asked", () => {
    const hw = createSimHardware(getBoard("sim"), new VirtualClock(), {}, { i2cLogLimit: 3 });
    const address = hw.bus.scan()[0];
    const i2c = new hw.io.I2C!({ data: 21, clock: 22, hz: 100000, address });
    for (let i = 0; i < 5; i++) i2c.write(Uint8Array.of(0));
    expect(hw.bus.log).toHaveLength(3);
    expect(hw.bus.log[2]).toMatchObject({ address, op: "write" });
  });
});
