#!/usr/bin/env -S deno run -A
/**
 * A local HTTP server for tests, demos and benchmarks: deterministic synthetic PNGs, a list of
 * their URLs, static files, and knobs for every way a real server misbehaves. It listens on
 * loopback only by default (any of 127.0.0.0/8 works, e.g. `127.0.0.2`).
 *
 * Routes (GET and HEAD):
 * - `/img/{i}.png`, for `0 <= i < images`: synthetic PNG number `i` (see `testing/png.ts`), made on
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
import { type FileServer, serve, type ServeOptions } from "./testing/serve.ts";

export { createHandler } from "./testing/handler.ts";
export type { ServerOptions } from "./testing/options.ts";
export { type FileServer, serve, type ServeOptions, type ServerStats } from "./testing/serve.ts";

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
