import assert from "node:assert/strict";
import { Scheduler, type Task } from "../src/scheduler.ts";

function task(id: number, host = "a:80"): Task {
  return {
    id,
    url: `http://${host}/${id}`,
    href: "",
    host,
    path: `${id}`,
    attempts: 0,
    started: 0,
  };
}

Deno.test("tasks go out first in, first out", () => {
  const s = new Scheduler({ perHost: 10, retries: 0 });
  for (let i = 0; i < 5; i++) s.add(task(i));
  assert.deepEqual([0, 1, 2, 3, 4].map(() => s.next()?.id), [0, 1, 2, 3, 4]);
  assert.equal(s.next(), undefined);
  s.close();
});

Deno.test("per-host limit: a full host waits, the others go on, and it resumes in order", () => {
  const s = new Scheduler({ perHost: 2, retries: 0 });
  s.add(task(1, "a"));
  s.add(task(2, "a"));
  s.add(task(3, "a"));
  s.add(task(4, "a"));
  s.add(task(5, "b"));
  const first = [s.next()!, s.next()!, s.next()!];
  assert.deepEqual(first.map((t) => t.id), [1, 2, 5]);
  assert.equal(s.next(), undefined);
  assert.equal(s.queued, 2);
  s.finish(first[0]!, { id: 1, ok: true, bytes: 1 });
  assert.equal(s.next()?.id, 3);
  assert.equal(s.next(), undefined);
  s.finish(first[1]!, { id: 2, ok: true, bytes: 1 });
  assert.equal(s.next()?.id, 4);
  s.close();
});

Deno.test("retryable failures come back after a back-off; others are final", async () => {
  const s = new Scheduler({ perHost: 5, retries: 2, backoffBase: 10, random: () => 0.5 });
  s.add(task(1));
  s.add(task(2));
  const t1 = s.next()!;
  const t2 = s.next()!;
  const notFound = s.finish(t2, { id: 2, ok: false, bytes: 0, reason: "http", status: 404 });
  assert.deepEqual(notFound, { final: true });
  const first = s.finish(t1, { id: 1, ok: false, bytes: 0, reason: "http", status: 503 });
  assert.equal(first.final, false);
  assert.equal(s.next(), undefined, "not before the back-off");
  await new Promise((resolve) => setTimeout(resolve, 30));
  const again = s.next()!;
  assert.equal(again.id, 1);
  assert.equal(again.attempts, 2);
  const second = s.finish(again, { id: 1, ok: false, bytes: 0, reason: "network" });
  assert.equal(second.final, false);
  if (!second.final) assert.ok(second.delay >= 10 && second.delay <= 20, `delay ${second.delay}`);
  await new Promise((resolve) => setTimeout(resolve, 40));
  const last = s.next()!;
  assert.equal(last.attempts, 3);
  assert.deepEqual(s.finish(last, { id: 1, ok: false, bytes: 0, reason: "timeout" }), {
    final: true,
  });
  s.close();
});

Deno.test("a 429 with Retry-After holds back the whole host, not the others", async () => {
  let woke = 0;
  const s = new Scheduler({ perHost: 5, retries: 3, onReady: () => woke++ });
  s.add(task(1, "slow"));
  s.add(task(2, "slow"));
  s.add(task(3, "fast"));
  const t1 = s.next()!;
  const decision = s.finish(t1, {
    id: 1,
    ok: false,
    bytes: 0,
    reason: "http",
    status: 429,
    retryAfter: 80,
  });
  assert.equal(decision.final, false);
  if (!decision.final) assert.ok(decision.delay >= 80);
  assert.equal(s.next()?.id, 3, "the other host goes on");
  assert.equal(s.next(), undefined, "the paused host gets nothing");
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.ok(woke >= 1);
  const ids = [s.next()?.id, s.next()?.id].sort();
  assert.deepEqual(ids, [1, 2]);
  s.close();
});

Deno.test("a Retry-After beyond the limit fails the URL with a reason", () => {
  const s = new Scheduler({ perHost: 1, retries: 3, retryAfterMax: 1000 });
  s.add(task(1));
  const t = s.next()!;
  const decision = s.finish(t, {
    id: 1,
    ok: false,
    bytes: 0,
    reason: "http",
    status: 503,
    retryAfter: 3_600_000,
  });
  assert.equal(decision.final, true);
  if (decision.final) assert.match(decision.error!, /wait 3600 s \(Retry-After\)/);
  s.close();
});
