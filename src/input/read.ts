/**
 * Reading URL lists: plain lines, CSV, TSV or JSON Lines, gzip-compressed or not, as streams
 * with backpressure, so that a list of ten million URLs is never held in memory.
 *
 * - {@linkcode readEntries} (here) turns a byte stream into entries (URL, name, digest) and
 *   problems (`entry.ts`).
 * - `readLines` (`lines.ts`) splits a byte stream into numbered lines.
 * - `checkUrl` (`url.ts`) tells whether a text is an http(s) URL, and if not, why.
 * - `formatFromPath` (`formats.ts`) guesses a list's format from its file name.
 *
 * The formats are read by `csv.ts` and `jsonl.ts`, and by {@linkcode readEntries} itself for
 * plain lines; `decode.ts` turns bytes into text.
 *
 * @module
 */

import type { ColumnChoice } from "./columns.ts";
import { tableEntries } from "./csv.ts";
import { checkStream, decode } from "./decode.ts";
import { type InputEntry, type InputProblem, lineByLine } from "./entry.ts";
import { INPUT_FORMATS, type InputFormat } from "./formats.ts";
import { type InputLine, splitLines } from "./lines.ts";
import { jsonEntries } from "./jsonl.ts";
import { checkUrl, clip } from "./url.ts";

/**
 * Reads the entries of a URL list, lazily, with backpressure. Gzip-compressed input (told by its
 * first bytes, whatever the file is called) is decompressed on the fly. Text is UTF-8, with or
 * without a byte order mark; lines end with `\n` or `\r\n`.
 *
 * - `lines`: one URL a line; surrounding whitespace is ignored, and so are blank lines and lines
 *   starting with `#`.
 * - `csv` and `tsv`: RFC 4180 records (quotes, and commas, tabs, newlines and `""` inside
 *   quotes) separated by `,` or a tab. The first record is a header naming the columns; `url` is
 *   required, `name` and `sha256` are optional (in any case and order; other columns are
 *   ignored). Empty records are skipped.
 * - `jsonl`: one JSON object a line, `{"url": ..., "name"?: ..., "sha256"?: ...}`; blank lines
 *   are skipped.
 *
 * Everything that is not a usable entry is yielded as an {@linkcode InputProblem}, and reading
 * goes on: a URL that {@linkcode checkUrl} refuses, bad JSON, a `sha256` that is not 64 hex
 * digits, a line or record longer than {@linkcode MAX_LINE_LENGTH}, a quote never closed. Tell
 * them apart with `"error" in item`. Lines are physical lines, from 1; a CSV record is numbered
 * by the line it starts on. An empty `name` or `sha256` counts as none.
 *
 * When the consumer stops early, the stream is cancelled (closing a file behind it).
 *
 * @param stream The bytes of the list, e.g. `(await Deno.open(path)).readable`.
 * @param format How the list is written; see {@linkcode formatFromPath}.
 * @param columns For csv, tsv and jsonl: the URL's column (default `url`), a caption's column
 * and the columns to keep with each entry (`caption` and `columns` of the entries). A column
 * that is not in the list (the header, or the first JSON object) throws an `InputError`.
 * @returns The entries and problems, in the order of the list.
 * @throws {TypeError} When `stream` or `format` is wrong (on the first step), when a CSV or TSV
 * header has no `url` column, or when the input looks gzip-compressed but is not valid gzip.
 *
 * @example
 * ```ts
 * import { readEntries } from "./read.ts";
 * import assert from "node:assert/strict";
 *
 * const csv = 'url,name\nhttps://example.com/a.png,"Tabby, the cat.png"\nftp://example.com/b.png,\n';
 * const stream = ReadableStream.from([new TextEncoder().encode(csv)]);
 * const items = await Array.fromAsync(readEntries(stream, "csv"));
 * assert.deepEqual(items[0], { line: 2, url: "https://example.com/a.png", name: "Tabby, the cat.png" });
 * assert.ok("error" in items[1]);
 * assert.equal(items[1].line, 3);
 * ```
 */
export async function* readEntries(
  stream: ReadableStream<Uint8Array>,
  format: InputFormat,
  columns?: ColumnChoice,
): AsyncGenerator<InputEntry | InputProblem> {
  checkStream(stream);
  if (!(INPUT_FORMATS as readonly string[]).includes(format)) {
    // The stream was handed over to be read to the end; release it all the same.
    await stream.cancel().catch(() => {});
    throw new TypeError(
      `Cannot read the input: unknown format ${JSON.stringify(String(format))} (expected ${
        INPUT_FORMATS.slice(0, -1).join(", ")
      } or ${INPUT_FORMATS.at(-1)})`,
    );
  }
  if (format === "parquet") {
    await stream.cancel().catch(() => {});
    throw new TypeError(
      "Cannot read the input: a Parquet file needs random access, not a stream; read it with parquetEntries(path) (parquet.ts)",
    );
  }
  const text = decode(stream, true);
  if (format === "lines") yield* lineEntries(splitLines(text));
  else if (format === "jsonl") yield* jsonEntries(splitLines(text), columns);
  else yield* tableEntries(text, format, columns);
}

/** The entries of a plain list: one URL a line; lines starting with `#` are comments. */
function lineEntries(lines: AsyncIterable<InputLine>): AsyncGenerator<InputEntry | InputProblem> {
  return lineByLine(lines, (line, url) => {
    if (url.startsWith("#")) return undefined;
    const checked = checkUrl(url);
    return typeof checked === "string" ? { line, text: clip(url), error: checked } : { line, url };
  });
}
