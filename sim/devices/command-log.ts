/*
 * The list of commands a simulated chip received, kept for tests to inspect,
 * bounded so that a chip polled for hours (or a fleet of them) does not grow
 * without end. Portable (no Node API).
 */

/** Commands a chip keeps unless told otherwise. */
export const DEFAULT_COMMAND_LOG_LIMIT = 256;

/** Validates a `commandLogLimit` option (an integer >= 0; 0 keeps none). */
export function commandLogLimit(limit: number | undefined, chip: string): number {
  const n = limit ?? DEFAULT_COMMAND_LOG_LIMIT;
  if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`${chip}: commandLogLimit must be an integer >= 0, got ${limit}`);
  return n;
}

/** Appends `command` to `list`, dropping the oldest entries past `limit`. */
export function logCommand(list: number[], command: number, limit: number): void {
  if (limit <= 0) {
    if (list.length) list.length = 0;
    return;
  }
  list.push(command);
  if (list.length > limit) list.splice(0, list.length - limit);
}
