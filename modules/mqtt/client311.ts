/*
 * MqttClient for MQTT 3.1.1 only: the client of ./client-core.ts (same options, API and
 * reconnection as ./client.ts) with MqttSessionCore, which has no 5.0 machinery (no
 * properties codec, topic aliases, AUTH). A build-time choice: an app that only speaks
 * 3.1.1 imports this entry instead of ./client.ts and its firmware is smaller. `version: 5`
 * is refused ("invalid") here.
 */
import { MqttClientCore } from "./client-core";
import type { MqttClientOptions } from "./client-core";
import { MqttSessionCore } from "./session-core";

export * from "./client-core";

export class MqttClient extends MqttClientCore {
  constructor(options: MqttClientOptions) {
    super(options, MqttSessionCore);
  }
}
