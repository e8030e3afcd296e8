/*
 * SnSleep: the sleeping client of MQTT-SN 1.2 §6.14, a part the session is given
 * (`new MqttSnSession({ ..., sleep: new SnSleep() })`):
 * - `sleep(session, seconds, now)`: DISCONNECT with a Duration once the queued requests and
 *   the outbox have gone; the gateway's DISCONNECT makes the session asleep (an "asleep"
 *   event). From asleep: a new Duration.
 * - `wake(session, now)`: PINGREQ with the ClientId; the messages the gateway buffered arrive
 *   (every message but PINGRESP restarts Tretry), and PINGRESP makes it asleep again. When
 *   the PINGREQ retries are used up: "wake-failed", asleep.
 * - The state (asleep or not), the gateway, the next MsgId and the duration are kept in the
 *   store ("meta"), so a device back from deep sleep wakes without a new CONNECT. Pass the
 *   registry part (./registry-store.ts) too, so that the topic ids survive with it.
 * The durations are the app's (its sleep planner decides them). CONNECT from asleep returns
 * to active, with or without this part.
 */
import { encodeUtf8New } from "../bytes/utf8";
import { ACTIVE, ASLEEP, AWAKE, OP_PART_LAST, bad, frame, type MqttSnSession, type SnOp, type SnOpPart } from "./session";

export class SnSleep implements SnOpPart {
  /** The sleep duration in seconds. */
  duration = 0;

  /** §6.14: asleep for `seconds` (1-65535, §5.3.3) after the queue and the outbox; from asleep, a new duration. */
  sleep(s: MqttSnSession, seconds: number, now: number): void {
    if (!(seconds > 0 && seconds <= 0xffff && (seconds | 0) === seconds)) throw bad("sleep: 1-65535 s");
    if (s.state === ACTIVE) s.queue(OP_PART_LAST, "", seconds, now, this);
    else if (s.state === ASLEEP && s.gw) this.send(s, { k: OP_PART_LAST, topic: "", qos: seconds, part: this }, now);
    else throw bad("sleep: not connected");
  }

  /** §6.14: from asleep, PINGREQ with the ClientId; buffered messages arrive until PINGRESP. */
  wake(s: MqttSnSession, now: number): void {
    if (s.state !== ASLEEP || !s.gw) throw bad("wake: not asleep");
    s.state = AWAKE;
    s.exchange(frame(0x16, -1, -1, -1, -1, encodeUtf8New(s.clientId)), 0x17, 0, now, { k: 0, topic: "", qos: 0, part: this });
  }

  /** @internal DISCONNECT with the Duration (§5.4.21). */
  send(s: MqttSnSession, op: SnOp, now: number): void {
    s.exchange(frame(0x18, -1, op.qos, -1, -1), 0x18, 0, now, op);
  }

  /** @internal the gateway's DISCONNECT (asleep), PINGRESP (asleep again), or no PINGRESP after Nretry (t -1). */
  reply(s: MqttSnSession, op: SnOp, t: number): void {
    s.state = ASLEEP;
    if (t === 0x18) {
      this.duration = op.qos;
      this.save(s);
    }
    s.emit(t < 0 ? { type: "wake-failed" } : { type: "asleep", duration: this.duration });
  }

  /** @internal "meta": state, gwId, port (2), next MsgId (2), sleep duration (2), gateway address (ASCII). */
  save(s: MqttSnSession): void {
    const g = s.gw;
    if (!g) return;
    const a = encodeUtf8New(g.address);
    const b = new Uint8Array(8 + a.length);
    // A Uint8Array keeps the low octet (gwId -1 is 255).
    b.set([s.state, g.gwId, g.port >> 8, g.port, s.nextId >> 8, s.nextId, this.duration >> 8, this.duration]);
    b.set(a, 8);
    s.st.push({ key: "meta", value: b.buffer });
  }

  /** @internal */
  restore(s: MqttSnSession, key: string, b: Uint8Array): boolean {
    if (key !== "meta" || b.length < 9) return false;
    const g = { address: String.fromCharCode.apply(null, b.subarray(8) as unknown as number[]), port: (b[2] << 8) | b[3], gwId: b[1] === 255 ? -1 : b[1], seen: 0, failed: -1 };
    s.gw = s.o.discovery?.add(s, g, -1, 0, false) ?? g;
    s.nextId = ((b[4] << 8) | b[5]) || 1;
    this.duration = (b[6] << 8) | b[7];
    if (b[0] === ASLEEP) s.state = ASLEEP;
    return true;
  }
}
