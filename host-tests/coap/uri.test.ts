// @xs
import { COAP_OPTION } from "../../modules/coap/constants";
import { getStrings, getUint, stringOption, uintOption } from "../../modules/coap/options";
import { getString } from "../../modules/coap/option-helpers";
import { buildCoapUri, parseCoapUri, percentDecode, CoapUriError } from "../../modules/coap/uri";

describe("decomposing URIs into options (RFC 7252 §6.4)", () => {
  it("host, path segments and query arguments", () => {
    const u = parseCoapUri("coap://Example.ORG/sensors/temp?unit=C&n=2");
    expect(u.scheme).toBe("coap");
    expect(u.port).toBe(5683);
    expect(getString(u, COAP_OPTION.URI_HOST)).toBe("example.org"); // step 5: lower-cased
    expect(getStrings(u, COAP_OPTION.URI_PATH)).toEqual(["sensors", "temp"]);
    expect(getStrings(u, COAP_OPTION.URI_QUERY)).toEqual(["unit=C", "n=2"]);
    expect(getUint(u, COAP_OPTION.URI_PORT)).toBeUndefined();
  });
  it("an IPv4 or IP-literal host gives no Uri-Host (step 5)", () => {
    expect(parseCoapUri("coap://192.0.2.1/x").options.some((o) => o.number === COAP_OPTION.URI_HOST)).toBe(false);
    const v6 = parseCoapUri("coap://[2001:db8::1]:61616/x");
    expect(v6.host).toBe("2001:db8::1");
    expect(v6.hostIsIp).toBe(true);
    expect(v6.port).toBe(61616);
  });
  it("Uri-Port only when the port differs from the destination port (step 7)", () => {
    expect(getUint(parseCoapUri("coap://h:1234/"), COAP_OPTION.URI_PORT)).toBeUndefined();
    expect(getUint(parseCoapUri("coap://h:1234/", 5683), COAP_OPTION.URI_PORT)).toBe(1234);
    expect(parseCoapUri("coaps://h/").port).toBe(5684);
  });
  it("an empty path or a lone slash gives no Uri-Path (step 8)", () => {
    expect(getStrings(parseCoapUri("coap://h"), COAP_OPTION.URI_PATH)).toEqual([]);
    expect(getStrings(parseCoapUri("coap://h/"), COAP_OPTION.URI_PATH)).toEqual([]);
    expect(getStrings(parseCoapUri("coap://h//a/"), COAP_OPTION.URI_PATH)).toEqual(["", "a", ""]);
  });
  it("percent-decodes path and query to bytes (steps 8, 9)", () => {
    const u = parseCoapUri("coap://h/%7Euser/a%2Fb?q=%26x&%C3%A9");
    expect(getStrings(u, COAP_OPTION.URI_PATH)).toEqual(["~user", "a/b"]);
    expect(getStrings(u, COAP_OPTION.URI_QUERY)).toEqual(["q=&x", "é"]);
    expect(Array.from(percentDecode("%ff"))).toEqual([255]);
  });
  it.each([
    ["http://h/x", "scheme"],
    ["coap://h/x#frag", "fragment"],
    ["/relative", "absolute"],
    ["coap://h/%zz", "percent"],
    ["coap://h:99999/", "port"],
    ["coap:///x", "host"],
  ])("fails for %s (%s)", (uri, what) => {
    expect(() => parseCoapUri(uri as string)).toThrow(CoapUriError);
    try {
      parseCoapUri(uri as string);
    } catch (e) {
      expect(String((e as Error).message).toLowerCase()).toContain(what as string);
    }
  });
});

describe("composing URIs from options (RFC 7252 §6.5)", () => {
  it("round-trips through the options", () => {
    const uri = "coap://example.org:61616/sensors/temp?unit=C&n=2";
    const u = parseCoapUri(uri, 5683);
    expect(buildCoapUri(u, { host: "192.0.2.1", port: 5683 })).toBe(uri);
  });
  it("uses the destination when there is no Uri-Host / Uri-Port, and '/' for no path (step 7)", () => {
    expect(buildCoapUri({ options: [] }, { host: "192.0.2.1", port: 5683 })).toBe("coap://192.0.2.1/");
    expect(buildCoapUri({ options: [] }, { host: "2001:db8::1", port: 5684, secure: true })).toBe("coaps://[2001:db8::1]/");
    expect(buildCoapUri({ options: [uintOption(COAP_OPTION.URI_PORT, 1234)] }, { host: "h", port: 5683 })).toBe("coap://h:1234/");
  });
  it("percent-encodes with upper-case hex what is not allowed (steps 6, 8)", () => {
    const uri = buildCoapUri({ options: [stringOption(COAP_OPTION.URI_PATH, "a b/é"), stringOption(COAP_OPTION.URI_QUERY, "x=1&2"), stringOption(COAP_OPTION.URI_QUERY, "p=/?:@")] }, { host: "h", port: 5683 });
    expect(uri).toBe("coap://h/a%20b%2F%C3%A9?x=1%262&p=/?:@");
  });
});
