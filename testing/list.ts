/**
 * The test server's `/list.txt`: the absolute URLs of its synthetic images, one a line, streamed
 * with an exact `Content-Length`, so that a list of a million URLs costs no memory.
 *
 * @module
 */

import type { StreamTracker } from "./streams.ts";

const LINES_PER_CHUNK = 2000;

/** The total number of decimal digits in the integers `0` to `n - 1`. */
function digitsBelow(n: number): number {
  let total = 0;
  for (let digits = 1, low = 0, high = 10; low < n; digits++, low = high, high *= 10) {
    total += digits * (Math.min(n, high) - low);
  }
  return total;
}

/**
 * Streams `{origin}/img/{i}.png` lines for `i` from `start` to `start + count - 1`.
 *
 * @param origin The URLs' origin, e.g. `http://127.0.0.2:8000` (from the request's Host).
 * @param start The first index.
 * @param count How many lines.
 * @param tracker Tracks the body so that closing the server ends it.
 * @returns The body and its exact length in bytes.
 *
 * @example Three URLs
 * ```ts
 * import { imageList } from "./list.ts";
 * import { StreamTracker } from "./streams.ts";
 * import assert from "node:assert/strict";
 *
 * const { body, length } = imageList("http://127.0.0.1:8000", 9, 3, new StreamTracker());
 * const text = await new Response(body).text();
 * assert.equal(text.split("\n")[2], "http://127.0.0.1:8000/img/11.png");
 * assert.equal(new TextEncoder().encode(text).length, length);
 * ```
 */
export function imageList(
  origin: string,
  start: number,
  count: number,
  tracker: StreamTracker,
): { body: ReadableStream<Uint8Array<ArrayBuffer>>; length: number } {
  const encoder = new TextEncoder();
  const prefix = `${origin}/img/`;
  const fixed = encoder.encode(prefix).length + ".png\n".length;
  const length = count * fixed + digitsBelow(start + count) - digitsBelow(start);
  let next = start;
  const end = start + count;
  const body = tracker.stream({
    next() {
      if (next >= end) return null;
      const stop = Math.min(end, next + LINES_PER_CHUNK);
      let text = "";
      for (; next < stop; next++) text += `${prefix}${next}.png\n`;
      return encoder.encode(text);
    },
  });
  return { body, length };
}
