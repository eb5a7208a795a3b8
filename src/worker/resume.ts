/**
 * Resume notes and temporary names: what a note says and where it is, the run's
 * {@linkcode WriterMark}, and the sweep of the temporary files that killed runs left. The writer's
 * side, the temporary file itself ({@linkcode PartFile}), is in `part_file.ts`.
 *
 * A body streamed to disk (one larger than the stream buffer) from a response with a strong
 * validator (a strong ETag, or a Last-Modified at least a second older than the response's Date,
 * as RFC 9110 § 8.8.2.2 asks) gets a resume note, `OUT/.downpour-resume/HASH.json`, naming its
 * partial file. When such a download is cut off, its partial file and note are kept, and the
 * next attempt, in this run or a later one, takes the partial file over: it opens and locks it
 * (a writer still holding it keeps it), renames it to a name of its own (of two writers that
 * race for it, one wins; the other starts afresh) and asks for the rest with Range and If-Range.
 *
 * The main thread's operations ({@linkcode resumeNotes}, {@linkcode tidyResumeDir}) are
 * asynchronous; the worker's (in `part_file.ts`) are synchronous.
 *
 * @module
 */

import { stableHash } from "../hash.ts";

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
  prefix ??= randomHex();
  sequence = (sequence + 1) >>> 0;
  if (sequence === 0) prefix = randomHex();
  const hex = prefix + sequence.toString(16).padStart(8, "0");
  return `${path.slice(0, slash + 1)}.${path.slice(slash + 1)}.${hex}.part`;
}

/**
 * Starts the temporary names of this thread afresh: after a name was found taken (by another
 * process whose random half happened to be the same), so that the next ones differ from its.
 */
export function newPartPrefix(): void {
  prefix = randomHex();
}

/**
 * A temporary name's first 8 hex digits: random, drawn once per thread; the other 8 count. A
 * draw per name would cost a call into the runtime per file, and the names need to be unique,
 * not unguessable: they are created with `O_EXCL`, so a name another writer holds is never opened.
 */
let prefix: string | undefined;
let sequence = 0;

function randomHex(): string {
  return crypto.getRandomValues(new Uint32Array(1))[0]!.toString(16).padStart(8, "0");
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

/** The note at `path`, if it is a regular file that can be read as one (synchronously). */
export function readNoteSync(path: string): Partial<ResumeNote> | undefined {
  try {
    if (!Deno.lstatSync(path).isFile) return undefined;
    return parseNote(Deno.readTextFileSync(path));
  } catch {
    return undefined;
  }
}

/**
 * Writes a note at `path`, whole or not at all (a temporary file renamed over it). A run that
 * ends may remove the directory of notes, when it finds it empty, between its making and the
 * write: then it is made again, once.
 */
export function writeNoteSync(path: string, out: string, note: ResumeNote): void {
  const temporary = `${path}.${partPath("n").slice(3, 19)}.tmp`;
  for (let again = false;; again = true) {
    try {
      Deno.mkdirSync(`${out}/${RESUME_DIR}`);
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
  Deno.renameSync(temporary, path);
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
   * it finds it empty, between its making and the mark's: then it is made again, a few times.
   */
  static async create(out: string): Promise<WriterMark> {
    const path = `${out}/${RESUME_DIR}/writer-${crypto.randomUUID()}${MARK_SUFFIX}`;
    for (let tries = 1;; tries++) {
      try {
        await Deno.mkdir(`${out}/${RESUME_DIR}`, { recursive: true });
        const file = await Deno.open(path, { write: true, createNew: true });
        file.lockSync(true);
        return new WriterMark(out, path, file);
      } catch (error) {
        // NotFound: it went before the mark was made. AlreadyExists, from the recursive mkdir:
        // it was there, then went before mkdir could see it as a directory.
        const gone = error instanceof Deno.errors.NotFound ||
          error instanceof Deno.errors.AlreadyExists;
        if (tries === 3 || !gone) throw error;
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
export function removeIfAbandoned(path: string, minAge = 100, keep?: () => boolean): boolean {
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
