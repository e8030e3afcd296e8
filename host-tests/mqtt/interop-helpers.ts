/*
 * Node-only helpers for the MQTT interop suites: our MqttClient on the simulator's real
 * TCP / TLS sockets and a real clock, with events collected and awaitable.
 */
import { MqttClient } from "../../modules/mqtt/client";
import { Mqtt5 } from "../../modules/mqtt/mqtt5";
import type { Mqtt5Options } from "../../modules/mqtt/mqtt5";
import type { MqttClientOptions, MqttError, MqttMessage } from "../../modules/mqtt/client";
import { MqttDecoder } from "../support/mqtt-codec";
import type { MqttPacket } from "../support/mqtt-codec";
import type { ByteBuffer, TcpOptions } from "../../modules/platform/io";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { FlashStore } from "../../sim/flash-store";
import { RealClock } from "../../sim/node/real-clock";
import { TCP } from "../../sim/node/tcp";
import { TLS } from "../../sim/node/tls";
import type { NodeTlsOptions } from "../../sim/node/tls";

/** TCP that records every byte written and can be cut without a DISCONNECT (a crash). */
export class RecordingTCP extends TCP {
  static last: RecordingTCP | undefined;
  written: Uint8Array[] = [];
  constructor(options: TcpOptions) {
    super(options);
    RecordingTCP.last = this;
  }
  override write(data: ByteBuffer, options?: { more?: boolean }): number {
    const n = super.write(data, options);
    const b = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array((data as Uint8Array).buffer, (data as Uint8Array).byteOffset, (data as Uint8Array).byteLength);
    this.written.push(b.slice());
    return n;
  }
  packets(version: 4 | 5): MqttPacket[] {
    const d = new MqttDecoder({ version });
    const out: MqttPacket[] = [];
    for (const w of this.written) {
      d.feed(w);
      for (let p = d.next(); p; p = d.next()) out.push(p);
    }
    return out;
  }
}

export interface Probe {
  client: MqttClient;
  messages: MqttMessage[];
  errors: MqttError[];
  connects: { sessionPresent: boolean }[];
  closes: number;
  gaveUp: number;
  store: FlashStore;
  clock: RealClock;
  until(pred: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  connected(): Promise<void>;
  stop(): void;
}

export interface ProbeOptions extends Partial<Omit<MqttClientOptions, "socket" | "scheduler">>, Mqtt5Options {
  port: number;
  /** 4: MQTT 3.1.1 (no 5.0 part); 5 (default): MQTT 5.0, the Mqtt5Options given. */
  version?: 4 | 5;
  /** PEM `ca`; `clientCertificate` / `clientKey` as given to the TLS socket (PEM or DER) for mutual TLS. */
  tls?: { ca?: string; host?: string; clientCertificate?: string | Uint8Array; clientKey?: string | Uint8Array };
  io?: unknown;
  store?: FlashStore;
}

export function until(pred: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      let ok = false;
      try {
        ok = pred();
      } catch {
        ok = false;
      }
      if (ok) return resolve();
      if (Date.now() - start > timeoutMs) return reject(new Error("timed out waiting for " + what));
      setTimeout(tick, 10);
    };
    tick();
  });
}

export function probe(options: ProbeOptions): Probe {
  const clock = new RealClock({ unref: true });
  const scheduler = new Scheduler({ clock });
  const store = options.store ?? new FlashStore({ capacity: 256 * 1024 });
  const p: Probe = {
    client: undefined as unknown as MqttClient,
    messages: [],
    errors: [],
    connects: [],
    closes: 0,
    gaveUp: 0,
    store,
    clock,
    until,
    connected: () => until(() => p.client.isConnected, "CONNACK"),
    stop() {
      p.client.end();
      scheduler.clear();
    },
  };
  const { port, tls, io, store: _s, version, ...rest } = options;
  const enc = (s: string) => new TextEncoder().encode(s);
  p.client = new MqttClient({
    clientId: "xs-" + Math.random().toString(16).slice(2, 10),
    keepAlive: 30,
    reconnect: { initialDelayMs: 100, maxDelayMs: 500 },
    ...rest,
    v5: version === 4 ? undefined : new Mqtt5(rest),
    socket: {
      io: (io ?? (tls ? TLS : TCP)) as never,
      address: "127.0.0.1",
      host: tls?.host ?? "localhost",
      port,
      tls: tls
        ? ({
            host: tls.host ?? "localhost",
            ca: tls.ca ? enc(tls.ca) : undefined,
            clientCertificate: typeof tls.clientCertificate === "string" ? enc(tls.clientCertificate) : tls.clientCertificate,
            clientKey: typeof tls.clientKey === "string" ? enc(tls.clientKey) : tls.clientKey,
          } as NodeTlsOptions["tls"])
        : undefined,
    },
    scheduler,
    storage: store,
    onMessage: (m) => {
      p.messages.push({ ...m, payload: m.payload.slice() });
    },
    onError: (e) => p.errors.push(e),
    onConnect: (i) => p.connects.push({ sessionPresent: i.sessionPresent }),
    onClose: () => p.closes++,
    onGiveUp: () => p.gaveUp++,
  });
  return p;
}

export function text(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}
