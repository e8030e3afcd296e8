// @xs
/*
 * Size-bounded SenML: packs never over the limit, every one self-contained
 * (RFC 8428 §4.1 base fields repeated), no record lost or reordered, a record
 * that cannot fit alone is a clear error; and the MQTT PUBLISH payload limit
 * (MQTT 5.0 §3.2.2.3.6, [MQTT-3.2.2-15]) checked against our MQTT encoder.
 */
import {
  decodeSenmlCbor,
  decodeSenmlJson,
  encodeSenmlCbor,
  encodeSenmlJson,
  formatSenmlError,
  readingsToPack,
  resolveSenml,
  type ResolvedRecord,
  type SenmlDecodeResult,
  type SenmlPack,
  type TelemetryReading,
} from "../../modules/telemetry/senml";
import { SenmlSplitError, encodeSenml, mqttPublishPayloadLimit, splitSenml, type SenmlFormat } from "../../modules/telemetry/split";
import { encodedLength } from "../support/mqtt-codec";

/** A small deterministic PRNG (mulberry32), so a failure names its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomReadings(rand: () => number): TelemetryReading[] {
  const n = 1 + Math.floor(rand() * 5);
  const out: TelemetryReading[] = [];
  let time = 1700000000000 + Math.floor(rand() * 1e6);
  for (let i = 0; i < n; i++) {
    const sample: any = {};
    if (rand() < 0.9) sample.thermometer = { temperature: -20 + rand() * 60 };
    if (rand() < 0.8) sample.hygrometer = { humidity: rand() * 100 };
    if (rand() < 0.7) sample.barometer = { pressure: 90000 + rand() * 20000 };
    if (rand() < 0.6) sample.lightmeter = { illuminance: rand() * 50000 };
    if (rand() < 0.5) sample.carbonDioxideDetector = { CO2: 400 + rand() * 3000 };
    if (rand() < 0.5) sample.battery = { voltage: 3 + rand() * 1.2 };
    if (Object.keys(sample).length === 0) sample.thermometer = { temperature: 20 };
    out.push({ time, sample });
    time += 1000 + Math.floor(rand() * 60000);
  }
  return out;
}

function decode(format: SenmlFormat, b: Uint8Array): SenmlDecodeResult {
  return format === "json" ? decodeSenmlJson(b) : decodeSenmlCbor(b);
}

function resolvedOf(pack: SenmlPack): ResolvedRecord[] {
  const r = resolveSenml(pack);
  if (!r.ok) throw new Error(formatSenmlError(r.error));
  return r.records;
}

/** The smallest limit that can work: the largest record with the base fields repeated, as a pack. */
function smallestLimit(pack: SenmlPack, format: SenmlFormat): number {
  let min = 0;
  for (let limit = 1; ; limit++) {
    try {
      splitSenml(pack, limit, format);
      min = limit;
      break;
    } catch (e) {
      if (!(e instanceof SenmlSplitError)) throw e;
      if (limit < e.needed - 1) limit = e.needed - 1;
    }
  }
  return min;
}

describe.each([["json"], ["cbor"]])("splitting SenML %s", (format) => {
  const f = format as SenmlFormat;

  it("a pack under the limit is one message, the same bytes as the plain encoder", () => {
    const pack = readingsToPack(randomReadings(prng(1)), { deviceId: "dev-1" });
    const whole = f === "json" ? encodeSenmlJson(pack) : encodeSenmlCbor(pack);
    const out = splitSenml(pack, whole.length, f);
    expect(out).toHaveLength(1);
    expect(Array.from(out[0])).toEqual(Array.from(whole));
    expect(Array.from(encodeSenml(pack, f))).toEqual(Array.from(whole));
  });

  it("one byte less splits it in two, both self-contained", () => {
    const pack = readingsToPack({ time: 1700000000000, sample: { thermometer: { temperature: 21.5 }, hygrometer: { humidity: 40 } } }, { deviceId: "dev-1" });
    const whole = encodeSenml(pack, f);
    const out = splitSenml(pack, whole.length - 1, f);
    expect(out).toHaveLength(2);
    const second = decode(f, out[1]);
    if (!second.ok) throw new Error(formatSenmlError(second.error));
    // §4.1: the second pack repeats bn and bt, so it resolves alone.
    expect(second.pack[0].bn).toBe("dev-1:");
    expect(second.pack[0].bt).toBe(1700000000);
    expect(second.records).toEqual([{ n: "dev-1:humidity", u: "%RH", t: 1700000000, v: 40 }]);
  });

  it("property: random batches and random limits, never over, nothing lost, order kept (200 cases)", () => {
    let splitCases = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const rand = prng(seed);
      const pack = readingsToPack(randomReadings(rand), { deviceId: "dev-" + seed });
      const whole = encodeSenml(pack, f).length;
      const min = smallestLimit(pack, f);
      const limit = min + Math.floor(rand() * (whole - min + 20));
      const out = splitSenml(pack, limit, f);
      if (out.length > 1) splitCases++;
      const got: ResolvedRecord[] = [];
      for (const b of out) {
        if (b.length > limit) throw new Error("seed " + seed + ": a pack of " + b.length + " > limit " + limit);
        const d = decode(f, b);
        if (!d.ok) throw new Error("seed " + seed + ": " + formatSenmlError(d.error));
        if (d.pack[0].bn === undefined) throw new Error("seed " + seed + ": a pack without its base name");
        for (const r of d.records) got.push(r);
      }
      expect(got).toEqual(resolvedOf(pack));
      expect(out.length).toBeLessThanOrEqual(pack.length);
      // Greedy: a pack plus the next record (as it stood in the original pack) would break the limit.
      let start = 0;
      for (let i = 0; i + 1 < out.length; i++) {
        const a = decode(f, out[i]);
        if (!a.ok) throw new Error("undecodable");
        start += a.pack.length;
        const grown = encodeSenml(a.pack.concat([pack[start]]), f).length;
        expect(grown).toBeGreaterThan(limit);
      }
    }
    // The random limits really exercise splitting.
    expect(splitCases).toBeGreaterThan(100);
  });

  it("a limit below the smallest pack for one record is a clear error naming the record", () => {
    const pack = readingsToPack({ time: 1700000000000, sample: { thermometer: { temperature: 21.5 } } }, { deviceId: "dev-1" });
    const size = encodeSenml(pack, f).length;
    let caught: unknown;
    try {
      splitSenml(pack, size - 1, f);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(SenmlSplitError);
    expect((caught as SenmlSplitError).record).toBe(0);
    expect((caught as SenmlSplitError).needed).toBe(size);
    expect((caught as SenmlSplitError).limit).toBe(size - 1);
    expect((caught as Error).message).toMatch(/record 0 needs \d+ bytes/);
  });

  it("base unit, base value, base sum and version mid-pack are repeated in the pack that needs them", () => {
    const pack: SenmlPack = [
      { bn: "m:", bt: 1700000000, bu: "W", bv: 100, bs: 10, bver: 10, n: "a", v: 1 },
      { n: "b", v: 2, s: 1 },
      { bu: "A", n: "c", v: 3 },
      { n: "d", t: 5, v: 4 },
    ];
    const min = smallestLimit(pack, f);
    const out = splitSenml(pack, min, f);
    const packs = out.map((b) => {
      const d = decode(f, b);
      if (!d.ok) throw new Error(formatSenmlError(d.error));
      return d;
    });
    const all: ResolvedRecord[] = [];
    for (const d of packs) for (const r of d.records) all.push(r);
    expect(all).toEqual(resolvedOf(pack));
    // The pack that starts with "d" carries the unit changed by "c" and the bases from "a".
    const withD = packs.find((d) => d.pack[0].n === "d");
    expect(withD).toBeDefined();
    expect(withD!.pack[0]).toEqual({ bn: "m:", bt: 1700000000, bu: "A", bv: 100, bs: 10, bver: 10, n: "d", t: 5, v: 4 });
    expect(withD!.records[0]).toEqual({ n: "m:d", u: "A", t: 1700000005, v: 104, s: 10 });
  });

  it("30 records (a CBOR array head of two bytes) split and joined again", () => {
    const readings: TelemetryReading[] = [];
    for (let i = 0; i < 5; i++) readings.push({ time: 1700000000000 + i * 10000, sample: { thermometer: { temperature: 20 + i }, hygrometer: { humidity: 40 }, barometer: { pressure: 100000 }, lightmeter: { illuminance: 10 }, carbonDioxideDetector: { CO2: 500 }, battery: { voltage: 3.7 } } });
    const pack = readingsToPack(readings, { deviceId: "d" });
    expect(pack).toHaveLength(30);
    const whole = encodeSenml(pack, f);
    if (f === "cbor") expect(whole[0]).toBe(0x98);
    for (const limit of [whole.length, whole.length - 1, Math.ceil(whole.length / 3), smallestLimit(pack, f)]) {
      const out = splitSenml(pack, limit, f);
      const got: ResolvedRecord[] = [];
      for (const b of out) {
        expect(b.length).toBeLessThanOrEqual(limit);
        const d = decode(f, b);
        if (!d.ok) throw new Error(formatSenmlError(d.error));
        for (const r of d.records) got.push(r);
      }
      expect(got).toEqual(resolvedOf(pack));
    }
  });

  it("rejects a bad limit or an invalid pack", () => {
    const pack = readingsToPack({ time: 1700000000000, sample: { thermometer: { temperature: 21.5 } } }, { deviceId: "dev-1" });
    expect(() => splitSenml(pack, 0, f)).toThrow(/maxBytes/);
    expect(() => splitSenml(pack, NaN, f)).toThrow(/maxBytes/);
    expect(() => splitSenml([{ n: "x y", v: 1 }], 100, f)).toThrow(/4\.5\.1/);
  });
});

describe("MQTT PUBLISH payload limit (MQTT 5.0 §3.2.2.3.6, [MQTT-3.2.2-15])", () => {
  const cases: [4 | 5, 0 | 1 | 2, string, boolean][] = [
    [4, 0, "xs-iot/dev-1/tele", false],
    [4, 1, "xs-iot/dev-1/tele", false],
    [5, 0, "xs-iot/dev-1/tele", false],
    [5, 2, "xs-iot/d\u00e9v/tele", true],
  ];
  it.each(cases)("MQTT %i QoS %i topic %s (properties: %p): the largest payload fits, one more byte does not", (version, qos, topic, withProps) => {
    const properties = withProps ? { contentType: "application/senml+json" } : undefined;
    const propertiesLength = withProps ? 1 + 2 + "application/senml+json".length : 0;
    const sizeWith = (n: number) =>
      encodedLength({ type: 3, topic, payload: new Uint8Array(n), qos, retain: false, dup: false, packetId: qos > 0 ? 1 : undefined, properties } as any, version);
    for (const max of [40, 64, 129, 130, 131, 200, 16384, 16387, 16388, 70000, 2097155]) {
      const limit = mqttPublishPayloadLimit(max, topic, { version, qos, propertiesLength });
      if (limit < 0) {
        expect(sizeWith(0)).toBeGreaterThan(max);
        continue;
      }
      expect(sizeWith(limit)).toBeLessThanOrEqual(max);
      expect(sizeWith(limit + 1)).toBeGreaterThan(max);
    }
  });

  it("nothing fits: -1", () => {
    expect(mqttPublishPayloadLimit(10, "a-rather-long-topic", { version: 4, qos: 0 })).toBe(-1);
  });

  it("a full reading split for a broker with a small Maximum Packet Size stays within it", () => {
    const readings = randomReadings(prng(7));
    const topic = "xs-iot/dev-1/tele";
    const pack = readingsToPack(readings, { deviceId: "dev-1" });
    const limit = mqttPublishPayloadLimit(128, topic, { version: 5, qos: 1 });
    const out = splitSenml(pack, limit, "json");
    expect(out.length).toBeGreaterThan(1);
    for (const b of out) expect(encodedLength({ type: 3, topic, payload: b, qos: 1, retain: false, dup: false, packetId: 1 } as any, 5)).toBeLessThanOrEqual(128);
  });
});
