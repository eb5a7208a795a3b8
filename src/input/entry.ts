/**
 * What reading a list yields, entries and problems, and the checks every format shares: of one
 * entry's fields, and of the lines of the line-based formats.
 *
 * @module
 */

import { type InputLine, MAX_LINE_LENGTH } from "./lines.ts";
import { checkUrl, clip } from "./url.ts";

/** One URL read from a list, with the optional columns that came with it. */
export interface InputEntry {
  /** The 1-based physical line the entry starts on. */
  line: number;
  /** The URL as written (trimmed); {@linkcode checkUrl} accepted it. */
  url: string;
  /** The file name wanted for it (a `name` column or field), when one is given. */
  name?: string;
  /** The expected SHA-256 of its body, as 64 lowercase hex digits, when one is given. */
  sha256?: string;
  /** The caption (the `--caption-col` column), when one is asked for and given. */
  caption?: string;
  /** The values of the saved columns (`--save-columns`), by the names asked for. */
  columns?: Record<string, unknown>;
}

/**
 * Something in a list that is not a usable entry; reading goes on after it.
 *
 * @example Tell problems from entries with `"error" in item`
 * ```ts
 * import type { InputProblem } from "./entry.ts";
 * import { readEntries } from "./read.ts";
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

/** A problem for a line or record longer than {@linkcode MAX_LINE_LENGTH}. */
function tooLong(line: number, text: string, what: string): InputProblem {
  return {
    line,
    text: clip(text),
    error: `the ${what} is longer than ${MAX_LINE_LENGTH} characters; skipped`,
  };
}

/**
 * The entries of a line-based list: a line too long is a problem, a blank one is skipped, and
 * `parse` makes each other line, trimmed, an entry or a problem, or skips it (`undefined`).
 */
export async function* lineByLine(
  lines: AsyncIterable<InputLine>,
  parse: (line: number, text: string) => InputEntry | InputProblem | undefined,
): AsyncGenerator<InputEntry | InputProblem> {
  for await (const { line, text, truncated } of lines) {
    if (truncated) {
      yield tooLong(line, text, "line");
      continue;
    }
    const trimmed = text.trim();
    if (trimmed === "") continue;
    const item = parse(line, trimmed);
    if (item !== undefined) yield item;
  }
}

/**
 * Checks the fields of one entry; `text` stands for the entry in a problem when there is no
 * usable URL text.
 */
export function toEntry(
  line: number,
  url: unknown,
  name: unknown,
  sha256: unknown,
  text: string,
  extras: { caption?: unknown; columns?: Record<string, unknown> } = {},
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
  const caption = extras.caption;
  if (caption !== undefined && caption !== null && !isBlank(caption)) {
    if (typeof caption !== "string") {
      return {
        line,
        text: clip(href),
        error: `the caption must be text, got ${typeOf(caption)}`,
      };
    }
    result.caption = caption;
  }
  if (extras.columns) result.columns = extras.columns;
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
