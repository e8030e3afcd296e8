/*
 * Pieces shared by the simulator's IO classes (portable: no Node API).
 */
import type { ByteBuffer, UdpPacket } from "../modules/platform/io";

/** A Uint8Array over an ECMA-419 Byte Buffer (no copy); TypeError otherwise. */
export function toUint8Array(data: ByteBuffer, what: string): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(`${what}: data must be an ArrayBuffer or a view on one`);
}

/**
 * ECMA-419 §10 UDP `read(buffer)`: copies the oldest datagram of `queue` into
 * `buffer`, attaches the sender's `address` and `port` to it and returns the
 * byte count; undefined when none waits. A buffer too small for the datagram
 * throws and leaves the datagram queued.
 */
export function readDatagramInto(queue: UdpPacket[], buffer: ByteBuffer): number | undefined {
  const target = toUint8Array(buffer, "UDP read");
  const head = queue[0];
  if (!head) return undefined;
  if (head.byteLength > target.length)
    throw new RangeError(`UDP read: buffer of ${target.length} bytes is too small for a ${head.byteLength}-byte datagram`);
  queue.shift();
  target.set(new Uint8Array(head));
  const b = buffer as unknown as { address: string; port: number };
  b.address = head.address;
  b.port = head.port;
  return head.byteLength;
}
