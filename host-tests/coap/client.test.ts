// @xs
/*
 * CoapClient: URIs (RFC 7252 §6.4), methods (§5.8, RFC 8132), CON/NON,
 * failures (timeout, bad input), ping (§4.3), close().
 */
import {
  COAP_MESSAGE,
  COAP_OPTION,
  COAP_REQUEST,
  transmissionParameters,
} from "../../modules/coap/constants";
import { getStrings, getUint, uintOption } from "../../modules/coap/options";
import { getString } from "../../modules/coap/option-helpers";
import { CoapClient, CoapRequestError } from "../../modules/coap/client";
import { makeFixture, type Fixture } from "./server-fixture";

let fx: Fixture;
let seen: { method: string; path: string; query: readonly string[] }[];
beforeEach(() => {
  fx = makeFixture({ client: { resolve: (host) => (host === "sensor.local" ? "10.0.0.1" : undefined) } });
  seen = [];
  const record = (req: { methodName: string; path: string; query: readonly string[] }) => {
    seen.push({ method: req.methodName, path: req.path, query: req.query });
    return { payload: req.methodName };
  };
  fx.server.add("/a/b", { get: record, post: record, put: record, delete: record, fetch: record, patch: record, ipatch: record });
});
afterEach(() => fx.close());

const sent = () => fx.messages().filter((m) => m.from === "10.0.0.2").map((m) => m.message!);

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await fx.settle(p);
  } catch (e) {
    return e instanceof CoapRequestError ? e.reason : "other: " + (e as Error).message;
  }
  return "resolved";
}

describe("RFC 7252 §6.4 URIs", () => {
  it("coap://ip:port/path?query → Uri-Path and Uri-Query options, no Uri-Host for an IP literal", async () => {
    const r = await fx.settle(fx.client.get("coap://10.0.0.1:5683/a/b?x=1&y=two"));
    expect(r.text()).toBe("GET");
    expect(seen[0]).toEqual({ method: "GET", path: "a/b", query: ["x=1", "y=two"] });
    const m = sent()[0];
    expect(getStrings(m, COAP_OPTION.URI_PATH)).toEqual(["a", "b"]);
    expect(getStrings(m, COAP_OPTION.URI_QUERY)).toEqual(["x=1", "y=two"]);
    expect(getString(m, COAP_OPTION.URI_HOST)).toBeUndefined();
    expect(getUint(m, COAP_OPTION.URI_PORT)).toBeUndefined();
  });
  it("percent-encoded segments are decoded (§6.4 step 8)", async () => {
    fx.server.add("/a b", { get: () => ({ payload: "spaced" }) });
    expect((await fx.settle(fx.client.get("coap://10.0.0.1/a%20b"))).text()).toBe("spaced");
  });
  it("a host name is resolved through options.resolve and sent as Uri-Host", async () => {
    const r = await fx.settle(fx.client.get("coap://sensor.local/a/b"));
    expect(r.status).toBe("2.05");
    expect(getString(sent()[0], COAP_OPTION.URI_HOST)).toBe("sensor.local");
  });
  it.each([["coap://unknown.example/x"], ["coaps://10.0.0.1/x"], ["http://10.0.0.1/x"], ["coap://10.0.0.1/x#frag"], ["not a uri"]])("%s rejects with reason uri, nothing sent", async (uri) => {
    expect(await reason(fx.client.get(uri as string))).toBe("uri");
    expect(sent().length).toBe(0);
  });
  it("address / path / query parts instead of a URI", async () => {
    await fx.settle(fx.client.request({ address: "10.0.0.1", port: 5683, path: "/a/b", query: "?k=v&w" }));
    await fx.settle(fx.client.request({ address: "10.0.0.1", path: "a/b", query: ["z=1"] }));
    expect(seen.map((s) => s.query)).toEqual([["k=v", "w"], ["z=1"]]);
  });
});

describe("RFC 7252 §5.8 / RFC 8132 methods", () => {
  it.each([["GET"], ["POST"], ["PUT"], ["DELETE"], ["FETCH"], ["PATCH"], ["iPATCH"]])("%s by name", async (method) => {
    const r = await fx.settle(fx.client.request({ method: method as any, uri: fx.uri("/a/b"), payload: "x" }));
    expect(r.text()).toBe(method);
  });
  it("method codes 0.05-0.07 by number", async () => {
    for (const code of [COAP_REQUEST.FETCH, COAP_REQUEST.PATCH, COAP_REQUEST.IPATCH]) await fx.settle(fx.client.request({ method: code, uri: fx.uri("/a/b") }));
    expect(seen.map((s) => s.method)).toEqual(["FETCH", "PATCH", "iPATCH"]);
  });
  it("bad requests throw before anything is sent", async () => {
    await expect(fx.client.request({ method: "BREW" as any, uri: fx.uri("/a/b") })).rejects.toThrow(RangeError);
    await expect(fx.client.request({ method: 0x45, uri: fx.uri("/a/b") })).rejects.toThrow(RangeError);
    await expect(fx.client.request({ uri: fx.uri("/a/b"), options: [uintOption(6, 0)] })).rejects.toThrow("set by the client");
    await expect(fx.client.request({ uri: fx.uri("/a/b"), block2Size: 2048 })).rejects.toThrow(RangeError);
    await expect(fx.client.request({ path: "/x" } as any)).rejects.toThrow(TypeError);
    await expect(fx.client.request({ uri: fx.uri("/a/b"), payload: 5 as any })).rejects.toThrow(TypeError);
    expect(sent().length).toBe(0);
  });
  it("null counts as absent, as undefined does: no Content-Format, Accept or Block2 option is sent", async () => {
    const r = await fx.settle(fx.client.request({ method: "PUT", uri: fx.uri("/a/b"), payload: "x", contentFormat: null, accept: null, block2Size: null } as any));
    expect(r.text()).toBe("PUT");
    const m = sent()[0];
    expect(m.options.map((o) => o.number)).toEqual([COAP_OPTION.URI_PATH, COAP_OPTION.URI_PATH]);
  });
  it("CON by default, NON on request", async () => {
    await fx.settle(fx.client.get(fx.uri("/a/b")));
    await fx.settle(fx.client.get(fx.uri("/a/b"), { confirmable: false }));
    expect(sent().map((m) => m.type)).toEqual([COAP_MESSAGE.CON, COAP_MESSAGE.NON]);
  });
});

describe("failures", () => {
  it("no server: a CON request rejects with timeout after the retransmissions, within MAX_TRANSMIT_WAIT (§4.8.2)", async () => {
    const P = transmissionParameters();
    const t0 = fx.clock.now();
    expect(await reason(fx.client.get("coap://10.0.0.7/a/b"))).toBe("timeout");
    expect(fx.clock.now() - t0).toBeLessThanOrEqual(P.MAX_TRANSMIT_WAIT + 1000);
    expect(sent().length).toBe(1 + P.MAX_RETRANSMIT);
  });
  it("a NON request with a timeout rejects after it, sent once", async () => {
    const t0 = fx.clock.now();
    expect(await reason(fx.client.get("coap://10.0.0.7/a/b", { confirmable: false, timeout: 5000 }))).toBe("timeout");
    expect(fx.clock.now() - t0).toBeLessThan(6000);
    expect(sent().length).toBe(1);
  });
  it("closing the client fails what is in flight with reason closed", async () => {
    const p = fx.client.get("coap://10.0.0.7/a/b");
    fx.client.close();
    expect(await reason(p)).toBe("closed");
  });
  it("constructor options are checked", () => {
    expect(() => new CoapClient({} as any)).toThrow(TypeError);
    // the message names what to give (an endpoint, or a socket with a scheduler and random), and
    // none of it is opened: a socket constructor without the scheduler is never called
    const need = "coap: needs endpoint, or socket.io, scheduler and random";
    expect(() => new CoapClient({} as any)).toThrow(need);
    let opened = 0;
    const io = function () {
      opened++;
    } as any;
    expect(() => new CoapClient({ socket: { io }, random: (b: Uint8Array) => b } as any)).toThrow(need);
    expect(() => new CoapClient({ socket: { io }, scheduler: fx.client.scheduler } as any)).toThrow(need);
    expect(opened).toBe(0);
    expect(() => new CoapClient({ endpoint: fx.client.endpoint, block1Size: 8 })).toThrow(RangeError);
    expect(() => new CoapClient({ endpoint: fx.client.endpoint, maxBodySize: 0 })).toThrow(RangeError);
  });
});

describe("RFC 7252 §4.3 ping", () => {
  it("true when the peer answers the empty CON with RST, false when nobody answers", async () => {
    expect(await fx.settle(fx.client.ping("10.0.0.1", 5683))).toBe(true);
    expect(await fx.settle(fx.client.ping("10.0.0.7", 5683))).toBe(false);
  });
});
