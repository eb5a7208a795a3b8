/**
 * Benchmarks of the per-file hot spots other than naming (see `naming_bench.ts`): the magic-byte
 * check, the SHA-256 of a typical body, the scheduler's cycle, and a message round trip between
 * the main thread and a Web Worker, with the payloads downpour sends.
 *
 * Run with `deno bench -A bench/hot_bench.ts` (or `deno task bench` for all of them). For scale:
 * on the 2-core machine of the README, downpour spends about 200 µs of CPU per small file in all.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { sniffImage } from "../src/worker/sniff.ts";
import { Scheduler, type Task } from "../src/scheduler.ts";
import { syntheticPng } from "../testing/png.ts";

if ("WorkerGlobalScope" in globalThis) {
  // The echo worker for the round-trip benchmarks: it answers each batch of jobs with outcomes.
  const sha256 = "a".repeat(64);
  const scope = self as unknown as {
    onmessage: (event: MessageEvent) => void;
    postMessage(message: unknown): void;
  };
  scope.onmessage = (event: MessageEvent) => {
    const jobs = event.data.jobs as { id: number }[] | undefined;
    scope.postMessage({
      type: "outcomes",
      outcomes: (jobs ?? []).map(({ id }) => ({
        id,
        ok: true,
        bytes: 22_000,
        status: 200,
        sha256,
        etag: '"6b05e99b-59ac"',
      })),
    });
  };
} else {
  const png = await syntheticPng(7, { minBytes: 20_000, maxBytes: 24_000 });
  const html = new TextEncoder().encode("<!doctype html><html><body>Sign in</body></html>");

  Deno.bench("sniffImage(png)", { group: "check" }, () => {
    sniffImage(png);
  });

  Deno.bench("sniffImage(html)", { group: "check" }, () => {
    sniffImage(html);
  });

  Deno.bench(`sha256 of a ${png.byteLength}-byte PNG`, { group: "check" }, () => {
    createHash("sha256").update(png).digest("hex");
  });

  const BATCH = 10_000;
  const tasks: Task[] = Array.from({ length: BATCH }, (_, i) => ({
    id: i,
    url: `http://img${i % 4}.example/${i}.png`,
    href: `http://img${i % 4}.example/${i}.png`,
    host: `img${i % 4}.example`,
    path: `${i}.png`,
    attempts: 0,
    started: 0,
  }));

  Deno.bench("scheduler: 10k tasks over 4 hosts, 32 in flight", { group: "schedule" }, () => {
    const scheduler = new Scheduler({ perHost: 8, retries: 3 });
    for (const task of tasks) {
      task.attempts = 0;
      scheduler.add(task);
    }
    const inflight: Task[] = [];
    for (;;) {
      for (let task = scheduler.next(); task; task = scheduler.next()) inflight.push(task);
      const task = inflight.shift();
      if (!task) break;
      scheduler.finish(task, { id: task.id, ok: true, bytes: 1, status: 200 });
    }
    scheduler.close();
  });

  const worker = new Worker(import.meta.url, { type: "module" });
  const jobs = (n: number) =>
    Array.from({ length: n }, (_, i) => ({
      id: 1_000_000 + i,
      href: `http://127.0.0.1:8000/img/${i}.png`,
      path: `${i}.png`,
    }));
  const one = jobs(1);
  const five = jobs(5);
  const sixteen = jobs(16);
  const roundTrip = (batch: unknown[]) =>
    new Promise<void>((resolve) => {
      worker.onmessage = () => resolve();
      worker.postMessage({ type: "jobs", jobs: batch });
    });

  Deno.bench("round trip: 1 job, 1 outcome", { group: "messages", baseline: true }, async () => {
    await roundTrip(one);
  });

  Deno.bench("round trip: 5 jobs, 5 outcomes", { group: "messages" }, async () => {
    await roundTrip(five);
  });

  Deno.bench("round trip: 16 jobs, 16 outcomes", { group: "messages" }, async () => {
    await roundTrip(sixteen);
  });

  // The last benchmark file to finish must not leave the worker running.
  globalThis.addEventListener("unload", () => worker.terminate());
}
