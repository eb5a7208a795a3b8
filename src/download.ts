/**
 * `download()`: the main thread's side of a run. It reads the input with backpressure, names
 * the files, schedules the downloads onto the workers and yields the results.
 *
 * @module
 */

import { DiskFullError, OutDirError } from "./errors.ts";
import { checkUrl } from "./input/read.ts";
import { checkPublic } from "./address_guard.ts";
import { RESUME_DIR } from "./worker/fetch_file.ts";
import { RobotsCache } from "./robots.ts";
import { inShard } from "./shard.ts";
import { Journal } from "./journal.ts";
import { NameAllocator } from "./naming.ts";
import { type DownloadOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import { type PoolEvents, WorkerPool } from "./pool.ts";
import type { Outcome, WorkerConfig } from "./protocol.ts";
import { Scheduler, type Task } from "./scheduler.ts";
import type { DownloadInput, DownloadResult } from "./types.ts";

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
  return run(input, resolved);
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
): AsyncGenerator<DownloadResult, void, undefined> {
  options.signal?.throwIfAborted();
  // The workers boot (tens of milliseconds each) while the output directory and the journal are
  // made ready; the engine takes over their events once it exists.
  let early: Error | undefined;
  const events: PoolEvents = { outcomes() {}, fatal: (error) => early ??= error };
  const pool = new WorkerPool(options.workers, options.concurrency, workerConfig(options), events);
  let journal: Journal | undefined;
  let engine: Engine;
  try {
    await prepareOut(options.out);
    journal = options.journal ? await Journal.open(options.out) : undefined;
    const resumable = await resumeNotes(options.out);
    if (early) throw early;
    // The engine listens for an abort from its start; one that came before must not be missed.
    options.signal?.throwIfAborted();
    engine = new Engine(input, options, journal, resumable, pool, events);
  } catch (error) {
    await pool.stop();
    await journal?.close().catch(() => {});
    throw error;
  }
  try {
    yield* engine.results();
  } finally {
    await engine.close();
  }
}

/** The paths that have a resume note from an interrupted run. */
async function resumeNotes(out: string): Promise<Set<string>> {
  const paths = new Set<string>();
  try {
    for await (const entry of Deno.readDir(`${out}/${RESUME_DIR}`)) {
      if (!entry.isFile || !entry.name.endsWith(".json")) continue;
      try {
        const note = JSON.parse(await Deno.readTextFile(`${out}/${RESUME_DIR}/${entry.name}`));
        if (typeof note?.path === "string") paths.add(note.path);
      } catch {
        // A note cut by a crash: that download starts over.
      }
    }
  } catch {
    // No notes.
  }
  return paths;
}

/** `fetch` that refuses hosts resolving to private addresses. */
const guardedFetch: typeof fetch = async (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  const verdict = await checkPublic(url);
  if (verdict !== true) throw new TypeError(verdict);
  return await fetch(input, init);
};

/** What every worker needs to know, from the run's options. */
function workerConfig(options: ResolvedOptions): WorkerConfig {
  return {
    out: options.out,
    maxBytes: options.maxBytes,
    anyType: options.anyType,
    digest: options.digest,
    headersTimeout: options.headersTimeout,
    idleTimeout: options.idleTimeout,
    totalTimeout: options.totalTimeout,
    maxRedirects: options.maxRedirects,
    userAgent: options.userAgent,
    denyPrivate: options.denyPrivate,
    honorNoAi: options.honorNoAi,
  };
}

/** Files a directory in the `shard` layout. */
const SHARD_DIR_SIZE = 1000;

function isNoSpace(message: string | undefined): boolean {
  return message !== undefined && /no space left|ENOSPC|os error 28|quota exceeded/i.test(message);
}

/** One run: the input pump, the scheduler, the worker pool and the queue of results. */
class Engine {
  #options: ResolvedOptions;
  #scheduler: Scheduler;
  #pool: WorkerPool;
  #names = new NameAllocator();
  #journal: Journal | undefined;
  #resumable: Set<string>;
  #robots: RobotsCache | undefined;
  #iterator: AsyncIterator<DownloadInput> | Iterator<DownloadInput>;
  #inflight = new Map<number, Task>();
  #results: DownloadResult[] = [];
  #nextId = 0;
  /** URLs taken from the input whose result has not been yielded yet. */
  #pending = 0;
  #maxPending: number;
  #inputDone = false;
  #closed = false;
  #error: unknown = undefined;
  #wake: (() => void) | undefined;
  #space: (() => void) | undefined;
  #onAbort = () => this.#fail(this.#options.signal!.reason);

  constructor(
    input: DownloadSource,
    options: ResolvedOptions,
    journal: Journal | undefined,
    resumable: Set<string>,
    pool: WorkerPool,
    events: PoolEvents,
  ) {
    this.#options = options;
    this.#journal = journal;
    this.#resumable = resumable;
    if (options.robots) {
      this.#robots = new RobotsCache({
        userAgent: options.userAgent,
        // With denyPrivate, robots.txt (and each of its redirects) is held to the same rule.
        ...(options.denyPrivate ? { fetch: guardedFetch } : {}),
        timeout: options.headersTimeout,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    }
    this.#maxPending = Math.max(1024, options.workers * options.concurrency * 8);
    this.#scheduler = new Scheduler({
      perHost: options.perHost,
      retries: options.retries,
      rate: options.rate,
      onReady: () => this.#pump(),
    });
    this.#pool = pool;
    events.outcomes = (outcomes) => this.#finish(outcomes);
    events.fatal = (error) => this.#fail(error);
    // The input's iterator comes first: when making it throws, nothing else is left to undo.
    this.#iterator = Symbol.asyncIterator in input
      ? input[Symbol.asyncIterator]()
      : input[Symbol.iterator]();
    options.signal?.addEventListener("abort", this.#onAbort, { once: true });
    void this.#read();
  }

  /** Pulls from the input while there is room, and stops when there is not. */
  async #read(): Promise<void> {
    try {
      while (!this.#closed) {
        if (this.#pending >= this.#maxPending) {
          await new Promise<void>((resolve) => this.#space = resolve);
          continue;
        }
        const step = await this.#iterator.next();
        if (step.done || this.#closed) break;
        this.#admit(step.value);
      }
    } catch (error) {
      this.#fail(error);
    } finally {
      this.#inputDone = true;
      this.#signal();
    }
  }

  #admit(item: DownloadInput): void {
    const id = this.#nextId++;
    this.#pending++;
    let given: string | URL;
    let wanted: string | undefined;
    let sha256: string | undefined;
    if (typeof item === "string" || item instanceof URL) {
      given = item;
    } else if (item !== null && typeof item === "object" && "url" in item) {
      given = item.url;
      wanted = item.name;
      sha256 = item.sha256?.toLowerCase();
    } else {
      this.#push({
        url: String(item),
        ok: false,
        bytes: 0,
        reason: "invalid-url",
        error: `${JSON.stringify(item)} is not a URL, nor an object with a 'url'`,
        attempts: 0,
        ms: 0,
      });
      return;
    }
    const url = given instanceof URL ? given.href : String(given);
    if (this.#options.shard && !inShard(url, this.#options.shard)) {
      this.#pending--; // another shard's URL: not ours to report
      return;
    }
    const checked = checkUrl(url);
    if (typeof checked === "string") {
      this.#push({
        url,
        ok: false,
        bytes: 0,
        reason: "invalid-url",
        error: checked,
        attempts: 0,
        ms: 0,
      });
      return;
    }
    const { name, duplicate } = this.#names.allocate(checked, wanted);
    const path = this.#options.layout === "shard"
      ? `${String(Math.floor(id / SHARD_DIR_SIZE)).padStart(4, "0")}/${name}`
      : name;
    if (duplicate) {
      this.#push({ url, ok: true, path, bytes: 0, skipped: "duplicate", attempts: 0, ms: 0 });
      return;
    }
    const task: Task = {
      id,
      url,
      href: checked.href,
      host: checked.host,
      path,
      ...(sha256 ? { sha256 } : {}),
      ...(this.#resumable.has(path) ? { resume: true } : {}),
      attempts: 0,
      started: 0,
    };
    const saved = this.#journal?.saved(url, path);
    if (saved === undefined && !this.#robots) {
      this.#scheduler.add(task);
      this.#pump();
      return;
    }
    this.#screen(task, checked, saved).then((refusal) => {
      if (this.#closed) return;
      if (refusal) {
        this.#push(refusal);
      } else {
        this.#scheduler.add(task);
        this.#pump();
      }
    });
  }

  /** The result that stands instead of downloading `task`, when one does. */
  async #screen(
    task: Task,
    url: URL,
    saved: number | undefined,
  ): Promise<DownloadResult | undefined> {
    if (saved !== undefined) {
      // An earlier run saved it: skip it if the file is still there, whole.
      const there = await Deno.stat(`${this.#options.out}/${task.path}`).then(
        (info) => info.isFile && info.size === saved,
        () => false,
      );
      if (there) {
        return {
          url: task.url,
          ok: true,
          path: task.path,
          bytes: saved,
          skipped: "journal",
          attempts: 0,
          ms: 0,
        };
      }
    }
    if (this.#robots) {
      const verdict = await this.#robots.check(url);
      if (verdict !== true) {
        return {
          url: task.url,
          ok: false,
          bytes: 0,
          reason: "robots",
          error: verdict,
          attempts: 0,
          ms: 0,
        };
      }
    }
    return undefined;
  }

  /** Hands out as many tasks as there are free slots. */
  #pump(): void {
    if (this.#closed) return;
    let assigned = false;
    while (this.#pool.free > 0) {
      const task = this.#scheduler.next();
      if (!task) break;
      this.#inflight.set(task.id, task);
      this.#pool.assign({
        id: task.id,
        href: task.href,
        path: task.path,
        ...(task.sha256 ? { sha256: task.sha256 } : {}),
        ...(task.resume ? { resume: true } : {}),
      });
      assigned = true;
    }
    if (assigned) this.#pool.flush();
  }

  #finish(outcomes: Outcome[]): void {
    for (const outcome of outcomes) {
      const task = this.#inflight.get(outcome.id);
      if (!task) continue;
      this.#inflight.delete(outcome.id);
      if (outcome.partial) task.resume = true;
      const decision = this.#scheduler.finish(task, outcome);
      if (!decision.final) continue;
      const result: DownloadResult = {
        url: task.url,
        ok: outcome.ok,
        bytes: outcome.bytes,
        attempts: task.attempts,
        ms: Math.round(performance.now() - task.started),
      };
      if (outcome.ok) result.path = task.path;
      if (outcome.status !== undefined) result.status = outcome.status;
      if (!outcome.ok) {
        result.reason = outcome.reason ?? "network";
        result.error = decision.error ?? outcome.error ?? "failed";
        if (task.attempts > 1) result.error += ` (after ${task.attempts} attempts)`;
      }
      if (outcome.sha256) result.sha256 = outcome.sha256;
      this.#journal?.record(outcome.etag ? { ...result, etag: outcome.etag } : result);
      this.#push(result);
      if (outcome.reason === "disk" && isNoSpace(outcome.error)) {
        this.#fail(new DiskFullError(this.#options.out, outcome.error!));
      }
    }
    this.#pump();
  }

  #push(result: DownloadResult): void {
    this.#results.push(result);
    this.#signal();
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #fail(error: unknown): void {
    if (this.#error === undefined) this.#error = error ?? new Error("download failed");
    this.#signal();
  }

  async *results(): AsyncGenerator<DownloadResult, void, undefined> {
    for (;;) {
      if (this.#error !== undefined) throw this.#error;
      const result = this.#results.shift();
      if (result) {
        yield result;
        this.#pending--;
        const space = this.#space;
        this.#space = undefined;
        space?.();
        continue;
      }
      if (this.#inputDone && this.#pending === 0) return;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  /** Stops reading, aborts what is in flight, and terminates the workers. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#options.signal?.removeEventListener("abort", this.#onAbort);
    this.#scheduler.close();
    const space = this.#space;
    this.#space = undefined;
    space?.();
    if (!this.#inputDone) {
      // Let the input release what it holds (a file, a stream); don't wait for a stuck one.
      void Promise.resolve(this.#iterator.return?.()).catch(() => {});
    }
    try {
      await this.#pool.stop();
      // Tidy: the directory of resume notes goes when no note is left in it.
      await Deno.remove(`${this.#options.out}/${RESUME_DIR}`).catch(() => {});
    } finally {
      try {
        await this.#journal?.close();
      } catch (error) {
        // A run that already failed (a full disk, say) reports that; the journal is consistent
        // either way, since it only ever lacks lines for files that were saved.
        if (this.#error === undefined) {
          const message = (error as Error).message;
          // deno-lint-ignore no-unsafe-finally
          throw isNoSpace(message)
            ? new DiskFullError(this.#options.out, message, { cause: error })
            : new Error(`Cannot write the journal: ${message}`, { cause: error });
        }
      }
    }
  }
}
