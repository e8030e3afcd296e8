// @xs
/*
 * CoapServer on the simulated UDP network: dispatch and response codes
 * (RFC 7252 §5.8, §5.9, §5.10), ETag / Max-Age, separate responses (§5.2.2),
 * /.well-known/core (RFC 6690), handler failures.
 */
import {
  COAP_MEDIATYPE,
  COAP_MESSAGE,
  COAP_OPTION,
  COAP_REQUEST,
  COAP_RESPONSE,
  codeString,
} from "../../modules/coap/constants";
import { getUint, stringOption, uintOption } from "../../modules/coap/options";
import { parseLinks } from "../../modules/coap/link-parse";
import { CoapServer } from "../../modules/coap/server";
import { makeFixture, text, type Fixture } from "./server-fixture";

let fx: Fixture;
beforeEach(() => {
  fx = makeFixture();
  fx.server.add("/sensors/temp", {
    title: "Temperature",
    rt: "temperature-c",
    if: "sensor",
    ct: [COAP_MEDIATYPE.TEXT_PLAIN, COAP_MEDIATYPE.APPLICATION_JSON],
    maxAge: 30,
    get: (req) => (req.accept === COAP_MEDIATYPE.APPLICATION_JSON ? { payload: '{"t":21.5}', contentFormat: COAP_MEDIATYPE.APPLICATION_JSON } : { payload: "21.5", contentFormat: COAP_MEDIATYPE.TEXT_PLAIN }),
  });
  let config = "a=1";
  fx.server.add("/config", {
    accepts: [COAP_MEDIATYPE.TEXT_PLAIN],
    get: () => ({ payload: config, contentFormat: COAP_MEDIATYPE.TEXT_PLAIN, etag: Uint8Array.of(config.length) }),
    put: (req) => {
      config = req.text();
    },
    post: (req) => ({ locationPath: "/config/" + req.text() }),
    delete: () => undefined,
    fetch: (req) => ({ payload: "fetched " + req.text() }),
    patch: (req) => ({ payload: "patched " + req.text() }),
    ipatch: (req) => ({ payload: "ipatched " + req.text() }),
  });
  fx.server.add("/boom", {
    get: () => {
      throw new Error("handler bug");
    },
    put: () => Promise.reject(new Error("async handler bug")),
    post: () => ({ code: 0x01 }),
  });
  fx.server.add("/slow", {
    get: () => new Promise((resolve) => fx.scheduler.after(2500, () => resolve({ payload: "late" }))),
  });
});
afterEach(() => fx.close());

describe("RFC 7252 §5.8 methods and default response codes", () => {
  it("GET → 2.05 piggybacked in the ACK with the request's token (§5.2.1)", async () => {
    const r = await fx.settle(fx.client.get(fx.uri("/sensors/temp")));
    expect(r.status).toBe("2.05");
    expect(r.type).toBe(COAP_MESSAGE.ACK);
    expect(r.text()).toBe("21.5");
    expect(r.contentFormat).toBe(COAP_MEDIATYPE.TEXT_PLAIN);
  });
  it("PUT → 2.04, POST with a location → 2.01 + Location-Path, DELETE → 2.02", async () => {
    const put = await fx.settle(fx.client.put(fx.uri("/config"), "b=2", { contentFormat: COAP_MEDIATYPE.TEXT_PLAIN }));
    expect(put.status).toBe("2.04");
    expect((await fx.settle(fx.client.get(fx.uri("/config")))).text()).toBe("b=2");
    const post = await fx.settle(fx.client.post(fx.uri("/config"), "x"));
    expect(post.code).toBe(COAP_RESPONSE.CREATED);
    expect(post.locationPath).toBe("/config/x");
    expect((await fx.settle(fx.client.delete(fx.uri("/config")))).status).toBe("2.02");
  });
  it("FETCH/PATCH/iPATCH (RFC 8132) reach their handlers: 2.05, 2.04, 2.04", async () => {
    const f = await fx.settle(fx.client.fetch(fx.uri("/config"), "q"));
    expect([f.status, f.text()]).toEqual(["2.05", "fetched q"]);
    const p = await fx.settle(fx.client.patch(fx.uri("/config"), "p"));
    expect([p.status, p.text()]).toEqual(["2.04", "patched p"]);
    const i = await fx.settle(fx.client.ipatch(fx.uri("/config"), "i"));
    expect([i.status, i.text()]).toEqual(["2.04", "ipatched i"]);
  });
  it("a NON request gets a NON response (§5.2.3)", async () => {
    const r = await fx.settle(fx.client.get(fx.uri("/sensors/temp"), { confirmable: false }));
    expect(r.type).toBe(COAP_MESSAGE.NON);
    expect(r.text()).toBe("21.5");
  });
});

describe("RFC 7252 §5.9 error codes where they belong", () => {
  it("4.04 for an unknown path", async () => {
    expect((await fx.settle(fx.client.get(fx.uri("/nope")))).status).toBe("4.04");
  });
  it("4.05 for a method the resource has no handler for (no Allow option in CoAP)", async () => {
    const r = await fx.settle(fx.client.put(fx.uri("/sensors/temp"), "1"));
    expect(r.status).toBe("4.05");
    expect(r.options.length).toBe(0);
  });
  it("a handler given as null counts as absent (4.05), one of another type is refused", async () => {
    fx.server.add("/n", { get: () => ({ payload: "n" }), put: null } as any);
    expect((await fx.settle(fx.client.put(fx.uri("/n"), "1"))).status).toBe("4.05");
    expect((await fx.settle(fx.client.get(fx.uri("/n")))).text()).toBe("n");
    expect(() => fx.server.add("/m", { put: "x" } as any)).toThrow("coap: handler put");
  });
  it("4.06 when Accept names a format the resource does not offer (§5.10.4)", async () => {
    expect((await fx.settle(fx.client.get(fx.uri("/sensors/temp"), { accept: COAP_MEDIATYPE.APPLICATION_XML }))).status).toBe("4.06");
    const json = await fx.settle(fx.client.get(fx.uri("/sensors/temp"), { accept: COAP_MEDIATYPE.APPLICATION_JSON }));
    expect([json.status, json.contentFormat, json.text()]).toEqual(["2.05", COAP_MEDIATYPE.APPLICATION_JSON, '{"t":21.5}']);
  });
  it("4.15 for a Content-Format the resource does not take (§5.9.2.10)", async () => {
    const r = await fx.settle(fx.client.put(fx.uri("/config"), "{}", { contentFormat: COAP_MEDIATYPE.APPLICATION_JSON }));
    expect(r.status).toBe("4.15");
    expect((await fx.settle(fx.client.get(fx.uri("/config")))).text()).toBe("a=1"); // nothing changed
  });
  it("5.00 when a handler throws, when its promise rejects, or returns a non-response code; the server keeps serving", async () => {
    const errors: unknown[] = [];
    fx.errors.length = 0;
    expect((await fx.settle(fx.client.get(fx.uri("/boom")))).status).toBe("5.00");
    expect((await fx.settle(fx.client.put(fx.uri("/boom"), "x"))).status).toBe("5.00");
    expect((await fx.settle(fx.client.post(fx.uri("/boom"), "x"))).status).toBe("5.00");
    expect(fx.errors.length).toBe(3); // reported through onError
    expect((await fx.settle(fx.client.get(fx.uri("/sensors/temp")))).status).toBe("2.05");
    void errors;
  });
  it("5.05 for a request through us as a forward-proxy (Proxy-Uri, Proxy-Scheme; §5.10.2)", async () => {
    const viaUri = await fx.settle(fx.raw({ code: COAP_REQUEST.GET, options: [stringOption(35, "coap://10.9.9.9/x")] }));
    expect(codeString(viaUri.code)).toBe("5.05");
    const viaScheme = await fx.settle(fx.raw({ code: COAP_REQUEST.GET, options: [stringOption(COAP_OPTION.URI_PATH, "config"), stringOption(39, "http")] }));
    expect(codeString(viaScheme.code)).toBe("5.05");
  });
  it("4.01 when the authorize hook refuses (and 5.00-free when the hook throws: 4.01)", async () => {
    const f = makeFixture({ server: { authorize: (req) => (req.queryParam("key") === "secret" ? true : req.queryParam("key") === "throw" ? (null as any).x : false) } });
    f.server.add("/private", { get: () => ({ payload: "ok" }) });
    expect((await f.settle(f.client.get(f.uri("/private")))).status).toBe("4.01");
    expect((await f.settle(f.client.get(f.uri("/private?key=throw")))).status).toBe("4.01");
    expect((await f.settle(f.client.get(f.uri("/private?key=secret")))).text()).toBe("ok");
    f.close();
  });
});

describe("a handler's contentFormat: null counts as absent", () => {
  it("the resource's one ct is sent, or none when it offers none (§5.10.3)", async () => {
    fx.server.add("/one", { ct: [COAP_MEDIATYPE.APPLICATION_JSON], get: () => ({ payload: "{}", contentFormat: null as any }) });
    fx.server.add("/none", { get: () => ({ payload: "x", contentFormat: null as any }) });
    const one = await fx.settle(fx.client.get(fx.uri("/one")));
    expect(one.status).toBe("2.05");
    expect(getUint(one.message, COAP_OPTION.CONTENT_FORMAT)).toBe(COAP_MEDIATYPE.APPLICATION_JSON);
    const none = await fx.settle(fx.client.get(fx.uri("/none")));
    expect(none.status).toBe("2.05");
    expect(getUint(none.message, COAP_OPTION.CONTENT_FORMAT)).toBeUndefined();
    expect(none.text()).toBe("x");
  });
});

describe("RFC 7252 §5.10.5 Max-Age, §5.10.6 ETag", () => {
  it("Max-Age from the resource is sent (and 60, the default, is not)", async () => {
    const r = await fx.settle(fx.client.get(fx.uri("/sensors/temp")));
    expect(getUint(r.message, COAP_OPTION.MAX_AGE)).toBe(30);
    expect(r.maxAge).toBe(30);
    const c = await fx.settle(fx.client.get(fx.uri("/config")));
    expect(getUint(c.message, COAP_OPTION.MAX_AGE)).toBeUndefined();
    expect(c.maxAge).toBe(60);
  });
  it("GET with the current ETag → 2.03 Valid with the ETag and no payload; a stale ETag → 2.05", async () => {
    const first = await fx.settle(fx.client.get(fx.uri("/config")));
    expect(first.etag).toEqual(Uint8Array.of(3));
    const valid = await fx.settle(fx.client.get(fx.uri("/config"), { etag: [Uint8Array.of(9), first.etag!] }));
    expect(valid.code).toBe(COAP_RESPONSE.VALID);
    expect(valid.payload.length).toBe(0);
    expect(valid.etag).toEqual(Uint8Array.of(3));
    await fx.settle(fx.client.put(fx.uri("/config"), "abcd"));
    const changed = await fx.settle(fx.client.get(fx.uri("/config"), { etag: first.etag }));
    expect([changed.status, changed.text()]).toEqual(["2.05", "abcd"]);
  });
  it("autoEtag computes an ETag from the representation", async () => {
    fx.server.add("/auto", { autoEtag: true, get: () => ({ payload: "same" }) });
    const a = await fx.settle(fx.client.get(fx.uri("/auto")));
    expect(a.etag!.length).toBe(4);
    expect((await fx.settle(fx.client.get(fx.uri("/auto"), { etag: a.etag }))).status).toBe("2.03");
  });
});

describe("RFC 7252 §5.2.2 separate responses", () => {
  it("a slow (async) handler: empty ACK first, then a CON response that the client ACKs", async () => {
    const r = await fx.settle(fx.client.get(fx.uri("/slow")));
    expect(r.text()).toBe("late");
    expect(r.type).toBe(COAP_MESSAGE.CON);
    const fromServer = fx.messages().filter((m) => m.from === "10.0.0.1").map((m) => m.message!);
    expect(fromServer[0].type).toBe(COAP_MESSAGE.ACK);
    expect(fromServer[0].code).toBe(0);
    expect(fromServer[1].type).toBe(COAP_MESSAGE.CON);
    expect(codeString(fromServer[1].code)).toBe("2.05");
    const acks = fx.messages().filter((m) => m.from === "10.0.0.2" && m.message!.type === COAP_MESSAGE.ACK);
    expect(acks.length).toBe(1);
  });
});

describe("RFC 6690 /.well-known/core", () => {
  it("lists resources in link format (ct 40) with title, rt, if, ct, obs, sz", async () => {
    fx.server.add("/obs", { observable: true, sz: 12, get: () => ({ payload: "x" }) });
    fx.server.add("/hidden", { hidden: true, get: () => ({ payload: "x" }) });
    const r = await fx.settle(fx.client.get(fx.uri("/.well-known/core")));
    expect(r.contentFormat).toBe(COAP_MEDIATYPE.APPLICATION_LINK_FORMAT);
    const links = parseLinks(r.text());
    expect(links.map((l) => l.href)).toEqual(["/sensors/temp", "/config", "/boom", "/slow", "/obs"]);
    expect(links[0].attributes).toEqual({ title: "Temperature", rt: "temperature-c", if: "sensor", ct: "0 50" });
    expect(links[4].attributes).toEqual({ sz: "12", obs: true });
  });
  it("filters by query (§4.1), prefix match with a trailing *", async () => {
    const r = await fx.settle(fx.client.get(fx.uri("/.well-known/core?rt=temp*")));
    expect(r.text()).toBe('</sensors/temp>;title="Temperature";rt="temperature-c";if="sensor";ct="0 50"');
    const none = await fx.settle(fx.client.get(fx.uri("/.well-known/core?rt=humidity")));
    expect([none.status, none.payload.length]).toEqual(["2.05", 0]);
    const href = await fx.settle(fx.client.get(fx.uri("/.well-known/core?href=/s*")));
    expect(parseLinks(href.text()).map((l) => l.href)).toEqual(["/sensors/temp", "/slow"]);
  });
  it("PUT to /.well-known/core is 4.05; Accept other than 40 is 4.06", async () => {
    expect((await fx.settle(fx.client.put(fx.uri("/.well-known/core"), "x"))).status).toBe("4.05");
    expect((await fx.settle(fx.client.get(fx.uri("/.well-known/core"), { accept: 0 }))).status).toBe("4.06");
  });
  it("/.well-known/core is the server's own hidden resource: add() at that path replaces it, remove() ends it, discovery: false has none", async () => {
    fx.server.add("/.well-known/core", { get: () => ({ payload: "mine", contentFormat: COAP_MEDIATYPE.APPLICATION_LINK_FORMAT }) });
    expect((await fx.settle(fx.client.get(fx.uri("/.well-known/core")))).text()).toBe("mine");
    expect(fx.server.remove("/.well-known/core")).toBe(true);
    expect((await fx.settle(fx.client.get(fx.uri("/.well-known/core")))).status).toBe("4.04");
    const f = makeFixture({ server: { discovery: false } });
    expect((await f.settle(f.client.get(f.uri("/.well-known/core")))).status).toBe("4.04");
    f.close();
  });
  it("the authorize hook sees a discovery request as any other (4.01 when it refuses)", async () => {
    const f = makeFixture({ server: { authorize: (req) => req.path !== ".well-known/core" } });
    expect((await f.settle(f.client.get(f.uri("/.well-known/core")))).status).toBe("4.01");
    f.close();
  });
  it("a large discovery document is served block-wise (RFC 7959)", async () => {
    for (let i = 0; i < 60; i++) fx.server.add("/r" + i, { rt: "some-long-resource-type-" + i, get: () => ({}) });
    const r = await fx.settle(fx.client.get(fx.uri("/.well-known/core")));
    expect(r.blocks).toBeGreaterThan(1);
    expect(parseLinks(r.text()).length).toBe(64);
  });
});

describe("resource tree and options", () => {
  it("paths are normalized; add replaces; remove answers 4.04 afterwards", async () => {
    fx.server.add("a/b/", { get: () => ({ payload: "1" }) });
    expect(fx.server.resource("/a/b")!.path).toBe("a/b");
    fx.server.add("/a/b", { get: () => ({ payload: "2" }) });
    expect((await fx.settle(fx.client.get(fx.uri("/a/b")))).text()).toBe("2");
    expect(fx.server.remove("/a/b")).toBe(true);
    expect(fx.server.remove("/a/b")).toBe(false);
    expect((await fx.settle(fx.client.get(fx.uri("/a/b")))).status).toBe("4.04");
  });
  it("the root resource and query helpers", async () => {
    fx.server.add("/", { get: (req) => ({ payload: `root ${req.queryParam("x")} ${req.queryParam("flag")} ${req.queryParam("none")}` }) });
    expect((await fx.settle(fx.client.get(fx.uri("/?x=1&flag")))).text()).toBe("root 1  undefined");
  });
  it("a raw request with Uri-Path options and a Content-Format the handler sees", async () => {
    let seen: unknown;
    fx.server.add("/echo", { post: (req) => ((seen = [req.methodName, req.path, req.contentFormat, text(req.payload)]), { code: COAP_RESPONSE.CHANGED }) });
    const m = await fx.settle(fx.raw({ code: 2, options: [stringOption(COAP_OPTION.URI_PATH, "echo"), uintOption(COAP_OPTION.CONTENT_FORMAT, 42)], payload: Uint8Array.of(104, 105) }));
    expect(codeString(m.code)).toBe("2.04");
    expect(seen).toEqual(["POST", "echo", 42, "hi"]);
  });
  it("rejects bad resource definitions and bad constructor options", () => {
    expect(() => fx.server.add("/x", { get: 5 as any })).toThrow(TypeError);
    expect(() => new CoapServer({} as any)).toThrow(TypeError);
    expect(() => new CoapServer({ socket: { io: function () {} }, random: (b: Uint8Array) => b } as any)).toThrow("coap: needs endpoint, or socket.io, scheduler and random");
    expect(() => new CoapServer({ endpoint: fx.server.endpoint, blockSize: 2048 })).toThrow(RangeError);
  });
  it("no errors were reported by the stack during these tests", async () => {
    await fx.settle(fx.raw({ code: COAP_REQUEST.GET, options: [stringOption(COAP_OPTION.URI_PATH, "config")] }));
    expect(fx.errors).toEqual([]);
    void COAP_OPTION.ETAG;
  });
});
