/**
 * downpour downloads lists of image URLs, from thousands to millions, into a directory: in
 * parallel on Web Workers, with per-host limits, retries and timeouts scheduled on the main
 * thread, and without ever leaving a partial or corrupt file under a final name.
 *
 * ```ts
 * import { download, summarize } from "./mod.ts";
 * import { serve } from "./server.ts";
 * import assert from "node:assert/strict";
 *
 * await using server = await serve({ images: 10 });
 * const out = await Deno.makeTempDir();
 * const urls = Array.from({ length: 10 }, (_, i) => new URL(`img/${i}.png`, server.url));
 * const summary = await summarize(download(urls, { out }));
 * assert.equal(summary.saved, 10);
 * await Deno.remove(out, { recursive: true });
 * ```
 *
 * @module
 */

export { download, type DownloadSource } from "./src/download.ts";
export { DEFAULTS, type DownloadOptions, VERSION } from "./src/options.ts";
export type { DownloadInput, DownloadRequest, DownloadResult, FailureReason } from "./src/types.ts";
export { summarize, type Summary, Tally } from "./src/summary.ts";
export { DiskFullError, InputError, OutDirError, OutDirLostError } from "./src/errors.ts";
export { type ImageType, sniffImage } from "./src/worker/sniff.ts";
