/**
 * How sizes are written for people: one formatter for the command's progress line (decimal
 * units, as download speeds are quoted) and for messages about limits (binary units, as limits
 * are set).
 *
 * @module
 */

const UNITS = {
  1000: ["B", "kB", "MB", "GB"],
  1024: ["B", "KiB", "MiB", "GiB"],
} as const;

/**
 * A size with one decimal (two from the giga unit on), e.g. `2.0 MB` or `64.0 MiB`; bytes below
 * one kilo unit are whole.
 */
export function formatBytes(bytes: number, base: 1000 | 1024): string {
  const units = UNITS[base];
  if (bytes < base) return `${Math.round(bytes)} ${units[0]}`;
  if (bytes < base ** 2) return `${(bytes / base).toFixed(1)} ${units[1]}`;
  if (bytes < base ** 3) return `${(bytes / base ** 2).toFixed(1)} ${units[2]}`;
  return `${(bytes / base ** 3).toFixed(2)} ${units[3]}`;
}
