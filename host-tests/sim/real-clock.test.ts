/*
 * sim/node/real-clock.ts: every timer of a clock waits in one heap behind one
 * host timer. Real time, so the delays are short and the checks are on order
 * and on what fires, not on exact instants.
 */
import { RealClock } from "../../sim/node/real-clock";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("RealClock", () => {
  it("fires timers in deadline order, equal deadlines in the order they were set, none before its delay", async () => {
    const clock = new RealClock();
    const order: string[] = [];
    const start = clock.now();
    const at: number[] = [];
    // Deadlines 100 ms apart: a deadline counts from its setTimer() call, so on a loaded machine
    // (two jest workers on two cores) a stall between these calls must not reorder them; with
    // 10 ms apart, a 10 ms stall before "e" once made its deadline later than "c"'s.
    clock.setTimer(() => order.push("c300"), 300);
    clock.setTimer(() => order.push("a100"), 100);
    clock.setTimer(() => order.push("b100"), 100);
    clock.setTimer(() => (order.push("d0"), at.push(clock.now() - start)), 0);
    clock.setTimer(() => (order.push("e200"), at.push(clock.now() - start)), 200);
    expect(clock.pending).toBe(5);
    await sleep(450);
    expect(order).toEqual(["d0", "a100", "b100", "e200", "c300"]);
    expect(at[1]).toBeGreaterThanOrEqual(199); // now() is whole ms
    expect(clock.pending).toBe(0);
  });

  it("a timer's deadline is a whole millisecond, never before its delay has elapsed", async () => {
    const clock = new RealClock();
    const before = performance.now();
    const handle = clock.setTimer(() => undefined, 7.25) as unknown as { at: number };
    expect(Number.isInteger(handle.at)).toBe(true);
    expect(handle.at).toBeGreaterThanOrEqual(before + 7.25);
    let firedAt = 0;
    clock.setTimer(() => (firedAt = performance.now()), 3);
    await sleep(40);
    expect(firedAt).toBeGreaterThanOrEqual(before + 3);
    clock.clearAll();
  });

  it("clearTimer cancels one timer (the earliest too); a cleared or fired handle and a foreign one are ignored", async () => {
    const clock = new RealClock();
    const other = new RealClock();
    const fired: string[] = [];
    const a = clock.setTimer(() => fired.push("a"), 5);
    const b = clock.setTimer(() => fired.push("b"), 15);
    const c = clock.setTimer(() => fired.push("c"), 10);
    const foreign = other.setTimer(() => fired.push("foreign"), 5);
    clock.clearTimer(a);
    clock.clearTimer(a);
    clock.clearTimer(foreign);
    clock.clearTimer(undefined);
    clock.clearTimer({});
    expect(clock.pending).toBe(2);
    await sleep(40);
    expect(fired.sort()).toEqual(["b", "c", "foreign"]);
    clock.clearTimer(c);
    expect(clock.pending).toBe(0);
    void b;
  });

  it("a timer set from a callback with delay 0 runs in a later turn, not in the same run", async () => {
    const clock = new RealClock();
    const log: string[] = [];
    clock.setTimer(() => {
      log.push("first");
      clock.setTimer(() => log.push("inner"), 0);
      log.push("first done");
    }, 1);
    clock.setTimer(() => log.push("second"), 1);
    await sleep(30);
    expect(log).toEqual(["first", "first done", "second", "inner"]);
  });

  it("onError gets a callback's exception and the other due timers still run", async () => {
    const errors: unknown[] = [];
    const clock = new RealClock({ onError: (e) => errors.push(e) });
    const ran: number[] = [];
    clock.setTimer(() => {
      throw new Error("boom");
    }, 2);
    clock.setTimer(() => ran.push(2), 2);
    await sleep(30);
    expect((errors[0] as Error).message).toBe("boom");
    expect(ran).toEqual([2]);
  });

  it("clearAll cancels everything; setTimer refuses a non-function", async () => {
    const clock = new RealClock({ unref: true });
    let n = 0;
    for (let i = 0; i < 50; i++) clock.setTimer(() => n++, i % 7);
    clock.clearAll();
    expect(clock.pending).toBe(0);
    await sleep(20);
    expect(n).toBe(0);
    expect(() => clock.setTimer("x" as never, 1)).toThrow(TypeError);
  });

  // Deadlines are whole milliseconds rounded up (a fractional one was a heap number per
  // timer): two timers due within the same millisecond fire in the order they were set.
  it("a thousand timers with random delays fire sorted by deadline (to the millisecond)", async () => {
    const clock = new RealClock();
    const seen: number[] = [];
    let x = 12345;
    const handles = [];
    for (let i = 0; i < 1000; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      const d = x % 40;
      const due = performance.now() + d; // within a fraction of a ms of the clock's own deadline
      handles.push(clock.setTimer(() => seen.push(due), d));
    }
    for (let i = 0; i < 1000; i += 3) clock.clearTimer(handles[i]);
    expect(clock.pending).toBe(666);
    await sleep(120);
    expect(seen).toHaveLength(666);
    let unsorted = 0;
    for (let i = 1; i < seen.length; i++) if (seen[i] < seen[i - 1] - 1) unsorted++;
    expect(unsorted).toBe(0);
  });
});
