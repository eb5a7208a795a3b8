/**
 * The main thread's own cost per URL: the real {@linkcode Engine} (input, naming, scheduler,
 * journal, results) with a pool that answers every job at once instead of Web Workers, so no
 * network, no worker and no message is measured. Prints microseconds of wall time and of CPU per
 * URL, over a few rounds.
 *
 * ```sh
 * deno run -A bench/engine_cost.ts [URLS] [ROUNDS]     # default 50000 URLs, 3 rounds
 * ```
 *
 * Not a test and never run in CI. With `bench/fetch_cost.ts` it splits downpour's time on loopback
 * into what the main thread does and what a worker does (see bench/README.md).
 *
 * @module
 */

import process from "node:process";
import { Engine } from "../src/engine.ts";
import { resolveOptions } from "../src/options.ts";
import { Journal } from "../src/journal.ts";
import type { PoolEvents, WorkerPool } from "../src/pool.ts";
import type { Job } from "../src/protocol.ts";

const urls = Number(Deno.args[0] ?? 50_000);
const rounds = Number(Deno.args[1] ?? 3);

/** Stands in for the WorkerPool: 32 slots, and every flushed batch answered on the next turn. */
class AnsweringPool {
  free = 32;
  #batch: Job[] = [];
  #timers = new Set<ReturnType<typeof setTimeout>>();
  constructor(readonly events: PoolEvents) {}
  assign(job: Job): void {
    this.free--;
    this.#batch.push(job);
  }
  flush(): void {
    const batch = this.#batch;
    this.#batch = [];
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.free += batch.length;
      this.events.outcomes(batch.map((job) => ({
        id: job.id,
        ok: true,
        bytes: 22_000,
        status: 200,
        etag: '"6b05e99b-59ac"',
        ttfb: 1.5,
        gap: 0.2,
        perByte: 0.0001,
      })));
    }, 0);
    this.#timers.add(timer);
  }
  stop(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    return Promise.resolve();
  }
}

/** The list: distinct URLs of one host, given lazily as a file's lines would be. */
async function* input(): AsyncGenerator<string> {
  for (let i = 0; i < urls; i++) yield `http://127.0.0.1:8080/small/${i}.png`;
}

for (let round = 1; round <= rounds; round++) {
  const out = await Deno.makeTempDir({ prefix: "downpour-engine-cost-" });
  try {
    const options = resolveOptions({ out, workers: 2, concurrency: 16, perHost: 32 });
    const events: PoolEvents = {
      outcomes() {},
      fatal(error) {
        throw error;
      },
    };
    const pool = new AnsweringPool(events);
    const journal = await Journal.open(out);
    const cpu = process.cpuUsage();
    const started = performance.now();
    const engine = new Engine(
      input(),
      options,
      journal,
      new Set(),
      pool as unknown as WorkerPool,
      events,
    );
    let saved = 0;
    for await (const result of engine.results()) if (result.ok) saved++;
    await engine.close();
    const wall = (performance.now() - started) * 1000 / urls;
    const used = process.cpuUsage(cpu);
    if (saved !== urls) throw new Error(`only ${saved} of ${urls} results were saved`);
    console.log(
      `round ${round}: ${urls} URLs, ${wall.toFixed(1)} µs wall and ${
        ((used.user + used.system) / urls).toFixed(1)
      } µs CPU a URL on the main thread`,
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}
