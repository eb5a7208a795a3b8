/**
 * Rendering tools' rows as an aligned Markdown table, with ratios against a baseline (wget2).
 *
 * @module
 */

import type { ToolStats } from "./stats.ts";

const COLUMNS = [
  "tool",
  "wall s (median)",
  "CPU s",
  "peak RSS MB",
  "files/s",
  "wall ratio vs wget2",
  "CPU/file ratio vs wget2",
  "verified",
];

function number(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "–";
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** Text safe in a table cell: one line, no pipes. */
function cell(text: string): string {
  return text.replace(/\s+/g, " ").replaceAll("|", "/").trim();
}

function ratio(value: number | undefined, base: number | undefined): string {
  if (value === undefined || base === undefined || !(base > 0)) return "–";
  return `${(value / base).toFixed(2)}×`;
}

/**
 * Renders rows as a Markdown table with aligned columns: tool, median wall seconds, median CPU
 * seconds, peak RSS in MB, files/s, and the wall and CPU-per-file ratios against the baseline
 * (below 1 is better for both; "–" when the baseline has no verified run). A tool with failed
 * runs says FAILED in the last column, with the first problem.
 *
 * @param rows One row per tool, from `summarizeRuns` in `./stats.ts`.
 * @param baseline The tool the ratios compare with (default `"wget2"`).
 * @returns The table, one line per row, ending with a newline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarizeRuns } from "./stats.ts";
 * import { markdownTable } from "./table.ts";
 *
 * const table = markdownTable([
 *   summarizeRuns("wget2", 10, [{ wall: 2, cpu: 1, maxRssKb: 1000, verified: true }]),
 *   summarizeRuns("fast", 10, [{ wall: 1, cpu: 2, maxRssKb: 2000, verified: true }]),
 *   summarizeRuns("broken", 10, [
 *     { wall: 1, cpu: 1, maxRssKb: 1, verified: false, problem: "exit 1" },
 *   ]),
 * ]);
 * const lines = table.trimEnd().split("\n");
 * assert.equal(lines.length, 5);
 * assert.match(lines[1], /^\| -+ \| -+: \|/);
 * assert.match(
 *   lines[3],
 *   /^\| fast +\| +1\.00 \| +2\.00 \| +2\.05 \| +10\.0 \| +0\.50× \| +2\.00× \| yes +\|$/,
 * );
 * assert.match(lines[4], /\| +– \| +– \|.*FAILED \(0\/1: exit 1\) \|$/);
 * ```
 */
export function markdownTable(rows: readonly ToolStats[], baseline = "wget2"): string {
  const base = rows.find((row) => row.tool === baseline);
  const cpuPerFile = (row: ToolStats | undefined) =>
    row?.cpu === undefined ? undefined : row.cpu / row.files;
  const cells = rows.map((row) => [
    cell(row.tool),
    number(row.wall),
    number(row.cpu),
    number(row.rssMb),
    number(row.filesPerSecond),
    ratio(row.wall, base?.wall),
    ratio(cpuPerFile(row), cpuPerFile(base)),
    row.verified === row.runs
      ? "yes"
      : `FAILED (${row.verified}/${row.runs}${row.problem ? `: ${cell(row.problem)}` : ""})`,
  ]);
  const table = [COLUMNS, ...cells];
  const widths = COLUMNS.map((_, c) => Math.max(3, ...table.map((line) => line[c].length)));
  // The first and last columns are text, aligned left; the numbers are aligned right.
  const left = (c: number) => c === 0 || c === COLUMNS.length - 1;
  const pad = (text: string, c: number) =>
    left(c) ? text.padEnd(widths[c]) : text.padStart(widths[c]);
  const line = (values: readonly string[]) =>
    `| ${values.map((value, c) => pad(value, c)).join(" | ")} |`;
  const rule = `| ${
    widths.map((w, c) => left(c) ? "-".repeat(w) : `${"-".repeat(w - 1)}:`).join(" | ")
  } |`;
  return [line(COLUMNS), rule, ...cells.map(line)].join("\n") + "\n";
}
