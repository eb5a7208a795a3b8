import assert from "node:assert/strict";
import { DiskFullError, download, type DownloadResult } from "../mod.ts";
import { serve } from "../server.ts";
import { JOURNAL_NAME } from "../src/journal.ts";
import { syntheticPng } from "../testing/png.ts";
import { CLI, collect, listFiles, tempDir } from "./helpers.ts";

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

Deno.test("fault soak: 5,000 URLs through 503s, 500s, 429s, cut and stalled bodies", async () => {
  await using server = await serve({
    images: 5000,
    minBytes: 2000,
    maxBytes: 6000,
    p503: 0.1,
    p500: 0.02,
    p429: 0.001, // each one holds back the whole host for its Retry-After
    retryAfter: 1,
    pTruncate: 0.05,
    pStall: 0.02,
    pRedirect: 0.02,
  });
  await using dir = await tempDir("downpour-soak-");
  const urls = Array.from({ length: 5000 }, (_, i) => new URL(`img/${i}.png`, server.url).href);
  const started = performance.now();
  const results = await collect(
    download(urls, {
      out: dir.path,
      concurrency: 16,
      perHost: 32,
      retries: 6,
      idleTimeout: 1000,
      headersTimeout: 5000,
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  assert.equal(results.length, 5000);
  assert.ok(seconds < 120, `the run ended by itself, in ${seconds.toFixed(1)} s`);
  const failed = results.filter((r) => !r.ok);
  for (const failure of failed) {
    assert.ok(failure.reason && failure.error, JSON.stringify(failure));
  }
  // With 6 retries every file the server can deliver arrives; allow a handful of unlucky ones.
  assert.ok(failed.length <= 5, `${failed.length} failed: ${JSON.stringify(failed.slice(0, 3))}`);
  assert.ok(results.some((r) => r.attempts > 1), "faults did happen and were retried");
  const saved = results.filter((r) => r.ok);
  for (const result of saved) {
    const index = Number(/img\/(\d+)\.png/.exec(result.url)![1]);
    const bytes = await Deno.readFile(`${dir.path}/${result.path}`);
    assert.ok(
      same(bytes, await syntheticPng(index, { minBytes: 2000, maxBytes: 6000 })),
      result.path,
    );
  }
  const files = await listFiles(dir.path);
  assert.deepEqual(
    files.filter((name) => name !== JOURNAL_NAME),
    saved.map((r) => r.path!).sort(),
    "no partial or temporary file is left",
  );
});

Deno.test("hostile server: each trick fails with its own error and nothing escapes", async () => {
  await using server = await serve({ images: 2 });
  await using parent = await tempDir("downpour-hostile-");
  const out = `${parent.path}/out`;
  const url = (query: string) => new URL(`img/1.png?${query}`, server.url).href;
  const cases = {
    file: url("redirect-to=file:///etc/passwd"),
    loop: url("redirect-loop=1"),
    endless: url("endless=1"),
    bomb: url("gzip-bomb=64"),
    html: url("html=1"),
    disposition: new URL("img/0.png?disposition=../../evil.png", server.url).href,
    traversal: new URL("img/..%2f..%2fescape.png", server.url).href,
  };
  const results = await collect(
    download(Object.values(cases), { out, maxBytes: 4 * 1024 * 1024, retries: 0 }),
  );
  const by = (key: keyof typeof cases) => results.find((r) => r.url === cases[key])!;
  assert.equal(by("file").reason, "redirect");
  assert.match(by("file").error!, /file:/);
  assert.equal(by("loop").reason, "redirect");
  assert.match(by("loop").error!, /redirects/);
  assert.equal(by("endless").reason, "too-large");
  assert.equal(by("bomb").reason, "too-large");
  assert.equal(by("html").reason, "not-image");
  assert.match(by("html").error!, /HTML/);
  // Content-Disposition never names the file: the requested URL does.
  assert.equal(by("disposition").ok, true, by("disposition").error);
  assert.equal(by("disposition").path, "0.png");
  // A traversal in the URL becomes a harmless name inside `out` (the server may 404 it).
  const traversal = by("traversal");
  if (traversal.ok) assert.ok(!traversal.path!.includes("/"), traversal.path);
  assert.deepEqual(
    await listFiles(parent.path),
    traversal.ok
      ? [`out/${traversal.path}`, "out/0.png", `out/${JOURNAL_NAME}`].sort()
      : [`out/${JOURNAL_NAME}`, "out/0.png"],
  );
});

Deno.test("a re-run skips what is saved; --retry-failed fetches only what failed", async () => {
  await using server = await serve({ images: 20 });
  await using dir = await tempDir("downpour-rerun-");
  const urls = Array.from({ length: 20 }, (_, i) => new URL(`img/${i}.png`, server.url).href);
  urls.push(new URL("img/0.png?status=404", server.url).href);
  const first = await collect(download(urls, { out: dir.path }));
  assert.equal(first.filter((r) => r.ok).length, 20);
  const requests = server.stats.requests;
  const second = await collect(download(urls, { out: dir.path }));
  assert.equal(second.filter((r) => r.skipped === "journal").length, 20);
  assert.equal(server.stats.requests, requests + 1, "only the failed URL was asked again");
  // A file deleted by hand is fetched again.
  await Deno.remove(`${dir.path}/3.png`);
  const third = await collect(download(urls, { out: dir.path }));
  const refetched = third.filter((r) => r.ok && !r.skipped);
  assert.deepEqual(refetched.map((r) => r.path), ["3.png"]);

  const retry = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "-o", dir.path, "--retry-failed", "--json"],
    stdout: "piped",
    stderr: "piped",
  });
  const { code, stdout } = await retry.output();
  assert.equal(code, 1);
  const lines = new TextDecoder().decode(stdout).trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.url), [urls[20]]);
});

Deno.test("kill -9 in the middle of a run, then a re-run: complete and identical", async () => {
  await using server = await serve({ images: 3000, latencyMs: 2 });
  await using dir = await tempDir("downpour-crash-");
  const list = `${dir.path}/urls.txt`;
  await Deno.writeTextFile(
    list,
    Array.from({ length: 3000 }, (_, i) => new URL(`img/${i}.png`, server.url).href).join("\n"),
  );
  const out = `${dir.path}/out`;
  const args = ["run", "-A", CLI, "-i", list, "-o", out, "-q", "--per-host", "16"];
  const child = new Deno.Command(Deno.execPath(), { args, stdout: "null", stderr: "null" })
    .spawn();
  // Kill it once some, but not all, files are saved.
  for (let i = 0; i < 400; i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    let count = 0;
    try {
      for await (const _ of Deno.readDir(out)) count++;
    } catch { /* not created yet */ }
    if (count > 300) break;
  }
  child.kill("SIGKILL");
  const killed = await child.status;
  assert.equal(killed.signal, "SIGKILL");
  const before = (await listFiles(out)).filter((n) => !n.startsWith("."));
  assert.ok(before.length > 0 && before.length < 3000, `${before.length} saved before the kill`);
  // Whatever is under a final name is complete.
  for (const name of before) {
    const index = Number(name.replace(".png", ""));
    assert.ok(same(await Deno.readFile(`${out}/${name}`), await syntheticPng(index)), name);
  }
  const rerun = await new Deno.Command(Deno.execPath(), { args, stdout: "null", stderr: "piped" })
    .output();
  const stderr = new TextDecoder().decode(rerun.stderr);
  assert.equal(rerun.code, 0, stderr);
  assert.match(stderr, /already there/);
  const after = await listFiles(out);
  assert.deepEqual(
    after,
    [JOURNAL_NAME, ...Array.from({ length: 3000 }, (_, i) => `${i}.png`)].sort(),
  );
  for (let i = 0; i < 3000; i++) {
    assert.ok(same(await Deno.readFile(`${out}/${i}.png`), await syntheticPng(i)), `${i}.png`);
  }
});

async function canMountTmpfs(): Promise<boolean> {
  if (Deno.build.os !== "linux") return false;
  await using dir = await tempDir();
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir.path],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => ({ success: false }));
  if (!mount.success) return false;
  await new Deno.Command("umount", { args: [dir.path] }).output();
  return true;
}

Deno.test({
  name: "a full disk stops the run with DiskFullError; saved files and the journal stay whole",
  ignore: !(await canMountTmpfs()),
  async fn() {
    await using server = await serve({ images: 200, minBytes: 20_000, maxBytes: 30_000 });
    await using dir = await tempDir("downpour-full-");
    const out = dir.path;
    await new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", "size=1m", "tmpfs", out] })
      .output();
    try {
      const urls = Array.from({ length: 200 }, (_, i) => new URL(`img/${i}.png`, server.url));
      const results: DownloadResult[] = [];
      await assert.rejects(async () => {
        for await (const result of download(urls, { out, workers: 1 })) results.push(result);
      }, (error: Error) => {
        assert.ok(error instanceof DiskFullError, String(error));
        assert.match(error.message, /full/);
        return true;
      });
      const files = await listFiles(out);
      assert.ok(files.length > 3, `some files were saved: ${files.length}`);
      assert.ok(!files.some((name) => name.endsWith(".part")), "no partial file is left");
      for (const name of files) {
        if (name === JOURNAL_NAME) continue;
        const index = Number(name.replace(".png", ""));
        const expected = await syntheticPng(index, { minBytes: 20_000, maxBytes: 30_000 });
        assert.ok(same(await Deno.readFile(`${out}/${name}`), expected), name);
      }
      const journal = (await Deno.readTextFile(`${out}/${JOURNAL_NAME}`)).split("\n");
      for (const line of journal) {
        let entry;
        try {
          entry = JSON.parse(line);
        } catch {
          continue; // a line cut by the full disk
        }
        if (entry.ok) assert.equal((await Deno.stat(`${out}/${entry.path}`)).size, entry.bytes);
      }
    } finally {
      await new Deno.Command("umount", { args: [out] }).output();
    }
  },
});
