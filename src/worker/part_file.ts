/**
 * A download's temporary file ({@linkcode PartFile}): written, then committed, kept for a later
 * attempt, or removed; and the taking over of a partial file an earlier attempt left.
 *
 * A body is written to a temporary file of its writer's own, `.NAME.UNIQUE.part` beside its final
 * name (see `partPath`), created exclusively (`O_EXCL`: whatever already sits at a name, a
 * symlink, a FIFO or another writer's file, is never opened; a name found taken is drawn again)
 * and, when streamed, locked (`flock`) while it is written. It is put under its final name only
 * when it is complete and checked, with `link(2)`, which never replaces a file: when the name is
 * taken, a file with the very same bytes means another writer of this URL finished first (the
 * outcome is `exists`), any other file belongs to another URL (`taken`: the engine gives this one
 * another name). So no file under a final name ever holds a partial body, and no commit replaces
 * a file. What a resume note is, is in `resume.ts`.
 *
 * The worker's file operations are synchronous: each takes microseconds on a local disk, while
 * an asynchronous one is a hop to a thread of Deno's blocking pool and back, and with many
 * downloads in flight, that pool grows a thread (and its memory) for each.
 *
 * @module
 */

import type { Hash } from "node:crypto";
import type { Job } from "../protocol.ts";
import { redactUrl } from "../journal/redact.ts";
import { type Bytes, fileBytes, memoryBytes, sameBytes } from "./complete.ts";
import { disk, DiskError, linkNew, removeQuietly, writeAll } from "./disk.ts";
import {
  newPartPrefix,
  partPath,
  readNoteSync,
  removeIfAbandoned,
  type Resumable,
  type ResumeNote,
  resumeNotePath,
  writeNoteSync,
} from "./resume.ts";

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

  /** Writes the note, whole or not at all. */
  #writeNote(note: ResumeNote): void {
    this.#noted = true; // before the write: a note that is half written must go too
    disk("write the resume note", () => writeNoteSync(this.#note(), this.#out, note));
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
   * writer that still holds it keeps it), moves it to a name of this attempt's own and rewrites
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
      const first = file.statSync();
      if (!first.isFile || first.ino !== before.ino || !file.tryLockSync(true)) {
        file.close();
        return undefined;
      }
      // Looked at again under the lock: a writer that held it may have committed it since (linked
      // it to its final name, and unlinked this name) and let it go.
      const opened = file.statSync();
      if ((opened.nlink ?? 1) > 1) {
        // Another name shares its bytes: a committed file. Appending would change that file.
        removeQuietly(source);
        removeQuietly(this.#note());
        file.close();
        return undefined;
      }
      // The lock settled which of two writers takes it over; a name of its own, below, keeps it
      // from the other's temporary files.
      const own = this.#takeOver(source, opened);
      if (own === undefined) {
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

  /**
   * Moves the opened partial file to a temporary name of this attempt's. By `link(2)` and an
   * unlink, not by `rename(2)`: a rename would replace a file that holds the new name (another
   * writer's, whose random half of the name happened to be the same), and link never replaces. A
   * name found taken is drawn again, as {@linkcode PartFile} does for a new file. The new name is
   * checked to hold the opened file before the old one goes: the old name may have been given to
   * another file since it was opened, and that file keeps it.
   *
   * @returns The new name, or `undefined` when the old name no longer holds the opened file.
   */
  #takeOver(source: string, opened: Deno.FileInfo): string | undefined {
    for (let tries = 1;; tries++) {
      const own = `${this.#out}/${partPath(this.#job.path)}`;
      const how = linkNew(source, own);
      if (how === "taken") {
        if (tries === 3) throw new Deno.errors.AlreadyExists(`${own} is taken`);
        newPartPrefix();
        continue;
      }
      const at = Deno.lstatSync(own);
      if (at.ino !== opened.ino || at.dev !== opened.dev) {
        // Another file: the name taken from it goes back (a rename, without hard links).
        if (how === "linked") removeQuietly(own);
        else linkNew(own, source);
        return undefined;
      }
      if (how === "linked") removeQuietly(source);
      return own;
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

  /**
   * Creates the directory of the final file (once per directory and thread), and a missing one
   * above it, but never `out`: when the output directory is gone, this fails instead of remaking
   * it. (A directory above may go while this runs: another process sharding the same dataset
   * removes `.downpour-samples` when it finds it empty.)
   */
  makeDirectory(): void {
    if (this.#dir === `${this.#out}/`) return;
    const dir = this.#dir.slice(0, -1);
    if (made.has(dir)) return;
    disk("create the directory", () => makeBelow(this.#out, dir));
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

  /** Creates this attempt's temporary file to stream into, exclusively, and locks it. */
  #create(): Deno.FsFile {
    const file = this.#exclusive((path) =>
      Deno.openSync(path, { read: true, write: true, createNew: true })
    );
    file.lockSync(true);
    return file;
  }

  /**
   * Makes this attempt's temporary file under a new name with `make`, which must create it
   * exclusively; a name found taken (another process drew the same random half) is drawn again.
   */
  #exclusive<T>(make: (path: string) => T): T {
    for (let tries = 1;; tries++) {
      const path = `${this.#out}/${partPath(this.#job.path)}`;
      try {
        const made = make(path);
        this.#part = path;
        return made;
      } catch (error) {
        // A name found taken is another writer's: never this attempt's to remove.
        if (!(error instanceof Deno.errors.AlreadyExists)) {
          this.#part = path; // made, perhaps, and half written: it goes with the attempt
          throw error;
        }
        if (tries === 3) throw error;
        newPartPrefix();
      }
    }
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
      // Created, written and closed by one call; linked and unlinked at once after it, so no
      // other writer takes it meanwhile (the sweep leaves files this young alone) and it needs
      // no lock.
      disk(
        "write the temporary file",
        () => this.#exclusive((path) => Deno.writeFileSync(path, body, { createNew: true })),
      );
    }
    const final = `${this.#out}/${this.#job.path}`;
    const part = this.#part!;
    let verdict = "saved" as Commit;
    disk("link the finished file to its name", () => {
      const how = linkNew(part, final); // it never replaces a file
      if (how === "taken") verdict = this.#alreadyThere(final, body, size);
      if (how === "renamed") this.#part = undefined;
    });
    if (verdict === "taken") return verdict;
    // The temporary name goes while the file is still locked: a writer waiting for the lock to
    // resume it then finds no file to take over, never the saved one under its old name.
    if (this.#part) removeQuietly(this.#part);
    this.#file?.close();
    this.#file = undefined;
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
      const mine = this.#file ? this.#file.statSync() : Deno.lstatSync(this.#part!);
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
    // A file that goes loses its name before its lock, as in a commit.
    const remove = this.#fate === "remove";
    if (remove && this.#part) removeQuietly(this.#part);
    this.#file?.close();
    this.#file = undefined;
    if (remove) this.#dropNote();
  }
}

/**
 * Makes `dir` and any missing directory between it and `out`, one level at a time, never `out`
 * itself. A parent that goes again meanwhile (removed while empty) is made again, a few times.
 */
function makeBelow(out: string, dir: string, tries = 3): void {
  try {
    Deno.mkdirSync(dir);
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return;
    const parent = dir.slice(0, dir.lastIndexOf("/"));
    if (!(error instanceof Deno.errors.NotFound) || parent === out || tries === 0) throw error;
    makeBelow(out, parent, tries - 1);
    makeBelow(out, dir, tries - 1);
  }
}
