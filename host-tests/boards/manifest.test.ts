import * as fs from "node:fs";
import * as path from "node:path";
import { boards } from "../../boards/index";

// Node-only: reads manifest.json. The manifest maps each Moddable platform target to its
// board (issue 5); this keeps the two from drifting apart.
const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, "../../manifest.json"), "utf8"));

describe("manifest.json and boards/ agree", () => {
  it.each(Object.values(boards).map((b) => [b.name, b] as const))("%s: its Moddable target names it, with its I2C pins", (_name, board) => {
    const platform = manifest.platforms[board.moddableTarget];
    expect(platform).toBeDefined();
    const xsiot = platform.config.xsiot;
    expect(xsiot.board).toBe(board.name);
    if (board.soc !== "host") {
      expect(xsiot.i2c).toEqual({ data: board.i2c.data, clock: board.i2c.clock, hz: board.i2c.hz });
    }
  });

  it("declares no ESP32 target without a board definition", () => {
    const targets = new Set(Object.values(boards).map((b) => b.moddableTarget));
    for (const key of Object.keys(manifest.platforms)) {
      if (key === "...") continue;
      expect(targets.has(key)).toBe(true);
    }
  });
});
