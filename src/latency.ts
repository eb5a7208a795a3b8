/**
 * What the scheduler learns about one host as its requests complete: how long it takes to answer
 * and to send, and how fast it accepts requests. Plain arithmetic on samples and a clock: no
 * timers.
 *
 * @module
 */

/** Samples a {@linkcode Recent} keeps. */
const KEEP = 32;
/** New samples between two recomputations of the quantile. */
const EVERY = 8;

/**
 * The last {@linkcode KEEP} samples of one measure, and a quantile of them that is recomputed
 * every few samples (sorting 32 numbers), so that a sample costs a store.
 *
 * @example
 * ```ts
 * import { Recent } from "./latency.ts";
 * import assert from "node:assert/strict";
 *
 * const ttfb = new Recent();
 * for (let i = 1; i <= 10; i++) ttfb.add(i * 10);
 * assert.equal(ttfb.count, 10);
 * assert.equal(ttfb.p90, 90);
 * ```
 */
export class Recent {
  #samples: number[] = [];
  #next = 0;
  #count = 0;
  #since = 0;
  #p90 = NaN;

  /** Samples added so far (all of them, not only those kept). */
  get count(): number {
    return this.#count;
  }

  /** The 90th percentile of the kept samples; `NaN` before the first. */
  get p90(): number {
    if (this.#since > 0 && (this.#since >= EVERY || this.#count <= EVERY)) {
      const sorted = this.#samples.toSorted((a, b) => a - b);
      this.#p90 = sorted[Math.ceil(sorted.length * 0.9) - 1]!;
      this.#since = 0;
    }
    return this.#p90;
  }

  /** @param value A sample. */
  add(value: number): void {
    if (this.#samples.length < KEEP) this.#samples.push(value);
    else this.#samples[this.#next] = value;
    this.#next = (this.#next + 1) % KEEP;
    this.#count++;
    this.#since++;
  }
}

/**
 * A host's learned request rate, for pacing it after it throttles: the requests a second it
 * accepted before the throttle, then probing upwards by a small step each second without a
 * throttle (additive increase, multiplicative decrease). Before the first throttle the host is
 * not paced.
 *
 * @example
 * ```ts
 * import { Pacer } from "./latency.ts";
 * import assert from "node:assert/strict";
 *
 * const pacer = new Pacer(0);
 * assert.equal(pacer.take(0), 0); // not paced yet
 * for (let i = 0; i < 20; i++) pacer.onSuccess(i * 50);
 * pacer.onThrottle(1000, 990, 1000); // 20 accepted in a second, then "wait a second"
 * assert.equal(pacer.rate, 20);
 * assert.equal(pacer.take(2000), 0); // once the wait is over (the scheduler keeps it),
 * assert.equal(pacer.take(2000), 0); // a tenth of a second's worth at once...
 * assert.equal(Math.round(pacer.take(2000)), 50); // ...then 20 a second
 * ```
 */
export class Pacer {
  /** Requests a second, once throttled. */
  #rate: number | undefined;
  /** Start of the current spell without a throttle. */
  #epoch: number;
  #accepted = 0;
  /** Throttles since the current spell began. */
  #refused = 0;
  #tokens = 1;
  #last: number;
  #lastIncrease = 0;
  #throttled = -Infinity;
  /** The rate the host accepted when it last throttled. */
  #ceiling = 0;

  /** @param now The clock in milliseconds when the host is first seen. */
  constructor(now: number) {
    this.#epoch = now;
    this.#last = now;
  }

  /** Requests a second the host is paced to; `undefined` while it is not paced. */
  get rate(): number | undefined {
    return this.#rate;
  }

  /**
   * Records that the host accepted a request.
   *
   * @param now The clock in milliseconds.
   */
  onSuccess(now: number): void {
    if (now >= this.#epoch) this.#accepted++;
  }

  /**
   * Records a throttle (429, or 503 with Retry-After): the pace becomes the requests a second
   * the host accepted since the last throttle's wait was over (over a second at the least), and
   * never more than nine tenths of the pace that was just refused. A throttle of a request sent
   * before the last one took effect is of the same wave, and changes nothing.
   *
   * @param now The clock in milliseconds.
   * @param sent When the throttled request was sent.
   * @param wait The wait the host asked for (Retry-After), 0 if none.
   */
  onThrottle(now: number, sent: number, wait: number): void {
    if (sent < this.#epoch) return;
    this.#refused++;
    if (now - this.#throttled < WAVE) return;
    // One refusal in a hundred answers or fewer is no rate limit being hit (a rate limiter
    // refuses most of what goes over it): only its wait counts, which the scheduler keeps.
    if (this.#accepted >= ISOLATED && this.#refused * ISOLATED <= this.#accepted) return;
    this.#throttled = now;
    this.#refused = 0;
    if (this.#accepted >= 2) {
      const accepted = (this.#accepted * 1000) / Math.max(1000, now - this.#epoch);
      this.#ceiling = accepted;
      this.#rate = Math.max(MIN_RATE, Math.min(accepted, (this.#rate ?? Infinity) * 0.9));
    } else if (this.#rate !== undefined) {
      // Too few answers to measure: the pace that was refused, halved.
      this.#rate = Math.max(MIN_RATE, this.#rate / 2);
    }
    this.#epoch = now + wait;
    this.#accepted = 0;
    this.#tokens = Math.min(this.#tokens, 1);
    this.#last = Math.max(this.#last, now);
    // The first probe waits two seconds: a refused request costs the host's wait.
    this.#lastIncrease = now + wait + 1000;
  }

  /**
   * Takes a token if there is one.
   *
   * @param now The clock in milliseconds.
   * @returns 0 when the request may go now (a token was taken), else the milliseconds to wait.
   */
  take(now: number): number {
    let rate = this.#rate;
    if (rate === undefined) return 0;
    if (now - this.#lastIncrease >= 1000) {
      // A second without a throttle: probe upwards, by a tenth while well below the rate that
      // was last refused, by a fiftieth near or above it.
      const step = rate < 0.8 * this.#ceiling ? 0.1 : 0.02;
      this.#rate = rate += Math.max(0.2, rate * step);
      this.#lastIncrease = now;
    }
    if (now > this.#last) {
      // A tenth of a second's worth may go at once: requests leave in batches, as answers come
      // back in batches, and a bucket of one would pace a fast host to one request a batch.
      const burst = Math.max(1, rate * BURST);
      this.#tokens = Math.min(burst, this.#tokens + ((now - this.#last) * rate) / 1000);
      this.#last = now;
    }
    if (this.#tokens >= 1 - 1e-9) {
      this.#tokens = Math.max(0, this.#tokens - 1);
      return 0;
    }
    return ((1 - this.#tokens) * 1000) / rate;
  }
}

/** One throttle in this many answers, or fewer, is taken as isolated: it does not set a pace. */
const ISOLATED = 100;
/** The seconds of requests a paced host may get at once. */
const BURST = 0.1;
/** The slowest pace a throttling host is held to, in requests a second. */
const MIN_RATE = 0.5;
/** Milliseconds within which throttles count as one. */
const WAVE = 500;
