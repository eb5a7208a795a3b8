/**
 * The test server's faults: the per-URL knobs read from a request's query string, the global
 * fractions from the server's options, and the deterministic decision, request by request, of
 * which faults it gets; plus the wrapper that cuts, stalls or misstates a body.
 *
 * @module
 */

import type { ResolvedServerOptions } from "./options.ts";
import type { StreamTracker } from "./streams.ts";
import { MAX_GZIP_BOMB_MB } from "./bodies.ts";
import { fmix32 } from "../src/hash.ts";

/**
 * The per-URL fault knobs of one request, read from its query string by {@linkcode parseKnobs}.
 *
 * @example
 * ```ts
 * import { type Knobs, parseKnobs } from "./faults.ts";
 * import assert from "node:assert/strict";
 *
 * const knobs = parseKnobs(new URLSearchParams("truncate=100&latency=5&html=1&other=x"));
 * const expected: Knobs = { latency: 5, truncate: 100, html: true };
 * assert.deepEqual(knobs, expected);
 * ```
 */
export interface Knobs {
  /** `?latency=MS`: milliseconds to wait before answering, on top of the server's latency. */
  latency?: number;
  /** `?status=N`: answer N (200-599) with a short text body; with `fail`, only at first. */
  status?: number;
  /** `?fail=K`: the first K requests for this exact path and query answer `status` (503). */
  fail?: number;
  /** `?retry-after=S`: a `Retry-After` of S seconds on every answer that is not a success. */
  retryAfter?: number;
  /** `?retry-after-date=1`: send `Retry-After` as the HTTP date S seconds from now. */
  retryAfterDate?: boolean;
  /** `?truncate=BYTES`: declare the full length, send BYTES, then cut the connection. */
  truncate?: number;
  /** `?stall=BYTES`: send BYTES, then nothing more until the server closes. */
  stall?: number;
  /** `?redirect=N`: N hops of 302 (each to `redirect=N-1`) before serving. */
  redirect?: number;
  /** `?redirect-to=URL`: 302 to URL, whatever its scheme. */
  redirectTo?: string;
  /** `?redirect-loop=1`: 302 to the very same URL, forever. */
  redirectLoop?: boolean;
  /** `?disposition=NAME`: `Content-Disposition: attachment; filename="NAME"`. */
  disposition?: string;
  /** `?type=MIME`: this `Content-Type` instead of the real one. */
  type?: string;
  /** `?html=1`: 200 and `image/png`, but an HTML page for a body. */
  html?: boolean;
  /** `?endless=1`: 200, no length, PNG-looking bytes forever. */
  endless?: boolean;
  /** `?gzip-bomb=MB`: `Content-Encoding: gzip`, inflating to MB MiB (1 to 4096). */
  gzipBomb?: number;
  /** `?length=N`: a body of exactly N deterministic bytes starting with the PNG signature. */
  length?: number;
  /** `?wrong-length=DELTA`: `Content-Length` is the real length plus DELTA. */
  wrongLength?: number;
}

type Kind = "count" | "integer" | "flag" | "text";
const KNOBS: [param: string, key: keyof Knobs, kind: Kind, max?: number][] = [
  ["latency", "latency", "count", 600_000],
  ["status", "status", "count", 599],
  ["fail", "fail", "count"],
  ["retry-after", "retryAfter", "count"],
  ["retry-after-date", "retryAfterDate", "flag"],
  ["truncate", "truncate", "count"],
  ["stall", "stall", "count"],
  ["redirect", "redirect", "count", 1000],
  ["redirect-to", "redirectTo", "text"],
  ["redirect-loop", "redirectLoop", "flag"],
  ["disposition", "disposition", "text"],
  ["type", "type", "text"],
  ["html", "html", "flag"],
  ["endless", "endless", "flag"],
  ["gzip-bomb", "gzipBomb", "count", MAX_GZIP_BOMB_MB],
  ["length", "length", "count"],
  ["wrong-length", "wrongLength", "integer"],
];

/**
 * Reads the per-URL fault knobs from a query string; other parameters are ignored.
 *
 * @param params The request URL's query.
 * @returns The knobs, or a message saying which one is malformed.
 *
 * @example
 * ```ts
 * import { parseKnobs } from "./faults.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseKnobs(new URLSearchParams("fail=2&status=503&v=1")), { fail: 2, status: 503 });
 * assert.equal(typeof parseKnobs(new URLSearchParams("stall=lots")), "string");
 * ```
 */
export function parseKnobs(params: URLSearchParams): Knobs | string {
  const knobs: Record<string, unknown> = {};
  for (const [param, key, kind, max] of KNOBS) {
    const value = params.get(param);
    if (value === null) continue;
    if (kind === "text") {
      if (value === "") return `'${param}' must not be empty`;
      knobs[key] = value;
    } else if (kind === "flag") {
      if (value !== "1" && value !== "0" && value !== "true" && value !== "false") {
        return `'${param}' must be 1 or 0, got '${value}'`;
      }
      if (value === "1" || value === "true") knobs[key] = true;
    } else {
      const pattern = kind === "count" ? /^\d{1,16}$/ : /^-?\d{1,16}$/;
      const n = Number(value);
      if (!pattern.test(value) || !Number.isSafeInteger(n) || (max !== undefined && n > max)) {
        const what = kind === "count" ? "a non-negative integer" : "an integer";
        return `'${param}' must be ${what}${
          max === undefined ? "" : ` up to ${max}`
        }, got '${value}'`;
      }
      knobs[key] = n;
    }
  }
  if (knobs.status !== undefined && (knobs.status as number) < 200) {
    return `'status' must be from 200 to 599, got '${params.get("status")}'`;
  }
  if (knobs.gzipBomb === 0) return `'gzip-bomb' must be at least 1 (MiB)`;
  if (knobs.type !== undefined || knobs.redirectTo !== undefined) {
    try {
      new Headers({ a: String(knobs.type ?? ""), b: String(knobs.redirectTo ?? "") });
    } catch {
      return "'type' and 'redirect-to' must be valid header values";
    }
  }
  return knobs as Knobs;
}

/** How a body is cut short. */
interface Cut {
  /** `truncate` ends the body early; `stall` stops sending until the server closes. */
  mode: "truncate" | "stall";
  /** Bytes to send first; when absent, half the declared length. */
  bytes?: number;
}

/** What goes wrong with one request, decided by {@linkcode FaultPlanner.plan}. */
interface FaultPlan {
  /** Milliseconds to wait before answering. */
  latencyMs: number;
  /** Answer 302 with this `Location` instead. */
  location?: string;
  /** Answer this status with a short text body instead. */
  status?: number;
  /** The `Retry-After` value for answers that are not a success. */
  retryAfter?: string;
  /** Cut the body short. */
  cut?: Cut;
  /** Declare the body's length off by this much. */
  wrongLength?: number;
}

/** How many requests for a URL may get a global fault; later ones never do. */
const FAULTY_ATTEMPTS = 3;

/** A 32-bit FNV-1a hash of a string, mixed with some numbers. */
function hash(text: string, ...numbers: number[]): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  for (const n of numbers) {
    h = Math.imul(h ^ (n >>> 0), 0x01000193);
    h = Math.imul(h ^ Math.floor(n / 0x1_0000_0000), 0x01000193);
  }
  return fmix32(h);
}

/** The same URL with one query parameter set (or removed, when `value` is undefined). */
function withParam(url: URL, name: string, value?: string): string {
  const next = new URL(url);
  if (value === undefined) next.searchParams.delete(name);
  else next.searchParams.set(name, value);
  return next.href;
}

/**
 * Decides, request by request, which faults each one gets, from the server's options and the
 * request's knobs. Counts the requests for each exact path and query to do so.
 *
 * @example A URL that fails twice, then works
 * ```ts
 * import { FaultPlanner, parseKnobs } from "./faults.ts";
 * import { resolveServerOptions } from "./options.ts";
 * import assert from "node:assert/strict";
 *
 * const planner = new FaultPlanner(resolveServerOptions({}));
 * const url = new URL("http://localhost/img/1.png?fail=2&status=503");
 * const knobs = parseKnobs(url.searchParams);
 * assert.ok(typeof knobs !== "string");
 * const statuses = [1, 2, 3].map(() => planner.plan(url, knobs, true).status);
 * assert.deepEqual(statuses, [503, 503, undefined]);
 * ```
 */
export class FaultPlanner {
  #options: ResolvedServerOptions;
  #counts = new Map<string, number>();
  #global: boolean;

  /**
   * Makes a planner.
   *
   * @param options The server's options (seed, latency and fault fractions).
   */
  constructor(options: ResolvedServerOptions) {
    this.#options = options;
    const { p500, p503, p429, pTruncate, pStall, pRedirect } = options;
    this.#global = p500 + p503 + p429 + pTruncate + pStall + pRedirect > 0;
  }

  /**
   * Decides one request's faults; call it once per request.
   *
   * @param url The request's URL.
   * @param knobs Its per-URL knobs.
   * @param global Whether the server-wide fault fractions apply to it.
   * @returns What goes wrong.
   *
   * @example
   * ```ts
   * import { FaultPlanner } from "./faults.ts";
   * import { resolveServerOptions } from "./options.ts";
   * import assert from "node:assert/strict";
   *
   * const planner = new FaultPlanner(resolveServerOptions({ latencyMs: 5, p500: 1 }));
   * const plan = planner.plan(new URL("http://localhost/a.png"), {}, true);
   * assert.deepEqual(plan, { latencyMs: 5, status: 500 });
   * ```
   */
  plan(url: URL, knobs: Knobs, global: boolean): FaultPlan {
    const options = this.#options;
    const plan: FaultPlan = { latencyMs: options.latencyMs + (knobs.latency ?? 0) };
    const key = url.pathname + url.search;
    const counted = knobs.fail !== undefined || (global && this.#global);
    const n = counted ? this.#counts.get(key) ?? 0 : 0;
    if (counted) this.#counts.set(key, n + 1);
    // The target of a global redirect, and requests after the first few, are spared.
    const faulty = global && this.#global && n < FAULTY_ATTEMPTS && !url.searchParams.has("hop");
    const draw = (what: number) => hash(key, options.seed, n, what) / 0x1_0000_0000;

    if (knobs.redirectLoop) plan.location = url.href;
    else if (knobs.redirectTo !== undefined) plan.location = new URL(knobs.redirectTo, url).href;
    else if (knobs.redirect) {
      plan.location = withParam(
        url,
        "redirect",
        knobs.redirect > 1 ? String(knobs.redirect - 1) : undefined,
      );
    } else if (faulty && draw(1) < options.pRedirect) plan.location = withParam(url, "hop", "1");

    if (knobs.fail !== undefined) {
      if (n < knobs.fail) plan.status = knobs.status ?? 503;
    } else if (knobs.status !== undefined) {
      plan.status = knobs.status;
    } else if (faulty) {
      const u = draw(2);
      if (u < options.p500) plan.status = 500;
      else if (u < options.p500 + options.p503) plan.status = 503;
      else if (u < options.p500 + options.p503 + options.p429) plan.status = 429;
    }

    const seconds = knobs.retryAfter ?? (plan.status === 429 ? options.retryAfter : undefined);
    if (seconds !== undefined) {
      plan.retryAfter = knobs.retryAfterDate
        ? new Date(Date.now() + seconds * 1000).toUTCString()
        : String(seconds);
    }

    if (knobs.truncate !== undefined) plan.cut = { mode: "truncate", bytes: knobs.truncate };
    else if (knobs.stall !== undefined) plan.cut = { mode: "stall", bytes: knobs.stall };
    else if (faulty) {
      const u = draw(3);
      if (u < options.pTruncate) plan.cut = { mode: "truncate" };
      else if (u < options.pTruncate + options.pStall) plan.cut = { mode: "stall" };
    }
    if (knobs.wrongLength !== undefined) plan.wrongLength = knobs.wrongLength;
    return plan;
  }
}

/**
 * Applies a plan's body faults to a response: cuts or stalls its body, or misstates its length.
 * Only bodies of 200 and 206 answers are touched.
 *
 * @param response The answer as it would be.
 * @param plan The request's faults (`cut` and `wrongLength` are used).
 * @param tracker Tracks the new body so that closing the server ends a stall.
 * @returns The answer with the faults applied (the same one when there are none).
 *
 * @example Declared 10 bytes, sent 4
 * ```ts
 * import { applyBodyFaults } from "./faults.ts";
 * import { StreamTracker } from "./streams.ts";
 * import assert from "node:assert/strict";
 *
 * const response = new Response(new Uint8Array(10), { headers: { "content-length": "10" } });
 * const cut = applyBodyFaults(response, { latencyMs: 0, cut: { mode: "truncate", bytes: 4 } }, new StreamTracker());
 * assert.equal(cut.headers.get("content-length"), "10");
 * assert.equal((await cut.arrayBuffer()).byteLength, 4);
 * ```
 */
export function applyBodyFaults(
  response: Response,
  plan: FaultPlan,
  tracker: StreamTracker,
): Response {
  const { cut, wrongLength } = plan;
  if ((!cut && wrongLength === undefined) || !response.body) return response;
  if (response.status !== 200 && response.status !== 206) return response;
  const header = response.headers.get("content-length");
  const declared = header === null ? undefined : Number(header);
  let limit = Infinity;
  if (cut) {
    limit = cut.bytes ?? Math.floor((declared ?? 0) / 2);
    // A cut must leave the body short of its declared length, or it would be no cut at all.
    if (declared !== undefined) limit = Math.min(limit, Math.max(0, declared - 1));
  }
  const headers = new Headers(response.headers);
  if (wrongLength !== undefined && declared !== undefined) {
    headers.set("content-length", String(Math.max(0, declared + wrongLength)));
  }
  const reader = response.body.getReader();
  let sent = 0;
  const body = tracker.stream({
    async next(stop) {
      if (sent >= limit) {
        if (cut?.mode === "stall" && !stop.aborted) {
          await new Promise((resolve) => stop.addEventListener("abort", resolve, { once: true }));
        }
        return null;
      }
      const { done, value } = await reader.read();
      if (done) return null;
      const chunk = value.length > limit - sent ? value.subarray(0, limit - sent) : value;
      sent += chunk.length;
      return chunk;
    },
    close: () => reader.cancel().catch(() => {}),
    onServerClose: declared === undefined ? "error" : "close",
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers });
}
