/**
 * `download()`: the main thread's side of a run. It reads the input with backpressure, names
 * the files, schedules the downloads onto the workers and yields the results.
 *
 * @module
 */

import { Engine } from "./engine.ts";
import { OutDirError } from "./errors.ts";
import { Journal } from "./journal.ts";
import {
  type DownloadOptions,
  type ResolvedOptions,
  resolveOptions,
  workerConfig,
} from "./options.ts";
import { type PoolEvents, WorkerPool } from "./pool.ts";
import type { DownloadInput, DownloadResult } from "./types.ts";
import { resumeNotes, WriterMark } from "./worker/resume.ts";

/**
 * Where the input may come from: any iterable, sync or async, e.g. an array or a generator.
 *
 * @example An async generator as the input
 * ```ts
 * import { download, type DownloadSource } from "./download.ts";
 * import { summarize } from "./summary.ts";
 * import { serve } from "../server.ts";
 * import assert from "node:assert/strict";
 *
 * await using server = await serve({ images: 3 });
 * async function* urls() {
 *   for (let i = 0; i < 3; i++) yield new URL(`img/${i}.png`, server.url);
 * }
 * const source: DownloadSource = urls();
 * const out = await Deno.makeTempDir();
 * try {
 *   assert.equal((await summarize(download(source, { out }))).saved, 3);
 * } finally {
 *   await Deno.remove(out, { recursive: true });
 * }
 * ```
 */
export type DownloadSource = Iterable<DownloadInput> | AsyncIterable<DownloadInput>;

/**
 * Downloads every URL of `input` into `options.out`, in parallel on Web Workers, and yields one
 * result per URL as soon as it is known (so not in input order).
 *
 * The input is read lazily, only as fast as downloads finish, so it may be endless or huge.
 * Each file is written under a temporary name and renamed into place when complete and checked.
 * Breaking out of the loop, or aborting `options.signal`, stops the run: downloads in flight are
 * aborted, their temporary files removed, and the workers terminated.
 *
 * @param input The URLs: strings, `URL`s, or `{ url, name?, sha256? }` objects.
 * @param options Where to save and how; only `out` is required.
 * @returns The results, as an async iterable.
 * @throws {TypeError} At once, when an option or the input has the wrong type.
 * @throws {RangeError} At once, when a number is out of range.
 * @throws {OutDirError} From the first iteration, when `out` cannot be created or written to.
 * @throws {DiskFullError} When the disk fills up; files saved before are complete.
 *
 * @example Download two images from a local server
 * ```ts
 * import { download } from "./download.ts";
 * import { serve } from "../server.ts";
 * import assert from "node:assert/strict";
 *
 * await using server = await serve({ images: 2 });
 * const out = await Deno.makeTempDir();
 * const urls = [new URL("img/0.png", server.url), new URL("img/1.png", server.url)];
 * for await (const result of download(urls, { out, workers: 1 })) {
 *   assert.equal(result.ok, true, result.error);
 * }
 * assert.ok((await Deno.stat(`${out}/0.png`)).size > 0);
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export function download(
  input: DownloadSource,
  options: DownloadOptions,
): AsyncGenerator<DownloadResult, void, undefined> {
  const resolved = resolveOptions(options);
  if (typeof input === "string") {
    throw new TypeError("Cannot start download: 'input' must be a list of URLs, not one string");
  }
  if (
    input === null || typeof input !== "object" ||
    (!(Symbol.iterator in input) && !(Symbol.asyncIterator in input))
  ) {
    throw new TypeError(
      "Cannot start download: 'input' must be an iterable or async iterable of URLs",
    );
  }
  // A per-host limit not given grows for far, well-behaved hosts; one given is a bound.
  return run(input, resolved, options.perHost === undefined);
}

async function prepareOut(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (error) {
    throw new OutDirError(dir, `it cannot be created (${(error as Error).message})`, {
      cause: error,
    });
  }
  const probe = `${dir}/.downpour-probe-${crypto.randomUUID()}`;
  try {
    await Deno.writeFile(probe, new Uint8Array(0), { createNew: true });
    await Deno.remove(probe);
  } catch (error) {
    throw new OutDirError(dir, `it is not writable (${(error as Error).message})`, {
      cause: error,
    });
  }
}

async function* run(
  input: DownloadSource,
  options: ResolvedOptions,
  growPerHost: boolean,
): AsyncGenerator<DownloadResult, void, undefined> {
  options.signal?.throwIfAborted();
  // The workers boot (tens of milliseconds each) while the output directory and the journal are
  // made ready; the engine takes over their events once it exists.
  let early: Error | undefined;
  const events: PoolEvents = { outcomes() {}, fatal: (error) => early ??= error };
  const pool = new WorkerPool(options.workers, options.concurrency, workerConfig(options), events);
  let journal: Journal | undefined;
  let mark: WriterMark | undefined;
  let engine: Engine;
  try {
    await prepareOut(options.out);
    mark = await WriterMark.create(options.out);
    journal = options.journal ? await Journal.open(options.out) : undefined;
    const resumable = await resumeNotes(options.out);
    if (early) throw early;
    // The engine listens for an abort from its start; one that came before must not be missed.
    options.signal?.throwIfAborted();
    // The Parquet packages load only for a dataset output.
    const dataset = options.outputFormat === "files"
      ? undefined
      : await (await import("./output/dataset.ts")).DatasetWriter.open(options);
    engine = new Engine(input, options, journal, resumable, pool, events, dataset, growPerHost);
  } catch (error) {
    await pool.stop();
    await journal?.close().catch(() => {});
    await mark?.release();
    throw error;
  }
  try {
    yield* engine.results();
  } finally {
    try {
      await engine.close();
    } finally {
      await mark.release();
    }
  }
}
