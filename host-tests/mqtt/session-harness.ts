/*
 * Portable helpers for the MQTT session, outbox and client suites (Node and XS): a
 * scripted "broker" side that decodes what the session writes and encodes what the
 * broker answers, on a VirtualClock + Scheduler.
 */
import { encodePacket, MqttDecoder } from "../support/mqtt-codec";
import type { MqttPacket, MqttProperties, MqttVersion, PublishPacket } from "../support/mqtt-codec";
import { MqttOutbox } from "../../modules/mqtt/outbox";
import type { MqttOutboxOptions } from "../../modules/mqtt/outbox";
import { properties5 } from "../../modules/mqtt/properties";
import { MqttSession } from "../../modules/mqtt/session";
import type {
  ConnectInfo,
  DeliveryResult,
  DisconnectInfo,
  MqttError,
  MqttMessage,
  MqttSessionOptions,
  MqttTransport,
} from "../../modules/mqtt/session";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { FlashStore } from "../../sim/flash-store";
import { VirtualClock } from "../../sim/virtual-clock";

/** A transport that records what the session writes. */
export class TestLink implements MqttTransport {
  written: Uint8Array[] = [];
  closed = false;
  write(bytes: Uint8Array): void {
    if (this.closed) throw new Error("TestLink: write after close");
    this.written.push(bytes.slice());
  }
  close(): void {
    this.closed = true;
  }
  /** Every byte written so far, in one array. */
  bytes(): Uint8Array {
    let n = 0;
    for (const w of this.written) n += w.length;
    const out = new Uint8Array(n);
    let o = 0;
    for (const w of this.written) {
      out.set(w, o);
      o += w.length;
    }
    return out;
  }
}

export interface Events {
  connects: ConnectInfo[];
  messages: MqttMessage[];
  delivered: { result: DeliveryResult; error: MqttError | undefined }[];
  errors: MqttError[];
  disconnects: DisconnectInfo[];
  closes: (MqttError | undefined)[];
  auth: { reasonCode: number; data: Uint8Array | undefined }[];
}

export interface Rig {
  clock: VirtualClock;
  scheduler: Scheduler;
  store: FlashStore;
  outbox: MqttOutbox;
  session: MqttSession;
  link: TestLink;
  events: Events;
  version: MqttVersion;
  /** Packets the session wrote since the last call. */
  sent(): MqttPacket[];
  /** The broker sends `p`. */
  serve(p: MqttPacket): void;
  /** The broker sends raw bytes. */
  serveBytes(bytes: number[] | Uint8Array): void;
  /** Opens a new link and sends CONNECT (returned). */
  open(): MqttPacket;
  /** open() + CONNACK success. */
  connect(connack?: { sessionPresent?: boolean; properties?: MqttProperties }): void;
  /** Advances virtual time, running scheduler jobs. */
  advance(ms: number): void;
}

export interface RigOptions extends Partial<Omit<MqttSessionOptions, "scheduler" | "outbox" | "handler">> {
  store?: FlashStore;
  clock?: VirtualClock;
  outboxOptions?: Omit<MqttOutboxOptions, "storage" | "clock">;
  authAnswer?: (reasonCode: number, data: Uint8Array | undefined) => Uint8Array | undefined;
}

export function makeRig(options: RigOptions = {}): Rig {
  const version = options.version ?? 5;
  const clock = options.clock ?? new VirtualClock();
  const scheduler = new Scheduler({ clock });
  const store = options.store ?? new FlashStore();
  const outbox = new MqttOutbox({ storage: store, clock, properties: properties5, ...(options.outboxOptions ?? {}) });
  const events: Events = { connects: [], messages: [], delivered: [], errors: [], disconnects: [], closes: [], auth: [] };
  const sessionOptions: MqttSessionOptions = {
    clientId: "dev-1",
    keepAlive: 60,
    ...options,
    version,
    scheduler,
    outbox,
    handler: {
      onConnect: (i) => events.connects.push(i),
      onMessage: (m) => events.messages.push(m),
      onDelivered: (result, error) => events.delivered.push({ result, error }),
      onError: (e) => events.errors.push(e),
      onDisconnect: (d) => events.disconnects.push(d),
      onClose: (e) => events.closes.push(e),
      onAuth: (x) => {
        events.auth.push({ reasonCode: x.reasonCode, data: x.data });
        return options.authAnswer ? options.authAnswer(x.reasonCode, x.data) : undefined;
      },
    },
  };
  const session = new MqttSession(sessionOptions);
  const decoder = new MqttDecoder({ version });
  let read = 0;
  const rig: Rig = {
    clock,
    scheduler,
    store,
    outbox,
    session,
    link: new TestLink(),
    events,
    version,
    sent() {
      const out: MqttPacket[] = [];
      const w = rig.link.written;
      for (; read < w.length; read++) {
        decoder.feed(w[read]);
        for (;;) {
          const p = decoder.next();
          if (p === undefined) break;
          out.push(p);
        }
        if (decoder.error) throw decoder.error;
      }
      return out;
    },
    serve(p) {
      session.receive(encodePacket(p, version));
    },
    serveBytes(bytes) {
      session.receive(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
    },
    open() {
      rig.link = new TestLink();
      read = 0;
      decoder.reset(version);
      session.connectionMade(rig.link);
      const p = rig.sent();
      if (p.length !== 1 || p[0].type !== 1) throw new Error("expected one CONNECT, got " + p.map((x) => x.type).join(","));
      return p[0];
    },
    connect(connack) {
      rig.open();
      rig.serve({ type: 2, sessionPresent: !!connack?.sessionPresent, reasonCode: 0, properties: version === 5 ? connack?.properties : undefined });
    },
    advance(ms) {
      clock.advance(ms);
    },
  };
  return rig;
}

export function text(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

export function str(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

export function publishes(ps: MqttPacket[]): PublishPacket[] {
  return ps.filter((p) => p.type === 3) as PublishPacket[];
}

export function types(ps: MqttPacket[]): number[] {
  return ps.map((p) => p.type);
}
