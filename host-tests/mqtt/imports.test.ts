/*
 * What modules/mqtt is made of, read from the source (Node only):
 * - a 3.1.1 app (it imports modules/mqtt/client and not the 5.0 part) carries no 5.0 code:
 *   the import closure of client.ts has neither mqtt5.ts nor the properties codec;
 * - no module has state of its own (ARCHITECTURE.md principle 8, preload-safe): no
 *   top-level `let`/`var`, no top-level Map/Set/WeakMap, no assignment into an imported
 *   binding (a side-effect import installing a hook) or onto a prototype after load;
 * - no module is imported only for its side effects;
 * - the firmware ships only the MQTT modules the app imports: manifest.json maps exactly the
 *   files of modules/mqtt in the import closure of src/main.ts (no `modules/mqtt/*`).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { importClosure as closure, moduleStateProblems } from "../support/import-closure";

const DIR = path.join(__dirname, "../../modules/mqtt");
const ROOT = path.join(__dirname, "../..");

const rel = (f: string) => path.relative(ROOT, f);

describe("modules/mqtt: what an app's import carries", () => {
  test("a 3.1.1 app (client.ts without the 5.0 part) carries no 5.0 code", () => {
    const c = [...closure(path.join(DIR, "client.ts"))].map(rel);
    expect(c).toContain("modules/mqtt/session.ts");
    expect(c).toContain("modules/mqtt/outbox-store.ts");
    for (const f of ["mqtt5.ts", "properties.ts", "reason-names.ts"]) expect(c).not.toContain("modules/mqtt/" + f);
  });

  test("the 5.0 part brings the properties codec; nothing else needs it", () => {
    const c = [...closure(path.join(DIR, "mqtt5.ts"))].map(rel);
    expect(c).toContain("modules/mqtt/properties.ts"); // with the Table 2-6 reason codes
    expect(c).not.toContain("modules/mqtt/reason-names.ts");
  });
});

describe("manifest.json ships only the MQTT modules the app imports", () => {
  test("its modules/mqtt entries are the app's import closure within modules/mqtt, one by one", () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, "manifest.json"), "utf8"));
    const mapped = Object.keys(manifest.modules).filter((k) => k.startsWith("modules/mqtt/"));
    expect(mapped).not.toContain("modules/mqtt/*");
    for (const k of mapped) expect(manifest.modules[k]).toBe("./" + k);
    const used = [...closure(path.join(ROOT, "src/main.ts"))].map(rel).filter((f) => f.startsWith("modules/mqtt/")).map((f) => f.slice(0, -3));
    expect(mapped.sort()).toEqual(used.sort());
    expect(used).not.toContain("modules/mqtt/reason-names"); // names for diagnostics: not in the firmware
  });
});

describe("modules/mqtt: no module state, no side-effect import, no prototype patched (preload-safe)", () => {
  const files = fs.readdirSync(DIR).filter((f) => f.endsWith(".ts"));

  test.each(files)("%s", (name) => {
    expect(moduleStateProblems(path.join(DIR, name))).toEqual([]);
  });
});
