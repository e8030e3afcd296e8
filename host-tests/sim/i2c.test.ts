// @xs
import { I2cBus, I2cNackError, I2cTimeoutError, RegisterPeripheral, SimI2C } from "../../sim/i2c";

const PINS = { data: 21, clock: 22, hz: 400000 };

function setup() {
  const bus = new I2cBus();
  const chip = new RegisterPeripheral();
  for (let i = 0; i < 256; i++) chip.registers[i] = i ^ 0x5a;
  bus.attach(0x44, chip);
  const i2c = new bus.I2C({ ...PINS, address: 0x44 });
  return { bus, chip, i2c };
}

describe("I2cBus: ECMA-419 §10 I²C synchronous IO", () => {
  it("register read: write the register address without stop, then read with auto-increment", () => {
    const { bus, i2c } = setup();
    i2c.write(Uint8Array.of(0x10), false);
    const out = new Uint8Array(i2c.read(3));
    expect(Array.from(out)).toEqual([0x10 ^ 0x5a, 0x11 ^ 0x5a, 0x12 ^ 0x5a]);
    // the pointer moved on: a further read continues
    expect(new Uint8Array(i2c.read(1))[0]).toBe(0x13 ^ 0x5a);
    expect(bus.log.map((t) => t.op)).toEqual(["write", "read", "read"]);
    expect(bus.log[0].stop).toBe(false);
  });

  it("register write auto-increments and wraps at 0xff", () => {
    const { chip, i2c } = setup();
    i2c.write(Uint8Array.of(0xfe, 1, 2, 3));
    expect(chip.registers[0xfe]).toBe(1);
    expect(chip.registers[0xff]).toBe(2);
    expect(chip.registers[0x00]).toBe(3);
    expect(chip.pointer).toBe(0x01);
  });

  it("read(buffer) fills a view and returns the count", () => {
    const { i2c } = setup();
    i2c.write(Uint8Array.of(0x00), false);
    const backing = new Uint8Array(6);
    const n = i2c.read(backing.subarray(2, 4));
    expect(n).toBe(2);
    expect(Array.from(backing)).toEqual([0, 0, 0x5a, 0x5b, 0, 0]);
  });

  it("read(n) returns a fresh ArrayBuffer of n bytes", () => {
    const { i2c } = setup();
    const buf = i2c.read(4);
    expect(buf).toBeInstanceOf(ArrayBuffer);
    expect(buf.byteLength).toBe(4);
  });

  it("scan() lists the acknowledging addresses in order", () => {
    const { bus } = setup();
    bus.attach(0x23, new RegisterPeripheral());
    bus.attach(0x76, new RegisterPeripheral());
    expect(bus.scan()).toEqual([0x23, 0x44, 0x76]);
    bus.detach(0x23);
    expect(bus.scan()).toEqual([0x44, 0x76]);
  });

  it("peripheral(address) finds a chip; peripherals is a copy by address; attach refuses an address outside 7 bits", () => {
    const { bus } = setup();
    const chip = new RegisterPeripheral();
    bus.attach(0x10, chip);
    expect(bus.peripheral(0x10)).toBe(chip);
    expect(bus.peripheral(0x11)).toBeUndefined();
    const copy = bus.peripherals;
    expect(copy.get(0x10)).toBe(chip);
    expect([...copy.keys()]).toEqual([0x10, 0x44]);
    copy.delete(0x10);
    expect(bus.peripheral(0x10)).toBe(chip);
    expect(() => bus.attach(0x80, new RegisterPeripheral())).toThrow(RangeError);
    expect(() => bus.attach(1.5, new RegisterPeripheral())).toThrow(RangeError);
    expect(bus.scan()).toEqual([0x10, 0x44]);
    bus.detach(0x10);
    expect(bus.peripheral(0x10)).toBeUndefined();
    bus.attach(0x10, chip); // free again
    expect(bus.peripheral(0x10)).toBe(chip);
  });

  it("refuses a second peripheral at the same address", () => {
    const { bus } = setup();
    expect(() => bus.attach(0x44, new RegisterPeripheral())).toThrow("already in use");
  });

  it("an absent address is not acknowledged", () => {
    const { bus } = setup();
    const ghost = new bus.I2C({ ...PINS, address: 0x45 });
    expect(() => ghost.read(1)).toThrow(I2cNackError);
    expect(() => ghost.write(Uint8Array.of(0))).toThrow("not acknowledged");
    expect(bus.log[bus.log.length - 1].error).toBeDefined();
  });
});

describe("I2cBus: injected faults", () => {
  it("address NACK: once, then the bus works again", () => {
    const { bus, i2c } = setup();
    bus.injectFault({ kind: "address-nack" });
    let caught: unknown;
    try {
      i2c.read(1);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(I2cNackError);
    expect((caught as I2cNackError).kind).toBe("address");
    expect(i2c.read(1).byteLength).toBe(1);
  });

  it("data NACK on a write: the peripheral never sees the bytes", () => {
    const { bus, chip, i2c } = setup();
    bus.injectFault({ kind: "data-nack", on: "write" });
    let caught: unknown;
    try {
      i2c.write(Uint8Array.of(0x20, 0xaa));
    } catch (e) {
      caught = e;
    }
    expect((caught as I2cNackError).kind).toBe("data");
    expect(chip.registers[0x20]).toBe(0x20 ^ 0x5a);
  });

  it("data NACK on a read", () => {
    const { bus, i2c } = setup();
    bus.injectFault({ kind: "data-nack", on: "read" });
    expect(() => i2c.write(Uint8Array.of(0))).not.toThrow();
    expect(() => i2c.read(2)).toThrow("data not acknowledged");
  });

  it("timeout (clock stretched forever)", () => {
    const { bus, i2c } = setup();
    bus.injectFault({ kind: "timeout" });
    expect(() => i2c.read(1)).toThrow(I2cTimeoutError);
    expect(() => i2c.read(1)).not.toThrow();
  });

  it("corrupted byte: flips the chosen bit of the chosen byte of a read only", () => {
    const { bus, i2c } = setup();
    bus.injectFault({ kind: "corrupt", byteIndex: 1, mask: 0x80 });
    i2c.write(Uint8Array.of(0x00), false); // a write does not consume a corrupt fault
    const out = new Uint8Array(i2c.read(3));
    expect(Array.from(out)).toEqual([0x5a, 0x5b ^ 0x80, 0x58]);
    i2c.write(Uint8Array.of(0x00), false);
    expect(Array.from(new Uint8Array(i2c.read(3)))).toEqual([0x5a, 0x5b, 0x58]);
  });

  it("faults can target one address and last for several transactions", () => {
    const { bus, i2c } = setup();
    bus.attach(0x23, new RegisterPeripheral());
    const other = new bus.I2C({ ...PINS, address: 0x23 });
    bus.injectFault({ kind: "address-nack", address: 0x44, count: 2 });
    expect(() => other.read(1)).not.toThrow();
    expect(() => i2c.read(1)).toThrow(I2cNackError);
    expect(() => i2c.read(1)).toThrow(I2cNackError);
    expect(() => i2c.read(1)).not.toThrow();
  });

  it("a permanent fault lasts until clearFaults()", () => {
    const { bus, i2c } = setup();
    bus.injectFault({ kind: "timeout", count: Infinity });
    for (let i = 0; i < 5; i++) expect(() => i2c.read(1)).toThrow(I2cTimeoutError);
    bus.clearFaults();
    expect(() => i2c.read(1)).not.toThrow();
  });
});

describe("I2C instance lifecycle and options (ECMA-419 §8)", () => {
  it("every method of a closed instance throws; close() twice is fine", () => {
    const { i2c } = setup();
    i2c.close();
    i2c.close();
    expect(() => i2c.read(1)).toThrow("closed");
    expect(() => i2c.write(Uint8Array.of(0))).toThrow("closed");
  });

  it.each([
    ["no options", undefined, TypeError],
    ["an address above 0x7f", { ...PINS, address: 0x80 }, RangeError],
    ["a negative address", { ...PINS, address: -1 }, RangeError],
    ["a fractional address", { ...PINS, address: 1.5 }, RangeError],
    ["a zero hz", { ...PINS, address: 0x44, hz: 0 }, RangeError],
  ])("the constructor rejects %s", (_what, options, error) => {
    const bus = new I2cBus();
    expect(() => new bus.I2C(options as never)).toThrow(error as ErrorConstructor);
  });

  it("format is 'buffer' and cannot be changed to anything else", () => {
    const { i2c } = setup();
    expect(i2c.format).toBe("buffer");
    expect(() => (i2c.format = "number")).toThrow("unsupported format");
    expect(i2c.format).toBe("buffer");
  });

  it("one I2C class serves every bus: instances are instanceof their bus's I2C and talk to their own bus only", () => {
    const a = new I2cBus();
    const b = new I2cBus();
    const chipA = new RegisterPeripheral();
    chipA.registers[0x10] = 0xa5;
    a.attach(0x40, chipA);
    const onA = new a.I2C({ ...PINS, address: 0x40 });
    const onB = new b.I2C({ ...PINS, address: 0x40 });
    expect(onA).toBeInstanceOf(a.I2C);
    expect(onA).toBeInstanceOf(SimI2C);
    expect(onB).toBeInstanceOf(b.I2C);
    onA.write(Uint8Array.of(0x10), false);
    expect(Array.from(new Uint8Array(onA.read(1)))).toEqual([0xa5]);
    expect(() => onB.write(Uint8Array.of(0x10))).toThrow(I2cNackError); // nothing at 0x40 on bus b
    expect(a.I2C).not.toBe(b.I2C);
  });

  it("SimI2C is constructed through a bus, not directly", () => {
    expect(() => new SimI2C({ ...PINS, address: 0x40 } as never, undefined as never)).toThrow(TypeError);
  });

  it("keeps target from the options", () => {
    const bus = new I2cBus();
    const i2c = new bus.I2C({ ...PINS, address: 1, target: "t" });
    expect(i2c.target).toBe("t");
  });

  it("without a target in the options, target reads undefined and is no own property until set", () => {
    const bus = new I2cBus();
    const i2c = new bus.I2C({ ...PINS, address: 1 });
    expect(i2c.target).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(i2c, "target")).toBe(false);
    i2c.target = 5;
    expect(i2c.target).toBe(5);
    expect(new bus.I2C({ ...PINS, address: 2 }).target).toBeUndefined();
  });

  it("a closed instance refuses reads and writes; another instance on the bus still works", () => {
    const bus = new I2cBus();
    bus.attach(0x10, { write() {}, read: (n: number) => new Uint8Array(n).fill(0xa5) });
    const a = new bus.I2C({ ...PINS, address: 0x10 });
    const b = new bus.I2C({ ...PINS, address: 0x10 });
    a.close();
    expect(() => a.read(1)).toThrow("closed");
    expect(() => a.write(Uint8Array.of(1))).toThrow("closed");
    expect(Array.from(new Uint8Array(b.read(1)))).toEqual([0xa5]);
  });

  it("rejects a bad read count and a non-buffer write", () => {
    const { i2c } = setup();
    expect(() => i2c.read(-1)).toThrow(RangeError);
    expect(() => i2c.write([1, 2] as unknown as Uint8Array)).toThrow(TypeError);
  });

  it("the transaction log is bounded by logLimit", () => {
    const { bus, i2c } = setup();
    bus.logLimit = 4;
    for (let i = 0; i < 10; i++) i2c.read(1);
    expect(bus.log).toHaveLength(4);
  });

  it("logLimit can be set at construction; 0 keeps no transaction", () => {
    const bus = new I2cBus({ logLimit: 0 });
    bus.attach(0x40, new RegisterPeripheral());
    const i2c = new bus.I2C({ ...PINS, address: 0x40 });
    i2c.write(Uint8Array.of(0x01, 0x5a));
    i2c.write(Uint8Array.of(0x01), false);
    expect(Array.from(new Uint8Array(i2c.read(1)))).toEqual([0x5a]);
    expect(bus.log).toHaveLength(0);
    bus.logLimit = 2;
    for (let i = 0; i < 3; i++) i2c.read(1);
    expect(bus.log).toHaveLength(2);
    expect(new I2cBus().logLimit).toBe(256);
  });

  it("without a log (a fleet's bus) a transaction behaves the same: NACK for a missing chip, faults still apply, a read into the caller's buffer, a peripheral's array never handed out", () => {
    const bus = new I2cBus({ logLimit: 0 });
    const chip = new RegisterPeripheral();
    chip.registers[0x20] = 0xa5;
    bus.attach(0x40, chip);
    const i2c = new bus.I2C({ ...PINS, address: 0x40 });
    const missing = new bus.I2C({ ...PINS, address: 0x41 });
    expect(() => missing.read(1)).toThrow(I2cNackError);
    i2c.write(Uint8Array.of(0x20), false);
    const into = new Uint8Array(1);
    expect(i2c.read(into)).toBe(1);
    expect(into[0]).toBe(0xa5);
    // the peripheral's answer is copied: changing what read(n) returned changes nothing in the chip
    const own = { answer: Uint8Array.of(7, 8), write() {}, read: () => own.answer };
    bus.attach(0x50, own);
    const other = new bus.I2C({ ...PINS, address: 0x50 });
    const got = new Uint8Array(other.read(2));
    got[0] = 99;
    expect(Array.from(own.answer)).toEqual([7, 8]);
    bus.injectFault({ kind: "corrupt", address: 0x40, byteIndex: 0, mask: 0xff });
    i2c.write(Uint8Array.of(0x20), false);
    expect(new Uint8Array(i2c.read(1))[0]).toBe(0xa5 ^ 0xff);
    bus.injectFault({ kind: "timeout", address: 0x40 });
    expect(() => i2c.read(1)).toThrow(I2cTimeoutError);
    expect(bus.log).toHaveLength(0);
  });

  it.each([[-1], [1.5], [NaN]])("rejects logLimit %p", (limit) => {
    expect(() => new I2cBus({ logLimit: limit })).toThrow(RangeError);
  });
});
