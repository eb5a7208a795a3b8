/**
 * downpour as Deno users get it: installed with `deno install -g` and only the permissions it
 * needs, imported from a URL (workers included), and published to JSR.
 *
 * The runs set `DENO_AUDIT_PERMISSIONS`, so Deno logs every permission the program checks, allowed
 * or not; a permission the tool was not meant to touch fails the test even if the tool caught the
 * error and went on.
 */

import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createHandler, serve } from "../server.ts";
import { VERSION } from "../src/options.ts";
import { syntheticPng } from "../testing/png.ts";
import { CLI, localServer, tempDir } from "./helpers.ts";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const DENO = Deno.execPath();
const decoder = new TextDecoder();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program with no stdin (so a permission prompt cannot wait for an answer). */
async function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Run> {
  const { code, stdout, stderr } = await new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** One line of a `DENO_AUDIT_PERMISSIONS` log. */
interface Access {
  permission: string;
  value: string | null;
}

async function readAudit(path: string): Promise<Access[]> {
  const text = await Deno.readTextFile(path);
  return text.split("\n").filter((line) => line.trim() !== "").map((line) => {
    const { permission, value } = JSON.parse(line);
    return { permission, value: value ?? null };
  });
}

/** Whether `path` (a path or a file: URL) is `dir` or inside it. */
function inside(path: string, dir: string): boolean {
  const absolute = path.startsWith("file:") ? fileURLToPath(path) : resolve(path);
  const rest = relative(dir, absolute);
  return rest === "" || (!rest.startsWith("..") && !rest.startsWith("/") && rest !== absolute);
}

/** Whether a `net` access names the given host and port, as `host:port` or as a URL. */
function toHost(value: string | null, host: string): boolean {
  if (value === null) return false;
  return value === host || (URL.canParse(value) && new URL(value).host === host);
}

function describe(accesses: Access[]): string {
  return accesses.map((access) => `${access.permission} ${access.value}`).join("\n");
}

Deno.test({
  name: "installed globally with only --allow-net, --allow-read and a narrow --allow-write",
  async fn() {
    await using server = await serve({ images: 6 });
    const host = server.url.host;
    await using root = await tempDir("downpour-dist-");
    const out = join(root.path, "out");
    const install = await run(DENO, [
      "install",
      "-g",
      "-n",
      "downpour",
      "--root",
      root.path,
      "--no-prompt",
      `--allow-net=${server.hostname}`,
      "--allow-read",
      `--allow-write=${out}`,
      CLI,
    ]);
    assert.equal(install.code, 0, install.stderr);
    const bin = join(root.path, "bin", Deno.build.os === "windows" ? "downpour.cmd" : "downpour");
    const shim = await Deno.readTextFile(bin);
    assert.match(shim, /--no-prompt/);
    assert.doesNotMatch(shim, /--allow-(all|env|run|sys|ffi)\b|\s-A\s/);

    // The shim runs `deno` from the PATH: make it this one.
    const path = `${dirname(DENO)}${Deno.build.os === "windows" ? ";" : ":"}${
      Deno.env.get("PATH") ?? ""
    }`;
    const audit = join(root.path, "audit.jsonl");
    const urls = Array.from({ length: 6 }, (_, i) => new URL(`img/${i}.png`, server.url).href);
    const ok = await run(bin, ["-o", out, "-w", "2", ...urls], {
      cwd: root.path,
      env: { PATH: path, DENO_AUDIT_PERMISSIONS: audit },
    });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /6 saved/);
    for (let i = 0; i < 6; i++) {
      assert.deepEqual(await Deno.readFile(join(out, `${i}.png`)), await syntheticPng(i));
    }

    // What it touched: the net to the server, reads of its own modules (the workers' module
    // graph) and of the output directory, writes in the output directory. Nothing else.
    const accesses = await readAudit(audit);
    assert.ok(accesses.some((a) => a.permission === "net"), describe(accesses));
    const unexpected = accesses.filter(({ permission, value }) => {
      if (permission === "net") return !toHost(value, host);
      if (permission === "write") return value === null || !inside(value, out);
      if (permission === "read") {
        if (value === null) return true;
        const module = value.startsWith("file:") && value.endsWith(".ts");
        return !(inside(value, out) || (module && inside(value, REPO)));
      }
      return true; // env, run, sys, ffi, import: none is needed.
    });
    assert.deepEqual(unexpected, [], `unexpected permission checks:\n${describe(unexpected)}`);

    // An output directory it may not write to: a usage error, before any request.
    const requests = server.stats.requests;
    const elsewhere = join(root.path, "elsewhere");
    const denied = await run(bin, ["-o", elsewhere, urls[0]!], {
      cwd: root.path,
      env: { PATH: path },
    });
    assert.equal(denied.code, 2, denied.stderr);
    assert.match(denied.stderr, /Cannot write to the output directory '[^']*elsewhere'/);
    assert.match(denied.stderr, /--allow-write/);
    assert.doesNotMatch(denied.stderr, /Uncaught|\n\s+at /);
    assert.equal(server.stats.requests, requests);
    await assert.rejects(Deno.stat(elsewhere), Deno.errors.NotFound);
  },
});

Deno.test({
  name: "imported from a URL, the library loads its workers from the same URL",
  async fn() {
    // The code, over HTTP: this repository, with every path asked for recorded.
    const handle = createHandler({ dir: REPO });
    const asked: string[] = [];
    await using code = localServer((request) => {
      asked.push(new URL(request.url).pathname);
      return handle(request);
    });
    const codeHost = new URL(code.origin).host;
    // The images, from another server.
    await using images = await serve({ images: 5 });
    await using root = await tempDir("downpour-dist-");
    const out = join(root.path, "out");
    const script = join(root.path, "main.ts");
    await Deno.writeTextFile(
      script,
      `import { download, summarize } from "http://${codeHost}/mod.ts";
const [out, ...urls] = Deno.args;
console.log(JSON.stringify(await summarize(download(urls, { out, workers: 2 }))));
`,
    );
    const audit = join(root.path, "audit.jsonl");
    const urls = Array.from({ length: 5 }, (_, i) => new URL(`img/${i}.png`, images.url).href);
    const result = await run(DENO, [
      "run",
      "--no-config",
      "--no-lock",
      "--no-prompt",
      `--allow-import=${codeHost}`,
      `--allow-net=${images.hostname}`,
      `--allow-write=${out}`,
      `--allow-read=${out}`,
      script,
      out,
      ...urls,
    ], {
      cwd: root.path,
      // An empty cache: every module comes from the server, none from an earlier run.
      env: { DENO_DIR: join(root.path, "deno_dir"), DENO_AUDIT_PERMISSIONS: audit },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).saved, 5, result.stdout);
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await Deno.readFile(join(out, `${i}.png`)), await syntheticPng(i));
    }
    assert.ok(asked.includes("/mod.ts"), asked.join(" "));
    assert.ok(
      asked.includes("/src/worker/worker.ts"),
      `the worker did not come over HTTP: ${asked}`,
    );

    const accesses = await readAudit(audit);
    assert.ok(accesses.some((a) => a.permission === "import"), describe(accesses));
    const unexpected = accesses.filter(({ permission, value }) => {
      if (permission === "import") return value !== codeHost;
      if (permission === "net") return !toHost(value, images.url.host) && value !== codeHost;
      if (permission === "read" || permission === "write") {
        return value === null || !inside(value, out);
      }
      return true;
    });
    assert.deepEqual(unexpected, [], `unexpected permission checks:\n${describe(unexpected)}`);
  },
});

Deno.test("the JSR package: deno publish --dry-run and deno doc --lint pass", async () => {
  const publish = await run(DENO, ["publish", "--dry-run", "--allow-dirty"], { cwd: REPO });
  const output = publish.stdout + publish.stderr;
  assert.equal(publish.code, 0, output);
  assert.match(output, /Dry run complete/);
  const listed = (path: string) => output.includes(new URL(`../${path}`, import.meta.url).href);
  // The worker is only reached through `new URL(…, import.meta.url)`: it must be in the package.
  assert.ok(listed("src/worker/worker.ts"), output);
  assert.ok(listed("mod.ts") && listed("server.ts") && listed("cli.ts"), output);
  assert.ok(!listed("tests/") && !listed("bench/"), output);

  // The version the package is published as is the one the tool reports.
  const config = JSON.parse(await Deno.readTextFile(join(REPO, "deno.json")));
  assert.equal(VERSION, config.version);

  const doc = await run(DENO, ["doc", "--lint", "mod.ts", "server.ts", "cli.ts"], { cwd: REPO });
  assert.equal(doc.code, 0, doc.stdout + doc.stderr);
});
