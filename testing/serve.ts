/**
 * Running the test server: {@linkcode serve} listens on a socket, answering with the handler of
 * `handler.ts`, counts the requests, and closes cleanly, ending every unfinished body. The entry
 * `server.ts` re-exports it.
 *
 * @module
 */

import { createTrackedHandler } from "./handler.ts";
import { resolveServerOptions, type ServerOptions } from "./options.ts";
import { StreamTracker } from "./streams.ts";

/**
 * Counts of the requests a {@linkcode FileServer} has answered.
 *
 * @example
 * ```ts
 * import { serve, type ServerStats } from "../server.ts";
 * import assert from "node:assert/strict";
 *
 * await using server = await serve({ images: 2 });
 * await Promise.all([0, 1].map(async (i) => {
 *   await (await fetch(new URL(`img/${i}.png`, server.url))).body?.cancel();
 * }));
 * const stats: ServerStats = server.stats;
 * assert.equal(stats.requests, 2);
 * assert.equal(stats.inflight, 0);
 * assert.ok(stats.maxInflight >= 1);
 * ```
 */
export interface ServerStats {
  /** Requests received. */
  requests: number;
  /** Requests being handled now: from arrival until their answer's headers are ready. */
  inflight: number;
  /** The most requests that were ever in flight at once. */
  maxInflight: number;
}

/**
 * A running test server, from {@linkcode serve}.
 *
 * @example Close it by hand
 * ```ts
 * import { type FileServer, serve } from "../server.ts";
 * import assert from "node:assert/strict";
 *
 * const server: FileServer = await serve({ images: 1 });
 * try {
 *   assert.equal(server.url.href, `http://${server.hostname}:${server.port}/`);
 *   const response = await fetch(new URL("list.txt", server.url));
 *   assert.equal((await response.text()).trim(), new URL("img/0.png", server.url).href);
 * } finally {
 *   await server.close();
 * }
 * ```
 */
export interface FileServer {
  /** Its origin with a trailing slash, e.g. `http://127.0.0.1:43117/`. */
  url: URL;
  /** The port it listens on. */
  port: number;
  /** The address it listens on. */
  hostname: string;
  /** Live counts of the requests (read them after the client is done). */
  stats: ServerStats;
  /** Stops listening, ends every unfinished body (stalled and endless ones too) and waits. */
  close(): Promise<void>;
  /** The same as {@linkcode FileServer.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Options of {@linkcode serve}: the handler's and where to listen.
 *
 * @example Closed by a signal
 * ```ts
 * import { serve, type ServeOptions } from "../server.ts";
 * import assert from "node:assert/strict";
 *
 * const stop = new AbortController();
 * const options: ServeOptions = { hostname: "127.0.0.1", port: 0, images: 1, signal: stop.signal };
 * const server = await serve(options);
 * assert.equal(server.hostname, "127.0.0.1");
 * assert.ok(server.port > 0);
 * stop.abort();
 * await server.close(); // already closing: waits for the end
 * ```
 */
export interface ServeOptions extends ServerOptions {
  /** The port, 0 (the default) for any free one. */
  port?: number;
  /** The address to listen on. Default `127.0.0.1`. */
  hostname?: string;
  /** Closes the server when aborted. */
  signal?: AbortSignal;
}

/**
 * Starts the test server.
 *
 * @param options What to serve, which faults to inject, and where to listen.
 * @returns The running server; close it (or `await using` it) when done.
 * @throws {TypeError} When an option has the wrong type.
 * @throws {RangeError} When an option is out of range.
 *
 * @example A flaky URL, through a real socket
 * ```ts
 * import { serve } from "../server.ts";
 * import assert from "node:assert/strict";
 *
 * const server = await serve({ images: 1 });
 * try {
 *   const url = new URL("img/0.png?fail=1&status=503", server.url);
 *   const first = await fetch(url);
 *   await first.body?.cancel();
 *   assert.equal(first.status, 503);
 *   const second = await fetch(url);
 *   await second.body?.cancel();
 *   assert.equal(second.status, 200);
 *   assert.equal(server.stats.requests, 2);
 * } finally {
 *   await server.close();
 * }
 * ```
 */
export async function serve(options: ServeOptions = {}): Promise<FileServer> {
  const { port = 0, hostname = "127.0.0.1", signal, ...rest } = options;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(
      `Cannot start server: 'port' must be an integer from 0 to 65535, got ${port}`,
    );
  }
  if (typeof hostname !== "string" || hostname === "") {
    throw new TypeError("Cannot start server: 'hostname' must be a non-empty string");
  }
  const resolved = resolveServerOptions(rest);
  signal?.throwIfAborted();
  if (resolved.dir !== undefined) {
    let info: Deno.FileInfo | undefined;
    try {
      info = await Deno.stat(resolved.dir);
    } catch {
      // Reported below.
    }
    if (!info?.isDirectory) {
      throw new TypeError(`Cannot start server: 'dir' is not a directory: ${resolved.dir}`);
    }
  }

  const tracker = new StreamTracker();
  const handle = createTrackedHandler(resolved, tracker);
  const stats: ServerStats = { requests: 0, inflight: 0, maxInflight: 0 };
  const server = Deno.serve({ port, hostname, onListen() {} }, async (request) => {
    stats.requests++;
    stats.maxInflight = Math.max(stats.maxInflight, ++stats.inflight);
    try {
      return await handle(request);
    } finally {
      stats.inflight--;
    }
  });
  const address = server.addr as Deno.NetAddr;
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;

  let closing: Promise<void> | undefined;
  const onAbort = () => void close();
  function close(): Promise<void> {
    closing ??= (async () => {
      signal?.removeEventListener("abort", onAbort);
      const stopped = server.shutdown();
      await tracker.close();
      await stopped;
    })();
    return closing;
  }
  signal?.addEventListener("abort", onAbort, { once: true });

  return {
    url: new URL(`http://${host}:${address.port}/`),
    port: address.port,
    hostname: address.hostname,
    stats,
    close,
    [Symbol.asyncDispose]: close,
  };
}
