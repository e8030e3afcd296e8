/*
 * Topic Names and Topic Filters (MQTT 5.0 §4.7, §4.8.2; MQTT 3.1.1 §4.7): validation,
 * matching, and Shared Subscription ($share/{ShareName}/{filter}) parsing.
 *
 * Validation functions return undefined when the topic is valid, else an MqttCodecError
 * (0x81 Malformed Packet: a topic that breaks the §4.7 syntax cannot be parsed as one)
 * naming the statement. They allocate nothing on success.
 */
import { encodeUtf8, utf8Length } from "../bytes/utf8";
import { MqttCodecError, malformed } from "./errors";
import type { MqttVersion } from "./packets";

// Characters as literals: 0x2f '/', 0x2b '+', 0x23 '#', 0x24 '$'.

/** Longest topic in bytes (§1.5.4 two-byte length; [MQTT-4.7.3-3]). */
export const MAX_TOPIC_BYTES = 65535;

/** The rules Topic Names and Filters share: a string, at least one character [MQTT-4.7.3-1], at most 65,535 bytes [MQTT-4.7.3-3]. */
function checkLength(s: string, what: string): MqttCodecError | undefined {
  if (typeof s !== "string") return malformed(what + " must be a string", "§4.7");
  if (s.length === 0) return malformed("empty " + what, "[MQTT-4.7.3-1]");
  // A JS string of n UTF-16 units encodes to at most 3n bytes; only long ones need measuring
  // (a lone surrogate is refused where the string is encoded).
  if (s.length > 21845) {
    try {
      if (utf8Length(s) > MAX_TOPIC_BYTES) return malformed(what + " over 65,535 bytes", "[MQTT-4.7.3-3]");
    } catch {
      // refused when encoded
    }
  }
  return undefined;
}

/**
 * A Topic Name (PUBLISH, Will Topic): at least one character [MQTT-4.7.3-1], no U+0000
 * [MQTT-4.7.3-2], at most 65,535 bytes [MQTT-4.7.3-3], no wildcard [MQTT-4.7.0-1]
 * ([MQTT-3.3.2-2]; 3.1.1: [MQTT-4.7.1-1]).
 */
export function checkTopicName(topic: string, version: MqttVersion = 5): MqttCodecError | undefined {
  const bad = checkLength(topic, "Topic Name");
  if (bad !== undefined) return bad;
  // Native scans: on XS charCodeAt(i) walks the (UTF-8) string from its start.
  if (topic.indexOf("+") >= 0 || topic.indexOf("#") >= 0) {
    return malformed("Topic Name \"" + topic + "\" contains a wildcard", version === 5 ? "[MQTT-4.7.0-1]" : "[MQTT-4.7.1-1]");
  }
  if (topic.indexOf("\u0000") >= 0) return malformed("Topic Name contains U+0000", "[MQTT-4.7.3-2]");
  return undefined;
}

/**
 * A Topic Name checked and UTF-8 encoded once (with its two-byte length, as it goes on the
 * wire), for publishing to it many times: the session keeps the last one it made, and an app
 * may keep its own (prepareTopic). Like the Moddable SDK's prepareTopic.
 */
export interface PreparedTopic {
  readonly name: string;
  /** Two-byte length, then the UTF-8 bytes (§1.5.4). */
  readonly bytes: Uint8Array;
}

/** Checks Topic Name `name` ([MQTT-3.3.2-2], §4.7, [MQTT-1.5.4-1]) and encodes it; throws the MqttCodecError. */
export function prepareTopic(name: string, version: MqttVersion = 5): PreparedTopic {
  const bad = checkTopicName(name, version);
  if (bad !== undefined) throw bad;
  let n: number;
  try {
    n = utf8Length(name); // at most 65,535: checkTopicName measured a string that could be longer
  } catch {
    throw malformed("Topic Name holds a lone surrogate", version === 5 ? "[MQTT-1.5.4-1]" : "[MQTT-1.5.3-1]");
  }
  const bytes = new Uint8Array(2 + n);
  bytes[0] = n >> 8;
  bytes[1] = n & 0xff;
  encodeUtf8(name, bytes, 2);
  return { name, bytes };
}

/** Checks the §4.7.1 wildcard placement of a filter (or of the {filter} part of a shared one). */
function checkFilterBody(f: string, start: number, version: MqttVersion): MqttCodecError | undefined {
  const n = f.length;
  for (let i = start; i < n; i++) {
    const c = f.charCodeAt(i);
    if (c === 0x23) {
      // [MQTT-4.7.1-1] (3.1.1: [MQTT-4.7.1-2]): alone or after '/', and last.
      if ((i !== start && f.charCodeAt(i - 1) !== 0x2f) || i !== n - 1) {
        return malformed("bad '#' in " + f, version === 5 ? "[MQTT-4.7.1-1]" : "[MQTT-4.7.1-2]");
      }
    } else if (c === 0x2b) {
      // [MQTT-4.7.1-2] (3.1.1: [MQTT-4.7.1-3]): occupies an entire level.
      if ((i !== start && f.charCodeAt(i - 1) !== 0x2f) || (i !== n - 1 && f.charCodeAt(i + 1) !== 0x2f)) {
        return malformed("bad '+' in " + f, version === 5 ? "[MQTT-4.7.1-2]" : "[MQTT-4.7.1-3]");
      }
    } else if (c === 0) {
      return malformed("Topic Filter contains U+0000", "[MQTT-4.7.3-2]");
    }
  }
  return undefined;
}

const SHARE_PREFIX = "$share/";

/**
 * A Topic Filter (SUBSCRIBE, UNSUBSCRIBE): the Topic Name rules but wildcards allowed where
 * §4.7.1 puts them. In 5.0 a filter starting with "$share/" must be a valid Shared
 * Subscription ([MQTT-4.8.2-1], [MQTT-4.8.2-2]); in 3.1.1 it is an ordinary filter.
 */
export function checkTopicFilter(filter: string, version: MqttVersion = 5): MqttCodecError | undefined {
  const bad = checkLength(filter, "Topic Filter");
  if (bad !== undefined) return bad;
  if (version === 5 && filter.charCodeAt(0) === 0x24 && filter.startsWith(SHARE_PREFIX)) {
    const shareEnd = shareNameEnd(filter);
    if (shareEnd < 0) {
      return malformed("bad Shared Subscription " + filter, shareEnd === -1 ? "[MQTT-4.8.2-1]" : "[MQTT-4.8.2-2]");
    }
    return checkFilterBody(filter, shareEnd + 1, version);
  }
  return checkFilterBody(filter, 0, version);
}

/**
 * For "$share/{ShareName}/{filter}", the index of the '/' after ShareName; -1 when the
 * ShareName is empty [MQTT-4.8.2-1]; -2 when it holds '+' or '#', is not followed by '/',
 * or no filter follows [MQTT-4.8.2-2].
 */
function shareNameEnd(f: string): number {
  const start = SHARE_PREFIX.length;
  const n = f.length;
  let i = start;
  for (; i < n; i++) {
    const c = f.charCodeAt(i);
    if (c === 0x2f) break;
    if (c === 0x2b || c === 0x23) return -2;
  }
  if (i === start) return -1;
  if (i >= n - 1) return -2;
  return i;
}

/** A parsed MQTT 5.0 Shared Subscription (§4.8.2). */
export interface SharedSubscription {
  shareName: string;
  /** The {filter} part, matched like any Topic Filter. */
  topicFilter: string;
}

/**
 * Splits a 5.0 Shared Subscription filter. Returns undefined for a non-shared filter or an
 * invalid shared one (checkTopicFilter says which statement it breaks).
 */
export function parseSharedSubscription(filter: string): SharedSubscription | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined;
  if (checkTopicFilter(filter, 5) !== undefined) return undefined;
  const end = shareNameEnd(filter);
  return { shareName: filter.slice(SHARE_PREFIX.length, end), topicFilter: filter.slice(end + 1) };
}

/**
 * True when Topic Name `topic` matches Topic Filter `filter` (§4.7): '+' matches exactly one
 * level (possibly empty), '#' the parent level and any number of child levels, other
 * characters match exactly (no normalisation, [MQTT-4.7.3-4]). A filter starting with a
 * wildcard does not match a topic starting with '$' [MQTT-4.7.2-1]. Both arguments are
 * assumed valid (see checkTopicFilter / checkTopicName); for a Shared Subscription pass
 * its {filter} part (parseSharedSubscription). Allocates nothing.
 */
export function topicMatches(filter: string, topic: string): boolean {
  const fl = filter.length;
  const tl = topic.length;
  if (fl === 0 || tl === 0) return false;
  if (topic.charCodeAt(0) === 0x24) {
    const f0 = filter.charCodeAt(0);
    if (f0 === 0x23 || f0 === 0x2b) return false; // [MQTT-4.7.2-1]
  }
  let fi = 0;
  let ti = 0;
  while (fi < fl) {
    const c = filter.charCodeAt(fi);
    if (c === 0x23) return true;
    if (c === 0x2b) {
      while (ti < tl && topic.charCodeAt(ti) !== 0x2f) ti++;
      fi++;
    } else if (ti < tl && topic.charCodeAt(ti) === c) {
      fi++;
      ti++;
    } else {
      // "sport/#" also matches "sport" (§4.7.1.2: '#' includes the parent level).
      return ti === tl && c === 0x2f && fi + 2 === fl && filter.charCodeAt(fi + 1) === 0x23;
    }
  }
  return ti === tl;
}
