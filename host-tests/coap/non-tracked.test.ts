// @xs
/*
 * The NON messages we sent are kept only so a matching RST can be recognised (RFC 7252 §4.3); the
 * table is capped (maxNonTracked, default 8) so a flood of NON requests answered NON (§5.2.3)
 * cannot grow it (bad input never causes unbounded memory). At the cap the oldest NON without an
 * onReset goes first; a NON with one (an observe notification, RFC 7641 §3.6) is the last dropped;
 * a CON awaiting its ACK (§4.2) is never dropped.
 */
import { COAP_MESSAGE, COAP_RESPONSE } from "../../modules/coap/constants";
import { encodeEmpty } from "../../modules/coap/codec";
import type { CoapEndpoint } from "../../modules/coap/messaging";
import { floodEndpoint, nonGet, u8 } from "./helpers";

const FLOOD = "10.6.6.6";
const X = "10.0.0.9";

const setup = (maxNonTracked?: number) => floodEndpoint(11, { maxNonTracked });
const rst = (mid: number) => encodeEmpty(COAP_MESSAGE.RST, mid);
const notify = (ep: CoapEndpoint, resets: number[], n: number) =>
  ep.sendMessage({ type: COAP_MESSAGE.NON, code: COAP_RESPONSE.CONTENT, token: u8(9, n), payload: u8(n) }, X, 5683, { onReset: () => resets.push(n) });

describe("CoapEndpoint NON tracking (RFC 7252 §4.3)", () => {
  it("a NON flood from 2,000 ports keeps inFlight at maxNonTracked (default 8) plus our CON; every request answered", () => {
    const { clock, ep, sent, errors } = setup();
    const acks: number[] = [];
    const con = ep.sendMessage({ type: COAP_MESSAGE.CON, code: COAP_RESPONSE.CONTENT, token: u8(7) }, X, 5683, { onAck: () => acks.push(1) });
    let most = 0;
    for (let i = 0; i < 2000; i++) {
      ep.receive(nonGet(i), FLOOD, 10000 + i);
      clock.advance(1);
      most = Math.max(most, ep.inFlight);
    }
    expect(most).toBe(8 + 1); // was ~2,000 before the cap
    expect(sent.filter((s) => s.address === FLOOD && s.type === COAP_MESSAGE.NON).length).toBe(2000);
    // the CON awaiting its ACK was never dropped (§4.2): its ACK still matches (§4.4)
    ep.receive(encodeEmpty(COAP_MESSAGE.ACK, con), X, 5683);
    expect(acks).toEqual([1]);
    expect(ep.inFlight).toBe(8);
    expect(errors).toEqual([]);
  });

  it("an RST to a recent NON is still matched; one to a NON dropped at the cap is rst-unmatched", () => {
    const { ep, sent, drops } = setup(4);
    for (let i = 0; i < 10; i++) ep.receive(nonGet(i), FLOOD, 10000 + i);
    const responses = sent.filter((s) => s.address === FLOOD);
    const old = responses[0];
    const recent = responses[9];
    ep.receive(rst(old.messageId), old.address, old.port);
    expect(drops).toEqual(["rst-unmatched"]);
    ep.receive(rst(recent.messageId), recent.address, recent.port);
    expect(drops).toEqual(["rst-unmatched"]);
    expect(ep.inFlight).toBe(3);
  });

  it("an observe notification (NON with onReset) outlives the flood's responses; its RST still acts (RFC 7641 §3.6)", () => {
    const { clock, ep, errors } = setup();
    const resets: number[] = [];
    const mid = notify(ep, resets, 1);
    for (let i = 0; i < 2000; i++) {
      ep.receive(nonGet(i), FLOOD, 10000 + i);
      clock.advance(1);
      expect(ep.inFlight).toBeLessThanOrEqual(8);
    }
    ep.receive(rst(mid), X, 5683);
    expect(resets).toEqual([1]);
    expect(errors).toEqual([]);
  });

  it("with only notifications at the cap the oldest goes; the table stays at maxNonTracked", () => {
    const { ep, drops } = setup(3);
    const resets: number[] = [];
    const mids = [1, 2, 3, 4, 5].map((n) => notify(ep, resets, n));
    expect(ep.inFlight).toBe(3);
    ep.receive(rst(mids[0]), X, 5683);
    expect(drops).toEqual(["rst-unmatched"]);
    ep.receive(rst(mids[4]), X, 5683);
    expect(resets).toEqual([5]);
  });
});
