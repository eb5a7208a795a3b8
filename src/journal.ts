/**
 * The journal: one JSON line per finished URL in `OUT/.downpour-journal.jsonl`, so that a re-run
 * skips what is already saved and `--retry-failed` can fetch only what failed.
 *
 * It is append-only and written only after a file has been renamed into place, so a crash at
 * any moment leaves it consistent: at worst a file is saved but not yet journaled, and the next
 * run fetches it again. A torn last line is ignored.
 *
 * @module
 */

import { readLines } from "./input/lines.ts";
import { stableHash } from "./hash.ts";
import type { DownloadResult } from "./types.ts";

/**
 * The journal's file name inside the output directory.
 *
 * @example
 * ```ts
 * import { Journal, JOURNAL_NAME } from "./journal.ts";
 * import assert from "node:assert/strict";
 *
 * const out = await Deno.makeTempDir();
 * try {
 *   await (await Journal.open(out)).close();
 *   assert.ok((await Deno.stat(`${out}/${JOURNAL_NAME}`)).isFile);
 * } finally {
 *   await Deno.remove(out, { recursive: true });
 * }
 * ```
 */
export const JOURNAL_NAME = ".downpour-journal.jsonl";

/**
 * One line of the journal.
 *
 * @example The failures an earlier run recorded
 * ```ts
 * import { Journal, type JournalEntry } from "./journal.ts";
 * import assert from "node:assert/strict";
 *
 * const out = await Deno.makeTempDir();
 * try {
 *   const journal = await Journal.open(out);
 *   const failure = { url: "http://a/x.png", ok: false, bytes: 0, attempts: 1, ms: 1 };
 *   journal.record({ ...failure, status: 404, reason: "http" });
 *   await journal.close();
 *   const again = await Journal.open(out);
 *   const [entry]: JournalEntry[] = again.failures();
 *   await again.close();
 *   assert.equal(entry?.url, "http://a/x.png");
 *   assert.equal(entry?.status, 404);
 * } finally {
 *   await Deno.remove(out, { recursive: true });
 * }
 * ```
 */
export interface JournalEntry {
  /** The URL as given. */
  url: string;
  ok: boolean;
  /** Relative to the output directory, when `ok`. */
  path?: string;
  bytes?: number;
  sha256?: string;
  etag?: string;
  status?: number;
  reason?: string;
  error?: string;
  /** When it finished, as an ISO date (to the second). */
  at: string;
}

function key(url: string, path: string): string {
  return stableHash(`${url}\0${path}`);
}

/**
 * Reads and appends to the journal of one output directory.
 *
 * @example
 * ```ts
 * import { Journal } from "./journal.ts";
 * import assert from "node:assert/strict";
 *
 * const out = await Deno.makeTempDir();
 * const journal = await Journal.open(out);
 * journal.record({ url: "http://a/x.png", ok: true, path: "x.png", bytes: 3, attempts: 1, ms: 1 });
 * await journal.close();
 * const again = await Journal.open(out);
 * assert.equal(again.saved("http://a/x.png", "x.png"), 3);
 * await again.close();
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export class Journal {
  #file: Deno.FsFile;
  #saved: Map<string, number>;
  #failed: Map<string, JournalEntry>;
  #lines: string[] = [];
  #writing: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #error: Error | undefined;
  #encoder = new TextEncoder();
  /** The time of the entries, to the second, computed at most once a second. */
  #at = "";
  #clock = 0;

  private constructor(
    file: Deno.FsFile,
    saved: Map<string, number>,
    failed: Map<string, JournalEntry>,
  ) {
    this.#file = file;
    this.#saved = saved;
    this.#failed = failed;
  }

  /**
   * Opens (creating if needed) the journal of `out` and reads what earlier runs recorded.
   *
   * @param out The output directory, which must exist.
   * @returns The journal, ready to record.
   */
  static async open(out: string): Promise<Journal> {
    const path = `${out}/${JOURNAL_NAME}`;
    const saved = new Map<string, number>();
    const failed = new Map<string, JournalEntry>();
    let existing: Deno.FsFile | undefined;
    try {
      existing = await Deno.open(path, { read: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    let torn = false;
    if (existing) {
      for await (const { text } of readLines(existing.readable)) {
        if (text === "") continue;
        let entry: JournalEntry;
        try {
          entry = JSON.parse(text);
        } catch {
          torn = true; // a line cut by a crash; the next run simply fetches that URL again
          continue;
        }
        torn = false;
        if (typeof entry?.url !== "string") continue;
        if (entry.ok && typeof entry.path === "string") {
          saved.set(key(entry.url, entry.path), entry.bytes ?? 0);
          failed.delete(entry.url);
        } else if (!entry.ok) {
          failed.set(entry.url, entry);
        }
      }
    }
    const file = await Deno.open(path, { append: true, create: true });
    // After a crash mid-line, start on a fresh line.
    if (torn) await file.write(new Uint8Array([0x0a]));
    return new Journal(file, saved, failed);
  }

  /**
   * The size recorded for a URL saved under `path` by an earlier run, if it was.
   *
   * @param url The URL as given.
   * @param path The path it is saved under, relative to the output directory.
   * @returns The size in bytes, or `undefined`.
   */
  saved(url: string, path: string): number | undefined {
    return this.#saved.get(key(url, path));
  }

  /**
   * The URLs whose last outcome in the journal was a failure, for `--retry-failed`.
   *
   * @returns The failed entries, in the order they were recorded.
   */
  failures(): JournalEntry[] {
    return [...this.#failed.values()];
  }

  /**
   * Queues one result; lines are written in batches, at most one write every 50 ms.
   *
   * @param result The result, with the ETag when the worker saw one.
   */
  record(result: DownloadResult & { etag?: string }): void {
    if (result.skipped) return;
    const now = Date.now();
    if (now - this.#clock >= 1000) {
      this.#clock = now;
      this.#at = new Date(now).toISOString();
    }
    const entry: JournalEntry = { url: result.url, ok: result.ok, at: this.#at };
    if (result.path !== undefined) entry.path = result.path;
    if (result.ok) entry.bytes = result.bytes;
    if (result.sha256) entry.sha256 = result.sha256;
    if (result.etag) entry.etag = result.etag;
    if (result.status !== undefined) entry.status = result.status;
    if (result.reason) entry.reason = result.reason;
    if (result.error) entry.error = result.error;
    if (this.#lines.push(JSON.stringify(entry)) === 1 && this.#timer === undefined) {
      // Lines are gathered for a moment and written together: one write, not one per file.
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#writing = this.#writing.then(() => this.#flush());
      }, 50);
    }
  }

  async #flush(): Promise<void> {
    if (this.#lines.length === 0 || this.#error) return;
    const bytes = this.#encoder.encode(this.#lines.join("\n") + "\n");
    this.#lines = [];
    try {
      let at = 0;
      while (at < bytes.length) at += await this.#file.write(bytes.subarray(at));
    } catch (error) {
      this.#error = error as Error;
    }
  }

  /**
   * Writes what is queued and closes the file.
   *
   * @throws The first write error, if any (for example, a full disk).
   */
  async close(): Promise<void> {
    // What is gathered is written now, not when the timer would have fired.
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#writing;
    await this.#flush();
    this.#file.close();
    if (this.#error) throw this.#error;
  }
}
