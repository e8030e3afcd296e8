/*
 * Portable helpers for the MQTT-SN session tests (Node and XS): the session's output read
 * back through the codec, a gateway side scripted by the test, and a Map store.
 */
import { MqttSnCodecError, decode, encode, type MqttSnMessage } from "../../modules/mqttsn/codec";
import { MqttSnSession, type MqttSnSessionOptions, type SnDatagram, type SnEvent, type StoreOp } from "../../modules/mqttsn/session";
import { snParts, type SnParts, type SnPartsOptions } from "../../modules/mqttsn/parts";
import type { SnGatewayAddress } from "../../modules/mqttsn/session";

export const GW = { address: "10.0.0.1", port: 1884 };
export const GW2 = { address: "10.0.0.2", port: 1884 };

export const F = { dup: false, qos: 0 as const, retain: false, will: false, cleanSession: false, topicIdType: 0 as const };

export interface Sent {
  m: any;
  to: SnDatagram;
}

/**
 * The session's options with the parts' options flat, as the tests write them: `gateways` (the
 * first is the session's gateway, the rest the discovery part's), `will`, `predefined`, the
 * discovery delays. `lean: true` gives the core with no part at all.
 */
export type HarnessOptions = Partial<Omit<MqttSnSessionOptions, "will" | "gateway">> & SnPartsOptions & { gateways?: SnGatewayAddress[]; lean?: boolean };

/** A session under test (every part, unless `lean`) with its output collected, and the gateway's messages fed in. */
export class Harness {
  s: MqttSnSession;
  /** The parts (given to the session unless `lean`). */
  p: SnParts;
  sent: Sent[] = [];
  events: SnEvent[] = [];
  store = new Map<string, ArrayBuffer>();
  ops: StoreOp[] = [];
  now = 1000;

  constructor(options: HarnessOptions = {}, restore?: Map<string, ArrayBuffer>) {
    const { will, predefined, gateways, searchDelayMs, gwInfoDelayMs, radius, advertiseMisses, random, lean, ...rest } = options;
    const list = gateways ?? [GW];
    this.p = snParts({ will, predefined, gateways: list.slice(1), searchDelayMs, gwInfoDelayMs, radius, advertiseMisses, random: random ?? (() => 0.5) });
    this.s = new MqttSnSession({ clientId: "dev1", gateway: list[0], retryMs: 1000, maxRetries: 2, waitMs: 5000, ...rest, ...(lean ? {} : this.p) });
    if (restore) {
      this.store = new Map(restore);
      this.s.restore([...restore.keys()], (k) => restore.get(k));
    }
    this.drain();
  }

  /** Collects everything the session produced; returns the messages sent since the last call. */
  drain(): any[] {
    const out: any[] = [];
    for (let op; (op = this.s.st.shift()); ) {
      this.ops.push(op);
      if (op.value === undefined) this.store.delete(op.key);
      else this.store.set(op.key, op.value);
    }
    for (let d; (d = this.s.tx.shift()); ) {
      const m = decode(d.data);
      if (m instanceof MqttSnCodecError) throw new Error("the session sent a malformed datagram: " + m.message);
      this.sent.push({ m, to: d });
      out.push(m);
    }
    for (let e; (e = this.s.ev.shift()); ) this.events.push(e);
    return out;
  }

  /** The gateway at `from` sends `m`; returns what the session sent in reply. */
  gw(m: MqttSnMessage, from = GW): any[] {
    this.s.receive(encode(m), from.address, from.port, this.now);
    return this.drain();
  }

  raw(bytes: Uint8Array, from = GW): any[] {
    this.s.receive(bytes, from.address, from.port, this.now);
    return this.drain();
  }

  /** Advances time to `t` (ms), running the session's timers as the binding would; returns what was sent. */
  advance(ms: number): any[] {
    const end = this.now + ms;
    const out: any[] = [];
    for (let guard = 0; guard < 10000; guard++) {
      const t = this.s.timeout();
      if (!t || t.deadline > end) break;
      this.now = Math.max(this.now, t.deadline);
      this.s.handleTimeout(this.now);
      out.push(...this.drain());
    }
    this.now = end;
    return out;
  }

  call(f: (s: MqttSnSession, now: number) => unknown): any[] {
    f(this.s, this.now);
    return this.drain();
  }

  eventsOf(type: string): any[] {
    return this.events.filter((e) => e.type === type);
  }

  /** Connects to GW and answers CONNACK. */
  connected(): this {
    this.call((s, now) => s.connect(now));
    this.gw({ type: 0x05, returnCode: 0 });
    return this;
  }
}

export function types(ms: any[]): number[] {
  return ms.map((m) => m.type);
}

export function text(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}
