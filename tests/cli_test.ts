import assert from "node:assert/strict";
import { serve } from "../server.ts";
import { syntheticPng } from "../testing/png.ts";
import { CLI, tempDir } from "./helpers.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], stdin?: string): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

Deno.test("--help shows the usage and the install line, and exits 0", async () => {
  const run = await cli(["--help"]);
  assert.equal(run.code, 0);
  assert.match(run.stdout, /Usage: downpour/);
  assert.match(run.stdout, /deno install -g/);
  assert.match(run.stdout, /--per-host/);
});

Deno.test("usage errors exit 2 with a message that says what to fix", async () => {
  const unknown = await cli(["--frobnicate"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /frobnicate/);

  const workers = await cli(["--workers", "zero", "http://127.0.0.1:9/a.png"]);
  assert.equal(workers.code, 2);
  assert.match(workers.stderr, /--workers must be a positive whole number, got 'zero'/);

  const nothing = await cli([]);
  assert.equal(nothing.code, 2);
  assert.match(nothing.stderr, /give URLs/);

  const missing = await cli(["-i", "/nonexistent/list.txt"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read the input '\/nonexistent\/list.txt'/);
});

Deno.test("--digest puts each file's SHA-256 in the JSON results and the journal; without it, neither", async () => {
  await using server = await serve({ images: 3 });
  await using dir = await tempDir("downpour-cli-");
  const urls = [0, 1, 2].map((i) => new URL(`img/${i}.png`, server.url).href);
  const expected = new Map<string, string>();
  for (const [i, url] of urls.entries()) {
    const digest = await crypto.subtle.digest("SHA-256", await syntheticPng(i));
    expected.set(
      url,
      Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join(""),
    );
  }
  for (const digest of [true, false]) {
    const out = `${dir.path}/${digest}`;
    const run = await cli(["-o", out, "--json", "-q", ...(digest ? ["--digest"] : []), ...urls]);
    assert.equal(run.code, 0, run.stderr);
    const results = run.stdout.trim().split("\n").map((line) => JSON.parse(line));
    const journal = (await Deno.readTextFile(`${out}/.downpour-journal.jsonl`)).split("\n")
      .filter((line) => line !== "").map((line) => JSON.parse(line)).filter((entry) =>
        !("downpour-journal" in entry)
      );
    assert.equal(results.length, 3);
    assert.equal(journal.length, 3);
    for (const entry of [...results, ...journal]) {
      assert.equal(entry.sha256, digest ? expected.get(entry.url) : undefined, entry.url);
    }
  }
});

Deno.test("an output directory that cannot be created is a usage error", async () => {
  await using dir = await tempDir("downpour-cli-");
  await Deno.writeTextFile(`${dir.path}/file`, "x");
  const run = await cli(["-o", `${dir.path}/file/sub`, "http://127.0.0.1:9/a.png"]);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /output directory/);
});

Deno.test("a list file downloads every URL, prints JSON lines, and exits 0", async () => {
  await using server = await serve({ images: 25 });
  await using dir = await tempDir("downpour-cli-");
  const list = `${dir.path}/urls.txt`;
  const urls = Array.from({ length: 25 }, (_, i) => new URL(`img/${i}.png`, server.url).href);
  await Deno.writeTextFile(list, `# my list\n\n${urls.join("\n")}\n`);
  const run = await cli(["-i", list, "-o", `${dir.path}/out`, "--json", "-q"]);
  assert.equal(run.code, 0, run.stderr);
  const lines = run.stdout.trim().split("\n").map((line) => JSON.parse(line));
  assert.equal(lines.length, 25);
  for (const line of lines) {
    assert.equal(line.ok, true);
    assert.ok(urls.includes(line.url));
    assert.equal(typeof line.ms, "number");
  }
  for (let i = 0; i < 25; i++) {
    assert.deepEqual(await Deno.readFile(`${dir.path}/out/${i}.png`), await syntheticPng(i));
  }
  assert.match(run.stderr, /25 saved/);
});

Deno.test("stdin input: bad lines are reported with their line number, the rest download, exit 1", async () => {
  await using server = await serve({ images: 3 });
  await using dir = await tempDir("downpour-cli-");
  const good = [0, 1, 2].map((i) => new URL(`img/${i}.png`, server.url).href);
  const input = `${good[0]}\nthis is not a url\n${good[1]}\nftp://example.com/x.png\n${good[2]}\n`;
  const run = await cli(["-i", "-", "-o", `${dir.path}/out`], input);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /line 2: .*not a URL/);
  assert.match(run.stderr, /line 4: .*ftp:/);
  assert.match(run.stderr, /3 saved/);
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(await Deno.readFile(`${dir.path}/out/${i}.png`), await syntheticPng(i));
  }
});

Deno.test("a failed URL makes the exit status 1 and is named on stderr", async () => {
  await using server = await serve({ images: 1 });
  await using dir = await tempDir("downpour-cli-");
  const ok = new URL("img/0.png", server.url).href;
  const missing = new URL("img/404.png", server.url).href;
  const run = await cli(["-o", dir.path, ok, missing]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, new RegExp(`${missing.replaceAll(".", "\\.")}.*404`));
  assert.deepEqual(await Deno.readFile(`${dir.path}/0.png`), await syntheticPng(0));
});

Deno.test("colliding names get distinct files, the same on every run", async () => {
  await using server = await serve({ images: 2 });
  await using dir = await tempDir("downpour-cli-");
  const urls = [
    new URL("img/1.png", server.url).href,
    new URL("img/1.png?size=large", server.url).href,
    new URL("img/0.png?name=1.png", server.url).href,
  ];
  const names: string[][] = [];
  for (const out of [`${dir.path}/a`, `${dir.path}/b`]) {
    const run = await cli(["-o", out, "--json", ...urls]);
    assert.equal(run.code, 0, run.stderr);
    const results = run.stdout.trim().split("\n").map((line) => JSON.parse(line));
    const paths = urls.map((url) => results.find((r) => r.url === url).path);
    assert.equal(new Set(paths).size, 3);
    names.push(paths);
  }
  assert.deepEqual(names[0], names[1]);
});

Deno.test("SIGINT stops the run, exits 130 and leaves no partial file", async () => {
  await using server = await serve({ images: 4 });
  await using dir = await tempDir("downpour-cli-");
  const fast = new URL("img/0.png", server.url).href;
  const stalled = [1, 2, 3].map((i) => new URL(`img/${i}.png?stall=1000`, server.url).href);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "-o", dir.path, "--per-host", "8", fast, ...stalled],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Wait until the fast file is saved, so the stalled ones are surely in flight.
  for (let i = 0; i < 200; i++) {
    try {
      await Deno.stat(`${dir.path}/0.png`);
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  child.kill("SIGINT");
  const { code, stderr } = await child.output();
  assert.equal(code, 130, new TextDecoder().decode(stderr));
  const names = [];
  for await (const entry of Deno.readDir(dir.path)) names.push(entry.name);
  assert.deepEqual(names.sort(), [".downpour-journal.jsonl", "0.png"]);
});

Deno.test("a gzipped CSV with name and sha256 columns: names the files, checks the digests", async () => {
  await using server = await serve({ images: 3 });
  await using dir = await tempDir("downpour-cli-");
  const hex = async (bytes: Uint8Array<ArrayBuffer>) =>
    Array.from(
      new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
  const url = (i: number) => new URL(`img/${i}.png`, server.url).href;
  const csv = [
    "id,url,name,sha256",
    `1,${url(0)},"cat, the first.png",${await hex(await syntheticPng(0))}`,
    `2,${url(1)},../../escape.png,`,
    `3,${url(2)},dog.png,${"0".repeat(64)}`,
  ].join("\n");
  const gz = new Uint8Array(
    await new Response(
      new Blob([csv]).stream().pipeThrough(new CompressionStream("gzip")),
    ).arrayBuffer(),
  );
  await Deno.writeFile(`${dir.path}/urls.csv.gz`, gz);
  const run = await cli(["-i", `${dir.path}/urls.csv.gz`, "-o", `${dir.path}/out`, "--json"]);
  assert.equal(run.code, 1, run.stderr); // the wrong digest fails
  const results = run.stdout.trim().split("\n").map((line) => JSON.parse(line));
  const by = (i: number) => results.find((r) => r.url === url(i));
  assert.equal(by(0).path, "cat, the first.png");
  assert.deepEqual(
    await Deno.readFile(`${dir.path}/out/cat, the first.png`),
    await syntheticPng(0),
  );
  assert.ok(by(1).ok);
  assert.ok(!by(1).path.includes("/") && !by(1).path.startsWith("."), by(1).path);
  assert.equal(by(2).reason, "checksum");
  await assert.rejects(Deno.stat(`${dir.path}/out/dog.png`));
});
