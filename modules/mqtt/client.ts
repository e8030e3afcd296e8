/*
 * MqttClient: the MQTT 3.1.1 + 5.0 client (MqttSession of ./session.ts) bound to an
 * ECMA-419 TCP or TLS socket and to the scheduler, with reconnection. The client itself
 * (options, socket, back-pressure, reconnection, resubscription) is ./client-core.ts;
 * ./client311.ts is the same client with the 3.1.1-only session, a smaller build.
 *
 *   const client = new MqttClient({
 *     socket: { io: TLS, host: "broker.example", port: 8883, tls: { host: "broker.example", ca } },
 *     scheduler, storage: platform.storage, random: () => ...,
 *     clientId: "esp32-a1b2c3", version: 5, keepAlive: 60,
 *     onConnect(info) { this.subscribe("cmd/esp32-a1b2c3/#", { qos: 1 }); },
 *     onMessage(msg) { ... },
 *   });
 *   client.publish("tele/esp32-a1b2c3/SENSOR", json, { qos: 1 }, (err) => { ... });
 */
import { MqttClientCore } from "./client-core";
import type { MqttClientOptions } from "./client-core";
import { properties5 } from "./properties";
import { MqttSession } from "./session";

export * from "./client-core";

export class MqttClient extends MqttClientCore {
  declare readonly session: MqttSession;

  constructor(options: MqttClientOptions) {
    super(options, MqttSession, properties5);
  }
}
