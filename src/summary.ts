/**
 * Counting results: for callers who want totals rather than the stream, and for the CLI's
 * progress line and summary.
 *
 * @module
 */

import type { DownloadResult, FailureReason } from "./types.ts";

/**
 * The totals of a run, from {@linkcode summarize} or {@linkcode Tally.summary}.
 *
 * @example
 * ```ts
 * import { summarize, type Summary } from "./summary.ts";
 * import assert from "node:assert/strict";
 *
 * const summary: Summary = await summarize([
 *   { url: "http://a/1.png", ok: true, path: "1.png", bytes: 10, attempts: 1, ms: 1 },
 *   { url: "http://a/0.png", ok: true, bytes: 10, attempts: 0, ms: 0, skipped: "journal" },
 *   { url: "http://a/2.png", ok: false, bytes: 0, reason: "timeout", attempts: 4, ms: 9 },
 * ]);
 * assert.deepEqual(
 *   [summary.total, summary.saved, summary.skipped, summary.failed, summary.bytes],
 *   [3, 1, 1, 1, 10],
 * );
 * assert.deepEqual(summary.failures, { timeout: 1 });
 * ```
 */
export interface Summary {
  /** Results seen. */
  total: number;
  /** URLs whose file was fetched and saved in this run. */
  saved: number;
  /** URLs not fetched because they were already saved (duplicates, or by an earlier run). */
  skipped: number;
  /** URLs that failed. */
  failed: number;
  /** Bytes saved in this run. */
  bytes: number;
  /** Milliseconds from the start of counting to the last result. */
  ms: number;
  /** Saved files per second. */
  filesPerSecond: number;
  /** Failures counted by reason. */
  failures: Partial<Record<FailureReason, number>>;
}

/**
 * Adds up results as they come.
 *
 * @example
 * ```ts
 * import { Tally } from "./summary.ts";
 * import assert from "node:assert/strict";
 *
 * const tally = new Tally();
 * tally.add({ url: "http://a/1.png", ok: true, path: "1.png", bytes: 10, attempts: 1, ms: 1 });
 * tally.add({ url: "http://a/2.png", ok: false, bytes: 0, reason: "http", status: 404, attempts: 1, ms: 1 });
 * const summary = tally.summary();
 * assert.equal(summary.saved, 1);
 * assert.equal(summary.failures.http, 1);
 * ```
 */
export class Tally {
  #start = performance.now();
  #end = this.#start;
  #summary: Summary = {
    total: 0,
    saved: 0,
    skipped: 0,
    failed: 0,
    bytes: 0,
    ms: 0,
    filesPerSecond: 0,
    failures: {},
  };

  /**
   * Counts one result.
   *
   * @param result The result.
   */
  add(result: DownloadResult): void {
    const s = this.#summary;
    s.total++;
    if (!result.ok) {
      s.failed++;
      const reason = result.reason ?? "network";
      s.failures[reason] = (s.failures[reason] ?? 0) + 1;
    } else if (result.skipped) {
      s.skipped++;
    } else {
      s.saved++;
      s.bytes += result.bytes;
    }
    this.#end = performance.now();
  }

  /**
   * The totals so far.
   *
   * @param now Count the time up to now rather than up to the last result.
   * @returns A copy of the totals.
   */
  summary(now = false): Summary {
    const ms = (now ? performance.now() : this.#end) - this.#start;
    return {
      ...this.#summary,
      failures: { ...this.#summary.failures },
      ms,
      filesPerSecond: ms > 0 ? this.#summary.saved / (ms / 1000) : 0,
    };
  }
}

/**
 * Consumes a stream of results and returns the totals.
 *
 * @param results Usually `download(…)`.
 * @returns The totals, once the stream ends.
 *
 * @example
 * ```ts
 * import { summarize } from "./summary.ts";
 * import assert from "node:assert/strict";
 *
 * const summary = await summarize([
 *   { url: "http://a/1.png", ok: true, path: "1.png", bytes: 10, attempts: 1, ms: 1 },
 * ]);
 * assert.equal(summary.bytes, 10);
 * ```
 */
export async function summarize(
  results: AsyncIterable<DownloadResult> | Iterable<DownloadResult>,
): Promise<Summary> {
  const tally = new Tally();
  for await (const result of results) tally.add(result);
  return tally.summary();
}
