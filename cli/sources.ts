/**
 * Where the command's URLs come from: its arguments, then each `-i` list (a file or stdin), read
 * by the library's own reader, or the failures an earlier run recorded in the journal.
 *
 * @module
 */

import type { DownloadInput, DownloadResult } from "../mod.ts";
import { formatFromPath } from "../src/input/formats.ts";
import type { InputFormat } from "../src/input/formats.ts";
import { readEntries } from "../src/input/read.ts";
import type { ColumnChoice } from "../src/input/columns.ts";
import type { InputEntry, InputProblem } from "../src/input/entry.ts";
import { Journal, type JournalEntry } from "../src/journal.ts";
import { maskPasswords } from "../src/journal/redact.ts";
import { UsageError } from "./flags.ts";

/** One input list, opened. */
export interface Source {
  label: string;
  /** The list's bytes; a Parquet file is opened by its reader instead, from `label`. */
  stream?: ReadableStream<Uint8Array>;
  format: InputFormat;
}

/** The entries of one list, by the reader of its format. */
function entriesOf(
  path: string,
  stream: ReadableStream<Uint8Array> | undefined,
  format: InputFormat,
  columns: ColumnChoice | undefined,
): AsyncGenerator<InputEntry | InputProblem> {
  return format === "parquet" ? parquetList(path, columns) : readEntries(stream!, format, columns);
}

/** A Parquet list's entries; the Parquet packages load only for one. */
async function* parquetList(
  path: string,
  columns: ColumnChoice | undefined,
): AsyncGenerator<InputEntry | InputProblem> {
  const { parquetEntries } = await import("../src/input/parquet.ts");
  yield* parquetEntries(path, columns);
}

/** A list file, opened for reading; a usage error when it cannot be. */
async function openList(path: string): Promise<Deno.FsFile> {
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(path);
    if ((await file.stat()).isDirectory) throw new Error("it is a directory");
    return file;
  } catch (error) {
    file?.close();
    throw new UsageError(`cannot read the input '${path}': ${(error as Error).message}`);
  }
}

/** Opens every list; on a problem with one, closes those already open. */
export async function openSources(
  paths: string[],
  format: InputFormat | undefined,
): Promise<Source[]> {
  if (paths.filter((path) => path === "-").length > 1) {
    throw new UsageError("stdin (-) can be read only once");
  }
  const sources: Source[] = [];
  try {
    for (const path of paths) {
      if (path === "-") {
        if (format === "parquet") throw new UsageError("a Parquet list cannot be read from stdin");
        sources.push({ label: "stdin", stream: Deno.stdin.readable, format: format ?? "lines" });
      } else if ((format ?? formatFromPath(path)) === "parquet") {
        (await openList(path)).close();
        sources.push({ label: path, format: "parquet" });
      } else {
        const file = await openList(path);
        sources.push({
          label: path,
          stream: file.readable,
          format: format ?? formatFromPath(path),
        });
      }
    }
  } catch (error) {
    await closeSources(sources);
    throw error;
  }
  return sources;
}

/** Cancels every list's stream (closing its file). */
export async function closeSources(sources: Source[]): Promise<void> {
  for (const source of sources) await source.stream?.cancel().catch(() => {});
}

/**
 * How many results the lists will give, as the progress line's total: every entry the reader
 * yields (a bad line is a result too) that falls in the shard. The lists are read a second
 * time, by the same reader; `undefined` when one is stdin or cannot be read.
 */
export async function countEntries(
  paths: string[],
  format: InputFormat | undefined,
  keep: ((url: string, position: number) => boolean) | undefined,
  columns?: ColumnChoice,
): Promise<number | undefined> {
  let total = 0;
  let position = 0;
  for (const path of paths) {
    if (path === "-") return undefined;
    try {
      const chosen = format ?? formatFromPath(path);
      const stream = chosen === "parquet" ? undefined : (await Deno.open(path)).readable;
      for await (const entry of entriesOf(path, stream, chosen, columns)) {
        if ("error" in entry) total++;
        else if (!keep || keep(entry.url, position++)) total++;
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
export async function* urlsOf(
  positionals: string[],
  sources: Source[],
  skip: (result: DownloadResult) => void,
  retry?: Iterable<JournalEntry>,
  columns?: ColumnChoice,
): AsyncGenerator<DownloadInput> {
  for (const url of positionals) yield url;
  for (const entry of retry ?? []) {
    if (entry.redacted) {
      skip({
        url: entry.input?.url ?? entry.url,
        ok: false,
        bytes: 0,
        reason: "invalid-url",
        error:
          `cannot retry ${entry.url}: the journal does not keep passwords; give its list again to retry it`,
        attempts: 0,
        ms: 0,
      });
      continue;
    }
    // As it was given: its name, its digest, its columns.
    yield entry.input ? { ...entry.input } : entry.url;
  }
  for (const source of sources) {
    for await (const entry of entriesOf(source.label, source.stream, source.format, columns)) {
      if ("error" in entry) {
        skip({
          url: maskPasswords(entry.text),
          ok: false,
          bytes: 0,
          reason: "invalid-url",
          error: `${source.label}, ${source.format === "parquet" ? "row" : "line"} ${entry.line}: ${
            maskPasswords(entry.error)
          }; skipped`,
          attempts: 0,
          ms: 0,
        });
        continue;
      }
      const { url, name, sha256, caption, columns } = entry;
      yield name === undefined && sha256 === undefined && caption === undefined &&
          columns === undefined
        ? url
        : {
          url,
          ...(name ? { name } : {}),
          ...(sha256 ? { sha256 } : {}),
          ...(caption !== undefined ? { caption } : {}),
          ...(columns ? { columns } : {}),
        };
    }
  }
}

/**
 * The failures whose last recorded outcome in `out`'s journal is a failure, read lazily, each
 * with the input entry it was given (name, digest, columns), for `--retry-failed`.
 */
export async function failedBefore(out: string): Promise<Iterable<JournalEntry>> {
  if (!await Journal.exists(out)) {
    throw new UsageError(`--retry-failed: there is no journal in '${out}' (no earlier run)`);
  }
  return { [Symbol.iterator]: () => Journal.failures(out) };
}
