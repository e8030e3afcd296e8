/*
 * Decoding of the packets only a client sends: CONNECT (§3.1), SUBSCRIBE (§3.8) and
 * UNSUBSCRIBE (§3.10), for a server, a test broker or a tool. Importing this module installs
 * it into ./decoder.ts (./codec.ts imports it); a client (./client.ts, ./client311.ts) never
 * receives these packets and its build carries none of this.
 */
import { MqttCodecError } from "./errors";
import type { ConnectPacket, MqttPacket, MqttVersion, QoS, Subscription, WillMessage } from "./packets";
import { server } from "./decoder";
import { propsRead as readProperties } from "./props-hook";
import { checkClientId, checkConnectFlags, checkId, checkNotEmpty, checkOptions } from "./rules";
import { checkTopicFilter, checkTopicName } from "./topic";
import type { Reader } from "./wire";

function bin(r: Reader, copy: boolean): Uint8Array {
  const b = r.binary();
  return copy ? b.slice() : b;
}

/** CONNECT (§3.1). Sets `r.version` to the packet's Protocol Level. */
function connect(r: Reader, copy: boolean): ConnectPacket {
  const name = r.string();
  const v = r.u8() as MqttVersion;
  if (name !== "MQTT") throw new MqttCodecError(0x84, "Protocol Name " + name, "[MQTT-3.1.2-1]");
  if (v !== 4 && v !== 5) throw new MqttCodecError(0x84, "Protocol Level " + v, "[MQTT-3.1.2-2]");
  r.version = v;
  const f = r.u8();
  checkConnectFlags(f, v);
  const clean = (f & 2) !== 0;
  const keepAlive = r.u16();
  const properties = v === 5 ? readProperties(r, 1) : undefined;
  const clientId = r.string(); // [MQTT-3.1.3-3]
  checkClientId(clientId, clean, v, "[MQTT-3.1.3-8]");
  let will: WillMessage | undefined;
  if (f & 4) {
    // [MQTT-3.1.2-9]: Will Properties, Will Topic and Will Payload present.
    const wp = v === 5 ? readProperties(r, 0) : undefined;
    const topic = r.string();
    const bad = checkTopicName(topic, v);
    if (bad !== undefined) throw bad;
    will = { topic, payload: bin(r, copy), qos: ((f >> 3) & 3) as QoS, retain: (f & 0x20) !== 0, properties: wp };
  }
  const username = f & 0x80 ? r.string() : undefined; // [MQTT-3.1.2-17]
  const password = f & 0x40 ? bin(r, copy) : undefined; // [MQTT-3.1.2-19]
  return { type: 1, protocolVersion: v, clean, keepAlive, clientId, will, username, password, properties };
}

/** SUBSCRIBE (8) or UNSUBSCRIBE (10): Packet Identifier, properties, a list of filters. */
function filters(r: Reader, t: number): MqttPacket {
  const v = r.version;
  const packetId = checkId(r.u16(), t, v);
  const properties = v === 5 ? readProperties(r, t) : undefined;
  const list: (Subscription | string)[] = [];
  while (r.remaining() > 0) {
    const topicFilter = r.string(); // [MQTT-3.10.3-1]
    const o = t === 8 ? r.u8() : 0;
    if (t === 8) checkOptions(o, topicFilter, v);
    const bad = checkTopicFilter(topicFilter, v);
    if (bad !== undefined) throw bad;
    list.push(
      t === 10
        ? topicFilter
        : v === 5
          ? { topicFilter, qos: (o & 3) as QoS, noLocal: (o & 4) !== 0, retainAsPublished: (o & 8) !== 0, retainHandling: ((o >> 4) & 3) as 0 }
          : { topicFilter, qos: o as QoS },
    );
  }
  checkNotEmpty(list.length, t, v);
  if (t === 8) return { type: 8, packetId, subscriptions: list as Subscription[], properties };
  return { type: 10, packetId, topicFilters: list as string[], properties };
}

server.d = (r, type, copy) => (type === 1 ? connect(r, copy) : filters(r, type));
