/**
 * Splitting a list's bytes into numbered lines, as they arrive, without ever holding a line longer
 * than {@linkcode MAX_LINE_LENGTH} in memory.
 *
 * @module
 */

import { checkStream, decode } from "./decode.ts";

/** One line of text from {@linkcode readLines}. */
export interface InputLine {
  /** The 1-based line number. */
  line: number;
  /** The line, without its `\n` or `\r\n`; at most {@linkcode MAX_LINE_LENGTH} characters. */
  text: string;
  /** Set when the line was longer than {@linkcode MAX_LINE_LENGTH} and `text` is its start. */
  truncated?: true;
}

/**
 * The longest line (or CSV record) kept, in UTF-16 code units (64 Ki). Longer ones are cut by
 * {@linkcode readLines} and reported as problems by `readEntries`, without ever being held in
 * memory whole.
 */
export const MAX_LINE_LENGTH = 65536;

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
 * import { readLines } from "./lines.ts";
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

/** Splits text chunks into lines; see {@linkcode readLines}. */
export async function* splitLines(chunks: AsyncIterable<string>): AsyncGenerator<InputLine> {
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
