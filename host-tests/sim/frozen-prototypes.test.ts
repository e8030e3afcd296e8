// @xs
/*
 * The simulated chips compiled into Moddable's simulator build (src/hardware-lin.ts) are
 * preloaded there: their classes' prototypes are frozen at build time. A chip given its own
 * variant, serial or calibration must still be made then (a plain assignment over a frozen
 * prototype's default throws "not writable"); sim/devices/own.ts defines the own property.
 */
import { Bmx280Sim, DATASHEET_CALIBRATION } from "../../sim/devices/bmx280";
import { Scd4xSim } from "../../sim/devices/scd4x";
import { Environment } from "../../sim/environment";
import { VirtualClock } from "../../sim/virtual-clock";

Object.freeze(Bmx280Sim.prototype);
Object.freeze(Scd4xSim.prototype);

function readRegister(chip: Bmx280Sim, register: number): number {
  chip.write(new Uint8Array([register]), true);
  return chip.read(1, true)[0];
}

describe("simulated chips with frozen prototypes (as preloaded)", () => {
  const clock = new VirtualClock();
  const environment = new Environment();

  it("a BMP280 and a chip with its own trimming are made, and answer with them", () => {
    const bmp = new Bmx280Sim({ clock, environment, variant: "bmp280" });
    expect(bmp.variant).toBe("bmp280");
    expect(readRegister(bmp, 0xd0)).toBe(0x58); // BMP280 chip id (datasheet §4.3.1)
    const calibration = { ...DATASHEET_CALIBRATION, T1: 0x1234 };
    const own = new Bmx280Sim({ clock, environment, calibration });
    expect(own.calibration.T1).toBe(0x1234);
    expect(readRegister(own, 0x88)).toBe(0x34); // dig_T1 LSB (datasheet Table 16)
    const plain = new Bmx280Sim({ clock, environment });
    expect(plain.calibration).toBe(DATASHEET_CALIBRATION);
    expect(readRegister(plain, 0x88)).toBe(DATASHEET_CALIBRATION.T1 & 0xff);
  });

  it("an SCD40 with its own serial number", () => {
    const chip = new Scd4xSim({ clock, environment, variant: "scd40", serial: 0x0102_0304_0506 });
    expect(chip.variant).toBe("scd40");
    expect(chip.serial).toBe(0x0102_0304_0506);
  });
});
