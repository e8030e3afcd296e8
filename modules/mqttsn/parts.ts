/*
 * Every part of the MQTT-SN session at once (the full-featured client), from one flat set of
 * options: for host tools, tests and apps that want everything. A device app imports only
 * the parts it uses instead (see ./session.ts), so its firmware carries nothing else.
 *
 *   const sn = snParts({ will, predefined, gateways, searchDelayMs });
 *   new MqttSnClient({ clientId, gateway, socket, scheduler, ...sn });
 *   client.run((s, now) => sn.sleep.sleep(s, 300, now));
 */
import { SnDiscovery, type SnDiscoveryOptions } from "./discovery";
import { SnQos2 } from "./qos2";
import { SnQosMinus1 } from "./qos-minus1";
import { SnShortTopicIds } from "./short-topics";
import { SnWillUpdates } from "./will-update";
import { SnSleepUpdates } from "./sleep-update";
import { SnRegistryStore, type SnWillMessage } from "./session";

export interface SnPartsOptions extends SnDiscoveryOptions {
  will?: SnWillMessage;
  /** §6.7: topic name -> pre-defined topic id, as the gateway has them. */
  predefined?: Record<string, number>;
}

export interface SnParts {
  will: SnWillUpdates;
  topics: SnShortTopicIds;
  qos2: SnQos2;
  registry: SnRegistryStore;
  sleep: SnSleepUpdates;
  discovery: SnDiscovery;
  qosMinus1: SnQosMinus1;
}

export function snParts(options: SnPartsOptions = {}): SnParts {
  return {
    will: new SnWillUpdates(options.will),
    topics: new SnShortTopicIds(options.predefined),
    qos2: new SnQos2(),
    registry: new SnRegistryStore(),
    sleep: new SnSleepUpdates(),
    discovery: new SnDiscovery(options),
    qosMinus1: new SnQosMinus1(),
  };
}
