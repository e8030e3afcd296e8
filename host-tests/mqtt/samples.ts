/*
 * Sample packets for the MQTT codec tests, written the way the decoder returns them
 * (every default filled in), so decode(encode(p)) must equal p.
 */
import type { MqttPacket, MqttProperties, MqttVersion } from "../support/mqtt-codec";
import { utf8 } from "./helpers";

const B = (...n: number[]): Uint8Array => new Uint8Array(n);

export const TELE_TOPIC = "tele/esp32-a1b2c3/SENSOR";
export const PAYLOAD_40 = utf8('{"t":21.5,"h":40.2,"p":1013.2,"v":3.31}x');

const publishProps: MqttProperties = {
  payloadFormatIndicator: 1,
  messageExpiryInterval: 3600,
  contentType: "application/json",
  responseTopic: "reply/esp32-a1b2c3",
  correlationData: B(1, 2, 3, 4),
  subscriptionIdentifiers: [1, 200, 268435455],
  userProperties: [["a", "1"], ["a", "2"], ["ünï", "cödé"]],
};

const connectProps: MqttProperties = {
  sessionExpiryInterval: 0xffffffff,
  receiveMaximum: 20,
  maximumPacketSize: 65536,
  topicAliasMaximum: 10,
  requestResponseInformation: 1,
  requestProblemInformation: 0,
  userProperties: [["board", "esp32"]],
  authenticationMethod: "SCRAM-SHA-1",
  authenticationData: B(9, 8, 7),
};

const connackProps: MqttProperties = {
  sessionExpiryInterval: 120,
  receiveMaximum: 100,
  maximumQoS: 1,
  retainAvailable: 0,
  maximumPacketSize: 1 << 20,
  assignedClientIdentifier: "auto-1234",
  topicAliasMaximum: 5,
  reasonString: "welcome",
  userProperties: [["k", "v"]],
  wildcardSubscriptionAvailable: 1,
  subscriptionIdentifiersAvailable: 1,
  sharedSubscriptionAvailable: 0,
  serverKeepAlive: 30,
  responseInformation: "resp/",
  serverReference: "other.example:1883",
  authenticationMethod: "SCRAM-SHA-1",
  authenticationData: B(1),
};

/** [name, packet] pairs valid in both versions (3.1.1 and 5.0) as written. */
export function commonSamples(version: MqttVersion): [string, MqttPacket][] {
  return [
    ["CONNECT minimal", { type: 1, protocolVersion: version, clean: true, keepAlive: 60, clientId: "esp32-a1b2c3" }],
    ["CONNECT empty client id", { type: 1, protocolVersion: version, clean: true, keepAlive: 0, clientId: "" }],
    [
      "CONNECT will, user, password",
      {
        type: 1,
        protocolVersion: version,
        clean: false,
        keepAlive: 65535,
        clientId: "dev-ü",
        will: { topic: "status/dev", payload: utf8("offline"), qos: 1, retain: true },
        username: "user",
        password: B(0, 1, 2, 255),
      },
    ],
    ["CONNACK accepted", { type: 2, sessionPresent: false, reasonCode: 0 }],
    ["CONNACK session present", { type: 2, sessionPresent: true, reasonCode: 0 }],
    ["PUBLISH QoS 0", { type: 3, topic: "a/b", payload: B(1, 2, 3), qos: 0, retain: false, dup: false, packetId: 0 }],
    ["PUBLISH QoS 1 telemetry", { type: 3, topic: TELE_TOPIC, payload: PAYLOAD_40, qos: 1, retain: false, dup: false, packetId: 42 }],
    ["PUBLISH QoS 2 dup retain", { type: 3, topic: "x", payload: B(), qos: 2, retain: true, dup: true, packetId: 65535 }],
    ["PUBLISH UTF-8 topic", { type: 3, topic: "température/salon/🌡", payload: B(7), qos: 1, retain: false, dup: false, packetId: 1 }],
    ["PUBLISH 200-byte payload", { type: 3, topic: "big", payload: new Uint8Array(200).fill(0x5a), qos: 0, retain: false, dup: false, packetId: 0 }],
    ["PUBACK", { type: 4, packetId: 7, reasonCode: 0 }],
    ["PUBREC", { type: 5, packetId: 8, reasonCode: 0 }],
    ["PUBREL", { type: 6, packetId: 9, reasonCode: 0 }],
    ["PUBCOMP", { type: 7, packetId: 10, reasonCode: 0 }],
    ["SUBSCRIBE one", { type: 8, packetId: 11, subscriptions: [sub(version, "cmd/esp32-a1b2c3/#", 1)] }],
    [
      "SUBSCRIBE three",
      { type: 8, packetId: 12, subscriptions: [sub(version, "a/+/c", 0), sub(version, "#", 2), sub(version, "$SYS/x", 1)] },
    ],
    ["SUBACK", { type: 9, packetId: 11, reasonCodes: [0, 1, 2, 0x80] }],
    ["UNSUBSCRIBE", { type: 10, packetId: 13, topicFilters: ["a/+/c", "#"] }],
    ["PINGREQ", { type: 12 }],
    ["PINGRESP", { type: 13 }],
    ["DISCONNECT", { type: 14, reasonCode: 0 }],
  ];
}

function sub(version: MqttVersion, topicFilter: string, qos: 0 | 1 | 2) {
  return version === 5
    ? { topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 as const }
    : { topicFilter, qos };
}

export const samples311: [string, MqttPacket][] = [
  ...commonSamples(4),
  ["CONNACK refused (bad user name or password)", { type: 2, sessionPresent: false, reasonCode: 4 }],
  ["UNSUBACK", { type: 11, packetId: 13, reasonCodes: [] }],
];

export const samples5: [string, MqttPacket][] = [
  ...commonSamples(5),
  ["CONNECT all properties", {
    type: 1, protocolVersion: 5, clean: true, keepAlive: 30, clientId: "c", properties: connectProps,
    will: {
      topic: "will/t", payload: B(1), qos: 2, retain: false,
      properties: {
        willDelayInterval: 10, payloadFormatIndicator: 0, messageExpiryInterval: 5, contentType: "text/plain",
        responseTopic: "r/t", correlationData: B(5), userProperties: [["w", "1"]],
      },
    },
    username: "", password: B(),
  }],
  ["CONNECT password without user name", { type: 1, protocolVersion: 5, clean: true, keepAlive: 10, clientId: "p", password: utf8("token") }],
  ["CONNACK all properties", { type: 2, sessionPresent: true, reasonCode: 0, properties: connackProps }],
  ["CONNACK not authorized", { type: 2, sessionPresent: false, reasonCode: 0x87, properties: { reasonString: "no" } }],
  ["PUBLISH all properties", { type: 3, topic: "p/q", payload: utf8("hi"), qos: 1, retain: false, dup: false, packetId: 5, properties: publishProps }],
  ["PUBLISH topic alias, empty topic", { type: 3, topic: "", payload: B(1), qos: 0, retain: false, dup: false, packetId: 0, properties: { topicAlias: 3 } }],
  ["PUBLISH topic alias with topic", { type: 3, topic: "set/alias", payload: B(1), qos: 0, retain: false, dup: false, packetId: 0, properties: { topicAlias: 65535 } }],
  ["PUBACK no matching subscribers", { type: 4, packetId: 7, reasonCode: 0x10 }],
  ["PUBACK with properties", { type: 4, packetId: 7, reasonCode: 0x97, properties: { reasonString: "quota", userProperties: [["q", "1"]] } }],
  ["PUBACK success with properties", { type: 4, packetId: 7, reasonCode: 0, properties: { reasonString: "ok" } }],
  ["PUBREC error", { type: 5, packetId: 8, reasonCode: 0x91 }],
  ["PUBREL not found", { type: 6, packetId: 9, reasonCode: 0x92, properties: { reasonString: "gone" } }],
  ["PUBCOMP not found", { type: 7, packetId: 10, reasonCode: 0x92 }],
  ["SUBSCRIBE options and id", {
    type: 8, packetId: 14,
    subscriptions: [
      { topicFilter: "a/#", qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 },
      { topicFilter: "$share/grp/a/+", qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 1 },
    ],
    properties: { subscriptionIdentifiers: [77], userProperties: [["s", "t"]] },
  }],
  ["SUBACK 5.0 codes", { type: 9, packetId: 14, reasonCodes: [1, 0x80, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2], properties: { reasonString: "partial" } }],
  ["UNSUBSCRIBE properties", { type: 10, packetId: 15, topicFilters: ["x"], properties: { userProperties: [["u", "v"]] } }],
  ["UNSUBACK", { type: 11, packetId: 15, reasonCodes: [0, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91] }],
  ["UNSUBACK properties", { type: 11, packetId: 15, reasonCodes: [0], properties: { reasonString: "r" } }],
  ["DISCONNECT with will", { type: 14, reasonCode: 0x04 }],
  ["DISCONNECT properties", { type: 14, reasonCode: 0x9c, properties: { sessionExpiryInterval: 0, reasonString: "move", serverReference: "b:1883", userProperties: [["x", "y"]] } }],
  ["AUTH success", { type: 15, reasonCode: 0 }],
  ["AUTH continue", { type: 15, reasonCode: 0x18, properties: { authenticationMethod: "SCRAM-SHA-1", authenticationData: B(1, 2), reasonString: "go on", userProperties: [["a", "b"]] } }],
  ["AUTH re-authenticate", { type: 15, reasonCode: 0x19 }],
];
