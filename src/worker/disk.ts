/**
 * The worker's file-system steps and their one error: {@linkcode DiskError} (a failure of the
 * disk, not the network), synchronous writes, and the small files written beside a download.
 *
 * @module
 */

import { partPath } from "./resume.ts";

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
export function disk<T>(what: string, step: () => T): T {
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
export function writeAll(file: Deno.FsFile, bytes: Uint8Array): void {
  let at = 0;
  while (at < bytes.byteLength) at += file.writeSync(bytes.subarray(at));
}

/** Removes a file if it is there. */
export function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // Already gone, or never made.
  }
}
/** The OS error code of what a file operation threw. */
export function codeOf(error: unknown): unknown {
  return (error as { code?: unknown } | null | undefined)?.code;
}

/** Whether `link(2)` failed because the file system has no hard links (FAT, some mounts). */
function noHardLinks(error: unknown): boolean {
  const code = codeOf(error);
  return code === "EPERM" || code === "ENOTSUP" || code === "EOPNOTSUPP" || code === "ENOSYS";
}

/**
 * Gives the file at `from` the name `to` too, never replacing a file there: by `link(2)`, which
 * fails when `to` exists, or, on a file system without hard links, by a rename after a look (not
 * atomic, unlike link).
 *
 * @param from The file's name now.
 * @param to Its new name.
 * @returns `"linked"` when both names now hold the file, `"renamed"` when only `to` does, and
 * `"taken"` when a file was at `to` already (nothing changed).
 */
export function linkNew(from: string, to: string): "linked" | "renamed" | "taken" {
  try {
    Deno.linkSync(from, to);
    return "linked";
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists || codeOf(error) === "EEXIST") return "taken";
    if (!noHardLinks(error)) throw error;
  }
  try {
    Deno.lstatSync(to);
    return "taken";
  } catch (missing) {
    if (!(missing instanceof Deno.errors.NotFound)) throw missing;
  }
  Deno.renameSync(from, to);
  return "renamed";
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
