// @xs
/*
 * CoapClient and CoapServer on sim/udp-network.ts with 30% loss, 10%
 * duplication and 10% reordering: every CON exchange completes within
 * MAX_TRANSMIT_WAIT or is reported failed within it (RFC 7252 §4.2, §4.8.2),
 * duplicates are answered from the dedup cache and never executed twice (§4.5),
 * block-wise transfers survive, and an observer ends up with the latest state
 * (RFC 7641 §3.3.1 re-registration, §4.5 CON notifications).
 */
import { transmissionParameters } from "../../modules/coap/constants";
import { CoapRequestError } from "../../modules/coap/client";
import { bytes, makeFixture, type Fixture } from "./server-fixture";

const P = transmissionParameters();
const LOSSY = { loss: 0.3, duplicate: 0.1, reorder: 0.1, latencyMs: 20, jitterMs: 30 };

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

describe("30% loss: CON exchanges through CoapClient/CoapServer", () => {
  it.each([[11], [12], [13]])("seed %i: each POST resolves or fails within MAX_TRANSMIT_WAIT; none executed twice", async (seed) => {
    const fx: Fixture = makeFixture({ seed: seed as number, conditions: LOSSY });
    const executed = new Map<string, number>();
    fx.server.add("/count", {
      post: (req) => {
        const k = req.text();
        executed.set(k, (executed.get(k) ?? 0) + 1);
        return { payload: "done " + k };
      },
    });
    const N = 30;
    let ok = 0;
    let failed = 0;
    for (let i = 0; i < N; i++) {
      const t0 = fx.clock.now();
      try {
        const r = await fx.settle(fx.client.post(fx.uri("/count"), "r" + i));
        expect(r.text()).toBe("done r" + i);
        ok++;
      } catch (e) {
        expect(e).toBeInstanceOf(CoapRequestError);
        expect((e as CoapRequestError).reason).toBe("timeout");
        failed++;
      }
      // RFC 7252 §4.8.2: the exchange ends (either way) within MAX_TRANSMIT_WAIT
      expect(fx.clock.now() - t0).toBeLessThanOrEqual(P.MAX_TRANSMIT_WAIT + 1);
    }
    expect(ok + failed).toBe(N);
    expect(ok).toBeGreaterThanOrEqual(N * 0.8);
    for (const [, count] of executed) expect(count).toBe(1);
    expect(fx.network.counters.dropped).toBeGreaterThan(0);
    expect(fx.network.counters.duplicated).toBeGreaterThan(0);
    // the server's endpoint saw duplicates and answered them from its cache
    expect(fx.errors).toEqual([]);
    fx.close();
  });
});

describe("30% loss: block-wise transfers", () => {
  // Each block is its own CON exchange; at 30% loss each way one of them may time out
  // (a legitimate RFC outcome), after which the application starts the transfer again.
  async function attempt<T>(fx: Fixture, make: () => Promise<T>, tries = 4): Promise<{ value: T; timeouts: number }> {
    let timeouts = 0;
    for (;;) {
      try {
        return { value: await fx.settle(make()), timeouts };
      } catch (e) {
        expect((e as CoapRequestError).reason).toBe("timeout");
        if (++timeouts >= tries) throw e;
      }
    }
  }
  it.each([[21], [22]])("seed %i: a 3000-byte GET and a 3000-byte PUT complete intact", async (seed) => {
    const fx = makeFixture({ seed: seed as number, conditions: LOSSY });
    let stored = bytes(3000, 4);
    let puts = 0;
    fx.server.add("/file", {
      get: () => ({ payload: stored }),
      put: (req) => {
        puts++;
        stored = req.payload;
      },
    });
    const got = await attempt(fx, () => fx.client.get(fx.uri("/file")));
    expect(equalBytes(got.value.payload, bytes(3000, 4))).toBe(true);
    const body = bytes(3000, 8);
    const put = await attempt(fx, () => fx.client.put(fx.uri("/file"), body, { block1Size: 512 }));
    expect(put.value.status).toBe("2.04");
    expect(equalBytes(stored, body)).toBe(true);
    // atomic (RFC 7959 §2.5): the handler ran once per completed body, never on a partial one
    expect(puts).toBeGreaterThanOrEqual(1);
    expect(puts).toBeLessThanOrEqual(1 + put.timeouts);
    fx.close();
  });
});

describe("30% loss: Observe", () => {
  it.each([[31], [32]])("seed %i: the observer keeps up and ends with the latest state", async (seed) => {
    const fx = makeFixture({ seed: seed as number, conditions: LOSSY, server: { notificationInterval: 0, confirmEvery: 4 } });
    let value = 0;
    const res = fx.server.add("/state", { observable: true, maxAge: 10, get: () => ({ payload: "v" + value }) });
    const got: string[] = [];
    const obs = fx.client.observe({ uri: fx.uri("/state"), onNotify: (r) => got.push(r.text()), reregisterMargin: 1000, onError: () => undefined });
    await fx.advance(10000);
    for (let i = 0; i < 40; i++) {
      value++;
      res.notify();
      await fx.advance(2000);
    }
    // quiet period: the last notification may have been lost; re-registration (§3.3.1) or the CON repair it
    await fx.advance(10000 + 1000 + P.MAX_TRANSMIT_WAIT);
    expect(got[got.length - 1]).toBe("v40");
    expect(got.length).toBeGreaterThanOrEqual(20);
    // notifications were delivered in order: never an older state after a newer one (§3.4)
    const nums = got.map((s) => Number(s.slice(1)));
    for (let i = 1; i < nums.length; i++) expect(nums[i]).toBeGreaterThanOrEqual(nums[i - 1]);
    expect(obs.active).toBe(true);
    expect(fx.server.observerCount).toBe(1);
    fx.close();
  });
});
