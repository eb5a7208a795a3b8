/**
 * The test server's static files: a URL path mapped to a file under a root directory (never
 * outside it, symbolic links included), with its media type, validators and ranged reads.
 *
 * @module
 */

import type { Entity } from "./http.ts";
import type { StreamTracker } from "./streams.ts";

const TYPES: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  avif: "image/avif",
  svg: "image/svg+xml",
  ico: "image/x-icon",
  bmp: "image/bmp",
  tif: "image/tiff",
  tiff: "image/tiff",
  html: "text/html; charset=utf-8",
  htm: "text/html; charset=utf-8",
  txt: "text/plain; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  ts: "application/typescript; charset=utf-8",
  mts: "application/typescript; charset=utf-8",
};

/**
 * The media type to send a file with, from its extension.
 *
 * @param path A file name or path.
 * @returns The `Content-Type`, `application/octet-stream` when the extension is unknown.
 *
 * @example
 * ```ts
 * import { contentType } from "./static.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(contentType("a/b.PNG"), "image/png");
 * assert.equal(contentType("mod.ts"), "application/typescript; charset=utf-8");
 * assert.equal(contentType("README"), "application/octet-stream");
 * ```
 */
export function contentType(path: string): string {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  return (dot > 0 && TYPES[name.slice(dot + 1).toLowerCase()]) || "application/octet-stream";
}

/** Why a path is not served: an HTTP status and a short message. */
interface Refusal {
  /** 400, 403 or 404. */
  status: number;
  /** Says what is wrong, for the response body. */
  message: string;
}

const roots = new Map<string, Promise<string>>();

function isNotFound(error: unknown): boolean {
  return error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory;
}

/**
 * Finds the file a URL path names under a root directory.
 *
 * @param root The directory served.
 * @param pathname The URL's path, percent-encoded as in a URL.
 * @param tracker Tracks the bodies read from the file, which close it when they end.
 * @returns The file as an entity, or why it is refused: 400 for a malformed path, 403 for one
 * that tries to leave the root, 404 for a missing file or a directory.
 *
 * @example A file, a missing one and a way out
 * ```ts
 * import { staticEntity } from "./static.ts";
 * import { StreamTracker } from "./streams.ts";
 * import assert from "node:assert/strict";
 *
 * const root = await Deno.makeTempDir();
 * try {
 *   await Deno.writeTextFile(`${root}/a b.txt`, "hello");
 *   const entity = await staticEntity(root, "/a%20b.txt", new StreamTracker());
 *   assert.ok("size" in entity);
 *   assert.equal(entity.size, 5);
 *   assert.equal(await new Response(entity.body(1, 3)).text(), "el");
 *   const missing = await staticEntity(root, "/missing.txt", new StreamTracker());
 *   assert.ok("status" in missing && missing.status === 404);
 *   const outside = await staticEntity(root, "/..%2Fetc/passwd", new StreamTracker());
 *   assert.ok("status" in outside && outside.status === 403);
 * } finally {
 *   await Deno.remove(root, { recursive: true });
 * }
 * ```
 */
export async function staticEntity(
  root: string,
  pathname: string,
  tracker: StreamTracker,
): Promise<Entity | Refusal> {
  const segments: string[] = [];
  for (const raw of pathname.split("/")) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return { status: 400, message: `malformed path: ${pathname}` };
    }
    if (segment === "" && raw === "") continue;
    if (segment === "." || segment === ".." || /[/\\\0]/.test(segment)) {
      return { status: 403, message: `forbidden path: ${pathname}` };
    }
    segments.push(segment);
  }
  const notFound = { status: 404, message: `not found: ${pathname}` };
  if (segments.length === 0 || pathname.endsWith("/")) return notFound;

  let base = roots.get(root);
  if (!base) roots.set(root, base = Deno.realPath(root));
  let top: string;
  try {
    top = await base;
  } catch (error) {
    roots.delete(root);
    if (isNotFound(error)) return notFound;
    throw error;
  }
  let real: string;
  let info: Deno.FileInfo;
  try {
    real = await Deno.realPath(`${top}/${segments.join("/")}`);
    // A symbolic link inside the root may point outside it.
    if (real !== top && !real.startsWith(top.endsWith("/") ? top : `${top}/`)) {
      return { status: 403, message: `forbidden path: ${pathname}` };
    }
    info = await Deno.stat(real);
  } catch (error) {
    if (isNotFound(error)) return notFound;
    throw error;
  }
  if (!info.isFile) return notFound;

  const mtime = info.mtime ?? new Date(0);
  const file = real;
  return {
    size: info.size,
    type: contentType(file),
    etag: `"${info.size.toString(16)}-${Math.floor(mtime.getTime() / 1000).toString(16)}"`,
    lastModified: mtime,
    body(start, end) {
      let handle: Deno.FsFile | undefined;
      let at = start;
      return tracker.stream({
        async next(stop) {
          if (at >= end) return null;
          if (!handle) {
            const opened = await Deno.open(file);
            if (stop.aborted) {
              opened.close();
              return null;
            }
            handle = opened;
            if (start > 0) await handle.seek(start, Deno.SeekMode.Start);
          }
          const buffer = new Uint8Array(Math.min(1 << 16, end - at));
          const n = await handle.read(buffer);
          if (n === null) return null; // The file shrank: the body ends short.
          at += n;
          return buffer.subarray(0, n);
        },
        close() {
          handle?.close();
          handle = undefined;
        },
      });
    },
  };
}
