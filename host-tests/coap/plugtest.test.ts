/*
 * The ETSI CoAP plugtest test descriptions (TD_COAP_CORE, TD_COAP_LINK,
 * TD_COAP_BLOCK, TD_COAP_OBS) run against `xs-iot coap-server --plugtest`,
 * started as a real process (bin/xs-iot.js), checked message by message with a
 * raw UDP client (our codec, no stack: every byte is the server's), and a few
 * with libcoap's coap-client-notls. docs/coap.md lists the outcome.
 */
import { spawn, type ChildProcess } from "child_process";
import * as dgram from "dgram";
import * as path from "path";
import {
  COAP_MEDIATYPE,
  COAP_MESSAGE,
  COAP_OPTION,
  codeString,
  type CoapMessageType,
} from "../../modules/coap/constants";
import { decode, encode, type CoapMessage } from "../../modules/coap/codec";
import { blockOption, blockSize, getBlock, getOption, getStrings, getUint, opaqueOption, stringOption, uintOption, type CoapOption } from "../../modules/coap/options";
import { parseLinks } from "../../modules/coap/link-parse";
import { freePort, describeWithPeer } from "../support/peers";
import { coapClientAsync, types } from "./interop-support";
import { coapServerCommand } from "../../sim/node/cli-coap";
import { UsageError } from "../../sim/node/cli-args";

jest.setTimeout(30000);

const ROOT = path.join(__dirname, "..", "..");
let proc: ChildProcess;
let port: number;
let output = "";

/** A raw CoAP endpoint: sends what it is told, records every datagram it gets. */
class Raw {
  sock = dgram.createSocket("udp4");
  inbox: CoapMessage[] = [];
  #waiters: (() => void)[] = [];
  #mid = Math.floor(Math.random() * 60000);
  constructor() {
    this.sock.on("message", (b) => {
      const r = decode(new Uint8Array(b));
      if (!r.ok) return;
      this.inbox.push(r.message);
      for (const w of this.#waiters.splice(0)) w();
    });
  }
  bind(): Promise<void> {
    return new Promise((r) => this.sock.bind(0, "127.0.0.1", () => r()));
  }
  close(): void {
    this.sock.close();
  }
  mid(): number {
    this.#mid = (this.#mid + 1) & 0xffff;
    return this.#mid;
  }
  send(m: { type?: CoapMessageType; code: number; messageId?: number; token?: Uint8Array; options?: CoapOption[]; payload?: Uint8Array | string }): CoapMessage {
    const msg: CoapMessage = {
      type: m.type ?? COAP_MESSAGE.CON,
      code: m.code,
      messageId: m.messageId ?? this.mid(),
      token: m.token ?? Uint8Array.of(0x42, this.#mid & 0xff),
      options: m.options ?? [],
      payload: typeof m.payload === "string" ? Uint8Array.from(Buffer.from(m.payload)) : m.payload ?? new Uint8Array(0),
    };
    this.sock.send(encode(msg), port, "127.0.0.1");
    return msg;
  }
  ack(m: CoapMessage): void {
    this.sock.send(encode({ type: COAP_MESSAGE.ACK, code: 0, messageId: m.messageId, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) }), port, "127.0.0.1");
  }
  rst(m: CoapMessage): void {
    this.sock.send(encode({ type: COAP_MESSAGE.RST, code: 0, messageId: m.messageId, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) }), port, "127.0.0.1");
  }
  /** The next message matching `pred` (removed from the inbox), or an error after `ms`. */
  async next(pred: (m: CoapMessage) => boolean, ms = 5000): Promise<CoapMessage> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.inbox.findIndex(pred);
      if (i >= 0) return this.inbox.splice(i, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("no matching message within " + ms + " ms");
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  /** Request/response: sends, waits for the response with the same token (ACKs a CON response). */
  async request(m: Parameters<Raw["send"]>[0], ms = 5000): Promise<CoapMessage> {
    const sent = this.send(m);
    const r = await this.next((x) => x.code !== 0 && same(x.token, sent.token), ms);
    if (r.type === COAP_MESSAGE.CON) this.ack(r);
    return r;
  }
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
const paths = (p: string): CoapOption[] => p.split("/").filter(Boolean).map((s) => stringOption(COAP_OPTION.URI_PATH, s));
const queries = (...q: string[]): CoapOption[] => q.map((s) => stringOption(COAP_OPTION.URI_QUERY, s));
const txt = (m: CoapMessage) => Buffer.from(m.payload).toString();
const GET = 1,
  POST = 2,
  PUT = 3,
  DELETE = 4;

let raw: Raw;

beforeAll(async () => {
  port = await freePort();
  proc = spawn(process.execPath, [path.join(ROOT, "bin", "xs-iot.js"), "coap-server", "--plugtest", "--port", String(port), "--observe-interval", "1000"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout!.on("data", (b) => (output += b));
  proc.stderr!.on("data", (b) => (output += b));
  const deadline = Date.now() + 20000;
  while (!/listening on coap:\/\/127\.0\.0\.1:\d+/.test(output)) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error("plugtest server did not start:\n" + output);
    await new Promise((r) => setTimeout(r, 50));
  }
  raw = new Raw();
  await raw.bind();
}, 30000);

afterAll(async () => {
  raw?.close();
  if (proc && proc.exitCode === null) {
    const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
    proc.kill("SIGTERM");
    await exited;
  }
});

beforeEach(() => {
  raw.inbox.length = 0;
});

describe("TD_COAP_CORE", () => {
  const METHOD: Record<string, number> = { GET, POST, PUT, DELETE };
  it.each([
    ["01", "CON", "GET", "2.05"],
    ["02", "CON", "DELETE", "2.02"],
    ["03", "CON", "PUT", "2.04"],
    ["04", "CON", "POST", "2.01"],
    ["05", "NON", "GET", "2.05"],
    ["06", "NON", "DELETE", "2.02"],
    ["07", "NON", "PUT", "2.04"],
    ["08", "NON", "POST", "2.01"],
  ])("TD_COAP_CORE_%s: %s %s /test → %s (piggybacked in the ACK for CON, NON for NON)", async (_td, typeName, methodName, code) => {
    const type = typeName === "CON" ? COAP_MESSAGE.CON : COAP_MESSAGE.NON;
    const method = METHOD[methodName as string];
    const payload = method === PUT || method === POST ? "Type: plugtest payload" : undefined;
    const options = paths("test");
    if (payload) options.push(uintOption(COAP_OPTION.CONTENT_FORMAT, COAP_MEDIATYPE.TEXT_PLAIN));
    const sent = raw.send({ type: type as CoapMessageType, code: method as number, options, payload });
    const r = await raw.next((m) => same(m.token, sent.token));
    expect(codeString(r.code)).toBe(code);
    if (type === COAP_MESSAGE.CON) {
      expect(r.type).toBe(COAP_MESSAGE.ACK);
      expect(r.messageId).toBe(sent.messageId);
    } else expect(r.type).toBe(COAP_MESSAGE.NON);
    if (method === GET) {
      expect(getUint(r, COAP_OPTION.CONTENT_FORMAT)).toBe(COAP_MEDIATYPE.TEXT_PLAIN);
      expect(r.payload.length).toBeGreaterThan(0);
    }
  });
  it("TD_COAP_CORE_09: GET /separate → empty ACK, then a CON 2.05 with the token; acknowledged, not repeated", async () => {
    const sent = raw.send({ code: GET, options: paths("separate") });
    const ack = await raw.next((m) => m.type === COAP_MESSAGE.ACK && m.messageId === sent.messageId);
    expect(ack.code).toBe(0);
    const r = await raw.next((m) => same(m.token, sent.token), 6000);
    expect([r.type, codeString(r.code), txt(r)]).toEqual([COAP_MESSAGE.CON, "2.05", "Type: separate response"]);
    raw.ack(r);
    await new Promise((res) => setTimeout(res, 3500));
    expect(raw.inbox.filter((m) => m.messageId === r.messageId).length).toBe(0);
  });
  it("TD_COAP_CORE_10: a request with an 8-byte token gets the same token back", async () => {
    const token = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    const r = await raw.request({ code: GET, token, options: paths("test") });
    expect(r.token).toEqual(token);
  });
  it("TD_COAP_CORE_11: a request with an empty token gets an empty token back", async () => {
    const sent = raw.send({ code: GET, token: new Uint8Array(0), options: paths("test") });
    const r = await raw.next((m) => m.messageId === sent.messageId);
    expect([codeString(r.code), r.token.length]).toEqual(["2.05", 0]);
  });
  it("TD_COAP_CORE_12: GET /seg1/seg2/seg3", async () => {
    const r = await raw.request({ code: GET, options: paths("seg1/seg2/seg3") });
    expect([codeString(r.code), txt(r)]).toEqual(["2.05", "Long path resource"]);
  });
  it("TD_COAP_CORE_13: GET /query?first=1&second=2&third=3", async () => {
    const r = await raw.request({ code: GET, options: [...paths("query"), ...queries("first=1", "second=2", "third=3")] });
    expect(codeString(r.code)).toBe("2.05");
    expect(txt(r)).toContain("first=1&second=2&third=3");
  });
  it("TD_COAP_CORE_14: lossy GET: a retransmitted CON (same Message ID) gets the same ACK from the dedup cache", async () => {
    const sent = raw.send({ code: GET, options: paths("test") });
    const first = await raw.next((m) => m.messageId === sent.messageId);
    raw.send({ code: GET, messageId: sent.messageId, token: sent.token, options: paths("test") });
    const second = await raw.next((m) => m.messageId === sent.messageId);
    expect(encode(second)).toEqual(encode(first));
  });
  it("TD_COAP_CORE_15: lossy separate response: an unacknowledged CON response is retransmitted with its Message ID", async () => {
    const sent = raw.send({ code: GET, options: paths("separate") });
    const r1 = await raw.next((m) => m.code !== 0 && same(m.token, sent.token), 6000);
    const r2 = await raw.next((m) => m.code !== 0 && same(m.token, sent.token), 6000);
    expect(r2.messageId).toBe(r1.messageId);
    raw.ack(r2);
  });
  it("TD_COAP_CORE_16: NON GET /separate → a NON 2.05 later, no ACK", async () => {
    const sent = raw.send({ type: COAP_MESSAGE.NON, code: GET, options: paths("separate") });
    const r = await raw.next((m) => same(m.token, sent.token), 6000);
    expect([r.type, codeString(r.code)]).toEqual([COAP_MESSAGE.NON, "2.05"]);
    expect(raw.inbox.some((m) => m.type === COAP_MESSAGE.ACK)).toBe(false);
  });
  it("TD_COAP_CORE_18: POST /test → 2.01 with Location-Path location1/location2/location3", async () => {
    const r = await raw.request({ code: POST, options: [...paths("test"), uintOption(COAP_OPTION.CONTENT_FORMAT, 0)], payload: "x" });
    expect(codeString(r.code)).toBe("2.01");
    expect(getStrings(r, COAP_OPTION.LOCATION_PATH)).toEqual(["location1", "location2", "location3"]);
  });
  it("TD_COAP_CORE_19: POST /location-query → 2.01 with Location-Query first=1, second=2", async () => {
    const r = await raw.request({ code: POST, options: paths("location-query"), payload: "x" });
    expect(getStrings(r, COAP_OPTION.LOCATION_QUERY)).toEqual(["first=1", "second=2"]);
  });
  it("TD_COAP_CORE_20: GET /multi-format with Accept text/plain, then application/xml", async () => {
    const t = await raw.request({ code: GET, options: [...paths("multi-format"), uintOption(COAP_OPTION.ACCEPT, 0)] });
    expect([codeString(t.code), getUint(t, COAP_OPTION.CONTENT_FORMAT)]).toEqual(["2.05", 0]);
    const x = await raw.request({ code: GET, options: [...paths("multi-format"), uintOption(COAP_OPTION.ACCEPT, COAP_MEDIATYPE.APPLICATION_XML)] });
    expect([codeString(x.code), getUint(x, COAP_OPTION.CONTENT_FORMAT)]).toEqual(["2.05", COAP_MEDIATYPE.APPLICATION_XML]);
    expect(txt(x)).toMatch(/^<.*>$/);
  });
  it("TD_COAP_CORE_21: GET /validate with the current ETag → 2.03; after a change → 2.05 with a new ETag", async () => {
    const a = await raw.request({ code: GET, options: paths("validate") });
    const etag = getOption(a, COAP_OPTION.ETAG)!.value;
    const v = await raw.request({ code: GET, options: [...paths("validate"), opaqueOption(COAP_OPTION.ETAG, etag)] });
    expect([codeString(v.code), v.payload.length]).toEqual(["2.03", 0]);
    expect(getOption(v, COAP_OPTION.ETAG)!.value).toEqual(etag);
    await raw.request({ code: PUT, options: [...paths("validate"), uintOption(COAP_OPTION.CONTENT_FORMAT, 0)], payload: "changed " + Date.now() });
    const c = await raw.request({ code: GET, options: [...paths("validate"), opaqueOption(COAP_OPTION.ETAG, etag)] });
    expect(codeString(c.code)).toBe("2.05");
    expect(getOption(c, COAP_OPTION.ETAG)!.value).not.toEqual(etag);
  });
  it("TD_COAP_CORE_22: PUT /validate with If-Match: the current ETag → 2.04, a stale one → 4.12", async () => {
    const a = await raw.request({ code: GET, options: paths("validate") });
    const etag = getOption(a, COAP_OPTION.ETAG)!.value;
    const ok = await raw.request({ code: PUT, options: [...paths("validate"), opaqueOption(COAP_OPTION.IF_MATCH, etag)], payload: "v2" });
    expect(codeString(ok.code)).toBe("2.04");
    const stale = await raw.request({ code: PUT, options: [...paths("validate"), opaqueOption(COAP_OPTION.IF_MATCH, etag)], payload: "v3" });
    expect(codeString(stale.code)).toBe("4.12");
  });
  it("TD_COAP_CORE_23: PUT /create1 with If-None-Match → 2.01, then 4.12", async () => {
    await raw.request({ code: DELETE, options: paths("create1") });
    const first = await raw.request({ code: PUT, options: [...paths("create1"), { number: COAP_OPTION.IF_NONE_MATCH, value: new Uint8Array(0) }], payload: "c" });
    expect(codeString(first.code)).toBe("2.01");
    const again = await raw.request({ code: PUT, options: [...paths("create1"), { number: COAP_OPTION.IF_NONE_MATCH, value: new Uint8Array(0) }], payload: "c" });
    expect(codeString(again.code)).toBe("4.12");
  });
  it("TD_COAP_CORE_31: CoAP ping (empty CON) → RST with the Message ID", async () => {
    const mid = raw.mid();
    raw.sock.send(Buffer.from([0x40, 0, mid >> 8, mid & 0xff]), port, "127.0.0.1");
    const r = await raw.next((m) => m.messageId === mid);
    expect([r.type, r.code]).toEqual([COAP_MESSAGE.RST, 0]);
  });
});

describe("TD_COAP_LINK", () => {
  const discover = async (...q: string[]) => {
    const r = await raw.request({ code: GET, options: [...paths(".well-known/core"), ...queries(...q)] });
    expect(codeString(r.code)).toBe("2.05");
    expect(getUint(r, COAP_OPTION.CONTENT_FORMAT)).toBe(COAP_MEDIATYPE.APPLICATION_LINK_FORMAT);
    return parseLinks(txt(r)).map((l) => l.href);
  };
  it("TD_COAP_LINK_01: GET /.well-known/core lists every resource", async () => {
    // the full document is over 1024 bytes: read it block-wise
    let body = "";
    for (let num = 0; ; num++) {
      const r = await raw.request({ code: GET, options: [...paths(".well-known/core"), blockOption(COAP_OPTION.BLOCK2, { num, more: false, szx: 6 })] });
      body += txt(r);
      if (!getBlock(r, COAP_OPTION.BLOCK2)!.more) break;
    }
    const hrefs = parseLinks(body).map((l) => l.href);
    for (const h of ["/test", "/separate", "/obs", "/large", "/link1", "/path/sub1", "/validate", "/create1", "/multi-format"]) expect(hrefs).toContain(h);
  });
  it("TD_COAP_LINK_02: ?rt=Type1", async () => expect(await discover("rt=Type1")).toEqual(["/link1", "/link3"]));
  it("TD_COAP_LINK_03: ?rt=* (any rt)", async () => expect(await discover("rt=*")).toEqual(["/link1", "/link2", "/link3", "/large", "/large-update", "/large-create", "/large-post", "/obs", "/obs-non", "/obs-large"]));
  it("TD_COAP_LINK_04: ?rt=Type2", async () => expect(await discover("rt=Type2")).toEqual(["/link1", "/link2"]));
  it("TD_COAP_LINK_05: ?if=If*", async () => expect(await discover("if=If*")).toEqual(["/link1", "/link2"]));
  it("TD_COAP_LINK_06: ?sz=*", async () => expect(await discover("sz=*")).toEqual(["/large", "/large-update", "/obs-large"]));
  it("TD_COAP_LINK_07: ?href=/link*", async () => expect(await discover("href=/link*")).toEqual(["/link1", "/link2", "/link3"]));
  it("TD_COAP_LINK_08: ?ct=40", async () => expect(await discover("ct=40")).toEqual(["/path"]));
  it("TD_COAP_LINK_09: GET /path lists its sub-resources; each answers", async () => {
    const r = await raw.request({ code: GET, options: paths("path") });
    expect(getUint(r, COAP_OPTION.CONTENT_FORMAT)).toBe(COAP_MEDIATYPE.APPLICATION_LINK_FORMAT);
    const subs = parseLinks(txt(r)).map((l) => l.href);
    expect(subs).toEqual(["/path/sub1", "/path/sub2", "/path/sub3"]);
    for (const s of subs) expect(codeString((await raw.request({ code: GET, options: paths(s) })).code)).toBe("2.05");
  });
});

describe("TD_COAP_BLOCK", () => {
  async function download(szx: number | undefined, p = "large"): Promise<{ body: string; blocks: number; sizes: Set<number> }> {
    let body = "";
    let num = 0;
    let size = szx;
    const sizes = new Set<number>();
    for (;;) {
      const options = paths(p);
      if (size !== undefined) options.push(blockOption(COAP_OPTION.BLOCK2, { num, more: false, szx: size }));
      const r = await raw.request({ code: GET, options });
      expect(codeString(r.code)).toBe("2.05");
      const b = getBlock(r, COAP_OPTION.BLOCK2)!;
      expect(b.num).toBe(num);
      sizes.add(blockSize(b.szx));
      body += txt(r);
      if (!b.more) return { body, blocks: num + 1, sizes };
      size = b.szx;
      num++;
    }
  }
  it("TD_COAP_BLOCK_01: GET /large with early negotiation (Block2 0/0/64)", async () => {
    const r = await download(2);
    expect(r.body.length).toBe(2300);
    expect([...r.sizes]).toEqual([64]);
  });
  it("TD_COAP_BLOCK_02: GET /large without Block2: the server starts a Block2 transfer", async () => {
    const first = await raw.request({ code: GET, options: paths("large") });
    expect(getBlock(first, COAP_OPTION.BLOCK2)).toEqual({ num: 0, more: true, szx: 6 });
    const r = await download(undefined);
    expect(r.body.length).toBe(2300);
    expect(r.blocks).toBe(3);
  });
  async function upload(method: number, p: string, data: string, szx: number, finalCode = method === PUT ? "2.04" : "2.01"): Promise<CoapMessage> {
    const bytes = Buffer.from(data);
    const size = blockSize(szx);
    let last: CoapMessage | undefined;
    for (let num = 0; num * size < bytes.length; num++) {
      const more = (num + 1) * size < bytes.length;
      last = await raw.request({ code: method, options: [...paths(p), blockOption(COAP_OPTION.BLOCK1, { num, more, szx })], payload: Uint8Array.from(bytes.subarray(num * size, (num + 1) * size)) });
      expect(codeString(last.code)).toBe(more ? "2.31" : finalCode);
      expect(getBlock(last, COAP_OPTION.BLOCK1)!.num).toBe(num);
    }
    return last!;
  }
  it("TD_COAP_BLOCK_03: PUT /large-update with Block1 (256): 2.31 … 2.04, then GET returns it", async () => {
    const data = "block-03 " + "x".repeat(1500) + " end";
    await upload(PUT, "large-update", data, 4);
    const r = await download(6, "large-update");
    expect(r.body).toBe(data);
  });
  it("TD_COAP_BLOCK_04: POST /large-create with Block1 (128): 2.31 … 2.01 with a Location-Path", async () => {
    const last = await upload(POST, "large-create", "block-04 " + "y".repeat(1200), 3);
    expect(getStrings(last, COAP_OPTION.LOCATION_PATH)[0]).toBe("large-create");
  });
  it("TD_COAP_BLOCK_05: POST /large-post with Block1 (256), answered with Block2; the rest fetched by POST + Block2 (RFC 7959 §2.6)", async () => {
    const sentBody = "block-05 " + "z".repeat(700);
    const last = await upload(POST, "large-post", sentBody, 4, "2.04");
    const b2 = getBlock(last, COAP_OPTION.BLOCK2)!;
    expect(b2).toEqual({ num: 0, more: true, szx: 6 });
    let body = txt(last);
    for (let num = 1; ; num++) {
      const r = await raw.request({ code: POST, options: [...paths("large-post"), blockOption(COAP_OPTION.BLOCK2, { num, more: false, szx: 6 })] });
      expect(codeString(r.code)).toBe("2.04");
      body += txt(r);
      if (!getBlock(r, COAP_OPTION.BLOCK2)!.more) break;
    }
    expect(body.startsWith(sentBody.toUpperCase() + "\n")).toBe(true);
    expect(body.length).toBe(sentBody.length + 1 + 1200);
  });
  it("TD_COAP_BLOCK_06: GET /large with 16-byte blocks", async () => {
    const r = await download(0);
    expect(r.body.length).toBe(2300);
    expect(r.blocks).toBe(Math.ceil(2300 / 16));
  });
});

describe("TD_COAP_OBS", () => {
  async function register(p: string, extra: CoapOption[] = []) {
    const sent = raw.send({ code: GET, options: [uintOption(COAP_OPTION.OBSERVE, 0), ...paths(p), ...extra] });
    const first = await raw.next((m) => same(m.token, sent.token));
    return { token: sent.token, first };
  }
  const notification = (token: Uint8Array, ms = 3000) => raw.next((m) => m.code !== 0 && same(m.token, token), ms);

  it("TD_COAP_OBS_01: GET /obs with Observe 0 → 2.05 with Observe; CON notifications with increasing numbers and Max-Age", async () => {
    const { token, first } = await register("obs");
    expect(codeString(first.code)).toBe("2.05");
    const seq = [getUint(first, COAP_OPTION.OBSERVE)!];
    for (let i = 0; i < 2; i++) {
      const n = await notification(token);
      expect(n.type).toBe(COAP_MESSAGE.CON);
      expect(getUint(n, COAP_OPTION.MAX_AGE)).toBeGreaterThan(0); // OBS_03: the client can tell when to expect the next one
      seq.push(getUint(n, COAP_OPTION.OBSERVE)!);
      raw.ack(n);
    }
    expect(seq[1]).toBeGreaterThan(seq[0]);
    expect(seq[2]).toBeGreaterThan(seq[1]);
    await raw.request({ code: GET, token, options: [uintOption(COAP_OPTION.OBSERVE, 1), ...paths("obs")] });
  });
  it("TD_COAP_OBS_02/05: a RST to a notification ends the observation", async () => {
    const { token } = await register("obs");
    const n = await notification(token);
    raw.rst(n);
    await new Promise((r) => setTimeout(r, 2500));
    expect(raw.inbox.filter((m) => same(m.token, token)).length).toBe(0);
  });
  it("TD_COAP_OBS_06/10: a GET without Observe with the same token ends the observation", async () => {
    const { token } = await register("obs");
    const plain = await raw.request({ code: GET, token, options: paths("obs") });
    expect(getUint(plain, COAP_OPTION.OBSERVE)).toBeUndefined();
    raw.inbox.length = 0;
    await new Promise((r) => setTimeout(r, 2500));
    expect(raw.inbox.filter((m) => same(m.token, token) && m.code !== 0).length).toBe(0);
  });
  it("TD_COAP_OBS_09: PUT /obs → the observer is notified of the new value at once", async () => {
    const { token } = await register("obs");
    await raw.request({ code: PUT, options: [...paths("obs"), uintOption(COAP_OPTION.CONTENT_FORMAT, 0)], payload: "new value 09" });
    // a periodic notification may already be on its way: take notifications until the new value
    let n = await notification(token, 1500);
    while (txt(n) !== "new value 09") {
      if (n.type === COAP_MESSAGE.CON) raw.ack(n);
      n = await notification(token, 1500);
    }
    expect(txt(n)).toBe("new value 09");
    if (n.type === COAP_MESSAGE.CON) raw.ack(n);
    await raw.request({ code: GET, token, options: [uintOption(COAP_OPTION.OBSERVE, 1), ...paths("obs")] });
  });
  it("TD_COAP_OBS_08: registered with Accept text/plain, a PUT in another Content-Format ends it with 4.06", async () => {
    const { token } = await register("obs", [uintOption(COAP_OPTION.ACCEPT, 0)]);
    await raw.request({ code: PUT, options: [...paths("obs"), uintOption(COAP_OPTION.CONTENT_FORMAT, COAP_MEDIATYPE.APPLICATION_XML)], payload: "<v>08</v>" });
    const n = await notification(token, 1500);
    expect(codeString(n.code)).toBe("4.06");
    if (n.type === COAP_MESSAGE.CON) raw.ack(n);
  });
  it("TD_COAP_OBS_07: DELETE /obs → observers get 4.04", async () => {
    const { token } = await register("obs");
    const del = await raw.request({ code: DELETE, options: paths("obs") });
    expect(codeString(del.code)).toBe("2.02");
    const n = await raw.next((m) => same(m.token, token) && m.code >> 5 === 4, 3000);
    expect(codeString(n.code)).toBe("4.04");
    if (n.type === COAP_MESSAGE.CON) raw.ack(n);
  });
  it("TD_COAP_OBS_11-style: /obs-non notifies in NON messages", async () => {
    const { token } = await register("obs-non");
    const n = await notification(token);
    expect(n.type).toBe(COAP_MESSAGE.NON);
    raw.rst(n);
  });
  it("TD_COAP_OBS_12-style: /obs-large notifies block 0 with M=1 and an ETag; the rest by GET with Block2", async () => {
    const { token } = await register("obs-large");
    const n = await notification(token);
    expect(getBlock(n, COAP_OPTION.BLOCK2)).toEqual({ num: 0, more: true, szx: 6 });
    const etag = getOption(n, COAP_OPTION.ETAG)!.value;
    const rest = await raw.request({ code: GET, options: [...paths("obs-large"), blockOption(COAP_OPTION.BLOCK2, { num: 1, more: false, szx: 6 })] });
    expect(getBlock(rest, COAP_OPTION.BLOCK2)!.more).toBe(false);
    expect(n.payload.length + rest.payload.length).toBe(1500);
    expect(getOption(rest, COAP_OPTION.ETAG)!.value.length).toBe(etag.length);
    raw.rst(n);
  });
});

describeWithPeer("coap-client-notls", "plugtest with libcoap's client", () => {
  it("CORE_01 GET /test, BLOCK_01 GET /large with -b 64, OBS_01 -s 3 /obs", async () => {
    const get = await coapClientAsync(["-B", "5", `coap://127.0.0.1:${port}/test`]);
    expect(types(get)).toEqual(["CON GET", "ACK 2.05"]);
    const large = await coapClientAsync(["-b", "64", "-B", "15", `coap://127.0.0.1:${port}/large`]);
    expect(large.body.length).toBe(2300);
    const obs = await coapClientAsync(["-s", "3", "-B", "5", `coap://127.0.0.1:${port}/obs`]);
    expect(types(obs).filter((t) => t === "CON 2.05").length).toBeGreaterThanOrEqual(2);
  });
});

describe("coapServerCommand flags (in process)", () => {
  let log: jest.SpyInstance;
  beforeEach(() => {
    log = jest.spyOn(console, "log").mockImplementation(() => undefined);
  });
  afterEach(() => log.mockRestore());
  it.each([[["--port", "x"]], [["--port", "70000"]], [["--address", "localhost"]], [["--address", "10.0.0.300"]], [["--duration", "-1"]], [["--bogus"]], [["extra"]]])("%j is a UsageError (exit code 2)", async (argv) => {
    await expect(coapServerCommand(argv as string[])).rejects.toThrow(UsageError);
  });
  it("--help prints the flags and returns 0", async () => {
    expect(await coapServerCommand(["--help"])).toBe(0);
    expect(String(log.mock.calls[0][0])).toContain("--plugtest");
  });
  it("--duration stops by itself, returning 0; the port was served meanwhile", async () => {
    const p = await freePort();
    const run = coapServerCommand(["--port", String(p), "--duration", "1.5"]);
    await new Promise((r) => setTimeout(r, 500));
    const r = new Raw();
    await r.bind();
    const mid = r.mid();
    r.sock.send(Buffer.from([0x40, 0x01, mid >> 8, mid & 0xff, 0xb5, 0x68, 0x65, 0x6c, 0x6c, 0x6f]), p, "127.0.0.1"); // CON GET /hello
    const answer = await r.next((m) => m.messageId === mid, 2000);
    r.close();
    expect(Buffer.from(answer.payload).toString()).toBe("Hello from xs-iot");
    expect(await run).toBe(0);
    expect(log.mock.calls.map((c) => String(c[0]))).toContain(`coap-server: listening on coap://127.0.0.1:${p}`);
  });
  it("a port already in use: exit code 1", async () => {
    const err = jest.spyOn(console, "error").mockImplementation(() => undefined);
    expect(await coapServerCommand(["--port", String(port), "--duration", "1"])).toBe(1);
    err.mockRestore();
  });
});

describe("the coap-server command", () => {
  it("prints where it listens and stops cleanly on SIGTERM (exit code 0)", async () => {
    expect(output).toMatch(new RegExp(`listening on coap://127\\.0\\.0\\.1:${port} \\(ETSI plugtest resources\\)`));
    const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
    proc.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(output).toContain("stopping (SIGTERM)");
  });
});
