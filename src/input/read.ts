/**
 * Reading URL lists: plain lines, CSV, TSV or JSON Lines, gzip-compressed or not, as streams
 * with backpressure, so that a list of ten million URLs is never held in memory.
 *
 * - {@linkcode readEntries} turns a byte stream into entries (URL, name, digest) and problems.
 * - {@linkcode readLines} splits a byte stream into numbered lines.
 * - {@linkcode checkUrl} tells whether a text is an http(s) URL, and if not, why.
 * - {@linkcode formatFromPath} guesses a list's format from its file name.
 *
 * @module
 */

/**
 * One URL read from a list, with the optional columns that came with it.
 *
 * @example
 * ```ts
 * import { type InputEntry, readEntries } from "./read.ts";
 * import assert from "node:assert/strict";
 *
 * const jsonl = '{"url": "https://example.com/a.png", "name": "a-cat.png"}\n';
 * const stream = ReadableStream.from([new TextEncoder().encode(jsonl)]);
 * const [entry] = await Array.fromAsync(readEntries(stream, "jsonl"));
 * const expected: InputEntry = { line: 1, url: "https://example.com/a.png", name: "a-cat.png" };
 * assert.deepEqual(entry, expected);
 * ```
 */
export interface InputEntry {
  /** The 1-based physical line the entry starts on. */
  line: number;
  /** The URL as written (trimmed); {@linkcode checkUrl} accepted it. */
  url: string;
  /** The file name wanted for it (a `name` column or field), when one is given. */
  name?: string;
  /** The expected SHA-256 of its body, as 64 lowercase hex digits, when one is given. */
  sha256?: string;
}

/**
 * Something in a list that is not a usable entry; reading goes on after it.
 *
 * @example Tell problems from entries with `"error" in item`
 * ```ts
 * import { type InputProblem, readEntries } from "./read.ts";
 * import assert from "node:assert/strict";
 *
 * const list = "https://example.com/a.png\nnot a url\n";
 * const stream = ReadableStream.from([new TextEncoder().encode(list)]);
 * const problems: InputProblem[] = [];
 * for await (const item of readEntries(stream, "lines")) {
 *   if ("error" in item) problems.push(item);
 * }
 * assert.equal(problems.length, 1);
 * assert.equal(problems[0]!.line, 2);
 * assert.equal(problems[0]!.text, "not a url");
 * ```
 */
export interface InputProblem {
  /** The 1-based physical line the problem starts on. */
  line: number;
  /** The offending text: the URL when there is one, else the line or record (cut to 200 characters). */
  text: string;
  /** A sentence saying what is wrong. */
  error: string;
}

/**
 * One line of text from {@linkcode readLines}.
 *
 * @example
 * ```ts
 * import { type InputLine, readLines } from "./read.ts";
 * import assert from "node:assert/strict";
 *
 * const stream = ReadableStream.from([new TextEncoder().encode("one\ntwo\n")]);
 * const lines: InputLine[] = await Array.fromAsync(readLines(stream));
 * assert.deepEqual(lines.map((l) => l.text), ["one", "two"]);
 * ```
 */
export interface InputLine {
  /** The 1-based line number. */
  line: number;
  /** The line, without its `\n` or `\r\n`; at most {@linkcode MAX_LINE_LENGTH} characters. */
  text: string;
  /** Set when the line was longer than {@linkcode MAX_LINE_LENGTH} and `text` is its start. */
  truncated?: true;
}

/**
 * The formats of URL lists: see {@linkcode readEntries}.
 *
 * @example
 * ```ts
 * import { formatFromPath, type InputFormat } from "./read.ts";
 * import assert from "node:assert/strict";
 *
 * const format: InputFormat = formatFromPath("urls.tsv.gz");
 * assert.equal(format, "tsv");
 * ```
 */
export type InputFormat = "lines" | "csv" | "tsv" | "jsonl";

/**
 * The longest line (or CSV record) kept, in UTF-16 code units (64 Ki). Longer ones are cut by
 * {@linkcode readLines} and reported as problems by {@linkcode readEntries}, without ever being
 * held in memory whole.
 *
 * @example
 * ```ts
 * import { MAX_LINE_LENGTH } from "./read.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(MAX_LINE_LENGTH, 65536);
 * ```
 */
export const MAX_LINE_LENGTH = 65536;

const FORMATS: ReadonlySet<string> = new Set(["lines", "csv", "tsv", "jsonl"]);

/** How much of an offending text a problem repeats. */
const MAX_SHOWN = 200;

/**
 * Guesses the format of a list from its file name: `.csv`, `.tsv`, `.jsonl` or `.ndjson`, each
 * maybe followed by `.gz`, in any case; anything else is `"lines"`.
 *
 * @param path A file name or path.
 * @returns The format.
 * @throws {TypeError} When `path` is not a string.
 *
 * @example
 * ```ts
 * import { formatFromPath } from "./read.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatFromPath("cats.CSV"), "csv");
 * assert.equal(formatFromPath("dump/cats.ndjson.gz"), "jsonl");
 * assert.equal(formatFromPath("urls.txt"), "lines");
 * ```
 */
export function formatFromPath(path: string): InputFormat {
  if (typeof path !== "string") {
    throw new TypeError(
      `Cannot guess the input format: 'path' must be a string, got ${typeof path}`,
    );
  }
  let name = path.toLowerCase();
  if (name.endsWith(".gz")) name = name.slice(0, -3);
  if (name.endsWith(".csv")) return "csv";
  if (name.endsWith(".tsv")) return "tsv";
  if (name.endsWith(".jsonl") || name.endsWith(".ndjson")) return "jsonl";
  return "lines";
}

/**
 * Checks that `text` is an absolute http: or https: URL.
 *
 * @param text The text to check, e.g. one line of a list.
 * @returns The parsed URL, or a sentence a user can act on saying why `text` is not usable.
 * @throws {TypeError} When `text` is not a string.
 *
 * @example
 * ```ts
 * import { checkUrl } from "./read.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(checkUrl("https://example.com/cat.png") instanceof URL);
 * assert.equal(
 *   checkUrl("ftp://x/y"),
 *   '"ftp://x/y" uses the ftp: scheme; only http: and https: are supported',
 * );
 * assert.equal(
 *   checkUrl("foo bar"),
 *   '"foo bar" is not a URL (expected something like https://example.com/cat.png)',
 * );
 * ```
 */
export function checkUrl(text: string): URL | string {
  if (typeof text !== "string") {
    throw new TypeError(`Cannot check a URL: expected a string, got ${typeof text}`);
  }
  const url = URL.parse(text);
  if (url !== null && (url.protocol === "http:" || url.protocol === "https:")) return url;
  const shown = JSON.stringify(clip(text));
  if (url === null) {
    const trimmed = text.trim();
    if (trimmed.startsWith("//") && URL.parse("https:" + trimmed) !== null) {
      return `${shown} has no scheme; write it as "https:${clip(trimmed)}"`;
    }
    if (/^[^\s/:?#]+\.[^\s/:?#.]+(?::\d+)?(?:[/?#]|$)/.test(trimmed)) {
      if (URL.parse("https://" + trimmed) !== null) {
        return `${shown} has no scheme; write it as "https://${clip(trimmed)}"`;
      }
    }
    if (/^[a-z][a-z\d+.-]*:\/\//i.test(trimmed)) {
      return `${shown} is not a valid URL (look for spaces or characters out of place)`;
    }
    return `${shown} is not a URL (expected something like https://example.com/cat.png)`;
  }
  // "localhost:8080/cat.png" parses as the scheme "localhost:".
  if (/^[^\s/:?#]+:\d+(?:[/?#]|$)/.test(text.trim())) {
    return `${shown} has no scheme; write it as "http://${clip(text.trim())}"`;
  }
  return `${shown} uses the ${url.protocol} scheme; only http: and https: are supported`;
}

function clip(text: string): string {
  return text.length > MAX_SHOWN ? text.slice(0, MAX_SHOWN) + "…" : text;
}

/**
 * Splits a UTF-8 byte stream into lines: on `\n` or `\r\n`, with or without a final newline,
 * without a leading byte order mark, with malformed UTF-8 replaced by U+FFFD. A line longer
 * than {@linkcode MAX_LINE_LENGTH} is yielded cut, with `truncated: true`; its rest is skipped
 * as it arrives, never buffered.
 *
 * The stream is read as lines are consumed. When the consumer stops early (`break`, `return`, or
 * a throw in a `for await` loop), the stream is cancelled, which also closes a file behind it.
 *
 * @param stream The bytes, e.g. `(await Deno.open(path)).readable`.
 * @returns The lines, numbered from 1.
 * @throws {TypeError} When `stream` is not a `ReadableStream` (on the first step).
 *
 * @example
 * ```ts
 * import { readLines } from "./read.ts";
 * import assert from "node:assert/strict";
 *
 * const stream = ReadableStream.from([new TextEncoder().encode("\ufeffa\r\nb\n\nc")]);
 * const lines = await Array.fromAsync(readLines(stream));
 * assert.deepEqual(lines, [
 *   { line: 1, text: "a" },
 *   { line: 2, text: "b" },
 *   { line: 3, text: "" },
 *   { line: 4, text: "c" },
 * ]);
 * ```
 */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<InputLine> {
  checkStream(stream);
  yield* splitLines(decode(stream, false));
}

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
): AsyncGenerator<InputEntry | InputProblem> {
  checkStream(stream);
  if (!FORMATS.has(format)) {
    // The stream was handed over to be read to the end; release it all the same.
    await stream.cancel().catch(() => {});
    throw new TypeError(
      `Cannot read the input: unknown format ${
        JSON.stringify(String(format))
      } (expected lines, csv, tsv or jsonl)`,
    );
  }
  const text = decode(stream, true);
  if (format === "lines") yield* lineEntries(splitLines(text));
  else if (format === "jsonl") yield* jsonEntries(splitLines(text));
  else yield* tableEntries(text, format === "csv" ? "," : "\t", format);
}

function checkStream(stream: unknown): void {
  if (!(stream instanceof ReadableStream)) {
    throw new TypeError(
      `Cannot read the input: expected a ReadableStream of bytes, got ${
        stream === null ? "null" : typeof stream
      }`,
    );
  }
}

/** Decodes the stream as UTF-8 text chunks, gunzipping it first when asked and it is gzip. */
async function* decode(
  stream: ReadableStream<Uint8Array>,
  gunzip: boolean,
): AsyncGenerator<string> {
  const reader = stream.getReader();
  let source: ReadableStreamDefaultReader<Uint8Array> = reader;
  let piping: Promise<void> | undefined;
  let head: Uint8Array | undefined;
  try {
    if (gunzip) {
      head = await readHead(reader);
      if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
        const first = head;
        head = undefined;
        const raw = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(first);
          },
          async pull(controller) {
            const { done, value } = await reader.read();
            // After a cancel, the read ends as done and the stream is closed already.
            try {
              if (done) controller.close();
              else controller.enqueue(value);
            } catch {
              // Closed by the cancel: nothing to do.
            }
          },
          cancel(reason) {
            return reader.cancel(reason);
          },
        }, { highWaterMark: 0 });
        const gzip = new DecompressionStream("gzip");
        // Typed as taking views of ArrayBuffer only; any Uint8Array works.
        piping = raw.pipeTo(gzip.writable as WritableStream<Uint8Array>);
        // A failure shows on the readable side too; this only keeps it from going unhandled.
        piping.catch(() => {});
        source = gzip.readable.getReader();
      }
    }
    const decoder = new TextDecoder();
    if (head !== undefined && head.length > 0) {
      const text = decoder.decode(head, { stream: true });
      if (text !== "") yield text;
    }
    while (true) {
      let step: ReadableStreamReadResult<Uint8Array>;
      try {
        step = await source.read();
      } catch (error) {
        if (piping === undefined) throw error;
        throw new TypeError(
          `Cannot read the input: it starts like gzip, but reading it failed: ${
            (error as Error)?.message ?? error
          }`,
          { cause: error },
        );
      }
      if (step.done) break;
      const text = decoder.decode(step.value, { stream: true });
      if (text !== "") yield text;
    }
    const text = decoder.decode();
    if (text !== "") yield text;
  } finally {
    if (source !== reader) {
      await source.cancel().catch(() => {});
      await piping?.catch(() => {});
    }
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/** Reads until there are at least 2 bytes (enough to spot gzip) or the stream ends. */
async function readHead(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<Uint8Array> {
  let head: Uint8Array = new Uint8Array(0);
  while (head.length < 2) {
    const { done, value } = await reader.read();
    if (done) break;
    if (head.length === 0) {
      head = value;
    } else {
      const joined = new Uint8Array(head.length + value.length);
      joined.set(head);
      joined.set(value, head.length);
      head = joined;
    }
  }
  return head;
}

/** Splits text chunks into lines; see {@linkcode readLines}. */
async function* splitLines(chunks: AsyncIterable<string>): AsyncGenerator<InputLine> {
  let line = 0;
  let carry = "";
  let long = false;
  for await (const chunk of chunks) {
    let start = 0;
    while (true) {
      const end = chunk.indexOf("\n", start);
      if (end === -1) break;
      line++;
      if (long) {
        yield { line, text: carry, truncated: true };
      } else {
        yield toLine(
          line,
          carry === "" ? chunk.slice(start, end) : carry + chunk.slice(start, end),
        );
      }
      carry = "";
      long = false;
      start = end + 1;
    }
    if (!long && start < chunk.length) {
      carry += chunk.slice(start);
      if (carry.length > MAX_LINE_LENGTH + 1) {
        carry = carry.slice(0, MAX_LINE_LENGTH);
        long = true;
      }
    }
  }
  if (long) yield { line: line + 1, text: carry, truncated: true };
  else if (carry !== "") yield toLine(line + 1, carry);
}

/** A line without its `\r`, cut when it is too long. */
function toLine(line: number, text: string): InputLine {
  if (text.charCodeAt(text.length - 1) === 0x0d) text = text.slice(0, -1);
  if (text.length > MAX_LINE_LENGTH) {
    return { line, text: text.slice(0, MAX_LINE_LENGTH), truncated: true };
  }
  return { line, text };
}

function tooLong(line: number, text: string, what: string): InputProblem {
  return {
    line,
    text: clip(text),
    error: `the ${what} is longer than ${MAX_LINE_LENGTH} characters; skipped`,
  };
}

async function* lineEntries(
  lines: AsyncIterable<InputLine>,
): AsyncGenerator<InputEntry | InputProblem> {
  for await (const { line, text, truncated } of lines) {
    if (truncated) {
      yield tooLong(line, text, "line");
      continue;
    }
    const url = text.trim();
    if (url === "" || url.startsWith("#")) continue;
    const checked = checkUrl(url);
    yield typeof checked === "string" ? { line, text: clip(url), error: checked } : { line, url };
  }
}

async function* jsonEntries(
  lines: AsyncIterable<InputLine>,
): AsyncGenerator<InputEntry | InputProblem> {
  for await (const { line, text, truncated } of lines) {
    if (truncated) {
      yield tooLong(line, text, "line");
      continue;
    }
    const trimmed = text.trim();
    if (trimmed === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (error) {
      yield {
        line,
        text: clip(trimmed),
        error: `not valid JSON (${(error as Error).message})`,
      };
      continue;
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      yield {
        line,
        text: clip(trimmed),
        error: 'expected a JSON object like {"url": "https://example.com/cat.png"}',
      };
      continue;
    }
    const { url, name, sha256 } = value as Record<string, unknown>;
    yield entry(line, url, name, sha256, trimmed);
  }
}

/**
 * Checks the fields of one entry; `text` stands for the entry in a problem when there is no
 * usable URL text.
 */
function entry(
  line: number,
  url: unknown,
  name: unknown,
  sha256: unknown,
  text: string,
): InputEntry | InputProblem {
  if (url === undefined || url === null || isBlank(url)) {
    return { line, text: clip(text), error: "there is no URL in the 'url' field" };
  }
  if (typeof url !== "string") {
    return { line, text: clip(text), error: `'url' must be a string, got ${typeOf(url)}` };
  }
  const href = url.trim();
  const checked = checkUrl(href);
  if (typeof checked === "string") return { line, text: clip(href), error: checked };
  const result: InputEntry = { line, url: href };
  if (name !== undefined && name !== null && !isBlank(name)) {
    if (typeof name !== "string") {
      return { line, text: clip(href), error: `'name' must be a string, got ${typeOf(name)}` };
    }
    result.name = name.trim();
  }
  if (sha256 !== undefined && sha256 !== null && !isBlank(sha256)) {
    const digest = typeof sha256 === "string" ? sha256.trim() : "";
    if (!/^[0-9a-fA-F]{64}$/.test(digest)) {
      const given = typeof sha256 === "string" ? JSON.stringify(clip(sha256)) : typeOf(sha256);
      return {
        line,
        text: clip(href),
        error: `'sha256' must be 64 hex digits, got ${given}`,
      };
    }
    result.sha256 = digest.toLowerCase();
  }
  return result;
}

function isBlank(value: unknown): boolean {
  return typeof value === "string" && value.trim() === "";
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

async function* tableEntries(
  chunks: AsyncIterable<string>,
  delimiter: string,
  format: "csv" | "tsv",
): AsyncGenerator<InputEntry | InputProblem> {
  let columns: { url: number; name: number; sha256: number } | undefined;
  for await (const record of records(chunks, delimiter)) {
    if (columns === undefined) {
      if (record.problem !== undefined) {
        throw new TypeError(
          `Cannot read the input: the ${format.toUpperCase()} header on line ${record.line} is unreadable: ${record.problem}`,
        );
      }
      const names = record.fields.map((field) => field.trim().toLowerCase());
      const url = names.indexOf("url");
      if (url === -1) {
        const found = record.fields.map((field) => JSON.stringify(clip(field))).join(", ");
        throw new TypeError(
          `Cannot read the input: the ${format.toUpperCase()} header on line ${record.line} ` +
            `has no 'url' column (its columns are ${found}); the first row must name the ` +
            `columns, like "url${delimiter}name"`,
        );
      }
      columns = { url, name: names.indexOf("name"), sha256: names.indexOf("sha256") };
      continue;
    }
    const text = record.fields[columns.url] ?? record.fields.join(delimiter);
    if (record.problem !== undefined) {
      yield { line: record.line, text: clip(text), error: record.problem };
      continue;
    }
    yield entry(
      record.line,
      record.fields[columns.url] ?? "",
      record.fields[columns.name],
      record.fields[columns.sha256],
      text,
    );
  }
}

/** One CSV or TSV record: its fields, or what is wrong with it. */
interface TableRecord {
  line: number;
  fields: string[];
  problem?: string;
}

// States of the record parser.
const FIELD_START = 0;
const UNQUOTED = 1;
const QUOTED = 2;
const QUOTE_IN_QUOTED = 3;

/**
 * Parses RFC 4180 records from text chunks, keeping at most {@linkcode MAX_LINE_LENGTH}
 * characters of a record. Lenient where the RFC is strict: a quote inside an unquoted field is
 * kept, text right after a closing quote is appended, and a lone `\r` is data. Records whose
 * fields are all empty are skipped.
 */
async function* records(
  chunks: AsyncIterable<string>,
  delimiter: string,
): AsyncGenerator<TableRecord> {
  const DELIMITER = delimiter.charCodeAt(0);
  let fields: string[] = [];
  let field = "";
  let size = 0;
  let long = false;
  let state = FIELD_START;
  let line = 1;
  let start = 1;
  let started = false;
  let cr = false;

  for await (const chunk of chunks) {
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const code = chunk.charCodeAt(i);
      if (!started) {
        started = true;
        start = line;
      }
      if (cr) {
        // The \r before this character was unquoted: a line end before \n, else data.
        cr = false;
        if (code !== 0x0a && !long) field += "\r";
      }
      if (state === QUOTED) {
        if (code === 0x22) {
          if (!long) field += chunk.slice(from, i);
          state = QUOTE_IN_QUOTED;
        } else if (code === 0x0a) {
          line++;
        }
        continue;
      }
      if (state === UNQUOTED && code !== DELIMITER && code !== 0x0a && code !== 0x0d) continue;
      // Here the state is FIELD_START, QUOTE_IN_QUOTED, or UNQUOTED at a special character.
      if (state === UNQUOTED && !long) field += chunk.slice(from, i);
      if (code === DELIMITER || code === 0x0a) {
        if (!long) {
          size += field.length + 1;
          if (size > MAX_LINE_LENGTH) {
            long = true;
            fields = [];
          } else {
            fields.push(field);
          }
        }
        field = "";
        state = FIELD_START;
        if (code === 0x0a) {
          line++;
          if (long) {
            yield { line: start, fields, problem: recordTooLong };
          } else if (!fields.every((value) => value.trim() === "")) {
            yield { line: start, fields };
          }
          fields = [];
          size = 0;
          long = false;
          started = false;
        }
      } else if (code === 0x0d) {
        cr = true;
        state = UNQUOTED;
        from = i + 1;
      } else if (code === 0x22 && state === FIELD_START) {
        state = QUOTED;
        from = i + 1;
      } else if (state === QUOTE_IN_QUOTED && code === 0x22) {
        // An escaped quote: keep one, and the field is quoted still.
        if (!long) field += '"';
        state = QUOTED;
        from = i + 1;
      } else {
        state = UNQUOTED;
        from = i;
      }
    }
    if ((state === UNQUOTED || state === QUOTED) && !long) {
      field += chunk.slice(from);
      if (size + field.length > MAX_LINE_LENGTH) {
        long = true;
        fields = [];
        field = "";
      }
    }
  }
  if (!started) return;
  if (state === QUOTED) {
    yield {
      line: start,
      fields: long ? [] : [...fields, field],
      problem: `a quote opened in the record on line ${start} is never closed`,
    };
    return;
  }
  if (long) {
    yield { line: start, fields: [], problem: recordTooLong };
    return;
  }
  fields.push(field);
  if (!fields.every((value) => value.trim() === "")) yield { line: start, fields };
}

const recordTooLong = `the record is longer than ${MAX_LINE_LENGTH} characters; skipped`;
