/*
 * CoapUriClient: CoapClient (./client.ts) with what hosts and tests use and the firmware does
 * not, so that its build leaves it out (issue 17: the manifest maps modules/coap's files one by
 * one, and this one is not among them):
 *  - `coap://host:port/path?query` URIs, decomposed as RFC 7252 §6.4 says (./uri.ts), host
 *    names through `options.resolve` (there is no DNS here);
 *  - get/post/put/delete/fetch/patch/ipatch(uri, ...) and CoAP ping (RFC 7252 §4.3);
 *  - Observe (RFC 7641): registration (§3.1), the §3.4 freshness rule
 *    (NotificationOrder), re-registration with the same token when no
 *    notification came within Max-Age (§3.3.1), proactive cancellation with
 *    Observe 1 (§3.6) or reactive (forget: the next CON notification gets a
 *    RST), and the rest of a large notification fetched by Block2 (RFC 7959 §3.4).
 */
import { COAP_MESSAGE, COAP_OPTION, COAP_REQUEST, codeString } from "./constants";
import type { CoapMessage } from "./codec";
import type { ClientExchange, FailReason } from "./messaging";
import { blockOption, getBlock, getUint, uintOption, type CoapOption } from "./options";
import { parseCoapUri } from "./uri";
import { NotificationOrder } from "./observe-order";
import { CoapClient, CoapRequestError, toResponse, type CoapClientOptions, type CoapRequestInit, type CoapResponse, type Plan, type Target } from "./client";
import type { Job } from "../scheduler/scheduler";

export { CoapClient, CoapRequestError, toResponse };
export type { CoapClientOptions, CoapMethod, CoapRequestInit, CoapResponse } from "./client";

/** A request's plan, for a notification's Block2 fetch with the question whether it is still wanted. */
interface FetchPlan extends Plan {
  alive?(): boolean;
}

export interface CoapObserveInit extends CoapRequestInit {
  /** Each fresh notification (the first response included), body reassembled. */
  onNotify(response: CoapResponse): void;
  /** The observation ended (the server refused or ended it, or it could not be re-registered). */
  onEnd?(reason: string, response?: CoapResponse): void;
  /** Transient trouble (a failed re-registration attempt, a broken block fetch). */
  onError?(error: unknown): void;
  /** Extra wait after Max-Age before re-registering (ms, default 2000, RFC 7641 §3.3.1). */
  reregisterMargin?: number;
}

export interface CoapUriClientOptions extends CoapClientOptions {
  /** Host names to addresses (there is no DNS here); IP literals need none. */
  resolve?(host: string): string | undefined;
}

export class CoapUriClient extends CoapClient {
  #resolve: ((host: string) => string | undefined) | undefined;
  #observations = new Set<CoapObservation>();

  constructor(options: CoapUriClientOptions) {
    super(options);
    this.#resolve = options.resolve;
  }

  get(uri: string, init: CoapRequestInit = {}): Promise<CoapResponse> {
    return this.request({ ...init, method: "GET", uri });
  }
  post(uri: string, payload?: Uint8Array | string, init: CoapRequestInit = {}): Promise<CoapResponse> {
    return this.request({ ...init, method: "POST", uri, payload });
  }
  put(uri: string, payload?: Uint8Array | string, init: CoapRequestInit = {}): Promise<CoapResponse> {
    return this.request({ ...init, method: "PUT", uri, payload });
  }
  delete(uri: string, init: CoapRequestInit = {}): Promise<CoapResponse> {
    return this.request({ ...init, method: "DELETE", uri });
  }
  fetch(uri: string, payload?: Uint8Array | string, init: CoapRequestInit = {}): Promise<CoapResponse> {
    return this.request({ ...init, method: "FETCH", uri, payload });
  }
  patch(uri: string, payload?: Uint8Array | string, init: CoapRequestInit = {}): Promise<CoapResponse> {
    return this.request({ ...init, method: "PATCH", uri, payload });
  }
  ipatch(uri: string, payload?: Uint8Array | string, init: CoapRequestInit = {}): Promise<CoapResponse> {
    return this.request({ ...init, method: "iPATCH", uri, payload });
  }

  /** CoAP ping (RFC 7252 §4.3): resolves true on the RST, false on timeout. */
  ping(address: string, port = 5683): Promise<boolean> {
    return new Promise((resolve) => {
      try {
        // an Empty CON (§4.3): the peer answers RST (an ACK counts too); the endpoint retransmits it as any CON
        this.endpoint.sendMessage({ type: COAP_MESSAGE.CON, code: 0 }, address, port, { onReset: () => resolve(true), onAck: () => resolve(true), onFail: () => resolve(false) });
      } catch {
        resolve(false);
      }
    });
  }

  /** Registers an observation (RFC 7641 §3.1). */
  observe(init: CoapObserveInit): CoapObservation {
    if (!init || typeof init.onNotify !== "function") throw new TypeError("coap: observe needs an onNotify callback");
    const plan = this._plan({ ...init, method: "GET" });
    const obs = new CoapObservation(this, plan, init);
    this.#observations.add(obs);
    obs._register();
    return obs;
  }

  /** Ends observations and, when the client opened it, the endpoint and socket. */
  override close(): void {
    for (const o of [...this.#observations]) o.forget();
    super.close();
  }

  /**
   * @internal One exchange of a request; for a notification's Block2 fetch (RFC 7959 §2.6), none once
   * the fetch is abandoned (a fresher notification came, RFC 7641 §3.4, or the observation ended):
   * its further blocks would only hold the NSTART slot (RFC 7252 §4.7) ahead of the fresh fetch.
   */
  override _exchange(plan: FetchPlan, extra: CoapOption[], payload: Uint8Array): Promise<CoapMessage> {
    if (plan.alive && !plan.alive()) return Promise.reject(new CoapRequestError("cancelled", "coap: block fetch abandoned"));
    return super._exchange(plan, extra, payload);
  }

  /** @internal */
  _forgetObservation(o: CoapObservation): void {
    this.#observations.delete(o);
  }

  /** A `uri` (coap:// only: coaps:// needs DTLS), or the address, port, path and query of CoapClient. */
  protected override target(init: CoapRequestInit): Target {
    if (init.uri !== undefined) {
      let parsed;
      try {
        parsed = parseCoapUri(init.uri);
      } catch (error) {
        throw new CoapRequestError("uri", (error as Error).message);
      }
      if (parsed.scheme !== "coap") throw new CoapRequestError("uri", "coaps:// needs DTLS, which this client does not have");
      let address = parsed.host;
      let options = parsed.options;
      if (!parsed.hostIsIp) {
        const resolved = this.#resolve?.(parsed.host);
        if (!resolved) throw new CoapRequestError("uri", `cannot resolve host "${parsed.host}" (give options.resolve or an IP address)`);
        address = resolved;
      } else options = options.filter((o) => o.number !== 3); // no Uri-Host for an IP literal (§6.4 step 5)
      return { address, port: init.port ?? parsed.port, options };
    }
    return super.target(init);
  }
}

/** A running observation. */
export class CoapObservation {
  readonly client: CoapUriClient;
  /** Still registered (as far as the client knows). */
  active = true;
  /** The last notification delivered. */
  last: CoapResponse | undefined;
  /** Notifications delivered, and dropped as stale (§3.4). */
  delivered = 0;
  stale = 0;
  /** Re-registrations sent (§3.3.1). */
  reregistrations = 0;
  #plan: Plan;
  #init: CoapObserveInit;
  #order = new NotificationOrder();
  #exchange: ClientExchange | undefined;
  #token: Uint8Array | undefined;
  #job: Job | undefined;
  #fetching = 0;

  /** @internal */
  constructor(client: CoapUriClient, plan: Plan, init: CoapObserveInit) {
    this.client = client;
    this.#plan = plan;
    this.#init = init;
  }

  get token(): Uint8Array | undefined {
    return this.#token;
  }

  #call(fn: ((...a: any[]) => void) | undefined, ...args: unknown[]): void {
    if (!fn) return;
    try {
      fn(...args);
    } catch (error) {
      if (this.#init.onError && fn !== this.#init.onError) this.#call(this.#init.onError, error);
    }
  }

  /** @internal sends the registration (or re-registration with the same token, §3.3.1) */
  _register(): void {
    const plan = this.#plan;
    const endpoint = this.client.endpoint;
    const options = plan.options.concat([uintOption(COAP_OPTION.OBSERVE, 0)]);
    if (plan.block2Szx !== undefined) options.push(blockOption(COAP_OPTION.BLOCK2, { num: 0, more: false, szx: plan.block2Szx }));
    this.#exchange?.cancel();
    try {
      this.#exchange = endpoint.request({ code: COAP_REQUEST.GET, options, confirmable: plan.confirmable, token: this.#token }, plan.target.address, plan.target.port, {
        multiple: true,
        responseTimeout: plan.timeout,
        onResponse: (msg) => this.#onResponse(msg),
        onFail: (reason) => this.#onFail(reason),
      });
    } catch (error) {
      this.#end("could not register: " + (error as Error).message);
      return;
    }
    this.#token = this.#exchange.token;
    this.#arm(60);
  }

  #arm(maxAge: number): void {
    // §3.3.1: no fresh notification within Max-Age: re-register.
    const margin = this.#init.reregisterMargin ?? 2000;
    const at = this.client.scheduler.now() + maxAge * 1000 + margin;
    // §3.3.1 asks a client to wait a random 5 to 15 s after Max-Age before re-registering: the
    // scheduler may put the refresh anywhere in those 10 s to share a wake.
    const latest = at + 10_000;
    if (this.#job) this.#job.reschedule(at, { latest });
    else
      this.#job = this.client.scheduler.schedule({
        name: "coap-observe-refresh",
        deadline: at,
        latest,
        radio: true,
        run: () => {
          if (!this.active) return;
          this.reregistrations++;
          this._register();
        },
      });
  }

  #onFail(reason: FailReason): void {
    if (!this.active) return;
    // the registration (or a re-registration) got no answer: try again at the next refresh
    this.#call(this.#init.onError, new CoapRequestError(reason, `coap: observe registration ${reason}`));
    if (reason === "reset" || reason === "closed") this.#end(reason);
  }

  #onResponse(msg: CoapMessage): void {
    if (!this.active) return;
    const plan = this.#plan;
    const now = this.client.scheduler.now();
    const observe = getUint(msg, COAP_OPTION.OBSERVE);
    if (msg.code >> 5 !== 2 || observe === undefined) {
      // §3.2 / §3.1: an error or a response without Observe ends (or never began) the observation.
      const done = () => {
        this.#end(msg.code >> 5 !== 2 ? "error response " + codeString(msg.code) : "the server did not accept the registration", this.last);
      };
      if (msg.code >> 5 === 2) {
        // (the rest of its body fetched, RFC 7959 §2.4; nothing once the observation ended meanwhile)
        const alive = () => this.active;
        this.client._complete({ ...plan, alive } as FetchPlan, msg).then(
          (r) => {
            if (!alive()) return;
            this.last = r;
            this.delivered++;
            this.#call(this.#init.onNotify, r);
            done();
          },
          (error) => {
            if (!alive()) return;
            this.#call(this.#init.onError, error);
            done();
          },
        );
      } else {
        this.last = toResponse(msg, msg.payload, 1, plan.target.address, plan.target.port);
        this.#call(this.#init.onNotify, this.last);
        done();
      }
      return;
    }
    // §3.4: only a fresher notification replaces the state.
    if (!this.#order.accept(observe, now)) {
      this.stale++;
      return;
    }
    this.#arm(getUint(msg, COAP_OPTION.MAX_AGE) ?? 60);
    const b2 = getBlock(msg, COAP_OPTION.BLOCK2);
    if (b2 && b2.more) {
      // RFC 7959 §3.4: GET the rest without Observe; a newer notification abandons this fetch.
      const gen = ++this.#fetching;
      const alive = () => gen === this.#fetching && this.active;
      this.client._complete({ ...plan, alive } as FetchPlan, msg).then(
        (r) => {
          if (!alive()) return;
          r.observe = observe;
          this.#deliver(r);
        },
        (error) => {
          if (alive()) this.#call(this.#init.onError, error);
        },
      );
      return;
    }
    this.#fetching++;
    this.#deliver(toResponse(msg, msg.payload, 1, plan.target.address, plan.target.port));
  }

  #deliver(r: CoapResponse): void {
    this.last = r;
    this.delivered++;
    this.#call(this.#init.onNotify, r);
  }

  #end(reason: string, response?: CoapResponse): void {
    if (!this.active) return;
    this.active = false;
    this.#job?.cancel();
    this.#exchange?.cancel();
    this.client._forgetObservation(this);
    this.#call(this.#init.onEnd, reason, response);
  }

  /**
   * Reactive cancellation (§3.6): forget the observation locally; the next CON
   * notification is answered with RST and the server drops us.
   */
  forget(): void {
    this.#end("cancelled");
  }

  /** Proactive cancellation (§3.6): a GET with Observe 1 and the same token. Resolves with the response (or undefined on timeout). */
  cancel(): Promise<CoapResponse | undefined> {
    const token = this.#token;
    const wasActive = this.active;
    this.#end("cancelled");
    if (!wasActive || !token) return Promise.resolve(undefined);
    const plan = this.#plan;
    return new Promise((resolve) => {
      try {
        this.client.endpoint.request({ code: COAP_REQUEST.GET, options: plan.options.concat([uintOption(COAP_OPTION.OBSERVE, 1)]), confirmable: plan.confirmable, token }, plan.target.address, plan.target.port, {
          responseTimeout: plan.timeout,
          onResponse: (msg) => resolve(toResponse(msg, msg.payload, 1, plan.target.address, plan.target.port)),
          onFail: () => resolve(undefined),
        });
      } catch {
        resolve(undefined);
      }
    });
  }
}
