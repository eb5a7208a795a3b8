/**
 * A download's temporary file, and the resume note that lets a later attempt continue it.
 *
 * A body is written to a temporary file of its writer's own, `.NAME.RANDOM.part` beside its final
 * name, created exclusively (`O_EXCL`: whatever already sits at a name, a symlink, a FIFO or
 * another writer's file, is never opened) and locked (`flock`) while it is written. It is put
 * under its final name only when it is complete and checked, with `link(2)`, which never
 * replaces a file: when the name is taken, a file with the very same bytes means another writer
 * of this URL finished first (the outcome is `exists`), any other file belongs to another URL
 * (`taken`: the engine gives this one another name). So no file under a final name ever holds a
 * partial body, and no commit replaces a file.
 *
 * A body streamed to disk (one larger than the stream buffer) from a response with a strong
 * validator (a strong ETag, or a Last-Modified at least a second older than the response's Date,
 * as RFC 9110 § 8.8.2.2 asks) gets a resume note, `OUT/.downpour-resume/HASH.json`, naming its
 * partial file. When such a download is cut off, its partial file and note are kept, and the
 * next attempt, in this run or a later one, takes the partial file over: it opens and locks it
 * (a writer still holding it keeps it), renames it to a name of its own (of two writers that
 * race for it, one wins; the other starts afresh) and asks for the rest with Range and If-Range.
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
import { redactUrl } from "../journal/redact.ts";
import { type Bytes, fileBytes, memoryBytes } from "./complete.ts";

/** The directory, inside the output directory, of the notes on resumable partial files. */
export const RESUME_DIR = ".downpour-resume";

/** What a resume note says. */
export interface ResumeNote {
  /** The final path, relative to the output directory. */
  path: string;
  /** The URL the partial body came from, its password redacted: none is ever written to disk. */
  href: string;
  /** The strong validator the body had, for If-Range: a strong ETag or a Last-Modified. */
  validator: string;
  /** The partial file's name, in the final file's directory. */
  part: string;
  /** The strong ETag, when the validator is one: a 206 must carry the same. */
  etag?: string;
  /** The whole file's size, when the response said it: a 206 must say the same. */
  total?: number;
}

/** A partial file an earlier attempt left, taken over by this one, and how to ask for the rest. */
export interface Resumable {
  /** The partial file's size: where the rest starts. */
  size: number;
  /** The validator for If-Range. */
  validator: string;
  /** The strong ETag the partial body had, if it had one. */
  etag?: string;
  /** The whole file's size, when it was known. */
  total?: number;
}

/** Temporary names: `.NAME.` then 16 hex digits then `.part`. */
const PART_NAME = /^\..+\.[0-9a-f]{16}\.part$/;

/**
 * A new temporary name for a download to be written to before it is linked to `path`: unique to
 * its writer, so that two writers never share one.
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
 * assert.match(partPath("cat.png"), /^\.cat\.png\.[0-9a-f]{16}\.part$/);
 * assert.match(partPath("007/cat.png"), /^007\/\.cat\.png\.[0-9a-f]{16}\.part$/);
 * assert.notEqual(partPath("cat.png"), partPath("cat.png"));
 * ```
 */
export function partPath(path: string): string {
  const slash = path.lastIndexOf("/");
  const random = crypto.getRandomValues(new Uint32Array(2));
  const hex = random[0]!.toString(16).padStart(8, "0") + random[1]!.toString(16).padStart(8, "0");
  return `${path.slice(0, slash + 1)}.${path.slice(slash + 1)}.${hex}.part`;
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
 * What a note's text says, or `undefined` when it is not a note (cut by a crash, say): the one
 * reader of notes. A `part` is kept only when it is a temporary name in the final file's directory.
 */
function parseNote(text: string): Partial<ResumeNote> | undefined {
  let note: unknown;
  try {
    note = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (note === null || typeof note !== "object" || Array.isArray(note)) return undefined;
  const read = note as Record<string, unknown>;
  const string = (key: string) => typeof read[key] === "string" ? read[key] as string : undefined;
  const part = string("part");
  return {
    path: string("path"),
    href: string("href"),
    validator: string("validator"),
    part: part !== undefined && PART_NAME.test(part) && !part.includes("/") ? part : undefined,
    etag: string("etag"),
    total: typeof read.total === "number" ? read.total : undefined,
  };
}

/** The note at `path`, if it is a regular file that can be read as one. */
function readNoteSync(path: string): Partial<ResumeNote> | undefined {
  try {
    if (!Deno.lstatSync(path).isFile) return undefined;
    return parseNote(Deno.readTextFileSync(path));
  } catch {
    return undefined;
  }
}

/** Every note in `out`'s directory of notes that can be read. */
async function* allNotes(out: string): AsyncGenerator<Partial<ResumeNote>> {
  let entries: AsyncIterable<Deno.DirEntry>;
  try {
    entries = Deno.readDir(`${out}/${RESUME_DIR}`);
    for await (const entry of entries) {
      if (!entry.isFile || !entry.name.endsWith(".json")) continue;
      let text: string;
      try {
        text = await Deno.readTextFile(`${out}/${RESUME_DIR}/${entry.name}`);
      } catch {
        continue; // gone since the listing
      }
      const note = parseNote(text);
      if (note) yield note;
    }
  } catch {
    // No notes.
  }
}

/** The temporary path a note names, relative to the output directory. */
function namedPart(note: Partial<ResumeNote>): string | undefined {
  if (note.path === undefined || note.part === undefined) return undefined;
  return note.path.slice(0, note.path.lastIndexOf("/") + 1) + note.part;
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
  for await (const note of allNotes(out)) if (note.path !== undefined) paths.add(note.path);
  return paths;
}

/**
 * A run's mark in the output directory: a file in the directory of resume notes, locked for as
 * long as the run lasts. A mark whose lock is free belongs to a run that was killed, so only
 * then do the temporary files it left need looking for (a scan of the whole directory).
 */
export class WriterMark {
  #out: string;
  #path: string;
  #file: Deno.FsFile;

  private constructor(out: string, path: string, file: Deno.FsFile) {
    this.#out = out;
    this.#path = path;
    this.#file = file;
  }

  /**
   * Leaves a locked mark in `out`. Another run that ends may remove the directory of notes, when
   * it finds it empty, between its making and the mark's: then it is made again, once.
   */
  static async create(out: string): Promise<WriterMark> {
    const path = `${out}/${RESUME_DIR}/writer-${crypto.randomUUID()}${MARK_SUFFIX}`;
    for (let again = false;; again = true) {
      await Deno.mkdir(`${out}/${RESUME_DIR}`, { recursive: true });
      try {
        const file = await Deno.open(path, { write: true, createNew: true });
        file.lockSync(true);
        return new WriterMark(out, path, file);
      } catch (error) {
        if (again || !(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
  }

  /** Removes the mark, and the directory of resume notes if nothing is left in it. */
  async release(): Promise<void> {
    this.#file.close();
    await Deno.remove(this.#path).catch(() => {});
    await Deno.remove(`${this.#out}/${RESUME_DIR}`).catch(() => {});
  }
}

const MARK_SUFFIX = ".lock";

/**
 * Removes the marks of runs that were killed.
 *
 * @returns Whether there was one.
 */
function clearDeadMarks(out: string): boolean {
  let dead = false;
  try {
    for (const entry of Deno.readDirSync(`${out}/${RESUME_DIR}`)) {
      if (!entry.isFile || !entry.name.endsWith(MARK_SUFFIX)) continue;
      const path = `${out}/${RESUME_DIR}/${entry.name}`;
      try {
        using file = Deno.openSync(path, { read: true });
        if (!file.tryLockSync(true)) continue; // a live run's (ours among them)
        Deno.removeSync(path);
        dead = true;
      } catch {
        // Gone already.
      }
    }
  } catch {
    // No directory of notes.
  }
  return dead;
}

/**
 * Tidies the output directory at the end of a run. When a run that was killed left its mark,
 * removes the temporary files that no writer holds and that no resume note names, in `out` and
 * in its `NNNN/` subdirectories (the `shard` layout); then the directory of resume notes, if no
 * note is left in it.
 *
 * @param out The output directory.
 */
export async function tidyResumeDir(out: string): Promise<void> {
  if (clearDeadMarks(out)) {
    const named = new Set<string>();
    for await (const note of allNotes(out)) {
      const part = namedPart(note);
      if (part !== undefined) named.add(part);
    }
    await sweepParts(out, named);
  }
  await Deno.remove(`${out}/${RESUME_DIR}`).catch(() => {});
}

/**
 * Removes the temporary files in `out` and its `NNNN/` subdirectories that no writer holds and
 * that no note names. `named` (the parts the notes named when they were listed) spares most
 * of those a note names without a look; as a note may have been written since (a live writer
 * took a partial file over, renamed it and was cut off), each file's note is read again, while
 * its lock is held, just before it goes.
 *
 * @param out The output directory.
 * @param named Paths, relative to `out`, of the temporary files that notes named.
 */
export async function sweepParts(out: string, named: ReadonlySet<string>): Promise<void> {
  const sweep = async (dir: string, prefix: string, depth: number) => {
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (entry.isDirectory && depth === 0 && /^\d{4}$/.test(entry.name)) {
          await sweep(`${dir}/${entry.name}`, `${entry.name}/`, 1);
        } else if (entry.isFile && PART_NAME.test(entry.name)) {
          if (named.has(prefix + entry.name)) continue;
          // `.NAME.` + 16 hex digits + `.part`: the note to read again is NAME's.
          const note = resumeNotePath(out, prefix + entry.name.slice(1, -22));
          removeIfAbandoned(
            `${dir}/${entry.name}`,
            100,
            () => readNoteSync(note)?.part === entry.name,
          );
        }
      }
    } catch {
      // The directory went away: nothing to tidy.
    }
  };
  await sweep(out, "", 0);
}

/**
 * Removes a temporary file unless a writer holds its lock, or it is younger than `minAge`
 * milliseconds (a writer locks its file a moment after creating it), or `keep()`, asked while the
 * lock is held, says so.
 *
 * @returns Whether no file of a writer's is left at `path`: it was removed, was not there, or is
 * not a regular file.
 */
function removeIfAbandoned(path: string, minAge = 100, keep?: () => boolean): boolean {
  try {
    if (!Deno.lstatSync(path).isFile) return true;
    using file = Deno.openSync(path, { read: true });
    const info = file.statSync();
    if (!info.isFile || Date.now() - (info.mtime?.getTime() ?? 0) < minAge) return false;
    if (!file.tryLockSync(true) || keep?.()) return false;
    Deno.removeSync(path);
    return true;
  } catch (error) {
    return error instanceof Deno.errors.NotFound; // else not ours to remove
  }
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

/** What {@linkcode PartFile.commit} came to. */
export type Commit =
  /** The body is under its final name. */
  | "saved"
  /** The final name already held these very bytes: another writer of this URL finished first. */
  | "exists"
  /** The final name holds another file: this body needs another name. */
  | "taken";

/** The OS error code of what a file operation threw. */
function codeOf(error: unknown): unknown {
  return (error as { code?: unknown } | null | undefined)?.code;
}

/** Whether two byte sources hold the same bytes, compared in slices. */
function sameBytes(a: Bytes, b: Bytes): boolean {
  if (a.size !== b.size) return false;
  const SLICE = 256 * 1024;
  for (let at = 0; at < a.size; at += SLICE) {
    const x = a.read(at, SLICE);
    const y = b.read(at, SLICE);
    if (x.byteLength !== y.byteLength) return false;
    for (let i = 0; i < x.byteLength; i++) if (x[i] !== y[i]) return false;
  }
  return true;
}

/**
 * Writes a small file beside a download (`PATH.json`, `PATH.txt`) under a temporary name and
 * renames it into place.
 *
 * @param out The output directory.
 * @param path The file's path, relative to `out`.
 * @param text Its content.
 * @throws {DiskError} When it cannot be written.
 */
export function writeBeside(out: string, path: string, text: string): void {
  const temporary = `${out}/${partPath(path)}`;
  disk("write the row's metadata", () => {
    Deno.writeTextFileSync(temporary, text);
    Deno.renameSync(temporary, `${out}/${path}`);
  });
}

/**
 * The temporary file of one attempt at a job, and its resume note.
 *
 * Disposing of it closes the file and then, by what the attempt came to: leaves the disk alone
 * (nothing was written, or the file was committed), removes the file and its note (they are of
 * no use to a later attempt), or keeps both for a later attempt to resume
 * ({@linkcode PartFile.kept}). Every method throws only {@linkcode DiskError}s.
 */
export class PartFile implements Disposable {
  readonly #out: string;
  readonly #job: Pick<Job, "path" | "href" | "resume">;
  /** The final file's directory, with a trailing slash. */
  readonly #dir: string;
  /** This attempt's temporary file, once it has one. */
  #part: string | undefined;
  /** The file being streamed into or appended to, while it is open (and locked). */
  #file: Deno.FsFile | undefined;
  #fate: "leave" | "remove" | "keep" = "leave";
  /** This attempt wrote a note. */
  #noted = false;

  /**
   * Makes the attempt's temporary file's keeper; nothing is done on disk yet.
   *
   * @param out The output directory.
   * @param job The job: its final path, its URL, and whether an earlier attempt left a note.
   */
  constructor(out: string, job: Pick<Job, "path" | "href" | "resume">) {
    this.#out = out;
    this.#job = job;
    const slash = job.path.lastIndexOf("/");
    this.#dir = `${out}/${job.path.slice(0, slash + 1)}`;
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

  /** The note, if there is one that can be read, as a regular file. */
  #readNote(): Partial<ResumeNote> | undefined {
    return readNoteSync(this.#note());
  }

  /**
   * Writes the note, whole or not at all (a temporary file renamed over it). A run that ends may
   * remove the directory of notes, when it finds it empty, between its making and the write:
   * then it is made again, once.
   */
  #writeNote(note: ResumeNote): void {
    this.#noted = true; // before the write: a note that is half written must go too
    disk("write the resume note", () => {
      const temporary = `${this.#note()}.${partPath("n").slice(3, 19)}.tmp`;
      for (let again = false;; again = true) {
        try {
          Deno.mkdirSync(`${this.#out}/${RESUME_DIR}`);
        } catch (error) {
          if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
        }
        try {
          Deno.writeTextFileSync(temporary, JSON.stringify(note), { createNew: true });
          break;
        } catch (error) {
          if (again || !(error instanceof Deno.errors.NotFound)) throw error;
        }
      }
      Deno.renameSync(temporary, this.#note());
    });
  }

  /** Removes the note if it names this attempt's partial file (or cannot be read and is ours). */
  #dropNote(): void {
    if (!this.#mayHaveNote()) return;
    const note = this.#readNote();
    const mine = this.#part?.slice(this.#dir.length);
    if (note ? note.part === mine || note.part === undefined : this.#noted) {
      removeQuietly(this.#note());
    }
  }

  /**
   * Takes over the partial file an earlier attempt left, to resume it: opens and locks it (a
   * writer that still holds it keeps it), renames it to a name of this attempt's own and rewrites
   * the note to name it. Only a regular file is taken over: never a symlink, a FIFO or a device;
   * nor one with another link, as a commit killed between its `link(2)` and its `unlink(2)`
   * leaves (its partial file is the saved file): that name and its note go.
   *
   * @returns The partial file's size and what its note says; `undefined` when the job has no
   * note, or the note is unreadable or for another URL, or the partial file is missing, empty,
   * not a regular file, held by another writer or taken over by another first.
   */
  resumable(): Resumable | undefined {
    if (!this.#job.resume) return undefined;
    const note = this.#readNote();
    if (
      !note || note.href !== redactUrl(this.#job.href) || note.validator === undefined ||
      note.part === undefined
    ) {
      return undefined;
    }
    const source = this.#dir + note.part;
    let file: Deno.FsFile | undefined;
    try {
      const before = Deno.lstatSync(source);
      if (!before.isFile) return undefined;
      file = Deno.openSync(source, { read: true, append: true });
      const opened = file.statSync();
      if (!opened.isFile || opened.ino !== before.ino || !file.tryLockSync(true)) {
        file.close();
        return undefined;
      }
      if ((opened.nlink ?? 1) > 1) {
        // Another name shares its bytes: a committed file. Appending would change that file.
        removeQuietly(source);
        removeQuietly(this.#note());
        file.close();
        return undefined;
      }
      const own = `${this.#out}/${partPath(this.#job.path)}`;
      Deno.renameSync(source, own); // of two writers racing for it, one wins
      const after = Deno.lstatSync(own);
      if (after.ino !== opened.ino || after.dev !== opened.dev) {
        file.close();
        return undefined;
      }
      this.#part = own;
      this.#file = file;
      if (opened.size === 0) {
        this.#fate = "remove";
        return undefined;
      }
      const resumable: Resumable = {
        size: opened.size,
        validator: note.validator,
        ...(note.etag !== undefined ? { etag: note.etag } : {}),
        ...(note.total !== undefined ? { total: note.total } : {}),
      };
      this.#fate = "keep";
      this.#writeNote({
        path: this.#job.path,
        href: redactUrl(this.#job.href),
        part: own.slice(this.#dir.length),
        ...resumable,
      } as ResumeNote);
      return resumable;
    } catch {
      if (this.#file !== file) file?.close();
      return undefined;
    }
  }

  /** Marks the temporary file and any note for removal: they are of no use to a later attempt. */
  discard(): void {
    this.#fate = "remove";
  }

  /**
   * A whole body comes instead of the rest of an earlier attempt's: the partial file taken over
   * and its note go now, whatever becomes of this attempt.
   */
  supersede(): void {
    if (!this.#part) {
      // A note this attempt did not take over (another URL's, or a partial file held by another
      // writer): the partial file goes unless a writer holds it, and the note only with it.
      if (!this.#job.resume) return;
      const part = this.#readNote()?.part;
      if (part === undefined || removeIfAbandoned(this.#dir + part, 0)) {
        removeQuietly(this.#note());
      }
      return;
    }
    this.#file?.close();
    this.#file = undefined;
    removeQuietly(this.#part);
    this.#dropNote();
    this.#part = undefined;
    this.#fate = "leave";
  }

  /** Creates the directory of the final file (once per directory and thread), never `out`. */
  makeDirectory(): void {
    if (this.#dir === `${this.#out}/`) return;
    const dir = this.#dir.slice(0, -1);
    if (made.has(dir)) return;
    disk("create the directory", () => {
      try {
        // Not recursive: when the output directory is gone, this fails instead of remaking it.
        Deno.mkdirSync(dir);
      } catch (error) {
        if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      }
    });
    made.add(dir);
  }

  /**
   * Readies the partial file taken over by {@linkcode PartFile.resumable} for the rest of its
   * body.
   *
   * @param hash A hash to feed the bytes already there, so that it covers the whole body.
   */
  async append(hash: Hash | undefined): Promise<void> {
    this.#fate = "keep";
    if (!hash) return;
    // Asynchronous, unlike the other file steps: the partial file may be gigabytes.
    try {
      using existing = await Deno.open(this.#part!);
      for await (const chunk of existing.readable) hash.update(chunk);
    } catch (error) {
      throw new DiskError("read the partial file", error);
    }
  }

  /** Creates this attempt's temporary file, exclusively, and locks it. */
  #create(): Deno.FsFile {
    this.#part = `${this.#out}/${partPath(this.#job.path)}`;
    const file = Deno.openSync(this.#part, { read: true, write: true, createNew: true });
    file.lockSync(true);
    return file;
  }

  /**
   * Creates the temporary file to stream a body into. With a strong validator, a note is written
   * too, and the file is kept if the download is cut off.
   *
   * @param validator The response's strong validator (ETag or Last-Modified), if any.
   * @param etag The response's strong ETag, if any.
   * @param total The whole file's size, when the response said it.
   */
  create(validator: string | undefined, etag?: string, total?: number): void {
    this.#fate = "remove";
    this.#file = disk("create the temporary file", () => this.#create());
    if (!validator) return;
    this.#writeNote({
      path: this.#job.path,
      href: redactUrl(this.#job.href),
      validator,
      part: this.#part!.slice(this.#dir.length),
      ...(etag ? { etag } : {}),
      ...(total !== undefined ? { total } : {}),
    });
    this.#fate = "keep";
  }

  /**
   * Appends to the file opened by {@linkcode PartFile.create} or taken over.
   *
   * @param bytes The bytes.
   */
  write(bytes: Uint8Array): void {
    disk("write the file", () => writeAll(this.#file!, bytes));
  }

  /**
   * Random access to what was streamed into the file, to check the body's structure.
   *
   * @param size The body's size.
   */
  bytes(size: number): Bytes {
    const file = this.#file!;
    const inner = fileBytes(file, size);
    return {
      size,
      read: (offset, length) => disk("read the temporary file", () => inner.read(offset, length)),
    };
  }

  /**
   * Puts the body under its final name, never replacing a file there: writes it (or takes the
   * file it was streamed into), links it to the final name, and drops the temporary name and the
   * note.
   *
   * @param body The whole body, when it was received in memory; `undefined` when it was streamed
   * into the file.
   * @param size The body's size.
   * @returns Whether it was saved, was there already, or found the name taken.
   */
  commit(body: Uint8Array | undefined, size: number): Commit {
    this.#fate = "remove";
    if (body) {
      this.#file = disk("write the temporary file", () => {
        const file = this.#create();
        writeAll(file, body);
        return file;
      });
    }
    const final = `${this.#out}/${this.#job.path}`;
    const part = this.#part!;
    let verdict = "saved" as Commit;
    disk("link the finished file to its name", () => {
      try {
        Deno.linkSync(part, final); // link(2) fails with EEXIST: it never replaces a file
      } catch (error) {
        const code = codeOf(error);
        if (error instanceof Deno.errors.AlreadyExists || code === "EEXIST") {
          verdict = this.#alreadyThere(final, body, size);
          return;
        }
        if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "ENOSYS") {
          throw error;
        }
        // A file system without hard links: rename, after a look (not atomic, unlike link).
        try {
          Deno.lstatSync(final);
          verdict = this.#alreadyThere(final, body, size);
          return;
        } catch (missing) {
          if (!(missing instanceof Deno.errors.NotFound)) throw missing;
        }
        Deno.renameSync(part, final);
        this.#part = undefined;
      }
    });
    if (verdict === "taken") return verdict;
    this.#file?.close();
    this.#file = undefined;
    if (this.#part) removeQuietly(this.#part);
    this.#dropNote();
    this.#fate = "leave";
    return verdict;
  }

  /**
   * What a name that is already there holds: these very bytes (`exists`: the very file, or
   * another with the same bytes), or another file.
   */
  #alreadyThere(final: string, body: Uint8Array | undefined, size: number): Commit {
    try {
      if (!Deno.lstatSync(final).isFile) return "taken"; // a symlink, a directory: never followed
      using there = Deno.openSync(final, { read: true });
      const info = there.statSync();
      if (!info.isFile) return "taken";
      const mine = this.#file!.statSync();
      if (info.ino === mine.ino && info.dev === mine.dev) return "exists"; // no bytes to compare
      if (info.size !== size) return "taken";
      const ours = body ? memoryBytes(body) : fileBytes(this.#file!, size);
      return sameBytes(fileBytes(there, size), ours) ? "exists" : "taken";
    } catch {
      return "taken";
    }
  }

  /**
   * Puts other bytes (a resized image) in place of the body streamed into the temporary file,
   * to be committed with {@linkcode PartFile.commit} (without a body).
   *
   * @param bytes The new content.
   */
  rewrite(bytes: Uint8Array): void {
    disk("rewrite the temporary file", () => {
      const file = this.#file!;
      file.truncateSync(0);
      file.seekSync(0, Deno.SeekMode.Start);
      writeAll(file, bytes);
    });
  }

  /** Closes the file, and removes it and its note unless they are committed or kept. */
  [Symbol.dispose](): void {
    this.#file?.close();
    this.#file = undefined;
    if (this.#fate !== "remove") return;
    if (this.#part) removeQuietly(this.#part);
    this.#dropNote();
  }
}
