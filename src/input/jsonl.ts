/**
 * JSON Lines lists: one JSON object a line, `{"url": ..., "name"?: ..., "sha256"?: ...}`.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import type { ColumnChoice } from "./columns.ts";
import { type InputEntry, type InputProblem, lineByLine, toEntry } from "./entry.ts";
import type { InputLine } from "./lines.ts";
import { clip } from "./url.ts";

/** The entries and problems of a JSON Lines list; blank lines are skipped. */
export function jsonEntries(
  lines: AsyncIterable<InputLine>,
  choice?: ColumnChoice,
): AsyncGenerator<InputEntry | InputProblem> {
  let first = true;
  return lineByLine(lines, (line, text) => {
    const item = jsonEntry(line, text, choice, first);
    first = false;
    return item;
  });
}

/**
 * One line, trimmed, of a JSON Lines list. The first object must have every column asked for
 * (else the list is not what the columns say: an {@linkcode InputError}); later ones may lack
 * the optional ones.
 */
function jsonEntry(
  line: number,
  text: string,
  choice: ColumnChoice | undefined,
  first: boolean,
): InputEntry | InputProblem {
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
  const row = value as Record<string, unknown>;
  const urlName = choice?.url ?? "url";
  if (first) {
    const keys = Object.keys(row);
    const wanted: [string, string][] = [
      ...(choice?.url !== undefined ? [[choice.url, " (--url-col)"] as [string, string]] : []),
      ...(choice?.caption !== undefined
        ? [[choice.caption, " (--caption-col)"] as [string, string]]
        : []),
      ...(choice?.save ?? []).map((name): [string, string] => [name, " (--save-columns)"]),
    ];
    for (const [name, flag] of wanted) {
      if (!(name in row)) {
        throw new InputError(
          `the first JSON object, on line ${line}, has no '${name}' field${flag} (its fields are ${
            keys.map((key) => JSON.stringify(clip(key))).join(", ") || "none"
          })`,
          { columns: keys },
        );
      }
    }
  }
  const extras: { caption?: unknown; columns?: Record<string, unknown> } = {};
  if (choice?.caption !== undefined) extras.caption = row[choice.caption];
  if (choice?.save?.length) {
    extras.columns = Object.fromEntries(choice.save.map((name) => [name, row[name] ?? null]));
  }
  return toEntry(line, row[urlName], row.name, row.sha256, text, extras);
}
