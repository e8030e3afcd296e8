// @xs
/*
 * CoRE Link Format (RFC 6690): serialization, parsing and query filtering (§4.1).
 */
import { filterLinks, formatLinks, type Link } from "../../modules/coap/server";
import { parseLinks, LinkFormatError } from "../../modules/coap/link-parse";

const links: Link[] = [
  { href: "/link1", attributes: { rt: ["Type1", "Type2"], if: "If1" } },
  { href: "/link2", attributes: { rt: ["Type2", "Type3"], if: "If2", ct: [0, 41] } },
  { href: "/link3", attributes: { rt: ["Type1", "Type3"], if: "foo", sz: 1280 } },
  { href: "/path", attributes: { ct: [40], title: 'a "quoted" title', obs: true } },
];

describe("RFC 6690 §2 serialization", () => {
  it("writes quoted multi-valued attributes, bare obs, ptoken numbers", () => {
    expect(formatLinks([links[0]])).toBe('</link1>;rt="Type1 Type2";if="If1"');
    expect(formatLinks([links[2]])).toBe('</link3>;rt="Type1 Type3";if="foo";sz=1280');
    expect(formatLinks([links[1]])).toBe('</link2>;rt="Type2 Type3";if="If2";ct="0 41"');
    expect(formatLinks([links[3]])).toBe('</path>;ct=40;title="a \\"quoted\\" title";obs');
  });
  it("leaves out empty lists, undefined and false; one number in a list is a ptoken", () => {
    expect(formatLinks([{ href: "/e", attributes: { rt: [], ct: [0], x: ["a"], y: undefined, obs: false } }])).toBe('</e>;ct=0;x="a"');
  });
  it("joins link-values with commas", () => {
    expect(formatLinks(links.slice(0, 2)).split(",").length).toBe(2);
    expect(formatLinks([])).toBe("");
  });
  it("parses back what it writes (quoted-strings unescaped, bare attributes true)", () => {
    const parsed = parseLinks(formatLinks(links));
    expect(parsed.map((l) => l.href)).toEqual(["/link1", "/link2", "/link3", "/path"]);
    expect(parsed[0].attributes).toEqual({ rt: "Type1 Type2", if: "If1" });
    expect(parsed[2].attributes!.sz).toBe("1280");
    expect(parsed[3].attributes!.title).toBe('a "quoted" title');
    expect(parsed[3].attributes!.obs).toBe(true);
  });
  it("parses whitespace between links and an empty document", () => {
    expect(parseLinks("")).toEqual([]);
    expect(parseLinks("</a>;ct=0,\n  </b>").map((l) => l.href)).toEqual(["/a", "/b"]);
  });
  it.each([["</a"], ["</a>;"], ["/a>"], ['</a>;t="x'], ["</a>x"]])("rejects malformed input %j with LinkFormatError", (bad) => {
    expect(() => parseLinks(bad as string)).toThrow(LinkFormatError);
  });
  it("bounds the number of links parsed", () => {
    expect(() => parseLinks(Array(20).fill("</x>").join(","), 10)).toThrow("more than 10 links");
  });
});

describe("RFC 6690 §4.1 query filtering", () => {
  const hrefs = (q: string[]) => filterLinks(links, q).map((l) => l.href);
  it("no query: every link", () => {
    expect(hrefs([])).toEqual(["/link1", "/link2", "/link3", "/path"]);
  });
  it("rt=Type1 matches each value of a multi-valued attribute separately", () => {
    expect(hrefs(["rt=Type1"])).toEqual(["/link1", "/link3"]);
    expect(hrefs(["rt=Type2"])).toEqual(["/link1", "/link2"]);
  });
  it("a trailing * is a prefix match; rt=* matches any link with rt", () => {
    expect(hrefs(["rt=*"])).toEqual(["/link1", "/link2", "/link3"]);
    expect(hrefs(["if=If*"])).toEqual(["/link1", "/link2"]);
    expect(hrefs(["href=/link*"])).toEqual(["/link1", "/link2", "/link3"]);
  });
  it("href matches the URI-reference exactly without *", () => {
    expect(hrefs(["href=/path"])).toEqual(["/path"]);
    expect(hrefs(["href=/pat"])).toEqual([]);
  });
  it("each value of any list attribute is matched on its own", () => {
    expect(filterLinks([{ href: "/l", attributes: { x: ["a", "b"] } }], ["x=b"]).length).toBe(1);
  });
  it("ct filters on one of the formats; sz=* on presence", () => {
    expect(hrefs(["ct=40"])).toEqual(["/path"]);
    expect(hrefs(["ct=41"])).toEqual(["/link2"]);
    expect(hrefs(["sz=*"])).toEqual(["/link3"]);
  });
  it("a value matches only an attribute that exists; a complete value must be identical", () => {
    expect(hrefs(["title=x"])).toEqual([]);
    expect(hrefs(["rt=Type"])).toEqual([]);
    expect(hrefs(["obs=*"])).toEqual(["/path"]);
  });
  it("values are percent-decoded before matching", () => {
    expect(hrefs(["rt=Type%31"])).toEqual(["/link1", "/link3"]);
    expect(hrefs(["%72t=Type%31"])).toEqual(["/link1", "/link3"]); // the name too
    const odd: Link[] = [{ href: "/cafe", attributes: { title: "café", rt: "Type%zz" } }];
    expect(filterLinks(odd, ["title=caf%C3%A9"]).length).toBe(1); // UTF-8 octets
    expect(filterLinks(odd, ["title=caf%E9"]).length).toBe(0); // malformed UTF-8: as sent, no match
    expect(filterLinks(odd, ["rt=Type%zz"]).length).toBe(1); // malformed: as sent
    expect(hrefs(["href=%2Flink3"])).toEqual(["/link3"]);
  });
  it("no query gives a new list of every link", () => {
    const all = filterLinks(links, []);
    expect(all).toEqual(links);
    expect(all).not.toBe(links);
  });
});
