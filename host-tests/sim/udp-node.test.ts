import * as dgram from "node:dgram";
import { UDP } from "../../sim/node/udp";
import { delay, waitFor } from "./node-helpers";

describe("sim/node UDP: ECMA-419 §10 UDP socket over dgram", () => {
  const open: UDP[] = [];
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });

  function bound(options: ConstructorParameters<typeof UDP>[0] = {}) {
    let port = 0;
    const socket = new UDP({ address: "127.0.0.1", ...options, onWritable: (p) => (port = p) });
    open.push(socket);
    return { socket, ready: () => waitFor(() => port > 0).then(() => port) };
  }

  it("exchanges datagrams; read() carries the sender's address and port", async () => {
    const counts: number[] = [];
    const a = bound({ onReadable: (n) => counts.push(n) });
    const b = bound();
    const pa = await a.ready();
    const pb = await b.ready();
    expect(a.socket.port).toBe(pa);
    b.socket.write(Buffer.from("one"), "127.0.0.1", pa);
    b.socket.write(new Uint8Array([0x74, 0x77, 0x6f]), "127.0.0.1", pa);
    await waitFor(() => counts.length === 2);
    expect(counts).toEqual([1, 2]);
    const first = a.socket.read()!;
    expect(Buffer.from(first).toString()).toBe("one");
    expect(first.address).toBe("127.0.0.1");
    expect(first.port).toBe(pb);
    const buffer = new Uint8Array(8);
    expect(a.socket.read(buffer)).toBe(3);
    expect(Buffer.from(buffer.subarray(0, 3)).toString()).toBe("two");
    expect(a.socket.read()).toBeUndefined();
  });

  it("talks to a plain dgram peer", async () => {
    const peer = dgram.createSocket("udp4");
    await new Promise<void>((r) => peer.bind(0, "127.0.0.1", () => r()));
    try {
      peer.on("message", (msg, rinfo) => peer.send(Buffer.from(msg.toString().toUpperCase()), rinfo.port, rinfo.address));
      const got: string[] = [];
      const s = bound({
        onReadable() {
          got.push(Buffer.from(this.read()!).toString());
        },
      });
      await s.ready();
      s.socket.write(Buffer.from("coap"), "127.0.0.1", peer.address().port);
      await waitFor(() => got.length > 0);
      expect(got).toEqual(["COAP"]);
    } finally {
      peer.close();
    }
  });

  it("read(buffer) throws when the buffer is too small and keeps the datagram", async () => {
    const a = bound({ onReadable() {} });
    const b = bound();
    const pa = await a.ready();
    await b.ready();
    b.socket.write(new Uint8Array(10), "127.0.0.1", pa);
    await waitFor(() => {
      try {
        return a.socket.read(new Uint8Array(4)) !== undefined;
      } catch {
        return true;
      }
    });
    expect(() => a.socket.read(new Uint8Array(4))).toThrow("too small");
    expect(a.socket.read(new Uint8Array(10))).toBe(10);
  });

  it("drops datagrams beyond the receive queue and counts them", async () => {
    const a = bound({ receiveQueue: 2 });
    const b = bound();
    const pa = await a.ready();
    await b.ready();
    for (let i = 0; i < 5; i++) b.socket.write(Uint8Array.of(i), "127.0.0.1", pa);
    await waitFor(() => a.socket.dropped === 3);
    await delay(20);
    expect(new Uint8Array(a.socket.read()!)[0]).toBe(0);
    expect(new Uint8Array(a.socket.read()!)[0]).toBe(1);
    expect(a.socket.read()).toBeUndefined();
  });

  it("reports binding a port in use through onError", async () => {
    const a = bound();
    const port = await a.ready();
    const errors: Error[] = [];
    const b = new UDP({ address: "127.0.0.1", port, onError: (e) => errors.push(e!) });
    open.push(b);
    await waitFor(() => errors.length > 0);
    expect((errors[0] as NodeJS.ErrnoException).code).toBe("EADDRINUSE");
  });

  it("after close(): no callback, methods throw, close twice is fine", async () => {
    let calls = 0;
    const a = bound({ onReadable: () => calls++ });
    const b = bound();
    const pa = await a.ready();
    await b.ready();
    a.socket.close();
    a.socket.close();
    b.socket.write(Uint8Array.of(1), "127.0.0.1", pa);
    await delay(30);
    expect(calls).toBe(0);
    expect(() => a.socket.read()).toThrow("closed");
    expect(() => a.socket.write(Uint8Array.of(1), "127.0.0.1", 1)).toThrow("closed");
  });

  it("write validates its arguments", async () => {
    const a = bound();
    await a.ready();
    expect(() => a.socket.write(Uint8Array.of(1), "localhost", 1)).toThrow(TypeError);
    expect(() => a.socket.write(Uint8Array.of(1), "127.0.0.1", 0)).toThrow(RangeError);
    expect(() => a.socket.write("x" as never, "127.0.0.1", 1)).toThrow(TypeError);
    expect(() => a.socket.write(new Uint8Array(65508), "127.0.0.1", 1)).toThrow(RangeError);
  });

  it.each([
    ["port 70000", { port: 70000 }],
    ["an IPv6 address", { address: "::1" }],
    ["a non-function onReadable", { onReadable: "x" }],
    ["receiveQueue 0", { receiveQueue: 0 }],
  ])("the constructor rejects %s", (_what, options) => {
    expect(() => new UDP(options as never)).toThrow();
  });
});
