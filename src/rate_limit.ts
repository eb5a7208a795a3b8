/**
 * Limits for one host: how often requests may start ({@linkcode TokenBucket}) and how many may
 * be in flight at once, shrinking when the host pushes back ({@linkcode AdaptiveLimit}).
 *
 * Both are plain arithmetic on a clock: no timers, so they cost nothing while idle and can be
 * tested with a fake clock.
 *
 * @module
 */

/** Tokens closer than this to a whole token count as one, so float error never costs a wake-up. */
const EPSILON = 1e-9;

/**
 * A token bucket: requests may start at `ratePerSecond` on average, with bursts of up to `burst`
 * at once after a quiet spell. The bucket starts full.
 *
 * @example
 * ```ts
 * import { TokenBucket } from "./rate_limit.ts";
 * import assert from "node:assert/strict";
 *
 * let now = 0;
 * const bucket = new TokenBucket(2, 1, () => now); // 2 a second, no bursts
 * assert.equal(bucket.take(), 0); // taken
 * assert.equal(bucket.take(), 500); // wait 500 ms; nothing taken
 * now = 500;
 * assert.equal(bucket.take(), 0);
 * ```
 */
export class TokenBucket {
  #rate: number;
  #burst: number;
  #now: () => number;
  #tokens: number;
  #last: number;

  /**
   * Makes a full bucket.
   *
   * @param ratePerSecond Tokens added per second: a positive, finite number (fractions allowed).
   * @param burst The most tokens the bucket holds: an integer of at least 1. Default 1.
   * @param now The clock in milliseconds. Default `performance.now`.
   * @throws {RangeError} When `ratePerSecond` or `burst` is out of range.
   * @throws {TypeError} When `now` is not a function.
   */
  constructor(ratePerSecond: number, burst = 1, now: () => number = () => performance.now()) {
    if (typeof ratePerSecond !== "number" || !(ratePerSecond > 0) || ratePerSecond === Infinity) {
      throw new RangeError(
        `Cannot make a token bucket: 'ratePerSecond' must be a positive, finite number, got ${
          String(ratePerSecond)
        }`,
      );
    }
    if (!Number.isSafeInteger(burst) || burst < 1) {
      throw new RangeError(
        `Cannot make a token bucket: 'burst' must be an integer of at least 1, got ${
          String(burst)
        }`,
      );
    }
    if (typeof now !== "function") {
      throw new TypeError(
        `Cannot make a token bucket: 'now' must be a function, got ${typeof now}`,
      );
    }
    this.#rate = ratePerSecond / 1000;
    this.#burst = burst;
    this.#now = now;
    this.#tokens = burst;
    this.#last = now();
  }

  /**
   * Takes a token if there is one.
   *
   * @returns `0` when a token was taken, else the milliseconds until one will be there (more
   * than 0, not rounded); in that case nothing is taken, so call again after waiting.
   */
  take(): number {
    const now = this.#now();
    // A clock that goes back adds nothing, and does not move the reference point back.
    if (now > this.#last) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#last) * this.#rate);
      this.#last = now;
    }
    if (this.#tokens >= 1 - EPSILON) {
      this.#tokens = Math.max(0, this.#tokens - 1);
      return 0;
    }
    // Not rounded: a wait rounded up would leave a fraction of a token over, which a full
    // bucket cannot hold, and the rate would drift below the one asked for.
    return (1 - this.#tokens) / this.#rate;
  }
}

/**
 * The settings of an {@linkcode AdaptiveLimit}.
 *
 * @example
 * ```ts
 * import { AdaptiveLimit, type AdaptiveLimitOptions } from "./rate_limit.ts";
 * import assert from "node:assert/strict";
 *
 * const options: AdaptiveLimitOptions = { min: 2 };
 * const limit = new AdaptiveLimit(8, options);
 * limit.onThrottle();
 * assert.equal(limit.current, 4);
 * ```
 */
export interface AdaptiveLimitOptions {
  /** The limit never drops below this: an integer from 1 to `max`. Default 1. */
  min?: number;
  /**
   * Consecutive successes that raise the limit by one. Default: the current limit, so that the
   * limit grows by about one per round of requests, as TCP's congestion window does.
   */
  increaseEvery?: number;
  /** Throttles within this many milliseconds of the last halving count once. Default 1,000. */
  window?: number;
}

/**
 * A per-host concurrency limit that adapts by AIMD (additive increase, multiplicative decrease):
 * it starts at `max`, halves when the host throttles (HTTP 429, 503 with Retry-After), and grows
 * back by one after a run of successes, never above `max`.
 *
 * A wave of requests sent together tends to be throttled together: throttles within `window`
 * milliseconds of a halving count as that one halving.
 *
 * @example
 * ```ts
 * import { AdaptiveLimit } from "./rate_limit.ts";
 * import assert from "node:assert/strict";
 *
 * const limit = new AdaptiveLimit(8);
 * limit.onThrottle(0);
 * limit.onThrottle(10); // same wave: ignored
 * assert.equal(limit.current, 4);
 * for (let i = 0; i < 4; i++) limit.onSuccess();
 * assert.equal(limit.current, 5);
 * ```
 */
export class AdaptiveLimit {
  #max: number;
  #min: number;
  #increaseEvery: number | undefined;
  #window: number;
  #current: number;
  #successes = 0;
  #lastHalving = -Infinity;

  /**
   * Makes a limit that starts at `max`.
   *
   * @param max The highest limit, and the first: a positive integer.
   * @param options The floor, the pace of growth and the throttle window.
   * @throws {RangeError} When a number is out of range.
   */
  constructor(max: number, options: AdaptiveLimitOptions = {}) {
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new RangeError(
        `Cannot make an adaptive limit: 'max' must be a positive integer, got ${String(max)}`,
      );
    }
    const { min = 1, increaseEvery, window = 1000 } = options;
    if (!Number.isSafeInteger(min) || min < 1 || min > max) {
      throw new RangeError(
        `Cannot make an adaptive limit: 'min' must be an integer from 1 to ${max}, got ${
          String(min)
        }`,
      );
    }
    if (
      increaseEvery !== undefined && (!Number.isSafeInteger(increaseEvery) || increaseEvery < 1)
    ) {
      throw new RangeError(
        `Cannot make an adaptive limit: 'increaseEvery' must be a positive integer, got ${
          String(increaseEvery)
        }`,
      );
    }
    if (typeof window !== "number" || !(window >= 0) || window === Infinity) {
      throw new RangeError(
        `Cannot make an adaptive limit: 'window' must be a finite number of milliseconds >= 0, got ${
          String(window)
        }`,
      );
    }
    this.#max = max;
    this.#min = min;
    this.#increaseEvery = increaseEvery;
    this.#window = window;
    this.#current = max;
  }

  /** The limit now: how many requests may be in flight. */
  get current(): number {
    return this.#current;
  }

  /**
   * Records that the host throttled a request: halves the limit (rounding down, not below
   * `min`), or, when the requests in flight at the time are given, sets it to one less than
   * those (when that is lower; not at all for one alone), unless it was already lowered within
   * the window. Either way the
   * run of successes starts over.
   *
   * The gentler step is for a host that is also paced by its request rate, where a throttle says
   * little about how many requests it takes at once.
   *
   * @param now The time in milliseconds, on the same clock for every call. Default
   * `performance.now()`.
   * @param inflight The requests in flight when the host throttled, this one included.
   * @returns Whether the limit was lowered by this call.
   */
  onThrottle(now: number = performance.now(), inflight?: number): boolean {
    this.#successes = 0;
    // One request refused on its own says nothing of how many the host takes at once.
    if (inflight !== undefined && inflight <= 1) return false;
    if (now - this.#lastHalving < this.#window) return false;
    this.#lastHalving = now;
    const lower = inflight === undefined
      ? Math.floor(this.#current / 2)
      : Math.min(this.#current, inflight) - 1;
    this.#current = Math.max(this.#min, lower);
    return true;
  }

  /**
   * Records a success: after `increaseEvery` of them in a row (default: the current limit), the
   * limit grows by one, up to `max`.
   *
   * @returns The limit after this success.
   */
  onSuccess(): number {
    if (this.#current >= this.#max) {
      this.#successes = 0;
      return this.#current;
    }
    this.#successes++;
    if (this.#successes >= (this.#increaseEvery ?? this.#current)) {
      this.#successes = 0;
      this.#current++;
    }
    return this.#current;
  }
}
