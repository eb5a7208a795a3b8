/**
 * The journal of an output directory, `OUT/.downpour-journal.jsonl`: one JSON line per URL that
 * finished (saved, failed or given up), written by every run, retry and shard into the
 * directory. The directory and its journal are the unit of consistency; each run is only a
 * writer to them. The journal says, for the life of the directory:
 *
 * - which name each URL holds (a name, once given, belongs to one URL: later runs give another
 *   URL that wants it a suffix, see `NameAllocator`);
 * - which URLs are saved, and how large their file is (a re-run skips them while the file is
 *   there with that size);
 * - for each failure, the input entry as given (name, digest, columns), so `--retry-failed`
 *   replays it as it was.
 *
 * Format (v2): a first line `{"downpour-journal":2}`, then records that start with the hash of
 * their name and their outcome, `{"h":"<16 hex>","ok":true,"url":…,"name":…,…}`, so that
 * {@linkcode JournalIndex} indexes millions of them without parsing JSON. v1 journals (lines
 * `{"url":…,"ok":…,"path":…}` with no header) are still read, and later runs append v2 records
 * to them. URLs are written with their password redacted.
 *
 * Crash safety: a record is appended only after its file was renamed into place, so a crash at
 * any moment leaves the journal consistent: at worst a file is saved but not yet journaled, and
 * the next run fetches it again. A cut line is ignored, and every write starts on a new line, so
 * a line cut by one writer never swallows another's record.
 *
 * Concurrent writers (several runs or shards into one directory): the file is opened with
 * O_APPEND and each write() holds whole lines, at most 64 KiB, so records of different writers
 * never interleave on a local file system (Linux serializes writes to one file). On NFS, appends
 * from different clients are not atomic: a record may be lost or cut, which costs a re-fetch,
 * never a file (commits never replace).
 *
 * @module
 */

import { hashHex } from "./hash.ts";
import {
  type HeldName,
  JOURNAL_HEADER,
  type JournalEntry,
  JournalIndex,
  nameHash,
  type RecordedInput,
} from "./journal/index.ts";
import type { DownloadResult } from "./types.ts";

export type { HeldName, JournalEntry, RecordedInput } from "./journal/index.ts";

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

/** The most bytes of one write(): whole lines, so writers' records never interleave. */
const MAX_WRITE = 65536;

/** What the engine knows of a finished URL beyond its result. */
export interface RecordContext {
  /** The file name the URL holds (also when it failed). */
  name: string;
  /** Where its file is (or would be), relative to the output directory. */
  path: string;
  /** The URL's `href`, its password redacted: its identity in the journal. */
  href: string;
  /** The input entry as given, for a failure to be replayed; its URL is redacted here. */
  input?: unknown;
  /** The URL has a password (not written). */
  redacted?: boolean;
  etag?: string;
}

/**
 * Reads and appends to the journal of one output directory.
 *
 * @example
 * ```ts
 * import { Journal } from "./journal.ts";
 * import { nameHash } from "./journal/index.ts";
 * import assert from "node:assert/strict";
 *
 * const out = await Deno.makeTempDir();
 * const journal = await Journal.open(out);
 * journal.record(
 *   { url: "http://a/x.png", ok: true, path: "x.png", bytes: 3, attempts: 1, ms: 1 },
 *   { name: "x.png", path: "x.png", href: "http://a/x.png" },
 * );
 * await journal.close();
 * const again = await Journal.open(out);
 * const held = again.holder("x.png", nameHash("x.png").hi);
 * assert.equal(held?.entry.bytes, 3);
 * assert.equal(held?.entry.url, "http://a/x.png");
 * await again.close();
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export class Journal {
  #file: Deno.FsFile;
  #index: JournalIndex | undefined;
  #lines: string[] = [];
  #writing: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #error: Error | undefined;
  #encoder = new TextEncoder();
  /** The time of the entries, to the second, computed at most once a second. */
  #at = "";
  #clock = 0;

  private constructor(file: Deno.FsFile, index: JournalIndex | undefined) {
    this.#file = file;
    this.#index = index;
  }

  /**
   * Opens (creating if needed) the journal of `out` and indexes what earlier runs recorded.
   *
   * @param out The output directory, which must exist.
   * @returns The journal, ready to record.
   */
  static async open(out: string): Promise<Journal> {
    const path = `${out}/${JOURNAL_NAME}`;
    const index = JournalIndex.build(path);
    let file: Deno.FsFile | undefined;
    try {
      file = await Deno.open(path, { append: true, create: true });
      // A new journal: its header (two writers creating it at once write two; harmless). A cut
      // last line needs nothing: every write starts on a new line.
      if (!index || index.lines === 0 && !index.torn) {
        if ((await file.stat()).size === 0) await file.write(line(JOURNAL_HEADER));
      }
    } catch (error) {
      file?.close();
      index?.close();
      throw error;
    }
    return new Journal(file, index);
  }

  /**
   * Lists the failures an earlier run recorded, for `--retry-failed`: each URL whose last
   * outcome is a failure, with the input entry it was given.
   *
   * @param out The output directory.
   * @returns The failures in the order they were recorded, or `undefined` when there is no
   * journal.
   */
  static *failures(out: string): Generator<JournalEntry, void, undefined> {
    const index = JournalIndex.build(`${out}/${JOURNAL_NAME}`);
    if (!index) return;
    try {
      yield* index.failures();
    } finally {
      index.close();
    }
  }

  /** Whether a journal exists in `out`. */
  static async exists(out: string): Promise<boolean> {
    return await Deno.stat(`${out}/${JOURNAL_NAME}`).then((info) => info.isFile, () => false);
  }

  /**
   * The record that holds `name` from an earlier run, if one does.
   *
   * @param name The file name.
   * @param hi The top 32 bits of its name hash (as `NameAllocator` computes it).
   */
  holder(name: string, hi: number): HeldName | undefined {
    return this.#index?.holder(name, hi);
  }

  /** Marks a held name as met in this run; `true` when it was met before. */
  see(held: HeldName): boolean {
    return this.#index!.see(held);
  }

  /**
   * Queues one result; lines are written in batches, at most one write every 50 ms.
   *
   * @param result The result of a URL that was tried in this run.
   * @param context Its name, path, identity and input entry.
   */
  record(result: DownloadResult, context: RecordContext): void {
    // `journal` and `duplicate` are known already; `exists` (another writer's file, or one whose
    // record a kill lost) is recorded, or every later run would fetch it again.
    if (result.skipped === "journal" || result.skipped === "duplicate") return;
    const now = Date.now();
    if (now - this.#clock >= 1000) {
      this.#clock = now;
      this.#at = new Date(now).toISOString();
    }
    const hash = nameHash(context.name);
    // The hash and the outcome come first, at fixed places: the index reads them there.
    const entry: Record<string, unknown> = {
      h: hashHex(hash.hi, hash.lo),
      ok: result.ok,
      url: context.href,
      name: context.name,
      path: context.path,
    };
    if (result.ok) entry.bytes = result.bytes;
    if (result.sha256) entry.sha256 = result.sha256;
    if (context.etag) entry.etag = context.etag;
    if (result.status !== undefined) entry.status = result.status;
    if (result.reason) entry.reason = result.reason;
    if (result.error) entry.error = result.error;
    entry.at = this.#at;
    if (context.redacted) entry.redacted = true;
    if (!result.ok) entry.input = recordedInput(context.input, result.url);
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
    const lines = this.#lines;
    this.#lines = [];
    try {
      let from = 0;
      while (from < lines.length) {
        // Whole lines, up to 64 KiB, in one write() each.
        let to = from;
        let size = 0;
        while (to < lines.length && (to === from || size + lines[to]!.length < MAX_WRITE / 3)) {
          size += lines[to]!.length + 1;
          to++;
        }
        // Each write starts on a new line: another writer killed mid-write may have left a cut
        // line at the end, which would otherwise swallow this batch's first record. (The
        // index skips the empty lines this leaves.)
        const bytes = this.#encoder.encode("\n" + lines.slice(from, to).join("\n") + "\n");
        let at = 0;
        while (at < bytes.length) at += await this.#file.write(bytes.subarray(at));
        from = to;
      }
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
    this.#index?.close();
    if (this.#error) throw this.#error;
  }
}

function line(text: string): Uint8Array {
  return new TextEncoder().encode(text + "\n");
}

/** The input entry as given, to replay: its own fields (columns included), the URL redacted. */
function recordedInput(input: unknown, url: string): RecordedInput {
  if (input === null || typeof input !== "object" || input instanceof URL) return { url };
  const copy: RecordedInput = { url };
  for (const [key, value] of Object.entries(input)) {
    if (key !== "url" && value !== undefined) copy[key] = value;
  }
  return copy;
}
