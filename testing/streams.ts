/**
 * The test server's response bodies that are streamed, tracked so that closing the server can end
 * every one of them, even those that stall or never end, and release what they hold.
 *
 * @module
 */

/** Bytes in an `ArrayBuffer`, as response bodies take them. */
type Bytes = Uint8Array<ArrayBuffer>;

/** Where a tracked stream's chunks come from. */
interface ChunkSource {
  /**
   * The next chunk, or `null` at the end. `stop` is aborted when the stream is cancelled by the
   * client or ended by the server; a source that waits (a stall) must wake up on it.
   */
  next(stop: AbortSignal): Bytes | null | Promise<Bytes | null>;
  /** Releases what the source holds (an open file, a reader); called once, however it ends. */
  close?(): void | Promise<void>;
  /**
   * When the server closes while this body is unfinished: `"close"` ends it cleanly (right for
   * bodies with a declared length, which the client then sees cut short), `"error"` errors it (for
   * bodies without a length, whose clean end would look complete). Default `"close"`.
   */
  onServerClose?: "close" | "error";
}

/**
 * Makes and tracks streamed response bodies, and ends them all on {@linkcode StreamTracker.close}.
 *
 * @example A body that waits forever, until the tracker closes
 * ```ts
 * import { StreamTracker } from "./streams.ts";
 * import assert from "node:assert/strict";
 *
 * const tracker = new StreamTracker();
 * const body = tracker.stream({
 *   next: (stop) => new Promise((resolve) => stop.addEventListener("abort", () => resolve(null))),
 * });
 * assert.equal(tracker.open, 1);
 * const reading = new Response(body).arrayBuffer();
 * await tracker.close();
 * assert.equal((await reading).byteLength, 0);
 * assert.equal(tracker.open, 0);
 * ```
 */
export class StreamTracker {
  #closers = new Set<() => Promise<void>>();
  #controller = new AbortController();

  /** Aborted when the tracker closes; for waits (latency) that must not outlive the server. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** How many tracked bodies are unfinished. */
  get open(): number {
    return this.#closers.size;
  }

  /**
   * Makes a tracked body from a chunk source.
   *
   * @param source Where the chunks come from.
   * @returns A byte stream to use as a response body.
   *
   * @example Three chunks
   * ```ts
   * import { StreamTracker } from "./streams.ts";
   * import assert from "node:assert/strict";
   *
   * const tracker = new StreamTracker();
   * let n = 0;
   * const body = tracker.stream({ next: () => n < 3 ? new Uint8Array([n++]) : null });
   * assert.deepEqual(new Uint8Array(await new Response(body).arrayBuffer()), new Uint8Array([0, 1, 2]));
   * assert.equal(tracker.open, 0);
   * ```
   */
  stream(source: ChunkSource): ReadableStream<Bytes> {
    const stop = new AbortController();
    let done = false;
    let end!: () => Promise<void>;
    const finish = async () => {
      if (done) return;
      done = true;
      this.#closers.delete(end);
      stop.abort();
      await source.close?.();
    };
    return new ReadableStream<Bytes>({
      start: (controller) => {
        end = async () => {
          if (done) return;
          await finish();
          if (source.onServerClose === "error") {
            // Deno logs the error of a response body; let that be one line that explains itself.
            const error = new Error("the test server closed while sending this body");
            error.stack =
              `test server: close() ended a body of unknown length as an error (expected)`;
            controller.error(error);
          } else {
            controller.close();
          }
        };
        if (this.#controller.signal.aborted) void end();
        else this.#closers.add(end);
      },
      pull: async (controller) => {
        let chunk: Bytes | null;
        try {
          chunk = await source.next(stop.signal);
        } catch (error) {
          if (done) return;
          await finish();
          throw error;
        }
        if (done) return;
        if (chunk === null) {
          await finish();
          controller.close();
        } else {
          controller.enqueue(chunk);
        }
      },
      cancel: () => finish(),
    }, { highWaterMark: 0 });
  }

  /**
   * Ends every unfinished body and aborts {@linkcode StreamTracker.signal}; later bodies end at
   * once.
   *
   * @returns A promise that settles when every body's source is released.
   *
   * @example
   * ```ts
   * import { StreamTracker } from "./streams.ts";
   * import assert from "node:assert/strict";
   *
   * const tracker = new StreamTracker();
   * await tracker.close();
   * assert.equal(tracker.signal.aborted, true);
   * ```
   */
  async close(): Promise<void> {
    this.#controller.abort();
    await Promise.all([...this.#closers].map((end) => end()));
  }
}

/**
 * Reads text from `reader` until it holds a whole line (or the stream ends): the banner a server
 * process prints first. Returns all that was read.
 */
export async function readBanner(reader: ReadableStreamDefaultReader<string>): Promise<string> {
  let banner = "";
  while (!banner.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) break;
    banner += value;
  }
  return banner;
}
