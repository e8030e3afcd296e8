/**
 * tools/xsl-image.js (docs/mqttsn.md, "Figures"): what the XS linker put in a preloaded image,
 * read from an mc.xs.c. Fixtures in the linker's own format (two heaps that differ by one
 * function, one string and one key) checked against counts made by hand.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const TOOL = path.resolve(__dirname, "../../tools/xsl-image.js");

function mcxs(slots: string[], keys: number, extra = ""): string {
  return [
    "/* XS GENERATED FILE; DO NOT EDIT! */",
    "#define mxAliasCount 0",
    `#define mxHeapCount ${slots.length}`,
    `#define mxKeysCount ${keys}`,
    "static const txU1 gxCode1[429];",
    extra,
    "static const txSlot gxHeap[mxHeapCount] = {",
    ...slots,
    "};",
    "",
  ].join("\n");
}

const KEY = (name: string) => `\t{ NULL, {.ID = 1, .flag = 0x87, .kind = XS_KEY_X_KIND}, .value = { .key = { "${name}", 0x1 } }},`;
const CODE = (bytes: string) => `\t{ NULL, {.ID = 2, .flag = 0x8b, .kind = XS_CODE_X_KIND}, .value = { .code = { (txByte*)"${bytes}", NULL } } },`;
const STRING = (s: string) => `\t{ NULL, {.ID = 3, .flag = 0x80, .kind = XS_STRING_X_KIND}, .value = { .string = "${s}" } },`;
const SLOT = `\t{ NULL, {.ID = 4, .flag = 0x80, .kind = XS_INTEGER_KIND}, .value = { .integer = 1 } },`;

function run(...files: string[]) {
  const r = spawnSync(process.execPath, [TOOL, ...files], { encoding: "utf8" });
  const rows: Record<string, number[]> = {};
  for (const line of r.stdout.trim().split("\n")) {
    const [k, ...v] = line.trim().split(/\s+/);
    rows[k] = v.map(Number);
  }
  return { status: r.status, rows, stderr: r.stderr };
}

describe("tools/xsl-image.js", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xsl-image-"));
  const a = path.join(dir, "a.xs.c");
  const b = path.join(dir, "b.xs.c");
  // The escapes count as one byte each (\x0f, \", \\, \101): code "\x0f\x00\"\\\101" is 5 bytes.
  fs.writeFileSync(a, mcxs([KEY("Array"), KEY("regOf"), CODE("\\x0f\\x00\\\"\\\\\\101"), CODE("\\x44"), STRING("ab"), SLOT], 2));
  fs.writeFileSync(b, mcxs([KEY("Array"), CODE("\\x44"), SLOT], 1));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("counts the heap, the functions' bytecode, the strings and the names of one image", () => {
    const { status, rows } = run(a);
    expect(status).toBe(0);
    expect(rows.heapSlots).toEqual([6]);
    expect(rows.functions).toEqual([2]);
    expect(rows.codeBytes).toEqual([6]);
    expect(rows.stringBytes).toEqual([3]); // "ab" and its NUL
    expect(rows.keys).toEqual([2]);
    expect(rows.keyNameBytes).toEqual([12]); // "Array" and "regOf", each with its NUL
    expect(rows.unpreloadedCodeBytes).toEqual([429]);
    expect(rows.esp32Bytes).toEqual([6 * 16 + 2 * 4 + 6 + 3 + 12 + 429]);
  });

  it("prints what the first image carries more than the second", () => {
    const { status, rows } = run(a, b);
    expect(status).toBe(0);
    expect(rows.heapSlots).toEqual([6, 3, 3]);
    expect(rows.codeBytes).toEqual([6, 1, 5]);
    expect(rows.keys).toEqual([2, 1, 1]);
    expect(rows.esp32Bytes[2]).toBe(3 * 16 + 4 + 5 + 3 + 6);
  });

  it("refuses a file that is not a linked image, and a wrong number of arguments", () => {
    const notImage = path.join(dir, "x.c");
    fs.writeFileSync(notImage, "int x;\n");
    const r = run(notImage);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("no preloaded heap");
    expect(run().status).toBe(2);
  });
});
