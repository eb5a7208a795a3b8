/**
 * The output directory, with its journal, is the unit of consistency: runs, retries and shards
 * are writers to it. Real processes of the command, a real server, real files.
 */

import assert from "node:assert/strict";
import { JOURNAL_NAME } from "../src/journal.ts";
import { syntheticPng } from "../testing/png.ts";
import { CLI, listFiles, localServer, tempDir } from "./helpers.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function command(args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
}

async function cli(args: string[]): Promise<Run> {
  const { code, stdout, stderr } = await command(args).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

function lines(text: string): Record<string, unknown>[] {
  return text.trim().split("\n").filter((line) => line !== "").map((line) => JSON.parse(line));
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Serves `/<i>/<anything>` as PNG number `i` (or number `i + 1000` while `state.wrong` has `i`), so that
 * many URLs share a basename; `?status=N` answers N; each answer waits `state.latency` ms.
 */
function imageServer(state = { wrong: new Set<number>(), latency: 0 }) {
  return localServer(async (request) => {
    const url = new URL(request.url);
    const status = url.searchParams.get("status");
    if (status) return new Response("no", { status: Number(status) });
    const latency = state.latency;
    if (latency) await new Promise((resolve) => setTimeout(resolve, latency));
    const index = Number(/^\/(\d+)\//.exec(url.pathname)?.[1] ?? 0);
    const body = await syntheticPng(state.wrong.has(index) ? index + 1000 : index);
    return new Response(body, { headers: { "content-type": "image/png" } });
  });
}

/** The files of `dir` but the journal, each with its bytes. */
async function snapshot(dir: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for (const name of await listFiles(dir, [JOURNAL_NAME])) {
    files.set(name, await Deno.readFile(`${dir}/${name}`));
  }
  return files;
}

function assertSameFiles(actual: Map<string, Uint8Array>, expected: Map<string, Uint8Array>) {
  assert.deepEqual([...actual.keys()], [...expected.keys()]);
  for (const [name, bytes] of expected) assert.ok(same(actual.get(name)!, bytes), name);
}

Deno.test("a later list's URL with the same basename gets a suffix; the earlier URL keeps its name", async () => {
  await using server = imageServer();
  await using dir = await tempDir("downpour-dir-");
  const out = `${dir.path}/out`;
  const first = `${server.origin}/1/x.png`;
  const second = `${server.origin}/2/x.png`;

  assert.equal((await cli(["-o", out, "-q", first])).code, 0);
  const later = await cli(["-o", out, "-q", "--json", second]);
  assert.equal(later.code, 0, later.stderr);
  const [result] = lines(later.stdout);
  assert.match(String(result!.path), /^x-[0-9a-f]{8}\.png$/, "the later URL goes around x.png");
  assert.ok(same(await Deno.readFile(`${out}/x.png`), await syntheticPng(1)), "x.png is kept");
  assert.ok(same(await Deno.readFile(`${out}/${result!.path}`), await syntheticPng(2)));

  // Re-runs, in either order, keep each URL's name and fetch nothing.
  for (const list of [[first], [second, first]]) {
    const again = await cli(["-o", out, "-q", "--json", ...list]);
    assert.equal(again.code, 0, again.stderr);
    const results = lines(again.stdout);
    assert.deepEqual(results.map((r) => r.skipped), list.map(() => "journal"));
    const byUrl = new Map(results.map((r) => [r.url, r.path]));
    assert.equal(byUrl.get(first), "x.png");
    if (list.length === 2) assert.equal(byUrl.get(second), result!.path);
  }
  assert.deepEqual(await listFiles(out, [JOURNAL_NAME]), [result!.path, "x.png"].sort());
});

Deno.test("--retry-failed replays each failure as given: same name, same sha256, same columns", async () => {
  const state = { wrong: new Set([3]), latency: 0 };
  await using server = imageServer(state);
  await using dir = await tempDir("downpour-dir-");
  const out = `${dir.path}/out`;
  const list = `${dir.path}/list.csv`;
  const url = `${server.origin}/3/x.png`;
  const other = `${server.origin}/4/x.png`;
  const digest = await sha256(await syntheticPng(3));
  await Deno.writeTextFile(list, `url,name,sha256\n${url},wanted.png,${digest}\n`);

  // The server sends the wrong bytes: the checksum fails, nothing is saved.
  const run = await cli(["-o", out, "-q", "-i", list]);
  assert.equal(run.code, 1);
  assert.deepEqual(await listFiles(out, [JOURNAL_NAME]), []);
  // Another run takes "x.png" (the URL's basename) and would take "wanted.png" if it could.
  assert.equal((await cli(["-o", out, "-q", other])).code, 0);

  // Still the wrong bytes: it fails again, on its checksum, under the name it wanted.
  const again = await cli(["-o", out, "-q", "--json", "--retry-failed"]);
  assert.equal(again.code, 1, again.stderr);
  const [failure] = lines(again.stdout);
  assert.equal(failure!.reason, "checksum");
  assert.deepEqual(await listFiles(out, [JOURNAL_NAME]), ["x.png"]);

  // The right bytes: saved under the wanted name, checked; the other URL's file is untouched.
  state.wrong.clear();
  const fixed = await cli(["-o", out, "-q", "--json", "--retry-failed"]);
  assert.equal(fixed.code, 0, fixed.stderr);
  const [saved] = lines(fixed.stdout);
  assert.equal(saved!.path, "wanted.png");
  assert.equal(saved!.sha256, digest);
  assert.ok(same(await Deno.readFile(`${out}/wanted.png`), await syntheticPng(3)));
  assert.ok(same(await Deno.readFile(`${out}/x.png`), await syntheticPng(4)));
  // Nothing is left to retry.
  const none = await cli(["-o", out, "-q", "--json", "--retry-failed"]);
  assert.equal(none.code, 0, none.stderr);
  assert.equal(none.stdout.trim(), "");
});

Deno.test("shards in parallel into one directory end with the unsharded run's names; kill -9 of one, then a re-run completes", async () => {
  const state = { wrong: new Set<number>(), latency: 0 };
  await using server = imageServer(state);
  await using dir = await tempDir("downpour-dir-");
  // 240 URLs, 8 basenames: most names need a suffix, decided by the URLs before them.
  const urls = Array.from(
    { length: 240 },
    (_, i) => `${server.origin}/${i}/x${i % 8}.png`,
  );
  const list = `${dir.path}/list.txt`;
  await Deno.writeTextFile(list, urls.join("\n") + "\n");
  const whole = `${dir.path}/whole`;
  assert.equal((await cli(["-o", whole, "-q", "-i", list])).code, 0);
  const expected = await snapshot(whole);
  assert.equal(expected.size, 240);

  const shards = `${dir.path}/shards`;
  const runs = await Promise.all(
    [0, 1, 2].map((k) => cli(["-o", shards, "-q", "-i", list, "--shard", `${k}/3`])),
  );
  for (const run of runs) assert.equal(run.code, 0, run.stderr);
  assertSameFiles(await snapshot(shards), expected);

  // Again into a fresh directory, slowly; one shard is killed in the middle of its run.
  state.latency = 40;
  const crashed = `${dir.path}/crashed`;
  const children = [0, 1, 2].map((k) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        CLI,
        "-o",
        crashed,
        "-q",
        "--json",
        "-i",
        list,
        "--shard",
        `${k}/3`,
        "-c",
        "2",
      ],
      stdout: "piped",
      stderr: "null",
    }).spawn()
  );
  for (let i = 0; i < 400; i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    const count = await listFiles(crashed).then((files) => files.length, () => 0);
    if (count > 30) break;
  }
  children[1]!.kill("SIGKILL");
  const [first, killed, last] = await Promise.all(children.map((child) => child.output()));
  assert.equal(killed!.signal, "SIGKILL");
  assert.equal(first!.code, 0);
  assert.equal(last!.code, 0);
  // The shards split the list by a hash of each URL, so their shares are not exactly a third.
  const survived = [first!, last!].flatMap((run) => lines(new TextDecoder().decode(run.stdout)))
    .filter((result) => result.ok).length;
  assert.ok(survived > 100, `the two shards that ended saved ${survived}`);
  const partial = await snapshot(crashed);
  assert.ok(partial.size < 240, `${partial.size} files before the re-run`);
  for (const [name, bytes] of partial) {
    if (name.startsWith(".")) continue; // a temporary file of the killed shard
    assert.ok(expected.has(name), `${name} is a name of the unsharded run`);
    assert.ok(same(bytes, expected.get(name)!), name);
  }
  // An unsharded re-run skips what the shards saved and completes the rest, with the same names.
  const rerun = await cli(["-o", crashed, "-q", "--json", "-i", list]);
  assert.equal(rerun.code, 0, rerun.stderr);
  const skipped = lines(rerun.stdout).filter((r) => r.skipped === "journal").length;
  assert.ok(
    skipped >= survived,
    `${skipped} skipped as saved by the shards, of the ${survived} the two that ended saved`,
  );
  assertSameFiles(await snapshot(crashed), expected);
});

Deno.test("two processes running the same list into one directory at once: both exit 0, every file whole", async () => {
  await using server = imageServer();
  await using dir = await tempDir("downpour-dir-");
  const urls = Array.from({ length: 120 }, (_, i) => `${server.origin}/${i}/x${i % 4}.png`);
  const list = `${dir.path}/list.txt`;
  await Deno.writeTextFile(list, urls.join("\n") + "\n");
  const whole = `${dir.path}/whole`;
  assert.equal((await cli(["-o", whole, "-q", "-i", list])).code, 0);
  const expected = await snapshot(whole);

  const out = `${dir.path}/out`;
  const runs = await Promise.all([0, 1].map(() => cli(["-o", out, "-q", "-i", list])));
  for (const run of runs) assert.equal(run.code, 0, run.stderr);
  assertSameFiles(await snapshot(out), expected);
});

Deno.test("a password in a URL is used for the fetch, never written: journal, --json, --report", async () => {
  await using server = localServer(async (request) => {
    if (request.headers.get("authorization") !== `Basic ${btoa("user:s3cret")}`) {
      return new Response("who?", { status: 401 });
    }
    if (new URL(request.url).pathname === "/missing.png") {
      return new Response("no", { status: 404 });
    }
    return new Response(await syntheticPng(5), { headers: { "content-type": "image/png" } });
  });
  await using dir = await tempDir("downpour-dir-");
  const out = `${dir.path}/out`;
  const report = `${dir.path}/report.json`;
  const origin = server.origin.replace("http://", "http://user:s3cret@");
  const urls = [`${origin}/cat.png`, `${origin}/missing.png`];

  const run = await cli(["-o", out, "-q", "--json", "--report", report, ...urls]);
  assert.equal(run.code, 1, run.stderr);
  assert.ok(same(await Deno.readFile(`${out}/cat.png`), await syntheticPng(5)));
  const written = {
    journal: await Deno.readTextFile(`${out}/${JOURNAL_NAME}`),
    json: run.stdout,
    stderr: run.stderr,
    report: await Deno.readTextFile(report),
  };
  for (const [where, text] of Object.entries(written)) {
    assert.ok(!text.includes("s3cret"), `${where} holds the password: ${text}`);
  }
  assert.ok(written.json.includes("user:***@"), written.json);

  // The journal still knows the URL: a re-run skips it, by its redacted identity.
  const again = await cli(["-o", out, "-q", "--json", urls[0]!]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(lines(again.stdout)[0]!.skipped, "journal");
  // A failure cannot be replayed without its password: it says so.
  const retry = await cli(["-o", out, "-q", "--retry-failed"]);
  assert.equal(retry.code, 1);
  assert.match(retry.stderr, /does not keep passwords; give its list again/);
  assert.ok(!retry.stderr.includes("s3cret"));
});

Deno.test("a v1 journal (the format before names were recorded) is still read", async () => {
  await using server = imageServer();
  await using dir = await tempDir("downpour-dir-");
  const out = `${dir.path}/out`;
  await Deno.mkdir(out);
  const saved = `${server.origin}/6/x.png`;
  const failed = `${server.origin}/7/y.png`;
  const png = await syntheticPng(6);
  await Deno.writeFile(`${out}/x.png`, png);
  // As the journal of v1 wrote them: no header, no name, failures without a path, a cut line.
  await Deno.writeTextFile(
    `${out}/${JOURNAL_NAME}`,
    [
      JSON.stringify({
        url: saved,
        ok: true,
        at: "2025-01-01T00:00:00.000Z",
        path: "x.png",
        bytes: png.length,
      }),
      JSON.stringify({
        url: failed,
        ok: false,
        at: "2025-01-01T00:00:00.000Z",
        status: 503,
        reason: "http",
      }),
      '{"url":"http://cut',
    ].join("\n"),
  );

  // The saved URL is skipped; another URL named x.png goes around it.
  const other = `${server.origin}/8/x.png`;
  const run = await cli(["-o", out, "-q", "--json", saved, other]);
  assert.equal(run.code, 0, run.stderr);
  const [first, second] = lines(run.stdout).sort((a, b) =>
    String(a.url).localeCompare(String(b.url))
  );
  assert.equal(first!.skipped, "journal");
  assert.match(String(second!.path), /^x-[0-9a-f]{8}\.png$/);
  assert.ok(same(await Deno.readFile(`${out}/x.png`), png));

  // The v1 failure is retried.
  const retry = await cli(["-o", out, "-q", "--json", "--retry-failed"]);
  assert.equal(retry.code, 0, retry.stderr);
  assert.deepEqual(lines(retry.stdout).map((r) => [r.url, r.path]), [[failed, "y.png"]]);
});

Deno.test("a whole file at its name with no record (a writer killed before journaling it) is `exists`, recorded, and skipped by the next run without a request", async () => {
  let requests = 0;
  await using server = localServer(async () => {
    requests++;
    return new Response(await syntheticPng(3), { headers: { "content-type": "image/png" } });
  });
  await using dir = await tempDir("downpour-dir-");
  const out = `${dir.path}/out`;
  await Deno.mkdir(out);
  await Deno.writeFile(`${out}/cat.png`, await syntheticPng(3));
  const url = `${server.origin}/cat.png`;

  const first = await cli(["-o", out, "-q", "--json", url]);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(lines(first.stdout)[0]!.skipped, "exists");
  assert.equal(requests, 1);
  const records = lines(await Deno.readTextFile(`${out}/${JOURNAL_NAME}`)).filter((r) =>
    "url" in r
  );
  assert.deepEqual(records.map((r) => [r.url, r.ok, r.name]), [[url, true, "cat.png"]]);

  const second = await cli(["-o", out, "-q", "--json", url]);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(lines(second.stdout)[0]!.skipped, "journal");
  assert.equal(requests, 1, "the second run asked the server again");
});

Deno.test("a password in a text that is not a URL is never written either: --json, stderr, journal, --report", async () => {
  await using dir = await tempDir("downpour-dir-");
  const inputs = ["//user:s3cret@127.0.0.1:1/x.png", "user:s3cret@example.com/x.png"];
  const list = `${dir.path}/list.txt`;
  await Deno.writeTextFile(list, inputs.join("\n") + "\n");
  for (const args of [inputs, ["-i", list]]) {
    const out = `${dir.path}/out-${args.length}`;
    const report = `${out}.report.json`;
    const run = await cli(["-o", out, "--json", "--report", report, ...args]);
    assert.equal(run.code, 1, run.stderr);
    const results = lines(run.stdout);
    assert.equal(results.length, 2);
    for (const result of results) assert.equal(result.reason, "invalid-url");
    assert.match(
      String(results[0]!.error),
      /write it as "https:\/\/user:\*\*\*@127\.0\.0\.1:1\/x\.png"/,
    );
    assert.equal(results[1]!.url, "user:***@example.com/x.png");
    const written = {
      json: run.stdout,
      stderr: run.stderr,
      report: await Deno.readTextFile(report),
      journal: await Deno.readTextFile(`${out}/${JOURNAL_NAME}`).catch(() => ""),
    };
    for (const [where, text] of Object.entries(written)) {
      assert.ok(!text.includes("s3cret"), `${where} holds the password: ${text}`);
    }
  }
});
