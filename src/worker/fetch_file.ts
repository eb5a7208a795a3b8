/**
 * Fetching one URL into one file, in four steps: follow the redirects, each hop checked
 * ({@linkcode followRedirects}); screen the response (status, opt-out, range, declared size);
 * receive the body into a temporary {@linkcode PartFile}, checking its size and first bytes as
 * they come; commit it under its final name once its length and digest are checked.
 *
 * Screening is in `screen.ts`, what the steps share in `attempt.ts`, the temporary file in
 * `part_file.ts`, the redirects in `redirects.ts`. At some 420 lines this module is a little over
 * the core's usual 400, for a reason: receiving, checking, examining and committing a body read
 * and write the same body and temporary file, and apart they would only pass those around.
 *
 * @module
 */

import type { Hash } from "node:crypto";
import type { Job, Outcome, WorkerConfig } from "../protocol.ts";
import type { EgressGuard } from "../egress.ts";
import { isDirLost, isDiskFull, TimeoutError } from "../errors.ts";
import { formatBytes } from "../format.ts";
import { followRedirects } from "../redirects.ts";
import { DiskError, writeBeside } from "./disk.ts";
import type { Attempt, Body, Head, Refusal } from "./attempt.ts";
import { redirectRefusal, requestHeaders, screen } from "./screen.ts";
import { PartFile } from "./part_file.ts";
import { SNIFF_BYTES, sniffImage } from "./sniff.ts";
import { memoryBytes, wholeness } from "./complete.ts";
import { networkMessage } from "./net_error.ts";
import { type ImageInfo, imageInfo, INFO_BYTES } from "./image_info.ts";
import { resize } from "./resize.ts";
import type { Watch } from "./watchdog.ts";

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

/**
 * Bodies of known length up to this size are read into a buffer of their size, in memory, and
 * written with one call.
 */
const SMALL_BODY = 1024 * 1024;
/**
 * Any body but a small one of known length is read into a buffer of this many bytes, which is
 * written to disk each time it fills.
 */
export const STREAM_BUFFER = 128 * 1024;
/** Bodies of known length up to this size are read in one go (see {@linkcode receive}). */
const ONE_GO = STREAM_BUFFER;

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
 * @param guard With `denyPrivate`, the worker's connect-time guard, which every hop goes through.
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
 *   totalTimeout: 0, lowSpeedLimit: 1024, lowSpeedTime: 30_000, maxRedirects: 5,
 *   userAgent: "example", denyPrivate: false, honorNoAi: false,
 * };
 * const job = { id: 1, href: `http://127.0.0.1:${server.addr.port}/a.png`, path: "a.png" };
 * const outcome = await fetchToFile(job, config, new Watch(config));
 * assert.equal(outcome.ok, true);
 * assert.deepEqual(await Deno.readFile(`${out}/a.png`), png);
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function fetchToFile(
  job: Job,
  config: WorkerConfig,
  watch: Watch,
  guard?: EgressGuard,
): Promise<Outcome> {
  using part = new PartFile(config.out, job);
  const hashing = config.digest || job.sha256 !== undefined;
  if (hashing && !createHash) void loadCrypto();
  const attempt: Attempt = { job, config, watch, part, hashing };
  let status: number | undefined;
  const fail = (refusal: Refusal): Outcome => ({
    id: job.id,
    ok: false,
    bytes: 0,
    ...refusal,
    ...(status === undefined ? {} : { status }),
    ...(part.kept ? { partial: true } : {}),
  });
  try {
    // A large partial body from an earlier attempt, with a validator, is resumed.
    const resume = part.resumable();
    const followed = await followRedirects(job.href, {
      init: { signal: watch.signal, headers: requestHeaders(config.userAgent, resume) },
      maxRedirects: config.maxRedirects,
      denyPrivate: config.denyPrivate,
      guard,
      onRequest: () => watch.awaitHeaders(),
    });
    status = followed.status;
    if (!("response" in followed)) return fail(redirectRefusal(followed, config.maxRedirects));
    const head = await screen(attempt, followed.response, resume);
    if ("reason" in head) return fail(head);
    const body = await receive(attempt, followed.response, head);
    if ("reason" in body) return fail(body);
    const checked = check(attempt, head, body);
    if ("reason" in checked) return fail(checked);
    const image = await examine(attempt, body);
    if ("reason" in image) return fail(image);
    const saved = commit(attempt, head, body, checked.sha256, image);
    return "ok" in saved ? saved : fail(saved);
  } catch (error) {
    if (error instanceof DiskError) {
      part.discard();
      return fail({
        reason: "disk",
        error: error.message,
        ...(isDiskFull(error.cause) ? { diskFull: true } : {}),
        ...(isDirLost(error.cause, config.out) ? { dirLost: true } : {}),
      });
    }
    const signal = watch.signal;
    if (signal.aborted) {
      if (signal.reason instanceof TimeoutError) {
        return fail({ reason: "timeout", error: signal.reason.message });
      }
      throw signal.reason;
    }
    // Deno names the connect step: "client error (Connect)" (refused, no such name, unreachable).
    const connectFailed = status === undefined &&
      /\(Connect\)/.test(`${error} ${(error as { cause?: unknown } | undefined)?.cause}`);
    return fail({ reason: "network", error: networkMessage(error, job.href), connectFailed });
  }
}

/**
 * Receives a body to its end through one buffer of this download's, filled in place by BYOB reads:
 * no allocation per chunk, so memory stays flat however large the file. A small body of known
 * length is read into a buffer of its size, in one go; any other body that fits the stream buffer
 * stays in memory too; a larger one goes to the temporary file each time the buffer fills. The
 * body is hashed as it comes when the attempt needs its SHA-256.
 */
async function receive(
  { config, watch, part, hashing }: Attempt,
  response: Response,
  head: Head,
): Promise<Body | Refusal> {
  const hash = hashing ? await sha256Hash() : undefined;
  const signal = watch.signal;
  const { declared } = head;
  if (
    head.offset === 0 && declared !== undefined && declared <= ONE_GO && response.body &&
    !response.headers.has("transfer-encoding")
  ) {
    // A small body of known length, with no encoding of either kind (so it cannot outgrow its
    // length: without Transfer-Encoding the HTTP layer reads exactly Content-Length bytes), is
    // read in one go, by one call into Deno, within a deadline for the whole body. An abort
    // wakes it.
    watch.awaitWhole(declared);
    const memory = await response.bytes();
    if (signal.aborted) throw signal.reason;
    watch.touch(memory.byteLength);
    hash?.update(memory);
    return { total: memory.byteLength, memory, checked: config.anyType, hash };
  }
  // Any other body of known length up to SMALL_BODY (above ONE_GO, or sent chunked) is read into
  // a buffer of its size (and one byte more, for the read that sees its end): in memory, in
  // place, with no copy.
  const small = head.offset === 0 && declared !== undefined && declared <= SMALL_BODY;
  let buffer: Uint8Array = new Uint8Array(small ? declared + 1 : STREAM_BUFFER);
  let filled = 0;
  let total = head.offset;
  let checked = config.anyType || head.offset > 0;
  let streaming = head.offset > 0;
  if (streaming) await part.append(hash);
  watch.touch();
  const reader = response.body?.getReader({ mode: "byob" });
  if (reader) {
    // The fetch signal does not always wake a read that is waiting on a stalled connection;
    // cancelling the reader does, so a timeout or a stop can never hang here.
    const wake = () => void reader.cancel(signal.reason).catch(() => {});
    signal.addEventListener("abort", wake, { once: true });
    let done = false;
    try {
      for (;;) {
        const read = await reader.read(buffer.subarray(filled));
        if (signal.aborted) throw signal.reason;
        // The read transferred the buffer; its bytes so far are in the new one.
        if (read.value) buffer = new Uint8Array(read.value.buffer);
        if (read.done) break;
        const value = read.value;
        watch.touch(value.byteLength);
        total += value.byteLength;
        if (total > config.maxBytes) {
          part.discard();
          return {
            reason: "too-large",
            error: `the body grew past the ${
              formatBytes(config.maxBytes, 1024)
            } limit (--max-bytes)${head.encoding ? ` after ${head.encoding} decoding` : ""}`,
          };
        }
        hash?.update(value);
        filled += value.byteLength;
        if (!checked && filled >= SNIFF_BYTES) {
          const problem = contentProblem(buffer.subarray(0, filled), head.status);
          if (problem) return { reason: "not-image", error: problem };
          checked = true;
        }
        if (filled < buffer.byteLength) continue;
        if (!streaming) {
          // Larger than the buffer: stream to disk. With a validator, an interrupted body can
          // resume from what was written.
          part.create(head.validator, head.strongEtag, head.declared);
          streaming = true;
        }
        part.write(buffer);
        filled = 0;
      }
      done = true;
    } finally {
      signal.removeEventListener("abort", wake);
      if (!done) await reader.cancel().catch(() => {});
    }
  }
  if (!streaming) return { total, memory: buffer.subarray(0, filled), checked, hash };
  if (filled > 0) part.write(buffer.subarray(0, filled));
  return { total, memory: undefined, checked, hash };
}

/** Checks a received body's length, first bytes, wholeness and digest. */
function check({ job, part }: Attempt, head: Head, body: Body): { sha256?: string } | Refusal {
  if (head.declared !== undefined && body.total !== head.declared) {
    part.discard();
    return {
      reason: "length-mismatch",
      error:
        `the body had ${body.total} bytes but Content-Length said ${head.declared}; the connection was cut`,
    };
  }
  if (!body.checked && body.memory) {
    const problem = contentProblem(body.memory, head.status);
    if (problem) return { reason: "not-image", error: problem };
  }
  if (head.declared === undefined) {
    // No length to check it against: the image's own structure must say it is whole.
    const bytes = body.memory ? memoryBytes(body.memory) : part.bytes(body.total);
    const type = sniffImage(bytes.read(0, SNIFF_BYTES));
    const problem = wholeness(type === "html" ? undefined : type, bytes);
    if (problem) {
      part.discard();
      return {
        reason: "truncated",
        error: `${problem}: the body has no length and the connection may have been cut`,
      };
    }
  }
  const sha256 = body.hash?.digest("hex");
  if (job.sha256 && sha256 !== job.sha256) {
    part.discard();
    return {
      reason: "checksum",
      error: `the SHA-256 is ${sha256}, not the expected ${job.sha256}`,
    };
  }
  return sha256 ? { sha256 } : {};
}

/** What {@linkcode examine} found: the image's type and sizes, and its resized bytes. */
interface Examined extends ImageInfo {
  originalWidth?: number;
  originalHeight?: number;
  /** The bytes to save instead of the body: the resized image. */
  bytes?: Uint8Array;
}

/**
 * Reads an image's type and size from its header, or, when resizing, decodes and resizes it;
 * and holds it to the least size and the largest aspect ratio. Only for jobs with a row (a
 * dataset, a caption or saved columns), or when resizing or filtering: a plain download is not
 * looked at.
 */
async function examine({ job, config, part }: Attempt, body: Body): Promise<Examined | Refusal> {
  const resizing = (config.resizeMode ?? "no") !== "no";
  const minSize = config.minImageSize ?? 0;
  const maxRatio = config.maxAspectRatio ?? 0;
  if (!resizing && job.row === undefined && minSize === 0 && maxRatio === 0) return {};
  const read = (limit: number) =>
    body.memory ?? part.bytes(body.total).read(0, Math.min(limit, body.total));
  let found: Examined;
  if (resizing) {
    const resized = await resize(read(Infinity), config);
    if ("error" in resized) {
      part.discard();
      return { reason: "image", error: resized.error };
    }
    found = resized;
  } else {
    found = imageInfo(read(INFO_BYTES));
    if (found.width !== undefined) {
      found.originalWidth = found.width;
      found.originalHeight = found.height;
    }
  }
  const { originalWidth: w, originalHeight: h } = found;
  if (w !== undefined && h !== undefined) {
    if (minSize > 0 && Math.min(w, h) < minSize) {
      part.discard();
      return {
        reason: "image",
        error: `the image is ${w}×${h}, smaller than ${minSize} (--min-image-size)`,
      };
    }
    const ratio = Math.max(w, h) / Math.min(w, h);
    if (maxRatio > 0 && ratio > maxRatio) {
      part.discard();
      return {
        reason: "image",
        error: `the image is ${w}×${h}, its aspect ratio ${
          ratio.toFixed(2)
        } over ${maxRatio} (--max-aspect-ratio)`,
      };
    }
  }
  return found;
}

/**
 * Puts a checked body under its final name: the one way to a saved file, for bodies of every
 * size. The row's files (`PATH.txt`, `PATH.json`) are written first, so that a saved file
 * always has them. A dataset sample's name is its key, which only its row ever writes: a file
 * an earlier run left there is replaced.
 */
function commit(
  { job, config, part }: Attempt,
  head: Head,
  body: Body,
  sha256: string | undefined,
  image: Examined,
): Outcome | Refusal {
  const bytes = image.bytes ? image.bytes.byteLength : body.total;
  if (job.row) {
    const row = job.row;
    const json = {
      ...(row.key !== undefined ? { key: row.key } : {}),
      url: row.url,
      ...(row.caption !== undefined ? { caption: row.caption } : {}),
      ...row.columns,
      status: "success",
      http_status: head.status,
      bytes,
      width: image.width ?? null,
      height: image.height ?? null,
      original_width: image.originalWidth ?? null,
      original_height: image.originalHeight ?? null,
      mime: image.mime ?? null,
      sha256: sha256 ?? null,
    };
    writeBeside(config.out, `${job.path}.json`, JSON.stringify(json));
    if (row.caption !== undefined) writeBeside(config.out, `${job.path}.txt`, row.caption);
    if (row.key !== undefined) {
      try {
        Deno.removeSync(`${config.out}/${job.path}`);
      } catch {
        // Not there: the usual case.
      }
    }
  }
  let content = body.memory;
  if (image.bytes) {
    if (body.memory) content = image.bytes;
    else part.rewrite(image.bytes);
  }
  const verdict = part.commit(content, bytes);
  if (verdict === "taken") {
    return {
      reason: "disk",
      error: `another file already holds the name ${job.path}`,
      taken: true,
    };
  }
  // Built field by field: this runs once a file, and most fields are only for some.
  const outcome: Outcome = { id: job.id, ok: true, bytes, status: head.status };
  if (image.width !== undefined) {
    outcome.width = image.width;
    outcome.height = image.height;
  }
  if (image.originalWidth !== undefined) {
    outcome.originalWidth = image.originalWidth;
    outcome.originalHeight = image.originalHeight;
  }
  if (image.mime) outcome.mime = image.mime;
  if (verdict === "exists") outcome.exists = true;
  if (sha256) outcome.sha256 = sha256;
  if (head.etag) outcome.etag = head.etag;
  return outcome;
}
