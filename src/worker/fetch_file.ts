/**
 * Fetching one URL into one file: redirects, limits, content checks and the atomic write.
 *
 * The body goes to a temporary file `.NAME.part` beside its final name and is renamed into place
 * only when it is complete and checked, so no file under a final name ever holds a partial body.
 *
 * @module
 */

import type { Hash } from "node:crypto";
import type { Job, Outcome, WorkerConfig } from "../protocol.ts";
import { SNIFF_BYTES, sniffImage } from "./sniff.ts";
import { checkPublic } from "../address_guard.ts";
import { stableHash } from "../naming.ts";
import type { FailureReason } from "../types.ts";
import { TimeoutError, type Watch } from "./watchdog.ts";

/**
 * node:crypto takes a few tens of milliseconds and a few MB to load, so it is loaded only by a
 * worker that hashes, while its first request is on the network.
 */
let nodeCrypto: Promise<void> | undefined;
let createHash: typeof import("node:crypto").createHash | undefined;

function loadCrypto(): Promise<void> {
  return nodeCrypto ??= import("node:crypto").then((module) => {
    createHash = module.createHash;
  });
}

/** A new SHA-256 hash; it waits only while node:crypto is still loading. */
function sha256Hash(): Hash | Promise<Hash> {
  if (createHash) return createHash("sha256");
  return loadCrypto().then(() => createHash!("sha256"));
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Bodies up to this size are collected in memory and written with one call. */
const SMALL_BODY = 1024 * 1024;
/**
 * Any body but a small one of known length is read into a buffer of this many bytes, which is
 * written to disk each time it fills.
 *
 * @example
 * ```ts
 * import { STREAM_BUFFER } from "./fetch_file.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(STREAM_BUFFER, 128 * 1024);
 * ```
 */
export const STREAM_BUFFER = 128 * 1024;

/** A file-system failure while saving; not the network's fault. */
class DiskError extends Error {
  constructor(message: string, options: ErrorOptions) {
    super(message, options);
    this.name = "DiskError";
  }
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
 * import { partPath } from "./fetch_file.ts";
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
 * Reads a Retry-After header, in seconds or as an HTTP date.
 *
 * @param value The header's value.
 * @param now The current time in milliseconds since the epoch.
 * @returns How many milliseconds to wait, or `undefined` when absent or unreadable.
 *
 * @example
 * ```ts
 * import { parseRetryAfter } from "./fetch_file.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseRetryAfter("3"), 3000);
 * const now = Date.parse("2026-01-01T00:00:00Z");
 * assert.equal(parseRetryAfter("Thu, 01 Jan 2026 00:00:10 GMT", now), 10_000);
 * assert.equal(parseRetryAfter("soon"), undefined);
 * ```
 */
export function parseRetryAfter(
  value: string | null,
  now: number = Date.now(),
): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

function shorten(text: string): string {
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
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

/** Runs a file-system step, turning its errors into {@linkcode DiskError}s. */
function disk<T>(what: string, step: () => T): T {
  try {
    return step();
  } catch (error) {
    throw diskError(what, error);
  }
}

function diskError(what: string, error: unknown): DiskError {
  const message = error instanceof Error ? error.message : String(error);
  return new DiskError(`could not ${what}: ${message}`, { cause: error });
}

function networkMessage(error: unknown): string {
  let message = error instanceof Error ? error.message : String(error);
  // Deno wraps the cause: "error sending request for url (…): client error (Connect): …".
  message = message.replace(/^error sending request for url \([^)]*\): /, "");
  return `network error: ${shorten(message)}`;
}

function contentProblem(head: Uint8Array, status: number): string | undefined {
  const type = sniffImage(head);
  if (type === "html") {
    return `the server sent an HTML page with status ${status}, not an image (often an error or login page); use --any-type to keep it`;
  }
  if (type === undefined) {
    return head.byteLength === 0
      ? "the server sent an empty body, not an image; use --any-type to keep it"
      : "the body is not an image (PNG, JPEG, GIF, WebP, AVIF, BMP, TIFF, ICO or SVG); use --any-type to keep it";
  }
  return undefined;
}

/**
 * Downloads one job into its file under `config.out`.
 *
 * Never throws for a failed download: the failure is described in the returned outcome. It
 * throws only when `watch` is aborted for a reason other than a timeout (the run is stopping).
 *
 * @param job What to fetch and where to save it.
 * @param config The worker's configuration.
 * @param watch The download's deadlines; its signal aborts the request.
 * @returns The outcome.
 *
 * @example
 * ```ts
 * import { fetchToFile } from "./fetch_file.ts";
 * import { Watch } from "./watchdog.ts";
 * import assert from "node:assert/strict";
 *
 * const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
 * await using server = Deno.serve({ port: 0, onListen() {} }, () => new Response(png));
 * const out = await Deno.makeTempDir();
 * const config = {
 *   out, maxBytes: 1e6, anyType: false, digest: false, headersTimeout: 5000, idleTimeout: 5000,
 *   totalTimeout: 0, maxRedirects: 5, userAgent: "example", denyPrivate: false, honorNoAi: false,
 * };
 * const job = { id: 1, href: `http://127.0.0.1:${server.addr.port}/a.png`, path: "a.png" };
 * const outcome = await fetchToFile(job, config, new Watch(config));
 * assert.equal(outcome.ok, true);
 * assert.deepEqual(await Deno.readFile(`${out}/a.png`), png);
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function fetchToFile(job: Job, config: WorkerConfig, watch: Watch): Promise<Outcome> {
  const signal = watch.signal;
  let status: number | undefined;
  const fail = (reason: FailureReason, error: string, extra?: Partial<Outcome>): Outcome => ({
    id: job.id,
    ok: false,
    bytes: 0,
    reason,
    error,
    ...(status === undefined ? {} : { status }),
    ...(leftover === "keep" ? { partial: true } : {}),
    ...extra,
  });
  const part = `${config.out}/${partPath(job.path)}`;
  /** The resume note's path: only computed when a note may exist. */
  const meta = () => resumeNotePath(config.out, job.path);
  let reader: ReadableStreamBYOBReader | undefined;
  let file: Deno.FsFile | undefined;
  /** What to do with the temporary file when this attempt ends without success. */
  let leftover: "none" | "remove" | "keep" = "none";
  /** Whether this attempt wrote a resume note. */
  let noted = false;
  /** Whether to compute the SHA-256: when asked to, or to check an expected one. */
  const hashing = config.digest || job.sha256 !== undefined;
  if (hashing && !createHash) void loadCrypto();
  let wake: (() => void) | undefined;
  try {
    // A large partial body from an earlier attempt, with a validator, is resumed.
    const resume = job.resume ? await resumable(part, meta(), job.href) : undefined;
    const headers: Record<string, string> = {
      "user-agent": config.userAgent,
      accept: "image/*,*/*;q=0.5",
    };
    if (resume) {
      headers.range = `bytes=${resume.size}-`;
      headers["if-range"] = resume.validator;
    }
    let url = job.href;
    let response: Response;
    for (let hops = 0;; hops++) {
      if (config.denyPrivate) {
        const verdict = await checkPublic(new URL(url));
        if (verdict !== true) return fail("private", verdict);
      }
      watch.awaitHeaders();
      response = await fetch(url, { redirect: "manual", signal, headers });
      status = response.status;
      if (!REDIRECTS.has(status)) break;
      await response.body?.cancel();
      const location = response.headers.get("location");
      if (location === null) return fail("redirect", `HTTP ${status} redirect without a Location`);
      if (hops >= config.maxRedirects) {
        return fail(
          "redirect",
          `more than ${config.maxRedirects} redirects (the last to ${
            shorten(location)
          }); the server may be looping`,
        );
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        return fail("redirect", `redirected to "${shorten(location)}", which is not a URL`);
      }
      if (next.protocol !== "http:" && next.protocol !== "https:") {
        return fail(
          "redirect",
          `redirected to a ${next.protocol} URL (${
            shorten(next.href)
          }); only http: and https: redirects are followed`,
        );
      }
      url = next.href;
    }
    if (status === 416 && resume) {
      // The partial file no longer fits the resource: start over on the next attempt.
      await response.body?.cancel();
      leftover = "remove";
      return fail("length-mismatch", "the partial file from an earlier attempt no longer fits");
    }
    if (status < 200 || status > 299) {
      const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
      await response.body?.cancel();
      const text = response.statusText ? ` ${response.statusText}` : "";
      return fail("http", `the server answered HTTP ${status}${text}`, {
        ...(retryAfter === undefined ? {} : { retryAfter }),
      });
    }

    const robotsTag = response.headers.get("x-robots-tag");
    if (config.honorNoAi && robotsTag && /\bno(image)?ai\b/i.test(robotsTag)) {
      await response.body?.cancel();
      return fail("opt-out", `the server opts out of AI use (X-Robots-Tag: ${shorten(robotsTag)})`);
    }
    ensureDirectory(config.out, job.path);

    let offset = 0;
    if (status === 206) {
      const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.headers.get("content-range") ?? "");
      if (!resume || !range || Number(range[1]) !== resume.size) {
        await response.body?.cancel();
        leftover = "remove";
        return fail("length-mismatch", "the server sent a range that was not asked for");
      }
      offset = resume.size;
    } else if (job.resume) {
      // A whole body instead of the rest: the partial file of an earlier attempt is of no more use,
      // whatever becomes of this one.
      leftover = "remove";
    }

    const encoding = response.headers.get("content-encoding");
    const lengthHeader = response.headers.get("content-length");
    const declared = (encoding === null || encoding === "identity") && lengthHeader !== null &&
        /^\d+$/.test(lengthHeader)
      ? offset + Number(lengthHeader)
      : undefined;
    if (declared !== undefined && declared > config.maxBytes) {
      await response.body?.cancel();
      leftover = "remove";
      return fail(
        "too-large",
        `the file is ${size(declared)}, over the ${size(config.maxBytes)} limit (--max-bytes)`,
      );
    }
    const etag = response.headers.get("etag") ?? undefined;
    const validator = etag ?? response.headers.get("last-modified") ?? undefined;

    if (offset === 0 && declared !== undefined && declared <= SMALL_BODY && response.body) {
      // The common case, a small body of known length: read it in one go.
      watch.touch();
      const body = await response.bytes();
      if (body.byteLength !== declared) {
        return fail(
          "length-mismatch",
          `the body had ${body.byteLength} bytes but Content-Length said ${declared}; the connection was cut`,
        );
      }
      if (!config.anyType) {
        const problem = contentProblem(body, status);
        if (problem) return fail("not-image", problem);
      }
      const sha256 = hashing ? (await sha256Hash()).update(body).digest("hex") : undefined;
      if (job.sha256 && sha256 !== job.sha256) {
        return fail("checksum", `the SHA-256 is ${sha256}, not the expected ${job.sha256}`);
      }
      leftover = "remove";
      disk("write the temporary file", () => Deno.writeFileSync(part, body));
      disk("rename the finished file", () => Deno.renameSync(part, `${config.out}/${job.path}`));
      leftover = "none";
      if (job.resume) removeQuietly(meta());
      return {
        id: job.id,
        ok: true,
        bytes: body.byteLength,
        status,
        ...(sha256 ? { sha256 } : {}),
        ...(etag ? { etag } : {}),
      };
    }

    // Any other body streams through one buffer of this download's, filled in place by BYOB
    // reads: no allocation per chunk, so memory stays flat however large the file.
    const hash = hashing ? await sha256Hash() : undefined;
    let buffer: Uint8Array = new Uint8Array(STREAM_BUFFER);
    let filled = 0;
    let total = offset;
    let checked = config.anyType || offset > 0;
    if (offset > 0) {
      // Appending: the digest must cover the bytes already there.
      leftover = "keep";
      file = disk(
        "open the partial file",
        () => Deno.openSync(part, { read: true, append: true }),
      );
      if (hash) {
        // Asynchronous, unlike the other file steps: the partial file may be gigabytes.
        try {
          using existing = await Deno.open(part);
          for await (const chunk of existing.readable) hash.update(chunk);
        } catch (error) {
          throw diskError("read the partial file", error);
        }
      }
    }
    watch.touch();
    reader = response.body?.getReader({ mode: "byob" });
    // The fetch signal does not always wake a read that is waiting on a stalled connection;
    // cancelling the reader does, so a timeout or a stop can never hang here.
    wake = () => void reader?.cancel(signal.reason).catch(() => {});
    signal.addEventListener("abort", wake, { once: true });
    while (reader) {
      const { done, value } = await reader.read(buffer.subarray(filled));
      if (signal.aborted) throw signal.reason;
      // The read transferred the buffer; its bytes so far are in the new one.
      if (value) buffer = new Uint8Array(value.buffer);
      if (done) {
        reader = undefined;
        break;
      }
      watch.touch();
      total += value.byteLength;
      if (total > config.maxBytes) {
        leftover = "remove";
        return fail(
          "too-large",
          `the body grew past the ${size(config.maxBytes)} limit (--max-bytes)${
            encoding ? ` after ${encoding} decoding` : ""
          }`,
        );
      }
      hash?.update(value);
      filled += value.byteLength;
      if (!checked && filled >= SNIFF_BYTES) {
        const problem = contentProblem(buffer.subarray(0, filled), status);
        if (problem) return fail("not-image", problem);
        checked = true;
      }
      if (filled < buffer.byteLength) continue;
      if (!file) {
        // Larger than the buffer: stream to disk. With a validator, an interrupted body can
        // resume from what was written.
        leftover = "remove";
        file = disk(
          "create the temporary file",
          () => Deno.openSync(part, { write: true, create: true, truncate: true }),
        );
        if (validator) {
          noted = true; // before the write: a note that is half written must go too
          disk(
            "write the resume note",
            () => writeNote(config.out, meta(), { path: job.path, href: job.href, validator }),
          );
          leftover = "keep";
        }
      }
      disk("write the file", () => writeAll(file!, buffer));
      filled = 0;
    }
    if (file && filled > 0) {
      disk("write the file", () => writeAll(file!, buffer.subarray(0, filled)));
    }
    if (declared !== undefined && total !== declared) {
      leftover = "remove";
      return fail(
        "length-mismatch",
        `the body had ${total} bytes but Content-Length said ${declared}; the connection was cut`,
      );
    }
    if (!file && !checked) {
      const problem = contentProblem(buffer.subarray(0, filled), status);
      if (problem) return fail("not-image", problem);
    }
    const sha256 = hash?.digest("hex");
    if (job.sha256 && sha256 !== job.sha256) {
      leftover = "remove";
      return fail("checksum", `the SHA-256 is ${sha256}, not the expected ${job.sha256}`);
    }
    leftover = "remove";
    if (file) {
      file.close();
      file = undefined;
    } else {
      const body = buffer.subarray(0, filled);
      disk("write the temporary file", () => Deno.writeFileSync(part, body));
    }
    disk("rename the finished file", () => Deno.renameSync(part, `${config.out}/${job.path}`));
    leftover = "none";
    if (job.resume || noted) removeQuietly(meta());
    return {
      id: job.id,
      ok: true,
      bytes: total,
      status,
      ...(sha256 ? { sha256 } : {}),
      ...(etag === undefined ? {} : { etag }),
    };
  } catch (error) {
    if (error instanceof DiskError) {
      leftover = "remove";
      return fail("disk", error.message);
    }
    if (signal.aborted) {
      if (signal.reason instanceof TimeoutError) return fail("timeout", signal.reason.message);
      throw signal.reason;
    }
    return fail("network", networkMessage(error));
  } finally {
    if (wake) signal.removeEventListener("abort", wake);
    if (reader) await reader.cancel().catch(() => {});
    file?.close();
    if (leftover === "remove") {
      removeQuietly(part);
      if (job.resume || noted) removeQuietly(meta());
    }
  }
}

const made = new Set<string>();

/**
 * Creates the directory of `path` below `out` (once per directory and thread).
 *
 * This and the other file operations of a download are synchronous: each takes microseconds on a
 * local disk, while an asynchronous one is a hop to a thread of Deno's blocking pool and back, and
 * with many downloads in flight, that pool grows a thread (and its memory) for each.
 */
function ensureDirectory(out: string, path: string): void {
  const slash = path.lastIndexOf("/");
  if (slash < 0) return;
  const dir = `${out}/${path.slice(0, slash)}`;
  if (made.has(dir)) return;
  disk("create the directory", () => Deno.mkdirSync(dir, { recursive: true }));
  made.add(dir);
}

/** Removes a file if it is there. */
function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // Already gone, or never made.
  }
}

/**
 * The directory, inside the output directory, of the notes on resumable partial files.
 *
 * @example
 * ```ts
 * import { RESUME_DIR } from "./fetch_file.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(RESUME_DIR, ".downpour-resume");
 * ```
 */
export const RESUME_DIR = ".downpour-resume";

/**
 * Where the resume note of a partial file is kept: `OUT/.downpour-resume/HASH.json`, where HASH
 * is the {@linkcode stableHash} of `path`.
 *
 * @param out The output directory.
 * @param path The final path, relative to `out`.
 * @returns The note's path.
 *
 * @example
 * ```ts
 * import { resumeNotePath } from "./fetch_file.ts";
 * import assert from "node:assert/strict";
 *
 * assert.match(resumeNotePath("out", "cat.png"), /^out\/\.downpour-resume\/[0-9a-f]{16}\.json$/);
 * ```
 */
export function resumeNotePath(out: string, path: string): string {
  return `${out}/${RESUME_DIR}/${stableHash(path)}.json`;
}

function writeNote(out: string, note: string, content: ResumeNote): void {
  Deno.mkdirSync(`${out}/${RESUME_DIR}`, { recursive: true });
  Deno.writeTextFileSync(note, JSON.stringify(content));
}

/**
 * What a resume note says.
 *
 * @example
 * ```ts
 * import type { ResumeNote } from "./fetch_file.ts";
 * import assert from "node:assert/strict";
 *
 * const note: ResumeNote = { path: "x.png", href: "http://a/x.png", validator: '"v1"' };
 * assert.equal(note.path, "x.png");
 * ```
 */
export interface ResumeNote {
  /** The final path, relative to the output directory. */
  path: string;
  /** The URL the partial body came from. */
  href: string;
  /** The ETag or Last-Modified the body had, for If-Range. */
  validator: string;
}

/** The partial file of an earlier attempt at `href`, when it can be resumed. */
async function resumable(
  part: string,
  meta: string,
  href: string,
): Promise<{ size: number; validator: string } | undefined> {
  let note: { href?: unknown; validator?: unknown };
  try {
    note = JSON.parse(await Deno.readTextFile(meta));
  } catch {
    return undefined;
  }
  if (note.href !== href || typeof note.validator !== "string") return undefined;
  try {
    const info = await Deno.stat(part);
    return info.size > 0 ? { size: info.size, validator: note.validator } : undefined;
  } catch {
    return undefined;
  }
}
