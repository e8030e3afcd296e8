/*
 * Cross-check against mqtt-packet (MQTT.js's codec), Node only: every sample packet and
 * many generated property combinations are encoded by each codec and decoded by the other,
 * and where the two encoders agree on a layout, compared byte for byte.
 */
import * as mp from "mqtt-packet";
import { encodePacket, MqttDecoder } from "../support/mqtt-codec";
import type { MqttPacket, MqttProperties, MqttVersion, PublishPacket } from "../support/mqtt-codec";
import { samples311, samples5 } from "./samples";
import { decodeAll } from "./helpers";

const CMDS = ["", "connect", "connack", "publish", "puback", "pubrec", "pubrel", "pubcomp", "subscribe", "suback",
  "unsubscribe", "unsuback", "pingreq", "pingresp", "disconnect", "auth"];
const BOOLEAN_PROPS = ["payloadFormatIndicator", "requestResponseInformation", "requestProblemInformation", "retainAvailable",
  "wildcardSubscriptionAvailable", "subscriptionIdentifiersAvailable", "sharedSubscriptionAvailable"];

type Obj = Record<string, any>;

function propsToMp(p: MqttProperties | undefined): Obj | undefined {
  if (p === undefined) return undefined;
  const out: Obj = {};
  for (const [k, v] of Object.entries(p)) {
    if (v === undefined) continue;
    if (k === "userProperties") {
      const o: Obj = {};
      for (const [name, value] of v as [string, string][]) {
        if (o[name] === undefined) o[name] = value;
        else if (Array.isArray(o[name])) o[name].push(value);
        else o[name] = [o[name], value];
      }
      out.userProperties = o;
    } else if (k === "subscriptionIdentifiers") {
      const ids = v as number[];
      out.subscriptionIdentifier = ids.length === 1 ? ids[0] : ids;
    } else if (BOOLEAN_PROPS.includes(k)) {
      out[k] = v === 1;
    } else if (v instanceof Uint8Array) {
      out[k] = Buffer.from(v);
    } else {
      out[k] = v;
    }
  }
  return out;
}

function propsFromMp(p: Obj | undefined): MqttProperties | undefined {
  if (p === undefined || Object.keys(p).length === 0) return undefined;
  const out: Obj = {};
  for (const [k, v] of Object.entries(p)) {
    if (k === "userProperties") {
      const pairs: [string, string][] = [];
      for (const name of Object.keys(v)) {
        const value = v[name];
        if (Array.isArray(value)) for (const x of value) pairs.push([name, x]);
        else pairs.push([name, value]);
      }
      out.userProperties = pairs;
    } else if (k === "subscriptionIdentifier") {
      out.subscriptionIdentifiers = Array.isArray(v) ? v : [v];
    } else if (BOOLEAN_PROPS.includes(k)) {
      out[k] = v ? 1 : 0;
    } else if (Buffer.isBuffer(v)) {
      out[k] = new Uint8Array(v);
    } else {
      out[k] = v;
    }
  }
  return out as MqttProperties;
}

function toMp(p: MqttPacket, v: MqttVersion): Obj {
  const o: Obj = { cmd: CMDS[p.type] };
  switch (p.type) {
    case 1:
      Object.assign(o, { protocolId: "MQTT", protocolVersion: p.protocolVersion, clean: p.clean, keepalive: p.keepAlive, clientId: p.clientId });
      if (p.will) {
        o.will = { topic: p.will.topic, payload: Buffer.from(p.will.payload), qos: p.will.qos, retain: p.will.retain };
        if (p.will.properties) o.will.properties = propsToMp(p.will.properties);
      }
      if (p.username !== undefined) o.username = p.username;
      if (p.password !== undefined) o.password = Buffer.from(p.password as Uint8Array);
      break;
    case 2:
      o.sessionPresent = p.sessionPresent;
      if (v === 5) o.reasonCode = p.reasonCode;
      else o.returnCode = p.reasonCode;
      break;
    case 3:
      Object.assign(o, { topic: p.topic, payload: Buffer.from(p.payload), qos: p.qos, retain: p.retain, dup: p.dup });
      if (p.qos > 0) o.messageId = p.packetId;
      break;
    case 4: case 5: case 6: case 7:
      o.messageId = p.packetId;
      if (v === 5) o.reasonCode = p.reasonCode ?? 0;
      break;
    case 8:
      o.messageId = p.packetId;
      o.subscriptions = p.subscriptions.map((s) => v === 5
        ? { topic: s.topicFilter, qos: s.qos, nl: !!s.noLocal, rap: !!s.retainAsPublished, rh: s.retainHandling ?? 0 }
        : { topic: s.topicFilter, qos: s.qos });
      break;
    case 9:
      o.messageId = p.packetId;
      o.granted = p.reasonCodes;
      break;
    case 10:
      o.messageId = p.packetId;
      o.unsubscriptions = p.topicFilters;
      break;
    case 11:
      o.messageId = p.packetId;
      if (v === 5) o.granted = p.reasonCodes;
      break;
    case 14: case 15:
      if (v === 5) o.reasonCode = p.reasonCode ?? 0;
      break;
  }
  const props = propsToMp((p as { properties?: MqttProperties }).properties);
  if (props !== undefined && v === 5) o.properties = props;
  return o;
}

function fromMp(o: Obj, v: MqttVersion): MqttPacket {
  const type = CMDS.indexOf(o.cmd);
  const properties = propsFromMp(o.properties);
  switch (type) {
    case 1: {
      const p: Obj = { type, protocolVersion: o.protocolVersion, clean: o.clean, keepAlive: o.keepalive, clientId: o.clientId };
      if (o.will) {
        p.will = { topic: o.will.topic, payload: new Uint8Array(o.will.payload), qos: o.will.qos, retain: o.will.retain };
        const wp = propsFromMp(o.will.properties);
        if (wp) p.will.properties = wp;
      }
      if (o.username !== undefined) p.username = o.username;
      if (o.password !== undefined) p.password = new Uint8Array(o.password);
      if (properties) p.properties = properties;
      return p as MqttPacket;
    }
    case 2:
      return { type, sessionPresent: o.sessionPresent, reasonCode: v === 5 ? o.reasonCode : o.returnCode, properties };
    case 3:
      return { type, topic: o.topic, payload: new Uint8Array(o.payload), qos: o.qos, retain: o.retain, dup: o.dup, packetId: o.qos > 0 ? o.messageId : 0, properties };
    case 4: case 5: case 6: case 7:
      return { type, packetId: o.messageId, reasonCode: o.reasonCode ?? 0, properties } as MqttPacket;
    case 8:
      return {
        type, packetId: o.messageId, properties,
        subscriptions: o.subscriptions.map((s: Obj) => v === 5
          ? { topicFilter: s.topic, qos: s.qos, noLocal: !!s.nl, retainAsPublished: !!s.rap, retainHandling: s.rh ?? 0 }
          : { topicFilter: s.topic, qos: s.qos }),
      };
    case 9:
      return { type, packetId: o.messageId, reasonCodes: o.granted, properties };
    case 10:
      return { type, packetId: o.messageId, topicFilters: o.unsubscriptions, properties };
    case 11:
      return { type, packetId: o.messageId, reasonCodes: v === 5 ? o.granted : [], properties };
    case 12: case 13:
      return { type } as MqttPacket;
    default:
      return { type, reasonCode: o.reasonCode ?? 0, properties } as MqttPacket;
  }
}

function mpParse(bytes: Uint8Array, v: MqttVersion): { packets: Obj[]; errors: Error[] } {
  const parser = mp.parser({ protocolVersion: v });
  const packets: Obj[] = [];
  const errors: Error[] = [];
  parser.on("packet", (p: Obj) => packets.push(p));
  parser.on("error", (e: Error) => errors.push(e));
  parser.parse(Buffer.from(bytes));
  return { packets, errors };
}

function mpGenerate(p: MqttPacket, v: MqttVersion): Uint8Array {
  return new Uint8Array(mp.generate(toMp(p, v) as mp.Packet, { protocolVersion: v }));
}

/** mqtt-packet 9 refuses to generate a CONNECT with a Password but no User Name, which 5.0 allows (§3.1.2.9). */
function mpCanGenerate(p: MqttPacket): boolean {
  return !(p.type === 1 && p.password !== undefined && p.username === undefined);
}

/**
 * Where our bytes legitimately differ from mqtt-packet's:
 * - "short": we omit the Reason Code / Property Length a 5.0 ack or DISCONNECT may leave out
 *   (§3.4.2.1, §3.14.2.1); mqtt-packet always writes them.
 * - "order": two or more different properties; we write them in identifier order, mqtt-packet
 *   in object key order (the order of properties carries no meaning, §2.2.2.2).
 */
function layoutDifference(p: MqttPacket, v: MqttVersion): "short" | "order" | undefined {
  if (v !== 5) return undefined;
  const props = (p as { properties?: MqttProperties }).properties;
  const willProps = p.type === 1 && p.will !== undefined ? p.will.properties : undefined;
  const distinct = (x: MqttProperties | undefined) => (x === undefined ? 0 : Object.keys(x).length);
  if (distinct(props) >= 2 || distinct(willProps) >= 2) return "order";
  if (props === undefined && ((p.type >= 4 && p.type <= 7 && (p as { reasonCode?: number }).reasonCode !== 0) || p.type === 14)) return "short";
  return undefined;
}

for (const [label, v, samples] of [["3.1.1", 4, samples311], ["5.0", 5, samples5]] as const) {
  describe("interop with mqtt-packet, MQTT " + label, () => {
    // An aliased PUBLISH with an empty topic needs alias state in mqtt-packet: tested on its own below.
    const list = (samples as [string, MqttPacket][]).filter(([, p]) => !(p.type === 3 && p.topic === ""));

    it.each(list)("%s: ours -> mqtt-packet parse", (_n, p) => {
      const { packets, errors } = mpParse(encodePacket(p, v), v);
      expect(errors).toEqual([]);
      expect(packets).toHaveLength(1);
      expect(fromMp(packets[0], v)).toEqual(p);
    });

    it.each(list.filter(([, p]) => mpCanGenerate(p)))("%s: mqtt-packet generate -> ours decode", (_n, p) => {
      const theirs = mpGenerate(p, v);
      const { packets, error } = decodeAll(theirs, v);
      expect(error).toBeUndefined();
      expect(packets[0]).toEqual(p);
    });

    it.each(list.filter(([, p]) => mpCanGenerate(p)))("%s: same bytes as mqtt-packet, or a permitted layout difference", (_n, p) => {
      const ours = Buffer.from(encodePacket(p, v));
      const theirs = Buffer.from(mpGenerate(p, v));
      const diff = layoutDifference(p, v);
      if (diff === undefined) {
        expect(ours.toString("hex")).toBe(theirs.toString("hex"));
      } else if (diff === "order") {
        expect(ours.length).toBe(theirs.length);
        expect([...ours].sort().join()).toBe([...theirs].sort().join());
      } else {
        // Theirs = ours plus the omitted fields (a 0x00 Reason Code and/or a 0x00 Property Length).
        expect(theirs.length).toBeGreaterThan(ours.length);
        expect(theirs.length - ours.length).toBeLessThanOrEqual(2);
        expect(theirs.subarray(ours.length).every((b) => b === 0)).toBe(true);
      }
    });
  });
}

describe("interop: empty Topic Name with a Topic Alias (5.0 §3.3.2.3.4)", () => {
  it("mqtt-packet parses our aliased PUBLISH", () => {
    const p: PublishPacket = { type: 3, topic: "", payload: new Uint8Array([1]), qos: 0, retain: false, dup: false, packetId: 0, properties: { topicAlias: 3 } };
    const { packets, errors } = mpParse(encodePacket(p, 5), 5);
    expect(errors).toEqual([]);
    expect(packets[0].topic).toBe("");
    expect(packets[0].properties.topicAlias).toBe(3);
  });
});

// ---- generated property combinations

class Lcg {
  constructor(private s: number) {}
  next(): number {
    this.s = (Math.imul(this.s, 1664525) + 1013904223) >>> 0;
    return this.s;
  }
  int(n: number): number {
    return this.next() % n;
  }
  bool(): boolean {
    return (this.next() & 0x100) !== 0;
  }
}

const STRINGS = ["", "a", "text/plain", "ünïcödé", "emoji 🌡", "x".repeat(300)];

function randomProps(rng: Lcg, keys: string[]): MqttProperties | undefined {
  const p: Obj = {};
  for (const k of keys) {
    if (!rng.bool()) continue;
    switch (k) {
      case "payloadFormatIndicator": case "requestProblemInformation": case "requestResponseInformation":
      case "retainAvailable": case "wildcardSubscriptionAvailable": case "subscriptionIdentifiersAvailable":
      case "sharedSubscriptionAvailable": case "maximumQoS":
        p[k] = rng.int(2); break;
      case "messageExpiryInterval": case "sessionExpiryInterval": case "willDelayInterval":
        p[k] = [0, 1, 0xffffffff, rng.next()][rng.int(4)]; break;
      case "maximumPacketSize":
        p[k] = 1 + rng.int(0x7fffffff); break;
      case "receiveMaximum": case "topicAlias":
        p[k] = 1 + rng.int(65535); break;
      case "topicAliasMaximum": case "serverKeepAlive":
        p[k] = rng.int(65536); break;
      case "responseTopic":
        p[k] = ["r", "reply/to/me", "ü/x"][rng.int(3)]; break;
      case "correlationData": case "authenticationData":
        p[k] = new Uint8Array(rng.int(40)).map((_x, i) => i * 7); break;
      case "subscriptionIdentifiers": {
        const n = 1 + rng.int(3);
        p[k] = [];
        for (let i = 0; i < n; i++) p[k].push(1 + rng.int(268435455));
        break;
      }
      case "userProperties": {
        const n = 1 + rng.int(3);
        p[k] = [];
        for (let i = 0; i < n; i++) p[k].push(["k" + i, STRINGS[rng.int(STRINGS.length)]]);
        break;
      }
      default:
        p[k] = STRINGS[rng.int(STRINGS.length)];
    }
  }
  if (p.authenticationData !== undefined && p.authenticationMethod === undefined) p.authenticationMethod = "m";
  return Object.keys(p).length === 0 ? undefined : (p as MqttProperties);
}

const PUBLISH_KEYS = ["payloadFormatIndicator", "messageExpiryInterval", "contentType", "responseTopic", "correlationData", "subscriptionIdentifiers", "topicAlias", "userProperties"];
const CONNECT_KEYS = ["sessionExpiryInterval", "receiveMaximum", "maximumPacketSize", "topicAliasMaximum", "requestResponseInformation", "requestProblemInformation", "userProperties", "authenticationMethod", "authenticationData"];
const WILL_KEYS = ["willDelayInterval", "payloadFormatIndicator", "messageExpiryInterval", "contentType", "responseTopic", "correlationData", "userProperties"];
const CONNACK_KEYS = ["sessionExpiryInterval", "receiveMaximum", "maximumQoS", "retainAvailable", "maximumPacketSize", "assignedClientIdentifier", "topicAliasMaximum", "reasonString", "userProperties", "wildcardSubscriptionAvailable", "subscriptionIdentifiersAvailable", "sharedSubscriptionAvailable", "serverKeepAlive", "responseInformation", "serverReference", "authenticationMethod", "authenticationData"];
const ACK_KEYS = ["reasonString", "userProperties"];
const DISCONNECT_KEYS = ["sessionExpiryInterval", "reasonString", "userProperties", "serverReference"];
const AUTH_KEYS = ["authenticationMethod", "authenticationData", "reasonString", "userProperties"];

function randomPacket(rng: Lcg): MqttPacket {
  switch (rng.int(7)) {
    case 0: {
      const qos = rng.int(3) as 0 | 1 | 2;
      return { type: 3, topic: "t/" + rng.int(1000), payload: new Uint8Array(rng.int(300)), qos, retain: rng.bool(), dup: qos > 0 && rng.bool(), packetId: qos > 0 ? 1 + rng.int(65535) : 0, properties: randomProps(rng, PUBLISH_KEYS) };
    }
    case 1: {
      const c: Obj = {
        type: 1, protocolVersion: 5, clean: rng.bool(), keepAlive: rng.int(65536), clientId: "id" + rng.int(100), properties: randomProps(rng, CONNECT_KEYS),
        will: rng.bool() ? { topic: "w/" + rng.int(9), payload: new Uint8Array(rng.int(20)), qos: rng.int(3) as 0 | 1 | 2, retain: rng.bool(), properties: randomProps(rng, WILL_KEYS) } : undefined,
        username: rng.bool() ? "u" + rng.int(9) : undefined,
        password: undefined,
      };
      // mqtt-packet cannot write a Password without a User Name (mpCanGenerate).
      if (c.username !== undefined && rng.bool()) c.password = new Uint8Array(rng.int(9));
      return c as MqttPacket;
    }
    case 2:
      return { type: 2, sessionPresent: false, reasonCode: [0, 0x80, 0x87, 0x9c][rng.int(4)], properties: randomProps(rng, CONNACK_KEYS) };
    case 3: {
      const type = (4 + rng.int(4)) as 4 | 5 | 6 | 7;
      const rc = type === 6 || type === 7 ? [0, 0x92][rng.int(2)] : [0, 0x10, 0x80, 0x97][rng.int(4)];
      return { type, packetId: 1 + rng.int(65535), reasonCode: rc, properties: randomProps(rng, ACK_KEYS) };
    }
    case 4:
      return { type: 14, reasonCode: [0, 4, 0x80, 0x8e][rng.int(4)], properties: randomProps(rng, DISCONNECT_KEYS) };
    case 5: {
      const props = randomProps(rng, AUTH_KEYS) ?? {};
      props.authenticationMethod = "SCRAM";
      return { type: 15, reasonCode: [0, 0x18, 0x19][rng.int(3)], properties: props };
    }
    default:
      return {
        type: 8, packetId: 1 + rng.int(65535),
        subscriptions: [{ topicFilter: ["a/#", "+/b", "$share/g/c"][rng.int(3)], qos: rng.int(3) as 0 | 1 | 2, noLocal: false, retainAsPublished: rng.bool(), retainHandling: rng.int(3) as 0 | 1 | 2 }],
        properties: rng.bool() ? { subscriptionIdentifiers: [1 + rng.int(1000)], userProperties: [["a", "b"]] } : undefined,
      };
  }
}

describe("interop: 500 generated MQTT 5.0 packets with random property combinations", () => {
  const rng = new Lcg(20240501);
  const generated: MqttPacket[] = [];
  for (let i = 0; i < 500; i++) generated.push(randomPacket(rng));

  it("mqtt-packet parses what we encode, to the same packet", () => {
    let n = 0;
    for (const p of generated) {
      const { packets, errors } = mpParse(encodePacket(p, 5), 5);
      expect(errors).toEqual([]);
      expect(fromMp(packets[0], 5)).toEqual(p);
      n++;
    }
    expect(n).toBe(500);
  });

  it("we decode what mqtt-packet generates, to the same packet, also one byte at a time", () => {
    for (const p of generated) {
      const theirs = mpGenerate(p, 5);
      expect(decodeAll(theirs, 5).packets[0]).toEqual(p);
      const d = new MqttDecoder({ version: 5 });
      let got: MqttPacket | undefined;
      for (let i = 0; i < theirs.length; i++) {
        d.feed(theirs.subarray(i, i + 1));
        got = d.next() ?? got;
      }
      expect(got).toEqual(p);
    }
  });

  it("each generated packet is byte-identical to mqtt-packet's or differs only as layoutDifference says", () => {
    let same = 0;
    for (const p of generated) {
      const a = Buffer.from(encodePacket(p, 5));
      const b = Buffer.from(mpGenerate(p, 5));
      const diff = layoutDifference(p, 5);
      if (a.equals(b)) same++;
      else if (diff === "order") expect([...a].sort().join()).toBe([...b].sort().join());
      else {
        expect(diff).toBe("short");
        expect(b.subarray(a.length).every((x) => x === 0)).toBe(true);
      }
    }
    expect(same).toBeGreaterThan(100);
  });
});
