/*
 * `xs-iot` — the host command line. Each command lives in its own module and is
 * loaded (require, so tsx's hook resolves it) only when asked for, so a slow or Node-heavy command costs the others
 * nothing. Exit codes: 0 success, 1 failure, 2 usage error (bad flag or value).
 */
import { UsageError } from "./cli-args";

type Command = { summary: string; load: () => (argv: string[]) => Promise<number> };

const COMMANDS: Record<string, Command> = {
  sim: {
    summary: "run simulated devices (the firmware app on the desktop simulator)",
    load: () => require("./cli-sim").simCommand,
  },
  "coap-server": {
    summary: "run a CoAP server (--plugtest serves the ETSI plugtest resources)",
    load: () => require("./cli-coap").coapServerCommand,
  },
  config: {
    summary: "configure a device over MQTT or CoAP with signed commands (get, set, patch, reboot, ...)",
    load: () => require("./cli-config").configCommand,
  },
  gateway: {
    summary: "run an MQTT-SN gateway on UDP, bridging to an MQTT broker",
    load: () => require("./cli-gateway").gatewayCommand,
  },
};

function usage(): string {
  const lines = ["usage: xs-iot <command> [flags]", "", "commands:"];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(14)}${c.summary}`);
  lines.push("", "`xs-iot <command> --help` describes a command's flags.");
  return lines.join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    console.log(usage());
    return name ? 0 : 2;
  }
  if (name === "--version") {
    console.log(require("../../package.json").version);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`xs-iot: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    const run = command.load();
    return await run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`xs-iot ${name}: ${error.message}`);
      return 2;
    }
    throw error;
  }
}
