/*
 * A board whose boot, Wi-Fi association, round trips and TLS handshake take 1 ms each and whose
 * light sleep with Wi-Fi kept draws 5 mA: on it the sleep planner lets the links go (or
 * deep-sleeps) between wakes seconds apart, so an app test reaches the sleep paths in seconds.
 * The mechanics are under test there; the planner's choices on real figures are in
 * host-tests/scheduler. Portable (the @xs tests use it too).
 */
import type { PowerFigures } from "../../modules/scheduler/energy";

export function cheapLinks<B extends { power: PowerFigures }>(board: B): B {
  return { ...board, power: { ...board.power, bootToReadyMs: 1, wifiConnectMs: 1, roundTripMs: 1, tlsHandshakeMs: 1, lightSleepWifiMa: 5 } };
}
