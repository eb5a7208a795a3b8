import assert from "node:assert/strict";
import { Scheduler, type Task } from "../src/scheduler.ts";
import { Deque } from "../src/deque.ts";

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

Deno.test("the scheduler's deque keeps order through growth and wrap-around", () => {
  // A model check: every operation mirrored on an array, with the ring buffer wrapping and
  // growing many times over (a seeded sequence, so a failure repeats).
  const deque = new Deque<number>();
  const model: number[] = [];
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let step = 0; step < 20_000; step++) {
    const roll = random();
    if (roll < 0.4) {
      deque.push(step);
      model.push(step);
    } else if (roll < 0.6) {
      deque.unshift(step);
      model.unshift(step);
    } else if (roll < 0.9) {
      assert.equal(deque.shift(), model.shift());
    } else {
      const count = Math.floor(random() * 8);
      assert.deepEqual(deque.take(count), model.splice(0, count));
    }
    assert.equal(deque.length, model.length);
  }
  assert.deepEqual(deque.take(), model.splice(0));
  assert.equal(deque.shift(), undefined);
});

Deno.test("a host's waiting tasks go back to the line in order, as many as may start", () => {
  // One host with room for 2: tasks wait behind it, and each finish moves exactly one back to the
  // line, in input order. More tasks come while it drains, so its waiting queue wraps around and
  // grows at once.
  const s = new Scheduler({ perHost: 2, retries: 0 });
  let added = 0;
  const add = (n: number) => {
    for (let i = 0; i < n; i++) s.add(task(added++));
  };
  add(120);
  const started = [s.next()!, s.next()!];
  assert.equal(s.next(), undefined);
  const order = started.map((t) => t.id);
  while (started.length > 0) {
    const fresh = order.length % 50 === 0 && added < 1000 ? 70 : 0;
    add(fresh);
    s.finish(started.shift()!, { id: 0, ok: true, bytes: 1 });
    // The new ones are in the line until next() looks at them; one waiting task is put before.
    if (order.length < added) assert.equal(s.ready, fresh + 1, "one task moved back to the line");
    const next = s.next();
    assert.equal(s.next(), undefined);
    if (next) {
      order.push(next.id);
      started.push(next);
    }
  }
  assert.ok(added > 120);
  assert.deepEqual(order, Array.from({ length: added }, (_, i) => i));
  s.close();
});
