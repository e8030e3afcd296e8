/*
 * THE ADAPTER: our MQTT client (modules/mqtt) in the client bench (bench/xs/mqtt-*).
 *
 * Everything the bench knows about our client's API is in this file: when the API changes,
 * update this file only (the xst throughput bench, the mcsim heap app and the bytecode
 * build all go through it; bench/README.md, "MQTT clients on the Moddable SDK's XS").
 *
 * Each entry of OUR_CLIENTS is one build of our client:
 * - `name`: how the bench labels it;
 * - `entries`: the modules an app with this client imports (repository paths without
 *   extension): the bytecode figure is the .xsb of everything they import, transitively;
 * - `shared(env)`: what an app has once whatever its clients (the scheduler), made before
 *   the heap of a session is measured, so it is not counted in it;
 * - `create(env, shared, events)`: prepares what an app holds to use one client (its
 *   options, its callbacks); then BenchClient.connect() creates the client, which connects at
 *   once to env.TCP's broker with env.clientId, a clean session, env.keepAlive and our outbox
 *   on env.storage. The client reports what happens through `events`
 *   (bench/xs/mqtt-bench-api.ts). The heap figure counts what connect() makes, not what
 *   create() made.
 *
 * Rules, so that the figures stay comparable with the SDK client's (bench/xs/mqtt-sdk.ts):
 * publish what an app would publish, through the public API (an options object reused from
 * call to call is fine: the SDK driver does the same; preparing the topic once at creation
 * is fine if the public API offers it, since an app would do it too), and count a message
 * as delivered or received only when the client says so.
 */
import { MqttClient } from "../../modules/mqtt/client";
import type { MqttClientOptions, PublishOptions } from "../../modules/mqtt/client";
import { Mqtt5 } from "../../modules/mqtt/mqtt5";
import { prepareTopic } from "../../modules/mqtt/topic";
import type { PreparedTopic } from "../../modules/mqtt/topic";
import { Scheduler } from "../../modules/scheduler/scheduler";
import type { BenchClient, BenchEvents, ClientEnv } from "./mqtt-bench-api";

export interface OurClientConfig {
  name: string;
  entries: string[];
  shared(env: ClientEnv): unknown;
  create(env: ClientEnv, shared: unknown, events: BenchEvents): BenchClient;
}

const QOS0: PublishOptions = Object.freeze({ qos: 0 });
const QOS1: PublishOptions = Object.freeze({ qos: 1 });

class OurBenchClient implements BenchClient {
  client!: MqttClient;
  readonly options: MqttClientOptions;
  /** The topic prepared once (checked and UTF-8 encoded), as an app publishing to it often would. */
  readonly topic: PreparedTopic;
  readonly events: BenchEvents;
  readonly subscribed: (error: unknown) => void;

  /** `v5`: MQTT 5.0 (the client's 5.0 part), else 3.1.1. */
  constructor(v5: boolean, env: ClientEnv, scheduler: Scheduler, events: BenchEvents) {
    this.topic = prepareTopic(env.topic, v5 ? 5 : 4);
    this.events = events;
    this.subscribed = (error) => {
      if (error) events.error(error);
      else events.subscribed();
    };
    this.options = {
      socket: { io: env.TCP as unknown as MqttClientOptions["socket"]["io"], host: "broker.bench", port: 1883 },
      scheduler,
      storage: env.storage,
      clientId: env.clientId,
      v5: v5 ? new Mqtt5() : undefined,
      clean: true,
      keepAlive: env.keepAlive,
      reconnect: false,
      onConnect() {
        events.connected();
      },
      onDelivered(_result, error) {
        if (error) events.error(error);
        else events.delivered();
      },
      onMessage(message) {
        events.message(message.payload.length, message.payload);
      },
      onError(error) {
        events.error(error);
      },
    };
  }

  connect(): void {
    this.client = new MqttClient(this.options);
  }

  publish(payload: Uint8Array, qos: 0 | 1): void {
    this.client.publish(this.topic, payload, qos ? QOS1 : QOS0);
  }

  subscribe(filter: string, qos: 0 | 1): void {
    this.client.subscribe(filter, { qos }, undefined, this.subscribed);
  }

  close(): void {
    this.client.end();
  }
}

function sharedScheduler(env: ClientEnv): Scheduler {
  return new Scheduler({ clock: env.clock });
}

export const OUR_CLIENTS: OurClientConfig[] = [
  {
    name: "ours 3.1.1",
    entries: ["modules/mqtt/client"],
    shared: sharedScheduler,
    create: (env, shared, events) => new OurBenchClient(false, env, shared as Scheduler, events),
  },
  {
    name: "ours 5.0",
    entries: ["modules/mqtt/client", "modules/mqtt/mqtt5"],
    shared: sharedScheduler,
    create: (env, shared, events) => new OurBenchClient(true, env, shared as Scheduler, events),
  },
];
