/*
 * The app's use of modules/telemetry (docs/telemetry.md): readings -> SenML
 * packs (RFC 8428), JSON (§5) or CBOR (§6), split so that no message is larger
 * than a byte budget (the broker's Maximum Packet Size minus the PUBLISH
 * overhead, or one CoAP block), and one quantity's latest value for the CoAP
 * sensor resources.
 *
 * Portable (XS): no Node API.
 */
import type { Sample } from "../modules/sensors/sensor";
import { QUANTITIES, readingsToPack, roundTo, CONTENT_FORMAT_SENML_CBOR, CONTENT_FORMAT_SENML_JSON, type Quantity, type TelemetryReading } from "../modules/telemetry/senml";
import { splitSenml, SenmlSplitError, type SenmlFormat } from "../modules/telemetry/split";

export { QUANTITIES, SenmlSplitError, type Quantity, type SenmlFormat, type TelemetryReading };

/** RFC 8428 §12.3: Content-Format IDs. */
export const SENML_JSON_CONTENT_FORMAT = CONTENT_FORMAT_SENML_JSON;
export const SENML_CBOR_CONTENT_FORMAT = CONTENT_FORMAT_SENML_CBOR;

/** What a sample holds for a quantity (ECMA-419 group and property), as it is: unchecked, unrounded. */
export function quantityRaw(sample: Sample, q: Quantity): unknown {
  const g = (sample as { [k: string]: { [f: string]: unknown } | undefined })[q.group];
  return g ? g[q.field] : undefined;
}

/** The value of a quantity in a sample, rounded to the quantity's resolution, or undefined. */
export function quantityValue(sample: Sample, q: Quantity): number | undefined {
  const v = quantityRaw(sample, q);
  return typeof v === "number" && v === v && v !== Infinity && v !== -Infinity ? roundTo(v, q.decimals) : undefined;
}

/**
 * Readings as SenML packs of at most `maxBytes` each (every pack stands alone
 * with bn and bt). Throws SenmlSplitError when one record cannot fit.
 * No values gives no packs.
 */
export function encodeTelemetry(deviceId: string, readings: readonly TelemetryReading[], format: SenmlFormat = "json", maxBytes = Infinity): Uint8Array[] {
  const pack = readingsToPack(readings, { deviceId });
  if (!pack.length) return [];
  return splitSenml(pack, maxBytes, format);
}

/**
 * A reading as the app holds it while it waits for the telemetry period (src/app.ts): its
 * sequence number, its time (ms since 1970, NaN: none), then each quantity's raw value in
 * QUANTITIES order (NaN: not measured). One array of numbers: on XS 2 slots and a chunk of 8
 * items, where the Reading with its merged sample and each chip's sample was ~65 slots
 * (mcsim, docs/moddable.md). It keeps all that telemetry sends: readingsToPack reads only
 * these quantities, rounds them and leaves out what is not a finite number.
 */
export type WaitingReading = number[];

/** `values`: each quantity's raw value in QUANTITIES order (NaN: none), copied. */
export function waitingReading(seq: number, time: number, values: readonly number[]): WaitingReading {
  return [seq, time].concat(values);
}

/**
 * Waiting readings as SenML packs (encodeTelemetry), `per` readings a pack at most: each group
 * is encoded on its own (a pack still larger than maxBytes is split), so that no more than one
 * message's records, strings and bytes are made at once. One 8-reading pack of ~2.2 KB split
 * into three datagrams grew the esp32c3's chunk heap at every batch (mcsim). The samples exist
 * only while encoding.
 */
export function encodeWaiting(deviceId: string, list: readonly WaitingReading[], format: SenmlFormat, maxBytes: number, per = list.length): Uint8Array[] {
  const out: Uint8Array[] = [];
  const step = Math.max(1, Math.floor(per));
  for (let at = 0; at < list.length; at += step) {
    const readings: TelemetryReading[] = [];
    for (let k = at; k < at + step && k < list.length; k++) {
      const w = list[k];
      const sample: { [group: string]: { [field: string]: number } } = {};
      for (let i = 0; i < QUANTITIES.length; i++) {
        const v = w[i + 2];
        if (v === v) (sample[QUANTITIES[i].group] ??= {})[QUANTITIES[i].field] = v;
      }
      readings.push({ time: w[1], sample: sample as Sample });
    }
    const packs = encodeTelemetry(deviceId, readings, format, maxBytes);
    for (let i = 0; i < packs.length; i++) out.push(packs[i]);
  }
  return out;
}

/** One quantity's latest value as a one-record pack (the CoAP sensor resources). */
export function encodeQuantity(deviceId: string, q: Quantity, sample: Sample, time: number, format: SenmlFormat): Uint8Array {
  const only = { [q.group]: (sample as { [k: string]: unknown })[q.group] } as Sample;
  return splitSenml(readingsToPack({ time, sample: only }, { deviceId }), Infinity, format)[0];
}
