/**
 * The messages between the main thread (which schedules) and the workers (which fetch and write).
 *
 * Both directions are batched: one message carries many jobs or many outcomes.
 *
 * @module
 */

import type { FailureReason } from "./types.ts";

/** What a worker needs to know once, at start. */
export interface WorkerConfig {
  /** The output directory. */
  out: string;
  maxBytes: number;
  anyType: boolean;
  headersTimeout: number;
  idleTimeout: number;
  totalTimeout: number;
  maxRedirects: number;
  userAgent: string;
  /** Refuse hosts (and redirects) that resolve to private addresses. */
  denyPrivate: boolean;
  /** Skip responses whose X-Robots-Tag says noai or noimageai. */
  honorNoAi: boolean;
}

/** One download handed to a worker. */
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
}

/** What a worker reports for one job. */
export interface Outcome {
  id: number;
  ok: boolean;
  bytes: number;
  status?: number;
  error?: string;
  reason?: FailureReason;
  /** Milliseconds the server asked us to wait (Retry-After), when it did. */
  retryAfter?: number;
  sha256?: string;
  /** The response's ETag, for the journal. */
  etag?: string;
  /** A partial body was kept to be resumed by the next attempt. */
  partial?: boolean;
}

/** Main thread to worker. */
export type ToWorker =
  | { type: "init"; config: WorkerConfig }
  | { type: "jobs"; jobs: Job[] }
  | { type: "stop" };

/** Worker to main thread. */
export type FromWorker =
  | { type: "outcomes"; outcomes: Outcome[] }
  | { type: "stopped" }
  | { type: "fatal"; error: string };
