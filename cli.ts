#!/usr/bin/env -S deno run --allow-net --allow-read --allow-write --v8-flags=--max-semi-space-size=1
/**
 * The `downpour` command: downloads the URLs given as arguments or listed in a file into a
 * directory. Run `deno run -A cli.ts --help` for the options.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  DEFAULTS,
  download,
  type DownloadInput,
  type DownloadResult,
  OutDirError,
  VERSION,
} from "./mod.ts";
import { formatFromPath, type InputFormat, readEntries } from "./src/input/read.ts";
import { Journal, JOURNAL_NAME } from "./src/journal.ts";
import { Progress } from "./cli/progress.ts";
import { parseShard } from "./src/shard.ts";
import { Tally } from "./src/summary.ts";

const HELP = `downpour ${VERSION}: download lists of image URLs in parallel, safely.

Usage: downpour [options] [URL ...]

  -i, --input FILE        URLs, one per line ("-" = stdin); blank lines and lines starting
                          with # are skipped. .csv/.tsv (with a url column) and .jsonl are
                          read as such; .gz files are decompressed as they stream
      --format F          lines, csv, tsv or jsonl, instead of guessing from the file name
  -o, --out DIR           where files go (default ./downloads); created if missing
  -w, --workers N         Web Workers (default: the number of cores)
  -c, --concurrency N     downloads in flight per worker (default ${DEFAULTS.concurrency})
      --per-host N        downloads in flight per host, across all workers (default ${DEFAULTS.perHost})
      --retries N         retries after network errors, timeouts, 408/429/5xx (default ${DEFAULTS.retries})
      --max-bytes N       largest file kept, in bytes (default ${DEFAULTS.maxBytes})
      --any-type          keep any file, not only images (checked by their first bytes)
      --digest            compute each file's SHA-256, for --json and the journal (costs CPU;
                          files with a sha256 column are always checked)
      --headers-timeout S seconds to wait for a response (default ${DEFAULTS.headersTimeout / 1000})
      --idle-timeout S    seconds without data before giving up (default ${
  DEFAULTS.idleTimeout / 1000
})
      --total-timeout S   seconds one attempt may take in all (default: no limit)
      --max-redirects N   redirects followed per URL, http(s) only (default ${DEFAULTS.maxRedirects})
      --user-agent UA     the User-Agent header (default ${DEFAULTS.userAgent})
      --layout L          flat (default), or shard: 1,000 files a subdirectory, for huge runs
      --rate N            requests per second per host (default: no limit)
      --robots            honour each host's robots.txt (fetched once per host)
      --deny-private      refuse URLs and redirects to loopback/private/link-local addresses
      --honor-noai        skip images whose X-Robots-Tag says noai or noimageai
      --shard K/N         keep only shard K of N of the input (by a stable hash of the URL);
                          auto/N takes K from JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs)
      --report FILE       write a JSON summary: counts by outcome and reason, bytes, time
      --retry-failed      fetch again only the URLs that failed in earlier runs into DIR
                          (as recorded in DIR/.downpour-journal.jsonl)
      --no-journal        neither read nor write the journal: fetch everything again
      --json              one JSON object per URL on stdout: the library's result
  -q, --quiet             no progress, only errors and the summary
  -h, --help              this text
  -V, --version           the version

Exit status: 0 every URL saved, 1 any URL failed, 2 usage error, 130 interrupted.

Install:  deno install -g -n downpour --allow-net --allow-read --allow-write \\
            --v8-flags=--max-semi-space-size=1 <url or path>/cli.ts
Example:  downpour -i urls.txt -o images
`;

/** How a usage problem is reported: one line on stderr and exit status 2. */
class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const encoder = new TextEncoder();
function write(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  let at = 0;
  while (at < bytes.length) at += stream.writeSync(bytes.subarray(at));
}

function count(value: string | undefined, flag: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
    const what = min === 0 ? "a whole number" : "a positive whole number";
    throw new UsageError(`${flag} must be ${what}, got '${value}'`);
  }
  return n;
}

function seconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0) {
    throw new UsageError(`${flag} must be a positive number of seconds, got '${value}'`);
  }
  return Math.round(n * 1000);
}

function layoutOf(value: string | undefined): "flat" | "shard" | undefined {
  if (value === undefined || value === "flat" || value === "shard") return value;
  throw new UsageError(`--layout must be flat or shard, got '${value}'`);
}

function rateOf(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0) {
    throw new UsageError(`--rate must be a positive number of requests per second, got '${value}'`);
  }
  return n;
}

function shardOf(value: string | undefined): { index: number; count: number } | undefined {
  if (value === undefined) return undefined;
  try {
    return parseShard(value, (name) => Deno.env.get(name));
  } catch (error) {
    throw new UsageError(`--shard: ${(error as Error).message}`);
  }
}

const FORMATS = new Set(["lines", "csv", "tsv", "jsonl"]);

function parse(args: string[]) {
  try {
    return parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        input: { type: "string", short: "i", multiple: true },
        format: { type: "string" },
        out: { type: "string", short: "o", default: "downloads" },
        workers: { type: "string", short: "w" },
        concurrency: { type: "string", short: "c" },
        "per-host": { type: "string" },
        retries: { type: "string" },
        "max-bytes": { type: "string" },
        "any-type": { type: "boolean" },
        digest: { type: "boolean" },
        "headers-timeout": { type: "string" },
        "idle-timeout": { type: "string" },
        "total-timeout": { type: "string" },
        "user-agent": { type: "string" },
        "max-redirects": { type: "string" },
        layout: { type: "string" },
        rate: { type: "string" },
        robots: { type: "boolean" },
        "deny-private": { type: "boolean" },
        "honor-noai": { type: "boolean" },
        shard: { type: "string" },
        report: { type: "string" },
        "retry-failed": { type: "boolean" },
        "no-journal": { type: "boolean" },
        json: { type: "boolean" },
        quiet: { type: "boolean", short: "q" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
      },
    });
  } catch (error) {
    // node:util's messages name the flag; make them ours.
    const message = (error as Error).message.replace(/\. To specify a positional.*$/s, "");
    throw new UsageError(message);
  }
}

interface Source {
  label: string;
  stream: ReadableStream<Uint8Array>;
  format: InputFormat;
}

async function openSources(paths: string[], format: string | undefined): Promise<Source[]> {
  if (format !== undefined && !FORMATS.has(format)) {
    throw new UsageError(`--format must be lines, csv, tsv or jsonl, got '${format}'`);
  }
  const sources: Source[] = [];
  try {
    for (const path of paths) {
      if (path === "-") {
        sources.push({
          label: "stdin",
          stream: Deno.stdin.readable,
          format: (format as InputFormat) ?? "lines",
        });
        continue;
      }
      let file: Deno.FsFile;
      try {
        file = await Deno.open(path);
        const info = await file.stat();
        if (info.isDirectory) {
          file.close();
          throw new Error("it is a directory");
        }
      } catch (error) {
        throw new UsageError(`cannot read the input '${path}': ${(error as Error).message}`);
      }
      sources.push({
        label: path,
        stream: file.readable,
        format: (format as InputFormat) ?? formatFromPath(path),
      });
    }
  } catch (error) {
    for (const source of sources) await source.stream.cancel().catch(() => {});
    throw error;
  }
  return sources;
}

/**
 * Counts the lines that hold something in uncompressed list files, as the total for the
 * progress line; `undefined` when a file is compressed, not a plain list, or unreadable.
 */
async function countLines(paths: string[]): Promise<number | undefined> {
  let total = 0;
  for (const path of paths) {
    if (formatFromPath(path) !== "lines" || path.endsWith(".gz")) return undefined;
    try {
      using file = await Deno.open(path);
      const buffer = new Uint8Array(1 << 16);
      let previous = 0x0a;
      for (let n; (n = await file.read(buffer)) !== null;) {
        for (let i = 0; i < n; i++) {
          const byte = buffer[i]!;
          if (previous === 0x0a && byte !== 0x0a && byte !== 0x0d && byte !== 0x23) total++;
          previous = byte;
        }
      }
    } catch {
      return undefined;
    }
  }
  return total;
}

/**
 * The URLs of the arguments and then of each source, in order. A line that is not an http(s)
 * URL becomes a failed result, handed to `skip` with its line number, and the rest go on.
 */
async function* urlsOf(
  positionals: string[],
  sources: Source[],
  skip: (result: DownloadResult) => void,
): AsyncGenerator<DownloadInput> {
  for (const url of positionals) yield url;
  for (const source of sources) {
    for await (const entry of readEntries(source.stream, source.format)) {
      if ("error" in entry) {
        skip({
          url: entry.text,
          ok: false,
          bytes: 0,
          reason: "invalid-url",
          error: `${source.label}, line ${entry.line}: ${entry.error}; skipped`,
          attempts: 0,
          ms: 0,
        });
        continue;
      }
      const { url, name, sha256 } = entry;
      yield name === undefined && sha256 === undefined
        ? url
        : { url, ...(name ? { name } : {}), ...(sha256 ? { sha256 } : {}) };
    }
  }
}

/** The URLs whose last recorded outcome in `out`'s journal is a failure. */
async function failedBefore(out: string): Promise<string[]> {
  try {
    await Deno.stat(`${out}/${JOURNAL_NAME}`);
  } catch {
    throw new UsageError(`--retry-failed: there is no journal in '${out}' (no earlier run)`);
  }
  const journal = await Journal.open(out);
  try {
    return journal.failures().map((entry) => entry.url);
  } finally {
    await journal.close();
  }
}

/**
 * Runs the command.
 *
 * @param args The command-line arguments, without the program's name.
 * @returns The exit status: 0 all saved, 1 some failed, 2 usage error, 130 interrupted.
 *
 * @example
 * ```ts
 * import { main } from "./cli.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(await main(["--definitely-not-an-option"]), 2);
 * ```
 */
export async function main(args: string[]): Promise<number> {
  let values;
  let positionals: string[];
  let sources: Source[] = [];
  const stop = new AbortController();
  let interrupted = 0;
  const onSignal = () => {
    interrupted++;
    if (interrupted > 1) Deno.exit(130);
    write(Deno.stderr, "\ndownpour: stopping; press Ctrl-C again to quit at once\n");
    stop.abort(new DOMException("Interrupted", "AbortError"));
  };
  try {
    ({ values, positionals } = parse(args));
    if (values.help) {
      write(Deno.stdout, HELP);
      return 0;
    }
    if (values.version) {
      write(Deno.stdout, `downpour ${VERSION}\n`);
      return 0;
    }
    const options = {
      out: values.out!,
      workers: count(values.workers, "--workers"),
      concurrency: count(values.concurrency, "--concurrency"),
      perHost: count(values["per-host"], "--per-host"),
      retries: count(values.retries, "--retries", 0),
      maxBytes: count(values["max-bytes"], "--max-bytes"),
      anyType: values["any-type"] ?? false,
      digest: values.digest ?? false,
      headersTimeout: seconds(values["headers-timeout"], "--headers-timeout"),
      idleTimeout: seconds(values["idle-timeout"], "--idle-timeout"),
      totalTimeout: seconds(values["total-timeout"], "--total-timeout"),
      maxRedirects: count(values["max-redirects"], "--max-redirects", 0),
      userAgent: values["user-agent"],
      journal: !values["no-journal"],
      layout: layoutOf(values.layout),
      rate: rateOf(values.rate),
      robots: values.robots ?? false,
      denyPrivate: values["deny-private"] ?? false,
      honorNoAi: values["honor-noai"] ?? false,
      shard: shardOf(values.shard),
      signal: stop.signal,
    };
    for (const [key, value] of Object.entries(options)) {
      if (value === undefined) delete (options as Record<string, unknown>)[key];
    }
    const inputs = values.input ?? [];
    const retryFailed = values["retry-failed"] ?? false;
    if (retryFailed && values["no-journal"]) {
      throw new UsageError("--retry-failed reads the journal, so it cannot go with --no-journal");
    }
    if (retryFailed) {
      positionals.push(...await failedBefore(options.out));
    } else if (inputs.length === 0 && positionals.length === 0) {
      throw new UsageError("give URLs as arguments, or a list with -i FILE (- for stdin)");
    }
    if (inputs.filter((path) => path === "-").length > 1) {
      throw new UsageError("stdin (-) can be read only once");
    }
    sources = await openSources(inputs, values.format);

    const json = values.json ?? false;
    const quiet = values.quiet ?? false;
    const tally = new Tally();
    const progress = !quiet && Deno.stderr.isTerminal()
      ? new Progress(tally, (text) => write(Deno.stderr, text))
      : undefined;
    const report = (line: string) => {
      progress?.clear();
      write(Deno.stderr, line + "\n");
    };

    const skip = (result: DownloadResult) => {
      tally.add(result);
      if (json) write(Deno.stdout, JSON.stringify(result) + "\n");
      else report(`downpour: ${result.error}`);
    };
    const items = urlsOf(positionals, sources, skip);

    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
    if (progress) {
      // The total, for done/total and the ETA: known for arguments, counted for plain files.
      const files = inputs.filter((path) => path !== "-");
      if (files.length === inputs.length) {
        progress.total = positionals.length;
        if (files.length > 0) {
          countLines(files).then((n) => {
            if (n !== undefined) progress.total = positionals.length + n;
          });
        }
      }
    }
    progress?.start();
    const startedAt = new Date();
    let code: number;
    let problem: unknown;
    try {
      for await (const result of download(items, options)) {
        tally.add(result);
        if (json) write(Deno.stdout, JSON.stringify(result) + "\n");
        else if (!result.ok) report(`downpour: ✗ ${result.url}: ${result.error}`);
      }
      code = tally.summary().failed > 0 ? 1 : 0;
    } catch (error) {
      if (error instanceof OutDirError) throw error; // a usage error: nothing was downloaded
      if (!stop.signal.aborted) problem = error;
      code = stop.signal.aborted ? 130 : 1;
    } finally {
      progress?.stop();
    }
    const summary = tally.summary(code === 130);
    if (problem !== undefined) {
      write(Deno.stderr, `downpour: ${(problem as Error)?.message ?? problem}\n`);
    }
    const prefix = code === 130 ? "interrupted. " : "";
    write(Deno.stderr, `downpour: ${prefix}${Progress.line(summary)}\n`);
    if (values.report !== undefined) {
      const body = {
        tool: `downpour ${VERSION}`,
        out: options.out,
        startedAt,
        exitCode: code,
        ...summary,
      };
      try {
        await Deno.writeTextFile(values.report, JSON.stringify(body, null, 2) + "\n");
      } catch (error) {
        write(
          Deno.stderr,
          `downpour: cannot write the report '${values.report}': ${(error as Error).message}\n`,
        );
        if (code === 0) code = 1;
      }
    }
    if (code === 0 && summary.total === 0) {
      write(Deno.stderr, "downpour: the input had no URLs; nothing to do\n");
    }
    return code;
  } catch (error) {
    if (error instanceof UsageError || error instanceof OutDirError) {
      write(Deno.stderr, `downpour: ${error.message}\nTry 'downpour --help'.\n`);
      return 2;
    }
    write(Deno.stderr, `downpour: ${(error as Error)?.message ?? error}\n`);
    return 1;
  } finally {
    for (const source of sources) await source.stream.cancel().catch(() => {});
    try {
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
    } catch {
      // Never added.
    }
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
