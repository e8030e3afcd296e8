/*
 * A simulated device: boots an app with a fresh Platform, and makes deep sleep,
 * restart and crashes behave as they do on the chip.
 *
 *   const device = new SimDevice({ app: main, clock, flash, rtc, io: { UDP, I2C } });
 *   device.start();                       // cold boot, wakeCause "power-on"
 *
 * Each boot is an "incarnation": its own Platform object, its own clock wrapper
 * (now() counts from this boot, as esp_timer does), its own IO constructors.
 * Everything the incarnation arms or opens is tracked, so that
 * `platform.power.deepSleep(ms)`:
 *   - cancels every timer it armed and closes every socket and I2C instance it
 *     opened (RAM is gone; so are its peripherals' handles),
 *   - turns any later callback from the old incarnation into a no-op,
 *   - throws a SleepSignal to unwind the caller's stack ("does not return");
 *     the device catches it at every callback boundary (timers, IO callbacks,
 *     the app entry),
 *   - after `ms` on the clock, boots the app again from scratch with wakeCause
 *     "deep-sleep". Only flash and RTC memory carry over.
 * `restart()` is the same with no sleep and cause "restart". An exception that
 * escapes an app callback is a crash: recorded in `crashes`, the incarnation is
 * torn down and the device reboots with cause "watchdog" (ESP-IDF's panic
 * handler reboots likewise). A PowerLossError from the flash store means the
 * supply died: the device goes "off" until start() (a cold boot); so does
 * powerOff(), at once, from anywhere.
 *
 * Portable (no Node API): runs on XS with a VirtualClock. IO constructors come
 * from the caller (sim/udp-network.ts, sim/i2c.ts, sim/node/tcp.ts, ...).
 */
import type { Clock, TimerHandle } from "../modules/platform/clock";
import type { Platform, PlatformIo } from "../modules/platform/platform";
import type { KeyValueStore } from "../modules/platform/storage";
import type { Crypto, LightSleepEnd, Power, RtcMemory, WakeCause } from "../modules/platform/system";
import { hmacSha256 } from "../modules/platform/sha256";
import { FlashStore } from "./flash-store";
import { I2cBus } from "./i2c";
import { fillFromState, prngState } from "./prng";
import type { DeviceEnergy } from "./energy-account";
import { SimRtcMemory } from "./rtc-memory";
import { SimNetwork } from "./udp-network";
import { FIRES_TARGETS, VirtualClock } from "./virtual-clock";

/** Thrown by deepSleep() and restart() to unwind the app's stack. Never catch it in app code. */
export class SleepSignal extends Error {
  readonly kind: "deep-sleep" | "restart";
  readonly durationMs: number;
  /** Lets code that cannot import this class recognise it (e.g. a scheduler that reports job errors). */
  readonly isSleepSignal = true;
  constructor(kind: "deep-sleep" | "restart", durationMs: number) {
    super(kind === "restart" ? "restart: the app instance is gone" : `deep sleep for ${durationMs} ms: the app instance is gone`);
    this.kind = kind;
    this.durationMs = durationMs;
  }
}
// On the prototype: `this.name = ...` throws where the intrinsics are frozen, as on a device (host-tests/xs/lockdown.ts).
Object.defineProperty(SleepSignal.prototype, "name", { value: "SleepSignal", writable: true, configurable: true });

export interface AppInstance {
  /** Called by device.stop() (a host-driven shutdown), not on sleep or crash: the chip runs no code then. */
  stop?(): void;
}

/** What the simulator hands the app: a Platform plus the board description, if any. */
export interface SimPlatform extends Platform {
  readonly board?: unknown;
  /** Which boot of this device this is (1 = first). */
  readonly bootCount: number;
}

export type AppEntry = (platform: SimPlatform) => AppInstance | void | Promise<unknown>;

export interface SimDeviceOptions {
  app: AppEntry;
  clock: Clock;
  name?: string;
  board?: unknown;
  /** Flash key-value store kept across every boot (default: a new FlashStore). */
  flash?: KeyValueStore & { powerOn?(): void };
  /** RTC memory kept across deep sleep and restart, zeroed on power-on (default: 2 KB SimRtcMemory). */
  rtc?: RtcMemory & { powerOn?(): void };
  io?: Partial<PlatformIo>;
  crypto?: Partial<Crypto>;
  /** Seed for the default random generator (deterministic runs). */
  seed?: number;
  /** Receives every log line. */
  log?(line: string): void;
  /** How many log lines `logs` keeps, newest last (default 0: lines go only to `log`). */
  logLimit?: number;
  /** Receives every device event as it happens. */
  onEvent?(event: DeviceEvent): void;
  /** Time from a crash to the next boot (default 0). */
  rebootDelayMs?: number;
  /** Time from restart() to the next boot (default 0). */
  restartDelayMs?: number;
  /** After this many crashes the device halts instead of rebooting (default 100): no endless crash loop. */
  maxCrashes?: number;
  /** Accounts the device's energy per power state (sim/energy-account.ts); none by default. */
  energy?: DeviceEnergy;
}

export type DeviceEventType = "boot" | "sleep" | "restart" | "crash" | "power-loss" | "stop" | "halt";

export interface DeviceEvent {
  type: DeviceEventType;
  /** The raw clock's now(). */
  at: number;
  /** For "boot": the wake cause. For "sleep": the duration. For "crash": the message. */
  cause?: WakeCause;
  durationMs?: number;
  message?: string;
  bootCount: number;
}

export interface CrashRecord {
  at: number;
  bootCount: number;
  error: unknown;
  message: string;
}

export type DeviceState = "off" | "awake" | "asleep" | "rebooting" | "halted";

interface Closable {
  close(): void;
}

// SimDevice internals the per-boot helper objects below call. Symbol-keyed so
// they stay off the public surface without a closure per boot to reach them.
const INVOKE: unique symbol = Symbol("SimDevice.invoke");
const DEEP_SLEEP: unique symbol = Symbol("SimDevice.deepSleep");
const RESTART: unique symbol = Symbol("SimDevice.restart");
const LIGHT_SLEEP: unique symbol = Symbol("SimDevice.lightSleep");
const NOTE: unique symbol = Symbol("SimDevice.note");
const LOG: unique symbol = Symbol("SimDevice.log");

class Incarnation {
  alive = true;
  /** The armed timers, a doubly linked list through BootTimer (no container to allocate). */
  timers: BootTimer | undefined;
  /** The open IO instances, oldest first, at their exact size (a Set cost ~230 B per device); created with the first. */
  resources: Closable[] | undefined;
  instance: AppInstance | undefined;
  constructor(
    readonly device: SimDevice,
    readonly bootCount: number,
    readonly bootAt: number,
  ) {}
}

/*
 * The per-boot Platform pieces are small objects with prototype methods (one
 * class for every device and boot) rather than closures: a simulated fleet
 * holds one of each per device, and in V8 every closure costs a function, a
 * context and, under keepNames, a property dictionary.
 */

/** A timer armed by one incarnation; the raw clock calls its `fire` (bound to it, unless the clock fires targets). */
class BootTimer {
  raw: TimerHandle = undefined;
  prev: BootTimer | undefined = undefined;
  next: BootTimer | undefined;
  constructor(
    readonly inc: Incarnation,
    readonly callback: () => void,
  ) {
    this.next = inc.timers;
    if (inc.timers) inc.timers.prev = this;
    inc.timers = this;
  }
  /** Linked into its incarnation's `timers` list (derived, not a field: one field less per armed timer). */
  get armed(): boolean {
    return this.prev !== undefined || this.inc.timers === this;
  }
  unlink(): void {
    if (this.prev) this.prev.next = this.next;
    else if (this.inc.timers === this) this.inc.timers = this.next;
    else return; // not armed (any more)
    if (this.next) this.next.prev = this.prev;
    this.prev = this.next = undefined;
  }
  fire(): void {
    const inc = this.inc;
    this.unlink();
    if (inc.alive) inc.device.energy?.activity(inc.device.clock.now(), true);
    inc.device[INVOKE](inc, this.callback, undefined, []);
  }
}

/** A boot's clock: now() counts from this boot (esp_timer restarts after deep sleep); timers die with the boot. */
class BootClock implements Clock {
  readonly #inc: Incarnation;
  constructor(inc: Incarnation) {
    this.#inc = inc;
  }
  now(): number {
    return this.#inc.device.clock.now() - this.#inc.bootAt;
  }
  epoch(): number {
    return this.#inc.device.clock.epoch();
  }
  setTimer(callback: () => void, delayMs: number): TimerHandle {
    if (typeof callback !== "function") throw new TypeError("setTimer: callback must be a function");
    const inc = this.#inc;
    if (!inc.alive) return { raw: undefined };
    const t = new BootTimer(inc, callback);
    const raw = inc.device.clock as Clock & { [FIRES_TARGETS]?: boolean };
    try {
      // A clock of the simulator calls t.fire() itself: no bound function per timer.
      t.raw = raw[FIRES_TARGETS] === true ? raw.setTimer(t as never, delayMs) : raw.setTimer(t.fire.bind(t), delayMs);
    } catch (error) {
      t.unlink(); // the raw clock refused it (a bad delay): nothing armed
      throw error;
    }
    return t;
  }
  clearTimer(handle: TimerHandle): void {
    const inc = this.#inc;
    if (!(handle instanceof BootTimer) || handle.inc !== inc || !handle.armed) return;
    handle.unlink();
    inc.device.clock.clearTimer(handle.raw);
  }
}

class BootPower implements Power {
  readonly wakeCause: WakeCause;
  readonly #inc: Incarnation;
  constructor(inc: Incarnation, cause: WakeCause) {
    this.#inc = inc;
    this.wakeCause = cause;
  }
  deepSleep(durationMs: number): never {
    return this.#inc.device[DEEP_SLEEP](this.#inc, durationMs);
  }
  restart(): never {
    return this.#inc.device[RESTART](this.#inc);
  }
  lightSleep(durationMs: number, keepWifi: boolean): LightSleepEnd {
    return this.#inc.device[LIGHT_SLEEP](this.#inc, durationMs, keepWifi);
  }
  setWakePins(pins: readonly number[], level: 0 | 1): void {
    if (!Array.isArray(pins) || pins.some((p) => !(Number.isInteger(p) && p >= 0 && p <= 48))) throw new RangeError("setWakePins: pins must be GPIO numbers 0..48");
    if (level !== 0 && level !== 1) throw new RangeError("setWakePins: level must be 0 or 1");
    // The simulator's external wake is SimDevice.wake(); the pins are only checked here.
  }
  note(what: string): void {
    this.#inc.device[NOTE](this.#inc, what);
  }
}

/**
 * The device's Crypto (the same for every boot): the caller's functions, or a
 * seeded generator (its bare state in a field: no Prng object per device,
 * the same bytes as Prng(seed).fill) and our HMAC.
 */
class DeviceCrypto implements Crypto {
  readonly #source: Partial<Crypto> | undefined;
  #state: number | undefined;
  constructor(source: Partial<Crypto> | undefined, seed: number) {
    this.#source = source;
    this.#state = source?.randomFill ? undefined : prngState(seed);
  }
  randomFill(buffer: Uint8Array): Uint8Array {
    if (!(buffer instanceof Uint8Array)) throw new TypeError("randomFill: buffer must be a Uint8Array");
    if (this.#state === undefined) return this.#source!.randomFill!(buffer);
    this.#state = fillFromState(this.#state, buffer);
    return buffer;
  }
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
    const source = this.#source;
    return source?.hmacSha256 ? source.hmacSha256(key, data) : hmacSha256(key, data);
  }
}

/** `platform.log`, bound to its incarnation (apps pass it around as a plain function). */
function bootLog(this: Incarnation, message: string): void {
  this.device[LOG](this, String(message));
}

/**
 * On an IO instance an incarnation opened: its IoCallbacks, or the Incarnation
 * itself when the app gave no callbacks (an I2C instance). Also on the options
 * its constructor got.
 */
const TRACK: unique symbol = Symbol("SimDevice.track");
/** The close() an instance had as its own property (not from its class), which closeTracked calls. */
const BASE_CLOSE: unique symbol = Symbol("SimDevice.baseClose");

/**
 * The app's callbacks of one IO instance, by option name (onReadable,
 * onWritable, onError, ...), and its boot. The instance itself gets shared
 * guard functions, one per option name for every device, that find this
 * record through `this`: ECMA-419 §8 invokes a callback with the instance as
 * `this`. A closure and a context per callback cost a simulated device ~500 B
 * per socket.
 */
class IoCallbacks {
  [name: string]: unknown;
  constructor(readonly inc: Incarnation) {}
}

type Tracked = Closable & { [TRACK]?: IoCallbacks | Incarnation; [BASE_CLOSE]?: () => void };

/** Instances that could not carry TRACK (frozen by their constructor). */
const untrackable = new WeakMap<object, IoCallbacks | Incarnation>();

function trackOf(target: unknown): IoCallbacks | Incarnation | undefined {
  if (target === null || (typeof target !== "object" && typeof target !== "function")) return undefined;
  const own = (target as Tracked)[TRACK];
  return own instanceof IoCallbacks || own instanceof Incarnation ? own : untrackable.get(target as object);
}

/** Forgets `io` in its boot's list (once closed, teardown need not close it again). */
function untrack(inc: Incarnation, io: Closable): void {
  const list = inc.resources;
  const i = list ? list.indexOf(io) : -1;
  if (i < 0) return;
  inc.resources = list!.length === 1 ? undefined : list!.slice(0, i).concat(list!.slice(i + 1));
}

/** The `close` of an IO instance an incarnation tracks: forget it, then close it. */
function closeTracked(this: Tracked): void {
  const track = trackOf(this);
  if (!track) throw new TypeError("close: not an IO instance of a SimDevice");
  untrack(track instanceof Incarnation ? track : track.inc, this);
  const base = Object.prototype.hasOwnProperty.call(this, BASE_CLOSE) ? this[BASE_CLOSE] : Object.getPrototypeOf(this)?.close;
  if (typeof base !== "function") throw new TypeError("close: the IO instance has no close()");
  base.call(this);
}

const guards: Record<string, (this: unknown, ...args: unknown[]) => unknown> = {};

/** The guard for callback option `key`: runs the app's callback only while its incarnation lives (a throw is a crash). */
function guardFor(key: string): (this: unknown, ...args: unknown[]) => unknown {
  return (guards[key] ??= function (this: unknown, ...args: unknown[]) {
    const track = trackOf(this);
    if (!(track instanceof IoCallbacks)) throw new TypeError(`SimDevice: IO callback ${key} invoked without its instance as this (ECMA-419 §8)`);
    const inc = track.inc;
    const energy = inc.alive ? inc.device.energy : undefined;
    if (energy) {
      energy.activity(inc.device.clock.now(), false);
      // A socket with data to read: the radio received it (I2C instances have no onReadable).
      if (key === "onReadable") energy.traffic(inc.device.clock.now(), typeof args[0] === "number" ? args[0] : 0, false);
    }
    return inc.device[INVOKE](inc, track[key] as (...args: unknown[]) => unknown, this, args);
  });
}

/**
 * Opens an IO instance of `Base` for an incarnation (what `new platform.io.TCP(options)`
 * ends in, through openTcp & co.). Its callbacks run only while the incarnation
 * lives (and a throw from them is a crash); it is tracked so teardown closes it.
 */
/** With an energy account: bytes written or sent on a socket are traffic (the radio is on). */
function countTraffic(inc: Incarnation, io: { write?: unknown; send?: unknown }): void {
  for (const key of ["write", "send"] as const) {
    const base = io[key];
    if (typeof base !== "function") continue;
    io[key] = function (this: unknown, data: unknown, ...rest: unknown[]) {
      const n = (data as { byteLength?: unknown } | null)?.byteLength;
      if (inc.alive) inc.device.energy?.traffic(inc.device.clock.now(), typeof n === "number" ? n : 0, true);
      return base.call(this, data, ...rest);
    };
  }
}

function openIo(inc: Incarnation, Base: new (options: any) => Closable, options: any, net = false): Closable {
  if (!inc.alive) throw new SleepSignal("deep-sleep", 0);
  let wrapped = options;
  let callbacks: IoCallbacks | undefined;
  if (options && typeof options === "object") {
    wrapped = { ...options };
    for (const key of Object.keys(wrapped)) {
      const fn = wrapped[key];
      if (key.startsWith("on") && typeof fn === "function") {
        (callbacks ??= new IoCallbacks(inc))[key] = fn;
        wrapped[key] = guardFor(key);
      }
    }
    if (callbacks) wrapped[TRACK] = callbacks; // a Base may invoke a callback with its options as `this`
  }
  const io = new Base(wrapped) as Tracked;
  const track = callbacks ?? inc;
  if (inc.device.energy && net) countTraffic(inc, io as unknown as { write?: unknown; send?: unknown });
  if (Object.isExtensible(io)) {
    io[TRACK] = track;
    // The class's own close() is found on the prototype when closeTracked runs;
    // only an instance with a close() of its own needs it kept (a field less per instance).
    if (Object.prototype.hasOwnProperty.call(io, "close")) io[BASE_CLOSE] = io.close;
    io.close = closeTracked;
  } else untrackable.set(io, track);
  inc.resources = inc.resources ? inc.resources.concat([io]) : [io];
  return io;
}

/*
 * The IO constructors of one boot, each bound to its incarnation alone
 * (`openTcp.bind(null, inc)`): the class comes from the device's DeviceIo when
 * one is constructed, so the bound arguments are one slot, not two.
 */
type Ctor = new (options: any) => Closable;
const DEVICE_IO: unique symbol = Symbol("SimDevice.io");
const DEVICE_CRYPTO: unique symbol = Symbol("SimDevice.crypto");

function openTcp(inc: Incarnation, options: unknown): Closable {
  if (!new.target) throw new TypeError("IO constructors must be called with new");
  return openIo(inc, (inc.device[DEVICE_IO]().TCP ?? missingIo("TCP")) as Ctor, options, true);
}
function openUdp(inc: Incarnation, options: unknown): Closable {
  if (!new.target) throw new TypeError("IO constructors must be called with new");
  return openIo(inc, (inc.device[DEVICE_IO]().UDP ?? missingIo("UDP")) as Ctor, options, true);
}
function openI2c(inc: Incarnation, options: unknown): Closable {
  if (!new.target) throw new TypeError("IO constructors must be called with new");
  return openIo(inc, (inc.device[DEVICE_IO]().I2C ?? missingIo("I2C")) as Ctor, options);
}
function openTls(inc: Incarnation, options: unknown): Closable {
  if (!new.target) throw new TypeError("IO constructors must be called with new");
  return openIo(inc, inc.device[DEVICE_IO]().TLS as unknown as Ctor, options, true);
}
function openAnalog(inc: Incarnation, options: unknown): Closable {
  if (!new.target) throw new TypeError("IO constructors must be called with new");
  return openIo(inc, inc.device[DEVICE_IO]().Analog as unknown as Ctor, options);
}

/**
 * The IO classes a SimDevice was given, in fields of one fixed shape: V8 gave
 * the callers' spread copies (`{...hardware.io, TCP}`) a map of their own per
 * device (~190 B).
 */
class DeviceIo {
  // Own properties only for the classes given (the same few for every device of
  // a fleet): undefined from the prototype otherwise (UDP and TLS of an MQTT fleet).
  declare readonly TCP: PlatformIo["TCP"] | undefined;
  declare readonly UDP: PlatformIo["UDP"] | undefined;
  declare readonly I2C: PlatformIo["I2C"] | undefined;
  declare readonly TLS: PlatformIo["TLS"] | undefined;
  declare readonly Analog: PlatformIo["Analog"] | undefined;
  constructor(io: Partial<PlatformIo>) {
    if (io.TCP !== undefined) this.TCP = io.TCP;
    if (io.UDP !== undefined) this.UDP = io.UDP;
    if (io.I2C !== undefined) this.I2C = io.I2C;
    if (io.TLS !== undefined) this.TLS = io.TLS;
    if (io.Analog !== undefined) this.Analog = io.Analog;
  }
}
Object.assign(DeviceIo.prototype, { TCP: undefined, UDP: undefined, I2C: undefined, TLS: undefined, Analog: undefined });

/**
 * `platform.io` of one boot: each IO constructor is made on first use (a bound
 * `openTcp` & co., ~72 B) and is then the same function for the boot. A simulated fleet
 * boots a thousand devices whose apps use two or three of them. TLS and Analog
 * read undefined when the device has none; TCP, UDP and I2C always exist (a
 * missing one throws when constructed). Frozen; the memo slots are private.
 */
class BootIo implements PlatformIo {
  readonly #inc: Incarnation;
  #tcp: PlatformIo["TCP"] | undefined;
  #udp: PlatformIo["UDP"] | undefined;
  #i2c: PlatformIo["I2C"] | undefined;
  #tls: PlatformIo["TLS"] | undefined;
  #analog: PlatformIo["Analog"] | undefined;
  constructor(inc: Incarnation) {
    this.#inc = inc;
  }
  get TCP(): PlatformIo["TCP"] {
    return (this.#tcp ??= openTcp.bind(null, this.#inc) as never);
  }
  get UDP(): PlatformIo["UDP"] {
    return (this.#udp ??= openUdp.bind(null, this.#inc) as never);
  }
  get I2C(): PlatformIo["I2C"] {
    return (this.#i2c ??= openI2c.bind(null, this.#inc) as never);
  }
  get TLS(): PlatformIo["TLS"] {
    return this.#inc.device[DEVICE_IO]().TLS ? (this.#tls ??= openTls.bind(null, this.#inc) as never) : undefined;
  }
  get Analog(): PlatformIo["Analog"] {
    return this.#inc.device[DEVICE_IO]().Analog ? (this.#analog ??= openAnalog.bind(null, this.#inc) as never) : undefined;
  }
}

const missing: Record<string, unknown> = {};

/** A constructor that explains the device has no such IO (one per name, shared). */
function missingIo(name: string): unknown {
  return (missing[name] ??= class {
    constructor() {
      throw new Error(`${name}: this simulated device has no ${name} (pass io.${name} to SimDevice)`);
    }
  });
}

/** The options a device only reads: one object shared by every device given none of them (fewer fields per device). */
class DeviceSettings {
  constructor(
    readonly logSink: ((line: string) => void) | undefined,
    readonly onEvent: ((event: DeviceEvent) => void) | undefined,
    readonly rebootDelayMs: number,
    readonly restartDelayMs: number,
    readonly maxCrashes: number,
  ) {}
}

const DEFAULT_SETTINGS = Object.freeze(new DeviceSettings(undefined, undefined, 0, 0, 100));

export class SimDevice {
  readonly name: string;
  readonly clock: Clock;
  readonly flash: KeyValueStore & { powerOn?(): void };
  readonly rtc: RtcMemory & { powerOn?(): void };
  /** What the caller passed as `board` (an own property only then: the prototype's undefined otherwise). */
  declare readonly board: unknown;
  /** The energy account, when one was given (an own property only then). */
  declare readonly energy: DeviceEnergy | undefined;
  /** The events: none, the first alone (a one-event array costs a device ~56 B more), then an array. */
  #events: DeviceEvent | DeviceEvent[] | undefined;
  #crashes: CrashRecord[] | undefined;
  #logs: string[] | undefined;
  /**
   * How many log lines `logs` keeps, newest last. Default 0: every line goes to
   * the `log` option only (a fleet of a thousand devices kept ~800 B of boot
   * lines each that nobody read). An own property only when given or set.
   */
  declare logLimit: number;
  /**
   * How many events `events` keeps, newest last (a device that sleeps every
   * minute boots 1,440 times a day). Default 1000, from the prototype until set.
   */
  declare eventLimit: number;
  boots = 0;
  // Own fields, not prototype defaults: a counter that becomes an own property after
  // the instance size is settled costs a property array (40 B), not a field (8 B).
  sleeps = 0;
  restarts = 0;
  #app: AppEntry;
  #io: DeviceIo;
  #crypto: Crypto;
  #settings: DeviceSettings;
  #state: DeviceState = "off";
  #current: Incarnation | undefined;
  #platform: SimPlatform | undefined;
  #pending: TimerHandle | undefined;
  #awakeMs = 0;
  #asleepMs = 0;
  #sleepStartedAt = 0;

  constructor(options: SimDeviceOptions) {
    if (!options || typeof options.app !== "function") throw new TypeError("SimDevice: options.app must be a function");
    if (!options.clock) throw new TypeError("SimDevice: options.clock is required");
    for (const name of ["rebootDelayMs", "restartDelayMs"] as const) {
      const v = options[name];
      if (v !== undefined && !(v >= 0 && v < Infinity)) throw new RangeError(`SimDevice: ${name} must be >= 0, got ${v}`);
    }
    this.#app = options.app;
    this.clock = options.clock;
    this.name = options.name ?? "device";
    if (options.board !== undefined) this.board = options.board;
    if (options.energy !== undefined) (this as { energy: DeviceEnergy }).energy = options.energy;
    this.flash = options.flash ?? new FlashStore();
    this.rtc = options.rtc ?? new SimRtcMemory();
    this.#io = new DeviceIo(options.io ?? {});
    this.#crypto = Object.freeze(new DeviceCrypto(options.crypto, options.seed ?? 0x5eed));
    const { log, onEvent, rebootDelayMs = 0, restartDelayMs = 0, maxCrashes = 100 } = options;
    const plain = !log && !onEvent && rebootDelayMs === 0 && restartDelayMs === 0 && maxCrashes === 100;
    this.#settings = plain ? DEFAULT_SETTINGS : new DeviceSettings(log, onEvent, rebootDelayMs, restartDelayMs, maxCrashes);
    const logLimit = options.logLimit;
    if (logLimit !== undefined) {
      if (!(Number.isInteger(logLimit) && logLimit >= 0)) throw new RangeError(`SimDevice: logLimit must be an integer >= 0, got ${logLimit}`);
      this.logLimit = logLimit;
    }
  }

  /** The crashes since the last cold boot, oldest first (created with the first). */
  get crashes(): CrashRecord[] {
    return (this.#crashes ??= []);
  }

  /** The device events, oldest first, up to eventLimit (created with the first). */
  get events(): DeviceEvent[] {
    const events = this.#events;
    if (Array.isArray(events)) return events;
    return (this.#events = events ? [events] : []);
  }

  /** The log lines, newest last, up to logLimit (created with the first). */
  get logs(): string[] {
    return (this.#logs ??= []);
  }

  get state(): DeviceState {
    return this.#state;
  }

  /** The Platform of the running incarnation (undefined while asleep or off). */
  get platform(): SimPlatform | undefined {
    return this.#state === "awake" ? this.#platform : undefined;
  }

  /** The app instance the entry function returned in the running incarnation. */
  get instance(): AppInstance | undefined {
    return this.#state === "awake" ? this.#current?.instance : undefined;
  }

  /** Total time spent awake (running), up to now. */
  get awakeMs(): number {
    return this.#awakeMs + (this.#state === "awake" && this.#current ? this.clock.now() - this.#current.bootAt : 0);
  }

  /** Total time spent in deep sleep, up to now. */
  get asleepMs(): number {
    return this.#asleepMs + (this.#state === "asleep" ? this.clock.now() - this.#sleepStartedAt : 0);
  }

  /** Cold boot: RTC memory is lost, flash power returns, the app starts with cause "power-on". */
  start(): this {
    if (this.#state !== "off" && this.#state !== "halted") throw new Error(`SimDevice: cannot start, device is ${this.#state}`);
    this.rtc.powerOn?.();
    this.flash.powerOn?.();
    if (this.#crashes) this.#crashes.length = 0;
    SimDevice.#boot(this, "power-on");
    return this;
  }

  /**
   * The supply dies now, wherever the app is, even inside its own call (a test's flash that
   * fails mid-write calls this before it throws): the incarnation is torn down at once (none of
   * its callbacks runs again, its sockets are closed, no DISCONNECT goes out) and the device
   * stays "off" until start(), a cold boot (RTC memory lost, flash as it was).
   */
  powerOff(): void {
    if (this.#state === "off") return;
    SimDevice.#shutdown(this);
    this.#state = "off";
    SimDevice.#event(this, { type: "power-loss", message: "power off" });
  }

  /** Pulls the plug and plugs it back in. */
  powerCycle(): this {
    SimDevice.#shutdown(this);
    this.#state = "off";
    return this.start();
  }

  /** Host-driven shutdown: the app instance's stop() runs, then everything is torn down. */
  stop(): void {
    const inc = this.#current;
    if (inc?.alive && inc.instance?.stop) this[INVOKE](inc, inc.instance.stop, inc.instance, []);
    SimDevice.#shutdown(this);
    this.#state = "off";
    SimDevice.#event(this, { type: "stop" });
  }

  /** An external wake-up (GPIO, touch) while in deep sleep: boots now with cause "external". */
  wake(): void {
    if (this.#state !== "asleep") throw new Error(`SimDevice: cannot wake, device is ${this.#state}`);
    SimDevice.#cancelPending(this);
    SimDevice.#wake(this, "external");
  }

  // -- internals -------------------------------------------------------------

  // Internals are static private methods given the instance: a private instance
  // method gives every instance a brand field (8 B; a simulated fleet has a thousand).
  static #event(self: SimDevice, e: Omit<DeviceEvent, "at" | "bootCount">): void {
    // A literal of the event's own fields, not a spread of `e` (V8 gave every spread
    // copy a map of its own, ~190 B) nor properties added one by one (those past the
    // first went to a property array: 72 B an event instead of 56). Every event has
    // at most one of cause, durationMs and message.
    const type = e.type;
    const at = self.clock.now();
    const bootCount = self.boots;
    let event: DeviceEvent;
    if (e.cause !== undefined) event = { type, cause: e.cause, at, bootCount };
    else if (e.durationMs !== undefined) event = { type, durationMs: e.durationMs, at, bootCount };
    else if (e.message !== undefined) event = { type, message: e.message, at, bootCount };
    else event = { type, at, bootCount };
    const events = self.#events;
    // The first alone, the second starts an array as a literal (a push onto an
    // empty array reserves 17 slots, ~150 B).
    if (!(self.eventLimit > 0)) {
      if (events) self.#events = undefined;
    } else if (!events || (Array.isArray(events) && !events.length)) self.#events = event;
    else if (!Array.isArray(events)) self.#events = [events, event];
    else events.push(event);
    const all = self.#events;
    if (Array.isArray(all) && all.length > self.eventLimit) all.splice(0, all.length - self.eventLimit);
    const onEvent = self.#settings.onEvent;
    if (onEvent) {
      try {
        onEvent(event);
      } catch {
        // an observer's bug must not change the device's behaviour
      }
    }
  }

  /** @internal the IO classes the device was given */
  [DEVICE_IO](): DeviceIo {
    return this.#io;
  }

  /** @internal */
  [LOG](inc: Incarnation, message: string): void {
    const limit = this.logLimit;
    const sink = this.#settings.logSink;
    if (!sink && !(limit > 0)) return; // nobody would read the line: do not build it
    const line = `[${this.name} #${inc.bootCount} +${this.clock.now() - inc.bootAt}ms] ${message}`;
    if (limit > 0) {
      const logs = this.#logs;
      if (!logs || !logs.length) this.#logs = [line];
      else {
        logs.push(line);
        if (logs.length > limit) logs.splice(0, logs.length - limit);
      }
    } else if (this.#logs?.length) this.#logs.length = 0;
    if (sink) sink(line);
  }

  static #cancelPending(self: SimDevice): void {
    if (self.#pending !== undefined) self.clock.clearTimer(self.#pending);
    self.#pending = undefined;
  }

  static #later(self: SimDevice, delayMs: number, fn: () => void): void {
    SimDevice.#cancelPending(self);
    self.#pending = self.clock.setTimer(() => {
      self.#pending = undefined;
      fn();
    }, delayMs);
  }

  static #boot(self: SimDevice, cause: WakeCause): void {
    self.boots++;
    const inc = new Incarnation(self, self.boots, self.clock.now());
    self.#current = inc;
    self.#state = "awake";
    const platform = SimDevice.#makePlatform(self, inc, cause);
    self.#platform = platform;
    self.energy?.boot(self.clock.now());
    SimDevice.#event(self, { type: "boot", cause });
    let result: unknown;
    try {
      result = self.#app(platform);
    } catch (error) {
      SimDevice.#fault(self, inc, error);
      return;
    }
    if (!inc.alive || !result || typeof result !== "object") return;
    if (typeof (result as Promise<unknown>).then === "function") {
      // An async entry: its rejection is a crash like any uncaught exception.
      (result as Promise<unknown>).then(undefined, (error) => SimDevice.#fault(self, inc, error));
      return;
    }
    inc.instance = result as AppInstance;
  }

  static #wake(self: SimDevice, cause: WakeCause): void {
    self.#asleepMs += self.clock.now() - self.#sleepStartedAt;
    SimDevice.#boot(self, cause);
  }

  /** Ends an incarnation: no timer of it fires, no IO of it stays open, no callback of it runs. */
  static #teardown(self: SimDevice, inc: Incarnation): void {
    if (!inc.alive) return;
    inc.alive = false;
    for (let t = inc.timers, next; t; t = next) {
      next = t.next;
      t.prev = t.next = undefined;
      self.clock.clearTimer(t.raw);
    }
    inc.timers = undefined;
    const open = inc.resources ?? [];
    inc.resources = undefined;
    for (const r of open) {
      try {
        r.close();
      } catch {
        // closing a broken socket may throw; it is gone either way
      }
    }
    inc.resources = undefined;
    self.#awakeMs += self.clock.now() - inc.bootAt;
  }

  static #shutdown(self: SimDevice): void {
    SimDevice.#cancelPending(self);
    if (self.#current) SimDevice.#teardown(self, self.#current);
    if (self.#state === "asleep") self.#asleepMs += self.clock.now() - self.#sleepStartedAt;
  }

  /** Runs app code at a callback boundary: catches the sleep signal and crashes. */
  /** @internal */
  [INVOKE](inc: Incarnation, fn: (...args: any[]) => unknown, thisArg: unknown, args: unknown[]): unknown {
    if (!inc.alive) return undefined;
    try {
      return fn.apply(thisArg, args);
    } catch (error) {
      SimDevice.#fault(this, inc, error);
      return undefined;
    }
  }

  static #fault(self: SimDevice, inc: Incarnation, error: unknown): void {
    if (error instanceof SleepSignal) return; // deepSleep()/restart() already did the work
    if (!inc.alive) return; // the instance is gone; whatever it still did does not matter
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    if ((error as Error)?.name === "PowerLossError") {
      SimDevice.#teardown(self, inc);
      self.#state = "off";
      SimDevice.#event(self, { type: "power-loss", message });
      return;
    }
    self.crashes.push({ at: self.clock.now(), bootCount: inc.bootCount, error, message });
    self[LOG](inc, `crash: ${message}`);
    SimDevice.#teardown(self, inc);
    SimDevice.#event(self, { type: "crash", message });
    if (self.crashes.length >= self.#settings.maxCrashes) {
      self.#state = "halted";
      SimDevice.#event(self, { type: "halt", message: `${self.crashes.length} crashes` });
      return;
    }
    self.#state = "rebooting";
    SimDevice.#later(self, self.#settings.rebootDelayMs, () => SimDevice.#boot(self, "watchdog"));
  }

  /** @internal */
  [DEEP_SLEEP](inc: Incarnation, durationMs: number): never {
    if (typeof durationMs !== "number" || !(durationMs >= 0) || durationMs === Infinity)
      throw new RangeError(`deepSleep: duration must be a finite number of ms >= 0, got ${durationMs}`);
    if (!inc.alive) throw new SleepSignal("deep-sleep", durationMs);
    SimDevice.#teardown(this, inc);
    this.sleeps++;
    this.#state = "asleep";
    this.#sleepStartedAt = this.clock.now();
    this.energy?.deepSleep(this.#sleepStartedAt);
    SimDevice.#event(this, { type: "sleep", durationMs });
    SimDevice.#later(this, durationMs, () => SimDevice.#wake(this, "deep-sleep"));
    throw new SleepSignal("deep-sleep", durationMs);
  }

  /** @internal */
  [RESTART](inc: Incarnation): never {
    if (!inc.alive) throw new SleepSignal("restart", 0);
    SimDevice.#teardown(this, inc);
    this.restarts++;
    this.#state = "rebooting";
    SimDevice.#event(this, { type: "restart" });
    SimDevice.#later(this, this.#settings.restartDelayMs, () => SimDevice.#boot(this, "restart"));
    throw new SleepSignal("restart", 0);
  }

  /**
   * @internal Light sleep: the app stays; the time to its next timer (or IO callback) passes
   * asleep, with the radio off unless `keepWifi` (the clock jumps: nothing to do but account).
   */
  [LIGHT_SLEEP](inc: Incarnation, durationMs: number, keepWifi: boolean): LightSleepEnd {
    if (typeof durationMs !== "number" || !(durationMs >= 0))
      throw new RangeError(`lightSleep: duration must be a number of ms >= 0, got ${durationMs}`);
    if (inc.alive) this.energy?.lightSleep(this.clock.now(), !!keepWifi);
    return keepWifi ? "kept" : "deferred";
  }

  /** @internal Power.note: the job that runs now, for the energy timeline. */
  [NOTE](inc: Incarnation, what: string): void {
    if (inc.alive) this.energy?.note(this.clock.now(), String(what));
  }

  static #makePlatform(self: SimDevice, inc: Incarnation, cause: WakeCause): SimPlatform {
    return Object.freeze(new BootPlatform(inc, cause));
  }

  /** @internal */
  [DEVICE_CRYPTO](): Crypto {
    return this.#crypto;
  }
}

// Defaults every device reads from the prototype until it has its own value (fields less per device).
// (Only for values most devices never set: one set after construction goes to a property array.)
Object.assign(SimDevice.prototype, { board: undefined, energy: undefined, logLimit: 0, eventLimit: 1000 });

/**
 * The Platform of one boot. What is the device's (name, board, storage, rtc,
 * crypto) and the boot count are prototype getters, not copies: ten own
 * properties per boot were 104 B a device, these five 64.
 */
class BootPlatform implements SimPlatform {
  readonly #inc: Incarnation;
  readonly clock: Clock;
  readonly power: Power;
  readonly io: PlatformIo;
  readonly log: (message: string) => void;
  constructor(inc: Incarnation, cause: WakeCause) {
    this.#inc = inc;
    this.clock = Object.freeze(new BootClock(inc));
    this.power = Object.freeze(new BootPower(inc, cause));
    this.io = Object.freeze(new BootIo(inc));
    this.log = bootLog.bind(inc);
  }
  get name(): string {
    return this.#inc.device.name;
  }
  get board(): unknown {
    return this.#inc.device.board;
  }
  get bootCount(): number {
    return this.#inc.bootCount;
  }
  get storage(): KeyValueStore {
    return this.#inc.device.flash;
  }
  get rtc(): RtcMemory {
    return this.#inc.device.rtc;
  }
  get crypto(): Crypto {
    return this.#inc.device[DEVICE_CRYPTO]();
  }
}

export interface SimPlatformOptions extends Partial<Omit<SimDeviceOptions, "app" | "clock">> {
  clock?: Clock;
  /** The device's address on `network` (default "10.0.0.2"). */
  address?: string;
  network?: SimNetwork;
  bus?: I2cBus;
}

export interface SimPlatformKit {
  platform: SimPlatform;
  device: SimDevice;
  clock: Clock;
  flash: KeyValueStore & { powerOn?(): void };
  rtc: RtcMemory & { powerOn?(): void };
  bus: I2cBus;
  network: SimNetwork;
}

/**
 * A started SimDevice with everything simulated (virtual clock unless one is
 * given, in-memory flash, RTC memory, an I2C bus, a UDP host on a SimNetwork),
 * for tests that just need a Platform. Without `clock`, a new VirtualClock. `platform` is the first boot's; after a
 * sleep or restart use `device.platform`.
 */
export function createSimPlatform(options: SimPlatformOptions = {}): SimPlatformKit {
  const c = options.clock ?? new VirtualClock();
  const network = options.network ?? new SimNetwork({ clock: c, seed: options.seed });
  const bus = options.bus ?? new I2cBus();
  const io: Partial<PlatformIo> = { UDP: network.host(options.address ?? "10.0.0.2").UDP, I2C: bus.I2C, ...options.io };
  let first: SimPlatform | undefined;
  const device = new SimDevice({
    ...options,
    clock: c,
    io,
    app: (platform) => {
      if (!first) first = platform;
    },
  });
  device.start();
  return { platform: first!, device, clock: c, flash: device.flash, rtc: device.rtc, bus, network };
}
