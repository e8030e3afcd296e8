// @xs
/*
 * CoAP messaging over sim/udp-network.ts with 30% loss (plus duplication and
 * reordering): every CON exchange completes within MAX_TRANSMIT_WAIT or is
 * reported failed, and no request is executed twice (RFC 7252 §4.2, §4.5).
 */
import { COAP_REQUEST, COAP_RESPONSE, transmissionParameters } from "../../modules/coap/constants";
import { CoapEndpoint, type IncomingRequest } from "../../modules/coap/messaging";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { VirtualClock } from "../../sim/virtual-clock";
import { Prng } from "../../sim/prng";
import { SimNetwork } from "../../sim/udp-network";
import { ascii, text } from "./helpers";

const P = transmissionParameters();
const DEVICE = "10.0.0.2";
const SERVER = "10.0.0.1";

function bind(network: SimNetwork, address: string, port: number, make: (send: (b: Uint8Array, a: string, p: number) => void) => CoapEndpoint): CoapEndpoint {
  let ep: CoapEndpoint | undefined;
  const socket = new (network.host(address).UDP)({
    port,
    onReadable() {
      for (let p = this.read(); p; p = this.read()) ep!.receive(p, p.address, p.port);
    },
  });
  ep = make((b, a, p) => socket.write(b, a, p));
  return ep;
}

function run(seed: number, separate: boolean) {
  const clock = new VirtualClock();
  const network = new SimNetwork({ clock, seed, loss: 0.3, duplicate: 0.1, reorder: 0.1, latencyMs: 20, jitterMs: 30 });
  const errors: unknown[] = [];
  const scheduler = new Scheduler({ clock, onError: (e) => errors.push(e) });
  const rng = new Prng(seed * 7919);
  const executed = new Map<string, number>();
  const server = bind(network, SERVER, 5683, (send) =>
    new CoapEndpoint({
      send,
      scheduler,
      random: (b) => rng.fill(b),
      onError: (e) => errors.push(e),
      onRequest: (req: IncomingRequest) => {
        const key = text(req.message.payload);
        executed.set(key, (executed.get(key) ?? 0) + 1);
        if (separate) scheduler.after(1500, () => req.respond({ code: COAP_RESPONSE.CHANGED, payload: ascii("ok " + key) }));
        else req.respond({ code: COAP_RESPONSE.CHANGED, payload: ascii("ok " + key) });
      },
    }),
  );
  const device = bind(network, DEVICE, 5683, (send) => new CoapEndpoint({ send, scheduler, random: (b) => rng.fill(b), onError: (e) => errors.push(e) }));
  const N = 40;
  const outcomes: { key: string; ok: boolean; duration: number; body?: string }[] = [];
  let next = 0;
  const start = () => {
    if (next >= N) return;
    const key = "reading-" + next++;
    const t0 = clock.now();
    device.request({ code: COAP_REQUEST.POST, payload: ascii(key) }, SERVER, 5683, {
      onResponse: (r) => {
        outcomes.push({ key, ok: true, duration: clock.now() - t0, body: text(r.payload) });
        start();
      },
      onFail: () => {
        outcomes.push({ key, ok: false, duration: clock.now() - t0 });
        start();
      },
    });
  };
  start();
  clock.runAll(N * 200000);
  void server;
  return { outcomes, executed, errors, network, N };
}

describe("30% loss on a simulated UDP network", () => {
  it.each([[1, false], [2, false], [3, true], [4, true]])("seed %i (separate responses: %p)", (seed, separate) => {
    const { outcomes, executed, errors, network, N } = run(seed as number, separate as boolean);
    expect(errors).toEqual([]);
    expect(outcomes.length).toBe(N); // every exchange ends: response or failure
    for (const o of outcomes) {
      expect(o.duration).toBeLessThanOrEqual(P.MAX_TRANSMIT_WAIT);
      if (o.ok) expect(o.body).toBe("ok " + o.key);
    }
    // no request executed twice despite retransmissions and network duplicates
    for (const count of executed.values()) expect(count).toBe(1);
    const ok = outcomes.filter((o) => o.ok).length;
    expect(ok).toBeGreaterThanOrEqual(N * 0.8);
    expect(network.counters.dropped).toBeGreaterThan(0);
    expect(network.counters.duplicated).toBeGreaterThan(0);
  });
});
