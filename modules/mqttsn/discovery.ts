/*
 * SnDiscovery: gateway discovery and failover, MQTT-SN 1.2 §6.1 and §6.13, a part the
 * session is given (`new MqttSnSession({ ..., discovery: new SnDiscovery({ gateways, ... }) })`):
 * - a table of at most 8 gateways: the session's `gateway`, then `gateways` (known in
 *   advance, tried in this order), then those heard of;
 * - SEARCHGW after a random delay in [0, TSEARCHGW), cancelled by another client's identical
 *   SEARCHGW, repeated at doubling intervals (capped at TWAIT), when connecting with no
 *   gateway known or when every gateway is lost;
 * - GWINFO from gateways (the sender's address) and from other clients (GwAdd: IPv4 + port,
 *   6 octets); a client's own GWINFO answer to a SEARCHGW after a random delay in
 *   [0, TGWINFO), when it knows a gateway, cancelled by any GWINFO heard;
 * - ADVERTISE tracking: a gateway not heard from for NADV + ½ advertisement periods is
 *   dropped ("gateway-lost"), and a connected client fails over;
 * - failover (§6.13): after Nretry with no reply, the gateway that failed longest ago (the
 *   former one last), else a search; a refused CONNECT: a gateway that has not failed yet.
 * Without this part the session has one gateway, tries it again after Nretry, and drops
 * ADVERTISE, SEARCHGW and GWINFO.
 */
import { ACTIVE, CONNECTING, SEARCHING, type MqttSnSession, type SnGateway, type SnGatewayAddress } from "./session";

export interface SnDiscoveryOptions {
  /** Gateways known in advance, tried in this order (after the session's `gateway`). */
  gateways?: SnGatewayAddress[];
  /** TSEARCHGW in ms: the random delay before a SEARCHGW (default 5,000, §7.2). */
  searchDelayMs?: number;
  /** TGWINFO in ms: the random delay before a client's GWINFO (default 5,000, §7.2). */
  gwInfoDelayMs?: number;
  /** SEARCHGW radius (default 1, §6.1). */
  radius?: number;
  /** NADV: advertisements missed before a gateway is dropped (default 3; §7.2: 2-3). */
  advertiseMisses?: number;
  /** Random numbers in [0, 1) for the delays (default Math.random). */
  random?: () => number;
}

interface Gateway extends SnGateway {
  /** ADVERTISE Duration in ms (0: never advertised). */
  adv: number;
}

export class SnDiscovery {
  readonly o: SnDiscoveryOptions;
  /** The gateway table. */
  readonly gws: Gateway[] = [];
  searchAt = Infinity;
  searchGap = 0;
  gwInfoAt = Infinity;
  gwInfoRadius = 0;

  constructor(options: SnDiscoveryOptions = {}) {
    this.o = options;
  }

  /** SEARCHGW after a random delay in [0, TSEARCHGW), then at growing intervals until a gateway answers (§6.1). */
  search(s: MqttSnSession, now: number): void {
    s.state = SEARCHING;
    s.cur = undefined;
    this.searchGap = this.o.searchDelayMs ?? 5000;
    this.searchAt = now + Math.floor(this.random() * this.searchGap);
  }

  // -- called by the session ------------------------------------------------------------

  /** @internal */
  attach(s: MqttSnSession): void {
    if (s.gw) s.gw = this.add(s, s.gw, -1, 0, false);
    const l = this.o.gateways ?? [];
    for (let i = 0; i < l.length; i++) this.add(s, { address: l[i].address, port: l[i].port, gwId: l[i].gwId ?? -1, seen: 0, failed: -1 }, -1, 0, false);
  }

  /** @internal the gateway in use, else the best one, else a search. */
  connect(s: MqttSnSession, now: number): void {
    const g = s.gw ?? this.best();
    this.searchAt = Infinity;
    if (g) s.connectTo(g, now);
    else this.search(s, now);
  }

  /** @internal the table's entry for `g` (added when new; `adv` >= 0: its advertisement period). */
  add(s: MqttSnSession, g: SnGateway, adv: number, now: number, announce: boolean): Gateway {
    let e = this.gws.find((x) => x.address === g.address && x.port === g.port);
    if (!e) {
      e = { address: g.address, port: g.port, gwId: g.gwId, seen: now, failed: -1, adv: 0 };
      if (this.gws.length >= 8) this.gws.splice(this.gws.findIndex((x) => x !== s.gw), 1);
      this.gws.push(e);
      if (announce) s.emit({ type: "gateway", gwId: g.gwId, address: g.address, port: g.port });
    }
    if (g.gwId >= 0) e.gwId = g.gwId;
    if (adv >= 0) e.adv = adv;
    e.seen = now;
    return e;
  }

  /** @internal ADVERTISE (0x00), SEARCHGW (0x01) or GWINFO (0x02) from anyone; its body starts at `i`. */
  receive(s: MqttSnSession, t: number, b: Uint8Array, i: number, address: string, port: number, now: number): void {
    if (t === 0x01) {
      // §6.1: another client's identical SEARCHGW stands for ours; a client that knows a gateway answers for it.
      if (s.state === SEARCHING && this.searchAt > now && b[i] === (this.o.radius ?? 1)) this.searchAt = now + this.searchGap;
      const g = s.gw ?? this.gws[0];
      if (g && g.gwId >= 0 && this.gwInfoAt === Infinity && s.state !== SEARCHING) {
        this.gwInfoAt = now + Math.floor(this.random() * (this.o.gwInfoDelayMs ?? 5000));
        this.gwInfoRadius = b[i];
      }
      return;
    }
    let a = address;
    let p = port;
    if (t === 0x02) {
      this.gwInfoAt = Infinity; // §6.1: any GWINFO heard cancels ours
      const n = b.length - i - 1;
      if (n) {
        // from a client: GwAdd, IPv4 + port
        if (n !== 6) return s.drop("GwAdd not IPv4 + port");
        a = b[i + 1] + "." + b[i + 2] + "." + b[i + 3] + "." + b[i + 4];
        p = (b[i + 5] << 8) | b[i + 6];
      }
    }
    const g = this.add(s, { address: a, port: p, gwId: b[i], seen: now, failed: -1 }, t ? -1 : ((b[i + 1] << 8) | b[i + 2]) * 1000, now, true);
    if (s.state === SEARCHING) {
      this.searchAt = Infinity;
      s.connectTo(g, now);
    }
  }

  /** @internal the next deadline of discovery (Infinity: none). */
  deadline(): number {
    let d = this.searchAt < this.gwInfoAt ? this.searchAt : this.gwInfoAt;
    const m = (this.o.advertiseMisses ?? 3) + 0.5;
    for (let i = 0; i < this.gws.length; i++) {
      const g = this.gws[i];
      if (g.adv > 0 && g.seen + g.adv * m < d) d = g.seen + g.adv * m;
    }
    return d;
  }

  /** @internal searches, GWINFO answers, advertisement checks. */
  handleTimeout(s: MqttSnSession, now: number): void {
    if (now >= this.searchAt) {
      // §6.1: SEARCHGW, again at exponentially growing intervals, while searching.
      this.searchAt = Infinity;
      if (s.state === SEARCHING) {
        const r = this.o.radius ?? 1;
        s.tx.push({ data: new Uint8Array([3, 0x01, r]), address: undefined, port: 0, radius: r });
        this.searchAt = now + this.searchGap;
        this.searchGap = Math.min(this.searchGap * 2, s.o.waitMs ?? 300000);
      }
    }
    if (now >= this.gwInfoAt) {
      this.gwInfoAt = Infinity;
      const g = s.gw ?? this.gws[0];
      if (g) {
        const a = g.address.split(".");
        s.tx.push({ data: new Uint8Array([9, 0x02, g.gwId, +a[0], +a[1], +a[2], +a[3], g.port >> 8, g.port & 0xff]), address: undefined, port: 0, radius: this.gwInfoRadius });
      }
    }
    // §6.1: a gateway silent for NADV advertisement periods is gone.
    const m = (this.o.advertiseMisses ?? 3) + 0.5;
    for (let i = this.gws.length - 1; i >= 0; i--) {
      const g = this.gws[i];
      if (g.adv > 0 && now >= g.seen + g.adv * m) {
        this.gws.splice(i, 1);
        s.emit({ type: "gateway-lost", gwId: g.gwId, address: g.address, port: g.port });
        if (g === s.gw && (s.state === ACTIVE || s.state === CONNECTING)) {
          s.down("no reply");
          this.failover(s, now);
        }
      }
    }
  }

  /** @internal after Nretry with no reply (§6.13): another gateway, the former one last, else a search (true: always taken care of). */
  failover(s: MqttSnSession, now: number): boolean {
    s.gw!.failed = now;
    const next = this.best();
    if (next) s.connectTo(next, now);
    else this.search(s, now);
    return true;
  }

  /** @internal CONNACK refused: a gateway that has not failed yet, if there is one (the session's `gw` has failed now). */
  refused(s: MqttSnSession, now: number): void {
    s.gw!.failed = now;
    const next = this.best();
    if (next && next.failed < 0) s.connectTo(next, now);
  }

  /** @internal CONNECT answered with DISCONNECT: another gateway at once, if there is one (the session's `gw` has failed now). */
  other(s: MqttSnSession, now: number): boolean {
    s.gw!.failed = now;
    const next = this.best();
    if (!next || next === s.gw) return false;
    s.connectTo(next, now);
    return true;
  }

  /** §6.13: a gateway that never failed, else the one that failed longest ago. */
  private best(): Gateway | undefined {
    let best: Gateway | undefined;
    for (let i = 0; i < this.gws.length; i++) if (!best || this.gws[i].failed < best.failed) best = this.gws[i];
    return best;
  }

  private random(): number {
    return (this.o.random ?? Math.random)();
  }
}
