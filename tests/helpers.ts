/** Small helpers shared by the test files. */

import { fileURLToPath } from "node:url";
import type { DownloadResult } from "../mod.ts";
import type { Job, WorkerConfig } from "../src/protocol.ts";
import { fetchToFile } from "../src/worker/fetch_file.ts";
import { Watch, Watchdog } from "../src/worker/watchdog.ts";

/** The command-line entry point, as a file path. */
export const CLI: string = fileURLToPath(new URL("../cli.ts", import.meta.url));

/** Every result of a run, in the order they came. */
export async function collect(
  results: AsyncIterable<DownloadResult>,
): Promise<DownloadResult[]> {
  const all: DownloadResult[] = [];
  for await (const result of results) all.push(result);
  return all;
}

/** Every file below `dir`, as sorted relative paths, except those named in `skip`. */
export async function listFiles(dir: string, skip: string[] = [], prefix = ""): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) {
      names.push(...await listFiles(`${dir}/${entry.name}`, skip, `${prefix}${entry.name}/`));
    } else if (!skip.includes(entry.name)) names.push(prefix + entry.name);
  }
  return names.sort();
}

/** A temporary directory that is removed, with all it holds, when its scope ends. */
export interface TempDir extends AsyncDisposable {
  /** The directory's real path: symlinks resolved, so it compares equal to paths Deno reports. */
  readonly path: string;
}

/** Makes a temporary directory for `await using dir = await tempDir();`. */
export async function tempDir(prefix = "downpour-test-"): Promise<TempDir> {
  const path = await Deno.realPath(await Deno.makeTempDir({ prefix }));
  return {
    path,
    async [Symbol.asyncDispose]() {
      try {
        await Deno.remove(path, { recursive: true });
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    },
  };
}

/** An HTTP server on a free port; `await using` shuts it down when its scope ends. */
export interface LocalServer extends Deno.HttpServer<Deno.NetAddr> {
  /** Its origin, e.g. `http://127.0.0.1:43210`. */
  readonly origin: string;
}

/** Serves `handler` on port 0 of `hostname` (the loopback address by default), quietly. */
export function localServer(
  handler: Deno.ServeHandler<Deno.NetAddr>,
  hostname = "127.0.0.1",
): LocalServer {
  const server = Deno.serve({ hostname, port: 0, onListen() {} }, handler);
  return Object.assign(server, { origin: `http://${hostname}:${server.addr.port}` });
}

/**
 * Runs `body` with a server of `handler` on port 0 and a temporary output directory; the server
 * shuts down, then the directory goes.
 */
export async function withServer(
  handler: (req: Request) => Response | Promise<Response>,
  body: (base: string, out: string) => Promise<void>,
): Promise<void> {
  await using out = await tempDir("downpour-fetch-");
  await using server = localServer(handler);
  await body(server.origin, out.path);
}

/**
 * A body that sends `bytes` in 64 KiB chunks and breaks (errors) once `cut` bytes or more have
 * gone out: an interrupted download.
 */
export function cutBody(bytes: Uint8Array, cut: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (at >= cut) {
        // Let the bytes go out before the connection breaks.
        await new Promise((resolve) => setTimeout(resolve, 50));
        controller.error(new Error("cut"));
        return;
      }
      controller.enqueue(bytes.slice(at, at + 64 * 1024));
      at += 64 * 1024;
    },
  });
}

/**
 * A 206 answer for the part of `full` from `start` on, tagged `etag`; `body` (by default that part
 * of `full`) is what it really sends.
 */
export function rangeResponse(
  full: Uint8Array<ArrayBuffer>,
  start: number,
  etag: string,
  body: BodyInit = full.subarray(start),
): Response {
  return new Response(body, {
    status: 206,
    headers: { etag, "content-range": `bytes ${start}-${full.length - 1}/${full.length}` },
  });
}

/** A worker's configuration for tests that call `fetchToFile` directly: saving into `out`. */
export function workerConfig(out: string, extra: Partial<WorkerConfig> = {}): WorkerConfig {
  return {
    out,
    maxBytes: 1024 * 1024,
    anyType: false,
    digest: true,
    headersTimeout: 5000,
    idleTimeout: 5000,
    totalTimeout: 0,
    lowSpeedLimit: 1024,
    lowSpeedTime: 30_000,
    maxRedirects: 3,
    userAgent: "downpour-test",
    denyPrivate: false,
    honorNoAi: false,
    ...extra,
  };
}

/** Runs `job` in this thread as a worker would, under a watchdog that ticks every 20 ms. */
export async function fetchWatched(
  job: Job,
  cfg: WorkerConfig,
): ReturnType<typeof fetchToFile> {
  const watchdog = new Watchdog(20);
  const watch = new Watch(cfg);
  watchdog.add(watch);
  try {
    return await fetchToFile(job, cfg, watch);
  } finally {
    watchdog.delete(watch);
  }
}

/** Whether `path` is a regular file (following links); false where it is missing. */
export function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
