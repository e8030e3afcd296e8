// @xs
import { ESP32C3_POWER } from "../../boards/power";
import { chargeOf } from "../../modules/scheduler/energy";
import { linkCost, planSleep, type LinkCost } from "../../modules/scheduler/sleep-planner";
import type { JobSnapshot } from "../../modules/scheduler/scheduler";

const power = ESP32C3_POWER;
const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;

function job(name: string, deadline: number, o: Partial<JobSnapshot> = {}): JobSnapshot {
  return { name, deadline, earliest: o.earliest ?? deadline, latest: o.latest ?? deadline, radio: o.radio ?? false, liveness: o.liveness ?? false };
}

const mqtt5 = (o = {}) => linkCost("mqtt5", power, { keepAliveS: 60, sessionExpiryS: 86_400, ...o });

describe("linkCost: what each protocol costs to bring back (docs/scheduler.md, Energy model)", () => {
  it("MQTT: TCP handshake + CONNECT, plus TLS when used; CoAP nothing; MQTT-SN one awake PINGREQ (MQTT-SN 1.2 §6.14) and, to send, CONNECT", () => {
    expect(linkCost("mqtt311", power).reopenMs).toBe(2 * power.roundTripMs);
    expect(linkCost("mqtt5", power, { tls: true }).reopenMs).toBe(2 * power.roundTripMs + power.tlsHandshakeMs);
    expect(linkCost("coap", power)).toEqual({ name: "coap", reopenMs: 0, sessionKeptMs: Infinity, livenessMs: 0 });
    expect(linkCost("mqttsn", power, { snConnect: false }).reopenMs).toBe(power.roundTripMs);
    // The app's wake: the awake PINGREQ, CONNECT with the Will dialogue (3 round trips, §6.2) and its SUBSCRIBE again (§5.4.5).
    expect(linkCost("mqttsn", power).reopenMs).toBe(5 * power.roundTripMs);
    expect(linkCost("mqttsn", power, { snConnect: { will: false, subscriptions: 0 } }).reopenMs).toBe(2 * power.roundTripMs);
    expect(linkCost("mqtt311", power, { keepAliveS: 30 }).livenessMs).toBe(30 * S);
  });

  it("how long the peer keeps the session: MQTT 5 Session Expiry (absent = 0, 0xFFFFFFFF = never, §3.1.2.11.2); 3.1.1 Clean Session 0 as long as the broker does", () => {
    expect(linkCost("mqtt5", power).sessionKeptMs).toBe(0);
    expect(linkCost("mqtt5", power, { sessionExpiryS: 3600 }).sessionKeptMs).toBe(HOUR);
    expect(linkCost("mqtt5", power, { sessionExpiryS: 0xffffffff }).sessionKeptMs).toBe(Infinity);
    // §3.14.2.2.2: a DISCONNECT with a Session Expiry covering the sleep; [MQTT-3.14.2-2]: not after a CONNECT with 0
    expect(linkCost("mqtt5", power, { sessionExpiryS: 60, expiryOnDisconnect: true }).sessionKeptMs).toBe(Infinity);
    expect(linkCost("mqtt5", power, { sessionExpiryS: 0, expiryOnDisconnect: true }).sessionKeptMs).toBe(0);
    expect(linkCost("mqtt311", power).sessionKeptMs).toBe(Infinity);
    expect(linkCost("mqtt311", power, { cleanSession: true }).sessionKeptMs).toBe(0);
  });
});

describe("planSleep: the decision between two wakes", () => {
  it("one report an hour over MQTT: lets the links go and deep-sleeps to the report (the keep-alive vanishes with the link)", () => {
    const jobs = [job("mqtt-keepalive", 60 * S, { earliest: 30 * S, radio: true, liveness: true }), job("report", HOUR, { earliest: HOUR - 3 * MIN, latest: HOUR + 3 * MIN, radio: true })];
    const plan = planSleep(0, jobs, { power, links: [mqtt5()], linksUp: true });
    expect(plan.mode).toBe("deep");
    expect(plan.keepLinks).toBe(false);
    expect(plan.wakeAt).toBe(HOUR);
    expect(plan.dropUah).toBeLessThan(plan.keepUah);
    expect(plan.reason).toMatch(/letting the links go is cheaper/);
  });

  it("a radio obligation every minute (sampling 30 s, keep-alive 60 s): keeps Wi-Fi associated in light sleep and wakes for the sample", () => {
    const jobs = [
      job("sample", 30 * S, { earliest: 27 * S, latest: 33 * S }),
      job("mqtt-keepalive", 60 * S, { earliest: 30 * S, radio: true, liveness: true }),
      job("observe", 60 * S, { earliest: 30 * S, radio: true }),
    ];
    const plan = planSleep(0, jobs, { power, links: [mqtt5()], linksUp: true });
    expect(plan.mode).toBe("light");
    expect(plan.keepLinks).toBe(true);
    expect(plan.wakeAt).toBe(30 * S);
    expect(plan.keepUah).toBeLessThan(plan.dropUah);
    expect(plan.reason).toMatch(/Wi-Fi kept/);
  });

  it("CoAP has nothing to reconnect but Wi-Fi: an observer due every minute still keeps the association; an hour to the next radio job lets it go", () => {
    const minute = planSleep(0, [job("observe", 60 * S, { earliest: 30 * S, radio: true })], { power, links: [linkCost("coap", power)], linksUp: true });
    expect(minute.keepLinks).toBe(true);
    const hour = planSleep(0, [job("report", HOUR, { radio: true })], { power, links: [linkCost("coap", power)], linksUp: true });
    expect(hour.keepLinks).toBe(false);
    expect(hour.mode).toBe("deep");
    // the break-even is where keeping costs what Wi-Fi association does
    const breakEven = (power.wifiConnectMs * power.activeRadioMa) / (power.lightSleepWifiMa - power.deepSleepMa);
    expect(planSleep(0, [job("r", breakEven * 0.9, { radio: true })], { power, links: [linkCost("coap", power)], linksUp: true }).keepLinks).toBe(true);
    expect(planSleep(0, [job("r", breakEven * 1.1, { radio: true })], { power, links: [linkCost("coap", power)], linksUp: true }).keepLinks).toBe(false);
  });

  it("a gap shorter than going to sleep and back: stays awake", () => {
    const plan = planSleep(0, [job("sht3x measure", 2)], { power, links: [mqtt5()], linksUp: true });
    expect(plan.mode).toBe("awake");
    expect(plan.keepLinks).toBe(true);
  });

  it("between radio wakes with the links closed: light sleep for a short gap (a boot costs more), deep for a long one", () => {
    const bootUah = chargeOf(power, "boot", power.bootToReadyMs);
    const breakEven = (bootUah * 3600) / (power.lightSleepMa - power.deepSleepMa);
    const short = planSleep(0, [job("sample", breakEven * 0.8), job("report", HOUR, { radio: true })], { power, links: [mqtt5()], linksUp: false });
    expect(short.mode).toBe("light");
    expect(short.keepLinks).toBe(false);
    const long = planSleep(0, [job("sample", breakEven * 1.2), job("report", HOUR, { radio: true })], { power, links: [mqtt5()], linksUp: false });
    expect(long.mode).toBe("deep");
  });

  it("sleep/prevent keeps the links: light sleep with Wi-Fi, never deep", () => {
    const plan = planSleep(0, [job("report", HOUR, { radio: true }), job("mqtt-keepalive", MIN, { earliest: 30 * S, radio: true, liveness: true })], { power, links: [mqtt5()], linksUp: true, prevent: true });
    expect(plan.mode).toBe("light");
    expect(plan.keepLinks).toBe(true);
    expect(plan.wakeAt).toBe(MIN); // the keep-alive runs: the link is kept
    expect(plan.reason).toMatch(/sleep\/prevent/);
  });

  it("a peer that would drop the session during the sleep (MQTT 5 Session Expiry 10 min, clean session) keeps the links", () => {
    const jobs = [job("report", HOUR, { radio: true }), job("mqtt-keepalive", MIN, { radio: true, liveness: true })];
    const short = planSleep(0, jobs, { power, links: [mqtt5({ sessionExpiryS: 600 })], linksUp: true });
    expect(short.keepLinks).toBe(true);
    expect(short.reason).toMatch(/drop the session/);
    expect(planSleep(0, jobs, { power, links: [linkCost("mqtt311", power, { cleanSession: true })], linksUp: true }).keepLinks).toBe(true);
    expect(planSleep(0, jobs, { power, links: [mqtt5({ sessionExpiryS: 7200 })], linksUp: true }).keepLinks).toBe(false);
    // the DISCONNECT before the sleep lengthens the 10 min to cover it (§3.14.2.2.2): deep sleep for the hour
    const covered = planSleep(0, jobs, { power, links: [mqtt5({ sessionExpiryS: 600, expiryOnDisconnect: true })], linksUp: true });
    expect(covered.keepLinks).toBe(false);
    expect(covered.mode).toBe("deep");
  });

  it("a platform without deep sleep lets the links go into light sleep; one without light sleep keeps the CPU on (modem sleep)", () => {
    const jobs = [job("report", HOUR, { radio: true })];
    expect(planSleep(0, jobs, { power, links: [mqtt5()], linksUp: true, deepSleep: false }).mode).toBe("light");
    const modem = planSleep(0, [job("observe", MIN, { radio: true })], { power, links: [mqtt5()], linksUp: true, lightSleep: false, deepSleep: false });
    expect(modem.mode).toBe("modem");
  });

  it("drift: every latest is taken driftPpm of its distance earlier, so a slow RTC does not make a job late", () => {
    const jobs = [job("report", HOUR, { earliest: HOUR - 5 * MIN, latest: HOUR, radio: true })];
    const plain = planSleep(0, jobs, { power, links: [mqtt5()], linksUp: false });
    const drift = planSleep(0, jobs, { power, links: [mqtt5()], linksUp: false, driftPpm: 200 });
    expect(plain.wakeAt).toBe(HOUR);
    expect(drift.marginMs).toBe(Math.ceil(HOUR * 200e-6)); // 720 ms
    expect(drift.wakeAt).toBe(HOUR - 720);
    // slept 200 ppm too long, the wake still comes by the latest
    expect(drift.sleepMs * (1 + 200e-6)).toBeLessThanOrEqual(HOUR);
    // a window with room: the wake stays at the deadline when the margin fits before the latest
    const roomy = planSleep(0, [job("report", HOUR, { latest: HOUR + 5 * MIN, radio: true })], { power, links: [mqtt5()], linksUp: false, driftPpm: 200 });
    expect(roomy.wakeAt).toBe(HOUR);
    expect(() => planSleep(0, jobs, { power, links: [], linksUp: false, driftPpm: -1 })).toThrow(RangeError);
  });

  it("the links let go with wakes without radio before the next radio obligation: radioAt/radioMs reach that obligation's latest (with the drift margin), not the next wake", () => {
    // A reading every minute with the radio off, the batch sent every 10 min (± 1 min), MQTT-SN's
    // keep-alive a liveness job: the sleep announced to the gateway (§6.14) must last to the batch.
    const jobs = [
      job("sample", MIN, { earliest: 54 * S, latest: 66 * S }),
      job("mqttsn", MIN, { earliest: 30 * S, radio: true, liveness: true }),
      job("telemetry", 10 * MIN, { earliest: 9 * MIN, latest: 11 * MIN, radio: true }),
    ];
    const plan = planSleep(0, jobs, { power, links: [linkCost("mqttsn", power)], linksUp: true, deepSleep: false, driftPpm: 100 });
    expect(plan.keepLinks).toBe(false);
    expect(plan.mode).toBe("light");
    expect(plan.wakeAt).toBe(MIN); // the next wake: the reading
    // The telemetry job may run anywhere up to its latest (11 min); the RTC slow by 100 ppm still makes it.
    expect(plan.radioAt).toBe(11 * MIN - Math.ceil(11 * MIN * 100e-6));
    expect(plan.radioMs).toBe(plan.radioAt);
    expect(plan.radioMs * (1 + 100e-6)).toBeLessThanOrEqual(11 * MIN);
    expect(plan.radioMs).toBeGreaterThan(plan.sleepMs);
    // from a later "now", relative to it
    const later = planSleep(5 * MIN, jobs.slice(2), { power, links: [], linksUp: false });
    expect([later.radioAt, later.radioMs]).toEqual([11 * MIN, 6 * MIN]);
    // no radio obligation (the keep-alive vanishes with the links): none to announce, the next wake still planned
    const none = planSleep(0, jobs.slice(0, 2), { power, links: [linkCost("mqttsn", power)], linksUp: true, deepSleep: false });
    expect(none.wakeAt).toBe(MIN);
    expect([none.radioAt, none.radioMs]).toEqual([undefined, Infinity]);
  });

  it("a peer's session must last to the radio obligation's latest, not its deadline: MQTT 5 Session Expiry an hour, the report due in an hour ± 6 min keeps the links", () => {
    const jobs = [job("report", HOUR, { earliest: HOUR - 6 * MIN, latest: HOUR + 6 * MIN, radio: true }), job("mqtt-keepalive", MIN, { radio: true, liveness: true })];
    expect(planSleep(0, jobs, { power, links: [mqtt5({ sessionExpiryS: 3600 })], linksUp: true }).keepLinks).toBe(true);
    expect(planSleep(0, jobs, { power, links: [mqtt5({ sessionExpiryS: 3600 + 6 * 60 })], linksUp: true }).keepLinks).toBe(false);
  });

  it("nothing scheduled: deep sleep with no wake time (until an external wake)", () => {
    const plan = planSleep(0, [], { power, links: [] as LinkCost[], linksUp: false });
    expect(plan.mode).toBe("deep");
    expect(plan.wakeAt).toBe(undefined);
    expect(plan.sleepMs).toBe(Infinity);
    expect([plan.radioAt, plan.radioMs]).toEqual([undefined, Infinity]);
  });
});
