/*
 * Parsing a CoRE Link Format document (RFC 6690 §2), for clients doing resource discovery:
 * hosts and tests. The firmware serves /.well-known/core (link-format.ts) and parses none, so
 * the manifest leaves this file out (issue 17).
 */
import type { Link } from "./server";

export class LinkFormatError extends Error {
  constructor(message: string) {
    super(message);
  }
}
// On the prototype: `this.name = ...` throws where the intrinsics are frozen, as on a device (host-tests/xs/lockdown.ts).
Object.defineProperty(LinkFormatError.prototype, "name", { value: "LinkFormatError", writable: true, configurable: true });

/**
 * Parses a link-format document (RFC 6690 §2). Attribute values become
 * strings (quoted-strings unescaped); a bare attribute (`obs`) becomes true.
 * Throws LinkFormatError on malformed input; `maxLinks` bounds the work.
 */
export function parseLinks(text: string, maxLinks = 256): Link[] {
  const links: Link[] = [];
  let i = 0;
  const n = text.length;
  const skipWs = () => {
    while (i < n && (text[i] === " " || text[i] === "\n" || text[i] === "\r" || text[i] === "\t")) i++;
  };
  skipWs();
  if (i === n) return links;
  for (;;) {
    skipWs();
    if (text[i] !== "<") throw new LinkFormatError(`expected "<" at offset ${i}`);
    const close = text.indexOf(">", i + 1);
    if (close < 0) throw new LinkFormatError(`unterminated URI-reference at offset ${i}`);
    const link: Link = { href: text.slice(i + 1, close), attributes: {} };
    i = close + 1;
    while (i < n && text[i] === ";") {
      i++;
      let j = i;
      while (j < n && text[j] !== "=" && text[j] !== ";" && text[j] !== ",") j++;
      const name = text.slice(i, j).trim();
      if (!name) throw new LinkFormatError(`empty attribute name at offset ${i}`);
      i = j;
      if (text[i] === "=") {
        i++;
        let value = "";
        if (text[i] === '"') {
          i++;
          for (;;) {
            if (i >= n) throw new LinkFormatError("unterminated quoted-string");
            const c = text[i++];
            if (c === '"') break;
            if (c === "\\" && i < n) value += text[i++];
            else value += c;
          }
        } else {
          let k = i;
          while (k < n && text[k] !== ";" && text[k] !== ",") k++;
          value = text.slice(i, k).trim();
          i = k;
        }
        link.attributes![name] = value;
      } else link.attributes![name] = true;
    }
    links.push(link);
    if (links.length > maxLinks) throw new LinkFormatError(`more than ${maxLinks} links`);
    skipWs();
    if (i >= n) break;
    if (text[i] !== ",") throw new LinkFormatError(`expected "," at offset ${i}`);
    i++;
  }
  return links;
}
