/*
 * What `xs-iot sim` runs in its own process when no peer is given:
 *  - an MQTT broker (aedes, from npm) on a free loopback port, for --broker absent;
 *  - a CoAP sink (our CoapServer on a Node UDP socket) that takes the devices'
 *    telemetry POSTs and hands each to a callback, for --protocol coap without --server.
 * Node-only.
 */
import * as net from "node:net";
import * as dgram from "node:dgram";
import { CoapServer } from "../../modules/coap/server";
import { Scheduler } from "../../modules/scheduler/scheduler";
import { decodeCbor } from "../../modules/cbor/cbor";
import { RealClock } from "./real-clock";
import { UDP } from "./udp";
import { randomFillSync } from "node:crypto";

// aedes is an ES module only: load it with a real dynamic import (kept out of
// the CommonJS transform that tsx applies to this file).
const importEsm = new Function("specifier", "return import(specifier)") as (specifier: string) => Promise<any>;

export interface EmbeddedBroker {
  url: string;
  host: string;
  port: number;
  /** Clients connected now. */
  readonly clients: number;
  close(): Promise<void>;
}

export async function startEmbeddedBroker(port = 0): Promise<EmbeddedBroker> {
  const { Aedes } = await importEsm("aedes");
  const broker = await Aedes.createBroker();
  const server = net.createServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const sockets = new Set<net.Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const bound = (server.address() as net.AddressInfo).port;
  return {
    url: `mqtt://127.0.0.1:${bound}`,
    host: "127.0.0.1",
    port: bound,
    get clients() {
      return broker.connectedClients as number;
    },
    close() {
      return new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => broker.close(() => resolve()));
      });
    },
  };
}

/** A free UDP port on 127.0.0.1 (bound and released: another process could take it in between). */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket("udp4");
    s.once("error", reject);
    s.bind(0, "127.0.0.1", () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

export interface SinkMessage {
  from: string;
  contentFormat: number | undefined;
  confirmable: boolean;
  payload: Uint8Array;
  /** The SenML pack decoded (JSON or CBOR), or undefined when it is neither. */
  pack: unknown;
}

export interface CoapSink {
  url: string;
  port: number;
  path: string;
  received: number;
  close(): void;
}

/** Decodes a SenML JSON (110) or CBOR (112) payload; undefined when it is neither. */
export function decodeSenml(payload: Uint8Array, contentFormat: number | undefined): unknown {
  try {
    if (contentFormat === 112) {
      const r = decodeCbor(payload);
      return r.ok ? r.value : undefined;
    }
    return JSON.parse(Buffer.from(payload).toString("utf8"));
  } catch {
    return undefined;
  }
}

export async function startCoapSink(path: string, onMessage: (m: SinkMessage) => void, port = 0): Promise<CoapSink> {
  const clock = new RealClock();
  const scheduler = new Scheduler({ clock });
  const sink: { server?: CoapServer } = {};
  const ready = new Promise<number>((resolve) => {
    const server = new CoapServer({
      socket: { io: UDP as never, port, address: "127.0.0.1", onWritable: (p: number) => resolve(p) } as never,
      scheduler,
      random: (b) => randomFillSync(b),
    });
    sink.server = server;
  });
  const bound = await ready;
  const server = sink.server!;
  let received = 0;
  server.add(path.replace(/^\//, ""), {
    title: "telemetry sink",
    post: (req) => {
      received++;
      try {
        onMessage({ from: `${req.address}:${req.port}`, contentFormat: req.contentFormat, confirmable: req.confirmable, payload: req.payload, pack: decodeSenml(req.payload, req.contentFormat) });
      } catch {
        // a printing callback must not turn into a 5.00
      }
      return { code: 0x44 }; // 2.04 Changed (RFC 7252 §5.9.1.4)
    },
  });
  return {
    url: `coap://127.0.0.1:${bound}/${path.replace(/^\//, "")}`,
    port: bound,
    path,
    get received() {
      return received;
    },
    close() {
      server.close();
      scheduler.clear();
      clock.clearAll?.();
    },
  };
}
