/**
 * The public data types of downpour: what goes in, what comes out.
 *
 * @module
 */

/**
 * One thing to download: a URL, optionally with the name to save it under and its expected digest.
 *
 * @example
 * ```ts
 * import type { DownloadRequest } from "./types.ts";
 * import assert from "node:assert/strict";
 *
 * const request: DownloadRequest = {
 *   url: "https://example.com/photos/1?size=large",
 *   name: "cat.jpg",
 *   sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
 * };
 * assert.equal(request.sha256?.length, 64);
 * ```
 */
export interface DownloadRequest {
  /** The URL to fetch (http: or https:). */
  url: string | URL;
  /** A file name to use instead of the one taken from the URL; it is sanitised the same way. */
  name?: string;
  /** The expected SHA-256 of the body, as 64 hex digits; a mismatch is a failure. */
  sha256?: string;
  /** A caption, kept beside the image (`NAME.txt`, or `KEY.txt` in a dataset) and in the metadata. */
  caption?: string;
  /** Values kept with the image in its metadata (`NAME.json`, the shard's table), by column name. */
  columns?: Record<string, unknown>;
}

/**
 * What {@linkcode download} accepts for each item of its input: a URL as text, a `URL`, or a
 * {@linkcode DownloadRequest}.
 *
 * @example
 * ```ts
 * import type { DownloadInput } from "./types.ts";
 * import assert from "node:assert/strict";
 *
 * const inputs: DownloadInput[] = [
 *   "https://example.com/a.png",
 *   new URL("https://example.com/b.png"),
 *   { url: "https://example.com/c", name: "c.png" },
 * ];
 * assert.equal(inputs.length, 3);
 * ```
 */
export type DownloadInput = string | URL | DownloadRequest;

/**
 * Why a download failed, as a short machine-readable code.
 *
 * - `invalid-url`: the input was not an http(s) URL.
 * - `http`: the server answered with an error status.
 * - `network`: the connection failed or broke off.
 * - `timeout`: no headers, or no bytes, within the configured time.
 * - `too-large`: the body exceeded `maxBytes`.
 * - `length-mismatch`: the body was shorter or longer than its Content-Length (or Content-Range).
 * - `truncated`: a body of unknown length ended, but the image's own structure says it is not
 *   whole (no PNG IEND, no JPEG EOI, a RIFF size that does not match, …).
 * - `not-image`: the body is not an image (checked by its magic bytes).
 * - `redirect`: a redirect went to an unsupported scheme, or there were too many.
 * - `checksum`: the body's SHA-256 did not match the expected one.
 * - `disk`: the file could not be written.
 * - `robots`: refused by the host's robots.txt.
 * - `private`: refused because it resolves to a private address.
 * - `opt-out`: the server's X-Robots-Tag opts out of AI use.
 * - `image`: the image does not decode (when resizing), or is smaller than `minImageSize`, or
 *   its aspect ratio is over `maxAspectRatio`.
 *
 * @example Count the failures that are worth a retry later
 * ```ts
 * import type { FailureReason } from "./types.ts";
 * import assert from "node:assert/strict";
 *
 * const transient = new Set<FailureReason>(["network", "timeout", "http"]);
 * const reasons: FailureReason[] = ["timeout", "not-image", "network"];
 * assert.equal(reasons.filter((reason) => transient.has(reason)).length, 2);
 * ```
 */
export type FailureReason =
  | "invalid-url"
  | "http"
  | "network"
  | "timeout"
  | "too-large"
  | "length-mismatch"
  | "truncated"
  | "not-image"
  | "redirect"
  | "checksum"
  | "disk"
  | "robots"
  | "private"
  | "opt-out"
  | "image";

/**
 * The outcome of one URL, yielded by {@linkcode download} as soon as it is known.
 *
 * @example A success and a failure
 * ```ts
 * import type { DownloadResult } from "./types.ts";
 * import assert from "node:assert/strict";
 *
 * const results: DownloadResult[] = [
 *   { url: "http://a/1.png", ok: true, path: "1.png", bytes: 10, status: 200, attempts: 1, ms: 3 },
 *   {
 *     url: "http://a/2.png",
 *     ok: false,
 *     bytes: 0,
 *     status: 404,
 *     reason: "http",
 *     error: "the server answered 404 Not Found",
 *     attempts: 1,
 *     ms: 2,
 *   },
 * ];
 * assert.deepEqual(results.filter((r) => !r.ok).map((r) => r.reason), ["http"]);
 * ```
 */
export interface DownloadResult {
  /** The URL exactly as it was given, but with its password, if any, written `***`. */
  url: string;
  /** `true` when the file is saved (or was already complete, see `skipped`). */
  ok: boolean;
  /** Where the file is, relative to `out`; set when `ok`. */
  path?: string;
  /** The body's size in bytes (0 when nothing was written). */
  bytes: number;
  /** The final HTTP status, when a response arrived. */
  status?: number;
  /** A sentence a user can act on; set when not `ok`. */
  error?: string;
  /** The failure's category; set when not `ok`. */
  reason?: FailureReason;
  /**
   * Set when nothing new was saved: `duplicate` (the URL came earlier in this run), `journal` (a
   * previous run saved it), or `exists` (another writer, e.g. a second process fetching the same
   * URL into the same directory, saved the very same bytes under this name first).
   */
  skipped?: "duplicate" | "journal" | "exists";
  /** How many requests were made for this URL (retries included). */
  attempts: number;
  /**
   * The SHA-256 of the saved body, as hex: set when the file was fetched in this run with the
   * `digest` option, or when the input gave a digest to check.
   */
  sha256?: string;
  /** Milliseconds from the first request to the final outcome. */
  ms: number;
  /**
   * The sample's key in a `webdataset` or `parquet` output: its shard and its index in the
   * shard, zero-padded (`000120007` is row 7 of shard 12), from its position in the input.
   */
  key?: string;
  /** The caption given with the URL. */
  caption?: string;
  /** The saved columns given with the URL. */
  columns?: Record<string, unknown>;
  /** The saved image's width in pixels, when its header tells it (after resizing, if any). */
  width?: number;
  /** The saved image's height in pixels, when its header tells it. */
  height?: number;
  /** The downloaded image's width before resizing, when known. */
  originalWidth?: number;
  /** The downloaded image's height before resizing, when known. */
  originalHeight?: number;
  /** The saved file's media type by its first bytes, e.g. `image/png`, when known. */
  mime?: string;
}
