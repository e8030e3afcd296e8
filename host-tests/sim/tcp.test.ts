import { Listener, TCP } from "../../sim/node/tcp";
import { delay, freePort, startServer, waitFor } from "./node-helpers";

type Server = Awaited<ReturnType<typeof startServer>>;

describe("sim/node TCP: ECMA-419 §10 TCP socket over Node net", () => {
  let echo: Server;
  const open: TCP[] = [];

  beforeAll(async () => {
    echo = await startServer((socket) => socket.on("data", (d) => socket.write(d)));
  });

  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });

  afterAll(async () => {
    await echo.close();
  });

  function connect(options: Partial<ConstructorParameters<typeof TCP>[0]> = {}, port = echo.port) {
    const events: string[] = [];
    const errors: Error[] = [];
    const writable: number[] = [];
    const readable: number[] = [];
    const socket = new TCP({
      address: "127.0.0.1",
      port,
      onWritable(n) {
        events.push("writable");
        writable.push(n);
      },
      onReadable(n) {
        events.push("readable");
        readable.push(n);
      },
      onError(e) {
        events.push("error");
        errors.push(e!);
      },
      ...options,
    });
    open.push(socket);
    return { socket, events, errors, writable, readable };
  }

  it("calls onWritable first on connect, with the whole output buffer, never from inside the constructor (§8)", async () => {
    const { socket, events, writable } = connect();
    expect(events).toEqual([]);
    await waitFor(() => events.length > 0);
    expect(events).toEqual(["writable"]);
    expect(writable).toEqual([8192]);
    expect(socket.remoteAddress).toBe("127.0.0.1");
    expect(socket.remotePort).toBe(echo.port);
    expect(socket.format).toBe("buffer");
  });

  it("writes, and reads the echo with read(), read(n) and read(buffer); read never waits", async () => {
    const { socket, writable, readable } = connect();
    await waitFor(() => writable.length > 0);
    expect(socket.read()).toBeUndefined();
    expect(socket.write(Buffer.from("hello world"))).toBe(8192 - 11);
    await waitFor(() => socket.readable >= 11);
    expect(readable[readable.length - 1]).toBe(11);
    expect(Buffer.from(socket.read(5)!).toString()).toBe("hello");
    const target = new Uint8Array(4);
    expect(socket.read(target)).toBe(4);
    expect(Buffer.from(target).toString()).toBe(" wor");
    expect(Buffer.from(socket.read()!).toString()).toBe("ld");
    expect(socket.read()).toBeUndefined();
    expect(socket.read(10)).toBeUndefined();
  });

  it("write() throws and writes nothing when the data does not fit the output buffer (§9 write)", async () => {
    const sink = await startServer();
    try {
      const { socket, writable } = connect({ outputBufferSize: 16 }, sink.port);
      await waitFor(() => writable.length > 0);
      expect(socket.write(Buffer.from("0123456789"))).toBe(6);
      expect(() => socket.write(Buffer.from("abcdefg"))).toThrow("do not fit");
      await waitFor(() => sink.bytes().length >= 10);
      await delay(20);
      expect(sink.bytes().toString()).toBe("0123456789");
    } finally {
      await sink.close();
    }
  });

  it("calls onWritable again once written bytes have drained", async () => {
    const { socket, writable } = connect({ outputBufferSize: 16 });
    await waitFor(() => writable.length === 1);
    expect(socket.write(new Uint8Array(16))).toBe(0);
    expect(socket.writable).toBe(0);
    await waitFor(() => writable.length === 2);
    expect(writable[1]).toBe(16);
    expect(socket.write(new Uint8Array(16))).toBe(0);
  });

  it("write() copies the data: changing the buffer afterwards does not change what is sent", async () => {
    const sink = await startServer();
    try {
      const { socket, writable } = connect({}, sink.port);
      await waitFor(() => writable.length > 0);
      const data = Buffer.from("abc");
      socket.write(data);
      data.fill(0x7a);
      await waitFor(() => sink.bytes().length >= 3);
      expect(sink.bytes().toString()).toBe("abc");
    } finally {
      await sink.close();
    }
  });

  it("throws when written before the connection is up", () => {
    const { socket } = connect();
    expect(() => socket.write(Buffer.from("x"))).toThrow("not connected");
  });

  it("calls onError when the connection is refused", async () => {
    const port = await freePort();
    const { events, errors } = connect({}, port);
    await waitFor(() => errors.length > 0);
    expect(events).toEqual(["error"]);
    expect((errors[0] as NodeJS.ErrnoException).code).toBe("ECONNREFUSED");
  });

  it("calls onError when the peer resets the connection; later writes throw", async () => {
    const server = await startServer();
    try {
      const { socket, writable, errors } = connect({}, server.port);
      await waitFor(() => writable.length > 0 && server.sockets.length > 0);
      server.sockets[0].resetAndDestroy();
      await waitFor(() => errors.length > 0);
      expect((errors[0] as NodeJS.ErrnoException).code).toBe("ECONNRESET");
      expect(() => socket.write(Buffer.from("x"))).toThrow("failed");
      await delay(20);
      expect(errors).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  it("calls onError when the peer closes, after delivering what it sent before", async () => {
    const server = await startServer((s) => s.end("bye"));
    try {
      const { socket, events, errors } = connect({}, server.port);
      await waitFor(() => errors.length > 0);
      expect(events).toEqual(["writable", "readable", "error"]);
      expect(errors[0].message).toMatch(/closed by the remote/);
      expect(Buffer.from(socket.read()!).toString()).toBe("bye");
    } finally {
      await server.close();
    }
  });

  it("close(): data written before it is sent, then FIN; no callback after; methods throw; close twice is fine", async () => {
    const ended: boolean[] = [];
    const server = await startServer((s) => {
      s.on("end", () => ended.push(true));
      setTimeout(() => s.write("late"), 30);
    });
    try {
      const { socket, writable, events } = connect({}, server.port);
      await waitFor(() => writable.length > 0);
      socket.write(Buffer.from("last words"));
      socket.close();
      socket.close();
      await waitFor(() => ended.length > 0);
      expect(server.bytes().toString()).toBe("last words");
      await delay(60);
      expect(events).toEqual(["writable"]);
      expect(() => socket.read()).toThrow("closed");
      expect(() => socket.write(Buffer.from("x"))).toThrow("closed");
    } finally {
      await server.close();
    }
  });

  it("invokes callbacks with this = the socket (§8 Callbacks)", async () => {
    let self: unknown;
    const socket = new TCP({
      address: "127.0.0.1",
      port: echo.port,
      onWritable() {
        self = this;
      },
    });
    open.push(socket);
    await waitFor(() => self !== undefined);
    expect(self).toBe(socket);
  });

  it("applies input back-pressure and still delivers every byte in order", async () => {
    const payload = Buffer.alloc(200_000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const server = await startServer((s) => s.end(payload));
    try {
      const chunks: Buffer[] = [];
      let max = 0;
      const socket = new TCP({
        address: "127.0.0.1",
        port: server.port,
        inputBufferSize: 4096,
        onReadable(n) {
          max = Math.max(max, n);
          // a slow reader: takes 1000 bytes per callback, the rest stays buffered
          const got = this.read(1000);
          if (got) chunks.push(Buffer.from(got));
        },
        onError() {},
      });
      open.push(socket);
      await waitFor(() => {
        const extra = socket.readable ? socket.read(1000) : undefined;
        if (extra) chunks.push(Buffer.from(extra));
        return Buffer.concat(chunks).length >= payload.length;
      }, 10000);
      expect(Buffer.concat(chunks).equals(payload)).toBe(true);
      expect(max).toBeLessThan(4096 + 65536 + 1);
    } finally {
      await server.close();
    }
  });

  it.each([
    ["no options", undefined, TypeError],
    ["no address or host", { port: 1 }, TypeError],
    ["a non-IP address", { address: "localhost", port: 1 }, TypeError],
    ["port 0", { address: "127.0.0.1", port: 0 }, RangeError],
    ["port 65536", { address: "127.0.0.1", port: 65536 }, RangeError],
    ["a non-function onReadable", { address: "127.0.0.1", port: 1, onReadable: 1 }, TypeError],
    ["outputBufferSize 0", { address: "127.0.0.1", port: 1, outputBufferSize: 0 }, RangeError],
    ["format number", { address: "127.0.0.1", port: 1, format: "number" }, Error],
    ["a non-TCP from", { from: {} }, TypeError],
  ])("the constructor rejects %s", (_what, options, error) => {
    expect(() => new TCP(options as never)).toThrow(error as ErrorConstructor);
  });

  it("connects by host name (host extension)", async () => {
    const { socket, writable } = connect({ address: undefined, host: "localhost" });
    await waitFor(() => writable.length > 0 || socket.writable > 0, 5000);
    expect(writable.length).toBe(1);
  });

  it("format cannot be set to anything but buffer", () => {
    const { socket } = connect();
    expect(() => (socket.format = "number")).toThrow("unsupported format");
  });
});

describe("sim/node Listener: ECMA-419 §10 TCP listener socket", () => {
  it("accepts a connection; new TCP({from}) takes it over with its own callbacks", async () => {
    const accepted: TCP[] = [];
    let port = 0;
    let requests = 0;
    const listener = new Listener({
      port: 0,
      onListening: (p) => (port = p),
      onReadable(n) {
        requests = n;
        const raw = this.read()!;
        const server = new TCP({
          from: raw,
          onReadable() {
            const got = this.read()!;
            this.write(new Uint8Array(got).reverse());
          },
        });
        accepted.push(server);
        expect(() => raw.read()).toThrow("closed");
      },
    });
    const received: string[] = [];
    let client: TCP | undefined;
    let sent = false;
    try {
      await waitFor(() => port > 0);
      expect(listener.port).toBe(port);
      expect(listener.format).toBe("socket/tcp");
      client = new TCP({
        address: "127.0.0.1",
        port,
        onWritable() {
          if (!sent) this.write(Buffer.from("abc"));
          sent = true;
        },
        onReadable() {
          received.push(Buffer.from(this.read()!).toString());
        },
      });
      await waitFor(() => received.join("") === "cba");
      expect(requests).toBe(1);
      expect(accepted[0].remoteAddress).toBe("127.0.0.1");
      expect(() => listener.write()).toThrow("not supported");
    } finally {
      client?.close();
      for (const s of accepted) s.close();
      listener.close();
      listener.close();
    }
    expect(() => listener.read()).toThrow("closed");
  });

  it("reports a port in use through onError", async () => {
    const busy = await startServer();
    const errors: Error[] = [];
    const listener = new Listener({ port: busy.port, onError: (e) => errors.push(e!) });
    try {
      await waitFor(() => errors.length > 0);
      expect((errors[0] as NodeJS.ErrnoException).code).toBe("EADDRINUSE");
    } finally {
      listener.close();
      await busy.close();
    }
  });

  it("rejects a bad port or address", () => {
    expect(() => new Listener({ port: -1 })).toThrow(RangeError);
    expect(() => new Listener({ address: "not-an-ip" })).toThrow(TypeError);
  });
});
