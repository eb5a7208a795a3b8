/**
 * The engine of one run, on the main thread: it pulls the input with backpressure, names each
 * URL, screens it (journal, robots.txt), hands it to the scheduler, dispatches to the worker
 * pool, and queues the results for `download()` to yield. (It is over 400 lines because it is
 * the one place where these meet: each step is a short method, and splitting them across files
 * would hide the order a URL goes through.)
 *
 * @module
 */

import { DiskFullError, isDiskFull, OutDirLostError } from "./errors.ts";
import { checkUrl } from "./input/url.ts";
import { tidyResumeDir } from "./worker/resume.ts";
import { RobotsCache } from "./robots/cache.ts";
import { inShard } from "./shard.ts";
import type { HeldName, Journal, RecordContext } from "./journal.ts";
import { nameHash } from "./journal/index.ts";
import { maskPasswords, redactUrl } from "./journal/redact.ts";
import { NameAllocator } from "./name_table.ts";
import type { ResolvedOptions } from "./options.ts";
import type { PoolEvents, WorkerPool } from "./pool.ts";
import type { Job, Outcome } from "./protocol.ts";
import { type Failure, Scheduler, type Task } from "./scheduler.ts";
import { InflightTarget } from "./adaptive.ts";
import type { DownloadInput, DownloadResult } from "./types.ts";
import type { DownloadSource } from "./download.ts";
import type { DatasetWriter } from "./output/dataset.ts";
import { sampleKey, samplePath } from "./output/keys.ts";

/** The longest robots.txt `Crawl-delay` honoured, in seconds; a longer one counts as this. */
const MAX_CRAWL_DELAY = 60;

/** Files a directory in the `shard` layout. */
const SHARD_DIR_SIZE = 1000;

/** Downloads in flight per worker that the adaptive target starts from, and its least. */
const START_PER_WORKER = 16;
const MIN_PER_WORKER = 4;
/**
 * The most downloads in flight the target grows to: each holds at most a small body's buffer
 * (1 MiB) in memory, so this bounds the bodies in flight to 256 MiB.
 */
const MEMORY_INFLIGHT = 256;

/** A per-host limit not given grows up to this many times the default for far hosts. */
const HOST_GROWTH = 2;

/** Times a URL may be given another name because its name is held by another file on disk. */
const MAX_RENAMES = 16;

/**
 * A task as the engine keeps it: what the journal needs to record it (its name, its identity,
 * the input entry as given) and what naming it again needs.
 */
interface Named extends Task {
  /** The file name (the last segment of `path`). */
  name: string;
  /** The parsed URL to fetch. */
  parsed: URL;
  /** The name the input asked for, if any. */
  wanted?: string;
  /** Times it was given another name. */
  renames?: number;
  /** The input entry as given, kept for the journal's record of a failure. */
  input: DownloadInput;
}

/** One run: the input pump, the scheduler, the worker pool and the queue of results. */
export class Engine {
  #options: ResolvedOptions;
  #scheduler: Scheduler;
  /** Downloads in flight across all hosts, following throughput (see src/adaptive.ts). */
  #target: InflightTarget;
  #pool: WorkerPool;
  #names: NameAllocator;
  #journal: Journal | undefined;
  #resumable: Set<string>;
  #robots: RobotsCache | undefined;
  #iterator: AsyncIterator<DownloadInput> | Iterator<DownloadInput>;
  #inflight = new Map<number, Named>();
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
  /** The shards being assembled, for a `webdataset` or `parquet` output. */
  #dataset: DatasetWriter | undefined;

  constructor(
    input: DownloadSource,
    options: ResolvedOptions,
    journal: Journal | undefined,
    resumable: Set<string>,
    pool: WorkerPool,
    events: PoolEvents,
    dataset?: DatasetWriter,
    growPerHost = false,
  ) {
    this.#options = options;
    this.#dataset = dataset;
    this.#journal = journal;
    // The journal's names are the directory's: a URL keeps its own, others go around them.
    this.#names = new NameAllocator(journal);
    this.#resumable = resumable;
    if (options.robots) {
      this.#robots = new RobotsCache({
        userAgent: options.userAgent,
        // With denyPrivate, robots.txt (and each of its redirects) is held to the same rule, at
        // connect time too.
        denyPrivate: options.denyPrivate,
        timeout: options.headersTimeout,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    }
    this.#maxPending = Math.max(1024, options.workers * options.concurrency * 8);
    this.#scheduler = new Scheduler({
      perHost: options.perHost,
      ...(growPerHost ? { hostMax: options.perHost * HOST_GROWTH } : {}),
      retries: options.retries,
      rate: options.rate,
      onReady: () => this.#pump(),
      onDrop: (task, failure) => this.#drop(task, failure),
    });
    const { workers, concurrency } = options;
    const start = workers * Math.min(START_PER_WORKER, concurrency);
    this.#target = new InflightTarget({
      start,
      min: workers * Math.min(MIN_PER_WORKER, concurrency),
      max: Math.max(start, Math.min(workers * concurrency, MEMORY_INFLIGHT)),
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
    let key: string | undefined;
    let place: [shard: number, index: number] | undefined;
    if (this.#dataset) {
      // A dataset row's key is its position; whole shards are split among processes.
      const size = this.#options.shardSize;
      place = [Math.floor(id / size), id % size];
      const shard = this.#options.shard;
      if (shard && place[0] % shard.count !== shard.index) return;
      if (!this.#dataset.owns(place[0])) return; // its shard is complete already
      key = sampleKey(...place);
    }
    this.#pending++;
    let given: string | URL;
    let wanted: string | undefined;
    let sha256: string | undefined;
    let extras: Pick<DownloadResult, "key" | "caption" | "columns"> = key ? { key } : {};
    if (typeof item === "string" || item instanceof URL) {
      given = item;
    } else if (item !== null && typeof item === "object" && "url" in item) {
      given = item.url;
      wanted = item.name;
      sha256 = item.sha256?.toLowerCase();
      if (item.caption !== undefined) extras = { ...extras, caption: item.caption };
      if (item.columns !== undefined) extras = { ...extras, columns: item.columns };
    } else {
      this.#push({
        url: String(item),
        ok: false,
        bytes: 0,
        reason: "invalid-url",
        error: `${JSON.stringify(item)} is not a URL, nor an object with a 'url'`,
        attempts: 0,
        ms: 0,
        ...extras,
      });
      return;
    }
    const raw = given instanceof URL ? given.href : String(given);
    // Nothing written (results, the journal) holds a password; the fetch uses it.
    const url = redactUrl(raw);
    // Every URL of the input is named, in input order, whichever shard it is in: so the shards
    // of one list compute exactly the names an unsharded run would. (A dataset row's shard was
    // settled by its position above.)
    const ours = place !== undefined || !this.#options.shard || inShard(raw, this.#options.shard);
    const checked = checkUrl(raw);
    if (typeof checked === "string") {
      if (!ours) {
        this.#pending--; // another shard's URL: not ours to report
        return;
      }
      this.#push({
        url: maskPasswords(raw), // not a URL: redactUrl cannot find its password
        ok: false,
        bytes: 0,
        reason: "invalid-url",
        error: checked, // which repeats the text with its password masked
        attempts: 0,
        ms: 0,
        ...extras,
      });
      return;
    }
    let path: string;
    let name: string;
    let held: HeldName | undefined;
    if (place) {
      // A dataset sample's name is its path; the journal knows it by that.
      path = samplePath(...place);
      name = path;
      const found = this.#journal?.holder(name, nameHash(name).hi);
      held = found && found.entry.url === redactUrl(checked) ? found : undefined;
    } else {
      const allocated = this.#names.allocate(checked, wanted);
      name = allocated.name;
      held = allocated.held;
      if (!ours) {
        this.#pending--;
        return;
      }
      // A URL the journal knows keeps its file, wherever the layout would put it now.
      path = held?.entry.path ??
        (this.#options.layout === "shard"
          ? `${String(Math.floor(id / SHARD_DIR_SIZE)).padStart(4, "0")}/${name}`
          : name);
      if (allocated.duplicate) {
        this.#push({ url, ok: true, path, bytes: 0, skipped: "duplicate", attempts: 0, ms: 0 });
        return;
      }
    }
    const row = place || extras.caption !== undefined || extras.columns !== undefined
      ? { url, ...extras }
      : undefined;
    const task: Named = {
      id,
      url,
      href: checked.href,
      host: checked.host,
      path,
      attempts: 0,
      started: 0,
      name,
      parsed: checked,
      input: item,
    };
    if (wanted) task.wanted = wanted;
    if (sha256) task.sha256 = sha256;
    if (this.#resumable.has(path)) task.resume = true;
    if (row) task.row = row;
    const saved = held?.entry.ok ? held : undefined;
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
    held: HeldName | undefined,
  ): Promise<DownloadResult | undefined> {
    const saved = held?.entry.bytes;
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
          ...rowFields(task),
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
          ...rowFields(task),
        };
      }
      // Crawl-delay: the least time between two requests to the host, up to a minute.
      const delay = (await this.#robots.rules(url))?.crawlDelay;
      if (delay) this.#scheduler.pace(task.host, 1 / Math.min(delay, MAX_CRAWL_DELAY));
    }
    return undefined;
  }

  /** Hands out as many tasks as there are free slots. */
  #pump(): void {
    if (this.#closed) return;
    let assigned = false;
    const target = this.#target.current;
    while (this.#pool.free > 0) {
      if (this.#inflight.size >= target) {
        if (this.#scheduler.ready > 0) this.#target.held(performance.now());
        break;
      }
      const task = this.#scheduler.next() as Named | undefined;
      if (!task) break;
      this.#inflight.set(task.id, task);
      // Built field by field: this runs once a request, and every field but three is rare.
      const job: Job = { id: task.id, href: task.href, path: task.path };
      if (task.sha256) job.sha256 = task.sha256;
      if (task.resume) job.resume = true;
      if (task.row) job.row = task.row;
      if (task.headersDeadline) job.headersDeadline = task.headersDeadline;
      if (task.idleDeadline) job.idleDeadline = task.idleDeadline;
      if (task.msPerByte) job.msPerByte = task.msPerByte;
      this.#pool.assign(job);
      assigned = true;
    }
    if (assigned) this.#pool.flush();
  }

  #finish(outcomes: Outcome[]): void {
    this.#target.completed(performance.now(), outcomes.length);
    for (const outcome of outcomes) {
      const task = this.#inflight.get(outcome.id);
      if (!task) continue;
      this.#inflight.delete(outcome.id);
      if (outcome.partial) task.resume = true;
      const decision = this.#scheduler.finish(task, outcome);
      // A dataset sample's name is its key: never renamed.
      if (outcome.taken && task.row?.key === undefined && this.#rename(task)) continue;
      if (!decision.final) continue;
      const result: DownloadResult = {
        url: task.url,
        ok: outcome.ok,
        bytes: outcome.bytes,
        attempts: task.attempts,
        ms: Math.round(performance.now() - task.started),
      };
      if (outcome.ok) result.path = task.path;
      if (outcome.exists) result.skipped = "exists";
      if (outcome.status !== undefined) result.status = outcome.status;
      if (!outcome.ok) {
        result.reason = outcome.reason ?? "network";
        result.error = decision.error ?? outcome.error ?? "failed";
        if (task.attempts > 1) result.error += ` (after ${task.attempts} attempts)`;
      }
      if (outcome.sha256) result.sha256 = outcome.sha256;
      Object.assign(result, rowFields(task));
      if (outcome.width !== undefined) {
        result.width = outcome.width;
        result.height = outcome.height!;
      }
      if (outcome.originalWidth !== undefined) {
        result.originalWidth = outcome.originalWidth;
        result.originalHeight = outcome.originalHeight!;
      }
      if (outcome.mime) result.mime = outcome.mime;
      this.#record(task, result, outcome.etag);
      this.#push(result);
      if (outcome.diskFull) {
        this.#fail(new DiskFullError(this.#options.out, outcome.error!));
      }
      if (outcome.dirLost) {
        this.#fail(new OutDirLostError(this.#options.out, outcome.error!));
      }
    }
    this.#pump();
  }

  /**
   * The task's name is held on disk by another URL's file: it gets the next free name and goes
   * back in the queue, the attempt not counted. `false` when it was renamed too often already.
   */
  #rename(task: Named): boolean {
    task.renames = (task.renames ?? 0) + 1;
    if (task.renames > MAX_RENAMES) return false;
    const name = this.#names.displace(task.parsed, task.wanted);
    const slash = task.path.lastIndexOf("/");
    task.path = task.path.slice(0, slash + 1) + name;
    task.name = name;
    task.attempts--;
    task.resume = undefined;
    this.#scheduler.add(task);
    return true;
  }

  /** Reports a task the scheduler gave up without a request (its host is down, or closed). */
  #drop(given: Task, failure: Failure): void {
    const task = given as Named;
    const result: DownloadResult = {
      url: task.url,
      ok: false,
      bytes: 0,
      ...(failure.status !== undefined ? { status: failure.status } : {}),
      reason: failure.reason,
      error: failure.error,
      attempts: task.attempts,
      ms: task.attempts > 0 ? Math.round(performance.now() - task.started) : 0,
    };
    Object.assign(result, rowFields(task));
    this.#record(task, result);
    this.#push(result);
  }

  /** Records a task's final result in the journal, under the name the task holds. */
  #record(task: Named, result: DownloadResult, etag?: string): void {
    if (!this.#journal) return;
    const href = redactUrl(task.parsed);
    const context: RecordContext = { name: task.name, path: task.path, href, input: task.input };
    // A redacted href differs from the one fetched: the URL had a password.
    if (href !== task.href) context.redacted = true;
    if (etag) context.etag = etag;
    this.#journal.record(result, context);
  }

  #push(result: DownloadResult): void {
    if (this.#dataset && result.key !== undefined) {
      const position = this.#keyPosition(result.key);
      this.#dataset.add(position[0], position[1], result);
    }
    this.#results.push(result);
    this.#signal();
  }

  /** The shard and index of a key made by `sampleKey`. */
  #keyPosition(key: string): [number, number] {
    return [Number(key.slice(0, -4)), Number(key.slice(-4))];
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
      if (this.#dataset?.error !== undefined) throw this.#dataset.error;
      const result = this.#results.shift();
      if (result) {
        yield result;
        this.#pending--;
        const space = this.#space;
        this.#space = undefined;
        space?.();
        continue;
      }
      if (this.#inputDone && this.#pending === 0) {
        // The last shards are assembled before the run ends.
        if (this.#error === undefined) await this.#dataset?.finish(this.#nextId);
        return;
      }
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
      await this.#dataset?.settle();
      // Tidy: the directory of resume notes goes when no note is left in it.
      await tidyResumeDir(this.#options.out);
    } finally {
      await this.#robots?.close();
      try {
        await this.#journal?.close();
      } catch (error) {
        // A run that already failed (a full disk, say) reports that; the journal is consistent
        // either way, since it only ever lacks lines for files that were saved.
        if (this.#error === undefined) {
          const message = (error as Error).message;
          // deno-lint-ignore no-unsafe-finally
          throw isDiskFull(error)
            ? new DiskFullError(this.#options.out, message, { cause: error })
            : new Error(`Cannot write the journal: ${message}`, { cause: error });
        }
      }
    }
  }
}

/** What a result carries of its input row: key, caption and saved columns. */
function rowFields(task: Task): Pick<DownloadResult, "key" | "caption" | "columns"> {
  const row = task.row;
  if (!row) return {};
  return {
    ...(row.key !== undefined ? { key: row.key } : {}),
    ...(row.caption !== undefined ? { caption: row.caption } : {}),
    ...(row.columns !== undefined ? { columns: row.columns } : {}),
  };
}
