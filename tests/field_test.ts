/**
 * Hosts that misbehave the way real ones do: stalls after the headers, 429s with Retry-After, a
 * host that refuses connections, a wait longer than the run accepts. Each on its own loopback
 * address, so that the scheduler sees separate hosts.
 */

import assert from "node:assert/strict";
import { download } from "../mod.ts";
import { Scheduler, type Task } from "../src/scheduler.ts";
import { DEADLINE_FLOOR } from "../src/protocol.ts";
import { Watch } from "../src/worker/watchdog.ts";
import { syntheticPng } from "../testing/png.ts";
import { collect, localServer, tempDir } from "./helpers.ts";

const PNG = await syntheticPng(0, { minBytes: 200, maxBytes: 300 });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A port on `hostname` with nothing listening on it. */
function deadPort(hostname: string): number {
  const listener = Deno.listen({ hostname, port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

Deno.test("a host whose requests stall after the headers costs seconds, not the idle timeout", async () => {
  await using out = await tempDir("downpour-field-");
  const seen = new Map<string, number>();
  const stalls = new Set<() => void>();
  let served = 0;
  await using server = localServer((req) => {
    const path = new URL(req.url).pathname;
    const n = (seen.get(path) ?? 0) + 1;
    seen.set(path, n);
    // Once 20 requests were answered, every fifth file stalls on its first request: headers,
    // then nothing. (Requests sent before the host is known have the fixed timeouts only.)
    const index = Number(path.match(/\d+/)![0]);
    if (n === 1 && ++served > 20 && index % 5 === 0) {
      let release = () => {};
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          release = () => {
            stalls.delete(release);
            try {
              controller.close();
            } catch { /* cancelled */ }
          };
          stalls.add(release);
        },
        cancel() {
          stalls.delete(release);
        },
      });
      return new Response(body, { headers: { "content-length": String(PNG.byteLength) } });
    }
    return new Response(PNG);
  }, "127.0.0.2");
  try {
    const urls = Array.from({ length: 80 }, (_, i) => `${server.origin}/${i}.png`);
    const started = performance.now();
    const results = await collect(
      download(urls, { out: out.path, workers: 1, idleTimeout: 30_000, journal: false }),
    );
    const took = performance.now() - started;
    const failed = results.filter((r) => !r.ok);
    assert.equal(failed.length, 0, JSON.stringify(failed));
    for (let i = 0; i < 80; i++) {
      assert.deepEqual(await Deno.readFile(`${out.path}/${i}.png`), PNG, `${i}.png`);
    }
    const retried = results.filter((r) => r.attempts > 1).length;
    assert.ok(retried >= 10, `${retried} retried`);
    assert.ok(took < 8000, `the run took ${Math.round(took)} ms`);
  } finally {
    for (const release of [...stalls]) release();
  }
});

Deno.test("a body read in one go has time for its length at its host's pace: at least 2 s, at most the idle timeout", () => {
  const limits = { headersTimeout: 30_000, idleTimeout: 30_000, totalTimeout: 0 };
  const deadline = (bytes: number, msPerByte?: number) => {
    const watch = new Watch(limits, { idleDeadline: 3000, ...(msPerByte ? { msPerByte } : {}) });
    const start = performance.now();
    watch.awaitWhole(bytes);
    // The first moment at which it gives up, to the nearest 100 ms.
    let at = 0;
    while (!watch.check(start + at)) at += 100;
    assert.equal(watch.signal.reason.limit, "idle");
    assert.match(watch.signal.reason.message, /did not come whole within/);
    return at;
  };
  assert.ok(Math.abs(deadline(100_000) - 3000) <= 100, "no pace learned: the idle deadline");
  assert.ok(Math.abs(deadline(100_000, 0.05) - 5000) <= 100, "100,000 bytes at 0.05 ms a byte");
  assert.ok(Math.abs(deadline(1000, 0.05) - DEADLINE_FLOOR) <= 100, "the floor");
  assert.ok(Math.abs(deadline(100_000, 1) - 30_000) <= 100, "the fixed idle timeout bounds it");
});

Deno.test("the scheduler learns a host's pace a byte from bodies read in one go, for its later requests", () => {
  const scheduler = new Scheduler({ perHost: 4, retries: 2 });
  const task = (id: number): Task => ({
    id,
    url: "",
    href: "",
    host: "h",
    path: "",
    attempts: 0,
    started: 0,
  });
  try {
    for (let i = 0; i < 20; i++) scheduler.add(task(i));
    for (let i = 0; i < 8; i++) {
      const t = scheduler.next()!;
      assert.equal(t.msPerByte, undefined, "not before 8 samples");
      scheduler.finish(t, { id: t.id, ok: true, bytes: 1000, ttfb: 5, gap: 10, perByte: 0.01 });
    }
    const later = scheduler.next()!;
    assert.equal(later.msPerByte, 0.04, "four times the 90th percentile");
  } finally {
    scheduler.close();
  }
});

Deno.test("a 429 host is paced: nothing inside a Retry-After, and it converges to its limit", async () => {
  await using out = await tempDir("downpour-field-");
  // The host takes 20 requests in any second and 4 at once; beyond either it answers 429 with
  // Retry-After: 1.
  const arrivals: number[] = [];
  const statuses: number[] = [];
  const windows: { from: number; to: number }[] = [];
  const violations: string[] = [];
  let inflight = 0;
  let maxInflightAfterThrottle = 0;
  await using server = localServer(async (req) => {
    const now = performance.now();
    const path = new URL(req.url).pathname;
    // 100 ms of slack for requests already on their way when the 429 was sent.
    for (const w of windows) {
      if (now > w.from + 100 && now < w.to) violations.push(`${path} ${Math.round(now - w.from)}`);
    }
    const recent = arrivals.filter((t) => t > now - 1000).length;
    arrivals.push(now);
    if (recent >= 20 || inflight >= 4) {
      statuses.push(429);
      windows.push({ from: now, to: now + 1000 });
      return new Response("slow down", { status: 429, headers: { "retry-after": "1" } });
    }
    statuses.push(200);
    inflight++;
    if (windows.length > 0) maxInflightAfterThrottle = Math.max(maxInflightAfterThrottle, inflight);
    try {
      await sleep(100);
      return new Response(PNG);
    } finally {
      inflight--;
    }
  }, "127.0.0.3");
  const urls = Array.from({ length: 80 }, (_, i) => `${server.origin}/${i}.png`);
  const results = await collect(
    download(urls, { out: out.path, workers: 1, retries: 10, journal: false }),
  );
  const failed = results.filter((r) => !r.ok);
  assert.equal(failed.length, 0, JSON.stringify(failed));
  assert.deepEqual(violations, [], "requests inside a Retry-After window");
  assert.ok(maxInflightAfterThrottle >= 2, `${maxInflightAfterThrottle} at once after a 429`);
  // Paced at the rate it accepts, the host stops refusing: halving and pausing keeps hitting it.
  const late = statuses.slice(-40).filter((status) => status === 429).length;
  assert.ok(late <= 1, `${late} of the last 40 requests were refused: ${statuses.join(" ")}`);
});

Deno.test("a host that refuses connections fails fast, while another host's URLs all succeed", async () => {
  await using out = await tempDir("downpour-field-");
  const port = deadPort("127.0.0.4");
  await using good = localServer(async () => {
    await sleep(20);
    return new Response(PNG);
  }, "127.0.0.5");
  const urls = Array.from({ length: 50 }, (_, i) => [
    `http://127.0.0.4:${port}/${i}.png`,
    `${good.origin}/${i}.png`,
  ]).flat();
  const started = performance.now();
  const results = await collect(download(urls, { out: out.path, workers: 1, journal: false }));
  const took = performance.now() - started;
  const dead = results.filter((r) => r.url.includes("127.0.0.4"));
  const alive = results.filter((r) => r.url.includes("127.0.0.5"));
  assert.equal(alive.filter((r) => r.ok).length, 50);
  assert.equal(dead.length, 50);
  assert.ok(dead.every((r) => !r.ok && r.reason === "network"));
  const down = dead.filter((r) => /^host down: \d+ connection failures in a row/.test(r.error!));
  assert.ok(down.length >= 44, `${down.length} say the host is down: ${dead[0]!.error}`);
  // With back-off, each of them would take 0.25 + 0.5 + 1 s at the least.
  assert.ok(took < 1500, `the run took ${Math.round(took)} ms`);
});

Deno.test("a Retry-After of an hour fails the host's URLs at once, naming the wait", async () => {
  await using out = await tempDir("downpour-field-");
  let requests = 0;
  await using server = localServer(() => {
    requests++;
    return new Response("come back later", { status: 429, headers: { "retry-after": "3600" } });
  }, "127.0.0.6");
  const urls = Array.from({ length: 30 }, (_, i) => `${server.origin}/${i}.png`);
  const started = performance.now();
  const results = await collect(download(urls, { out: out.path, workers: 1, journal: false }));
  const took = performance.now() - started;
  assert.equal(results.length, 30);
  for (const r of results) {
    assert.equal(r.ok, false);
    assert.match(r.error!, /wait 3600 s \(Retry-After\)/);
  }
  assert.ok(requests <= 6, `${requests} requests after the first 429`);
  assert.ok(took < 2000, `the run took ${Math.round(took)} ms`);
});
