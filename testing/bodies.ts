/**
 * The made-up bodies behind the test server's per-URL knobs: `?length=N` (N deterministic bytes
 * that start like a PNG), `?endless=1` (such bytes forever), `?gzip-bomb=MB` (a small gzip body
 * that inflates to MB megabytes) and `?html=1` (an HTML error page).
 *
 * @module
 */

import type { Entity } from "./http.ts";
import type { StreamTracker } from "./streams.ts";

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** The pattern's period: a prime, so it lines up with no power-of-two buffer size. */
const PERIOD = 65_521;
/** Bodies up to this long are made in one piece; longer ones are streamed. */
const IN_ONE_PIECE = 1 << 20;
/** The largest `?gzip-bomb=MB`. */
export const MAX_GZIP_BOMB_MB = 4096;

/** The pattern twice over, so that any `PERIOD` bytes of it are one contiguous slice. */
const PATTERN = (() => {
  const bytes = new Uint8Array(2 * PERIOD);
  let state = 0x2545f491;
  for (let i = 0; i < PERIOD; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state >>> 24;
  }
  bytes.copyWithin(PERIOD, 0, PERIOD);
  return bytes;
})();

/** Bytes `[start, end)` of the endless pattern: the PNG signature, then pseudo-random bytes. */
function patternSlice(start: number, end: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(end - start);
  for (let at = 0; at < out.length;) {
    const offset = (start + at) % PERIOD;
    const n = Math.min(out.length - at, PERIOD);
    out.set(PATTERN.subarray(offset, offset + n), at);
    at += n;
  }
  for (let i = start; i < Math.min(end, SIGNATURE.length); i++) out[i - start] = SIGNATURE[i]!;
  return out;
}

/**
 * The entity behind `?length=N`: exactly `size` deterministic bytes beginning with the PNG
 * signature, which are never all in memory at once when there are many of them.
 *
 * @param size How many bytes.
 * @param tracker Tracks the streamed bodies of large ranges.
 * @returns The entity (strong ETag derived from the size).
 *
 * @example Ten bytes
 * ```ts
 * import { lengthEntity } from "./bodies.ts";
 * import { StreamTracker } from "./streams.ts";
 * import assert from "node:assert/strict";
 *
 * const entity = lengthEntity(10, new StreamTracker());
 * const bytes = new Uint8Array(await new Response(entity.body(0, 10)).arrayBuffer());
 * assert.deepEqual([...bytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
 * assert.equal(bytes.length, 10);
 * ```
 */
export function lengthEntity(size: number, tracker: StreamTracker): Entity {
  return {
    size,
    type: "application/octet-stream",
    etag: `"length-${size.toString(16)}"`,
    lastModified: new Date(Date.UTC(2024, 0, 1)),
    body(start, end) {
      if (end - start <= IN_ONE_PIECE) return patternSlice(start, end);
      let at = start;
      return tracker.stream({
        next() {
          if (at >= end) return null;
          const chunk = patternSlice(at, Math.min(end, at + PERIOD));
          at += chunk.length;
          return chunk;
        },
      });
    },
  };
}

/**
 * The body behind `?endless=1`: the PNG signature and pseudo-random bytes, forever, until the
 * client cancels it or the server closes (which errors it, so it never looks complete).
 *
 * @param tracker Tracks the body so that closing the server ends it.
 * @returns The body.
 *
 * @example Read a little, then stop
 * ```ts
 * import { endlessBody } from "./bodies.ts";
 * import { StreamTracker } from "./streams.ts";
 * import assert from "node:assert/strict";
 *
 * const tracker = new StreamTracker();
 * const reader = endlessBody(tracker).getReader();
 * const first = await reader.read();
 * assert.equal(first.value?.[1], 0x50);
 * await reader.cancel();
 * assert.equal(tracker.open, 0);
 * ```
 */
export function endlessBody(tracker: StreamTracker): ReadableStream<Uint8Array<ArrayBuffer>> {
  let at = 0;
  return tracker.stream({
    next() {
      const chunk = patternSlice(at, at + PERIOD);
      at += PERIOD;
      return chunk;
    },
    onServerClose: "error",
  });
}

const bombs = new Map<number, Promise<Uint8Array<ArrayBuffer>>>();

/**
 * The body behind `?gzip-bomb=MB`: gzip data that inflates to the PNG signature followed by zeros,
 * `mb` MiB in all. Each size is compressed once and kept.
 *
 * @param mb How many MiB it inflates to, from 1 to {@linkcode MAX_GZIP_BOMB_MB}.
 * @returns The compressed bytes (about a thousandth of the inflated size).
 *
 * @example One MiB of zeros in about a KiB
 * ```ts
 * import { gzipBomb } from "./bodies.ts";
 * import assert from "node:assert/strict";
 *
 * const gzip = await gzipBomb(1);
 * assert.ok(gzip.length < 10_000);
 * const inflated = new Blob([gzip]).stream().pipeThrough(new DecompressionStream("gzip"));
 * const bytes = new Uint8Array(await new Response(inflated).arrayBuffer());
 * assert.equal(bytes.length, 1 << 20);
 * assert.equal(bytes[1], 0x50);
 * ```
 */
export function gzipBomb(mb: number): Promise<Uint8Array<ArrayBuffer>> {
  let bomb = bombs.get(mb);
  if (!bomb) {
    const zeros = new Uint8Array(1 << 20);
    let left = mb;
    const inflated = new ReadableStream<Uint8Array<ArrayBuffer>>({
      start(controller) {
        const first = new Uint8Array(1 << 20);
        first.set(SIGNATURE);
        controller.enqueue(first);
        left--;
      },
      pull(controller) {
        if (left-- > 0) controller.enqueue(zeros);
        else controller.close();
      },
    });
    bomb = new Response(inflated.pipeThrough(new CompressionStream("gzip"))).arrayBuffer()
      .then((buffer) => new Uint8Array(buffer));
    bombs.set(mb, bomb);
  }
  return bomb;
}

/**
 * The page behind `?html=1`: what a server sends when it answers an image URL with an error or
 * login page but still claims 200 and `image/png`.
 *
 * @param path The path asked for, shown in the page.
 * @returns The page's text.
 */
export function htmlPage(path: string): string {
  const safe = path.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>\n<html><head><title>Not available</title></head>\n` +
    `<body><h1>Sorry!</h1><p>${safe} is not available right now. Please sign in.</p></body>` +
    `</html>\n`;
}
