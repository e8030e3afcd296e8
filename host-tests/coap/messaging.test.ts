// @xs
import {
  COAP_MESSAGE,
  COAP_REQUEST,
  COAP_RESPONSE,
  transmissionParameters,
} from "../../modules/coap/constants";
import { encode, type CoapMessage } from "../../modules/coap/codec";
import { CoapEndpoint, type ClientExchange, type FailReason, type IncomingRequest } from "../../modules/coap/messaging";
import { uriPathOptions } from "../../modules/coap/option-helpers";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { VirtualClock } from "../../sim/virtual-clock";
import { Prng } from "../../sim/prng";
import { ascii, makeNet, PORT, text, u8 } from "./helpers";

const P = transmissionParameters();
const A = "10.0.0.1";
const B = "10.0.0.2";
const C = "10.0.0.3";

function client(net: ReturnType<typeof makeNet>, options = {}) {
  return net.endpoint(A, options);
}
function server(net: ReturnType<typeof makeNet>, onRequest?: (r: IncomingRequest) => void, options = {}) {
  return net.endpoint(B, { onRequest, ...options });
}
const fromA = (net: ReturnType<typeof makeNet>) => net.wire.filter((w) => w.from === A);
const fromB = (net: ReturnType<typeof makeNet>) => net.wire.filter((w) => w.from === B);

describe("CON retransmission (RFC 7252 §4.2, §4.8)", () => {
  it.each([[1], [2], [3], [4], [5]])("seed %i: first timeout in [ACK_TIMEOUT, ACK_TIMEOUT*ACK_RANDOM_FACTOR], doubling, give-up within MAX_TRANSMIT_WAIT", (seed) => {
    const net = makeNet(seed as number);
    net.drop = () => true; // a black hole
    const a = client(net);
    const fails: [FailReason, number][] = [];
    a.request({ code: COAP_REQUEST.GET, options: uriPathOptions("x") }, B, PORT, { onFail: (r) => fails.push([r, net.clock.now()]) });
    net.clock.runAll(200000);
    const times = fromA(net).map((w) => w.at);
    expect(times.length).toBe(1 + P.MAX_RETRANSMIT);
    expect(times[0]).toBe(0);
    const t0 = times[1] - times[0];
    expect(t0).toBeGreaterThanOrEqual(P.ACK_TIMEOUT);
    expect(t0).toBeLessThanOrEqual(P.ACK_TIMEOUT * P.ACK_RANDOM_FACTOR);
    for (let i = 2; i < times.length; i++) expect(times[i] - times[i - 1]).toBeCloseTo(2 * (times[i - 1] - times[i - 2]), 6);
    // the same message each time: same Message ID
    const ids = fromA(net).map((w) => w.message!.messageId);
    expect(new Set(ids).size).toBe(1);
    expect(times[times.length - 1]).toBeLessThanOrEqual(P.MAX_TRANSMIT_SPAN);
    expect(fails.length).toBe(1);
    expect(fails[0][0]).toBe("timeout");
    expect(fails[0][1]).toBeCloseTo(31 * t0, 6);
    expect(fails[0][1]).toBeLessThanOrEqual(P.MAX_TRANSMIT_WAIT);
    expect(a.inFlight).toBe(0);
    expect(a.outstanding(B, PORT)).toBe(0);
  });

  it("retransmissions are radio jobs on the scheduler, nothing else arms timers", () => {
    const net = makeNet();
    net.drop = () => true;
    const a = client(net);
    a.request({ code: COAP_REQUEST.GET }, B, PORT);
    const plan = net.scheduler.plan();
    const rt = plan.filter((j) => j.name === "coap-retransmit");
    expect(rt.length).toBe(1);
    expect(rt[0].radio).toBe(true);
    expect(net.clock.pending).toBe(1); // one host timer: the scheduler's
  });

  it("a retransmission's window is every timeout RFC 7252 §4.2 allows: [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR], doubled per retransmission", () => {
    const net = makeNet();
    net.drop = () => true;
    const a = client(net);
    a.request({ code: COAP_REQUEST.GET }, B, PORT);
    for (let n = 0; n < 3; n++) {
      const now = net.clock.now();
      const [rt] = net.scheduler.plan().filter((j) => j.name === "coap-retransmit");
      expect(rt.earliest).toBeCloseTo(now + P.ACK_TIMEOUT * 2 ** n, 6);
      expect(rt.latest).toBeCloseTo(now + P.ACK_TIMEOUT * P.ACK_RANDOM_FACTOR * 2 ** n, 6);
      expect(rt.deadline).toBeGreaterThanOrEqual(rt.earliest);
      expect(rt.deadline).toBeLessThanOrEqual(rt.latest);
      net.clock.advanceTo(rt.deadline); // alone on the scheduler: it runs at its (random) deadline
      expect(fromA(net).length).toBe(n + 2);
    }
  });

  it("honours configured parameters (ACK_TIMEOUT 1 s, MAX_RETRANSMIT 2)", () => {
    const net = makeNet(3);
    net.drop = () => true;
    const a = client(net, { parameters: { ACK_TIMEOUT: 1000, MAX_RETRANSMIT: 2 } });
    let failedAt = -1;
    a.request({ code: COAP_REQUEST.GET }, B, PORT, { onFail: () => (failedAt = net.clock.now()) });
    net.clock.runAll(100000);
    expect(fromA(net).length).toBe(3);
    expect(failedAt).toBeGreaterThan(0);
    expect(failedAt).toBeLessThanOrEqual(a.parameters.MAX_TRANSMIT_WAIT);
    expect(a.parameters.MAX_TRANSMIT_WAIT).toBe(1000 * 7 * 1.5);
  });

  it("an ACK stops the retransmission", () => {
    const net = makeNet();
    const a = client(net);
    server(net, (req) => req.respond({ code: COAP_RESPONSE.CONTENT, payload: ascii("22.5") }));
    const got: string[] = [];
    a.request({ code: COAP_REQUEST.GET }, B, PORT, { onResponse: (r) => got.push(text(r.payload)) });
    net.clock.runAll(300000);
    expect(got).toEqual(["22.5"]);
    expect(fromA(net).length).toBe(1);
    expect(a.inFlight).toBe(0);
    expect(net.scheduler.size).toBe(0);
  });
});

describe("piggybacked responses (RFC 7252 §5.2.1, §5.3.2)", () => {
  it("the ACK echoes the Message ID and the token, and carries the response", () => {
    const net = makeNet();
    const a = client(net);
    server(net, (req) => req.respond({ code: COAP_RESPONSE.CONTENT, payload: ascii("ok") }));
    let response: CoapMessage | undefined;
    const ex = a.request({ code: COAP_REQUEST.GET }, B, PORT, { onResponse: (r) => (response = r) });
    net.clock.advance(100);
    const req = fromA(net)[0].message!;
    const ack = fromB(net)[0].message!;
    expect(ack.type).toBe(COAP_MESSAGE.ACK);
    expect(ack.messageId).toBe(req.messageId);
    expect(Array.from(ack.token)).toEqual(Array.from(req.token));
    expect(response!.code).toBe(COAP_RESPONSE.CONTENT);
    expect(ex.state).toBe("done");
  });

  it("a piggybacked response with a different token is not delivered (§5.3.2 rule 2)", () => {
    const net = makeNet();
    const a = client(net);
    const got: CoapMessage[] = [];
    a.request({ code: COAP_REQUEST.GET }, B, PORT, { onResponse: (r) => got.push(r) });
    const req = net.wire[0].message!;
    const forged = encode({ type: COAP_MESSAGE.ACK, code: COAP_RESPONSE.CONTENT, messageId: req.messageId, token: u8(1, 2, 3, 9), options: [], payload: ascii("evil") });
    a.receive(forged, B, PORT);
    expect(got.length).toBe(0);
    expect(a.inFlight).toBe(0); // the ACK part still stopped the retransmission
  });

  it("tokens are random, 4 bytes by default, from the injected source (§5.3.1)", () => {
    const net = makeNet();
    const a = client(net);
    const t1 = a.request({ code: COAP_REQUEST.GET }, B, PORT).token;
    const t2 = a.request({ code: COAP_REQUEST.GET }, C, PORT).token;
    expect(t1.length).toBe(4);
    expect(Array.from(t1)).not.toEqual(Array.from(t2));
    const e = new CoapEndpoint({ send: () => {}, scheduler: net.scheduler, random: (b) => b.fill(0xab), tokenLength: 8 });
    expect(Array.from(e.request({ code: COAP_REQUEST.GET }, B, PORT).token)).toEqual([0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab]);
  });
  it("a null token counts as absent: a random one of tokenLength", () => {
    const net = makeNet();
    const e = new CoapEndpoint({ send: () => {}, scheduler: net.scheduler, random: (b: Uint8Array) => b.fill(0xcd), tokenLength: 3 });
    expect(Array.from(e.request({ code: COAP_REQUEST.GET, token: null } as any, B, PORT).token)).toEqual([0xcd, 0xcd, 0xcd]);
  });
  it("an endpoint without send, scheduler or random names all three", () => {
    const net = makeNet();
    const need = "coap: needs send, scheduler and random";
    expect(() => new CoapEndpoint({ scheduler: net.scheduler, random: (b: Uint8Array) => b } as any)).toThrow(need);
    expect(() => new CoapEndpoint({ send: () => {}, random: (b: Uint8Array) => b } as any)).toThrow(need);
    expect(() => new CoapEndpoint({ send: () => {}, scheduler: net.scheduler } as any)).toThrow(need);
  });
});

describe("separate responses (RFC 7252 §5.2.2)", () => {
  it("empty ACK after ackDelay, then a CON response the client acknowledges with an empty ACK", () => {
    const net = makeNet();
    const a = client(net);
    let pending: IncomingRequest | undefined;
    let serverAcked = 0;
    server(net, (req) => (pending = req));
    const events: string[] = [];
    a.request({ code: COAP_REQUEST.GET }, B, PORT, {
      onAck: () => events.push("ack@" + net.clock.now()),
      onResponse: (r) => events.push("response:" + text(r.payload)),
    });
    net.clock.advance(1500);
    const ack = fromB(net)[0];
    expect(ack.message!.type).toBe(COAP_MESSAGE.ACK);
    expect(ack.message!.code).toBe(0);
    expect(ack.at).toBe(10 + P.ACK_TIMEOUT / 2);
    expect(events).toEqual(["ack@" + (ack.at + 10)]);
    expect(a.outstanding(B, PORT)).toBe(0); // acknowledged: no longer outstanding (§4.7)
    pending!.respond({ code: COAP_RESPONSE.CONTENT, payload: ascii("late") }, { onAck: () => serverAcked++ });
    net.clock.advance(100);
    const resp = fromB(net)[1].message!;
    expect(resp.type).toBe(COAP_MESSAGE.CON);
    expect(resp.messageId).not.toBe(fromA(net)[0].message!.messageId);
    expect(Array.from(resp.token)).toEqual(Array.from(fromA(net)[0].message!.token));
    const clientAck = fromA(net)[1].message!;
    expect(clientAck.type).toBe(COAP_MESSAGE.ACK);
    expect(clientAck.code).toBe(0);
    expect(clientAck.messageId).toBe(resp.messageId);
    expect(events[1]).toBe("response:late");
    expect(serverAcked).toBe(1);
    net.clock.runAll(300000);
    expect(fromA(net).length).toBe(2); // no retransmission of the request
  });

  it("a separate response arriving before the empty ACK also ends the retransmission", () => {
    const net = makeNet();
    const a = client(net);
    const got: string[] = [];
    a.request({ code: COAP_REQUEST.GET }, B, PORT, { onResponse: (r) => got.push(text(r.payload)) });
    const req = net.wire[0].message!;
    a.receive(encode({ type: COAP_MESSAGE.NON, code: COAP_RESPONSE.CONTENT, messageId: 77, token: req.token, options: [], payload: ascii("fast") }), B, PORT);
    expect(got).toEqual(["fast"]);
    net.clock.runAll(300000);
    expect(fromA(net).length).toBe(1);
  });

  it("a NON request gets a NON response (§5.2.3)", () => {
    const net = makeNet();
    const a = client(net);
    server(net, (req) => req.respond({ code: COAP_RESPONSE.CHANGED }));
    const got: number[] = [];
    a.request({ code: COAP_REQUEST.POST, confirmable: false, payload: ascii("1") }, B, PORT, { onResponse: (r) => got.push(r.type) });
    net.clock.advance(100);
    expect(fromA(net)[0].message!.type).toBe(COAP_MESSAGE.NON);
    expect(fromB(net)[0].message!.type).toBe(COAP_MESSAGE.NON);
    expect(got).toEqual([COAP_MESSAGE.NON]);
  });

  it("RST to a separate CON response reaches the server (RFC 7641 §3.6 uses it)", () => {
    const net = makeNet();
    const b = server(net);
    let reset = 0;
    const mid = b.sendMessage({ type: COAP_MESSAGE.CON, code: COAP_RESPONSE.CONTENT, token: u8(1) }, A, PORT, { onReset: () => reset++ });
    b.receive(u8(0x70, 0, mid >> 8, mid & 255), A, PORT);
    expect(reset).toBe(1);
    expect(b.inFlight).toBe(0);
  });
});

describe("deduplication (RFC 7252 §4.5)", () => {
  it("a duplicate CON is answered with the same ACK and the handler runs once", () => {
    const net = makeNet();
    const a = client(net);
    let runs = 0;
    server(net, (req) => {
      runs++;
      req.respond({ code: COAP_RESPONSE.CHANGED, payload: ascii("run " + runs) });
    });
    let dropped = 0;
    net.drop = (w) => w.from === B && dropped++ < 2; // lose the first two ACKs
    const got: string[] = [];
    a.request({ code: COAP_REQUEST.POST }, B, PORT, { onResponse: (r) => got.push(text(r.payload)) });
    net.clock.runAll(300000);
    expect(runs).toBe(1);
    expect(got).toEqual(["run 1"]);
    const acks = fromB(net);
    expect(acks.length).toBe(3);
    expect(Array.from(acks[1].bytes)).toEqual(Array.from(acks[0].bytes));
    expect(Array.from(acks[2].bytes)).toEqual(Array.from(acks[0].bytes));
  });

  it("a duplicate of a CON still being processed gets an empty ACK; the response is then separate", () => {
    const net = makeNet();
    const b = server(net, () => {}, { ackDelay: 60000 });
    let runs = 0;
    b.onRequest = (req) => {
      runs++;
      pending = req;
    };
    let pending: IncomingRequest | undefined;
    const con = encode({ type: COAP_MESSAGE.CON, code: COAP_REQUEST.GET, messageId: 500, token: u8(5), options: [], payload: new Uint8Array(0) });
    b.receive(con, A, PORT);
    expect(fromB(net).length).toBe(0);
    b.receive(con, A, PORT);
    expect(runs).toBe(1);
    expect(fromB(net).length).toBe(1);
    expect(fromB(net)[0].message!.code).toBe(0);
    expect(pending!.acknowledged).toBe(true);
    pending!.respond({ code: COAP_RESPONSE.CONTENT });
    expect(fromB(net)[1].message!.type).toBe(COAP_MESSAGE.CON);
    b.receive(con, A, PORT); // a third copy: the same empty ACK again
    expect(fromB(net)[2].message!.code).toBe(0);
    expect(runs).toBe(1);
  });

  it("a duplicate NON is silently ignored and processed once", () => {
    const net = makeNet();
    let runs = 0;
    const b = server(net, (req) => {
      runs++;
      req.respond({ code: COAP_RESPONSE.CHANGED });
    });
    const non = encode({ type: COAP_MESSAGE.NON, code: COAP_REQUEST.POST, messageId: 9, token: u8(1), options: [], payload: ascii("x") });
    b.receive(non, A, PORT);
    b.receive(non, A, PORT);
    b.receive(non, A, PORT);
    expect(runs).toBe(1);
    expect(fromB(net).length).toBe(1);
  });

  it("the same Message ID from another endpoint is not a duplicate", () => {
    const net = makeNet();
    let runs = 0;
    const b = server(net, (req) => {
      runs++;
      req.respond({ code: COAP_RESPONSE.CHANGED });
    });
    const con = encode({ type: COAP_MESSAGE.CON, code: COAP_REQUEST.POST, messageId: 9, token: u8(1), options: [], payload: ascii("x") });
    b.receive(con, A, PORT);
    b.receive(con, C, PORT);
    b.receive(con, A, PORT + 1);
    expect(runs).toBe(3);
  });

  it("the memory is bounded: oldest entries are evicted first", () => {
    const net = makeNet();
    let runs = 0;
    const b = server(net, (req) => {
      runs++;
      req.respond({ code: COAP_RESPONSE.CHANGED });
    }, { dedupCapacity: 4 });
    const con = (mid: number) => encode({ type: COAP_MESSAGE.CON, code: COAP_REQUEST.POST, messageId: mid, token: u8(1), options: [], payload: ascii("x") });
    for (let mid = 1; mid <= 10; mid++) b.receive(con(mid), A, PORT);
    expect(b.dedup.size).toBe(4);
    expect(b.dedup.evictions).toBe(6);
    b.receive(con(10), A, PORT); // still remembered
    expect(runs).toBe(10);
    b.receive(con(1), A, PORT); // evicted: processed again (documented limit)
    expect(runs).toBe(11);
  });

  it("entries expire after EXCHANGE_LIFETIME", () => {
    const net = makeNet();
    let runs = 0;
    const b = server(net, (req) => {
      runs++;
      req.respond({ code: COAP_RESPONSE.CHANGED });
    });
    const con = encode({ type: COAP_MESSAGE.CON, code: COAP_REQUEST.POST, messageId: 1, token: u8(1), options: [], payload: ascii("x") });
    b.receive(con, A, PORT);
    net.clock.advance(P.EXCHANGE_LIFETIME - 1);
    b.receive(con, A, PORT);
    expect(runs).toBe(1);
    net.clock.advance(1);
    b.receive(con, A, PORT);
    expect(runs).toBe(2);
  });

  it("a retransmitted CON response is ACKed again but delivered once", () => {
    const net = makeNet();
    const a = client(net);
    const got: string[] = [];
    a.request({ code: COAP_REQUEST.GET, confirmable: false }, B, PORT, { onResponse: (r) => got.push(text(r.payload)) });
    const token = net.wire[0].message!.token;
    const resp = encode({ type: COAP_MESSAGE.CON, code: COAP_RESPONSE.CONTENT, messageId: 321, token, options: [], payload: ascii("v") });
    a.receive(resp, B, PORT);
    a.receive(resp, B, PORT);
    expect(got).toEqual(["v"]);
    const acks = fromA(net).slice(1);
    expect(acks.length).toBe(2);
    expect(acks.every((w) => w.message!.type === COAP_MESSAGE.ACK && w.message!.messageId === 321)).toBe(true);
  });
});

describe("NSTART and the request queue (RFC 7252 §4.7)", () => {
  it("one outstanding CON per peer; the next one goes when the first is answered", () => {
    const net = makeNet();
    const a = client(net);
    server(net, (req) => req.respond({ code: COAP_RESPONSE.CONTENT }));
    const order: number[] = [];
    for (let i = 0; i < 3; i++) a.request({ code: COAP_REQUEST.GET }, B, PORT, { onResponse: () => order.push(i) });
    expect(fromA(net).length).toBe(1);
    expect(a.outstanding(B, PORT)).toBe(1);
    expect(a.queued(B, PORT)).toBe(2);
    net.clock.advance(20);
    expect(fromA(net).length).toBe(2);
    net.clock.advance(100);
    expect(order).toEqual([0, 1, 2]);
    expect(a.outstanding(B, PORT)).toBe(0);
  });

  it("other peers are not held up", () => {
    const net = makeNet();
    net.drop = () => true;
    const a = client(net);
    a.request({ code: COAP_REQUEST.GET }, B, PORT);
    a.request({ code: COAP_REQUEST.GET }, B, PORT);
    a.request({ code: COAP_REQUEST.GET }, C, PORT);
    expect(fromA(net).map((w) => w.to)).toEqual([B, C]);
  });

  it("a failed exchange frees the slot for the queued one", () => {
    const net = makeNet();
    net.drop = () => true;
    const a = client(net);
    const fails: number[] = [];
    a.request({ code: COAP_REQUEST.GET }, B, PORT, { onFail: () => fails.push(net.clock.now()) });
    a.request({ code: COAP_REQUEST.GET }, B, PORT, { onFail: () => fails.push(net.clock.now()) });
    net.clock.runAll(400000);
    expect(fails.length).toBe(2);
    expect(fromA(net).length).toBe(10);
    expect(fromA(net)[5].at).toBe(fails[0]);
  });

  it("a full queue throws and changes nothing", () => {
    const net = makeNet();
    net.drop = () => true;
    const a = client(net, { maxQueue: 2 });
    for (let i = 0; i < 3; i++) a.request({ code: COAP_REQUEST.GET }, B, PORT);
    expect(() => a.request({ code: COAP_REQUEST.GET }, B, PORT)).toThrow(RangeError);
    expect(a.queued(B, PORT)).toBe(2);
  });

  it("NSTART 2 allows two at once", () => {
    const net = makeNet();
    net.drop = () => true;
    const a = client(net, { parameters: { NSTART: 2 } });
    for (let i = 0; i < 3; i++) a.request({ code: COAP_REQUEST.GET }, B, PORT);
    expect(fromA(net).length).toBe(2);
  });

  it("a NON request without answer holds its slot for size / PROBING_RATE", () => {
    const net = makeNet();
    net.drop = () => true;
    const a = client(net);
    a.request({ code: COAP_REQUEST.POST, confirmable: false, payload: ascii("0123456789") }, B, PORT);
    a.request({ code: COAP_REQUEST.POST, confirmable: false, payload: ascii("0123456789") }, B, PORT);
    const size = fromA(net)[0].bytes.length;
    net.clock.advance(size * 1000 - 1);
    expect(fromA(net).length).toBe(1);
    net.clock.advance(1);
    expect(fromA(net).length).toBe(2);
  });

  it("cancel() of a queued request removes it silently", () => {
    const net = makeNet();
    net.drop = () => true;
    const a = client(net);
    const fails: string[] = [];
    a.request({ code: COAP_REQUEST.GET }, B, PORT);
    const q = a.request({ code: COAP_REQUEST.GET }, B, PORT, { onFail: (r) => fails.push(r) });
    q.cancel();
    expect(a.queued(B, PORT)).toBe(0);
    net.clock.runAll(400000);
    expect(fromA(net).length).toBe(5);
    expect(fails).toEqual([]);
  });
});

describe("Message IDs (RFC 7252 §4.4)", () => {
  it("start at a random value per peer and increase by one", () => {
    const net = makeNet(9);
    const a = client(net, { parameters: { NSTART: 4 } });
    net.drop = () => true;
    for (let i = 0; i < 3; i++) a.request({ code: COAP_REQUEST.GET }, B, PORT);
    a.request({ code: COAP_REQUEST.GET }, C, PORT);
    const ids = fromA(net).map((w) => w.message!.messageId);
    expect(ids[1]).toBe((ids[0] + 1) & 0xffff);
    expect(ids[2]).toBe((ids[0] + 2) & 0xffff);
    expect(ids[3]).not.toBe((ids[0] + 3) & 0xffff);
  });
});

describe("RST, ping and timeouts", () => {
  it("CoAP ping: an empty CON is answered with RST (§4.3)", () => {
    const net = makeNet();
    const a = client(net);
    server(net);
    let pong = 0;
    a.sendMessage({ type: COAP_MESSAGE.CON, code: 0 }, B, PORT, { onReset: () => pong++ });
    net.clock.advance(100);
    expect(Array.from(fromA(net)[0].bytes.subarray(0, 2))).toEqual([0x40, 0]);
    expect(fromA(net)[0].bytes.length).toBe(4);
    const rst = fromB(net)[0].message!;
    expect(rst.type).toBe(COAP_MESSAGE.RST);
    expect(rst.messageId).toBe(fromA(net)[0].message!.messageId);
    expect(pong).toBe(1);
  });

  it("a ping nobody answers fails with timeout", () => {
    const net = makeNet();
    net.drop = () => true;
    const a = client(net);
    const fails: string[] = [];
    a.sendMessage({ type: COAP_MESSAGE.CON, code: 0 }, B, PORT, { onFail: (r) => fails.push(r) });
    net.clock.runAll(200000);
    expect(fails).toEqual(["timeout"]);
  });

  it("RST to a CON request fails the exchange with reset", () => {
    const net = makeNet();
    const a = client(net);
    const fails: string[] = [];
    a.request({ code: COAP_REQUEST.GET }, B, PORT, { onFail: (r) => fails.push(r) });
    const mid = net.wire[0].message!.messageId;
    a.receive(u8(0x70, 0, mid >> 8, mid & 255), B, PORT);
    expect(fails).toEqual(["reset"]);
    expect(a.inFlight).toBe(0);
  });

  it("an ACK from another endpoint does not match (§4.4)", () => {
    const net = makeNet();
    const a = client(net);
    a.request({ code: COAP_REQUEST.GET }, B, PORT);
    const mid = net.wire[0].message!.messageId;
    a.receive(u8(0x60, 0, mid >> 8, mid & 255), C, PORT);
    expect(a.inFlight).toBe(1);
  });

  it("a NON request with no response times out after MAX_TRANSMIT_WAIT", () => {
    const net = makeNet();
    net.drop = () => true;
    const a = client(net);
    const fails: [string, number][] = [];
    a.request({ code: COAP_REQUEST.GET, confirmable: false }, B, PORT, { onFail: (r) => fails.push([r, net.clock.now()]) });
    net.clock.runAll(400000);
    expect(fails).toEqual([["timeout", P.MAX_TRANSMIT_WAIT]]);
  });

  it("an acknowledged request whose separate response never comes times out", () => {
    const net = makeNet();
    const a = client(net);
    server(net, () => {});
    const fails: [string, number][] = [];
    a.request({ code: COAP_REQUEST.GET }, B, PORT, { onFail: (r) => fails.push([r, net.clock.now()]), responseTimeout: 30000 });
    net.clock.runAll(400000);
    expect(fails).toEqual([["timeout", 30000]]);
  });
});

describe("observe-style exchanges (multiple responses)", () => {
  it("stay open until cancel(); afterwards a CON notification is rejected with RST", () => {
    const net = makeNet();
    const a = client(net);
    const got: string[] = [];
    const ex: ClientExchange = a.request({ code: COAP_REQUEST.GET }, B, PORT, { multiple: true, onResponse: (r) => got.push(text(r.payload)) });
    const token = net.wire[0].message!.token;
    const note = (mid: number, v: string) => encode({ type: COAP_MESSAGE.CON, code: COAP_RESPONSE.CONTENT, messageId: mid, token, options: [], payload: ascii(v) });
    a.receive(note(1, "a"), B, PORT);
    a.receive(note(2, "b"), B, PORT);
    expect(got).toEqual(["a", "b"]);
    expect(a.outstanding(B, PORT)).toBe(0);
    net.clock.runAll(400000);
    expect(ex.state).toBe("acked"); // no timeout once responses flow
    ex.cancel();
    a.receive(note(3, "c"), B, PORT);
    expect(got).toEqual(["a", "b"]);
    const last = fromA(net)[fromA(net).length - 1].message!;
    expect(last.type).toBe(COAP_MESSAGE.RST);
    expect(last.messageId).toBe(3);
  });
});

describe("robustness", () => {
  it("a handler that throws: 5.00 to the client, the error reported, the endpoint keeps going", () => {
    const net = makeNet();
    const a = client(net);
    server(net, () => {
      throw new Error("boom");
    });
    const codes: number[] = [];
    a.request({ code: COAP_REQUEST.GET }, B, PORT, { onResponse: (r) => codes.push(r.code) });
    net.clock.advance(100);
    expect(codes).toEqual([COAP_RESPONSE.INTERNAL_SERVER_ERROR]);
    expect(net.errors.length).toBe(1);
  });

  it("callbacks and send() that throw do not escape", () => {
    const clock = new VirtualClock();
    const scheduler = new Scheduler({ clock });
    const errors: unknown[] = [];
    const rng = new Prng(1);
    const ep = new CoapEndpoint({
      send: () => {
        throw new Error("socket gone");
      },
      scheduler,
      random: (b) => rng.fill(b),
      onError: (e) => errors.push(e),
    });
    const ex = ep.request({ code: COAP_REQUEST.GET }, B, PORT, {
      onResponse: () => {
        throw new Error("app bug");
      },
    });
    expect(errors.length).toBe(1);
    const mid = ex.messageId;
    expect(() => ep.receive(encode({ type: COAP_MESSAGE.ACK, code: COAP_RESPONSE.CONTENT, messageId: mid, token: ex.token, options: [], payload: new Uint8Array(0) }), B, PORT)).not.toThrow();
    expect(errors.length).toBe(2);
  });

  it("bad requests throw and change nothing", () => {
    const net = makeNet();
    const a = client(net);
    expect(() => a.request({ code: COAP_RESPONSE.CONTENT }, B, PORT)).toThrow(RangeError);
    expect(() => a.request({ code: COAP_REQUEST.GET, token: new Uint8Array(9) }, B, PORT)).toThrow(RangeError);
    expect(() => a.request({ code: COAP_REQUEST.GET }, "", PORT)).toThrow(TypeError);
    expect(() => a.request({ code: COAP_REQUEST.GET }, B, 0)).toThrow(RangeError);
    expect(net.wire.length).toBe(0);
    expect(a.outstanding(B, PORT)).toBe(0);
  });

  it("responding twice throws; the first response stands", () => {
    const net = makeNet();
    const b = server(net);
    let thrown = false;
    b.onRequest = (req) => {
      req.respond({ code: COAP_RESPONSE.CONTENT });
      try {
        req.respond({ code: COAP_RESPONSE.CONTENT });
      } catch {
        thrown = true;
      }
    };
    b.receive(encode({ type: COAP_MESSAGE.CON, code: COAP_REQUEST.GET, messageId: 1, token: u8(1), options: [], payload: new Uint8Array(0) }), A, PORT);
    expect(thrown).toBe(true);
    expect(fromB(net).length).toBe(1);
  });

  it("close() fails what is outstanding and queued with closed, and cancels every job", () => {
    const net = makeNet();
    net.drop = () => true;
    const a = client(net);
    const fails: string[] = [];
    a.request({ code: COAP_REQUEST.GET }, B, PORT, { onFail: (r) => fails.push(r) });
    a.request({ code: COAP_REQUEST.GET }, B, PORT, { onFail: (r) => fails.push(r) });
    a.close();
    expect(fails).toEqual(["closed", "closed"]);
    expect(net.scheduler.size).toBe(0);
    expect(() => a.request({ code: COAP_REQUEST.GET }, B, PORT)).toThrow();
  });
});

describe("deduplication memory holds replies, not requests (RFC 7252 §4.5; issue 17 memory)", () => {
  const key = (mid: number, from = A) => from + "|" + PORT + "#" + mid;
  const req = (type: number, mid: number, payload = "x") =>
    encode({ type: type as CoapMessage["type"], code: COAP_REQUEST.POST, messageId: mid, token: u8(mid & 255, 7), options: [], payload: ascii(payload) });

  it("after N requests the cache keeps each CON's reply bytes (what went on the wire) and nothing for a NON", () => {
    const net = makeNet();
    let separate: IncomingRequest | undefined;
    const b = server(net, (r) => {
      if (r.message.messageId === 3) separate = r; // answered later: empty ACK, then a separate response
      else r.respond({ code: COAP_RESPONSE.CHANGED, payload: ascii("ok " + r.message.messageId) });
    }, { ackDelay: 100 });
    for (let mid = 1; mid <= 6; mid++) b.receive(req(mid === 5 ? COAP_MESSAGE.NON : COAP_MESSAGE.CON, mid), A, PORT);
    const now = net.clock.now();
    // while mid 3 is processed, its entry keeps the request (a duplicate then gets the empty ACK)
    expect(b.dedup.get(key(3), now)!.reply).toBe(separate);
    net.clock.advance(100); // the ACK delay: the empty ACK replaces the request
    separate!.respond({ code: COAP_RESPONSE.CONTENT });
    const later = net.clock.now();
    expect(b.dedup.size).toBe(6);
    const sent = fromB(net);
    for (let mid = 1; mid <= 6; mid++) {
      const e = b.dedup.get(key(mid), later)!;
      expect(Object.keys(e).sort()).toEqual(mid === 5 ? ["expires"] : ["expires", "reply"]);
      if (mid === 5) continue;
      expect(e.reply instanceof Uint8Array).toBe(true);
      const ack = sent.find((w) => w.message!.type === COAP_MESSAGE.ACK && w.message!.messageId === mid)!;
      expect(Array.from(e.reply as Uint8Array)).toEqual(Array.from(ack.bytes));
    }
    expect(sent.find((w) => w.message!.messageId === 3 && w.message!.type === COAP_MESSAGE.ACK)!.message!.code).toBe(0);
  });

  it("a duplicate within EXCHANGE_LIFETIME gets the same reply bytes; every expired entry is gone at the next request", () => {
    const net = makeNet();
    let runs = 0;
    const b = server(net, (r) => {
      runs++;
      r.respond({ code: COAP_RESPONSE.CHANGED, payload: ascii("run " + runs) });
    });
    for (let mid = 1; mid <= 10; mid++) {
      b.receive(req(COAP_MESSAGE.CON, mid), A, PORT);
      net.clock.advance(1000);
    }
    const first = fromB(net)[0].bytes;
    net.clock.advance(P.EXCHANGE_LIFETIME - 10001); // mid 1 arrived EXCHANGE_LIFETIME - 1 ms ago
    b.receive(req(COAP_MESSAGE.CON, 1), A, PORT);
    expect(runs).toBe(10);
    const again = fromB(net);
    expect(Array.from(again[again.length - 1].bytes)).toEqual(Array.from(first));
    expect(b.dedup.size).toBe(10);
    net.clock.advance(10000); // all ten are past EXCHANGE_LIFETIME
    b.receive(req(COAP_MESSAGE.CON, 11), A, PORT);
    expect(b.dedup.size).toBe(1); // purged on the add, not only when full
    expect(b.dedup.evictions).toBe(0);
    expect(runs).toBe(11);
  });

  it("NON entries go after NON_LIFETIME, CON entries stay until EXCHANGE_LIFETIME", () => {
    const net = makeNet();
    const b = server(net, (r) => r.respond({ code: COAP_RESPONSE.CHANGED }));
    b.receive(req(COAP_MESSAGE.CON, 1), A, PORT);
    b.receive(req(COAP_MESSAGE.NON, 2), A, PORT);
    net.clock.advance(P.NON_LIFETIME);
    b.receive(req(COAP_MESSAGE.CON, 3), A, PORT);
    expect(b.dedup.size).toBe(2);
    expect(b.dedup.get(key(1), net.clock.now())).toBeDefined();
    expect(b.dedup.get(key(2), net.clock.now())).toBeUndefined();
  });

  it("a flood of distinct requests from many endpoints stays within the bound, each entry a reply", () => {
    const net = makeNet();
    let runs = 0;
    const b = server(net, (r) => {
      runs++;
      r.respond({ code: COAP_RESPONSE.CONTENT, payload: ascii("v") });
    }, { dedupCapacity: 16 });
    for (let i = 0; i < 2000; i++) {
      b.receive(req(i % 3 ? COAP_MESSAGE.CON : COAP_MESSAGE.NON, i & 0xffff), "10.1." + (i % 50) + ".1", PORT);
      expect(b.dedup.size).toBeLessThanOrEqual(16);
    }
    expect(runs).toBe(2000);
    expect(b.dedup.evictions).toBe(2000 - 16);
    const now = net.clock.now();
    let kept = 0;
    for (let i = 2000 - 16; i < 2000; i++) {
      const e = b.dedup.get(key(i, "10.1." + (i % 50) + ".1"), now)!;
      expect(e).toBeDefined();
      if (i % 3) expect(e.reply instanceof Uint8Array && e.reply.length < 16).toBe(true);
      else expect(e.reply).toBeUndefined();
      kept++;
    }
    expect(kept).toBe(16);
  });
});
