/*
 * Portable fixture for the CoapServer / CoapUriClient suites: a VirtualClock, one
 * Scheduler, a sim/udp-network.ts SimNetwork, a server and a client each on
 * their own simulated host through the ECMA-419 UDP binding (messaging.ts openUdpEndpoint).
 * `settle(promise)` moves virtual time until the promise settles.
 */
import { CoapServer, type CoapServerOptions } from "../../modules/coap/server";
import { CoapUriClient, type CoapUriClientOptions } from "../../modules/coap/uri-client";
import { decode, type CoapMessage } from "../../modules/coap/codec";
import type { OutgoingRequest } from "../../modules/coap/messaging";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { VirtualClock } from "../../sim/virtual-clock";
import { Prng } from "../../sim/prng";
import { SimNetwork, type LinkConditions } from "../../sim/udp-network";

export const SERVER = "10.0.0.1";
export const CLIENT = "10.0.0.2";
export const PORT = 5683;

export interface Fixture {
  clock: VirtualClock;
  scheduler: Scheduler;
  network: SimNetwork;
  server: CoapServer;
  client: CoapUriClient;
  errors: unknown[];
  /** Every datagram decoded, in send order (from network.trace). */
  messages(): { from: string; to: string; message: CoapMessage | undefined }[];
  /** Advances virtual time until `p` settles (or `maxMs` passes); returns its value or throws its error. */
  settle<T>(p: Promise<T>, maxMs?: number): Promise<T>;
  /** Advances virtual time by `ms`, letting promise callbacks run in between. */
  advance(ms: number): Promise<void>;
  uri(path: string): string;
  /** One request straight through the client's endpoint; resolves with the response message. */
  raw(req: OutgoingRequest): Promise<CoapMessage>;
  close(): void;
}

export interface FixtureOptions {
  seed?: number;
  conditions?: LinkConditions;
  server?: Partial<CoapServerOptions>;
  client?: Partial<CoapUriClientOptions>;
}

async function flush(): Promise<void> {
  for (let i = 0; i < 8; i++) await Promise.resolve();
}

export function makeFixture(options: FixtureOptions = {}): Fixture {
  const clock = new VirtualClock();
  const errors: unknown[] = [];
  const scheduler = new Scheduler({ clock, onError: (e) => errors.push(e) });
  const seed = options.seed ?? 1;
  const network = new SimNetwork({ clock, seed, latencyMs: 5, ...(options.conditions ?? {}) });
  const rng = new Prng(seed * 31 + 7);
  const random = (b: Uint8Array) => rng.fill(b);
  const sent: { from: string; to: string; bytes: Uint8Array }[] = [];
  const tap = (host: string, UDP: any) =>
    class extends UDP {
      write(data: Uint8Array, address: string, port: number) {
        sent.push({ from: host, to: address, bytes: new Uint8Array(data).slice() });
        super.write(data, address, port);
      }
    };
  const server = new CoapServer({
    socket: { io: tap(SERVER, network.host(SERVER).UDP) as any, port: PORT },
    scheduler,
    random,
    onError: (e) => errors.push(e),
    ...(options.server ?? {}),
  });
  const client = new CoapUriClient({
    socket: { io: tap(CLIENT, network.host(CLIENT).UDP) as any, port: PORT },
    scheduler,
    random,
    onError: (e) => errors.push(e),
    ...(options.client ?? {}),
  });
  const fx: Fixture = {
    clock,
    scheduler,
    network,
    server,
    client,
    errors,
    messages() {
      return sent.map((s) => {
        const r = decode(s.bytes);
        return { from: s.from, to: s.to, message: r.ok ? r.message : undefined };
      });
    },
    async settle<T>(p: Promise<T>, maxMs = 300000): Promise<T> {
      let done = false;
      let failed = false;
      let value: T | undefined;
      let error: unknown;
      p.then(
        (v) => {
          done = true;
          value = v;
        },
        (e) => {
          done = true;
          failed = true;
          error = e;
        },
      );
      await flush();
      let t = 0;
      while (!done && t < maxMs) {
        const next = clock.nextTimerAt();
        const step = next === undefined ? 10 : Math.max(1, Math.min(1000, next - clock.now()));
        clock.advance(step);
        t += step;
        await flush();
      }
      if (!done) throw new Error(`settle: not settled after ${maxMs} ms of virtual time`);
      if (failed) throw error;
      return value as T;
    },
    async advance(ms: number) {
      const until = clock.now() + ms;
      await flush();
      while (clock.now() < until) {
        const next = clock.nextTimerAt();
        const to = next === undefined || next > until ? until : Math.max(next, clock.now());
        clock.advanceTo(to);
        await flush();
        if (next === undefined || next > until) break;
      }
    },
    raw(req: OutgoingRequest) {
      return new Promise<CoapMessage>((resolve, reject) => {
        client.endpoint.request(req, SERVER, PORT, { onResponse: (m) => resolve(m), onFail: (r) => reject(new Error("raw request failed: " + r)) });
      });
    },
    uri(path: string) {
      return `coap://${SERVER}:${PORT}${path}`;
    },
    close() {
      client.close();
      server.close();
    },
  };
  return fx;
}

export function text(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

export function bytes(n: number, seed = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + seed + (i >> 8)) & 0xff;
  return out;
}
