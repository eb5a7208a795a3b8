import { Pacer } from "../src/latency.ts";
import assert from "node:assert/strict";
import { AdaptiveLimit, TokenBucket } from "../src/rate_limit.ts";

Deno.test("TokenBucket: one token at a time, the wait names the time to the next one", () => {
  let now = 1000;
  const bucket = new TokenBucket(4, 1, () => now); // one every 250 ms
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.take(), 250);
  assert.equal(bucket.take(), 250, "a refused take takes nothing");
  now += 100;
  assert.ok(Math.abs(bucket.take() - 150) < 1e-6);
  now += 150;
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.take(), 250);
});

Deno.test("TokenBucket: bursts up to 'burst' after a quiet spell, never more", () => {
  let now = 0;
  const bucket = new TokenBucket(10, 3, () => now);
  assert.deepEqual([bucket.take(), bucket.take(), bucket.take()], [0, 0, 0], "starts full");
  assert.ok(Math.abs(bucket.take() - 100) < 1e-6);
  now += 10_000; // a long quiet spell refills only up to the burst
  assert.deepEqual([bucket.take(), bucket.take(), bucket.take()], [0, 0, 0]);
  assert.ok(bucket.take() > 0);
});

Deno.test("TokenBucket: the long-run rate is the given rate", () => {
  let now = 0;
  const bucket = new TokenBucket(3, 1, () => now);
  let taken = 0;
  // Wait exactly as told, as a scheduler would; over 10 s that is 3 a second, plus the first.
  while (now <= 10_000) {
    const wait = bucket.take();
    if (wait === 0) taken++;
    else now += wait;
  }
  assert.equal(taken, 31);
});

Deno.test("TokenBucket: fractional rates and a clock that goes back", () => {
  let now = 0;
  const bucket = new TokenBucket(0.5, 1, () => now);
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.take(), 2000);
  now = -5000; // must not add or lose tokens
  assert.equal(bucket.take(), 2000);
  now = 2000;
  assert.equal(bucket.take(), 0);
});

Deno.test("TokenBucket: the default clock works", () => {
  const bucket = new TokenBucket(1000);
  assert.equal(bucket.take(), 0);
  const wait = bucket.take();
  assert.ok(wait >= 0 && wait <= 1, `wait ${wait}`);
});

Deno.test("TokenBucket: bad arguments are RangeErrors that say what is wrong", () => {
  for (const rate of [0, -1, NaN, Infinity, "2" as unknown as number]) {
    assert.throws(() => new TokenBucket(rate), {
      name: "RangeError",
      message: /'ratePerSecond' must be a positive, finite number/,
    });
  }
  for (const burst of [0, 1.5, -3, NaN]) {
    assert.throws(() => new TokenBucket(1, burst), {
      name: "RangeError",
      message: /'burst' must be an integer of at least 1/,
    });
  }
  assert.throws(() => new TokenBucket(1, 1, 5 as unknown as () => number), TypeError);
});

Deno.test("AdaptiveLimit: starts at max and halves on throttling, rounding down", () => {
  const limit = new AdaptiveLimit(10);
  assert.equal(limit.current, 10);
  assert.equal(limit.onThrottle(0), true);
  assert.equal(limit.current, 5);
  assert.equal(limit.onThrottle(2000), true);
  assert.equal(limit.current, 2);
});

Deno.test("AdaptiveLimit: never below min (default 1)", () => {
  const limit = new AdaptiveLimit(8);
  for (let i = 0; i < 10; i++) limit.onThrottle(i * 5000);
  assert.equal(limit.current, 1);
  const floored = new AdaptiveLimit(8, { min: 3 });
  for (let i = 0; i < 10; i++) floored.onThrottle(i * 5000);
  assert.equal(floored.current, 3);
});

Deno.test("AdaptiveLimit: a burst of throttles within the window halves once", () => {
  const limit = new AdaptiveLimit(16);
  assert.equal(limit.onThrottle(10_000), true);
  for (let t = 10_001; t < 11_000; t += 50) assert.equal(limit.onThrottle(t), false);
  assert.equal(limit.current, 8);
  assert.equal(limit.onThrottle(11_000), true, "the next window counts again");
  assert.equal(limit.current, 4);
  const wide = new AdaptiveLimit(16, { window: 5000 });
  wide.onThrottle(0);
  wide.onThrottle(4999);
  assert.equal(wide.current, 8);
});

Deno.test("AdaptiveLimit: recovers slowly, by one per run of successes, up to max", () => {
  const limit = new AdaptiveLimit(8);
  limit.onThrottle(0);
  limit.onThrottle(5000);
  assert.equal(limit.current, 2);
  limit.onSuccess();
  assert.equal(limit.current, 2, "one success is not enough");
  limit.onSuccess();
  assert.equal(limit.current, 3, "two successes (the current limit) add one");
  const seen: number[] = [limit.current];
  for (let i = 0; i < 40; i++) seen.push(limit.onSuccess());
  // 3 successes to 4, 4 to 5, ... 7 to 8: 3+4+5+6+7 = 25, then it stays at max.
  assert.equal(seen[25], 8);
  assert.equal(seen[24], 7);
  assert.equal(seen.at(-1), 8);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! - seen[i - 1]! <= 1);
});

Deno.test("AdaptiveLimit: a throttle restarts the run of successes", () => {
  const limit = new AdaptiveLimit(8, { increaseEvery: 3 });
  limit.onThrottle(0);
  assert.equal(limit.current, 4);
  limit.onSuccess();
  limit.onSuccess();
  limit.onThrottle(100); // within the window: no halving, but the run starts over
  assert.equal(limit.current, 4);
  limit.onSuccess();
  limit.onSuccess();
  assert.equal(limit.current, 4);
  limit.onSuccess();
  assert.equal(limit.current, 5);
});

Deno.test("AdaptiveLimit: successes at max change nothing; max 1 stays 1", () => {
  const limit = new AdaptiveLimit(4);
  for (let i = 0; i < 100; i++) limit.onSuccess();
  assert.equal(limit.current, 4);
  const one = new AdaptiveLimit(1);
  one.onThrottle(0);
  one.onSuccess();
  assert.equal(one.current, 1);
});

Deno.test("AdaptiveLimit: bad arguments are RangeErrors that say what is wrong", () => {
  assert.throws(() => new AdaptiveLimit(0), { name: "RangeError", message: /'max' must be/ });
  assert.throws(() => new AdaptiveLimit(2.5), RangeError);
  assert.throws(() => new AdaptiveLimit(4, { min: 5 }), {
    name: "RangeError",
    message: /'min' must be an integer from 1 to 4, got 5/,
  });
  assert.throws(() => new AdaptiveLimit(4, { min: 0 }), RangeError);
  assert.throws(() => new AdaptiveLimit(4, { increaseEvery: 0 }), {
    name: "RangeError",
    message: /'increaseEvery' must be a positive integer/,
  });
  assert.throws(() => new AdaptiveLimit(4, { window: -1 }), RangeError);
});

Deno.test("Pacer: a lone 429 among many answers sets no pace; repeated ones do", () => {
  const pacer = new Pacer(0);
  for (let i = 0; i < 500; i++) pacer.onSuccess(i);
  pacer.onThrottle(500, 499, 1000); // 1 refusal in 500 answers: not a rate limit
  assert.equal(pacer.rate, undefined);
  assert.equal(pacer.take(1600), 0);
  for (let i = 0; i < 10; i++) {
    pacer.onSuccess(2000 + i * 100);
    pacer.onThrottle(2050 + i * 100, 2040 + i * 100, 0); // one in two refused
  }
  assert.ok(pacer.rate !== undefined && pacer.rate < 20, `paced at ${pacer.rate}`);
});
