/**
 * Datasets: columns kept (captions, saved columns), Parquet lists, WebDataset and Parquet
 * shards with their metadata tables (read back by DuckDB, an independent reader), resizing,
 * kill -9 and a re-run, sharded processes into one place, and --retry-failed.
 */

import assert from "node:assert/strict";
import { serve } from "../server.ts";
import { syntheticPng } from "../testing/png.ts";
import { download } from "../mod.ts";
import { type ColumnSource, DuckDBInstance, parquetWriteBuffer } from "./npm_test_deps.ts";
import { imageInfo } from "../src/worker/image_info.ts";
import { CLI, collect, listFiles, localServer, tempDir } from "./helpers.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[]): Promise<Run> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "-q", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** Runs one query with DuckDB and returns its rows as JSON-like objects. */
async function query(sql: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** The names in a tar, by GNU tar; it fails on an invalid archive. */
async function tarNames(path: string): Promise<string[]> {
  const { code, stdout, stderr } = await new Deno.Command("tar", { args: ["-tf", path] }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return new TextDecoder().decode(stdout).trim().split("\n").filter((line) => line);
}

/** One member of a tar, by Python's tarfile (a second, independent reader). */
async function pythonMember(path: string, name: string): Promise<Uint8Array> {
  const script = "import sys, tarfile\n" +
    "t = tarfile.open(sys.argv[1])\n" +
    "sys.stdout.buffer.write(t.extractfile(sys.argv[2]).read())\n";
  const { code, stdout, stderr } = await new Deno.Command("python3", {
    args: ["-c", script, path, name],
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return stdout;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** A CSV list of `count` images of `server`, with a caption and a license column. */
function csvList(base: string | URL, count: number, query = (_i: number) => ""): string {
  const rows = ["link,text,license,other"];
  for (let i = 0; i < count; i++) {
    rows.push(`${new URL(`img/${i}.png${query(i)}`, base)},"a cat, number ${i}",cc-${i},x`);
  }
  return rows.join("\n") + "\n";
}

/** Writes `csvList(server.url, count, query)` to `list.csv` in `dir`; `out` is where to save. */
async function csvListIn(
  dir: string,
  base: string | URL,
  count: number,
  query?: (i: number) => string,
): Promise<{ list: string; out: string }> {
  const list = `${dir}/list.csv`;
  await Deno.writeTextFile(list, csvList(base, count, query));
  return { list, out: `${dir}/out` };
}

/** The flags of a WebDataset run of `list` (column `link`, caption `text` unless `caption` is false) into `out`. */
function webdatasetArgs(list: string, out: string, shardSize: number, caption = true): string[] {
  return [
    "-i",
    list,
    "-o",
    out,
    "--url-col",
    "link",
    ...(caption ? ["--caption-col", "text"] : []),
    "--output-format",
    "webdataset",
    "--shard-size",
    String(shardSize),
  ];
}

/** Keys of a webdataset directory's tars, each with the tar it is in. */
async function tarKeys(out: string): Promise<Map<string, string[]>> {
  const keys = new Map<string, string[]>();
  for (const name of (await listFiles(out)).filter((n) => /^\d{5}\.tar$/.test(n))) {
    for (const member of await tarNames(`${out}/${name}`)) {
      if (!member.endsWith(".png") && !member.endsWith(".jpg")) continue;
      const key = member.replace(/\.\w+$/, "");
      keys.set(key, [...keys.get(key) ?? [], name]);
    }
  }
  return keys;
}

Deno.test("files output: --url-col, --caption-col and --save-columns put NAME.txt and NAME.json beside each image", async () => {
  await using server = await serve({ images: 3 });
  await using dir = await tempDir("downpour-ds-");
  const { list, out } = await csvListIn(dir.path, server.url, 3);
  const run = await cli([
    "-i",
    list,
    "-o",
    out,
    "--url-col",
    "LINK",
    "--caption-col",
    "text",
    "--save-columns",
    "license",
  ]);
  assert.equal(run.code, 0, run.stderr);
  const files = (await listFiles(out)).filter((name) => !name.startsWith("."));
  assert.deepEqual(files, [0, 1, 2].flatMap((i) => [`${i}.png`, `${i}.png.json`, `${i}.png.txt`]));
  assert.equal(await Deno.readTextFile(`${out}/1.png.txt`), "a cat, number 1");
  const json = JSON.parse(await Deno.readTextFile(`${out}/1.png.json`));
  assert.equal(json.license, "cc-1");
  assert.equal(json.caption, "a cat, number 1");
  assert.equal(json.status, "success");
  assert.equal(json.mime, "image/png");
  const png = await syntheticPng(1);
  assert.equal(json.bytes, png.length);
  assert.deepEqual([json.width, json.height], [imageInfo(png).width, imageInfo(png).height]);
  assert.ok(json.width > 0);
});

Deno.test("a missing column is a usage error that names the columns the list has", async () => {
  await using dir = await tempDir("downpour-ds-");
  const csv = `${dir.path}/list.csv`;
  await Deno.writeTextFile(csv, "link,text\nhttp://127.0.0.1:9/a.png,cat\n");
  const out = `${dir.path}/out`;
  const noUrl = await cli(["-i", csv, "-o", out]);
  assert.equal(noUrl.code, 2, noUrl.stderr);
  assert.match(noUrl.stderr, /no 'url' column .*"link", "text"/);
  const noCaption = await cli(["-i", csv, "-o", out, "--url-col", "link", "--caption-col", "cap"]);
  assert.equal(noCaption.code, 2, noCaption.stderr);
  assert.match(noCaption.stderr, /no 'cap' column \(--caption-col\).*"link", "text"/);
  const jsonl = `${dir.path}/list.jsonl`;
  await Deno.writeTextFile(jsonl, '{"u": "http://127.0.0.1:9/a.png", "t": "cat"}\n');
  const noSaved = await cli(["-i", jsonl, "-o", out, "--url-col", "u", "--save-columns", "t,z"]);
  assert.equal(noSaved.code, 2, noSaved.stderr);
  assert.match(noSaved.stderr, /no 'z' field \(--save-columns\).*"u", "t"/);
});

/** Writes a Parquet list: `columns` as given, in one row group per `groupSize` rows. */
async function writeParquet(path: string, columns: ColumnSource[], groupSize = 1000) {
  const buffer = parquetWriteBuffer({
    columnData: columns,
    codec: "SNAPPY",
    rowGroupSize: groupSize,
  });
  await Deno.writeFile(path, new Uint8Array(buffer));
}

Deno.test("Parquet list, row group by row group, into a WebDataset with its metadata table", async () => {
  await using server = await serve({ images: 12 });
  await using dir = await tempDir("downpour-ds-");
  const list = `${dir.path}/list.parquet`;
  const urls = Array.from(
    { length: 12 },
    (_, i) => new URL(`img/${i}.png${i === 4 ? "?status=404" : ""}`, server.url).href,
  );
  await writeParquet(list, [
    { name: "URL", type: "STRING", data: urls },
    { name: "TEXT", type: "STRING", data: urls.map((_, i) => i === 7 ? null : `caption ${i}`) },
    { name: "width_hint", type: "INT32", data: urls.map((_, i) => i * 10) },
  ], 5);
  const out = `${dir.path}/out`;
  const run = await cli([
    "-i",
    list,
    "-o",
    out,
    "--url-col",
    "URL",
    "--caption-col",
    "TEXT",
    "--save-columns",
    "width_hint",
    "--output-format",
    "webdataset",
    "--shard-size",
    "5",
    "--retries",
    "0",
  ]);
  assert.equal(run.code, 1, run.stderr); // the 404
  const files = (await listFiles(out)).filter((name) => !name.startsWith("."));
  assert.deepEqual(files, [
    "00000.parquet",
    "00000.tar",
    "00000_stats.json",
    "00001.parquet",
    "00001.tar",
    "00001_stats.json",
    "00002.parquet",
    "00002.tar",
    "00002_stats.json",
  ]);
  const first = await tarNames(`${out}/00000.tar`);
  assert.deepEqual(
    first,
    [0, 1, 2, 3].flatMap((i) => {
      const key = `00000000${i}`;
      return [`${key}.png`, `${key}.json`, `${key}.txt`];
    }),
  );
  // Row 7 has no caption: no .txt.
  assert.ok(!(await tarNames(`${out}/00001.tar`)).includes("000010002.txt"));
  assert.ok(same(await pythonMember(`${out}/00001.tar`, "000010001.png"), await syntheticPng(6)));
  assert.equal(
    new TextDecoder().decode(await pythonMember(`${out}/00000.tar`, "000000003.txt")),
    "caption 3",
  );
  const sample = JSON.parse(
    new TextDecoder().decode(await pythonMember(`${out}/00002.tar`, "000020001.json")),
  );
  assert.equal(sample.key, "000020001");
  assert.equal(sample.width_hint, 110);
  assert.equal(sample.url, urls[11]);
  // Every input row is in the tables, the failure too, read by DuckDB.
  const rows = await query(
    `SELECT key, status, reason, http_status, caption, width_hint, bytes, width, mime
     FROM '${out}/0000*.parquet' ORDER BY key`,
  );
  assert.equal(rows.length, 12);
  assert.deepEqual(rows[4], {
    key: "000000004",
    status: "failed",
    reason: "http",
    http_status: 404,
    caption: "caption 4",
    width_hint: 40,
    bytes: "0",
    width: null,
    mime: null,
  });
  const png = await syntheticPng(9);
  assert.equal(rows[9]!.bytes, String(png.length));
  assert.equal(rows[9]!.width, imageInfo(png).width);
  assert.equal(rows[9]!.mime, "image/png");
  assert.equal(rows[7]!.caption, null);
  const stats = JSON.parse(await Deno.readTextFile(`${out}/00000_stats.json`));
  assert.equal(stats.count, 5);
  assert.equal(stats.successes, 4);
  assert.equal(stats.failed, 1);
  assert.deepEqual(stats.failures_by_reason, { http: 1 });
  // The loose samples are gone.
  assert.ok(!(await listFiles(out)).some((name) => name.startsWith(".downpour-samples")));
});

Deno.test("Parquet list problems: not Parquet, a URL column that is not text, a caption that is not text", async () => {
  await using server = await serve({ images: 2 });
  await using dir = await tempDir("downpour-ds-");
  const out = `${dir.path}/out`;
  const fake = `${dir.path}/fake.parquet`;
  await Deno.writeTextFile(fake, "url\nhttp://127.0.0.1:9/a.png\n");
  const notParquet = await cli(["-i", fake, "-o", out]);
  assert.equal(notParquet.code, 2, notParquet.stderr);
  assert.match(notParquet.stderr, /is not a Parquet file/);
  const numbers = `${dir.path}/numbers.parquet`;
  const urls = [0, 1].map((i) => new URL(`img/${i}.png`, server.url).href);
  await writeParquet(numbers, [
    { name: "url", type: "INT32", data: [1, 2] },
    { name: "link", type: "STRING", data: urls },
    { name: "caption", type: "INT32", data: [5, null] },
  ]);
  const wrongType = await cli(["-i", numbers, "-o", out]);
  assert.equal(wrongType.code, 2, wrongType.stderr);
  assert.match(wrongType.stderr, /'url' .* not text/);
  const badCaption = await cli([
    "-i",
    numbers,
    "-o",
    out,
    "--url-col",
    "link",
    "--caption-col",
    "caption",
  ]);
  assert.equal(badCaption.code, 1, badCaption.stderr);
  assert.match(badCaption.stderr, /row 1: the caption must be text, got a number/);
  assert.deepEqual((await listFiles(out)).filter((name) => !name.startsWith(".")), ["1.png"]);
});

Deno.test("parquet output: the images in a binary column beside the metadata, from download()", async () => {
  await using server = await serve({ images: 4 });
  await using dir = await tempDir("downpour-ds-");
  const input = [0, 1, 2, 3].map((i) => ({
    url: new URL(`img/${i}.png`, server.url).href,
    caption: `c${i}`,
    columns: { n: i, tag: i % 2 ? "odd" : "even" },
  }));
  const results = await collect(
    download(input, { out: dir.path, workers: 1, outputFormat: "parquet", shardSize: 3 }),
  );
  assert.equal(results.filter((r) => r.ok).length, 4);
  assert.deepEqual(results.map((r) => r.key).sort(), [
    "000000000",
    "000000001",
    "000000002",
    "000010000",
  ]);
  const rows = await query(
    `SELECT key, caption, n, tag, image FROM '${dir.path}/*.parquet' ORDER BY key`,
  );
  assert.equal(rows.length, 4);
  assert.deepEqual(rows.map((r) => [r.key, r.caption, r.n, r.tag]), [
    ["000000000", "c0", 0, "even"],
    ["000000001", "c1", 1, "odd"],
    ["000000002", "c2", 2, "even"],
    ["000010000", "c3", 3, "odd"],
  ]);
  const blob = await query(
    `SELECT hex(image) AS hex FROM '${dir.path}/00000.parquet' WHERE key = '000000002'`,
  );
  const hex = Array.from(await syntheticPng(2), (b) => b.toString(16).padStart(2, "0")).join("");
  assert.equal(String(blob[0]!.hex).toLowerCase(), hex);
});

Deno.test("resizing in the workers: border, keep-ratio and center-crop, and an image that does not decode", async () => {
  await using server = await serve({ images: 3 });
  const broken = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4, 5]);
  await using bad = localServer(() => new Response(broken));
  await using dir = await tempDir("downpour-ds-");
  const urls = [0, 1, 2].map((i) => new URL(`img/${i}.png`, server.url).href);
  const sizes = await Promise.all([0, 1, 2].map(async (i) => imageInfo(await syntheticPng(i))));
  for (const mode of ["border", "keep-ratio", "center-crop"] as const) {
    const out = `${dir.path}/${mode}`;
    const results = await collect(download([...urls, `${bad.origin}/bad.png`], {
      out,
      workers: 1,
      outputFormat: "webdataset",
      resizeMode: mode,
      imageSize: 32,
      encodeFormat: mode === "center-crop" ? "webp" : "jpg",
    }));
    const failed = results.filter((r) => !r.ok);
    assert.equal(failed.length, 1, mode);
    assert.equal(failed[0]!.reason, "image");
    assert.match(failed[0]!.error!, /does not decode/);
    const ext = mode === "center-crop" ? "webp" : "jpg";
    for (let i = 0; i < 3; i++) {
      const image = await pythonMember(`${out}/00000.tar`, `00000000${i}.${ext}`);
      const info = imageInfo(image);
      const { width: w, height: h } = sizes[i]!;
      if (mode === "keep-ratio") {
        // The short side is the size; the ratio is kept.
        assert.equal(Math.min(info.width!, info.height!), 32, `${mode} ${i}`);
        assert.ok(Math.abs(info.width! / info.height! - w! / h!) < 0.1);
      } else {
        assert.deepEqual([info.width, info.height], [32, 32], `${mode} ${i}`);
      }
      assert.equal(info.mime, ext === "jpg" ? "image/jpeg" : "image/webp");
    }
    const rows = await query(
      `SELECT key, status, width, height, original_width, original_height FROM '${out}/00000.parquet' ORDER BY key`,
    );
    assert.deepEqual(
      rows.map((r) => [r.original_width, r.original_height]).slice(0, 3),
      sizes.map((s) => [s.width, s.height]),
    );
    assert.equal(rows[3]!.status, "failed");
  }
});

Deno.test("--min-image-size and --max-aspect-ratio fail images by their header, without resizing", async () => {
  await using server = await serve({ images: 6 });
  await using dir = await tempDir("downpour-ds-");
  const sizes = await Promise.all(
    [0, 1, 2, 3, 4, 5].map(async (i) => imageInfo(await syntheticPng(i))),
  );
  const limit = Math.round(sizes.reduce((sum, s) => sum + Math.min(s.width!, s.height!), 0) / 6);
  const results = await collect(download(
    [0, 1, 2, 3, 4, 5].map((i) => new URL(`img/${i}.png`, server.url)),
    { out: dir.path, workers: 1, minImageSize: limit },
  ));
  for (const result of results) {
    const i = Number(new URL(result.url).pathname.match(/(\d+)\.png/)![1]);
    const small = Math.min(sizes[i]!.width!, sizes[i]!.height!) < limit;
    assert.equal(result.ok, !small, result.error);
    if (small) assert.equal(result.reason, "image");
  }
  assert.ok(results.some((r) => r.ok) && results.some((r) => !r.ok));
});

Deno.test("kill -9 during a WebDataset run, then a re-run: every tar valid, every sample in exactly one tar", async () => {
  const count = 400;
  await using server = await serve({ images: count, latencyMs: 5 });
  await using dir = await tempDir("downpour-ds-crash-");
  const { list, out } = await csvListIn(dir.path, server.url, count);
  const args = ["run", "-A", CLI, "-q", ...webdatasetArgs(list, out, 50), "--per-host", "4"];
  const child = new Deno.Command(Deno.execPath(), { args, stdout: "null", stderr: "null" }).spawn();
  // Kill it once a shard or two are written, before the end.
  for (let i = 0; i < 800; i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    const names = await listFiles(out).catch(() => [] as string[]);
    if (names.filter((name) => name.endsWith("_stats.json")).length >= 2) break;
  }
  child.kill("SIGKILL");
  assert.equal((await child.status).signal, "SIGKILL");
  const before = (await listFiles(out)).filter((name) => name.endsWith("_stats.json")).length;
  assert.ok(before >= 1 && before < count / 50, `${before} shards before the kill`);
  const requestsBefore = server.stats.requests;
  const rerun = await new Deno.Command(Deno.execPath(), { args, stdout: "null", stderr: "piped" })
    .output();
  assert.equal(rerun.code, 0, new TextDecoder().decode(rerun.stderr));
  // What was saved before the kill is not fetched again (but for what was in flight).
  const fetched = server.stats.requests - requestsBefore;
  assert.ok(fetched < count - before * 50 + 20, `${fetched} fetched again`);
  const keys = await tarKeys(out);
  assert.equal(keys.size, count);
  for (const [key, tars] of keys) assert.equal(tars.length, 1, `${key} in ${tars}`);
  for (const i of [0, 123, 399]) {
    const key = `${String(Math.floor(i / 50)).padStart(5, "0")}${String(i % 50).padStart(4, "0")}`;
    const tar = `${out}/${key.slice(0, 5)}.tar`;
    assert.ok(same(await pythonMember(tar, `${key}.png`), await syntheticPng(i)), key);
  }
  const rows = await query(
    `SELECT count(*) AS n, count(DISTINCT key) AS k FROM '${out}/*.parquet'`,
  );
  assert.deepEqual(rows[0], { n: String(count), k: String(count) });
  assert.ok(!(await listFiles(out)).some((name) => name.includes(".part")));
});

Deno.test("two processes with --shard 0/2 and 1/2 write disjoint whole shards into one place", async () => {
  const count = 60;
  await using server = await serve({ images: count });
  await using dir = await tempDir("downpour-ds-");
  const { list, out } = await csvListIn(dir.path, server.url, count);
  const common = webdatasetArgs(list, out, 10, false);
  const [a, b] = await Promise.all([
    cli([...common, "--shard", "0/2"]),
    cli([...common, "--shard", "1/2"]),
  ]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const tars = (await listFiles(out)).filter((name) => name.endsWith(".tar"));
  assert.deepEqual(tars, [
    "00000.tar",
    "00001.tar",
    "00002.tar",
    "00003.tar",
    "00004.tar",
    "00005.tar",
  ]);
  const keys = await tarKeys(out);
  assert.equal(keys.size, count);
  for (const [key, where] of keys) {
    assert.deepEqual(where, [`${key.slice(0, 5)}.tar`]);
  }
});

Deno.test("--retry-failed on a WebDataset output fills in the failed samples, without duplicating a key", async () => {
  const count = 12;
  await using server = await serve({ images: count });
  await using dir = await tempDir("downpour-ds-");
  // Rows 2, 7 and 8 fail once (503), then work.
  const { list, out } = await csvListIn(
    dir.path,
    server.url,
    count,
    (i) => [2, 7, 8].includes(i) ? "?fail=1&status=503" : "",
  );
  const args = [...webdatasetArgs(list, out, 5), "--retries", "0"];
  const first = await cli(args);
  assert.equal(first.code, 1, first.stderr);
  assert.equal((await tarKeys(out)).size, count - 3);
  const noList = await cli(["-o", out, "--output-format", "webdataset", "--retry-failed"]);
  assert.equal(noList.code, 2, noList.stderr);
  const retry = await cli([...args, "--retry-failed", "--json"]);
  assert.equal(retry.code, 0, retry.stderr);
  // Only the failed rows were fetched; the others came from the shards (unpacked).
  const fetched = retry.stdout.trim().split("\n").map((line) => JSON.parse(line))
    .filter((result) => !result.skipped);
  assert.deepEqual(fetched.map((r) => r.key).sort(), ["000000002", "000010002", "000010003"]);
  const keys = await tarKeys(out);
  assert.equal(keys.size, count);
  for (const [key, tars] of keys) assert.equal(tars.length, 1, `${key} in ${tars}`);
  for (const tar of ["00000.tar", "00001.tar"]) {
    const names = await tarNames(`${out}/${tar}`);
    assert.equal(new Set(names).size, names.length, `${tar} has a name twice`);
  }
  assert.ok(same(await pythonMember(`${out}/00001.tar`, "000010002.png"), await syntheticPng(7)));
  const rows = await query(`SELECT status, count(*) AS n FROM '${out}/*.parquet' GROUP BY status`);
  assert.deepEqual(rows, [{ status: "success", n: String(count) }]);
  // The shard without failures was left alone.
  const stats = JSON.parse(await Deno.readTextFile(`${out}/00002_stats.json`));
  assert.equal(stats.successes, 2);
});
