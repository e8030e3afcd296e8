/*
 * Moddable entry (mcconfig's "main", manifest.json): boots the firmware app
 * (src/app.ts, the same code the desktop simulator runs) on the Moddable
 * platform binding. Before the app starts it logs the wake cause, counts boots
 * in flash (preference) and in RTC memory, and checks HMAC-SHA256 against
 * RFC 4231 test case 2 (the command authentication depends on it).
 *
 * Settings come from the manifest's "config" and can be overridden on the
 * mcconfig command line (docs/app.md):
 *   broker=mqtt://host:port   MQTT broker (default mqtt://127.0.0.1:1883)
 *   protocol=mqtt311|mqtt5|coap|mqttsn, coap=coap://host:port/path, id=DEVICE_ID,
 *   gateway=udp://host:port   with protocol=mqttsn: the MQTT-SN gateway (docs/mqttsn.md)
 *   interval=SECONDS (sampling and telemetry), ssid=/password= (Wi-Fi, ESP32)
 *   telemetry=SECONDS (the telemetry period, when longer than interval=: readings wait
 *     in the app between reports), sleep=none|light|deep (sleep.mode)
 *   key=HEX (the command key, 16..64 bytes, provisioned when the flash holds none),
 *   coapport=N (the device's CoAP server port, default 5683), homeassistant=1 (publish
 *   Home Assistant discovery on each connection)
 *   tlsca=, tlscert=, tlskey=  with broker=mqtts://: the broker's CA certificate, and the
 *     device's client certificate and key for mutual TLS, each the base64 of its DER (the
 *     key PKCS#8; an RSA key: the SDK's TLS signs with RSA only), provisioned into flash
 *     as at the factory (modules/config/tls-credentials.ts, docs/config.md)
 * These are factory defaults: a configuration stored in flash (changed by a
 * config command) wins over them.
 */
import config from "mc/config";
import { getBoard } from "../boards/index";
import { boardName, createModdablePlatform } from "../modules/platform/moddable/platform";
import { startApp } from "./app";
import { decodeBase64url } from "../modules/telemetry/senml";
import { fromHex } from "../modules/config/auth";
import type { TlsCredentials } from "../modules/config/tls-credentials";
import { boardIo, HARDWARE } from "./hardware";

const STORE_NAMESPACE = "xsiot";
const STORE_BOOTS = "boots";
const RTC_BOOTS_OFFSET = 0; // uint32 little-endian at the start of RTC memory

const platform = createModdablePlatform();
const { log } = platform;
const settings = config as Record<string, unknown>;

function hex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
  return s;
}

function ascii(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0x7f;
  return out;
}

function countBootInStore(): number {
  const previous = platform.storage.get(STORE_NAMESPACE, STORE_BOOTS);
  const boots = (typeof previous === "number" ? previous : 0) + 1;
  platform.storage.set(STORE_NAMESPACE, STORE_BOOTS, boots);
  return boots;
}

function countBootInRtc(): number {
  const view = new DataView(platform.rtc.read(RTC_BOOTS_OFFSET, 4).buffer);
  const boots = (view.getUint32(0, true) + 1) >>> 0;
  view.setUint32(0, boots, true);
  platform.rtc.write(RTC_BOOTS_OFFSET, new Uint8Array(view.buffer));
  return boots;
}

function text(name: string): string | undefined {
  const v = settings[name];
  return typeof v === "string" && v.length ? v : undefined;
}

/** tlsca= / tlscert= / tlskey=: base64 of DER, standard or URL-safe alphabet, padding optional. */
function tlsFromConfig(): TlsCredentials | undefined {
  const out: TlsCredentials = {};
  let any = false;
  for (const [field, name] of [["ca", "tlsca"], ["clientCertificate", "tlscert"], ["clientKey", "tlskey"]] as const) {
    const t = text(name);
    if (t === undefined) continue;
    const bytes = decodeBase64url(t.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""));
    if (bytes && bytes.length) {
      out[field] = bytes;
      any = true;
    } else log(`config: ${name} is not base64 (of a DER certificate or key); ignored`);
  }
  return any ? out : undefined;
}

/** "mqtt://host:port" / "coap://host:port/path" -> parts (no URL class on every XS host). */
function parseUrl(url: string, scheme: string, port: number): { host: string; port: number; path: string; tls: boolean } | undefined {
  const m = /^([a-z]+):\/\/([A-Za-z0-9.-]+)(?::(\d+))?(\/[A-Za-z0-9_\-./]*)?$/.exec(url);
  if (!m || (m[1] !== scheme && m[1] !== scheme + "s")) return undefined;
  return { host: m[2], port: m[3] ? Number(m[3]) : m[1] === "mqtts" ? 8883 : port, path: (m[4] ?? "").replace(/^\//, ""), tls: m[1] === "mqtts" };
}

log(`xs-iot boot: platform ${platform.name}, wake cause ${platform.power.wakeCause}`);
try {
  log(`boots: ${countBootInStore()} (preference), ${countBootInRtc()} (RTC memory)`);
} catch (error) {
  log(`boot counter failed: ${error instanceof Error ? error.message : String(error)}`);
}
// RFC 4231 §4.3, test case 2.
const tag = hex(platform.crypto.hmacSha256(ascii("Jefe"), ascii("what do ya want for nothing?")));
log(`hmac-sha256 RFC 4231 case 2: ${tag === "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" ? "ok" : "MISMATCH " + tag}`);

const provisioned: { [key: string]: unknown } = {};
const broker = parseUrl(text("broker") ?? "mqtt://127.0.0.1:1883", "mqtt", 1883);
if (broker) {
  provisioned["mqtt.host"] = broker.host;
  provisioned["mqtt.port"] = broker.port;
  provisioned["mqtt.tls"] = broker.tls;
} else log(`config: broker "${text("broker")}" is not mqtt://host:port; using the defaults`);
const coap = text("coap") ? parseUrl(text("coap")!, "coap", 5683) : undefined;
if (coap) {
  provisioned["coap.gatewayHost"] = coap.host;
  provisioned["coap.gatewayPort"] = coap.port;
  provisioned["coap.gatewayPath"] = coap.path;
}
const coapPort = Number(text("coapport") ?? "NaN");
if (coapPort >= 1 && coapPort <= 65535) provisioned["coap.listenPort"] = coapPort;
else if (text("coapport")) log(`config: coapport "${text("coapport")}" is not a port; using the default`);
const keyText = text("key");
const key = keyText ? fromHex(keyText) : undefined;
if (keyText && !(key && key.length >= 16 && key.length <= 64)) log("config: key is not 16..64 bytes of hex; no command key provisioned");
const protocol = text("protocol");
if (protocol === "mqtt311" || protocol === "mqtt5" || protocol === "coap" || protocol === "mqttsn") provisioned.protocol = protocol;
// MQTT-SN: mqtt.host and mqtt.port name the gateway (modules/config/schema.ts).
const gateway = protocol === "mqttsn" && text("gateway") ? parseUrl(text("gateway")!, "udp", 1884) : undefined;
if (gateway) {
  provisioned["mqtt.host"] = gateway.host;
  provisioned["mqtt.port"] = gateway.port;
  provisioned["mqtt.tls"] = false;
}
// interval=SECONDS is a factory value like broker=: a remote config/patch of the intervals wins and is kept.
const seconds = Number(text("interval") ?? "10");
const intervalS = seconds >= 0.01 && seconds <= 86400 ? Math.round(seconds * 1000) / 1000 : 10;
provisioned["sampling.intervalS"] = intervalS;
provisioned["telemetry.intervalS"] = intervalS;
const teleS = Number(text("telemetry") ?? "NaN");
if (teleS >= intervalS && teleS <= 86400) provisioned["telemetry.intervalS"] = Math.round(teleS * 1000) / 1000;
else if (text("telemetry")) log(`config: telemetry "${text("telemetry")}" is not seconds from interval= (${intervalS}) to 86400; using ${intervalS}`);
const sleepMode = text("sleep");
if (sleepMode === "none" || sleepMode === "light" || sleepMode === "deep") provisioned["sleep.mode"] = sleepMode;
else if (sleepMode) log(`config: sleep "${sleepMode}" is not none, light or deep; using none`);

try {
  const board = getBoard(boardName() === "unknown" ? "sim" : boardName());
  log(`board ${board.name}: sensors through ${HARDWARE}`);
  startApp({
    platform: { ...platform, io: boardIo(platform, board), log },
    board,
    deviceId: text("id") ?? "xs-iot-" + board.name,
    provisioned,
    key: key && key.length >= 16 && key.length <= 64 ? key : undefined,
    tls: tlsFromConfig(),
    overrides: { homeAssistant: text("homeassistant") === "1" },
    onReading(r) {
      const s = r.sample;
      log(`reading ${r.seq}: ${s.thermometer ? s.thermometer.temperature.toFixed(2) + " C " : ""}${s.hygrometer ? s.hygrometer.humidity.toFixed(1) + " %RH " : ""}${s.carbonDioxideDetector ? s.carbonDioxideDetector.CO2.toFixed(0) + " ppm" : ""}`);
    },
    onAcked(e) {
      log(`telemetry acknowledged: reading ${e.seqs.join(",")} (${e.bytes} bytes SenML)`);
    },
    onState(state) {
      log(`state: ${state}`);
    },
  });
} catch (error) {
  log(`xs-iot: the app did not start: ${error instanceof Error ? error.message : String(error)}`);
}
