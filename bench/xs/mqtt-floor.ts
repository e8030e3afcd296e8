/*
 * The floor of the MQTT client bench (bench/xs/mqtt-*): a client that is hardly one, written
 * for the bench, to measure what the bench itself costs per message (the event loop, the
 * socket, the broker) in the same run as the clients under test. It writes pre-encoded
 * 3.1.1 packets (a PUBLISH is one write of a template with its Packet Identifier patched),
 * reads with one read() per onReadable and finds packets by their fixed header only. No
 * checks, no state beyond a counter: nothing a real client could skip.
 *
 * A client's own cost per message is about 1/rate - 1/floor: with the floor at F msgs/s, a
 * client measured at R msgs/s spends 1/R - 1/F seconds per message of its own. Ratios of
 * whole rates (what the phases report) understate the difference between two clients by
 * that shared part.
 */
import type { BenchClient, BenchEvents, ClientEnv } from "./mqtt-bench-api";
import type { MemorySocket } from "./mqtt-broker";

function ascii(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
  return out;
}

class FloorClient implements BenchClient {
  readonly env: ClientEnv;
  readonly events: BenchEvents;
  socket: MemorySocket | undefined = undefined;
  readonly connectPacket: Uint8Array;
  /** PUBLISH templates (3.1.1): QoS 0, and QoS 1 whose id bytes are patched before each write. */
  readonly publish0: Uint8Array;
  readonly publish1: Uint8Array;
  readonly idAt: number;
  readonly puback = new Uint8Array([0x40, 2, 0, 0]);
  nextId = 0;
  connected = false;

  constructor(env: ClientEnv, events: BenchEvents, payloadLength: number) {
    this.env = env;
    this.events = events;
    const id = ascii(env.clientId);
    // CONNECT 3.1.1: "MQTT", level 4, Clean Session, keep alive, Client Identifier
    this.connectPacket = new Uint8Array([0x10, 12 + id.length, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, env.keepAlive >> 8, env.keepAlive & 0xff, 0, id.length, ...id]);
    const topic = ascii(env.topic);
    const head = [0, 2 + topic.length + payloadLength, topic.length >> 8, topic.length & 0xff, ...topic];
    this.publish0 = new Uint8Array(head.length + payloadLength);
    this.publish0.set(head);
    this.publish0[0] = 0x30;
    this.publish1 = new Uint8Array(head.length + 2 + payloadLength);
    this.publish1.set(head);
    this.publish1[0] = 0x32;
    this.publish1[1] += 2;
    this.idAt = head.length;
  }

  connect(): void {
    const self = this;
    this.socket = new this.env.TCP({
      host: "broker.bench",
      port: 1883,
      onWritable() {
        if (!self.connected) {
          self.connected = true;
          this.write(self.connectPacket);
        }
      },
      onReadable() {
        self.readable(this);
      },
    });
  }

  readable(socket: MemorySocket): void {
    const data = socket.read();
    if (!(data instanceof ArrayBuffer)) return;
    const b = new Uint8Array(data);
    const events = this.events;
    for (let p = 0; p < b.length; ) {
      const first = b[p];
      const length = b[p + 1]; // every packet of the bench is under 128 bytes
      const body = p + 2;
      switch (first >> 4) {
        case 2:
          events.connected();
          break;
        case 9:
          events.subscribed();
          break;
        case 4:
          events.delivered();
          break;
        case 3: {
          const topicLength = (b[body] << 8) | b[body + 1];
          let at = body + 2 + topicLength;
          if (first & 2) {
            const ack = this.puback;
            ack[2] = b[at];
            ack[3] = b[at + 1];
            socket.write(ack);
            at += 2;
          }
          events.message(body + length - at, b.subarray(at, body + length));
          break;
        }
      }
      p = body + length;
    }
  }

  publish(payload: Uint8Array, qos: 0 | 1): void {
    const s = this.socket as MemorySocket;
    if (qos === 0) {
      const t = this.publish0;
      t.set(payload, t.length - payload.length);
      s.write(t);
      return;
    }
    const t = this.publish1;
    const id = (this.nextId = (this.nextId % 65535) + 1);
    t[this.idAt] = id >> 8;
    t[this.idAt + 1] = id & 0xff;
    t.set(payload, t.length - payload.length);
    s.write(t);
  }

  subscribe(filter: string, qos: 0 | 1): void {
    const f = ascii(filter);
    (this.socket as MemorySocket).write(new Uint8Array([0x82, 5 + f.length, 0, 1, f.length >> 8, f.length & 0xff, ...f, qos]));
  }

  close(): void {
    this.socket?.close();
  }
}

/** The floor client behind BenchClient (3.1.1; packets under 128 bytes). */
export function createFloorClient(env: ClientEnv, events: BenchEvents, payloadLength: number): BenchClient {
  return new FloorClient(env, events, payloadLength);
}
