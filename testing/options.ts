/**
 * The test server's options, their defaults and their validation.
 *
 * @module
 */

import { DEFAULT_PNG_BYTES, MIN_PNG_BYTES } from "./png.ts";

/**
 * What the test server serves and how badly it behaves. The `p*` knobs are fractions from 0 to 1
 * of the requests that get that fault; each request's fate is decided from `seed`, the request's
 * path and query, and how many requests for that exact path and query came before it, so runs are
 * reproducible. The first three requests for a URL may get a fault, later ones never do: a client
 * that retries three times gets every file.
 *
 * @example A small, flaky server
 * ```ts
 * import { serve, type ServerOptions } from "../server.ts";
 * import assert from "node:assert/strict";
 *
 * const options: ServerOptions = { images: 3, minBytes: 500, maxBytes: 1_000, p503: 1 };
 * await using server = await serve(options);
 * const first = await fetch(new URL("img/0.png", server.url));
 * await first.body?.cancel();
 * assert.equal(first.status, 503);
 * ```
 */
export interface ServerOptions {
  /** A directory to serve files from, for paths that are not the server's own routes. */
  dir?: string;
  /** How many synthetic PNGs `/img/{i}.png` serves (i from 0). Default 1,000. */
  images?: number;
  /** The smallest synthetic PNG, in bytes. Default 4,000. */
  minBytes?: number;
  /** The largest synthetic PNG, in bytes. Default 40,000 (or `minBytes` if larger). */
  maxBytes?: number;
  /** Changes the synthetic PNGs and which requests get faults. Default 1. */
  seed?: number;
  /** Milliseconds added before every answer. Default 0. */
  latencyMs?: number;
  /** Fraction of requests answered 500 Internal Server Error. Default 0. */
  p500?: number;
  /** Fraction of requests answered 503 Service Unavailable. Default 0. */
  p503?: number;
  /** Fraction of requests answered 429 Too Many Requests, with `Retry-After`. Default 0. */
  p429?: number;
  /** The `Retry-After` of the 429 answers, in seconds. Default 1. */
  retryAfter?: number;
  /** Fraction of bodies cut after half their bytes, below their declared length. Default 0. */
  pTruncate?: number;
  /** Fraction of bodies that stop after half their bytes until the server closes. Default 0. */
  pStall?: number;
  /** Fraction of requests redirected (302) to the same URL with `hop=1` added. Default 0. */
  pRedirect?: number;
}

/** {@linkcode ServerOptions} with every default filled in and every value checked. */
export type ResolvedServerOptions = Required<Omit<ServerOptions, "dir">> & { dir?: string };

function number(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(
      `Cannot start server: '${name}' must be a number, got ${
        typeof value === "number" ? value : typeof value
      }`,
    );
  }
  return value;
}

function integer(value: unknown, name: string, fallback: number, min: number): number {
  const n = number(value, name, fallback);
  if (!Number.isSafeInteger(n) || n < min) {
    const what = min === 0 ? "a non-negative integer" : `an integer >= ${min}`;
    throw new RangeError(`Cannot start server: '${name}' must be ${what}, got ${n}`);
  }
  return n;
}

function fraction(value: unknown, name: string): number {
  const n = number(value, name, 0);
  if (!(n >= 0 && n <= 1)) {
    throw new RangeError(`Cannot start server: '${name}' must be a fraction from 0 to 1, got ${n}`);
  }
  return n;
}

function atMostOne(options: ResolvedServerOptions, names: (keyof ResolvedServerOptions)[]) {
  const sum = names.reduce((total, name) => total + (options[name] as number), 0);
  if (sum > 1 + 1e-9) {
    throw new RangeError(
      `Cannot start server: ${
        names.map((n) => `'${n}'`).join(" + ")
      } must be at most 1, got ${sum}`,
    );
  }
}

/**
 * Checks the test server's options and fills in the defaults.
 *
 * @param options The options as given.
 * @returns The options with every field set (but `dir`, which stays optional).
 * @throws {TypeError} When an option has the wrong type.
 * @throws {RangeError} When an option is out of range.
 *
 * @example Defaults and a mistake
 * ```ts
 * import { resolveServerOptions } from "./options.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(resolveServerOptions({}).images, 1000);
 * assert.equal(resolveServerOptions({ p503: 0.25 }).p503, 0.25);
 * assert.throws(() => resolveServerOptions({ images: -1 }), RangeError);
 * ```
 */
export function resolveServerOptions(options: ServerOptions = {}): ResolvedServerOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Cannot start server: the options must be an object");
  }
  if (options.dir !== undefined && (typeof options.dir !== "string" || options.dir === "")) {
    throw new TypeError("Cannot start server: 'dir' must be a non-empty string");
  }
  const minBytes = integer(options.minBytes, "minBytes", DEFAULT_PNG_BYTES.min, MIN_PNG_BYTES);
  const resolved: ResolvedServerOptions = {
    images: integer(options.images, "images", 1000, 0),
    minBytes,
    maxBytes: integer(
      options.maxBytes,
      "maxBytes",
      Math.max(DEFAULT_PNG_BYTES.max, minBytes),
      minBytes,
    ),
    seed: integer(options.seed, "seed", 1, 0),
    latencyMs: integer(options.latencyMs, "latencyMs", 0, 0),
    p500: fraction(options.p500, "p500"),
    p503: fraction(options.p503, "p503"),
    p429: fraction(options.p429, "p429"),
    retryAfter: integer(options.retryAfter, "retryAfter", 1, 0),
    pTruncate: fraction(options.pTruncate, "pTruncate"),
    pStall: fraction(options.pStall, "pStall"),
    pRedirect: fraction(options.pRedirect, "pRedirect"),
  };
  if (options.dir !== undefined) resolved.dir = options.dir;
  atMostOne(resolved, ["p500", "p503", "p429"]);
  atMostOne(resolved, ["pTruncate", "pStall"]);
  return resolved;
}
