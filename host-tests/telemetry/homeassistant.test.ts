// @xs
/*
 * Home Assistant MQTT discovery: topics, a valid JSON config per quantity with
 * the fields Home Assistant reads, and a value_template whose record name is
 * the name our SenML JSON state topic carries.
 */
import {
  HA_SENSORS,
  availabilityTopic,
  discoveryMessages,
  discoveryRemovals,
  senmlValueTemplate,
  telemetryTopic,
} from "../../modules/telemetry/homeassistant";
import { QUANTITIES, decodeSenmlJson, encodeSenmlJson, readingsToPack } from "../../modules/telemetry/senml";

const FULL = {
  time: 1700000000000,
  sample: {
    thermometer: { temperature: 21.5 },
    hygrometer: { humidity: 45 },
    barometer: { pressure: 101325 },
    lightmeter: { illuminance: 300 },
    carbonDioxideDetector: { CO2: 612 },
    battery: { voltage: 3.7 },
  },
};

/** The record name a template selects: the argument of selectattr('n', 'equalto', ...). */
function templateName(t: string): string {
  const m = /selectattr\('n', 'equalto', '([^']*)'\)/.exec(t);
  if (!m) throw new Error("no name in template " + t);
  return m[1];
}

describe("Home Assistant MQTT discovery", () => {
  const msgs = discoveryMessages({ deviceId: "dev-1", device: { name: "Kitchen", model: "sim", sw_version: "0.1.0" } });

  it("one retained config per quantity on homeassistant/sensor/<node_id>/<object_id>/config", () => {
    expect(msgs.map((m) => m.topic)).toEqual(QUANTITIES.map((q) => "homeassistant/sensor/dev-1/" + q.name + "/config"));
    for (const m of msgs) {
      expect(m.retain).toBe(true);
      // node_id and object_id: [a-zA-Z0-9_-] only.
      expect(m.topic.split("/")[2]).toMatch(/^[a-zA-Z0-9_-]+$/);
      expect(m.topic.split("/")[3]).toMatch(/^[a-zA-Z0-9_-]+$/);
    }
  });

  it("payloads are valid JSON with the sensor fields, topics and the device block", () => {
    const ids = new Set<string>();
    for (const m of msgs) {
      const c = JSON.parse(m.payload);
      const q = m.topic.split("/")[3];
      expect(c.device_class).toBe(HA_SENSORS[q].deviceClass);
      expect(c.unit_of_measurement).toBe(HA_SENSORS[q].unit);
      expect(c.state_class).toBe("measurement");
      expect(c.state_topic).toBe("xs-iot/dev-1/tele");
      expect(c.availability_topic).toBe("xs-iot/dev-1/state");
      expect(c.payload_available).toBe("online");
      expect(c.payload_not_available).toBe("offline");
      expect(c.device).toEqual({ identifiers: ["dev-1"], name: "Kitchen", manufacturer: "xs-iot", model: "sim", sw_version: "0.1.0" });
      expect(c.origin).toEqual({ name: "xs-iot" });
      expect(typeof c.name).toBe("string");
      ids.add(c.unique_id);
    }
    expect(ids.size).toBe(QUANTITIES.length);
  });

  it("device classes and units: the ones Home Assistant uses for these quantities", () => {
    const byName: { [k: string]: [string, string] } = {};
    for (const m of msgs) {
      const c = JSON.parse(m.payload);
      byName[m.topic.split("/")[3]] = [c.device_class, c.unit_of_measurement];
    }
    expect(byName).toEqual({
      temperature: ["temperature", "°C"],
      humidity: ["humidity", "%"],
      pressure: ["atmospheric_pressure", "Pa"],
      illuminance: ["illuminance", "lx"],
      co2: ["carbon_dioxide", "ppm"],
      battery: ["voltage", "V"],
    });
  });

  it("each value_template selects a record name our SenML JSON carries, and that record has the quantity's value", () => {
    const json = encodeSenmlJson(readingsToPack(FULL, { deviceId: "dev-1" }));
    const pack = JSON.parse(String.fromCharCode.apply(null, Array.from(json)));
    const decoded = decodeSenmlJson(json);
    if (!decoded.ok) throw new Error("undecodable");
    for (const m of msgs) {
      const c = JSON.parse(m.payload);
      const name = templateName(c.value_template);
      const recs = pack.filter((r: { n?: string }) => r.n === name);
      expect(recs).toHaveLength(1);
      // The same record resolves to <device-id>:<name> with the unit the encoder uses.
      const q = QUANTITIES.find((x) => x.name === name)!;
      expect(decoded.records.find((r) => r.n === "dev-1:" + name)!.u).toBe(q.unit);
      expect(typeof recs[0].v).toBe("number");
    }
  });

  it("template shape: the newest record, else the current state", () => {
    expect(senmlValueTemplate("co2")).toBe(
      "{% set r = value_json | selectattr('n', 'defined') | selectattr('n', 'equalto', 'co2') | list %}{{ r[-1].v if r else this.state }}",
    );
    expect(senmlValueTemplate("co2", 1000000)).toContain("(r[-1].v * 1000000)");
    const ratio = discoveryMessages({ deviceId: "d", co2Unit: "/", quantities: ["co2"] });
    expect(JSON.parse(ratio[0].payload).value_template).toContain("* 1000000");
  });

  it("options: prefixes, a subset of quantities, expire_after; removal is an empty retained payload", () => {
    const m = discoveryMessages({ deviceId: "d_2", topicPrefix: "home/sensors", discoveryPrefix: "ha", quantities: ["temperature"], expireAfter: 300 });
    expect(m).toHaveLength(1);
    expect(m[0].topic).toBe("ha/sensor/d_2/temperature/config");
    const c = JSON.parse(m[0].payload);
    expect(c.state_topic).toBe("home/sensors/d_2/tele");
    expect(c.expire_after).toBe(300);
    expect(discoveryRemovals({ deviceId: "d_2", discoveryPrefix: "ha", quantities: ["temperature"] })).toEqual([{ topic: "ha/sensor/d_2/temperature/config", payload: "", retain: true }]);
    expect(telemetryTopic("x")).toBe("xs-iot/x/tele");
    expect(availabilityTopic("x", "p")).toBe("p/x/state");
  });

  it("bad options are clear errors", () => {
    expect(() => discoveryMessages({ deviceId: "a:b" })).toThrow(/node_id/);
    expect(() => discoveryMessages({ deviceId: "a", quantities: ["wind"] })).toThrow(/unknown quantity "wind"/);
    expect(() => discoveryMessages({ deviceId: "a", topicPrefix: "a/#" })).toThrow(/topicPrefix/);
    expect(() => discoveryMessages({ deviceId: "a", expireAfter: -1 })).toThrow(/expireAfter/);
  });
});
