/**
 * JSON Lines lists: one JSON object a line, `{"url": ..., "name"?: ..., "sha256"?: ...}`.
 *
 * @module
 */

import { type InputEntry, type InputProblem, lineByLine, toEntry } from "./entry.ts";
import type { InputLine } from "./lines.ts";
import { clip } from "./url.ts";

/** The entries and problems of a JSON Lines list; blank lines are skipped. */
export function jsonEntries(
  lines: AsyncIterable<InputLine>,
): AsyncGenerator<InputEntry | InputProblem> {
  return lineByLine(lines, jsonEntry);
}

/** One line, trimmed, of a JSON Lines list. */
function jsonEntry(line: number, text: string): InputEntry | InputProblem {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { line, text: clip(text), error: `not valid JSON (${(error as Error).message})` };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return {
      line,
      text: clip(text),
      error: 'expected a JSON object like {"url": "https://example.com/cat.png"}',
    };
  }
  const { url, name, sha256 } = value as Record<string, unknown>;
  return toEntry(line, url, name, sha256, text);
}
