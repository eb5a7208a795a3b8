/**
 * The Web Workers that fetch and write, with a count of free slots for each.
 *
 * @module
 */

import type { FromWorker, Job, Outcome, ToWorker, WorkerConfig } from "./protocol.ts";

interface Slot {
  worker: Worker;
  free: number;
  batch: Job[];
  stopped: PromiseWithResolvers<void>;
}

/**
 * What the pool reports to its owner.
 *
 * @example
 * ```ts
 * import type { PoolEvents } from "./pool.ts";
 * import assert from "node:assert/strict";
 *
 * const events: PoolEvents = { outcomes() {}, fatal() {} };
 * assert.equal(typeof events.outcomes, "function");
 * ```
 */
export interface PoolEvents {
  /** Outcomes of finished jobs; their slots are free again when this is called. */
  outcomes(outcomes: Outcome[]): void;
  /** A worker failed in a way that stops the run (for example, its module did not load). */
  fatal(error: Error): void;
}

/**
 * A fixed set of workers, each running up to `concurrency` jobs at once.
 *
 * Jobs are queued with {@linkcode WorkerPool.assign} and sent, one message per worker, by
 * {@linkcode WorkerPool.flush}.
 *
 * @example
 * ```ts
 * import { WorkerPool } from "./pool.ts";
 * import { serve } from "../server.ts";
 * import assert from "node:assert/strict";
 *
 * await using server = await serve({ images: 1 });
 * const out = await Deno.makeTempDir();
 * const done = Promise.withResolvers<boolean>();
 * const pool = new WorkerPool(1, 2, {
 *   out, maxBytes: 1e6, anyType: false, digest: false, headersTimeout: 5000, idleTimeout: 5000,
 *   totalTimeout: 0, lowSpeedLimit: 1024, lowSpeedTime: 30_000, maxRedirects: 5, userAgent: "x",
 *   denyPrivate: false, honorNoAi: false,
 * }, { outcomes: (outcomes) => done.resolve(outcomes[0]!.ok), fatal: done.reject });
 * try {
 *   pool.assign({ id: 1, href: new URL("img/0.png", server.url).href, path: "0.png" });
 *   pool.flush();
 *   assert.equal(await done.promise, true);
 * } finally {
 *   await pool.stop();
 *   await Deno.remove(out, { recursive: true });
 * }
 * ```
 */
export class WorkerPool {
  #slots: Slot[] = [];
  #free = 0;

  /**
   * Starts the workers.
   *
   * @param count How many workers.
   * @param concurrency Jobs in flight per worker.
   * @param config What every worker needs to know.
   * @param events Where outcomes and failures go.
   */
  constructor(count: number, concurrency: number, config: WorkerConfig, events: PoolEvents) {
    for (let i = 0; i < count; i++) {
      const worker = new Worker(new URL("./worker/worker.ts", import.meta.url), { type: "module" });
      const slot: Slot = { worker, free: concurrency, batch: [], stopped: Promise.withResolvers() };
      worker.onmessage = (event: MessageEvent<FromWorker>) => {
        const message = event.data;
        switch (message.type) {
          case "outcomes":
            slot.free += message.outcomes.length;
            this.#free += message.outcomes.length;
            events.outcomes(message.outcomes);
            break;
          case "stopped":
            slot.stopped.resolve();
            break;
          case "fatal":
            events.fatal(new Error(`A download worker failed: ${message.error}`));
            break;
        }
      };
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        slot.stopped.resolve();
        events.fatal(new Error(`A download worker failed: ${event.message}`));
      };
      this.#post(slot, { type: "init", config });
      this.#slots.push(slot);
      this.#free += concurrency;
    }
  }

  #post(slot: Slot, message: ToWorker): void {
    slot.worker.postMessage(message);
  }

  /** Free slots across all workers. */
  get free(): number {
    return this.#free;
  }

  /**
   * Gives a job to the least busy worker; it is sent at the next {@linkcode WorkerPool.flush}.
   *
   * @param job The job; there must be a free slot.
   */
  assign(job: Job): void {
    let best = this.#slots[0]!;
    for (const slot of this.#slots) if (slot.free > best.free) best = slot;
    best.free--;
    this.#free--;
    best.batch.push(job);
  }

  /** Sends the assigned jobs. */
  flush(): void {
    for (const slot of this.#slots) {
      if (slot.batch.length === 0) continue;
      this.#post(slot, { type: "jobs", jobs: slot.batch });
      slot.batch = [];
    }
  }

  /**
   * Aborts every download, waits (up to `grace` ms) for the workers to remove their temporary
   * files, and terminates them.
   *
   * @param grace Milliseconds to wait before terminating regardless.
   */
  async stop(grace = 5000): Promise<void> {
    for (const slot of this.#slots) this.#post(slot, { type: "stop" });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => timer = setTimeout(resolve, grace));
    try {
      await Promise.race([Promise.all(this.#slots.map((slot) => slot.stopped.promise)), timeout]);
    } finally {
      clearTimeout(timer);
      for (const slot of this.#slots) slot.worker.terminate();
    }
  }
}
