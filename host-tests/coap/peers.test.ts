// @xs
/*
 * The endpoint's peer table (next Message ID per peer, RFC 7252 §4.4) stays bounded: a flood of
 * requests from many source ports cannot grow it (bad input never causes unbounded memory), a
 * peer with a request of ours in flight (§4.7) is never dropped, and a peer met again within
 * EXCHANGE_LIFETIME goes on with its Message ID sequence.
 */
import { COAP_MESSAGE, COAP_REQUEST, COAP_RESPONSE, transmissionParameters } from "../../modules/coap/constants";
import { encode } from "../../modules/coap/codec";
import type { ClientExchange } from "../../modules/coap/messaging";
import { floodEndpoint, nonGet, type SentDatagram } from "./helpers";

const P = transmissionParameters();
const FLOOD = "10.6.6.6";
const X = "10.0.0.9";

type Sent = SentDatagram;

const setup = (maxPeers?: number) => floodEndpoint(7, { maxPeers });
const toPeer = (sent: Sent[], address: string, port: number) => sent.filter((s) => s.address === address && s.port === port).map((s) => s.messageId);

describe("CoapEndpoint peer table (RFC 7252 §4.4)", () => {
  it("a flood of requests from 2,000 ports keeps the table at or below maxPeers (default 16)", () => {
    const { clock, ep, sent, errors } = setup();
    let most = 0;
    for (let i = 0; i < 2000; i++) {
      ep.receive(nonGet(i), FLOOD, 10000 + i);
      clock.advance(1);
      most = Math.max(most, ep.messageIds().length);
    }
    expect(most).toBe(16);
    // every request was still answered
    expect(sent.filter((s) => s.address === FLOOD).length).toBe(2000);
    expect(errors).toEqual([]);
  });

  it("never drops a peer with a request of ours in flight; its Message ID sequence goes on", () => {
    const { clock, ep, sent } = setup(4);
    const fails: string[] = [];
    const first = ep.request({ code: COAP_REQUEST.GET }, X, 5683, { onFail: (r) => fails.push(r) });
    const second: ClientExchange = ep.request({ code: COAP_REQUEST.GET }, X, 5683); // waits for NSTART (§4.7)
    expect(ep.outstanding(X, 5683)).toBe(1);
    expect(ep.queued(X, 5683)).toBe(1);
    for (let i = 0; i < 2000; i++) {
      ep.receive(nonGet(i), FLOOD, 10000 + i);
      clock.advance(1);
      expect(ep.messageIds().length).toBeLessThanOrEqual(4);
    }
    expect(ep.messageIds().some((m) => m.address === X)).toBe(true);
    expect(ep.outstanding(X, 5683)).toBe(1);
    expect(ep.queued(X, 5683)).toBe(1);
    // the peer ACKs the first CON (matched by Message ID and endpoint, §4.4); its answer frees the slot
    const mid = toPeer(sent, X, 5683)[0];
    ep.receive(encode({ type: COAP_MESSAGE.ACK, code: COAP_RESPONSE.CONTENT, messageId: mid, token: first.token, options: [], payload: undefined! }), X, 5683);
    expect(first.state).toBe("done");
    expect(second.state).toBe("sent");
    expect(toPeer(sent, X, 5683).filter((m, i, a) => a.indexOf(m) === i)).toEqual([mid, (mid + 1) & 0xffff]);
    expect(fails).toEqual([]);
  });

  it("a peer met again within EXCHANGE_LIFETIME keeps its sequence; idle ones go after EXCHANGE_LIFETIME", () => {
    const { clock, ep, sent } = setup();
    ep.receive(nonGet(1), X, 40000);
    for (let i = 0; i < 10; i++) ep.receive(nonGet(i), FLOOD, 10000 + i);
    clock.advance(P.EXCHANGE_LIFETIME - 1);
    ep.receive(nonGet(2), X, 40000);
    const ids = toPeer(sent, X, 40000);
    expect(ids).toEqual([ids[0], (ids[0] + 1) & 0xffff]);
    expect(ep.messageIds().length).toBe(11);
    // EXCHANGE_LIFETIME later: a new peer clears every idle one (a new random start cannot reuse an ID, §4.4)
    clock.advance(P.EXCHANGE_LIFETIME);
    ep.receive(nonGet(3), FLOOD, 20000);
    expect(ep.messageIds().map((m) => m.port)).toEqual([20000]);
  });

  it("deep-sleep hand-over: messageIds() → resumeMessageIds() goes on; more records than maxPeers keep the cap", () => {
    const a = setup(3);
    a.ep.receive(nonGet(1), X, 40000);
    const before = toPeer(a.sent, X, 40000)[0];
    const b = setup(3);
    b.ep.resumeMessageIds(a.ep.messageIds());
    b.ep.receive(nonGet(2), X, 40000);
    expect(toPeer(b.sent, X, 40000)).toEqual([(before + 1) & 0xffff]);
    const c = setup(3);
    c.ep.resumeMessageIds([1, 2, 3, 4, 5].map((i) => ({ address: FLOOD, port: i, next: i })));
    expect(c.ep.messageIds().length).toBe(3);
  });
});
