/*
 * SnWillUpdates: the will part (SnWill, ./session.ts) with its updates while connected, MQTT-SN 1.2 §6.4:
 * `updateWill(session, will, now)` sends WILLTOPICUPD, then WILLMSGUPD, each acknowledged
 * (WILLTOPICRESP, WILLMSGRESP: a "will-updated" event with the return code); no will: the
 * empty WILLTOPICUPD, which deletes it. Not connected: the next CONNECT carries the new will.
 */
import { ACTIVE, OP_PART, SnWill, bad, type MqttSnSession, type SnOp, type SnOpPart, type SnWillMessage } from "./session";

export class SnWillUpdates extends SnWill implements SnOpPart {
  /** Replaces the will (§6.4); throws, nothing changed, when it is not one or the session's queue is full. */
  updateWill(s: MqttSnSession, will: SnWillMessage | undefined, now: number): void {
    new SnWill(will); // checked as the part's constructor checks (throws, nothing changed)
    if (s.state === ACTIVE && s.ops.length + 2 > (s.o.maxQueued ?? 16)) throw bad("queue full");
    this.will = will;
    if (s.state !== ACTIVE) return;
    s.queue(OP_PART, "", 0x1a, now, this);
    if (will) s.queue(OP_PART, "", 0x1c, now, this);
  }

  /** @internal the session sends the queued WILLTOPICUPD (0x1A) or WILLMSGUPD (0x1C); the reply is the next MsgType. */
  send(s: MqttSnSession, op: SnOp, now: number): void {
    s.out(this.message(op.qos), now, op.qos + 1, 0, op);
  }

  /** @internal WILLTOPICRESP / WILLMSGRESP. */
  reply(s: MqttSnSession, _op: SnOp, _t: number, rc: number): void {
    s.emit({ type: "will-updated", returnCode: rc });
  }
}
