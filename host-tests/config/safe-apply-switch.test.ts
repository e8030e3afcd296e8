// @xs
/*
 * modules/config/safe-apply-switch.ts on a virtual clock: the transport side of a safe
 * apply shared by the device harness and the app. The switch waits one scheduler turn
 * (so the command's answer and PUBACK [MQTT-4.3.2-4] go out on the old connection), MQTT
 * is kept on the new client's connection only, CoAP once the socket shows its port (or
 * after the settling time without an error), and the last connection error is reported.
 */
import { Scheduler } from "../../modules/scheduler/scheduler";
import { safeApplySwitch } from "../../modules/config/safe-apply-switch";
import { defaultConfig, type DeviceConfig } from "../../modules/config/schema";
import { VirtualClock } from "../../sim/virtual-clock";

function kit(socket: () => { port?: unknown } | null | undefined = () => ({ port: 5683 })) {
  const clock = new VirtualClock();
  const scheduler = new Scheduler({ clock });
  const opened: DeviceConfig[] = [];
  const outcomes: [boolean, string | undefined][] = [];
  const sw = safeApplySwitch({ scheduler, open: (c) => opened.push(c), coapSocket: socket });
  const done = (ok: boolean, reason?: string) => outcomes.push([ok, reason]);
  return { clock, scheduler, opened, outcomes, sw, done };
}

function config(patch: (c: DeviceConfig) => void): DeviceConfig {
  const c = defaultConfig({ deviceId: "d1" });
  patch(c);
  return c;
}

describe("safeApplySwitch (modules/config/safe-apply-switch.ts)", () => {
  it("switches one scheduler turn after tryApply, not during it (the answer and PUBACK [MQTT-4.3.2-4] go out first)", () => {
    const k = kit();
    const next = config((c) => (c.mqtt.port = 1884));
    k.sw.tryApply(next, 5000, k.done);
    expect(k.opened).toHaveLength(0);
    expect(k.sw.trying).toBe(true);
    k.clock.advance(1);
    expect(k.opened).toHaveLength(1);
    expect(k.opened[0].mqtt.port).toBe(1884);
    expect(k.outcomes).toEqual([]);
  });

  it("MQTT: a connection before the switch (the old client) does not count; the new client's does, once", () => {
    const k = kit();
    k.sw.tryApply(config((c) => (c.mqtt.port = 1884)), 5000, k.done);
    k.sw.connected();
    expect(k.outcomes).toEqual([]);
    k.clock.advance(1);
    k.sw.connected();
    k.sw.connected();
    expect(k.outcomes).toEqual([[true, undefined]]);
    expect(k.sw.trying).toBe(false);
  });

  it("failureDetail names the last connection error of the trial; fail() reports a failure once", () => {
    const k = kit();
    k.sw.connectionError("before any trial");
    k.sw.tryApply(config((c) => (c.mqtt.port = 1)), 5000, k.done);
    expect(k.sw.failureDetail!()).toBeUndefined();
    k.clock.advance(1);
    k.sw.connectionError("connect ECONNREFUSED 127.0.0.1:1");
    expect(k.sw.failureDetail!()).toBe("connect ECONNREFUSED 127.0.0.1:1");
    k.sw.fail("MQTT gave up");
    k.sw.fail("again");
    expect(k.outcomes).toEqual([[false, "MQTT gave up"]]);
  });

  it("revert before the switch cancels it and opens the previous settings; later events change nothing", () => {
    const k = kit();
    const previous = config((c) => (c.mqtt.port = 1883));
    k.sw.tryApply(config((c) => (c.mqtt.port = 1884)), 5000, k.done);
    k.sw.revert(previous, "timeout");
    k.clock.advance(100);
    expect(k.opened.map((c) => c.mqtt.port)).toEqual([1883]);
    k.sw.connected();
    k.sw.fail("late");
    expect(k.outcomes).toEqual([]);
  });

  it("CoAP: kept when the socket shows its bound port", () => {
    const k = kit(() => ({ port: 5684 }));
    k.sw.tryApply(config((c) => (c.protocol = "coap")), 5000, k.done);
    k.clock.advance(1);
    expect(k.outcomes).toEqual([[true, undefined]]);
  });

  it("CoAP: a server that could not be opened (null) fails the trial, naming the port", () => {
    const k = kit(() => null);
    k.sw.tryApply(config((c) => ((c.protocol = "coap"), (c.coap.listenPort = 5999))), 5000, k.done);
    k.clock.advance(1);
    expect(k.outcomes).toHaveLength(1);
    expect(k.outcomes[0][0]).toBe(false);
    expect(k.outcomes[0][1]).toContain("UDP port 5999");
  });

  it("CoAP: an asynchronous bind error before the port shows fails the trial; without one it is kept after the settling time", () => {
    const k = kit(() => ({ port: undefined })); // Node's UDP: no port until bound
    k.sw.tryApply(config((c) => (c.protocol = "coap")), 5000, k.done);
    k.clock.advance(50);
    expect(k.outcomes).toEqual([]);
    k.sw.fail("cannot open the CoAP server on UDP port 5683: EADDRINUSE");
    expect(k.outcomes).toEqual([[false, "cannot open the CoAP server on UDP port 5683: EADDRINUSE"]]);

    const q = kit(() => ({}));
    q.sw.tryApply(config((c) => (c.protocol = "coap")), 5000, q.done);
    q.clock.advance(200);
    expect(q.outcomes).toEqual([]);
    q.clock.advance(200);
    expect(q.outcomes).toEqual([[true, undefined]]);
  });

  it("MQTT with a CoAP server that moves (waitsForCoap): kept only when both the CONNACK and the bind came; a bind error fails it", () => {
    let port: number | undefined;
    const clock = new VirtualClock();
    const scheduler = new Scheduler({ clock });
    const outcomes: [boolean, string | undefined][] = [];
    const asked: number[] = [];
    const sw = safeApplySwitch({
      scheduler,
      open: () => undefined,
      coapSocket: () => ({ port }),
      waitsForCoap: (next) => (asked.push(next.coap.listenPort), next.coap.listenPort !== 5683),
    });
    const done = (ok: boolean, reason?: string) => outcomes.push([ok, reason]);
    sw.tryApply(config((c) => (c.coap.listenPort = 5700)), 5000, done);
    clock.advance(1);
    expect(asked).toEqual([5700]);
    sw.connected();
    expect(outcomes).toEqual([]); // MQTT is up, the server is not bound yet
    port = 5700;
    clock.advance(20);
    expect(outcomes).toEqual([[true, undefined]]);

    port = undefined;
    sw.tryApply(config((c) => (c.coap.listenPort = 5701)), 5000, done);
    clock.advance(1);
    sw.connected();
    sw.fail("cannot open the CoAP server on UDP port 5701: EADDRINUSE");
    expect(outcomes[1]).toEqual([false, "cannot open the CoAP server on UDP port 5701: EADDRINUSE"]);

    // A change that leaves the server where it is: the CONNACK alone decides.
    sw.tryApply(config((c) => (c.mqtt.port = 1884)), 5000, done);
    clock.advance(1);
    sw.connected();
    expect(outcomes[2]).toEqual([true, undefined]);
  });

  it("cancel() (the app stops) drops the pending switch", () => {
    const k = kit();
    k.sw.tryApply(config((c) => (c.mqtt.port = 1884)), 5000, k.done);
    k.sw.cancel();
    k.clock.advance(1000);
    expect(k.opened).toEqual([]);
    expect(k.sw.trying).toBe(false);
  });
});
