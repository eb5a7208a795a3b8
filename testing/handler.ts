/**
 * The test server's request handler: routes (`/img/{i}.png`, `/list.txt`, static files), per-URL
 * knobs and global faults, on top of the HTTP semantics of `http.ts`.
 *
 * @module
 */

import { endlessBody, gzipBomb, htmlPage, lengthEntity } from "./bodies.ts";
import { applyBodyFaults, FaultPlanner, type Knobs, parseKnobs } from "./faults.ts";
import { type Entity, respondWithEntity } from "./http.ts";
import { ImageCache } from "./images.ts";
import { imageList } from "./list.ts";
import { type ResolvedServerOptions, resolveServerOptions, type ServerOptions } from "./options.ts";
import { contentType, staticEntity } from "./static.ts";
import { StreamTracker } from "./streams.ts";

const REASONS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** A short text answer, with its length; no body for HEAD and for statuses that have none. */
function text(request: Request, status: number, message: string, headers: HeadersInit = {}) {
  const head = new Headers(headers);
  const noBody = status === 204 || status === 205 || status === 304;
  if (noBody) return new Response(null, { status, headers: head });
  const bytes = new TextEncoder().encode(message);
  head.set("content-type", "text/plain; charset=utf-8");
  head.set("content-length", String(bytes.length));
  return new Response(request.method === "HEAD" ? null : bytes, { status, headers: head });
}

/** Waits, unless the signal aborts first; returns whether it waited the whole time. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (ms <= 0 || signal.aborted) return Promise.resolve(!signal.aborted);
  return new Promise((resolve) => {
    const done = (full: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", abort);
      resolve(full);
    };
    const abort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal.addEventListener("abort", abort);
  });
}

/** `Content-Disposition: attachment` naming a file, with an RFC 5987 form for non-ASCII names. */
function disposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, "_").replace(/["\\]/g, "\\$&");
  if (/^[\x20-\x7e]*$/.test(name)) return `attachment; filename="${ascii}"`;
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

const IMAGE_PATH = /^\/img\/(0|[1-9]\d{0,15})\.png$/;

/**
 * Makes the test server's request handler, to call without a socket.
 *
 * @param options What to serve and which faults to inject.
 * @returns A function answering one request; the bodies it streams end only when read to the end
 * or cancelled.
 * @throws {TypeError} When an option has the wrong type.
 * @throws {RangeError} When an option is out of range.
 *
 * @example Ask for part of an image
 * ```ts
 * import { createHandler } from "../server.ts";
 * import assert from "node:assert/strict";
 *
 * const handle = createHandler({ images: 5 });
 * const response = await handle(
 *   new Request("http://localhost/img/1.png", { headers: { range: "bytes=0-7" } }),
 * );
 * assert.equal(response.status, 206);
 * assert.deepEqual([...await response.bytes()], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
 * ```
 */
export function createHandler(
  options: ServerOptions = {},
): (request: Request) => Promise<Response> {
  return createTrackedHandler(resolveServerOptions(options), new StreamTracker());
}

/**
 * {@linkcode createHandler} for options already checked, with the tracker that ends its bodies
 * (and aborts its waits) when the server closes; errors become 500 answers.
 */
export function createTrackedHandler(
  options: ResolvedServerOptions,
  tracker: StreamTracker,
): (request: Request) => Promise<Response> {
  const images = new ImageCache(options);
  const planner = new FaultPlanner(options);

  async function content(request: Request, url: URL, knobs: Knobs): Promise<Response> {
    const headers = new Headers();
    if (knobs.disposition !== undefined) {
      headers.set("content-disposition", disposition(knobs.disposition));
    }
    const head = request.method === "HEAD";
    const typed = (entity: Entity): Entity =>
      knobs.type === undefined ? entity : { ...entity, type: knobs.type };
    const path = url.pathname;

    if (knobs.html) {
      const page = new TextEncoder().encode(htmlPage(path));
      return respondWithEntity(
        request,
        typed(bytesEntity(page, `"html-${page.length.toString(16)}"`)),
        headers,
      );
    }
    if (knobs.endless) {
      headers.set("content-type", knobs.type ?? "image/png");
      return new Response(head ? null : endlessBody(tracker), { headers });
    }
    if (knobs.gzipBomb !== undefined) {
      const bomb = await gzipBomb(knobs.gzipBomb);
      headers.set("content-encoding", "gzip");
      return respondWithEntity(
        request,
        typed(bytesEntity(bomb, `"gzip-bomb-${knobs.gzipBomb.toString(16)}"`)),
        headers,
      );
    }
    if (knobs.length !== undefined) {
      const type = contentType(path);
      const entity = lengthEntity(knobs.length, tracker);
      if (type !== "application/octet-stream") entity.type = type;
      return respondWithEntity(request, typed(entity), headers);
    }
    if (path === "/list.txt") {
      const params = url.searchParams;
      const number = (name: string, fallback: number) => {
        const value = params.get(name);
        return value === null ? fallback : /^\d{1,16}$/.test(value) ? Number(value) : NaN;
      };
      const start = Math.min(number("start", 0), options.images);
      const count = Math.min(number("count", options.images), options.images - start);
      if (Number.isNaN(start) || Number.isNaN(count)) {
        return text(request, 400, "'start' and 'count' must be non-negative integers\n");
      }
      headers.set("content-type", knobs.type ?? "text/plain; charset=utf-8");
      const list = imageList(url.origin, start, count, tracker);
      headers.set("content-length", String(list.length));
      if (head) await list.body.cancel();
      return new Response(head ? null : list.body, { headers });
    }
    const image = IMAGE_PATH.exec(path);
    if (image && Number(image[1]) < options.images) {
      return respondWithEntity(request, typed(await images.get(Number(image[1]))), headers);
    }
    if (options.dir !== undefined) {
      const found = await staticEntity(options.dir, path, tracker);
      if ("status" in found) return text(request, found.status, `${found.message}\n`);
      return respondWithEntity(request, typed(found), headers);
    }
    return text(request, 404, `not found: ${path}\n`);
  }

  return async function handle(request: Request): Promise<Response> {
    try {
      if (request.method !== "GET" && request.method !== "HEAD") {
        return text(request, 405, `method not allowed: ${request.method}\n`, {
          allow: "GET, HEAD",
        });
      }
      const url = new URL(request.url);
      const knobs = parseKnobs(url.searchParams);
      if (typeof knobs === "string") return text(request, 400, `bad knob: ${knobs}\n`);
      const plan = planner.plan(url, knobs, url.pathname !== "/list.txt");
      if (!await sleep(plan.latencyMs, tracker.signal)) {
        return text(request, 503, "the server is closing\n");
      }
      const extra: HeadersInit = plan.retryAfter === undefined
        ? {}
        : { "retry-after": plan.retryAfter };
      if (plan.location !== undefined) {
        return text(request, 302, `redirecting to ${plan.location}\n`, {
          ...extra,
          location: plan.location,
        });
      }
      if (plan.status !== undefined) {
        const reason = REASONS[plan.status] ?? "";
        return text(request, plan.status, `HTTP ${plan.status} ${reason}`.trim() + "\n", extra);
      }
      let response = await content(request, url, knobs);
      if (plan.retryAfter !== undefined && response.status >= 300) {
        response.headers.set("retry-after", plan.retryAfter);
      }
      if (request.method === "GET") response = applyBodyFaults(response, plan, tracker);
      return response;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return text(request, 500, `the test server failed: ${message}\n`);
    }
  };
}

/** Bytes in memory as an entity that says it is a PNG (whatever the bytes are), tagged `etag`. */
function bytesEntity(bytes: Uint8Array<ArrayBuffer>, etag: string): Entity {
  return {
    size: bytes.length,
    type: "image/png",
    etag,
    lastModified: new Date(Date.UTC(2024, 0, 1)),
    body: (start, end) => bytes.subarray(start, end),
  };
}
