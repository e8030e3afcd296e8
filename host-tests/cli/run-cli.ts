/* Runs `bin/xs-iot.js` in a child process (Node only). */
import { spawn } from "node:child_process";
import * as path from "node:path";

export const BIN = path.join(__dirname, "../../bin/xs-iot.js");

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; `onLine` sees each stdout line as it comes (return true to send SIGINT). */
/** `group`: the child leads its own process group and SIGINT goes to the whole group, as Ctrl-C on a terminal does. */
export function runCli(args: string[], options: { timeoutMs?: number; cwd?: string; onLine?(line: string): boolean | void; command?: string[]; group?: boolean } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const [cmd, ...pre] = options.command ?? [process.execPath, BIN];
    const child = spawn(cmd, [...pre, ...args], { cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"], detached: !!options.group });
    let stdout = "";
    let stderr = "";
    let partial = "";
    let signalled = false;
    child.stdout.on("data", (d) => {
      stdout += d;
      partial += d;
      let i;
      while ((i = partial.indexOf("\n")) >= 0) {
        const line = partial.slice(0, i);
        partial = partial.slice(i + 1);
        if (options.onLine && options.onLine(line) && !signalled) {
          signalled = true;
          if (options.group && child.pid) process.kill(-child.pid, "SIGINT");
          else child.kill("SIGINT");
        }
      }
    });
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export function jsonEvents(stdout: string): any[] {
  return stdout
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l));
}
