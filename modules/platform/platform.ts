/*
 * Everything a device instance gets from its host, in one object. The app and
 * the tests build their modules from a Platform; the Moddable binding and the
 * desktop simulator each make one.
 */
import type { Clock } from "./clock";
import type { KeyValueStore } from "./storage";
import type { Crypto, Power, RtcMemory } from "./system";
import type { AnalogConstructor, I2cConstructor, TcpConstructor, TlsConstructor, UdpConstructor } from "./io";

export interface PlatformIo {
  TCP: TcpConstructor;
  /** Absent where the host has no TLS. */
  TLS?: TlsConstructor;
  UDP: UdpConstructor;
  I2C: I2cConstructor;
  Analog?: AnalogConstructor;
}

export interface Platform {
  readonly name: string;
  readonly clock: Clock;
  readonly storage: KeyValueStore;
  readonly rtc: RtcMemory;
  readonly power: Power;
  readonly crypto: Crypto;
  readonly io: PlatformIo;
  /** Diagnostic output (the serial console on the device). */
  log(message: string): void;
}
