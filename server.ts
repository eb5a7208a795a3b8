#!/usr/bin/env -S deno run -A
/**
 * A local HTTP server for tests, demos and benchmarks: deterministic synthetic PNGs, a list of
 * their URLs, static files, and knobs for every way a real server misbehaves. It listens on
 * loopback only by default (any of 127.0.0.0/8 works, e.g. `127.0.0.2`).
 *
 * Routes (GET and HEAD):
 * - `/img/{i}.png`, for `0 <= i < images`: synthetic PNG number `i` (see `src/png.ts`), made on
 *   first request and then kept in memory (up to 256 MiB).
 * - `/list.txt[?start=K][&count=N]`: the absolute URLs of the images, one a line, built from the
 *   request's Host; streamed, so a million lines cost nothing.
 * - anything else: the file under `dir` (when set), with its media type (`.ts` files are
 *   `application/typescript`, so Deno can import them); paths leaving `dir` get 403.
 *
 * Every file and image answer has `Content-Length`, `Accept-Ranges: bytes`, a strong `ETag` and
 * `Last-Modified`, and honours `Range: bytes=a-b | a- | -n` (206, or 416), `If-Range`,
 * `If-None-Match` and `If-Modified-Since` (304).
 *
 * Global faults ({@linkcode ServerOptions}): `latencyMs` is added to every request; `p500`,
 * `p503`, `p429`, `pTruncate`, `pStall` and `pRedirect` are the fractions of requests that get
 * each fault. Each request's fate follows from the seed, its path and query, and how many requests
 * for the same path and query came before, so runs are reproducible; only the first three
 * requests for a URL can get a fault, so a client that retries three times gets every file.
 * `/list.txt` and the targets of fault redirects (`?hop=1`) get none.
 *
 * Per-URL knobs, in the query string of any path (other parameters are ignored):
 * - `latency=MS`: wait MS more milliseconds before answering.
 * - `status=N`: always answer N (200 to 599) with a short text body.
 * - `fail=K[&status=N]`: the first K requests for this exact path and query answer N (default
 *   503); later ones succeed.
 * - `retry-after=S`: add `Retry-After: S` to every answer that is not a success;
 *   `retry-after-date=1` sends it as the HTTP date S seconds from now.
 * - `truncate=BYTES`: declare the full length, send BYTES, then cut the connection.
 * - `stall=BYTES`: send BYTES, then nothing more until the client gives up or the server closes.
 * - `redirect=N`: N hops of 302 (each to `redirect=N-1`, the last to the URL without it).
 * - `redirect-to=URL`: 302 to URL, whatever its scheme (`file:///etc/passwd` included).
 * - `redirect-loop=1`: 302 to the very same URL, forever.
 * - `disposition=NAME`: `Content-Disposition: attachment; filename="NAME"`.
 * - `type=MIME`: send this `Content-Type` instead.
 * - `html=1`: 200 and `image/png`, but the body is an HTML error page.
 * - `endless=1`: 200 without `Content-Length`, PNG-looking bytes forever.
 * - `gzip-bomb=MB`: `Content-Encoding: gzip`, a small body that inflates to MB MiB (at most
 *   4096) starting with the PNG signature.
 * - `length=N`: exactly N deterministic bytes starting with the PNG signature, streamed (N may
 *   be in the billions).
 * - `wrong-length=DELTA`: `Content-Length` is the real length plus DELTA.
 *
 * @example Serve ten images and fetch one
 * ```ts
 * import { serve } from "./server.ts";
 * import assert from "node:assert/strict";
 *
 * await using server = await serve({ images: 10 });
 * const response = await fetch(new URL("img/3.png", server.url));
 * assert.equal(response.headers.get("content-type"), "image/png");
 * assert.ok((await response.bytes()).length > 1000);
 * ```
 *
 * Command line: `deno run -A server.ts --help`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { makeHandler } from "./testing/handler.ts";
import { resolveServerOptions, type ServerOptions } from "./testing/options.ts";
import { StreamTracker } from "./testing/streams.ts";

export type { ServerOptions } from "./testing/options.ts";

/**
 * Counts of the requests a {@linkcode FileServer} has answered.
 *
 * @example
 * ```ts
 * import { serve, type ServerStats } from "./server.ts";
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
 * import { type FileServer, serve } from "./server.ts";
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
 * import { serve, type ServeOptions } from "./server.ts";
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
 * import { createHandler } from "./server.ts";
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
export function createHandler(options: ServerOptions = {}): (req: Request) => Promise<Response> {
  return makeHandler(resolveServerOptions(options), new StreamTracker());
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
 * import { serve } from "./server.ts";
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
  const handle = makeHandler(resolved, tracker);
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

const HELP = `Usage: deno run -A server.ts [options]

A local test server: synthetic PNGs, static files and fault knobs, on loopback.

Options:
  --dir DIR          also serve the files under DIR
  --port N           port to listen on (default 0: any free port)
  --hostname H       address to listen on (default 127.0.0.1; any of 127.0.0.0/8 works)
  --images N         how many synthetic PNGs /img/{i}.png serves (default 1000)
  --min-bytes N      smallest synthetic PNG in bytes (default 4000)
  --max-bytes N      largest synthetic PNG in bytes (default 40000)
  --seed N           changes the PNGs and which requests get faults (default 1)
  --latency MS       milliseconds added before every answer (default 0)
  --p500 F           fraction of requests answered 500 (0 to 1, default 0)
  --p503 F           fraction of requests answered 503
  --p429 F           fraction of requests answered 429 with Retry-After
  --retry-after S    the Retry-After of those 429s, in seconds (default 1)
  --truncate F       fraction of bodies cut after half their bytes
  --stall F          fraction of bodies that stop after half their bytes
  --redirect F       fraction of requests redirected (302) to the same URL plus ?hop=1
  -h, --help         show this help

Faults are decided from the seed, the URL and how many times it was asked for; only the first
three requests for a URL can get one.

Routes (GET and HEAD; Range, If-Range, If-None-Match and If-Modified-Since are honoured):
  /img/{i}.png                 synthetic PNG number i, for 0 <= i < images
  /list.txt[?start=K&count=N]  the images' absolute URLs, one a line
  /anything/else               a file under --dir, if given

Per-URL knobs, in the query string of any path:
  ?latency=MS                  wait MS more milliseconds
  ?status=N                    always answer N (200-599)
  ?fail=K&status=N             the first K requests for this exact URL answer N (default 503)
  ?retry-after=S               add Retry-After: S to answers that are not a success
  &retry-after-date=1            ...as the HTTP date S seconds from now
  ?truncate=BYTES              declare the full length, send BYTES, cut the connection
  ?stall=BYTES                 send BYTES, then nothing more
  ?redirect=N                  N hops of 302 before serving
  ?redirect-to=URL             302 to URL (any scheme)
  ?redirect-loop=1             302 to the same URL forever
  ?disposition=NAME            Content-Disposition: attachment; filename="NAME"
  ?type=MIME                   override Content-Type
  ?html=1                      200, image/png, but an HTML page for a body
  ?endless=1                   200, no Content-Length, bytes forever
  ?gzip-bomb=MB                Content-Encoding: gzip, inflates to MB MiB (at most 4096)
  ?length=N                    exactly N deterministic bytes starting like a PNG
  ?wrong-length=DELTA          Content-Length off by DELTA
`;

/** Parses a flag's value as a number, or exits with a message. */
function numberFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = value.trim() === "" ? NaN : Number(value);
  if (Number.isNaN(n)) {
    console.error(`server.ts: --${name} must be a number, got '${value}'`);
    Deno.exit(2);
  }
  return n;
}

if (import.meta.main) {
  const flags = [
    "dir",
    "port",
    "hostname",
    "images",
    "min-bytes",
    "max-bytes",
    "seed",
    "latency",
    "p500",
    "p503",
    "p429",
    "retry-after",
    "truncate",
    "stall",
    "redirect",
  ] as const;
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: Deno.args,
      options: {
        ...Object.fromEntries(flags.map((flag) => [flag, { type: "string" as const }])),
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    console.error(`server.ts: ${(error as Error).message}\n\n${HELP}`);
    Deno.exit(2);
  }
  if (values.help) {
    console.log(HELP);
    Deno.exit(0);
  }
  const flag = (name: (typeof flags)[number]) =>
    numberFlag(name, values[name] as string | undefined);
  const options: ServeOptions = {
    dir: values.dir as string | undefined,
    port: flag("port"),
    hostname: values.hostname as string | undefined,
    images: flag("images"),
    minBytes: flag("min-bytes"),
    maxBytes: flag("max-bytes"),
    seed: flag("seed"),
    latencyMs: flag("latency"),
    p500: flag("p500"),
    p503: flag("p503"),
    p429: flag("p429"),
    retryAfter: flag("retry-after"),
    pTruncate: flag("truncate"),
    pStall: flag("stall"),
    pRedirect: flag("redirect"),
  };
  let server: FileServer;
  try {
    server = await serve(
      Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    );
  } catch (error) {
    console.error(`server.ts: ${(error as Error).message}`);
    Deno.exit(2);
  }
  console.log(`Listening on ${server.url.href}`);
  const signals = ["SIGINT", "SIGTERM"] as const;
  const stop = async () => {
    for (const name of signals) Deno.removeSignalListener(name, stop);
    await server.close();
  };
  for (const name of signals) Deno.addSignalListener(name, stop);
}
