/**
 * Timeouts for many downloads at once, with one timer instead of one per download or per chunk.
 *
 * @module
 */

import { TimeoutError } from "../errors.ts";
import { DEADLINE_FLOOR } from "../protocol.ts";

/** The time limits a {@linkcode Watch} enforces, in milliseconds. */
export interface Limits {
  /** How long to wait for response headers (again after each redirect). */
  headersTimeout: number;
  /** How long the body may go without a byte. */
  idleTimeout: number;
  /** How long the whole download may take; 0 for no limit. */
  totalTimeout: number;
  /** The least average speed of a body, in bytes a second; 0 or absent for no limit. */
  lowSpeedLimit?: number;
  /** How long the speed is averaged over for `lowSpeedLimit`. */
  lowSpeedTime?: number;
}

function rate(bytesPerSecond: number): string {
  return bytesPerSecond < 1024
    ? `${bytesPerSecond} B/s`
    : `${Math.round(bytesPerSecond / 102.4) / 10} KiB/s`;
}

/**
 * Tighter limits for one request, from what the main thread learned of its host; the fixed
 * {@linkcode Limits} stay the upper bounds.
 */
export interface JobLimits {
  /** Milliseconds to wait for the response headers, for this host. */
  headersDeadline?: number;
  /** Milliseconds the body may go without a byte, for this host. */
  idleDeadline?: number;
  /**
   * Milliseconds a byte, for a body read in one go from this host: its whole deadline is this
   * times its length, at least {@linkcode DEADLINE_FLOOR}.
   */
  msPerByte?: number;
}

/** How one download went, for the main thread to learn its host's usual pace. */
export interface Timings {
  /** Milliseconds from the (last) request to its response headers. */
  ttfb: number;
  /** The longest wait, in milliseconds, for body bytes (the whole body, if read in one go). */
  gap: number;
  /** For a body read in one go: the milliseconds it took a byte. */
  perByte?: number;
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/**
 * One download's deadlines; abort its `signal` through the watchdog or by hand.
 *
 * @example Headers that never came
 * ```ts
 * import { Watch } from "./watchdog.ts";
 * import assert from "node:assert/strict";
 *
 * const watch = new Watch({ headersTimeout: 1_000, idleTimeout: 5_000, totalTimeout: 0 });
 * assert.equal(watch.check(performance.now()), false);
 * assert.equal(watch.check(performance.now() + 2_000), true);
 * assert.equal(watch.signal.reason.limit, "headers");
 * ```
 */
export class Watch {
  /** Aborted with a {@linkcode TimeoutError} when a deadline passes. */
  readonly controller: AbortController = new AbortController();
  #limits: Limits;
  #headers: number;
  #idle: number;
  #deadline: number;
  #end: number;
  /** Waiting for the headers, for body bytes, or for a whole body read in one go. */
  #phase: "headers" | "idle" | "whole" = "headers";
  #msPerByte: number | undefined;
  /** The deadline of the whole body being read in one go, in milliseconds. */
  #whole = 0;
  #perByte: number | undefined;
  /** When the current speed window started (`performance.now()`), once body bytes flow. */
  #windowStart = 0;
  /** Body bytes received in the current speed window. */
  #windowBytes = 0;
  #asked: number;
  #last = 0;
  #ttfb = 0;
  #gap = 0;

  /**
   * Starts the clock: the headers are awaited from now.
   *
   * @param limits The time limits.
   * @param job This request's own, tighter limits, if any.
   */
  constructor(limits: Limits, job: JobLimits = {}) {
    this.#limits = limits;
    this.#headers = Math.min(limits.headersTimeout, job.headersDeadline ?? Infinity);
    this.#idle = Math.min(limits.idleTimeout, job.idleDeadline ?? Infinity);
    this.#msPerByte = job.msPerByte;
    const now = performance.now();
    this.#asked = now;
    this.#deadline = now + this.#headers;
    this.#end = limits.totalTimeout > 0 ? now + limits.totalTimeout : Infinity;
  }

  /** How the download went so far: call it when it ended. */
  timings(): Timings {
    if (this.#phase === "headers") return { ttfb: performance.now() - this.#asked, gap: 0 };
    const timings: Timings = {
      ttfb: this.#ttfb,
      gap: Math.max(this.#gap, performance.now() - this.#last),
    };
    if (this.#perByte !== undefined) timings.perByte = this.#perByte;
    return timings;
  }

  /** The signal to pass to `fetch` and the body reader. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Starts waiting for response headers (again, after a redirect). */
  awaitHeaders(): void {
    this.#phase = "headers";
    this.#windowStart = 0;
    this.#asked = performance.now();
    this.#deadline = this.#asked + this.#headers;
  }

  /**
   * Records that body bytes arrived: the idle limit starts over, and they count for the speed.
   *
   * @param bytes How many arrived; 0 when the body is only about to start.
   */
  touch(bytes = 0): void {
    const now = performance.now();
    if (this.#phase === "headers") {
      this.#phase = "idle";
      this.#ttfb = now - this.#asked;
    } else {
      if (this.#phase === "whole") {
        this.#phase = "idle";
        this.#perByte = (now - this.#last) / Math.max(1, bytes);
      }
      if (now - this.#last > this.#gap) this.#gap = now - this.#last;
    }
    this.#last = now;
    this.#deadline = now + this.#idle;
    if (this.#windowStart === 0) {
      this.#windowStart = now;
      this.#windowBytes = 0;
    }
    this.#windowBytes += bytes;
  }

  /**
   * Starts a body that is read in one go (its bytes are seen only at its end): it must come whole
   * within the idle limit, or, when its host's pace is known, within its length at that pace (at
   * least {@linkcode DEADLINE_FLOOR}, at most the fixed idle timeout). The low-speed limit does not
   * apply to it; {@linkcode Watch.touch} with its length ends it.
   *
   * @param bytes The body's length.
   */
  awaitWhole(bytes: number): void {
    this.touch();
    const now = performance.now();
    this.#phase = "whole";
    this.#windowStart = 0;
    this.#whole = this.#msPerByte === undefined
      ? this.#idle
      : Math.min(this.#limits.idleTimeout, Math.max(DEADLINE_FLOOR, bytes * this.#msPerByte));
    this.#deadline = now + this.#whole;
  }

  /**
   * Aborts when a deadline has passed.
   *
   * @param now The current `performance.now()`.
   * @returns Whether it aborted.
   */
  check(now: number): boolean {
    if (this.controller.signal.aborted) return false;
    if (now > this.#end) {
      this.controller.abort(
        new TimeoutError(
          "total",
          `the download took longer than ${seconds(this.#limits.totalTimeout)} (--total-timeout)`,
        ),
      );
      return true;
    }
    const { lowSpeedLimit = 0, lowSpeedTime = 0 } = this.#limits;
    if (
      lowSpeedLimit > 0 && this.#phase === "idle" && this.#windowStart > 0 &&
      now - this.#windowStart >= lowSpeedTime
    ) {
      // A window of lowSpeedTime closed: its average speed must reach the limit.
      const perSecond = this.#windowBytes / ((now - this.#windowStart) / 1000);
      if (perSecond < lowSpeedLimit) {
        this.controller.abort(
          new TimeoutError(
            "speed",
            `the body came slower than ${rate(lowSpeedLimit)} over ${seconds(lowSpeedTime)} (${
              rate(Math.round(perSecond))
            }; --low-speed-limit, --low-speed-time)`,
          ),
        );
        return true;
      }
      this.#windowStart = now;
      this.#windowBytes = 0;
    }
    if (now <= this.#deadline) return false;
    const headers = this.#phase === "headers";
    const limit = headers ? this.#headers : this.#phase === "whole" ? this.#whole : this.#idle;
    // The host's own deadline, when it was the tighter one, is named as such.
    const own = limit < (headers ? this.#limits.headersTimeout : this.#limits.idleTimeout);
    const flag = headers ? "--headers-timeout" : "--idle-timeout";
    const why = own ? "far longer than this host usually takes" : flag;
    this.controller.abort(
      headers
        ? new TimeoutError("headers", `no response within ${seconds(limit)} (${why})`)
        : this.#phase === "whole"
        ? new TimeoutError(
          "idle",
          `the body did not come whole within ${seconds(limit)}; the server stalled (${why})`,
        )
        : new TimeoutError("idle", `no data for ${seconds(limit)}; the server stalled (${why})`),
    );
    return true;
  }
}

/**
 * Checks every registered {@linkcode Watch} four times a second; the timer runs only while
 * something is watched.
 *
 * @example
 * ```ts
 * import { Watch, Watchdog } from "./watchdog.ts";
 * import assert from "node:assert/strict";
 *
 * const dog = new Watchdog();
 * const watch = new Watch({ headersTimeout: 10, idleTimeout: 10, totalTimeout: 0 });
 * dog.add(watch);
 * await new Promise((resolve) => watch.signal.addEventListener("abort", resolve));
 * assert.equal(watch.signal.reason.name, "TimeoutError");
 * dog.delete(watch);
 * ```
 */
export class Watchdog {
  #watches = new Set<Watch>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #interval: number;

  /**
   * Makes a watchdog; its timer starts with the first {@linkcode Watchdog.add}.
   *
   * @param interval Milliseconds between checks.
   */
  constructor(interval = 250) {
    this.#interval = interval;
  }

  /**
   * Starts watching.
   *
   * @param watch The download's deadlines.
   */
  add(watch: Watch): void {
    this.#watches.add(watch);
    this.#timer ??= setInterval(() => this.#tick(), this.#interval);
  }

  /**
   * Stops watching.
   *
   * @param watch The download's deadlines.
   */
  delete(watch: Watch): void {
    this.#watches.delete(watch);
    if (this.#watches.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /**
   * Aborts every watched download with `reason`.
   *
   * @param reason The abort reason.
   */
  abortAll(reason: unknown): void {
    for (const watch of this.#watches) watch.controller.abort(reason);
  }

  #tick(): void {
    const now = performance.now();
    for (const watch of this.#watches) watch.check(now);
  }
}
