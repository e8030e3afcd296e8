/*
 * createModdablePlatform(): our Platform (modules/platform/platform.ts) built
 * from Moddable's host modules. The only place, with src/main.ts, that imports
 * host modules (ARCHITECTURE.md principle 3). What maps to what is in
 * docs/moddable.md.
 */
import HostUDP from "embedded:io/socket/udp";
import config from "mc/config";
import { Analog, I2C } from "./board-io";
import { ModdableClock } from "./clock";
import { makeTcp, makeTls, netResolve } from "./sockets";
import type { CallbackErrorReporter, ResolveFunction } from "./sockets";
import { PreferenceStore } from "./storage";
import { ModdableCrypto, NativePower, NativeRtcMemory } from "./system";
import type { Platform, PlatformIo } from "../platform";
import type { I2cConstructor, UdpConstructor } from "../io";

export interface ModdablePlatformOptions {
  /** Where log lines go; defaults to the XS `trace` (serial console, or stdout in the simulator). */
  log?: (message: string) => void;
  /** Host name lookup for TCP/TLS `host`; defaults to Moddable's Net.resolve. */
  resolve?: ResolveFunction;
}

function traceLine(message: string): void {
  trace(message + "\n");
}

/** The board name from the manifest's "config" (see manifest.json), e.g. "esp32-devkitc" or "sim" (the lin build). */
export function boardName(): string {
  const xsiot = (config as Record<string, unknown>).xsiot as { board?: unknown } | undefined;
  const board = xsiot?.board;
  return typeof board === "string" ? board : "unknown";
}

export function createModdablePlatform(options: ModdablePlatformOptions = {}): Platform {
  const log = options.log ?? traceLine;
  const report: CallbackErrorReporter = (error, where) => {
    log(`socket ${where} callback threw: ${error instanceof Error ? error.message : String(error)}`);
  };
  const resolve = options.resolve ?? netResolve;
  const io: PlatformIo = {
    TCP: makeTcp(resolve, report),
    TLS: makeTls(resolve, report),
    UDP: HostUDP as unknown as UdpConstructor,
    I2C: I2C as I2cConstructor,
  };
  if (Analog) io.Analog = Analog;
  return {
    name: `moddable-${boardName()}`,
    clock: new ModdableClock(),
    storage: new PreferenceStore(),
    rtc: new NativeRtcMemory(),
    power: new NativePower(),
    crypto: new ModdableCrypto(),
    io,
    log,
  };
}
