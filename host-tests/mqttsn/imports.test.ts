/*
 * What modules/mqttsn is made of, read from the source (Node only):
 * - the app's firmware (the import closure of src/main.ts) carries the session (the core, its
 *   outbox, and the parts src/mqttsn-link.ts passes in, which live in session.ts: the will,
 *   pre-defined topic ids, the sleeping client, the registry store (the topic ids kept in flash across deep
 *   sleep), and the binding MqttSnClient): not discovery, QoS 2, QoS −1, short topic names, will updates, sleep
 *   updates, nor the codec (the gateway's and the tests');
 * - manifest.json maps exactly the files of modules/mqttsn in that closure (no `modules/mqttsn/*`);
 * - no module has state of its own or is imported for its side effects (preload-safe; parts
 *   are chosen by what is imported and passed in).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { importClosure, moduleStateProblems } from "../support/import-closure";

const ROOT = path.join(__dirname, "../..");
const DIR = path.join(ROOT, "modules/mqttsn");
const shipped = () => [...importClosure(path.join(ROOT, "src/main.ts"))].map((f) => path.relative(ROOT, f)).filter((f) => f.startsWith("modules/mqttsn/"));

describe("modules/mqttsn: what the app's firmware carries", () => {
  test("the lean core and the parts the link passes in, nothing else", () => {
    const c = shipped();
    // discovery, qos2, qos-minus1, short-topics, will-update, sleep-update, codec, constants, parts: not carried
    expect(c.sort()).toEqual(["modules/mqttsn/session.ts"]);
  });

  test("manifest.json maps exactly those files, one by one", () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, "manifest.json"), "utf8"));
    const mapped = Object.keys(manifest.modules).filter((k) => k.startsWith("modules/mqttsn/"));
    expect(mapped).not.toContain("modules/mqttsn/*");
    for (const k of mapped) expect(manifest.modules[k]).toBe("./" + k);
    expect(mapped.sort()).toEqual(shipped().map((f) => f.slice(0, -3)).sort());
  });
});

describe("modules/mqttsn: no module state, no side-effect import, no prototype patched (preload-safe)", () => {
  test.each(fs.readdirSync(DIR).filter((f) => f.endsWith(".ts")))("%s", (name) => {
    expect(moduleStateProblems(path.join(DIR, name))).toEqual([]);
  });
});
