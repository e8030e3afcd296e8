// @xs
/*
 * SenML (RFC 8428): the RFC's own examples (§5.1 JSON, §6 CBOR) decode and
 * resolve, our readings as packs (names, units, rounding, times), JSON and
 * CBOR round trips, and malformed input rejected with clear errors (§4).
 */
import {
  CONTENT_FORMAT_SENML_CBOR,
  CONTENT_FORMAT_SENML_JSON,
  QUANTITIES,
  decodeBase64url,
  decodeSenmlCbor,
  decodeSenmlJson,
  encodeBase64url,
  encodeSenmlCbor,
  encodeSenmlJson,
  formatSenmlError,
  isValidSenmlName,
  readingsToPack,
  resolveSenml,
  roundTo,
  senmlJsonString,
  type SenmlDecodeResult,
  type SenmlPack,
  type TelemetryReading,
} from "../../modules/telemetry/senml";
import { encodeCbor } from "../../modules/cbor/cbor";

function bytes(h: string): Uint8Array {
  const clean = h.replace(/[^0-9a-f]/g, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.substr(i * 2, 2), 16);
  return out;
}
function hex(b: Uint8Array): string {
  return Array.from(b).map((x) => (x < 16 ? "0" : "") + x.toString(16)).join("");
}
function ok(r: SenmlDecodeResult) {
  if (!r.ok) throw new Error(formatSenmlError(r.error));
  return r;
}
function err(r: SenmlDecodeResult): string {
  if (r.ok) throw new Error("expected an error, got " + JSON.stringify(r.records));
  return formatSenmlError(r.error);
}

const FULL: TelemetryReading = {
  time: 1700000000123,
  sample: {
    thermometer: { temperature: 21.4687 },
    hygrometer: { humidity: 45.23456 },
    barometer: { pressure: 101325.37 },
    lightmeter: { illuminance: 312.456 },
    carbonDioxideDetector: { CO2: 612.4 },
    battery: { voltage: 3.71234 },
  },
};

describe("RFC 8428 §5.1 JSON examples decode and resolve", () => {
  it("§5.1.1 single data point", () => {
    const r = ok(decodeSenmlJson('[{"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1}]'));
    expect(r.records).toEqual([{ n: "urn:dev:ow:10e2073a01080063", u: "Cel", v: 23.1, t: 0 }]);
  });

  it("§5.1.2 multiple data points: base name, base time, base unit, bver 5 carried into resolved records (§4.6)", () => {
    const text = `[{"bn":"urn:dev:ow:10e2073a0108006:","bt":1.276020076001e+09,"bu":"A","bver":5,"n":"voltage","u":"V","v":120.1},
      {"n":"current","t":-5,"v":1.2},{"n":"current","t":-4,"v":1.3},{"n":"current","t":-3,"v":1.4},
      {"n":"current","t":-2,"v":1.5},{"n":"current","t":-1,"v":1.6},{"n":"current","v":1.7}]`;
    const r = ok(decodeSenmlJson(text));
    expect(r.records).toHaveLength(7);
    // Chronological order (§4.6): the five earlier currents come first.
    expect(r.records[0]).toEqual({ n: "urn:dev:ow:10e2073a0108006:current", u: "A", t: 1276020076.001 - 5, v: 1.2, bver: 5 });
    expect(r.records[5]).toEqual({ n: "urn:dev:ow:10e2073a0108006:voltage", u: "V", t: 1276020076.001, v: 120.1, bver: 5 });
    expect(r.records[6].v).toBe(1.7);
  });

  it("§5.1.2 SenSML example and §5.1.3 multiple measurements: base unit and per-record unit", () => {
    const text = `[{"bn":"urn:dev:ow:10e2073a01080063","bt":1.320067464e+09,"bu":"%RH","v":20},
      {"u":"lon","v":24.30621},{"u":"lat","v":60.07965},{"t":60,"v":20.3},{"u":"lon","t":60,"v":24.30622},
      {"u":"lat","t":60,"v":60.07965},{"t":120,"v":20.7},{"u":"lon","t":120,"v":24.30623},{"u":"lat","t":120,"v":60.07966},
      {"u":"%EL","t":150,"v":98},{"t":180,"v":21.2},{"u":"lon","t":180,"v":24.30628},{"u":"lat","t":180,"v":60.07967}]`;
    const r = ok(decodeSenmlJson(text));
    expect(r.records).toHaveLength(13);
    // §5.1.4 shows the resolved form: compare a few records with it.
    expect(r.records[0]).toEqual({ n: "urn:dev:ow:10e2073a01080063", u: "%RH", t: 1.320067464e9, v: 20 });
    expect(r.records[1]).toEqual({ n: "urn:dev:ow:10e2073a01080063", u: "lon", t: 1.320067464e9, v: 24.30621 });
    expect(r.records[9]).toEqual({ n: "urn:dev:ow:10e2073a01080063", u: "%EL", t: 1.320067614e9, v: 98 });
    expect(r.records[12]).toEqual({ n: "urn:dev:ow:10e2073a01080063", u: "lat", t: 1.320067644e9, v: 60.07967 });
  });

  it("§5.1.4 resolved data decodes to itself", () => {
    const text = `[{"n":"urn:dev:ow:10e2073a01080063","u":"%RH","t":1.320067464e+09,"v":20},
      {"n":"urn:dev:ow:10e2073a01080063","u":"lon","t":1.320067464e+09,"v":24.30621}]`;
    const r = ok(decodeSenmlJson(text));
    expect(r.records).toEqual([
      { n: "urn:dev:ow:10e2073a01080063", u: "%RH", t: 1320067464, v: 20 },
      { n: "urn:dev:ow:10e2073a01080063", u: "lon", t: 1320067464, v: 24.30621 },
    ]);
  });

  it("§5.1.5 multiple data types: vs, vb, vd (base64url, RFC 4648 §5)", () => {
    const text = `[{"bn":"urn:dev:ow:10e2073a01080063:","n":"temp","u":"Cel","v":23.1},
      {"n":"label","vs":"Machine Room"},{"n":"open","vb":false},{"n":"nfc-reader","vd":"aGkgCg"}]`;
    const r = ok(decodeSenmlJson(text));
    expect(r.records[1]).toEqual({ n: "urn:dev:ow:10e2073a01080063:label", t: 0, vs: "Machine Room" });
    expect(r.records[2].vb).toBe(false);
    expect(Array.from(r.records[3].vd as Uint8Array)).toEqual([0x68, 0x69, 0x20, 0x0a]); // "hi \n"
    // And back: the same JSON text (our encoder keeps the record's field order).
    expect(senmlJsonString(r.pack)).toBe(text.replace(/\s+/g, "").replace("MachineRoom", "Machine Room"));
  });

  it("§5.1.6 collection of resources: a later bn changes the name, bt carries over", () => {
    const text = `[{"bn":"2001:db8::2/","bt":1.320078429e+09,"n":"temperature","u":"Cel","v":25.2},
      {"n":"humidity","u":"%RH","v":30},{"bn":"2001:db8::1/","n":"temperature","u":"Cel","v":12.3},{"n":"humidity","u":"%RH","v":67}]`;
    const r = ok(decodeSenmlJson(text));
    expect(r.records.map((x) => x.n)).toEqual(["2001:db8::2/temperature", "2001:db8::2/humidity", "2001:db8::1/temperature", "2001:db8::1/humidity"]);
    expect(r.records[3].t).toBe(1320078429);
  });

  it("§5.1.7 setting an actuator: a record of base fields only; relative 0.1 s", () => {
    const a = ok(decodeSenmlJson('[{"bn":"urn:dev:ow:10e2073a01080063:"},{"n":"temp","u":"Cel","v":23.1},{"n":"heat","u":"/","v":1},{"n":"fan","u":"/","v":0}]'));
    expect(a.records.map((x) => x.n)).toEqual(["urn:dev:ow:10e2073a01080063:temp", "urn:dev:ow:10e2073a01080063:heat", "urn:dev:ow:10e2073a01080063:fan"]);
    const b = ok(decodeSenmlJson('[{"bt":1.320078429e+09,"bu":"/","n":"2001:db8::3","v":0.5},{"n":"2001:db8::4","v":0.5},{"n":"2001:db8::3","t":0.1,"v":0},{"n":"2001:db8::4","t":0.1,"v":0}]'));
    expect(b.records[2]).toEqual({ n: "2001:db8::3", u: "/", t: 1320078429.1, v: 0 });
  });
});

describe("RFC 8428 §6 CBOR example", () => {
  const RFC_CBOR =
    "87 a7 21 78 1b 75 72 6e 3a 64 65 76 3a 6f 77 3a 31 30 65 32 30 37 33 61 30 31 30 38 30 30 36 3a" +
    "22 fb 41 d3 03 a1 5b 00 10 62 23 61 41 20 05 00 67 76 6f 6c 74 61 67 65 01 61 56 02 fb 40 5e 06" +
    "66 66 66 66 66 a3 00 67 63 75 72 72 65 6e 74 06 24 02 fb 3f f3 33 33 33 33 33 33 a3 00 67 63 75" +
    "72 72 65 6e 74 06 23 02 fb 3f f4 cc cc cc cc cc cd a3 00 67 63 75 72 72 65 6e 74 06 22 02 fb 3f" +
    "f6 66 66 66 66 66 66 a3 00 67 63 75 72 72 65 6e 74 06 21 02 f9 3e 00 a3 00 67 63 75 72 72 65 6e" +
    "74 06 20 02 fb 3f f9 99 99 99 99 99 9a a3 00 67 63 75 72 72 65 6e 74 06 00 02 fb 3f fb 33 33 33 33 33 33";

  it("decodes to the same resolved records as the §5.1.2 JSON", () => {
    const c = ok(decodeSenmlCbor(bytes(RFC_CBOR)));
    expect(bytes(RFC_CBOR).length).toBe(0xc3);
    const j = ok(
      decodeSenmlJson(`[{"bn":"urn:dev:ow:10e2073a0108006:","bt":1.276020076001e+09,"bu":"A","bver":5,"n":"voltage","u":"V","v":120.1},
      {"n":"current","t":-5,"v":1.2},{"n":"current","t":-4,"v":1.3},{"n":"current","t":-3,"v":1.4},
      {"n":"current","t":-2,"v":1.5},{"n":"current","t":-1,"v":1.6},{"n":"current","t":0,"v":1.7}]`),
    );
    expect(c.records).toEqual(j.records);
    expect(c.pack[0]).toEqual({ bn: "urn:dev:ow:10e2073a0108006:", bt: 1276020076.001, bu: "A", bver: 5, n: "voltage", u: "V", v: 120.1 });
  });

  it("re-encodes byte for byte (integer labels of Table 4, preferred floats: 1.5 as f9 3e00)", () => {
    const c = ok(decodeSenmlCbor(bytes(RFC_CBOR)));
    expect(hex(encodeSenmlCbor(c.pack))).toBe(RFC_CBOR.replace(/ /g, ""));
  });
});

describe("our readings as SenML", () => {
  it("a full reading: base name <device-id>:, base time in seconds, one record per quantity", () => {
    const pack = readingsToPack(FULL, { deviceId: "dev-1" });
    expect(pack).toEqual([
      { bn: "dev-1:", bt: 1700000000.123, n: "temperature", u: "Cel", v: 21.47 },
      { n: "humidity", u: "%RH", v: 45.2 },
      { n: "pressure", u: "Pa", v: 101325 },
      { n: "illuminance", u: "lx", v: 312.5 },
      { n: "co2", u: "ppm", v: 612 },
      { n: "battery", u: "V", v: 3.712 },
    ]);
    expect(senmlJsonString(pack)).toBe(
      '[{"bn":"dev-1:","bt":1700000000.123,"n":"temperature","u":"Cel","v":21.47},{"n":"humidity","u":"%RH","v":45.2},' +
        '{"n":"pressure","u":"Pa","v":101325},{"n":"illuminance","u":"lx","v":312.5},{"n":"co2","u":"ppm","v":612},{"n":"battery","u":"V","v":3.712}]',
    );
  });

  it.each(QUANTITIES.map((q) => [q.name, q.unit]))("quantity %s has unit %s and resolves under the base name", (name, unit) => {
    const r = ok(decodeSenmlJson(encodeSenmlJson(readingsToPack(FULL, { deviceId: "dev-1" }))));
    const rec = r.records.find((x) => x.n === "dev-1:" + name);
    expect(rec).toBeDefined();
    expect(rec!.u).toBe(unit);
    expect(rec!.t).toBe(1700000000.123);
  });

  it("units are SenML units: Cel, %RH, Pa, lx, V are in RFC 8428 Table 6; ppm is the one secondary unit", () => {
    const table6 = ["Cel", "%RH", "Pa", "lx", "V", "/"];
    const notInTable6 = QUANTITIES.filter((q) => table6.indexOf(q.unit) < 0).map((q) => q.unit);
    expect(notInTable6).toEqual(["ppm"]);
  });

  it('co2Unit "/" sends the Table 6 ratio (ppm * 1e-6)', () => {
    const pack = readingsToPack(FULL, { deviceId: "dev-1", co2Unit: "/" });
    const co2 = pack.find((r) => r.n === "co2")!;
    expect(co2.u).toBe("/");
    expect(co2.v).toBe(0.000612);
    expect(senmlJsonString([co2 as any].map((r) => ({ bn: "x:", ...r })))).toContain('"v":0.000612');
  });

  it("missing quantities and non-finite values are left out, never sent as made-up values", () => {
    const pack = readingsToPack({ time: 1700000000000, sample: { thermometer: { temperature: NaN }, hygrometer: { humidity: 40 } } }, { deviceId: "d" });
    expect(pack).toEqual([{ bn: "d:", bt: 1700000000, n: "humidity", u: "%RH", v: 40 }]);
  });

  it("no wall-clock time (NaN): no bt, the records mean roughly now (§4.5.3)", () => {
    const pack = readingsToPack({ time: NaN, sample: { thermometer: { temperature: 20 } } }, { deviceId: "d" });
    expect(pack).toEqual([{ bn: "d:", n: "temperature", u: "Cel", v: 20 }]);
    const r = ok(decodeSenmlJson(encodeSenmlJson(pack), { now: 1700000000 }));
    expect(r.records[0].t).toBe(1700000000);
  });

  it("a batch: later readings carry t relative to the first one's bt (ms kept exactly)", () => {
    const batch: TelemetryReading[] = [
      { time: 1700000000000, sample: { thermometer: { temperature: 20 } } },
      { time: 1700000010250, sample: { thermometer: { temperature: 20.5 } } },
      { time: 1700000020000, sample: { thermometer: { temperature: 21 }, hygrometer: { humidity: 50 } } },
    ];
    const pack = readingsToPack(batch, { deviceId: "d" });
    expect(pack).toEqual([
      { bn: "d:", bt: 1700000000, n: "temperature", u: "Cel", v: 20 },
      { n: "temperature", u: "Cel", t: 10.25, v: 20.5 },
      { n: "temperature", u: "Cel", t: 20, v: 21 },
      { n: "humidity", u: "%RH", t: 20, v: 50 },
    ]);
    const r = ok(decodeSenmlCbor(encodeSenmlCbor(pack)));
    expect(r.records.map((x) => x.t)).toEqual([1700000000, 1700000010.25, 1700000020, 1700000020]);
  });

  it("values rounded to the quantity's resolution; decimals option overrides; -0 becomes 0", () => {
    expect(roundTo(21.4649, 2)).toBe(21.46);
    expect(roundTo(-0.04, 1)).toBe(0);
    expect(Object.is(roundTo(-0.4, 0), 0)).toBe(true);
    const pack = readingsToPack(FULL, { deviceId: "d", decimals: { temperature: 0, pressure: 1 } });
    expect(pack[0].v).toBe(21);
    expect(pack[2].v).toBe(101325.4);
    expect(() => readingsToPack(FULL, { deviceId: "d", decimals: { temperature: -1 } })).toThrow(/decimals/);
  });

  it("base name rules (§4.5.1): a device id starting with - or _ needs a baseName; a URN baseName works", () => {
    expect(() => readingsToPack(FULL, { deviceId: "-dev" })).toThrow(/4\.5\.1/);
    expect(() => readingsToPack(FULL, {})).toThrow(/deviceId or a baseName/);
    const pack = readingsToPack(FULL, { baseName: "urn:dev:mac:0024befffe804ff1:" });
    expect(ok(decodeSenmlJson(encodeSenmlJson(pack))).records[0].n).toBe("urn:dev:mac:0024befffe804ff1:temperature");
    expect(isValidSenmlName("a/b:c.d-e_f")).toBe(true);
    expect(isValidSenmlName("a b")).toBe(false);
  });

  it("round trip JSON and CBOR: the same pack and the same resolved records", () => {
    const pack = readingsToPack(FULL, { deviceId: "dev-1" });
    const j = ok(decodeSenmlJson(encodeSenmlJson(pack)));
    const c = ok(decodeSenmlCbor(encodeSenmlCbor(pack)));
    expect(j.pack).toEqual(pack);
    expect(c.pack).toEqual(pack);
    expect(c.records).toEqual(j.records);
  });

  it("sizes of one full reading (6 quantities): CBOR is smaller than JSON", () => {
    const pack = readingsToPack(FULL, { deviceId: "dev-1" });
    const json = encodeSenmlJson(pack).length;
    const cbor = encodeSenmlCbor(pack).length;
    // Measured figures, reported in docs/telemetry.md; exact so a change is noticed.
    expect(json).toBe(251);
    expect(cbor).toBe(155);
    expect(cbor).toBeLessThan(json * 0.65);
    // The hand-written JSON is byte for byte what JSON.stringify gives for the same pack.
    expect(senmlJsonString(pack)).toBe(JSON.stringify(pack));
  });

  it("content formats (RFC 8428 §12.5)", () => {
    expect(CONTENT_FORMAT_SENML_JSON).toBe(110);
    expect(CONTENT_FORMAT_SENML_CBOR).toBe(112);
  });
});

describe("the direct SenML CBOR writer matches the generic CBOR encoder (RFC 8949 §4.1)", () => {
  const values = [0, 1, 23, 24, 255, 256, 65535, 65536, 4294967295, 4294967296, 9007199254740991, -1, -24, -25, -256, -257, -4294967297,
    1.5, -1.5, 0.5, 65504, 65504.5, 100000.5, 5.960464477539063e-8, 6.103515625e-5, 6.097555160522461e-5, 1e300, -4.1, 21.47, 3.712, 0.000612,
    1700000000.123, 3.4028234663852886e38, 1 / 3, -0];
  it.each(values.map((v) => [v]))("v = %p", (v) => {
    const ours = encodeSenmlCbor([{ n: "a", v: v as number }]);
    const generic = encodeCbor([new Map<number, unknown>([[0, "a"], [2, v]])]);
    expect(hex(ours)).toBe(hex(generic));
  });
  it("random doubles, floats and halves", () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let i = 0; i < 500; i++) {
      const kind = i % 4;
      const x = kind === 0 ? (rand() - 0.5) * 1e6 : kind === 1 ? Math.fround((rand() - 0.5) * 1000) : kind === 2 ? Math.round((rand() - 0.5) * 4096) / 64 : Math.round(rand() * 1e9) / 1000;
      expect(hex(encodeSenmlCbor([{ n: "a", v: x }]))).toBe(hex(encodeCbor([new Map<number, unknown>([[0, "a"], [2, x]])])));
    }
  });
  it("strings (UTF-8), booleans, bytes, versions and extensions", () => {
    const pack: SenmlPack = [{ bn: "urn:x:", bver: 10, n: "cafe", vs: "\u6c34 \ud800\udd51", ext: { deep: [1, "x"] } } as any, { n: "b", vb: true }, { n: "c", vd: new Uint8Array([0, 255]) }];
    const generic = encodeCbor([
      new Map<number | string, unknown>([[-2, "urn:x:"], [-1, 10], [0, "cafe"], [3, "\u6c34 \ud800\udd51"], ["ext", { deep: [1, "x"] }]]),
      new Map<number, unknown>([[0, "b"], [4, true]]),
      new Map<number, unknown>([[0, "c"], [8, new Uint8Array([0, 255])]]),
    ]);
    expect(hex(encodeSenmlCbor(pack))).toBe(hex(generic));
    const back = decodeSenmlCbor(encodeSenmlCbor(pack));
    expect(back.ok && back.pack[0].vs).toBe("\u6c34 \ud800\udd51");
  });
});

describe("packs from readings are frozen, copies are checked again", () => {
  it("frozen", () => {
    const pack = readingsToPack(FULL, { deviceId: "d" });
    expect(Object.isFrozen(pack)).toBe(true);
    expect(Object.isFrozen(pack[0])).toBe(true);
  });
  it("a modified copy is validated by the encoders", () => {
    const pack = readingsToPack(FULL, { deviceId: "d" }).map((r) => ({ ...r }));
    pack[1].n = "bad name";
    expect(() => encodeSenmlCbor(pack)).toThrow(/4\.5\.1/);
    expect(() => encodeSenmlJson(pack)).toThrow(/4\.5\.1/);
  });
});

describe("base64url (RFC 4648 §5, no padding)", () => {
  it.each([[""], ["f"], ["fo"], ["foo"], ["foob"], ["fooba"], ["foobar"]])("round trip %p", (s) => {
    const b = new Uint8Array(Array.from(s as string).map((c) => c.charCodeAt(0)));
    const e = encodeBase64url(b);
    expect(e).not.toContain("=");
    expect(Array.from(decodeBase64url(e)!)).toEqual(Array.from(b));
  });
  it("URL-safe alphabet and rejects", () => {
    expect(encodeBase64url(new Uint8Array([0xfb, 0xff]))).toBe("-_8");
    expect(decodeBase64url("a")).toBeUndefined();
    expect(decodeBase64url("aGk=")).toBeUndefined();
    expect(decodeBase64url("a+b/")).toBeUndefined();
    expect(Array.from(decodeBase64url("aGk")!)).toEqual([0x68, 0x69]);
    expect(decodeBase64url("aGl")).toBeUndefined(); // non-zero leftover bits
  });
});

describe("malformed SenML is rejected with a clear error (§4)", () => {
  it.each([
    ["not JSON", "[{", /not JSON/],
    ["not an array", '{"n":"a","v":1}', /must be a JSON array/],
    ["empty pack (§11 [1* record])", "[]", /at least one record/],
    ["record not an object", "[1]", /record 0: a record must be a JSON object/],
    ["v a string", '[{"n":"a","v":"1"}]', /"v": must be a number/],
    ["n a number", '[{"n":5,"v":1}]', /"n": must be a string/],
    ["vb a number", '[{"n":"a","vb":1}]', /"vb": must be a boolean/],
    ["vd not base64url", '[{"n":"a","vd":"a+b="}]', /"vd": is not unpadded base64url/],
    ["two values (§4.2)", '[{"n":"a","v":1,"vs":"x"}]', /more than one Value field/],
    ["no value and no sum (§4.2)", '[{"n":"a","u":"Cel"}]', /no Value and no Sum/],
    ["no name (§4.2)", '[{"v":1}]', /no name/],
    ["bad name characters (§4.5.1)", '[{"n":"a b","v":1}]', /4\.5\.1/],
    ["name starting with - (§4.5.1)", '[{"bn":"-x","v":1}]', /4\.5\.1/],
    ["mandatory-to-understand extension (§4.4)", '[{"n":"a","v":1,"foo_":2}]', /record 0: "foo_": mandatory-to-understand/],
    ["newer version (§4.4)", '[{"bver":11,"n":"a","v":1}]', /newer than 10/],
    ["versions differ (§4.4)", '[{"bver":5,"n":"a","v":1},{"bver":6,"n":"b","v":1}]', /record 1: "bver": Base Version 6 differs from 5/],
    ["bver after default-version records (§4.4)", '[{"n":"a","v":1},{"bver":5,"n":"b","v":1}]', /differs from 10/],
    ["bver not an integer", '[{"bver":5.5,"n":"a","v":1}]', /positive integer/],
    ["bver zero", '[{"bver":0,"n":"a","v":1}]', /positive integer/],
  ])("JSON: %s", (_title, text, re) => {
    expect(err(decodeSenmlJson(text as string))).toMatch(re as RegExp);
  });

  it("unknown fields are ignored (§4.4), known ones still checked", () => {
    const r = ok(decodeSenmlJson('[{"n":"a","v":1,"foo":{"x":[1]}}]'));
    expect(r.records).toEqual([{ n: "a", t: 0, v: 1 }]);
    expect(r.pack[0].foo).toEqual({ x: [1] });
  });

  it("JSON bytes must be UTF-8 (§5)", () => {
    expect(err(decodeSenmlJson(new Uint8Array([0x5b, 0xff, 0x5d])))).toMatch(/UTF-8/);
  });

  it("base value and base sum apply (§4.5.4)", () => {
    const r = ok(decodeSenmlJson('[{"bn":"m","bv":100,"bs":5,"v":1},{"v":2,"s":1},{"t":3}]'));
    expect(r.records.map((x) => [x.v, x.s])).toEqual([[101, 5], [102, 6], [100, 5]]);
  });

  it("a too-long pack is refused before resolving", () => {
    const text = "[" + new Array(11).fill('{"n":"a","v":1}').join(",") + "]";
    expect(err(decodeSenmlJson(text, { maxRecords: 10 }))).toMatch(/more than 10 records/);
  });

  it("CBOR: not CBOR, not an array, indefinite-length array (§6), record not a map, wrong types, text-keyed vd", () => {
    expect(err(decodeSenmlCbor(new Uint8Array([0x81])))).toMatch(/not CBOR/);
    expect(err(decodeSenmlCbor(encodeCbor({ n: "a" })))).toMatch(/must be a CBOR array/);
    expect(err(decodeSenmlCbor(bytes("9f a2 00 61 61 02 01 ff")))).toMatch(/indefinite-length array/);
    expect(err(decodeSenmlCbor(encodeCbor([[1, 2]])))).toMatch(/a record must be a CBOR map/);
    expect(err(decodeSenmlCbor(encodeCbor([new Map<number, unknown>([[0, "a"], [2, "x"]])])))).toMatch(/"v": must be a number/);
    expect(err(decodeSenmlCbor(encodeCbor([new Map<number, unknown>([[0, "a"], [8, "aGk"]])])))).toMatch(/"vd": must be binary data/);
    expect(err(decodeSenmlCbor(encodeCbor([new Map<unknown, unknown>([[0, "a"], [2, 1], [true, 1]])])))).toMatch(/map key/);
    expect(err(decodeSenmlCbor(encodeCbor([new Map<unknown, unknown>([[0, "a"], [2, 1], ["x_", 1]])])))).toMatch(/mandatory-to-understand/);
  });

  it("CBOR: decimal fraction values (tag 4) and byte-string vd are accepted", () => {
    // {0: "a", 2: 4([-2, 2147])} = 21.47
    const r = ok(decodeSenmlCbor(bytes("81 a2 00 61 61 02 c4 82 21 19 08 63")));
    expect(r.records[0].v).toBeCloseTo(21.47, 10);
    const d = ok(decodeSenmlCbor(encodeCbor([new Map<number, unknown>([[0, "a"], [8, new Uint8Array([1, 2])]])])));
    expect(Array.from(d.records[0].vd as Uint8Array)).toEqual([1, 2]);
  });

  it("encoders refuse invalid packs (nothing invalid leaves the device)", () => {
    expect(() => encodeSenmlJson([] as SenmlPack)).toThrow(/at least one record/);
    expect(() => encodeSenmlCbor([{ n: "a b", v: 1 }])).toThrow(/4\.5\.1/);
    expect(() => encodeSenmlJson([{ n: "a", v: Infinity }])).toThrow(/finite/);
  });

  it("resolveSenml rejects a non-array without throwing", () => {
    const r = resolveSenml("x");
    expect(r.ok).toBe(false);
  });
});
