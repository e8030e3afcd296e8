// @xs
/*
 * Block-wise transfers (RFC 7959) between CoapClient and CoapServer on the
 * simulated UDP network, and the server's answers to bad block sequences.
 */
import {
  COAP_OPTION,
  COAP_REQUEST,
  COAP_RESPONSE,
  codeString,
} from "../../modules/coap/constants";
import { encode } from "../../modules/coap/codec";
import { blockOption, getBlock, getUint, stringOption, uintOption, type CoapOption } from "../../modules/coap/options";
import { Block1Store, sliceBlock2, szxForSize, etagOf } from "../../modules/coap/options";
import { CoapRequestError } from "../../modules/coap/client";
import { bytes, makeFixture, type Fixture } from "./server-fixture";

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

let fx: Fixture;
let stored: Uint8Array;
let putCalls: number;
const path = (p: string): CoapOption[] => [stringOption(COAP_OPTION.URI_PATH, p)];

beforeEach(() => {
  fx = makeFixture();
  stored = bytes(3000);
  putCalls = 0;
  fx.server.add("/file", {
    maxBodySize: 6000,
    get: () => ({ payload: stored }),
    put: (req) => {
      putCalls++;
      stored = req.payload;
    },
  });
});
afterEach(() => fx.close());

describe("RFC 7959 §2.4 Block2", () => {
  it("a 3000-byte representation comes in three 1024-byte blocks, reassembled, with Size2 and an ETag", async () => {
    const r = await fx.settle(fx.client.get(fx.uri("/file")));
    expect(r.blocks).toBe(3);
    expect(equalBytes(r.payload, stored)).toBe(true);
    const first = fx.messages().find((m) => m.from === "10.0.0.1")!.message!;
    expect(getBlock(first, COAP_OPTION.BLOCK2)).toEqual({ num: 0, more: true, szx: 6 });
    expect(getUint(first, COAP_OPTION.SIZE2)).toBe(3000);
    expect(r.etag).toEqual(etagOf(stored));
  });
  it("early negotiation: the client asks for 64-byte blocks and the server uses them", async () => {
    const r = await fx.settle(fx.client.get(fx.uri("/file"), { block2Size: 64 }));
    expect(r.blocks).toBe(Math.ceil(3000 / 64));
    expect(equalBytes(r.payload, stored)).toBe(true);
  });
  it("the server uses its own smaller block size when the client asks for more (§2.4: the indicated size or smaller)", async () => {
    const f = makeFixture({ server: { blockSize: 256 } });
    f.server.add("/big", { get: () => ({ payload: bytes(1000, 3) }) });
    const r = await f.settle(f.client.get(f.uri("/big"), { block2Size: 1024 }));
    expect(r.blocks).toBe(4);
    expect(equalBytes(r.payload, bytes(1000, 3))).toBe(true);
    f.close();
  });
  it.each([[3], [1000], [0xfffff]])("Block2 NUM %i beyond the end → 4.02", async (num) => {
    const m = await fx.settle(fx.raw({ code: COAP_REQUEST.GET, options: [...path("file"), blockOption(COAP_OPTION.BLOCK2, { num: num as number, more: false, szx: 6 })] }));
    expect(codeString(m.code)).toBe("4.02");
    expect(m.payload.length).toBe(0); // no diagnostic payload (RFC 7252 §5.5.2: optional; the code says it)
  });
  it("a small representation asked with Block2 0 comes whole with M=0", async () => {
    fx.server.add("/small", { get: () => ({ payload: "tiny" }) });
    const m = await fx.settle(fx.raw({ code: COAP_REQUEST.GET, options: [...path("small"), blockOption(COAP_OPTION.BLOCK2, { num: 0, more: false, szx: 0 })] }));
    expect(getBlock(m, COAP_OPTION.BLOCK2)).toEqual({ num: 0, more: false, szx: 0 });
    expect(m.payload.length).toBe(4);
  });
  it("the client notices a representation that changes mid-transfer (ETag differs) and rejects", async () => {
    let n = 0;
    fx.server.add("/moving", { get: () => ({ payload: bytes(3000, n++) }) });
    await expect(fx.settle(fx.client.get(fx.uri("/moving")))).rejects.toThrow("ETag differs");
  });
  it("the client refuses a body larger than its maxBodySize (Size2 checked up front)", async () => {
    const f = makeFixture({ client: { maxBodySize: 2000 } });
    f.server.add("/big", { get: () => ({ payload: bytes(5000) }) });
    let error: unknown;
    try {
      await f.settle(f.client.get(f.uri("/big")));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CoapRequestError);
    expect((error as CoapRequestError).reason).toBe("too-large");
    f.close();
  });
  it("SZX 7 in a request is answered 4.00 (§2.2)", async () => {
    // built by hand: encode() refuses SZX 7 through blockOption
    const m = await fx.settle(fx.raw({ code: COAP_REQUEST.GET, options: [...path("file"), { number: COAP_OPTION.BLOCK2, value: Uint8Array.of(0x07) }] }));
    expect(codeString(m.code)).toBe("4.00");
  });
});

describe("RFC 7959 §2.5 Block1", () => {
  it("a 5000-byte PUT goes in 1024-byte blocks: 2.31 Continue for each non-final one, the handler runs once on the whole body", async () => {
    const body = bytes(5000, 9);
    const r = await fx.settle(fx.client.put(fx.uri("/file"), body));
    expect(r.status).toBe("2.04");
    expect(putCalls).toBe(1);
    expect(equalBytes(stored, body)).toBe(true);
    const fromServer = fx.messages().filter((m) => m.from === "10.0.0.1").map((m) => codeString(m.message!.code));
    expect(fromServer).toEqual(["2.31", "2.31", "2.31", "2.31", "2.04"]);
    const firstReq = fx.messages().find((m) => m.from === "10.0.0.2")!.message!;
    expect(getUint(firstReq, COAP_OPTION.SIZE1)).toBe(5000); // §4
    expect(getBlock(r.message, COAP_OPTION.BLOCK1)).toEqual({ num: 4, more: false, szx: 6 });
  });
  it("the server's smaller block size preference is heeded: the next NUM counts in the new size", async () => {
    const f = makeFixture({ server: { blockSize: 128 } });
    let got: Uint8Array = new Uint8Array(0);
    f.server.add("/up", { put: (req) => void (got = req.payload) });
    const body = bytes(2000, 5);
    const r = await f.settle(f.client.put(f.uri("/up"), body));
    expect(r.status).toBe("2.04");
    expect(equalBytes(got, body)).toBe(true);
    const reqs = f.messages().filter((m) => m.from === "10.0.0.2").map((m) => getBlock(m.message!, COAP_OPTION.BLOCK1));
    expect(reqs[0]).toEqual({ num: 0, more: true, szx: 6 });
    expect(reqs[1]).toEqual({ num: 8, more: true, szx: 3 }); // 1024 bytes sent = 8 blocks of 128
    expect(reqs.length).toBe(1 + Math.ceil((2000 - 1024) / 128));
    f.close();
  });
  it("block 2 without blocks 0 and 1 → 4.08 Request Entity Incomplete", async () => {
    const m = await fx.settle(fx.raw({ code: COAP_REQUEST.PUT, options: [...path("file"), blockOption(COAP_OPTION.BLOCK1, { num: 2, more: false, szx: 2 })], payload: bytes(10) }));
    expect(codeString(m.code)).toBe("4.08");
    expect(putCalls).toBe(0);
  });
  it("a gap in the sequence (0 then 2) → 4.08 and the partial body is dropped", async () => {
    const b0 = await fx.settle(fx.raw({ code: COAP_REQUEST.PUT, options: [...path("file"), blockOption(COAP_OPTION.BLOCK1, { num: 0, more: true, szx: 2 })], payload: bytes(64) }));
    expect(codeString(b0.code)).toBe("2.31");
    expect(fx.server.pendingUploads).toBe(1);
    const b2 = await fx.settle(fx.raw({ code: COAP_REQUEST.PUT, options: [...path("file"), blockOption(COAP_OPTION.BLOCK1, { num: 2, more: false, szx: 2 })], payload: bytes(10) }));
    expect(codeString(b2.code)).toBe("4.08");
    expect(fx.server.pendingUploads).toBe(0);
    expect(putCalls).toBe(0);
  });
  it("a non-final block that is not exactly the block size → 4.00", async () => {
    const m = await fx.settle(fx.raw({ code: COAP_REQUEST.PUT, options: [...path("file"), blockOption(COAP_OPTION.BLOCK1, { num: 0, more: true, szx: 2 })], payload: bytes(63) }));
    expect(codeString(m.code)).toBe("4.00");
  });
  it("a body over the resource's limit → 4.13 with Size1 (§2.9.3), mid-transfer or declared up front in Size1", async () => {
    const r = await fx.settle(fx.client.put(fx.uri("/file"), bytes(7000)));
    expect(r.status).toBe("4.13");
    expect(getUint(r.message, COAP_OPTION.SIZE1)).toBe(6000);
    expect(putCalls).toBe(0);
    expect(fx.server.pendingUploads).toBe(0);
    const m = await fx.settle(fx.raw({ code: COAP_REQUEST.PUT, options: [...path("file"), blockOption(COAP_OPTION.BLOCK1, { num: 0, more: true, szx: 6 }), uintOption(COAP_OPTION.SIZE1, 100000)], payload: bytes(1024) }));
    expect(codeString(m.code)).toBe("4.13");
    expect(getUint(m, COAP_OPTION.SIZE1)).toBe(6000);
  });
  it("a Size1 over the limit on a later block ends the transfer with 4.13 too (§4: Size1 is the whole body's size)", async () => {
    const first = await fx.settle(fx.raw({ code: COAP_REQUEST.PUT, options: [...path("file"), blockOption(COAP_OPTION.BLOCK1, { num: 0, more: true, szx: 6 })], payload: bytes(1024) }));
    expect(codeString(first.code)).toBe("2.31");
    const m = await fx.settle(fx.raw({ code: COAP_REQUEST.PUT, options: [...path("file"), blockOption(COAP_OPTION.BLOCK1, { num: 1, more: true, szx: 6 }), uintOption(COAP_OPTION.SIZE1, 100000)], payload: bytes(1024) }));
    expect(codeString(m.code)).toBe("4.13");
    expect(getUint(m, COAP_OPTION.SIZE1)).toBe(6000);
    expect(fx.server.pendingUploads).toBe(0);
    expect(putCalls).toBe(0);
  });
  it("a body over the limit sent whole → 4.13 with Size1; the client does not retry when Size1 is below the body", async () => {
    const f = makeFixture({ client: { block1Size: 1024 } });
    f.server.add("/tiny", { maxBodySize: 100, put: () => undefined });
    const r = await f.settle(f.client.put(f.uri("/tiny"), bytes(500)));
    expect(r.status).toBe("4.13");
    expect(getUint(r.message, COAP_OPTION.SIZE1)).toBe(100);
    expect(f.messages().filter((m) => m.from === "10.0.0.2").length).toBe(1);
    f.close();
  });
  it("a 4.13 with Size1 at or above the body to a request sent whole makes the client retry block-wise (§2.9.3 hint)", async () => {
    let got: Uint8Array | undefined;
    fx.server.add("/picky", {
      put: (req) => {
        if (!req.message.options.some((o) => o.number === COAP_OPTION.BLOCK1)) return { code: 0x8d, options: [uintOption(COAP_OPTION.SIZE1, 4096)] };
        got = req.payload;
      },
    });
    const body = bytes(600, 1);
    const r = await fx.settle(fx.client.put(fx.uri("/picky"), body));
    expect(r.status).toBe("2.04");
    expect(equalBytes(got!, body)).toBe(true);
    const sizes = fx.messages().filter((m) => m.from === "10.0.0.2").map((m) => m.message!.payload.length);
    expect(sizes).toEqual([600, 256, 256, 88]);
  });
  it("bounded state: at most maxBlock1Transfers partial bodies; another gets 4.13", async () => {
    const f = makeFixture({ server: { maxBlock1Transfers: 2 } });
    f.server.add("/u", { put: () => undefined, post: () => undefined });
    const start = (code: number, token: number) =>
      f.settle(f.raw({ code, token: Uint8Array.of(token), options: [...path("u"), blockOption(COAP_OPTION.BLOCK1, { num: 0, more: true, szx: 0 })], payload: bytes(16) }));
    expect(codeString((await start(COAP_REQUEST.PUT, 1)).code)).toBe("2.31");
    expect(codeString((await start(2, 2)).code)).toBe("2.31");
    expect(codeString((await start(5, 3)).code)).toBe("4.05"); // no FETCH handler: refused before any state
    f.server.add("/v", { put: () => undefined });
    const third = await f.settle(f.raw({ code: COAP_REQUEST.PUT, options: [...path("v"), blockOption(COAP_OPTION.BLOCK1, { num: 0, more: true, szx: 0 })], payload: bytes(16) }));
    expect(codeString(third.code)).toBe("4.13");
    expect(f.server.pendingUploads).toBe(2);
    f.close();
  });
  it("a Block1 transfer abandoned by the client is forgotten after EXCHANGE_LIFETIME", async () => {
    await fx.settle(fx.raw({ code: COAP_REQUEST.PUT, options: [...path("file"), blockOption(COAP_OPTION.BLOCK1, { num: 0, more: true, szx: 0 })], payload: bytes(16) }));
    expect(fx.server.pendingUploads).toBe(1);
    await fx.advance(fx.server.endpoint.parameters.EXCHANGE_LIFETIME + 1);
    const next = await fx.settle(fx.raw({ code: COAP_REQUEST.PUT, options: [...path("file"), blockOption(COAP_OPTION.BLOCK1, { num: 1, more: false, szx: 0 })], payload: bytes(5) }));
    expect(codeString(next.code)).toBe("4.08");
    expect(fx.server.pendingUploads).toBe(0);
  });
});

describe("RFC 7959 §2.6 Block1 and Block2 combined", () => {
  it("a large POST answered with a large response: the client uploads with Block1, then fetches the rest with POST + Block2", async () => {
    let calls = 0;
    fx.server.add("/convert", { post: (req) => (calls++, { code: 0x44, payload: new Uint8Array(req.payload.length * 2).fill(0x61) }) });
    const r = await fx.settle(fx.client.post(fx.uri("/convert"), bytes(2000), { block1Size: 512 }));
    expect(r.status).toBe("2.04");
    expect(r.payload.length).toBe(4000);
    expect(r.blocks).toBe(4);
    expect(calls).toBe(1); // the continuation is served from the kept response, not by calling the handler again
  });
  it("a continuation with nothing to continue → 4.08", async () => {
    fx.server.add("/convert", { post: () => undefined });
    const m = await fx.settle(fx.raw({ code: 2, options: [...path("convert"), blockOption(COAP_OPTION.BLOCK2, { num: 1, more: false, szx: 6 })] }));
    expect(codeString(m.code)).toBe("4.08");
    expect(m.payload.length).toBe(0); // no diagnostic payload (RFC 7252 §5.5.2: optional; the code says it)
  });
});

describe("bad block input", () => {
  it("a huge Block1 NUM (2^20-1) without predecessors → 4.08, no state kept", async () => {
    const m = await fx.settle(fx.raw({ code: COAP_REQUEST.PUT, options: [...path("file"), blockOption(COAP_OPTION.BLOCK1, { num: 0xfffff, more: true, szx: 6 })], payload: bytes(1024) }));
    expect(codeString(m.code)).toBe("4.13"); // offset 2^20 × 1024 is over any body limit: refused before anything is stored
    const n = await fx.settle(fx.raw({ code: COAP_REQUEST.PUT, options: [...path("file"), blockOption(COAP_OPTION.BLOCK1, { num: 3, more: false, szx: 0 })], payload: bytes(4) }));
    expect(codeString(n.code)).toBe("4.08");
    expect(fx.server.pendingUploads).toBe(0);
  });
  it("block 0 sent again (a new Message ID) restarts the transfer; the body is what follows the restart", async () => {
    const send = () => fx.settle(fx.raw({ code: COAP_REQUEST.PUT, options: [...path("file"), blockOption(COAP_OPTION.BLOCK1, { num: 0, more: true, szx: 0 })], payload: bytes(16) }));
    expect(codeString((await send()).code)).toBe("2.31");
    const again = await fx.settle(fx.raw({ code: COAP_REQUEST.PUT, options: [...path("file"), blockOption(COAP_OPTION.BLOCK1, { num: 0, more: true, szx: 0 })], payload: bytes(16) }));
    expect(codeString(again.code)).toBe("2.31"); // block 0 restarts the transfer (RFC 7959 §2.5: start with block zero)
    const skip = await fx.settle(fx.raw({ code: COAP_REQUEST.PUT, options: [...path("file"), blockOption(COAP_OPTION.BLOCK1, { num: 0, more: false, szx: 0 })], payload: bytes(3) }));
    expect(codeString(skip.code)).toBe("2.04");
    expect(stored.length).toBe(3);
  });
  it("a registration storm of 200 tokens stays within the observer limit; memory bounded", async () => {
    const f = makeFixture({ server: { maxObservers: 16, maxObserversPerResource: 8 } });
    f.server.add("/o", { observable: true, get: () => ({ payload: "o" }) });
    for (let t = 0; t < 200; t++) await f.settle(f.raw({ code: COAP_REQUEST.GET, token: Uint8Array.of(t, t >> 8), options: [...path("o"), uintOption(6, 0)] }));
    expect(f.server.observerCount).toBe(8);
    f.close();
  });
});

describe("block-wise helpers (options.ts)", () => {
  it("etagOf: a null Content-Format counts as absent; a given one changes the ETag", () => {
    const b = bytes(100);
    expect(Array.from(etagOf(b, null as any))).toEqual(Array.from(etagOf(b)));
    expect(Array.from(etagOf(b, 0))).not.toEqual(Array.from(etagOf(b)));
  });
  it("szxForSize picks the largest power of two that fits", () => {
    expect([szxForSize(16), szxForSize(100), szxForSize(1024), szxForSize(5000), szxForSize(1)]).toEqual([0, 2, 6, 6, 0]);
  });
  it("sliceBlock2 views, M flag, out-of-range", () => {
    const b = bytes(100);
    expect(sliceBlock2(b, 0, 1)!.block).toEqual({ num: 0, more: true, szx: 1 });
    expect(sliceBlock2(b, 3, 1)!.payload.length).toBe(4);
    expect(sliceBlock2(b, 3, 1)!.block.more).toBe(false);
    expect(sliceBlock2(b, 4, 1)).toBeUndefined();
    expect(sliceBlock2(new Uint8Array(0), 0, 1)!.payload.length).toBe(0);
  });
  it("Block1Store rejects a Content-Format change between blocks (4.08) and validates its bounds", () => {
    const s = new Block1Store(2, 1000, 1000);
    expect(s.receive("k", { num: 0, more: true, szx: 0 }, bytes(16), 0, 0)).toBe(COAP_RESPONSE.CONTINUE);
    expect(s.receive("k", { num: 1, more: false, szx: 0 }, bytes(3), 50, 1)).toBe(COAP_RESPONSE.REQUEST_ENTITY_INCOMPLETE);
    expect(s.size).toBe(0); // the partial body is dropped
    expect(s.receive("j", { num: 0, more: true, szx: 0 }, bytes(16), 0, 2)).toBe(COAP_RESPONSE.CONTINUE);
    const whole = new Uint8Array(19);
    whole.set(bytes(16));
    whole.set(bytes(3), 16);
    expect(s.receive("j", { num: 1, more: false, szx: 0 }, bytes(3), 0, 3)).toEqual({ body: whole, contentFormat: 0 });
    expect(s.size).toBe(0);
    expect(() => new Block1Store(0, 10, 10)).toThrow(RangeError);
    expect(() => new Block1Store(1, 0, 10)).toThrow(RangeError);
  });
  it("a Block1 option of 4 bytes (over its 0-3 length range) is an unrecognized critical option: 4.02 (RFC 7252 §5.4.3)", async () => {
    const m = await fx.settle(fx.raw({ code: COAP_REQUEST.PUT, options: [...path("file"), { number: COAP_OPTION.BLOCK1, value: new Uint8Array(4) }], payload: bytes(4) }));
    expect(codeString(m.code)).toBe("4.02");
    expect(encode({ type: 0, code: 1, messageId: 1, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) }).length).toBe(4);
  });
});
