/**
 * The options of {@linkcode download} and their validation.
 *
 * @module
 */

/**
 * Options for {@linkcode download}. Only `out` is required.
 *
 * @example
 * ```ts
 * import { DEFAULTS, type DownloadOptions } from "./options.ts";
 * import assert from "node:assert/strict";
 *
 * const options: DownloadOptions = { out: "images", perHost: 2 };
 * assert.equal(options.concurrency ?? DEFAULTS.concurrency, 16);
 * ```
 */
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
  /**
   * Compute each saved file's SHA-256, for the results (`sha256`) and the journal. Default: false,
   * since it costs CPU (about 13 µs for 22 KB, a quarter of the time of a large file on loopback).
   * A file whose input entry gives a `sha256` is always hashed and checked.
   */
  digest?: boolean;
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
  /** `flat` puts every file in `out`; `shard` puts the Nth URL of the input in `out/NNNN/` (1,000 a directory). Default: flat. */
  layout?: "flat" | "shard";
  /** Requests per second per host, as a token bucket; 0 means no limit. Default: 0. */
  rate?: number;
  /** Fetch each host's robots.txt once and skip the URLs it disallows for our user agent. Default: false. */
  robots?: boolean;
  /**
   * Refuse URLs, and redirects, whose host resolves to a loopback, private, link-local or
   * unique-local address (against SSRF, for services that take URLs from others). Default: false.
   */
  denyPrivate?: boolean;
  /** Skip responses whose `X-Robots-Tag` says `noai` or `noimageai`. Default: false. */
  honorNoAi?: boolean;
  /** Keep only the URLs in this shard of the input: `{ index: K, count: N }`, by a stable hash of the URL. */
  shard?: { index: number; count: number };
  /** Stops the run: nothing more is dispatched, downloads in flight are aborted and their temporary files removed. */
  signal?: AbortSignal;
}

/**
 * {@linkcode DownloadOptions} with every default filled in; what the engine and the workers use.
 *
 * @example
 * ```ts
 * import { type ResolvedOptions, resolveOptions } from "./options.ts";
 * import assert from "node:assert/strict";
 *
 * const resolved: ResolvedOptions = resolveOptions({ out: "images" });
 * assert.equal(resolved.layout, "flat");
 * ```
 */
export interface ResolvedOptions {
  out: string;
  workers: number;
  concurrency: number;
  perHost: number;
  retries: number;
  maxBytes: number;
  anyType: boolean;
  digest: boolean;
  headersTimeout: number;
  idleTimeout: number;
  totalTimeout: number;
  maxRedirects: number;
  userAgent: string;
  journal: boolean;
  layout: "flat" | "shard";
  rate: number;
  robots: boolean;
  denyPrivate: boolean;
  honorNoAi: boolean;
  shard?: { index: number; count: number };
  signal?: AbortSignal;
}

/**
 * The version of downpour, as in deno.json.
 *
 * @example
 * ```ts
 * import { VERSION } from "./options.ts";
 * import assert from "node:assert/strict";
 *
 * assert.match(VERSION, /^\d+\.\d+\.\d+/);
 * ```
 */
export const VERSION = "0.1.0";

/**
 * The defaults of {@linkcode DownloadOptions}, except `workers`, which is the number of cores.
 *
 * @example
 * ```ts
 * import { DEFAULTS, VERSION } from "./options.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULTS.perHost, 6);
 * assert.equal(DEFAULTS.userAgent, `downpour/${VERSION}`);
 * ```
 */
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

function layout(value: unknown): "flat" | "shard" {
  if (value === undefined) return "flat";
  if (value !== "flat" && value !== "shard") {
    throw new TypeError(
      `Cannot start download: 'layout' must be "flat" or "shard", got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function rate(value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new RangeError(
      `Cannot start download: 'rate' must be a number of requests per second >= 0, got ${value}`,
    );
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
    digest: flag(options.digest, "digest"),
    headersTimeout: integer(options.headersTimeout, "headersTimeout", DEFAULTS.headersTimeout, 1),
    idleTimeout: integer(options.idleTimeout, "idleTimeout", DEFAULTS.idleTimeout, 1),
    totalTimeout: integer(options.totalTimeout, "totalTimeout", DEFAULTS.totalTimeout, 0),
    maxRedirects: integer(options.maxRedirects, "maxRedirects", DEFAULTS.maxRedirects, 0),
    userAgent: options.userAgent ?? DEFAULTS.userAgent,
    journal: options.journal === undefined ? true : flag(options.journal, "journal"),
    layout: layout(options.layout),
    rate: rate(options.rate),
    robots: flag(options.robots, "robots"),
    denyPrivate: flag(options.denyPrivate, "denyPrivate"),
    honorNoAi: flag(options.honorNoAi, "honorNoAi"),
  };
  if (resolved.workers > 256) {
    throw new RangeError(
      `Cannot start download: 'workers' must be at most 256, got ${resolved.workers}`,
    );
  }
  if (options.signal) resolved.signal = options.signal;
  if (options.shard !== undefined) {
    const { index, count } = options.shard ?? {};
    if (
      !Number.isSafeInteger(count) || !Number.isSafeInteger(index) || count! < 1 || index! < 0 ||
      index! >= count!
    ) {
      throw new RangeError(
        `Cannot start download: 'shard' must be { index, count } with 0 <= index < count, got ${
          JSON.stringify(options.shard)
        }`,
      );
    }
    resolved.shard = { index: index!, count: count! };
  }
  return resolved;
}
