/*
 * IO interfaces in the shapes of ECMA-419 (3rd edition), clause 8 (Base Class
 * Pattern), clause 9 (IO Class Pattern) and clause 10 (IO classes).
 *
 * Protocol and driver modules receive these constructors through their options
 * (`{socket: {io: TCP}}`, `{sensor: {io: I2C, address}}`) and never import a host
 * module themselves. The Moddable binding (modules/platform/moddable/) hands them
 * the real host classes; the desktop simulator (sim/) hands them its own.
 */

/** ECMA-419 §6 "Byte Buffer": an ArrayBuffer or a view on one. */
export type ByteBuffer = ArrayBuffer | ArrayBufferView;

/** ECMA-419 §9 pin and port specifiers are host-defined. */
export type PinSpecifier = number | string;
export type PortSpecifier = number | string;

/** ECMA-419 §8: options common to every IO instance. */
export interface BaseOptions {
  /** Opaque to the implementation (ECMA-419 §8 "target property"). */
  target?: unknown;
}

// ---------------------------------------------------------------------------
// TCP (ECMA-419 §10 "TCP socket") and TLS (§10 "TLS Client socket")

export interface TcpOptions extends BaseOptions {
  /** IP address of the remote endpoint (ECMA-419). */
  address?: string;
  /** Host name; a host extension resolved by the binding when `address` is absent. */
  host?: string;
  port: number;
  noDelay?: boolean;
  keepAlive?: number;
  /** Invoked with the number of bytes available to read. */
  onReadable?(this: TcpSocket, bytes: number): void;
  /** Invoked first on connect, then whenever output space frees, with the bytes writable. */
  onWritable?(this: TcpSocket, bytes: number): void;
  /** The connection failed or ended; only close() may be called afterwards. */
  onError?(this: TcpSocket, error?: Error): void;
  format?: "buffer";
}

export interface TcpWriteOptions {
  more?: boolean;
  byteLength?: number;
}

export interface TcpSocket {
  /**
   * ECMA-419 §10 TCP read: with no argument, returns the bytes available (or
   * undefined); with a count, up to that many. Never waits.
   */
  read(byteLength?: number): ArrayBuffer | undefined;
  /**
   * Writes all of `data` or nothing: throws when it does not fit in the output
   * buffer (ECMA-419 §9 write). Returns the writable count left.
   */
  write(data: ByteBuffer, options?: TcpWriteOptions): number;
  close(): void;
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  format: string;
  target?: unknown;
}

export interface TcpConstructor {
  new (options: TcpOptions): TcpSocket;
}

/** ECMA-419 §10 TLS Client socket options. Certificates are DER. */
export interface TlsSettings {
  /** Server name for SNI and certificate verification (required by ECMA-419). */
  host: string;
  ca?: ByteBuffer | ByteBuffer[];
  clientKey?: ByteBuffer | ByteBuffer[];
  clientCertificate?: ByteBuffer | ByteBuffer[];
  minimumVersion?: "TLSv1.2" | "TLSv1.3";
  maximumVersion?: "TLSv1.2" | "TLSv1.3";
  applicationLayerProtocol?: string | string[];
  /**
   * Host extension: verification is on unless this is explicitly false. Only
   * for tests against self-signed peers; the default is always to verify.
   */
  verify?: boolean;
}

export interface TlsOptions extends TcpOptions {
  tls: TlsSettings;
}

export interface TlsConstructor {
  new (options: TlsOptions): TcpSocket;
}

// ---------------------------------------------------------------------------
// UDP (ECMA-419 §10 "UDP socket")

/** A received datagram: the buffer carries the sender's address and port. */
export type UdpPacket = ArrayBuffer & { address: string; port: number };

export interface UdpOptions extends BaseOptions {
  /** Local port to bind; 0 or absent picks a free one. */
  port?: number;
  /** Local interface address to bind. */
  address?: string;
  /** Invoked with the number of datagrams waiting to be read. */
  onReadable?(this: UdpSocket, packets: number): void;
  onError?(this: UdpSocket, error?: Error): void;
}

export interface UdpSocket {
  /** Reads one whole datagram, or returns undefined when none is waiting. */
  read(): UdpPacket | undefined;
  write(data: ByteBuffer, address: string, port: number): void;
  close(): void;
  /** Host extension: the bound local port. */
  readonly port?: number;
  format: string;
  target?: unknown;
}

export interface UdpConstructor {
  new (options: UdpOptions): UdpSocket;
}

// ---------------------------------------------------------------------------
// I2C (ECMA-419 §10 "I²C – synchronous IO")

export interface I2cOptions extends BaseOptions {
  data: PinSpecifier;
  clock: PinSpecifier;
  hz: number;
  /** 7-bit peripheral address. */
  address: number;
  port?: PortSpecifier;
  onError?(this: I2cDevice, error?: Error): void;
}

export interface I2cDevice {
  /** Reads `byteLength` bytes (a new ArrayBuffer) or fills `buffer` (returns the count). Throws on NACK or timeout. */
  read(byteLength: number, stop?: boolean): ArrayBuffer;
  read(buffer: ByteBuffer, stop?: boolean): number;
  /** Writes all of `data`. Throws on NACK or timeout. */
  write(data: ByteBuffer, stop?: boolean): void;
  close(): void;
  format: string;
  target?: unknown;
}

export interface I2cConstructor {
  new (options: I2cOptions): I2cDevice;
}

// ---------------------------------------------------------------------------
// Analog input (ECMA-419 §10 "Analog input")

export interface AnalogOptions extends BaseOptions {
  pin: PinSpecifier;
  resolution?: number;
}

export interface AnalogInput {
  /** The raw sample, from 0 to 2^resolution - 1. */
  read(): number;
  readonly resolution: number;
  close(): void;
  format: string;
  target?: unknown;
}

export interface AnalogConstructor {
  new (options: AnalogOptions): AnalogInput;
}
