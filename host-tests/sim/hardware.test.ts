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

describe("createSimHardware: the chips' command lists", () => {
  it("chips keep no command by default; chipCommandLogLimit keeps that many", () => {
    const board = getBoard("sim");
    const quiet = createSimHardware(board, new VirtualClock());
    const kept = createSimHardware(board, new VirtualClock(), {}, { chipCommandLogLimit: 2 });
    for (const hw of [quiet, kept]) {
      const i2c = new hw.io.I2C!({ data: 21, clock: 22, hz: 100000, address: 0x23 }); // the BH1750
      for (let i = 0; i < 4; i++) i2c.write(Uint8Array.of(0x01)); // power on
    }
    expect((quiet.bus.peripherals.get(0x23) as unknown as { commands: number[] }).commands).toEqual([]);
    expect((kept.bus.peripherals.get(0x23) as unknown as { commands: number[] }).commands).toEqual([0x01, 0x01]);
  });
});
