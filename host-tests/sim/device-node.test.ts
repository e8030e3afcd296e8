import { SimDevice } from "../../sim/device";
import { TCP } from "../../sim/node/tcp";
import { RealClock } from "../../sim/node/real-clock";
import { nodeCrypto } from "../../sim/node/crypto";
import { delay, startServer, waitFor } from "./node-helpers";

describe("SimDevice with real Node sockets and a real clock", () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  const ended: number[] = [];
  beforeAll(async () => {
    server = await startServer((s) => {
      s.on("end", () => ended.push(Date.now()));
      s.on("data", () => s.write("ack"));
    });
  });
  afterAll(async () => {
    await server.close();
  });

  it("deep sleep closes the instance's TCP socket; its late data never reaches the old callbacks", async () => {
    const clock = new RealClock();
    const events: string[] = [];
    const device = new SimDevice({
      clock,
      crypto: nodeCrypto,
      io: { TCP },
      app: (p) => {
        events.push(`boot:${p.power.wakeCause}`);
        if (p.power.wakeCause !== "power-on") return;
        new p.io.TCP({
          address: "127.0.0.1",
          port: server.port,
          onWritable() {
            if (events.includes("hello")) return; // again after the byte drained
            this.write(Uint8Array.of(1));
            events.push("hello");
          },
          onReadable() {
            this.read();
            events.push("ack");
            p.power.deepSleep(50);
          },
        });
      },
    });
    device.start();
    try {
      await waitFor(() => device.state === "asleep");
      expect(events).toEqual(["boot:power-on", "hello", "ack"]);
      await waitFor(() => ended.length > 0); // the server saw our FIN: the socket was closed
      for (const s of server.sockets) if (!s.destroyed) s.write("late");
      await waitFor(() => device.state === "awake");
      await delay(20);
      expect(events).toEqual(["boot:power-on", "hello", "ack", "boot:deep-sleep"]);
      expect(device.asleepMs).toBeGreaterThanOrEqual(45);
    } finally {
      device.stop();
      clock.clearAll();
    }
  });

  it("an exception in a socket callback is a crash and the device reboots", async () => {
    const clock = new RealClock();
    const boots: string[] = [];
    const device = new SimDevice({
      clock,
      io: { TCP },
      app: (p) => {
        boots.push(p.power.wakeCause);
        if (p.bootCount > 1) return;
        new p.io.TCP({
          address: "127.0.0.1",
          port: server.port,
          onWritable() {
            throw new Error("bug in onWritable");
          },
        });
      },
    });
    device.start();
    try {
      await waitFor(() => boots.length === 2);
      expect(boots).toEqual(["power-on", "watchdog"]);
      expect(device.crashes[0].message).toBe("Error: bug in onWritable");
    } finally {
      device.stop();
      clock.clearAll();
    }
  });
});
