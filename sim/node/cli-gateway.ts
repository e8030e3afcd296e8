/*
 * `xs-iot gateway`: the MQTT-SN gateway (sim/node/mqttsn-gateway.ts) on a UDP port, bridging
 * to an MQTT broker.
 *
 *   xs-iot gateway --broker URL [--port N] [--address A] [--predefined FILE] [--advertise S]
 *                  [--broadcast HOST:PORT] [--gw-id N] [--mqtt5] [--duration S] [--quiet]
 *
 * Binds 127.0.0.1 by default; logs one line per step (unless --quiet); stops on SIGINT/SIGTERM
 * or after --duration seconds. Exit code 0 after a clean stop, 1 when it cannot start, 2 on a
 * usage error.
 */
import * as fs from "node:fs";
import type { UdpConstructor } from "../../modules/platform/io";
import { UsageError, intFlag, numberFlag, parseFlags, urlFlag } from "./cli-args";
import { MqttSnGateway } from "./mqttsn-gateway";
import { UDP } from "./udp";

const HELP = `usage: xs-iot gateway --broker URL [flags]

An MQTT-SN 1.2 gateway (transparent: one broker connection per client) on UDP.

flags:
  --broker URL          the MQTT broker, mqtt://host:port (default mqtt://127.0.0.1:1883)
  --port N              UDP port (default 1884; 0 picks a free one)
  --address A           local IPv4 address to bind (default 127.0.0.1)
  --predefined FILE     pre-defined topic ids: JSON {"topic": id, ...} or lines "topic,id"
                        (Paho's "*,topic,id" lines are read too)
  --advertise S         ADVERTISE every S seconds to --broadcast
  --broadcast H:P       where ADVERTISE and a copy of each GWINFO go (a broadcast or multicast address)
  --gw-id N             the gateway's GwId (default 1)
  --mqtt5               speak MQTT 5.0 to the broker (default 3.1.1)
  --duration S          stop by itself after S seconds
  --quiet               no log lines
  --help                this text`;

/** Reads a pre-defined topics file: JSON {"topic": id} or lines "topic,id" / "*,topic,id". */
export function readPredefined(file: string): Record<string, number> {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`--predefined: cannot read ${file}: ${(e as Error).message}`);
  }
  const out: Record<string, number> = {};
  const add = (topic: string, raw: unknown, where: string) => {
    const id = Number(raw);
    if (!topic || !Number.isInteger(id) || id < 1 || id > 65534) throw new UsageError(`--predefined ${file}: ${where}: a topic and an id from 1 to 65534, got "${topic}", "${raw}"`);
    out[topic] = id;
  };
  if (/^\s*\{/.test(text)) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new UsageError(`--predefined ${file}: not valid JSON: ${(e as Error).message}`);
    }
    for (const [topic, id] of Object.entries(json as object)) add(topic, id, `"${topic}"`);
    return out;
  }
  text.split(/\r?\n/).forEach((line, i) => {
    const l = line.trim();
    if (!l || l.startsWith("#")) return;
    const parts = l.split(",").map((p) => p.trim());
    if (parts.length === 3 && parts[0] === "*") add(parts[1], parts[2], `line ${i + 1}`);
    else if (parts.length === 2) add(parts[0], parts[1], `line ${i + 1}`);
    else throw new UsageError(`--predefined ${file}: line ${i + 1}: expected "topic,id", got "${l}"`);
  });
  return out;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function ipv4(value: string, flag: string): string {
  if (!IPV4.test(value) || value.split(".").some((p) => Number(p) > 255)) throw new UsageError(`${flag} must be an IPv4 address, got "${value}"`);
  return value;
}

export async function gatewayCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    broker: { type: "string" },
    port: { type: "string" },
    address: { type: "string" },
    predefined: { type: "string" },
    advertise: { type: "string" },
    broadcast: { type: "string" },
    "gw-id": { type: "string" },
    mqtt5: { type: "boolean" },
    duration: { type: "string" },
    quiet: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const broker = urlFlag(values, "broker", { mqtt: 1883, mqtts: 8883, ws: 80, wss: 443 }) ?? { scheme: "mqtt", host: "127.0.0.1", port: 1883, path: "" };
  const port = intFlag(values, "port", 0, 65535, 1884)!;
  const address = ipv4(values.address ?? "127.0.0.1", "--address");
  const advertise = intFlag(values, "advertise", 1, 65535);
  const gwId = intFlag(values, "gw-id", 0, 255, 1)!;
  const duration = numberFlag(values, "duration", 0, 365 * 24 * 3600);
  let broadcast: { address: string; port: number } | undefined;
  if (values.broadcast !== undefined) {
    const m = /^([^:]+):(\d+)$/.exec(values.broadcast);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new UsageError(`--broadcast must be HOST:PORT, got "${values.broadcast}"`);
    broadcast = { address: ipv4(m[1], "--broadcast"), port: Number(m[2]) };
  }
  if (advertise !== undefined && !broadcast) throw new UsageError("--advertise needs --broadcast HOST:PORT (where the ADVERTISE messages go)");
  const predefined = values.predefined !== undefined ? readPredefined(values.predefined) : undefined;
  const url = `${broker.scheme}://${broker.host}:${broker.port}${broker.path}`;

  const gateway = new MqttSnGateway({
    udp: { io: UDP as unknown as UdpConstructor, port, address, broadcast: broadcast !== undefined },
    broker: url,
    protocolVersion: values.mqtt5 ? 5 : 4,
    gwId,
    predefined,
    advertise,
    broadcast,
    log: values.quiet ? undefined : (line) => console.log(line),
  });
  try {
    await gateway.start();
  } catch (error) {
    console.error(`gateway: cannot listen on ${address}:${port}: ${(error as Error).message}`);
    await gateway.close();
    return 1;
  }
  await new Promise<void>((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stop = (why: string) => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      if (timer) clearTimeout(timer);
      console.log(`gateway: stopping (${why})`);
      resolve();
    };
    const onInt = () => stop("SIGINT");
    const onTerm = () => stop("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
    if (duration !== undefined) timer = setTimeout(() => stop(`--duration ${duration}`), duration * 1000);
  });
  await gateway.close();
  return 0;
}
