/*
 * Node-only helpers for the MQTT-SN interop suites: a client on a real clock and a UDP
 * socket (Node's or a simulated network's), our gateway, MQTT.js subscribers that count.
 */
import * as dgram from "node:dgram";
import * as mqtt from "mqtt";
import { MqttSnCodecError, decode, encode } from "../../modules/mqttsn/codec";
import { MqttSnClient, type MqttSnClientOptions } from "../../modules/mqttsn/session";
import type { SnEvent, SnGatewayAddress } from "../../modules/mqttsn/session";
import { snParts, type SnParts, type SnPartsOptions } from "../../modules/mqttsn/parts";
import type { SnWillMessage } from "../../modules/mqttsn/session";
import type { UdpConstructor } from "../../modules/platform/io";
import type { KeyValueStore, StoredValue } from "../../modules/platform/storage";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { MqttSnGateway, type MqttSnGatewayOptions } from "../../sim/node/mqttsn-gateway";
import { RealClock } from "../../sim/node/real-clock";
import { UDP } from "../../sim/node/udp";

/**
 * A raw MQTT-SN client on one UDP socket, for tests that play a client message by message: it sends
 * what the test writes (a message to encode, or the octets themselves) to the gateway at
 * 127.0.0.1:`port` and keeps every datagram that comes back, decoded (`{ malformed }` where the
 * codec refuses one), for `next()` to take.
 */
export class RawSnClient {
  readonly socket = dgram.createSocket("udp4");
  got: any[] = [];
  constructor(
    readonly port: number,
    readonly address = "127.0.0.1",
  ) {
    this.socket.on("message", (b) => {
      const m = decode(new Uint8Array(b));
      this.got.push(m instanceof MqttSnCodecError ? { malformed: m.message } : m);
    });
  }
  bind(port = 0): Promise<void> {
    return new Promise((r) => this.socket.bind(port, this.address, () => r()));
  }
  send(m: object | Uint8Array): void {
    this.socket.send(m instanceof Uint8Array ? m : Buffer.from(encode(m as never)), this.port, "127.0.0.1");
  }
  /** Waits for the next message of `type` not yet taken; returns it. */
  async next(type: number, ms = 3000): Promise<any> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.got.findIndex((m) => m.type === type);
      if (i >= 0) return this.got.splice(i, 1)[0];
      if (Date.now() > end) throw new Error(`no message of type ${type} within ${ms} ms; have ${JSON.stringify(this.got.map((m) => m.type))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }
}

export interface TestClient {
  client: MqttSnClient;
  /** The client's parts (every one, unless made with `lean`). */
  p: SnParts;
  sleep(seconds: number): void;
  wake(): void;
  search(): void;
  updateWill(will: SnWillMessage | undefined): void;
  events: (SnEvent | { type: "error"; reason: string })[];
  scheduler: Scheduler;
  clock: RealClock;
  /** Resolves with the first event of `type` after the `after`-th one seen (default: any already seen counts). */
  next(type: string, timeoutMs?: number): Promise<any>;
  count(type: string): number;
  close(): void;
}

export class MapStore implements KeyValueStore {
  data = new Map<string, StoredValue>();
  get(ns: string, key: string) {
    return this.data.get(ns + "/" + key);
  }
  set(ns: string, key: string, value: StoredValue) {
    this.data.set(ns + "/" + key, value);
  }
  delete(ns: string, key: string) {
    this.data.delete(ns + "/" + key);
  }
  keys(ns: string) {
    return [...this.data.keys()].filter((k) => k.startsWith(ns + "/")).map((k) => k.slice(ns.length + 1));
  }
}

/** The client's options with the parts' flat (as helpers.ts's HarnessOptions): `gateways` (the first is the session's), `will`, `predefined`, discovery delays; `lean`: no part. */
export type TestClientOptions = Partial<Omit<MqttSnClientOptions, "will" | "gateway">> & SnPartsOptions & { clientId: string; io?: UdpConstructor; clock?: RealClock; gateways?: SnGatewayAddress[]; lean?: boolean };

export function makeClient(options: TestClientOptions): TestClient {
  const { will, predefined, gateways = [], searchDelayMs = 200, gwInfoDelayMs = 200, radius, advertiseMisses, random, lean, ...rest } = options;
  const p = snParts({ will, predefined, gateways: gateways.slice(1), searchDelayMs, gwInfoDelayMs, radius, advertiseMisses, random });
  const clock = options.clock ?? new RealClock({ unref: true });
  const scheduler = new Scheduler({ clock, onError: (e, job) => console.error(`job ${job.name}:`, e) });
  const events: TestClient["events"] = [];
  const waiters: { type: string; resolve: (e: any) => void; seen: number }[] = [];
  const client = new MqttSnClient({
    retryMs: 300,
    maxRetries: 5,
    waitMs: 2000,
    gateway: gateways[0],
    ...rest,
    ...(lean ? {} : p),
    socket: options.socket ?? { io: options.io ?? (UDP as unknown as UdpConstructor) },
    scheduler,
    onEvent(e) {
      events.push(e);
      for (let i = waiters.length - 1; i >= 0; i--) {
        const w = waiters[i];
        if (w.type === e.type) {
          waiters.splice(i, 1);
          w.resolve(e);
        }
      }
      options.onEvent?.(e);
    },
  });
  return {
    client,
    p,
    sleep: (seconds) => client.run((s, now) => p.sleep.sleep(s, seconds, now)),
    wake: () => client.run((s, now) => p.sleep.wake(s, now)),
    search: () => client.run((s, now) => p.discovery.search(s, now)),
    updateWill: (w) => client.run((s, now) => p.will.updateWill(s, w, now)),
    events,
    scheduler,
    clock,
    count: (type) => events.filter((e) => e.type === type).length,
    next(type, timeoutMs = 10000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${type}" event within ${timeoutMs} ms; events: ${events.map((e) => e.type).join(", ")}`)), timeoutMs);
        waiters.push({ type, seen: 0, resolve: (e) => (clearTimeout(timer), resolve(e)) });
      });
    },
    close() {
      client.close();
      scheduler.clear();
      clock.clearAll?.();
    },
  };
}

export async function startGateway(options: Partial<MqttSnGatewayOptions> & { broker: string }, lines?: string[]): Promise<{ gateway: MqttSnGateway; port: number }> {
  const gateway = new MqttSnGateway({
    udp: { io: UDP as unknown as UdpConstructor, port: 0 },
    retryMs: 300,
    maxRetries: 5,
    tickMs: 20,
    log: lines ? (l) => lines.push(l) : undefined,
    ...options,
  });
  const port = await gateway.start();
  return { gateway, port };
}

/** An MQTT.js subscriber that records every message it gets. */
export async function subscriber(url: string, filters: string[], qos: 0 | 1 | 2 = 2): Promise<{ c: mqtt.MqttClient; got: { topic: string; payload: string; qos: number; retain: boolean }[]; close(): Promise<void> }> {
  const c = mqtt.connect(url, { clientId: "sub-" + Math.random().toString(16).slice(2), reconnectPeriod: 0 });
  const got: { topic: string; payload: string; qos: number; retain: boolean }[] = [];
  c.on("message", (topic, payload, packet) => got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }));
  await new Promise<void>((res, rej) => {
    c.once("connect", () => res());
    c.once("error", rej);
  });
  await c.subscribeAsync(filters, { qos });
  return { c, got, close: () => c.endAsync().then(() => undefined) };
}

export async function until(cond: () => boolean, timeoutMs = 10000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function gatewayAddress(port: number) {
  return { address: "127.0.0.1", port };
}
