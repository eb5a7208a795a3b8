/**
 * Reducing a tool's timed, verified runs over one data set to the numbers of a table row.
 *
 * @module
 */

/** One timed run of a tool over a whole data set. */
export interface Run {
  /** Wall-clock seconds. */
  wall: number;
  /** CPU seconds, user plus system, of the tool and the processes it waited for. */
  cpu: number;
  /** Peak resident set size in KiB (of the largest single process). */
  maxRssKb: number;
  /** Every expected file was there with the expected bytes, and the tool exited with 0. */
  verified: boolean;
  /** Why the run was not verified. */
  problem?: string;
}

/** A tool's runs over one data set, reduced to the numbers of the table. */
export interface ToolStats {
  /** The tool's name as shown. */
  tool: string;
  /** Files in the data set. */
  files: number;
  /** Median wall seconds of the verified runs, when there is one. */
  wall?: number;
  /** Median CPU seconds of the verified runs. */
  cpu?: number;
  /** The largest peak RSS of the verified runs, in MB (10^6 bytes). */
  rssMb?: number;
  /** Files divided by the median wall seconds. */
  filesPerSecond?: number;
  /** How many runs were verified. */
  verified: number;
  /** How many runs there were. */
  runs: number;
  /** The first problem of a run that failed, when one did. */
  problem?: string;
}

/** The median of some numbers (the mean of the middle two for an even count). */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Reduces a tool's runs to medians (wall, CPU) and a maximum (peak RSS), counting only verified
 * runs: a run that failed verification is never timed, only reported.
 *
 * @param tool The tool's name.
 * @param files How many files each run had to save.
 * @param runs The runs.
 * @returns The tool's row; without times when no run was verified.
 * @throws {RangeError} When `files` is not a positive integer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Run, summarizeRuns, type ToolStats } from "./stats.ts";
 *
 * const runs: Run[] = [
 *   { wall: 2, cpu: 1, maxRssKb: 5000, verified: true },
 *   { wall: 4, cpu: 3, maxRssKb: 6000, verified: true },
 *   { wall: 1, cpu: 1, maxRssKb: 9000, verified: false, problem: "3 missing" },
 * ];
 * const stats: ToolStats = summarizeRuns("wget2", 100, runs);
 * assert.equal(stats.wall, 3);
 * assert.equal(stats.cpu, 2);
 * assert.equal(stats.filesPerSecond, 100 / 3);
 * assert.equal(stats.rssMb, 6.144);
 * assert.equal(stats.verified, 2);
 * assert.equal(stats.runs, 3);
 * assert.equal(stats.problem, "3 missing");
 * assert.equal(summarizeRuns("none", 1, [runs[2]]).wall, undefined);
 * ```
 */
export function summarizeRuns(tool: string, files: number, runs: readonly Run[]): ToolStats {
  if (!Number.isSafeInteger(files) || files < 1) {
    throw new RangeError("Cannot summarize runs: 'files' must be a positive integer");
  }
  const good = runs.filter((run) => run.verified);
  const stats: ToolStats = { tool, files, verified: good.length, runs: runs.length };
  const problem = runs.find((run) => !run.verified)?.problem;
  if (problem !== undefined) stats.problem = problem;
  if (good.length > 0) {
    stats.wall = median(good.map((run) => run.wall));
    stats.cpu = median(good.map((run) => run.cpu));
    stats.rssMb = Math.max(...good.map((run) => run.maxRssKb)) * 1024 / 1e6;
    stats.filesPerSecond = stats.wall > 0 ? files / stats.wall : Infinity;
  }
  return stats;
}
