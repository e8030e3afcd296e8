// @xs
/*
 * CoapUriClient (modules/coap/uri-client.ts): what a seeded fuzz of the client found, as
 * deterministic reproductions.
 */
import { COAP_MESSAGE, COAP_OPTION, COAP_REQUEST, COAP_RESPONSE } from "../../modules/coap/constants";
import { decode, encode, type CoapMessage } from "../../modules/coap/codec";
import { CoapEndpoint, type ClientExchange } from "../../modules/coap/messaging";
import { getBlock, getOption, getUint, hex, opaqueOption, sameBytes, uintOption, type CoapOption } from "../../modules/coap/options";
import { CoapRequestError, CoapUriClient, type CoapObservation, type CoapResponse } from "../../modules/coap/uri-client";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { VirtualClock } from "../../sim/virtual-clock";

const EMPTY: Uint8Array = new Uint8Array(0);

function text(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
async function flush(): Promise<void> {
  for (let i = 0; i < 6; i++) await Promise.resolve();
}

/*
 * What the fuzz found, as deterministic reproductions: a client on a sans-IO endpoint and a
 * VirtualClock, the server's datagrams written by hand.
 */
describe("found by the fuzz", () => {
  it("an observation ended while the body of a registration's answer without Observe is fetched delivers nothing after its end (RFC 7641 §3.1, §3.6)", async () => {
    const clock = new VirtualClock();
    const scheduler = new Scheduler({ clock });
    const sent: CoapMessage[] = [];
    let n = 1;
    const ep = new CoapEndpoint({ scheduler, random: (b) => b.fill(n++), send: (b) => sent.push((decode(b) as { message: CoapMessage }).message) });
    const client = new CoapUriClient({ endpoint: ep });
    const events: string[] = [];
    const S = "10.0.0.1";
    const o = client.observe({ address: S, port: 5683, path: "big", onNotify: (r) => events.push("notify " + r.payload.length), onEnd: (why) => events.push("end " + why), onError: (e) => events.push("error " + (e as Error).message) });
    const reg = sent[0];
    const from = (m: Partial<CoapMessage>) => ep.receive(encode({ type: COAP_MESSAGE.ACK, code: COAP_RESPONSE.CONTENT, messageId: 1, token: EMPTY, options: [], payload: EMPTY, ...m }), S, 5683);
    // the server does not register us (no Observe) and answers with the first of 2 blocks; the client GETs block 1
    from({ messageId: reg.messageId, token: reg.token, options: [opaqueOption(COAP_OPTION.ETAG, Uint8Array.of(1)), uintOption(COAP_OPTION.BLOCK2, 8)], payload: new Uint8Array(16) });
    await flush();
    const b1 = sent[sent.length - 1];
    expect(getBlock(b1, COAP_OPTION.BLOCK2)?.num).toBe(1);
    o.forget();
    from({ messageId: b1.messageId, token: b1.token, options: [opaqueOption(COAP_OPTION.ETAG, Uint8Array.of(1)), uintOption(COAP_OPTION.BLOCK2, 1 << 4)], payload: new Uint8Array(5) });
    await flush();
    clock.advance(100000);
    await flush();
    expect(events).toEqual(["end cancelled"]); // before: also "notify 21" after the end
  });

  it("a notification's Block2 fetch abandoned for a newer notification asks for no further block (RFC 7641 §3.4, RFC 7959 §2.6)", async () => {
    const clock = new VirtualClock();
    const scheduler = new Scheduler({ clock });
    const sent: CoapMessage[] = [];
    let n = 1;
    const ep = new CoapEndpoint({ scheduler, random: (b) => b.fill(n++), send: (b) => sent.push((decode(b) as { message: CoapMessage }).message) });
    const client = new CoapUriClient({ endpoint: ep });
    const got: number[] = [];
    const errors: unknown[] = [];
    const S = "10.0.0.1";
    client.observe({ address: S, port: 5683, path: "big", onNotify: (r) => got.push(r.payload.length), onError: (e) => errors.push(e) });
    const reg = sent[0];
    const from = (m: Partial<CoapMessage>) => ep.receive(encode({ type: COAP_MESSAGE.ACK, code: COAP_RESPONSE.CONTENT, messageId: 1, token: EMPTY, options: [], payload: EMPTY, ...m }), S, 5683);
    from({ messageId: reg.messageId, token: reg.token, options: [uintOption(COAP_OPTION.OBSERVE, 1)], payload: text("small") });
    await flush();
    const block = (etag: number, num: number, more: boolean) => [opaqueOption(COAP_OPTION.ETAG, Uint8Array.of(etag)), uintOption(COAP_OPTION.BLOCK2, num * 16 + (more ? 8 : 0))];
    // notification A (Observe 2): the first of 4 blocks of 16; the client GETs block 1
    from({ type: COAP_MESSAGE.NON, messageId: 100, token: reg.token, options: [uintOption(COAP_OPTION.OBSERVE, 2), ...block(0xa, 0, true)], payload: new Uint8Array(16) });
    await flush();
    const a1 = sent[sent.length - 1];
    expect([getBlock(a1, COAP_OPTION.BLOCK2)?.num, getUint(a1, COAP_OPTION.OBSERVE)]).toEqual([1, undefined]);
    // notification B (Observe 3), newer: A's fetch is abandoned; B's GET of block 1 waits for A's (NSTART 1)
    from({ type: COAP_MESSAGE.NON, messageId: 101, token: reg.token, options: [uintOption(COAP_OPTION.OBSERVE, 3), ...block(0xb, 0, true)], payload: new Uint8Array(16) });
    await flush();
    const before = sent.length;
    // A's block 1 arrives: nothing more is asked for A; B's block 1 goes out
    from({ messageId: a1.messageId, token: a1.token, options: block(0xa, 1, true), payload: new Uint8Array(16) });
    await flush();
    // the block GETs (not the re-registration, RFC 7641 §3.3.1, which comes after Max-Age)
    const gets = () => sent.slice(before).filter((m) => m.type === COAP_MESSAGE.CON && m.code === COAP_REQUEST.GET && getUint(m, COAP_OPTION.OBSERVE) == null);
    expect(gets().map((m) => [getBlock(m, COAP_OPTION.BLOCK2)?.num, getOption(m, COAP_OPTION.ETAG)])).toEqual([[1, undefined]]);
    // B's blocks 1 to 3 (ETag 0xb), each answered as it is asked for: B is delivered at once, and no
    // GET was for A's block 2 (before the fix, A's block 2 went out before B's, got B's answer, and B
    // waited behind it and failed: "no response", the observation went on without B's state)
    for (let num = 1; num < 4; num++) {
      const q = gets().filter((m) => getBlock(m, COAP_OPTION.BLOCK2)?.num === num).pop()!;
      if (!q) break;
      from({ messageId: q.messageId, token: q.token, options: block(0xb, num, num < 3), payload: new Uint8Array(16) });
      await flush();
    }
    expect([got, clock.now()]).toEqual([[5, 64], 0]);
    clock.advance(100000);
    await flush();
    expect(gets().map((m) => getBlock(m, COAP_OPTION.BLOCK2)?.num)).toEqual([1, 2, 3]);
    expect([got, errors]).toEqual([[5, 64], []]);
  });
});
