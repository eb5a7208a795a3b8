/**
 * The main thread's scheduling: which download goes next, per-host limits, retries and back-off.
 *
 * It knows nothing of workers or files, so it can be tested and benchmarked on its own.
 *
 * @module
 */

import type { RowData } from "./protocol.ts";
import type { Outcome } from "./protocol.ts";
import { AdaptiveLimit, TokenBucket } from "./rate_limit.ts";

/**
 * HTTP statuses that are worth asking again.
 *
 * @example
 * ```ts
 * import { RETRY_STATUSES } from "./scheduler.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(RETRY_STATUSES.has(503));
 * assert.ok(!RETRY_STATUSES.has(404));
 * ```
 */
export const RETRY_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/**
 * One URL on its way through the scheduler.
 *
 * @example
 * ```ts
 * import type { Task } from "./scheduler.ts";
 * import assert from "node:assert/strict";
 *
 * const task: Task = {
 *   id: 1, url: "http://a/x.png", href: "http://a/x.png", host: "a", path: "x.png",
 *   attempts: 0, started: 0,
 * };
 * assert.equal(task.host, "a");
 * ```
 */
export interface Task {
  /** Unique within a run. */
  id: number;
  /** The URL as it was given. */
  url: string;
  /** The absolute URL to fetch. */
  href: string;
  /** `host:port`, the key of the per-host limit. */
  host: string;
  /** The path to save to, relative to the output directory. */
  path: string;
  /** The expected SHA-256, if any. */
  sha256?: string;
  /** A partial body from an earlier attempt may be resumed. */
  resume?: boolean;
  /** The input row's data, written beside the file (see `Job`). */
  row?: RowData;
  /** Requests made so far. */
  attempts: number;
  /** `performance.now()` of the first request. */
  started: number;
}

/**
 * The scheduler's settings.
 *
 * @example
 * ```ts
 * import type { SchedulerOptions } from "./scheduler.ts";
 * import assert from "node:assert/strict";
 *
 * const options: SchedulerOptions = { perHost: 6, retries: 3, rate: 10 };
 * assert.equal(options.perHost, 6);
 * ```
 */
export interface SchedulerOptions {
  /** Downloads in flight per host. */
  perHost: number;
  /** Retries per URL after a retryable failure. */
  retries: number;
  /** Requests per second per host (a token bucket); 0 or absent means no limit. */
  rate?: number;
  /** The first back-off delay in milliseconds; it doubles with each retry. Default 500. */
  backoffBase?: number;
  /** The longest back-off delay in milliseconds. Default 30,000. */
  backoffMax?: number;
  /** The longest Retry-After honoured, in milliseconds; a longer one fails the URL. Default 300,000. */
  retryAfterMax?: number;
  /** Called when delayed tasks become ready again (a retry's or a host's pause is over). */
  onReady?: () => void;
  /** Random numbers in [0, 1) for jitter. Default `Math.random`. */
  random?: () => number;
}

/**
 * What {@linkcode Scheduler.finish} decided.
 *
 * @example
 * ```ts
 * import type { Decision } from "./scheduler.ts";
 * import assert from "node:assert/strict";
 *
 * const decision: Decision = { final: false, delay: 500 };
 * assert.equal(decision.final, false);
 * ```
 */
export type Decision =
  | { final: true; error?: string }
  | { final: false; delay: number };

interface Host {
  /** The host's in-flight limit: `perHost`, halved by throttling, slowly recovering. */
  limit: AdaptiveLimit;
  bucket?: TokenBucket;
  /** The requests a second its bucket allows, when it has one. */
  perSecond?: number;
  inflight: number;
  waiting: Task[];
  /** `performance.now()` until which nothing is sent to this host. */
  pausedUntil: number;
  timer?: ReturnType<typeof setTimeout>;
}

/** A first-in, first-out queue with O(1) push, shift and unshift. */
class Queue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  unshift(item: T): void {
    if (this.#head > 0) this.#items[--this.#head] = item;
    else this.#items.unshift(item);
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

/**
 * Orders downloads: first in, first out, except that no host gets more than `perHost` at once
 * and a host that asked us to wait (429 or 503 with Retry-After) gets nothing until then, while
 * the other hosts go on.
 *
 * @example
 * ```ts
 * import { Scheduler } from "./scheduler.ts";
 * import assert from "node:assert/strict";
 *
 * const scheduler = new Scheduler({ perHost: 1, retries: 0 });
 * const task = (id: number, host: string) =>
 *   ({ id, url: "", href: "", host, path: "", attempts: 0, started: 0 });
 * scheduler.add(task(1, "a"));
 * scheduler.add(task(2, "a"));
 * scheduler.add(task(3, "b"));
 * assert.equal(scheduler.next()?.id, 1);
 * assert.equal(scheduler.next()?.id, 3); // host a is at its limit
 * assert.equal(scheduler.next(), undefined);
 * scheduler.close();
 * ```
 */
export class Scheduler {
  #ready = new Queue<Task>();
  #hosts = new Map<string, Host>();
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #delayed = 0;
  #waiting = 0;
  #options:
    & Required<Omit<SchedulerOptions, "onReady" | "rate">>
    & Pick<SchedulerOptions, "onReady" | "rate">;

  /** @param options The settings. */
  constructor(options: SchedulerOptions) {
    this.#options = {
      backoffBase: 500,
      backoffMax: 30_000,
      retryAfterMax: 300_000,
      random: Math.random,
      ...options,
    };
  }

  /** Tasks not yet handed out: ready, waiting for their host, or waiting to be retried. */
  get queued(): number {
    return this.#ready.length + this.#waiting + this.#delayed;
  }

  /**
   * Queues a new task.
   *
   * @param task The task.
   */
  add(task: Task): void {
    this.#ready.push(task);
  }

  #host(key: string): Host {
    let host = this.#hosts.get(key);
    if (!host) {
      host = {
        limit: new AdaptiveLimit(this.#options.perHost),
        inflight: 0,
        waiting: [],
        pausedUntil: 0,
      };
      if (this.#options.rate) {
        host.bucket = new TokenBucket(this.#options.rate);
        host.perSecond = this.#options.rate;
      }
      this.#hosts.set(key, host);
    }
    return host;
  }

  /**
   * Holds a host to at most `perSecond` requests a second from now on (robots.txt's
   * `Crawl-delay`), unless it is already held to fewer.
   *
   * @param key The host, as in {@linkcode Task.host}.
   * @param perSecond Requests a second; more than 0.
   */
  pace(key: string, perSecond: number): void {
    const host = this.#host(key);
    if (host.perSecond !== undefined && host.perSecond <= perSecond) return;
    host.bucket = new TokenBucket(perSecond);
    host.perSecond = perSecond;
  }

  /**
   * Takes the next task that may start now, and counts it as in flight.
   *
   * @returns The task, or `undefined` when none may start now.
   */
  next(): Task | undefined {
    const now = performance.now();
    for (;;) {
      const task = this.#ready.shift();
      if (!task) return undefined;
      const host = this.#host(task.host);
      if (host.inflight >= host.limit.current || host.pausedUntil > now) {
        host.waiting.push(task);
        this.#waiting++;
        continue;
      }
      const wait = host.bucket?.take() ?? 0;
      if (wait > 0) {
        host.waiting.push(task);
        this.#waiting++;
        this.#pause(task.host, host, wait);
        continue;
      }
      host.inflight++;
      task.attempts++;
      if (task.attempts === 1) task.started = now;
      return task;
    }
  }

  /** Moves a host's waiting tasks back to the front of the line, as many as may start. */
  #release(key: string, host: Host): void {
    if (host.pausedUntil > performance.now()) return;
    const room = host.limit.current - host.inflight;
    const moved = host.waiting.splice(0, Math.max(0, room));
    this.#waiting -= moved.length;
    for (let i = moved.length - 1; i >= 0; i--) this.#ready.unshift(moved[i]!);
    if (
      host.inflight === 0 && host.waiting.length === 0 && host.timer === undefined &&
      !host.bucket && host.limit.current === this.#options.perHost
    ) {
      this.#hosts.delete(key);
    }
  }

  #later(delay: number, then: () => void): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      then();
      this.#options.onReady?.();
    }, delay);
    this.#timers.add(timer);
    return timer;
  }

  /**
   * Records that a task's attempt ended, and decides whether it is retried.
   *
   * @param task The task handed out by {@linkcode Scheduler.next}.
   * @param outcome What the attempt gave.
   * @returns Final, or retried after `delay` milliseconds (the task is queued again by itself).
   */
  finish(task: Task, outcome: Outcome): Decision {
    const host = this.#host(task.host);
    host.inflight--;
    let decision: Decision;
    if (outcome.ok) {
      host.limit.onSuccess();
      decision = { final: true };
    } else {
      if (outcome.status === 429 || (outcome.status === 503 && outcome.retryAfter !== undefined)) {
        host.limit.onThrottle();
      }
      const retryable = outcome.reason === "network" || outcome.reason === "timeout" ||
        outcome.reason === "length-mismatch" || outcome.reason === "truncated" ||
        (outcome.reason === "http" && RETRY_STATUSES.has(outcome.status ?? 0));
      const wait = outcome.retryAfter;
      if (wait !== undefined && (outcome.status === 429 || outcome.status === 503)) {
        this.#pause(task.host, host, Math.min(wait, this.#options.retryAfterMax));
      }
      if (!retryable || task.attempts > this.#options.retries) {
        decision = { final: true };
      } else if (wait !== undefined && wait > this.#options.retryAfterMax) {
        decision = {
          final: true,
          error: `the server asked to retry after ${Math.round(wait / 1000)} s, longer than ${
            Math.round(this.#options.retryAfterMax / 1000)
          } s`,
        };
      } else {
        const backoff = Math.min(
          this.#options.backoffMax,
          this.#options.backoffBase * 2 ** (task.attempts - 1),
        );
        const jittered = backoff / 2 + this.#options.random() * backoff / 2;
        // The server's Retry-After, when given, is honoured as it is.
        const delay = wait ?? jittered;
        this.#delayed++;
        this.#later(delay, () => {
          this.#delayed--;
          this.#ready.unshift(task);
        });
        decision = { final: false, delay };
      }
    }
    this.#release(task.host, host);
    return decision;
  }

  #pause(key: string, host: Host, wait: number): void {
    const until = performance.now() + wait;
    if (until <= host.pausedUntil) return;
    host.pausedUntil = until;
    if (host.timer !== undefined) {
      clearTimeout(host.timer);
      this.#timers.delete(host.timer);
    }
    host.timer = this.#later(wait, () => {
      host.timer = undefined;
      // Timers may fire a little early by performance.now(): the pause is over regardless.
      host.pausedUntil = 0;
      this.#release(key, host);
    });
  }

  /** Cancels every timer; the scheduler must not be used afterwards. */
  close(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}
