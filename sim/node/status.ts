/*
 * The live status line of `xs-iot sim`: on a terminal one line rewritten in
 * place (other output is printed above it), otherwise a plain line every
 * `everyMs`. Node-only.
 */
export interface StatusCounts {
  devices: number;
  online: number;
  readings: number;
  sent: number;
  acked: number;
  failed: number;
  reconnects: number;
  state: string;
  /** Readings in the outbox that no connection has written yet. */
  queued?: number;
  /** Readings in the devices' buffers: not handed to the network yet, or kept after an unanswered CoAP CON. */
  buffered?: number;
  /** Readings thinned out (or dropped) because telemetry could not go out as fast as they came. */
  thinned?: number;
  /** Failed MQTT connection attempts since the last connection. */
  failedAttempts?: number;
  /** One device: ms until its next connection attempt, while it waits for one. */
  nextAttemptInMs?: number;
  /** Devices whose MQTT client gave up. */
  gaveUp?: number;
}

export function formatStatus(c: StatusCounts): string {
  const who = c.devices === 1 ? c.state : `${c.online}/${c.devices} online`;
  let s = `[${who}] readings ${c.readings}` + (c.queued ? `, queued ${c.queued}` : "") + (c.buffered ? `, waiting ${c.buffered}` : "") + `, sent ${c.sent}, acknowledged ${c.acked}` + (c.failed ? `, failed ${c.failed}` : "");
  if (c.thinned) s += `, thinned ${c.thinned} (telemetry slower than readings)`;
  s += `, reconnects ${c.reconnects}`;
  if (c.gaveUp) s += `; gave up connecting${c.devices === 1 ? "" : ` (${c.gaveUp} device(s))`}`;
  else if (c.failedAttempts) s += `; ${c.failedAttempts} failed connection attempt(s)` + (c.nextAttemptInMs !== undefined ? `, next in ${(c.nextAttemptInMs / 1000).toFixed(1)} s` : "");
  if (c.readings === 0 && c.devices === 1 && !c.gaveUp) s += "; waiting for the first reading";
  return s;
}

export class StatusLine {
  #tty: boolean;
  #write: (s: string) => void;
  #shown = false;
  #last = "";
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly counts: () => StatusCounts,
    options: { tty: boolean; write: (s: string) => void; everyMs?: number },
  ) {
    this.#tty = options.tty;
    this.#write = options.write;
    const every = options.tty ? 250 : (options.everyMs ?? 10_000);
    this.#timer = setInterval(() => this.update(!this.#tty), every);
    this.#timer.unref();
  }

  /** Prints a line of other output, keeping the status line below it. */
  print(line: string): void {
    if (this.#tty && this.#shown) this.#write("\r\x1b[K");
    this.#write(line + "\n");
    if (this.#tty && this.#shown) this.#write(this.#last);
  }

  /** Redraws (TTY) or prints (force) the status. */
  update(force = false): void {
    const s = formatStatus(this.counts());
    if (this.#tty) {
      if (s === this.#last && this.#shown) return;
      this.#last = s;
      this.#shown = true;
      this.#write("\r\x1b[K" + s);
    } else if (force) {
      this.#write(s + "\n");
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#tty && this.#shown) this.#write("\n");
    this.#shown = false;
  }
}
