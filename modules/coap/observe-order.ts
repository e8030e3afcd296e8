/*
 * The client side of Observe (RFC 7641 §3.4): which notification is the freshest. Used by
 * CoapUriClient's observe(), hosts and tests: the firmware observes nothing, so the manifest
 * leaves this file out (issue 17).
 */

/**
 * RFC 7641 §3.4: is the notification (v2, received at t2 ms) newer than the
 * one (v1, t1)? 24-bit serial number arithmetic, or more than 128 s later.
 */
export function observeIsNewer(v1: number, t1: number, v2: number, t2: number): boolean {
  const half = 1 << 23;
  return (v1 < v2 && v2 - v1 < half) || (v1 > v2 && v1 - v2 > half) || t2 > t1 + 128000;
}

/**
 * The client side of RFC 7641 §3.4: a notification is fresher than the last
 * one taken when its Observe value is greater in 24-bit serial arithmetic, or
 * when more than 128 seconds have passed since the last one was received.
 */
export class NotificationOrder {
  private _v = -1;
  private _t = 0;

  /** Takes the notification (returns true) when it is newer than the last one taken. */
  accept(observe: number, now: number): boolean {
    if (this._v >= 0 && !observeIsNewer(this._v, this._t, observe, now)) return false;
    this._v = observe;
    this._t = now;
    return true;
  }

  /** Forget the last value (a re-registration starts a fresh sequence). */
  reset(): void {
    this._v = -1;
  }

  get last(): number {
    return this._v;
  }
}
