/*
 * `xs-iot coap-server`: a CoAP server on a real UDP socket (sim/node/udp.ts,
 * ECMA-419 shape) with a real clock. `--plugtest` serves the ETSI plugtest
 * resources (modules/coap/plugtest.ts); without it, a small demo tree.
 *
 *   xs-iot coap-server [--plugtest] [--port N] [--address A] [--duration S] [--verbose]
 *
 * Binds 127.0.0.1 by default; prints where it listens; stops on SIGINT/SIGTERM
 * or after --duration seconds. Exit code 0 after a clean stop, 2 on a usage error.
 */
import { CoapServer } from "../../modules/coap/server";
import { installPlugtest, type Plugtest } from "../../host-tests/support/coap-plugtest";
import { COAP_MEDIATYPE, codeString } from "../../modules/coap/constants";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { UsageError, intFlag, numberFlag, parseFlags } from "./cli-args";
import { RealClock } from "./real-clock";
import { UDP } from "./udp";
import { nodeCrypto } from "./crypto";

const HELP = `usage: xs-iot coap-server [flags]

Serves CoAP (RFC 7252, Observe RFC 7641, Block-wise RFC 7959, /.well-known/core RFC 6690).

flags:
  --plugtest          serve the ETSI CoAP plugtest resources (/test, /separate, /obs, /large, ...)
  --port N            UDP port (default 5683; 0 picks a free one)
  --address A         local IPv4 address to bind (default 127.0.0.1)
  --duration S        stop by itself after S seconds
  --observe-interval MS  how often the observable plugtest resources change (default 5000)
  --verbose           log every request
  --help              this text`;

export async function coapServerCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    argv,
    {
      plugtest: { type: "boolean" },
      port: { type: "string" },
      address: { type: "string" },
      duration: { type: "string" },
      "observe-interval": { type: "string" },
      verbose: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    "coap-server",
  );
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const port = intFlag(values, "port", 0, 65535, 5683)!;
  const address: string = values.address ?? "127.0.0.1";
  if (!/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(address) || address.split(".").some((p) => Number(p) > 255))
    throw new UsageError(`--address must be an IPv4 address, got "${address}"`);
  const duration = numberFlag(values, "duration", 0, 365 * 24 * 3600);
  const observeInterval = intFlag(values, "observe-interval", 10, 3600000, 5000)!;
  const verbose = !!values.verbose;

  const clock = new RealClock({ onError: (e) => console.error("coap-server: timer error:", e) });
  const scheduler = new Scheduler({ clock, onError: (e, job) => console.error(`coap-server: job ${job.name} failed:`, e) });

  let isBound = false;
  let bound: (p: number) => void = () => {};
  let failed: (e: Error) => void = () => {};
  const ready = new Promise<number>((resolve, reject) => {
    bound = resolve;
    failed = reject;
  });
  class BoundUDP extends UDP {
    constructor(options: any) {
      super({
        ...options,
        onWritable: (p: number) => {
          isBound = true;
          bound(p);
        },
        onError: (e?: Error) => (isBound ? options.onError?.(e) : failed(e ?? new Error("socket error"))),
      });
    }
  }
  let server: CoapServer;
  try {
    server = new CoapServer({
      socket: { io: BoundUDP as any, port, address },
      scheduler,
      random: (b) => nodeCrypto.randomFill(b),
      onError: (e) => console.error("coap-server:", e),
    });
  } catch (error) {
    console.error(`coap-server: ${(error as Error).message}`);
    return 1;
  }
  let plugtest: Plugtest | undefined;
  if (values.plugtest) plugtest = installPlugtest(server, { observeInterval });
  else {
    const started = clock.epoch();
    server.add("/hello", { title: "Hello", ct: COAP_MEDIATYPE.TEXT_PLAIN, get: () => ({ payload: "Hello from xs-iot" }) });
    server.add("/uptime", {
      title: "Seconds since start",
      ct: COAP_MEDIATYPE.TEXT_PLAIN,
      observable: true,
      get: () => ({ payload: String(Math.floor((clock.epoch() - started) / 1000)), maxAge: 2 }),
    });
    const uptime = server.resource("/uptime")!;
    scheduler.schedule({ name: "uptime", deadline: clock.now() + 1000, run: (now, j) => (uptime.notify(), j.reschedule(now + 1000)) });
  }
  if (verbose) {
    const endpoint = server.endpoint;
    const inner = endpoint.onRequest!;
    endpoint.onRequest = (req) => {
      console.log(`coap-server: ${req.address}:${req.port} ${req.confirmable ? "CON" : "NON"} ${codeString(req.code)} mid=${req.message.messageId}`);
      inner(req);
    };
  }

  let actualPort: number;
  try {
    actualPort = await ready;
  } catch (error) {
    console.error(`coap-server: cannot listen on ${address}:${port}: ${(error as Error).message}`);
    server.close();
    scheduler.clear();
    return 1;
  }
  console.log(`coap-server: listening on coap://${address}:${actualPort}${plugtest ? " (ETSI plugtest resources)" : ""}`);

  await new Promise<void>((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stop = (why: string) => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      if (timer) clearTimeout(timer);
      console.log(`coap-server: stopping (${why})`);
      resolve();
    };
    const onInt = () => stop("SIGINT");
    const onTerm = () => stop("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
    if (duration !== undefined) timer = setTimeout(() => stop(`--duration ${duration}`), duration * 1000);
  });
  plugtest?.stop();
  server.close();
  scheduler.clear();
  clock.clearAll();
  return 0;
}
