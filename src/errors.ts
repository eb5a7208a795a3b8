/**
 * The errors {@linkcode download} throws, one class per condition a caller may want to catch;
 * and, inside, the {@linkcode TimeoutError} that aborts a request and {@linkcode isDiskFull}.
 *
 * Failures of single URLs are not thrown: they are results with `ok: false`.
 *
 * @module
 */

/**
 * The output directory cannot be created or written to; nothing was downloaded.
 *
 * @example
 * ```ts
 * import { OutDirError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new OutDirError("/nope", "permission denied");
 * assert.equal(error.name, "OutDirError");
 * assert.equal(error.dir, "/nope");
 * ```
 */
export class OutDirError extends Error {
  /** The directory, as given. */
  readonly dir: string;

  /**
   * Makes the error; its message names the directory and the problem.
   *
   * @param dir The directory, as given.
   * @param problem What went wrong, e.g. the system's message.
   * @param options The underlying error as `cause`.
   */
  constructor(dir: string, problem: string, options?: ErrorOptions) {
    super(`Cannot write to the output directory '${dir}': ${problem}`, options);
    this.name = "OutDirError";
    this.dir = dir;
  }
}

/**
 * The disk filled up during the run; the run stopped. Files already saved are complete.
 *
 * @example
 * ```ts
 * import { DiskFullError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new DiskFullError("downloads", "No space left on device (os error 28)");
 * assert.equal(error.name, "DiskFullError");
 * assert.match(error.message, /downloads/);
 * ```
 */
export class DiskFullError extends Error {
  /** The output directory. */
  readonly dir: string;

  /**
   * Makes the error; its message names the directory and says what to do.
   *
   * @param dir The output directory.
   * @param problem The system's message.
   * @param options The underlying error as `cause`.
   */
  constructor(dir: string, problem: string, options?: ErrorOptions) {
    super(
      `The disk holding '${dir}' is full (${problem}); the run stopped. Free some space and run again: saved files are kept`,
      options,
    );
    this.name = "DiskFullError";
    this.dir = dir;
  }
}

/**
 * The output directory went away or turned unwritable during the run (it was deleted, unmounted,
 * made read-only); the run stopped. Files saved before are complete.
 *
 * @example
 * ```ts
 * import { OutDirLostError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new OutDirLostError("downloads", "No such file or directory (os error 2)");
 * assert.equal(error.name, "OutDirLostError");
 * assert.equal(error.dir, "downloads");
 * ```
 */
export class OutDirLostError extends Error {
  /** The output directory. */
  readonly dir: string;

  /**
   * Makes the error; its message names the directory and the problem.
   *
   * @param dir The output directory.
   * @param problem What the file system said.
   * @param options The underlying error as `cause`.
   */
  constructor(dir: string, problem: string, options?: ErrorOptions) {
    super(
      `The output directory '${dir}' went away or cannot be written to any more (${problem}); the run stopped. Files saved before are kept`,
      options,
    );
    this.name = "OutDirLostError";
    this.dir = dir;
  }
}

/**
 * The reason a request (a download, a robots.txt) is aborted with when a time limit runs out; its
 * message is a sentence for the user.
 */
export class TimeoutError extends Error {
  /**
   * Which limit ran out: the one on waiting for headers, on waiting for body bytes, on the
   * average speed, or in all.
   */
  readonly limit: "headers" | "idle" | "speed" | "total";

  /**
   * Makes the error.
   *
   * @param limit Which limit ran out.
   * @param message A sentence for the user.
   */
  constructor(limit: "headers" | "idle" | "speed" | "total", message: string) {
    super(message);
    this.name = "TimeoutError";
    this.limit = limit;
  }
}

/**
 * Tells whether a file-system error means the disk (or the user's quota) is full, by its code.
 *
 * @param error What a file operation threw.
 * @returns Whether its `code` is `ENOSPC` or `EDQUOT`.
 */
export function isDiskFull(error: unknown): boolean {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
}

/**
 * Tells whether a file-system error means the output directory is gone or can no longer be
 * written to, by its code: `EACCES`, `EPERM` or `EROFS`, or `ENOENT` when `out` itself is missing.
 *
 * @param error What a file operation threw.
 * @param out The output directory, checked when the error is `ENOENT`.
 * @returns Whether the run cannot go on writing into `out`.
 */
export function isDirLost(error: unknown, out: string): boolean {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") return true;
  if (code !== "ENOENT") return false;
  try {
    return !Deno.statSync(out).isDirectory;
  } catch {
    return true;
  }
}

/**
 * The input list cannot be read as asked: a column it must have is missing, a column has the
 * wrong type, or the file is not of its format (a `.parquet` file that is not Parquet). Nothing
 * was downloaded for it; the command reports it as a usage error (exit status 2).
 *
 * @example
 * ```ts
 * import { InputError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new InputError("the CSV header has no 'link' column", { columns: ["url"] });
 * assert.equal(error.name, "InputError");
 * assert.deepEqual(error.columns, ["url"]);
 * ```
 */
export class InputError extends TypeError {
  /** The columns the list has, when known. */
  readonly columns: string[] | undefined;

  /**
   * Makes the error.
   *
   * @param message What is wrong and what to do, as a sentence.
   * @param options The columns the list has, and the underlying error as `cause`.
   */
  constructor(message: string, options?: ErrorOptions & { columns?: string[] }) {
    super(`Cannot read the input: ${message}`, options);
    this.name = "InputError";
    this.columns = options?.columns;
  }
}
