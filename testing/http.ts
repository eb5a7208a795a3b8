/**
 * Answering a GET or HEAD for one representation the way HTTP/1.1 caches and resuming clients
 * expect: `ETag`, `Last-Modified`, `If-None-Match` / `If-Modified-Since` (304), a single
 * `Range` (206, or 416 when unsatisfiable), `If-Range`, `Accept-Ranges` and `Content-Length`.
 *
 * @module
 */

/** One representation that the server can send whole or in part. */
export interface Entity {
  /** Its length in bytes. */
  size: number;
  /** Its `Content-Type`. */
  type: string;
  /** Its strong entity tag, quotes included (`"abc"`). */
  etag: string;
  /** When it last changed. */
  lastModified: Date;
  /** Its bytes from `start` to `end` (exclusive); called only for GET. */
  body(
    start: number,
    end: number,
  ): Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array<ArrayBuffer>>;
}

/** Whether an `If-None-Match` list matches an entity tag (weak comparison, as RFC 9110 says). */
function noneMatch(header: string, etag: string): boolean {
  const opaque = (tag: string) => tag.trim().replace(/^W\//, "");
  return header.trim() === "*" || header.split(",").some((tag) => opaque(tag) === opaque(etag));
}

/** The one range a `Range` header asks for: `[start, end)`, `"unsatisfiable"`, or `undefined`. */
function parseRange(header: string, size: number): [number, number] | "unsatisfiable" | undefined {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges, other units or bad syntax: the header is ignored and the whole body sent.
  if (!match || (match[1] === "" && match[2] === "")) return undefined;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return [Math.max(0, size - suffix), size];
  }
  const start = Number(match[1]);
  if (match[2] !== "" && Number(match[2]) < start) return undefined;
  if (start >= size) return "unsatisfiable";
  const last = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  return [start, last + 1];
}

/**
 * Answers a GET or HEAD for an entity, honouring validators, conditional headers and ranges.
 *
 * @param request The request (its method and headers are read).
 * @param entity What to send.
 * @param headers Extra headers for every answer (e.g. `Content-Disposition`).
 * @returns A 200, 206, 304 or 416 response.
 *
 * @example The last 3 bytes, then a revalidation
 * ```ts
 * import { respondWithEntity } from "./http.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = new TextEncoder().encode("hello world");
 * const entity = {
 *   size: bytes.length,
 *   type: "text/plain",
 *   etag: '"v1"',
 *   lastModified: new Date(0),
 *   body: (start: number, end: number) => bytes.subarray(start, end),
 * };
 * const url = "http://localhost/hello.txt";
 * const partial = respondWithEntity(new Request(url, { headers: { range: "bytes=-3" } }), entity);
 * assert.equal(partial.status, 206);
 * assert.equal(partial.headers.get("content-range"), "bytes 8-10/11");
 * assert.equal(await partial.text(), "rld");
 * const cached = respondWithEntity(new Request(url, { headers: { "if-none-match": '"v1"' } }), entity);
 * assert.equal(cached.status, 304);
 * ```
 */
export function respondWithEntity(
  request: Request,
  entity: Entity,
  headers: HeadersInit = {},
): Response {
  const head = new Headers(headers);
  head.set("etag", entity.etag);
  head.set("last-modified", entity.lastModified.toUTCString());
  head.set("accept-ranges", "bytes");

  const ifNoneMatch = request.headers.get("if-none-match");
  const ifModifiedSince = request.headers.get("if-modified-since");
  const notModified = ifNoneMatch !== null
    ? noneMatch(ifNoneMatch, entity.etag)
    : ifModifiedSince !== null && !Number.isNaN(Date.parse(ifModifiedSince)) &&
      Math.floor(entity.lastModified.getTime() / 1000) <= Date.parse(ifModifiedSince) / 1000;
  if (notModified) return new Response(null, { status: 304, headers: head });

  head.set("content-type", entity.type);
  let range: [number, number] | "unsatisfiable" | undefined;
  const rangeHeader = request.headers.get("range");
  const ifRange = request.headers.get("if-range");
  const validatorMatches = ifRange === null || ifRange.trim() === entity.etag ||
    ifRange.trim() === entity.lastModified.toUTCString();
  if (rangeHeader !== null && validatorMatches) range = parseRange(rangeHeader, entity.size);

  if (range === "unsatisfiable") {
    head.set("content-range", `bytes */${entity.size}`);
    head.set("content-type", "text/plain; charset=utf-8");
    const message = `range not satisfiable: ${rangeHeader} of ${entity.size} bytes\n`;
    head.set("content-length", String(new TextEncoder().encode(message).length));
    return new Response(request.method === "HEAD" ? null : message, { status: 416, headers: head });
  }
  const [start, end] = range ?? [0, entity.size];
  if (range) head.set("content-range", `bytes ${start}-${end - 1}/${entity.size}`);
  head.set("content-length", String(end - start));
  const status = range ? 206 : 200;
  if (request.method === "HEAD") return new Response(null, { status, headers: head });
  return new Response(entity.body(start, end), { status, headers: head });
}
