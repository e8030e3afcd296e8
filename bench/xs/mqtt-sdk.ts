/*
 * The Moddable SDK's ECMA-419 MQTT client (`embedded:network/mqtt/client`,
 * $MODDABLE/examples/io/tcp/mqttclient/mqttclient.js) in the client bench. The SDK's file is
 * loaded from $MODDABLE when the bench runs, never copied here. This file is ours:
 *
 * 1. The host objects that client needs and the SDK's `xst` lacks, written for the bench from
 *    what the client calls (its manifest, manifest_mqttclient.json, gives it the `timer` and
 *    `time` modules, a DNS resolver and a TCP socket class):
 *    - `timer`: Timer.set(callback, ms?, repeat?), Timer.repeat(callback, ms), Timer.clear(t)
 *      (the client sets properties on the repeating timer it keeps, so a timer is an object);
 *    - `time`: Time.ticks, Time.delta(from, to?);
 *    - ArrayBuffer.fromString(string) and String.fromArrayBuffer(buffer), built into the XS of
 *      a Moddable device: here over the engine's native TextEncoder and TextDecoder;
 *    - the resolver given as `dns.io`: new io(options), resolve({host, onResolved, onError}).
 *    On xst the bench bundles the SDK's file with `timer` and `time` mapped to SdkTimer and
 *    SdkTime (bench/xs/mqtt-xst.ts); in mcsim the SDK's own modules serve.
 * 2. createSdkClient(): drives that client through BenchClient/BenchEvents
 *    (bench/xs/mqtt-bench-api.ts) the way an app of its API does: write(payload, {topic, QoS,
 *    id}) within the room its onWritable reported, onControl for CONNACK / SUBACK / PUBACK,
 *    onReadable(count, {more}) + read(count) for incoming messages (it acknowledges QoS 1
 *    itself). Its QoS 1 packet identifiers are given by the driver: the client's own counter
 *    does not wrap at 65,535.
 */
import type { BenchClient, BenchEvents, ClientEnv } from "./mqtt-bench-api";
import type { EventLoop, LoopTimer } from "./mqtt-loop";

let hostLoop: EventLoop | undefined;

/** The loop the SDK's host objects (timer, time, resolver) work on. */
export function useLoop(loop: EventLoop): void {
  hostLoop = loop;
}

function loop(): EventLoop {
  if (!hostLoop) throw new Error("mqtt-sdk: useLoop(loop) first");
  return hostLoop;
}

/** The `timer` module, as the SDK's MQTT client uses it. */
export const SdkTimer = {
  set(callback: (timer: LoopTimer) => void, ms?: number, repeat?: number): LoopTimer {
    if (repeat !== undefined) return loop().setTimer(callback, repeat, true);
    return loop().setTimer(callback, ms ?? 0);
  },
  repeat(callback: (timer: LoopTimer) => void, ms: number): LoopTimer {
    return loop().setTimer(callback, ms, true);
  },
  clear(timer: LoopTimer | undefined): void {
    if (timer) loop().clearTimer(timer);
  },
};

/** The `time` module, as the SDK's MQTT client uses it. */
export const SdkTime = {
  get ticks(): number {
    return loop().now;
  },
  delta(from: number, to?: number): number {
    return (to ?? loop().now) - from;
  },
};

/** Installs ArrayBuffer.fromString and String.fromArrayBuffer where the engine lacks them (xst; a device has them). */
export function installStringBuffers(): void {
  const AB = ArrayBuffer as unknown as { fromString?: (s: string) => ArrayBuffer };
  const S = String as unknown as { fromArrayBuffer?: (b: ArrayBuffer) => string };
  // Through globalThis: the Moddable typings the mcsim build checks against declare neither.
  const G = globalThis as unknown as { TextEncoder: new () => { encode(s: string): Uint8Array }; TextDecoder: new () => { decode(b: ArrayBuffer): string } };
  if (typeof AB.fromString !== "function") {
    const encoder = new G.TextEncoder();
    AB.fromString = (s: string) => encoder.encode(s).buffer as ArrayBuffer;
  }
  if (typeof S.fromArrayBuffer !== "function") {
    const decoder = new G.TextDecoder();
    S.fromArrayBuffer = (b: ArrayBuffer) => decoder.decode(b);
  }
}

/** The resolver given to the SDK client as `dns.io`: every name is the bench broker's address. */
export class MemoryResolver {
  constructor(_options?: unknown) {}
  resolve(request: { host: string; onResolved(host: string, address: string): void; onError?(): void }): void {
    loop().post(() => request.onResolved(request.host, "127.0.0.1"));
  }
}

/** The operations of the SDK client's onControl messages (its MQTTClient statics). */
const CONNACK = 2;
const PUBACK = 4;
const SUBACK = 9;
const SUBSCRIBE = 8;

/** The SDK client class, as loaded from $MODDABLE (no types of ours describe it). */
export type SdkClientClass = new (options: Record<string, unknown>) => {
  write(data: ArrayBuffer | Uint8Array | null, options?: Record<string, unknown>): number;
  read(count?: number): ArrayBuffer | undefined;
  close(): void;
};

/** The SDK client behind BenchClient. */
export function createSdkClient(MQTTClient: SdkClientClass, env: ClientEnv, events: BenchEvents): BenchClient {
  return new SdkDriver(MQTTClient, env, events);
}

class SdkDriver implements BenchClient {
  readonly MQTTClient: SdkClientClass;
  readonly options: Record<string, unknown>;
  client!: InstanceType<SdkClientClass>;
  /** Room the client last reported (its write() and onWritable answer it). */
  writable = 0;
  nextId = 0;
  /** Bytes of the incoming message read so far. */
  received = 0;
  /** Options objects reused from publish to publish, as an app would. */
  readonly qos0: Record<string, unknown>;
  readonly qos1: { topic: string; QoS: number; id: number };

  constructor(MQTTClient: SdkClientClass, env: ClientEnv, events: BenchEvents) {
    this.qos0 = { topic: env.topic };
    this.qos1 = { topic: env.topic, QoS: 1, id: 0 };
    const d = this;
    this.MQTTClient = MQTTClient;
    this.options = {
      host: "broker.bench",
      port: 1883,
      id: env.clientId,
      clean: true,
      keepalive: env.keepAlive * 1000,
      dns: { io: MemoryResolver },
      socket: { io: env.TCP },
      onControl(msg: { operation: number; id?: number; returnCode?: number }) {
        switch (msg.operation) {
          case CONNACK:
            events.connected();
            break;
          case PUBACK:
            events.delivered();
            break;
          case SUBACK:
            events.subscribed();
            break;
        }
      },
      onWritable(count: number) {
        d.writable = count;
      },
      onReadable(count: number, options: { more: boolean }) {
        const bytes = d.client.read(count);
        d.received += bytes ? bytes.byteLength : 0;
        if (!options.more) {
          events.message(d.received, bytes);
          d.received = 0;
        }
      },
      onError() {
        events.error(new Error("the SDK client reported an error (it traces the reason)"));
      },
    };
  }

  connect(): void {
    this.client = new this.MQTTClient(this.options);
  }

  publish(payload: Uint8Array, qos: 0 | 1): void {
    if (qos === 0) {
      this.writable = this.client.write(payload, this.qos0);
      return;
    }
    const o = this.qos1;
    o.id = this.nextId = (this.nextId % 65535) + 1;
    this.writable = this.client.write(payload, o);
  }

  subscribe(filter: string, qos: 0 | 1): void {
    this.writable = this.client.write(null, { operation: SUBSCRIBE, items: [{ topic: filter, QoS: qos }] });
  }

  close(): void {
    this.client.close();
  }
}
