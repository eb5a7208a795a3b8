import assert from "node:assert/strict";
import { download, OutDirError, summarize } from "../mod.ts";
import { serve } from "../server.ts";
import { JOURNAL_NAME } from "../src/journal.ts";
import { syntheticPng } from "../testing/png.ts";
import { collect, listFiles as listAll, tempDir } from "./helpers.ts";

/** Every file below `dir` but the journal. */
const listFiles = (dir: string) => listAll(dir, [JOURNAL_NAME]);

Deno.test("download() saves every image with the server's exact bytes", async () => {
  await using server = await serve({ images: 40 });
  await using dir = await tempDir();
  const urls = Array.from({ length: 40 }, (_, i) => new URL(`img/${i}.png`, server.url).href);
  const results = await collect(download(urls, { out: dir.path, workers: 2, concurrency: 4 }));
  assert.equal(results.length, 40);
  for (const result of results) {
    assert.equal(result.ok, true, result.error);
    assert.equal(result.status, 200);
    assert.equal(result.attempts, 1);
    assert.ok(urls.includes(result.url), "url is reported exactly as given");
  }
  for (let i = 0; i < 40; i++) {
    const expected = await syntheticPng(i);
    const result = results.find((r) => r.url === urls[i])!;
    assert.equal(result.path, `${i}.png`);
    assert.equal(result.bytes, expected.byteLength);
    assert.deepEqual(await Deno.readFile(`${dir.path}/${i}.png`), expected);
  }
  assert.deepEqual(
    await listFiles(dir.path),
    Array.from({ length: 40 }, (_, i) => `${i}.png`).sort(),
    "nothing but the files (no temporary files left)",
  );
});

Deno.test("download() validates its options before it starts", () => {
  assert.throws(() => download([], { out: "x", workers: 0 }), {
    name: "RangeError",
    message: /'workers' must be a positive integer/,
  });
  assert.throws(() => download([], { out: "x", concurrency: 1.5 }), RangeError);
  assert.throws(() => download([], { out: "x", perHost: -1 }), RangeError);
  // @ts-expect-error: out is required
  assert.throws(() => download([], {}), { name: "TypeError", message: /'out'/ });
  assert.throws(() => download("http://a/b.png", { out: "x" }), TypeError);
  // @ts-expect-error: workers must be a number
  assert.throws(() => download([], { out: "x", workers: "2" }), TypeError);
});

Deno.test("download() refuses an output directory it cannot write to", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/a-file`;
  await Deno.writeTextFile(file, "not a directory");
  await assert.rejects(
    collect(download(["http://127.0.0.1:9/x.png"], { out: `${file}/sub` })),
    OutDirError,
  );
  assert.equal(await Deno.readTextFile(file), "not a directory");
});

Deno.test("bad URLs are reported and the good ones still download", async () => {
  await using server = await serve({ images: 2 });
  await using dir = await tempDir();
  const good = new URL("img/1.png", server.url).href;
  const results = await collect(
    download(["not a url", "ftp://example.com/a.png", good], { out: dir.path, workers: 1 }),
  );
  const byUrl = new Map(results.map((r) => [r.url, r]));
  assert.equal(byUrl.get("not a url")?.reason, "invalid-url");
  assert.match(byUrl.get("not a url")!.error!, /not a URL/);
  assert.equal(byUrl.get("ftp://example.com/a.png")?.reason, "invalid-url");
  assert.match(byUrl.get("ftp://example.com/a.png")!.error!, /ftp:/);
  assert.equal(byUrl.get(good)?.ok, true);
  assert.deepEqual(await Deno.readFile(`${dir.path}/1.png`), await syntheticPng(1));
});

Deno.test("different URLs never overwrite each other, and names are stable across runs", async () => {
  await using server = await serve({ images: 3 });
  const urls = [
    new URL("img/1.png", server.url).href,
    new URL("img/1.png?v=2", server.url).href,
    new URL("img/2.png?x=1", server.url).href,
    new URL("img/1.png", server.url).href, // a duplicate
  ];
  const runs: Map<string, string | undefined>[] = [];
  for (let run = 0; run < 2; run++) {
    await using dir = await tempDir();
    const results = await collect(download(urls, { out: dir.path, workers: 2 }));
    assert.equal(results.length, 4);
    assert.ok(results.every((r) => r.ok), JSON.stringify(results));
    const skipped = results.filter((r) => r.skipped === "duplicate");
    assert.equal(skipped.length, 1);
    const fetched = results.filter((r) => !r.skipped);
    const paths = new Set(fetched.map((r) => r.path));
    assert.equal(paths.size, 3, "three distinct files");
    assert.equal(skipped[0]!.path, fetched.find((r) => r.url === urls[0])!.path);
    for (const r of fetched) assert.ok(!r.path!.startsWith("."));
    assert.equal((await listFiles(dir.path)).length, 3);
    runs.push(new Map(fetched.map((r) => [r.url, r.path])));
  }
  assert.deepEqual(runs[0], runs[1]);
});

Deno.test("HTTP errors fail without retry; 503s are retried until they succeed", async () => {
  await using server = await serve({ images: 3 });
  await using dir = await tempDir();
  const missing = new URL("img/999999.png", server.url).href;
  const flaky = new URL("img/2.png?fail=2&status=503", server.url).href;
  const results = await collect(download([missing, flaky], { out: dir.path, workers: 1 }));
  const byUrl = new Map(results.map((r) => [r.url, r]));
  const notFound = byUrl.get(missing)!;
  assert.equal(notFound.ok, false);
  assert.equal(notFound.status, 404);
  assert.equal(notFound.reason, "http");
  assert.equal(notFound.attempts, 1);
  assert.match(notFound.error!, /404/);
  const recovered = byUrl.get(flaky)!;
  assert.equal(recovered.ok, true, recovered.error);
  assert.equal(recovered.attempts, 3);
  assert.deepEqual(await Deno.readFile(`${dir.path}/${recovered.path}`), await syntheticPng(2));
});

Deno.test("a body cut short never appears under its final name", async () => {
  await using server = await serve({ images: 1 });
  await using dir = await tempDir();
  const url = new URL("img/0.png?truncate=100", server.url).href;
  const [result] = await collect(download([url], { out: dir.path, workers: 1, retries: 0 }));
  assert.equal(result!.ok, false);
  assert.ok(result!.reason === "network" || result!.reason === "length-mismatch", result!.reason);
  assert.deepEqual(await listFiles(dir.path), []);
});

Deno.test("large bodies stream to disk intact", async () => {
  await using server = await serve();
  await using dir = await tempDir();
  const length = 5 * 1024 * 1024 + 123;
  const url = new URL(`big.bin?length=${length}`, server.url).href;
  const [result] = await collect(download([url], { out: dir.path, workers: 1 }));
  assert.equal(result!.ok, true, result!.error);
  assert.equal(result!.bytes, length);
  const saved = await Deno.readFile(`${dir.path}/big.bin`);
  const expected = new Uint8Array(await (await fetch(url)).arrayBuffer());
  assert.deepEqual(saved, expected);
});

Deno.test("perHost caps the downloads in flight to one host across all workers", async () => {
  await using server = await serve({ images: 30, latencyMs: 30 });
  await using dir = await tempDir();
  const urls = Array.from({ length: 30 }, (_, i) => new URL(`img/${i}.png`, server.url));
  const summary = await summarize(
    download(urls, { out: dir.path, workers: 2, concurrency: 8, perHost: 3 }),
  );
  assert.equal(summary.saved, 30);
  assert.ok(server.stats.maxInflight <= 3, `max in flight was ${server.stats.maxInflight}`);
  assert.ok(server.stats.maxInflight >= 2, "downloads did run in parallel");
});

Deno.test("breaking out of the loop stops the run and leaves no partial file", async () => {
  await using server = await serve({ images: 4 });
  await using dir = await tempDir();
  const fast = new URL("img/0.png", server.url).href;
  const stalled = Array.from(
    { length: 4 },
    (_, i) => new URL(`img/${i}.png?stall=2000&s=${i}`, server.url).href,
  );
  for await (
    const result of download([fast, ...stalled], {
      out: dir.path,
      workers: 2,
      concurrency: 4,
      perHost: 8,
    })
  ) {
    assert.equal(result.url, fast);
    break;
  }
  assert.deepEqual(await listFiles(dir.path), ["0.png"]);
});

Deno.test("aborting the signal stops the run with the abort reason", async () => {
  await using server = await serve({ images: 4 });
  await using dir = await tempDir();
  const stalled = Array.from(
    { length: 4 },
    (_, i) => new URL(`img/${i}.png?stall=5000`, server.url).href,
  );
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error("enough")), 300);
  await assert.rejects(
    collect(
      download(stalled, { out: dir.path, workers: 2, perHost: 8, signal: controller.signal }),
    ),
    { message: "enough" },
  );
  assert.deepEqual(await listFiles(dir.path), []);
});

Deno.test("an abort while the run starts up, or an input that throws at once, ends it cleanly", async () => {
  await using server = await serve({ images: 4 });
  await using dir = await tempDir();
  const urls = [0, 1, 2, 3].map((i) => new URL(`img/${i}.png`, server.url).href);
  const controller = new AbortController();
  const run = download(urls, { out: dir.path, workers: 2, signal: controller.signal });
  const first = run.next();
  // While the output directory and the journal are being prepared.
  queueMicrotask(() => controller.abort(new Error("early")));
  await assert.rejects(first, { message: "early" });
  assert.deepEqual(await listFiles(dir.path), [], "nothing was downloaded");

  const broken: Iterable<string> = {
    [Symbol.iterator]() {
      throw new Error("the input is broken");
    },
  };
  // The workers are terminated and the journal closed: --trace-leaks would say otherwise.
  await assert.rejects(collect(download(broken, { out: dir.path, workers: 2 })), {
    message: "the input is broken",
  });
});

Deno.test("the input is pulled lazily: an endless source is fine", async () => {
  await using server = await serve({ images: 10 });
  await using dir = await tempDir();
  let pulled = 0;
  function* endless() {
    for (let i = 0;; i++) {
      pulled++;
      yield new URL(`img/${i % 10}.png?n=${i}`, server.url);
    }
  }
  let seen = 0;
  for await (const result of download(endless(), { out: dir.path, workers: 1, concurrency: 2 })) {
    assert.equal(result.ok, true, result.error);
    if (++seen === 20) break;
  }
  assert.ok(pulled < 5000, `pulled ${pulled} URLs for 20 results`);
});
