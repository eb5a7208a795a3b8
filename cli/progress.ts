/**
 * The CLI's live progress line (on a terminal only) and its one-line summary.
 *
 * @module
 */

import { formatBytes } from "../src/format.ts";
import type { Summary, Tally } from "../src/summary.ts";

/**
 * Digits grouped by thousands with commas, as `Intl.NumberFormat("en-US")` would, but without
 * loading ICU's locale data, which costs about 20 ms at start-up.
 */
const number = {
  format(n: number): string {
    const [whole, fraction] = String(Math.abs(n)).split(".");
    const grouped = whole!.replace(/\B(?=(\d{3})+$)/g, ",");
    return `${n < 0 ? "-" : ""}${grouped}${fraction === undefined ? "" : `.${fraction}`}`;
  },
};

function duration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : `${m} min ${s % 60} s`;
}

/**
 * Redraws one status line on a terminal, a few times a second.
 *
 * @example
 * ```ts
 * import { Progress } from "./progress.ts";
 * import assert from "node:assert/strict";
 *
 * const line = Progress.line({
 *   total: 3, saved: 2, skipped: 0, failed: 1, bytes: 2_000_000, ms: 1000,
 *   filesPerSecond: 2, failures: { http: 1 },
 * });
 * assert.match(line, /2 saved \(2\.0 MB\), 1 failed/);
 * assert.match(line, /http ×1/);
 * ```
 */
export class Progress {
  #tally: Tally;
  #write: (text: string) => void;
  #timer: ReturnType<typeof setInterval> | undefined;
  #drawn = false;
  /** The number of URLs expected, when known. */
  total: number | undefined;

  /**
   * @param tally Where the counts come from.
   * @param write Writes text to the terminal.
   */
  constructor(tally: Tally, write: (text: string) => void) {
    this.#tally = tally;
    this.#write = write;
  }

  /**
   * The one-line summary of a run.
   *
   * @param s The totals.
   * @returns A line without a newline.
   */
  static line(s: Summary): string {
    let line = `${number.format(s.saved)} saved (${formatBytes(s.bytes, 1000)})`;
    if (s.skipped) line += `, ${number.format(s.skipped)} already there`;
    line += `, ${number.format(s.failed)} failed in ${duration(s.ms)}`;
    const seconds = s.ms / 1000;
    if (seconds > 0) {
      line += `: ${number.format(Math.round(s.filesPerSecond))} files/s, ${
        formatBytes(s.bytes / seconds, 1000)
      }/s`;
    }
    const reasons = Object.entries(s.failures).map(([reason, n]) => `${reason} ×${n}`);
    if (reasons.length) line += `; failures: ${reasons.join(", ")}`;
    return line;
  }

  /** Starts redrawing. */
  start(): void {
    this.#timer ??= setInterval(() => this.#draw(), 200);
  }

  #draw(): void {
    const s = this.#tally.summary(true);
    const done = s.saved + s.skipped + s.failed;
    const seconds = s.ms / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    let text = this.total
      ? `${number.format(done)}/${number.format(this.total)}`
      : number.format(done);
    text += ` files  ${number.format(Math.round(rate))} files/s  ${
      formatBytes(seconds > 0 ? s.bytes / seconds : 0, 1000)
    }/s`;
    if (s.failed) text += `  ${number.format(s.failed)} failed`;
    if (this.total && rate > 0 && done < this.total) {
      text += `  ETA ${duration(((this.total - done) / rate) * 1000)}`;
    }
    this.#write(`\r\x1b[2K${text}`);
    this.#drawn = true;
  }

  /** Erases the line, so that other output can be written; it is redrawn at the next tick. */
  clear(): void {
    if (this.#drawn) this.#write("\r\x1b[2K");
    this.#drawn = false;
  }

  /** Stops redrawing and erases the line. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.clear();
  }
}
