/*
 * SnQos2: QoS 2 both ways, MQTT-SN 1.2 §6.6 (as MQTT's QoS 2), a part the session is given
 * (`qos2: new SnQos2()`):
 * - out: PUBLISH, PUBREC (the outbox entry's state 2 is stored: only PUBREL-PUBCOMP is left,
 *   the payload is dropped), PUBREL until PUBCOMP; a PUBREC again (our PUBREL was lost):
 *   PUBREL again;
 * - in: delivered once, however often the gateway sends it: the MsgId is stored ("in") before
 *   the "message" event and released by PUBREL (PUBCOMP); at most 16 open, more are dropped
 *   (the gateway sends them again).
 * A session without it refuses QoS 2 (publish, subscribe) and drops a QoS 2 PUBLISH.
 */
import { frame, type MqttSnSession, type OutboxEntry } from "./session";

export class SnQos2 {
  /** Inbound MsgIds: PUBREC sent, PUBREL not yet received. */
  readonly open: number[] = [];

  /** @internal PUBREL (§5.4.14) for the entry in state 2, as the open exchange (PUBCOMP ends it). */
  release(s: MqttSnSession, e: OutboxEntry, now: number): void {
    s.out(frame(0x10, -1, e.msgId), now, 0x0e, e.msgId, e);
  }

  /**
   * @internal PUBREC (0x0F) or PUBREL (0x10) from the gateway. PUBREC for the QoS 2 PUBLISH the
   * open exchange sends (the session leaves it to this part; its PUBACK, a refusal, still ends
   * the exchange there): state 2 stored (only PUBREL-PUBCOMP is left: the record without the
   * payload, MqttSnOutbox in ./session.ts), then PUBREL. PUBREC again for an entry in state 2
   * (our PUBREL was lost): PUBREL again.
   */
  receive(s: MqttSnSession, t: number, mid: number, now: number): void {
    if (t === 0x0f) {
      const e = s.outbox.get(mid);
      // (The open exchange sends e's PUBLISH when it awaits PUBACK: the one for its REGISTER awaits REGACK.)
      if (e && e.rec[0] === 1 && e.f & 0x40 && s.cur?.x === e && s.cur.expect === 0x0d) {
        s.cur = undefined;
        s.outbox.bytes -= e.data.length;
        e.rec = e.rec.slice(0, e.rec.length - e.data.length);
        e.rec[0] = 2;
        e.data = e.rec.subarray(0, 0);
        s.st.push({ key: "o" + e.msgId, value: e.rec.buffer as ArrayBuffer });
        this.release(s, e, now);
      } else if (e && e.rec[0] === 2) s.out(frame(0x10, -1, mid), now);
      else s.drop("unexpected PUBREC");
      return;
    }
    const k = this.open.indexOf(mid);
    if (k >= 0) {
      this.open.splice(k, 1);
      this.save(s);
    }
    s.out(frame(0x0e, -1, mid), now);
  }

  /**
   * @internal an inbound QoS 2 PUBLISH with MsgId `mid`: PUBREC, and true when the session is to
   * deliver it (its MsgId was not open: stored open first); false when it was delivered already
   * (PUBREC again) or 16 are open (dropped, no PUBREC: the gateway sends it again).
   */
  inbound(s: MqttSnSession, mid: number, now: number): boolean {
    const again = this.open.indexOf(mid) >= 0;
    if (!again) {
      if (this.open.length >= 16) {
        s.drop("16 QoS 2 unreleased");
        return false;
      }
      this.open.push(mid);
      this.save(s);
    }
    s.out(frame(0x0f, -1, mid), now);
    return !again;
  }

  /** @internal a clean session: no QoS 2 state carries over (§6.3). */
  clear(s: MqttSnSession): void {
    if (!this.open.length) return;
    this.open.length = 0;
    this.save(s);
  }

  /** @internal */
  restore(key: string, b: Uint8Array): boolean {
    if (key !== "in") return false;
    for (let i = 0; i + 1 < b.length; i += 2) this.open.push((b[i] << 8) | b[i + 1]);
    return true;
  }

  private save(s: MqttSnSession): void {
    const b = new Uint8Array(this.open.length * 2);
    for (let i = 0; i < this.open.length; i++) {
      b[2 * i] = this.open[i] >> 8;
      b[2 * i + 1] = this.open[i] & 0xff;
    }
    s.st.push({ key: "in", value: b.buffer });
  }
}
