/**
 * A download's temporary file, and the resume note that lets a later attempt continue it.
 *
 * A body is written to `.NAME.part` beside its final name and renamed into place only when it is
 * complete and checked, so no file under a final name ever holds a partial body. A body streamed
 * to disk (one larger than the stream buffer) from a response with a validator (ETag or
 * Last-Modified) gets a resume note, `OUT/.downpour-resume/HASH.json`. When such a download is
 * cut off, its partial file and note are kept, and the next attempt, in this run or a later one,
 * asks for the rest with Range and If-Range.
 *
 * The worker's file operations ({@linkcode PartFile}) are synchronous: each takes microseconds on
 * a local disk, while an asynchronous one is a hop to a thread of Deno's blocking pool and back,
 * and with many downloads in flight, that pool grows a thread (and its memory) for each. The main
 * thread's ({@linkcode resumeNotes}, {@linkcode tidyResumeDir}) are asynchronous.
 *
 * @module
 */

import type { Hash } from "node:crypto";
import type { Job } from "../protocol.ts";
import { stableHash } from "../hash.ts";

/** The directory, inside the output directory, of the notes on resumable partial files. */
export const RESUME_DIR = ".downpour-resume";

/** What a resume note says. */
export interface ResumeNote {
  /** The final path, relative to the output directory. */
  path: string;
  /** The URL the partial body came from. */
  href: string;
  /** The ETag or Last-Modified the body had, for If-Range. */
  validator: string;
}

/** A partial file an earlier attempt left, and how to ask for the rest of it. */
export interface Resumable {
  /** The partial file's size: where the rest starts. */
  size: number;
  /** The validator for If-Range. */
  validator: string;
}

/**
 * The temporary name a download is written to before it is renamed to `path`.
 *
 * Final names never start with a dot, so a temporary name never equals a final one.
 *
 * @param path A path relative to the output directory.
 * @returns The temporary path, in the same directory.
 *
 * @example
 * ```ts
 * import { partPath } from "./resume.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(partPath("cat.png"), ".cat.png.part");
 * assert.equal(partPath("007/cat.png"), "007/.cat.png.part");
 * ```
 */
export function partPath(path: string): string {
  const slash = path.lastIndexOf("/");
  return `${path.slice(0, slash + 1)}.${path.slice(slash + 1)}.part`;
}

/**
 * Where the resume note of a partial file is kept: `OUT/.downpour-resume/HASH.json`, where HASH
 * is the {@linkcode stableHash} of `path`.
 *
 * @param out The output directory.
 * @param path The final path, relative to `out`.
 * @returns The note's path.
 */
export function resumeNotePath(out: string, path: string): string {
  return `${out}/${RESUME_DIR}/${stableHash(path)}.json`;
}

/**
 * The paths that have a resume note from an interrupted run; a note that cannot be read is
 * skipped, and its download starts over.
 *
 * @param out The output directory.
 * @returns The final paths, relative to `out`.
 */
export async function resumeNotes(out: string): Promise<Set<string>> {
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

/**
 * Removes the directory of resume notes, if no note is left in it.
 *
 * @param out The output directory.
 */
export async function tidyResumeDir(out: string): Promise<void> {
  await Deno.remove(`${out}/${RESUME_DIR}`).catch(() => {});
}

/** A file-system failure while saving; not the network's fault. */
export class DiskError extends Error {
  /**
   * Makes the error.
   *
   * @param what The step that failed, e.g. `write the file`.
   * @param error What the file system threw, kept as `cause`.
   */
  constructor(what: string, error: unknown) {
    const message = error instanceof Error ? error.message : String(error);
    super(`could not ${what}: ${message}`, { cause: error });
    this.name = "DiskError";
  }
}

/** Runs a file-system step, turning its errors into {@linkcode DiskError}s. */
function disk<T>(what: string, step: () => T): T {
  try {
    return step();
  } catch (error) {
    throw new DiskError(what, error);
  }
}

/**
 * Writes all of `bytes`, synchronously: a write to the page cache takes microseconds, far less
 * than a hop to the runtime's blocking thread pool and back, and the worker has no other work that
 * could not wait that long.
 */
function writeAll(file: Deno.FsFile, bytes: Uint8Array): void {
  let at = 0;
  while (at < bytes.byteLength) at += file.writeSync(bytes.subarray(at));
}

/** Removes a file if it is there. */
function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // Already gone, or never made.
  }
}

/** The directories made so far by this thread. */
const made = new Set<string>();

/**
 * The temporary file of one attempt at a job, and its resume note.
 *
 * Disposing of it closes the file and then, by what the attempt came to: leaves the disk alone
 * (nothing was written, or the file was committed), removes the file and any note (they are of
 * no use to a later attempt), or keeps both for a later attempt to resume
 * ({@linkcode PartFile.kept}). Every method but {@linkcode PartFile.resumable} throws only
 * {@linkcode DiskError}s.
 */
export class PartFile implements Disposable {
  readonly #out: string;
  readonly #job: Pick<Job, "path" | "href" | "resume">;
  readonly #part: string;
  /** The file being streamed into or appended to, while it is open. */
  #file: Deno.FsFile | undefined;
  #fate: "leave" | "remove" | "keep" = "leave";
  /** This attempt wrote a note. */
  #noted = false;

  /**
   * Names the temporary file; nothing is done on disk yet.
   *
   * @param out The output directory.
   * @param job The job: its final path, its URL, and whether an earlier attempt left a note.
   */
  constructor(out: string, job: Pick<Job, "path" | "href" | "resume">) {
    this.#out = out;
    this.#job = job;
    this.#part = `${out}/${partPath(job.path)}`;
  }

  /** Whether the partial file and its note are kept for a later attempt. */
  get kept(): boolean {
    return this.#fate === "keep";
  }

  /** The note's path: only computed when a note may exist. */
  #note(): string {
    return resumeNotePath(this.#out, this.#job.path);
  }

  /** Whether a note may exist: an earlier attempt's, or this one's. */
  #mayHaveNote(): boolean {
    return this.#job.resume === true || this.#noted;
  }

  /**
   * What an earlier attempt left to resume.
   *
   * @returns The partial file's size and its note's validator; `undefined` when the job has no
   * note, or the note is unreadable or for another URL, or the partial file is missing or empty.
   */
  async resumable(): Promise<Resumable | undefined> {
    if (!this.#job.resume) return undefined;
    let note: { href?: unknown; validator?: unknown };
    try {
      note = JSON.parse(await Deno.readTextFile(this.#note()));
    } catch {
      return undefined;
    }
    if (note.href !== this.#job.href || typeof note.validator !== "string") return undefined;
    try {
      const info = await Deno.stat(this.#part);
      return info.size > 0 ? { size: info.size, validator: note.validator } : undefined;
    } catch {
      return undefined;
    }
  }

  /** Marks the temporary file and any note for removal: they are of no use to a later attempt. */
  discard(): void {
    this.#fate = "remove";
  }

  /**
   * A whole body comes instead of the rest of an earlier attempt's: that attempt's partial file
   * and note go, whatever becomes of this one.
   */
  supersede(): void {
    if (this.#job.resume) this.#fate = "remove";
  }

  /** Creates the directory of the final file (once per directory and thread). */
  makeDirectory(): void {
    const slash = this.#job.path.lastIndexOf("/");
    if (slash < 0) return;
    const dir = `${this.#out}/${this.#job.path.slice(0, slash)}`;
    if (made.has(dir)) return;
    disk("create the directory", () => Deno.mkdirSync(dir, { recursive: true }));
    made.add(dir);
  }

  /**
   * Opens the partial file of an earlier attempt to append the rest of its body.
   *
   * @param hash A hash to feed the bytes already there, so that it covers the whole body.
   */
  async append(hash: Hash | undefined): Promise<void> {
    this.#fate = "keep";
    this.#file = disk(
      "open the partial file",
      () => Deno.openSync(this.#part, { read: true, append: true }),
    );
    if (!hash) return;
    // Asynchronous, unlike the other file steps: the partial file may be gigabytes.
    try {
      using existing = await Deno.open(this.#part);
      for await (const chunk of existing.readable) hash.update(chunk);
    } catch (error) {
      throw new DiskError("read the partial file", error);
    }
  }

  /**
   * Creates the temporary file to stream a body into. With a validator, a note is written too,
   * and the file is kept if the download is cut off.
   *
   * @param validator The response's ETag or Last-Modified.
   */
  create(validator: string | undefined): void {
    this.#fate = "remove";
    this.#file = disk(
      "create the temporary file",
      () => Deno.openSync(this.#part, { write: true, create: true, truncate: true }),
    );
    if (!validator) return;
    this.#noted = true; // before the write: a note that is half written must go too
    const note: ResumeNote = { path: this.#job.path, href: this.#job.href, validator };
    disk("write the resume note", () => {
      Deno.mkdirSync(`${this.#out}/${RESUME_DIR}`, { recursive: true });
      Deno.writeTextFileSync(this.#note(), JSON.stringify(note));
    });
    this.#fate = "keep";
  }

  /**
   * Appends to the file opened by {@linkcode PartFile.create} or {@linkcode PartFile.append}.
   *
   * @param bytes The bytes.
   */
  write(bytes: Uint8Array): void {
    disk("write the file", () => writeAll(this.#file!, bytes));
  }

  /**
   * Puts the body under its final name: writes it (or closes the file it was streamed into),
   * renames the temporary file into place, and drops the note.
   *
   * @param body The whole body, when it was received in memory; `undefined` when it was streamed
   * into the file.
   */
  commit(body: Uint8Array | undefined): void {
    this.#fate = "remove";
    if (body) {
      disk("write the temporary file", () => Deno.writeFileSync(this.#part, body));
    } else {
      this.#file?.close();
      this.#file = undefined;
    }
    const final = `${this.#out}/${this.#job.path}`;
    disk("rename the finished file", () => Deno.renameSync(this.#part, final));
    this.#fate = "leave";
    if (this.#mayHaveNote()) removeQuietly(this.#note());
  }

  /** Closes the file, and removes it and its note unless they are committed or kept. */
  [Symbol.dispose](): void {
    this.#file?.close();
    this.#file = undefined;
    if (this.#fate !== "remove") return;
    removeQuietly(this.#part);
    if (this.#mayHaveNote()) removeQuietly(this.#note());
  }
}
