/**
 * The messages between the main thread (which schedules) and the workers (which fetch and write).
 *
 * Both directions are batched: one message carries many jobs or many outcomes.
 *
 * @module
 */

import type { FailureReason } from "./types.ts";
import type { WorkerConfig } from "./options.ts";

export type { WorkerConfig } from "./options.ts";

/**
 * The shortest per-host deadline, in milliseconds: the scheduler's floor for a host's learned
 * headers and idle deadlines, and the worker's for a body read in one go at its host's pace.
 */
export const DEADLINE_FLOOR = 2000;

/**
 * One download handed to a worker.
 *
 * @example
 * ```ts
 * import type { Job } from "./protocol.ts";
 * import assert from "node:assert/strict";
 *
 * const job: Job = { id: 1, href: "http://a.example/x.png", path: "x.png" };
 * assert.equal(job.path, "x.png");
 * ```
 */
export interface Job {
  /** The engine's id for this URL; unique within a run. */
  id: number;
  /** The absolute http(s) URL to fetch. */
  href: string;
  /** The path to save to, relative to `out`. */
  path: string;
  /** The expected SHA-256, lower-case hex. */
  sha256?: string;
  /** A partial body may be waiting to be resumed (a resume note exists). */
  resume?: boolean;
  /** The row's data, written beside the file (`PATH.json`, `PATH.txt`) before it is committed. */
  row?: RowData;
  /** Milliseconds to wait for headers from this host, when tighter than `headersTimeout`. */
  headersDeadline?: number;
  /** Milliseconds the body may stall, for this host, when tighter than `idleTimeout`. */
  idleDeadline?: number;
  /** Milliseconds a byte for a body read in one go, learned from the host (see `Watch`). */
  msPerByte?: number;
}

/** What a job carries of its input row, for the files beside it and the metadata. */
export interface RowData {
  /** The URL as given. */
  url: string;
  /** The sample key, in a dataset output. */
  key?: string;
  caption?: string;
  columns?: Record<string, unknown>;
}

/**
 * What a worker reports for one job.
 *
 * @example
 * ```ts
 * import type { Outcome } from "./protocol.ts";
 * import assert from "node:assert/strict";
 *
 * const outcome: Outcome = { id: 1, ok: false, bytes: 0, reason: "http", status: 404 };
 * assert.equal(outcome.ok, false);
 * ```
 */
export interface Outcome {
  id: number;
  ok: boolean;
  bytes: number;
  status?: number;
  error?: string;
  reason?: FailureReason;
  /** Milliseconds the server asked us to wait (Retry-After), when it did. */
  retryAfter?: number;
  /** The SHA-256 of the saved body, as hex, when it was computed. */
  sha256?: string;
  /** The response's ETag, for the journal. */
  etag?: string;
  /** A partial body was kept to be resumed by the next attempt. */
  partial?: boolean;
  /** The disk (or the quota) is full: the run cannot go on. */
  diskFull?: boolean;
  /** With `ok`: the final name already held these very bytes (another writer of this URL won). */
  exists?: boolean;
  /** The final name holds another file (another URL's): the job needs another name. */
  taken?: boolean;
  /** The output directory is gone or no longer writable: the run cannot go on. */
  dirLost?: boolean;
  /** What the image's header (or decoding) told; see `DownloadResult`. */
  width?: number;
  height?: number;
  originalWidth?: number;
  originalHeight?: number;
  mime?: string;
  /** No connection was made: refused, name not resolved, unreachable. */
  connectFailed?: boolean;
  /** Of a saved file: milliseconds from the request to the response headers. */
  ttfb?: number;
  /** Of a saved file: the longest wait in milliseconds for body bytes. */
  gap?: number;
  /** For a body read in one go: the milliseconds it took a byte, for the host's pace. */
  perByte?: number;
}

/**
 * Main thread to worker.
 *
 * @example
 * ```ts
 * import type { ToWorker } from "./protocol.ts";
 * import assert from "node:assert/strict";
 *
 * const message: ToWorker = { type: "stop" };
 * assert.equal(message.type, "stop");
 * ```
 */
export type ToWorker =
  | { type: "init"; config: WorkerConfig }
  | { type: "jobs"; jobs: Job[] }
  | { type: "stop" };

/**
 * Worker to main thread.
 *
 * @example
 * ```ts
 * import type { FromWorker } from "./protocol.ts";
 * import assert from "node:assert/strict";
 *
 * const message: FromWorker = { type: "outcomes", outcomes: [] };
 * assert.equal(message.type, "outcomes");
 * ```
 */
export type FromWorker =
  | { type: "outcomes"; outcomes: Outcome[] }
  | { type: "stopped" }
  | { type: "fatal"; error: string };
