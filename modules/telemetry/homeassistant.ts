/*
 * Home Assistant MQTT discovery: one retained config message per quantity,
 * so a Home Assistant user sees the device's sensors appear by themselves.
 *
 * Fields follow Home Assistant's MQTT integration documentation
 * (https://www.home-assistant.io/integrations/mqtt/ "Discovery", and
 * https://www.home-assistant.io/integrations/sensor.mqtt/; see
 * docs/telemetry.md for what was used):
 * - topic `<discovery_prefix>/sensor/<node_id>/<object_id>/config`, node_id
 *   and object_id from [a-zA-Z0-9_-] only;
 * - payload: a JSON object with name, unique_id, device_class,
 *   unit_of_measurement, state_class, state_topic, value_template,
 *   availability_topic with payload_available / payload_not_available, a
 *   `device` block (identifiers, name, manufacturer, model, sw_version) that
 *   groups the entities under one device, and an `origin` block;
 * - publish retained; an empty retained payload on the same topic removes
 *   the entity.
 *
 * The state topic is our SenML JSON telemetry topic `<prefix>/<device-id>/tele`.
 * A pack holds several records (and, when split or batched, maybe not this
 * quantity's), so the value_template picks the newest record whose name is
 * this quantity's and keeps the entity's current state (`this.state`) when
 * the message has none:
 *   {% set r = value_json | selectattr('n', 'defined') | selectattr('n', 'equalto', 'temperature') | list %}{{ r[-1].v if r else this.state }}
 * Our packs carry "n" in every record (senml.ts), so the match needs no
 * base-name resolution.
 */
import { QUANTITIES, type Quantity } from "./senml";

export interface DiscoveryOptions {
  deviceId: string;
  /** First topic level(s) of our topics (default "xs-iot"). */
  topicPrefix?: string;
  /** Home Assistant's discovery prefix (default "homeassistant"). */
  discoveryPrefix?: string;
  /** Quantity names to announce (default: all of QUANTITIES). */
  quantities?: readonly string[];
  /** The device block shown in Home Assistant. */
  device?: { name?: string; manufacturer?: string; model?: string; sw_version?: string };
  /** As the telemetry encoder was told (ReadingPackOptions.co2Unit). */
  co2Unit?: "ppm" | "/";
  /** Seconds after which Home Assistant marks a value unavailable (expire_after); none by default. */
  expireAfter?: number;
}

export interface DiscoveryMessage {
  topic: string;
  /** JSON text; "" for a removal. */
  payload: string;
  retain: true;
}

interface HaQuantity {
  deviceClass: string;
  /** Home Assistant's unit for that device class. */
  unit: string;
  label: string;
  precision: number;
}

/** Home Assistant sensor device classes and units for our quantities. */
export const HA_SENSORS: { readonly [name: string]: HaQuantity } = {
  temperature: { deviceClass: "temperature", unit: "°C", label: "Temperature", precision: 1 },
  humidity: { deviceClass: "humidity", unit: "%", label: "Humidity", precision: 0 },
  pressure: { deviceClass: "atmospheric_pressure", unit: "Pa", label: "Pressure", precision: 0 },
  illuminance: { deviceClass: "illuminance", unit: "lx", label: "Illuminance", precision: 0 },
  co2: { deviceClass: "carbon_dioxide", unit: "ppm", label: "CO2", precision: 0 },
  battery: { deviceClass: "voltage", unit: "V", label: "Battery voltage", precision: 2 },
};

// Made when called: a preloaded RegExp crashes XS (tools/check-preload.js, rule 4).
const HA_ID = (): RegExp => /^[a-zA-Z0-9_-]+$/;

/** The value_template that reads quantity `name` from our SenML JSON state topic. */
export function senmlValueTemplate(name: string, scale?: number): string {
  const pick = "{% set r = value_json | selectattr('n', 'defined') | selectattr('n', 'equalto', '" + name + "') | list %}";
  const value = scale === undefined ? "r[-1].v" : "(r[-1].v * " + scale + ") | round(6)";
  return pick + "{{ " + value + " if r else this.state }}";
}

function topicPrefixOf(o: DiscoveryOptions): string {
  const p = o.topicPrefix ?? "xs-iot";
  if (p.length === 0 || /[#+\u0000]/.test(p)) throw new RangeError('homeassistant: topicPrefix "' + p + '" is not a valid topic prefix');
  return p;
}

function check(o: DiscoveryOptions): { quantities: Quantity[]; discovery: string } {
  if (!o || typeof o.deviceId !== "string" || !HA_ID().test(o.deviceId)) {
    throw new RangeError("homeassistant: deviceId must be 1 or more characters from a-z A-Z 0-9 _ - (the discovery topic's node_id)");
  }
  const discovery = o.discoveryPrefix ?? "homeassistant";
  if (discovery.length === 0 || /[#+\u0000]/.test(discovery)) throw new RangeError('homeassistant: discoveryPrefix "' + discovery + '" is not valid');
  const names = o.quantities ?? QUANTITIES.map((q) => q.name);
  const quantities: Quantity[] = [];
  for (const n of names) {
    const q = QUANTITIES.find((x) => x.name === n);
    if (!q) throw new RangeError('homeassistant: unknown quantity "' + n + '" (known: ' + QUANTITIES.map((x) => x.name).join(", ") + ")");
    quantities.push(q);
  }
  return { quantities, discovery };
}

/** The telemetry (state) topic: `<prefix>/<device-id>/tele`. */
export function telemetryTopic(deviceId: string, topicPrefix = "xs-iot"): string {
  return topicPrefix + "/" + deviceId + "/tele";
}

/** The availability topic: `<prefix>/<device-id>/state`, "online" / "offline". */
export function availabilityTopic(deviceId: string, topicPrefix = "xs-iot"): string {
  return topicPrefix + "/" + deviceId + "/state";
}

/** One retained discovery config per quantity. Throws RangeError for bad options. */
export function discoveryMessages(options: DiscoveryOptions): DiscoveryMessage[] {
  const { quantities, discovery } = check(options);
  const prefix = topicPrefixOf(options);
  const id = options.deviceId;
  const dev = options.device ?? {};
  const device: { [k: string]: unknown } = { identifiers: [id], name: dev.name ?? id, manufacturer: dev.manufacturer ?? "xs-iot" };
  if (dev.model !== undefined) device.model = dev.model;
  if (dev.sw_version !== undefined) device.sw_version = dev.sw_version;
  const out: DiscoveryMessage[] = [];
  for (const q of quantities) {
    const ha = HA_SENSORS[q.name];
    const config: { [k: string]: unknown } = {
      name: ha.label,
      unique_id: id + "_" + q.name,
      device_class: ha.deviceClass,
      unit_of_measurement: ha.unit,
      state_class: "measurement",
      suggested_display_precision: ha.precision,
      state_topic: telemetryTopic(id, prefix),
      value_template: senmlValueTemplate(q.name, q.name === "co2" && options.co2Unit === "/" ? 1000000 : undefined),
      availability_topic: availabilityTopic(id, prefix),
      payload_available: "online",
      payload_not_available: "offline",
      device,
      origin: { name: "xs-iot" },
    };
    if (options.expireAfter !== undefined) {
      if (!(Number.isInteger(options.expireAfter) && options.expireAfter > 0)) throw new RangeError("homeassistant: expireAfter must be a positive integer (seconds)");
      config.expire_after = options.expireAfter;
    }
    out.push({ topic: discovery + "/sensor/" + id + "/" + q.name + "/config", payload: JSON.stringify(config), retain: true });
  }
  return out;
}

/** Empty retained payloads on the same topics: Home Assistant removes the entities. */
export function discoveryRemovals(options: DiscoveryOptions): DiscoveryMessage[] {
  const { quantities, discovery } = check(options);
  return quantities.map((q) => ({ topic: discovery + "/sensor/" + options.deviceId + "/" + q.name + "/config", payload: "", retain: true as const }));
}
