/**
 * Splitting one input among several machines: with `--shard K/N`, machine K of N keeps only
 * the URLs whose stable hash falls in its share, so N machines given the same list download
 * every URL exactly once, with no coordination.
 *
 * @module
 */

import { fmix32 } from "./hash.ts";
import { stableHash } from "./hash.ts";

/** One shard of an input: the `index`-th of `count`. */
interface Shard {
  /** Which shard, from 0 to `count - 1`. */
  index: number;
  /** How many shards the input is split into, at least 1. */
  count: number;
}

/** The environment variable Kubernetes sets to the pod's index in an Indexed Job. */
const INDEX_VARIABLE = "JOB_COMPLETION_INDEX";

/** The most shards; a 32-bit hash times this stays exact in a double. */
const MAX_COUNT = 1_000_000;

/**
 * Parses a shard specification: `K/N` (shard K of N, counting from 0) or `auto/N`, where K is
 * taken from the environment variable `JOB_COMPLETION_INDEX`, as Kubernetes sets it in each pod
 * of an Indexed Job.
 *
 * @param spec `K/N` or `auto/N`, with 0 <= K < N and 1 <= N <= 1,000,000.
 * @param env Reads an environment variable. Default `Deno.env.get` (needs `--allow-env` for
 * `auto/N`).
 * @returns The shard.
 * @throws {TypeError} When `spec` is not of either form, or `auto/N` finds no integer index.
 * @throws {RangeError} When N is 0 or too large, or K is not below N.
 *
 * @example
 * ```ts
 * import { parseShard } from "./shard.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseShard("2/8"), { index: 2, count: 8 });
 * const env = (name: string) => name === "JOB_COMPLETION_INDEX" ? "5" : undefined;
 * assert.deepEqual(parseShard("auto/8", env), { index: 5, count: 8 });
 * assert.throws(() => parseShard("8/8"), RangeError);
 * ```
 */
export function parseShard(
  spec: string,
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): Shard {
  if (typeof spec !== "string") {
    throw new TypeError(`Cannot parse shard: expected a string, got ${typeof spec}`);
  }
  const match = /^\s*(\d+|auto)\s*\/\s*(\d+)\s*$/i.exec(spec);
  if (!match) {
    throw new TypeError(
      `Cannot parse shard: expected "K/N" or "auto/N" (e.g. "0/4"), got ${JSON.stringify(spec)}`,
    );
  }
  const count = Number(match[2]);
  if (count < 1 || count > MAX_COUNT) {
    throw new RangeError(
      `Cannot parse shard ${JSON.stringify(spec)}: the count must be from 1 to ${MAX_COUNT}, got ${
        match[2]
      }`,
    );
  }
  let index: number;
  if (match[1]!.toLowerCase() === "auto") {
    const value = env(INDEX_VARIABLE);
    if (value === undefined || value.trim() === "") {
      throw new TypeError(
        `Cannot parse shard ${
          JSON.stringify(spec)
        }: ${INDEX_VARIABLE} is not set (Kubernetes sets it in the pods of an Indexed Job); use "K/N" instead`,
      );
    }
    if (!/^\s*\d+\s*$/.test(value)) {
      throw new TypeError(
        `Cannot parse shard ${JSON.stringify(spec)}: ${INDEX_VARIABLE} must be an integer, got ${
          JSON.stringify(value)
        }`,
      );
    }
    index = Number(value);
    if (index >= count) {
      throw new RangeError(
        `Cannot parse shard ${
          JSON.stringify(spec)
        }: ${INDEX_VARIABLE} is ${index}, but must be below the count ${count}`,
      );
    }
  } else {
    index = Number(match[1]);
    if (index >= count) {
      throw new RangeError(
        `Cannot parse shard ${
          JSON.stringify(spec)
        }: the index must be below the count (shards are numbered from 0 to ${count - 1})`,
      );
    }
  }
  return { index, count };
}

/**
 * Returns which shard of `count` a URL belongs to: the URL string's 64-bit
 * {@linkcode stableHash}, mixed down to 32 bits, scaled to `[0, count)` by multiplying and
 * shifting (no modulo bias). Stable across runs, machines and versions.
 *
 * @param url The URL exactly as given in the input; no normalization, so the same text always
 * lands in the same shard.
 * @param count How many shards: an integer from 1 to 1,000,000.
 * @returns The shard's index, from 0 to `count - 1`.
 * @throws {RangeError} When `count` is out of range.
 *
 * @example
 * ```ts
 * import { shardOf } from "./shard.ts";
 * import assert from "node:assert/strict";
 *
 * const index = shardOf("https://example.com/cat.png", 4);
 * assert.ok(index >= 0 && index < 4);
 * assert.equal(shardOf("https://example.com/cat.png", 4), index);
 * assert.equal(shardOf("https://example.com/cat.png", 1), 0);
 * ```
 */
export function shardOf(url: string, count: number): number {
  if (!Number.isSafeInteger(count) || count < 1 || count > MAX_COUNT) {
    throw new RangeError(
      `Cannot shard: 'count' must be an integer from 1 to ${MAX_COUNT}, got ${String(count)}`,
    );
  }
  const hex = stableHash(url);
  const hi = parseInt(hex.slice(0, 8), 16);
  const lo = parseInt(hex.slice(8), 16);
  // FNV-1a's top bits barely depend on the last bytes (URLs often differ only there), so both
  // halves are folded and run through MurmurHash3's finalizer first.
  const mixed = fmix32(hi ^ fmix32(lo));
  return Math.floor(mixed * count / 0x1_0000_0000);
}

/**
 * Tells whether a URL belongs to a shard. Over any list, the shards `0/N` to `N-1/N` together
 * keep every URL exactly once, and about `1/N` of them each.
 *
 * @param url The URL exactly as given in the input.
 * @param shard The shard, e.g. from {@linkcode parseShard}.
 * @returns Whether `url` is in `shard`.
 * @throws {RangeError} When `shard` is not `{ index, count }` with 0 <= index < count.
 *
 * @example
 * ```ts
 * import { inShard } from "./shard.ts";
 * import assert from "node:assert/strict";
 *
 * const url = "https://example.com/cat.png";
 * const owners = [0, 1, 2].filter((index) => inShard(url, { index, count: 3 }));
 * assert.equal(owners.length, 1);
 * ```
 */
export function inShard(url: string, shard: Shard): boolean {
  const { index, count } = shard;
  if (!Number.isSafeInteger(index) || index < 0 || !(index < count)) {
    throw new RangeError(
      `Cannot shard: 'index' must be an integer from 0 to count - 1, got ${
        JSON.stringify({ index, count })
      }`,
    );
  }
  return shardOf(url, count) === index;
}
