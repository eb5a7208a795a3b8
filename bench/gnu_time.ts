/**
 * Reading what GNU time (`/usr/bin/time -f '%e %U %S %M'`) reports about a command.
 *
 * @module
 */

/** The format string to give GNU time's `-f` for {@linkcode parseGnuTime}. */
export const GNU_TIME_FORMAT = "%e %U %S %M";

/** What GNU time measured for one command, with its descendants that it waited for. */
export interface GnuTime {
  /** Elapsed wall-clock time, in seconds. */
  wall: number;
  /** CPU time in user mode, in seconds. */
  user: number;
  /** CPU time in the kernel, in seconds. */
  sys: number;
  /** The largest resident set size of the command or any one descendant, in KiB. */
  maxRssKb: number;
  /** The command's exit status, when GNU time reported a non-zero one; otherwise 0. */
  exitCode: number;
}

/**
 * Parses GNU time's report, written with `-f '%e %U %S %M'` (and usually `-o FILE`): the last
 * line with four numbers is the measurement, and a "Command exited with non-zero status N" or
 * "Command terminated by signal N" line before it gives the exit status.
 *
 * @param text What GNU time wrote.
 * @returns The measurement.
 * @throws {TypeError} When no line holds the four numbers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GNU_TIME_FORMAT, type GnuTime, parseGnuTime } from "./gnu_time.ts";
 *
 * assert.equal(GNU_TIME_FORMAT, "%e %U %S %M"); // for: /usr/bin/time -f FORMAT -o FILE cmd
 * const time: GnuTime = parseGnuTime("1.50 0.72 0.31 10240\n");
 * assert.deepEqual(time, {
 *   wall: 1.5,
 *   user: 0.72,
 *   sys: 0.31,
 *   maxRssKb: 10240,
 *   exitCode: 0,
 * });
 * const failed = parseGnuTime("Command exited with non-zero status 8\n0.10 0.01 0.00 3000\n");
 * assert.equal(failed.exitCode, 8);
 * assert.throws(() => parseGnuTime("garbage"), TypeError);
 * ```
 */
export function parseGnuTime(text: string): GnuTime {
  let exitCode = 0;
  let found: GnuTime | undefined;
  for (const line of text.split("\n")) {
    const status = /Command exited with non-zero status (\d+)/.exec(line);
    if (status) exitCode = Number(status[1]);
    const signal = /Command terminated by signal (\d+)/.exec(line);
    if (signal) exitCode = 128 + Number(signal[1]);
    const m = /^\s*(\d+(?:\.\d+)?) (\d+(?:\.\d+)?) (\d+(?:\.\d+)?) (\d+)\s*$/.exec(line);
    if (m) {
      found = {
        wall: Number(m[1]),
        user: Number(m[2]),
        sys: Number(m[3]),
        maxRssKb: Number(m[4]),
        exitCode: 0,
      };
    }
  }
  if (!found) {
    throw new TypeError(`Cannot read GNU time's report: no '%e %U %S %M' line in '${text}'`);
  }
  found.exitCode = exitCode;
  return found;
}
