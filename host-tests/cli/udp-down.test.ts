/*
 * Issue 15, defect 6 over UDP: a CoAP gateway or an MQTT-SN gateway that never answers. The
 * real CLI (`xs-iot sim`) against a UDP socket of this test that takes every datagram and
 * answers none, so what the device transmits is counted here. Each exhausted exchange is one
 * line (RFC 7252 §4.2 MAX_RETRANSMIT; MQTT-SN 1.2 §6.13 Tretry/Nretry), nothing is claimed
 * "online" that no answer showed, and no reading is lost or counted sent without saying so.
 * Node only.
 */
import * as dgram from "node:dgram";
import { jsonEvents, runCli } from "./run-cli";

/** A UDP socket on 127.0.0.1 that answers nothing; `got` holds each datagram it took. */
async function silent(): Promise<{ port: number; got: Buffer[]; close(): void }> {
  const socket = dgram.createSocket("udp4");
  const got: Buffer[] = [];
  socket.on("message", (m) => got.push(m));
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
  return { port: socket.address().port, got, close: () => socket.close() };
}

describe("a CoAP gateway that never answers (xs-iot sim --protocol coap)", () => {
  it("no 'online'; one line per CON that exhausts its retransmissions; its readings kept, not sent, not failed", async () => {
    const gw = await silent();
    try {
      // Virtual time: the device's retransmission timers run on it (62 to 93 s per exchange, §4.8.2).
      const r = await runCli(["sim", "--protocol", "coap", "--server", `coap://127.0.0.1:${gw.port}/tele`, "--id", "no-gw", "--clock", "virtual", "--readings", "3", "--interval", "30", "--timeout", "400", "--json"]);
      expect(r.code).toBe(1);
      const events = jsonEvents(r.stdout);
      // CoAP has no connection: nothing answered, so nothing says "online".
      expect(events.filter((e) => e.event === "state").map((e) => e.state)).toEqual(["stopped"]);
      const lines = events.filter((e) => e.event === "error").map((e) => e.message);
      expect(lines.length).toBeGreaterThanOrEqual(2);
      const kept: number[] = [];
      for (const l of lines) {
        const m = new RegExp(`^coap: no answer from 127\\.0\\.0\\.1:${gw.port} in (\\d+) s \\(CON, RFC 7252 §4\\.2 MAX_RETRANSMIT\\); (\\d+) reading\\(s\\) kept for the next request$`).exec(l);
        expect(m).not.toBeNull();
        // §4.2: ACK_TIMEOUT 2 s x (1 + 2 + 4 + 8 + 16), times at most ACK_RANDOM_FACTOR 1.5 (device time)
        expect(Number(m![1])).toBeGreaterThanOrEqual(62);
        expect(Number(m![1])).toBeLessThanOrEqual(93);
        kept.push(Number(m![2]));
      }
      // The first CON carried reading 1; the next carries it again with those taken meanwhile.
      expect(kept.slice(0, 2)).toEqual([1, 3]);
      const sent = events.filter((e) => e.event === "sent").map((e) => e.seqs);
      expect(sent.slice(0, 2)).toEqual([[1], [1, 2, 3]]);
      expect(events.some((e) => e.event === "failed")).toBe(false);
      // Each CON the gateway got: 1 + MAX_RETRANSMIT (4) transmissions of one Message ID (bytes 2-3).
      const perId = new Map<number, number>();
      for (const d of gw.got) perId.set(d.readUInt16BE(2), (perId.get(d.readUInt16BE(2)) ?? 0) + 1);
      expect([...perId.values()].slice(0, 2)).toEqual([5, 5]);
      // Counted as it is: none sent (each went back when its CON went unanswered), none failed, all 3 still on the device.
      expect(events.pop()).toMatchObject({ event: "done", code: 1, readings: 3, sent: 0, acked: 0, failed: 0, buffered: 3 });
    } finally {
      gw.close();
    }
  }, 60_000);

  it("the human output: no 'online', the exhaustion line, and the end line says where the readings are", async () => {
    const gw = await silent();
    try {
      const r = await runCli(["sim", "--protocol", "coap", "--server", `coap://127.0.0.1:${gw.port}/tele`, "--id", "no-gw", "--clock", "virtual", "--readings", "1", "--interval", "30", "--timeout", "100"]);
      expect(r.code).toBe(1);
      expect(r.stdout).not.toMatch(/\] online$/m);
      expect(r.stdout).toMatch(new RegExp(`^\\[no-gw\\] coap: no answer from 127\\.0\\.0\\.1:${gw.port} in \\d+ s \\(CON, RFC 7252 §4\\.2 MAX_RETRANSMIT\\); 1 reading\\(s\\) kept for the next request$`, "m"));
      expect(r.stdout.trim().split("\n").pop()).toBe("timeout: --readings 1 not reached: 1 readings from 1 device(s), 0 sent, 0 acknowledged, 1 still on the device (not sent, or unanswered)");
    } finally {
      gw.close();
    }
  }, 60_000);
});

describe("an MQTT-SN gateway that never answers (xs-iot sim --protocol mqttsn --gateway)", () => {
  // Real time (a device "connecting" holds virtual time still): Tretry is 10 s, so two attempts take 20 s.
  it("one line per CONNECT that Tretry leaves unanswered (MQTT-SN 1.2 §6.13), with when the next one goes; nothing counted sent", async () => {
    const gw = await silent();
    try {
      const r = await runCli(["sim", "--protocol", "mqttsn", "--gateway", `udp://127.0.0.1:${gw.port}`, "--id", "no-sn", "--readings", "1", "--interval", "0.5", "--timeout", "23", "--json"], { timeoutMs: 40_000 });
      expect(r.code).toBe(1);
      const events = jsonEvents(r.stdout);
      const lines = events.filter((e) => e.event === "error").map((e) => e.message);
      expect(lines.slice(0, 2)).toEqual([1, 2].map((n) => `mqtt: cannot connect to 127.0.0.1:${gw.port} (attempt ${n} failed: no answer in 10 s, MQTT-SN 1.2 §6.13 Tretry; sent again now); next attempt in 10 s`));
      expect(lines).toHaveLength(2);
      // What the gateway got: the same CONNECT (MsgType 0x04, §5.4.4), once and twice again.
      const connects = gw.got.filter((d) => d[1] === 0x04);
      expect(connects).toHaveLength(3);
      expect(connects.every((d) => d.equals(connects[0]))).toBe(true);
      expect(events.some((e) => e.event === "state" && e.state === "online")).toBe(false);
      expect(events.pop()).toMatchObject({ event: "done", code: 1, readings: 1, sent: 0, acked: 0, queued: 1, failedAttempts: 2 });
    } finally {
      gw.close();
    }
  }, 45_000);
});
