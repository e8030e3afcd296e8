// @xs
/*
 * CoapServer (modules/coap/server.ts): what a seeded fuzz of the server found, each as a
 * deterministic reproduction.
 */
import { COAP_MEDIATYPE, COAP_MESSAGE, COAP_OPTION, COAP_REQUEST, COAP_RESPONSE } from "../../modules/coap/constants";
import { decode, encode, type CoapMessage } from "../../modules/coap/codec";
import { CoapEndpoint, type IncomingRequest } from "../../modules/coap/messaging";
import { getOption, getUint, hex, opaqueOption, sameBytes, stringOption, uintOption, type CoapOption } from "../../modules/coap/options";
import { CoapServer } from "../../modules/coap/server";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { VirtualClock } from "../../sim/virtual-clock";

const PORT = 5683;
const EMPTY = new Uint8Array(0);

function text(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
async function flush(): Promise<void> {
  for (let i = 0; i < 4; i++) await Promise.resolve();
}

/*
 * What the fuzz found, each as a deterministic reproduction: a server on a sans-IO endpoint and a
 * VirtualClock, the datagrams written by hand.
 */
function oneServer(get?: () => unknown) {
  const clock = new VirtualClock();
  const errors: unknown[] = [];
  const scheduler = new Scheduler({ clock, onError: (e) => errors.push(e) });
  const sent: CoapMessage[] = [];
  let n = 1;
  const ep = new CoapEndpoint({
    scheduler,
    random: (b) => b.fill(n++),
    send: (b) => {
      const d = decode(b);
      if (d.ok) sent.push(d.message);
    },
    onError: (e) => errors.push(e),
  });
  const server = new CoapServer({ endpoint: ep, onError: (e) => errors.push(e) });
  const state = { config: "a=1" };
  server.add("config", {
    put: (req) => {
      state.config = req.text();
    },
    get: () => ({ payload: state.config }),
  });
  server.add("temp", { observable: true, get: (get ?? (() => ({ payload: "21" }))) as () => { payload: string } });
  const from = (m: Partial<CoapMessage>) =>
    ep.receive(encode({ type: COAP_MESSAGE.CON, code: COAP_REQUEST.GET, messageId: 1, token: Uint8Array.of(7), options: [], payload: EMPTY, ...m }), "10.0.0.2", PORT);
  return { clock, scheduler, ep, server, sent, errors, state, from };
}

describe("found by the fuzz", () => {
  it("a PUT with Block1 and a Block2 NUM past the end is not enacted and then answered 4.02 (RFC 7959 §2.3, Figure 10: a request with Block2 NUM > 0 asks for the rest of a response, RFC 7252 §5.9.2.3)", () => {
    const s = oneServer();
    // Block1 0/0/16 (the whole body in block 0), Block2 5/0/16: seed 182148 step 137 of the fuzz
    s.from({ code: COAP_REQUEST.PUT, options: [stringOption(COAP_OPTION.URI_PATH, "config"), uintOption(COAP_OPTION.BLOCK2, 5 << 4), uintOption(COAP_OPTION.BLOCK1, 0)], payload: text("b=2") });
    expect(s.sent.map((m) => [m.type, m.code.toString(16)])).toEqual([[COAP_MESSAGE.ACK, "88"]]); // 4.08: no kept response to continue (§2.6)
    expect(s.state.config).toBe("a=1");
    expect(s.errors).toEqual([]);
  });

  it("a registration with a Block2 NUM past the end, answered 4.02, adds no observer (RFC 7641 §3.1, §4.1: only a success response registers)", () => {
    const s = oneServer();
    s.from({ options: [uintOption(COAP_OPTION.OBSERVE, 0), stringOption(COAP_OPTION.URI_PATH, "temp"), uintOption(COAP_OPTION.BLOCK2, 9 << 4)] });
    expect(s.sent.map((m) => [m.type, m.code.toString(16), getUint(m, COAP_OPTION.OBSERVE)])).toEqual([[COAP_MESSAGE.ACK, "82", undefined]]);
    expect(s.server.observerCount).toBe(0);
  });

  it("a RST to the registration's separate response (its first notification) removes the observer (RFC 7641 §3.6, §4.5: MUST)", async () => {
    let later: (v: { payload: string }) => void = () => undefined;
    const s = oneServer(() => new Promise((resolve) => (later = resolve)));
    s.from({ options: [uintOption(COAP_OPTION.OBSERVE, 0), stringOption(COAP_OPTION.URI_PATH, "temp")] });
    s.clock.advance(1000); // the empty ACK (§5.2.2)
    later({ payload: "21" });
    await flush();
    expect(s.sent.map((m) => [m.type, m.code.toString(16), getUint(m, COAP_OPTION.OBSERVE) != null])).toEqual([
      [COAP_MESSAGE.ACK, "0", false],
      [COAP_MESSAGE.CON, "45", true],
    ]);
    expect(s.server.observerCount).toBe(1);
    s.ep.receive(encode({ type: COAP_MESSAGE.RST, code: 0, messageId: s.sent[1].messageId, token: EMPTY, options: [], payload: EMPTY }), "10.0.0.2", PORT);
    expect(s.server.observerCount).toBe(0);
    // and a NON registration's NON response likewise
    s.from({ type: COAP_MESSAGE.NON, messageId: 2, options: [uintOption(COAP_OPTION.OBSERVE, 0), stringOption(COAP_OPTION.URI_PATH, "temp")] });
    later({ payload: "22" });
    await flush();
    const res = s.sent[s.sent.length - 1];
    expect([res.type, res.code.toString(16), s.server.observerCount]).toEqual([COAP_MESSAGE.NON, "45", 1]);
    s.ep.receive(encode({ type: COAP_MESSAGE.RST, code: 0, messageId: res.messageId, token: EMPTY, options: [], payload: EMPTY }), "10.0.0.2", PORT);
    expect(s.server.observerCount).toBe(0);
    expect(s.errors).toEqual([]);
  });
});
