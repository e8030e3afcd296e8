// @xs
/*
 * Robustness: random and mutated input never makes the decoder throw (MQTT 5.0 §4.13: bad
 * input becomes an error, not a crash), and whatever it does accept is a packet the encoder
 * can write back, which decodes to the same packet.
 */
import { MqttDecoder, encodePacket } from "../support/mqtt-codec";
import type { MqttPacket, MqttVersion } from "../support/mqtt-codec";
import { decodeAll } from "./helpers";
import { samples311, samples5 } from "./samples";

class Lcg {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (Math.imul(this.s, 1664525) + 1013904223) >>> 0;
    return this.s >>> 8;
  }
  int(n: number): number {
    return this.next() % n;
  }
}

function decodeSafely(input: Uint8Array, version: MqttVersion, chunk: number): { packets: MqttPacket[]; threw: unknown } {
  const d = new MqttDecoder({ version, maximumPacketSize: 4096 });
  const packets: MqttPacket[] = [];
  let threw: unknown;
  try {
    for (let i = 0; i < input.length; i += chunk) {
      d.feed(input.subarray(i, i + chunk));
      for (let p = d.next(); p !== undefined; p = d.next()) packets.push(p);
    }
  } catch (e) {
    threw = e;
  }
  return { packets, threw };
}

function checkReencodes(packets: MqttPacket[], version: MqttVersion): void {
  for (const p of packets) {
    const v = p.type === 1 ? p.protocolVersion : version;
    const again = decodeAll(encodePacket(p, v), v);
    expect(again.error).toBeUndefined();
    expect(again.packets[0]).toEqual(p);
  }
}

for (const [label, version, samples] of [["3.1.1", 4, samples311], ["5.0", 5, samples5]] as [string, MqttVersion, [string, MqttPacket][]][]) {
  describe("fuzz MQTT " + label, () => {
    it("random bytes: never throws; accepted packets re-encode", () => {
      const rng = new Lcg(version * 7919);
      let accepted = 0;
      for (let n = 0; n < 1500; n++) {
        const len = 1 + rng.int(40);
        const input = new Uint8Array(len);
        for (let i = 0; i < len; i++) input[i] = rng.int(256);
        // Bias toward plausible headers: a known type with a fitting Remaining Length.
        if (n % 2 === 0 && len > 2) {
          input[0] = (1 + rng.int(15)) << 4 | [0, 2, 0][rng.int(3)];
          input[1] = len - 2;
        }
        const { packets, threw } = decodeSafely(input, version, 1 + rng.int(8));
        expect(threw).toBeUndefined();
        accepted += packets.length;
        checkReencodes(packets, version);
      }
      expect(accepted).toBeGreaterThan(0);
    });

    it("mutated valid packets: never throws; accepted packets re-encode", () => {
      const rng = new Lcg(version * 104729);
      const encoded = samples.map(([, p]) => encodePacket(p, version));
      for (let n = 0; n < 1500; n++) {
        const input = encoded[rng.int(encoded.length)].slice();
        const flips = 1 + rng.int(3);
        for (let k = 0; k < flips; k++) input[rng.int(input.length)] = rng.int(256);
        const { packets, threw } = decodeSafely(input, version, 1 + rng.int(16));
        expect(threw).toBeUndefined();
        checkReencodes(packets, version);
      }
    });
  });
}
