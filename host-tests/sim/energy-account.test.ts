// @xs
import { ESP32C3_POWER } from "../../boards/power";
import { SimDevice } from "../../sim/device";
import { DeviceEnergy } from "../../sim/energy-account";
import { SimNetwork } from "../../sim/udp-network";
import { VirtualClock } from "../../sim/virtual-clock";

const power = ESP32C3_POWER;

describe("DeviceEnergy: a simulated device's energy per power state (sim/energy-account.ts)", () => {
  it("charges a boot, a Wi-Fi association before the first packet, half a round trip of radio per packet, and light sleep until the next timer", () => {
    const clock = new VirtualClock();
    const network = new SimNetwork({ clock, seed: 1 });
    const peer = network.host("10.0.0.9");
    const got: number[] = [];
    new peer.UDP({ port: 5683, onReadable(this: { read(): unknown }, n: number) { for (let i = 0; i < n; i++) got.push(1), this.read(); } });
    const energy = new DeviceEnergy(power, 0);
    let socket: { write(b: Uint8Array, a: string, p: number): void } | undefined;
    const device = new SimDevice({
      clock,
      energy,
      io: { UDP: network.host("10.0.0.2").UDP },
      app: (platform) => {
        socket = new platform.io.UDP({ port: 40000 }) as never;
        platform.clock.setTimer(() => {
          platform.power.note?.("telemetry");
          socket!.write(new Uint8Array(100), "10.0.0.9", 5683);
          platform.power.lightSleep(10_000, false);
        }, 1000);
      },
    });
    device.start();
    clock.advance(20_000);
    expect(got.length).toBe(1);
    const t = energy.totals(clock.now());
    expect(t.bytesSent).toBe(100);
    expect(t.stateMs.boot).toBe(power.bootToReadyMs);
    expect(t.stateMs.radio).toBeCloseTo(power.wifiConnectMs + power.roundTripMs / 2, 6);
    expect(t.stateMs.light).toBeGreaterThan(18_000);
    const radio = energy.meter.segments.filter((s) => s.state === "radio").map((s) => s.why);
    expect(radio).toEqual(["Wi-Fi association for telemetry", "telemetry"]);
    expect(t.wakes).toBe(1); // the boot (from "off", accounted as deep)
  });

  it("deep sleep is accounted until the wake, and the wake is a boot", () => {
    const clock = new VirtualClock();
    const energy = new DeviceEnergy(power, 0);
    let boots = 0;
    const device = new SimDevice({
      clock,
      energy,
      app: (platform) => {
        boots++;
        if (boots < 3) platform.clock.setTimer(() => platform.power.deepSleep(60_000), 500);
      },
    });
    device.start();
    clock.advance(200_000);
    const t = energy.totals(clock.now());
    expect(t.deepWakes).toBe(3);
    expect(t.stateMs.deep).toBe(120_000);
    expect(t.stateMs.boot).toBe(3 * power.bootToReadyMs);
  });
});
