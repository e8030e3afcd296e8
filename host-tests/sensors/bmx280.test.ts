// @xs
import { compensatePressure, compensateHumidity, parseCalibration, temperatureFine } from "../../modules/sensors/bmx280-compensation";
import { Bme280, Bmp280, bmx280MeasurementTimeMax } from "../../modules/sensors/bmx280";
import { Bmx280Sim, DATASHEET_CALIBRATION, encodeCalibration, invertHumidity, invertPressure, invertTemperature } from "../../sim/devices/bmx280";
import { steps } from "../../sim/environment";
import { Prng } from "../../sim/prng";
import { rig } from "./helpers";

function setup(spec = {}, variant: "bme280" | "bmp280" = "bme280", config: any = {}) {
  const r = rig(spec);
  const chip = new Bmx280Sim({ clock: r.clock, environment: r.environment, variant });
  r.bus.attach(0x76, chip);
  const Driver = variant === "bme280" ? Bme280 : Bmp280;
  const sensor = new Driver({ sensor: { io: r.bus.I2C, address: 0x76 }, scheduler: r.scheduler, onError: r.onError, ...config });
  return { ...r, chip, sensor };
}

/*
 * The datasheets' 64-bit integer pressure formula and 32-bit integer temperature and humidity
 * formulas (BME280 datasheet §4.2.3, BMP280 §3.11.3), as the reference the driver's double
 * formulas (§8.1) are checked against. BigInt; a negative value's shift is written as a floor
 * division because XS gets BigInt `>>` wrong for negative exact multiples (-256n >> 8n is -2n).
 */
function sar(x: bigint, n: bigint): bigint {
  if (x >= 0n) return x >> n;
  const d = 1n << n;
  return -((-x + d - 1n) / d);
}
function integerTFine(c: typeof DATASHEET_CALIBRATION, adcT: number): number {
  const var1 = Math.imul((adcT >> 3) - (c.T1 << 1), c.T2) >> 11;
  const d = (adcT >> 4) - c.T1;
  return (var1 + (Math.imul(Math.imul(d, d) >> 12, c.T3) >> 14)) | 0;
}
function integerPressure(c: typeof DATASHEET_CALIBRATION, adcP: number, tFine: number): number {
  let var1 = BigInt(tFine) - 128000n;
  let var2 = var1 * var1 * BigInt(c.P6) + ((var1 * BigInt(c.P5)) << 17n) + (BigInt(c.P4) << 35n);
  var1 = sar(var1 * var1 * BigInt(c.P3), 8n) + ((var1 * BigInt(c.P2)) << 12n);
  var1 = sar(((1n << 47n) + var1) * BigInt(c.P1), 33n);
  let p = (((1048576n - BigInt(adcP)) << 31n) - var2) * 3125n / var1;
  var1 = sar(BigInt(c.P9) * sar(p, 13n) * sar(p, 13n), 25n);
  var2 = sar(BigInt(c.P8) * p, 19n);
  p = sar(p + var1 + var2, 8n) + (BigInt(c.P7) << 4n);
  return Number(p) / 256;
}
function integerHumidity(c: typeof DATASHEET_CALIBRATION, adcH: number, tFine: number): number {
  const [H1, H2, H3, H4, H5, H6] = [c.H1!, c.H2!, c.H3!, c.H4!, c.H5!, c.H6!];
  let v = (tFine - 76800) | 0;
  const a = ((((adcH << 14) - (H4 << 20) - Math.imul(H5, v)) | 0) + 16384) >> 15;
  const t3 = ((Math.imul(Math.imul(v, H6) >> 10, ((Math.imul(v, H3) >> 11) + 32768) | 0) >> 10) + 2097152) | 0;
  v = Math.imul(a, (Math.imul(t3, H2) + 8192) >> 14);
  v = (v - ((Math.imul(Math.imul(v >> 15, v >> 15) >> 7, H1)) >> 4)) | 0;
  return Math.min(Math.max(v, 0), 419430400) / 4096 / 1024;
}

describe("BMx280 compensation (the datasheets' double-precision formulas, §8.1)", () => {
  it("BMP280 datasheet worked example (§3.12): adc_T 519888 -> t_fine 128422, 25.08 °C; adc_P 415148 -> 100653.27 Pa", () => {
    const t = temperatureFine(DATASHEET_CALIBRATION, 519888);
    expect(Math.trunc(t)).toBe(128422);
    expect(t / 5120).toBeCloseTo(25.08, 2);
    expect(compensatePressure(DATASHEET_CALIBRATION, 415148, t)).toBeCloseTo(100653.27, 1); // 100653.258
    expect(integerPressure(DATASHEET_CALIBRATION, 415148, 128422)).toBe(25767233 / 256); // the 64-bit formula's 100653.25
  });

  it("agrees with the integer formulas within the chip's resolution (§3.4.1: 0.01 °C, 0.16 Pa at 20 bits, 0.008 %RH) over its range, 20,000 random readings", () => {
    const rng = new Prng(0xb0b);
    const c = DATASHEET_CALIBRATION;
    let worst = [0, 0, 0];
    let worstFine = 0;
    for (let i = 0; i < 20_000; i++) {
      const celsius = -40 + (rng.nextUint32() % 12_500) / 100;
      const adcT = invertTemperature(c, celsius);
      const tFine = temperatureFine(c, adcT);
      const iFine = integerTFine(c, adcT);
      worstFine = Math.max(worstFine, Math.abs(tFine - iFine));
      const adcP = invertPressure(c, 30_000 + (rng.nextUint32() % 80_000), tFine);
      const adcH = rng.nextUint32() % 65536;
      const d = [
        Math.abs(tFine / 5120 - ((Math.imul(iFine, 5) + 128) >> 8) / 100),
        // pressure and humidity from the same t_fine (the integer t_fine is up to ~15 counts off, 0.003 °C)
        Math.abs(compensatePressure(c, adcP, iFine) - integerPressure(c, adcP, iFine)),
        Math.abs(compensateHumidity(c, adcH, iFine) - integerHumidity(c, adcH, iFine)),
      ];
      worst = worst.map((w, k) => Math.max(w, d[k]));
    }
    // measured: t_fine 13.3 counts apart, T 0.00016 °C, P 0.0082 Pa, RH 0.0072 %RH
    expect(worstFine).toBeLessThan(16);
    expect(worst[0]).toBeLessThanOrEqual(0.001);
    expect(worst[1]).toBeLessThanOrEqual(0.02);
    expect(worst[2]).toBeLessThanOrEqual(0.008);
  });

  it("humidity stays within 0..100 %RH (the datasheet's clamp)", () => {
    const t = temperatureFine(DATASHEET_CALIBRATION, 519888);
    expect(compensateHumidity(DATASHEET_CALIBRATION, 0, t)).toBe(0);
    expect(compensateHumidity(DATASHEET_CALIBRATION, 65535, t)).toBe(100);
  });

  it("a trimming that would divide by zero (dig_P1 0) gives pressure 0, the datasheet's guard", () => {
    expect(compensatePressure({ ...DATASHEET_CALIBRATION, P1: 0 }, 415148, 128422)).toBe(0);
  });

  it("trimming registers round-trip, including the signed 12-bit dig_H4/dig_H5", () => {
    const cal = { ...DATASHEET_CALIBRATION, H4: -300, H5: -17, H6: -5 };
    const { tp, humidity } = encodeCalibration(cal);
    expect(parseCalibration(tp, humidity)).toEqual(cal);
  });

  it.each([-40, -12.3, 0, 25.08, 50, 85])("simulator inversion reproduces %d °C within 0.01 °C", (c) => {
    const adc = invertTemperature(DATASHEET_CALIBRATION, c);
    expect(Math.abs(temperatureFine(DATASHEET_CALIBRATION, adc) / 5120 - c)).toBeLessThanOrEqual(0.01);
  });

  it.each([30000, 70000, 101325, 110000])("simulator inversion reproduces %d Pa within 0.2 Pa at 20 bits", (pa) => {
    const tFine = temperatureFine(DATASHEET_CALIBRATION, 519888);
    const adc = invertPressure(DATASHEET_CALIBRATION, pa, tFine);
    expect(Math.abs(compensatePressure(DATASHEET_CALIBRATION, adc, tFine) - pa)).toBeLessThanOrEqual(0.2);
  });

  it("simulator inversion: a hint (the previous conversion) changes how the answer is found, never the answer", () => {
    const c = DATASHEET_CALIBRATION;
    const tFine = temperatureFine(c, 519888);
    const hints = [0, 1, 1000, 300_000, 415_148, 415_160, 600_000, (1 << 20) - 1, (1 << 20) + 5];
    for (const pa of [30000, 70000, 100653.27, 101325, 110000]) {
      const plain = invertPressure(c, pa, tFine);
      for (const hint of hints) {
        expect(invertPressure(c, pa, tFine, 1, hint)).toBe(plain);
        expect(invertPressure(c, pa, tFine, 4, hint)).toBe(invertPressure(c, pa, tFine, 4));
      }
    }
    for (const t of [-40, 0, 25.08, 85]) {
      const plain = invertTemperature(c, t);
      for (const hint of hints) expect(invertTemperature(c, t, 1, hint)).toBe(plain);
    }
    for (const h of [0, 3.5, 45, 100]) {
      const plain = invertHumidity(c, h, tFine);
      for (const hint of [0, 1, 20_000, 65_535, 70_000]) expect(invertHumidity(c, h, tFine, hint)).toBe(plain);
    }
  });

  it.each([0, 3.5, 45, 97, 100])("simulator inversion reproduces %d %%RH within 0.01", (h) => {
    const tFine = temperatureFine(DATASHEET_CALIBRATION, 519888);
    const adc = invertHumidity(DATASHEET_CALIBRATION, h, tFine);
    expect(Math.abs(compensateHumidity(DATASHEET_CALIBRATION, adc, tFine) - h)).toBeLessThanOrEqual(0.01);
  });
});

describe("BME280 driver against the simulated chip", () => {
  it("each driver keeps its chip's trimming (no module-level cache: preload-safe); other trimming is read and used", () => {
    const a = setup({ temperature: 21.5, humidity: 45, pressure: 101325 });
    const b = setup({ temperature: 21.5, humidity: 45, pressure: 101325 });
    expect(a.sensor.calibration).toBeDefined();
    expect(a.sensor.calibration).toEqual(b.sensor.calibration);
    const r = rig({ temperature: 30, humidity: 50, pressure: 95000 });
    const cal = { ...DATASHEET_CALIBRATION, T2: DATASHEET_CALIBRATION.T2 + 40, H2: 300 };
    r.bus.attach(0x76, new Bmx280Sim({ clock: r.clock, environment: r.environment, calibration: cal }));
    const c = new Bme280({ sensor: { io: r.bus.I2C, address: 0x76 }, scheduler: r.scheduler, onError: r.onError });
    expect(c.calibration).not.toBe(a.sensor.calibration);
    expect(c.calibration!.T2).toBe(cal.T2);
    const s = r.measure(c);
    expect(r.errors).toEqual([]);
    expect(Math.abs(s.thermometer!.temperature - 30)).toBeLessThanOrEqual(0.05);
  });
  // Resolution (datasheet §3.4.1 / Table 7): 0.01 °C output; pressure 2.62 Pa at x1 (16 bit), 0.16 Pa at x16 (20 bit);
  // humidity 0.008 %RH. Tolerances below add the Q24.8 / Q22.10 output step.
  it.each([
    [-40, 0, 30000],
    [-5, 20, 80000],
    [21.5, 45, 101325],
    [40, 80, 105000],
    [85, 100, 110000],
  ])("forced mode x16: %d °C, %d %%RH, %d Pa reproduced within the chip's resolution", (t, h, p) => {
    const { sensor, measure, errors } = setup({ temperature: t, humidity: h, pressure: p }, "bme280", {
      temperatureOversampling: 16, pressureOversampling: 16, humidityOversampling: 16,
    });
    const s = measure(sensor);
    expect(errors).toEqual([]);
    expect(Math.abs(s.thermometer!.temperature - t)).toBeLessThanOrEqual(0.01);
    expect(Math.abs(s.barometer!.pressure - p)).toBeLessThanOrEqual(0.2);
    expect(Math.abs(s.hygrometer!.humidity - h)).toBeLessThanOrEqual(0.02);
  });

  it("forced mode x1: pressure within the 16-bit resolution (2.62 Pa)", () => {
    const { sensor, measure } = setup({ temperature: 18.2, pressure: 99876.5 });
    const s = measure(sensor);
    expect(Math.abs(s.barometer!.pressure - 99876.5)).toBeLessThanOrEqual(2.62);
    expect(Math.abs(s.thermometer!.temperature - 18.2)).toBeLessThanOrEqual(0.02);
  });

  it("forced mode waits the Appendix B maximum measurement time, on the scheduler", () => {
    const { sensor, measure, clock } = setup({}, "bme280", { temperatureOversampling: 2, pressureOversampling: 16, humidityOversampling: 1 });
    const expected = bmx280MeasurementTimeMax(2, 16, 1);
    expect(expected).toBeCloseTo(1.25 + 4.6 + 37.375 + 2.875, 6);
    const start = clock.now();
    measure(sensor);
    expect(clock.now() - start).toBeCloseTo(expected, 6);
  });

  it("sample() in forced mode: undefined until due, the value once, then undefined", () => {
    const { sensor, clock } = setup({ temperature: 10 });
    expect(sensor.sample()).toBeUndefined();
    const wait = sensor.trigger();
    expect(wait).toBeGreaterThan(0);
    expect(sensor.sample()).toBeUndefined();
    clock.advance(wait);
    expect(sensor.sample()!.thermometer!.temperature).toBeCloseTo(10, 1);
    expect(sensor.sample()).toBeUndefined();
  });

  it("normal mode: the chip converts every t_measure + t_standby; sample() returns the newest", () => {
    const { sensor, clock, chip, errors } = setup({ temperature: steps(15, [[2000, 30]]) }, "bme280", { mode: "normal", standby: 125 });
    expect(sensor.sample()).toBeUndefined();
    clock.advance(1000);
    expect(sensor.sample()!.thermometer!.temperature).toBeCloseTo(15, 1);
    clock.advance(2000);
    expect(sensor.sample()!.thermometer!.temperature).toBeCloseTo(30, 1);
    expect(chip.conversions).toBeGreaterThan(15);
    expect(errors).toEqual([]);
  });

  it("IIR filter (coefficient 16) makes a step change show slowly", () => {
    const { sensor, clock } = setup({ pressure: steps(100000, [[1000, 101000]]) }, "bme280", { mode: "normal", standby: 0.5, filter: 16, pressureOversampling: 1 });
    clock.advance(999);
    expect(sensor.sample()!.barometer!.pressure).toBeCloseTo(100000, -1);
    clock.advance(40); // a handful of conversions after the step
    const p = sensor.sample()!.barometer!.pressure;
    expect(p).toBeGreaterThan(100050);
    expect(p).toBeLessThan(100950);
    clock.advance(5000);
    expect(Math.abs(sensor.sample()!.barometer!.pressure - 101000)).toBeLessThan(1);
  });

  it("skipped humidity (oversampling 0) leaves the field out without an error", () => {
    const { sensor, measure, errors } = setup({}, "bme280", { humidityOversampling: 0 });
    const s = measure(sensor);
    expect(s.hygrometer).toBeUndefined();
    expect(s.barometer).toBeDefined();
    expect(errors).toEqual([]);
  });

  it("rejects bad settings with a clear error and keeps the old ones", () => {
    const { sensor } = setup();
    expect(() => sensor.configure({ temperatureOversampling: 3 as any })).toThrow(/temperatureOversampling/);
    expect(() => sensor.configure({ standby: 2000 })).toThrow(/standby/); // 2000 ms is BMP280-only
    expect(() => sensor.configure({ filter: 5 as any })).toThrow(/filter/);
    expect(sensor.mode).toBe("forced");
  });

  describe("faults", () => {
    it("wrong chip id: a BMP280 where a BME280 is expected", () => {
      const r = rig();
      r.bus.attach(0x77, new Bmx280Sim({ clock: r.clock, environment: r.environment, variant: "bmp280" }));
      const sensor = new Bme280({ sensor: { io: r.bus.I2C, address: 0x77 }, scheduler: r.scheduler, onError: r.onError });
      expect(r.errors[0].message).toBe("BME280 at 0x77: check chip id: expected 0x60, read 0x58");
      expect(r.errors[0].fatal).toBe(true);
      expect(r.measure(sensor)).toEqual({});
      expect(r.errors.length).toBe(2);
    });

    it("injected wrong chip id, then the chip recovers: the driver retries and works", () => {
      const r = rig({ temperature: 33 });
      const chip = new Bmx280Sim({ clock: r.clock, environment: r.environment });
      chip.faults.chipId = 0xff;
      r.bus.attach(0x76, chip);
      const sensor = new Bme280({ sensor: { io: r.bus.I2C }, scheduler: r.scheduler, onError: r.onError });
      expect(r.errors[0].reason).toMatch(/read 0xff/);
      chip.faults.chipId = undefined;
      expect(r.measure(sensor).thermometer!.temperature).toBeCloseTo(33, 1);
    });

    it("stuck busy: measuring bit still set after the maximum time", () => {
      const { sensor, chip, measure, errors } = setup();
      chip.faults.stuckBusy = true;
      expect(measure(sensor)).toEqual({});
      expect(errors[0].message).toMatch(/^BME280 at 0x76: read measurement: still measuring/);
    });

    it("address NACK on the data read", () => {
      const { sensor, bus, measure, errors, clock } = setup();
      const wait = sensor.trigger();
      clock.advance(wait);
      bus.injectFault({ kind: "address-nack", on: "write" });
      expect(sensor.sample()).toEqual({});
      expect(errors[0].message).toMatch(/read status: .*not acknowledged/);
      expect(measure(sensor).thermometer).toBeDefined();
    });

    it("bus timeout while reading the chip id at construction", () => {
      const r = rig();
      r.bus.attach(0x76, new Bmx280Sim({ clock: r.clock, environment: r.environment }));
      r.bus.injectFault({ kind: "timeout" });
      const sensor = new Bme280({ sensor: { io: r.bus.I2C }, scheduler: r.scheduler, onError: r.onError });
      expect(r.errors[0].message).toMatch(/read chip id: .*timeout/);
      expect(r.measure(sensor).thermometer).toBeDefined(); // retried
    });
  });
});

describe("BMP280 driver", () => {
  it("reads temperature and pressure, no humidity", () => {
    const { sensor, measure, errors } = setup({ temperature: 25.08, pressure: 100653 }, "bmp280", { temperatureOversampling: 16, pressureOversampling: 16 });
    const s = measure(sensor);
    expect(errors).toEqual([]);
    expect(s.hygrometer).toBeUndefined();
    expect(Math.abs(s.thermometer!.temperature - 25.08)).toBeLessThanOrEqual(0.01);
    expect(Math.abs(s.barometer!.pressure - 100653)).toBeLessThanOrEqual(0.2);
  });

  it("accepts the BMP280-only standby 4000 ms", () => {
    const { sensor, clock } = setup({}, "bmp280", { mode: "normal", standby: 4000 });
    clock.advance(100);
    expect(sensor.sample()!.barometer).toBeDefined();
  });
});
