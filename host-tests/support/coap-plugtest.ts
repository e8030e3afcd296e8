/*
 * The resources of the ETSI CoAP plugtest test descriptions (TD_COAP_CORE,
 * TD_COAP_LINK, TD_COAP_BLOCK, TD_COAP_OBS), installed on a CoapServer, so any
 * CoAP client can run those tests against us (`xs-iot coap-server --plugtest`).
 * Portable: the periodic changes of the observable resources are scheduler jobs.
 *
 * docs/coap.md lists which test descriptions pass and how that is checked.
 */
import {
  COAP_MEDIATYPE,
  COAP_RESPONSE,
} from "../../modules/coap/constants";
import type { Job } from "../../modules/scheduler/scheduler";
import type { CoapResource, CoapResourceOptions, CoapServer, CoapServerResponse } from "../../modules/coap/server";
import { formatLinks } from "../../modules/coap/server";

export interface PlugtestOptions {
  /** How often /obs, /obs-non and /obs-large change (ms, default 5000). */
  observeInterval?: number;
  /** How long /separate takes before its separate response (ms, default 2000: after the empty ACK). */
  separateDelay?: number;
}

export interface Plugtest {
  /** Stops the periodic changes. */
  stop(): void;
  /** The observable resources (tests may trigger changes). */
  readonly obs: () => CoapResource | undefined;
  /** Advances the observable state once and notifies. */
  tick(): void;
}

function bodyOf(n: number, label: string): string {
  // A text representation of n bytes, deterministic, with line numbers (so blocks are told apart).
  let s = "";
  let line = 0;
  while (s.length < n) {
    const l = `${label} line ${String(line++).padStart(4, "0")}: ${"0123456789abcdefghijklmnopqrstuvwxyz".slice(0, 40)}\n`;
    s += l;
  }
  return s.slice(0, n);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function installPlugtest(server: CoapServer, options: PlugtestOptions = {}): Plugtest {
  const scheduler = server.scheduler;
  const interval = options.observeInterval ?? 5000;
  const separateDelay = options.separateDelay ?? 2000;
  const text = COAP_MEDIATYPE.TEXT_PLAIN;

  // --- TD_COAP_CORE ----------------------------------------------------------------
  let testBody = "Type: plugtest /test resource";
  server.add("/test", {
    title: "Default test resource",
    ct: text,
    get: () => ({ payload: testBody, contentFormat: text }),
    post: () => ({ code: COAP_RESPONSE.CREATED, locationPath: "/location1/location2/location3" }), // CORE_04, CORE_08, CORE_18
    put: (req) => {
      testBody = req.text();
      return { code: COAP_RESPONSE.CHANGED }; // CORE_03, CORE_07
    },
    delete: () => ({ code: COAP_RESPONSE.DELETED }), // CORE_02, CORE_06
  });
  server.add("/seg1/seg2/seg3", { title: "Long path resource", ct: text, get: () => ({ payload: "Long path resource", contentFormat: text }) }); // CORE_12
  server.add("/query", { title: "Resource accepting query parameters", ct: text, get: (req) => ({ payload: "query: " + req.query.join("&"), contentFormat: text }) }); // CORE_13
  server.add("/separate", {
    title: "Resource which cannot be served immediately and which cannot be acknowledged in a piggy-backed way",
    ct: text,
    // CORE_09, CORE_15, CORE_16: the empty ACK first, the response later (RFC 7252 §5.2.2)
    get: () =>
      new Promise<CoapServerResponse>((resolve) => {
        scheduler.schedule({ name: "plugtest-separate", deadline: scheduler.now() + separateDelay, run: () => resolve({ payload: "Type: separate response", contentFormat: text }) });
      }),
  });
  server.add("/location-query", {
    title: "Perform POST transaction with responses containing several Location-Query options",
    post: () => ({ code: COAP_RESPONSE.CREATED, locationQuery: "first=1&second=2" }), // CORE_19
  });
  server.add("/multi-format", {
    title: "Resource that exists in different content formats (text/plain utf8 and application/xml)",
    ct: [text, COAP_MEDIATYPE.APPLICATION_XML],
    // CORE_20
    get: (req) =>
      req.accept === COAP_MEDIATYPE.APPLICATION_XML
        ? { payload: "<msg>multi-format</msg>", contentFormat: COAP_MEDIATYPE.APPLICATION_XML }
        : { payload: "multi-format", contentFormat: text },
  });
  // CORE_21 (ETag validation) and CORE_22 (If-Match)
  let validateBody = "validate v0";
  let validateVersion = 0;
  const validateEtag = () => Uint8Array.of(0x56, 0x41, (validateVersion >> 8) & 0xff, validateVersion & 0xff);
  server.add("/validate", {
    title: "Resource which varies",
    ct: text,
    get: () => ({ payload: validateBody, contentFormat: text, etag: validateEtag() }),
    put: (req) => {
      const current = validateEtag();
      // RFC 7252 §5.10.8.1: If-Match with no matching ETag → 4.12
      if (req.ifMatch.length && !req.ifMatch.some((e) => e.length === 0 || sameBytes(e, current))) return { code: COAP_RESPONSE.PRECONDITION_FAILED };
      validateBody = req.text();
      validateVersion = (validateVersion + 1) & 0xffff;
      return { code: COAP_RESPONSE.CHANGED, etag: validateEtag() };
    },
  });
  // CORE_23: PUT with If-None-Match creates once, then 4.12 (§5.10.8.2)
  let create1: string | undefined;
  server.add("/create1", {
    title: "Resource which does not exist yet (to perform atomic PUT)",
    ct: text,
    get: () => (create1 === undefined ? { code: COAP_RESPONSE.NOT_FOUND } : { payload: create1, contentFormat: text }),
    put: (req) => {
      if (req.ifNoneMatch && create1 !== undefined) return { code: COAP_RESPONSE.PRECONDITION_FAILED };
      const created = create1 === undefined;
      create1 = req.text();
      return { code: created ? COAP_RESPONSE.CREATED : COAP_RESPONSE.CHANGED };
    },
    delete: () => {
      create1 = undefined;
      return { code: COAP_RESPONSE.DELETED };
    },
  });

  // --- TD_COAP_LINK ------------------------------------------------------------------
  server.add("/link1", { rt: ["Type1", "Type2"], if: "If1", title: "Link test resource", get: () => ({ payload: "link1", contentFormat: text }) });
  server.add("/link2", { rt: ["Type2", "Type3"], if: "If2", title: "Link test resource", get: () => ({ payload: "link2", contentFormat: text }) });
  server.add("/link3", { rt: ["Type1", "Type3"], if: "foo", title: "Link test resource", get: () => ({ payload: "link3", contentFormat: text }) });
  const subs = ["sub1", "sub2", "sub3"];
  server.add("/path", {
    title: "Hierarchical link description entry",
    ct: COAP_MEDIATYPE.APPLICATION_LINK_FORMAT,
    // LINK_09: the sub-resources, in link format
    get: () => ({ payload: formatLinks(subs.map((s) => ({ href: "/path/" + s }))), contentFormat: COAP_MEDIATYPE.APPLICATION_LINK_FORMAT }),
  });
  for (const s of subs) server.add("/path/" + s, { title: "Hierarchical link description sub-resource", ct: text, get: () => ({ payload: s, contentFormat: text }) });

  // --- TD_COAP_BLOCK -----------------------------------------------------------------
  const large = bodyOf(2300, "large");
  server.add("/large", { title: "Large resource", rt: "block", sz: large.length, ct: text, get: () => ({ payload: large, contentFormat: text }) }); // BLOCK_01, 02, 06
  let largeUpdate = bodyOf(1500, "large-update");
  server.add("/large-update", {
    title: "Large resource that can be updated using PUT method",
    rt: "block",
    sz: largeUpdate.length,
    ct: text,
    maxBodySize: 16384,
    get: () => ({ payload: largeUpdate, contentFormat: text }),
    put: (req) => {
      largeUpdate = req.text(); // BLOCK_03: atomic, after the last block
      return { code: COAP_RESPONSE.CHANGED };
    },
  });
  let created = 0;
  const createdBodies = new Map<string, string>();
  server.add("/large-create", {
    title: "Large resource that can be created using POST method",
    rt: "block",
    maxBodySize: 16384,
    post: (req) => {
      // BLOCK_04: 2.01 with the new resource's location; at most 4 kept
      const name = "large-create/" + ++created;
      createdBodies.set(name, req.text());
      if (createdBodies.size > 4) createdBodies.delete(createdBodies.keys().next().value as string);
      return { code: COAP_RESPONSE.CREATED, locationPath: "/" + name };
    },
  });

  server.add("/large-post", {
    title: "Handle POST with two-way blockwise transfer",
    rt: "block",
    maxBodySize: 16384,
    // BLOCK_05 (RFC 7959 §2.6): a Block1 request answered with a Block2 response
    post: (req) => ({ code: COAP_RESPONSE.CHANGED, payload: req.text().toUpperCase() + "\n" + bodyOf(1200, "large-post"), contentFormat: text }),
  });

  // --- TD_COAP_OBS ---------------------------------------------------------------------
  let counter = 0;
  let obsFormat = text;
  let obsBody: string | undefined;
  const obsState = (): CoapServerResponse =>
    obsBody !== undefined ? { payload: obsBody, contentFormat: obsFormat, maxAge: Math.ceil(interval / 1000) + 1 } : { payload: `obs ${counter}`, contentFormat: text, maxAge: Math.ceil(interval / 1000) + 1 };
  let obs: CoapResource | undefined;
  const obsOptions: CoapResourceOptions = {
    title: "Observable resource which changes every 5 seconds",
    rt: "observe",
    observable: true,
    confirmableNotifications: true, // OBS_01: CON notifications
    ct: [text, COAP_MEDIATYPE.APPLICATION_XML],
    // an Accept other than the current format gets 4.06 from the server (RFC 7252 §5.10.4)
    get: () => obsState(),
    // OBS_08 / OBS_09: an update is notified at once, in its own Content-Format
    put: (req) => {
      obsBody = req.text();
      obsFormat = req.contentFormat ?? text;
      obs?.notify();
      return { code: COAP_RESPONSE.CHANGED };
    },
    // OBS_07: DELETE ends every observation with 4.04 (the resource comes back empty)
    delete: () => {
      scheduler.schedule({
        name: "plugtest-obs-delete",
        deadline: scheduler.now(),
        run: () => {
          server.remove("/obs");
          obsBody = undefined;
          obsFormat = text;
          obs = server.add("/obs", obsOptions);
        },
      });
      return { code: COAP_RESPONSE.DELETED };
    },
  };
  obs = server.add("/obs", obsOptions);
  const obsNon = server.add("/obs-non", {
    title: "Observable resource which changes every 5 seconds, notified in NON messages",
    rt: "observe",
    observable: true,
    ct: text,
    get: () => ({ payload: `obs-non ${counter}`, contentFormat: text, maxAge: Math.ceil(interval / 1000) + 1 }),
  });
  const obsLarge = server.add("/obs-large", {
    title: "Large observable resource",
    rt: "observe",
    observable: true,
    ct: text,
    sz: 1500,
    get: () => ({ payload: `obs-large ${counter}\n` + bodyOf(1500 - `obs-large ${counter}\n`.length, "obs-large"), contentFormat: text, maxAge: Math.ceil(interval / 1000) + 1 }),
  });

  const tick = () => {
    counter++;
    if (obsBody === undefined) obs?.notify();
    obsNon.notify();
    obsLarge.notify();
  };
  let job: Job | undefined = scheduler.schedule({
    name: "plugtest-observe",
    deadline: scheduler.now() + interval,
    radio: true,
    run: (now, j) => {
      tick();
      j.reschedule(now + interval);
    },
  });
  return {
    stop() {
      job?.cancel();
      job = undefined;
    },
    obs: () => obs,
    tick,
  };
}
