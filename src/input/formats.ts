/**
 * The formats of URL lists, and guessing one from a file name.
 *
 * @module
 */

/** The names of the formats `readEntries` (`read.ts`) reads, in the order help texts list them. */
export const INPUT_FORMATS = ["lines", "csv", "tsv", "jsonl", "parquet"] as const;

/** The formats of URL lists: see `readEntries` (`read.ts`). */
export type InputFormat = typeof INPUT_FORMATS[number];

/**
 * Guesses the format of a list from its file name: `.csv`, `.tsv`, `.jsonl` or `.ndjson`, each
 * maybe followed by `.gz`, or `.parquet`, in any case; anything else is `"lines"`.
 *
 * @param path A file name or path.
 * @returns The format.
 * @throws {TypeError} When `path` is not a string.
 *
 * @example
 * ```ts
 * import { formatFromPath } from "./formats.ts";
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
  if (name.endsWith(".parquet")) return "parquet";
  if (name.endsWith(".gz")) name = name.slice(0, -3);
  if (name.endsWith(".csv")) return "csv";
  if (name.endsWith(".tsv")) return "tsv";
  if (name.endsWith(".jsonl") || name.endsWith(".ndjson")) return "jsonl";
  return "lines";
}
