/**
 * The options of {@linkcode download} and their validation.
 *
 * @module
 */

/** Options for {@linkcode download}. Only `out` is required. */
export interface DownloadOptions {
  /** The directory files go to; created if missing. */
  out: string;
  /** How many Web Workers fetch and write. Default: `navigator.hardwareConcurrency`. */
  workers?: number;
  /** Downloads in flight per worker. Default: 16. */
  concurrency?: number;
  /** Downloads in flight per host (`host:port`), across all workers. Default: 6, as browsers do. */
  perHost?: number;
  /** Retries after a network error, a timeout or status 408, 429, 500, 502, 503 or 504. Default: 3. */
  retries?: number;
  /** The largest body kept, in bytes, counted as it arrives (after decompression). Default: 64 MiB. */
  maxBytes?: number;
  /** Keep any kind of file, not only images recognised by their magic bytes. Default: false. */
  anyType?: boolean;
  /** Milliseconds to wait for a connection and the response headers. Default: 30,000. */
  headersTimeout?: number;
  /** Milliseconds without a single body byte after which a download is abandoned. Default: 30,000. */
  idleTimeout?: number;
  /** Milliseconds one attempt may take in all; 0 means no limit. Default: 0. */
  totalTimeout?: number;
  /** Redirects followed per request (http and https only). Default: 10. */
  maxRedirects?: number;
  /** The User-Agent header. Default: `downpour/VERSION`. */
  userAgent?: string;
  /**
   * Keep a journal in `out` (`.downpour-journal.jsonl`): URLs it records as saved, whose file is
   * still there with the same size, are skipped without a request. Default: true.
   */
  journal?: boolean;
  /** Stops the run: nothing more is dispatched, downloads in flight are aborted and their temporary files removed. */
  signal?: AbortSignal;
}

/** {@linkcode DownloadOptions} with every default filled in; what the engine and the workers use. */
export interface ResolvedOptions {
  out: string;
  workers: number;
  concurrency: number;
  perHost: number;
  retries: number;
  maxBytes: number;
  anyType: boolean;
  headersTimeout: number;
  idleTimeout: number;
  totalTimeout: number;
  maxRedirects: number;
  userAgent: string;
  journal: boolean;
  signal?: AbortSignal;
}

/** The version of downpour, as in deno.json. */
export const VERSION = "0.1.0";

/** The defaults of {@linkcode DownloadOptions}, except `workers`, which is the number of cores. */
export const DEFAULTS = {
  concurrency: 16,
  perHost: 6,
  retries: 3,
  maxBytes: 64 * 1024 * 1024,
  headersTimeout: 30_000,
  idleTimeout: 30_000,
  totalTimeout: 0,
  maxRedirects: 10,
  userAgent: `downpour/${VERSION}`,
} as const;

function integer(
  value: unknown,
  name: string,
  fallback: number,
  min: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") {
    throw new TypeError(`Cannot start download: '${name}' must be a number, got ${typeof value}`);
  }
  if (!Number.isSafeInteger(value) || value < min) {
    const what = min === 0 ? "a non-negative integer" : "a positive integer";
    throw new RangeError(`Cannot start download: '${name}' must be ${what}, got ${value}`);
  }
  return value;
}

function flag(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") {
    throw new TypeError(`Cannot start download: '${name}' must be a boolean, got ${typeof value}`);
  }
  return value;
}

/**
 * Checks the options and fills in the defaults.
 *
 * @param options The caller's options.
 * @returns The options with every default filled in.
 * @throws {TypeError} When an option has the wrong type or `out` is missing.
 * @throws {RangeError} When a number is out of range.
 *
 * @example Defaults are filled in
 * ```ts
 * import { resolveOptions } from "./options.ts";
 * import assert from "node:assert/strict";
 *
 * const resolved = resolveOptions({ out: "images", workers: 2 });
 * assert.equal(resolved.workers, 2);
 * assert.equal(resolved.perHost, 6);
 * assert.throws(() => resolveOptions({ out: "images", workers: 0 }), RangeError);
 * ```
 */
export function resolveOptions(options: DownloadOptions): ResolvedOptions {
  if (options === null || typeof options !== "object") {
    throw new TypeError("Cannot start download: options must be an object with at least 'out'");
  }
  if (typeof options.out !== "string" || options.out === "") {
    throw new TypeError("Cannot start download: 'out' must be the path of a directory");
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new TypeError("Cannot start download: 'signal' must be an AbortSignal");
  }
  if (options.userAgent !== undefined && typeof options.userAgent !== "string") {
    throw new TypeError("Cannot start download: 'userAgent' must be a string");
  }
  const cores = Math.max(1, navigator.hardwareConcurrency || 1);
  const resolved: ResolvedOptions = {
    out: options.out,
    workers: integer(options.workers, "workers", cores, 1),
    concurrency: integer(options.concurrency, "concurrency", DEFAULTS.concurrency, 1),
    perHost: integer(options.perHost, "perHost", DEFAULTS.perHost, 1),
    retries: integer(options.retries, "retries", DEFAULTS.retries, 0),
    maxBytes: integer(options.maxBytes, "maxBytes", DEFAULTS.maxBytes, 1),
    anyType: flag(options.anyType, "anyType"),
    headersTimeout: integer(options.headersTimeout, "headersTimeout", DEFAULTS.headersTimeout, 1),
    idleTimeout: integer(options.idleTimeout, "idleTimeout", DEFAULTS.idleTimeout, 1),
    totalTimeout: integer(options.totalTimeout, "totalTimeout", DEFAULTS.totalTimeout, 0),
    maxRedirects: integer(options.maxRedirects, "maxRedirects", DEFAULTS.maxRedirects, 0),
    userAgent: options.userAgent ?? DEFAULTS.userAgent,
    journal: options.journal === undefined ? true : flag(options.journal, "journal"),
  };
  if (resolved.workers > 256) {
    throw new RangeError(
      `Cannot start download: 'workers' must be at most 256, got ${resolved.workers}`,
    );
  }
  if (options.signal) resolved.signal = options.signal;
  return resolved;
}
