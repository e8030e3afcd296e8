/*
 * Flag parsing for the host command line. Every command validates its flags
 * up front: an unknown flag or a bad value is a UsageError (exit code 2) with a
 * message that names the flag and what it accepts.
 */
import { parseArgs } from "node:util";

export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
  }
}
// On the prototype: `this.name = ...` throws where the intrinsics are frozen, as on a device (host-tests/xs/lockdown.ts).
Object.defineProperty(UsageError.prototype, "name", { value: "UsageError", writable: true, configurable: true });

export type FlagSpec = Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }>;

/** Parses `argv` against `spec`; an unknown flag or a missing value is a UsageError. (`_command` is accepted for older callers; the dispatcher names the command in the message.) */
export function parseFlags(argv: string[], spec: FlagSpec, _command?: string): { values: Record<string, any>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: spec as any, strict: true, allowPositionals: true });
    return { values: values as Record<string, any>, positionals };
  } catch (error) {
    const message = (error as Error).message.replace(/\. To specify a positional argument.*$/s, "");
    throw new UsageError(message);
  }
}

export function intFlag(values: Record<string, any>, name: string, min: number, max: number, fallback?: number): number | undefined {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^-?\d+$/.test(String(raw)) || n < min || n > max)
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  return n;
}

export function numberFlag(values: Record<string, any>, name: string, minExclusive: number, max: number, fallback?: number): number | undefined {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (String(raw).trim() === "" || !Number.isFinite(n) || n <= minExclusive || n > max)
    throw new UsageError(`--${name} must be a number above ${minExclusive} and at most ${max}, got "${raw}"`);
  return n;
}

/** Unit suffixes a duration flag takes, in seconds. */
const DURATION_UNITS: { [unit: string]: number } = { ms: 0.001, s: 1, m: 60, min: 60, h: 3600, d: 86_400 };

/**
 * A duration in seconds: a number of seconds ("90", "0.5") or a number with a unit: "1500ms",
 * "90s", "15m", "24h", "2d", "1.5h". Above `minExclusive` seconds, at most `max`.
 */
export function durationFlag(values: Record<string, any>, name: string, minExclusive: number, max: number, fallback?: number): number | undefined {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|min|m|h|d)?\s*$/.exec(String(raw));
  const n = m ? Number(m[1]) * DURATION_UNITS[m[2] ?? "s"] : NaN;
  if (!Number.isFinite(n) || n <= minExclusive || n > max)
    throw new UsageError(`--${name} must be a duration above ${minExclusive} s and at most ${max} s: seconds, or a number with ms, s, m, h or d ("90", "15m", "24h"), got "${raw}"`);
  return n;
}

export function choiceFlag<T extends string>(values: Record<string, any>, name: string, choices: readonly T[], fallback?: T): T | undefined {
  const raw = values[name];
  if (raw === undefined) return fallback;
  if (!choices.includes(raw)) throw new UsageError(`--${name} must be one of ${choices.join(", ")}, got "${raw}"`);
  return raw as T;
}

export interface ParsedUrl {
  scheme: string;
  host: string;
  port: number;
  path: string;
}

/** Parses `scheme://host:port/path` for the given schemes, with their default ports. */
export function urlFlag(values: Record<string, any>, name: string, defaults: Record<string, number>): ParsedUrl | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    const port = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*:(\d+)(?:[/?#]|$)/.exec(String(raw));
    if (port && Number(port[1]) > 65535) throw new UsageError(`--${name}: port must be from 1 to 65535, got ${port[1]}`);
    throw new UsageError(`--${name} must be a URL like ${Object.keys(defaults)[0]}://127.0.0.1:${Object.values(defaults)[0]}, got "${raw}"`);
  }
  const scheme = url.protocol.replace(/:$/, "");
  if (!(scheme in defaults)) throw new UsageError(`--${name}: scheme must be one of ${Object.keys(defaults).map((s) => s + "://").join(", ")}, got "${scheme}://"`);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (!host) throw new UsageError(`--${name}: missing host in "${raw}"`);
  const port = url.port ? Number(url.port) : defaults[scheme];
  return { scheme, host, port, path: url.pathname && url.pathname !== "/" ? url.pathname : "" };
}
