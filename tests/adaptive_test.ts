import assert from "node:assert/strict";
import { download } from "../mod.ts";
import { InflightTarget } from "../src/adaptive.ts";
import { Scheduler, type Task } from "../src/scheduler.ts";
import { syntheticPng } from "../testing/png.ts";
import { collect, type LocalServer, localServer, tempDir } from "./helpers.ts";

/**
 * Drives a target on a fake clock against a model of the hosts: completions a second are
 * `throughput(inflight)`, and every request is held back by the target (tasks always wait).
 */
function drive(target: InflightTarget, throughput: (inflight: number) => number, intervals = 40) {
  const seen: number[] = [];
  let now = 0;
  target.tick(now);
  for (let i = 0; i < intervals; i++) {
    // Ten completions spread over each half second, at the rate the current target gives.
    for (let step = 1; step <= 10; step++) {
      now += 50;
      target.completed(now, throughput(target.current) / 20);
      target.held(now);
    }
    seen.push(target.current);
  }
  return seen;
}

Deno.test("the target grows while throughput grows with it, up to its bound", () => {
  // Latency-bound: each request takes 100 ms, so throughput is in flight × 10.
  const target = new InflightTarget({ start: 32, min: 8, max: 256 });
  const seen = drive(target, (inflight) => inflight * 10);
  assert.ok(seen[3]! > 32, `grew in the first two seconds: ${seen.slice(0, 4)}`);
  assert.equal(Math.max(...seen), 256);
  assert.equal(seen.at(-1), 256);
});

Deno.test("the target comes back down when more in flight brings no more throughput", () => {
  // CPU-bound: 2,000 files a second however many are in flight.
  const target = new InflightTarget({ start: 32, min: 8, max: 256 });
  const seen = drive(target, () => 2000);
  // It probes upwards now and then, and each probe that brings nothing is undone.
  assert.ok(Math.max(...seen) <= 40, `stayed near the start: ${seen}`);
  assert.ok(seen.filter((n) => n === 32).length > seen.length / 2, `mostly at 32: ${seen}`);
});

Deno.test("the target finds the knee: it grows to where throughput stops rising", () => {
  // Throughput rises with in flight up to 80, then stays level.
  const target = new InflightTarget({ start: 16, min: 8, max: 256 });
  const seen = drive(target, (inflight) => Math.min(inflight, 80) * 10);
  const late = seen.slice(-20);
  assert.ok(Math.min(...late) >= 60 && Math.max(...late) <= 130, `near the knee: ${late}`);
});

Deno.test("the target stays where it is when it is not what holds requests back", () => {
  const target = new InflightTarget({ start: 32, min: 8, max: 256 });
  let now = 0;
  target.tick(now);
  for (let i = 0; i < 40; i++) {
    now += 50;
    target.completed(now, 5 + i); // throughput rising, but no task was ever kept back
  }
  assert.equal(target.current, 32);
});

function task(id: number, host: string): Task {
  return { id, url: "", href: "", host, path: "", attempts: 0, started: 0 };
}

Deno.test("a far host's limit grows above perHost up to hostMax; a throttle stops it", () => {
  const scheduler = new Scheduler({ perHost: 2, hostMax: 4, retries: 1 });
  try {
    for (let i = 0; i < 40; i++) scheduler.add(task(i, "far"));
    const running = (): Task[] => {
      const out: Task[] = [];
      for (let t = scheduler.next(); t; t = scheduler.next()) out.push(t);
      return out;
    };
    let flying = running();
    assert.equal(flying.length, 2);
    let most = 0;
    for (let round = 0; round < 10; round++) {
      for (const t of flying) {
        t.sent = performance.now() - 100; // took 100 ms: far
        scheduler.finish(t, { id: t.id, ok: true, bytes: 1, ttfb: 90, gap: 1 });
      }
      flying = running();
      most = Math.max(most, flying.length);
    }
    assert.equal(most, 4);
    const throttled = flying[0]!;
    scheduler.finish(throttled, {
      id: throttled.id,
      ok: false,
      bytes: 0,
      reason: "http",
      status: 429,
    });
    for (const t of flying.slice(1)) scheduler.finish(t, { id: t.id, ok: true, bytes: 1 });
    assert.ok(running().length <= 2);
  } finally {
    scheduler.close();
  }
});

const PNG = await syntheticPng(0, { minBytes: 200, maxBytes: 300 });

Deno.test("with many far hosts, more than 32 requests run at once in all (2 workers)", async () => {
  await using dir = await tempDir("downpour-adaptive-");
  const now = { inflight: 0, max: 0 };
  await using servers = new AsyncDisposableStack();
  const hosts: LocalServer[] = [];
  for (let i = 0; i < 8; i++) {
    hosts.push(servers.use(localServer(async () => {
      now.inflight++;
      now.max = Math.max(now.max, now.inflight);
      try {
        await new Promise((resolve) => setTimeout(resolve, 100));
        return new Response(PNG);
      } finally {
        now.inflight--;
      }
    })));
  }
  const urls = hosts.flatMap((h) => Array.from({ length: 80 }, (_, i) => `${h.origin}/${i}.png`));
  const started = performance.now();
  const results = await collect(download(urls, { out: dir.path, workers: 2 }));
  const took = performance.now() - started;
  assert.equal(results.filter((r) => r.ok).length, urls.length);
  assert.ok(now.max > 32, `at most ${now.max} in flight at once (${Math.round(took)} ms)`);
});
