/**
 * What the steps of one attempt at a download (`fetch_file.ts`, `screen.ts`) share: the attempt,
 * the response's head as screening read it, the body as received, and a refusal's wording.
 *
 * @module
 */

import type { Hash } from "node:crypto";
import type { Job, WorkerConfig } from "../protocol.ts";
import type { FailureReason } from "../types.ts";
import type { PartFile } from "./part_file.ts";
import type { Watch } from "./watchdog.ts";

/** What every step of one attempt works with. */
export interface Attempt {
  job: Job;
  config: WorkerConfig;
  watch: Watch;
  part: PartFile;
  /** Whether to compute the SHA-256: when asked to, or to check an expected one. */
  hashing: boolean;
}

/** Why a step gave up on the download. */
export interface Refusal {
  reason: FailureReason;
  error: string;
  retryAfter?: number;
  diskFull?: boolean;
  taken?: boolean;
  dirLost?: boolean;
  connectFailed?: boolean;
}

/** What screening found out about a response whose body is to be saved. */
export interface Head {
  status: number;
  /** Where the body goes in the file: after the partial file it continues, or at 0. */
  offset: number;
  /** The whole file's size, by Content-Length (and offset), unless the body is encoded. */
  declared: number | undefined;
  encoding: string | null;
  etag: string | undefined;
  /** The ETag, when it is a strong one. */
  strongEtag: string | undefined;
  /** A strong validator (strong ETag, or strong Last-Modified), for a resume note. */
  validator: string | undefined;
}

/** A body received to its end. */
export interface Body {
  /** The file's size, a partial file it continues included. */
  total: number;
  /** The body, when it is held in memory; `undefined` when it was streamed into the file. */
  memory: Uint8Array | undefined;
  /** Whether its first bytes were looked at already (or need not be). */
  checked: boolean;
  /** Its SHA-256 so far, when it is computed. */
  hash: Hash | undefined;
}

/** A quoted piece of the response (a header, a URL) cut to a length that reads in a message. */
export function shorten(text: string): string {
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
