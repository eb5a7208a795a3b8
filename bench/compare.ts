#!/usr/bin/env -S deno run -A
/**
 * The side-by-side benchmark: downpour against `cp -r`, wget2, curl, aria2 and Python's
 * ProcessPoolExecutor, on the same files from the same local nginx, in one run, alternating the
 * tools' order from round to round. Every run is timed by GNU time (wall, user+sys CPU, peak
 * RSS) and then verified byte for byte; a run that fails verification is reported as FAILED and
 * its time is not counted.
 *
 * Not a test and never run in CI: it needs `bash bench/setup.sh` first (nginx, wget2, curl,
 * aria2, GNU time). See bench/README.md.
 *
 * ```sh
 * deno run -A bench/compare.ts [--small N] [--large N] [--rounds R] [--only tools]
 *   [--seq] [--downpour-args "..."]... [--latency MS] [--huge] [--write-readme]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { dirname, join, relative } from "node:path";
import { isFile } from "../tests/helpers.ts";
import { fakePng } from "./fake_png.ts";
import { GNU_TIME_FORMAT, type GnuTime, parseGnuTime } from "./gnu_time.ts";
import { type Run, summarizeRuns, type ToolStats } from "./stats.ts";
import { markdownTable } from "./table.ts";
import { barChart } from "./chart.ts";
import { replaceBlock } from "./readme_block.ts";

const HELP = `Usage: deno run -A bench/compare.ts [options]

Data (generated once into a temp dir, served by nginx on 127.0.0.1):
  --small N            small PNGs of 4-40 KB (default 10000; 0 = none)
  --large N            large files of 2-8 MiB (default 100; 0 = none)
  --huge               only one huge file (see --huge-mb), served from a sparse file
  --huge-mb N          its size in MiB (default 2048)
  --latency MS         instead of nginx, run server.ts --latency MS --images N (small set only)
  --server FILE        the server.ts to run for --latency (default: the repository's)

Tools (in every round, in alternating order):
  --only LIST          comma-separated subset of:
                       cp,wget2,curl,aria2,pool,seq,bare,channel,plain,downpour
                       (bare: a bare fetch loop; channel: the same loop fed by the main thread
                       through messages, with downpour's request, the floor of downpour's design;
                       plain: channel with fetch(url); these three only when named)
  --seq                also run pool.py --mode seq (slow)
  --threads N          parallel downloads for wget2/curl/aria2, --per-host for downpour
                       (default 32)
  --downpour-args ARGS one more downpour variant with these extra arguments (repeatable),
                       e.g. --downpour-args "-w 1 -c 64"
  --baseline DIR       one more downpour variant: DIR/cli.ts, another checkout (an older
                       release, say: git worktree add DIR REV), run the same way

Runs:
  --rounds R           rounds (default 3); medians are reported
  --timeout S          seconds one run may take before it is killed (default 900)
  --nginx-workers N    nginx worker_processes (default 1: the other core is the client's)
  --tmp DIR            where the temp dir goes (default: the system's)
  --keep               keep the temp dir (data, lists, logs) and print where it is

Output:
  --write-readme       replace the block between <!-- bench:start --> and <!-- bench:end -->
                       in README.md with the tables, and write bench/results.svg
  --readme FILE        the README to update (default: the repository's README.md)
  --svg FILE           the chart to write (default: bench/results.svg)
  -h, --help           this text
`;

const here = dirname(fileURLToPath(import.meta.url));
const repo = dirname(here);
const CLI = join(repo, "cli.ts");
const POOL = join(here, "pool.py");
const BARE = join(here, "bare_fetch.ts");
const CHANNEL = join(here, "channel_fetch.ts");
const SERVER = join(repo, "server.ts");

/**
 * downpour runs as installed: the install line in the README and the shebang of cli.ts carry this
 * V8 flag, which keeps each isolate's young generation small (the same speed, about 100 MB less
 * peak RSS). `deno run` cannot set it from inside the program.
 */
const DOWNPOUR_V8_FLAGS = ["--v8-flags=--max-semi-space-size=1,--heap-growing-percent=100"];

const ALL_TOOLS = [
  "cp",
  "wget2",
  "curl",
  "aria2",
  "pool",
  "seq",
  "bare",
  "channel",
  "plain",
  "downpour",
] as const;

/** The options of one benchmark run. */
interface Options {
  small: number;
  large: number;
  huge: boolean;
  hugeMb: number;
  latency?: number;
  server: string;
  only?: Set<string>;
  seq: boolean;
  threads: number;
  downpourArgs: string[][];
  /** Another checkout whose cli.ts runs as one more downpour variant. */
  baseline?: string;
  rounds: number;
  timeout: number;
  nginxWorkers: number;
  tmp?: string;
  keep: boolean;
  writeReadme: boolean;
  readme: string;
  svg: string;
}

/** What a file must be after a run. */
interface Expected {
  size: number;
  sha256: string;
}

/** One data set: the files, their URLs, and the lists the tools read. */
interface DataSet {
  title: string;
  /** The directory the server serves these files from (for `cp -r`), when there is one. */
  src?: string;
  urls: string[];
  /** File name (the URL's last path segment) to what it must hold. */
  expected: Map<string, Expected>;
  /** One URL a line. */
  list: string;
  /** The same URLs as a curl config file (`url = "..."` lines). */
  curlConfig: string;
  /** Extra arguments every downpour run gets for this set (e.g. a larger --max-bytes). */
  downpourExtra: string[];
}

/** A tool: how to run it over a data set into a directory, or why it is skipped. */
interface Tool {
  name: string;
  accent?: boolean;
  skip?: string;
  command(set: DataSet, out: string): string[];
}

class UsageError extends Error {}

/** Thrown at the next step once Ctrl-C (SIGINT) was received. */
class Interrupted extends Error {}

/** Whether Ctrl-C was received, and the tool running now (to stop it then). */
const state: { interrupted: boolean; child?: Deno.ChildProcess } = { interrupted: false };

function checkInterrupted(): void {
  if (state.interrupted) throw new Interrupted("interrupted");
}

function int(value: string | undefined, flag: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`${flag} must be a whole number of at least ${min}, got '${value}'`);
  }
  return n;
}

function parseOptions(args: string[]): Options | undefined {
  // "--downpour-args '-w 1'": node:util would take "-w 1" for an option, so join the pair.
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--downpour-args" && i + 1 < args.length) {
      joined.push(`--downpour-args=${args[++i]}`);
    } else joined.push(args[i]);
  }
  const { values } = parseArgs({
    args: joined,
    strict: true,
    options: {
      small: { type: "string" },
      large: { type: "string" },
      huge: { type: "boolean" },
      "huge-mb": { type: "string" },
      latency: { type: "string" },
      server: { type: "string" },
      only: { type: "string" },
      seq: { type: "boolean" },
      threads: { type: "string" },
      "downpour-args": { type: "string", multiple: true },
      baseline: { type: "string" },
      rounds: { type: "string" },
      timeout: { type: "string" },
      "nginx-workers": { type: "string" },
      tmp: { type: "string" },
      keep: { type: "boolean" },
      "write-readme": { type: "boolean" },
      readme: { type: "string" },
      svg: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return undefined;
  }
  const huge = values.huge ?? false;
  const latency = values.latency === undefined ? undefined : int(values.latency, "--latency", 0, 0);
  const only = values.only === undefined
    ? undefined
    : new Set(values.only.split(",").map((s) => s.trim()).filter(Boolean));
  for (const name of only ?? []) {
    if (!(ALL_TOOLS as readonly string[]).includes(name)) {
      throw new UsageError(`--only: unknown tool '${name}' (known: ${ALL_TOOLS.join(", ")})`);
    }
  }
  const options: Options = {
    small: int(values.small, "--small", huge ? 0 : 10_000),
    large: int(values.large, "--large", huge || latency !== undefined ? 0 : 100),
    huge,
    hugeMb: int(values["huge-mb"], "--huge-mb", 2048, 1),
    latency,
    server: values.server ?? SERVER,
    only,
    seq: values.seq ?? false,
    threads: int(values.threads, "--threads", 32, 1),
    downpourArgs: (values["downpour-args"] ?? []).map((s) => s.trim().split(/\s+/)),
    baseline: values.baseline,
    rounds: int(values.rounds, "--rounds", 3, 1),
    timeout: int(values.timeout, "--timeout", 900, 1),
    nginxWorkers: int(values["nginx-workers"], "--nginx-workers", 1, 1),
    tmp: values.tmp,
    keep: values.keep ?? false,
    writeReadme: values["write-readme"] ?? false,
    readme: values.readme ?? join(repo, "README.md"),
    svg: values.svg ?? join(here, "results.svg"),
  };
  if (latency !== undefined && (options.large > 0 || huge)) {
    throw new UsageError(
      "--latency serves small PNGs only: it cannot be used with --large or --huge",
    );
  }
  if (options.small + options.large === 0 && !huge) {
    throw new UsageError("nothing to do: --small and --large are both 0");
  }
  return options;
}

// ---------------------------------------------------------------------------------------------
// Processes

/** Where an executable is on PATH, or undefined. */
function which(name: string): string | undefined {
  if (name.includes("/")) return isFile(name) ? name : undefined;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && isFile(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** The first line a command prints for `--version` (or `-v`), or "?". */
async function version(cmd: string, args = ["--version"]): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, { args, stdin: "null" }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return text.split("\n").find((line) => line.trim() !== "")?.trim() ?? "?";
  } catch {
    return "?";
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function waitForPort(port: number, child: Deno.ChildProcess, what: string): Promise<void> {
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${what} exited before it listened on port ${port}`);
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`${what} did not listen on port ${port} within 15 s`);
}

/** A running server and how to stop it. */
interface Server {
  base: string;
  stop(): Promise<void>;
}

async function stopChild(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    // Already gone.
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, 5000);
  await child.status;
  clearTimeout(timer);
}

async function startNginx(tmp: string, root: string, workers: number): Promise<Server> {
  const prefix = join(tmp, "nginx");
  await Deno.mkdir(prefix, { recursive: true });
  const port = freePort();
  const conf = join(prefix, "nginx.conf");
  const asRoot = Deno.uid() === 0;
  await Deno.writeTextFile(
    conf,
    `# Written by bench/compare.ts for one benchmark run.
${asRoot ? "user root;\n" : ""}worker_processes ${workers};
daemon off;
master_process on;
pid ${join(prefix, "nginx.pid")};
error_log ${join(prefix, "error.log")} warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 100000;
  keepalive_timeout 65;
  open_file_cache max=8000 inactive=120s;
  types { image/png png; }
  default_type application/octet-stream;
  client_body_temp_path ${join(prefix, "client_body")};
  proxy_temp_path ${join(prefix, "proxy")};
  fastcgi_temp_path ${join(prefix, "fastcgi")};
  uwsgi_temp_path ${join(prefix, "uwsgi")};
  scgi_temp_path ${join(prefix, "scgi")};
  server {
    listen 127.0.0.1:${port};
    root ${root};
  }
}
`,
  );
  const nginx = which("nginx") ?? "/usr/sbin/nginx";
  const child = new Deno.Command(nginx, {
    args: ["-p", prefix + "/", "-e", join(prefix, "error.log"), "-c", conf],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  try {
    await waitForPort(port, child, "nginx");
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return { base: `http://127.0.0.1:${port}`, stop: () => stopChild(child) };
}

async function startServerTs(file: string, latency: number, images: number): Promise<Server> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      file,
      "--port",
      String(port),
      "--images",
      String(images),
      "--latency",
      String(latency),
    ],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  try {
    await waitForPort(port, child, "server.ts");
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return { base: `http://127.0.0.1:${port}`, stop: () => stopChild(child) };
}

/** Runs a command under GNU time (and `timeout`); returns the measurement and stderr's end. */
async function timed(
  cmd: string[],
  timeout: number,
  tmp: string,
): Promise<{ time: GnuTime; stderr: string }> {
  const timeFile = join(tmp, "time.txt");
  await Deno.remove(timeFile).catch(() => {});
  // `timeout` runs in a process group of its own and, when it times out or gets SIGTERM from
  // us (on Ctrl-C), signals the whole group: GNU time, the tool and the tool's children.
  const child = new Deno.Command("timeout", {
    args: [
      "-k",
      "10",
      String(timeout),
      "/usr/bin/time",
      "-f",
      GNU_TIME_FORMAT,
      "-o",
      timeFile,
      ...cmd,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  state.child = child;
  let out: Deno.CommandOutput;
  try {
    out = await child.output();
  } finally {
    state.child = undefined;
  }
  checkInterrupted();
  const stderr = new TextDecoder().decode(out.stderr).trim();
  let time: GnuTime;
  try {
    time = parseGnuTime(await Deno.readTextFile(timeFile));
  } catch {
    time = { wall: NaN, user: NaN, sys: NaN, maxRssKb: NaN, exitCode: out.code || 255 };
  }
  if (time.exitCode === 0 && out.code !== 0) time.exitCode = out.code;
  return { time, stderr: stderr.slice(-600) };
}

// ---------------------------------------------------------------------------------------------
// Data

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  const file = await Deno.open(path);
  try {
    const buffer = new Uint8Array(1 << 20);
    for (;;) {
      const n = await file.read(buffer);
      if (n === null) break;
      hash.update(buffer.subarray(0, n));
    }
  } finally {
    file.close();
  }
  return hash.digest("hex");
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Runs `task` for 0..count-1 with at most `limit` in flight. */
async function forEachLimit(
  count: number,
  limit: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, count) }, async () => {
    while (next < count) {
      checkInterrupted();
      await task(next++);
    }
  });
  await Promise.all(lanes);
}

type PngMaker = (
  index: number,
  options: { minBytes: number; maxBytes: number; seed: number },
) => Uint8Array | Promise<Uint8Array>;

/** The project's synthetic PNGs (src/png.ts) when that module is there, else bench's own. */
async function pngMaker(): Promise<{ make: PngMaker; source: string }> {
  const url = new URL("../testing/png.ts", import.meta.url);
  if (isFile(fileURLToPath(url))) {
    try {
      const module = await import(url.href);
      if (typeof module.syntheticPng === "function") {
        return { make: module.syntheticPng as PngMaker, source: "src/png.ts syntheticPng" };
      }
    } catch (error) {
      console.error(`note: could not load src/png.ts (${(error as Error).message})`);
    }
  }
  return { make: fakePng, source: "bench/fake_png.ts (src/png.ts not available)" };
}

async function writeLists(dir: string, name: string, urls: string[]) {
  const list = join(dir, `${name}.txt`);
  const curlConfig = join(dir, `${name}.curl`);
  await Deno.writeTextFile(list, urls.join("\n") + "\n");
  await Deno.writeTextFile(curlConfig, urls.map((url) => `url = "${url}"`).join("\n") + "\n");
  return { list, curlConfig };
}

function lastSegment(url: string): string {
  const path = new URL(url).pathname;
  return decodeURIComponent(path.slice(path.lastIndexOf("/") + 1));
}

/** Writes `count` files made by `make` to `root/sub/{i}.png`; returns the set. */
async function generateSet(
  title: string,
  root: string,
  sub: string,
  count: number,
  make: (index: number) => Uint8Array | Promise<Uint8Array>,
  base: string,
  lists: string,
): Promise<DataSet> {
  const src = join(root, sub);
  await Deno.mkdir(src, { recursive: true });
  const expected = new Map<string, Expected>();
  const urls: string[] = [];
  for (let i = 0; i < count; i++) urls.push(`${base}/${sub}/${i}.png`);
  await forEachLimit(count, 16, async (i) => {
    const bytes = await make(i);
    await Deno.writeFile(join(src, `${i}.png`), bytes);
    expected.set(`${i}.png`, { size: bytes.length, sha256: sha256(bytes) });
  });
  return { title, src, urls, expected, ...await writeLists(lists, sub, urls), downpourExtra: [] };
}

async function generateHuge(root: string, mb: number, base: string, lists: string) {
  const src = join(root, "huge");
  await Deno.mkdir(src, { recursive: true });
  const path = join(src, "huge.png");
  const size = mb * 1024 * 1024;
  // A PNG-looking head, then a hole: the file takes no disk space, nginx reads zeros.
  await Deno.writeFile(path, fakePng(0, { minBytes: 4096, maxBytes: 4096, seed: 3 }));
  await Deno.truncate(path, size);
  const urls = [`${base}/huge/huge.png`];
  const expected = new Map([["huge.png", { size, sha256: await sha256File(path) }]]);
  return {
    title: `1 huge file (${mb} MiB)`,
    src,
    urls,
    expected,
    ...await writeLists(lists, "huge", urls),
    downpourExtra: ["--max-bytes", String(size + 1)],
  } satisfies DataSet;
}

/** The latency set: server.ts's own list, with each file fetched once for reference. */
async function referenceSet(base: string, count: number, lists: string): Promise<DataSet> {
  const response = await fetch(`${base}/list.txt`);
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`server.ts answered ${response.status} for /list.txt`);
  }
  const urls = (await response.text()).split("\n").map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#")).slice(0, count)
    .map((url) => new URL(url, base).href);
  const expected = new Map<string, Expected>();
  await forEachLimit(urls.length, 64, async (i) => {
    const res = await fetch(urls[i]);
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`server.ts answered ${res.status} for ${urls[i]}`);
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    expected.set(lastSegment(urls[i]), { size: bytes.length, sha256: sha256(bytes) });
  });
  return {
    title: `${urls.length} PNGs from server.ts`,
    urls,
    expected,
    ...await writeLists(lists, "latency", urls),
    downpourExtra: [],
  };
}

function subset(set: DataSet, count: number, lists: string): Promise<DataSet> {
  const urls = set.urls.slice(0, count);
  const expected = new Map(urls.map((url) => {
    const name = lastSegment(url);
    return [name, set.expected.get(name)!] as const;
  }));
  return writeLists(lists, "warmup", urls).then((paths) => ({
    ...set,
    title: "warm-up",
    src: undefined,
    urls,
    expected,
    ...paths,
  }));
}

// ---------------------------------------------------------------------------------------------
// Verification

interface Check {
  missing: number;
  differ: number;
  extra: string[];
}

async function verify(out: string, expected: Map<string, Expected>): Promise<Check> {
  const present = new Set<string>();
  for await (const entry of Deno.readDir(out)) present.add(entry.name);
  const names = [...expected.keys()];
  let missing = 0;
  let differ = 0;
  await forEachLimit(names.length, 8, async (i) => {
    const name = names[i];
    const want = expected.get(name)!;
    if (!present.has(name)) {
      missing++;
      return;
    }
    const path = join(out, name);
    const info = await Deno.stat(path);
    if (!info.isFile || info.size !== want.size) {
      differ++;
      return;
    }
    const got = info.size > 64 * 1024 * 1024
      ? await sha256File(path)
      : sha256(await Deno.readFile(path));
    if (got !== want.sha256) differ++;
  });
  const extra = [...present].filter((name) => !expected.has(name));
  return { missing, differ, extra };
}

async function clearDir(dir: string): Promise<void> {
  await Deno.remove(dir, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  await Deno.mkdir(dir, { recursive: true });
  // Flush the previous tool's writes so they are not charged to the next one.
  await new Deno.Command("sync", { stdin: "null" }).output().catch(() => {});
}

// ---------------------------------------------------------------------------------------------
// Tools

function tools(options: Options): Tool[] {
  const t = String(options.threads);
  const wanted = (name: string) =>
    options.only
      ? options.only.has(name)
      : (name !== "seq" || options.seq) && !["bare", "channel", "plain"].includes(name);
  const missing = (bin: string) =>
    which(bin) ? undefined : `${bin} is not installed (run bash bench/setup.sh)`;
  const list: Tool[] = [
    {
      name: "cp -r",
      skip: options.latency !== undefined ? "no source directory with a remote server" : undefined,
      command: (set, out) => ["cp", "-r", `${set.src}/.`, out],
    },
    {
      name: "wget2",
      skip: missing("wget2"),
      command: (set, out) => [
        "wget2",
        "-q",
        `--max-threads=${t}`,
        "--no-robots",
        "-nd",
        "-P",
        out,
        "-i",
        set.list,
      ],
    },
    {
      name: "curl",
      skip: missing("curl"),
      command: (set, out) => [
        "curl",
        "-sS",
        "--fail",
        "--parallel",
        "--parallel-max",
        t,
        "--remote-name-all",
        "--output-dir",
        out,
        "-K",
        set.curlConfig,
      ],
    },
    {
      name: "aria2",
      skip: missing("aria2c"),
      command: (set, out) => [
        "aria2c",
        "-j",
        t,
        "-x1",
        "-i",
        set.list,
        "-d",
        out,
        "--console-log-level=error",
        "--summary-interval=0",
        "--download-result=hide",
        "--file-allocation=none",
        "--auto-file-renaming=false",
      ],
    },
    {
      name: "python pool",
      skip: missing("python3"),
      command: (set, out) => ["python3", POOL, "--mode", "pool", "-i", set.list, "-o", out],
    },
    {
      name: "python seq",
      skip: missing("python3"),
      command: (set, out) => ["python3", POOL, "--mode", "seq", "-i", set.list, "-o", out],
    },
    {
      // The floor downpour is measured against: fetch and one write, 2 workers x 16, no checks.
      name: "bare fetch",
      command: (set, out) => [Deno.execPath(), "run", "-A", BARE, set.list, out, "2", "16"],
    },
    {
      // The floor of downpour's design: the bare loop, fed by the main thread through messages.
      name: "channel fetch",
      command: (set, out) => [Deno.execPath(), "run", "-A", CHANNEL, set.list, out, "2", "16"],
    },
    {
      // The same with fetch(url), as the bare loop: what the messages alone cost.
      name: "channel, plain fetch",
      command: (
        set,
        out,
      ) => [Deno.execPath(), "run", "-A", CHANNEL, set.list, out, "2", "16", "--plain"],
    },
  ];
  const keys = ["cp", "wget2", "curl", "aria2", "pool", "seq", "bare", "channel", "plain"];
  const chosen = list.filter((_, i) => wanted(keys[i]));
  if (wanted("downpour")) {
    const skip = isFile(CLI) ? undefined : "cli.ts is missing: downpour is skipped";
    const variants: { cli: string; name: string; extra: string[] }[] = [
      ...[[], ...options.downpourArgs].map((extra) => ({
        cli: CLI,
        name: ["downpour", ...extra].join(" "),
        extra,
      })),
      ...(options.baseline
        ? [{
          cli: join(options.baseline, "cli.ts"),
          name: `downpour (${options.baseline})`,
          extra: [],
        }]
        : []),
    ];
    for (const { cli, name, extra } of variants) {
      chosen.push({
        name,
        accent: true,
        skip: skip ?? (isFile(cli) ? undefined : `${cli} is missing: it is skipped`),
        command: (set, out) => [
          Deno.execPath(),
          "run",
          "-A",
          ...DOWNPOUR_V8_FLAGS,
          cli,
          "-i",
          set.list,
          "-o",
          out,
          "-q",
          "--per-host",
          t,
          ...set.downpourExtra,
          ...extra,
        ],
      });
    }
  }
  return chosen;
}

/** Round r's order: reversed on odd rounds, and rotated every two rounds. */
function order<T>(items: readonly T[], round: number): T[] {
  const shift = Math.floor(round / 2) % Math.max(1, items.length);
  const rotated = [...items.slice(shift), ...items.slice(0, shift)];
  return round % 2 ? rotated.reverse() : rotated;
}

async function runOnce(
  tool: Tool,
  set: DataSet,
  out: string,
  options: Options,
  tmp: string,
): Promise<Run & { note: string }> {
  await clearDir(out);
  const { time, stderr } = await timed(tool.command(set, out), options.timeout, tmp);
  const check = await verify(out, set.expected);
  const problems: string[] = [];
  if (time.exitCode === 124) problems.push(`timed out after ${options.timeout} s`);
  else if (time.exitCode !== 0) problems.push(`exit ${time.exitCode}`);
  if (check.missing) problems.push(`${check.missing} missing`);
  if (check.differ) problems.push(`${check.differ} differ`);
  const notes = check.extra.length
    ? ` (${check.extra.length} extra file(s), e.g. ${check.extra.slice(0, 3).join(", ")})`
    : "";
  const verified = problems.length === 0;
  if (!verified && stderr) problems.push(`stderr: ${stderr.split("\n").slice(-2).join(" / ")}`);
  return {
    wall: time.wall,
    cpu: time.user + time.sys,
    maxRssKb: time.maxRssKb,
    verified,
    problem: verified ? undefined : problems.join(", "),
    note: notes,
  };
}

// ---------------------------------------------------------------------------------------------
// Output

function commandLine(args: string[]): string {
  const quote = (arg: string) =>
    /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
  return ["deno", "run", "-A", "bench/compare.ts", ...args.map(quote)].join(" ");
}

async function cpuModel(): Promise<string> {
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    return /^model name\s*:\s*(.+)$/m.exec(info)?.[1].trim() ?? "unknown CPU";
  } catch {
    return "unknown CPU";
  }
}

/** Formats Markdown with `deno fmt`, so README stays `deno fmt --check` clean. */
async function formatMarkdown(text: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext=md", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    cwd: repo,
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  return out.success ? new TextDecoder().decode(out.stdout) : text;
}

async function writeReadme(
  options: Options,
  results: { set: DataSet; stats: ToolStats[] }[],
  server: string,
): Promise<void> {
  const denoVersion = await version(Deno.execPath());
  const peers = await Promise.all([
    version("wget2"),
    version("curl"),
    version("aria2c"),
    version("python3"),
  ]);
  const short = peers.map((line) =>
    line.replace(/^GNU Wget2 ([\d.]+).*/, "wget2 $1").replace(/^curl ([\d.]+).*/, "curl $1")
      .replace(/^aria2 version ([\d.]+).*/, "aria2 $1")
  );
  const date = new Date().toISOString().slice(0, 10);
  const lines = [
    `${date}, ${navigator.hardwareConcurrency} cores (${await cpuModel()}), ${denoVersion}, ` +
    `${short.join(", ")}; files served by ${server} on loopback; medians of ` +
    `${options.rounds} round(s), every file verified byte for byte. downpour runs as installed ` +
    `(\`deno run -A ${
      DOWNPOUR_V8_FLAGS.join(" ")
    } cli.ts\`) with \`--per-host ${options.threads}\` ` +
    `and otherwise its defaults; the others with ${options.threads} parallel downloads:`,
    "",
    "```sh",
    commandLine(Deno.args),
    "```",
    "",
  ];
  for (const { set, stats } of results) {
    lines.push(`**${set.title}**`, "", markdownTable(stats), "");
  }
  const svgLink = relative(dirname(options.readme), options.svg).split("\\").join("/");
  lines.push(`![files/s per tool](${svgLink})`);
  const block = await formatMarkdown(lines.join("\n") + "\n");

  let text: string;
  try {
    text = await Deno.readTextFile(options.readme);
  } catch (error) {
    console.log(`notice: cannot read ${options.readme} (${(error as Error).message}); not updated`);
    return;
  }
  const updated = replaceBlock(text, "<!-- bench:start -->", "<!-- bench:end -->", block);
  if (updated === undefined) {
    console.log(
      `notice: ${options.readme} has no <!-- bench:start --> ... <!-- bench:end --> block; ` +
        "not updated",
    );
  } else {
    await Deno.writeTextFile(options.readme, updated);
    console.log(`updated ${options.readme}`);
  }
  const svg = barChart(
    results.map(({ set, stats }) => ({
      title: set.title,
      bars: stats.map((row) => ({
        label: row.tool,
        value: row.verified === row.runs ? row.filesPerSecond : undefined,
        accent: row.tool.startsWith("downpour"),
      })),
    })),
    "files/s (higher is better)",
  );
  await Deno.writeTextFile(options.svg, svg);
  console.log(`wrote ${options.svg}`);
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(args: string[]): Promise<number> {
  let options: Options | undefined;
  try {
    options = parseOptions(args);
  } catch (error) {
    console.error(`compare.ts: ${(error as Error).message}`);
    return 2;
  }
  if (!options) return 0;
  if (!isFile("/usr/bin/time")) {
    console.error("compare.ts: GNU time (/usr/bin/time) is missing: run bash bench/setup.sh");
    return 1;
  }
  if (options.latency === undefined && !which("nginx")) {
    console.error("compare.ts: nginx is missing: run bash bench/setup.sh");
    return 1;
  }
  if (options.latency !== undefined && !isFile(options.server)) {
    console.error(`compare.ts: --latency needs ${options.server}, which is missing`);
    return 1;
  }

  const all = tools(options);
  for (const tool of all.filter((tool) => tool.skip)) {
    console.log(`skipping ${tool.name}: ${tool.skip}`);
  }
  const active = all.filter((tool) => !tool.skip);
  if (active.length === 0) {
    console.error("compare.ts: no tool to run");
    return 1;
  }

  const tmp = await Deno.makeTempDir({ dir: options.tmp, prefix: "downpour-bench-" });
  const lists = join(tmp, "lists");
  const www = join(tmp, "www");
  const out = join(tmp, "out");
  await Deno.mkdir(lists);
  await Deno.mkdir(www);
  let server: Server | undefined;
  const cleanup = async () => {
    await server?.stop();
    if (options.keep) console.log(`kept ${tmp}`);
    else await Deno.remove(tmp, { recursive: true }).catch(() => {});
  };
  const onInterrupt = () => {
    if (state.interrupted) Deno.exit(130); // a second Ctrl-C: leave at once
    state.interrupted = true;
    console.error("\ninterrupted: stopping the tool and the server, removing the temp dir");
    try {
      state.child?.kill("SIGTERM");
    } catch {
      // Already gone.
    }
  };
  Deno.addSignalListener("SIGINT", onInterrupt);

  try {
    const sets: DataSet[] = [];
    let serverName: string;
    if (options.latency !== undefined) {
      serverName = `server.ts --latency ${options.latency}`;
      const count = options.small;
      server = await startServerTs(options.server, options.latency, count);
      console.log(
        `server.ts on ${server.base}, ${options.latency} ms latency; fetching a reference`,
      );
      const set = await referenceSet(server.base, count, lists);
      set.title = `${set.urls.length} PNGs from server.ts, ${options.latency} ms latency`;
      sets.push(set);
    } else {
      const nginxVersion = (await version("nginx", ["-v"])).replace(/^nginx version: /, "");
      serverName = `${nginxVersion} (${options.nginxWorkers} worker${
        options.nginxWorkers > 1 ? "s" : ""
      })`;
      server = await startNginx(tmp, www, options.nginxWorkers);
      console.log(`nginx on ${server.base}, serving ${www}`);
      const started = performance.now();
      if (options.small > 0) {
        const { make, source } = await pngMaker();
        console.log(`generating ${options.small} small PNGs with ${source}`);
        sets.push(
          await generateSet(
            `${options.small} small PNGs (4–40 KB)`,
            www,
            "small",
            options.small,
            (i) => make(i, { minBytes: 4 * 1024, maxBytes: 40 * 1024, seed: 1 }),
            server.base,
            lists,
          ),
        );
      }
      if (options.large > 0) {
        console.log(`generating ${options.large} large files`);
        sets.push(
          await generateSet(
            `${options.large} large files (2–8 MiB)`,
            www,
            "large",
            options.large,
            (i) => fakePng(i, { minBytes: 2 << 20, maxBytes: 8 << 20, seed: 2 }),
            server.base,
            lists,
          ),
        );
      }
      if (options.huge) {
        console.log(`generating one ${options.hugeMb} MiB sparse file`);
        sets.push(await generateHuge(www, options.hugeMb, server.base, lists));
      }
      console.log(`data ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }

    // One untimed pass of every tool over a few files: warms caches and catches broken setups.
    const warm = await subset(sets[0], Math.min(10, sets[0].urls.length), lists);
    for (const tool of active.filter((tool) => tool.name !== "cp -r")) {
      const run = await runOnce(tool, warm, out, options, tmp)
        .catch((error) => {
          if (error instanceof Interrupted) throw error;
          return { verified: false, problem: String(error) };
        });
      if (!run.verified) console.log(`warm-up: ${tool.name} FAILED: ${run.problem}`);
    }

    const results: { set: DataSet; stats: ToolStats[] }[] = [];
    for (const set of sets) {
      console.log(`\n## ${set.title}\n`);
      const runs = new Map<Tool, Run[]>(active.map((tool) => [tool, []]));
      for (let round = 0; round < options.rounds; round++) {
        for (const tool of order(active, round)) {
          const run = await runOnce(tool, set, out, options, tmp);
          runs.get(tool)!.push(run);
          const status = run.verified ? "ok" : `FAILED: ${run.problem}`;
          console.log(
            `round ${round + 1}/${options.rounds}  ${tool.name.padEnd(14)} ` +
              `${run.wall.toFixed(2).padStart(8)} s  cpu ${run.cpu.toFixed(2).padStart(7)} s  ` +
              `rss ${(run.maxRssKb * 1024 / 1e6).toFixed(1).padStart(7)} MB  ${status}${run.note}`,
          );
        }
      }
      await clearDir(out);
      const stats = active.map((tool) =>
        summarizeRuns(tool.name, set.urls.length, runs.get(tool)!)
      );
      results.push({ set, stats });
      console.log(`\n${markdownTable(stats)}`);
      const bytes = [...set.expected.values()].reduce((sum, file) => sum + file.size, 0);
      const rates = stats.filter((row) => row.wall !== undefined && row.wall > 0)
        .map((row) => `${row.tool} ${(bytes / 1e6 / row.wall!).toFixed(0)}`);
      console.log(`MB/s (${(bytes / 1e6).toFixed(0)} MB / median wall): ${rates.join(", ")}`);
      if (options.huge && set.title.includes("huge")) {
        for (const row of stats.filter((row) => row.tool.startsWith("downpour"))) {
          console.log(
            `${row.tool}: peak RSS ${
              row.rssMb?.toFixed(1) ?? "–"
            } MB on a ${options.hugeMb} MiB file`,
          );
        }
      }
    }

    if (options.writeReadme) await writeReadme(options, results, serverName);
    const failed = results.some(({ stats }) => stats.some((row) => row.verified !== row.runs));
    return failed ? 1 : 0;
  } catch (error) {
    if (state.interrupted) return 130;
    throw error;
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
    await cleanup();
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
