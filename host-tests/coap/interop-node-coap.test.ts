/*
 * Interop with node-coap (npm `coap` 1.x) both ways, on real UDP:
 *  - node-coap's client against our CoapServer: GET/PUT/POST/DELETE, NON,
 *    Observe, Block2 (their client reassembles), Block1 (their "type 1" blockwise);
 *  - our CoapClient against node-coap's server: the same methods, Observe
 *    (their ObserveWriteStream), Block2 of a large response (their server splits it).
 */
import * as coap from "coap";
import { COAP_MEDIATYPE, COAP_RESPONSE } from "../../modules/coap/constants";
import type { CoapResponse } from "../../modules/coap/client";
import { startOurClient, startOurServer } from "./interop-support";

jest.setTimeout(30000);

function body(n: number, seed: number): string {
  let s = "";
  for (let i = 0; s.length < n; i++) s += `${seed}/${i} lorem ipsum dolor sit amet\n`;
  return s.slice(0, n);
}

interface Reply {
  code: string;
  payload: string;
  headers: Record<string, unknown>;
  options: { name: string | number; value: Buffer }[];
}

function nodeRequest(opts: Record<string, unknown>, payload?: string | Buffer, setup?: (req: any) => void): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = coap.request({ hostname: "127.0.0.1", agent: new coap.Agent({ type: "udp4" }), ...opts } as any);
    setup?.(req);
    req.on("response", (res: any) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ code: res.code, payload: Buffer.concat(chunks).toString(), headers: res.headers, options: res.options }));
    });
    req.on("error", reject);
    req.on("timeout", () => reject(new Error("node-coap timeout")));
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

describe("node-coap client → our CoapServer", () => {
  let srv: Awaited<ReturnType<typeof startOurServer>>;
  let state = "zero";
  let uploaded = "";
  let value = 0;
  beforeAll(async () => {
    srv = await startOurServer(0, { notificationInterval: 0 });
    srv.server.add("/state", {
      ct: COAP_MEDIATYPE.TEXT_PLAIN,
      get: () => ({ payload: state, contentFormat: COAP_MEDIATYPE.TEXT_PLAIN }),
      put: (req) => void (state = req.text()),
      post: (req) => ({ code: COAP_RESPONSE.CREATED, locationPath: "/state/" + req.text() }),
      delete: () => void (state = ""),
    });
    srv.server.add("/large", { get: () => ({ payload: body(2500, 7) }) });
    srv.server.add("/upload", { maxBodySize: 10000, put: (req) => void (uploaded = req.text()) });
    const obs = srv.server.add("/obs", { observable: true, get: () => ({ payload: "v" + value }) });
    srv.scheduler.schedule({ name: "change", deadline: srv.clock.now() + 300, run: (now, j) => (value++, obs.notify(), j.reschedule(now + 300)) });
  });
  afterAll(() => srv.close());

  it("GET, PUT, POST (2.01 + Location-Path), DELETE", async () => {
    const port = srv.port;
    expect(await nodeRequest({ port, pathname: "/state" })).toMatchObject({ code: "2.05", payload: "zero" });
    expect((await nodeRequest({ port, pathname: "/state", method: "PUT" }, "one")).code).toBe("2.04");
    expect(state).toBe("one");
    const post = await nodeRequest({ port, pathname: "/state", method: "POST" }, "x");
    expect(post.code).toBe("2.01");
    expect(post.options.filter((o) => o.name === "Location-Path").map((o) => o.value.toString())).toEqual(["state", "x"]);
    expect((await nodeRequest({ port, pathname: "/state", method: "DELETE" })).code).toBe("2.02");
    expect((await nodeRequest({ port, pathname: "/nowhere" })).code).toBe("4.04");
  });
  it("NON request", async () => {
    const r = await nodeRequest({ port: srv.port, pathname: "/state", confirmable: false });
    expect(r.code).toBe("2.05");
  });
  it("Block2: node-coap reassembles our 2500-byte representation", async () => {
    const r = await nodeRequest({ port: srv.port, pathname: "/large" }, undefined, (req) => req.setOption("Block2", Buffer.of(0x2)));
    expect(r.payload).toBe(body(2500, 7));
  });
  it("Block1: node-coap's blockwise upload arrives whole", async () => {
    const data = body(3000, 9);
    const r = await nodeRequest({ port: srv.port, pathname: "/upload", method: "PUT" }, data, (req) => req.setOption("Block1", Buffer.of(0x4)));
    expect(r.code).toBe("2.04");
    expect(uploaded).toBe(data);
  });
  it("Observe: notifications stream in, in order", async () => {
    const got: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = coap.request({ hostname: "127.0.0.1", port: srv.port, pathname: "/obs", observe: true, agent: new coap.Agent({ type: "udp4" }) } as any);
      req.on("response", (res: any) => {
        res.on("data", (c: Buffer) => {
          got.push(c.toString());
          if (got.length === 4) {
            res.close();
            resolve();
          }
        });
      });
      req.on("error", reject);
      req.end();
    });
    const nums = got.map((s) => Number(s.slice(1)));
    for (let i = 1; i < nums.length; i++) expect(nums[i]).toBeGreaterThan(nums[i - 1]);
  });
  it("our server reported no errors", () => {
    expect(srv.errors).toEqual([]);
  });
});

describe("our CoapClient → node-coap server", () => {
  let server: any;
  let port: number;
  let me: ReturnType<typeof startOurClient>;
  let stored = "";
  const uri = (p: string) => `coap://127.0.0.1:${port}${p}`;
  beforeAll(async () => {
    server = coap.createServer({ type: "udp4" } as any);
    server.on("request", (req: any, res: any) => {
      const url: string = req.url;
      if (url === "/obs" && req.headers.Observe === 0) {
        let n = 0;
        res.write("n" + n);
        const t = setInterval(() => {
          n++;
          try {
            res.write("n" + n);
          } catch {
            clearInterval(t);
          }
        }, 200);
        res.on("finish", () => clearInterval(t));
        return;
      }
      if (url === "/big") return res.end(body(3000, 4));
      if (url.startsWith("/item")) {
        switch (req.method) {
          case "GET":
            return res.end(stored || "empty");
          case "PUT":
            stored = req.payload.toString();
            res.code = "2.04";
            return res.end();
          case "POST":
            res.code = "2.01";
            res.setOption("Location-Path", [Buffer.from("item"), Buffer.from("2")]);
            return res.end();
          case "DELETE":
            stored = "";
            res.code = "2.02";
            return res.end();
        }
      }
      res.code = "4.04";
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = server._sock.address().port;
    me = startOurClient();
  });
  afterAll(async () => {
    me.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("GET, PUT, POST, DELETE", async () => {
    expect((await me.client.get(uri("/item"))).text()).toBe("empty");
    expect((await me.client.put(uri("/item"), "hello")).status).toBe("2.04");
    expect((await me.client.get(uri("/item"))).text()).toBe("hello");
    const post = await me.client.post(uri("/item"), "x");
    expect([post.status, post.locationPath]).toEqual(["2.01", "/item/2"]);
    expect((await me.client.delete(uri("/item"))).status).toBe("2.02");
    expect((await me.client.get(uri("/unknown"))).status).toBe("4.04");
  });
  it("NON request gets an answer", async () => {
    const r = await me.client.get(uri("/item"), { confirmable: false });
    expect(r.status).toBe("2.05");
  });
  it("Block2: their server splits a 3000-byte response, we reassemble it", async () => {
    const r = await me.client.get(uri("/big"), { block2Size: 512 });
    expect(r.text()).toBe(body(3000, 4));
    expect(r.blocks).toBe(6);
  });
  it("Observe: fresh notifications in order, then cancel", async () => {
    const got: CoapResponse[] = [];
    const obs = me.client.observe({ uri: uri("/obs"), onNotify: (r) => got.push(r) });
    await new Promise((r) => setTimeout(r, 1200));
    expect(got.length).toBeGreaterThanOrEqual(4);
    const ns = got.map((r) => Number(r.text().slice(1)));
    for (let i = 1; i < ns.length; i++) expect(ns[i]).toBeGreaterThan(ns[i - 1]);
    obs.forget();
    expect(obs.active).toBe(false);
  });
  it("our client reported no errors", () => {
    expect(me.errors).toEqual([]);
  });
});
