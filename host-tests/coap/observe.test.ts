// @xs
/*
 * Observe (RFC 7641) between CoapClient and CoapServer on the simulated UDP
 * network: registration, notifications, CON every so often (§4.5), observers
 * dropped on RST (§3.6) and CON timeout (§4.5), bounded lists (§4.1),
 * storms (§4.5.1/§4.5.2), the §3.4 ordering rule, re-registration (§3.3.1),
 * deregistration (§3.6) and observing a large resource (RFC 7959 §3.4).
 */
import {
  COAP_MESSAGE,
  COAP_OPTION,
  COAP_REQUEST,
  COAP_RESPONSE,
  codeString,
} from "../../modules/coap/constants";
import { getBlock, getUint, observeOption, stringOption, uintOption } from "../../modules/coap/options";
import { NotificationOrder } from "../../modules/coap/observe-order";
import type { CoapResponse } from "../../modules/coap/client";
import { CoapServer, type CoapResource } from "../../modules/coap/server";
import { bytes, makeFixture, type Fixture, type FixtureOptions } from "./server-fixture";

let fx: Fixture;
let value: number;
let temp: CoapResource;

function setup(options: FixtureOptions = {}): void {
  fx = makeFixture({ ...options, server: { notificationInterval: 0, ...(options.server ?? {}) } });
  value = 0;
  temp = fx.server.add("/temp", { observable: true, maxAge: 30, get: () => ({ payload: "t=" + value, contentFormat: 0 }) });
}
afterEach(() => fx.close());

function observeTemp(extra: Partial<{ onEnd: (r: string) => void; reregisterMargin: number; confirmable: boolean }> = {}) {
  const got: CoapResponse[] = [];
  const ends: string[] = [];
  const obs = fx.client.observe({ uri: fx.uri("/temp"), onNotify: (r) => got.push(r), onEnd: (r) => ends.push(r), ...extra });
  return { obs, got, ends };
}

async function change(n = 1): Promise<void> {
  for (let i = 0; i < n; i++) {
    value++;
    temp.notify();
    await fx.advance(100);
  }
}

const fromServer = () => fx.messages().filter((m) => m.from === "10.0.0.1" && m.message).map((m) => m.message!);

describe("RFC 7641 §3.1/§4.1 registration and notifications", () => {
  it("the first response carries Observe; each change is notified with an increasing Observe number", async () => {
    setup();
    const { got, obs } = observeTemp();
    await fx.advance(100);
    expect(got.map((r) => r.text())).toEqual(["t=0"]);
    expect(fx.server.observerCount).toBe(1);
    expect(temp.observerCount).toBe(1);
    await change(3);
    expect(got.map((r) => r.text())).toEqual(["t=0", "t=1", "t=2", "t=3"]);
    const seq = got.map((r) => r.observe!);
    for (let i = 1; i < seq.length; i++) expect(seq[i]).toBeGreaterThan(seq[i - 1]);
    expect(obs.active).toBe(true);
  });
  it("notifications are NON, with a CON at least every confirmEvery notifications (§4.5)", async () => {
    setup({ server: { confirmEvery: 3 } });
    observeTemp();
    await fx.advance(100);
    await change(6);
    const types = fromServer().filter((m) => getUint(m, COAP_OPTION.OBSERVE) !== undefined).slice(1).map((m) => m.type);
    expect(types).toEqual([COAP_MESSAGE.NON, COAP_MESSAGE.NON, COAP_MESSAGE.CON, COAP_MESSAGE.NON, COAP_MESSAGE.NON, COAP_MESSAGE.CON]);
  });
  it("... and a CON when confirmInterval has passed since the last one (the 24-hour rule, shortened)", async () => {
    setup({ server: { confirmEvery: 0, confirmInterval: 10000 } });
    observeTemp();
    await fx.advance(100);
    await change(2);
    await fx.advance(10000);
    await change(2);
    const types = fromServer().filter((m) => getUint(m, COAP_OPTION.OBSERVE) !== undefined).slice(1).map((m) => m.type);
    expect(types).toEqual([COAP_MESSAGE.NON, COAP_MESSAGE.NON, COAP_MESSAGE.CON, COAP_MESSAGE.NON]);
  });
  it("re-registering with the same token replaces the entry (§4.1); a GET without Observe with that token removes it", async () => {
    setup();
    const token = Uint8Array.of(1, 2, 3);
    const reg = () => fx.raw({ code: COAP_REQUEST.GET, token, options: [observeOption(0), stringOption(COAP_OPTION.URI_PATH, "temp")] });
    await fx.settle(reg());
    await fx.settle(reg());
    expect(fx.server.observerCount).toBe(1);
    const plain = await fx.settle(fx.raw({ code: COAP_REQUEST.GET, token, options: [stringOption(COAP_OPTION.URI_PATH, "temp")] }));
    expect(getUint(plain, COAP_OPTION.OBSERVE)).toBeUndefined();
    expect(fx.server.observerCount).toBe(0);
  });
  it("a GET with Observe on a resource that is not observable is served without Observe; the client's observation ends", async () => {
    setup();
    fx.server.add("/plain", { get: () => ({ payload: "p" }) });
    const ends: string[] = [];
    const got: string[] = [];
    const obs = fx.client.observe({ uri: fx.uri("/plain"), onNotify: (r) => got.push(r.text()), onEnd: (r) => ends.push(r) });
    await fx.advance(200);
    expect(got).toEqual(["p"]);
    expect(ends).toEqual(["the server did not accept the registration"]);
    expect(obs.active).toBe(false);
  });
});

describe("RFC 7641 §3.6 / §4.5 deregistration and departed observers", () => {
  it("proactive cancel: GET with Observe 1 and the same token removes the observer (§3.6)", async () => {
    setup();
    const { obs, got } = observeTemp();
    await fx.advance(100);
    const token = obs.token!;
    const r = await fx.settle(obs.cancel());
    expect(r!.status).toBe("2.05");
    expect(r!.observe).toBeUndefined();
    expect(fx.server.observerCount).toBe(0);
    const dereg = fx.messages().filter((m) => m.from === "10.0.0.2" && getUint(m.message!, COAP_OPTION.OBSERVE) === 1);
    expect(dereg.length).toBe(1);
    expect(dereg[0].message!.token).toEqual(token);
    await change(1);
    expect(got.length).toBe(1);
  });
  it("reactive cancel: the client forgets; its RST to the next CON notification removes the observer", async () => {
    setup();
    fx.server.add("/con", { observable: true, confirmableNotifications: true, get: () => ({ payload: "v" + value }) });
    const got: string[] = [];
    const obs = fx.client.observe({ uri: fx.uri("/con"), onNotify: (r) => got.push(r.text()) });
    await fx.advance(100);
    expect(fx.server.observerCount).toBe(1);
    obs.forget();
    value++;
    fx.server.resource("/con")!.notify();
    await fx.advance(500);
    expect(fx.server.observerCount).toBe(0);
    expect(fx.messages().some((m) => m.from === "10.0.0.2" && m.message!.type === COAP_MESSAGE.RST)).toBe(true);
    expect(got).toEqual(["v0"]);
  });
  it("a RST to a NON notification removes the observer too (§3.6)", async () => {
    setup();
    const { obs } = observeTemp();
    await fx.advance(100);
    obs.forget(); // our endpoint ignores an unexpected NON (RFC 7252 §4.3 allows silence), so the RST is made by hand
    value++;
    temp.notify();
    await fx.advance(50);
    const lastNon = fromServer().filter((m) => m.type === COAP_MESSAGE.NON).pop()!;
    expect(getUint(lastNon, COAP_OPTION.OBSERVE)).toBeDefined();
    const rst = Uint8Array.of(0x70, 0, lastNon.messageId >> 8, lastNon.messageId & 0xff);
    fx.server.endpoint.receive(rst, "10.0.0.9", 5683); // from another endpoint: not a match
    expect(fx.server.observerCount).toBe(1);
    fx.server.endpoint.receive(rst, "10.0.0.2", 5683);
    expect(fx.server.observerCount).toBe(0);
  });
  it("a CON notification that is never acknowledged drops the observer after MAX_TRANSMIT_WAIT (§4.5)", async () => {
    setup({ server: { confirmEvery: 1 } });
    observeTemp();
    await fx.advance(100);
    fx.network.link("10.0.0.1", "10.0.0.2", { down: true }, { both: true }); // the client is gone
    await change(1);
    expect(fx.server.observerCount).toBe(1);
    await fx.advance(fx.server.endpoint.parameters.MAX_TRANSMIT_WAIT);
    expect(fx.server.observerCount).toBe(0);
  });
  it("a non-2.xx notification ends the observation: removing the resource sends 4.04 (§3.2)", async () => {
    setup();
    const { obs, got, ends } = observeTemp();
    await fx.advance(100);
    fx.server.remove("/temp");
    await fx.advance(200);
    expect(got.map((r) => r.status)).toEqual(["2.05", "4.04"]);
    expect(ends.length).toBe(1);
    expect(obs.active).toBe(false);
    expect(fx.server.observerCount).toBe(0);
  });
  it("a GET handler that throws during a notification sends 5.00 and drops the observer, no crash", async () => {
    setup();
    let fail = false;
    fx.server.add("/flaky", { observable: true, get: () => {
      if (fail) throw new Error("sensor gone");
      return { payload: "ok" };
    } });
    const got: string[] = [];
    fx.client.observe({ uri: fx.uri("/flaky"), onNotify: (r) => got.push(r.status) });
    await fx.advance(100);
    fail = true;
    fx.server.resource("/flaky")!.notify();
    await fx.advance(200);
    expect(got).toEqual(["2.05", "5.00"]);
    expect(fx.server.observerCount).toBe(0);
  });
});

describe("RFC 7641 §4.1 bounded observer lists", () => {
  it("per resource: a registration beyond the limit is served without Observe", async () => {
    setup({ server: { maxObserversPerResource: 2, maxObservers: 10 } });
    const reg = (t: number) => fx.settle(fx.raw({ code: COAP_REQUEST.GET, token: Uint8Array.of(t), options: [observeOption(0), stringOption(COAP_OPTION.URI_PATH, "temp")] }));
    expect(getUint(await reg(1), COAP_OPTION.OBSERVE)).toBeDefined();
    expect(getUint(await reg(2), COAP_OPTION.OBSERVE)).toBeDefined();
    const third = await reg(3);
    expect(codeString(third.code)).toBe("2.05");
    expect(getUint(third, COAP_OPTION.OBSERVE)).toBeUndefined();
    expect(temp.observerCount).toBe(2);
  });
  it("in all: the global limit holds across resources", async () => {
    setup({ server: { maxObserversPerResource: 5, maxObservers: 3 } });
    fx.server.add("/b", { observable: true, get: () => ({ payload: "b" }) });
    let t = 0;
    for (const p of ["temp", "temp", "b", "b", "b"]) await fx.settle(fx.raw({ code: COAP_REQUEST.GET, token: Uint8Array.of(++t), options: [observeOption(0), stringOption(COAP_OPTION.URI_PATH, p)] }));
    expect(fx.server.observerCount).toBe(3);
  });
  it("the list's bookkeeping: full per resource, replacing an entry, full in all, removing; bad limits refused", async () => {
    setup({ server: { maxObserversPerResource: 1, maxObservers: 2 } });
    fx.server.add("/b", { observable: true, get: () => ({ payload: "b" }) });
    fx.server.add("/c", { observable: true, get: () => ({ payload: "c" }) });
    const reg = async (t: number, path: string, observe: number | null = 0) =>
      getUint(await fx.settle(fx.raw({ code: COAP_REQUEST.GET, token: Uint8Array.of(t), options: (observe === null ? [] : [observeOption(observe)]).concat([stringOption(COAP_OPTION.URI_PATH, path)]) })), COAP_OPTION.OBSERVE);
    expect(await reg(1, "temp")).toBeDefined();
    expect(await reg(2, "temp")).toBeUndefined(); // full for /temp
    expect(await reg(1, "temp")).toBeDefined(); // the same endpoint and token: replaces its entry
    expect(temp.observerCount).toBe(1);
    expect(await reg(3, "b")).toBeDefined();
    expect(await reg(4, "c")).toBeUndefined(); // full in all
    expect(await reg(1, "temp", null)).toBeUndefined(); // §3.6: a GET without Observe, same token: removed
    expect(fx.server.observerCount).toBe(1);
    expect(await reg(4, "c")).toBeDefined();
    expect(() => new CoapServer({ endpoint: fx.server.endpoint, maxObserversPerResource: -1 })).toThrow(RangeError);
    expect(() => new CoapServer({ endpoint: fx.server.endpoint, maxObservers: 1.5 })).toThrow(RangeError);
  });
});

describe("RFC 7641 §4.5.1 / §4.5.2 observe storms", () => {
  it("a thousand changes in one turn give one notification with the latest state", async () => {
    setup();
    const { got } = observeTemp();
    await fx.advance(100);
    for (let i = 0; i < 1000; i++) {
      value++;
      temp.notify();
    }
    await fx.advance(200);
    expect(got.map((r) => r.text())).toEqual(["t=0", "t=1000"]);
  });
  it("NON notifications at most one per notificationInterval; the latest state follows when it ends", async () => {
    setup({ server: { notificationInterval: 3000 } });
    const { got } = observeTemp();
    await fx.advance(100);
    for (let i = 0; i < 20; i++) {
      value++;
      temp.notify();
      await fx.advance(100);
    }
    // 2 s of changes: one notification at once, the rest coalesced into one at the end of the interval
    await fx.advance(3000);
    expect(got.map((r) => r.text())).toEqual(["t=0", "t=1", "t=20"]);
  });
  it("while a CON notification is unacknowledged, changes wait and the latest is sent after the ACK (NSTART 1)", async () => {
    setup({ server: { confirmEvery: 1 } });
    const { got } = observeTemp();
    await fx.advance(100);
    fx.network.link("10.0.0.2", "10.0.0.1", { down: true }); // ACKs lost
    await change(5);
    const cons = fromServer().filter((m) => m.type === COAP_MESSAGE.CON).length;
    fx.network.unlink("10.0.0.2", "10.0.0.1");
    await fx.advance(10000);
    expect(got[got.length - 1].text()).toBe("t=5");
    // only the first change was transmitted while the link was down (plus its retransmissions)
    const distinct = new Set(fromServer().filter((m) => m.type === COAP_MESSAGE.CON).map((m) => m.messageId));
    expect(distinct.size).toBe(2);
    expect(cons).toBeGreaterThanOrEqual(1);
  });
});

describe("RFC 7641 §3.4 ordering and §3.3.1 re-registration (client)", () => {
  it("NotificationOrder: 24-bit serial arithmetic and the 128-second rule", () => {
    const o = new NotificationOrder();
    expect(o.accept(10, 0)).toBe(true);
    expect(o.accept(9, 1000)).toBe(false); // older
    expect(o.accept(10, 1000)).toBe(false); // same
    expect(o.accept(11, 1000)).toBe(true);
    expect(o.accept(0xfffff0, 2000)).toBe(false); // V1 - V2 wraps: 11 - 0xfffff0 < 2^23 backwards
    const w = new NotificationOrder();
    expect(w.accept(0xfffffe, 0)).toBe(true);
    expect(w.accept(1, 10)).toBe(true); // wrapped around: newer
    expect(w.accept(0xffffff, 20)).toBe(false);
    expect(w.accept(0, 20 + 128001)).toBe(true); // more than 128 s later: newer whatever the number
  });
  it("Observe numbers are 24-bit: they wrap at 2^24 (§4.4)", async () => {
    setup();
    temp.seq = 0xfffffd; // the resource's latest number (internal)
    const { got } = observeTemp();
    await fx.advance(100);
    await change(3);
    expect(got.map((r) => r.observe)).toEqual([0xfffffe, 0xffffff, 0, 1]);
  });
  it("an out-of-order (older) notification is dropped, not delivered", async () => {
    setup();
    const { obs, got } = observeTemp();
    await fx.advance(100);
    const token = obs.token!;
    const send = (n: number, body: string) =>
      fx.server.endpoint.sendMessage({ type: COAP_MESSAGE.NON, code: COAP_RESPONSE.CONTENT, token, options: [observeOption(n)], payload: Uint8Array.from(body, (c) => c.charCodeAt(0)) }, "10.0.0.2", 5683);
    send(100, "new");
    await fx.advance(50);
    send(50, "old");
    await fx.advance(50);
    expect(got.map((r) => r.text())).toEqual(["t=0", "new"]);
    expect(obs.stale).toBe(1);
  });
  it("no notification within Max-Age: the client re-registers with the same token (§3.3.1)", async () => {
    setup();
    fx.server.add("/quiet", { observable: true, maxAge: 5, get: () => ({ payload: "q" }) });
    const got: string[] = [];
    const obs = fx.client.observe({ uri: fx.uri("/quiet"), onNotify: (r) => got.push(r.text()), reregisterMargin: 1000 });
    await fx.advance(100);
    const token = obs.token!;
    await fx.advance(6000);
    expect(obs.reregistrations).toBe(1);
    const regs = fx.messages().filter((m) => m.from === "10.0.0.2" && getUint(m.message!, COAP_OPTION.OBSERVE) === 0);
    expect(regs.length).toBe(2);
    expect(regs[1].message!.token).toEqual(token);
    expect(fx.server.observerCount).toBe(1); // replaced, not added
    expect(got).toEqual(["q", "q"]);
  });
  it("a notification received in time postpones re-registration", async () => {
    setup();
    fx.server.add("/busy", { observable: true, maxAge: 5, get: () => ({ payload: "b" + value }) });
    const obs = fx.client.observe({ uri: fx.uri("/busy"), onNotify: () => undefined, reregisterMargin: 1000 });
    for (let i = 0; i < 5; i++) {
      await fx.advance(3000);
      value++;
      fx.server.resource("/busy")!.notify();
    }
    expect(obs.reregistrations).toBe(0);
  });
});

describe("RFC 7959 §3.4 observing a large resource", () => {
  it("a notification carries block 0 with an ETag; the client GETs the rest and delivers whole bodies", async () => {
    setup();
    let n = 0;
    const big = fx.server.add("/big", { observable: true, get: () => ({ payload: bytes(2500, n) }) });
    const got: CoapResponse[] = [];
    fx.client.observe({ uri: fx.uri("/big"), onNotify: (r) => got.push(r) });
    await fx.advance(500);
    n = 1;
    big.notify();
    await fx.advance(500);
    expect(got.length).toBe(2);
    expect(got[1].payload.length).toBe(2500);
    expect(got[1].payload[0]).toBe(bytes(2500, 1)[0]);
    expect(got[1].payload[2499]).toBe(bytes(2500, 1)[2499]);
    expect(got[1].observe).toBeDefined();
    const notification = fromServer().filter((m) => m.type === COAP_MESSAGE.NON && getUint(m, COAP_OPTION.OBSERVE) !== undefined).pop()!;
    expect(getBlock(notification, COAP_OPTION.BLOCK2)).toEqual({ num: 0, more: true, szx: 6 });
    // the follow-up GETs carry Block2 and no Observe
    const follow = fx.messages().filter((m) => m.from === "10.0.0.2" && getBlock(m.message!, COAP_OPTION.BLOCK2));
    expect(follow.length).toBe(4);
    for (const f of follow) expect(getUint(f.message!, COAP_OPTION.OBSERVE)).toBeUndefined();
    void uintOption;
  });
});
