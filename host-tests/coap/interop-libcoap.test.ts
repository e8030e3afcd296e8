/*
 * Interop with libcoap 4.3 (Debian libcoap3-bin), both ways, on real UDP:
 *  - coap-client-notls against our CoapServer: GET/PUT/POST/DELETE, CON and
 *    NON, separate response, Block2 (with early negotiation), Block1, Observe,
 *    /.well-known/core with a filter;
 *  - our CoapClient against coap-server-notls: the same methods, NON, Observe
 *    of /time, Block1 upload and Block2 download of /example_data, discovery.
 * With CI=true a missing libcoap fails the suite (host-tests/support/peers.ts).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { COAP_MEDIATYPE, COAP_RESPONSE } from "../../modules/coap/constants";
import { parseLinks } from "../../modules/coap/link-parse";
import type { CoapResponse } from "../../modules/coap/client";
import { describeWithPeer, startCoapServer, type Peer } from "../support/peers";
import { coapClientAsync, printed, startOurClient, startOurServer, types } from "./interop-support";

jest.setTimeout(60000);

function body(n: number, seed: number): string {
  let s = "";
  for (let i = 0; s.length < n; i++) s += `${seed}:${i} the quick brown fox jumps over the lazy dog\n`;
  return s.slice(0, n);
}

describeWithPeer("coap-client-notls", "libcoap coap-client-notls → our CoapServer", () => {
  let srv: Awaited<ReturnType<typeof startOurServer>>;
  let state: string;
  let upload: string;
  let deleted: number;
  let obsValue: number;
  let tmp: string;
  const uri = (p: string) => `coap://127.0.0.1:${srv.port}${p}`;

  beforeAll(async () => {
    srv = await startOurServer(0, { notificationInterval: 0 });
    state = "initial";
    upload = "";
    deleted = 0;
    obsValue = 0;
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "xs-iot-coap-"));
    const s = srv.server;
    s.add("/test", {
      rt: "test",
      ct: COAP_MEDIATYPE.TEXT_PLAIN,
      get: () => ({ payload: state, contentFormat: COAP_MEDIATYPE.TEXT_PLAIN }),
      put: (req) => void (state = req.text()),
      post: (req) => ({ code: COAP_RESPONSE.CREATED, locationPath: "/test/" + req.text() }),
      delete: () => void deleted++,
    });
    s.add("/large", { rt: "block", sz: 3000, get: () => ({ payload: body(3000, 1), contentFormat: COAP_MEDIATYPE.TEXT_PLAIN }) });
    s.add("/upload", { maxBodySize: 20000, put: (req) => void (upload = req.text()), get: () => ({ payload: upload }) });
    s.add("/separate", { get: () => new Promise((r) => srv.scheduler.after(1500, () => r({ payload: "separate" }))) });
    const obs = s.add("/obs", { rt: "observe", observable: true, get: () => ({ payload: "obs " + obsValue, contentFormat: COAP_MEDIATYPE.TEXT_PLAIN }) });
    srv.scheduler.schedule({ name: "obs-change", deadline: srv.clock.now() + 500, run: (now, j) => (obsValue++, obs.notify(), j.reschedule(now + 500)) });
  });
  afterAll(() => {
    srv.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("GET (CON) → piggybacked 2.05 in an ACK", async () => {
    const run = await coapClientAsync(["-B", "5", uri("/test")]);
    expect(types(run)).toEqual(["CON GET", "ACK 2.05"]);
    expect(printed(run).trim()).toBe("initial");
  });
  it("GET (NON, -N) → NON 2.05", async () => {
    const run = await coapClientAsync(["-N", "-B", "5", uri("/test")]);
    expect(types(run)).toEqual(["NON GET", "NON 2.05"]);
  });
  it("PUT → 2.04 and the state changed; POST → 2.01 with Location-Path; DELETE → 2.02", async () => {
    const put = await coapClientAsync(["-m", "put", "-e", "from libcoap", "-t", "0", "-B", "5", uri("/test")]);
    expect(types(put)).toEqual(["CON PUT", "ACK 2.04"]);
    expect(state).toBe("from libcoap");
    const post = await coapClientAsync(["-m", "post", "-e", "new", "-B", "5", uri("/test")]);
    expect(types(post)[1]).toBe("ACK 2.01");
    expect(post.lines[1]).toContain("Location-Path:test");
    expect(post.lines[1]).toContain("Location-Path:new");
    const del = await coapClientAsync(["-m", "delete", "-B", "5", uri("/test")]);
    expect(types(del)).toEqual(["CON DELETE", "ACK 2.02"]);
    expect(deleted).toBe(1);
  });
  it("unknown path → 4.04; method without handler → 4.05", async () => {
    expect(types(await coapClientAsync(["-B", "5", uri("/nope")]))[1]).toBe("ACK 4.04");
    expect(types(await coapClientAsync(["-m", "put", "-e", "x", "-B", "5", uri("/large")]))[1]).toBe("ACK 4.05");
  });
  it("separate response: empty ACK, then CON 2.05 (RFC 7252 §5.2.2)", async () => {
    const run = await coapClientAsync(["-B", "8", uri("/separate")]);
    const t = types(run);
    expect(t[0]).toBe("CON GET");
    expect(t).toContain("CON 2.05");
    expect(printed(run).trim()).toBe("separate");
  });
  it("Block2: the whole 3000-byte representation, default and early-negotiated 64-byte blocks", async () => {
    const run = await coapClientAsync(["-B", "10", uri("/large")]);
    expect(printed(run).replace(/\n$/, "")).toBe(body(3000, 1));
    expect(types(run).filter((x) => x === "ACK 2.05").length).toBe(3);
    const small = await coapClientAsync(["-b", "64", "-B", "20", uri("/large")]);
    expect(printed(small).replace(/\n$/, "")).toBe(body(3000, 1));
    expect(types(small).filter((x) => x === "ACK 2.05").length).toBe(Math.ceil(3000 / 64));
  });
  it("Block1: a 5000-byte PUT in 256-byte blocks arrives whole (2.31 Continue, then 2.04)", async () => {
    const file = path.join(tmp, "upload.txt");
    fs.writeFileSync(file, body(5000, 2));
    const run = await coapClientAsync(["-m", "put", "-f", file, "-b", "256", "-B", "20", uri("/upload")]);
    const t = types(run).filter((x) => x.startsWith("ACK"));
    expect(t.filter((x) => x === "ACK 2.31").length).toBe(Math.ceil(5000 / 256) - 1);
    expect(t[t.length - 1]).toBe("ACK 2.04");
    expect(upload).toBe(body(5000, 2));
  });
  it("Observe: registration and notifications with increasing Observe numbers", async () => {
    const run = await coapClientAsync(["-s", "3", "-B", "5", uri("/obs")]);
    const obsLines = run.lines.filter((l) => /c:2\.05/.test(l) && /Observe:/.test(l));
    expect(obsLines.length).toBeGreaterThanOrEqual(4);
    const nums = obsLines.map((l) => Number(/Observe:(\d+)/.exec(l)![1]));
    for (let i = 1; i < nums.length; i++) expect(nums[i]).toBeGreaterThan(nums[i - 1]);
    expect(printed(run)).toMatch(/obs \d+/);
  });
  it("/.well-known/core in link format, and filtered with ?rt=obs*", async () => {
    const all = await coapClientAsync(["-B", "5", uri("/.well-known/core")]);
    expect(all.lines[1]).toContain("Content-Format:application/link-format");
    const links = parseLinks(printed(all).trim());
    expect(links.map((l) => l.href)).toEqual(["/test", "/large", "/upload", "/separate", "/obs"]);
    const filtered = await coapClientAsync(["-B", "5", uri("/.well-known/core?rt=obs*")]);
    expect(printed(filtered).trim()).toBe('</obs>;rt="observe";obs');
  });
  it("our server reported no errors", () => {
    expect(srv.errors).toEqual([]);
  });
});

describeWithPeer("coap-server-notls", "our CoapClient → libcoap coap-server-notls", () => {
  let peer: Peer;
  let me: ReturnType<typeof startOurClient>;
  const uri = (p: string) => `coap://127.0.0.1:${peer.port}${p}`;
  beforeAll(async () => {
    peer = await startCoapServer({ args: ["-d", "10"] });
    me = startOurClient();
  });
  afterAll(async () => {
    me.close();
    await peer.stop();
  });

  it("GET /time (CON) and GET / (NON)", async () => {
    const t = await me.client.get(uri("/time"));
    expect(t.status).toBe("2.05");
    expect(t.text()).toMatch(/\d\d:\d\d:\d\d/);
    const root = await me.client.get(uri("/"), { confirmable: false });
    expect(root.status).toBe("2.05");
    expect(root.type).toBe(1);
    expect(root.text()).toContain("libcoap");
  });
  it("PUT creates a dynamic resource (2.01), GET reads it, DELETE removes it (2.02), then 4.04", async () => {
    expect((await me.client.put(uri("/made-by-xs-iot"), "hello", { contentFormat: 0 })).status).toBe("2.01");
    expect((await me.client.get(uri("/made-by-xs-iot"))).text()).toBe("hello");
    expect((await me.client.delete(uri("/made-by-xs-iot"))).status).toBe("2.02");
    expect((await me.client.get(uri("/made-by-xs-iot"))).status).toBe("4.04");
  });
  it("POST → 2.01 with a Location-Path", async () => {
    const r = await me.client.post(uri("/test"), "x");
    expect(r.status).toBe("2.01");
    expect(r.locationPath.length).toBeGreaterThan(1);
  });
  it("Block1 upload of 4000 bytes in 256-byte blocks, then Block2 download of it (early negotiation 128)", async () => {
    const data = body(4000, 3);
    const put = await me.client.put(uri("/example_data"), data, { block1Size: 256, contentFormat: 0 });
    expect(put.ok).toBe(true);
    const got = await me.client.get(uri("/example_data"), { block2Size: 128 });
    expect(got.text()).toBe(data);
    expect(got.blocks).toBe(Math.ceil(4000 / 128));
    const whole = await me.client.get(uri("/example_data"));
    expect(whole.text()).toBe(data);
  });
  it("Observe /time: notifications arrive, then a proactive cancel (Observe 1) ends them", async () => {
    const got: CoapResponse[] = [];
    const obs = me.client.observe({ uri: uri("/time"), onNotify: (r) => got.push(r) });
    await new Promise((r) => setTimeout(r, 3500));
    expect(got.length).toBeGreaterThanOrEqual(3);
    const nums = got.map((r) => r.observe!);
    for (let i = 1; i < nums.length; i++) expect(nums[i]).toBeGreaterThan(nums[i - 1]);
    const bye = await obs.cancel();
    expect(bye!.status).toBe("2.05");
    const n = got.length;
    await new Promise((r) => setTimeout(r, 2000));
    expect(got.length).toBe(n);
  });
  it("Observe of a large resource (RFC 7959 §3.4): libcoap notifies /example_data block-wise, we fetch the rest", async () => {
    const first = body(3000, 5);
    expect((await me.client.put(uri("/example_data"), first, { contentFormat: 0 })).ok).toBe(true);
    const got: string[] = [];
    const obs = me.client.observe({ uri: uri("/example_data"), onNotify: (r) => got.push(r.text()), onError: (e) => got.push("error: " + (e as Error).message) });
    await new Promise((r) => setTimeout(r, 500));
    expect(got).toEqual([first]);
    const second = body(2600, 6);
    expect((await me.client.put(uri("/example_data"), second, { contentFormat: 0 })).ok).toBe(true);
    await new Promise((r) => setTimeout(r, 1000));
    expect(got[got.length - 1]).toBe(second);
    await obs.cancel();
  });
  it("/.well-known/core lists /time as observable", async () => {
    const r = await me.client.get(uri("/.well-known/core"));
    const time = parseLinks(r.text()).find((l) => l.href === "/time")!;
    expect(time.attributes!.obs).toBe(true);
    expect(time.attributes!.rt).toBe("ticks");
  });
  it("ping: libcoap answers the empty CON with RST", async () => {
    expect(await me.client.ping("127.0.0.1", peer.port)).toBe(true);
  });
  it("our client reported no errors", () => {
    expect(me.errors).toEqual([]);
  });
});
