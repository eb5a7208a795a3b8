/**
 * The main thread's scheduling: which download goes next, per-host limits, retries and back-off.
 *
 * It knows nothing of workers or files, so it can be tested and benchmarked on its own. (It is
 * over 400 lines because a host's state is one record that every rule reads and writes: its
 * limit, pace, deadlines, pauses and down-time; the learning itself is in `latency.ts` and
 * `adaptive.ts`.)
 *
 * @module
 */

import type { RowData } from "./protocol.ts";
import { DEADLINE_FLOOR, type Outcome } from "./protocol.ts";
import type { FailureReason } from "./types.ts";
import { Pacer, Recent } from "./latency.ts";
import { AdaptiveLimit, TokenBucket } from "./rate_limit.ts";
import { Deque } from "./deque.ts";

/** Samples of a host before its own deadlines and stall allowance apply. */
const LEARN_SAMPLES = 8;
/** A host's deadline is this many times its 90th-percentile time. */
const DEADLINE_FACTOR = 4;
/** A request in flight this many times the host's 90th-percentile duration stops counting. */
const STALL_FACTOR = 2;
/** ...but not before this many milliseconds. */
const STALL_FLOOR = 500;
/** Consecutive connection failures after which a host counts as down. */
const DOWN_AFTER = 5;
/** Milliseconds a down host's URLs fail at once, before one probe may revive it. */
const DOWN_FOR = 30_000;
/** A host whose requests take this many milliseconds (90th percentile) counts as far away. */
const FAR = 40;

/** Idle hosts whose learning is kept; the least recently used beyond this are forgotten. */
const KEEP_IDLE = 4096;

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
  /** `performance.now()` of the current request. */
  sent?: number;
  /** This attempt's headers deadline for its host, in milliseconds, when one applies. */
  headersDeadline?: number;
  /** This attempt's idle deadline for its host, in milliseconds, when one applies. */
  idleDeadline?: number;
  /** This attempt's pace for a body read in one go, in milliseconds a byte, when one applies. */
  msPerByte?: number;
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
  /**
   * The most a host's limit grows to, above `perHost`, when its requests are slow (far away) and
   * it never throttles nor stalls. Default `perHost`: no growth.
   */
  hostMax?: number;
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
  /**
   * Called for a task given up without a request: its host is down, or asked for a wait longer
   * than `retryAfterMax`.
   */
  onDrop?: (task: Task, failure: Failure) => void;
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

/**
 * Why a task was given up without a request.
 *
 * @example
 * ```ts
 * import type { Failure } from "./scheduler.ts";
 * import assert from "node:assert/strict";
 *
 * const failure: Failure = { reason: "network", error: "host down" };
 * assert.equal(failure.reason, "network");
 * ```
 */
export interface Failure {
  reason: FailureReason;
  error: string;
  status?: number;
}

/** A host that takes no requests until `until`: each task for it fails with `failure`. */
interface Refusing {
  until: number;
  failure: Failure;
}

interface Host {
  /** The host's in-flight limit: `perHost`, lowered by throttling, slowly recovering. */
  limit: AdaptiveLimit;
  /** A fixed pace (`rate`, Crawl-delay), an upper bound. */
  bucket?: TokenBucket;
  /** The requests a second its bucket allows, when it has one. */
  perSecond?: number;
  /** The pace learned from its throttles. */
  pacer: Pacer;
  inflight: number;
  /** The tasks in flight, to tell the stalled ones. */
  flying: Set<Task>;
  waiting: Deque<Task>;
  /** `performance.now()` until which nothing is sent to this host. */
  pausedUntil: number;
  timer?: ReturnType<typeof setTimeout>;
  /** Wakes the host when a request in flight will stop counting against its cap. */
  stallTimer?: ReturnType<typeof setTimeout>;
  /** Milliseconds to the response headers, of saved files. */
  ttfb: Recent;
  /** The longest wait for body bytes, of saved files. */
  gap: Recent;
  /** Milliseconds from dispatch to outcome, of saved files. */
  took: Recent;
  /** Milliseconds a byte of the bodies read in one go, of saved files. */
  perByte: Recent;
  connectFailures: number;
  /** Requests allowed above its limit: grown while it is far, full and well-behaved. */
  extra: number;
  /** It throttled, timed out or stalled once: its limit never grows above `perHost` again. */
  touchy: boolean;
  /** Down after connection failures; after `until`, one probe may revive it. */
  down?: Refusing;
  /** Asked for a wait beyond `retryAfterMax`. */
  closed?: Refusing;
}

/**
 * Orders downloads: first in, first out, except that no host gets more than `perHost` at once
 * that are making progress, and a host that asked us to wait (429 or 503 with Retry-After) gets
 * nothing until then and is paced afterwards, while the other hosts go on. It learns each host's
 * usual response times, for per-request deadlines, and gives up at once on a host that is down.
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
  #ready = new Deque<Task>();
  #hosts = new Map<string, Host>();
  /** Idle hosts, least recently used first. */
  #idle = new Set<string>();
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #delayed = 0;
  #waiting = 0;
  #options:
    & Required<Omit<SchedulerOptions, "onReady" | "onDrop" | "rate" | "hostMax">>
    & { hostMax: number }
    & Pick<SchedulerOptions, "onReady" | "onDrop" | "rate">;

  /** @param options The settings. */
  constructor(options: SchedulerOptions) {
    this.#options = {
      backoffBase: 500,
      backoffMax: 30_000,
      retryAfterMax: 300_000,
      random: Math.random,
      ...options,
      hostMax: Math.max(options.perHost, options.hostMax ?? options.perHost),
    };
  }

  /** Tasks not yet handed out: ready, waiting for their host, or waiting to be retried. */
  get queued(): number {
    return this.#ready.length + this.#waiting + this.#delayed;
  }

  /** Tasks in the line that have not been looked at yet (not waiting for a host or a retry). */
  get ready(): number {
    return this.#ready.length;
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
        // Probing for more after a throttle is slow: a refused request costs the host's wait.
        limit: new AdaptiveLimit(this.#options.perHost, {
          increaseEvery: 4 * this.#options.perHost,
        }),
        pacer: new Pacer(performance.now()),
        inflight: 0,
        flying: new Set(),
        waiting: new Deque(),
        pausedUntil: 0,
        ttfb: new Recent(),
        gap: new Recent(),
        took: new Recent(),
        perByte: new Recent(),
        connectFailures: 0,
        extra: 0,
        touchy: false,
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
    this.#idle.delete(key);
    if (host.perSecond !== undefined && host.perSecond <= perSecond) return;
    host.bucket = new TokenBucket(perSecond);
    host.perSecond = perSecond;
  }

  /**
   * Takes the next task that may start now, and counts it as in flight. Its deadlines for its
   * host are set on it, when the host is known well enough and retries remain.
   *
   * @returns The task, or `undefined` when none may start now.
   */
  next(): Task | undefined {
    const now = performance.now();
    for (;;) {
      const task = this.#ready.shift();
      if (!task) return undefined;
      const host = this.#host(task.host);
      const refusing = this.#refusing(host, now);
      if (refusing) {
        this.#options.onDrop?.(task, refusing.failure);
        continue;
      }
      if (host.pausedUntil > now || this.#room(host, now) <= 0) {
        host.waiting.push(task);
        this.#waiting++;
        if (host.pausedUntil <= now) this.#watchStalls(task.host, host, now);
        continue;
      }
      let wait = host.bucket?.take() ?? 0;
      if (wait === 0) wait = host.pacer.take(now);
      if (wait > 0) {
        host.waiting.push(task);
        this.#waiting++;
        this.#pause(task.host, host, wait);
        continue;
      }
      this.#idle.delete(task.host);
      host.inflight++;
      host.flying.add(task);
      task.attempts++;
      task.sent = now;
      if (task.attempts === 1) task.started = now;
      this.#deadlines(task, host);
      return task;
    }
  }

  /** The host's refusal, when it takes no requests now. */
  #refusing(host: Host, now: number): Refusing | undefined {
    if (host.closed) {
      if (host.closed.until > now) return host.closed;
      host.closed = undefined;
    }
    return host.down && host.down.until > now ? host.down : undefined;
  }

  /**
   * How many more requests may start to the host: up to its limit, not counting those that have
   * taken far longer than its requests usually do, up to twice its limit in all. A host that was
   * down gets one probe at a time.
   */
  #room(host: Host, now: number): number {
    if (host.down) return host.inflight === 0 ? 1 : 0;
    const limit = this.#cap(host);
    if (host.inflight < limit) return limit - host.inflight;
    const after = this.#stallAfter(host);
    if (after === Infinity || host.inflight >= 2 * limit) return 0;
    let stalled = 0;
    for (const task of host.flying) if (now - task.sent! > after) stalled++;
    if (stalled > 0) this.#touchy(host);
    return Math.min(limit - (host.inflight - stalled), 2 * limit - host.inflight);
  }

  /** The host's limit now: its adaptive limit, and what it grew above that. */
  #cap(host: Host): number {
    return host.limit.current + host.extra;
  }

  #touchy(host: Host): void {
    host.touchy = true;
    host.extra = 0;
  }

  /**
   * A far host that is full, with tasks waiting, and has never throttled nor stalled may take
   * one more request, up to `hostMax`: its time goes to latency, not to its server's load.
   */
  #grow(host: Host): void {
    if (
      host.touchy || host.waiting.length === 0 || host.took.count < LEARN_SAMPLES ||
      host.took.p90 < FAR || this.#cap(host) >= this.#options.hostMax
    ) return;
    host.extra++;
  }

  /** Milliseconds after which a request to the host counts as stalled. */
  #stallAfter(host: Host): number {
    if (host.took.count < LEARN_SAMPLES) return Infinity;
    return Math.max(STALL_FLOOR, STALL_FACTOR * host.took.p90);
  }

  /** Wakes a full host when its oldest request in flight will stop counting against its cap. */
  #watchStalls(key: string, host: Host, now: number): void {
    if (host.stallTimer !== undefined || host.inflight >= 2 * this.#cap(host)) return;
    const after = this.#stallAfter(host);
    if (after === Infinity) return;
    let first = Infinity;
    for (const task of host.flying) {
      const at = task.sent! + after;
      if (at > now && at < first) first = at;
    }
    if (first === Infinity) return;
    host.stallTimer = this.#later(first - now + 1, () => {
      host.stallTimer = undefined;
      this.#release(key, host);
    });
  }

  /** Sets the task's deadlines from its host's usual times, except on its last attempt. */
  #deadlines(task: Task, host: Host): void {
    // Cleared by assigning, not `delete`: every task keeps one shape (a deleted property would
    // turn each retried task into a slow dictionary object).
    task.headersDeadline = undefined;
    task.idleDeadline = undefined;
    task.msPerByte = undefined;
    // The last attempt has the fixed timeouts only: a slow host is slow, not wrong.
    if (task.attempts > this.#options.retries || host.ttfb.count < LEARN_SAMPLES) return;
    task.headersDeadline = Math.round(Math.max(DEADLINE_FLOOR, DEADLINE_FACTOR * host.ttfb.p90));
    task.idleDeadline = Math.round(Math.max(DEADLINE_FLOOR, DEADLINE_FACTOR * host.gap.p90));
    // A body read in one go is given time for its length at the host's slower pace.
    if (host.perByte.count >= LEARN_SAMPLES) {
      task.msPerByte = DEADLINE_FACTOR * host.perByte.p90;
    }
  }

  /** Moves a host's waiting tasks back to the front of the line, as many as may start. */
  #release(key: string, host: Host): void {
    const now = performance.now();
    if (host.pausedUntil > now) return;
    const refusing = this.#refusing(host, now);
    const moved = host.waiting.take(refusing ? undefined : Math.max(0, this.#room(host, now)));
    this.#waiting -= moved.length;
    if (refusing) {
      for (const task of moved) this.#options.onDrop?.(task, refusing.failure);
    } else {
      for (let i = moved.length - 1; i >= 0; i--) this.#ready.unshift(moved[i]!);
    }
    if (
      host.inflight === 0 && host.waiting.length === 0 && host.timer === undefined &&
      host.stallTimer === undefined && !host.bucket && !host.down && !host.closed
    ) {
      // Idle: kept for what was learned of it, unless many other hosts were idle since.
      this.#idle.delete(key);
      this.#idle.add(key);
      if (this.#idle.size > KEEP_IDLE) {
        const oldest = this.#idle.values().next().value!;
        this.#idle.delete(oldest);
        this.#hosts.delete(oldest);
      }
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
    const now = performance.now();
    const inflight = host.inflight;
    host.inflight--;
    host.flying.delete(task);
    const decision = this.#decide(task, outcome, host, inflight, now);
    if (!decision.final) {
      this.#delayed++;
      this.#later(decision.delay, () => {
        this.#delayed--;
        this.#ready.unshift(task);
      });
    }
    this.#release(task.host, host);
    return decision;
  }

  #decide(task: Task, outcome: Outcome, host: Host, inflight: number, now: number): Decision {
    if (outcome.connectFailed) {
      host.connectFailures++;
      if (host.down || host.connectFailures >= DOWN_AFTER) {
        const detail = (outcome.error ?? "").replace(/^network error: /, "");
        const error = `host down: ${host.connectFailures} connection failures in a row${
          detail ? ` (${detail})` : ""
        }`;
        host.down = { until: now + DOWN_FOR, failure: { reason: "network", error } };
        return { final: true, error };
      }
    } else if (outcome.reason !== "timeout") {
      // An answer of any kind: the host is up.
      host.connectFailures = 0;
      host.down = undefined;
    }
    if (outcome.ok) {
      host.limit.onSuccess();
      host.pacer.onSuccess(now);
      if (outcome.ttfb !== undefined) host.ttfb.add(outcome.ttfb);
      if (outcome.gap !== undefined) host.gap.add(outcome.gap);
      if (outcome.perByte !== undefined) host.perByte.add(outcome.perByte);
      host.took.add(now - task.sent!);
      this.#grow(host);
      return { final: true };
    }
    const wait = outcome.retryAfter;
    const throttled = outcome.status === 429 ||
      (outcome.status === 503 && wait !== undefined);
    if (throttled) {
      if (wait !== undefined && wait > this.#options.retryAfterMax) {
        // Longer than the run waits: this host's URLs fail until then, at once.
        const error = `the server asked to wait ${
          Math.round(wait / 1000)
        } s (Retry-After), longer than the ${
          Math.round(this.#options.retryAfterMax / 1000)
        } s this run waits`;
        host.closed = {
          until: now + wait,
          failure: { reason: "http", error, ...(outcome.status ? { status: outcome.status } : {}) },
        };
        return { final: true, error };
      }
      this.#touchy(host);
      host.limit.onThrottle(now, inflight);
      host.pacer.onThrottle(now, task.sent!, wait ?? 0);
      // Honoured exactly: nothing goes to the host before it is over.
      if (wait) this.#pause(task.host, host, wait);
    }
    if (outcome.reason === "timeout") this.#touchy(host);
    const retryable = outcome.reason === "network" || outcome.reason === "timeout" ||
      outcome.reason === "length-mismatch" || outcome.reason === "truncated" ||
      (outcome.reason === "http" && RETRY_STATUSES.has(outcome.status ?? 0));
    if (!retryable || task.attempts > this.#options.retries) return { final: true };
    const backoff = Math.min(
      this.#options.backoffMax,
      this.#options.backoffBase * 2 ** (task.attempts - 1),
    );
    const jittered = backoff / 2 + this.#options.random() * backoff / 2;
    // The server's Retry-After, when given, is honoured as it is.
    return { final: false, delay: wait ?? jittered };
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
