/**
 * Screening a response, the second step of a download: the request's headers (a resume asks for
 * the rest with Range and If-Range), the wording of a refused redirect chain, and the decision
 * from a response's status and headers whether its body is to be saved, and where in the file.
 *
 * @module
 */

import type { Followed } from "../redirects.ts";
import { formatBytes } from "../format.ts";
import { type Attempt, type Head, type Refusal, shorten } from "./attempt.ts";
import type { Resumable } from "./resume.ts";

/**
 * Reads a Retry-After header, in seconds or as an HTTP date.
 *
 * @param value The header's value.
 * @param now The current time in milliseconds since the epoch.
 * @returns How many milliseconds to wait, or `undefined` when absent or unreadable.
 *
 * @example
 * ```ts
 * import { parseRetryAfter } from "./screen.ts";
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

/** The headers of the request for a job: with a resume, Range and If-Range ask for the rest. */
export function requestHeaders(
  userAgent: string,
  resume: Resumable | undefined,
): Record<string, string> {
  const headers: Record<string, string> = { "user-agent": userAgent, accept: "image/*,*/*;q=0.5" };
  if (resume) {
    headers.range = `bytes=${resume.size}-`;
    headers["if-range"] = resume.validator;
  }
  return headers;
}

/** Words a refused redirect chain for the user. */
export function redirectRefusal(
  followed: Exclude<Followed, { response: Response }>,
  maxRedirects: number,
): Refusal {
  const redirect = (error: string): Refusal => ({ reason: "redirect", error });
  switch (followed.refused) {
    case "private":
      return { reason: "private", error: followed.verdict };
    case "no-location":
      return redirect(`HTTP ${followed.status} redirect without a Location`);
    case "too-many":
      return redirect(
        `more than ${maxRedirects} redirects (the last to ${
          shorten(followed.location)
        }); the server may be looping`,
      );
    case "not-url":
      return redirect(`redirected to "${shorten(followed.location)}", which is not a URL`);
    case "not-http":
      return redirect(
        `redirected to a ${followed.url.protocol} URL (${
          shorten(followed.url.href)
        }); only http: and https: redirects are followed`,
      );
  }
}

/**
 * Decides from a response's status and headers whether its body is to be saved, and where in the
 * file it goes; the body of a response refused here is cancelled.
 */
export async function screen(
  { config, part }: Attempt,
  response: Response,
  resume: Resumable | undefined,
): Promise<Head | Refusal> {
  const refuse = async (refusal: Refusal): Promise<Refusal> => {
    await response.body?.cancel();
    return refusal;
  };
  const status = response.status;
  if (status === 416 && resume) {
    // The partial file no longer fits the resource: start over on the next attempt.
    part.discard();
    const error = "the partial file from an earlier attempt no longer fits";
    return await refuse({ reason: "length-mismatch", error });
  }
  if (status < 200 || status > 299) {
    const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
    const text = response.statusText ? ` ${response.statusText}` : "";
    const error = `the server answered HTTP ${status}${text}`;
    return await refuse({
      reason: "http",
      error,
      ...(retryAfter === undefined ? {} : { retryAfter }),
    });
  }
  const robotsTag = response.headers.get("x-robots-tag");
  if (config.honorNoAi && robotsTag && /\bno(image)?ai\b/i.test(robotsTag)) {
    const error = `the server opts out of AI use (X-Robots-Tag: ${shorten(robotsTag)})`;
    return await refuse({ reason: "opt-out", error });
  }
  part.makeDirectory();

  let offset = 0;
  const encoding = response.headers.get("content-encoding");
  const identity = encoding === null || encoding === "identity";
  const lengthHeader = response.headers.get("content-length");
  const length = lengthHeader !== null && /^\d+$/.test(lengthHeader)
    ? Number(lengthHeader)
    : undefined;
  const etag = response.headers.get("etag") ?? undefined;
  let declared = identity ? length : undefined;
  if (status === 206) {
    const problem = rangeProblem(response, resume, identity, length, etag);
    if (problem) {
      // Never spliced: the partial file goes, and the next attempt fetches the file whole.
      part.discard();
      return await refuse({ reason: "length-mismatch", error: problem });
    }
    offset = resume!.size;
    declared = resume!.total ?? Number(/\/(\d+)$/.exec(response.headers.get("content-range")!)![1]);
  } else {
    part.supersede();
  }
  if (declared !== undefined && declared > config.maxBytes) {
    part.discard();
    const error = `the file is ${formatBytes(declared, 1024)}, over the ${
      formatBytes(config.maxBytes, 1024)
    } limit (--max-bytes)`;
    return await refuse({ reason: "too-large", error });
  }
  const strongEtag = etag !== undefined && /^\s*"/.test(etag) ? etag : undefined;
  return {
    status,
    offset,
    declared,
    encoding,
    etag,
    strongEtag,
    validator: strongEtag ?? strongLastModified(response.headers),
  };
}

/**
 * A Last-Modified that is a strong validator: RFC 9110 § 8.8.2.2 lets a client take it as one
 * when the response's Date is at least a second later. Otherwise (or without it) there is no
 * resume: a weak validator (an ETag `W/"…"`, say) must never be sent in If-Range.
 */
function strongLastModified(headers: Headers): string | undefined {
  const modified = headers.get("last-modified");
  const date = headers.get("date");
  if (modified === null || date === null) return undefined;
  const gap = Date.parse(date) - Date.parse(modified);
  return gap >= 1000 ? modified : undefined;
}

/**
 * Checks a 206 against what was asked: a Content-Range `bytes START-END/TOTAL` with START the
 * partial file's size, END the last byte, TOTAL the size the partial file was saved with (when
 * it was known), the same strong ETag, no content coding, and a Content-Length (if any) of the
 * range's own length.
 */
function rangeProblem(
  response: Response,
  resume: Resumable | undefined,
  identity: boolean,
  length: number | undefined,
  etag: string | undefined,
): string | undefined {
  if (!resume) return "the server sent a range that was not asked for";
  const header = response.headers.get("content-range") ?? "";
  const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header.trim());
  if (!range) {
    return `the server's Content-Range (${shorten(header)}) is not bytes START-END/TOTAL`;
  }
  const [start, end, total] = [Number(range[1]), Number(range[2]), Number(range[3])];
  if (start !== resume.size || end !== total - 1 || end < start) {
    return `the server sent bytes ${start}-${end}/${total}, not the ${resume.size}- asked for`;
  }
  if (resume.total !== undefined && total !== resume.total) {
    return `the file is now ${total} bytes, not ${resume.total}: it changed on the server`;
  }
  if (resume.etag !== undefined && etag !== resume.etag) {
    return `the file changed on the server (ETag ${etag ?? "none"}, was ${resume.etag})`;
  }
  if (!identity) return "the server sent the rest of the file content-encoded";
  if (length !== undefined && length !== end - start + 1) {
    return `the range is ${end - start + 1} bytes, but Content-Length says ${length}`;
  }
  return undefined;
}
