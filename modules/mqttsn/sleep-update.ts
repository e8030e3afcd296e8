/*
 * SnSleepUpdates: the sleep part (SnSleep, ./session.ts) with a new Duration while asleep,
 * MQTT-SN 1.2 §6.14: `sleep(session, seconds, now)` from asleep sends DISCONNECT with the new
 * Duration at once (the gateway's DISCONNECT answers it: "asleep" with that duration); from
 * active, as SnSleep's. A part of its own, outside the app's firmware: the app sleeps from
 * active only, and the branch cost the session's module 85 B of XS bytecode (docs/mqttsn.md).
 */
import { SnSleep, bad, frame, type MqttSnSession } from "./session";

export class SnSleepUpdates extends SnSleep {
  override sleep(s: MqttSnSession, seconds: number, now: number): void {
    if (s.state !== 4 /* ASLEEP */) return super.sleep(s, seconds, now);
    if (!(seconds > 0 && (seconds & 0xffff) === seconds)) throw bad("sleep: 1-65535 s"); // (as SnSleep's)
    // DISCONNECT with the Duration (§5.4.21); asleep always has a gateway. OP_PART_LAST: the reply goes to this part.
    s.out(frame(0x18, -1, seconds), now, 0x18, 0, { k: 6, topic: "", qos: seconds, part: this });
  }
}
