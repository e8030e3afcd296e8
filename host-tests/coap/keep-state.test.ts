// @xs
/*
 * CoAP state kept across a deep sleep (issue 19): a device's server is closed with its RAM and
 * a new one opened on the next boot. What the old one hands over (CoapServer.observations,
 * CoapEndpoint.messageIds) and the new one takes back (restoreObservations, resumeMessageIds)
 * keeps the observers (RFC 7641) notified without a new registration, with Observe numbers that
 * go on increasing (§4.4), and the Message IDs going on instead of a fresh random start (RFC
 * 7252 §4.4: no ID reused with the same endpoint within EXCHANGE_LIFETIME).
 */
import { CoapServer, type CoapResource, type ObservationRecord } from "../../modules/coap/server";
import { decode, encode } from "../../modules/coap/codec";
import { COAP_MESSAGE, COAP_REQUEST } from "../../modules/coap/constants";
import { observeOption, stringOption } from "../../modules/coap/options";
import type { CoapResponse } from "../../modules/coap/client";
import type { MessageIdRecord } from "../../modules/coap/messaging";
import { Prng } from "../../sim/prng";
import { CLIENT, makeFixture, PORT, SERVER, type Fixture } from "./server-fixture";

let fx: Fixture;
afterEach(() => fx.close());

/** A server on the fixture's server host (the old one closed: a new boot), its datagrams recorded. */
function reboot(seed: number): { server: CoapServer; temp: CoapResource; sent: { bytes: Uint8Array; to: string }[] } {
  fx.server.close();
  const sent: { bytes: Uint8Array; to: string }[] = [];
  const UDP = fx.network.host(SERVER).UDP as any;
  const Tapped = class extends UDP {
    write(data: Uint8Array, address: string, port: number) {
      sent.push({ bytes: new Uint8Array(data).slice(), to: address });
      super.write(data, address, port);
    }
  };
  const rng = new Prng(seed);
  const server = new CoapServer({ socket: { io: Tapped as any, port: PORT }, scheduler: fx.scheduler, random: (b) => rng.fill(b), notificationInterval: 0 });
  const temp = server.add("/temp", { observable: true, get: () => ({ payload: "t=" + value, contentFormat: 0 }) });
  return { server, temp, sent };
}

let value = 0;

function setup() {
  fx = makeFixture({ server: { notificationInterval: 0 } });
  value = 0;
  const temp = fx.server.add("/temp", { observable: true, get: () => ({ payload: "t=" + value, contentFormat: 0 }) });
  const got: CoapResponse[] = [];
  fx.client.observe({ uri: fx.uri("/temp"), onNotify: (r) => got.push(r) });
  return { temp, got };
}

describe("CoAP state across a deep sleep", () => {
  it("RFC 7641: the observer kept by the next boot's server gets its notifications, Observe numbers increasing (§4.4), no new registration", async () => {
    const { temp, got } = setup();
    await fx.advance(100);
    for (let i = 0; i < 2; i++) {
      value++;
      temp.notify();
      await fx.advance(100);
    }
    expect(got.map((r) => r.text())).toEqual(["t=0", "t=1", "t=2"]);
    const records: ObservationRecord[] = fx.server.observations();
    const mids: MessageIdRecord[] = fx.server.endpoint.messageIds();
    expect(records.length).toBe(1);
    expect(records[0].address).toBe(CLIENT);
    const last = got[2].observe!;

    const next = reboot(99);
    next.server.endpoint.resumeMessageIds(mids);
    expect(next.server.restoreObservations(records)).toBe(1);
    expect(next.server.observerCount).toBe(1);
    value++;
    next.temp.notify();
    await fx.advance(100);
    expect(got.map((r) => r.text())).toEqual(["t=0", "t=1", "t=2", "t=3"]);
    expect(got[3].observe!).toBeGreaterThan(last);
    // The Message ID goes on from the old boot's for this client (RFC 7252 §4.4).
    const first = decode(next.sent[0].bytes);
    expect(first.ok && first.message.messageId).toBe(mids.find((m) => m.address === CLIENT)!.next);
    // Its registration is the client's: no GET went out again.
    expect(fx.messages().filter((m) => m.from === CLIENT && m.message?.code === COAP_REQUEST.GET).length).toBe(1);
  });

  it("control: a server that takes nothing back has no observer, and the client hears nothing", async () => {
    const { temp, got } = setup();
    await fx.advance(100);
    value++;
    temp.notify();
    await fx.advance(100);
    expect(got.length).toBe(2);
    const next = reboot(99);
    value++;
    next.temp.notify();
    await fx.advance(100);
    expect(next.server.observerCount).toBe(0);
    expect(got.length).toBe(2);
  });

  it("a record that is not a registration of an observable resource is skipped; nothing else changes", () => {
    fx = makeFixture();
    fx.server.add("/plain", { get: () => ({ payload: "p" }) });
    fx.server.add("/temp", { observable: true, get: () => ({ payload: "t" }) });
    const reg = (path: string, observe: number | undefined, code = COAP_REQUEST.GET) =>
      encode({ type: COAP_MESSAGE.CON, code, messageId: 1, token: new Uint8Array([1, 2]), options: [stringOption(11, path)].concat(observe === undefined ? [] : [observeOption(observe)]), payload: new Uint8Array(0) });
    const base = { address: CLIENT, port: PORT, szx: 6, sinceCon: 0, observe: 5 };
    const taken = fx.server.restoreObservations([
      { ...base, request: new Uint8Array([0xff, 0, 1]) }, // not CoAP
      { ...base, request: reg("plain", 0) }, // not observable
      { ...base, request: reg("missing", 0) }, // no such resource
      { ...base, request: reg("temp", 1) }, // a deregistration
      { ...base, request: reg("temp", 0, COAP_REQUEST.POST) }, // not a GET
      { ...base, request: reg("temp", undefined) }, // no Observe
    ]);
    expect(taken).toBe(0);
    expect(fx.server.observerCount).toBe(0);
    expect(fx.server.restoreObservations([{ ...base, request: reg("temp", 0) }])).toBe(1);
    expect(fx.server.restoreObservations([{ ...base, request: reg("temp", 0) }])).toBe(0); // already there
    expect(fx.server.observerCount).toBe(1);
  });

  it("resumeMessageIds: a peer the endpoint already knows keeps its own counter; a closed endpoint takes nothing", () => {
    fx = makeFixture();
    const ep = fx.client.endpoint;
    ep.sendMessage({ type: COAP_MESSAGE.NON, code: COAP_REQUEST.GET }, SERVER, PORT);
    const mine = ep.messageIds().find((m) => m.address === SERVER)!.next;
    ep.resumeMessageIds([{ address: SERVER, port: PORT, next: (mine + 1000) & 0xffff }, { address: "10.0.0.7", port: 5683, next: 77 }]);
    const after = ep.messageIds();
    expect(after.find((m) => m.address === SERVER)!.next).toBe(mine);
    expect(after.find((m) => m.address === "10.0.0.7")!.next).toBe(77);
    expect(ep.sendMessage({ type: COAP_MESSAGE.NON, code: COAP_REQUEST.GET }, "10.0.0.7", 5683)).toBe(77);
    ep.close();
    ep.resumeMessageIds([{ address: "10.0.0.8", port: 5683, next: 5 }]);
    expect(ep.messageIds()).toEqual([]);
  });
});
