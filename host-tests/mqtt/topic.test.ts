// @xs
/* Topic Names, Topic Filters, matching and Shared Subscriptions (MQTT 5.0 §4.7, §4.8.2). */
import {
  checkTopicFilter,
  checkTopicName,
  isValidTopicFilter,
  isValidTopicName,
  parseSharedSubscription,
  topicMatches,
} from "../support/mqtt-codec";

describe("topicMatches (§4.7)", () => {
  // [filter, topic, expected] — the non-normative examples of §4.7.1.2, §4.7.1.3, §4.7.2.
  const table: [string, string, boolean][] = [
    ["sport/tennis/player1/#", "sport/tennis/player1", true],
    ["sport/tennis/player1/#", "sport/tennis/player1/ranking", true],
    ["sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true],
    ["sport/#", "sport", true],
    ["#", "sport/tennis", true],
    ["sport/tennis/+", "sport/tennis/player1", true],
    ["sport/tennis/+", "sport/tennis/player2", true],
    ["sport/tennis/+", "sport/tennis/player1/ranking", false],
    ["sport/+", "sport", false],
    ["sport/+", "sport/", true],
    ["+/+", "/finance", true],
    ["/+", "/finance", true],
    ["+", "/finance", false],
    ["+/tennis/#", "sport/tennis/player1", true],
    ["sport/+/player1", "sport/tennis/player1", true],
    ["a/+/c", "a//c", true],
    ["a/b", "a/b/c", false],
    ["a/b/c", "a/b", false],
    ["a/b", "a/b", true],
    ["ACCOUNTS", "Accounts", false],
    ["/finance", "finance", false],
    ["#", "$SYS/monitor/Clients", false],
    ["+/monitor/Clients", "$SYS/monitor/Clients", false],
    ["$SYS/#", "$SYS/monitor/Clients", true],
    ["$SYS/monitor/+", "$SYS/monitor/Clients", true],
    ["+", "$SYS", false],
    ["a/#", "a/b/c/d", true],
    ["a/#", "ab", false],
    ["température/+", "température/salon", true],
  ];
  it.each(table)("filter %s vs topic %s -> %s", (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });

  it("wildcard-first filters do not match $ topics [MQTT-4.7.2-1]", () => {
    expect(topicMatches("#", "$SYS/x")).toBe(false);
    expect(topicMatches("+/x", "$SYS/x")).toBe(false);
    expect(topicMatches("$SYS/x", "$SYS/x")).toBe(true);
  });
});

describe("checkTopicName", () => {
  it.each(["a", "/", "a/b/c", "Accounts payable", "/finance", "finance/", "ü/🌡", "$SYS/x"])("accepts %p", (t) => {
    expect(checkTopicName(t)).toBeUndefined();
    expect(isValidTopicName(t)).toBe(true);
  });

  const bad: [string, string][] = [
    ["", "[MQTT-4.7.3-1]"],
    ["a/+", "[MQTT-4.7.0-1]"],
    ["a/#", "[MQTT-4.7.0-1]"],
    ["+", "[MQTT-4.7.0-1]"],
    ["a\u0000b", "[MQTT-4.7.3-2]"],
    ["x".repeat(65536), "[MQTT-4.7.3-3]"],
    ["é".repeat(32768), "[MQTT-4.7.3-3]"],
  ];
  it.each(bad)("refuses %p with %s", (t, statement) => {
    const e = checkTopicName(t);
    expect(e).toBeDefined();
    expect(e!.reasonCode).toBe(0x81);
    expect(e!.statement).toBe(statement);
  });

  it("3.1.1 numbering for wildcards in names: [MQTT-4.7.1-1]", () => {
    expect(checkTopicName("a/#", 4)!.statement).toBe("[MQTT-4.7.1-1]");
  });

  it("65,535 bytes is still valid [MQTT-4.7.3-3]", () => {
    expect(checkTopicName("x".repeat(65535))).toBeUndefined();
  });
});

describe("checkTopicFilter", () => {
  it.each(["#", "+", "a/#", "+/+", "/+", "+/tennis/#", "sport/+/player1", "a//b", "$SYS/#", "$share/g/a/#", "$share/group/+"])(
    "accepts %p",
    (f) => {
      expect(checkTopicFilter(f)).toBeUndefined();
      expect(isValidTopicFilter(f)).toBe(true);
    },
  );

  const bad: [string, string][] = [
    ["", "[MQTT-4.7.3-1]"],
    ["sport/tennis#", "[MQTT-4.7.1-1]"],
    ["sport/tennis/#/ranking", "[MQTT-4.7.1-1]"],
    ["##", "[MQTT-4.7.1-1]"],
    ["sport+", "[MQTT-4.7.1-2]"],
    ["+a", "[MQTT-4.7.1-2]"],
    ["a/+b/c", "[MQTT-4.7.1-2]"],
    ["a\u0000", "[MQTT-4.7.3-2]"],
    ["$share//a", "[MQTT-4.8.2-1]"],
    ["$share/g", "[MQTT-4.8.2-2]"],
    ["$share/g/", "[MQTT-4.8.2-2]"],
    ["$share/g+/a", "[MQTT-4.8.2-2]"],
    ["$share/#/a", "[MQTT-4.8.2-2]"],
    ["$share/g/a#", "[MQTT-4.7.1-1]"],
  ];
  it.each(bad)("refuses %p with %s", (f, statement) => {
    const e = checkTopicFilter(f);
    expect(e!.reasonCode).toBe(0x81);
    expect(e!.statement).toBe(statement);
  });

  it("3.1.1 has no Shared Subscriptions: $share/g is an ordinary filter; 3.1.1 numbering", () => {
    expect(checkTopicFilter("$share/g", 4)).toBeUndefined();
    expect(checkTopicFilter("a#", 4)!.statement).toBe("[MQTT-4.7.1-2]");
    expect(checkTopicFilter("a+", 4)!.statement).toBe("[MQTT-4.7.1-3]");
  });
});

describe("parseSharedSubscription (§4.8.2)", () => {
  it("splits $share/{ShareName}/{filter}", () => {
    expect(parseSharedSubscription("$share/consumers/sensors/+/temp")).toEqual({ shareName: "consumers", topicFilter: "sensors/+/temp" });
    expect(parseSharedSubscription("$share/g/#")).toEqual({ shareName: "g", topicFilter: "#" });
    expect(parseSharedSubscription("$share/g//")).toEqual({ shareName: "g", topicFilter: "/" });
  });

  it("returns undefined for non-shared and invalid shared filters", () => {
    expect(parseSharedSubscription("a/b")).toBeUndefined();
    expect(parseSharedSubscription("$SYS/x")).toBeUndefined();
    expect(parseSharedSubscription("$share//x")).toBeUndefined();
    expect(parseSharedSubscription("$share/g")).toBeUndefined();
    expect(parseSharedSubscription("$share/g/a/#/b")).toBeUndefined();
  });

  it("the {filter} part matches like any filter", () => {
    const s = parseSharedSubscription("$share/g/sensors/+")!;
    expect(topicMatches(s.topicFilter, "sensors/t1")).toBe(true);
    expect(topicMatches(s.topicFilter, "sensors/t1/x")).toBe(false);
  });
});
