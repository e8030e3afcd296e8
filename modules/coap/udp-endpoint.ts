/*
 * The binding between the sans-IO CoapEndpoint and an ECMA-419 UDP socket
 * (ECMA-419 §10 "UDP socket"): the socket constructor is injected
 * (`{socket: {io: UDP, port}}`), datagrams read in onReadable go to
 * endpoint.receive(), endpoint output goes to socket.write(). Time comes from
 * the scheduler the caller hands in; nothing here arms a timer.
 */
import type { UdpConstructor, UdpSocket } from "../platform/io";
import { CoapEndpoint, type CoapEndpointOptions } from "./messaging";

export interface CoapSocketOptions {
  /** The ECMA-419 UDP constructor (the host's, the simulator's, or sim/udp-network's). */
  io: UdpConstructor;
  /** Local port (0 or absent: any free port). */
  port?: number;
  /** Local address to bind. */
  address?: string;
  /** Extra constructor options for host extensions (e.g. receiveQueue). */
  [extra: string]: unknown;
}

export type UdpEndpointOptions = Omit<CoapEndpointOptions, "send"> & { socket: CoapSocketOptions };

export interface UdpEndpoint {
  endpoint: CoapEndpoint;
  socket: UdpSocket;
  /** Closes the endpoint (pending exchanges fail with "closed") and the socket. */
  close(): void;
}

/** Opens a UDP socket and a CoapEndpoint on it. Throws (and opens nothing) on bad options. */
export function openUdpEndpoint(options: UdpEndpointOptions): UdpEndpoint {
  const socket = options && options.socket;
  if (!socket || typeof socket.io !== "function") throw new TypeError("coap: socket.io");
  const onError = options.onError;
  // The endpoint first, so that bad options throw before a socket is open; its options are the
  // caller's (their socket is not read) with send, which writes to the socket opened next.
  let s: UdpSocket;
  const endpoint = new CoapEndpoint(Object.assign({}, options, { send: (bytes: Uint8Array, address: string, port: number) => s.write(bytes, address, port) }));
  // the socket's options without io (Object.assign and delete: a rest or a spread costs XS bytecode)
  const udpOptions = Object.assign({}, socket, {
    onReadable(this: UdpSocket) {
      // ECMA-419 §10: read whole datagrams until none is left (endpoint.receive never throws).
      try {
        for (let packet; (packet = this.read()); ) endpoint.receive(packet, packet.address, packet.port);
      } catch (error) {
        if (onError) onError(error);
      }
    },
    onError(error?: Error) {
      if (onError) onError(error ?? new Error("coap: UDP socket error"));
    },
  }) as Partial<CoapSocketOptions>;
  delete udpOptions.io;
  s = new socket.io(udpOptions as never);
  return {
    endpoint,
    socket: s,
    close() {
      endpoint.close();
      s.close();
    },
  };
}
