import assert from "node:assert/strict";
import { inShard, parseShard, shardOf } from "../src/shard.ts";

const noEnv = (_name: string) => undefined;

Deno.test("parseShard: K/N", () => {
  assert.deepEqual(parseShard("0/1", noEnv), { index: 0, count: 1 });
  assert.deepEqual(parseShard("3/4", noEnv), { index: 3, count: 4 });
  assert.deepEqual(parseShard(" 12 / 100 ", noEnv), { index: 12, count: 100 });
});

Deno.test("parseShard: auto/N reads JOB_COMPLETION_INDEX", () => {
  const asked: string[] = [];
  const env = (name: string) => {
    asked.push(name);
    return "7";
  };
  assert.deepEqual(parseShard("auto/16", env), { index: 7, count: 16 });
  assert.deepEqual(asked, ["JOB_COMPLETION_INDEX"]);
  assert.deepEqual(parseShard("AUTO/8", () => "0"), { index: 0, count: 8 });
});

Deno.test("parseShard: K/N does not read the environment", () => {
  const env = (_name: string): string => {
    throw new Error("read the environment");
  };
  assert.deepEqual(parseShard("1/2", env), { index: 1, count: 2 });
});

Deno.test("parseShard: malformed specifications are TypeErrors", () => {
  for (const spec of ["", "1", "1/", "/2", "a/2", "-1/2", "1/2/3", "1.5/2", "1/2.0", "auto"]) {
    assert.throws(() => parseShard(spec, noEnv), {
      name: "TypeError",
      message: /expected "K\/N" or "auto\/N"/,
    }, spec);
  }
  assert.throws(() => parseShard(3 as unknown as string, noEnv), TypeError);
});

Deno.test("parseShard: out-of-range numbers are RangeErrors", () => {
  assert.throws(() => parseShard("0/0", noEnv), {
    name: "RangeError",
    message: /the count must be from 1 to 1000000, got 0/,
  });
  assert.throws(() => parseShard("4/4", noEnv), {
    name: "RangeError",
    message: /the index must be below the count \(shards are numbered from 0 to 3\)/,
  });
  assert.throws(() => parseShard("0/1000001", noEnv), RangeError);
});

Deno.test("parseShard: auto/N with a missing or bad index says why", () => {
  assert.throws(() => parseShard("auto/4", noEnv), {
    name: "TypeError",
    message: /JOB_COMPLETION_INDEX is not set \(Kubernetes sets it in the pods of an Indexed Job\)/,
  });
  assert.throws(() => parseShard("auto/4", () => ""), { name: "TypeError" });
  assert.throws(() => parseShard("auto/4", () => "two"), {
    name: "TypeError",
    message: /JOB_COMPLETION_INDEX must be an integer, got "two"/,
  });
  assert.throws(() => parseShard("auto/4", () => "-1"), TypeError);
  assert.throws(() => parseShard("auto/4", () => "4"), {
    name: "RangeError",
    message: /JOB_COMPLETION_INDEX is 4, but must be below the count 4/,
  });
});

Deno.test("parseShard: the default environment is Deno.env", () => {
  const before = Deno.env.get("JOB_COMPLETION_INDEX");
  Deno.env.set("JOB_COMPLETION_INDEX", "2");
  try {
    assert.deepEqual(parseShard("auto/3"), { index: 2, count: 3 });
  } finally {
    if (before === undefined) Deno.env.delete("JOB_COMPLETION_INDEX");
    else Deno.env.set("JOB_COMPLETION_INDEX", before);
  }
});

const URLS = Array.from({ length: 100_000 }, (_, i) => `https://img.example.com/photos/${i}.jpg`);

Deno.test("inShard: the shards partition 100,000 URLs, each URL in exactly one", () => {
  for (const count of [1, 2, 3, 7, 16]) {
    for (const url of URLS) {
      let owners = 0;
      for (let index = 0; index < count; index++) {
        if (inShard(url, { index, count })) owners++;
      }
      if (owners !== 1) assert.fail(`${url} is in ${owners} of ${count} shards`);
    }
  }
});

Deno.test("shardOf: the shards are balanced within 3% of n/N", () => {
  for (const count of [2, 3, 7, 16]) {
    const sizes = new Array<number>(count).fill(0);
    for (const url of URLS) sizes[shardOf(url, count)]!++;
    const expected = URLS.length / count;
    for (const [index, size] of sizes.entries()) {
      assert.ok(
        Math.abs(size - expected) <= expected * 0.03,
        `shard ${index}/${count} has ${size} URLs, expected ${Math.round(expected)} ± 3%`,
      );
    }
  }
});

Deno.test("shardOf: URLs that differ only in their last character are spread out", () => {
  const sizes = new Array<number>(4).fill(0);
  for (let i = 0; i < 62; i++) {
    const char = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[i];
    sizes[shardOf(`https://example.com/${char}`, 4)]!++;
  }
  for (const size of sizes) assert.ok(size >= 8, `sizes ${sizes}`);
});

Deno.test("shardOf: stable across runs and versions", () => {
  // Changing these moves URLs between machines mid-job: only with a major version.
  assert.equal(shardOf("https://example.com/cat.png", 2), 1);
  assert.equal(shardOf("https://example.com/cat.png", 7), 4);
  assert.equal(shardOf("https://example.com/cat.png", 16), 9);
  assert.equal(shardOf("https://example.com/dog.jpg", 16), 8);
  assert.equal(shardOf("http://127.0.0.1:8000/a/b.webp?x=1", 7), 0);
  assert.equal(shardOf("", 16), 15);
  assert.equal(shardOf("anything", 1), 0);
});

Deno.test("shardOf and inShard: bad shards are RangeErrors", () => {
  for (const count of [0, -1, 1.5, NaN, 1_000_001]) {
    assert.throws(() => shardOf("x", count), { name: "RangeError", message: /'count' must be/ });
  }
  assert.throws(() => inShard("x", { index: 2, count: 2 }), {
    name: "RangeError",
    message: /'index' must be an integer from 0 to count - 1, got \{"index":2,"count":2\}/,
  });
  assert.throws(() => inShard("x", { index: -1, count: 2 }), RangeError);
  assert.throws(() => inShard("x", { index: 0.5, count: 2 }), RangeError);
});
