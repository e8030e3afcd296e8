/*
 * Portable helpers for the config suites (no Node API: @xs files import this).
 */
import { Scheduler } from "../../modules/scheduler/scheduler";
import { VirtualClock } from "../../sim/virtual-clock";
import { FlashStore } from "../../sim/flash-store";
import { hmacSha256 } from "../../modules/platform/sha256";
import { ConfigStore } from "../../modules/config/store";
import { ConfigCore, type ConfigCoreOptions, type CommandRequest } from "../../modules/config/core";
import { signCommand } from "../../modules/config/auth";
import { simBoard } from "../../boards/sim";

export const KEY = new Uint8Array(32).map((_, i) => (i * 7 + 3) & 0xff);
export const OTHER_KEY = new Uint8Array(32).map((_, i) => (i * 11 + 5) & 0xff);
export const DEVICE = "dev-1";

export interface CoreKit {
  clock: VirtualClock;
  scheduler: Scheduler;
  flash: FlashStore;
  store: ConfigStore;
  core: ConfigCore;
  logs: string[];
  /** Next counter to use. */
  ctr: number;
  sign(command: string, body?: unknown, counter?: number, key?: Uint8Array, device?: string): CommandRequest;
  run(command: string, body?: unknown): ReturnType<ConfigCore["execute"]>;
}

export function makeCore(options: Partial<ConfigCoreOptions> = {}, flash = new FlashStore(), provision = true): CoreKit {
  const clock = new VirtualClock();
  const scheduler = new Scheduler({ clock });
  const store = new ConfigStore({ storage: flash, context: { board: simBoard, deviceId: DEVICE } });
  if (provision && !store.key()) store.provisionKey(KEY);
  const logs: string[] = [];
  const core = new ConfigCore({ store, scheduler, hmacSha256, log: (l) => logs.push(l), burst: 1000, ratePerS: 1000, ...options });
  const kit: CoreKit = {
    clock,
    scheduler,
    flash,
    store,
    core,
    logs,
    ctr: store.counter + 1,
    sign(command, body, counter, key = KEY, device = DEVICE) {
      const c = counter ?? kit.ctr++;
      return { command, counter: c, body, mac: signCommand(hmacSha256, key, device, command, c, body) };
    },
    run(command, body) {
      return core.execute(kit.sign(command, body));
    },
  };
  return kit;
}

/** A comparable snapshot of every namespace of the flash (ArrayBuffers as hex). */
export function flashSnapshot(flash: FlashStore): string {
  const img = flash.image();
  const out: { [k: string]: { [k: string]: unknown } } = {};
  for (const ns of Object.keys(img).sort()) {
    out[ns] = {};
    for (const k of Object.keys(img[ns]).sort()) {
      const v = img[ns][k];
      out[ns][k] = v instanceof ArrayBuffer ? "hex:" + Array.from(new Uint8Array(v)).map((b) => b.toString(16).padStart(2, "0")).join("") : v;
    }
  }
  return JSON.stringify(out);
}
