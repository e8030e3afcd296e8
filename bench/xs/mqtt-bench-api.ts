/*
 * What the MQTT client bench (bench/xs/mqtt-*) asks of a client under test: the few calls
 * the phases make (BenchClient) and the events they count (BenchEvents). Each client reaches
 * this shape through one small file: ours through bench/xs/mqtt-ours.ts (the adapter to
 * update when our client's API changes), the Moddable SDK's through bench/xs/mqtt-sdk.ts.
 */
import type { Clock } from "../../modules/platform/clock";
import type { KeyValueStore } from "../../modules/platform/storage";
import type { MemorySocketConstructor } from "./mqtt-broker";
import type { EventLoop } from "./mqtt-loop";

/** Where a client under test runs. */
export interface ClientEnv {
  loop: EventLoop;
  /** The socket class (ECMA-419 TCP shape) whose connections reach the bench broker. */
  TCP: MemorySocketConstructor;
  /** The platform clock (the loop's virtual one on xst; Moddable's in mcsim). */
  clock: Clock;
  /** Flash for our outbox, or undefined for RAM only. */
  storage: KeyValueStore | undefined;
  clientId: string;
  /** Keep alive in seconds (both clients send the same CONNECT). */
  keepAlive: number;
  /** The topic every PUBLISH of the bench goes to, both ways. */
  topic: string;
}

/** What the bench counts; a client calls these as things happen. */
export interface BenchEvents {
  /** CONNACK accepted. */
  connected(): void;
  /** SUBACK received. */
  subscribed(): void;
  /** One outgoing QoS 1 PUBLISH acknowledged (PUBACK). */
  delivered(): void;
  /** One incoming PUBLISH given to the app: its payload's length and bytes (or its last part). */
  message(byteLength: number, bytes: ArrayBuffer | Uint8Array | undefined): void;
  error(error: unknown): void;
}

/**
 * The calls the phases make. Made in two steps, so that the heap figure counts the client
 * alone: the factory prepares what the app holds (its options and callbacks), connect()
 * creates the client itself, which connects at once.
 */
export interface BenchClient {
  /** Creates the client (it connects to env.TCP's broker at once). */
  connect(): void;
  /** Publishes `payload` to the env's topic; a QoS 1 completion comes back as events.delivered(). */
  publish(payload: Uint8Array, qos: 0 | 1): void;
  subscribe(filter: string, qos: 0 | 1): void;
  close(): void;
}
