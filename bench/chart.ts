/**
 * A small, dependency-free SVG bar chart: one group of horizontal bars per data set, one bar
 * per tool, for the README.
 *
 * @module
 */

/** One bar: a label and a value (a missing value draws "failed" instead of a bar). */
export interface Bar {
  /** The tool's name. */
  label: string;
  /** The value, e.g. files/s; `undefined` when the tool has no verified run. */
  value?: number;
  /** Draw this bar in the accent colour (downpour's). */
  accent?: boolean;
}

/** A titled group of bars sharing one scale. */
export interface BarGroup {
  /** The group's title, e.g. "10000 small PNGs". */
  title: string;
  /** Its bars, drawn top to bottom in this order. */
  bars: readonly Bar[];
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function formatValue(value: number): string {
  if (value >= 100) return Math.round(value).toLocaleString("en-US");
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/**
 * Draws groups of horizontal bars as a standalone SVG document. Each group is scaled to its own
 * largest value, since data sets differ by orders of magnitude.
 *
 * @param groups The groups, drawn top to bottom.
 * @param title The chart's title, drawn on top.
 * @returns The SVG document's text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Bar, type BarGroup, barChart } from "./chart.ts";
 *
 * const bars: Bar[] = [
 *   { label: "wget2", value: 1500 },
 *   { label: "downpour", value: 3000, accent: true },
 *   { label: "broken" },
 * ];
 * const groups: BarGroup[] = [{ title: "2000 small PNGs", bars }];
 * const svg = barChart(groups, "files/s <higher is better>");
 * assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
 * assert.match(svg, /files\/s &lt;higher is better&gt;/);
 * assert.match(svg, />3,000</);
 * assert.match(svg, />failed</);
 * assert.equal(svg.match(/<rect /g)?.length, 3); // background and two bars
 * ```
 */
export function barChart(groups: readonly BarGroup[], title: string): string {
  const width = 760;
  const labelWidth = 190;
  const valueWidth = 80;
  const barHeight = 20;
  const gap = 6;
  const plot = width - labelWidth - valueWidth - 20;
  const parts: string[] = [];
  let y = 34;
  parts.push(
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${
      escape(title)
    }</text>`,
  );
  for (const group of groups) {
    y += 12;
    parts.push(
      `<text x="10" y="${y + 12}" font-size="13" font-weight="bold">${escape(group.title)}</text>`,
    );
    y += 22;
    const max = Math.max(0, ...group.bars.map((bar) => bar.value ?? 0));
    for (const bar of group.bars) {
      const mid = y + barHeight / 2 + 4;
      parts.push(
        `<text x="${labelWidth - 8}" y="${mid}" text-anchor="end" font-size="12">${
          escape(bar.label)
        }</text>`,
      );
      if (bar.value === undefined || !Number.isFinite(bar.value)) {
        parts.push(
          `<text x="${labelWidth}" y="${mid}" font-size="12" fill="#b00020">failed</text>`,
        );
      } else {
        const w = max > 0 ? Math.max(1, Math.round(plot * bar.value / max)) : 1;
        const fill = bar.accent ? "#1f77b4" : "#9aa5b1";
        parts.push(
          `<rect x="${labelWidth}" y="${y}" width="${w}" height="${barHeight}" fill="${fill}"/>`,
        );
        parts.push(
          `<text x="${labelWidth + w + 6}" y="${mid}" font-size="12">${
            formatValue(bar.value)
          }</text>`,
        );
      }
      y += barHeight + gap;
    }
  }
  const height = y + 12;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}
