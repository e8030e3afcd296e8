// @xs
import { ESP32C3_POWER } from "../../boards/power";
import { AIRTIME_MS_PER_BYTE, batteryDays, chargeOf, currentOf, EnergyMeter } from "../../modules/scheduler/energy";

const power = ESP32C3_POWER;

describe("EnergyMeter: charge per power state from the board's profile", () => {
  it("integrates current x time per state, in mAh", () => {
    const m = new EnergyMeter(power, 0, "boot");
    m.enter("radio", 250, "connect");
    m.enter("cpu", 1250, "sample");
    m.enter("light-wifi", 1300, "sleep");
    const t = m.totals(3_601_300);
    expect(t.stateMs.boot).toBe(250);
    expect(t.stateMs.radio).toBe(1000);
    expect(t.stateMs.cpu).toBe(50);
    expect(t.stateMs["light-wifi"]).toBe(3_600_000);
    const expected = (250 * power.modemSleepMa + 1000 * power.activeRadioMa + 50 * power.modemSleepMa + 3_600_000 * power.lightSleepWifiMa) / 3600 / 1000;
    expect(t.mAh).toBeCloseTo(expected, 9);
    expect(t.stateMAh["light-wifi"]).toBeCloseTo(power.lightSleepWifiMa, 9); // an hour at that current
    expect(t.radioOnMs).toBe(1000);
    expect(t.radioWakes).toBe(1);
  });

  it("counts wakes from light and deep sleep (a deep one is a boot), and radio episodes", () => {
    const m = new EnergyMeter(power, 0, "cpu");
    m.enter("light", 10);
    m.enter("cpu", 100); // wake 1
    m.enter("radio", 110);
    m.enter("radio", 120, "more"); // the same episode
    m.enter("deep", 150);
    m.enter("boot", 1000); // wake 2, from deep
    m.enter("cpu", 1250);
    m.enter("light-wifi", 1300);
    m.enter("light", 1400); // still asleep: no wake
    m.enter("radio", 2000); // wake 3, radio episode 2
    const t = m.totals(2100);
    expect([t.wakes, t.deepWakes, t.radioWakes]).toEqual([3, 1, 2]);
  });

  it("charges what is sent at the transmit peak for its airtime (802.11b, 1 Mb/s), on top of the receive current", () => {
    const m = new EnergyMeter(power, 0, "radio");
    m.traffic(1000, 500);
    const t = m.totals(0);
    expect(t.bytesSent).toBe(1000);
    expect(t.bytesReceived).toBe(500);
    expect(t.mAh).toBeCloseTo(((power.txPeakMa - power.activeRadioMa) * 1000 * AIRTIME_MS_PER_BYTE) / 3600 / 1000, 12);
  });

  it("keeps a bounded timeline of segments with why the device was in each state", () => {
    const m = new EnergyMeter(power, 0, "boot", { timeline: 2 });
    m.enter("radio", 10, "connect");
    m.enter("radio", 20, "telemetry");
    m.enter("light", 30, "sleep");
    m.enter("cpu", 40, "sample");
    expect(m.segments).toEqual([
      { state: "boot", from: 0, to: 10, why: "boot" },
      { state: "radio", from: 10, to: 30, why: "connect, telemetry" },
    ]);
  });

  it("refuses time going back, an unknown state and bad byte counts, changing nothing", () => {
    const m = new EnergyMeter(power, 100, "cpu");
    expect(() => m.enter("light", 50)).toThrow(RangeError);
    expect(() => m.enter("hover" as never, 200)).toThrow(RangeError);
    expect(() => m.traffic(-1)).toThrow(RangeError);
    expect(() => m.enter("light", NaN)).toThrow(RangeError);
    expect(m.state).toBe("cpu");
    expect(m.totals(200).stateMs.cpu).toBe(100);
    expect(() => new EnergyMeter(undefined as never, 0)).toThrow(TypeError);
  });

  it("currents by state, charge, battery life", () => {
    expect(currentOf(power, "deep")).toBe(power.deepSleepMa);
    expect(currentOf(power, "light-wifi")).toBe(power.lightSleepWifiMa);
    expect(chargeOf(power, "radio", 3_600_000)).toBeCloseTo(power.activeRadioMa * 1000, 6); // µAh in an hour
    expect(batteryDays(2000, 2)).toBe(1000);
    expect(batteryDays(2000, 0)).toBe(Infinity);
  });
});
