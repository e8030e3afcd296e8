/*
 * Moddable entry (mcconfig's "main", see manifest.json): a minimal boot for
 * now, replaced by the real app later. It creates the Moddable platform and a
 * scheduler, logs the wake cause, counts boots in flash (preference) and in
 * RTC memory, checks HMAC-SHA256 against RFC 4231 test case 2, and logs a
 * heartbeat from a scheduler job.
 */
import { createModdablePlatform } from "../modules/platform/moddable/platform";
import { Scheduler } from "../modules/scheduler/scheduler";

const HEARTBEAT_MS = 5000;
const STORE_NAMESPACE = "xsiot";
const STORE_BOOTS = "boots";
const RTC_BOOTS_OFFSET = 0; // uint32 little-endian at the start of RTC memory

const platform = createModdablePlatform();
const { log } = platform;

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

log(`xs-iot boot: platform ${platform.name}, wake cause ${platform.power.wakeCause}`);
try {
  log(`boots: ${countBootInStore()} (preference), ${countBootInRtc()} (RTC memory)`);
} catch (error) {
  log(`boot counter failed: ${error instanceof Error ? error.message : String(error)}`);
}

// RFC 4231 §4.3, test case 2.
const tag = hex(platform.crypto.hmacSha256(ascii("Jefe"), ascii("what do ya want for nothing?")));
const expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
log(`hmac-sha256 RFC 4231 case 2: ${tag === expected ? "ok" : "MISMATCH " + tag}`);
log(`random: ${hex(platform.crypto.randomFill(new Uint8Array(8)))}`);

const scheduler = new Scheduler({
  clock: platform.clock,
  onError(error, job) {
    log(`job ${job.name} failed: ${error instanceof Error ? error.message : String(error)}`);
  },
});

let beats = 0;
scheduler.after(
  HEARTBEAT_MS,
  (now, job) => {
    beats++;
    log(`heartbeat ${beats} at ${now} ms`);
    job.delay(HEARTBEAT_MS);
  },
  { name: "heartbeat" },
);
