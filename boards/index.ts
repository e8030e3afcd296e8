/*
 * Every board definition, by name, with a checker. The Moddable build maps
 * `boards[name].moddableTarget` to `mcconfig -p`.
 */
import { BH1750_ADDRESSES } from "../modules/sensors/bh1750";
import { BMX280_ADDRESSES } from "../modules/sensors/bmx280";
import type { SensorChip } from "../modules/sensors/discover";
import { SCD4X_ADDRESSES } from "../modules/sensors/scd4x";
import { SHT3X_ADDRESSES } from "../modules/sensors/sht3x";
import { SHT4X_ADDRESSES } from "../modules/sensors/sht4x";
import { esp32C3DevkitM1 } from "./esp32-c3-devkitm-1";
import { esp32DevkitC } from "./esp32-devkitc";
import { esp32S3DevkitC1 } from "./esp32-s3-devkitc-1";
import { m5stackAtomLite } from "./m5stack-atom-lite";
import { simBoard } from "./sim";
import type { BoardDefinition, Soc } from "./types";
import { xiaoEsp32c3 } from "./xiao-esp32c3";

export type { BoardDefinition, BoardSensor, BatteryDivider, PowerProfile, Soc } from "./types";

export const boards: Readonly<Record<string, BoardDefinition>> = {
  [esp32DevkitC.name]: esp32DevkitC,
  [esp32C3DevkitM1.name]: esp32C3DevkitM1,
  [esp32S3DevkitC1.name]: esp32S3DevkitC1,
  [xiaoEsp32c3.name]: xiaoEsp32c3,
  [m5stackAtomLite.name]: m5stackAtomLite,
  [simBoard.name]: simBoard,
};

export function getBoard(name: string): BoardDefinition {
  const board = boards[name];
  if (!board) throw new RangeError(`unknown board "${name}" (known: ${Object.keys(boards).join(", ")})`);
  return board;
}

export const SENSOR_ADDRESSES: Readonly<Record<SensorChip, readonly number[]>> = {
  sht3x: SHT3X_ADDRESSES,
  sht4x: SHT4X_ADDRESSES,
  bme280: BMX280_ADDRESSES,
  bmp280: BMX280_ADDRESSES,
  bh1750: BH1750_ADDRESSES,
  scd4x: SCD4X_ADDRESSES,
};

/** GPIOs that can drive an open-drain I2C line, per SoC (datasheet pin tables). */
const GPIO: Readonly<Record<Soc, { max: number; excluded: readonly number[]; why: string }>> = {
  // ESP32: GPIO34-39 are input-only; GPIO6-11 are the SPI flash; 20, 24, 28-31 do not exist.
  esp32: { max: 33, excluded: [6, 7, 8, 9, 10, 11, 20, 24, 28, 29, 30, 31], why: "ESP32 output-capable GPIO (not flash 6-11, not input-only 34-39)" },
  // ESP32-C3: GPIO0-21; GPIO12-17 are the SPI flash.
  esp32c3: { max: 21, excluded: [12, 13, 14, 15, 16, 17], why: "ESP32-C3 GPIO0-21 except flash 12-17" },
  // ESP32-S3: GPIO0-21 and 26-48; 26-32 are the SPI flash/PSRAM on WROOM modules; 22-25 do not exist.
  esp32s3: { max: 48, excluded: [22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32], why: "ESP32-S3 GPIO0-21, 33-48" },
  host: { max: 255, excluded: [], why: "any label" },
};

/** Problems with a board definition, empty when it is consistent. */
export function checkBoard(board: BoardDefinition): string[] {
  const problems: string[] = [];
  const gpio = GPIO[board.soc];
  if (!gpio) return [`${board.name}: unknown soc "${board.soc}"`];
  const pinOk = (p: number) => Number.isInteger(p) && p >= 0 && p <= gpio.max && !gpio.excluded.includes(p);
  if (!pinOk(board.i2c.data)) problems.push(`${board.name}: I2C data pin ${board.i2c.data} is not a usable GPIO (${gpio.why})`);
  if (!pinOk(board.i2c.clock)) problems.push(`${board.name}: I2C clock pin ${board.i2c.clock} is not a usable GPIO (${gpio.why})`);
  if (board.i2c.data === board.i2c.clock) problems.push(`${board.name}: I2C data and clock are the same pin`);
  if (![100_000, 400_000, 1_000_000].includes(board.i2c.hz)) problems.push(`${board.name}: I2C speed ${board.i2c.hz} is not standard (100k), fast (400k) or fast-plus (1M)`);
  if (!board.i2c.source) problems.push(`${board.name}: I2C pins need a source`);
  const seen = new Set<number>();
  for (const s of board.sensors) {
    const allowed = SENSOR_ADDRESSES[s.chip];
    if (!allowed) problems.push(`${board.name}: unknown sensor chip "${s.chip}"`);
    else if (!allowed.includes(s.address)) problems.push(`${board.name}: ${s.chip} cannot be at 0x${s.address.toString(16)}`);
    if (seen.has(s.address)) problems.push(`${board.name}: two sensors at 0x${s.address.toString(16)}`);
    seen.add(s.address);
  }
  const b = board.battery;
  if (b) {
    if (!pinOk(b.pin)) problems.push(`${board.name}: battery pin ${b.pin} is not a usable GPIO`);
    if (b.pin === board.i2c.data || b.pin === board.i2c.clock) problems.push(`${board.name}: battery pin ${b.pin} is an I2C pin`);
    if (!(b.dividerRatio >= 1 && b.dividerRatio <= 10)) problems.push(`${board.name}: divider ratio ${b.dividerRatio} outside 1..10`);
    if (!(b.reference > 0 && b.reference <= 3.6)) problems.push(`${board.name}: ADC reference ${b.reference} V outside (0, 3.6]`);
    if (!(Number.isInteger(b.resolution) && b.resolution >= 8 && b.resolution <= 16)) problems.push(`${board.name}: ADC resolution ${b.resolution} outside 8..16`);
    if (4.2 / b.dividerRatio > b.reference) problems.push(`${board.name}: a full LiPo (4.2 V) / ${b.dividerRatio} exceeds the ADC range ${b.reference} V`);
  }
  const p = board.power;
  const order: [string, number][] = [["deepSleepMa", p.deepSleepMa], ["lightSleepMa", p.lightSleepMa], ["lightSleepWifiMa", p.lightSleepWifiMa], ["modemSleepMa", p.modemSleepMa], ["activeRadioMa", p.activeRadioMa], ["txPeakMa", p.txPeakMa]];
  for (const [k, v] of order) if (!(typeof v === "number" && v > 0 && v < 1000)) problems.push(`${board.name}: power.${k} = ${v} is not a current in (0, 1000) mA`);
  for (let i = 1; i < order.length; i++)
    if (!(order[i - 1][1] < order[i][1])) problems.push(`${board.name}: power.${order[i - 1][0]} should be below power.${order[i][0]}`);
  for (const k of ["bootToReadyMs", "wakeMs", "wifiConnectMs", "roundTripMs", "tlsHandshakeMs"] as const)
    if (!(p[k] > 0 && p[k] < 10_000)) problems.push(`${board.name}: power.${k} = ${p[k]} outside (0, 10000) ms`);
  if (!p.sources.length) problems.push(`${board.name}: power profile needs a source`);
  if (!/^(esp32(\/[a-z0-9_]+)?|lin|mac|win)$/.test(board.moddableTarget)) problems.push(`${board.name}: "${board.moddableTarget}" is not a Moddable platform identifier`);
  return problems;
}
